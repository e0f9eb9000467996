"""``dancenow ablation``: the paper's three variants trained and evaluated alike (METHOD.md §5).

From one training config, on the same data and schedule:

- **pix2pixHD**: no temporal input (G sees the stick figure alone, D single frames), no face GAN;
  trained as run ``NAME-pix2pixhd``;
- **T.S.** (temporal smoothing): the config's model with ``model.temporal`` on; run ``NAME``;
- **T.S. + Face**: the face GAN trained on top of the T.S. body model (the same run's face stage).

Each variant is evaluated on the target's held-out test frames (``dancenow evaluate``) and, when
the dataset has a source clip or ``source`` is given, on a transfer from that source (pose fidelity
and temporal coherence; no ground truth). Runs that already finished are reused, not retrained (the
demo's run is the T.S. variant), and an interrupted ablation resumes each run from its checkpoint.

The results folder holds ``ablation.json`` (schema ``dancenow.ablation/1``, see the README),
``ablation.md`` (the paper's table layout with the paper's reported numbers beside ours),
``curves/training.png`` and ``curves/per_frame.png``, and one evaluation folder per variant
(``pix2pixhd/``, ``ts/``, ``ts_face/``, each with ``transfer/`` when a source was evaluated).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset.files import atomic_write_text

from .config import TrainConfig
from .evaluate import (
    PER_FRAME_TITLES,
    POSE_COLUMNS,
    TABLE_COLUMNS,
    TRANSFER_COLUMNS,
    Column,
    EvaluationError,
    describe_setting,
    evaluate,
    evaluate_transfer,
    format_cell,
    metric_at,
    table_rows,
    training_logs,
)
from .evaluation.curves import plot_per_frame, plot_training_curves

SCHEMA = "dancenow.ablation/1"

# Chan et al., ICCV 2019, Tables 1–4 (their data, 1024×512), as METHOD.md §5 gives them.
PAPER_RESOLUTION = (512, 1024)
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "pix2pixHD": {
        "body SSIM": 0.89564,
        "body LPIPS": 0.03189,
        "face SSIM": 0.81374,
        "face LPIPS": 0.03731,
        "pose dist. overall": 2.0781,
        "missed overall": 2.63244,
    },
    "T.S.": {
        "body SSIM": 0.89597,
        "body LPIPS": 0.03137,
        "face SSIM": 0.8177,
        "face LPIPS": 0.03662,
        "pose dist. overall": 2.06884,
        "missed overall": 2.48323,
    },
    "T.S. + Face": {
        "body SSIM": 0.89807,
        "body LPIPS": 0.03066,
        "face SSIM": 0.83046,
        "face LPIPS": 0.03304,
        "pose dist. overall": 1.92704,
        "missed overall": 2.29336,
    },
}
HIGHER_IS_BETTER = {"body SSIM", "face SSIM"}


@dataclass(frozen=True)
class Variant:
    key: str  # its folder in the results
    label: str  # the paper's row name
    temporal: bool
    stage: str  # the checkpoint evaluated: body.pt or face.pt of its run
    run_suffix: str  # run name = config name + suffix


VARIANTS: tuple[Variant, ...] = (
    Variant("pix2pixhd", "pix2pixHD", temporal=False, stage="body", run_suffix="-pix2pixhd"),
    Variant("ts", "T.S.", temporal=True, stage="body", run_suffix=""),
    Variant("ts_face", "T.S. + Face", temporal=True, stage="face", run_suffix=""),
)


def variant_config(config: TrainConfig, variant: Variant) -> TrainConfig:
    """``config`` with the variant's temporal setting, as run ``NAME`` + the variant's suffix."""
    out = config.model_copy(deep=True)
    out.name = config.name + variant.run_suffix
    out.model.temporal = variant.temporal
    return out


def train_variants(config: TrainConfig) -> dict[str, Path]:
    """Train (or reuse) each variant's run; returns each variant's checkpoint."""
    import ray

    from .train import init_ray, train

    started = init_ray(config.runtime.ray_address)  # one Ray session for the three trainings
    checkpoints: dict[str, Path] = {}
    try:
        for variant in VARIANTS:
            run = variant_config(config, variant)
            print(f"ablation: {variant.label}: {variant.stage} stage of run {run.name!r}", flush=True)
            result = train(run, variant.stage)  # face: on the body.pt the T.S. variant just trained
            if not result.finished:
                raise EvaluationError(
                    f"{result.run_dir}: {variant.label} training stopped at step {result.steps}; "
                    "run the ablation again to resume it"
                )
            checkpoints[variant.key] = result.checkpoint
    finally:
        if started:
            ray.shutdown()
    return checkpoints


def _paper_columns() -> tuple[Column, ...]:
    return tuple(c for c in TABLE_COLUMNS if c[0] in PAPER_RESULTS["pix2pixHD"])


def paper_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Paper Tables 1–4 layout, each of the paper's metrics followed by the paper's value, then ours
    for the temporal columns the paper did not measure."""
    paper = _paper_columns()
    extra = [c for c in TABLE_COLUMNS if c not in paper]
    header = ["Model"]
    for name, _, _ in paper:
        header += [name, "(paper)"]
    header += [name for name, _, _ in extra]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---|" * (len(header) - 1)]
    for label, results in rows:
        cells = [label]
        for name, path, digits in paper:
            # The paper's values as METHOD.md gives them, with their own precision.
            cells += [format_cell(results, path, digits), str(PAPER_RESULTS[label][name])]
        cells += [format_cell(results, path, digits) for _, path, digits in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best_label(values: dict[str, float | None], metric: str) -> str | None:
    """The label with the best value of ``metric`` (higher for SSIM, lower otherwise); None values skipped."""
    known = {label: v for label, v in values.items() if v is not None}
    if not known:
        return None
    pick = max if metric in HIGHER_IS_BETTER else min
    return pick(known, key=lambda label: known[label])


def findings(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Per metric, which variant is best here and in the paper (lower is better unless SSIM)."""
    lines = []
    warping = next(c for c in TABLE_COLUMNS if c[0] == "warp. err.")
    for name, path, _ in (*_paper_columns(), warping):
        ours = _best_label({label: metric_at(results, path) for label, results in rows}, name)
        if name in PAPER_RESULTS["pix2pixHD"]:
            paper = _best_label({label: values[name] for label, values in PAPER_RESULTS.items()}, name)
            verdict = "as in the paper" if ours == paper else f"the paper's best: {paper}"
        else:
            verdict = "not measured in the paper"
        lines.append(f"- {name}: best here {ours or '– (not measured: no frame qualified)'}; {verdict}")
    return lines


def ablation_markdown(summary: dict[str, Any]) -> str:
    held = [(v["label"], v["held_out"]) for v in summary["variants"]]
    parts = [
        f"# Ablation of run {summary['run']}: pix2pixHD vs T.S. vs T.S. + Face",
        "",
        "## Held-out test frames (paper Tables 1–4), ours beside the paper's",
        "",
        paper_table(held),
        "",
        describe_setting(held[0][1]).strip(),
        f"The paper's numbers are on its own data at {PAPER_RESOLUTION[1]}×{PAPER_RESOLUTION[0]}: compare "
        "the ordering of the rows, not the absolute values.",
        "",
        "## Pose distance and missed detections per part (paper Tables 3 and 4)",
        "",
        table_rows(held, POSE_COLUMNS),
        "",
    ]
    transfers = [(v["label"], v["transfer"]) for v in summary["variants"] if v["transfer"]]
    if transfers:
        parts += [
            "## Transfer from a source (no ground truth: pose fidelity and temporal coherence)",
            "",
            table_rows(transfers, TRANSFER_COLUMNS),
            "",
            describe_setting(transfers[0][1]).strip()
            + " The warping-error flow and the frame statistics' reference are the source video moved "
            "into the target's frame.",
            "",
        ]
    parts += ["## What it says", "", *findings(held), ""]
    return "\n".join(parts)


def _default_source(dataset: str) -> bool:
    """Whether ``dataset`` holds a source clip to transfer from."""
    from .data import load_clips

    try:
        return bool(load_clips(dataset, "source", role="source"))
    except ValueError:
        return False


def run_ablation(
    config: TrainConfig,
    *,
    out: str | os.PathLike[str],
    source: str | None = None,
    clip: str | None = None,
    max_frames: int | None = None,
    transfer_frames: int | None = None,
    transfer: bool = True,
    lpips_net: str = "alex",
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or reuse) the three variants of ``config`` and evaluate each; writes the results folder ``out``.

    ``source``: the video file or dataset (with ``clip``) to evaluate transfers from; None = the
    training dataset's first source clip, skipped if it has none. Returns ``ablation.json``'s contents.
    """
    started = time.perf_counter()
    out = Path(out)
    checkpoints = train_variants(config)
    trained = time.perf_counter()
    if transfer and source is None:
        if _default_source(config.data.dataset):
            source = config.data.dataset
        else:
            print(f"ablation: {config.data.dataset} has no source clip; skipping the transfer evaluation")
            transfer = False

    variants: list[dict[str, Any]] = []
    for variant in VARIANTS:
        folder = out / variant.key
        print(f"ablation: evaluating {variant.label} ({checkpoints[variant.key]}) → {folder}", flush=True)
        held_out = evaluate(
            checkpoints[variant.key],
            out=folder,
            max_frames=max_frames,
            lpips_net=lpips_net,
            progress=progress,
        )
        moved = None
        if transfer and source is not None:
            moved = evaluate_transfer(
                checkpoints[variant.key],
                source,
                clip=clip,
                out=folder / "transfer",
                max_frames=transfer_frames,
                progress=progress,
            )
        variants.append(
            {
                "key": variant.key,
                "label": variant.label,
                "run": variant_config(config, variant).name,
                "stage": variant.stage,
                "checkpoint": str(checkpoints[variant.key]),
                "evaluation": f"{variant.key}/results.json",
                "transfer_evaluation": f"{variant.key}/transfer/results.json" if moved else None,
                "held_out": held_out,
                "transfer": moved,
            }
        )

    curves = []
    logs = {
        "pix2pixHD": training_logs(checkpoints["pix2pixhd"]).get("body"),
        "T.S.": training_logs(checkpoints["ts"]).get("body"),
        "T.S. + Face (face stage)": training_logs(checkpoints["ts_face"]).get("face"),
    }
    if plot_training_curves({k: v for k, v in logs.items() if v}, out / "curves" / "training.png"):
        curves.append("curves/training.png")
    series = {v["label"]: v["held_out"]["per_frame"] for v in variants}
    if plot_per_frame(series, out / "curves" / "per_frame.png", PER_FRAME_TITLES):
        curves.append("curves/per_frame.png")

    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "run": config.name,
        "config": config.model_dump(mode="json"),
        "dataset": config.data.dataset,
        "resolution": [config.data.height, config.data.width],
        "source": {"name": source, "clip": clip} if transfer else None,
        "variants": variants,
        "paper": {
            "reference": "Chan, Ginosar, Zhou, Efros: Everybody Dance Now, ICCV 2019, Tables 1-4",
            "resolution": list(PAPER_RESOLUTION),
            "results": PAPER_RESULTS,
        },
        "curves": curves,
        "timings_s": {
            "training": round(trained - started, 3),
            "evaluation": round(time.perf_counter() - trained, 3),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    markdown = ablation_markdown(summary)
    summary["markdown"] = markdown
    # Each variant's full results are in its own folder; the summary keeps their metrics.
    for entry in summary["variants"]:
        for key in ("held_out", "transfer"):
            if entry[key] is not None:
                entry[key] = {k: entry[key][k] for k in ("model", "mode", "frames", "metrics")}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ablation.json", json.dumps(summary, indent=1))
    atomic_write_text(out / "ablation.md", markdown)
    return summary


__all__ = [
    "PAPER_RESULTS",
    "SCHEMA",
    "VARIANTS",
    "ablation_markdown",
    "findings",
    "paper_table",
    "run_ablation",
    "train_variants",
    "variant_config",
]
