"""Every YAML in ray_configs/ is valid: training configs load into the typed config, the cluster
launcher config passes Ray's own schema, and the KubeRay job names a config that exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from synthesis.config import ConfigError, TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "ray_configs"


DETECTOR_CONFIGS = sorted(CONFIGS.glob("detector_*.yaml"))


@pytest.mark.parametrize(
    "path", [p for p in sorted(CONFIGS.glob("*.yaml")) if p not in DETECTOR_CONFIGS], ids=lambda p: p.name
)
def test_training_configs_load_into_the_typed_config(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, TrainConfig)
    # Fixed worker counts split the global batch evenly (an elastic range needs only one item each).
    assert config.optim.batch_size % config.runtime.min_workers == 0 or config.runtime.elastic
    assert config.optim.batch_size >= config.runtime.max_workers


@pytest.mark.parametrize("path", DETECTOR_CONFIGS, ids=lambda p: p.name)
def test_detector_configs_load_into_their_typed_config(path: Path) -> None:
    from forensics.config import DetectorConfig, load_detector_config

    config = load_detector_config(path)
    assert isinstance(config, DetectorConfig)
    assert config.seen_generators and config.held_out_generators, "held-out generators measure generalisation"
    assert config.optim.batch_size >= config.runtime.max_workers


@pytest.mark.parametrize("gpus", [1, 8, 32])
def test_paper_configs_scale_to_1_8_and_32_gpus(gpus: int) -> None:
    name = "paper_1024x512.yaml" if gpus == 1 else f"paper_1024x512_{gpus}gpu.yaml"
    config = load_config(CONFIGS / name)
    assert config.runtime.use_gpu and config.runtime.num_workers == gpus
    assert config.per_worker_batch == 1 and config.optim.batch_size == gpus
    assert (config.data.height, config.data.width) == (512, 1024) and config.model.local_enhancer
    assert config.runtime.max_failures > 0


def test_cluster_launcher_config_passes_rays_schema() -> None:
    raw = yaml.safe_load((CONFIGS / "clusters" / "aws_gpu.yaml").read_text())
    config = prepare_config(raw)
    validate_config(config)
    workers = config["available_node_types"]["gpu_worker"]
    assert workers["resources"]["GPU"] > 0 and workers["min_workers"] == 0 and workers["max_workers"] >= 8
    assert any("/mnt/dancenow" in c for c in config["initialization_commands"]), "shared storage is mounted"
    raw["available_node_types"]["gpu_worker"]["resourcez"] = {"GPU": 1}
    with pytest.raises(Exception, match="resourcez"):
        validate_config(prepare_config(raw))


def test_kuberay_job_runs_an_existing_config_on_this_ray_version() -> None:
    job = yaml.safe_load((CONFIGS / "clusters" / "kuberay_rayjob.yaml").read_text())
    assert job["kind"] == "RayJob" and job["apiVersion"] == "ray.io/v1"
    entry = job["spec"]["entrypoint"].split()
    assert entry[:3] == ["dancenow", "train", "body"]
    assert (CONFIGS.parent / entry[entry.index("--config") + 1]).is_file()
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == ray.__version__
    (group,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]


def test_a_config_of_another_kind_is_named_for_what_it_is() -> None:
    """Handing a command the wrong YAML says what the file is and which config the command takes,
    instead of listing every field as unknown; a typo still names the field and its likely fix."""
    from forensics.config import load_detector_config

    cases = [
        (
            load_config,
            CONFIGS / "clusters" / "aws_gpu.yaml",
            r"aws_gpu\.yaml: a Ray cluster launcher config \(for `ray up`\), not a training config; "
            r"`dancenow train` takes one such as ray_configs/demo_cpu\.yaml",
        ),
        (
            load_config,
            CONFIGS / "clusters" / "kuberay_rayjob.yaml",
            r"kuberay_rayjob\.yaml: a Kubernetes manifest \(kind RayJob, for `kubectl apply`\), not a training config",
        ),
        (
            load_config,
            CONFIGS / "detector_demo.yaml",
            r"detector_demo\.yaml: a config for another command \(\d+ of its \d+ settings are unknown: "
            r"data\.folder, .*\), not a training config",
        ),
        (
            load_detector_config,
            CONFIGS / "paper_1024x512.yaml",
            r"paper_1024x512\.yaml: a config for another command .*, not a detector config; "
            r"`dancenow forensics data` .* ray_configs/detector_demo\.yaml",
        ),
    ]
    for load, path, message in cases:
        with pytest.raises(ConfigError, match=message) as caught:
            load(path)
        assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"optim\.epochz: unknown field \(did you mean optim\.epochs\?\)$"):
        load_detector_config(CONFIGS / "detector_demo.yaml", ["optim.epochz=2"])
    with pytest.raises(ConfigError, match=r"data\.hieght: unknown field \(did you mean data\.height\?\)$"):
        load_config(CONFIGS / "demo_cpu.yaml", ["data.hieght=64"])
    # nothing alike: the section's fields are listed instead
    with pytest.raises(
        ConfigError, match=r"optim\.zzz: unknown field \(known here: lr, beta1, beta2, batch_size\)$"
    ):
        load_config(CONFIGS / "demo_cpu.yaml", ["optim.zzz=1"])
