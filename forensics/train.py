"""Training the detector on Ray Train: one loop every worker runs, top to bottom.

Each worker holds the training crops (``crops.npz`` of ``dancenow forensics data``), takes its
disjoint slice of every global batch (the same per-epoch permutation everywhere, from the seed),
augments each crop as Wang et al. 2020 do (blur and JPEG, each with probability 0.5) plus rescaling,
the H.264 copy, box jitter and flips, and fine-tunes the ImageNet classifier with a class-balanced
binary cross-entropy. DDP averages the gradients; rank 0 logs and checkpoints. A run started again
with the same name resumes from Ray's latest checkpoint; when every step is done, the driver scores
the validation crops, calibrates the verdict thresholds (frame and video) and writes
``RUN/detector.pt``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dataset.files import atomic_write_text, sha256_file
from synthesis.checkpoint import CHECKPOINT_FILE, save_checkpoint
from synthesis.data import epoch_batches
from synthesis.train import (
    TrainingError,
    fit_on_ray,
    log_line,
    reduce_mean,
    report_checkpoint,
    retain_freed_memory,
    rewind_log,
    say,
    start_worker,
)

from .classifier import SyntheticFrameClassifier, build_classifier, images_to_tensor
from .config import AugmentConfig, DetectorConfig, validate_detector_config
from .crops import gaussian_blur, jpeg, rescale
from .data import CROPS_FILE, load_detector_data

FORMAT = "dancenow-detector-checkpoint"
FORMAT_VERSION = 1
DETECTOR_FILE = "detector.pt"


class DetectorCheckpointError(ValueError):
    """A detector checkpoint cannot be used; the message names the file and the fix."""


def augment_crop(
    stored: np.ndarray, size: int, augment: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """One training view of a stored crop: a jittered ``size`` window, flip, rescale, blur, JPEG."""
    import cv2

    full = stored.shape[0]
    side = size * rng.uniform(1 - augment.jitter, 1 + augment.jitter)
    side = min(side, full)
    slack = (full - side) / 2
    cx = full / 2 + rng.uniform(-slack, slack)
    cy = full / 2 + rng.uniform(-slack, slack)
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = round(side)
    x0, y0 = min(max(x0, 0), full - s), min(max(y0, 0), full - s)
    image = cv2.resize(stored[y0 : y0 + s, x0 : x0 + s], (size, size), interpolation=cv2.INTER_AREA)
    if augment.flip and rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < augment.resize_prob:
        image = rescale(image, rng.uniform(augment.resize_min, 1.0))
    if rng.random() < augment.blur_prob:
        image = gaussian_blur(image, rng.uniform(0, augment.blur_sigma_max))
    if rng.random() < augment.jpeg_prob:
        image = jpeg(np.ascontiguousarray(image), int(rng.integers(augment.jpeg_quality_min, 101)))
    return np.ascontiguousarray(image)


def center_crop(stored: np.ndarray, size: int) -> np.ndarray:
    """The un-jittered ``size`` view of a stored crop: its middle, which is the person's box (what
    inference crops from a frame directly)."""
    start = (stored.shape[0] - size) // 2
    return np.ascontiguousarray(stored[start : start + size, start : start + size])


def _load_crops(folder: str) -> dict[str, np.ndarray]:
    with np.load(Path(folder) / CROPS_FILE) as crops:
        return {key: crops[key] for key in crops.files}


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    import warnings

    import ray.train
    import ray.train.torch

    # DDP's bucket views disagree with the 1×1 convolutions' gradient strides, harmlessly (it says so).
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    config = validate_detector_config(loop_config["config"], origin="detector train loop")
    run_dir = Path(loop_config["run_dir"])
    rank, world, device = start_worker(config.runtime)
    is_chief = rank == 0

    # 1. Data: the training crops (validation crops stay out), each with its label.
    crops = _load_crops(loop_config["data_folder"])
    train_items = np.flatnonzero(crops["split"] == 0)
    labels = crops["label"][train_items]
    n_synthetic = int(labels.sum())
    pos_weight = torch.tensor((len(labels) - n_synthetic) / max(n_synthetic, 1), device=device)
    batch = config.optim.batch_size
    epoch_steps = max(len(train_items) // batch, 1)
    total_steps = max(math.ceil(config.optim.epochs * epoch_steps), 1)

    # 2. The model: ImageNet trunk (real weights or an error), new head; DDP over the workers.
    classifier, backbone = build_classifier(config.model.backbone, config.model.dropout, pretrained=True)
    model = ray.train.torch.prepare_model(classifier)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
    )

    # 3. Where to start: Ray's latest checkpoint of this run (resume), else step 0.
    step = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_detector_checkpoint(Path(folder) / CHECKPOINT_FILE, finished=False)
        if state.get("data_created") != loop_config["data_created"]:
            raise DetectorCheckpointError(
                f"{run_dir}: its checkpoint was trained on other detector data; choose another run name"
            )
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    log_path = run_dir / "detector-log.jsonl"
    if is_chief:
        rewind_log(log_path, step)
        log_line(log_path, {"event": "start", "resumed_at": step, "workers": world, "device": str(device),
                            "backbone": backbone, "train_crops": len(train_items), "steps": total_steps,
                            "time": time.time()})  # fmt: skip
        say(f"[detector] {len(train_items)} training crops ({n_synthetic} synthetic), {total_steps} steps, "
            f"{world} worker(s), backbone {backbone['name'] if backbone else '?'}")  # fmt: skip

    # 4. The steps: each worker's slice of the epoch's global batches, augmented on the fly.
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    size = config.model.input_size
    model.train()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    started = time.perf_counter()
    batches: tuple[int, list[list[int]]] | None = None  # (epoch, this worker's batches of it)
    while step < total_steps:
        epoch, in_epoch = divmod(step, epoch_steps)
        if batches is None or batches[0] != epoch:  # one permutation per epoch, not per step
            batches = (
                epoch,
                epoch_batches(len(train_items), batch, world, rank, config.runtime.seed, epoch, epoch_steps),
            )
        mine = batches[1][in_epoch]
        rng = np.random.default_rng([config.runtime.seed, step, rank])
        views = []
        for i in train_items[mine]:
            source = crops["h264"] if rng.random() < config.augment.h264_prob else crops["clean"]
            views.append(augment_crop(source[i], size, config.augment, rng))
        x = images_to_tensor(np.stack(views)).to(device)
        y = torch.from_numpy(crops["label"][train_items[mine]]).float().to(device)
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        accuracy = ((logits.detach() > 0).float() == y).float().mean()
        for key, value in {"loss": loss.detach(), "accuracy": accuracy}.items():
            sums[key] = sums.get(key, torch.zeros((), device=device)) + value
        count += 1
        finished = step == total_steps
        if step % config.runtime.log_every == 0 or finished:
            metrics = reduce_mean(sums, count, world)
            sums, count = {}, 0
            if is_chief:
                rate = batch * config.runtime.log_every / max(time.perf_counter() - started, 1e-9)
                log_line(
                    log_path,
                    {"step": step, "epoch": epoch, **metrics, "crops_per_s": rate, "time": time.time()},
                )
                say(
                    f"[detector] step {step}/{total_steps} loss {metrics['loss']:.4f} accuracy {metrics['accuracy']:.3f}"
                )
            started = time.perf_counter()
        if step % config.runtime.checkpoint_every == 0 or finished:
            state = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "step": step,
                "total_steps": total_steps,
                "finished": finished,
                "config": config.model_dump(mode="json"),
                "model": _unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "backbone": backbone,
                "data_created": loop_config["data_created"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            report_checkpoint(state, {"step": step, "finished": finished}, is_chief)


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", model)  # DDP wraps the classifier
    assert isinstance(inner, nn.Module)
    return inner


# ----------------------------------------------------------------------------------------------
# Checkpoints and inference
# ----------------------------------------------------------------------------------------------


def load_detector_checkpoint(path: str | os.PathLike[str], *, finished: bool = True) -> dict[str, Any]:
    """Load a detector checkpoint; ``finished`` also requires the calibrated thresholds."""
    from synthesis.checkpoint import FORMAT as SYNTHESIS_FORMAT
    from synthesis.checkpoint import UnreadableTorchFile, torch_load_safely

    path = Path(path)
    fix = "train one with `dancenow forensics train` and pass RUN/detector.pt"
    if not path.is_file():
        raise DetectorCheckpointError(f"{path}: no such detector checkpoint; {fix}")
    try:
        state = torch_load_safely(path)
    except UnreadableTorchFile as exc:
        raise DetectorCheckpointError(f"{path}: not a readable checkpoint ({exc}); {fix}") from None
    kind = state.get("format") if isinstance(state, dict) else None
    if kind == SYNTHESIS_FORMAT:
        raise DetectorCheckpointError(f"{path}: a synthesis model (`dancenow train`), not a detector; {fix}")
    if kind != FORMAT or state.get("format_version") != FORMAT_VERSION:
        raise DetectorCheckpointError(f"{path}: not a dancenow detector checkpoint (format {kind!r}); {fix}")
    if finished and "thresholds" not in state:
        raise DetectorCheckpointError(
            f"{path}: training did not finish (no calibrated threshold); run it again to resume"
        )
    state["path"] = str(path)
    return state


@dataclass
class Detector:
    """A trained detector ready for inference."""

    model: SyntheticFrameClassifier
    config: DetectorConfig
    thresholds: dict[str, float]  # "frame" and "video"
    state: dict[str, Any]

    @property
    def input_size(self) -> int:
        return self.config.model.input_size

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.state["path"],
            "sha256": sha256_file(self.state["path"]),
            "backbone": (self.state.get("backbone") or {}).get("name"),
            "input_size": self.input_size,
            "threshold": self.thresholds,
            "trained_on": self.state.get("trained_on"),
            "steps": self.state.get("step"),
        }

    @torch.inference_mode()
    def frame_scores(self, crops: np.ndarray, batch: int = 64) -> np.ndarray:
        """Probabilities (N,) that each ``(N, S, S, 3)`` uint8 crop (already at the input size) is synthetic."""
        out = []
        for start in range(0, len(crops), batch):
            out.append(torch.sigmoid(self.model(images_to_tensor(crops[start : start + batch]))).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)


def load_detector(path: str | os.PathLike[str]) -> Detector:
    retain_freed_memory()  # inference reuses the same large buffers: no page faults per batch
    state = load_detector_checkpoint(path)
    config = validate_detector_config(state["config"], origin=str(path))
    model, _ = build_classifier(config.model.backbone, config.model.dropout, pretrained=False)
    model.load_state_dict(state["model"])
    model.eval()
    return Detector(model, config, dict(state["thresholds"]), state)


# ----------------------------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------------------------


@dataclass
class DetectorTrainResult:
    checkpoint: Path
    steps: int
    thresholds: dict[str, float]
    validation: dict[str, Any]


def _segment_scores(
    scores: np.ndarray, labels: np.ndarray, groups: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per (video, segment) group, in sorted order: its label and its video score."""
    from .metrics import video_scores

    buckets: dict[tuple[int, int], list[float]] = {}
    label_of: dict[tuple[int, int], int] = {}
    for g, s, y in zip(groups, scores, labels, strict=True):
        buckets.setdefault(g, []).append(float(s))
        label_of[g] = int(y)
    keys = sorted(buckets)
    return np.asarray([label_of[k] for k in keys]), np.asarray([video_scores(buckets[k]) for k in keys])


def calibrate(
    detector_model: SyntheticFrameClassifier, config: DetectorConfig, crops: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Thresholds for frame and video verdicts from the validation crops, and the metrics there."""
    from .metrics import calibrate_threshold, detection_metrics

    val = np.flatnonzero(crops["split"] == 1)
    if len(val) == 0 or len(set(crops["label"][val].tolist())) < 2:
        raise TrainingError(
            "the validation crops lack a class, so no threshold can be calibrated; raise data.val_fraction"
        )
    size = config.model.input_size
    views = np.stack([center_crop(crops["clean"][i], size) for i in val])
    detector = Detector(detector_model.eval(), config, {}, {})
    scores = detector.frame_scores(views)
    labels = crops["label"][val]
    groups = list(zip(crops["video"][val].tolist(), crops["segment"][val].tolist(), strict=True))
    video_labels, video = _segment_scores(scores, labels, groups)
    thresholds = {
        "frame": calibrate_threshold(labels, scores),
        "video": calibrate_threshold(video_labels, video),
    }
    validation = {
        "frame": detection_metrics(labels, scores, thresholds["frame"]),
        "video": detection_metrics(video_labels, video, thresholds["video"]),
    }
    return thresholds, validation


RUN_STAMP = "run.json"  # what a run's checkpoints were trained on


def _run_stamp(config: DetectorConfig, data_created: str) -> dict[str, Any]:
    settings = config.model_dump(mode="json")
    settings.pop("runtime")  # workers, checkpoint and log intervals may change between sessions
    return {"settings": settings, "data_created": data_created}


def _set_aside_stale_run(run_dir: Path, config: DetectorConfig, data_created: str) -> None:
    """A run folder whose checkpoints were trained on other data or settings must not be resumed:
    move them aside (``RUN/stale-TIME/``), so the new training starts from step 0 and loses nothing."""
    stamp = run_dir / RUN_STAMP
    ray_folder = run_dir / "detector"
    if not ray_folder.exists():
        return
    try:
        old = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old == _run_stamp(config, data_created):
        return  # the same run: Ray resumes it from its latest checkpoint
    aside = run_dir / f"stale-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir()
    for name in ("detector", "detector-log.jsonl", RUN_STAMP, DETECTOR_FILE):
        if (run_dir / name).exists():
            os.replace(run_dir / name, aside / name)
    say(
        f"{run_dir}: its checkpoints were trained on other data or settings; moved them to {aside} and starting afresh"
    )


def train_detector(config: DetectorConfig) -> DetectorTrainResult:
    """Train ``config``'s detector on Ray Train (resuming a run of the same name) and calibrate it."""
    config = config.model_copy(deep=True)
    config.runtime.output_dir = str(Path(config.runtime.output_dir).resolve())
    data = load_detector_data(config.data.folder)  # fail here, not inside a worker
    run_dir = config.run_dir
    final = run_dir / DETECTOR_FILE
    if final.is_file():
        done = load_detector_checkpoint(final)
        if (
            done.get("config") == config.model_dump(mode="json")
            and done.get("data_created") == data.manifest["created"]
        ):
            say(
                f"{final}: this detector already finished ({done['step']} steps); remove it or choose another name to retrain"
            )
            return DetectorTrainResult(
                final, int(done["step"]), done["thresholds"], done.get("validation", {})
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    _set_aside_stale_run(run_dir, config, data.manifest["created"])
    atomic_write_text(run_dir / "config.yaml", config.to_yaml())
    atomic_write_text(run_dir / RUN_STAMP, json.dumps(_run_stamp(config, data.manifest["created"]), indent=1))
    loop_config = {
        "config": config.model_dump(mode="json"),
        "run_dir": str(run_dir),
        "data_folder": str(Path(config.data.folder).resolve()),
        "data_created": data.manifest["created"],
    }
    result = fit_on_ray(
        train_loop_per_worker,
        loop_config,
        config.runtime,
        name="detector",
        storage=run_dir,
        what=f"detector {config.name}",
    )
    with result.checkpoint.as_directory() as folder:
        state = load_detector_checkpoint(Path(folder) / CHECKPOINT_FILE, finished=False)
    state.pop("path", None)
    model, _ = build_classifier(config.model.backbone, config.model.dropout, pretrained=False)
    model.load_state_dict(state["model"])
    thresholds, validation = calibrate(model, config, _load_crops(config.data.folder))
    state.pop("optimizer", None)  # inference needs none of it; the run folder keeps Ray's copies
    state |= {
        "thresholds": thresholds,
        "validation": validation,
        "trained_on": config.seen_generators,
        "data_folder": str(Path(config.data.folder).resolve()),
        "data_created": data.manifest["created"],
    }
    save_checkpoint(state, final)
    say(
        f"[detector] calibrated on {validation['video']['n']} validation segments: threshold frame "
        f"{thresholds['frame']:.3f}, video {thresholds['video']:.3f}; wrote {final}"
    )
    return DetectorTrainResult(final, int(state["step"]), thresholds, validation)


__all__ = [
    "DETECTOR_FILE",
    "FORMAT",
    "Detector",
    "DetectorCheckpointError",
    "DetectorTrainResult",
    "augment_crop",
    "center_crop",
    "load_detector",
    "load_detector_checkpoint",
    "train_detector",
    "train_loop_per_worker",
]
