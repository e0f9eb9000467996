"""Pieces every page shares: the ``?path=`` parameter (checked), the frame player, charts and tables."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from . import loaders
from .charts import Line
from .files import Found, PathRefused, display_path, resolve

PLAY_INTERVAL_S = 0.25  # the play button advances the frame this often


def refuse(message: str) -> None:
    """A refused or missing path, shown where the user sees it."""
    st.error(message, icon=":material/block:")


def requested_path() -> Path | None:
    """The page's ``?path=`` query parameter, resolved inside the roots; refused with a visible
    message (and None) when it leads outside them or does not exist."""
    text = st.query_params.get("path")
    if not text:
        return None
    try:
        return resolve(text, loaders.roots())
    except PathRefused as exc:
        refuse(str(exc))
        return None


def lazy_expander(label: str, key: str) -> tuple[Any, bool]:
    """An expander whose content is built only while it is open (heavy content stays off the page
    until asked for): the container and whether to fill it."""
    box = st.expander(label, key=key, on_change="rerun")
    return box, bool(getattr(box, "open", False))


def label_of(item: Found) -> str:
    return f"{item.title} — {display_path(item.path, loaders.roots())}"


def pick(
    label: str,
    items: Sequence[Found],
    requested: Path | None,
    *,
    key: str,
    match: Callable[[Found, Path], bool] | None = None,
) -> Found | None:
    """A select box over ``items``, starting at the one ``?path=`` names (when it is one of them)."""
    if not items:
        return None
    if len(items) == 1:  # nothing to choose (and one widget less for the browser to load)
        st.caption(f"{label}: {label_of(items[0])}")
        return items[0]
    index = 0
    if requested is not None:
        test = match or (lambda item, path: item.path == path)
        index = next((i for i, item in enumerate(items) if test(item, requested)), 0)
    options = list(range(len(items)))
    chosen = st.selectbox(label, options, index=index, format_func=lambda i: label_of(items[i]), key=key)
    return items[int(chosen)] if chosen is not None else None


def frame_player(key: str, n_frames: int, fps: float, render: Callable[[int], None]) -> None:
    """One slider over the frames and a play toggle that steps them; ``render(i)`` draws frame i.

    The slider and the drawing live in a fragment, so stepping redraws only them; while playing,
    the fragment re-runs every :data:`PLAY_INTERVAL_S` seconds and advances by as many frames as
    that interval holds at the video's frame rate.
    """
    if n_frames <= 0:
        st.info("No frames to show.")
        return
    slider_key = f"{key}-frame"
    left, right = st.columns([1, 4])
    playing = left.toggle("▶ Play", key=f"{key}-play")
    step = max(1, round(fps * PLAY_INTERVAL_S))
    right.caption(f"{n_frames} frames at {fps:g} fps; playing steps {step} frames every {PLAY_INTERVAL_S} s")

    def body() -> None:
        current = int(st.session_state.get(slider_key, 0))
        if current >= n_frames:
            st.session_state[slider_key] = current = 0
        if playing and st.session_state.get(f"{key}-advance"):
            st.session_state[slider_key] = (current + step) % n_frames
        st.session_state[f"{key}-advance"] = playing
        index = st.slider("Frame", 0, max(n_frames - 1, 1), key=slider_key)
        render(min(int(index), n_frames - 1))

    st.fragment(body, run_every=PLAY_INTERVAL_S if playing else None)()


def chart(lines: Sequence[Line], where: Any = None, **options: Any) -> None:
    """A line chart (:func:`dashboard.charts.line_chart`'s options), drawn once and cached."""
    drawn = [(str(name), tuple((float(x), float(y)) for x, y in points)) for name, points in lines]
    (where or st).image(loaders.chart_png(tuple(drawn), **options), width="stretch")


def score_chart(
    series: dict[str, list[tuple[int, float]]],
    current: int,
    threshold: float | None,
    n_frames: int,
    where: Any = None,
) -> None:
    """Per-frame detector scores under the timeline: a line per video, the threshold, and a red
    line at the current frame (painted on the cached chart, so stepping frames draws nothing)."""
    lines = tuple((name, tuple(points)) for name, points in series.items() if points)
    if not lines:
        return
    drawn = loaders.line_chart(
        lines, x_label="frame", y_label="P(synthetic)", x_limits=(0, max(n_frames - 1, 1)),
        y_limits=(0, 1), size=(8.0, 2.2), markers=True, threshold=threshold,
    )  # fmt: skip
    (where or st).image(
        drawn.with_cursor(current),
        caption=f"detector's per-frame P(synthetic); red: frame {current}",
        width="stretch",
    )


def table(rows: Sequence[dict[str, Any]], where: Any = None, *, columns: Sequence[str] | None = None) -> None:
    """Rows as a Markdown table (the browser draws it for free, where an interactive grid costs
    every page open about 0.4 s). ``columns``: their order (default: as the rows have them)."""
    if not rows:
        return
    names = list(columns or [])
    for row in rows:
        names += [k for k in row if k not in names]
    lines = ["| " + " | ".join(_cell_text(n) for n in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell_text(row.get(n)) for n in names) + " |" for row in rows]
    (where or st).markdown("\n".join(lines))


def page_links(links: Sequence[tuple[str, str, dict[str, str]]], label: str = "Open:") -> None:
    """A row of links (label, page, query parameters) that open their page in this Streamlit
    session: a link in Markdown would reload the whole app in the browser (a second or more),
    and a grid of columns with a link in each row costs a page open about 0.3 s more."""
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(label, width="content")
    for text, page, params in links:
        row.page_link(page, label=_cell_text(text), query_params=params, icon=":material/arrow_forward:")


def _cell_text(value: Any) -> str:
    """A cell's text, safe inside a Markdown table that may carry HTML: escaped, on one line."""
    if value is None:
        return ""
    text = str(round(value, 4)) if isinstance(value, float) else str(value)
    text = html.escape(" ".join(text.split()))
    for char in "\\|*_`[]$~":
        text = text.replace(char, "\\" + char)
    return text
