"""Shared fixtures: one tiny consented dataset, rendered and detected for real, built once per session."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from forensics.config import DetectorConfig, load_detector_config

SIZE = 128
ROOT = Path(__file__).resolve().parents[1]

# Ray reads its authentication mode once, when it is first imported; connecting to a cluster started
# with `ray start` (tests/test_cluster.py) needs token mode, which local clusters use by default too.
os.environ.setdefault("RAY_AUTH_MODE", "token")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset folder with one target (3 s) and one source (2 s) at 128×128, built by the real pipeline."""
    from dataset.build import BuildOptions, build_dataset
    from dataset.consent import write_synthetic_consent
    from dataset.demo import generate_demo

    root = tmp_path_factory.mktemp("tiny-dataset")
    raw = root / "raw"
    clips = generate_demo(
        raw, seed=5, target_seconds=3.0, source_seconds=2.0, n_sources=1, size=SIZE, progress=False
    )
    for subject in sorted({c.subject_id for c in clips}):
        roles = [c.role for c in clips if c.subject_id == subject]
        write_synthetic_consent(raw / subject, subject, roles, signed=date(2026, 1, 1))
    out = root / "dataset"
    build_dataset(
        BuildOptions(
            raw_dir=raw,
            out_dir=out,
            as_of=date(2026, 6, 1),
            cache_dir=root / "poses",
            workers=2,
            progress=False,
        )
    )
    return out


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Decoded frames and poses go to a per-session cache, never the user's (Ray workers inherit it)."""
    os.environ["DANCENOW_CACHE"] = str(tmp_path_factory.mktemp("dancenow-cache"))
    # Provenance records are signed with a per-session key, never the user's.
    os.environ["DANCENOW_SIGNING_KEY"] = str(tmp_path_factory.mktemp("keys") / "provenance-ed25519.pem")


@pytest.fixture(scope="session")
def face_model(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A really trained tiny model: body then face stage of the tiny config, 1 Ray worker, a few steps
    each (transfer and evaluation tests share it)."""
    import ray

    from synthesis.config import load_config
    from synthesis.train import init_ray, train

    out = tmp_path_factory.mktemp("runs")
    config = load_config(
        Path(__file__).resolve().parents[1] / "ray_configs" / "tiny_test.yaml",
        [f"data.dataset={tiny_dataset}", f"runtime.output_dir={out}", "name=tiny-face-model"],
    )
    started = init_ray(num_cpus=2)
    try:
        train(config, "body")
        result = train(config, "face")
    finally:
        if started:
            ray.shutdown()
    return result.checkpoint


# --------------------------------------------------------------------------------------------------
# The learned detector, really trained on the tiny dataset's real clips and the tiny models' videos
# (test_detector and the dashboard's forensics pages share it).


@dataclass
class TinyDetector:
    config: DetectorConfig
    checkpoint: Path
    data: Path
    results: dict
    folder: Path  # holds data/, runs/ and results/ (the evaluation's results folder)


def _detector_config(tiny_dataset: Path, face_model: Path, out: Path, source_subject: str) -> DetectorConfig:
    run = face_model.parent
    generators = [
        {"name": "ts-face", "model": str(face_model)},
        {"name": "ts-step2", "model": str(run / "body"), "step": 2},
        {"name": "ts", "model": str(run / "body.pt"), "held_out": True},
    ]
    return load_detector_config(
        ROOT / "ray_configs" / "detector_demo.yaml",
        [
            "name=tiny-detector",
            f"data.dataset={tiny_dataset}",
            f"data.folder={out / 'data'}",
            f"data.generators={json.dumps(generators)}",
            f"data.test_subjects=[{source_subject}]",
            "data.max_frames_per_video=72",
            "data.max_real_frames=72",
            "data.segment_frames=12",
            "data.frames_per_segment=4",
            "model.input_size=64",
            "optim.batch_size=16",
            "optim.epochs=4",
            "optim.lr=0.0005",
            "runtime.num_workers=2",
            "runtime.checkpoint_every=5",
            "runtime.log_every=5",
            f"runtime.output_dir={out / 'runs'}",
        ],
    )


@pytest.fixture(scope="session")
def tiny_detector(
    tiny_dataset: Path, face_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> TinyDetector:
    import ray

    from forensics.data import build_detector_data
    from forensics.evaluate import evaluate_detector
    from forensics.train import train_detector
    from synthesis.data import load_clips
    from synthesis.train import init_ray

    out = tmp_path_factory.mktemp("detector")
    source_subject = load_clips(str(tiny_dataset), "source")[0].subject_id
    config = _detector_config(tiny_dataset, face_model, out, source_subject)
    build_detector_data(config, progress=False)
    started = init_ray(num_cpus=2)
    try:
        result = train_detector(config)
    finally:
        if started:
            ray.shutdown()
    results = evaluate_detector(
        result.checkpoint, out / "results", conditions=["jpeg-50", "h264-250k", "resize-0.5"], progress=False
    )
    return TinyDetector(config, result.checkpoint, Path(config.data.folder), results, out)
