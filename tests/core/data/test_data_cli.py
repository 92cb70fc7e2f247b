"""`mlxstudio data ...`: issue lines, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from datahelpers import chat, write_jsonl

from mlxstudio.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["data", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_clean_and_bad(capsys, chat_file, tmp_path):
    code, out, _ = run(capsys, "validate", str(chat_file))
    assert code == 0 and "10 records in 1 file, " in out and "0 errors, 0 warnings" in out
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat("q", "a"), "{oops", {"messages": []}])
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1
    lines = out.splitlines()
    assert (
        lines[0] == f"{bad}:2: invalid JSON: Expecting property name enclosed in double "
        "quotes (column 2) (each record must be one complete JSON object)"
    )
    assert (
        lines[1]
        == f"{bad}:3: messages: the conversation is empty (add messages or remove the record)"
    )  # noqa: E501
    code, out, _ = run(capsys, "validate", str(bad), "--max-issues", "1")
    assert "and 1 more problem(s) not shown" in out


def test_validate_with_model_reports_tokens(capsys, chat_file, tiny_model):
    code, out, _ = run(
        capsys, "validate", str(chat_file), "--model", str(tiny_model), "--max-seq-length", "8"
    )
    assert code == 0 and "over max_seq_length 8" in out
    assert "10 (100.0%) over max_seq_length 8" in out


def test_convert_and_stats(capsys, tmp_path, tiny_model):
    src = tmp_path / "qa.csv"
    src.write_text("question,answer\n" + "".join(f"Q{i}?,A{i}.\n" for i in range(20)))
    out_dir = tmp_path / "ds"
    code, out, _ = run(
        capsys,
        "convert",
        str(src),
        "--out",
        str(out_dir),
        "--field",
        "prompt=question",
        "--field",
        "completion=answer",
        "--valid",
        "4",
        "--test",
        "0.1",
        "--seed",
        "2",
    )
    assert code == 0 and f"Wrote {out_dir} (completions): train 14, valid 4, test 2" in out
    code, out, _ = run(capsys, "stats", str(out_dir), "--model", str(tiny_model), "--json")
    stats = json.loads(out)
    assert code == 0 and stats["total"]["records"] == 20 and len(stats["files"]) == 3
    code, out, _ = run(capsys, "stats", str(out_dir), "--model", str(tiny_model), "--bins", "4")
    rows = [line.split() for line in out.splitlines() if "#" in line]
    assert code == 0 and len(rows) <= 4 and sum(int(r[1]) for r in rows) == 20


def test_inspect_shows_rendered_records(capsys, tmp_path, tiny_model):
    path = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Hi", "output": "Hello"}])
    code, out, _ = run(capsys, "inspect", str(path), "--model", str(tiny_model))
    assert code == 0 and "alpaca; fields: instruction, output" in out
    assert "<|im_start|>user\nHi<|im_end|>" in out and "tokens)" in out


def test_mlx_pretrain_config(capsys, tmp_path):
    (tmp_path / "sft.jsonl").write_text(
        "".join(json.dumps({"q": f"i{n}", "a": f"r{n}"}) + "\n" for n in range(5))
    )
    (tmp_path / "val.jsonl").write_text(json.dumps({"q": "v", "a": "w"}) + "\n")
    config = tmp_path / "sft.yaml"
    config.write_text(
        "data:\n  input_file: sft.jsonl\n  validation_file: val.jsonl\n"
        '  prompt_format: "Q: {instruction}\\nA:"\n  response_format: " {response}"\n'
        "  input_field: q\n  output_field: a\n"
    )
    out_dir = tmp_path / "ds"
    code, out, _ = run(
        capsys, "convert", "--mlx-pretrain-config", str(config), "--out", str(out_dir)
    )
    assert code == 0 and "train 5, valid 1" in out
    assert json.loads((out_dir / "valid.jsonl").read_text()) == {"text": "Q: v\nA: w"}


def test_errors_are_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlxstudio",
            "data",
            "convert",
            str(tmp_path / "nope.jsonl"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"mlxstudio: error: {tmp_path / 'nope.jsonl'}: no such file or folder (check the path)"
    ]


def test_bad_flags(capsys, chat_file, tmp_path):
    assert main(["data", "validate", str(chat_file), "--field", "nonsense"]) == 2
    assert "expected OURS=THEIRS" in capsys.readouterr().err
    assert main(["data", "validate", str(chat_file), "--format", "xml"]) == 2
    assert "unknown data format 'xml'" in capsys.readouterr().err
    assert main(["data", "validate"]) == 2
    assert "no data given" in capsys.readouterr().err
