"""The provenance watermark on real rendered video: invisible, survives H.264 at 1 Mbit/s and a
resize, absent from real clips, and clear errors for frames too small or a corrupt file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dataset.video import VideoError, VideoWriter, read_frames
from forensics.watermark import MATCH_THRESHOLD, FrameMarker, detect_in_frames, detect_watermark


def _real_clips(tiny_dataset: Path) -> list[Path]:
    clips = sorted((tiny_dataset.parent / "raw").rglob("*.mp4"))
    assert clips, "the tiny dataset's raw videos are missing"
    return clips


def _write(path: Path, frames: np.ndarray, bit_rate: int) -> Path:
    with VideoWriter(path, fps=30, bit_rate=bit_rate) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def test_mark_survives_h264_at_1_mbit_and_real_clips_carry_none(tiny_dataset: Path, tmp_path: Path) -> None:
    clips = _real_clips(tiny_dataset)
    frames = read_frames(clips[0])[:48]  # 128×128 rendered dancer, real H.264 decoded by decord
    marker = FrameMarker()
    marked = np.stack([marker.mark(f) for f in frames])
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert np.mean([cv2.PSNR(a, b) for a, b in zip(frames, marked, strict=True)]) > 38  # invisible
    assert np.abs(marked.astype(int) - frames).max() > 0

    report = detect_watermark(_write(tmp_path / "marked-1M.mp4", marked, 1_000_000))
    assert report.detected and report.matched_bits >= MATCH_THRESHOLD and report.frames == 48
    assert report.bit_accuracy > 0.9, report.describe()
    assert "watermark present" in report.describe()

    halved = [cv2.resize(cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA), (128, 128)) for f in marked]
    assert detect_in_frames(halved).detected

    for clip in clips:  # real clips, and the same frames re-encoded without the mark
        assert not detect_watermark(clip).detected
    unmarked = detect_watermark(_write(tmp_path / "unmarked-1M.mp4", frames, 1_000_000))
    assert not unmarked.detected and unmarked.matched_bits < MATCH_THRESHOLD
    assert "watermark absent" in unmarked.describe()


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        FrameMarker().mark(np.zeros((32, 48, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        detect_in_frames([np.zeros((64, 64), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        detect_in_frames([])
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(VideoError, match=r"corrupt\.mp4"):
        detect_watermark(corrupt)


@pytest.mark.parametrize("colour", [(120, 122, 118), (30, 60, 200), (250, 250, 250), (5, 5, 5)])
def test_flat_frames_carry_the_mark(colour: tuple[int, int, int]) -> None:
    """Flat areas (backgrounds) hold the mark too: the block's DC is always the carrier."""
    frame = np.zeros((96, 128, 3), np.uint8) + np.array(colour, np.uint8)
    marked = FrameMarker().mark(frame)
    assert cv2.PSNR(frame, marked) > 35
    assert detect_in_frames([marked] * 3).matched_bits == 32
    assert not detect_in_frames([frame] * 3).detected
