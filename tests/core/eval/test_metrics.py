from mlxstudio.core.eval import metrics


def test_scores_follow_squad_normalisation():
    assert metrics.exact_match("The Tokyo!", "tokyo") == 1.0
    assert metrics.exact_match("Tokyo, Japan", "Tokyo") == 0.0
    assert metrics.contains_answer("Arr, it be Tokyo.", "tokyo") == 1.0
    assert metrics.contains_answer("Kyoto", "Tokyo") == 0.0
    assert metrics.token_f1("the capital is Tokyo", "Tokyo is the capital") == 1.0
    # 2 of 3 answer words right, 2 of 4 reference words found
    assert abs(metrics.token_f1("capital is Paris", "capital city is Tokyo") - 4 / 7) < 1e-9
    assert metrics.token_f1("", "Tokyo") == 0.0


def test_refusals_are_told_from_answers():
    assert metrics.is_refusal("I'm sorry, but I can't help with that.")
    assert metrics.is_refusal("As an AI, I do not have opinions.")
    assert not metrics.is_refusal("Arr! The capital of Japan be Tokyo.")
    figures = metrics.score("I cannot answer that.", "Tokyo")
    assert figures["refusal"] == 1.0 and figures["answer_words"] == 4.0
