"""The rendered demo subject: deterministic frames, ground truth in the shared layout, real clips,
and a real MediaPipe Holistic detector that finds the figure where the ground truth says it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dataset.demo import DemoSubject, generate_demo, make_subjects, render_frames
from dataset.keypoints import BODY, PoseSequence
from dataset.pose.mediapipe_holistic import HolisticDetector
from dataset.video import probe, read_frames

SIZE = 256
FPS = 30.0
# The 12 main limb joints (BODY_25 indices) the detection error is measured over.
MAIN_JOINTS = [BODY[n] for n in ("RShoulder", "LShoulder", "RElbow", "LElbow", "RWrist", "LWrist",
                                 "RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle")]  # fmt: skip
HEAD = [BODY[n] for n in ("Nose", "REye", "LEye", "REar", "LEar")]
FEET = [BODY[n] for n in ("RAnkle", "LAnkle", "RHeel", "LHeel", "RBigToe", "LBigToe")]


@pytest.fixture(scope="module")
def subjects() -> list[DemoSubject]:
    return make_subjects(seed=0, n_sources=3, target_seconds=60.0, source_seconds=12.0)


def subject_height(body: np.ndarray) -> np.ndarray:
    """Per frame: lowest foot point minus highest head point, in pixels (a bit under the stature)."""
    return body[:, FEET, 1].max(axis=1) - body[:, HEAD, 1].min(axis=1)


def test_same_seed_same_bytes_other_seed_other_routine(subjects: list[DemoSubject]) -> None:
    frames = [0, 97, 451, 1203]
    again = make_subjects(seed=0, n_sources=3, target_seconds=60.0, source_seconds=12.0)
    for a, b in ((subjects[0], again[0]), (subjects[2], again[2])):
        fa, ga = render_frames(a, SIZE, FPS, frames[:3])
        fb, gb = render_frames(b, SIZE, FPS, frames[:3])
        assert fa.tobytes() == fb.tobytes()
        np.testing.assert_array_equal(ga.body, gb.body)
        np.testing.assert_array_equal(ga.face, gb.face)
        np.testing.assert_array_equal(ga.hands, gb.hands)
    other = make_subjects(seed=1, n_sources=0, target_seconds=60.0)[0]
    _, g_other = render_frames(other, SIZE, FPS, frames)
    _, g_same = render_frames(subjects[0], SIZE, FPS, frames)
    assert not np.allclose(g_other.body, g_same.body)


def test_subjects_differ_from_each_other(subjects: list[DemoSubject]) -> None:
    ids = [s.subject_id for s in subjects]
    assert ids == ["demo-target", "demo-dancer-1", "demo-dancer-2", "demo-dancer-3"]
    assert [s.role for s in subjects] == ["target", "source", "source", "source"]
    assert len({s.body.height for s in subjects}) == 4
    assert len({s.style.skin for s in subjects}) == 4
    assert len({s.style.shirt for s in subjects}) == 4
    assert len({s.room.wall for s in subjects}) == 4
    assert abs(subjects[0].seconds - 60.0) < 1e-6
    assert all(abs(s.seconds - 12.0) < 1e-6 for s in subjects[1:])


def test_layout_and_anatomy(subjects: list[DemoSubject]) -> None:
    for subject in subjects:
        n = subject.n_frames(FPS)
        idx = np.linspace(0, n - 1, 24).astype(int)
        frames, gt = render_frames(subject, SIZE, FPS, idx)
        assert frames.shape == (24, SIZE, SIZE, 3) and frames.dtype == np.uint8
        assert (
            gt.body.shape == (24, 25, 3) and gt.face.shape == (24, 70, 3) and gt.hands.shape == (24, 2, 21, 3)
        )
        # The whole figure stays in frame, every keypoint (small toes included) is filled.
        for part in (gt.body, gt.face, gt.hands):
            assert np.all(part[..., 2] == 1.0), subject.subject_id
            assert np.all((part[..., :2] >= 0) & (part[..., :2] < SIZE))
        body = gt.body
        # Derived points follow OpenPose: neck and mid-hip are midpoints; hand wrists are body wrists.
        np.testing.assert_allclose(body[:, 1, :2], (body[:, 2, :2] + body[:, 5, :2]) / 2, atol=1e-3)
        np.testing.assert_allclose(body[:, 8, :2], (body[:, 9, :2] + body[:, 12, :2]) / 2, atol=1e-3)
        np.testing.assert_allclose(gt.hands[:, 0, 0, :2], body[:, BODY["LWrist"], :2], atol=1e-3)
        np.testing.assert_allclose(gt.hands[:, 1, 0, :2], body[:, BODY["RWrist"], :2], atol=1e-3)
        # Head above hips above the feet (image rows grow downwards); knees between hips and feet.
        assert np.all(body[:, BODY["Nose"], 1] < body[:, BODY["MidHip"], 1])
        assert np.all(body[:, BODY["MidHip"], 1] < body[:, [BODY["RAnkle"], BODY["LAnkle"]], 1].max(axis=1))
        assert np.all(body[:, BODY["Neck"], 1] < body[:, BODY["MidHip"], 1])
        # Facing the camera, the subject's right is on the image's left.
        yaw = np.array([subject.routine.pose_at(i / FPS).yaw for i in idx])
        facing = np.abs(yaw) < 0.3
        assert facing.sum() >= 10
        f = facing
        assert np.all(body[f, BODY["RShoulder"], 0] < body[f, BODY["LShoulder"], 0])
        assert np.all(body[f, BODY["RHip"], 0] < body[f, BODY["LHip"], 0])
        assert np.all(body[f, BODY["REye"], 0] < body[f, BODY["LEye"], 0])
        assert np.all(gt.face[f, 0, 0] < gt.face[f, 16, 0])  # jaw: subject's right side first
        assert np.all(gt.face[f, 68, 0] < gt.face[f, 69, 0])  # pupils: 68 right, 69 left
        assert np.all(gt.face[f, 8, 1] > gt.face[f, 30, 1])  # chin below the nose tip
        assert np.all(gt.face[f, 19, 1] < gt.face[f, 37, 1])  # brow above the eye
        # A foot on the floor is below its knee, which is below its hip.
        poses = [subject.routine.pose_at(i / FPS) for i in idx]
        for side, lift in (("R", "r_foot_y"), ("L", "l_foot_y")):
            g = np.array([getattr(p, lift) < 0.01 for p in poses])
            assert g.sum() >= 3, subject.subject_id
            hip, knee, ankle = (body[g, BODY[side + j], 1] for j in ("Hip", "Knee", "Ankle"))
            assert np.all((hip < knee) & (knee < ankle))
            assert np.all(body[g, BODY[side + "BigToe"], 1] > knee)


def test_target_walks_towards_and_away_from_the_camera(subjects: list[DemoSubject]) -> None:
    """Global pose normalisation needs 'close' and 'far' ankle rows with matching body sizes."""
    target = subjects[0]
    idx = np.arange(0, target.n_frames(FPS), 15)
    _, gt = render_frames(target, 128, FPS, idx)
    ankle_y = gt.body[:, [BODY["RAnkle"], BODY["LAnkle"]], 1].max(axis=1)
    height = subject_height(gt.body)
    assert ankle_y.max() - ankle_y.min() > 0.15 * 128
    close, far = ankle_y >= np.percentile(ankle_y, 80), ankle_y <= np.percentile(ankle_y, 20)
    # Nearer the camera (ankles lower in the frame) the subject looks taller.
    assert np.median(height[close]) > 1.3 * np.median(height[far])
    assert np.corrcoef(ankle_y, height)[0, 1] > 0.8


def test_generate_demo_writes_real_clips(tmp_path: Path) -> None:
    clips = generate_demo(
        tmp_path,
        seed=3,
        target_seconds=2.0,
        source_seconds=1.0,
        n_sources=2,
        size=128,
        fps=15.0,
        progress=False,
    )
    assert [(c.subject_id, c.role, c.clip_name) for c in clips] == [
        ("demo-target", "target", "moves"),
        ("demo-dancer-1", "source", "dance"),
        ("demo-dancer-2", "source", "dance"),
    ]
    assert clips[0].video_path == tmp_path / "demo-target" / "target" / "moves.mp4"
    assert clips[1].ground_truth_path == tmp_path / "demo-dancer-1" / "ground_truth" / "dance.npz"
    for clip, expected in zip(clips, (30, 15, 15), strict=True):
        info = probe(clip.video_path)
        assert (info.frame_count, info.width, info.height, info.codec) == (expected, 128, 128, "h264")
        assert abs(info.fps - 15.0) < 1e-6
        assert clip.n_frames == expected and (clip.width, clip.height) == (128, 128)
        truth = PoseSequence.load(clip.ground_truth_path)
        assert len(truth) == expected
        assert clip.description
    # The decoded video shows the rendered frames (H.264 is lossy: compare loosely).
    subject = make_subjects(seed=3, n_sources=2, target_seconds=2.0, source_seconds=1.0)[0]
    rendered, _ = render_frames(subject, 128, 15.0, [0, 17])
    decoded = read_frames(clips[0].video_path, [0, 17])
    assert np.abs(decoded.astype(np.int16) - rendered.astype(np.int16)).mean() < 4.0


@pytest.fixture(scope="module")
def detector() -> Iterator[HolisticDetector]:
    det = HolisticDetector()
    yield det
    det.close()


@pytest.mark.parametrize("which, start", [(0, 330), (0, 1260), (1, 90), (3, 150)])
def test_mediapipe_holistic_finds_the_figure(
    subjects: list[DemoSubject], detector: HolisticDetector, which: int, start: int
) -> None:
    """The real detector, tracking over 20 frames (every 2nd), finds the body where it is drawn."""
    subject = subjects[which]
    frames, truth = render_frames(subject, SIZE, FPS, range(start, start + 40, 2))
    found = detector.detect(list(frames))
    det_main = found.body[:, MAIN_JOINTS]
    gt_main = truth.body[:, MAIN_JOINTS]
    body_found = (det_main[..., 2] > 0).any(axis=1)
    assert body_found.mean() >= 0.95, f"{subject.subject_id}: body found in {body_found.mean():.0%} of frames"
    both = (det_main[..., 2] > 0) & (gt_main[..., 2] > 0)
    dist = np.linalg.norm(det_main[..., :2] - gt_main[..., :2], axis=-1)
    height = subject_height(truth.body)
    relative = np.where(both, dist / height[:, None], np.nan)
    mean_error = float(np.nanmean(relative))
    assert mean_error < 0.06, f"{subject.subject_id}: mean error {mean_error:.3f} of the subject's height"
    # Left and right are not swapped: the detected right shoulder is nearer the true right one.
    r, l_ = BODY["RShoulder"], BODY["LShoulder"]
    ok = (found.body[:, r, 2] > 0) & (found.body[:, l_, 2] > 0)
    same = np.linalg.norm(found.body[ok, r, :2] - truth.body[ok, r, :2], axis=-1)
    swapped = np.linalg.norm(found.body[ok, r, :2] - truth.body[ok, l_, :2], axis=-1)
    assert np.all(same < swapped)
