"""Video I/O: probe, frame-exact decoding (decord) and H.264 mp4 writing (PyAV).

Frames are always ``uint8`` RGB arrays of shape ``(H, W, 3)`` (batches ``(N, H, W, 3)``), upright:
a rotation recorded in the file's display matrix (phone videos) is applied on decode (decord does it
itself), so keypoints detected on decoded frames match what a player shows.

Every failure to read a file raises :class:`VideoError`, whose one-line message names the file and
says what to do about it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .files import first_line

VideoSource = str | os.PathLike[str] | bytes

_FIX = "re-export it as an H.264 .mp4 (e.g. `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`)"


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file and the fix."""


def _name(source: VideoSource) -> str:
    return "<video bytes>" if isinstance(source, bytes) else str(source)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding all of it."""

    path: str
    fps: float
    frame_count: int
    width: int  # as displayed, i.e. after rotation
    height: int
    duration: float  # seconds, frame_count / fps
    rotation: int  # degrees clockwise applied on decode: 0, 90, 180 or 270
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_file(source: VideoSource) -> None:
    if isinstance(source, bytes):
        if not source:
            raise VideoError("<video bytes>: empty (0 bytes); pass the bytes of a complete video")
        return
    path = Path(source)
    if not path.exists():
        raise VideoError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file; pass a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); copy the video again, it is not complete")


# decord's messages start with its log prefix, "[18:01:48] /path/to/video_reader.cc:270: [FILE] ",
# repeated where one of its errors wraps another.
_DECORD_LOG_PREFIX = re.compile(r"^((\[[\d:]+\] )?[^\s\[]\S*:\d+: (\[[^\]]*\] )?)+")


def _decord_reason(exc: BaseException) -> str:
    """`` (decord's reason)`` without its log prefix (time, source line and the file name we give
    anyway); nothing where the reason is one of its internal assertions ("Check failed: ...")."""
    reason = _DECORD_LOG_PREFIX.sub("", first_line(exc)).rstrip(".")
    return "" if reason.startswith("Check failed") else f" ({reason})"


def _rotation_of(source: VideoSource) -> tuple[int, str]:
    """Display rotation (clockwise degrees) and codec name, read with PyAV from the first frame."""
    import av

    name = _name(source)
    try:
        with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r") as container:
            if not container.streams.video:
                raise VideoError(f"{name}: no video stream (audio or other data only); {_FIX}")
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                # ffmpeg reads a still image as a one-frame stream; decord would fail on it obscurely
                raise VideoError(
                    f"{name}: a still image ({container.format.name}), not a video; pass a video file"
                )
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            rotation = 0
            for frame in container.decode(stream):
                # PyAV reports the display matrix angle counter-clockwise; players rotate clockwise.
                rotation = round(-getattr(frame, "rotation", 0)) % 360
                break
            else:
                raise VideoError(f"{name}: the video stream has no decodable frames; {_FIX}")
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{name}: not a readable video ({exc.__class__.__name__}: {exc}); {_FIX}") from exc
    if rotation not in (0, 90, 180, 270):
        raise VideoError(f"{name}: unsupported display rotation {rotation}°; {_FIX}")
    return rotation, codec


def _rotate(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a batch ``(N, H, W, 3)`` clockwise by ``rotation`` degrees."""
    if rotation == 0:
        return frames
    # np.rot90 rotates counter-clockwise for positive k, over the (H, W) axes.
    return np.ascontiguousarray(np.rot90(frames, k=-(rotation // 90), axes=(1, 2)))


def _decord() -> Any:
    """decord, with its FFmpeg's own log lines ("[h264 @ 0x...] Invalid NAL unit size") off: a
    frame that cannot be decoded becomes our one-line error. ``DANCENOW_NATIVE_LOGS=1`` keeps them."""
    import decord

    if os.environ.get("DANCENOW_NATIVE_LOGS", "") in ("", "0"):
        decord.logging.set_level(decord.logging.QUIET)
    return decord


class VideoReader:
    """Frame-exact random-access and streaming reader over decord.

    ``reader[i]`` is frame ``i``; ``reader.get_batch([i, j])`` several frames; ``reader.iter_batches``
    streams ``[start, stop)`` in order with bounded memory. Frame ``i`` is the same frame whichever
    way it is read.
    """

    def __init__(self, source: VideoSource, num_threads: int = 0) -> None:
        decord = _decord()

        _check_file(source)
        self.source = source
        self.name = _name(source)
        self._all_frames: np.ndarray | None = None
        self.rotation, codec = _rotation_of(source)
        try:
            self._reader = decord.VideoReader(
                io.BytesIO(source) if isinstance(source, bytes) else str(source),
                ctx=decord.cpu(0),
                num_threads=num_threads,
            )
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoError(f"{self.name}: decord cannot open it{_decord_reason(exc)}; {_FIX}") from exc
        n = len(self._reader)
        if n == 0:
            raise VideoError(f"{self.name}: the video has zero frames; {_FIX}")
        fps = float(self._reader.get_avg_fps())
        if not np.isfinite(fps) or fps <= 0:
            raise VideoError(f"{self.name}: the video has no valid frame rate; {_FIX}")
        h, w = self._shape()  # decord applies the display rotation itself: this is the displayed size
        self.info = VideoInfo(
            path=self.name,
            fps=fps,
            frame_count=n,
            width=w,
            height=h,
            duration=n / fps,
            rotation=self.rotation,
            codec=codec,
        )

    def _shape(self) -> tuple[int, int]:
        frame = self._decode([0])
        return int(frame.shape[1]), int(frame.shape[2])

    def __len__(self) -> int:
        return self.info.frame_count

    def _decode(self, indices: list[int]) -> np.ndarray:
        import decord  # its log level was set when this reader opened

        if self._all_frames is not None:
            return self._all_frames[indices]
        try:
            batch = self._reader.get_batch(indices).asnumpy()
        except (decord.DECORDError, RuntimeError, IndexError) as exc:
            if "must exactly match" in str(exc):
                # decord 0.6 mis-sizes a few tiny widths (2-24, 48, 72 px); such videos are small, so
                # decode them whole with PyAV instead.
                self._all_frames = _rotate(_decode_all_with_pyav(self.source, self.name), self.rotation)
                return self._all_frames[indices]
            lo, hi = min(indices), max(indices)
            raise VideoError(
                f"{self.name}: frames {lo}..{hi} cannot be decoded, the file looks truncated or "
                f"corrupt{_decord_reason(exc)}; {_FIX}"
            ) from exc
        return batch

    def get_batch(self, indices: Iterable[int]) -> np.ndarray:
        """Frames at ``indices`` as ``(N, H, W, 3)`` uint8 RGB."""
        idx = [int(i) for i in indices]
        n = len(self)
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise IndexError(f"{self.name}: frame {bad[0]} out of range (the video has {n} frames)")
        if not idx:
            return np.zeros((0, self.info.height, self.info.width, 3), np.uint8)
        return self._decode(idx)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get_batch([index])[0]

    def iter_batches(
        self, batch_size: int = 32, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """Stream frames ``[start, stop)`` in order, ``batch_size`` at a time."""
        stop = len(self) if stop is None else min(stop, len(self))
        for lo in range(start, stop, batch_size):
            yield self.get_batch(range(lo, min(lo + batch_size, stop)))

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.iter_batches():
            yield from batch


def _decode_all_with_pyav(source: VideoSource, name: str, max_bytes: int = 1 << 30) -> np.ndarray:
    import av

    frames = []
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r") as container:
        for frame in container.decode(container.streams.video[0]):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) * frames[0].nbytes > max_bytes:
                raise VideoError(
                    f"{name}: decord cannot decode this frame size and the video is too large to "
                    f"decode in memory; {_FIX}"
                )
    return np.stack(frames)


def probe(source: VideoSource) -> VideoInfo:
    """Frame rate, exact frame count, displayed size, duration, rotation and codec of a video."""
    return VideoReader(source, num_threads=1).info


def read_frames(source: VideoSource, indices: Iterable[int] | None = None) -> np.ndarray:
    """Decode the frames at ``indices`` (all frames if None) into one ``(N, H, W, 3)`` array."""
    reader = VideoReader(source)
    return reader.get_batch(range(len(reader)) if indices is None else indices)


def iter_frames(
    source: VideoSource, batch_size: int = 32, start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Stream batches of frames ``[start, stop)`` of a video, in order."""
    yield from VideoReader(source).iter_batches(batch_size, start, stop)


def verify_decodable(source: VideoSource, batch_size: int = 64) -> VideoInfo:
    """Decode every frame once (catches truncation that probing alone misses); return the info."""
    reader = VideoReader(source)
    for _ in reader.iter_batches(batch_size):
        pass
    return reader.info


class VideoWriter:
    """Write RGB frames to an H.264 mp4 (libx264, yuv420p), atomically.

    Frames go to a hidden temporary file next to ``path`` that is renamed into place on
    :meth:`close`; if writing fails or the ``with`` block raises, the temporary file is removed and
    ``path`` is left as it was. Odd frame sizes are padded by one pixel at the right/bottom edge
    (yuv420p needs even sizes), which does not move any keypoint.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        crf: int = 18,
        preset: str = "medium",
        keyframe_interval: int | None = None,
        bit_rate: int | None = None,
    ) -> None:
        if fps <= 0:
            raise VideoError(f"{path}: frame rate must be positive, got {fps}")
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self.bit_rate = bit_rate  # bits/s (average bit rate) instead of constant quality (crf)
        self.preset = preset
        self.keyframe_interval = keyframe_interval
        self.frame_count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.mp4")
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None

    def _open(self, height: int, width: int) -> None:
        import av

        self._container = av.open(str(self._tmp), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width = width + (width % 2)
        stream.height = height + (height % 2)
        stream.pix_fmt = "yuv420p"
        options = {"preset": self.preset}
        if self.bit_rate:
            stream.bit_rate = self.bit_rate
        else:
            options["crf"] = str(self.crf)
        if self.keyframe_interval:
            options["g"] = str(self.keyframe_interval)
        stream.options = options
        self._stream = stream
        self._size = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame (all frames must share one size)."""
        import av

        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise VideoError(
                f"{self.path}: frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}"
            )
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        if frame.shape[:2] != self._size:
            raise VideoError(
                f"{self.path}: frame {self.frame_count} has size {frame.shape[:2]}, expected {self._size}"
            )
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frame_count += 1

    def write_batch(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.write(frame)

    def close(self) -> None:
        if self._container is None:
            raise VideoError(f"{self.path}: no frames were written; a video needs at least one frame")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        self._tmp.replace(self.path)

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # the file is thrown away; its close error does not matter
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    crf: int = 18,
    preset: str = "medium",
) -> int:
    """Write frames to an H.264 mp4 atomically; return the number of frames written."""
    with VideoWriter(path, fps, crf=crf, preset=preset) as writer:
        writer.write_batch(frames)
    return writer.frame_count
