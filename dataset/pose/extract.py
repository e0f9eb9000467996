"""Parallel, resumable pose extraction over videos, on local processes or a Ray cluster.

Why it is built this way:

- **Chunks of consecutive frames** are the unit of work, so one long video keeps every core busy
  and a crash loses at most the chunks in flight. Each chunk is detected as its own track (the
  detector's tracking restarts at every chunk boundary: the first frame of a chunk runs the person
  detector again), which makes a chunk's result independent of which worker ran it: the output is
  identical for any worker count or backend, given the same ``chunk_frames``.
- **A content-addressed cache**: each chunk is stored as its own ``.npz`` keyed by the SHA-256 of
  the video's bytes, the detector's :attr:`~dataset.pose.base.PoseDetector.version` and the frame
  range. Renaming or copying a video still hits the cache; upgrading mediapipe or changing an option
  misses it. Files are written atomically (temporary file + rename) by the driver, so an interrupted
  run leaves only complete chunks and the next run resumes from them; re-running is free.
- **One long-lived detector per worker** (process or Ray actor): loading the models once per worker
  instead of once per chunk; ``decord`` decodes with one thread per worker, since the workers
  already occupy every core.

Cache location: ``cache_dir`` if given, else ``$DANCENOW_CACHE/poses`` if the environment variable
is set, else ``~/.cache/dancenow/poses``. Layout:
``<cache>/<sha[:2]>/<sha>/<detector name>-<sha256(version)[:12]>/<start>-<stop>.npz`` (frames
``[start, stop)``), with the full version string in ``detector.txt`` beside the chunks.

The result holds raw detections: temporal smoothing (:func:`dataset.pose.smoothing.smooth_poses`)
is a separate, explicit step.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing as mp
import os
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dataset.files import atomic_write_bytes, cache_root, sha256_file
from dataset.keypoints import PoseSequence
from dataset.pose.base import PoseDetector, detector_version, get_detector
from dataset.pose.openpose_json import extract_openpose
from dataset.video import VideoError, VideoReader

DEFAULT_CHUNK_FRAMES = 256
DEFAULT_DETECTOR = "mediapipe-holistic"
_DECODE_BATCH = 16  # frames decoded at a time inside a chunk (bounded memory, frequent progress)

Backend = Literal["local", "ray"]
PathLike = str | os.PathLike[str]


class PoseExtractionError(RuntimeError):
    """Detection failed on one chunk; the message names the video and the frame range."""


def default_cache_dir() -> Path:
    """``$DANCENOW_CACHE/poses`` if ``DANCENOW_CACHE`` is set, else ``~/.cache/dancenow/poses``."""
    return cache_root("poses")


def available_cpus() -> int:
    """Cores this process may run on (respects CPU affinity and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------------------
# Cache


def video_sha256(path: PathLike, cache_dir: Path | None = None) -> str:
    """SHA-256 of a video file's bytes, memoised in ``cache_dir`` by (path, size, mtime).

    Hashing a multi-gigabyte video takes seconds; the memo makes a fully cached re-run instant while
    any change to the file (size or modification time) forces a fresh hash.
    """
    p = Path(path)
    st = p.stat()
    if cache_dir is None:
        return sha256_file(p)
    key = f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    memo = cache_dir / "sha256-memo" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.txt"
    try:
        cached = memo.read_text().strip()
        if len(cached) == 64:
            return cached
    except OSError:
        pass
    sha = sha256_file(p)
    atomic_write_bytes(memo, sha.encode())
    return sha


@dataclass(frozen=True)
class Chunk:
    """Frames ``[start, stop)`` of one video and where their keypoints are cached."""

    video: str
    sha256: str
    start: int
    stop: int
    cache_path: Path

    @property
    def frames(self) -> int:
        return self.stop - self.start

    def describe(self) -> str:
        return f"{self.video}: frames {self.start}..{self.stop - 1}"


def chunk_ranges(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``chunk_frames`` frames covering ``n_frames``."""
    return [(s, min(s + chunk_frames, n_frames)) for s in range(0, n_frames, chunk_frames)]


def detector_cache_dir(cache_dir: Path, sha256: str, detector_name: str, version: str) -> Path:
    tag = hashlib.sha256(version.encode()).hexdigest()[:12]
    return cache_dir / sha256[:2] / sha256 / f"{detector_name}-{tag}"


def _save_chunk(path: Path, seq: PoseSequence) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, body=seq.body, face=seq.face, hands=seq.hands)
    atomic_write_bytes(path, buffer.getvalue())


def _load_chunk(chunk: Chunk) -> PoseSequence | None:
    """The cached chunk, or None if absent or unreadable (then it is simply recomputed)."""
    if not chunk.cache_path.is_file():
        return None
    try:
        seq = PoseSequence.load(chunk.cache_path)
    except (OSError, ValueError, KeyError, EOFError):
        return None
    return seq if len(seq) == chunk.frames else None


# --------------------------------------------------------------------------------------------------
# Running chunks (the same code in-process, in pool workers and in Ray actors)


class ChunkRunner:
    """One long-lived detector plus the last video opened; runs chunks one after another."""

    def __init__(self, detector: PoseDetector) -> None:
        self.detector = detector
        self._reader: VideoReader | None = None

    @classmethod
    def from_name(cls, detector: str, options: dict[str, Any]) -> ChunkRunner:
        return cls(get_detector(detector, **options))

    def _open(self, video: str) -> VideoReader:
        if self._reader is None or self._reader.source != video:
            # One decoding thread: the workers already keep every core busy with detection.
            self._reader = VideoReader(video, num_threads=1)
        return self._reader

    def run(
        self, video: str, start: int, stop: int, report: Callable[[int], None] | None = None
    ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """Detect frames ``[start, stop)``; returns (detector version, body, face, hands)."""
        where = f"{video}: frames {start}..{stop - 1}"
        try:
            reader = self._open(video)

            def frames() -> Iterator[np.ndarray]:
                for batch in reader.iter_batches(_DECODE_BATCH, start, stop):
                    yield from batch
                    if report is not None:
                        report(len(batch))

            seq = self.detector.detect(frames())
        except VideoError as exc:
            message = str(exc).removeprefix(f"{video}: ")
            # a decoding error names the frames it could not decode itself
            raise VideoError(str(exc) if message.startswith("frame") else f"{where}: {message}") from None
        except Exception as exc:
            raise PoseExtractionError(
                f"{where}: pose detection failed ({type(exc).__name__}: {exc})"
            ) from None
        if len(seq) != stop - start:
            raise PoseExtractionError(
                f"{where}: the video yielded {len(seq)} frames, expected {stop - start}"
            )
        return self.detector.version, seq.body, seq.face, seq.hands

    def close(self) -> None:
        self.detector.close()


# Pool-worker globals: one runner per process, built by the initializer.
_WORKER: ChunkRunner | None = None
_PROGRESS: Any = None


def _worker_init(detector: str, options: dict[str, Any], progress: Any, pin: Any) -> None:
    global _WORKER, _PROGRESS
    if pin is not None:
        # Claim the next core in turn; see extract_poses(pin_workers=...) for why.
        with pin.get_lock():
            index = pin.value
            pin.value += 1
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    _PROGRESS = progress
    _WORKER = ChunkRunner.from_name(detector, options)


def _worker_report(n: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put(n)


def _worker_run(video: str, start: int, stop: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(video, start, stop, _worker_report)


# --------------------------------------------------------------------------------------------------
# Public API


@dataclass
class ExtractionStats:
    """What a run did: how much came from the cache and how much was detected."""

    chunks_total: int = 0
    chunks_cached: int = 0
    chunks_computed: int = 0
    frames_total: int = 0
    frames_computed: int = 0
    workers: int = 0
    backend: str = "local"
    seconds: float = 0.0
    cache_dir: str = ""
    detector_version: str = ""
    computed: list[str] = field(default_factory=list)  # cache files written by this run


class PoseExtraction(dict[str, PoseSequence]):
    """``{video path as given: PoseSequence}`` with the run's :class:`ExtractionStats` in ``.stats``."""

    stats: ExtractionStats


class _Progress:
    """A tqdm bar over frames, or nothing."""

    def __init__(self, enabled: bool, total: int, initial: int) -> None:
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="frame", desc="poses", smoothing=0.1)

    def update(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _plan(
    videos: Sequence[PathLike], cache_dir: Path, detector_name: str, version: str, chunk_frames: int
) -> dict[str, list[Chunk]]:
    plan: dict[str, list[Chunk]] = {}
    for video in videos:
        key = os.fspath(video)
        if key in plan:
            continue
        n = VideoReader(key, num_threads=1).info.frame_count  # raises VideoError naming the file
        sha = video_sha256(key, cache_dir)
        folder = detector_cache_dir(cache_dir, sha, detector_name, version)
        plan[key] = [
            Chunk(key, sha, s, e, folder / f"{s:09d}-{e:09d}.npz") for s, e in chunk_ranges(n, chunk_frames)
        ]
        note = folder / "detector.txt"
        if not note.exists():
            atomic_write_bytes(note, (version + "\n").encode())
    return plan


def extract_poses(
    videos: Sequence[PathLike],
    detector: str = DEFAULT_DETECTOR,
    detector_options: dict[str, Any] | None = None,
    workers: int | None = None,
    backend: Backend = "local",
    ray_address: str | None = None,
    cache_dir: PathLike | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: bool = True,
    pin_workers: bool = False,
) -> PoseExtraction:
    """Raw keypoints of every frame of every video, computed in parallel and cached per chunk.

    ``workers``: processes (local) or actors (Ray); None = every core available (local) or every
    CPU of the Ray cluster. With one worker the local backend runs in this process. ``pin_workers``
    (local backend only) binds each worker process to its own core. Off by default: one MediaPipe
    process keeps about 1.4 cores busy (the Holistic graph runs its models on parallel threads), so
    workers share cores either way; pinning measured 3–5 % faster on an idle 2-core machine, but
    while another program was busy it swung by ±30 % from run to run (a pinned worker cannot move
    off a busy core), so it is left to the caller who knows the machine is dedicated.
    ``ray_address``: an existing cluster (e.g. ``"auto"`` or ``"ray://host:10001"``); without it,
    an already initialised Ray is used, else a local Ray is started and shut down afterwards. Video paths must be readable by
    every Ray node. Results are identical for any backend and worker count given the same
    ``chunk_frames`` (the cache key includes the frame range).

    Raises :class:`~dataset.video.VideoError` (naming the file, and the frame range when decoding
    fails mid-video) or :class:`PoseExtractionError` (naming video and frame range).
    """
    started = time.perf_counter()
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}; valid: 'local', 'ray'")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    options = dict(detector_options or {})
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()

    # The version keys the cache; it is known without loading a model, so a fully cached run (or a
    # run whose workers are other processes) never starts a detector here.
    version = detector_version(detector, **options)
    plan = _plan(videos, cache, detector, version, chunk_frames)
    results: dict[Chunk, PoseSequence] = {}
    todo: list[Chunk] = []
    seen: set[Path] = set()
    for chunks in plan.values():
        for chunk in chunks:
            cached = _load_chunk(chunk)
            if cached is not None:
                results[chunk] = cached
            elif chunk.cache_path not in seen:  # identical videos under two paths: detect once
                seen.add(chunk.cache_path)
                todo.append(chunk)

    all_chunks = [c for chunks in plan.values() for c in chunks]
    stats = ExtractionStats(
        chunks_total=len(all_chunks),
        chunks_cached=len(results),
        chunks_computed=len(todo),
        frames_total=sum(c.frames for c in all_chunks),
        frames_computed=sum(c.frames for c in todo),
        backend=backend,
        cache_dir=str(cache),
        detector_version=version,
    )

    def store(chunk: Chunk, got_version: str, body: np.ndarray, face: np.ndarray, hands: np.ndarray) -> None:
        if got_version != version:
            raise PoseExtractionError(
                f"{chunk.describe()}: the worker's detector is {got_version!r} but this process expected "
                f"{version!r}; install the same versions everywhere"
            )
        seq = PoseSequence(body, face, hands)
        _save_chunk(chunk.cache_path, seq)
        results[chunk] = seq
        stats.computed.append(str(chunk.cache_path))

    bar = _Progress(progress, stats.frames_total, stats.frames_total - stats.frames_computed)
    try:
        if todo and backend == "ray":
            stats.workers = _run_ray(todo, detector, options, workers, ray_address, store, bar)
        elif todo:
            stats.workers = min(workers or available_cpus(), len(todo))
            if stats.workers == 1:
                runner = ChunkRunner.from_name(detector, options)
                try:
                    for chunk in todo:
                        store(chunk, *runner.run(chunk.video, chunk.start, chunk.stop, bar.update))
                finally:
                    runner.close()
            else:
                _run_local_pool(todo, detector, options, stats.workers, pin_workers, store, bar)
    finally:
        bar.close()

    out = PoseExtraction()
    # Identical content under two paths: a chunk computed once fills both (same cache file).
    by_path = {c.cache_path: seq for c, seq in results.items()}
    for key, chunks in plan.items():
        out[key] = PoseSequence.concatenate([by_path[c.cache_path] for c in chunks])
    stats.seconds = time.perf_counter() - started
    out.stats = stats
    return out


StoreFn = Callable[[Chunk, str, np.ndarray, np.ndarray, np.ndarray], None]


def _run_local_pool(
    todo: list[Chunk],
    detector: str,
    options: dict[str, Any],
    n_workers: int,
    pin: bool,
    store: StoreFn,
    bar: _Progress,
) -> None:
    """Process pool (spawn: no forked mediapipe/decord state), one runner per worker process."""
    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    pin_counter = ctx.Value("i", 0) if pin and hasattr(os, "sched_setaffinity") else None
    with cf.ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(detector, options, progress_queue, pin_counter),
    ) as pool:
        futures = {pool.submit(_worker_run, c.video, c.start, c.stop): c for c in todo}
        pending = set(futures)
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                _drain(progress_queue, bar)
                for future in done:
                    chunk = futures[future]
                    try:
                        result = future.result()
                    except cf.process.BrokenProcessPool as exc:
                        raise PoseExtractionError(
                            f"{chunk.describe()}: a worker process died or could not start ({exc}); "
                            "its own error is printed above (out of memory is a common cause)"
                        ) from None
                    store(chunk, *result)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            _drain(progress_queue, bar)
    progress_queue.close()


def _drain(progress_queue: Any, bar: _Progress) -> None:
    while True:
        try:
            bar.update(progress_queue.get_nowait())
        except queue.Empty:
            return


class _RayChunkRunner:
    """Ray actor body: a :class:`ChunkRunner` living in the actor's process."""

    def __init__(self, detector: str, options: dict[str, Any]) -> None:
        self.runner = ChunkRunner.from_name(detector, options)

    def run(self, index: int, video: str, start: int, stop: int) -> tuple[int, tuple[Any, ...]]:
        return index, self.runner.run(video, start, stop)


def _run_ray(
    todo: list[Chunk],
    detector: str,
    options: dict[str, Any],
    workers: int | None,
    ray_address: str | None,
    store: StoreFn,
    bar: _Progress,
) -> int:
    """Actor pool on Ray: one detector per actor (1 CPU each); the driver writes the cache."""
    import ray
    from ray.util import ActorPool

    started_here = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if ray_address is None and workers is not None:
            kwargs["num_cpus"] = workers
        ray.init(address=ray_address, **kwargs)
        started_here = True
    actors: list[Any] = []
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_actors = max(1, min(workers or cpus, len(todo)))
        actor_cls = ray.remote(num_cpus=1)(_RayChunkRunner)
        actors = [actor_cls.remote(detector, options) for _ in range(n_actors)]
        pool = ActorPool(actors)
        jobs: list[Any] = [(i, os.path.abspath(c.video), c.start, c.stop) for i, c in enumerate(todo)]
        results = pool.map_unordered(lambda actor, job: actor.run.remote(*job), jobs)
        while True:
            try:
                index, result = next(results)
            except StopIteration:
                break
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else None
                if cause is not None:
                    raise cause from None
                raise PoseExtractionError(f"a Ray task failed: {str(exc).splitlines()[0]}") from None
            except ray.exceptions.RayActorError as exc:
                raise PoseExtractionError(f"a Ray actor died ({str(exc).splitlines()[0]})") from None
            chunk = todo[index]
            store(chunk, *result)
            bar.update(chunk.frames)
        return n_actors
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()


__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "Chunk",
    "ChunkRunner",
    "ExtractionStats",
    "PoseExtraction",
    "PoseExtractionError",
    "available_cpus",
    "chunk_ranges",
    "default_cache_dir",
    "extract_openpose",
    "extract_poses",
    "video_sha256",
]
