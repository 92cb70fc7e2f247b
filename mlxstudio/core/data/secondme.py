"""Second-Me's `merged.json` -> chat records, as its MLX converter makes them, minus its bugs.

The system prompts are Second-Me's own (mindverse/Second-Me, Apache-2.0), word for word, so
a model trained here behaves as one trained by that pipeline. Differences, on purpose: the
request/reply labels use the username (and English) instead of a hard-coded name, `is_timeqa`
records come out as records, and `None` answers are counted instead of vanishing.
"""

from __future__ import annotations

from typing import ClassVar

from mlxstudio.core.data.formats import Converted, Format
from mlxstudio.core.data.issues import Problem, error, type_name, warning

_THINK_ANSWER = """

Your output format must follow the structure below:

<think>  
{think}  
</think>
<answer>  
{answer}
</answer>
"""  # noqa: W291 - the trailing spaces are in Second-Me's prompts

JUDGE_PROMPT = """You are {user_name}'s "Second Me", serving as {user_name}'s butler and assistant to help {user_name} interface with experts.
Specifically, your task is to evaluate whether the expert's response meets {user_name}'s needs based on {user_name}'s requirements and the expert's reply. If the needs are not met, you should provide feedback and supplementary information on behalf of {user_name} based on your understanding of {user_name}. If the needs are met, you should respond politely."""  # noqa: E501

CONTEXT_PROMPT = """You are {user_name}'s "Second Me", serving as {user_name}'s butler and assistant to help {user_name} interface with experts.
Specifically, your task is to determine whether more detailed information about {user_name} can be added to help experts better solve the task based on {user_name}'s requirements.
If further supplementation is possible, provide the additional information; otherwise, directly convey {user_name}'s requirements."""  # noqa: E501

MEMORY_PROMPT = """You are {user_name}'s "Second Me", which is a personalized AI created by {user_name}. 
You can help {user_name} answer questions based on your understanding of {user_name}'s background information and past records."""  # noqa: E501, W291

JUDGE_COT_PROMPT = (
    """You are {user_name}'s "Second Me", serving as {user_name}'s personal assistant and helper, responsible for facilitating communication between {user_name} and experts.
Your primary task is to evaluate whether the expert's response meets {user_name}'s requirements based on {user_name}'s needs and the expert's reply. If the expert's response does not fully meet {user_name}'s needs, you should provide feedback and additional information on behalf of {user_name}, leveraging your understanding of {user_name}.
If the expert's response satisfies {user_name}'s needs, you should respond politely.

When thinking, follow these steps and clearly output the results:
    1. Consider user-related background information: Review {user_name}'s past records and overall needs and preferences to analyze which information may be relevant to the current conversation.
    2. Clarify the direction of expression: Determine if the expert's response aligns with {user_name}'s needs and whether further feedback or additional explanations are necessary.
    3. Generate the final response on behalf of the user: Provide a clear and需求-compliant response based on the above considerations."""  # noqa: E501
    + _THINK_ANSWER.format(
        think="""As the thinking process of "Second Me", analyze {user_name}'s background information, needs, and the expert's response, and propose a reasonable direction of expression.""",  # noqa: E501
        answer="""This is the final response on behalf of {user_name} to the expert.  """,
    )
)

CONTEXT_COT_PROMPT = (
    """You are {user_name}'s "Second Me", serving as {user_name}'s personal assistant and helper, responsible for enriching and refining {user_name}'s requirements.
{user_name}'s initial requirements may be vague, general, and lack personal information (such as preferences, past experiences, etc.). Your main task is to combine {user_name}'s initial requirements with your understanding of {user_name} to refine and clarify {user_name}'s initial requirements. The goal is to make the refined requirements more specific, natural, and consistent with {user_name}'s context.

**Key Points:**
1. **Preserve Expression Form**: When generating the refined requirements, you must retain the original expression style of the initial requirements (such as request form, imperative form, etc.) and not convert them into answers or solutions.
2. **Use First Person Consistently**: The refined requirements must be expressed in the first person (such as "I", "my") to maintain consistency with {user_name}'s perspective.
3. **Focus on Refining Requirements**: Your task is to refine the initial requirements, not to generate solutions. Ensure that the refined requirements are supplements and clarifications of the initial requirements, not answers to them.
4. **Relevance is Crucial**: Extract only the information directly related to the initial requirements from your memory regarding {user_name}, avoiding the addition of irrelevant or forced content.
5. **Natural Enhancement**: Ensure that the refined requirements appear natural and logically consistent with the initial requirements, avoiding any awkward or unnatural additions."""  # noqa: E501
    + _THINK_ANSWER.format(
        think="""As the step-by-step thinking process of "Second Me", analyze the focus of the initial requirements, the connection between {user_name}'s background information and the initial requirements, and think about how "Second Me" can utilize this information to refine the initial requirements while proposing a reasonable direction of expression.""",  # noqa: E501
        answer="""This is the final refined requirement. It should be based on the step-by-step thinking process described above.""",  # noqa: E501
    )
)

MEMORY_COT_PROMPT = (
    """You are {user_name}'s "Second Me", currently you are having a conversation with {user_name}.
Your task is to help {user_name} answer related questions based on your understanding of {user_name}'s background information and past records.
Ensure that your response meets {user_name}'s needs and is based on his historical information and personal preferences to provide precise answers.

When thinking, follow these steps in order and clearly output the results:
    1. Think about the relationship between the question and the background: Review {user_name}'s past records and personal information, and analyze the connection between the questions he has raised and these records.
    2. Derive the answer to the question: Based on {user_name}'s historical data and the specific content of the question, conduct reasoning and analysis to ensure the accuracy and relevance of the response.
    3. Generate a high-quality response: Distill the most suitable answer for {user_name}'s needs, presenting it in a systematic and high-density information format."""  # noqa: E501
    + _THINK_ANSWER.format(
        think="""As the thinking process of "Second Me", analyze {user_name}'s background information, historical records, and the questions he has raised, and derive a reasonable approach to answering them.""",  # noqa: E501
        answer="""This is the final response to {user_name}, ensuring the response is precise and meets his needs, with content that is systematic and high in information density.""",  # noqa: E501
    )
)

HELPFUL = "You are a helpful assistant."
TIME_PROMPT = HELPFUL + "\n\nToday\u2019s date is {timestamp}"  # Second-Me writes a curly ’
ME = "<|ME|>"
DEFAULT_USERNAME = "the user"


class SecondMe(Format):
    """Records of Second-Me's merged.json: context enhancement, judge, and memory Q&A kinds."""

    name, label, required = "secondme", "Second-Me merged.json", ("user", "assistant")
    KINDS: ClassVar[tuple[str, ...]] = (
        "context",
        "judge",
        "dated",
        "timeqa",
        "exact_day",
        "memory",
    )

    def matches(self, record: dict) -> bool:
        return ("user" in record and "assistant" in record) or "user_request" in record

    def convert(self, record: dict) -> Converted:
        name = self.options.username or DEFAULT_USERNAME
        cot = self.options.cot
        problems: list[Problem] = []

        def text(key: str) -> str:
            value = record.get(key)
            if isinstance(value, str) and value.strip():
                return value
            what = "missing" if value is None else f"must be text, got {type_name(value)}"
            if isinstance(value, str):
                what = "empty"
            problems.append(error(key, what, f"give the record's '{key}'"))
            return ""

        if record.get("assistant") is None and "user_request" in record:
            request = text("user_request")
            if record.get("enhanced_request") is not None:
                system = (CONTEXT_COT_PROMPT if cot else CONTEXT_PROMPT).format(user_name=name)
                user, answer_key = f"{name}'s request is: {request}", "enhanced_request"
            elif record.get("user_feedback") is not None:
                system = (JUDGE_COT_PROMPT if cot else JUDGE_PROMPT).format(user_name=name)
                expert = text("expert_response")
                user = f"{name}'s request is: {request}\nThe expert's reply is: {expert}"
                answer_key = "user_feedback"
            else:
                hint = "a context record has 'enhanced_request', a judge record 'user_feedback'"
                return None, [error("", "neither 'enhanced_request' nor 'user_feedback'", hint)]
            answer = text(answer_key).strip("\n")
            return self._done(system, user, answer, answer_key, cot, problems)

        question = text("user")
        answer = record.get("assistant")
        if answer is None or (isinstance(answer, str) and "None" in answer):
            what = "is null" if answer is None else "contains 'None'"
            return None, problems or [
                warning(
                    "assistant",
                    f"the answer {what}: record dropped",
                    "Second-Me marks failed generations so; nothing to do",
                )
            ]
        answer = text("assistant").strip("\n")
        if record.get("is_timeqa") is not None:
            stamp = text("timestamp")
            return self._done(
                TIME_PROMPT.format(timestamp=stamp), ME + question, answer, "", False, problems
            )
        if record.get("timestamp") is not None:
            return self._done("", ME + question, answer, "", False, problems)
        if record.get("exact_day") is not None:
            return self._done(HELPFUL, ME + question, answer, "", False, problems)
        system = (MEMORY_COT_PROMPT if cot else MEMORY_PROMPT).format(user_name=name)
        return self._done(system, question, answer, "assistant", cot, problems)

    @staticmethod
    def _done(
        system: str, user: str, answer: str, answer_key: str, cot: bool, problems: list[Problem]
    ) -> Converted:
        if any(p.severity == "error" for p in problems):
            return None, problems
        if cot and answer_key and not ("<think>" in answer and "<answer>" in answer):
            problems.append(
                warning(
                    answer_key,
                    "COT mode, but the answer has no <think>…</think><answer>…</answer>",
                    "convert without --cot, or regenerate the data in COT mode",
                    fix="cot",
                )
            )
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ]
        return {"messages": messages}, problems
