"""Transfer: make the trained target subject dance a source's moves.

source video → poses (detector, cached) → temporal smoothing → global normalisation to the target's
statistics (stored in the checkpoint) → stick figures at the model's resolution → the generator, fed
its own previous output frame by frame → the face residual → H.264. Frames stream through in
chunks, so memory does not grow with the video's length. The normalisation parameters and what
made the video are written beside it (``OUT.transfer.json``), so a transfer can be reproduced.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataset.files import atomic_write_text, sha256_file
from dataset.hub import looks_like_repo_id
from dataset.keypoints import PoseSequence

from .checkpoint import load_checkpoint
from .config import TrainConfig, config_from_dict
from .data import clip_ids, load_clips, scale_keypoints, to_uint8_images
from .face_box import crop_boxes, face_box_size, face_boxes, paste_boxes
from .networks import build_face_generator, build_generator
from .normalize import (
    NormalizationError,
    NormalizationParams,
    PoseStatistics,
    fit_normalization,
    normalize_to_target,
    pose_statistics,
)
from .precision import autocast as autocast_for
from .precision import resolve_precision
from .stick_figure import render_stick_figures

CHUNK = 32


class TransferError(ValueError):
    """The transfer cannot run; the message names the input and the fix."""


@dataclass
class SourceMotion:
    """The source's poses (smoothed, in its own pixels) and a way to stream its frames."""

    name: str
    poses: PoseSequence
    fps: float
    size: tuple[int, int]  # (height, width)
    video: str | bytes  # a path or the bytes of a dataset clip
    subject: str | None = None  # the dataset's subject id (None for a video file)
    dataset: str | None = None  # the dataset it came from


@dataclass
class TransferResult:
    output: Path
    record: Path
    side_by_side: Path | None
    frames: int
    fps: float
    seconds: float
    notes: list[str]

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


@dataclass
class TransferModel:
    """The networks of a checkpoint, ready for inference."""

    config: TrainConfig
    generator: torch.nn.Module
    face_generator: torch.nn.Module | None
    target_statistics: PoseStatistics
    target_size: tuple[int, int]
    state: dict[str, Any]

    @property
    def face_box(self) -> int:
        """The face box side at the model's resolution."""
        return self.config.face.box_size or face_box_size(self.config.data.height)


def load_transfer_model(
    model: str | os.PathLike[str], *, use_face: bool = True, device: str = "cpu"
) -> TransferModel:
    """Load a body or face checkpoint (file, run folder or Hub repo id) for transfer."""
    state = load_checkpoint(model)
    config = config_from_dict(state.get("body_config", state["config"]), origin=state["path"])
    generator = build_generator(config.model, state.get("generator_kind", "global"))
    generator.load_state_dict(state["models"]["generator"])
    face = None
    if use_face and "face_generator" in state["models"]:
        face_config = config_from_dict(state["config"], origin=state["path"]).face
        face = build_face_generator(face_config)
        face.load_state_dict(state["models"]["face_generator"])
        face.eval().to(device)
    generator.eval().to(device)
    data = state["data"]
    return TransferModel(
        config=config,
        generator=generator,
        face_generator=face,
        target_statistics=PoseStatistics.from_dict(data["target_statistics"]),
        target_size=(int(data["frame_size"][0]), int(data["frame_size"][1])),
        state=state,
    )


def source_from_video(
    path: str | os.PathLike[str],
    *,
    detector: str = "mediapipe-holistic",
    workers: int | None = None,
    smoothing: str = "auto",
    progress: bool = True,
) -> SourceMotion:
    """Detect and smooth the poses of a video file (cached per video and detector)."""
    from dataset.pose import extract_poses, smooth_poses
    from dataset.video import probe

    info = probe(path)
    extraction = extract_poses([str(path)], detector=detector, workers=workers, progress=progress)
    raw = extraction[str(path)]
    poses = raw if smoothing == "none" else smooth_poses(raw, info.fps, method=smoothing)  # type: ignore[arg-type]
    return SourceMotion(str(path), poses, info.fps, (info.height, info.width), str(path))


def source_from_dataset(dataset: str, clip_id: str | None) -> SourceMotion:
    """A clip of a dancenow dataset (source split first, then the others); poses as stored."""
    for split in ("source", "test", "train"):
        try:  # read only the wanted clip's video, not the whole split's
            clips = load_clips(dataset, split, role="source" if clip_id is None else None, clip_id=clip_id)
        except ValueError:
            continue
        if clips:
            clip = clips[0]
            return SourceMotion(
                f"{dataset}::{clip.clip_id}",
                clip.poses,
                clip.fps,
                (clip.height, clip.width),
                clip.video,
                subject=clip.subject_id,
                dataset=dataset,
            )
    what = f"clip {clip_id!r}" if clip_id else "source clip"
    ids = clip_ids(dataset)
    shown = ", ".join(ids[:8]) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")
    raise TransferError(f"{dataset}: no {what}; its clips: {shown or 'none'}; pass one with --clip")


def resolve_source(source: str, clip: str | None, **video_options: Any) -> SourceMotion:
    path = Path(source)
    if path.is_file():
        return source_from_video(path, **video_options)
    if path.is_dir() or (looks_like_repo_id(source) and not path.suffix):
        return source_from_dataset(source, clip)
    raise TransferError(
        f"{source}: no such video file or dataset; pass a video path or a dataset folder / Hub repo id"
    )


def _frames(video: str | bytes, size: tuple[int, int]) -> Iterator[np.ndarray]:
    from dataset.video import VideoReader

    from .data import resize_frames

    reader = VideoReader(video)
    for batch in reader.iter_batches(CHUNK):
        yield from resize_frames(batch, *size)


def transfer(
    model: str | os.PathLike[str],
    source: str,
    out: str | os.PathLike[str],
    *,
    clip: str | None = None,
    side_by_side: str | os.PathLike[str] | None = None,
    use_face: bool = True,
    detector: str = "mediapipe-holistic",
    workers: int | None = None,
    smoothing: str = "auto",
    max_frames: int | None = None,
    precision: str = "fp32",
    normalization: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TransferResult:
    """Transfer ``source``'s motion onto ``model``'s target subject; writes ``out`` (H.264).

    ``normalization``: a previous transfer's ``.transfer.json`` whose normalisation parameters
    are reused as they are (to reproduce that transfer exactly), instead of fitting new ones.
    """
    from dataset.video import VideoWriter

    from .train import retain_freed_memory

    started = time.perf_counter()
    retain_freed_memory()
    out = Path(out)
    videos = [out, *([Path(side_by_side)] if side_by_side else [])]
    for video in videos:
        if video.suffix.lower() != ".mp4":  # checked before any work: VideoWriter writes H.264 MP4
            raise TransferError(f"{video}: the output is an H.264 MP4 video; name it {video.stem}.mp4")
    net = load_transfer_model(model, use_face=use_face)
    motion = resolve_source(
        source, clip, detector=detector, workers=workers, smoothing=smoothing, progress=progress
    )
    poses = motion.poses if max_frames is None else motion.poses.slice(0, min(max_frames, len(motion.poses)))
    if len(poses) == 0:
        raise TransferError(f"{motion.name}: no frames to transfer")

    params = _saved_normalization(normalization) if normalization is not None else None
    model_input, params, per_frame = normalized_input(net, poses, motion.size, params, name=motion.name)
    height, width = net.config.data.height, net.config.data.width

    from forensics.watermark import MIN_SIDE, FrameMarker

    # Every frame written carries the invisible provenance mark (forensics/watermark.py).
    marker = FrameMarker() if min(height, width) >= MIN_SIDE else None
    if marker is None:
        print(f"transfer: frames of {width}×{height} are too small for the watermark (min side {MIN_SIDE})")
    cpu = torch.device("cpu")
    autocast = autocast_for(resolve_precision(precision, cpu), cpu)
    writer = VideoWriter(out, fps=motion.fps)
    sbs = VideoWriter(side_by_side, fps=motion.fps) if side_by_side else None
    source_frames = (
        _frames(motion.video, (height, round(motion.size[1] * height / motion.size[0]) // 2 * 2))
        if sbs
        else None
    )
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(poses), unit="frame", desc="transfer")
    try:
        with torch.inference_mode(), autocast:
            for sticks, frames in generated_chunks(net, model_input):
                images = to_uint8_images(frames)
                stick_images = to_uint8_images(sticks) if sbs else None
                for i, image in enumerate(images):
                    writer.write(marker.mark(image) if marker else image)
                    if sbs is not None and source_frames is not None and stick_images is not None:
                        panel = np.concatenate([next(source_frames), stick_images[i], image], axis=1)
                        sbs.write(marker.mark(panel) if marker else panel)
                if bar is not None:
                    bar.update(len(images))
        writer.close()
        if sbs is not None:
            sbs.close()
    except BaseException:
        writer.abort()
        if sbs is not None:
            sbs.abort()
        raise
    finally:
        if bar is not None:
            bar.close()

    seconds = time.perf_counter() - started
    record_path = out.with_name(out.name + ".transfer.json")
    record = {
        "output": out.name,
        "side_by_side": Path(side_by_side).name if side_by_side else None,
        "frames": len(poses),
        "fps": motion.fps,
        "resolution": [height, width],
        "model": {
            "path": net.state["path"],
            "sha256": sha256_file(net.state["path"]),
            "stage": net.state.get("stage"),
            "step": net.state.get("step"),
            "data": {k: v for k, v in net.state["data"].items() if k != "target_statistics"},
            "face_gan": net.face_generator is not None,
        },
        "source": {
            "name": motion.name,
            "clip": clip,
            "subject": motion.subject,
            "frame_size": list(motion.size),
        },
        "watermark": marker is not None,
        "provenance": [video.name + ".provenance.json" for video in videos],
        "normalization": params.to_dict(),
        "per_frame_scale_translate": np.round(per_frame, 4).tolist(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 3),
    }
    atomic_write_text(record_path, json.dumps(record, indent=1))
    _write_provenance(net, motion, clip, record, videos)
    return TransferResult(
        out,
        record_path,
        Path(side_by_side) if side_by_side else None,
        len(poses),
        motion.fps,
        seconds,
        params.notes,
    )


def normalized_input(
    net: TransferModel,
    poses: PoseSequence,
    source_size: tuple[int, int],
    params: NormalizationParams | None = None,
    *,
    name: str = "source",
) -> tuple[PoseSequence, NormalizationParams, np.ndarray]:
    """The source's ``poses`` (in its ``source_size`` pixels) as the model's input.

    Normalised to the target's frame and body size (METHOD §2) with ``params``, or with parameters
    fitted here when None, then scaled to the model's resolution. Returns the poses, the parameters
    and the per-frame ``(scale, translate)`` (see :func:`~synthesis.normalize.frame_transforms`).
    A source whose poses give nothing to fit (no person in view) is a :class:`TransferError` that
    starts with ``name``.
    """
    if params is None:
        try:
            source_stats = pose_statistics(poses.body, source_size, max_frames=20000)
        except NormalizationError as exc:
            raise TransferError(f"{name}: {exc}") from None
        params = fit_normalization(source_stats, net.target_statistics)
    normalised, per_frame = normalize_to_target(poses, params)
    size = (net.config.data.height, net.config.data.width)
    scaled = (
        scale_keypoints(getattr(normalised, p), net.target_size, size) for p in ("body", "face", "hands")
    )
    return PoseSequence(*scaled), params, per_frame


def _write_provenance(
    net: TransferModel, motion: SourceMotion, clip: str | None, record: dict[str, Any], videos: list[Path]
) -> None:
    """A signed provenance record beside each video written (forensics/provenance.py)."""
    from importlib.metadata import PackageNotFoundError, version

    from forensics.provenance import consent_of, write_provenance
    from forensics.watermark import MARK_BITS, MATCH_THRESHOLD, METHOD

    try:
        tool_version = version("dancenow")
    except PackageNotFoundError:
        tool_version = "unknown"
    data = net.state["data"]
    fields = {
        "synthetic": True,
        "generator": {"tool": "dancenow", "version": tool_version, "command": "transfer"},
        "model": record["model"] | {"run": net.config.name, "temporal": net.config.model.temporal},
        "target": {
            "subject": data.get("subject"),
            "dataset": data.get("dataset"),
            "consent": consent_of(data.get("dataset"), data.get("subject")),
        },
        "source": {
            "name": motion.name,
            "clip": clip,
            "subject": motion.subject,
            "consent": consent_of(motion.dataset, motion.subject),
            "note": None if motion.subject else "a video file: no consent record travels with it",
        },
        "watermark": {
            "present": record["watermark"],
            "method": METHOD,
            "bits": "".join(map(str, MARK_BITS)),
            "threshold": MATCH_THRESHOLD,
        },
        "transfer_record": record["output"] + ".transfer.json",
    }
    for video in videos:
        write_provenance(video, fields)


def _saved_normalization(path: str | os.PathLike[str]) -> NormalizationParams:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        return NormalizationParams.from_dict(record["normalization"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TransferError(
            f"{path}: no normalisation parameters to reuse ({type(exc).__name__}: {exc}); "
            "pass the .transfer.json that `dancenow transfer` wrote"
        ) from None


def generated_chunks(net: TransferModel, poses: PoseSequence) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``poses`` (at the model's resolution) through the model, :data:`CHUNK` frames at a time: yields
    each chunk's stick figures and generated frames, both ``(N, 3, H, W)`` in [-1, 1]. The caller
    chooses the grad / autocast mode around the loop."""
    height, width = net.config.data.height, net.config.data.width
    previous: torch.Tensor | None = None
    for start in range(0, len(poses), CHUNK):
        chunk = poses.slice(start, min(start + CHUNK, len(poses)))
        sticks = render_stick_figures(chunk.body, chunk.face, chunk.hands, height, width) * 2 - 1
        frames, previous = generate_frames(net, sticks, chunk.body, net.face_box, previous)
        yield sticks, frames


def generate_frames(
    net: TransferModel, sticks: torch.Tensor, body: np.ndarray, box: int, previous: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate a chunk: ``sticks`` (N, 3, H, W) in [-1, 1] through the generator frame by frame, each
    fed the previous body output (``previous``; None starts a video), then the face residual.

    Returns the frames (N, 3, H, W) and the last body output (the ``previous`` of the next chunk).
    """
    outputs = []
    for i in range(len(sticks)):
        previous = net.generator.step(sticks[i : i + 1], previous).float()  # type: ignore[operator]
        outputs.append(previous)
    frames = torch.cat(outputs)
    if net.face_generator is not None:
        frames = _add_face_residual(net.face_generator, sticks, frames, body, box)
    assert previous is not None, "generate_frames needs at least one stick figure"
    return frames, previous


def _add_face_residual(
    face_generator: torch.nn.Module, sticks: torch.Tensor, frames: torch.Tensor, body: np.ndarray, box: int
) -> torch.Tensor:
    """Paste ``G(x)_F + r`` back into every frame whose face was found."""
    height, width = frames.shape[-2:]
    corners, valid = face_boxes(torch.from_numpy(body).to(frames.device), height, width, box)
    if not bool(valid.any()):
        return frames
    stick_f, gen_f = crop_boxes(sticks, corners, box), crop_boxes(frames, corners, box)
    faces = gen_f + face_generator(stick_f, gen_f).float()
    faces = torch.where(valid[:, None, None, None], faces, gen_f)
    return paste_boxes(frames, faces, corners)


__all__ = [
    "NormalizationParams",
    "SourceMotion",
    "TransferError",
    "TransferModel",
    "TransferResult",
    "generate_frames",
    "generated_chunks",
    "load_transfer_model",
    "normalized_input",
    "resolve_source",
    "source_from_dataset",
    "source_from_video",
    "transfer",
]
