"""ROC and precision–recall curves of the real-vs-synthetic detector as one PNG.

:func:`plot_roc_pr` draws what :func:`forensics.metrics.curve_points` returns, one line per named
set (e.g. seen vs held-out generators), with the Agg figure helpers of
:mod:`synthesis.evaluation.curves` (no pyplot; written atomically).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synthesis.evaluation.curves import grid, save


def plot_roc_pr(
    curves: Mapping[str, Mapping[str, Any] | None],
    out: str | os.PathLike[str],
    labels_extra: Mapping[str, str] | None = None,
) -> Path:
    """Plot ``name → curve_points(...)`` to ``out`` (PNG): ROC (with the chance diagonal) on the
    left, precision–recall on the right, one line per set; returns ``out`` as a Path.

    A set's legend entry is its name plus ``labels_extra[name]`` if given (e.g. ``" AUC 0.998"``);
    a set whose dict also carries ``roc_auc`` / ``ap`` numbers gets ``(AUC …)`` in the ROC legend and
    ``(AP …)`` in the PR legend. Sets that are None, or whose ``roc`` / ``pr`` part is None (one class
    only), are left out of that panel. The figure is written even when no set has a curve.
    """
    extra = labels_extra or {}
    figure, (roc_axis, pr_axis) = grid(2, width=4.6, height=4.2)
    roc_axis.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="0.6", linewidth=0.9, label="chance")
    for name, sets in curves.items():
        if sets is None:
            continue
        label = f"{name}{extra.get(name, '')}"
        roc, pr = sets.get("roc"), sets.get("pr")
        if roc is not None:
            auc = sets.get("roc_auc")
            suffix = f" (AUC {auc:.3f})" if isinstance(auc, int | float) else ""
            roc_axis.plot(roc["fpr"], roc["tpr"], label=label + suffix, linewidth=1.3)
        if pr is not None:
            ap = sets.get("ap")
            suffix = f" (AP {ap:.3f})" if isinstance(ap, int | float) else ""
            pr_axis.plot(
                pr["recall"], pr["precision"], label=label + suffix, linewidth=1.3, drawstyle="steps-post"
            )
    for axis, title, xlabel, ylabel in (
        (
            roc_axis,
            "ROC (synthetic = positive)",
            "false-positive rate (real called synthetic)",
            "true-positive rate",
        ),
        (pr_axis, "precision–recall (synthetic = positive)", "recall", "precision"),
    ):
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(xlabel, fontsize=8)
        axis.set_ylabel(ylabel, fontsize=8)
        axis.set_xlim(-0.01, 1.01)
        axis.set_ylim(-0.01, 1.01)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7, loc="lower right" if axis is roc_axis else "lower left")
    return save(figure, Path(out))


__all__ = ["plot_roc_pr"]
