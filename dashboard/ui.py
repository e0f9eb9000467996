"""Pieces every page shares: the ``?path=`` parameter (checked), the frame player, score charts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from . import loaders
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


def line_spec(
    rows: list[dict[str, Any]],
    x: str,
    y: str,
    color: str,
    *,
    title: str | None = None,
    x_domain: list[float] | None = None,
    y_domain: list[float] | None = None,
    y_title: str | None = None,
    height: int | None = None,
    step: bool = False,
    points: bool = False,
    legend_below: bool = True,
) -> dict[str, Any]:
    """A Vega-Lite line chart, one line per ``color`` value (a plain spec: no altair validation
    on every rerun). Give ``height`` only with the legend on the right: Streamlit fits the chart to
    its container, and a fixed height with a legend below leaves the plot no room."""

    def axis(field: str, domain: list[float] | None, name: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": field,
            "type": "quantitative",
            "title": field if name is None else name,
        }
        if domain is not None:
            out["scale"] = {"domain": domain}
        return out

    legend: dict[str, Any] = {"title": None, "labelLimit": 400}
    if legend_below:
        legend.update(orient="bottom", columns=2)
    mark: dict[str, Any] = {"type": "line", "strokeWidth": 1.2, "point": points}
    if step:
        mark["interpolate"] = "step-after"
    spec: dict[str, Any] = {
        "data": {"values": rows},
        "mark": mark,
        "encoding": {
            "x": axis(x, x_domain, None),
            "y": axis(y, y_domain, y_title),
            "color": {"field": color, "type": "nominal", "legend": legend},
        },
    }
    if rows and "order" in rows[0]:  # draw each line in this order (a curve's points), not by x
        spec["encoding"]["order"] = {"field": "order", "type": "quantitative"}
    if height is not None:
        spec["height"] = height
    if title:
        spec["title"] = title
    return spec


def chart(spec: dict[str, Any], where: Any = None) -> None:
    (where or st).vega_lite_chart(spec=spec, width="stretch")


def score_chart(
    series: dict[str, list[tuple[int, float]]], current: int, threshold: float | None, n_frames: int
) -> None:
    """Per-frame detector scores under the timeline: a line per video, the threshold, and a rule at
    the current frame."""
    rows = [{"frame": f, "score": s, "video": name} for name, points in series.items() for f, s in points]
    if not rows:
        return
    lines = line_spec(
        rows, "frame", "score", "video", x_domain=[0, max(n_frames - 1, 1)], y_domain=[0, 1],
        y_title="P(synthetic)", height=150, points=True, legend_below=False,
    )  # fmt: skip
    layers: list[dict[str, Any]] = [
        {"data": lines.pop("data"), "mark": lines.pop("mark"), "encoding": lines.pop("encoding")},
        {
            "data": {"values": [{"frame": current}]},
            "mark": {"type": "rule", "color": "red"},
            "encoding": {"x": {"field": "frame", "type": "quantitative"}},
        },
    ]
    if threshold is not None:
        layers.append(
            {
                "data": {"values": [{"score": threshold}]},
                "mark": {"type": "rule", "color": "gray", "strokeDash": [4, 4]},
                "encoding": {"y": {"field": "score", "type": "quantitative"}},
            }
        )
    chart({**lines, "layer": layers})
