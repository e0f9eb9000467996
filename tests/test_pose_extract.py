"""Parallel, cached pose extraction on a real (short) video of a real person.

The video is the astronaut portrait moving a little from frame to frame, encoded with H.264. Every
test uses its own cache folder, so none depends on another's leftovers.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from dataset.keypoints import BODY, PoseSequence
from dataset.pose import PoseExtractionError, default_cache_dir, extract_poses
from dataset.pose.extract import ChunkRunner
from dataset.video import VideoError, write_video

N_FRAMES = 24
CHUNK = 8  # 3 chunks: enough to split work between 2 workers and to resume half-way
SHIFT_X = 2  # pixels per frame


def _same(a: PoseSequence, b: PoseSequence) -> bool:
    return (
        np.array_equal(a.body, b.body) and np.array_equal(a.face, b.face) and np.array_equal(a.hands, b.hands)
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for t in range(N_FRAMES):
        shift = np.float32([[1, 0, SHIFT_X * (t - N_FRAMES // 2)], [0, 1, 0]])
        frames.append(cv2.warpAffine(image, shift, (256, 256), borderMode=cv2.BORDER_REPLICATE))
    path = tmp_path_factory.mktemp("video") / "astronaut.mp4"
    write_video(path, frames, fps=24)
    return path


@pytest.fixture(scope="module")
def baseline(video: Path, tmp_path_factory: pytest.TempPathFactory) -> PoseSequence:
    """One worker, in this process, fresh cache: the reference every other run must equal."""
    cache = tmp_path_factory.mktemp("cache-baseline")
    result = extract_poses([video], workers=1, cache_dir=cache, chunk_frames=CHUNK, progress=False)
    assert result.stats.chunks_computed == 3 and result.stats.chunks_cached == 0
    return result[str(video)]


def test_finds_the_person_in_every_frame(baseline: PoseSequence) -> None:
    assert len(baseline) == N_FRAMES
    nose = baseline.body[:, BODY["Nose"]]
    assert (nose[:, 2] > 0.5).all(), "nose found in every frame"
    assert (baseline.face[:, :, 2] > 0).all(axis=1).all(), "face found in every frame"
    # The nose follows the image's translation (within a few pixels of detection noise).
    moved = nose[:, 0] - nose[0, 0]
    expected = SHIFT_X * np.arange(N_FRAMES)
    assert np.abs(moved - expected).max() < 6


def test_two_workers_equal_one_and_rerun_hits_the_cache(
    video: Path, baseline: PoseSequence, tmp_path: Path
) -> None:
    started = time.perf_counter()
    first = extract_poses([video], workers=2, cache_dir=tmp_path, chunk_frames=CHUNK, progress=True)
    first_seconds = time.perf_counter() - started
    assert first.stats.workers == 2 and first.stats.chunks_computed == 3
    assert _same(first[str(video)], baseline)
    files = sorted(tmp_path.rglob("*.npz"))
    assert len(files) == 3 and sorted(map(Path, first.stats.computed)) == files
    mtimes = [f.stat().st_mtime_ns for f in files]

    started = time.perf_counter()
    again = extract_poses([video], workers=2, cache_dir=tmp_path, chunk_frames=CHUNK, progress=False)
    again_seconds = time.perf_counter() - started
    assert again.stats.chunks_cached == 3 and again.stats.chunks_computed == 0 and again.stats.computed == []
    assert again.stats.workers == 0, "no worker was started"
    assert _same(again[str(video)], baseline)
    assert [f.stat().st_mtime_ns for f in files] == mtimes, "cached chunks are not rewritten"
    assert again_seconds < first_seconds / 2


def test_interrupted_run_resumes_from_the_chunks_on_disk(
    video: Path, baseline: PoseSequence, tmp_path: Path
) -> None:
    full = extract_poses([video], workers=1, cache_dir=tmp_path, chunk_frames=CHUNK, progress=False)
    middle = sorted(tmp_path.rglob("*.npz"))[1]
    assert middle.name == "000000008-000000016.npz"
    middle.unlink()  # as if the run had been killed while this chunk was being detected
    (middle.parent / f".{middle.name}.12345.tmp").write_bytes(b"partial")  # a dead writer's leftover
    resumed = extract_poses([video], workers=1, cache_dir=tmp_path, chunk_frames=CHUNK, progress=False)
    assert resumed.stats.chunks_cached == 2 and resumed.stats.computed == [str(middle)]
    assert _same(resumed[str(video)], full[str(video)]) and _same(resumed[str(video)], baseline)
    # A damaged chunk file is detected on load and recomputed rather than trusted.
    middle.write_bytes(b"not an npz")
    repaired = extract_poses([video], workers=1, cache_dir=tmp_path, chunk_frames=CHUNK, progress=False)
    assert repaired.stats.computed == [str(middle)] and _same(repaired[str(video)], baseline)


def test_cache_key_is_the_content_not_the_name(video: Path, baseline: PoseSequence, tmp_path: Path) -> None:
    copy = tmp_path / "renamed copy.mp4"
    copy.write_bytes(video.read_bytes())
    cache = tmp_path / "cache"
    result = extract_poses([video, copy], workers=1, cache_dir=cache, chunk_frames=CHUNK, progress=False)
    assert result.stats.chunks_computed == 3, "identical content is detected once"
    assert _same(result[str(copy)], baseline) and _same(result[str(video)], baseline)
    # Another chunk size is another key: nothing is reused across chunkings.
    other = extract_poses([copy], workers=1, cache_dir=cache, chunk_frames=12, progress=False)
    assert other.stats.chunks_computed == 2


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DANCENOW_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "poses"
    monkeypatch.delenv("DANCENOW_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "dancenow" / "poses"


def test_corrupt_and_truncated_videos_raise_video_error_naming_the_file(video: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(VideoError, match=re.escape(str(corrupt))):
        extract_poses([corrupt], workers=1, cache_dir=tmp_path / "cache", progress=False)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(VideoError, match=re.escape(str(truncated))) as info:
        extract_poses(
            [truncated], workers=2, cache_dir=tmp_path / "cache", chunk_frames=CHUNK, progress=False
        )
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "cache").rglob("*.npz")) or all(
        "truncated" not in str(p) for p in (tmp_path / "cache").rglob("*.npz")
    )
    # a chunk that cannot be decoded: its frame range, named once
    noise = tmp_path / "noise.mp4"
    rng = np.random.default_rng(0)
    write_video(noise, list(rng.integers(0, 256, (40, 128, 128, 3), dtype=np.uint8)), fps=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(noise.read_bytes()[:100_000])
    with pytest.raises(
        VideoError, match=rf"^{re.escape(str(cut))}: frames \d+\.\.\d+ cannot be decoded, "
    ) as info:
        extract_poses([cut], workers=1, cache_dir=tmp_path / "cache-cut", chunk_frames=CHUNK, progress=False)
    assert str(info.value).count("frames") == 1, info.value


def test_chunk_errors_name_the_video_and_frame_range(video: Path) -> None:
    runner = ChunkRunner.from_name("mediapipe-holistic", {})
    try:
        with pytest.raises(
            PoseExtractionError,
            match=rf"{re.escape(str(video))}: frames 20\.\.29: the video yielded 4 frames, expected 10",
        ):
            runner.run(str(video), 20, 30)  # the video has 24 frames
    finally:
        runner.close()


def test_argument_errors(video: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid detectors"):
        extract_poses([video], detector="nope", cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="backend"):
        extract_poses([video], backend="dask", cache_dir=tmp_path, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_frames"):
        extract_poses([video], chunk_frames=0, cache_dir=tmp_path, progress=False)


@pytest.mark.ray
def test_ray_backend_gives_the_same_result(video: Path, baseline: PoseSequence, tmp_path: Path) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = extract_poses(
            [video], backend="ray", workers=2, cache_dir=tmp_path, chunk_frames=CHUNK, progress=True
        )
        assert (
            result.stats.backend == "ray" and result.stats.workers == 2 and result.stats.chunks_computed == 3
        )
        assert _same(result[str(video)], baseline)
        # The cache is shared with the local backend: a local re-run computes nothing.
        local = extract_poses([video], workers=1, cache_dir=tmp_path, chunk_frames=CHUNK, progress=False)
        assert local.stats.chunks_computed == 0 and _same(local[str(video)], baseline)
    finally:
        ray.shutdown()
