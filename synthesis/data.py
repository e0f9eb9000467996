"""Training data: consecutive frame pairs of a target subject, read from a dancenow dataset.

The dataset is the Hugging Face dataset that ``dancenow dataset build`` writes (a local folder or
a Hub repo id); we read it with ``datasets.load_dataset`` like anyone else would. Each target clip
is decoded once, resized to the training resolution, and kept as a uint8 ``.npy`` file in a cache
(memory-mapped afterwards), so a training step costs a slice, not a video seek. Keypoints are scaled
to the same resolution. Stick figures are drawn either here, in the DataLoader's worker processes
ahead of the step (``data.render_sticks`` "loader", the default on GPU: their tiled renderer has
data-dependent shapes that would stall a GPU step on the host), or by the trainer on its own device
in one batched call ("step", the default on CPU, where it is fastest).

Order: every epoch is one permutation of all pairs, fixed by (seed, epoch). Global batch ``k`` is
items ``k·B … k·B+B-1`` of it and worker ``r`` of ``N`` takes its ``r``-th slice of ``B/N``, so
the shards are disjoint and N workers × B/N see exactly what 1 worker × B sees. When N does not
divide B (an elastic run that lost a node), the slices differ by one item and the trainer weights
each worker's loss by its share, so the averaged gradient is still the global batch's. A resumed run
skips the batches it already did, without decoding them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dataset.files import atomic_destination, cache_root
from dataset.hub import hub_failure, is_unreachable, looks_like_repo_id, quiet_hub_logs
from dataset.keypoints import PoseSequence


class DataError(ValueError):
    """The training data cannot be used; the message names the dataset and the fix."""


class MissingSplitError(DataError):
    """The dataset has no such split (a build with --test-fraction 0 has no test split)."""


@dataclass
class Clip:
    """One clip of the dataset, with its video bytes and keypoints (pixels of its own frames)."""

    clip_id: str
    subject_id: str
    role: str
    split: str
    fps: float
    width: int
    height: int
    video: bytes
    poses: PoseSequence

    @property
    def video_sha256(self) -> str:
        return hashlib.sha256(self.video).hexdigest()


# The columns of a dancenow dataset that training, evaluation and transfer read.
_META_COLUMNS = ["clip_id", "subject_id", "role", "split", "fps", "width", "height"]
_KEYPOINT_COLUMNS = ["body", "face", "hands"]
_COLUMNS_READ = (*_META_COLUMNS, "video", *_KEYPOINT_COLUMNS)
_BUILD_ONE = "build one with `dancenow dataset build`"


def _check_hub_dataset(repo_id: str) -> None:
    """Ask the Hub once about ``repo_id`` and raise what it answers, before ``datasets`` does.

    ``load_dataset`` retries an unreachable Hub for about 23 s and reports a missing or gated repo
    as a page of text; one metadata request, without retries, says either at once. A repo that
    ``datasets`` prepared earlier still loads without network (it falls back to that copy, found
    as below), and with ``HF_HUB_OFFLINE`` set nothing is asked.
    """
    import datasets
    from datasets.naming import camelcase_to_snakecase
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return
    try:
        HfApi().dataset_info(repo_id)
    except Exception as exc:
        org, name = repo_id.split("/")
        prepared = (
            Path(datasets.config.HF_DATASETS_CACHE).expanduser() / f"{org}___{camelcase_to_snakecase(name)}"
        )
        if is_unreachable(exc) and any(p.is_dir() for p in prepared.glob("*/*/*")):
            return
        raise _hub_load_error(repo_id, exc) from None


def _hub_load_error(dataset: str, exc: BaseException) -> DataError:
    return DataError(
        f"{dataset}: cannot load it from the Hub: {hub_failure(exc)}; check the repo id and your "
        "network, or pass a dataset folder"
    )


def _load_split(dataset: str, split: str) -> Any:
    import datasets

    path = Path(dataset)
    if not path.exists():
        if not looks_like_repo_id(dataset):
            raise DataError(
                f"{dataset}: neither a dataset folder nor a Hub repo id (ORG/NAME); "
                f"{_BUILD_ONE} or pass --set data.dataset=..."
            )
        _check_hub_dataset(dataset)
    elif path.is_dir() and not any(path.rglob("*.parquet")):
        # datasets would read a folder of videos or images as a one-split dataset of its files
        raise DataError(f"{dataset}: not a dancenow dataset (no Parquet files in it); {_BUILD_ONE}")
    try:
        with quiet_hub_logs():
            ds = datasets.load_dataset(dataset, split=split)
    except ValueError as exc:
        raise MissingSplitError(f"{dataset}: no split {split!r} ({str(exc).splitlines()[0]})") from None
    except ConnectionError as exc:  # a repo id that the Hub could not be asked about
        raise _hub_load_error(dataset, exc) from None
    except FileNotFoundError as exc:
        raise DataError(f"{dataset}: cannot load ({str(exc).splitlines()[0]})") from None
    missing = [name for name in _COLUMNS_READ if name not in ds.column_names]
    if missing:
        raise DataError(f"{dataset}: not a dancenow dataset (no column {', '.join(missing)}); {_BUILD_ONE}")
    return ds.cast_column("video", datasets.Video(decode=False))


def clip_ids(dataset: str) -> list[str]:
    """The clip ids of every split of ``dataset``, in split then dataset order (only that column is read)."""
    ids: list[str] = []
    for split in ("train", "test", "source"):
        try:
            ids += _load_split(dataset, split).select_columns(["clip_id"])["clip_id"]
        except MissingSplitError:
            continue
    return ids


def load_clips(
    dataset: str,
    split: str,
    *,
    role: str | None = None,
    subject: str | None = None,
    clip_id: str | None = None,
) -> list[Clip]:
    """Clips of one split, optionally of one role, subject or clip id, in dataset order.

    Only the chosen rows' video bytes and keypoints are read."""
    ds = _load_split(dataset, split)
    meta = ds.select_columns(_META_COLUMNS)
    keep = [
        i
        for i, row in enumerate(meta)
        if (role is None or row["role"] == role)
        and (subject is None or row["subject_id"] == subject)
        and (clip_id is None or row["clip_id"] == clip_id)
    ]
    clips = []
    arrays = ds.select(keep).with_format("numpy", columns=_KEYPOINT_COLUMNS)
    rows = ds.select(keep)
    for i in range(len(keep)):
        row = rows[i]
        kp = arrays[i]
        poses = PoseSequence(
            body=np.asarray(kp["body"], np.float32),
            face=np.asarray(kp["face"], np.float32),
            hands=np.asarray(kp["hands"], np.float32),
        )
        clips.append(
            Clip(
                clip_id=row["clip_id"],
                subject_id=row["subject_id"],
                role=row["role"],
                split=row["split"],
                fps=float(row["fps"]),
                width=int(row["width"]),
                height=int(row["height"]),
                video=row["video"]["bytes"],
                poses=poses,
            )
        )
    return clips


def load_target_clips(dataset: str, subject: str | None = None, split: str = "train") -> list[Clip]:
    """The target subject's clips of ``split``; with ``subject`` None the dataset must have one target."""
    clips = load_clips(dataset, split, role="target")
    subjects = sorted({c.subject_id for c in clips})
    if not subjects:
        raise DataError(
            f"{dataset}: no target clips in split {split!r}; the dataset needs a consented target subject"
        )
    if subject is None:
        if len(subjects) > 1:
            raise DataError(
                f"{dataset}: several target subjects ({', '.join(subjects)}); choose one with data.subject"
            )
        subject = subjects[0]
    chosen = [c for c in clips if c.subject_id == subject]
    if not chosen:
        raise DataError(
            f"{dataset}: no target subject {subject!r} in split {split!r} (has: {', '.join(subjects)})"
        )
    return chosen


def data_fingerprint(clips: Sequence[Clip]) -> str:
    """SHA-256 over the clips' ids, video bytes and keypoints: what a checkpoint was trained on."""
    digest = hashlib.sha256()
    for clip in sorted(clips, key=lambda c: c.clip_id):
        digest.update(clip.clip_id.encode())
        digest.update(clip.video_sha256.encode())
        for array in (clip.poses.body, clip.poses.face, clip.poses.hands):
            digest.update(np.ascontiguousarray(array, np.float32).tobytes())
    return digest.hexdigest()


def scale_keypoints(points: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Keypoints from a (height, width) frame to another; confidences (and undetected zeros) kept."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] *= dst_size[1] / src_size[1]
    out[..., 1] *= dst_size[0] / src_size[0]
    return out


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N,h,w,3) uint8 → (N,height,width,3); area filter when shrinking (no aliasing)."""
    import cv2

    if frames.shape[1:3] == (height, width):
        return frames
    shrinking = height < frames.shape[1] or width < frames.shape[2]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interp) for f in frames])


def to_uint8_images(images: torch.Tensor) -> np.ndarray:
    """Model images (N,3,H,W) in [-1,1] → (N,H,W,3) uint8 RGB (samples, videos)."""
    return (
        ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    )


def cached_frames(
    clip: Clip, height: int, width: int, cache_dir: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """All frames of ``clip`` at (height, width), uint8 (T,H,W,3), memory-mapped from the cache.

    Decoded once per (video bytes, size) and written atomically; concurrent workers on one machine
    wait on a lock instead of decoding the same video twice.
    """
    from dataset.video import VideoReader

    root = Path(cache_dir).expanduser() if cache_dir else cache_root("frames")
    path = root / f"{clip.video_sha256[:24]}-{height}x{width}.npy"
    if not path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                reader = VideoReader(clip.video)
                out = np.lib.format.open_memmap(
                    tmp := atomic_destination(path),
                    mode="w+",
                    dtype=np.uint8,
                    shape=(len(reader), height, width, 3),
                )
                try:
                    start = 0
                    for batch in reader.iter_batches(64):
                        out[start : start + len(batch)] = resize_frames(batch, height, width)
                        start += len(batch)
                    out.flush()
                    del out
                    os.replace(tmp, path)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
    return np.load(path, mmap_mode="r")


class PairDataset(Dataset[dict[str, torch.Tensor]]):
    """Consecutive frame pairs ``(t-1, t)`` of target clips at one resolution.

    An item is a dict of ``frames`` uint8 (2,3,H,W), ``body`` (2,25,3), ``face`` (2,70,3) and
    ``hands`` (2,2,21,3) float32 keypoints in pixels of the (H,W) frame, and with ``stick_size`` set
    ``sticks`` uint8 (2,3,h,w): the stick figures drawn at that size.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        height: int,
        width: int,
        *,
        max_frames: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.height, self.width = height, width
        self.frames = [cached_frames(c, height, width, cache_dir) for c in clips]
        self.body, self.face, self.hands = [], [], []
        self.index: list[tuple[int, int]] = []
        for ci, clip in enumerate(clips):
            n = len(clip.poses) if max_frames is None else min(len(clip.poses), max_frames)
            if len(self.frames[ci]) != len(clip.poses):
                raise DataError(
                    f"clip {clip.clip_id}: {len(self.frames[ci])} decoded frames but {len(clip.poses)} "
                    "keypoint rows; rebuild the dataset with `dancenow dataset build`"
                )
            size = (clip.height, clip.width)
            self.body.append(scale_keypoints(clip.poses.body, size, (height, width)))
            self.face.append(scale_keypoints(clip.poses.face, size, (height, width)))
            self.hands.append(scale_keypoints(clip.poses.hands, size, (height, width)))
            self.index.extend((ci, t) for t in range(1, n))
        if not self.index:
            raise DataError("the target clips hold fewer than 2 frames: nothing to train on")
        # (height, width) to draw stick figures at in __getitem__ (the trainer sets it per phase when
        # data.render_sticks is "loader"); None leaves them to the training step.
        self.stick_size: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ci, t = self.index[i]
        frames = np.ascontiguousarray(self.frames[ci][t - 1 : t + 1].transpose(0, 3, 1, 2))
        item = {
            "frames": torch.from_numpy(frames),
            "body": torch.from_numpy(self.body[ci][t - 1 : t + 1]),
            "face": torch.from_numpy(self.face[ci][t - 1 : t + 1]),
            "hands": torch.from_numpy(self.hands[ci][t - 1 : t + 1]),
        }
        if self.stick_size is not None:
            from .stick_figure import render_stick_figures

            h, w = self.stick_size
            factor = torch.tensor([w / self.width, h / self.height, 1.0])
            sticks = render_stick_figures(
                item["body"] * factor, item["face"] * factor, item["hands"] * factor, h, w
            )
            item["sticks"] = sticks.mul_(255.0).round_().to(torch.uint8)  # (2, 3, h, w), like frames
        return item


def steps_per_epoch(n_items: int, global_batch: int, cap: int | None = None) -> int:
    steps = n_items // global_batch
    if steps < 1:
        raise DataError(
            f"{n_items} training pairs cannot fill one batch of {global_batch}; lower optim.batch_size"
        )
    return min(steps, cap) if cap else steps


def shard_of_batch(global_batch: int, world_size: int, rank: int) -> tuple[int, int]:
    """``(start, stop)`` of worker ``rank``'s slice of a global batch; sizes differ by at most one."""
    base, extra = divmod(global_batch, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def epoch_batches(
    n_items: int, global_batch: int, world_size: int, rank: int, seed: int, epoch: int, n_steps: int
) -> list[list[int]]:
    """This worker's item indices for each of the epoch's ``n_steps`` global batches."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_items, generator=generator).tolist()
    first, last = shard_of_batch(global_batch, world_size, rank)
    return [order[step * global_batch + first : step * global_batch + last] for step in range(n_steps)]


class BatchList(Sampler[list[int]]):
    """A batch sampler over a precomputed list of batches (the rest of an epoch when resuming)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


__all__ = [
    "BatchList",
    "Clip",
    "DataError",
    "PairDataset",
    "cached_frames",
    "clip_ids",
    "data_fingerprint",
    "epoch_batches",
    "load_clips",
    "load_target_clips",
    "resize_frames",
    "scale_keypoints",
    "shard_of_batch",
    "steps_per_epoch",
    "to_uint8_images",
]
