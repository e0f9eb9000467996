"""Overview: everything found in the results folders; a link with each result's name opens it on its page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import loaders, ui
from dashboard.files import Found, display_path

# Which page opens which kind of result.
OPENS = {
    "run": "views/quality.py",
    "ablation": "views/quality.py",
    "evaluation": "views/quality.py",
    "transfer": "views/side_by_side.py",
    "forensics": "views/forensics.py",
    "dataset": "views/dataset.py",
}
SECTIONS = (
    ("Training runs", ("run",), "A run's losses, and the quality of the models it produced."),
    ("Evaluations and ablations", ("ablation", "evaluation"), "The paper's tables for these models."),
    ("Transfers", ("transfer",), "Source, stick figures and output, frame by frame."),
    ("Forensics results", ("forensics",), "Detector curves, robustness and per-video verdicts."),
    ("Datasets", ("dataset",), "Subjects, consent, splits and clips with their keypoints."),
)


def _shown(value: Any, roots: tuple[Path, ...]) -> Any:
    """Paths inside the roots are shown from the root's name on; other values as they are."""
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        return display_path(path, roots) if any(r == path or r in path.parents for r in roots) else value
    return value


def rows_of(items: list[Found], roots: tuple[Path, ...]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        details = {k: v for k, v in item.details.items() if k != "checkpoints"}
        rows.append(
            {
                "name": item.title,
                **({"kind": item.kind} if item.kind in ("ablation", "evaluation") else {}),
                **{k: _shown(v, roots) for k, v in details.items()},
                "date": item.date[:19].replace("T", " "),
                "path": display_path(item.path, roots),
            }
        )
    return rows


def target_of(item: Found) -> tuple[str, dict[str, str]]:
    """The page that opens ``item`` and its query parameters."""
    return OPENS[item.kind], {"path": display_path(item.path, loaders.roots())}


def render() -> None:
    st.title("dancenow: overview")
    found = loaders.discovery()
    roots = loaders.roots()
    requested = ui.requested_path()  # ?path= names a result: open it on its page
    if requested is not None:
        item = found.find(requested)
        if item is not None:
            page, params = target_of(item)
            st.switch_page(page, query_params=params)
        st.warning(f"{display_path(requested, roots)}: not one of the results listed below.")
    st.write(
        f"{len(found.items)} results in {', '.join(f'`{r}`' for r in roots)}. Open one with its link above its table."
    )
    for problem in found.problems:
        st.warning(problem)
    if not found.items:
        st.info(
            "Nothing here yet: run `make demo` (or `dancenow train`, `transfer`, `evaluate`, `ablation`, "
            "`dataset build`) and start the dashboard on its outputs folder."
        )
    for title, kinds, caption in SECTIONS:
        items = [item for item in found.items if item.kind in kinds]
        if not items:
            continue
        st.subheader(f"{title} ({len(items)})")
        st.caption(caption)
        ui.page_links([(item.title, *target_of(item)) for item in items])
        ui.table(rows_of(items, roots))


if __name__ == "__main__":
    render()
