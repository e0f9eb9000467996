"""The detector's data: real and synthetic videos, their person boxes, and the training crops.

``dancenow forensics data`` writes one folder a person can open:

- ``real/*.mp4``: the dataset's target and source clips, brought to the generators' frame size (so
  that resolution cannot give the answer away) and encoded like the synthetic ones;
- ``synthetic/GENERATOR/*.mp4``: each configured dancenow model made to perform the target's own
  train and test motion and every source clip's motion. Written without the provenance watermark:
  the learned detector is for videos that carry no mark, and must not learn the mark instead;
- ``*.boxes.npy`` beside every video: the person's square box per frame (``forensics.crops``),
  from the poses that made or annotate the frames;
- ``*.h264-NNNk.mp4``: a copy of every training video re-encoded at a random bit rate
  (augmentation, Wang et al. 2020 use JPEG; videos travel as H.264);
- ``crops.npz``: person crops of the training and validation segments (clean and from the H.264
  copy), what the training loop reads;
- ``manifest.json`` (schema ``dancenow.detector-data/1``): every video with its label, generator,
  split and motion.

Splits are by motion and generator, never by frame: the target's test split and the source subjects
in ``data.test_subjects`` are test motion; held-out generators make only test videos and are never
trained on. The last ``val_fraction`` of each training video calibrates the verdict threshold.
The folder is built in a hidden sibling and renamed into place: an interrupted build leaves the
previous one intact, and running the same command again resumes it from the videos it finished (the
sibling is named after the settings, the models' and the clips' hashes). A finished build with the
same settings and models is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataset.files import atomic_destination, atomic_write_text, sha256_file
from dataset.keypoints import PoseSequence

from .config import DetectorConfig, GeneratorSpec
from .crops import crop_square, fill_missing_boxes, person_boxes, spread_indices

SCHEMA = "dancenow.detector-data/1"
REAL, SYNTHETIC = 0, 1
CROPS_FILE = "crops.npz"
MANIFEST = "manifest.json"


class DetectorDataError(ValueError):
    """The detector's data cannot be built or read; the message names the input and the fix."""


@dataclass
class DetectorVideo:
    """One video of the detector's data (paths relative to the data folder)."""

    id: str
    path: str
    label: int  # 1 = synthetic, 0 = real
    generator: str | None
    group: str  # "real", "seen" (a generator trained on) or "held_out"
    split: str  # "train" or "test"
    motion: str  # the clip whose motion the video shows
    frames: int
    fps: float
    boxes: str
    h264_copy: str | None = None

    def segments(self, segment_frames: int) -> list[tuple[int, int]]:
        """``[start, stop)`` ranges of :attr:`frames`, the last one possibly shorter (never under half)."""
        ranges = list(itertools.pairwise([*range(0, self.frames, segment_frames), self.frames]))
        if len(ranges) > 1 and ranges[-1][1] - ranges[-1][0] < segment_frames / 2:
            ranges[-2:] = [(ranges[-2][0], ranges[-1][1])]
        return ranges


@dataclass
class DetectorData:
    folder: Path
    manifest: dict[str, Any]

    @property
    def videos(self) -> list[DetectorVideo]:
        return [DetectorVideo(**v) for v in self.manifest["videos"]]

    @property
    def segment_frames(self) -> int:
        return int(self.manifest["segment_frames"])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.manifest["frame_size"][0]), int(self.manifest["frame_size"][1])


def load_detector_data(folder: str | os.PathLike[str]) -> DetectorData:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise DetectorDataError(
            f"{folder}: no detector data ({MANIFEST} missing); build it with `dancenow forensics data`"
        ) from None
    except ValueError as exc:
        raise DetectorDataError(
            f"{path}: unreadable ({exc}); rebuild with `dancenow forensics data`"
        ) from None
    if manifest.get("schema") != SCHEMA:
        raise DetectorDataError(f"{path}: not a {SCHEMA} manifest; rebuild with `dancenow forensics data`")
    return DetectorData(Path(folder), manifest)


def resolve_generator(spec: GeneratorSpec) -> Path:
    """The checkpoint file of a configured generator (a run's earlier step when ``spec.step`` is set)."""
    from synthesis.checkpoint import checkpoint_at_step, resolve_checkpoint_path

    if spec.step is not None:
        return checkpoint_at_step(spec.model, spec.step)
    return resolve_checkpoint_path(spec.model)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


def _write_video(path: Path, frames: np.ndarray, fps: float, bit_rate: int | None = None) -> None:
    from dataset.video import VideoWriter

    with VideoWriter(path, fps=fps, bit_rate=bit_rate) as writer:
        writer.write_batch(frames)


@dataclass
class _Motion:
    clip_id: str
    split: str  # "train" or "test"
    poses: PoseSequence  # in the clip's own pixels
    size: tuple[int, int]  # the clip's (height, width)
    is_target: bool
    frames: Any  # the clip (for its real frames)


def _motions(config: DetectorConfig) -> list[_Motion]:
    from synthesis.data import load_clips

    data = config.data
    motions = []
    for split in ("train", "test", "source"):
        for clip in load_clips(data.dataset, split):
            if clip.role == "target":
                which = "train" if split == "train" else "test"
            else:
                which = "test" if clip.subject_id in data.test_subjects else "train"
            motions.append(
                _Motion(
                    clip.clip_id, which, clip.poses, (clip.height, clip.width), clip.role == "target", clip
                )
            )
    if not any(m.split == "test" for m in motions) or not any(m.split == "train" for m in motions):
        raise DetectorDataError(
            f"{data.dataset}: the detector needs train and test motion; the dataset needs a target test split "
            "or data.test_subjects naming a source subject"
        )
    return motions


def _generator_input(net: Any, motion: _Motion, n: int) -> PoseSequence:
    """The model's input for the first ``n`` frames of ``motion``: the target's own poses scaled to
    the model's resolution, a source's normalised to the target first (as `dancenow transfer` does)."""
    from synthesis.data import scale_keypoints
    from synthesis.transfer import normalized_input

    poses = motion.poses.slice(0, n)
    if motion.is_target:
        size = (net.config.data.height, net.config.data.width)
        return PoseSequence(
            *(scale_keypoints(getattr(poses, p), motion.size, size) for p in ("body", "face", "hands"))
        )
    return normalized_input(net, poses, motion.size)[0]


def build_detector_data(
    config: DetectorConfig, *, progress: bool = True, force: bool = False
) -> DetectorData:
    """Build (or reuse) the detector's data folder for ``config``; see the module docstring."""
    import torch
    from tqdm.auto import tqdm

    from synthesis.data import cached_frames, scale_keypoints
    from synthesis.evaluate import run_generator, variant_label
    from synthesis.train import retain_freed_memory
    from synthesis.transfer import load_transfer_model

    retain_freed_memory()  # generation reuses the same large buffers: no page faults per frame

    data = config.data
    folder = Path(data.folder)
    settings: dict[str, Any] = {
        "data": data.model_dump(mode="json"),
        "crop": config.model.model_dump(mode="json"),
    }
    settings["crop"].pop("dropout")
    settings["crop"].pop("backbone")
    settings["jitter"] = config.augment.jitter
    if (
        folder.exists()
        and not (folder / MANIFEST).is_file()
        and (not folder.is_dir() or any(folder.iterdir()))
    ):
        # a build replaces the folder: never one that holds something else
        raise DetectorDataError(
            f"{folder}: exists and is not the detector's data (no {MANIFEST}); choose another data.folder "
            "or empty it: a build replaces its folder"
        )
    if not data.generators:
        raise DetectorDataError(
            "data.generators is empty: list the trained models that make the synthetic videos"
        )
    if not any(g.held_out for g in data.generators) or all(g.held_out for g in data.generators):
        raise DetectorDataError(
            "data.generators: mark at least one (but not every) generator held_out: true, to measure "
            "detection of generators never trained on"
        )
    checkpoints = [resolve_generator(spec) for spec in data.generators]
    model_hashes = [sha256_file(path) for path in checkpoints]
    if not force and (folder / MANIFEST).is_file():
        existing = load_detector_data(folder)
        built_from = [g.get("sha256") for g in existing.manifest.get("generators", [])]
        if existing.manifest.get("settings") == settings and built_from == model_hashes:
            _remove_unused_work(folder)  # what an interrupted rebuild (--force) left
            print(f"{folder}: detector data already built with these settings and models; reusing it")
            return existing

    motions = _motions(config)
    nets = {}
    generators = []
    for spec, path, model_hash in zip(data.generators, checkpoints, model_hashes, strict=True):
        net = load_transfer_model(path, use_face=spec.use_face)
        nets[spec.name] = net
        generators.append(
            {
                "name": spec.name,
                "checkpoint": str(path),
                "sha256": model_hash,
                "stage": net.state.get("stage"),
                "step": net.state.get("step"),
                "variant": variant_label(net),
                "held_out": spec.held_out,
            }
        )
    sizes = {(n.config.data.height, n.config.data.width) for n in nets.values()}
    if len(sizes) != 1:
        raise DetectorDataError(
            f"data.generators: all models must make frames of one size, got {sorted(sizes)}"
        )
    height, width = sizes.pop()
    fps = float(motions[0].frames.fps)

    # The work folder is named after everything the videos depend on, and kept when a build stops:
    # the same command run again finds the videos it finished there and goes on from them.
    inputs = json.dumps([settings, model_hashes, [m.frames.video_sha256 for m in motions]], sort_keys=True)
    key = hashlib.sha256(inputs.encode()).hexdigest()[:16]
    work = folder.with_name(f".{folder.name}.building-{key}")
    _remove_unused_work(folder, keep=None if force else work)  # other inputs: never to be resumed
    work.mkdir(parents=True, exist_ok=True)
    lock = open(work / ".lock", "w")  # noqa: SIM115 - held until the build ends
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DetectorDataError(
            f"{folder}: another `dancenow forensics data` is building it now; wait for it to finish"
        ) from None
    for unfinished in work.rglob(".*.tmp*"):  # a file the interrupted run was writing
        unfinished.unlink()
    resumed = sum(1 for _ in work.rglob("*.boxes.npy"))
    if resumed:
        print(f"{folder}: resuming an interrupted build ({resumed} videos already done)")
    rng = np.random.default_rng(config.runtime.seed)
    videos: list[DetectorVideo] = []
    plan_frames = sum(min(len(m.poses), data.max_real_frames) for m in motions) + sum(
        min(len(m.poses), data.max_frames_per_video)
        for spec in data.generators
        for m in motions
        if not spec.held_out or m.split == "test"
    )
    bar = tqdm(total=plan_frames, unit="frame", desc="detector data", disable=not progress)
    started = time.perf_counter()
    try:
        for motion in motions:
            n = min(len(motion.poses), data.max_real_frames)
            planned = _planned(
                f"real/{_slug(motion.clip_id)}", n, fps, REAL, None, "real", motion, config, rng
            )
            if not _stored(work, planned[0]):
                frames = np.asarray(cached_frames(motion.frames, height, width)[:n])
                body = scale_keypoints(motion.poses.body[:n], motion.size, (height, width))
                _store(work, planned, frames, body, config)
            videos.append(planned[0])
            bar.update(n)
        for spec in data.generators:
            net = nets[spec.name]
            for motion in motions:
                if spec.held_out and motion.split != "test":
                    continue  # a held-out generator is only ever seen at test time
                n = min(len(motion.poses), data.max_frames_per_video)
                group = "held_out" if spec.held_out else "seen"
                name = f"synthetic/{spec.name}/{_slug(motion.clip_id)}"
                planned = _planned(name, n, fps, SYNTHETIC, spec.name, group, motion, config, rng)
                if _stored(work, planned[0]):
                    bar.update(n)
                else:
                    model_input = _generator_input(net, motion, n)
                    with torch.inference_mode():
                        _, frames = run_generator(net, model_input, bar)
                    _store(work, planned, frames, model_input.body, config)
                videos.append(planned[0])
        bar.close()
        crops = _training_crops(work, videos, config)
        with open(work / CROPS_FILE, "wb") as handle:
            np.savez(handle, **crops)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        manifest = {
            "schema": SCHEMA,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "dataset": str(data.dataset),
            "frame_size": [height, width],
            "segment_frames": data.segment_frames,
            "generators": generators,
            "videos": [asdict(v) for v in videos],
            "crops": {
                "file": CROPS_FILE,
                "size": int(crops["clean"].shape[1]),
                "train": int((crops["split"] == 0).sum()),
                "val": int((crops["split"] == 1).sum()),
            },
            "settings": settings,
            "seconds": round(time.perf_counter() - started, 1),
        }
        atomic_write_text(work / MANIFEST, json.dumps(manifest, indent=1))
        lock.close()
        (work / ".lock").unlink()
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(work, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, folder)
    finally:  # on failure the work folder stays, for the same command to resume
        bar.close()
        lock.close()
    return load_detector_data(folder)


def _remove_unused_work(folder: Path, keep: Path | None = None) -> None:
    """Delete the work folders of interrupted builds of ``folder`` (all but ``keep``) that no running
    build holds (a build holds its folder's lock file from start to end)."""
    for work in folder.parent.glob(f".{folder.name}.building-*"):
        if work == keep:
            continue
        try:
            with open(work / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(work, ignore_errors=True)
        except BlockingIOError:
            continue  # being built right now
        except OSError:  # no lock file: a work folder of an older version
            shutil.rmtree(work, ignore_errors=True)


def _planned(
    name: str,
    frames: int,
    fps: float,
    label: int,
    generator: str | None,
    group: str,
    motion: _Motion,
    config: DetectorConfig,
    rng: np.random.Generator,
) -> tuple[DetectorVideo, int | None]:
    """One video of the data before it is written, and the bit rate of its H.264 copy (training
    videos only): drawn here, in the same order on every run, so a resumed build draws the same."""
    copy = rate = None
    if motion.split == "train":
        rate = int(rng.choice(config.data.h264_bit_rates))
        copy = f"{name}.h264-{rate // 1000}k.mp4"
    video = DetectorVideo(
        id=name,
        path=f"{name}.mp4",
        label=label,
        generator=generator,
        group=group,
        split=motion.split,
        motion=motion.clip_id,
        frames=frames,
        fps=fps,
        boxes=f"{name}.boxes.npy",
        h264_copy=copy,
    )
    return video, rate


def _stored(work: Path, video: DetectorVideo) -> bool:
    """Whether an earlier run of the same build finished ``video`` (its boxes are written last)."""
    return (work / video.boxes).is_file()


def _store(
    work: Path,
    planned: tuple[DetectorVideo, int | None],
    frames: np.ndarray,
    body: np.ndarray,
    config: DetectorConfig,
) -> None:
    """Write one video (and, for a training video, its H.264 copy), then its person boxes."""
    video, rate = planned
    _write_video(work / video.path, frames, video.fps)
    if video.h264_copy is not None:
        _write_video(work / video.h264_copy, frames, video.fps, bit_rate=rate)
    boxes = atomic_destination(work / video.boxes)
    with open(boxes, "wb") as handle:
        np.save(handle, person_boxes(body, config.model.crop_margin))
    os.replace(boxes, work / video.boxes)


def stored_crop_size(config: DetectorConfig) -> int:
    """Training crops are stored larger than the input by the jitter, so shifts stay inside them."""
    return int(np.ceil(config.model.input_size * (1 + 2 * config.augment.jitter)))


def _training_crops(work: Path, videos: list[DetectorVideo], config: DetectorConfig) -> dict[str, np.ndarray]:
    """Person crops of the training videos' segments: clean and from the H.264 copy, with labels,
    the video and segment they came from, and split 0 = train / 1 = validation."""
    from dataset.video import VideoReader

    size = stored_crop_size(config)
    grow = 1 + 2 * config.augment.jitter
    clean, reencoded, labels, video_index, segment_index, split = [], [], [], [], [], []
    for index, video in enumerate(videos):
        if video.split != "train":
            continue
        boxes = fill_missing_boxes(np.load(work / video.boxes))
        segments = video.segments(config.data.segment_frames)
        n_val = round(len(segments) * config.data.val_fraction)
        if config.data.val_fraction > 0 and len(segments) > 1:
            n_val = max(n_val, 1)
        readers = [VideoReader(str(work / video.path)), VideoReader(str(work / str(video.h264_copy)))]
        for s, (start, stop) in enumerate(segments):
            picks = [
                i
                for i in spread_indices(stop - start, config.data.frames_per_segment, start)
                if not np.isnan(boxes[i, 0])
            ]
            if not picks:
                continue
            outs = []
            for reader in readers:
                frames = reader.get_batch(picks)
                outs.append(
                    [
                        crop_square(f, boxes[i] * (1, 1, grow), size)
                        for f, i in zip(frames, picks, strict=True)
                    ]
                )
            clean += outs[0]
            reencoded += outs[1]
            labels += [video.label] * len(picks)
            video_index += [index] * len(picks)
            segment_index += [s] * len(picks)
            split += [1 if s >= len(segments) - n_val else 0] * len(picks)
    if not labels or len(set(labels)) < 2:
        raise DetectorDataError(
            "the training videos give crops of only one class; check data.generators and the dataset"
        )
    return {
        "clean": np.stack(clean),
        "h264": np.stack(reencoded),
        "label": np.asarray(labels, np.int64),
        "video": np.asarray(video_index, np.int64),
        "segment": np.asarray(segment_index, np.int64),
        "split": np.asarray(split, np.int64),
    }


__all__ = [
    "CROPS_FILE",
    "REAL",
    "SCHEMA",
    "SYNTHETIC",
    "DetectorData",
    "DetectorDataError",
    "DetectorVideo",
    "build_detector_data",
    "load_detector_data",
    "resolve_generator",
    "stored_crop_size",
]
