"""Convert a Hugging Face safetensors model folder to MLX, optionally quantized to 4/8 bits.

mlx_lm.convert does the work; this checks the input first (so a bad folder gets one plain
sentence, not a traceback from deep inside a loader), turns its log into progress lines,
writes into a hidden staging folder, and removes that folder if anything fails.
"""

from __future__ import annotations

import contextlib
import errno
import io
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from mlxstudio.core import paths
from mlxstudio.core.errors import UserError
from mlxstudio.core.models.discover import describe_folder, mlx_supports, safetensors_header


class _Lines(io.TextIOBase):
    """A stdout stand-in that hands each printed line of mlx_lm.convert to `say`."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say, self.buf, self.real = say, "", sys.stdout

    def _say(self, line: str) -> None:
        with contextlib.redirect_stdout(self.real):  # `say` may print: not back into us
            self.say(line)

    def write(self, text: str) -> int:
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                self._say(line.replace("[INFO] ", "").strip())
        return len(text)


def check_source(src: Path) -> None:
    """Refuse, with a reason, a folder that mlx_lm.convert would choke on."""
    entry = describe_folder(src)  # no config.json / bad JSON -> UserError
    if not mlx_supports(entry.architecture):
        raise UserError(
            f"{src}: model_type '{entry.architecture}' is not supported by mlx-lm, so it "
            "cannot be converted; pick a model of a supported family (llama, qwen2, ...)"
        )
    shards = sorted(src.glob("*.safetensors"))
    if not shards:
        raise UserError(f"{src}: no *.safetensors weights to convert")
    for shard in shards:
        safetensors_header(shard)  # corrupt / truncated -> UserError naming the file


def convert(
    src: Path,
    out: Path | None = None,
    *,
    bits: int | None = None,
    group_size: int = 64,
    dtype: str | None = None,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an MLX model folder from `src`; quantized to `bits` (4 or 8) when given. A
    quantized source is dequantized first: without `bits` the result is full precision."""
    from mlx_lm.convert import convert as mlx_convert

    say = progress or (lambda _m: None)
    src = Path(src).expanduser()
    if not src.is_dir():
        raise UserError(f"{src}: no such model folder")
    if bits not in (None, 4, 8):
        raise UserError(f"quantize to 4 or 8 bits, not {bits}")
    suffix = f"-{bits}bit" if bits else "-mlx"
    out = Path(out).expanduser() if out else paths.models_dir() / f"{src.name}{suffix}"
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; use --overwrite or choose another --out")
    say(f"Checking {src}")
    check_source(src)
    quantized = describe_folder(src).format == "mlx"
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.converting-{uuid.uuid4().hex[:8]}"
    plain = out.parent / f".{out.name}.converting-{uuid.uuid4().hex[:8]}"
    try:
        with contextlib.redirect_stdout(_Lines(say)):
            if quantized:  # already quantized: back to full precision first (then requantize)
                say("Dequantizing the source")
                mlx_convert(str(src), str(plain if bits else stage), dequantize=True, dtype=dtype)
            if bits or not quantized:
                mlx_convert(
                    str(plain if quantized else src),
                    str(stage),
                    quantize=bits is not None,
                    q_bits=bits,
                    q_group_size=group_size if bits else None,
                    dtype=dtype,
                )
        shutil.rmtree(plain, ignore_errors=True)
        say("Checking the result")
        describe_folder(stage)
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    except OSError as err:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(plain, ignore_errors=True)
        if err.errno == errno.ENOSPC:
            raise UserError(
                f"the disk filled up while converting {src.name}; the partial output was "
                "removed. Free some space and try again"
            ) from None
        raise UserError(
            f"converting {src.name} failed: {err}; the partial output was removed"
        ) from None
    except (ValueError, KeyError) as err:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(plain, ignore_errors=True)
        raise UserError(f"mlx-lm could not convert {src.name}: {err}") from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(plain, ignore_errors=True)
        raise
    say(f"Wrote {out}" + (f" ({bits}-bit, group size {group_size})" if bits else ""))
    return out
