"""Curves as PNG files for the results folders (the dashboard shows them as they are).

- :func:`plot_training_curves`: the losses a run logged (``RUN/{body,face}-log.jsonl``) against the
  training step, one panel per loss, one line per run or stage.
- :func:`plot_per_frame`: per-frame metrics of an evaluation against the frame index, one panel per
  metric, one line per model (``None`` values, e.g. the first frame's warping error, are gaps).

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global state, no display) and
written atomically; :func:`grid` and :func:`save` do that for other figures too (forensics/curves.py).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dataset.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Losses the training loop logs (train.py's body_step / face_step), in panel order.
LOSS_NAMES: dict[str, str] = {
    "g_gan": "G adversarial",
    "g_fm": "G feature matching",
    "g_vgg": "G perceptual (VGG)",
    "d": "D",
    "l1": "L1 to real (monitor)",
}


def read_training_log(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The step records of a ``STAGE-log.jsonl`` (start events and unreadable lines skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line cut by an interrupted write
            continue
        if isinstance(record, dict) and "step" in record and "event" not in record:
            records.append(record)
    return records


def grid(n: int, width: float = 4.0, height: float = 2.8) -> tuple[Figure, list[Axes]]:
    """An Agg-ready figure of ``n`` panels, at most 3 per row, each ``width`` × ``height`` inches."""
    from matplotlib.figure import Figure

    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    figure = Figure(figsize=(width * cols, height * rows), dpi=100, layout="constrained")
    axes = [figure.add_subplot(rows, cols, i + 1) for i in range(n)]
    return figure, axes


def save(figure: Figure, out: Path) -> Path:
    """Render ``figure`` as PNG and write it to ``out`` atomically (parent folders created)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(out, buffer.getvalue())
    return out


def plot_training_curves(
    logs: Mapping[str, str | os.PathLike[str]], out: str | os.PathLike[str]
) -> Path | None:
    """Plot the losses of each ``label → log file`` to ``out`` (PNG); None when no log has a step."""
    series = {label: read_training_log(path) for label, path in logs.items() if Path(path).is_file()}
    series = {label: records for label, records in series.items() if records}
    if not series:
        return None
    names = [key for key in LOSS_NAMES if any(key in r for records in series.values() for r in records)]
    figure, axes = grid(len(names))
    for axis, key in zip(axes, names, strict=True):
        for label, records in series.items():
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                axis.plot(*zip(*points, strict=True), label=label, linewidth=1.2)
        axis.set_title(LOSS_NAMES[key], fontsize=10)
        axis.set_xlabel("step", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save(figure, Path(out))


def plot_per_frame(
    series: Mapping[str, Mapping[str, Sequence[float | None]]],
    out: str | os.PathLike[str],
    titles: Mapping[str, str] | None = None,
) -> Path | None:
    """Plot ``label → metric → per-frame values`` to ``out`` (PNG), one panel per metric; None if empty."""
    metrics: list[str] = []
    for values in series.values():
        metrics += [m for m, v in values.items() if m not in metrics and any(x is not None for x in v)]
    if not metrics:
        return None
    figure, axes = grid(len(metrics), width=5.0)
    for axis, metric in zip(axes, metrics, strict=True):
        for label, values in series.items():
            ys = [float("nan") if v is None else float(v) for v in values.get(metric, [])]
            if ys:
                axis.plot(range(len(ys)), ys, label=label, linewidth=0.9)
        axis.set_title((titles or {}).get(metric, metric), fontsize=10)
        axis.set_xlabel("frame", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save(figure, Path(out))


__all__ = ["LOSS_NAMES", "grid", "plot_per_frame", "plot_training_curves", "read_training_log", "save"]
