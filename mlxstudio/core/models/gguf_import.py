"""Import a GGUF file (from Ollama, LM Studio, llama.cpp) as an MLX model folder for mlx-lm.

llama.cpp's `gguf` package reads the file (gguf_reader, which adds bounds checks); we check the
architecture and tensor types, load the tensors as MLX arrays (gguf_weights: exact MLX forms
where they exist, gguf.quants' decoders for the rest), rename them to mlx-lm's layout, write
config.json (per-layer quantization where the file mixes types), the tokenizer files and
safetensors, check that mlx-lm loads the folder, and only then move it into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlxstudio.core.errors import UserError
from mlxstudio.core.models.gguf_reader import GGUFFile, read_gguf
from mlxstudio.core.models.gguf_tokenizer import build_tokenizer
from mlxstudio.core.models.gguf_weights import (
    MLX_TYPES,
    QUANT_BITS,
    SUPPORTED_TYPES,
    decode_all,
    load_native,
)

# GGUF architecture -> mlx-lm model_type. mistral GGUFs are llama-shaped; llama.cpp stores
# llama's Q/K rows permuted for interleaved rope, qwen's as they are (NeoX rope).
SUPPORTED_ARCHS = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}
_CLASSES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
GROUP_SIZE = 32  # every natively mapped ggml block holds 32 weights

_TOP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_q_norm": "self_attn.q_norm",  # qwen3
    "attn_k_norm": "self_attn.k_norm",
}
_DROPPED = {"rope_freqs"}  # llama 3.1 rope factors: mlx-lm has no slot for them (warned)


@dataclass
class ImportResult:
    out: Path
    architecture: str
    quantization: str
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def mlx_name(gguf_name: str) -> str | None:
    """mlx-lm llama parameter name for a GGUF tensor name (None for dropped tensors)."""
    base, _, suffix = gguf_name.rpartition(".")
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)", base)
    if m and m.group(2) in _BLOCK:
        return f"model.layers.{m.group(1)}.{_BLOCK[m.group(2)]}.{suffix}"
    if base in _TOP:
        return f"{_TOP[base]}.{suffix}"
    if base in _DROPPED:
        return None
    raise KeyError(gguf_name)


def import_gguf(
    src: Path,
    out: Path,
    *,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
    requantize: int | None = None,
    group_size: int = 64,
) -> ImportResult:
    """Convert the GGUF file `src` into the mlx-lm model folder `out` (atomically).

    requantize=4 or 8: tensors of types MLX has no exact form for (K-quants, Q5_0/Q5_1) become
    MLX affine `requantize`-bit with `group_size`; by default they are dequantized.
    """
    if requantize not in (None, 4, 8) or group_size not in (32, 64, 128):
        raise UserError("requantize to 4 or 8 bits, with a group size of 32, 64 or 128.")
    start = time.monotonic()
    say = progress or (lambda _msg: None)
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.is_file():
        raise UserError(f"{src}: no such file.")
    _check_out(out, overwrite)

    say(f"Reading {src.name}")
    info = read_gguf(src)
    arch = info.architecture
    if arch not in SUPPORTED_ARCHS:
        raise UserError(
            f"{src.name}: not supported yet: {arch} (this importer handles "
            f"{', '.join(SUPPORTED_ARCHS)}); use an MLX-format version of this model instead."
        )
    bad = Counter(t.type_name for t in info.tensors if t.type_name not in SUPPORTED_TYPES)
    if bad:
        kinds = ", ".join(f"{k} ({n} tensor{'s' * (n > 1)})" for k, n in bad.most_common())
        raise UserError(
            f"{src.name}: tensor type {kinds} not supported yet; supported types are "
            f"{', '.join(SUPPORTED_TYPES)} - download a Q8_0, Q4_K_M or F16 file of this model."
        )
    warnings: list[str] = []
    names = _map_names(info, warnings)
    config = _config(info, names, warnings)
    say("Building the tokenizer")
    tok = build_tokenizer(info.metadata, config.get("max_position_embeddings"))
    warnings += tok.warnings

    n = len(info.tensors)
    say(f"Loading {n} tensors ({info.file_type}, {info.file_size / 2**20:.0f} MiB)")
    if all(t.type_name in MLX_TYPES for t in info.tensors):
        weights, converted = load_native(info, names), None
    else:
        weights, converted = decode_all(info, names, requantize, group_size, say)
    quant, description = _quantization(info, names, converted)
    if converted:
        warnings.append(f"{_conversion_note(converted)} (MLX has no exact form for these types).")
    if quant:
        config["quantization"] = config["quantization_config"] = quant

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.importing-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        say("Writing weights")
        shard_files = _write_weights(tmp, weights)
        del weights
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        tok.save(tmp)
        say("Checksumming the source file")
        (tmp / "mlxstudio.json").write_text(
            json.dumps(_provenance(src, info, description), indent=2)
        )
        say("Checking that mlx-lm loads the model")
        _validate(tmp, shard_files)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.monotonic() - start
    say(f"Imported {src.name} into {out} in {seconds:.1f} s")
    return ImportResult(out, arch, description, warnings, seconds)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; choose a folder path for the imported model.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(
            f"{out} already exists and is not empty; choose another folder or allow overwriting it."
        )


def _map_names(info: GGUFFile, warnings: list[str]) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for t in info.tensors:
        try:
            names[t.name] = mlx_name(t.name)
        except KeyError:
            raise UserError(
                f"{info.path.name}: unexpected tensor {t.name!r}; this {info.architecture} "
                "variant is not supported yet."
            ) from None
        if names[t.name] is None:
            warnings.append(
                f"tensor {t.name} is not used (mlx-lm's llama has no rope factors); "
                "very long prompts may be handled less well."
            )
    return names


def _config(info: GGUFFile, names: dict[str, str | None], warnings: list[str]) -> dict[str, Any]:
    def num(key: str, default: float | None = None) -> Any:
        value = info.arch_value(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise UserError(
                f"{info.path.name}: metadata {info.architecture}.{key} is missing or not a "
                "positive number; the file is incomplete or of an unsupported variant."
            )
        return value

    shapes = {names[t.name]: t.shape for t in info.tensors if names[t.name]}
    if "model.embed_tokens.weight" not in shapes:
        raise UserError(f"{info.path.name}: the file has no token_embd tensor; it is incomplete.")
    hidden, heads = int(num("embedding_length")), int(num("attention.head_count"))
    model_type = SUPPORTED_ARCHS[info.architecture]
    config: dict[str, Any] = {
        "model_type": model_type,
        "architectures": [_CLASSES[model_type]],
        "hidden_size": hidden,
        "num_hidden_layers": int(num("block_count")),
        "intermediate_size": int(num("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(num("attention.head_count_kv", heads)),
        "rms_norm_eps": float(num("attention.layer_norm_rms_epsilon", 1e-5)),
        "vocab_size": shapes["model.embed_tokens.weight"][0],
        "rope_theta": float(num("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(num("context_length", 2048)),
        # llama.cpp stores llama's Q/K rows permuted for interleaved rope: no un-permuting.
        "rope_traditional": model_type == "llama",
        "tie_word_embeddings": "lm_head.weight" not in shapes,
        "attention_bias": any(
            n and n.endswith("_proj.bias") and "self_attn" in n for n in names.values()
        ),
        "mlp_bias": any(n and n.endswith("_proj.bias") and ".mlp." in n for n in names.values()),
    }
    head_dim = info.arch_value("attention.key_length")
    if model_type == "qwen3" or (isinstance(head_dim, int) and head_dim != hidden // heads):
        config["head_dim"] = head_dim if isinstance(head_dim, int) else hidden // heads
    scaling = info.arch_value("rope.scaling.type")
    factor = info.arch_value("rope.scaling.factor")
    if scaling == "linear" and isinstance(factor, (int, float)) and factor > 0:
        config["rope_scaling"] = {"type": "linear", "factor": float(factor)}
    elif scaling not in (None, "none"):
        warnings.append(f"rope scaling {scaling!r} is not carried over; long contexts may degrade.")
    md = info.metadata
    for key in ("bos_token_id", "eos_token_id"):
        if isinstance(md.get(f"tokenizer.ggml.{key}"), int):
            config[key] = md[f"tokenizer.ggml.{key}"]
    # Chat models often end a turn with a token other than EOS (Llama 3's <|eot_id|>).
    eos = [config.get("eos_token_id")] + [
        md.get(f"tokenizer.ggml.{k}_token_id") for k in ("eot", "eom")
    ]
    eos = list(dict.fromkeys(e for e in eos if isinstance(e, int)))
    if len(eos) > 1:
        config["eos_token_id"] = eos
    return config


def _conversion_note(converted: dict[str, Any]) -> str:
    """What happened to the tensors MLX has no exact form for, e.g. "Q4_K, Q6_K tensors
    dequantized to float16" or "... requantized to MLX 4-bit affine (group size 64)"."""
    if converted["bits"]:
        gs = converted["group_size"]
        done = f"requantized to MLX {converted['bits']}-bit affine (group size {gs})"
    else:
        done = f"dequantized to {converted['dtype']}"
    return f"{', '.join(converted['kinds'])} tensors {done}"


def _quantization(
    info: GGUFFile, names: dict[str, str | None], converted: dict[str, Any] | None = None
) -> tuple[dict | None, str]:
    """mlx-lm's "quantization" config: the commonest bits as default, exceptions per layer."""
    requantized = converted["layers"] if converted else {}
    layers: dict[str, tuple[int, int] | None] = {}
    for t in info.tensors:
        name = names[t.name]
        if name and name.endswith(".weight") and len(t.shape) == 2:
            path = name.rpartition(".")[0]
            b = QUANT_BITS.get(t.type_name)
            layers[path] = (b, GROUP_SIZE) if b else requantized.get(path)
    note = _conversion_note(converted) if converted else ""
    counts = Counter(b for b in layers.values() if b)
    if not counts:
        dtypes = sorted({t.type_name for t in info.tensors if len(t.shape) == 2})
        plain = f"not quantized ({'/'.join(dtypes)} weights)"
        return None, f"{info.file_type}: {note or plain}"
    bits, gs = counts.most_common(1)[0][0]
    quant: dict[str, Any] = {"group_size": gs, "bits": bits, "mode": "affine"}
    others = []
    for path, bg in layers.items():
        if bg != (bits, gs):
            quant[path] = {"group_size": bg[1], "bits": bg[0], "mode": "affine"} if bg else False
            kind = f"{bg[0]}-bit" + (f" group size {bg[1]}" if bg[1] != gs else "") if bg else ""
            others.append(f"{path.rpartition('.')[2]} {kind or 'unquantized'}")
    detail = f" (except {', '.join(sorted(set(others)))})" if others else ""
    desc = f"{info.file_type}: MLX {bits}-bit affine, group size {gs}{detail}"
    return quant, f"{desc}; {note}" if note else desc


def _write_weights(folder: Path, weights: dict[str, Any]) -> list[str]:
    """mlx-lm's save_model layout: model.safetensors (or shards) + model.safetensors.index.json."""
    import mlx.core as mx
    from mlx_lm.utils import make_shards

    shards = make_shards(dict(sorted(weights.items())))
    fmt = "model-{:05d}-of-{:05d}.safetensors" if len(shards) > 1 else "model.safetensors"
    weight_map, files = {}, []
    for i, shard in enumerate(shards):
        fname = fmt.format(i + 1, len(shards))
        mx.save_safetensors(str(folder / fname), shard, metadata={"format": "mlx"})
        weight_map.update(dict.fromkeys(shard, fname))
        files.append(fname)
    index = {
        "metadata": {"total_size": sum(v.nbytes for v in weights.values())},
        "weight_map": dict(sorted(weight_map.items())),
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=4))
    return files


def _provenance(src: Path, info: GGUFFile, description: str) -> dict[str, Any]:
    sha = hashlib.sha256()
    with open(src, "rb") as f:
        while chunk := f.read(1 << 24):
            sha.update(chunk)
    return {
        "source": {"kind": "gguf", "path": str(src.resolve()), "size": info.file_size,
                   "sha256": sha.hexdigest(), "file_type": info.file_type},
        "architecture": info.architecture,
        "name": info.metadata.get("general.name"),
        "quantization": description,
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip


def _validate(folder: Path, shard_files: list[str]) -> None:
    """Load the folder the way mlx_lm.load does (lazily), so a bad import never lands."""
    from mlx_lm.utils import get_total_parameters, load_model, load_tokenizer

    try:
        model, _ = load_model(folder, lazy=True)
        load_tokenizer(folder)
    except Exception as e:
        raise UserError(
            f"the imported model does not load in mlx-lm ({e}); please report this."
        ) from None
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["metadata"]["total_parameters"] = get_total_parameters(model)
    index_path.write_text(json.dumps(index, indent=4))


def _move_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.replaced-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)  # both renames are on one filesystem, so each is atomic
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
