"""Export a run: its adapter fused into an MLX model folder, and where mlx-lm's exporter
handles the architecture, a float16 GGUF with an Ollama Modelfile beside it.

OUT/mlx/        the fused model (mlx_lm.load, `mlxstudio serve` and LM Studio read it)
OUT/model.gguf  llama.cpp / Ollama weights (llama, mistral, mixtral only)
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

# The architectures mlx_lm.gguf.convert_to_gguf knows how to name and lay out.
GGUF_ARCHS = ("llama", "mistral", "mixtral")
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
    base: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Fuse the run into OUT/mlx; with gguf=True also write OUT/model.gguf + OUT/Modelfile,
    or a note saying why not."""
    say = progress or (lambda _msg: None)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not empty; choose another --out")
    result = ExportResult(mlx_dir=fuse(Path(run_dir), out / "mlx", base=base, progress=say))
    write_card_section(out, Path(run_dir))  # OUT/README.md: base vs fine-tuned, if evaluated
    if not gguf:
        return result
    config = json.loads((result.mlx_dir / "config.json").read_text(encoding="utf-8"))
    arch = config.get("model_type", "unknown")
    if arch not in GGUF_ARCHS:
        result.notes.append(
            f"GGUF export isn't supported for {arch} (mlx-lm's exporter handles "
            f"{', '.join(GGUF_ARCHS)}); the MLX folder was written to {result.mlx_dir}."
        )
        return result
    say(f"Writing {GGUF_FILE} (float16)")
    result.gguf = write_gguf(result.mlx_dir, out / GGUF_FILE)
    result.modelfile = out / MODELFILE
    text, note = modelfile(result.mlx_dir)
    result.modelfile.write_text(text, encoding="utf-8")
    if note:
        result.notes.append(note)
    return result


def write_gguf(model_dir: Path, path: Path) -> Path:
    """A float16 GGUF of an MLX llama/mistral/mixtral folder (de-quantized first)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.gguf import convert_to_gguf
    from mlx_lm.utils import dequantize_model, load

    model, _, config = load(str(model_dir), return_config=True)
    if config.get("quantization"):
        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    weights = {k: v.astype(mx.float16) for k, v in tree_flatten(model.parameters())}
    config.setdefault("num_key_value_heads", config["num_attention_heads"])
    if config.get("rope_traditional"):
        # Already in llama.cpp's interleaved layout (e.g. imported from a GGUF); undo the
        # permutation convert_to_gguf applies to HF-layout weights, so it is not done twice.
        heads = {"q_proj": config["num_attention_heads"], "k_proj": config["num_key_value_heads"]}
        for name, value in weights.items():
            for proj, n in heads.items():
                if name.endswith(f"self_attn.{proj}.weight"):
                    weights[name] = _unpermute(value, n)
    convert_to_gguf(model_dir, weights, config, str(path))
    _fix_tokenizer_metadata(model_dir, path)
    return path


def _unpermute(w, n_head: int):
    """Inverse of mlx_lm.gguf.permute_weights."""
    return (
        w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _fix_tokenizer_metadata(model_dir: Path, path: Path) -> None:
    """mlx-lm labels every vocabulary a SentencePiece ("llama") one; a byte-level BPE
    vocabulary (GPT-2 style, e.g. SmolLM2, Llama 3) needs "gpt2" and its merges, or
    llama.cpp tokenizes garbage. Also carry the chat template across."""
    import mlx.core as mx

    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    template = _chat_template(model_dir)
    bpe = tokenizer.get("model", {}).get("type") == "BPE" and tokenizer["model"].get("merges")
    if not bpe and not template:
        return
    weights, metadata = mx.load(str(path), return_metadata=True)
    if bpe:
        merges = tokenizer["model"]["merges"]
        metadata["tokenizer.ggml.model"] = "gpt2"
        metadata["tokenizer.ggml.merges"] = [
            m if isinstance(m, str) else " ".join(m) for m in merges
        ]
    if template:
        metadata["tokenizer.chat_template"] = template
    mx.save_gguf(str(path), weights, metadata)


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
