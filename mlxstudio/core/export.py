"""Export a run: its adapter fused into an MLX model folder, and for the architectures both
mlx-lm and llama.cpp know, a GGUF (written with llama.cpp's `gguf` package: gguf_export) with
an Ollama Modelfile beside it.

OUT/mlx/        the fused model (mlx_lm.load, `mlxstudio serve` and LM Studio read it)
OUT/model.gguf  llama.cpp / Ollama / LM Studio weights (F16, BF16, Q8_0, Q4_0; Q4_K_M and
                Q5_K_M with llama-cpp-python installed)
OUT/Modelfile   `ollama create NAME -f OUT/Modelfile`
OUT/README.md   the run's evaluation, base vs fine-tuned (when it has one)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlxstudio.core.errors import UserError
from mlxstudio.core.eval.card import write_card_section
from mlxstudio.core.fuse import fuse
from mlxstudio.core.models.gguf_export import ARCHS, check_quant, write_gguf

GGUF_ARCHS = tuple(ARCHS)  # mlx-lm model types the GGUF writer handles
GGUF_FILE = "model.gguf"
MODELFILE = "Modelfile"

# Ollama's Go-template spelling of a ChatML conversation.
_CHATML = """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
"""
_LLAMA3 = """{{ if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>

{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>

{{ .Response }}<|eot_id|>"""


@dataclass
class ExportResult:
    mlx_dir: Path
    gguf: Path | None = None
    modelfile: Path | None = None
    notes: list[str] = field(default_factory=list)  # plain lines for the user


def export(
    run_dir: Path,
    out: Path,
    *,
    gguf: bool = False,
    quant: str = "F16",
    base: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Fuse the run into OUT/mlx; with gguf=True also write OUT/model.gguf (of type `quant`,
    see gguf_export.quant_choices) + OUT/Modelfile, or a note saying why not."""
    say = progress or (lambda _msg: None)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not empty; choose another --out")
    if gguf:
        quant = check_quant(quant)  # before the fuse: a type that cannot be written fails fast
    result = ExportResult(mlx_dir=fuse(Path(run_dir), out / "mlx", base=base, progress=say))
    write_card_section(out, Path(run_dir))  # OUT/README.md: base vs fine-tuned, if evaluated
    if not gguf:
        return result
    config = json.loads((result.mlx_dir / "config.json").read_text(encoding="utf-8"))
    arch = config.get("model_type", "unknown")
    if arch not in GGUF_ARCHS:
        result.notes.append(
            f"GGUF export isn't supported for {arch} (it handles "
            f"{', '.join(GGUF_ARCHS)}); the MLX folder was written to {result.mlx_dir}."
        )
        return result
    say(f"Writing {GGUF_FILE} ({quant})")
    result.gguf = write_gguf(result.mlx_dir, out / GGUF_FILE, quant, progress=say)
    result.modelfile = out / MODELFILE
    text, note = modelfile(result.mlx_dir)
    result.modelfile.write_text(text, encoding="utf-8")
    if note:
        result.notes.append(note)
    return result


def modelfile(model_dir: Path) -> tuple[str, str | None]:
    """An Ollama Modelfile for model.gguf beside it, and a note if the chat template could
    not be translated to Ollama's syntax."""
    template = _chat_template(model_dir)
    eos = _tokenizer_config(model_dir).get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    lines = [f"FROM ./{GGUF_FILE}", ""]
    note = None
    if "<|im_start|>" in template:
        lines.append(f'TEMPLATE """{_CHATML}"""')
        stops = ["<|im_start|>", "<|im_end|>"]
    elif "<|start_header_id|>" in template:
        lines.append(f'TEMPLATE """{_LLAMA3}"""')
        stops = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    else:
        stops = []
        note = (
            "The Modelfile has no TEMPLATE: the model's chat template is not ChatML or "
            "Llama 3, so add one by hand (Ollama may also read it from the GGUF)."
        )
    if eos and eos not in stops:
        stops.append(eos)
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n", note


def _tokenizer_config(model_dir: Path) -> dict:
    path = model_dir / "tokenizer_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _chat_template(model_dir: Path) -> str:
    """The chat template: newer tokenizers save it as chat_template.jinja."""
    path = model_dir / "chat_template.jinja"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    template = _tokenizer_config(model_dir).get("chat_template")
    return template if isinstance(template, str) else ""
