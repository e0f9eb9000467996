"""Dataset: subjects and their consent (scopes, expiry, revocation), clips, splits, and a clip
player with the keypoints drawn over the frames."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import loaders, media, ui
from dashboard.files import Found

IMAGE_WIDTH = 384
PARTS = ("body", "face", "hands")


def consent_rows(report: dict[str, Any], today: date | None = None) -> list[dict[str, Any]]:
    """One row per subject: the build's decision and the consent record, with its state today."""
    today = today or date.today()
    rows = []
    for subject in report.get("subjects") or []:
        consent = subject.get("consent") or {}
        expires = consent.get("expires")
        if subject.get("revoked"):
            state = "revoked"
        elif expires and date.fromisoformat(str(expires)) <= today:
            state = f"expired on {expires}"
        else:
            state = "valid" + (f" until {expires}" if expires else ", no expiry")
        rows.append(
            {
                "subject": subject.get("subject_id"),
                "in the dataset": subject.get("status"),
                "consent today": state,
                "scopes": ", ".join(map(str, consent.get("scopes") or [])),
                "signed": consent.get("date_signed"),
                "expires": expires or "never",
                "revoked": "yes" if subject.get("revoked") else "no",
                "synthetic subject": "yes" if consent.get("synthetic") else "no",
                "why": "; ".join(map(str, subject.get("reasons") or [])),
                "consent document sha256": str(consent.get("consent_document_sha256") or "")[:16] + "…",
            }
        )
    return rows


def clip_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for clip in report.get("clips") or []:
        video = clip.get("video") or {}
        rates = clip.get("detection_rates") or {}
        rows.append(
            {
                "clip": clip.get("clip"),
                "included": "yes" if clip.get("included") else "no",
                "why": clip.get("reason"),
                "frames": video.get("frame_count"),
                "fps": video.get("fps"),
                "size": f"{video.get('width')}×{video.get('height')}",
                "person %": _pct(rates.get("person")),
                "face %": _pct(rates.get("face")),
                "hands %": _pct(rates.get("hands")),
                "keypoints": clip.get("keypoint_source"),
                "rows (split: frames)": ", ".join(
                    f"{r.get('split')}: {r.get('frame_count')}" for r in clip.get("rows") or []
                ),
            }
        )
    return rows


def _pct(value: Any) -> Any:
    return round(100 * value) if isinstance(value, int | float) else None


def split_rows(index: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clips and frames per split, from the Parquet shards themselves."""
    splits: dict[str, dict[str, Any]] = {}
    for row in index:
        entry = splits.setdefault(
            row["split"], {"split": row["split"], "clips": 0, "frames": 0, "subjects": set()}
        )
        entry["clips"] += 1
        entry["frames"] += int(row.get("frame_count") or 0)
        entry["subjects"].add(row.get("subject_id"))
    return [{**e, "subjects": ", ".join(sorted(map(str, e["subjects"])))} for e in splits.values()]


def render() -> None:
    st.title("Dataset")
    requested = ui.requested_path()
    datasets = loaders.discovery().of("dataset")
    if not datasets:
        st.info("No dataset folder found (`dancenow dataset build` writes one).")
        return
    item = ui.pick("Dataset", datasets, requested, key="dataset-folder")
    if item is not None:
        _dataset(item)


def _dataset(item: Found) -> None:
    report_path = item.path / "build_report.json"
    report: dict[str, Any] = loaders.json_file(report_path) if report_path.is_file() else {}
    index = loaders.clip_index(item.path)
    if report:
        detector = report.get("detector") or {}
        st.caption(
            f"Built {report.get('built_at')}; consent checked as of {report.get('consent_checked_as_of')}; "
            f"detector `{detector.get('name')}`; smoothing `{report.get('smoothing')}`; test fraction "
            f"{report.get('test_fraction')}; licence `{report.get('license')}`"
        )
        st.subheader("Subjects and consent")
        ui.table(consent_rows(report))
        removed = (report.get("removed_since_previous_build") or {}).get("subjects") or []
        if removed:
            st.warning(f"Removed since the previous build: {', '.join(map(str, removed))}")
        st.subheader("Clips")
        ui.table(clip_rows(report))
    else:
        st.caption("No build report beside this dataset: subjects and consent are read from the clips.")
    st.subheader("Splits")
    ui.table(split_rows(index))
    card = item.path / "README.md"
    if card.is_file():
        box, is_open = ui.lazy_expander("Dataset card (README.md)", key="dataset-card")
        if is_open:
            text = loaders.text_file(card)
            if text.startswith("---"):
                _, front, body = text.split("---", 2)
                box.code(front.strip(), language="yaml")
                text = body
            box.markdown(text)
    _player(item, index)


def _player(item: Found, index: list[dict[str, Any]]) -> None:
    st.subheader("Clip player")
    if not index:
        st.info("The dataset holds no clips.")
        return
    left, right = st.columns([2, 1])
    choice = left.selectbox(
        "Clip",
        list(range(len(index))),
        format_func=lambda i: (
            f"{index[i]['clip_id']} ({index[i]['split']}, {index[i].get('frame_count')} frames)"
        ),
        key="dataset-clip",
    )
    parts = right.multiselect("Keypoints drawn", PARTS, default=list(PARTS), key="dataset-parts")
    row = index[int(choice or 0)]
    st.caption(
        f"Subject {row.get('subject_id')} ({row.get('role')}); consent scope {', '.join(row.get('consent_scope') or [])}; "
        f"keypoints from {row.get('keypoint_source')}; source video `{row.get('source_video')}` from frame "
        f"{row.get('start_frame')}; licence {row.get('license')}"
    )
    clip = loaders.clip(Path(row["shard"]), row["clip_id"])
    key = ("clip", str(item.path), row["clip_id"])
    n = min(len(loaders.frames(key)), len(clip.body))

    def draw(i: int) -> None:
        frame = loaders.frame(key, i)
        drawn = media.overlay_keypoints(frame, clip.body[i], clip.face[i], clip.hands[i], parts)
        a, b = st.columns(2)
        a.image(drawn, caption=f"frame {i} with keypoints", width=IMAGE_WIDTH)
        b.image(frame, caption=f"frame {i}", width=IMAGE_WIDTH)
        found = {p: int((getattr(clip, p)[i][..., 2] > 0).sum()) for p in PARTS}
        totals = {"body": 25, "face": 70, "hands": 42}
        st.caption("Detected keypoints: " + ", ".join(f"{p} {found[p]}/{totals[p]}" for p in PARTS))

    ui.frame_player(f"dataset-{row['clip_id']}", n, float(row.get("fps") or 30.0), draw)


__all__ = ["clip_rows", "consent_rows", "render", "split_rows"]

if __name__ == "__main__":
    render()
