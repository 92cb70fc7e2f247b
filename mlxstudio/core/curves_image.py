"""An image (PNG, SVG or PDF) of one or more runs' curves, several runs overlaid.

Drawn with matplotlib's Agg canvas: it needs no display and no Qt, so `mlxstudio plot`
works on a headless machine, and the window's "Save as image…" writes the very same
picture. (pyqtgraph's exporter would need a QApplication, which core code never makes.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from mlxstudio.core.config import Stage
from mlxstudio.core.curves import Panel, RunCurves, image_panels, read_curves
from mlxstudio.core.errors import UserError

SUFFIXES = (".png", ".svg", ".pdf")
LINE_STYLES = ("-", "--", ":", "-.")  # the curves of one panel, in order
# One colour per run when several are overlaid (matplotlib's tab10)
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _draw(ax, panel: Panel, runs: list[RunCurves]) -> None:
    title, ylabel, curves = panel
    scale = 1.0
    if ylabel == "GB":  # a small run's memory reads better in MB
        top = max(max(r.series("train", "peak_memory_gb")[1], default=0.0) for r in runs)
        if top < 1.0:
            ylabel, scale = "MB", 1000.0
    drawn = 0
    for i, run in enumerate(runs):
        for j, (kind, field, label, colour) in enumerate(curves):
            steps, values = run.series(kind, field)
            if not steps:
                continue
            if label == "objective" and run.stage not in (Stage.RL, Stage.GRPO):
                label = "train"  # beside an RL run: another run's plain training loss
            name = (
                label if len(runs) == 1 else f"{run.name} {label}" if len(curves) > 1 else run.name
            )
            ax.plot(
                steps,
                [v * scale for v in values],
                LINE_STYLES[j % len(LINE_STYLES)],
                color=colour if len(runs) == 1 else RUN_COLOURS[i % len(RUN_COLOURS)],
                marker="o" if kind == "val" else None,
                markersize=3,
                linewidth=1.6,
                label=name,
            )
            drawn += 1
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("step")
    ax.grid(alpha=0.25)
    if drawn:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)


def save_curves(refs: Sequence[str | Path], out: str | Path) -> Path:
    """Draw the runs' curves (loss, learning rate, tokens/s, memory; reward and KL for RL;
    margin and accuracy for DPO) into `out`; returns its path."""
    out = Path(out).expanduser()
    if out.suffix.lower() not in SUFFIXES:
        raise UserError(f"{out}: the image must end in {', '.join(SUFFIXES)}")
    if not refs:
        raise UserError("no run to plot: pass one or more run folders")
    runs = [read_curves(ref) for ref in refs]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = image_panels([r.stage for r in runs], runs)
    rows = math.ceil(len(panels) / 2)
    fig = Figure(figsize=(11, 3.2 * rows), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 2, squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        _draw(ax, panel, runs)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(" vs ".join(f"{r.name} ({r.stage})" for r in runs), fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out)
    except OSError as err:
        raise UserError(f"{out}: cannot write the image ({err.strerror or err})") from None
    return out
