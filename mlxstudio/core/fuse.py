"""Fuse a run's adapters into its base model: a standalone model folder mlx-lm loads."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlxstudio.core.errors import UserError
from mlxstudio.core.eval.card import write_card_section
from mlxstudio.core.models.local import resolve_model
from mlxstudio.core.runs import is_adapter_dir
from mlxstudio.core.train.sft import adapter_base_model


def fuse(
    run_dir: Path,
    out: Path,
    *,
    dequantize: bool = False,
    base: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write base model + adapters as one model folder at `out` (atomically)."""
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import dequantize_model, load, save

    say = progress or (lambda _msg: None)
    run_dir = given = Path(run_dir)
    if not is_adapter_dir(run_dir) and is_adapter_dir(run_dir / "adapters"):
        run_dir = run_dir / "adapters"  # the layout `mlxstudio serve --adapter` accepts too
    if not is_adapter_dir(run_dir):
        raise UserError(
            f"{run_dir}: no adapters.safetensors + adapter_config.json; "
            f"give a finished run directory"
        )
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: already exists and is not empty; choose another --out")
    model_path = resolve_model(base or adapter_base_model(run_dir))
    say(f"Loading {model_path.name} with adapters from {run_dir}")
    model, tokenizer, config = load(str(model_path), adapter_path=str(run_dir), return_config=True)
    fused = [
        (n, m.fuse(dequantize=dequantize)) for n, m in model.named_modules() if hasattr(m, "fuse")
    ]
    if fused:
        model.update_modules(tree_unflatten(fused))
    if dequantize:
        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        say(f"Writing fused model to {out}")
        save(tmp, str(model_path), model, tokenizer, config, donate_model=False)
        write_card_section(tmp, given)  # the run's evaluation, base vs fine-tuned
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
