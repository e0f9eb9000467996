"""Face boxes for the face GAN (METHOD.md §3): where the face is, and per-sample crop and paste.

The face GAN works on a square box centred on the face: 128×128 at the paper's 1024×512
(:func:`face_box_size` scales it with the frame height). The centre is the nose, else the ears'
midpoint, else the eyes' midpoint (:func:`face_centers`); the box is shifted to lie inside the
image (:func:`face_boxes`). Every sample of a batch has its own box: :func:`crop_boxes` gathers and
:func:`paste_boxes` scatters with per-sample index arithmetic, without a Python loop or a host
synchronisation, and both are differentiable (the paper's release only worked at batch size 1).

Coordinates follow :mod:`synthesis.stick_figure`: pixel ``(row i, column j)`` is centred on
``(x=j, y=i)``; a box's corner ``(x0, y0)`` is its top-left pixel and it covers columns
``x0 … x0 + size - 1`` and rows ``y0 … y0 + size - 1``.
"""

from __future__ import annotations

from typing import Any

import torch

from dataset.keypoints import BODY, N_BODY

from .stick_figure import keypoints_tensor

__all__ = ["crop_boxes", "face_box_size", "face_boxes", "face_centers", "paste_boxes"]

_NOSE = BODY["Nose"]
_EARS = (BODY["REar"], BODY["LEar"])
_EYES = (BODY["REye"], BODY["LEye"])


def face_box_size(height: int) -> int:
    """Side of the face box for frames ``height`` pixels tall: 128 at 512, proportional, a multiple of 8, ≥ 16.

    A multiple of 8 keeps the face generator's three stride-2 downsamplings exact.
    """
    if height <= 0:
        raise ValueError(f"height must be positive, got {height}")
    return max(16, 8 * round(height * 128 / 512 / 8))


def face_centers(body: Any, *, min_confidence: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Face centre of each sample of ``body`` ``(B, 25, 3)``: ``(B, 2)`` float32 ``(x, y)`` and ``(B,)`` valid.

    The nose when it is detected; else the midpoint of the ears when both are; else the midpoint of
    the eyes when both are. Where none is, the centre is ``(0, 0)`` and valid is False. The result is
    on the device of ``body`` (CPU for numpy input).
    """
    dev = body.device if isinstance(body, torch.Tensor) else torch.device("cpu")
    b = keypoints_tensor(body, dev)
    if b.dim() != 3 or tuple(b.shape[1:]) != (N_BODY, 3):
        raise ValueError(f"body has shape {tuple(b.shape)}, expected (B, {N_BODY}, 3)")
    seen = (b[..., 2] > min_confidence) & torch.isfinite(b).all(-1)  # (B, 25)
    xy = b[..., :2]

    nose_ok = seen[:, _NOSE]
    ears_ok = seen[:, _EARS[0]] & seen[:, _EARS[1]]
    eyes_ok = seen[:, _EYES[0]] & seen[:, _EYES[1]]
    ears = (xy[:, _EARS[0]] + xy[:, _EARS[1]]) / 2
    eyes = (xy[:, _EYES[0]] + xy[:, _EYES[1]]) / 2
    # Apply the fallbacks from the last resort up, so the preferred point overwrites the others.
    centre = torch.zeros_like(xy[:, 0])
    centre = torch.where(eyes_ok[:, None], eyes, centre)
    centre = torch.where(ears_ok[:, None], ears, centre)
    centre = torch.where(nose_ok[:, None], xy[:, _NOSE], centre)
    return centre, nose_ok | ears_ok | eyes_ok


def face_boxes(
    body: Any, height: int, width: int, box_size: int, *, min_confidence: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners ``(B, 2)`` long ``(x0, y0)`` of ``box_size`` boxes on the faces, and ``(B,)`` valid.

    Each box is centred on :func:`face_centers` (its centre ``x0 + (box_size - 1) / 2`` within half a
    pixel of the face's), then shifted the least needed to lie inside the ``height``×``width`` image.
    A sample with no face gets the box at the image's top centre (where a standing subject's head
    usually is, so the face GAN still sees plausible content) and valid False: callers can mask
    its losses.
    """
    if not 0 < box_size <= min(height, width):
        raise ValueError(f"a {box_size}-pixel box does not fit a {height}×{width} image")
    centre, valid = face_centers(body, min_confidence=min_confidence)
    corner = torch.floor(centre - (box_size - 1) / 2 + 0.5)
    # Python-number bounds, not small device tensors: copying those to a GPU would sync the host.
    x0 = corner[:, 0].clamp(0, width - box_size).long()
    y0 = corner[:, 1].clamp(0, height - box_size).long()
    x0 = torch.where(valid, x0, (width - box_size) // 2)
    y0 = torch.where(valid, y0, 0)
    return torch.stack([x0, y0], 1), valid


def _box_index(corners: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """``(B, size*size)`` flat pixel indices (``y * width + x``) of each sample's box, row by row.

    Corners are clamped so every box lies inside the image (as :func:`face_boxes` makes them):
    checking instead would need a device-to-host synchronisation on every call.
    """
    if corners.dim() != 2 or corners.shape[1] != 2:
        raise ValueError(f"corners has shape {tuple(corners.shape)}, expected (B, 2)")
    if not 0 < size <= min(height, width):
        raise ValueError(f"a {size}-pixel box does not fit a {height}×{width} image")
    c = corners.long()
    x0 = c[:, 0].clamp(0, width - size)
    y0 = c[:, 1].clamp(0, height - size)
    steps = torch.arange(size, device=corners.device)
    rows = (y0[:, None] + steps) * width  # (B, size)
    cols = x0[:, None] + steps
    return (rows[:, :, None] + cols[:, None, :]).reshape(corners.shape[0], size * size)


def crop_boxes(images: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """Crop ``(B, C, H, W)`` ``images`` to ``(B, C, size, size)`` at per-sample top-left ``corners`` ``(B, 2)``.

    A gather, so gradients flow back to the cropped pixels of ``images``.
    """
    n, c, h, w = images.shape
    if corners.shape[0] != n:
        raise ValueError(f"{corners.shape[0]} corners for {n} images")
    index = _box_index(corners.to(images.device), size, h, w)[:, None, :].expand(n, c, size * size)
    return images.reshape(n, c, h * w).gather(2, index).view(n, c, size, size)


def paste_boxes(images: torch.Tensor, crops: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """A new tensor: ``images`` ``(B, C, H, W)`` with ``crops`` ``(B, C, s, s)`` pasted at ``corners`` ``(B, 2)``.

    An out-of-place scatter: gradients flow to ``images`` outside the boxes (inside, the pasted
    pixels replaced them, so their gradient is zero) and to all of ``crops``.
    """
    n, c, h, w = images.shape
    if crops.dim() != 4 or crops.shape[:2] != (n, c) or crops.shape[2] != crops.shape[3]:
        raise ValueError(f"crops has shape {tuple(crops.shape)}, expected ({n}, {c}, s, s)")
    if corners.shape[0] != n:
        raise ValueError(f"{corners.shape[0]} corners for {n} images")
    size = crops.shape[2]
    index = _box_index(corners.to(images.device), size, h, w)[:, None, :].expand(n, c, size * size)
    source = crops.to(images.dtype).reshape(n, c, size * size)
    return images.reshape(n, c, h * w).scatter(2, index, source).view(n, c, h, w)
