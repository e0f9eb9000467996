"""Temporal coherence of a generated video, measured against the real video (beyond the paper).

The paper judged temporal coherence only by eye. Two measured statistics, both on ``(T, H, W, 3)``
uint8 videos with intensities in **[0, 1] units** (pixel values / 255):

**Warping error** (:func:`warping_error`). For each ``t >= 1``, optical flow is estimated on the
*real* frames (OpenCV Farneback on grey images), since the generated video's own flow would reward
whatever it does. The backward flow ``f_bw`` (real ``t`` -> real ``t-1``) warps generated frame
``t-1`` onto frame ``t`` (``cv2.remap``, bilinear); the error is the mean absolute difference to
generated frame ``t`` over the pixels and channels that are not occluded. Occlusions are found by the
standard forward-backward check on the real flows: with ``f_fw`` (real ``t-1`` -> real ``t``) warped
to frame ``t`` by ``f_bw``, a pixel is kept when ``|f_bw + f_fw'|^2 < 0.01 (|f_bw|^2 + |f_fw'|^2) + 0.5``
and its flow does not point outside the frame (by more than half a pixel). The same error of the real video itself (warping
real ``t-1`` onto real ``t``) is the floor that flow errors and true appearance changes leave; the
ratio generated / real says how far above that floor the generated video is (1 = as coherent as
real). Static content gives 0 for both, up to Farneback's tiny residual flow (~1e-5).

**Flicker** (:func:`flicker`, :func:`temporal_statistics`). ``brightness_flicker`` is the mean
absolute change of the frame's mean luminance (BT.601 grey) between consecutive frames: the global
brightness pumping that per-frame generators show, insensitive to motion that keeps the brightness.
``frame_difference`` is the mean absolute per-pixel change of luminance between consecutive frames,
and ``temporal_high_frequency`` the mean absolute second temporal difference per pixel
(``|I[t+1] - 2 I[t] + I[t-1]|``): zero for still or uniformly changing pixels, large for
frame-to-frame jitter. Both depend on the motion, so they are meaningful only compared with the real
video of the same motion: :func:`compare_temporal` gives each statistic for both videos, their
difference (generated - real) and ratio (generated / real, ``None`` when real is 0).
"""

from __future__ import annotations

import cv2
import numpy as np


def _check_video(name: str, frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"{name} must be (T, H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    return arr


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _luminance(frames: np.ndarray) -> np.ndarray:
    """``(T, H, W)`` float64 luminance in [0, 1]."""
    return np.stack([_grey(f) for f in frames]).astype(np.float64) / 255.0


def _flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Farneback flow ``(H, W, 2)`` such that ``src(p) ~ dst(p + flow(p))``."""
    # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: OpenCV's usual settings.
    out = np.zeros((*src.shape[:2], 2), np.float32)  # output buffer only (no initial-flow flag)
    flow = cv2.calcOpticalFlowFarneback(src, dst, out, 0.5, 3, 15, 3, 5, 1.2, 0)
    return np.asarray(flow, np.float32)


def _warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _sq(v: np.ndarray) -> np.ndarray:
    return np.asarray((v.astype(np.float64) ** 2).sum(axis=-1))


def _mae(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    if not valid.any():
        return 0.0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return float(diff[valid].mean())


def warping_error_per_frame(generated: np.ndarray, real: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame flow-warping errors of ``generated`` and ``real``, with flow and occlusions from ``real``.

    Returns ``{"generated", "real", "non_occluded"}``, each ``(T - 1,)`` float64: for ``t = 1..T-1``
    the mean absolute error in [0, 1] units over the non-occluded pixels, and the fraction of pixels
    compared. Fewer than two frames give empty arrays.
    """
    gen = _check_video("generated", generated)
    ref = _check_video("real", real)
    if gen.shape != ref.shape:
        raise ValueError(f"generated {gen.shape} and real {ref.shape} differ in shape")
    t_len, h, w = ref.shape[:3]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    greys = [_grey(f) for f in ref]
    errs_gen: list[float] = []
    errs_real: list[float] = []
    kept: list[float] = []
    for t in range(1, t_len):
        f_bw = _flow(greys[t], greys[t - 1])  # frame t -> frame t-1
        f_fw = _flow(greys[t - 1], greys[t])  # frame t-1 -> frame t
        map_x, map_y = xs + f_bw[..., 0], ys + f_bw[..., 1]
        f_fw_warped = _warp(f_fw, map_x, map_y)
        consistent = _sq(f_bw + f_fw_warped) < 0.01 * (_sq(f_bw) + _sq(f_fw_warped)) + 0.5
        # Half a pixel of slack: Farneback's sub-pixel residual at the border is not an exit.
        inside = (map_x > -0.5) & (map_x < w - 0.5) & (map_y > -0.5) & (map_y < h - 0.5)
        valid = consistent & inside
        kept.append(float(valid.mean()))
        errs_gen.append(_mae(_warp(gen[t - 1], map_x, map_y), gen[t], valid))
        errs_real.append(_mae(_warp(ref[t - 1], map_x, map_y), ref[t], valid))
    return {
        "generated": np.asarray(errs_gen, np.float64),
        "real": np.asarray(errs_real, np.float64),
        "non_occluded": np.asarray(kept, np.float64),
    }


def summarize_warping_error(per_frame: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Means of :func:`warping_error_per_frame`'s arrays and the ratio generated / real (``None`` when real is 0)."""
    if len(per_frame["generated"]) == 0:
        return {"generated": 0.0, "real": 0.0, "ratio": None, "non_occluded": 1.0}
    e_gen, e_real = float(per_frame["generated"].mean()), float(per_frame["real"].mean())
    return {
        "generated": e_gen,
        "real": e_real,
        "ratio": e_gen / e_real if e_real > 0 else None,
        "non_occluded": float(per_frame["non_occluded"].mean()),
    }


def warping_error(generated: np.ndarray, real: np.ndarray) -> dict[str, float | None]:
    """Flow-warping error of ``generated`` and of ``real``, with flow and occlusions from ``real``.

    Returns ``{"generated", "real"}`` (means over ``t = 1..T-1`` of the per-frame mean absolute error
    in [0, 1] units over non-occluded pixels), ``"ratio"`` (generated / real, ``None`` when real is 0)
    and ``"non_occluded"`` (mean fraction of pixels compared). Fewer than two frames give zeros.
    """
    return summarize_warping_error(warping_error_per_frame(generated, real))


def flicker(frames: np.ndarray) -> float:
    """Mean absolute change of mean luminance between consecutive frames, in [0, 1] units."""
    lum = _luminance(_check_video("frames", frames)).mean(axis=(1, 2))
    return float(np.abs(np.diff(lum)).mean()) if len(lum) > 1 else 0.0


def temporal_statistics(frames: np.ndarray) -> dict[str, float]:
    """``brightness_flicker``, ``frame_difference`` and ``temporal_high_frequency`` (module docstring)."""
    lum = _luminance(_check_video("frames", frames))
    first = np.diff(lum, axis=0)
    second = np.diff(lum, n=2, axis=0)
    means = lum.mean(axis=(1, 2))
    return {
        "brightness_flicker": float(np.abs(np.diff(means)).mean()) if len(lum) > 1 else 0.0,
        "frame_difference": float(np.abs(first).mean()) if len(lum) > 1 else 0.0,
        "temporal_high_frequency": float(np.abs(second).mean()) if len(lum) > 2 else 0.0,
    }


def compare_temporal(generated: np.ndarray, real: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Each :func:`temporal_statistics` value for both videos, their difference and ratio.

    ``{stat: {"generated", "real", "difference" (generated - real), "ratio" (generated / real, None
    when real is 0)}}``.
    """
    gen, ref = temporal_statistics(generated), temporal_statistics(real)
    return {
        key: {
            "generated": gen[key],
            "real": ref[key],
            "difference": gen[key] - ref[key],
            "ratio": gen[key] / ref[key] if ref[key] > 0 else None,
        }
        for key in gen
    }
