"""Stick figures: keypoints rendered as a coloured skeleton on a black canvas (METHOD.md §1, item 4).

The generator's input is this image, so it has to be cheap (rendered for every training sample,
on the GPU next to the networks or on the CPU in data loaders), deterministic and the same at every
resolution. :func:`render_stick_figures` draws a whole batch at once with vectorised torch code:

- **What is drawn.** The 24 BODY_25 limbs (:data:`dataset.keypoints.BODY_25_LIMBS`) as thick
  segments, each in its own colour; the face as thin contour lines joining consecutive points of
  each :data:`~dataset.keypoints.FACE_70_GROUPS` group (eyes and both lips closed into loops), the
  pupils as small dots; each hand as thin chains wrist → thumb … little finger. A segment is drawn
  only when both its end points have a confidence above ``min_confidence``.
- **Colours** (:data:`SEGMENT_COLOURS`). The subject's left limbs have warm hues (magenta → red →
  yellow), the right limbs cool hues (cyan → blue → violet), the spine and neck greens; neighbouring
  limbs of a chain alternate between full and 75 % brightness, so every limb has a distinct colour
  and a mirrored pose never looks like the original. The face is white, the left hand pale yellow,
  the right hand pale cyan (pastels: distinct from every saturated limb colour).
- **Widths** (:func:`line_widths`) scale with the canvas height: limbs 4 px and thin lines 1.25 px at
  height 512, never below 2 px and 1 px. Segments are capsules (round ends), so limbs join smoothly.
- **Anti-aliasing.** A pixel's coverage is ``clamp(w/2 + 0.5 - d, 0, 1)`` where ``d`` is the
  distance from its centre to the segment: a one-pixel box filter across the edge.
- **Draw order** (fixed): body limbs in ``BODY_25_LIMBS`` order, then the left hand, the right hand,
  then the face on top (face groups in ``FACE_70_GROUPS`` order, pupils last). Each segment is
  composited *over* the ones before it with its coverage as alpha.

Coordinates are pixels of the output canvas with pixel ``(row i, column j)`` centred on
``(x=j, y=i)``, as OpenPose and OpenCV use them.

**How it is vectorised.** The canvas is cut into square tiles. For every drawable segment of every
sample we list the tiles its (widened) bounding box touches, drop those farther from the segment
than half a tile diagonal plus its reach, and compute the coverage of each remaining (tile, segment)
pair over the tile's pixels in one tensor operation. Pairs are grouped by tile in draw order; a tile
covered by one segment takes its colour directly, the others are composited exactly with a reverse
cumulative product of the transparencies (``Σ_i c_i α_i Π_{j>i} (1-α_j)``). Tiles are processed in
groups of similar segment counts so that padding stays small, and in chunks bounded by
:data:`MAX_CHUNK_ELEMENTS`, so memory stays bounded at any resolution and batch size. Work scales
with the drawn area, not with the canvas.
"""

from __future__ import annotations

import colorsys
import itertools
import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from dataset.keypoints import BODY_25_LIMBS, FACE_70_GROUPS, N_BODY, N_FACE, N_HAND

__all__ = [
    "DRAW_ORDER",
    "MAX_CHUNK_ELEMENTS",
    "SEGMENT_COLOURS",
    "SEGMENT_KINDS",
    "SEGMENT_POINTS",
    "keypoints_tensor",
    "line_widths",
    "render_stick_figures",
    "stick_figure_images",
]

# --------------------------------------------------------------------------------------------------
# The segment table: which points each segment joins, its colour and its kind, in draw order.
#
# Points are indexed in one concatenated array per sample: body 0..24, face 25..94, left hand
# 95..115, right hand 116..136.

_FACE0 = N_BODY
_HAND0 = N_BODY + N_FACE
N_POINTS = N_BODY + N_FACE + 2 * N_HAND

KIND_LIMB, KIND_THIN, KIND_DOT = 0, 1, 2

# The subject's left side (warm hues) and right side (cool hues); the remaining limbs are central.
_LEFT_LIMBS = ((1, 5), (5, 6), (6, 7), (8, 12), (12, 13), (13, 14), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21))  # fmt: skip
_RIGHT_LIMBS = ((1, 2), (2, 3), (3, 4), (8, 9), (9, 10), (10, 11), (0, 15), (15, 17), (11, 22), (22, 23), (11, 24))  # fmt: skip
_CENTRE_LIMBS = {(1, 8): (120.0, 1.0), (1, 0): (150.0, 0.75)}  # spine green, neck spring green
_CLOSED_FACE_GROUPS = frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"})

FACE_RGB = (1.0, 1.0, 1.0)
LEFT_HAND_RGB = (1.0, 1.0, 0.55)
RIGHT_HAND_RGB = (0.55, 1.0, 1.0)


def _hsv(hue_degrees: float, value: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb((hue_degrees % 360.0) / 360.0, 1.0, value)
    return (r, g, b)


def _limb_colour(limb: tuple[int, int]) -> tuple[float, float, float]:
    if limb in _CENTRE_LIMBS:
        hue, value = _CENTRE_LIMBS[limb]
        return _hsv(hue, value)
    # Mirrored limbs sit at the same position of their side's hue ramp; alternating brightness
    # separates neighbours of a chain (upper arm / forearm) more than their 8.5° of hue would.
    for side, (start, stop) in ((_LEFT_LIMBS, (-30.0, 55.0)), (_RIGHT_LIMBS, (170.0, 255.0))):
        if limb in side:
            i = side.index(limb)
            return _hsv(start + (stop - start) * i / (len(side) - 1), 1.0 if i % 2 == 0 else 0.75)
    raise ValueError(f"limb {limb} is neither left, right nor central")


def _build_segments() -> tuple[
    tuple[tuple[int, int], ...], tuple[tuple[float, float, float], ...], tuple[int, ...], tuple[str, ...]
]:
    points: list[tuple[int, int]] = []
    colours: list[tuple[float, float, float]] = []
    kinds: list[int] = []
    names: list[str] = []
    # 1. Body limbs, in OpenPose's limb order.
    for a, b in BODY_25_LIMBS:
        points.append((a, b))
        colours.append(_limb_colour((a, b)))
        kinds.append(KIND_LIMB)
        names.append(f"body {a}-{b}")
    # 2. Hands: left then right, wrist → each finger, thumb to little finger.
    for hand, colour in ((0, LEFT_HAND_RGB), (1, RIGHT_HAND_RGB)):
        base = _HAND0 + hand * N_HAND
        for finger in range(5):
            chain = [0, *range(1 + 4 * finger, 5 + 4 * finger)]
            for a, b in itertools.pairwise(chain):
                points.append((base + a, base + b))
                colours.append(colour)
                kinds.append(KIND_THIN)
                names.append(f"{'left' if hand == 0 else 'right'} hand {a}-{b}")
    # 3. Face on top: consecutive points of each group, loops closed, pupils as dots.
    for group, indices in FACE_70_GROUPS.items():
        idx = list(indices)
        if len(idx) == 1:
            points.append((_FACE0 + idx[0], _FACE0 + idx[0]))
            colours.append(FACE_RGB)
            kinds.append(KIND_DOT)
            names.append(f"face {group}")
            continue
        pairs = list(itertools.pairwise(idx))
        if group in _CLOSED_FACE_GROUPS:
            pairs.append((idx[-1], idx[0]))
        for a, b in pairs:
            points.append((_FACE0 + a, _FACE0 + b))
            colours.append(FACE_RGB)
            kinds.append(KIND_THIN)
            names.append(f"face {group} {a}-{b}")
    return tuple(points), tuple(colours), tuple(kinds), tuple(names)


#: Per segment, in draw order: the two point indices joined (into body ++ face ++ left ++ right hand),
#: its RGB colour in [0, 1], its kind (0 limb, 1 thin line, 2 dot) and a readable name.
SEGMENT_POINTS, SEGMENT_COLOURS, SEGMENT_KINDS, DRAW_ORDER = _build_segments()
N_SEGMENTS = len(SEGMENT_POINTS)

#: Upper bound on the elements of one chunk's (tiles × segments per tile × tile pixels) tensor;
#: larger work is split into chunks so memory stays bounded (64 MiB per float32 tensor).
MAX_CHUNK_ELEMENTS = 1 << 24
#: Padding (in elements) worth accepting to composite two groups of tiles in one chunk: about what
#: a chunk's fixed cost (a few dozen small tensor operations) amounts to on a CPU.
MERGE_ELEMENTS = 1 << 15


@lru_cache(maxsize=16)
def _segment_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The segment table as tensors on ``device``, built once per device."""
    ends = torch.tensor(SEGMENT_POINTS, dtype=torch.long)
    colours = torch.tensor(SEGMENT_COLOURS, dtype=torch.float32)
    kinds = torch.tensor(SEGMENT_KINDS, dtype=torch.long)
    return ends[:, 0].to(device), ends[:, 1].to(device), colours.to(device), kinds.to(device)


# --------------------------------------------------------------------------------------------------
# Public API


def line_widths(height: int) -> tuple[float, float]:
    """``(limb width, thin width)`` in pixels for a canvas ``height`` pixels tall.

    4 px and 1.25 px at height 512 (the paper's 1024×512), proportional to the height, but never
    below 2 px for limbs (so they stay visibly thicker than face and hand lines) and 1 px for thin
    lines (thinner lines would fade to a faint grey under anti-aliasing).
    """
    if height <= 0:
        raise ValueError(f"height must be positive, got {height}")
    scale = height / 512.0
    return max(2.0, 4.0 * scale), max(1.0, 1.25 * scale)


def _tile_size(height: int, width: int) -> int:
    # Small tiles skip more empty pixels around thin lines; larger ones mean fewer (tile, segment)
    # pairs to set up when lines are long. Measured on the CPU with the demo dancer (batch 8, one
    # thread): 8 px is fastest up to 512×256 (about twice 16 px there), 16 px ties from 1024×512 up
    # and keeps the pair count down; 32 px is slower everywhere.
    return 8 if max(height, width) <= 512 else 16


def keypoints_tensor(points: Any, device: torch.device) -> torch.Tensor:
    """``points`` (torch tensor or anything numpy accepts) as a float32 tensor on ``device``."""
    if isinstance(points, torch.Tensor):
        return points.detach().to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)


def _input_device(points: Any, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return points.device if isinstance(points, torch.Tensor) else torch.device("cpu")


@torch.no_grad()
def render_stick_figures(
    body: Any,
    face: Any,
    hands: Any,
    height: int,
    width: int,
    *,
    min_confidence: float = 0.1,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Render a batch of stick figures: float32 ``(B, 3, height, width)`` in [0, 1], black background.

    ``body`` ``(B, 25, 3)``, ``face`` ``(B, 70, 3)`` and ``hands`` ``(B, 2, 21, 3)`` are torch
    tensors or numpy arrays of ``(x, y, confidence)`` already in the canvas' pixel coordinates.
    The result is on ``device``, by default the device of ``body`` (CPU for numpy input). It is
    built without autograd (keypoints are data, not parameters) but is an ordinary tensor, so it can
    feed a network that is being trained.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"canvas must be at least 1×1 pixels, got height {height}, width {width}")
    dev = _input_device(body, device)
    body_t = keypoints_tensor(body, dev)
    face_t = keypoints_tensor(face, dev)
    hands_t = keypoints_tensor(hands, dev)
    n = body_t.shape[0] if body_t.dim() == 3 else -1
    expected = {"body": (n, N_BODY, 3), "face": (n, N_FACE, 3), "hands": (n, 2, N_HAND, 3)}
    for name, tensor in (("body", body_t), ("face", face_t), ("hands", hands_t)):
        if tuple(tensor.shape) != expected[name] or n < 0:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}, expected (B, {', '.join(map(str, expected[name][1:]))})"
            )

    points = torch.cat([body_t, face_t, hands_t.reshape(n, 2 * N_HAND, 3)], dim=1)  # (B, 137, 3)
    end_a, end_b, colours, kinds = _segment_tables(dev)
    limb_width, thin_width = line_widths(height)
    # Half widths per kind: limbs and lines are centred on the segment; a pupil's dot has the
    # diameter of two thin lines so it reads as a dot rather than a speck.
    half = torch.tensor([limb_width / 2, thin_width / 2, thin_width], device=dev)[kinds]
    reach_per_segment = half + 0.5  # coverage is zero from this distance on

    pa = points[:, end_a]  # (B, S, 3)
    pb = points[:, end_b]
    drawable = (
        (pa[..., 2] > min_confidence)
        & (pb[..., 2] > min_confidence)
        & torch.isfinite(pa[..., :2]).all(-1)
        & torch.isfinite(pb[..., :2]).all(-1)
    )
    # Geometry and compositing stay in fp32 even inside a caller's bf16 autocast region.
    with torch.autocast(dev.type, enabled=False):
        return _rasterise(pa[..., :2], pb[..., :2], drawable, reach_per_segment, colours, height, width)


def stick_figure_images(body: Any, face: Any, hands: Any, height: int, width: int, **kw: Any) -> np.ndarray:
    """:func:`render_stick_figures` as ``(B, height, width, 3)`` uint8 RGB numpy images (for videos)."""
    canvas = render_stick_figures(body, face, hands, height, width, **kw)
    return (canvas * 255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# Rasterisation


def _rasterise(
    a: torch.Tensor,
    b: torch.Tensor,
    drawable: torch.Tensor,
    reach_per_segment: torch.Tensor,
    colours: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """Composite segments ``a[i, s] → b[i, s]`` (``(B, S, 2)`` pixels) where ``drawable``; see module doc."""
    dev = a.device
    n_batch, n_seg = drawable.shape
    tile = _tile_size(height, width)
    ntx, nty = -(-width // tile), -(-height // tile)
    tile_pixels = tile * tile
    reach = reach_per_segment.expand(n_batch, n_seg)
    # Segments that are not drawn (undetected, NaN) get harmless coordinates before any arithmetic.
    a = torch.where(drawable[..., None], a, torch.zeros_like(a))
    b = torch.where(drawable[..., None], b, torch.zeros_like(b))

    # Bounding boxes in tile units. Clamping the coordinates first keeps absurd values (a keypoint
    # a million pixels away) from overflowing the integer conversion; it cannot change which tiles
    # inside the canvas are touched.
    lo = torch.minimum(a, b) - reach[..., None]
    hi = torch.maximum(a, b) + reach[..., None]
    limit = torch.tensor([width - 1, height - 1], device=dev, dtype=torch.float32)
    drawable = drawable & (hi > 0).all(-1) & (lo < limit).all(-1)  # some pixel centre can be covered
    lo_t = torch.floor(torch.maximum(lo, torch.zeros_like(lo)) / tile).long()
    hi_t = torch.floor(torch.minimum(hi, limit) / tile).long()
    n_x = (hi_t[..., 0] - lo_t[..., 0] + 1).clamp_(min=1)
    n_y = (hi_t[..., 1] - lo_t[..., 1] + 1).clamp_(min=1)

    # One entry per (sample, segment, tile of its box), in (sample, segment) order.
    flat = torch.nonzero(drawable.reshape(-1)).squeeze(1)  # sample * S + segment
    counts = (n_x * n_y).reshape(-1)[flat]
    pair = torch.repeat_interleave(flat, counts)
    if pair.numel() == 0:
        return torch.zeros(n_batch, 3, height, width, device=dev)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(pair.numel(), device=dev) - torch.repeat_interleave(first, counts)
    nx_p = n_x.reshape(-1)[pair]
    tx = lo_t[..., 0].reshape(-1)[pair] + local % nx_p
    ty = lo_t[..., 1].reshape(-1)[pair] + local // nx_p
    ax, ay = a[..., 0].reshape(-1)[pair], a[..., 1].reshape(-1)[pair]
    bx, by = b[..., 0].reshape(-1)[pair], b[..., 1].reshape(-1)[pair]
    r = reach.reshape(-1)[pair]

    # Drop tiles of the box that the segment does not come near (long diagonal limbs): keep a tile
    # when the segment passes within its half diagonal plus the segment's reach of its centre.
    dx, dy = bx - ax, by - ay
    inv_len2 = 1.0 / (dx * dx + dy * dy).clamp_(min=1e-12)
    cx = tx.float() * tile + (tile - 1) / 2
    cy = ty.float() * tile + (tile - 1) / 2
    t = (((cx - ax) * dx + (cy - ay) * dy) * inv_len2).clamp_(0, 1)
    dist2 = (cx - ax - t * dx).square_() + (cy - ay - t * dy).square_()
    keep = dist2 <= (r + tile * math.sqrt(0.5)).square()
    keep_idx = torch.nonzero(keep).squeeze(1)
    if keep_idx.numel() == 0:
        return torch.zeros(n_batch, 3, height, width, device=dev)
    sample = torch.div(pair[keep_idx], n_seg, rounding_mode="floor")
    tile_id = (sample * nty + ty[keep_idx]) * ntx + tx[keep_idx]

    # Group pairs by tile; the stable sort keeps each tile's segments in draw order.
    tile_id, order = torch.sort(tile_id, stable=True)
    tiles, tile_of_pair, per_tile = torch.unique_consecutive(tile_id, return_inverse=True, return_counts=True)
    rank = torch.arange(tile_id.numel(), device=dev) - (torch.cumsum(per_tile, 0) - per_tile)[tile_of_pair]

    # Re-lay the pairs so tiles come in increasing segment count: each group of tiles with similar
    # counts is then one contiguous slice, padded only to its own largest count.
    per_tile_cpu = per_tile.cpu().numpy()
    by_count = np.argsort(per_tile_cpu, kind="stable")
    sorted_counts = per_tile_cpu[by_count]
    sorted_first = np.concatenate([[0], np.cumsum(sorted_counts)])
    position = np.empty_like(by_count)
    position[by_count] = np.arange(by_count.size)
    new_index = torch.from_numpy(sorted_first[:-1][position]).to(dev)[tile_of_pair] + rank
    relayout = torch.empty_like(new_index)
    relayout[new_index] = torch.arange(new_index.numel(), device=dev)
    rank = rank[relayout]
    tiles = tiles[torch.from_numpy(by_count).to(dev)]
    # Gather every per-pair attribute once, through the composed selection and permutations.
    final = keep_idx[order[relayout]]
    segment = pair[final] % n_seg
    tx, ty, ax, ay, dx, dy = tx[final], ty[final], ax[final], ay[final], dx[final], dy[final]
    inv_len2, r = inv_len2[final], r[final]
    pair_colours = colours[segment]

    # The canvas, padded to whole tiles and viewed tile by tile, so each tile's colours are written
    # straight into the output (allocating and filling a large tensor is the dominant cost at
    # high resolutions on the CPU, so the output is written once and copied only if padded).
    canvas = torch.zeros(n_batch, 3, nty * tile, ntx * tile, device=dev)
    canvas_tiles = canvas.view(n_batch, 3, nty, tile, ntx, tile)
    tile_sample = torch.div(tiles, nty * ntx, rounding_mode="floor")
    tile_y = torch.div(tiles, ntx, rounding_mode="floor") % nty
    tile_x = tiles % ntx
    offsets = torch.arange(tile, device=dev, dtype=torch.float32)
    for t0, t1 in _chunks(sorted_counts, tile_pixels):
        p0, p1 = int(sorted_first[t0]), int(sorted_first[t1])
        k = int(sorted_counts[t1 - 1])
        sl = slice(p0, p1)
        alpha = _coverage(
            tx[sl], ty[sl], ax[sl], ay[sl], dx[sl], dy[sl], inv_len2[sl], r[sl], offsets, tile
        )  # (P, tile*tile)
        if k == 1:  # one segment per tile: nothing to composite
            rgb = pair_colours[sl, :, None] * alpha[:, None, :]
        else:
            n = t1 - t0
            # Tiles in this chunk may have fewer than k segments: padding entries stay transparent.
            local_tile = _local_tile_index(sorted_counts[t0:t1], dev)
            dense = torch.zeros(n, k, tile_pixels, device=dev)
            dense[local_tile, rank[sl]] = alpha
            dense_colours = torch.zeros(n, k, 3, device=dev)
            dense_colours[local_tile, rank[sl]] = pair_colours[sl]
            # Over-compositing in draw order: segment i is seen through everything drawn after it.
            transmit = (1.0 - dense).flip(1).cumprod(1).flip(1)  # Π_{j>=i} (1 - α_j)
            seen = torch.cat([transmit[:, 1:], torch.ones_like(transmit[:, :1])], dim=1)
            rgb = torch.bmm(dense_colours.transpose(1, 2), dense * seen)  # (n, 3, tile*tile)
        # Advanced indices on dims 0, 2, 4 (separated by slices) index as (tiles, 3, tile, tile).
        canvas_tiles[tile_sample[t0:t1], :, tile_y[t0:t1], :, tile_x[t0:t1], :] = rgb.view(-1, 3, tile, tile)

    if canvas.shape[2] == height and canvas.shape[3] == width:
        return canvas
    return canvas[:, :, :height, :width].contiguous()


def _local_tile_index(counts: np.ndarray, device: torch.device) -> torch.Tensor:
    """For pairs laid out tile by tile with ``counts`` pairs each: the tile (0-based) of each pair."""
    return torch.repeat_interleave(
        torch.arange(counts.size, device=device), torch.from_numpy(counts.astype(np.int64)).to(device)
    )


def _chunks(sorted_counts: np.ndarray, tile_pixels: int) -> list[tuple[int, int]]:
    """Split tiles (sorted by segment count) into ranges ``[t0, t1)`` to composite together.

    Tiles start in groups by count: ``(2^(j-1), 2^j]`` share group ``j``, so padding each group to its
    largest count at most doubles its work. Neighbouring groups are merged while the padding that
    adds is smaller than :data:`MERGE_ELEMENTS` (for small batches a chunk's fixed cost, a few dozen
    tensor operations, outweighs the padding). Groups whose dense tensor would exceed
    :data:`MAX_CHUNK_ELEMENTS` are split.
    """
    n = sorted_counts.size
    if n == 0:
        return []
    buckets = np.ceil(np.log2(np.maximum(sorted_counts, 1))).astype(np.int64)
    bounds = np.flatnonzero(np.diff(buckets)) + 1
    groups: list[list[int]] = []
    for start, stop in zip([0, *bounds.tolist()], [*bounds.tolist(), n], strict=True):
        if groups:
            g0, g1 = groups[-1]
            extra = (g1 - g0) * int(sorted_counts[stop - 1] - sorted_counts[g1 - 1]) * tile_pixels
            if extra <= MERGE_ELEMENTS:
                groups[-1][1] = stop
                continue
        groups.append([start, stop])
    ranges: list[tuple[int, int]] = []
    for start, stop in groups:
        k = int(sorted_counts[stop - 1])
        per_chunk = max(1, MAX_CHUNK_ELEMENTS // (k * tile_pixels))
        ranges.extend((t0, min(stop, t0 + per_chunk)) for t0 in range(start, stop, per_chunk))
    return ranges


def _coverage(
    tx: torch.Tensor,
    ty: torch.Tensor,
    ax: torch.Tensor,
    ay: torch.Tensor,
    dx: torch.Tensor,
    dy: torch.Tensor,
    inv_len2: torch.Tensor,
    reach: torch.Tensor,
    offsets: torch.Tensor,
    tile: int,
) -> torch.Tensor:
    """Coverage ``(P, tile*tile)`` of each pair's segment over its tile's pixels."""
    gx = (tx.float() * tile)[:, None] + offsets - ax[:, None]  # (P, tile): pixel x minus segment start
    gy = (ty.float() * tile)[:, None] + offsets - ay[:, None]
    # Projection parameter of each pixel on the segment, clamped to the segment (capsule ends).
    t = ((gx * (dx * inv_len2)[:, None])[:, None, :] + (gy * (dy * inv_len2)[:, None])[:, :, None]).clamp_(
        0, 1
    )
    ex = gx[:, None, :] - t * dx[:, None, None]
    ey = gy[:, :, None] - t * dy[:, None, None]
    dist = ex.square_().add_(ey.square_()).sqrt_()
    return dist.neg_().add_(reach[:, None, None]).clamp_(0, 1).reshape(tx.numel(), tile * tile)
