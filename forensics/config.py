"""Typed configuration of the learned real-vs-synthetic detector, loadable from ``ray_configs/``.

One :class:`DetectorConfig` describes the detector's data (which dataset gives the real frames,
which trained dancenow models give the synthetic ones, which of them and which motions are held out
for testing), the classifier, the augmentations of Wang et al. 2020, the optimiser and how Ray runs
the training. Unknown keys are errors; ``--set section.field=value`` overrides apply on top.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, model_validator

from synthesis.config import RuntimeConfig, _Section, load_typed_config, validate_config

DEFAULT_DETECTOR_PATH = Path("outputs/runs/detector-demo/detector.pt")  # what `make demo` trains
# The conditions of `forensics evaluate`'s robustness table, in its order (made in forensics.evaluate);
# here so that the command line names them without importing the evaluation.
ROBUSTNESS_CONDITIONS = (
    "clean",
    "jpeg-75",
    "jpeg-50",
    "h264-500k",
    "h264-250k",
    "resize-0.5",
    "blur-1",
    "blur-2",
)


class GeneratorSpec(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="short name used in the results")
    model: str = Field(description="checkpoint file, or a run's stage folder (RUN/body) together with step")
    step: int | None = Field(
        None, ge=1, description="take the run's checkpoint at this step (an earlier training length)"
    )
    use_face: bool = Field(True, description="add the face GAN's residual when the checkpoint has one")
    held_out: bool = Field(
        False, description="never trained on: its videos test generalisation to unseen generators"
    )


class DetectorDataConfig(_Section):
    dataset: str = Field("outputs/demo/dataset", description="dataset folder: real target and source clips")
    folder: str = Field(
        "outputs/forensics/demo-data", description="where the detector's videos, manifest and crops go"
    )
    generators: list[GeneratorSpec] = Field(
        default_factory=list, description="trained dancenow models that make the synthetic videos"
    )
    test_subjects: list[str] = Field(
        default_factory=list,
        description="source subjects whose motion is only used for testing (with the target's test split)",
    )
    max_frames_per_video: int = Field(300, ge=2, description="frames taken from each synthetic video")
    max_real_frames: int = Field(1200, ge=2, description="frames taken from each real clip")
    segment_frames: int = Field(
        60, ge=1, description="frames per video segment, the unit of video-level verdicts"
    )
    val_fraction: float = Field(
        0.2, ge=0, lt=1, description="last share of each training video kept out to calibrate the threshold"
    )
    h264_bit_rates: list[int] = Field(
        default_factory=lambda: [250_000, 500_000, 1_000_000],
        description="bit rates (bits/s) of the H.264 re-encoded copy of each training video (augmentation)",
    )
    frames_per_segment: int = Field(12, ge=1, description="frames cropped per segment, spread evenly")


class ClassifierConfig(_Section):
    backbone: Literal["auto", "mobilenet_v2", "resnet50"] = Field(
        "auto", description="ImageNet trunk; auto = MobileNetV2 (its weights ship in a package)"
    )
    input_size: int = Field(96, ge=32, description="side of the square person crop the classifier sees")
    crop_margin: float = Field(0.15, ge=0, description="crop grows by this share of the person's height")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout before the final linear layer")


class AugmentConfig(_Section):
    blur_prob: float = Field(0.5, ge=0, le=1, description="chance of a Gaussian blur (Wang et al.: 0.5)")
    blur_sigma_max: float = Field(3.0, ge=0, description="blur sigma drawn from [0, this] (Wang et al.: 3)")
    jpeg_prob: float = Field(0.5, ge=0, le=1, description="chance of a JPEG re-encoding (Wang et al.: 0.5)")
    jpeg_quality_min: int = Field(30, ge=1, le=100, description="JPEG quality drawn from [this, 100]")
    resize_prob: float = Field(0.3, ge=0, le=1, description="chance of a down- and up-scaling")
    resize_min: float = Field(0.5, gt=0, le=1, description="smallest scale of that resizing")
    h264_prob: float = Field(0.5, ge=0, le=1, description="chance of taking the frame from the H.264 copy")
    jitter: float = Field(0.08, ge=0, description="crop box shift and scale jitter, share of its side")
    flip: bool = Field(True, description="random horizontal flips")


class DetectorOptimConfig(_Section):
    lr: float = Field(2e-4, gt=0, description="Adam learning rate")
    weight_decay: float = Field(1e-5, ge=0, description="Adam weight decay")
    batch_size: int = Field(32, ge=1, description="global batch, split over the workers")
    epochs: float = Field(3.0, gt=0, description="passes over the training crops")


class DetectorConfig(_Section):
    kind: ClassVar[str] = "detector config"
    example: ClassVar[str] = (
        "`dancenow forensics data` and `forensics train` take one such as ray_configs/detector_demo.yaml"
    )

    name: str = Field("detector-demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run name")
    data: DetectorDataConfig = DetectorDataConfig()
    model: ClassifierConfig = ClassifierConfig()
    augment: AugmentConfig = AugmentConfig()
    optim: DetectorOptimConfig = DetectorOptimConfig()
    runtime: RuntimeConfig = RuntimeConfig(checkpoint_every=50, log_every=10)

    @model_validator(mode="after")
    def _consistent(self) -> DetectorConfig:
        names = [g.name for g in self.data.generators]
        if len(set(names)) != len(names):
            raise ValueError(f"data.generators: names must differ, got {names}")
        if self.optim.batch_size < self.runtime.max_workers:
            raise ValueError(
                f"optim.batch_size ({self.optim.batch_size}) is the global batch and must be at least "
                f"the largest worker count ({self.runtime.max_workers})"
            )
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.runtime.output_dir) / self.name

    @property
    def seen_generators(self) -> list[str]:
        return [g.name for g in self.data.generators if not g.held_out]

    @property
    def held_out_generators(self) -> list[str]:
        return [g.name for g in self.data.generators if g.held_out]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_detector_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> DetectorConfig:
    """The detector config in ``path`` (YAML) with ``overrides``; defaults alone when ``path`` is None."""
    return load_typed_config(DetectorConfig, path, overrides)


def validate_detector_config(data: dict[str, Any], origin: str = "config") -> DetectorConfig:
    return validate_config(DetectorConfig, data, origin)


__all__ = [
    "DEFAULT_DETECTOR_PATH",
    "AugmentConfig",
    "ClassifierConfig",
    "DetectorConfig",
    "DetectorDataConfig",
    "DetectorOptimConfig",
    "GeneratorSpec",
    "load_detector_config",
    "validate_detector_config",
]
