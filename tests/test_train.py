"""Training on a real local Ray cluster: loss goes down with 1 and 2 workers, resume is exact, face stage,
local enhancer phases, and clear errors for bad configs and checkpoints.

Every run trains tiny networks on 64×64 frames of the session's tiny dataset (real renderer, real
detector, real ``datasets`` files) for a few steps.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from synthesis.checkpoint import CheckpointError, load_checkpoint
from synthesis.config import ConfigError, TrainConfig, load_config
from synthesis.data import PairDataset, epoch_batches, load_target_clips
from synthesis.train import Phase, TrainingError, init_ray, preemption_watcher_off_locally, to_batch, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "ray_configs" / "tiny_test.yaml"

pytestmark = pytest.mark.ray


def _config(dataset: Path, out: Path, *overrides: str) -> TrainConfig:
    return load_config(TINY, [f"data.dataset={dataset}", f"runtime.output_dir={out}", *overrides])


def _log(run_dir: Path, stage: str) -> list[dict[str, Any]]:
    lines = (run_dir / f"{stage}-log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "step" in r]


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    """One local Ray for the module (several worker processes per run), shut down afterwards."""
    import ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def body_run(
    ray_cluster: Any, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """16 uninterrupted steps, 1 worker, checkpoints every 4 (the reference for the resume test)."""
    out = tmp_path_factory.mktemp("runs")
    config = _config(
        tiny_dataset, out, "name=straight", "schedule.steps_per_epoch=16", "runtime.checkpoint_every=4"
    )
    result = train(config, "body")
    return {"config": config, "result": result, "out": out}


def test_one_worker_decreases_the_reconstruction_loss(body_run: dict[str, Any]) -> None:
    result = body_run["result"]
    assert result.finished and result.steps == 16 and result.checkpoint.is_file()
    log = _log(result.run_dir, "body")
    # The reconstruction loss of pix2pixHD-style training is the perceptual (VGG) loss to the real frame.
    vgg = [r["g_vgg"] for r in log]
    assert sum(vgg[-3:]) < 0.8 * sum(vgg[:3]), vgg
    state = load_checkpoint(result.checkpoint)
    assert state["backbone"]["name"] in ("vgg16", "vgg19") and state["backbone"]["weights_sha256"]
    assert state["data"]["fingerprint"] and state["data"]["subject"] == "demo-target"
    assert all(c.endswith("/train") for c in state["data"]["clips"]), "the test split is held out"
    assert any(p.suffix == ".png" for p in (result.run_dir / "samples").iterdir())


def test_resume_gives_the_same_steps_as_an_uninterrupted_run(
    body_run: dict[str, Any], tiny_dataset: Path
) -> None:
    out = body_run["out"]
    base = ["name=interrupted", "schedule.steps_per_epoch=16", "runtime.checkpoint_every=4"]
    stopped = train(_config(tiny_dataset, out, *base, "runtime.stop_after_steps=6"), "body")
    assert not stopped.finished and stopped.steps == 6 and not stopped.checkpoint.exists()
    resumed = train(_config(tiny_dataset, out, *base), "body")
    assert resumed.finished and resumed.steps == 16
    a = load_checkpoint(body_run["result"].checkpoint)
    b = load_checkpoint(resumed.checkpoint)
    for name in ("generator", "discriminator"):
        for key, value in a["models"][name].items():
            torch.testing.assert_close(
                b["models"][name][key], value, rtol=1e-5, atol=1e-6, msg=f"{name}.{key}"
            )
    steps = [r["step"] for r in _log(resumed.run_dir, "body")]
    assert sorted(set(steps)) == list(range(1, 17)), "every step ran exactly once across the two sessions"


def test_two_workers_train_local_enhancer_phases(
    ray_cluster: Any, tiny_dataset: Path, tmp_path: Path
) -> None:
    config = _config(
        tiny_dataset,
        tmp_path,
        "name=two",
        "runtime.num_workers=2",
        # Stick figures drawn ahead in a DataLoader worker process (the GPU default), at each phase's size.
        "data.render_sticks=loader",
        "data.loader_workers=1",
        "model.local_enhancer=true",
        "model.ngf=16",
        "model.local_ngf=8",
        "schedule.steps_per_epoch=12",
        "schedule.global_epochs=1",
        "schedule.local_fix_global_epochs=0.25",
        "schedule.local_epochs=0.5",
    )
    result = train(config, "body")
    assert result.finished and result.steps == 18
    log = _log(result.run_dir, "body")
    assert [r["phase"] for r in log].count("global") == 12
    assert {r["phase"] for r in log} == {"global", "local_fixed", "local"}
    global_vgg = [r["g_vgg"] for r in log if r["phase"] == "global"]
    assert sum(global_vgg[-3:]) < 0.8 * sum(global_vgg[:3]), global_vgg
    start = json.loads((result.run_dir / "body-log.jsonl").read_text().splitlines()[0])
    assert start["workers"] == 2
    state = load_checkpoint(result.checkpoint)
    assert state["generator_kind"] == "local"
    assert any(k.startswith("generator.global_generator.") for k in state["models"]["generator"])


def test_two_workers_at_batch_b_match_one_worker_at_batch_2b(
    ray_cluster: Any, tiny_dataset: Path, tmp_path: Path
) -> None:
    """Data parallelism is exact: disjoint shards of the same global batch, gradients averaged by DDP."""
    common = ["optim.batch_size=4", "schedule.steps_per_epoch=3", "runtime.checkpoint_every=3"]
    config_one = _config(tiny_dataset, tmp_path, "name=one", "runtime.num_workers=1", *common)
    one = train(config_one, "body")
    two = train(_config(tiny_dataset, tmp_path, "name=two", "runtime.num_workers=2", *common), "body")
    a, b = load_checkpoint(one.checkpoint), load_checkpoint(two.checkpoint)
    # Both trained 3 steps on the same pairs: the losses (averaged over workers) agree step by step.
    log_one, log_two = _log(one.run_dir, "body"), _log(two.run_dir, "body")
    assert [r["step"] for r in log_one] == [r["step"] for r in log_two] == [1, 2, 3]
    for r1, r2 in zip(log_one, log_two, strict=True):
        for key in ("g_vgg", "g_fm", "d"):
            assert r1[key] > 0 and r1[key] == pytest.approx(r2[key], rel=1e-4), (key, r1, r2)
    # Adam divides each update by the gradient's own magnitude, so a weight whose gradient is at
    # rounding level (the sum order differs between one process and an all-reduce, and oneDNN picks
    # other kernels for batch 2 than for batch 4) may move by a different fraction of lr in each run.
    # The discriminator's weights agree to a twentieth of one step's lr (measured on an AVX2-only
    # CPU: at most 0.015 lr, in 11 of 1,536 weights of one layer; an AVX512 CPU matched within 0.01).
    lr = config_one.optim.lr
    for key, value in a["models"]["discriminator"].items():
        torch.testing.assert_close(b["models"]["discriminator"][key], value, rtol=1e-4, atol=lr / 20)

    # Generator weights with rounding-level gradients may move ±lr in either run; the weights as a
    # whole must still agree to a small fraction of their norm.
    def flat(state: dict[str, Any]) -> torch.Tensor:
        return torch.cat([v.flatten() for _, v in sorted(state["models"]["generator"].items())])

    assert float((flat(a) - flat(b)).norm() / flat(a).norm()) < 5e-3


def test_face_stage_trains_on_the_frozen_body(body_run: dict[str, Any], tiny_dataset: Path) -> None:
    config = body_run["config"]
    result = train(config, "face")
    assert result.finished and result.checkpoint.name == "face.pt"
    state = load_checkpoint(result.checkpoint, stage="face")
    body = load_checkpoint(body_run["result"].checkpoint)
    for key, value in body["models"]["generator"].items():
        assert torch.equal(state["models"]["generator"][key], value), "the body generator stays frozen"
    phases = [r["phase"] for r in _log(result.run_dir, "face")]
    assert phases[0] == "face_d_only" and phases[-1] == "face"
    d_only = [r for r in _log(result.run_dir, "face") if r["phase"] == "face_d_only"]
    assert all(r["g_gan"] == 0 and r["g_vgg"] == 0 for r in d_only), "only D_f learns first"


# --- no Ray needed ------------------------------------------------------------------------------


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_workers_split_each_global_batch_without_overlap(world: int) -> None:
    """Any worker count (an elastic run resizes) covers each global batch exactly once."""
    n_items, batch, steps = 50, 4, 12
    shards = [epoch_batches(n_items, batch, world, r, seed=7, epoch=3, n_steps=steps) for r in range(world)]
    alone = epoch_batches(n_items, batch, 1, 0, seed=7, epoch=3, n_steps=steps)
    for step in range(steps):
        parts = [shards[r][step] for r in range(world)]
        assert [i for part in parts for i in part] == alone[step], (
            "rank order concatenates to the one-worker batch"
        )
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert sum(len(p) * world / batch for p in parts) == pytest.approx(world), "loss weights average to 1"
    assert epoch_batches(n_items, batch, 1, 0, seed=7, epoch=4, n_steps=steps) != alone, (
        "a new order per epoch"
    )


def test_loader_drawn_stick_figures_match_the_step_drawn_ones(tiny_dataset: Path) -> None:
    """``data.render_sticks`` "loader" (worker processes, uint8) and "step" (on the device) agree."""
    clips = load_target_clips(str(tiny_dataset))
    data = PairDataset(clips, 64, 64, max_frames=12)
    half = Phase("global", "global", 1, 32, 32)
    items = [data[i] for i in range(4)]
    on_device = to_batch(torch.utils.data.default_collate(items), half, torch.device("cpu"))
    data.stick_size = (half.height, half.width)
    items = [data[i] for i in range(4)]
    assert items[0]["sticks"].dtype == torch.uint8 and items[0]["sticks"].shape == (2, 3, 32, 32)
    in_loader = to_batch(torch.utils.data.default_collate(items), half, torch.device("cpu"))
    assert on_device.sticks.shape == in_loader.sticks.shape == (4, 2, 3, 32, 32)
    assert float(on_device.sticks.std()) > 0.1, "the figures are drawn"
    torch.testing.assert_close(in_loader.sticks, on_device.sticks, atol=1.01 / 255, rtol=0)


def test_more_workers_than_the_local_machine_has_is_an_error_not_a_hang(
    ray_cluster: Any, tiny_dataset: Path, tmp_path: Path
) -> None:
    # Ray would wait forever for a third CPU of this 2-CPU local cluster, and say nothing.
    config = _config(tiny_dataset, tmp_path, "name=crowded", "runtime.num_workers=3", "optim.batch_size=3")
    with pytest.raises(
        TrainingError, match=r"^3 worker\(s\) × 1 CPU\(s\) need 3 CPUs, and this machine's Ray has 2"
    ):
        train(config, "body")
    assert not (tmp_path / "crowded" / "body.pt").exists()


def test_the_preemption_watcher_is_off_on_a_local_ray_only(monkeypatch: pytest.MonkeyPatch) -> None:
    variable = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    local = load_config(TINY).runtime
    with preemption_watcher_off_locally(local):
        assert os.environ[variable] == "0"
    assert variable not in os.environ, "restored after the run"
    cluster = load_config(TINY, ["runtime.ray_address=10.0.0.1:6379"]).runtime
    with preemption_watcher_off_locally(cluster):
        assert variable not in os.environ, "a cluster keeps Ray's default (on)"
    monkeypatch.setenv(variable, "1")
    with preemption_watcher_off_locally(local):
        assert os.environ[variable] == "1", "the user's choice wins"


def test_elastic_worker_range_loads(tmp_path: Path) -> None:
    config = load_config(TINY, ["runtime.num_workers=[2,8]", "optim.batch_size=8"])
    assert config.runtime.elastic and (config.runtime.min_workers, config.runtime.max_workers) == (2, 8)
    assert config.per_worker_batch == 1
    again = tmp_path / "elastic.yaml"
    again.write_text(config.to_yaml())
    assert load_config(again) == config, "a saved run config loads back the same"


# --- errors: no Ray needed --------------------------------------------------------------------


def test_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  ngff: 3\n")
    with pytest.raises(
        ConfigError, match=r"bad\.yaml: model\.ngff: unknown field \(did you mean model\.ngf\?\)"
    ):
        load_config(bad)
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"global batch and must be at least the largest worker count"):
        load_config(TINY, ["optim.batch_size=2", "runtime.num_workers=[1,4]"])
    with pytest.raises(ConfigError, match=r"\[MIN, MAX\] with 1 <= MIN <= MAX"):
        load_config(TINY, ["runtime.num_workers=[3,2]"])
    with pytest.raises(ConfigError, match="multiples of 4"):
        load_config(TINY, ["data.height=66"])
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_bad_checkpoints_give_one_line_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match=r"corrupt\.pt: not a readable dancenow checkpoint"):
        load_checkpoint(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": torch.nn.Linear(2, 2).state_dict()}, other)
    with pytest.raises(CheckpointError, match=r"other\.pt: not a dancenow synthesis checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "dataset.cli",
            "transfer",
            "--model",
            str(corrupt),
            "--out",
            str(tmp_path / "o.mp4"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip().startswith("error: ") and "corrupt.pt" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1


def test_a_run_saved_before_a_config_field_existed_still_matches(tmp_path: Path) -> None:
    """Runs written by an older version lack fields added since (e.g. data.render_sticks): their
    defaults fill in, so the run is still recognised as the same model; a real change is refused."""
    import yaml

    from synthesis.train import _check_existing_run

    config = load_config(None, [f"runtime.output_dir={tmp_path}", "name=old-run"])
    saved = config.model_dump(mode="json")
    del saved["data"]["render_sticks"], saved["runtime"]["activation_checkpointing"]
    config.run_dir.mkdir(parents=True)
    (config.run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    _check_existing_run(config, config.run_dir)  # no error
    changed = load_config(None, [f"runtime.output_dir={tmp_path}", "name=old-run", "model.temporal=false"])
    with pytest.raises(ConfigError, match="different model settings"):
        _check_existing_run(changed, changed.run_dir)


def test_gpu_settings_train_like_the_plain_run(body_run: dict[str, Any], tiny_dataset: Path) -> None:
    """channels_last, activation checkpointing and torch.compile (the paper configs' GPU settings)
    go through the real training loop on CPU, change the losses by no more than float rounding, and
    leave plain state dicts in the checkpoint (no compile or DDP prefixes) that a plain model loads."""
    from synthesis.networks import build_generator

    gpu = ("runtime.channels_last=true", "runtime.activation_checkpointing=true", "runtime.compile=true")
    config = _config(tiny_dataset, body_run["out"], "name=gpu-settings", "schedule.steps_per_epoch=4", *gpu)
    result = train(config, "body")
    assert result.finished and result.steps == 4
    plain = _log(body_run["result"].run_dir, "body")[:4]
    # Step 1's losses are the same computation (to float rounding); each update then moves the two
    # runs apart a little more (Adam at lr 1e-3 magnifies tiny gradient differences): about 3e-4
    # at step 2 and 2 % by step 4 on this CPU.
    for step, (a, b) in enumerate(zip(plain, _log(result.run_dir, "body"), strict=True), 1):
        for key in ("d", "g_gan", "g_fm", "g_vgg", "l1"):
            rel = {1: 1e-5, 2: 2e-3}.get(step)
            assert math.isfinite(b[key]), f"step {step} {key}"
            if rel is not None:
                assert b[key] == pytest.approx(a[key], rel=rel, abs=1e-6), f"step {step} {key}"
    state = load_checkpoint(result.checkpoint)
    assert state["config"]["runtime"]["compile"] is True
    for name, weights in state["models"].items():
        assert not [k for k in weights if k.startswith(("_orig_mod.", "module."))], name
    build_generator(config.model, "global").load_state_dict(state["models"]["generator"])
