"""Person crops and image degradations for the learned detector.

The detector looks at a square crop around the person, not the whole frame: the synthesised part of
a dancenow video is the person, and a crop keeps the classifier's input the same whatever the
video's size. A crop box is ``(cx, cy, side)`` in pixels, from the body keypoints (NaN when the
frame has no person); crops reaching past the frame are filled by repeating its edge.

The degradations are the ones Wang et al. 2020 train with (Gaussian blur, JPEG), plus rescaling and
H.264 re-encoding: the same functions augment training crops and make the robustness table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_POINTS = 3  # fewer confident body keypoints than this: no person in the frame
MIN_CONFIDENCE = 0.1


def spread_indices(count: int, n: int, start: int = 0) -> list[int]:
    """Up to ``n`` distinct frame indices spread evenly over ``start … start + count - 1``."""
    if count <= 0 or n <= 0:
        return []
    return sorted({start + round(float(i)) for i in np.linspace(0, count - 1, min(n, count))})


def person_boxes(body: np.ndarray, margin: float) -> np.ndarray:
    """Square boxes ``(T, 3)`` = ``cx, cy, side`` around each frame's body keypoints ``(T, 25, 3)``.

    The side is the person's larger extent grown by ``margin`` of it on each side; rows are NaN for
    frames with fewer than :data:`MIN_POINTS` keypoints above :data:`MIN_CONFIDENCE`.
    """
    if body.ndim != 3 or body.shape[2] != 3:
        raise ValueError(f"body keypoints must be (T, K, 3), got {body.shape}")
    boxes = np.full((len(body), 3), np.nan, np.float32)
    for index, frame in enumerate(body):
        points = frame[frame[:, 2] > MIN_CONFIDENCE, :2]
        if len(points) < MIN_POINTS:
            continue
        low, high = points.min(axis=0), points.max(axis=0)
        side = float(max(high - low)) * (1 + 2 * margin)
        boxes[index] = ((low[0] + high[0]) / 2, (low[1] + high[1]) / 2, max(side, 8.0))
    return boxes


def crop_square(image: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """The ``box`` (cx, cy, side) of ``image`` (H, W, 3) resampled to ``size`` × ``size``; parts
    outside the frame repeat its edge. Area filtering when shrinking, bilinear when enlarging."""
    import cv2

    cx, cy, side = (float(v) for v in box)
    scale = size / side
    # Maps the box's top-left corner to (0, 0) and its side to `size` pixels (pixel centres aligned).
    matrix = np.array(
        [[scale, 0, (0.5 - cx) * scale + size / 2 - 0.5], [0, scale, (0.5 - cy) * scale + size / 2 - 0.5]],
        np.float64,
    )
    if scale < 1:  # pre-shrink so the warp does not alias
        factor = max(int(1 / scale), 1)
        if factor > 1:
            small = cv2.resize(
                image, (max(image.shape[1] // factor, 1), max(image.shape[0] // factor, 1)),
                interpolation=cv2.INTER_AREA,
            )  # fmt: skip
            fx, fy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
            matrix = matrix @ np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
            image = small
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def fill_missing_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes with NaN rows replaced by the nearest frame's box (all NaN stays all NaN)."""
    valid = np.flatnonzero(~np.isnan(boxes[:, 0]))
    if len(valid) == 0 or len(valid) == len(boxes):
        return boxes
    nearest = valid[np.abs(np.arange(len(boxes))[:, None] - valid[None, :]).argmin(axis=1)]
    return boxes[nearest]


# ----------------------------------------------------------------------------------------------
# Degradations
# ----------------------------------------------------------------------------------------------


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    if sigma <= 0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (RGB) through a JPEG encoding at ``quality`` (1–100) and back."""
    import cv2

    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a frame")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("OpenCV could not decode its own JPEG")
    return np.ascontiguousarray(decoded[..., ::-1])


def rescale(image: np.ndarray, factor: float, back: bool = True) -> np.ndarray:
    """Shrink ``image`` by ``factor`` (area filter); ``back`` enlarges it to its size again."""
    import cv2

    height, width = image.shape[:2]
    small = cv2.resize(
        image,
        (max(round(width * factor), 1), max(round(height * factor), 1)),
        interpolation=cv2.INTER_AREA,
    )
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) if back else small


def h264(frames: np.ndarray, bit_rate: int, fps: float = 30.0) -> np.ndarray:
    """Frames (T, H, W, 3) through an H.264 encoding at ``bit_rate`` bits/s and back."""
    import tempfile
    from pathlib import Path

    from dataset.video import VideoReader, VideoWriter

    with tempfile.TemporaryDirectory(prefix="dancenow-h264-") as folder:
        path = Path(folder) / "reencoded.mp4"
        with VideoWriter(path, fps=fps, bit_rate=bit_rate) as writer:
            writer.write_batch(frames)
        out = VideoReader(str(path)).get_batch(range(len(frames)))
    return out[:, : frames.shape[1], : frames.shape[2]]


__all__ = [
    "crop_square",
    "fill_missing_boxes",
    "gaussian_blur",
    "h264",
    "jpeg",
    "person_boxes",
    "rescale",
    "spread_indices",
]
