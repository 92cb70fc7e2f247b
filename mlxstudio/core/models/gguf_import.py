"""Import a GGUF file (from Ollama, LM Studio, llama.cpp) as an MLX model folder for mlx-lm.

MLX reads GGUF itself (`mx.load`): F32/F16 as arrays, and Q4_0/Q4_1/Q8_0 as MLX affine
quantized triplets (weight/scales/biases, group size 32), which map exactly. What it does not
check we check first, with gguf_reader: truncation, architecture and tensor types. Other types
(K-quants, Q5_0/Q5_1) it silently dequantizes its own way, or fails on the whole file: for those
files we read every tensor with numpy (ggml_dequant) and dequantize them, or requantize them to
MLX affine when asked, and say which. Then we rename the tensors to mlx-lm's llama
layout, write config.json (per-layer quantization where the file mixes types), the tokenizer
files and safetensors, check that mlx-lm loads the folder, and only then move it into place.
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

import numpy as np

from mlxstudio.core.errors import UserError
from mlxstudio.core.models import ggml_dequant
from mlxstudio.core.models.gguf_reader import GGUFFile, GGUFTensor, read_gguf
from mlxstudio.core.models.gguf_tokenizer import build_tokenizer

SUPPORTED_ARCHS = ("llama", "mistral")  # mistral GGUFs are llama-shaped
MLX_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0")  # what mx.load maps exactly
# K-quants and Q5_0/Q5_1 are decoded with numpy (ggml_dequant), then kept as float16 (float32
# or bfloat16 when the file's float matrices are) or requantized to MLX affine on request.
SUPPORTED_TYPES = (*MLX_TYPES, *ggml_dequant.DEQUANT_TYPES)
QUANT_BITS = {"Q4_0": 4, "Q4_1": 4, "Q8_0": 8}
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
            f"{src.name}: not supported yet: {arch} (this importer handles the llama family: "
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
        weights, converted = _load_weights(info, names), None
    else:
        weights, converted = _decode_weights(info, names, requantize, group_size, say)
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
    config: dict[str, Any] = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "num_hidden_layers": int(num("block_count")),
        "intermediate_size": int(num("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(num("attention.head_count_kv", heads)),
        "rms_norm_eps": float(num("attention.layer_norm_rms_epsilon", 1e-5)),
        "vocab_size": shapes["model.embed_tokens.weight"][0],
        "rope_theta": float(num("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(num("context_length", 2048)),
        # llama.cpp stores Q/K rows permuted for interleaved rope: no un-permuting needed.
        "rope_traditional": True,
        "tie_word_embeddings": "lm_head.weight" not in shapes,
        "attention_bias": any(
            n and n.endswith("_proj.bias") and "self_attn" in n for n in names.values()
        ),
        "mlp_bias": any(n and n.endswith("_proj.bias") and ".mlp." in n for n in names.values()),
    }
    head_dim = info.arch_value("attention.key_length")
    if isinstance(head_dim, int) and head_dim != hidden // heads:
        config["head_dim"] = head_dim
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


def _load_weights(info: GGUFFile, names: dict[str, str | None]) -> dict[str, Any]:
    import mlx.core as mx

    try:
        raw = mx.load(str(info.path))
    except Exception as e:  # MLX's loader has terse messages; say what to do
        raise UserError(f"{info.path.name}: MLX could not read the tensors ({e}).") from None
    weights: dict[str, Any] = {}
    for t in info.tensors:
        name = names[t.name]
        if name is None:
            continue
        base = t.name.rpartition(".")[0]
        if t.type_name == "BF16":  # MLX casts BF16 to float16 (lossy): read the bits ourselves
            bits = np.fromfile(info.path, dtype="<u2", count=t.n_elements, offset=t.offset)
            weights[name] = mx.array(bits).view(mx.bfloat16).reshape(t.shape)
        else:
            weights[name] = raw[t.name]
        if t.type_name in QUANT_BITS:
            mbase = name.rpartition(".")[0]
            weights[f"{mbase}.scales"] = raw[f"{base}.scales"]
            weights[f"{mbase}.biases"] = raw[f"{base}.biases"]
    return weights


def _float_dtype(info: GGUFFile) -> str:
    """float16, unless the file's unquantized matrices are all float32 (or any bfloat16)."""
    floats = {t.type_name for t in info.tensors if len(t.shape) >= 2} & {"F32", "F16", "BF16"}
    return "bfloat16" if "BF16" in floats else "float32" if floats == {"F32"} else "float16"


def _raw(info: GGUFFile, t: GGUFTensor) -> np.ndarray:
    return ggml_dequant.read_raw(info.path, t.offset, t.nbytes or 0)


def _decode_weights(
    info: GGUFFile,
    names: dict[str, str | None],
    bits: int | None,
    group_size: int,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read every tensor with numpy (mx.load refuses files holding Q5 types, and turns K-quants
    into float16 its own way): decode the types MLX has no form for, requantize if asked."""
    import mlx.core as mx

    dtype = _float_dtype(info)
    kinds = Counter(t.type_name for t in info.tensors if t.type_name not in MLX_TYPES)
    layers: dict[str, tuple[int, int]] = {}
    weights: dict[str, Any] = {}
    for i, t in enumerate(info.tensors):
        name = names[t.name]
        if name is None:
            continue
        raw, kind = _raw(info, t), t.type_name
        if kind in ggml_dequant.DEQUANT_TYPES:
            if i % 16 == 0:
                say(f"Decoding {t.name} ({kind}) [{i + 1}/{len(info.tensors)}]")
            np_dtype = np.float16 if dtype == "float16" else np.float32
            w = mx.array(ggml_dequant.dequantize(raw, kind, t.shape, np_dtype)).astype(
                getattr(mx, dtype)
            )
            mbase = name.rpartition(".")[0]
            if bits and len(t.shape) == 2 and t.shape[-1] % group_size == 0:
                q, scales, biases = mx.quantize(w, group_size=group_size, bits=bits)
                weights.update({name: q, f"{mbase}.scales": scales, f"{mbase}.biases": biases})
                layers[mbase] = (bits, group_size)
                mx.eval(q, scales, biases)
            else:
                weights[name] = w
                mx.eval(w)
        elif kind in QUANT_BITS:
            q, scales, biases = ggml_dequant.mlx_triplet(raw, kind, t.shape)
            mbase = name.rpartition(".")[0]
            weights[name] = mx.array(q)
            weights[f"{mbase}.scales"] = mx.array(scales)
            weights[f"{mbase}.biases"] = mx.array(biases)
        elif kind == "BF16":
            weights[name] = mx.array(np.array(raw.view("<u2"))).view(mx.bfloat16).reshape(t.shape)
        else:
            weights[name] = mx.array(np.array(raw.view("<f4" if kind == "F32" else "<f2"))).reshape(
                t.shape
            )
    return weights, {"kinds": [k for k, _ in kinds.most_common()], "dtype": dtype,
                     "bits": bits, "group_size": group_size, "layers": layers}  # fmt: skip


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
