"""Stick-figure rendering (synthesis.stick_figure) and face boxes (synthesis.face_box), at small sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dataset.keypoints import BODY, BODY_25_LIMBS, FACE_70_GROUPS
from synthesis import stick_figure
from synthesis.face_box import crop_boxes, face_box_size, face_boxes, face_centers, paste_boxes
from synthesis.stick_figure import (
    KIND_DOT,
    KIND_LIMB,
    LEFT_HAND_RGB,
    RIGHT_HAND_RGB,
    SEGMENT_COLOURS,
    SEGMENT_KINDS,
    SEGMENT_POINTS,
    line_widths,
    render_stick_figures,
    stick_figure_images,
)

# --------------------------------------------------------------------------------------------------
# A standing figure with every point detected, on a 100×100 design grid.

_BODY_XY = {
    "Nose": (50, 15), "Neck": (50, 25), "RShoulder": (40, 25), "RElbow": (36, 38), "RWrist": (34, 50),
    "LShoulder": (60, 25), "LElbow": (64, 38), "LWrist": (66, 50), "MidHip": (50, 52), "RHip": (44, 52),
    "RKnee": (43, 70), "RAnkle": (42, 88), "LHip": (56, 52), "LKnee": (57, 70), "LAnkle": (58, 88),
    "REye": (47, 13), "LEye": (53, 13), "REar": (44, 14), "LEar": (56, 14), "LBigToe": (61, 92),
    "LSmallToe": (63, 91), "LHeel": (57, 90), "RBigToe": (39, 92), "RSmallToe": (37, 91), "RHeel": (43, 90),
}  # fmt: skip


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int) -> list[tuple[float, float]]:
    return [
        (cx + rx * math.cos(2 * math.pi * i / n), cy + ry * math.sin(2 * math.pi * i / n)) for i in range(n)
    ]


def _face_xy() -> list[tuple[float, float]]:
    jaw = [(50 - 6 * math.cos(math.pi * i / 16), 14 + 7 * math.sin(math.pi * i / 16)) for i in range(17)]
    brows = [(45 + i, 10.0) for i in range(5)] + [(51 + i, 10.0) for i in range(5)]
    nose = [(50.0, 11 + i) for i in range(4)] + [(48 + i, 16.0) for i in range(5)]
    eyes = _ellipse(47, 12.5, 1.5, 0.7, 6) + _ellipse(53, 12.5, 1.5, 0.7, 6)
    lips = _ellipse(50, 18.5, 2.5, 1.2, 12) + _ellipse(50, 18.5, 1.5, 0.5, 8)
    return jaw + brows + nose + eyes + lips + [(47, 12.5), (53, 12.5)]


def _hand_xy(wrist_x: float, direction: float) -> list[tuple[float, float]]:
    points = [(wrist_x, 50.0)]
    for finger in range(5):
        points += [(wrist_x + direction * (finger - 1.5), 51.5 + 1.5 * joint) for joint in range(4)]
    return points


def pose(
    height: int, width: int, scale: float = 1.0, dx: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(body, face, hands)`` of one figure fitted to the canvas (×``scale``, shifted ``dx`` pixels)."""
    s = min(height, width) / 100 * scale
    ox = (width - 100 * s) / 2 + dx

    def place(xy: list[tuple[float, float]]) -> np.ndarray:
        a = np.array(xy, np.float32)
        return np.concatenate([a[:, :1] * s + ox, a[:, 1:] * s, np.ones((len(a), 1), np.float32)], 1)

    body = place([_BODY_XY[name] for name in sorted(BODY, key=BODY.__getitem__)])
    hands = np.stack([place(_hand_xy(66, 1.0)), place(_hand_xy(34, -1.0))])
    return body, place(_face_xy()), hands


def batch(*poses: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.stack([p[i] for p in poses]) for i in range(3))  # type: ignore[return-value]


def empty(n: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros((n, 25, 3), np.float32),
        np.zeros((n, 70, 3), np.float32),
        np.zeros((n, 2, 21, 3), np.float32),
    )


def to_torch(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    body, face, hands = (torch.from_numpy(a).to(device=device, dtype=dtype) for a in arrays)
    return body, face, hands


def reference(body: np.ndarray, face: np.ndarray, hands: np.ndarray, height: int, width: int) -> np.ndarray:
    """Straightforward renderer: every segment over the whole canvas, composited one after the other."""
    limb, thin = line_widths(height)
    half = {0: limb / 2, 1: thin / 2, 2: thin}
    points = np.concatenate([body, face, hands.reshape(-1, 3)]).astype(np.float64)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.zeros((height, width, 3))
    for (i, j), colour, kind in zip(SEGMENT_POINTS, SEGMENT_COLOURS, SEGMENT_KINDS, strict=True):
        (ax, ay, ca), (bx, by, cb) = points[i], points[j]
        if ca <= 0.1 or cb <= 0.1:
            continue
        dx, dy = bx - ax, by - ay
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        d = np.hypot(xs - ax - t * dx, ys - ay - t * dy)
        alpha = np.clip(half[kind] + 0.5 - d, 0, 1)[..., None]
        out = out * (1 - alpha) + np.asarray(colour) * alpha
    return out.transpose(2, 0, 1)


def only(points: np.ndarray, keep: list[int]) -> np.ndarray:
    """A copy of ``points`` ``(N, 3)`` with every point but ``keep`` undetected."""
    out = np.zeros_like(points)
    out[keep] = points[keep]
    return out


def segment_index(a: int, b: int) -> int:
    return SEGMENT_POINTS.index((a, b))


# --------------------------------------------------------------------------------------------------
# Rendering


def test_output_shape_dtype_and_range() -> None:
    body, face, hands = batch(pose(96, 128), pose(96, 128, dx=10))
    out = render_stick_figures(body, face, hands, 96, 128)
    assert out.shape == (2, 3, 96, 128) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert out.min() >= 0 and out.max() <= 1
    assert ((out.amax(1) > 0.99).sum((1, 2)) > 100).all()  # a figure in each, not a blank canvas
    assert (out.amax(1) == 0).float().mean() > 0.8  # on black
    images = stick_figure_images(body, face, hands, 96, 128)
    assert images.shape == (2, 96, 128, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, (out.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))


@pytest.mark.parametrize(
    ("tile", "chunk_elements", "merge_elements"),
    [(8, None, None), (16, None, None), (32, None, None), (8, None, -1), (8, 4 * 64, -1)],
)
def test_matches_a_per_segment_reference_renderer(
    monkeypatch: pytest.MonkeyPatch, tile: int, chunk_elements: int | None, merge_elements: int | None
) -> None:
    # Tiles, culling, chunks and batched compositing must give the plain "draw each segment over
    # the canvas in order" result, here on a canvas that is not a whole number of tiles, with every
    # tile size, with tiles grouped by segment count (single-segment tiles take their own path) and
    # with chunks so small that every group is split.
    monkeypatch.setattr(stick_figure, "_tile_size", lambda height, width: tile)
    if chunk_elements is not None:
        monkeypatch.setattr(stick_figure, "MAX_CHUNK_ELEMENTS", chunk_elements)
    if merge_elements is not None:
        monkeypatch.setattr(stick_figure, "MERGE_ELEMENTS", merge_elements)
    body, face, hands = pose(90, 75, scale=1.6, dx=-8)
    out = render_stick_figures(body[None], face[None], hands[None], 90, 75)[0].numpy()
    np.testing.assert_allclose(out, reference(body, face, hands, 90, 75), atol=2e-5)


def test_undetected_limb_is_not_drawn_and_detected_one_is() -> None:
    body = np.zeros((1, 25, 3), np.float32)
    body[0, BODY["LShoulder"]] = (30, 40, 0.9)
    body[0, BODY["LElbow"]] = (30, 80, 0.9)
    _, face, hands = empty()
    colour = torch.tensor(SEGMENT_COLOURS[segment_index(BODY["LShoulder"], BODY["LElbow"])])

    out = render_stick_figures(body, face, hands, 128, 96)[0]
    assert torch.allclose(out[:, 60, 30], colour, atol=1e-6)  # midpoint, on the segment
    assert out[:, :, 40:].abs().max() == 0  # nothing far from it
    assert out[:, 90:, :].abs().max() == 0

    for confidence in (0.0, 0.05):  # undetected, and detected below min_confidence
        faint = body.copy()
        faint[0, BODY["LElbow"], 2] = confidence
        assert render_stick_figures(faint, face, hands, 128, 96).abs().max() == 0
    assert render_stick_figures(body, face, hands, 128, 96, min_confidence=0.95).abs().max() == 0


def test_left_and_right_limbs_have_distinct_warm_and_cool_colours() -> None:
    limb_colours = [np.array(SEGMENT_COLOURS[segment_index(*limb)]) for limb in BODY_25_LIMBS]
    assert len({tuple(c) for c in limb_colours}) == len(BODY_25_LIMBS)  # each limb its own colour

    left, right = BODY_25_LIMBS.index((5, 6)), BODY_25_LIMBS.index((2, 3))
    body = np.zeros((2, 25, 3), np.float32)
    body[0, 5], body[0, 6] = (40, 20, 1), (40, 60, 1)  # left upper arm
    body[1, 2], body[1, 3] = (40, 20, 1), (40, 60, 1)  # right upper arm, same place
    _, face, hands = empty(2)
    out = render_stick_figures(body, face, hands, 80, 80)[:, :, 40, 40]
    np.testing.assert_allclose(out[0].numpy(), limb_colours[left], atol=1e-6)
    np.testing.assert_allclose(out[1].numpy(), limb_colours[right], atol=1e-6)
    assert (out[0] - out[1]).abs().max() > 0.5

    # Every left limb warm (red over blue), every right limb cool (blue over red); 22 are sided.
    sided = 0
    names = {i: name for name, i in BODY.items()}
    for limb, colour in zip(BODY_25_LIMBS, limb_colours, strict=True):
        sides = {names[j][0] for j in limb if names[j][0] in "LR" and names[j][1].isupper()}
        if sides == {"L"}:
            assert colour[0] > colour[2], limb
        elif sides == {"R"}:
            assert colour[2] > colour[0], limb
        sided += len(sides) == 1
    assert sided == 22


def _cross_section(channel_max: torch.Tensor) -> float:
    return float(channel_max.sum())


def test_face_and_hand_lines_are_present_and_thinner_than_limbs() -> None:
    size = 128
    limb_w, thin_w = line_widths(size)
    body = np.zeros((1, 25, 3), np.float32)
    body[0, BODY["RHip"]], body[0, BODY["RKnee"]] = (20, 20, 1), (20, 100, 1)  # vertical limb at x = 20
    _, face, hands = empty()
    face[0, 0], face[0, 1] = (50, 20, 1), (50, 100, 1)  # jaw segment at x = 50
    hands[0, 0, 0], hands[0, 0, 1] = (80, 20, 1), (80, 100, 1)  # left wrist → thumb at x = 80
    hands[0, 1, 0], hands[0, 1, 5] = (110, 20, 1), (110, 100, 1)  # right wrist → index at x = 110
    out = render_stick_figures(body, face, hands, size, size)[0]
    row = out[:, 60].amax(0)  # a horizontal cross-section through all four lines

    widths = [_cross_section(row[x - 6 : x + 7]) for x in (20, 50, 80, 110)]
    assert widths[0] == pytest.approx(limb_w, abs=1e-4)  # coverage integrates to the line width
    for thin in widths[1:]:
        assert thin == pytest.approx(thin_w, abs=1e-4) and thin < widths[0]
    assert torch.allclose(out[:, 60, 50], torch.ones(3))  # face white
    assert torch.allclose(out[:, 60, 80], torch.tensor(LEFT_HAND_RGB))
    assert torch.allclose(out[:, 60, 110], torch.tensor(RIGHT_HAND_RGB))
    assert LEFT_HAND_RGB != RIGHT_HAND_RGB


def test_line_widths_scale_with_resolution() -> None:
    assert line_widths(512) == (4.0, 1.25)
    assert line_widths(1024) == (8.0, 2.5)
    previous = (0.0, 0.0)
    for h in (16, 64, 128, 256, 512, 1024, 2048):
        limb, thin = line_widths(h)
        assert limb > thin >= 1.0 and limb >= 2.0
        assert limb >= previous[0] and thin >= previous[1]
        previous = (limb, thin)


def test_eye_loop_is_closed_and_pupil_is_a_dot() -> None:
    body, face, hands = empty()
    eye = list(FACE_70_GROUPS["right_eye"])
    corners = [(20, 30), (30, 20), (40, 20), (50, 30), (40, 40), (30, 40)]
    for index, (x, y) in zip(eye, corners, strict=True):
        face[0, index] = (x, y, 1)
    pupil = FACE_70_GROUPS["left_pupil"][0]
    face[0, pupil] = (80, 30, 1)
    out = render_stick_figures(body, face, hands, 64, 128)[0].amax(0)
    assert out[35, 25] == pytest.approx(1.0)  # midpoint of the closing edge (last → first point)
    assert out[30, 35] == 0  # inside the loop stays empty
    assert out[30, 80] == pytest.approx(1.0)  # the pupil
    assert out[30, 84] == 0 and out[26, 80] == 0  # and it is small
    assert SEGMENT_KINDS[SEGMENT_POINTS.index((25 + pupil, 25 + pupil))] == KIND_DOT


def test_draw_order_face_over_hands_over_body() -> None:
    body, face, hands = empty()
    body[0, BODY["LHip"]], body[0, BODY["LKnee"]] = (10, 32, 1), (54, 32, 1)  # horizontal limb
    hands[0, 0, 0], hands[0, 0, 1] = (20, 10, 1), (20, 54, 1)  # vertical finger crossing it
    face[0, 0], face[0, 1] = (40, 10, 1), (40, 54, 1)  # vertical jaw line crossing it
    out = render_stick_figures(body, face, hands, 64, 64)[0]
    assert torch.allclose(out[:, 32, 20], torch.tensor(LEFT_HAND_RGB))  # hand over limb
    assert torch.allclose(out[:, 32, 40], torch.ones(3))  # face over limb
    assert SEGMENT_KINDS[: len(BODY_25_LIMBS)] == (KIND_LIMB,) * len(BODY_25_LIMBS)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (96, 160), (160, 96), (100, 75), (128, 128)])
def test_any_resolution(height: int, width: int) -> None:
    body, face, hands = pose(height, width)
    out = render_stick_figures(body[None], face[None], hands[None], height, width)
    assert out.shape == (1, 3, height, width)
    drawn = out[0].amax(0) > 0.5
    rows, cols = torch.nonzero(drawn, as_tuple=True)
    # The figure spans its design extent (head at 10, toes at 92 on a 100-grid fitted to the canvas)
    # and sits centred.
    s, limb = min(height, width) / 100, line_widths(height)[0]
    assert abs(rows.min() - 10 * s) <= limb and abs(rows.max() - 92 * s) <= limb
    assert abs(float(cols.float().mean()) - width / 2) < 0.1 * width
    # Cropping a wider canvas of the same height gives the same pixels (tiling does not show).
    wide = render_stick_figures(body[None], face[None], hands[None], height, width + 37)
    torch.testing.assert_close(wide[..., :width], out, atol=1e-6, rtol=0)


def test_batch_renders_each_sample_independently() -> None:
    first = pose(96, 96)
    second = pose(96, 96, scale=0.7, dx=15)
    third = pose(96, 96, scale=1.2, dx=-10)
    third[0][BODY["LElbow"], 2] = 0  # a missing joint in one sample only
    third[2][1] = 0  # and its right hand
    together = render_stick_figures(*batch(first, second, third), 96, 96)
    for i, p in enumerate((first, second, third)):
        alone = render_stick_figures(*batch(p), 96, 96)[0]
        torch.testing.assert_close(together[i], alone, atol=1e-6, rtol=0)
    assert (together[0] - together[1]).abs().max() > 0.5  # the poses really differ


def test_numpy_and_torch_inputs_agree_and_rendering_is_deterministic() -> None:
    arrays = batch(pose(64, 96), pose(64, 96, dx=7))
    from_numpy = render_stick_figures(*arrays, 64, 96)
    from_torch = render_stick_figures(*to_torch(arrays), 64, 96)
    assert torch.equal(from_numpy, from_torch)
    assert torch.equal(from_numpy, render_stick_figures(*arrays, 64, 96))
    doubles = render_stick_figures(*to_torch(arrays, torch.float64), 64, 96)
    assert doubles.dtype == torch.float32 and torch.equal(doubles, from_numpy)


def test_empty_offscreen_and_nonfinite_poses_render_black() -> None:
    body, face, hands = empty(2)
    assert render_stick_figures(body, face, hands, 64, 64).abs().max() == 0
    body[0, BODY["RHip"]], body[0, BODY["RKnee"]] = (-50, -50, 1), (-20, -40, 1)  # off the canvas
    body[1, BODY["RHip"]], body[1, BODY["RKnee"]] = (np.nan, 10, 1), (1e30, 10, 1)
    assert render_stick_figures(body, face, hands, 64, 64).abs().max() == 0


def test_bad_shapes_are_refused() -> None:
    body, face, hands = empty(2)
    with pytest.raises(ValueError, match="face"):
        render_stick_figures(body, face[:1], hands, 64, 64)
    with pytest.raises(ValueError, match="body"):
        render_stick_figures(body[0], face, hands, 64, 64)
    with pytest.raises(ValueError, match="canvas"):
        render_stick_figures(body, face, hands, 0, 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    arrays = batch(pose(128, 96), pose(128, 96, scale=0.6, dx=20))
    cpu = render_stick_figures(*arrays, 128, 96)
    gpu = render_stick_figures(*to_torch(arrays, device="cuda"), 128, 96)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
    assert torch.equal(gpu, render_stick_figures(*arrays, 128, 96, device="cuda"))


# --------------------------------------------------------------------------------------------------
# Face boxes


def test_face_box_size() -> None:
    assert face_box_size(512) == 128
    assert face_box_size(1024) == 256
    assert face_box_size(256) == 64
    assert face_box_size(64) == 16 and face_box_size(16) == 16
    for h in range(16, 2049, 37):
        size = face_box_size(h)
        assert size % 8 == 0 and size >= 16
        assert abs(size - h / 4) <= 4 or size == 16


def test_face_centre_falls_back_from_nose_to_ears_to_eyes() -> None:
    body = np.zeros((5, 25, 3), np.float32)
    body[:, BODY["Nose"]] = (50, 40, 1)
    body[:, BODY["REar"]], body[:, BODY["LEar"]] = (40, 42, 1), (62, 44, 1)
    body[:, BODY["REye"]], body[:, BODY["LEye"]] = (46, 36, 1), (56, 38, 1)
    body[1, BODY["Nose"], 2] = 0  # → ears
    body[2, BODY["Nose"], 2] = 0.05  # below min_confidence → ears
    body[3, BODY["Nose"], 2] = body[3, BODY["LEar"], 2] = 0  # one ear only → eyes
    body[4, :, 2] = 0  # nothing
    body[4, BODY["REar"], 2] = 1  # (one ear is not enough)
    centre, valid = face_centers(body)
    assert valid.tolist() == [True, True, True, True, False]
    expected = [(50, 40), (51, 43), (51, 43), (51, 37), (0, 0)]
    torch.testing.assert_close(centre, torch.tensor(expected, dtype=torch.float32))
    centre_t, valid_t = face_centers(torch.from_numpy(body))
    assert torch.equal(centre_t, centre) and torch.equal(valid_t, valid)


def test_face_boxes_lie_inside_and_are_centred_when_possible() -> None:
    height, width, size = 96, 160, 32
    centres = [(80, 48), (3, 2), (158, 95), (40.3, 60.7), (-20, 200), (100, 30)]
    body = np.zeros((len(centres) + 1, 25, 3), np.float32)
    for i, (x, y) in enumerate(centres):
        body[i, BODY["Nose"]] = (x, y, 1)
    corners, valid = face_boxes(body, height, width, size)
    assert corners.dtype == torch.long and corners.shape == (len(centres) + 1, 2)
    assert valid.tolist() == [True] * len(centres) + [False]
    assert (corners[:, 0] >= 0).all() and (corners[:, 0] <= width - size).all()
    assert (corners[:, 1] >= 0).all() and (corners[:, 1] <= height - size).all()
    for i in (0, 3, 5):  # far enough from the borders: centred within half a pixel
        box_centre = corners[i].float() + (size - 1) / 2
        assert (box_centre - torch.tensor(centres[i])).abs().max() <= 0.5
    assert corners[1].tolist() == [0, 0] and corners[2].tolist() == [width - size, height - size]
    assert corners[4].tolist() == [0, height - size]
    assert corners[-1].tolist() == [(width - size) // 2, 0]  # no face: top centre
    with pytest.raises(ValueError):
        face_boxes(body, height, width, 128)


def _images_and_boxes() -> tuple[torch.Tensor, torch.Tensor, int]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 2, 40, 56, generator=generator)
    corners = torch.tensor([[0, 0], [30, 12], [48, 32]])  # a different box per sample, two at edges
    return images, corners, 8


def test_crop_boxes_cuts_each_sample_at_its_own_box() -> None:
    images, corners, size = _images_and_boxes()
    crops = crop_boxes(images, corners, size)
    assert crops.shape == (3, 2, size, size)
    for i, (x, y) in enumerate(corners.tolist()):
        assert torch.equal(crops[i], images[i, :, y : y + size, x : x + size])


def test_paste_then_crop_returns_the_crop_and_keeps_the_rest() -> None:
    images, corners, size = _images_and_boxes()
    original = images.clone()
    crops = torch.rand(3, 2, size, size, generator=torch.Generator().manual_seed(1))
    pasted = paste_boxes(images, crops, corners)
    assert torch.equal(images, original)  # a new tensor; the input is untouched
    assert torch.equal(crop_boxes(pasted, corners, size), crops)
    inside = torch.zeros(3, 1, 40, 56, dtype=torch.bool)
    for i, (x, y) in enumerate(corners.tolist()):
        inside[i, :, y : y + size, x : x + size] = True
    assert torch.equal(torch.where(inside, 0.0, pasted), torch.where(inside, 0.0, images))


def test_crop_and_paste_pass_gradients_to_both_inputs() -> None:
    images, corners, size = _images_and_boxes()
    images.requires_grad_(True)
    crops = torch.rand(3, 2, size, size, requires_grad=True)
    weights = torch.rand(3, 2, 40, 56)
    (paste_boxes(images, crops, corners) * weights).sum().backward()
    assert images.grad is not None and crops.grad is not None
    inside = torch.zeros(3, 1, 40, 56, dtype=torch.bool)
    for i, (x, y) in enumerate(corners.tolist()):
        inside[i, :, y : y + size, x : x + size] = True
    assert torch.equal(images.grad, torch.where(inside, 0.0, weights))  # outside the boxes only
    assert torch.equal(crops.grad, crop_boxes(weights, corners, size))  # every pasted pixel

    images.grad = None
    crop_weights = torch.rand(3, 2, size, size)
    (crop_boxes(images, corners, size) * crop_weights).sum().backward()
    assert images.grad is not None
    assert torch.equal(images.grad, paste_boxes(torch.zeros_like(weights), crop_weights, corners))


def test_rendering_inside_a_bf16_autocast_region_stays_fp32() -> None:
    body = np.zeros((1, 25, 3), np.float32)
    body[0, 2] = (10, 10, 1)  # right shoulder → right elbow
    body[0, 3] = (50, 50, 1)
    face, hands = np.zeros((1, 70, 3), np.float32), np.zeros((1, 2, 21, 3), np.float32)
    plain = render_stick_figures(body, face, hands, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = render_stick_figures(body, face, hands, 64, 64)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain) and plain.sum() > 0
