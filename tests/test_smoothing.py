"""Temporal keypoint smoothing: median and Gaussian, never pulled towards missing detections."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dataset.keypoints import PoseSequence
from dataset.pose import smooth_poses


def _constant(n: int, conf: float = 0.9) -> PoseSequence:
    rng = np.random.default_rng(1)
    seq = PoseSequence.empty(n)
    for part in (seq.body, seq.face, seq.hands):
        part[..., :2] = rng.uniform(10, 500, (*part.shape[1:-1], 2))  # same position in every frame
        part[..., 2] = conf
    return seq


def _track(values: list[float], conf: list[float] | None = None) -> PoseSequence:
    """A sequence where body joint 4 follows ``values`` in x and y; other points are missing."""
    seq = PoseSequence.empty(len(values))
    seq.body[:, 4, 0] = values
    seq.body[:, 4, 1] = values
    seq.body[:, 4, 2] = 0.9 if conf is None else conf
    seq.body[seq.body[:, 4, 2] == 0, 4] = 0
    return seq


@pytest.mark.parametrize("method", ["median", "gaussian"])
def test_constant_sequence_unchanged_and_shapes_kept(method: str) -> None:
    seq = _constant(40)
    out = smooth_poses(seq, fps=30, method=method)  # type: ignore[arg-type]
    assert out.body.shape == seq.body.shape and out.face.shape == seq.face.shape
    assert out.hands.shape == seq.hands.shape and out.body.dtype == np.float32
    if method == "median":
        assert np.array_equal(out.body, seq.body) and np.array_equal(out.hands, seq.hands)
    np.testing.assert_allclose(out.face, seq.face, rtol=1e-6)
    np.testing.assert_allclose(out.hands, seq.hands, rtol=1e-6)
    assert seq.body is not out.body


def test_median_removes_a_single_frame_spike() -> None:
    values = [100.0] * 15
    values[7] = 180.0
    out = smooth_poses(_track(values), fps=30)
    assert np.array_equal(out.body[:, 4, 0], np.full(15, 100.0, np.float32))


def test_missing_neighbours_never_pull_and_missing_stays_missing() -> None:
    values = [50.0, 50.0, 50.0, 0.0, 0.0, 50.0, 50.0, 50.0, 50.0, 0.0, 50.0]
    conf = [0.9 if v else 0.0 for v in values]
    for method in ("median", "gaussian"):
        out = smooth_poses(_track(values, conf), fps=30, method=method)  # type: ignore[arg-type]
        got = out.body[:, 4]
        present = np.array(conf) > 0
        np.testing.assert_allclose(got[present, :2], 50.0, rtol=1e-6, err_msg=method)
        assert np.all(got[~present] == 0), f"{method}: a missing point must stay (0, 0, 0)"
        np.testing.assert_array_equal(got[:, 2], np.array(conf, np.float32))
        # Points that were never detected stay untouched.
        assert not out.body[:, :4].any() and not out.face.any()


def test_low_confidence_detections_are_left_out_but_kept_present() -> None:
    values = [10.0, 10.0, 10.0, 90.0, 10.0, 10.0, 10.0]
    conf = [0.9, 0.9, 0.9, 0.05, 0.9, 0.9, 0.9]  # the outlier is barely confident
    out = smooth_poses(_track(values, conf), fps=30, window=3, min_confidence=0.1)
    assert out.body[3, 4, 0] == pytest.approx(10.0)  # replaced by its confident neighbours
    assert out.body[3, 4, 2] == pytest.approx(0.05)  # still present, confidence unchanged
    # With a window of 1 the only candidate is itself, which is left out: it keeps its position.
    alone = smooth_poses(_track(values, conf), fps=30, window=1)
    assert alone.body[3, 4, 0] == pytest.approx(90.0)


def test_gaussian_at_120_fps_reduces_noise() -> None:
    rng = np.random.default_rng(0)
    n = 600
    truth = 200 + 50 * np.sin(np.linspace(0, 2 * np.pi, n))  # slow motion: 1 cycle in 5 s at 120 fps
    noisy = truth + rng.normal(0, 2.0, n)
    conf = rng.uniform(0.3, 1.0, n)
    out = smooth_poses(_track(list(noisy), list(conf)), fps=120)  # auto -> Gaussian at >= 60 fps
    err_before = np.var(noisy - truth)
    err_after = np.var(out.body[:, 4, 0] - truth)
    assert err_after < 0.25 * err_before
    # auto chooses the median below 60 fps: same as asking for it.
    at30 = smooth_poses(_track(list(noisy), list(conf)), fps=30)
    assert np.array_equal(at30.body, smooth_poses(_track(list(noisy), list(conf)), 30, method="median").body)


def test_gaussian_is_confidence_weighted() -> None:
    seq = _track([10.0, 20.0, 30.0], [0.2, 0.2, 0.2])
    out = smooth_poses(seq, fps=120, method="gaussian", sigma=5.0)
    assert out.body[1, 4, 0] == pytest.approx(20.0)  # symmetric weights: the middle stays
    seq.body[2, 4, 2] = 1.0  # a much more confident right neighbour pulls towards itself
    out = smooth_poses(seq, fps=120, method="gaussian", sigma=5.0)
    assert out.body[1, 4, 0] > 24.0


def test_invalid_arguments() -> None:
    seq = _constant(5)
    with pytest.raises(ValueError, match="odd"):
        smooth_poses(seq, 30, window=4)
    with pytest.raises(ValueError, match="fps"):
        smooth_poses(seq, 0)
    with pytest.raises(ValueError, match="unknown smoothing method"):
        smooth_poses(seq, 30, method="mean")  # type: ignore[arg-type]
    assert len(smooth_poses(PoseSequence.empty(0), 30)) == 0


def test_large_sequences_are_fast() -> None:
    rng = np.random.default_rng(2)
    n = 100_000
    seq = PoseSequence(
        rng.normal(100, 3, (n, 25, 3)), rng.normal(100, 3, (n, 70, 3)), rng.normal(100, 3, (n, 2, 21, 3))
    )
    for part in (seq.body, seq.face, seq.hands):
        part[..., 2] = rng.uniform(0, 1, part.shape[:-1])
    started = time.perf_counter()
    out = smooth_poses(seq, fps=30)
    elapsed = time.perf_counter() - started
    assert len(out) == n
    assert elapsed < 30, f"median over 100k frames × 137 points took {elapsed:.1f} s"
    # Across the internal block boundaries (every 4096 frames) the result equals a direct computation.
    for t in (4094, 4095, 4096, 4097, 8191, 8192):
        window = seq.body[t - 3 : t + 4, 7]
        window = window[window[:, 2] >= 0.1]
        if seq.body[t, 7, 2] > 0 and len(window):
            np.testing.assert_allclose(out.body[t, 7, :2], np.median(window[:, :2], axis=0), rtol=1e-6)
