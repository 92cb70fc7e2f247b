"""Find models wherever they already are: the app's folder, the Hugging Face cache, LM Studio,
Ollama (GGUF blobs behind manifests), and folders the user adds.

Only headers are read (config.json, safetensors and GGUF headers), so a scan of many
gigabytes of models takes milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError

SOURCES = ("app", "hf-cache", "lmstudio", "ollama", "folder")
FOLDERS_FILE = "model_folders.json"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
# model_type names mlx-lm maps onto another module (mirrors mlx_lm.utils.MODEL_REMAPPING).
_REMAP = {"mistral": "llama", "llava": "mistral3", "phi-msft": "phixtral", "falcon_mamba": "mamba"}


@dataclass
class ModelEntry:
    name: str
    source: str  # one of SOURCES
    path: Path
    format: str  # "mlx" (MLX-quantized), "safetensors" (full precision), "gguf"
    architecture: str
    parameters: int | None
    quantization: str
    size_bytes: int
    context_length: int | None
    has_chat_template: bool
    trainable: bool
    note: str = ""  # why it is not trainable, or what to do first

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def mlx_supports(model_type: str) -> bool:
    """Whether mlx-lm has an implementation of this architecture (no import of it)."""
    name = _REMAP.get(model_type, model_type).replace("-", "_")
    try:
        return importlib.util.find_spec(f"mlx_lm.models.{name}") is not None
    except (ImportError, ValueError):
        return False


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file, checked against the file's size."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise UserError(f"{path.name}: corrupt safetensors file (shorter than its header)")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, 100_000_000):
            raise UserError(f"{path.name}: corrupt safetensors file (header length {n})")
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            raise UserError(f"{path.name}: corrupt safetensors file (unreadable header)") from None
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise UserError(
            f"{path.name}: corrupt or truncated safetensors file "
            f"({size} bytes, the header needs {8 + n + end}); download it again"
        )
    return header


def _folder_params(folder: Path, config: dict) -> int | None:
    from mlxstudio.core.models.memory import ModelShape

    try:
        return ModelShape.from_config(config).params()
    except UserError:
        pass
    total = 0
    for f in folder.glob("*.safetensors"):
        for k, v in safetensors_header(f).items():
            if k != "__metadata__":
                n = 1
                for d in v["shape"]:
                    n *= d
                total += n
    return total or None


def _chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").exists() or (folder / "chat_template.json").exists():
        return True
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(cfg.get("chat_template"))


def describe_folder(folder: Path, source: str = "folder", name: str | None = None) -> ModelEntry:
    """A model folder (config.json + weights) described; raises UserError when it is not one."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{folder}: not a model folder (no config.json)")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{cfg_path}: not valid JSON ({err})") from None
    model_type = str(config.get("model_type", "?"))
    quant = config.get("quantization") or {}
    hf_quant = config.get("quantization_config") or {}
    if isinstance(quant, dict) and "bits" in quant:
        quantization, fmt = f"{quant['bits']}-bit", "mlx"
    elif isinstance(hf_quant, dict) and hf_quant.get("quant_method"):
        quantization, fmt = str(hf_quant["quant_method"]), "safetensors"
    else:
        quantization = str(config.get("torch_dtype") or config.get("dtype") or "?")
        fmt = "safetensors"
    weights = list(folder.glob("*.safetensors"))
    note, trainable = "", True
    if not weights:
        trainable = False
        note = "no .safetensors weights (PyTorch .bin models need converting elsewhere first)"
    elif not mlx_supports(model_type):
        trainable, note = False, f"mlx-lm does not support model_type '{model_type}'"
    elif isinstance(hf_quant, dict) and hf_quant.get("quant_method") and fmt != "mlx":
        trainable, note = False, f"{quantization} quantization is not readable by MLX"
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    try:
        params = _folder_params(folder, config)
    except UserError as err:
        params, trainable, note = None, False, str(err)
    ctx = config.get("max_position_embeddings") or (config.get("text_config") or {}).get(
        "max_position_embeddings"
    )
    return ModelEntry(
        name=name or folder.name,
        source=source,
        path=folder,
        format=fmt,
        architecture=model_type,
        parameters=params,
        quantization=quantization,
        size_bytes=size,
        context_length=int(ctx) if ctx else None,
        has_chat_template=_chat_template(folder),
        trainable=trainable,
        note=note,
    )


def describe_gguf(path: Path, source: str = "folder", name: str | None = None) -> ModelEntry:
    """A GGUF file described from its header; trainable once imported, if the importer can."""
    from mlxstudio.core.models.gguf_import import SUPPORTED_ARCHS, SUPPORTED_TYPES
    from mlxstudio.core.models.gguf_reader import describe, read_gguf

    info = read_gguf(path)
    d = describe(info)
    bad = sorted({t.type_name for t in info.tensors} - set(SUPPORTED_TYPES))
    if info.architecture not in SUPPORTED_ARCHS:
        note = f"the GGUF importer does not handle '{info.architecture}' yet"
    elif bad:
        note = f"tensor types {', '.join(bad)} are not importable yet"
    else:
        note = "import it first"
    return ModelEntry(
        name=name or path.stem,
        source=source,
        path=path,
        format="gguf",
        architecture=info.architecture,
        parameters=d["parameters"],
        quantization=d["file_type"],
        size_bytes=d["size_bytes"],
        context_length=d["context_length"],
        has_chat_template=d["has_chat_template"],
        trainable=note.startswith("import"),
        note=note,
    )


def _safe(fn, *args, **kwargs) -> ModelEntry | None:
    try:
        return fn(*args, **kwargs)
    except (UserError, OSError, ValueError, KeyError):
        return None  # a broken model in someone else's folder must not break the scan


def scan_folder(folder: Path, source: str = "folder", depth: int = 3) -> list[ModelEntry]:
    """Model folders and .gguf files under `folder`, up to `depth` levels down."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return []
    if (folder / "config.json").is_file():
        entry = _safe(describe_folder, folder, source)
        return [entry] if entry else []
    found: list[ModelEntry] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file() and child.suffix == ".gguf":
            entry = _safe(describe_gguf, child, source)
            found += [entry] if entry else []
        elif child.is_dir() and depth > 0:
            found += scan_folder(child, source, depth - 1)
    return found


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(home).expanduser() / "hub"


def scan_hf_cache(cache: Path | None = None) -> list[ModelEntry]:
    """models--org--name/snapshots/<revision>: the revision refs/main points at, else newest."""
    cache = cache or hf_cache_dir()
    found = []
    for repo in sorted(cache.glob("models--*")):
        snaps = repo / "snapshots"
        ref = repo / "refs" / "main"
        snap = snaps / ref.read_text().strip() if ref.is_file() else None
        if snap is None or not snap.is_dir():
            candidates = sorted(snaps.glob("*"), key=lambda p: p.stat().st_mtime)
            snap = candidates[-1] if candidates else None
        if snap is None:
            continue
        name = repo.name.removeprefix("models--").replace("--", "/")
        entry = _safe(describe_folder, snap, "hf-cache", name)
        if entry:
            found.append(entry)
    return found


def lmstudio_dirs() -> list[Path]:
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def ollama_dir() -> Path:
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")


def scan_ollama(root: Path | None = None) -> list[ModelEntry]:
    """Ollama keeps GGUFs as content-addressed blobs; its manifests name them."""
    root = root or ollama_dir()
    found = []
    for manifest in sorted((root / "manifests").glob("*/*/*/*")):
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError):
            continue
        for layer in layers:
            if layer.get("mediaType") == OLLAMA_MODEL_LAYER:
                blob = root / "blobs" / str(layer.get("digest", "")).replace(":", "-")
                namespace, model, tag = manifest.parts[-3:]
                name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
                entry = _safe(describe_gguf, blob, "ollama", name) if blob.is_file() else None
                found += [entry] if entry else []
    return found


def user_folders() -> list[Path]:
    try:
        data = json.loads((paths.home() / FOLDERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [Path(p) for p in data if isinstance(p, str)]


def add_user_folder(folder: Path) -> list[Path]:
    """Remember a folder to scan for models; returns the folders now remembered."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    folders = [p for p in user_folders() if p != folder] + [folder]
    paths.home().mkdir(parents=True, exist_ok=True)
    (paths.home() / FOLDERS_FILE).write_text(json.dumps([str(p) for p in folders], indent=2))
    return folders


def discover(sources: tuple[str, ...] = SOURCES) -> list[ModelEntry]:
    """Every model found in the chosen sources; the same folder is listed once."""
    found: list[ModelEntry] = []
    if "app" in sources:
        found += scan_folder(paths.models_dir(), "app", depth=1)
    if "hf-cache" in sources:
        found += scan_hf_cache()
    if "lmstudio" in sources:
        for folder in lmstudio_dirs():
            found += scan_folder(folder, "lmstudio")
    if "ollama" in sources:
        found += scan_ollama()
    if "folder" in sources:
        for folder in user_folders():
            found += scan_folder(folder, "folder")
    seen: set[Path] = set()
    unique = []
    for entry in found:
        key = entry.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def describe_path(path: Path) -> ModelEntry:
    """`models info`: a model folder or a .gguf file."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return describe_gguf(path)
    if path.is_dir():
        return describe_folder(path)
    local = paths.models_dir() / str(path)
    if local.is_dir():
        return describe_folder(local, "app")
    raise UserError(f"{path}: no such model folder or .gguf file")
