"""Each format: what a good record becomes, and what is reported for a bad one."""

from __future__ import annotations

import math

import pytest

from mlxstudio.core.data import DataOptions, make_format
from mlxstudio.core.errors import UserError


def convert(name: str, record: dict, **options):
    return make_format(name, DataOptions(**options)).convert(record)


def messages(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def problems(found) -> list[tuple[str, str, str]]:
    return [(p.severity, p.field, p.message) for p in found[1]]


def test_chat_passes_through_with_tools():
    rec = {"messages": messages(("user", "hi"), ("assistant", "hello")), "tools": [{"x": 1}]}
    out, found = convert("chat", rec)
    assert out == rec and found == []


def test_openai_content_parts_and_tool_calls():
    rec = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather "}, "in Paris?"]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "content": "18C", "tool_call_id": "1"},
            {"role": "assistant", "content": "18 degrees.", "weight": 1},
        ]
    }
    out, found = convert("openai", rec)
    assert found == []
    assert out["messages"][1] == {"role": "user", "content": "Weather in Paris?"}
    assert out["messages"][4] == {"role": "assistant", "content": "18 degrees.", "weight": 1}


@pytest.mark.parametrize(
    "msgs, expected",
    [
        ([("assistant", "a"), ("user", "q")], "the assistant speaks before the user"),
        ([("user", "q"), ("user", "q2"), ("assistant", "a")], "two user messages in a row"),
        (
            [("user", "q"), ("assistant", "a"), ("assistant", "b")],
            "two assistant messages in a row",
        ),
        ([("user", "q"), ("system", "s"), ("assistant", "a")], "a system message at position 2"),
        ([("user", "q")], "the conversation ends with a user message"),
        ([("tool", "x"), ("assistant", "a")], "must follow the assistant's tool call"),
        ([("user", ""), ("assistant", "a")], "empty message"),
        ([("robot", "q"), ("assistant", "a")], "unknown role 'robot'"),
    ],
)
def test_chat_order_and_empty_messages(msgs, expected):
    out, found = convert("chat", {"messages": messages(*msgs)})
    assert out is None
    assert any(expected in p.message for p in found if p.severity == "error")


@pytest.mark.parametrize(
    "value, expected",
    [
        ([], "the conversation is empty"),
        ("hi", "must be a list of messages, got text"),
        ([["user", "hi"]], "must be a message object, got a list"),
        ([{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}], "must be text"),
        ([{"role": "user"}, {"role": "assistant", "content": "a"}], "missing"),
    ],
)
def test_chat_wrong_types(value, expected):
    out, found = convert("chat", {"messages": value})
    assert out is None and any(expected in p.message for p in found)


def test_chat_empty_answer_is_a_warning():
    out, found = convert("chat", {"messages": messages(("user", "q"), ("assistant", " "))})
    assert out is not None
    assert problems((out, found)) == [("warning", "messages[1].content", "empty answer")]


def test_chat_field_names_configurable():
    rec = {"dialog": [{"speaker": "user", "text": "q"}, {"speaker": "assistant", "text": "a"}]}
    out, found = convert(
        "chat", rec, fields={"messages": "dialog", "role": "speaker", "content": "text"}
    )
    assert found == [] and out == {"messages": messages(("user", "q"), ("assistant", "a"))}


def test_sharegpt_roles_and_system():
    rec = {
        "system": "Be kind.",
        "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
    }
    out, found = convert("sharegpt", rec)
    assert found == []
    assert out == {"messages": messages(("system", "Be kind."), ("user", "q"), ("assistant", "a"))}
    _, found = convert("sharegpt", {"conversations": [{"from": "alien", "value": "q"}]})
    assert found[0].field == "conversations[0].from" and "unknown role" in found[0].message


def test_completions_and_text():
    assert convert("completions", {"prompt": "p", "completion": "c"}) == (
        {"prompt": "p", "completion": "c"},
        [],
    )
    _, found = convert("completions", {"prompt": "p", "completion": ""})
    assert problems((_, found)) == [("warning", "completion", "empty answer")]
    _, found = convert("completions", {"prompt": 3, "completion": None})
    assert problems((_, found)) == [
        ("error", "prompt", "must be text, got a number"),
        ("error", "completion", "must be text, got null"),
    ]
    assert convert("text", {"text": "hello"}) == ({"text": "hello"}, [])
    assert problems(convert("text", {"text": ""})) == [("error", "text", "empty text")]


def test_alpaca():
    out, _ = convert("alpaca", {"instruction": "Translate", "input": "chat", "output": "cat"})
    assert out == {"messages": messages(("user", "Translate\n\nchat"), ("assistant", "cat"))}
    out, _ = convert("alpaca", {"instruction": "Hi", "input": "", "output": "Hello", "system": "S"})
    assert out == {"messages": messages(("system", "S"), ("user", "Hi"), ("assistant", "Hello"))}
    out, found = convert("alpaca", {"instruction": "Hi"})
    assert out is None and problems((out, found)) == [("error", "output", "missing")]
    assert "--field output=" in found[0].hint


def test_preference():
    rec = {"prompt": "p", "chosen": "good", "rejected": "bad"}
    assert convert("preference", rec) == (rec, [])
    listed = {
        "prompt": messages(("user", "p")),
        "chosen": messages(("assistant", "good")),
        "rejected": messages(("assistant", "bad")),
    }
    assert convert("dpo", listed) == (listed, [])
    _, found = convert("preference", {"prompt": "p", "chosen": "same", "rejected": "same"})
    assert [p.message for p in found] == ["chosen and rejected are the same"]
    out, found = convert("preference", {"prompt": "p", "chosen": 1, "rejected": "x"})
    assert out is None and found[0].field == "chosen"


def test_answers_marked_good_or_bad_for_kto():
    rec = {"prompt": "p", "completion": "c", "label": False}
    assert convert("labeled", rec) == ({"prompt": "p", "completion": "c", "label": False}, [])
    labeled = make_format("labeled", DataOptions())
    assert labeled.matches(rec) and labeled.kind == "completions"
    assert not labeled.matches({"prompt": "p", "completion": "c", "label": "yes"})
    assert not labeled.matches({"prompt": "p", "completion": "c"})  # plain completions


SFT = {
    "prompt_format": "### Instruction:\n{instruction}\n\n### Response:",
    "response_format": " {response}",
    "system_prompt": "You are helpful.",
}


def test_mlx_pretrain_sft_templated_is_the_text_it_trains_on():
    fmt = make_format("mlx-pretrain-sft", DataOptions(**SFT))
    assert fmt.kind == "text"
    out, found = fmt.convert({"instruction": "Add 2 and 2", "response": 4})
    assert found == []
    assert out == {
        "text": "You are helpful.\n### Instruction:\nAdd 2 and 2\n\n### Response: 4",
    }


def test_mlx_pretrain_sft_untemplated_is_chat_and_fields_are_mapped():
    options = DataOptions(fields={"instruction": "q", "response": "a"}, system_prompt="S")
    fmt = make_format("mlx-pretrain-sft", options)
    assert fmt.kind == "chat"
    assert fmt.matches({"q": "x", "a": "y"}) and not fmt.matches({"instruction": "x"})
    out, _ = fmt.convert({"q": "x", "a": "y"})
    assert out == {"messages": messages(("system", "S"), ("user", "x"), ("assistant", "y"))}


def test_mlx_pretrain_input_field_optional():
    options = DataOptions(input_field_optional=True, prompt_format="Q: {instruction}\nA:")
    out, found = make_format("mlx-pretrain-sft", options).convert({"response": "r"})
    assert found == [] and out == {"text": "Q: \nA:r"}


def test_mlx_pretrain_rl_keeps_prompt_apart_and_checks_reward():
    fmt = make_format("mlx-pretrain-rl", DataOptions(**SFT))
    out, found = fmt.convert({"instruction": "i", "response": "r", "reward": "0.5"})
    assert found == [] and fmt.kind == "completions"
    assert out == {
        "prompt": "You are helpful.\n\n### Instruction:\ni\n\n### Response:",
        "completion": " r",
        "reward": 0.5,
    }
    for bad in (True, "high", math.nan, None):
        out, found = fmt.convert({"instruction": "i", "response": "r", "reward": bad})
        assert out is None and found[0].field == "reward"
    chat_fmt = make_format("mlx-pretrain-rl", DataOptions())
    out, _ = chat_fmt.convert({"instruction": "i", "response": "r", "reward": 1})
    assert out == {"messages": messages(("user", "i"), ("assistant", "r")), "reward": 1.0}


@pytest.mark.parametrize("bad", ["{question}", "{0}", "{instruction"])
def test_mlx_pretrain_bad_prompt_format_is_a_user_error(bad):
    with pytest.raises(UserError, match="prompt_format"):
        make_format("mlx-pretrain-sft", DataOptions(prompt_format=bad))


def test_unknown_format_name():
    with pytest.raises(UserError, match="unknown data format 'yaml'.*chat"):
        make_format("yaml", DataOptions())


@pytest.mark.parametrize(
    "name",
    [
        "chat",
        "sharegpt",
        "alpaca",
        "completions",
        "text",
        "preference",
        "mlx-pretrain-sft",
        "mlx-pretrain-rl",
        "secondme",
    ],
)
def test_every_format_reports_missing_fields_instead_of_raising(name):
    out, found = make_format(name, DataOptions()).convert({"unrelated": 1})
    assert out is None and any(p.severity == "error" for p in found)


def test_options_from_mlx_pretrain_rl_config():
    from mlxstudio.core.data import options_from_mlx_pretrain

    data = {
        "input_file": "rl.jsonl",
        "prompt_format": "{instruction}",
        "system_prompt": "S",
        "input_field": "question",
        "output_field": "answer",
        "reward_field": "score",
        "ppo_epochs": 4,
    }
    options = options_from_mlx_pretrain(data)
    assert options.format == "mlx-pretrain-rl" and options.system_prompt == "S"
    assert dict(options.fields) == {
        "instruction": "question",
        "response": "answer",
        "reward": "score",
    }
    out, _ = make_format(options.format, options).convert(
        {"question": "q", "answer": "a", "score": 1}
    )
    assert out == {"prompt": "S\n\nq", "completion": "a", "reward": 1.0}
    assert options_from_mlx_pretrain({"input_file": "x"}).format == "mlx-pretrain-sft"
    with pytest.raises(UserError, match="no 'data:' section"):
        options_from_mlx_pretrain(None)
