"""Line charts drawn on the server as images (matplotlib, no pyplot state).

An image costs the browser next to nothing, where an interactive chart costs it about 0.4 s per page
(the chart library is loaded and compiled on every page open), which is the difference between a
page opening in under 2 s or not. Charts are drawn once and cached (:mod:`dashboard.loaders`); a
moving marker, such as the current frame under the timeline, is painted onto a copy of the cached
pixels (:meth:`Chart.with_cursor`) instead of drawing the chart again.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# One line: its name and its (x, y) points.
Line = tuple[str, Sequence[tuple[float, float]]]
CURSOR_RGB = (214, 39, 40)
DPI = 144


@dataclass(frozen=True)
class Chart:
    """A drawn chart's pixels, and where its x axis runs in them (to place a cursor)."""

    pixels: np.ndarray  # H×W×3 uint8
    x_limits: tuple[float, float]
    x_pixels: tuple[int, int]  # column of x_limits[0] and of x_limits[1]
    y_pixels: tuple[int, int]  # rows of the plot area's top and bottom

    def png(self) -> bytes:
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(self.pixels).save(out, format="PNG", optimize=False)
        return out.getvalue()

    def with_cursor(self, x: float) -> np.ndarray:
        """A copy of the pixels with a vertical line at ``x`` across the plot area."""
        (lo, hi), (left, right), (top, bottom) = self.x_limits, self.x_pixels, self.y_pixels
        fraction = 0.0 if hi == lo else (x - lo) / (hi - lo)
        column = round(left + min(max(fraction, 0.0), 1.0) * (right - left))
        out = self.pixels.copy()
        out[top:bottom, max(column - 1, 0) : column + 2] = CURSOR_RGB
        return out


def line_chart(
    lines: Sequence[Line],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    x_limits: tuple[float, float] | None = None,
    y_limits: tuple[float, float] | None = None,
    size: tuple[float, float] = (5.0, 3.0),
    step: bool = False,
    markers: bool = False,
    threshold: float | None = None,
    diagonal: bool = False,
) -> Chart:
    """One line per entry of ``lines`` (legend under the plot); ``threshold`` draws a dashed
    horizontal rule, ``diagonal`` the chance line of a ROC curve; ``size`` in inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, points in lines:
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        style: dict[str, Any] = {"linewidth": 1.2, "label": name}
        if markers:
            style.update(marker="o", markersize=2.5)
        if step:
            axes.step(xs, ys, where="post", **style)
        else:
            axes.plot(xs, ys, **style)
    if diagonal:
        axes.plot([0, 1], [0, 1], color="0.7", linewidth=0.8, linestyle=":")
    if threshold is not None:
        axes.axhline(threshold, color="0.45", linewidth=0.9, linestyle=(0, (4, 4)), label="threshold")
    if x_limits is not None:
        axes.set_xlim(*x_limits)
    if y_limits is not None:
        axes.set_ylim(*y_limits)
    axes.set_title(title, fontsize=10, loc="left")
    axes.set_xlabel(x_label, fontsize=8)
    axes.set_ylabel(y_label, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(True, linewidth=0.4, color="0.88")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if lines:
        figure.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    # Where the axes landed, in pixels from the top left (matplotlib counts from the bottom).
    box = axes.get_window_extent()
    height = pixels.shape[0]
    limits = axes.get_xlim()
    return Chart(
        pixels=pixels,
        x_limits=(float(limits[0]), float(limits[1])),
        x_pixels=(round(float(box.x0)), round(float(box.x1))),
        y_pixels=(round(height - float(box.y1)), round(height - float(box.y0))),
    )


__all__ = ["Chart", "Line", "line_chart"]
