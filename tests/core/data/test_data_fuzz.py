"""Arbitrary bytes and arbitrary JSON through every reader and format: reports, never raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlxstudio.core.data import DataOptions, validate
from mlxstudio.core.data.detect import FORMATS

SUFFIXES = [".jsonl", ".json", ".csv", ".tsv", ".md", ".dat"]
KEYS = sorted(
    {
        "messages",
        "conversations",
        "role",
        "content",
        "from",
        "value",
        "tools",
        "prompt",
        "completion",
        "text",
        "instruction",
        "input",
        "output",
        "response",
        "reward",
        "chosen",
        "rejected",
        "user",
        "assistant",
        "timestamp",
        "is_timeqa",
        "exact_day",
        "user_request",
        "enhanced_request",
        "expert_response",
        "user_feedback",
        "system",
        "tool_calls",
    }
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)
records = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
role_messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "tool", "x"]),
            "content": st.text(max_size=5) | st.none(),
        }
    ),
    max_size=5,
).map(lambda m: {"messages": m})

SETTINGS = settings(  # FUZZ_EXAMPLES=5000 for a longer hunt
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def check(path: Path, options: DataOptions | None = None) -> None:
    report = validate([path], options)
    assert report.errors + report.warnings >= len(report.issues)
    for issue in report.issues:
        assert issue.file and issue.line >= 0 and issue.message


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d{suffix}"
        path.write_bytes(data)
        check(path)


@SETTINGS
@given(
    values=st.lists(json_values | records | role_messages, max_size=6),
    fmt=st.sampled_from([None, *FORMATS]),
)
def test_arbitrary_json_lines_and_arrays(values, fmt):
    options = DataOptions(format=fmt, username="Alex")
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "d.jsonl"
        lines.write_text("".join(json.dumps(v) + "\n" for v in values))
        check(lines, options)
        array = Path(tmp) / "d.json"
        array.write_text(json.dumps(values, indent=1))
        check(array, options)


@SETTINGS
@given(text=st.text(max_size=300), suffix=st.sampled_from([".jsonl", ".json", ".csv"]))
def test_arbitrary_text_with_json_punctuation(text, suffix):
    sprinkled = text.replace("a", '{"').replace("b", '"]').replace("c", "\\u").replace("d", ",\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d{suffix}"
        path.write_text(sprinkled, encoding="utf-8", errors="surrogatepass")
        check(path)


def test_validation_does_not_load_mlx_or_qt(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    code = (
        "import sys; from mlxstudio.core.data import validate, convert; "
        f"r = validate([{str(path)!r}]); assert r.ok; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('mlx', 'mlx_lm', 'transformers', 'PySide6', 'torch')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
