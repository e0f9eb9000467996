"""Video I/O on real files: H.264 written by PyAV, decoded by decord (and PyAV for rotation)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from dataset.video import VideoError, VideoReader, VideoWriter, iter_frames, probe, read_frames, write_video


def _frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """Frames whose index is readable back after lossy coding: a bright bar at x = 4 * i."""
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 40, np.uint8)
        frame[8:40, 4 * i : 4 * i + 4] = 255
        frames.append(frame)
    return frames


def _bar_position(frame: np.ndarray) -> int:
    column_brightness = frame[8:40].mean(axis=(0, 2))
    return int(np.argmax(column_brightness)) // 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    # A short keyframe interval plus B-frames: random access must still be frame-exact.
    with VideoWriter(path, fps=25, keyframe_interval=8) as writer:
        writer.write_batch(_frames(20))
    return path


def test_probe_reports_metadata(clip: Path) -> None:
    info = probe(clip)
    assert (info.frame_count, info.width, info.height, info.rotation) == (20, 96, 64, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(0.8)
    assert info.codec == "h264"


def test_decoding_is_frame_exact_in_every_access_pattern(clip: Path) -> None:
    everything = read_frames(clip)
    assert everything.shape == (20, 64, 96, 3)
    assert [_bar_position(f) for f in everything] == list(range(20))
    reader = VideoReader(clip)
    for i in (13, 2, 19, 0, 7):  # random order, across keyframes
        assert np.array_equal(reader[i], everything[i])
    streamed = np.concatenate(list(iter_frames(clip, batch_size=6)))
    assert np.array_equal(streamed, everything)
    window = np.concatenate(list(reader.iter_batches(batch_size=4, start=5, stop=11)))
    assert np.array_equal(window, everything[5:11])


def test_decoding_from_bytes_matches_file(clip: Path) -> None:
    assert np.array_equal(read_frames(clip.read_bytes(), [3, 9]), read_frames(clip, [3, 9]))


def test_writer_is_atomic_and_pads_odd_sizes(tmp_path: Path) -> None:
    target = tmp_path / "odd.mp4"
    assert write_video(target, _frames(5, h=33, w=47), fps=30) == 5
    info = probe(target)
    assert (info.width, info.height, info.frame_count) == (48, 34, 5)
    # A failure inside the block leaves no file behind, not even a temporary one.
    broken = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(broken, fps=30) as writer:
        writer.write(_frames(1)[0])
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == [target]


def test_rotation_metadata_is_applied(tmp_path: Path, clip: Path) -> None:
    """A phone-style display matrix (ffprobe: rotation=90, i.e. 90° counter-clockwise) is honoured."""
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(rotated),
        ],
        check=True,
    )
    info = probe(rotated)
    assert info.rotation == 270  # clockwise degrees, as players apply it
    assert (info.width, info.height) == (64, 96)
    upright = read_frames(rotated, [4])[0]
    expected = np.rot90(read_frames(clip, [4])[0], k=1)
    assert upright.shape == expected.shape == (96, 64, 3)
    assert np.abs(upright.astype(int) - expected).mean() < 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is not a video at all" * 50, "not a readable video"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message) as err:
        probe(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_truncated_and_audio_only_files(tmp_path: Path, clip: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    with pytest.raises(VideoError, match=str(truncated)):
        read_frames(truncated)
    audio = tmp_path / "audio.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        probe(audio)


def test_a_video_cut_mid_stream_is_one_line_without_ffmpeg_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    noise = tmp_path / "noise.mp4"
    with VideoWriter(noise, fps=30) as writer:  # noise: large frames, so the cut falls inside one
        writer.write_batch(np.random.default_rng(0).integers(0, 256, (60, 128, 128, 3), dtype=np.uint8))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(noise.read_bytes()[:100_000])
    capfd.readouterr()
    with pytest.raises(VideoError) as err:
        read_frames(cut)
    # the frames it could not decode, without decord's internal assertion or FFmpeg's log lines
    assert re.match(
        rf"^{cut}: frames 0\.\.\d+ cannot be decoded, the file looks truncated or corrupt; re-export",
        str(err.value),
    ), err.value
    assert capfd.readouterr().err == ""


def test_writer_rejects_wrong_frames(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="uint8"), VideoWriter(tmp_path / "x.mp4", fps=30) as writer:
        writer.write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(VideoError, match="no frames"), VideoWriter(tmp_path / "y.mp4", fps=30):
        pass


def test_still_images_and_gifs_are_refused_in_plain_words(tmp_path: Path) -> None:
    import cv2
    from PIL import Image

    for suffix, demuxer in ((".png", "png_pipe"), (".jpg", "jpeg_pipe")):
        image = tmp_path / f"photo{suffix}"
        assert cv2.imwrite(str(image), np.full((64, 64, 3), 90, np.uint8))
        with pytest.raises(
            VideoError, match=rf"^{image}: a still image \({demuxer}\), not a video; pass a video"
        ):
            probe(image)
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (64, 64), (20 * i, 0, 0)) for i in range(6)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(VideoError) as err:
        read_frames(gif)
    # decord's reason, without its log prefix ("[12:00:00] /path/video_reader.cc:270: [FILE] ")
    assert str(err.value).startswith(f"{gif}: decord cannot open it (Failed to measure duration"), err.value
    assert "video_reader.cc" not in str(err.value)
