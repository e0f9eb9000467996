"""Side by side: source | normalised stick figures | synthesised output (| real frame), one slider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard import loaders, media, records, ui
from dashboard.files import Found, display_path
from dashboard.loaders import SourceKey

FACE_WIDTH = 128


def _matches(item: Found, path: Path) -> bool:
    """A transfer is named by its record, its output video or its side-by-side video."""
    if path in (item.path, Path(f"{item.path}".removesuffix(".transfer.json"))):
        return True
    record = loaders.json_file(item.path)
    return path.parent == item.path.parent and path.name == record.get("side_by_side")


def panels(view: media.TransferView) -> list[tuple[str, SourceKey, int]]:
    """(caption, source, panel index or -1) for each video column, in order."""
    out: list[tuple[str, SourceKey, int]] = []
    if view.source_path is not None:
        out.append(("source", ("file", str(view.source_path)), -1))
    elif view.source_clip is not None:
        out.append(("source (dataset clip)", ("clip", str(view.source_clip[0]), view.source_clip[1]), -1))
    if view.side_by_side is not None:
        out.append(("normalised stick figures", ("file", str(view.side_by_side)), 1))
    if view.output is not None:
        out.append(("synthesised output", ("file", str(view.output)), -1))
    return out


def _frame(key: SourceKey, part: int, index: int) -> np.ndarray:
    frame = loaders.frame(key, index)
    return media.panel(frame, part, 3) if part >= 0 else frame


def _source_poses(view: media.TransferView) -> media.ClipData | None:
    if view.source_clip is None:
        return None
    return loaders.clip_of(*view.source_clip)


def _scores(view: media.TransferView) -> tuple[dict[str, list[tuple[int, float]]], float | None]:
    """Per-frame detector scores of the output (and source) from forensics results, or from a
    detection run on demand."""
    series: dict[str, list[tuple[int, float]]] = {}
    threshold = None
    wanted = {"output": view.output, "source": view.source_file}
    for item in loaders.discovery().of("forensics"):
        results = loaders.json_file(item.path / "results.json")
        threshold = records.threshold_of(results.get("detector") or {}, "frame") or threshold
        for entry, path in zip(results.get("videos") or [], loaders.forensics_videos(item.path), strict=True):
            for name, video in wanted.items():
                if video is not None and path == video and name not in series:
                    series[name] = records.frame_scores(entry)
    key = f"detect-{view.record_path}"
    if st.session_state.get(key):
        detector, _ = loaders.detector_checkpoint()
        if detector is not None:
            for name, video in wanted.items():
                if video is not None:
                    report = loaders.detection(video, detector)
                    series[f"{name} (detector run here)"] = records.detection_scores(report)
                    threshold = records.threshold_of(report.get("detector") or {}, "frame") or threshold
    return series, threshold


def render() -> None:
    st.title("Side by side")
    requested = ui.requested_path()
    transfers = loaders.discovery().of("transfer")
    if not transfers:
        st.info("No transfers found (`dancenow transfer ... --side-by-side` writes them).")
        return
    if requested is not None and not any(_matches(t, requested) for t in transfers):
        st.warning(f"{display_path(requested, loaders.roots())} is not a transfer; showing the first one.")
    item = ui.pick("Transfer", transfers, requested, key="sbs-transfer", match=_matches)
    if item is None:
        return
    view = loaders.transfer(item.path)
    record = view.record
    model = record.get("model") or {}
    st.caption(
        f"{record.get('frames')} frames at {view.fps:g} fps, {view.resolution[1]}×{view.resolution[0]}; "
        f"model `{model.get('path')}` ({model.get('stage')} stage, step {model.get('step')}); "
        f"source `{(record.get('source') or {}).get('name')}`; made {record.get('created')}"
    )
    for problem in view.problems:
        ui.refuse(problem)
    columns = panels(view)
    clip = _source_poses(view)
    if view.held_out:
        st.info(
            "The source is the target's own held-out clip: the last column is the real frame, moved into the output's frame."
        )
    series, threshold = _scores(view)

    def draw(index: int) -> None:
        shown: list[tuple[str, np.ndarray]] = [
            (caption, _frame(key, part, index)) for caption, key, part in columns
        ]
        affine = media.frame_affine(view, index)
        h, w = view.resolution
        source = shown[0][1] if shown and shown[0][0].startswith("source") else None
        if view.held_out and source is not None and affine is not None:
            shown.append(("real frame (held-out)", media.move_frame(source, affine, h, w)))
        for column, (caption, image) in zip(st.columns(len(shown)), shown, strict=True):
            column.image(image, caption=f"{caption}, frame {index}", width="stretch")
        if series:
            ui.score_chart(series, index, threshold, view.frames)
        if clip is not None and index < len(clip.body):
            _faces(shown, clip.body[index], affine)

    ui.frame_player("sbs", view.frames, view.fps, draw)
    detector, why = loaders.detector_checkpoint()
    if detector is not None:
        st.button(
            "Score these videos with the learned detector",
            key="sbs-detect",
            on_click=lambda: st.session_state.update({f"detect-{view.record_path}": True}),
            help=f"{display_path(detector, loaders.roots())}; up to 64 frames per video",
        )
    elif not series:
        st.caption(f"Detector scores: none for this transfer ({why}).")
    _native(view, columns)
    box, is_open = ui.lazy_expander("Transfer record", key="sbs-record")
    if is_open:
        box.json({k: v for k, v in record.items() if k != "per_frame_scale_translate"}, expanded=False)


def _faces(shown: list[tuple[str, np.ndarray]], body: np.ndarray, affine: np.ndarray | None) -> None:
    """Face close-ups: the face box of the source (its own keypoints) and of every frame in the
    output's frame (the keypoints moved by the transfer's normalisation)."""
    crops: list[tuple[str, np.ndarray]] = []
    for caption, image in shown:
        if caption.startswith("source"):
            crop = media.face_crop(image, body)
        elif affine is not None:
            crop = media.face_crop(image, media.move_points(body, affine))
        else:
            crop = None
        if crop is not None:
            crops.append((caption, media.resize(crop, FACE_WIDTH, FACE_WIDTH)))
    if crops:
        st.caption("Face close-ups (the face GAN's box)")
        for column, (caption, crop) in zip(st.columns(len(crops)), crops, strict=True):
            column.image(crop, caption=caption, width=FACE_WIDTH)


def _native(view: media.TransferView, columns: list[tuple[str, Any, int]]) -> None:
    st.subheader("The videos")
    st.caption("Native players; the middle one is the side-by-side file, frame-synchronised by construction.")
    videos: list[tuple[str, bytes | str]] = []
    source = next((key for caption, key, _ in columns if caption.startswith("source")), None)
    if source is not None:
        videos.append(("source", loaders.video_bytes(source)))
    if view.side_by_side is not None:
        videos.append(("source | stick figures | output", str(view.side_by_side)))
    if view.output is not None:
        videos.append(("output", str(view.output)))
    for column, (caption, data) in zip(st.columns(len(videos) or 1), videos, strict=False):
        column.video(data)
        column.caption(caption)


if __name__ == "__main__":
    render()
