"""Training on a real two-node Ray cluster on loopback, and surviving failures mid-run.

The cluster is two ``ray start`` processes (a head and a worker node, one CPU each, so a two-worker
run must use both), each in its own session so that killing one kills its raylet and every worker
process on it, which is what losing a machine looks like to Ray. The training runs are the tiny
config on the session's real dataset; failures are real ``SIGKILL``s sent while the run is going.

What "no step lost or counted twice" means here, checked on every run: the log has each step from
1 to N exactly once (a resumed run rewinds it to its checkpoint), the run restarted from a
checkpoint's step, and the optimisers' own step counters equal N.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synthesis.checkpoint import load_checkpoint
from synthesis.config import TrainConfig, load_config
from synthesis.train import TrainResult, init_ray, train

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "ray_configs" / "tiny_test.yaml"
RAY = Path(sys.executable).with_name("ray")
# Ray Train's controller collects reported checkpoints when it polls the workers (every 2 s by
# default): a worker killed before the poll loses its latest report. It polls often here, so that the
# kills below, a few steps after a checkpoint, find it registered. After a node dies, an elastic run
# may first ask for the dead node's resources too; give up on that after 10 s rather than 60.
TRAIN_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25", "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "10"}

pytestmark = pytest.mark.ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_processes(session_id: int) -> list[int]:
    """Every live process whose session is ``session_id`` (a node started with start_new_session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:  # fields after "(comm)": state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class LoopbackCluster:
    """A Ray cluster of separate ``ray start`` processes on this machine (the head and worker nodes)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen[bytes]] = []
        # Token authentication, Ray's default for `ray start`: the nodes get the token this process
        # resolves (RAY_AUTH_TOKEN, or ~/.ray/auth_token, generated as `ray.init` would if missing).
        token = subprocess.run(
            [str(RAY), "get-auth-token", "--generate"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.env = dict(
            os.environ,
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=token,
            # Notice a dead node within seconds rather than the default half minute.
            RAY_health_check_period_ms="500",
            RAY_health_check_failure_threshold="4",
            **TRAIN_ENV,
        )

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - the node keeps it open
        node = subprocess.Popen(
            [str(RAY), "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: int) -> None:
        self._start(
            ["--head", f"--port={self.port}", f"--num-cpus={num_cpus}", "--include-dashboard=false"], "head"
        )

    def add_node(self, num_cpus: int) -> subprocess.Popen[bytes]:
        return self._start([f"--address={self.address}", f"--num-cpus={num_cpus}"], f"node{len(self.nodes)}")

    def alive_nodes(self) -> list[dict[str, Any]]:
        import ray

        return [n for n in ray.nodes() if n["Alive"]]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.alive_nodes()
            if len(alive) == count:
                return alive
            time.sleep(0.2)
        raise AssertionError(
            f"the cluster did not reach {count} live nodes in {timeout} s: {self.alive_nodes()}"
        )

    def kill_node(self, node: subprocess.Popen[bytes]) -> int:
        """SIGKILL the node's raylet, agents and worker processes at once; returns how many died."""
        pids = _session_processes(node.pid)
        _kill(pids)
        node.wait(timeout=10)
        return len(pids)

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            if node.poll() is None:
                node.terminate()  # `ray start --block` stops its processes on SIGTERM
        for node in self.nodes:
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_node(node)
        for node in self.nodes:  # anything left behind (worker processes) goes too
            _kill(_session_processes(node.pid))
        # `ray start` recorded the head as this machine's current cluster, which a later `ray.init()`
        # would try to join; forget it, as `ray stop` does.
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.is_file() and current.read_text().strip().endswith(f":{self.port}"):
            current.unlink()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    loopback = LoopbackCluster(tmp_path_factory.mktemp("ray-nodes"))
    saved = {key: os.environ.get(key) for key in TRAIN_ENV}
    os.environ.update(TRAIN_ENV)  # the driver passes them on to Ray Train's controller
    try:
        loopback.start_head(num_cpus=1)
        loopback.add_node(num_cpus=1)
        init_ray(loopback.address)
        loopback.wait_for(2)
        yield loopback
    finally:
        ray.shutdown()
        loopback.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _config(dataset: Path, out: Path, *overrides: str) -> TrainConfig:
    return load_config(TINY, [f"data.dataset={dataset}", f"runtime.output_dir={out}", *overrides])


FAULT_STEPS = 18  # the tiny dataset has 19 batches of 2 pairs


def _fault_config(dataset: Path, out: Path, cluster: LoopbackCluster, *overrides: str) -> TrainConfig:
    """A run to fail in: FAULT_STEPS steps, checkpoints every 4, two restarts allowed, on ``cluster``."""
    return _config(
        dataset,
        out,
        *overrides,
        "runtime.max_failures=2",
        f"schedule.steps_per_epoch={FAULT_STEPS}",
        "runtime.checkpoint_every=4",
        "runtime.sample_every=100",
        f"runtime.ray_address={cluster.address}",
    )


def _records(run_dir: Path, stage: str = "body") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / f"{stage}-log.jsonl").read_text().splitlines()]


def _starts(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in _records(run_dir) if r.get("event") == "start"]


def _assert_each_step_once(result: TrainResult, steps: int) -> None:
    assert result.finished and result.steps == steps
    logged = [r["step"] for r in _records(result.run_dir) if "step" in r]
    assert logged == list(range(1, steps + 1)), "every step is in the log exactly once"
    state = load_checkpoint(result.checkpoint)
    assert state["step"] == steps
    for name, optimizer in state["optimizers"].items():
        counts = {float(s["step"]) for s in optimizer["state"].values()}
        assert counts == {float(steps)}, f"{name}: Adam took {counts} steps, not {steps}"


def _kill_during_run(
    run_dir: Path, after_step: int, kill: Callable[[dict[str, Any]], None]
) -> tuple[threading.Thread, dict[str, Any]]:
    """Watch the run's log; once step ``after_step`` is logged, call ``kill`` with the start record."""
    seen: dict[str, Any] = {}

    def watch() -> None:
        log = run_dir / "body-log.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            records = _records(run_dir) if log.is_file() else []
            steps = [r["step"] for r in records if "step" in r]
            if steps and steps[-1] >= after_step:
                seen["start"] = [r for r in records if r.get("event") == "start"][-1]
                seen["at_step"] = steps[-1]
                kill(seen["start"])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def test_training_spreads_over_both_nodes(
    cluster: LoopbackCluster, tiny_dataset: Path, tmp_path: Path
) -> None:
    config = _config(
        tiny_dataset,
        tmp_path,
        "name=two-nodes",
        "runtime.num_workers=2",
        "schedule.steps_per_epoch=6",
        "runtime.checkpoint_every=3",
        f"runtime.ray_address={cluster.address}",
    )
    result = train(config, "body")
    _assert_each_step_once(result, 6)
    (start,) = _starts(result.run_dir)
    workers = start["worker_processes"]
    assert [w["rank"] for w in workers] == [0, 1]
    node_ids = {n["NodeID"] for n in cluster.alive_nodes()}
    assert {w["node_id"] for w in workers} == node_ids and len(node_ids) == 2, "one worker on each node"


def test_run_survives_a_killed_worker_process(
    cluster: LoopbackCluster, tiny_dataset: Path, tmp_path: Path
) -> None:
    steps = FAULT_STEPS
    config = _fault_config(tiny_dataset, tmp_path, cluster, "name=killed-worker", "runtime.num_workers=2")
    # The chief (rank 0: it writes logs and checkpoints) dies between two checkpoints.
    thread, seen = _kill_during_run(
        config.run_dir, 6, lambda start: os.kill(start["worker_processes"][0]["pid"], signal.SIGKILL)
    )
    result = train(config, "body")
    thread.join(timeout=5)
    assert seen.get("at_step", steps) < steps, "the worker was killed while the run was going"
    _assert_each_step_once(result, steps)
    first, *restarts = _starts(result.run_dir)
    assert first["resumed_at"] == 0 and restarts, "the run restarted after the kill"
    resumed = restarts[0]["resumed_at"]
    assert 0 < resumed <= seen["at_step"] and resumed % 4 == 0, "it went back to the last checkpoint"
    assert restarts[0]["worker_processes"][0]["pid"] != first["worker_processes"][0]["pid"]


def test_elastic_run_survives_losing_a_node(
    cluster: LoopbackCluster, tiny_dataset: Path, tmp_path: Path
) -> None:
    """Last in the module: it takes the worker node away. The run goes on with the head node alone."""
    import ray

    steps = FAULT_STEPS
    config = _fault_config(tiny_dataset, tmp_path, cluster, "name=lost-node", "runtime.num_workers=[1,2]")
    head_id = next(n["NodeID"] for n in ray.nodes() if "node:__internal_head__" in n["Resources"])
    worker_node = cluster.nodes[1]
    thread, seen = _kill_during_run(config.run_dir, 6, lambda _start: cluster.kill_node(worker_node))
    result = train(config, "body")
    thread.join(timeout=5)
    assert seen.get("at_step", steps) < steps, "the node was killed while the run was going"
    _assert_each_step_once(result, steps)
    first, *restarts = _starts(result.run_dir)
    assert first["workers"] == 2 and len({w["node_id"] for w in first["worker_processes"]}) == 2
    last = restarts[-1]
    assert 0 < last["resumed_at"] <= seen["at_step"] and last["resumed_at"] % 4 == 0
    assert last["workers"] == 1 and last["worker_processes"][0]["node_id"] == head_id
