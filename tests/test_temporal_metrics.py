"""Temporal coherence metrics: flow-warping error (flow from the real video) and flicker."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import pytest

from synthesis.evaluation.temporal import (
    compare_temporal,
    flicker,
    temporal_statistics,
    warping_error,
    warping_error_per_frame,
)

SIZE = 64


def _texture(size: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture in [40, 215] (room for brightness changes without clipping)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (40 + 175 * smooth).astype(np.uint8)


def _panning(n: int = 8, step: int = 1) -> np.ndarray:
    """A window sliding over the texture by ``step`` pixels per frame in x and y (pure translation)."""
    tex = _texture()
    return np.stack(
        [tex[20 + step * t : 20 + step * t + SIZE, 30 + step * t : 30 + step * t + SIZE] for t in range(n)]
    )


def _with_flicker(frames: np.ndarray, k: int) -> np.ndarray:
    signs = np.where(np.arange(len(frames)) % 2 == 0, 1, -1)[:, None, None, None]
    return np.clip(frames.astype(np.int16) + k * signs, 0, 255).astype(np.uint8)


def test_static_sequence_is_zero() -> None:
    frames = np.repeat(_texture()[None, :SIZE, :SIZE], 5, axis=0)
    err = warping_error(frames, frames)
    # Farneback leaves a residual flow of ~1e-3 px on identical frames: zero up to interpolation.
    assert err["generated"] == pytest.approx(0.0, abs=1e-4) and err["real"] == err["generated"]
    assert err["non_occluded"] == pytest.approx(1.0)
    assert flicker(frames) == 0.0
    assert all(v == 0.0 for v in temporal_statistics(frames).values())


@pytest.mark.parametrize("moving", [False, True])
def test_flicker_grows_with_amplitude(moving: bool) -> None:
    real = _panning(step=1) if moving else np.repeat(_texture()[None, :SIZE, :SIZE], 8, axis=0)
    warps, flickers = [], []
    for k in (0, 5, 10, 20):
        gen = _with_flicker(real, k)
        warps.append(warping_error(gen, real)["generated"])
        flickers.append(flicker(gen))
    assert all(a < b for a, b in itertools.pairwise(warps)), warps
    assert all(a < b for a, b in itertools.pairwise(flickers)), flickers
    assert flickers[-1] == pytest.approx(40 / 255, rel=0.05)  # +20 to -20 every frame
    stats = compare_temporal(_with_flicker(real, 20), real)["brightness_flicker"]
    assert stats["difference"] is not None and stats["difference"] > 0.1


def test_translation_is_near_zero_and_noise_is_not() -> None:
    start = time.perf_counter()
    real = _panning(step=2)
    err = warping_error(real, real)
    assert err["generated"] == err["real"] < 0.005, err
    assert err["ratio"] == pytest.approx(1.0) and err["non_occluded"] > 0.8
    rng = np.random.default_rng(3)
    noisy = np.clip(real + rng.normal(0, 12, real.shape), 0, 255).astype(np.uint8)
    noisy_err = warping_error(noisy, real)
    assert noisy_err["generated"] > 3 * noisy_err["real"], noisy_err
    assert noisy_err["ratio"] is not None and noisy_err["ratio"] > 3
    assert flicker(real) < 0.01  # translation keeps the mean brightness nearly constant
    assert time.perf_counter() - start < 5


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        flicker(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        warping_error(np.zeros((3, 8, 8, 3), np.uint8), np.zeros((4, 8, 8, 3), np.uint8))


def test_per_frame_warping_error_locates_the_flicker() -> None:
    real = _panning(n=6)
    gen = real.copy()
    gen[4] = _with_flicker(real[4:5], 20)[0]  # one bad frame: pairs (3, 4) and (4, 5) show it
    per_frame = warping_error_per_frame(gen, real)
    assert all(len(v) == len(real) - 1 for v in per_frame.values())
    errors = per_frame["generated"]
    assert errors[3] > 0.05 and errors[4] > 0.05  # ~20/255 where warped
    assert errors[:3].max() < 0.01
    summary = warping_error(gen, real)
    assert summary["generated"] == pytest.approx(errors.mean())
    assert warping_error_per_frame(real[:1], real[:1])["generated"].shape == (0,)
