"""Temporal smoothing of detected keypoints (METHOD.md §1, step 2).

Per-frame detections jitter by a few pixels; the generator learns that jitter as flicker. The paper
Gaussian-smooths high-frame-rate footage (120 fps) and median-filters ordinary footage; its public
release uses a 7-frame sliding median that ignores low-confidence detections. This module does both:

- ``"median"``: for each point and frame, the median position of the *confident* detections of
  that point in the centred ``window`` (confidence ≥ ``min_confidence``). A median drops a
  single-frame glitch entirely instead of smearing it over its neighbours.
- ``"gaussian"``: a confidence-weighted Gaussian average over the confident detections, normalised
  by the weights actually present. At high frame rates consecutive frames are nearly identical, so
  an average removes more noise than a median for the same temporal extent.
- ``"auto"``: Gaussian at ≥ 60 fps, median below.

The rules that keep smoothing from inventing motion:

- A missing detection (confidence 0) is never averaged in as ``(0, 0)``: missing and
  low-confidence neighbours are simply left out of the window, so a joint next to a dropout keeps
  its value instead of being pulled towards the image corner.
- A missing point stays missing (smoothing does not fill gaps: whether to interpolate is a separate
  decision, and a hallucinated joint is worse than a missing one for training).
- A present point whose window holds no confident detection (not even its own) keeps its own
  position. Confidences are returned unchanged.

Everything is vectorised over frames and points and processed in blocks of frames, so memory stays
bounded and 100k frames × 137 points take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import correlate1d

from dataset.keypoints import N_BODY, N_FACE, N_HAND, PoseSequence

SmoothingMethod = Literal["auto", "median", "gaussian"]

#: Frame rate from which ``method="auto"`` switches from the median to the Gaussian.
GAUSSIAN_MIN_FPS = 60.0
#: Detections below this confidence are left out of the windows by default.
DEFAULT_MIN_CONFIDENCE = 0.1

_BLOCK_FRAMES = 4096  # frames per block: bounds the median's (block × points × 2 × window) buffer


def default_sigma(window: int, fps: float) -> float:
    """Gaussian σ in frames when none is given: ``window / 6`` at 30 fps, scaled with the frame rate.

    ±3σ then spans ``window`` frames of 30 fps footage (the median's extent) at any frame rate,
    e.g. σ ≈ 4.7 frames (39 ms) for ``window=7`` at 120 fps.
    """
    return max(0.5, window / 6.0 * fps / 30.0)


def _flatten(seq: PoseSequence) -> np.ndarray:
    t = len(seq)
    return np.concatenate([seq.body, seq.face, seq.hands.reshape(t, 2 * N_HAND, 3)], axis=1)


def _unflatten(points: np.ndarray) -> PoseSequence:
    t = points.shape[0]
    body = points[:, :N_BODY]
    face = points[:, N_BODY : N_BODY + N_FACE]
    hands = points[:, N_BODY + N_FACE :].reshape(t, 2, N_HAND, 3)
    return PoseSequence(body, face, hands)


def _median_block(
    xy: np.ndarray, valid: np.ndarray, pad: tuple[int, int], window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median over the valid neighbours; ``xy`` holds the block plus its halo, ``pad`` completes it."""
    values = np.where(valid[..., None], xy, np.nan)
    values = np.pad(values, (pad, (0, 0), (0, 0)), constant_values=np.nan)
    windows = sliding_window_view(values, window, axis=0)  # (T, P, 2, window)
    ordered = np.sort(windows, axis=-1)  # NaNs (left-out neighbours) sort to the end
    count = np.count_nonzero(~np.isnan(ordered[:, :, :1, :]), axis=-1)  # (T, P, 1), same for x and y
    lo = np.maximum((count - 1) // 2, 0)[..., None]
    hi = (count // 2)[..., None]
    lo = np.broadcast_to(lo, (*ordered.shape[:3], 1))
    hi = np.broadcast_to(hi, (*ordered.shape[:3], 1))
    median = (np.take_along_axis(ordered, lo, -1) + np.take_along_axis(ordered, hi, -1))[..., 0] / 2
    return median, count[..., 0] > 0


def _gaussian_block(xy: np.ndarray, weight: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence-weighted Gaussian mean over valid neighbours, normalised by the weight present."""
    num = correlate1d(xy * weight[..., None], kernel, axis=0, mode="constant", cval=0.0)
    den = correlate1d(weight, kernel, axis=0, mode="constant", cval=0.0)
    has = den > 0
    mean = num / np.where(has, den, 1.0)[..., None]
    return mean, has


def smooth_poses(
    seq: PoseSequence,
    fps: float,
    method: SmoothingMethod = "auto",
    window: int = 7,
    sigma: float | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
) -> PoseSequence:
    """Smooth every keypoint over time without ever pulling it towards a missing detection.

    ``window`` (odd, frames) is the median's extent; ``sigma`` (frames) is the Gaussian's, by
    default :func:`default_sigma` ``(window, fps)``; the Gaussian is truncated at ±3σ. Returns a new
    :class:`PoseSequence`; the input is not modified.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of frames, got {window}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if method == "auto":
        method = "gaussian" if fps >= GAUSSIAN_MIN_FPS else "median"
    if method not in ("median", "gaussian"):
        raise ValueError(f"unknown smoothing method {method!r}; valid: 'auto', 'median', 'gaussian'")

    points = _flatten(seq).astype(np.float64)  # (T, P, 3)
    n = points.shape[0]
    conf = points[..., 2]
    present = conf > 0
    valid = present & (conf >= min_confidence)

    # Each block function returns (smoothed xy, has-confident-neighbours) for frames [start, stop).
    block_fn: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    if method == "median":
        halo = window // 2

        def block_fn(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
            lo, hi = max(0, start - halo), min(n, stop + halo)
            # Beyond the sequence's ends the window holds "left out" frames (NaN), so it shrinks.
            pad = (halo - (start - lo), halo - (hi - stop))
            return _median_block(points[lo:hi, :, :2], valid[lo:hi], pad, window)

    else:
        s = default_sigma(window, fps) if sigma is None else float(sigma)
        if not s > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        halo = max(1, math.ceil(3 * s))
        offsets = np.arange(-halo, halo + 1, dtype=np.float64)
        kernel = np.exp(-0.5 * (offsets / s) ** 2)
        weight = np.where(valid, conf, 0.0)

        def block_fn(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
            lo, hi = max(0, start - halo), min(n, stop + halo)
            mean, has = _gaussian_block(points[lo:hi, :, :2], weight[lo:hi], kernel)
            return mean[start - lo : stop - lo], has[start - lo : stop - lo]

    out = points.copy()
    for start in range(0, n, _BLOCK_FRAMES):
        stop = min(n, start + _BLOCK_FRAMES)
        smoothed, has = block_fn(start, stop)
        update = has & present[start:stop]
        out[start:stop, :, :2] = np.where(update[..., None], smoothed, points[start:stop, :, :2])
    out[~present] = 0.0
    return _unflatten(out.astype(np.float32))
