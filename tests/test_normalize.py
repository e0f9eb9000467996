"""Global pose normalisation on synthetic stick people with known geometry (pure numpy, fast)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from dataset.keypoints import BODY, PoseSequence
from synthesis.normalize import (
    NormalizationError,
    NormalizationParams,
    PoseStatistics,
    fit_normalization,
    normalize_to_target,
    pose_statistics,
)

SOURCE_SIZE = (480, 640)  # (height, width): centre column 320
TARGET_SIZE = (720, 1280)  # centre column 640

# Where each joint sits, as a fraction of the body height above the ankle row, and its x offset in
# pixels from the body's centre column. The nose is straight above the ankles' midpoint, so the
# head→ankles height of a frame is exactly its `height`.
_JOINTS: dict[str, tuple[float, float]] = {
    "Nose": (1.0, 0.0),
    "REar": (0.98, -6.0),
    "LEar": (0.98, 6.0),
    "Neck": (0.85, 0.0),
    "RShoulder": (0.82, -15.0),
    "LShoulder": (0.82, 15.0),
    "RElbow": (0.65, -20.0),
    "LElbow": (0.65, 20.0),
    "RWrist": (0.5, -22.0),
    "LWrist": (0.5, 22.0),
    "MidHip": (0.5, 0.0),
    "RHip": (0.5, -8.0),
    "LHip": (0.5, 8.0),
    "RKnee": (0.25, -9.0),
    "LKnee": (0.25, 9.0),
    "RAnkle": (0.0, -10.0),
    "LAnkle": (0.0, 10.0),
    "RHeel": (0.0, -14.0),
    "LHeel": (0.0, 14.0),
    "RBigToe": (0.0, -4.0),
    "LBigToe": (0.0, 4.0),
}


def people(rows: list[float], heights: list[float], centre_x: float, conf: float = 0.9) -> np.ndarray:
    """Body keypoints (T, 25, 3) of an upright stick person with ankle row `rows[t]` and `heights[t]`."""
    rows_a = np.asarray(rows, np.float64)[:, None]
    heights_a = np.asarray(heights, np.float64)[:, None]
    body = np.zeros((len(rows), 25, 3), np.float32)
    for name, (up, dx) in _JOINTS.items():
        j = BODY[name]
        body[:, j, 0] = centre_x + dx
        body[:, j, 1] = (rows_a - up * heights_a)[:, 0]
        body[:, j, 2] = conf
    return body


def drop(body: np.ndarray, *names: str, frames: slice | np.ndarray | list[int] | None = None) -> np.ndarray:
    """A copy with the named joints undetected (0, 0, 0) in `frames` (all frames by default)."""
    out = body.copy()
    sel = slice(None) if frames is None else frames
    for name in names:
        out[sel, BODY[name]] = 0.0
    return out


def as_sequence(body: np.ndarray) -> PoseSequence:
    seq = PoseSequence.empty(body.shape[0])
    seq.body[:] = body
    return seq


# Source: walks between a far row 260 and a close row 400 (median 300) with perspective height 0.5·row,
# crouches three times at the close row and jumps twice (ankles at 200 while standing at 300).
def h_source(y: float) -> float:
    return 0.5 * y


SRC_ROWS = [300.0] * 21 + [400.0] * 20 + [260.0] * 20 + [400.0] * 3 + [200.0] * 2
SRC_HEIGHTS = [h_source(y) for y in SRC_ROWS[:61]] + [160.0] * 3 + [h_source(300)] * 2
SRC_CLOSE, SRC_FAR = 400.0, 260.0


# Target: a different camera (720×1280) and body: close row 620, median 560, far 535, height 0.6·row − 40.
def h_target(y: float) -> float:
    return 0.6 * y - 40


TGT_ROWS = [560.0] * 21 + [620.0] * 20 + [535.0] * 20
TGT_CLOSE, TGT_FAR = 620.0, 535.0


def source_body() -> np.ndarray:
    return people(SRC_ROWS, SRC_HEIGHTS, centre_x=320)


def target_body() -> np.ndarray:
    return people(TGT_ROWS, [h_target(y) for y in TGT_ROWS], centre_x=640)


def fitted() -> NormalizationParams:
    source = pose_statistics(source_body(), SOURCE_SIZE)
    target = pose_statistics(target_body(), TARGET_SIZE)
    return fit_normalization(source, target)


def ankle_rows(body: np.ndarray) -> np.ndarray:
    return np.maximum(body[:, BODY["RAnkle"], 1], body[:, BODY["LAnkle"], 1])


def head_to_ankles(body: np.ndarray) -> np.ndarray:
    mid = (body[:, BODY["RAnkle"], :2] + body[:, BODY["LAnkle"], :2]) / 2
    return np.hypot(*(body[:, BODY["Nose"], :2] - mid).T)


# --------------------------------------------------------------------------------------------------


def test_statistics_of_a_known_walk() -> None:
    stats = pose_statistics(source_body(), SOURCE_SIZE)
    assert stats.measure == "ankles"
    assert stats.close == pytest.approx(SRC_CLOSE)
    assert stats.median_ankle == pytest.approx(300.0)
    # The jumps (100 px above the median, beyond frac·(close − median) = 50) are not the far anchor.
    assert stats.far == pytest.approx(SRC_FAR)
    assert stats.height_close == pytest.approx(h_source(SRC_CLOSE))  # tallest at close: crouches ignored
    assert stats.height_far == pytest.approx(h_source(SRC_FAR))
    assert stats.tallest == pytest.approx(200.0)
    assert stats.first_ankle_row == pytest.approx(300.0)
    assert (stats.n_frames, stats.n_valid, stats.frame_size) == (len(SRC_ROWS), len(SRC_ROWS), SOURCE_SIZE)
    assert stats.notes == []  # a clean video needs no explanation
    assert set(stats.alternatives) == {"hip", "neck", "bbox"}


def test_fit_scales_and_anchor() -> None:
    params = fitted()
    assert params.target.close == pytest.approx(TGT_CLOSE) and params.target.far == pytest.approx(TGT_FAR)
    # Target range 85 < source range 140: no shrink.
    assert (params.target_close, params.target_far) == pytest.approx((TGT_CLOSE, TGT_FAR))
    assert params.scale_close == pytest.approx(h_target(TGT_CLOSE) / h_source(SRC_CLOSE))
    assert params.scale_far == pytest.approx(h_target(TGT_FAR) / h_source(SRC_FAR))
    assert params.anchor == pytest.approx((320.0, 300.0))  # source centre column, first valid ankle row
    assert not params.single_scale


def test_normalised_source_matches_target_height_and_rows_map_linearly() -> None:
    params = fitted()
    body = source_body()
    out, transforms = normalize_to_target(as_sequence(body), params)
    assert transforms.shape == (len(SRC_ROWS), 2)
    rows = np.asarray(SRC_ROWS)
    standing = np.arange(61)  # excludes crouches and jumps

    new_rows = ankle_rows(out.body)
    expected_rows = TGT_FAR + (rows - SRC_FAR) / (SRC_CLOSE - SRC_FAR) * (TGT_CLOSE - TGT_FAR)
    np.testing.assert_allclose(new_rows[standing], expected_rows[standing], atol=1e-3)

    heights = head_to_ankles(out.body)
    close = standing[rows[standing] == SRC_CLOSE]
    far = standing[rows[standing] == SRC_FAR]
    np.testing.assert_allclose(heights[close], h_target(TGT_CLOSE), rtol=1e-5)
    np.testing.assert_allclose(heights[far], h_target(TGT_FAR), rtol=1e-5)
    # In between, the scale interpolates linearly in the ankle row.
    p = (300 - SRC_FAR) / (SRC_CLOSE - SRC_FAR)
    mid_scale = params.scale_far + p * (params.scale_close - params.scale_far)
    np.testing.assert_allclose(transforms[0, 0], mid_scale, rtol=1e-9)
    np.testing.assert_allclose(heights[0], h_source(300) * mid_scale, rtol=1e-5)

    # Horizontally the source's centre column lands on the target's, offsets scaled.
    np.testing.assert_allclose(out.body[:, BODY["Nose"], 0], 640.0, atol=1e-3)
    np.testing.assert_allclose(out.body[:, BODY["RAnkle"], 0], 640.0 - 10.0 * transforms[:, 0], atol=1e-3)


def test_jump_keeps_its_height_and_rises() -> None:
    params = fitted()
    out, transforms = normalize_to_target(as_sequence(source_body()), params)
    jumps = np.arange(64, 66)
    # The scale is clamped at the far anchor (not extrapolated, which would shrink the jumper) ...
    np.testing.assert_allclose(transforms[jumps, 0], params.scale_far)
    # ... while the ankle row follows the linear map beyond the anchor, so the jump stays a jump.
    p = (200 - SRC_FAR) / (SRC_CLOSE - SRC_FAR)
    np.testing.assert_allclose(ankle_rows(out.body)[jumps], TGT_FAR + p * (TGT_CLOSE - TGT_FAR), atol=1e-3)


def test_transform_is_scale_about_anchor_plus_translate() -> None:
    params = fitted()
    body = source_body()
    out, transforms = normalize_to_target(as_sequence(body), params)
    ax, ay = params.anchor
    scale, translate = transforms[:, :1], transforms[:, 1:]
    detected = body[..., 2] > 0
    expected_y = ay + scale * (body[..., 1] - ay) + translate
    expected_x = 640 + scale * (body[..., 0] - ax)
    np.testing.assert_allclose(out.body[..., 1][detected], expected_y[detected], atol=1e-3)
    np.testing.assert_allclose(out.body[..., 0][detected], expected_x[detected], atol=1e-3)
    # For the first frame (on the anchor row) translate is METHOD's target_y − y.
    p = (300 - SRC_FAR) / (SRC_CLOSE - SRC_FAR)
    assert translate[0, 0] == pytest.approx(TGT_FAR + p * (TGT_CLOSE - TGT_FAR) - 300)


def test_frames_without_statistics_reuse_previous_transform() -> None:
    params = fitted()
    body = source_body()[:12].copy()
    feet = ("RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe")
    body = drop(body, *feet, frames=[0, 1, 5, 6])  # leading gap and a gap in the middle
    body = drop(body, "Nose", "REar", "LEar", frames=[9])  # no head
    out, transforms = normalize_to_target(as_sequence(body), params)
    full, full_transforms = normalize_to_target(as_sequence(source_body()[:12]), params)
    for frame, donor in ((0, 2), (1, 2), (5, 4), (6, 4), (9, 8)):
        np.testing.assert_array_equal(transforms[frame], full_transforms[donor])
    for frame in (2, 3, 4, 7, 8, 10, 11):
        np.testing.assert_array_equal(transforms[frame], full_transforms[frame])
    # The unmeasurable frames' remaining points are still moved, with the reused transform.
    ay = params.anchor[1]
    s, t = transforms[5]
    np.testing.assert_allclose(
        out.body[5, BODY["Nose"], 1], ay + s * (body[5, BODY["Nose"], 1] - ay) + t, atol=1e-3
    )
    assert np.all(out.body[[0, 1, 5, 6], BODY["RAnkle"]] == 0)
    assert np.all(np.isfinite(out.body)) and full.body.shape == out.body.shape


def test_undetected_points_stay_zero_and_confidences_unchanged() -> None:
    params = fitted()
    body = drop(source_body(), "LWrist", "RKnee", frames=slice(0, 30))
    seq = as_sequence(body)
    rng = np.random.default_rng(3)
    seq.face[:, :40, 0] = 320 + rng.uniform(-10, 10, (len(seq), 40))
    seq.face[:, :40, 1] = 150 + rng.uniform(-10, 10, (len(seq), 40))
    seq.face[:, :40, 2] = rng.uniform(0.05, 1.0, (len(seq), 40))  # some below min_confidence: still moved
    seq.hands[:, 0, :, :2] = 300.0
    seq.hands[:, 0, :, 2] = 0.7  # left hand detected, right hand not
    out, transforms = normalize_to_target(seq, params)

    for before, after in ((seq.body, out.body), (seq.face, out.face), (seq.hands, out.hands)):
        missing = before[..., 2] == 0
        assert np.all(after[missing] == 0)
        np.testing.assert_array_equal(after[..., 2], before[..., 2])
    assert np.all(out.body[:30, BODY["LWrist"]] == 0) and np.all(out.body[30:, BODY["LWrist"], :2] != 0)
    ax, ay = params.anchor
    s, t = transforms[:, 0, None], transforms[:, 1, None]
    np.testing.assert_allclose(out.face[:, :40, 1], ay + s * (seq.face[:, :40, 1] - ay) + t, atol=1e-3)
    np.testing.assert_allclose(
        out.hands[:, 0, :, 0], np.broadcast_to(640 + s * (300.0 - ax), (66, 21)), atol=1e-3
    )
    assert out.face.dtype == np.float32 and out.hands.shape == seq.hands.shape


def test_one_ankle_missing_in_some_frames() -> None:
    body = drop(source_body(), "LAnkle", "LHeel", "LBigToe", frames=list(range(21, 26)))  # five close frames
    stats = pose_statistics(body, SOURCE_SIZE)
    assert stats.n_valid == len(SRC_ROWS)  # kept, not dropped
    assert (stats.close, stats.far) == pytest.approx((SRC_CLOSE, SRC_FAR))
    # Those frames measure head → right ankle (10 px to the side), the tallest at the close anchor.
    assert stats.height_close == pytest.approx(np.hypot(200.0, 10.0))
    assert stats.height_far == pytest.approx(130.0)
    assert any("5 of 66 valid frames have only one foot" in n for n in stats.notes)


def test_one_ankle_never_detected() -> None:
    body = drop(source_body(), "LAnkle", "LHeel", "LBigToe")
    stats = pose_statistics(body, SOURCE_SIZE)
    assert stats.measure == "ankles" and stats.n_valid == len(SRC_ROWS)
    assert (stats.close, stats.far) == pytest.approx((SRC_CLOSE, SRC_FAR))
    # Height now runs from the head to the right ankle, 10 px to the side.
    assert stats.height_close == pytest.approx(np.hypot(200.0, 10.0))
    assert any(n.startswith("every valid frame has only one foot") for n in stats.notes)
    params = fit_normalization(stats, pose_statistics(target_body(), TARGET_SIZE))
    out, _ = normalize_to_target(as_sequence(body), params)
    # The right ankle row of a close frame lands on the target's close row.
    assert out.body[21, BODY["RAnkle"], 1] == pytest.approx(TGT_CLOSE, abs=1e-3)
    assert out.body[21, BODY["LAnkle"]].tolist() == [0.0, 0.0, 0.0]
    assert any(n.startswith("source: every valid frame has only one foot") for n in params.notes)


def test_heel_stands_in_for_a_missing_ankle() -> None:
    body = drop(source_body(), "RAnkle", "LAnkle", frames=slice(0, 21))  # heels at the ankle row remain
    body = drop(body, "RAnkle", "LAnkle", "RHeel", "LHeel", frames=slice(21, 41))  # big toes only
    stats = pose_statistics(body, SOURCE_SIZE)
    assert stats.n_valid == len(SRC_ROWS)
    assert (stats.close, stats.far, stats.median_ankle) == pytest.approx((SRC_CLOSE, SRC_FAR, 300.0))
    assert stats.height_close == pytest.approx(200.0)  # toes are symmetric about the centre column
    assert any("41 of 66 valid frames use a heel or big toe" in n for n in stats.notes)


def test_low_confidence_ankles_are_ignored() -> None:
    body = source_body()
    body[:, [BODY["RAnkle"], BODY["LAnkle"]], 2] = 0.1
    stats = pose_statistics(body, SOURCE_SIZE, min_confidence=0.2)
    assert any("heel or big toe" in n for n in stats.notes)
    assert pose_statistics(body, SOURCE_SIZE, min_confidence=0.05).notes == []


def test_source_never_moving_in_depth_gets_a_single_scale() -> None:
    rows = [400.0] * 30 + [340.0] * 2  # stands on one spot; jumps twice
    heights = [200.0] * 25 + [170.0] * 5 + [200.0] * 2
    body = people(rows, heights, centre_x=320)
    stats = pose_statistics(body, SOURCE_SIZE)
    assert stats.close == stats.far == pytest.approx(400.0)
    assert any("does not move towards or away from the camera" in n for n in stats.notes)

    params = fit_normalization(stats, pose_statistics(target_body(), TARGET_SIZE))
    scale = h_target(TGT_CLOSE) / 200.0  # ratio of the tallest heights
    assert params.single_scale
    assert params.scale_close == params.scale_far == pytest.approx(scale)
    assert params.target_close == params.target_far == pytest.approx(TGT_CLOSE)
    assert any("single scale" in n for n in params.notes)

    out, transforms = normalize_to_target(as_sequence(body), params)
    np.testing.assert_allclose(transforms[:, 0], scale)
    np.testing.assert_allclose(ankle_rows(out.body)[:30], TGT_CLOSE, atol=1e-3)
    np.testing.assert_allclose(head_to_ankles(out.body)[:25], h_target(TGT_CLOSE), rtol=1e-5)
    # A jump keeps its (scaled) height above the floor instead of being pinned to it.
    np.testing.assert_allclose(ankle_rows(out.body)[30:], TGT_CLOSE - 60 * scale, atol=1e-3)
    assert np.all(np.isfinite(transforms))


def test_target_never_moving_in_depth() -> None:
    target = pose_statistics(people([560.0] * 40, [300.0] * 40, centre_x=640), TARGET_SIZE)
    params = fit_normalization(pose_statistics(source_body(), SOURCE_SIZE), target)
    assert params.target_close == params.target_far == pytest.approx(560.0)
    assert params.scale_close == pytest.approx(300.0 / 200.0)
    assert params.scale_far == pytest.approx(300.0 / 130.0)
    assert any("target hardly moves in depth" in n for n in params.notes)
    out, _ = normalize_to_target(as_sequence(source_body()), params)
    np.testing.assert_allclose(ankle_rows(out.body)[:61], 560.0, atol=1e-3)
    # At both source anchors the figure is exactly the target's (only) height.
    np.testing.assert_allclose(head_to_ankles(out.body)[21:61], 300.0, rtol=1e-5)


def test_target_range_shrinks_to_the_source_range() -> None:
    rows = [540.0] * 21 + [680.0] * 20 + [480.0] * 20 + [650.0] * 2 + [510.0] * 2
    target = pose_statistics(people(rows, [h_target(y) for y in rows], centre_x=640), TARGET_SIZE)
    assert (target.close, target.far) == pytest.approx((680.0, 480.0))
    params = fit_normalization(pose_statistics(source_body(), SOURCE_SIZE), target)
    # Source range 140 < target range 200: the target's range becomes [510, 650] about its midpoint 580.
    assert (params.target_far, params.target_close) == pytest.approx((510.0, 650.0))
    assert params.scale_close == pytest.approx(h_target(650) / h_source(SRC_CLOSE))
    assert params.scale_far == pytest.approx(h_target(510) / h_source(SRC_FAR))
    assert any("shrunk about its midpoint 580.0" in n for n in params.notes)
    out, _ = normalize_to_target(as_sequence(source_body()), params)
    assert ankle_rows(out.body)[21] == pytest.approx(650.0, abs=1e-3)
    assert head_to_ankles(out.body)[21] == pytest.approx(h_target(650), rel=1e-5)


def test_target_close_height_too_small_uses_tallest() -> None:
    heights = [300.0] * 21 + [250.0] * 20 + [280.0] * 20  # close frames cropped/crouching
    target = pose_statistics(people(TGT_ROWS, heights, centre_x=640), TARGET_SIZE)
    params = fit_normalization(pose_statistics(source_body(), SOURCE_SIZE), target)
    assert params.scale_close == pytest.approx(300.0 / 200.0)
    assert params.scale_far == pytest.approx(280.0 / 130.0)
    assert any("more than 10% below its tallest" in n for n in params.notes)


def test_sitting_or_knee_cropped_source_is_measured_to_the_hip_in_both_videos() -> None:
    rows = SRC_ROWS[:61]
    cropped = drop(
        people(rows, [h_source(y) for y in rows], centre_x=320),
        "RKnee", "LKnee", "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe",
    )  # fmt: skip
    source = pose_statistics(cropped, SOURCE_SIZE)
    assert source.measure == "hip"
    # Mid-hip row = y − 0.5·height = 0.75·y, head→mid-hip = 0.25·y.
    assert (source.close, source.far) == pytest.approx((0.75 * SRC_CLOSE, 0.75 * SRC_FAR))
    assert source.height_close == pytest.approx(0.25 * SRC_CLOSE)
    assert "an ankle (or heel/big toe) in only 0 of 61 frames" in source.notes[0]
    assert "mid-hip" in source.notes[0]

    target = pose_statistics(target_body(), TARGET_SIZE)
    assert target.measure == "ankles"
    params = fit_normalization(source, target)
    assert params.source.measure == params.target.measure == "hip"
    assert any("both are measured from the head to the mid-hip" in n for n in params.notes)
    # Target mid-hip row = y − 0.5·h_t(y) (close 454, far 394.5), head→mid-hip = 0.5·h_t(y).
    assert (params.target_close, params.target_far) == pytest.approx((454.0, 394.5))
    assert params.scale_close == pytest.approx(0.5 * h_target(TGT_CLOSE) / (0.25 * SRC_CLOSE))
    assert params.scale_far == pytest.approx(0.5 * h_target(TGT_FAR) / (0.25 * SRC_FAR))

    out, _ = normalize_to_target(as_sequence(cropped), params)
    close = 21  # first close frame
    hip_height = out.body[close, BODY["MidHip"], 1] - out.body[close, BODY["Nose"], 1]
    assert hip_height == pytest.approx(0.5 * h_target(TGT_CLOSE), rel=1e-5)
    assert out.body[close, BODY["MidHip"], 1] == pytest.approx(454.0, abs=1e-3)


def test_waist_cropped_source_is_measured_to_the_neck() -> None:
    rows = SRC_ROWS[:61]
    cropped = drop(
        people(rows, [h_source(y) for y in rows], centre_x=320),
        "MidHip", "RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe",
    )  # fmt: skip
    source = pose_statistics(cropped, SOURCE_SIZE)
    assert source.measure == "neck"
    assert "the hips in only 0" in source.notes[0] and "to the neck" in source.notes[0]
    params = fit_normalization(source, pose_statistics(target_body(), TARGET_SIZE))
    assert params.target.measure == "neck"
    # Head→neck is 0.15 of the height in both videos, so the ratio equals the full-body ratio.
    assert params.scale_close == pytest.approx(h_target(TGT_CLOSE) / h_source(SRC_CLOSE))


def test_head_and_hands_only_falls_back_to_the_bounding_box() -> None:
    rows = [300.0] * 12
    body = people(rows, [150.0] * 12, centre_x=320)
    keep = [BODY["Nose"], BODY["RWrist"], BODY["LWrist"]]
    body[:, [j for j in range(25) if j not in keep]] = 0.0
    source = pose_statistics(body, SOURCE_SIZE)
    assert source.measure == "bbox"
    assert source.tallest == pytest.approx(75.0)  # nose to wrists
    assert "bounding box" in source.notes[0]
    params = fit_normalization(source, pose_statistics(target_body(), TARGET_SIZE))
    assert params.target.measure == "bbox"
    assert any("same crop" in n for n in params.notes)
    assert np.isfinite([params.scale_close, params.scale_far]).all()


def test_rare_ankles_do_not_outvote_hips() -> None:
    rows = [300.0] * 100
    body = people(rows, [150.0] * 100, centre_x=320)
    body = drop(body, "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe", frames=slice(3, None))
    stats = pose_statistics(body, SOURCE_SIZE)
    assert stats.measure == "hip" and "ankles" in stats.alternatives
    assert stats.alternatives["ankles"].n_valid == 3
    assert "in only 3 of 100 frames" in stats.notes[0]


def test_too_few_frames_still_estimates() -> None:
    body = people([300.0, 400.0, 260.0, 300.0, 400.0], [150.0, 200.0, 130.0, 150.0, 200.0], centre_x=320)
    body = np.concatenate([body, np.zeros((20, 25, 3), np.float32)])  # 20 frames without a subject
    stats = pose_statistics(body, SOURCE_SIZE)
    assert (stats.n_frames, stats.n_valid) == (25, 5)
    assert (stats.close, stats.far) == pytest.approx((400.0, 260.0))
    assert any("only 5 of 25 frames" in n for n in stats.notes)
    params = fit_normalization(stats, pose_statistics(target_body(), TARGET_SIZE))
    assert any(n.startswith("source: only 5 of 25 frames") for n in params.notes)


def test_nothing_estimable_raises_a_helpful_error() -> None:
    with pytest.raises(NormalizationError, match=r"none of the 10 frames has a head.*lower min_confidence"):
        pose_statistics(np.zeros((10, 25, 3), np.float32), SOURCE_SIZE)
    heads_only = np.zeros((10, 25, 3), np.float32)
    heads_only[:, BODY["Nose"]] = (320, 100, 0.9)
    with pytest.raises(NormalizationError, match=r"10 of 10 frames have a head but none has an ankle"):
        pose_statistics(heads_only, SOURCE_SIZE)
    faint = source_body()
    faint[..., 2] = 0.1
    with pytest.raises(NormalizationError, match=r"confidence ≥ 0.2"):
        pose_statistics(faint, SOURCE_SIZE)
    with pytest.raises(NormalizationError, match="no frames"):
        pose_statistics(np.zeros((0, 25, 3), np.float32), SOURCE_SIZE)
    assert issubclass(NormalizationError, ValueError)
    with pytest.raises(ValueError, match="shape"):
        pose_statistics(np.zeros((10, 18, 3)), SOURCE_SIZE)


def test_no_common_measure_raises() -> None:
    source = pose_statistics(source_body(), SOURCE_SIZE)
    source.alternatives = {}
    target = PoseStatistics.from_dict(
        {**pose_statistics(target_body(), TARGET_SIZE).to_dict(), "measure": "neck"}
    )
    target.alternatives = {}
    with pytest.raises(NormalizationError, match="no height measure is available in both"):
        fit_normalization(source, target)


def test_sampling_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    rows = rng.uniform(250, 400, 3000)
    body = people(rows.tolist(), (0.5 * rows).tolist(), centre_x=320)
    a = pose_statistics(body, SOURCE_SIZE, max_frames=500, seed=7)
    b = pose_statistics(body, SOURCE_SIZE, max_frames=500, seed=7)
    c = pose_statistics(body, SOURCE_SIZE, max_frames=500, seed=8)
    full = pose_statistics(body, SOURCE_SIZE)
    assert a == b and a.close != c.close
    assert a.n_valid == 3000 and any("sample of 500 of the 3000 valid frames (seed 7)" in n for n in a.notes)
    # A sample of a uniform walk gives nearly the same anchors as all frames.
    assert a.close == pytest.approx(full.close, abs=2.0) and a.far == pytest.approx(full.far, abs=10.0)


def test_to_dict_round_trips_through_json() -> None:
    rows = SRC_ROWS[:61]
    cropped = drop(people(rows, [h_source(y) for y in rows], centre_x=320), "RAnkle", "LAnkle", frames=[3])
    source = pose_statistics(cropped, SOURCE_SIZE, max_frames=40)
    target = pose_statistics(target_body(), TARGET_SIZE)
    params = fit_normalization(source, target)

    stats_back = PoseStatistics.from_dict(json.loads(json.dumps(source.to_dict())))
    assert stats_back == source and isinstance(stats_back.frame_size, tuple)
    assert stats_back.alternatives["hip"] == source.alternatives["hip"]
    params_back = NormalizationParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert params_back == params and isinstance(params_back.anchor, tuple)
    out_a, t_a = normalize_to_target(as_sequence(cropped), params)
    out_b, t_b = normalize_to_target(as_sequence(cropped), params_back)
    np.testing.assert_array_equal(t_a, t_b)
    np.testing.assert_array_equal(out_a.body, out_b.body)


def test_sequence_without_any_measurable_frame_uses_the_anchor_row() -> None:
    params = fitted()
    body = drop(source_body()[:5], "RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe")
    out, transforms = normalize_to_target(as_sequence(body), params)
    assert np.all(np.isfinite(transforms)) and np.all(transforms == transforms[0])
    _, reference = normalize_to_target(as_sequence(source_body()[:1]), params)  # a frame on the anchor row
    np.testing.assert_allclose(transforms[0], reference[0])
    empty, none = normalize_to_target(PoseSequence.empty(0), params)
    assert len(empty) == 0 and none.shape == (0, 2)
    assert out.body.shape == body.shape


def test_long_video_is_vectorised() -> None:
    rng = np.random.default_rng(1)
    rows = rng.uniform(250, 400, 100_000)
    body = people(rows.tolist(), (0.5 * rows).tolist(), centre_x=320)
    start = time.perf_counter()
    stats = pose_statistics(body, SOURCE_SIZE, max_frames=20_000)
    params = fit_normalization(stats, pose_statistics(target_body(), TARGET_SIZE))
    out, transforms = normalize_to_target(as_sequence(body), params)
    elapsed = time.perf_counter() - start
    assert transforms.shape == (100_000, 2) and np.all(np.isfinite(out.body))
    assert elapsed < 20.0, f"100k frames took {elapsed:.1f} s"
