"""Quality: the paper's Tables 1–4 for the chosen models next to the paper's numbers, the temporal
metrics, and the training curves from the runs' logs.

The tables are the ones ``dancenow evaluate`` and ``dancenow ablation`` write
(:mod:`synthesis.evaluate`, :mod:`synthesis.ablation`), rendered from the results files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import loaders, ui
from dashboard.charts import Line
from dashboard.files import Found, PathRefused, display_path, resolve

# Temporal coherence in full (the paper tables carry the warping error and the frame-difference ratio).
TEMPORAL_COLUMNS = (
    ("warp. err.", ("temporal", "warping_error", "generated"), 5),
    ("warp. err. real", ("temporal", "warping_error", "real"), 5),
    ("warp. err. ratio", ("temporal", "warping_error", "ratio"), 3),
    ("non-occluded", ("temporal", "warping_error", "non_occluded"), 3),
    ("brightness flicker ratio", ("temporal", "statistics", "brightness_flicker", "ratio"), 3),
    ("frame diff. ratio", ("temporal", "statistics", "frame_difference", "ratio"), 3),
    ("temporal HF ratio", ("temporal", "statistics", "temporal_high_frequency", "ratio"), 3),
)
PER_FRAME = ("body_ssim", "body_lpips", "missed_detections", "warping_error")


def results_of(item: Found) -> dict[str, Any]:
    results: dict[str, Any] = loaders.json_file(item.path / "results.json")
    return results


def default_selection(requested: Path | None, evaluations: list[Found], found: Any) -> list[Found]:
    """The models a ``?path=`` names: an ablation's variants, one evaluation, or a training run's
    evaluations; without one, the newest ablation's variants, else the newest held-out evaluations."""
    roots = loaders.roots()
    if requested is not None:
        item = found.find(requested)
        if item is not None and item.kind == "evaluation":
            return [item]
        if item is not None and item.kind == "run":
            return [e for e in evaluations if e.details.get("run") == item.title]
        if item is not None and item.kind == "ablation":
            return _ablation_variants(item, evaluations, roots)
    ablations = sorted(found.of("ablation"), key=lambda a: a.date, reverse=True)
    if ablations:
        return _ablation_variants(ablations[0], evaluations, roots)
    held = [e for e in evaluations if e.details.get("mode") == "held-out"]
    return sorted(held, key=lambda e: e.date, reverse=True)[:3]


def _ablation_variants(ablation: Found, evaluations: list[Found], roots: tuple[Path, ...]) -> list[Found]:
    summary = loaders.json_file(ablation.path / "ablation.json")
    chosen = []
    for variant in summary.get("variants") or []:
        try:
            path = resolve(str(variant.get("evaluation") or ""), roots, base=ablation.path).parent
        except PathRefused:
            continue
        chosen += [e for e in evaluations if e.path == path]
    return chosen


def _transfer_of(item: Found, evaluations: list[Found]) -> Found | None:
    """The evaluation of a transfer made with the same model: ``EVAL/transfer`` (the ablation's layout)."""
    return next((e for e in evaluations if e.path == item.path / "transfer"), None)


def render() -> None:
    from synthesis.ablation import PAPER_RESOLUTION, PAPER_RESULTS, findings, paper_table
    from synthesis.evaluate import POSE_COLUMNS, TABLE_COLUMNS, TRANSFER_COLUMNS, describe_setting, table_rows

    st.title("Quality")
    requested = ui.requested_path()
    found = loaders.discovery()
    evaluations = found.of("evaluation")
    if not evaluations:
        st.info("No evaluation results found (`dancenow evaluate` or `dancenow ablation` writes them).")
        _curves_only(requested, found)
        return
    held = [e for e in evaluations if e.details.get("mode") == "held-out"]
    transfers = [e for e in evaluations if e.details.get("mode") == "transfer"]
    default = default_selection(requested, evaluations, found)
    labels = {str(e.path): ui.label_of(e) for e in evaluations}
    chosen_held = st.multiselect(
        "Models (held-out test frames)",
        [str(e.path) for e in held],
        default=[str(e.path) for e in default if e in held],
        format_func=labels.__getitem__,
        key="quality-held",
    )
    paired = [t for e in default if (t := _transfer_of(e, evaluations)) is not None]
    chosen_transfer = st.multiselect(
        "Transfers (pose fidelity and temporal coherence, no ground truth)",
        [str(e.path) for e in transfers],
        default=[str(e.path) for e in [*paired, *(e for e in default if e in transfers)]],
        format_func=labels.__getitem__,
        key="quality-transfer",
    )
    held_results = [(Path(p), loaders.json_file(Path(p) / "results.json")) for p in chosen_held]
    transfer_results = [(Path(p), loaders.json_file(Path(p) / "results.json")) for p in chosen_transfer]

    if held_results:
        st.subheader("Held-out test frames (paper Tables 1–4), ours beside the paper's")
        in_paper = [
            (r["model"]["variant"], r, p)
            for p, r in held_results
            if r["model"].get("variant") in PAPER_RESULTS
        ]
        for table in _unique_variant_tables(in_paper):
            st.markdown(paper_table([(variant, r) for variant, r, _ in table]))
            st.caption(
                "Rows: "
                + "; ".join(
                    f"{v} = {r['model']['label']} ({display_path(p, loaders.roots())})" for v, r, p in table
                )
            )
            if len(table) > 1:
                st.markdown("\n".join(findings([(variant, r) for variant, r, _ in table])))
        others = [
            (r["model"]["label"], r)
            for p, r in held_results
            if r["model"].get("variant") not in PAPER_RESULTS
        ]
        if others:
            st.markdown(table_rows(others, TABLE_COLUMNS))
        rows = [(r["model"]["label"], r) for _, r in held_results]
        st.caption(
            describe_setting(held_results[0][1]).strip()
            + f" The paper's numbers are on its own data at {PAPER_RESOLUTION[1]}×{PAPER_RESOLUTION[0]}: "
            "compare the ordering of the rows, not the absolute values."
        )
        st.subheader("Pose distance and missed detections per part (paper Tables 3 and 4)")
        st.markdown(table_rows(rows, POSE_COLUMNS))
        st.subheader("Temporal coherence (beyond the paper)")
        st.markdown(table_rows(rows, TEMPORAL_COLUMNS))
        st.caption(
            "Flow-warping error of the generated frames with the real video's optical flow, the real video's "
            "own as the floor; frame statistics as ratios generated / real (1 = as steady as the real video)."
        )
    if transfer_results:
        st.subheader("Transfer from a source")
        st.markdown(table_rows([(r["model"]["label"], r) for _, r in transfer_results], TRANSFER_COLUMNS))
        st.caption(describe_setting(transfer_results[0][1]).strip())
    if held_results or transfer_results:
        _per_frame([*held_results, *transfer_results])
    _training_curves([r for _, r in held_results] + [r for _, r in transfer_results], requested, found)
    _samples([*held_results, *transfer_results])


def _unique_variant_tables(
    rows: list[tuple[str, dict[str, Any], Path]],
) -> list[list[tuple[str, dict[str, Any], Path]]]:
    """The paper table names rows by variant, so a variant appears once per table: several runs of
    one variant go into several tables."""
    tables: list[list[tuple[str, dict[str, Any], Path]]] = []
    for row in rows:
        table = next((t for t in tables if all(v != row[0] for v, _, _ in t)), None)
        if table is None:
            tables.append(table := [])
        table.append(row)
    return tables


def _per_frame(results: list[tuple[Path, dict[str, Any]]]) -> None:
    from synthesis.evaluate import PER_FRAME_TITLES

    charts: list[tuple[list[Line], dict[str, Any]]] = []
    for metric in PER_FRAME:
        lines: list[Line] = [
            (
                f"{r['model']['label']} ({r['mode']})",
                [(i, v) for i, v in enumerate((r.get("per_frame") or {}).get(metric) or []) if v is not None],
            )
            for _, r in results
        ]
        lines = [line for line in lines if line[1]]
        if lines:
            charts.append((lines, {"title": PER_FRAME_TITLES.get(metric, metric), "x_label": "frame"}))
    if charts:
        st.subheader("Per frame")
        _grid(charts)


def _grid(charts: list[tuple[list[Line], dict[str, Any]]], per_row: int = 2) -> None:
    for start in range(0, len(charts), per_row):
        for column, (lines, options) in zip(
            st.columns(per_row), charts[start : start + per_row], strict=False
        ):
            ui.chart(lines, column, **options)


def _run_folders(results: list[dict[str, Any]], requested: Path | None, found: Any) -> dict[str, Path]:
    """Training-run folders: beside each evaluated checkpoint, and the run ``?path=`` names."""
    runs: dict[str, Path] = {}
    if requested is not None and (item := found.find(requested)) is not None and item.kind == "run":
        runs[item.title] = item.path
    for r in results:
        model = r.get("model") or {}
        try:
            checkpoint = resolve(str(model.get("path") or ""), loaders.roots())
        except PathRefused:
            continue
        runs.setdefault(str(model.get("run") or checkpoint.parent.name), checkpoint.parent)
    return runs


def _training_curves(results: list[dict[str, Any]], requested: Path | None, found: Any) -> None:
    from synthesis.evaluation.curves import LOSS_NAMES

    series: dict[str, dict[str, list[tuple[float, float]]]] = {title: {} for title in LOSS_NAMES.values()}
    for run, folder in _run_folders(results, requested, found).items():
        for stage in ("body", "face"):
            log = folder / f"{stage}-log.jsonl"
            if not log.is_file():
                continue
            for record in loaders.training_log(log):
                for key, title in LOSS_NAMES.items():
                    if key in record:
                        series[title].setdefault(f"{run} {stage}", []).append((record["step"], record[key]))
    if not any(series.values()):
        st.caption("Training curves: no training logs found beside the evaluated checkpoints.")
        return
    st.subheader("Training curves (losses over steps, from the runs' logs)")
    _grid(
        [
            (list(lines.items()), {"title": title, "x_label": "step", "size": (4.0, 3.0)})
            for title, lines in series.items()
            if lines
        ],
        per_row=3,
    )


def _curves_only(requested: Path | None, found: Any) -> None:
    if requested is not None and (item := found.find(requested)) is not None and item.kind == "run":
        _training_curves([], requested, found)


def _samples(results: list[tuple[Path, dict[str, Any]]]) -> None:
    box, is_open = ui.lazy_expander(
        "Samples: input stick figure | generated | reference", key="quality-samples"
    )
    if not is_open:
        return
    with box:
        for folder, r in results:
            names = r.get("samples") or []
            if not names:
                continue
            st.caption(f"{r['model']['label']} ({r['mode']}): {r.get('reference', '')}")
            images = []
            for name in names:
                try:
                    images.append(str(resolve(str(name), loaders.roots(), base=folder)))
                except PathRefused as exc:
                    ui.refuse(str(exc))
            if images:
                st.image(images, width=300)


if __name__ == "__main__":
    render()
