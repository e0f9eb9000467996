"""Typed training configuration, loadable from the YAML files in ``ray_configs/``.

One :class:`TrainConfig` describes a whole model: the data it learns from, the networks' sizes, the
losses, the optimiser and schedule, and how Ray runs it. Every field has a default, so a YAML file
names only what it changes; unknown keys are errors (a typo must not silently train the wrong
model). ``--set section.field=value`` overrides apply on top of the file.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    dataset: str = Field("outputs/demo/dataset", description="dataset folder or Hub repo id (ORG/NAME)")
    subject: str | None = Field(None, description="target subject id; None = the dataset's only target")
    height: int = Field(256, ge=16, description="output frame height in pixels (full resolution)")
    width: int = Field(256, ge=16, description="output frame width in pixels (full resolution)")
    max_frames: int | None = Field(None, ge=2, description="use at most this many training frames per clip")
    loader_workers: int = Field(0, ge=0, description="DataLoader worker processes per training worker")
    render_sticks: Literal["auto", "loader", "step"] = Field(
        "auto",
        description="where stick figures are drawn: 'loader' in the DataLoader's worker processes, ahead "
        "of the step; 'step' on the training device inside the step; auto = loader on GPU, step on CPU",
    )
    cache_dir: str | None = Field(None, description="decoded-frame cache; None = $DANCENOW_CACHE/frames")


class ModelConfig(_Section):
    temporal: bool = Field(True, description="feed the previous frame to G and pairs to D (paper's T.S.)")
    ngf: int = Field(64, ge=1, description="global generator base channels")
    n_downsample: int = Field(4, ge=1, description="global generator stride-2 convolutions")
    n_blocks: int = Field(9, ge=0, description="global generator residual blocks")
    local_enhancer: bool = Field(False, description="add the full-resolution local enhancer branch")
    local_ngf: int = Field(
        32, ge=1, description="local enhancer channels (the global's ngf must be twice this)"
    )
    local_blocks: int = Field(3, ge=0, description="local enhancer residual blocks")
    ndf: int = Field(64, ge=1, description="discriminator base channels")
    n_layers_d: int = Field(3, ge=1, description="PatchGAN layers per discriminator")
    num_d: int = Field(2, ge=1, description="discriminator scales at full resolution")
    num_d_global: int = Field(
        2, ge=1, description="discriminator scales while training the global generator alone"
    )
    norm: Literal["instance", "batch", "none"] = "instance"

    @model_validator(mode="after")
    def _local_matches_global(self) -> ModelConfig:
        if self.local_enhancer and self.ngf != 2 * self.local_ngf:
            raise ValueError(f"model.ngf ({self.ngf}) must be twice model.local_ngf ({self.local_ngf})")
        return self


class FaceConfig(_Section):
    ngf: int = Field(64, ge=1, description="face residual generator base channels")
    n_downsample: int = Field(3, ge=1)
    n_blocks: int = Field(5, ge=0)
    ndf: int = Field(64, ge=1, description="face PatchGAN base channels")
    n_layers_d: int = Field(3, ge=1)
    box_size: int | None = Field(
        None, ge=16, description="face box side; None = 128 at 512 px height, scaled"
    )


class LossConfig(_Section):
    lambda_fm: float = Field(10.0, ge=0, description="feature-matching weight")
    lambda_vgg: float = Field(10.0, ge=0, description="perceptual (VGG) weight; 0 disables the VGG loss")
    face_vgg_weight: float = Field(
        0.5, ge=0, description="weight of the face-crop VGG loss (times lambda_vgg)"
    )
    backbone: Literal["auto", "vgg19", "vgg16"] = Field(
        "auto",
        description="perceptual backbone: auto = VGG19 if cached or downloadable, else VGG16 shipped offline",
    )


class OptimConfig(_Section):
    lr: float = Field(2e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    batch_size: int = Field(1, ge=1, description="global batch (pairs per step over all workers)")


class ScheduleConfig(_Section):
    global_epochs: float = Field(5, ge=0, description="epochs of the global generator alone")
    local_fix_global_epochs: float = Field(
        10, ge=0, description="local-enhancer epochs with the global frozen"
    )
    local_epochs: float = Field(
        30, ge=0, description="local-enhancer epochs in all (including the frozen ones)"
    )
    face_epochs: float = Field(5, ge=0, description="face GAN epochs")
    face_d_only_epochs: float = Field(
        1, ge=0, description="face epochs that train only the face discriminator"
    )
    decay_fraction: float = Field(
        0.5, ge=0, le=1, description="last share of each phase with lr decaying to 0"
    )
    steps_per_epoch: int | None = Field(None, ge=1, description="cap on steps per epoch (demos and tests)")


#: ``auto`` resolves to bf16 or fp32 per device (synthesis/precision.py).
Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


class RuntimeConfig(_Section):
    num_workers: int | tuple[int, int] = Field(
        1,
        description="Ray Train workers (DDP when > 1); [MIN, MAX] for elastic training: Ray starts as many "
        "as the cluster has room for and resizes when nodes come or go",
    )
    use_gpu: bool = Field(False, description="one GPU per worker")
    cpus_per_worker: int = Field(1, ge=1, description="CPU threads (and Ray CPUs) per worker")
    ray_address: str | None = Field(None, description="existing Ray cluster; None = start a local one")
    precision: Precision = Field(
        "fp32",
        description="bf16 autocast, fp32, or auto: bf16 where the hardware has it (GPU, CPU with AVX512-BF16 or "
        "AMX), else fp32 (bf16 without it runs many times slower)",
    )
    channels_last: bool = Field(False, description="channels_last memory format for convolutions")
    compile: bool = Field(False, description="torch.compile the generator and discriminators")
    activation_checkpointing: bool = Field(
        False, description="recompute generator activations in backward: less memory, about a third more time"
    )
    seed: int = 0
    output_dir: str = Field("outputs/runs", description="runs live in OUTPUT_DIR/NAME")
    checkpoint_every: int = Field(200, ge=1, description="steps between checkpoints")
    sample_every: int = Field(200, ge=1, description="steps between sample images")
    log_every: int = Field(10, ge=1, description="steps between log lines")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints Ray keeps per stage")
    max_failures: int = Field(0, ge=-1, description="worker failures to survive (-1 = unlimited)")
    elastic_resize_interval_s: float = Field(
        60.0, ge=0, description="elastic runs: seconds between Ray's checks for room to add workers"
    )
    stop_after_steps: int | None = Field(
        None,
        ge=1,
        description="checkpoint and stop after this many steps of this session (run again to resume)",
    )

    @model_validator(mode="after")
    def _worker_range(self) -> RuntimeConfig:
        if self.min_workers < 1 or self.min_workers > self.max_workers:
            raise ValueError(
                f"runtime.num_workers must be a count >= 1 or [MIN, MAX] with 1 <= MIN <= MAX, not {self.num_workers}"
            )
        return self

    @property
    def min_workers(self) -> int:
        return self.num_workers if isinstance(self.num_workers, int) else self.num_workers[0]

    @property
    def max_workers(self) -> int:
        return self.num_workers if isinstance(self.num_workers, int) else self.num_workers[1]

    @property
    def elastic(self) -> bool:
        return not isinstance(self.num_workers, int)


class TrainConfig(_Section):
    kind: ClassVar[str] = "training config"
    example: ClassVar[str] = (
        "`dancenow train` takes one such as ray_configs/demo_cpu.yaml or ray_configs/paper_1024x512.yaml"
    )

    name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run name")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    face: FaceConfig = FaceConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        # optim.batch_size is the global batch, split over however many workers run (elastic runs
        # resize), so every worker needs at least one item of it.
        if self.optim.batch_size < self.runtime.max_workers:
            raise ValueError(
                f"optim.batch_size ({self.optim.batch_size}) is the global batch and must be at least "
                f"the largest worker count in runtime.num_workers ({self.runtime.max_workers})"
            )
        factor = 2 ** (self.model.n_downsample + (1 if self.model.local_enhancer else 0))
        if self.data.height % factor or self.data.width % factor:
            raise ValueError(
                f"data.height and data.width ({self.data.height}×{self.data.width}) must be multiples of "
                f"{factor} (2 ** model.n_downsample{', ×2 for the local enhancer' if self.model.local_enhancer else ''})"
            )
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.runtime.output_dir) / self.name

    @property
    def per_worker_batch(self) -> int:
        """Items per worker at the largest worker count (the first workers take one more if uneven)."""
        return -(-self.optim.batch_size // self.runtime.max_workers)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {key} is not a section")
    node[leaf] = value


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """``["model.ngf=32", "runtime.num_workers=2"]`` → nested dict (values parsed as YAML scalars)."""
    data: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected SECTION.FIELD=VALUE, e.g. model.ngf=32")
        key, raw = item.split("=", 1)
        _set_dotted(data, key.strip(), yaml.safe_load(raw))
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _section_fields(schema: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The field names of the section at ``path`` in ``schema`` ([] where it is not a section)."""
    model = schema
    for name in path:
        field = model.model_fields.get(str(name))
        section = field.annotation if field is not None else None
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            return []
        model = section
    return list(model.model_fields)


def _describe(exc: ValidationError, schema: type[BaseModel]) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":  # a typo, most often: name the field it is closest to
            *section, name = err["loc"]
            fields = _section_fields(schema, tuple(section))
            close = difflib.get_close_matches(str(name), fields, n=1)
            if close:
                hint = f" (did you mean {'.'.join([*map(str, section), close[0]])}?)"
            else:  # nothing alike: say what this section does have
                hint = f" (known here: {', '.join(fields)})" if fields else ""
            parts.append(f"{where}: unknown field{hint}")
        else:
            parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _leaf_count(data: Any) -> int:
    return sum(_leaf_count(v) for v in data.values()) if isinstance(data, dict) and data else 1


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    try:
        for key in loc:
            data = data[key]
    except (KeyError, IndexError, TypeError):
        return None
    return data


def _wrong_kind(schema: type[BaseModel], data: dict[str, Any], exc: ValidationError) -> str | None:
    """Why ``data`` is another kind of file altogether, when it plainly is (else None)."""
    if {"provider", "available_node_types", "head_node_type"} & data.keys():
        return "a Ray cluster launcher config (for `ray up`)"
    if {"apiVersion", "kind"} <= data.keys():
        return f"a Kubernetes manifest (kind {data['kind']}, for `kubectl apply`)"
    errors = exc.errors()
    unknown = [e["loc"] for e in errors if e["type"] == "extra_forbidden"]
    unknown_leaves = sum(_leaf_count(_value_at(data, loc)) for loc in unknown)
    leaves = _leaf_count(data)
    # Mostly fields this schema lacks: another command's config (a typo or two reads as usual).
    if len(unknown) == len(errors) and unknown_leaves >= 3 and unknown_leaves > leaves / 2:
        shown = ", ".join(".".join(map(str, loc)) for loc in unknown[:3]) + (
            ", ..." if len(unknown) > 3 else ""
        )
        return (
            f"a config for another command ({unknown_leaves} of its {leaves} settings are unknown: {shown})"
        )
    return None


def config_from_dict(data: dict[str, Any], origin: str = "config") -> TrainConfig:
    return validate_config(TrainConfig, data, origin)


SectionT = TypeVar("SectionT", bound=BaseModel)


def validate_config(schema: type[SectionT], data: dict[str, Any], origin: str = "config") -> SectionT:
    """``data`` validated into ``schema``; a :class:`ConfigError` naming ``origin`` and the fields otherwise."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        other = _wrong_kind(schema, data, exc)
        if other is not None:
            kind = getattr(schema, "kind", "config")
            example = getattr(schema, "example", "")
            raise ConfigError(
                f"{origin}: {other}, not a {kind}" + (f"; {example}" if example else "")
            ) from None
        raise ConfigError(f"{origin}: {_describe(exc, schema)}") from None


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> TrainConfig:
    """The training config in ``path`` (YAML) with ``overrides`` applied; defaults alone when ``path`` is None."""
    return load_typed_config(TrainConfig, path, overrides)


def load_typed_config(
    schema: type[SectionT], path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> SectionT:
    """A ``schema`` config from ``path`` (YAML) with ``overrides`` applied; defaults alone when ``path`` is None."""
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read ({exc.strerror}); pass a YAML file from ray_configs/"
            ) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of sections (data, model, ...), got {type(loaded).__name__}"
            )
        data = loaded
    if overrides:
        data = _merge(data, parse_overrides(overrides))
        origin += " with --set overrides"
    return validate_config(schema, data, origin)


__all__ = [
    "ConfigError",
    "DataConfig",
    "FaceConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "load_typed_config",
    "parse_overrides",
    "validate_config",
]
