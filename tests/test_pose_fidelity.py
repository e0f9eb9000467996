"""Pose distance and missed detections (paper Tables 3 and 4) on hand-made keypoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dataset.keypoints import PoseSequence
from synthesis.evaluation.pose_fidelity import (
    all_detectable,
    mediapipe_holistic_detectable,
    missed_detections,
    missed_per_frame,
    pose_distance,
)

PARTS = ("body", "face", "hands", "overall")


def _pose(n: int = 6, seed: int = 0) -> PoseSequence:
    rng = np.random.default_rng(seed)
    seq = PoseSequence.empty(n)
    for part in (seq.body, seq.face, seq.hands):
        part[..., :2] = rng.uniform(20, 400, (*part.shape[:-1], 2))
        part[..., 2] = 0.9
    return seq


def _shifted(seq: PoseSequence, dx: float, dy: float) -> PoseSequence:
    out = PoseSequence(seq.body.copy(), seq.face.copy(), seq.hands.copy())
    for part in (out.body, out.face, out.hands):
        part[..., 0] += dx
        part[..., 1] += dy
    return out


def test_identical_poses_give_zero() -> None:
    ref = _pose()
    dist = pose_distance(ref, ref)
    missed = missed_detections(ref, ref)
    for part in PARTS:
        assert dist[part] == 0.0 and dist[f"{part}_frames"] == len(ref)
        assert missed[part] == 0.0
    json.dumps(dist), json.dumps(missed)  # plain, JSON-ready


def test_shift_by_3_4_gives_distance_5() -> None:
    ref = _pose()
    dist = pose_distance(ref, _shifted(ref, 3.0, 4.0))
    for part in PARTS:
        assert dist[part] == pytest.approx(5.0, abs=1e-4)
        assert dist[f"{part}_frames"] == len(ref)
    assert missed_detections(ref, _shifted(ref, 3.0, 4.0))["overall"] == 0.0


def test_missing_hand_counts_21_misses() -> None:
    ref = _pose(n=4)
    det = _shifted(ref, 0.0, 0.0)
    det.hands[:, 1] = 0.0  # the right hand is never detected on the generated frames
    missed = missed_detections(ref, det)
    assert missed["hands"] == 21.0 and missed["overall"] == 21.0
    assert missed["body"] == 0.0 and missed["face"] == 0.0
    per_frame = missed_per_frame(ref, det)
    assert per_frame["hands"].tolist() == [21] * 4 and per_frame["overall"].tolist() == [21] * 4
    dist = pose_distance(ref, det)
    assert dist["hands"] is None and dist["hands_frames"] == 0.0
    assert dist["overall"] is None and dist["overall_frames"] == 0.0
    assert dist["body"] == 0.0 and dist["body_frames"] == 4.0


def test_frames_with_a_missing_joint_are_excluded() -> None:
    ref = _pose(n=4)
    det = _shifted(ref, 3.0, 4.0)
    det.body[1] = ref.body[1]
    det.body[1, :, 0] += 100.0  # frame 1: body far off ...
    det.body[1, 7] = 0.0  # ... but a joint is missing there, so the frame is not compared
    ref.face[2, 10, 2] = 0.05  # frame 2: a face point below min_confidence in the reference
    dist = pose_distance(ref, det)
    assert dist["body"] == pytest.approx(5.0, abs=1e-4) and dist["body_frames"] == 3.0
    assert dist["face"] == pytest.approx(5.0, abs=1e-4) and dist["face_frames"] == 3.0
    assert dist["hands_frames"] == 4.0
    assert dist["overall"] == pytest.approx(5.0, abs=1e-4) and dist["overall_frames"] == 2.0
    missed = missed_detections(ref, det)
    assert missed["body"] == pytest.approx(1 / 4) and missed["overall"] == pytest.approx(1 / 4)


def test_undetectable_points_do_not_exclude_frames() -> None:
    mask = mediapipe_holistic_detectable()
    assert not mask["body"][20] and not mask["body"][23] and mask["body"].sum() == 23
    assert mask["face"].all() and mask["hands"].all()
    ref = _pose(n=3)
    ref.body[:, [20, 23]] = 0.0  # MediaPipe never reports small toes
    det = _shifted(ref, 3.0, 4.0)
    det.body[:, [20, 23]] = 0.0
    assert pose_distance(ref, det)["body"] is None  # all 25 required: nothing compared
    dist = pose_distance(ref, det, detectable=mask)
    assert dist["body"] == pytest.approx(5.0, abs=1e-4) and dist["overall_frames"] == 3.0
    assert missed_detections(ref, det, detectable=all_detectable())["overall"] == 0.0


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="frames"):
        pose_distance(_pose(n=3), _pose(n=4))
