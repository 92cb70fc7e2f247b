"""Token statistics of a dataset: counts, a length histogram and what max_seq_length cuts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bin:
    low: int  # inclusive
    high: int  # exclusive
    count: int


@dataclass
class TokenStats:
    records: int = 0
    tokens: int = 0
    min: int = 0
    max: int = 0
    mean: float = 0.0
    median: float = 0.0
    p95: float = 0.0
    max_seq_length: int = 2048
    truncated: int = 0  # records longer than max_seq_length
    tokens_cut: int = 0  # tokens training would never see
    histogram: list[Bin] = field(default_factory=list)

    @property
    def truncated_share(self) -> float:
        return self.truncated / self.records if self.records else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["truncated_share"] = self.truncated_share
        return out


def _percentile(ordered: Sequence[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(lengths: Sequence[int], max_seq_length: int = 2048, bins: int = 20) -> TokenStats:
    """Statistics of per-record token counts."""
    if not lengths:
        return TokenStats(max_seq_length=max_seq_length)
    ordered = sorted(lengths)
    low, top = ordered[0], ordered[-1]
    width = max(1, math.ceil((top - low + 1) / max(1, bins)))
    counts = [0] * math.ceil((top - low + 1) / width)
    for n in ordered:
        counts[(n - low) // width] += 1
    over = [n - max_seq_length for n in ordered if n > max_seq_length]
    return TokenStats(
        records=len(ordered),
        tokens=sum(ordered),
        min=ordered[0],
        max=top,
        mean=sum(ordered) / len(ordered),
        median=_percentile(ordered, 0.5),
        p95=_percentile(ordered, 0.95),
        max_seq_length=max_seq_length,
        truncated=len(over),
        tokens_cut=sum(over),
        histogram=[Bin(low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts)],
    )
