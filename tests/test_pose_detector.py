"""MediaPipe Holistic mapped to the OpenPose layout, checked on real portraits that ship in packages.

The face box comes from an independent detector (OpenCV's Haar cascade), so "the face points are on
the face" is not checked against MediaPipe itself. Left/right: for a subject facing the camera the
subject's right side is on the image's left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import skimage.data

from dataset.demo import make_subjects, render_frames
from dataset.keypoints import BODY, FACE_70_GROUPS, PoseSequence
from dataset.pose import HolisticDetector, available_detectors, detector_version, get_detector
from dataset.pose.mediapipe_holistic import FACE_68_FROM_MESH


def _astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


def _grace_hopper() -> np.ndarray:
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


PHOTOS = {"astronaut": _astronaut, "grace_hopper": _grace_hopper}


def _haar_face(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """The largest frontal face found by OpenCV's Haar cascade, as (x0, y0, x1, y1)."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(60, 60))
    assert len(faces) >= 1, "the Haar cascade found no face"
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return float(x), float(y), float(x + w), float(y + h)


def _inside(points: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.0) -> np.ndarray:
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return (
        (points[:, 0] >= x0 - mx)
        & (points[:, 0] <= x1 + mx)
        & (points[:, 1] >= y0 - my)
        & (points[:, 1] <= y1 + my)
    )


@pytest.fixture(scope="module")
def detector() -> Iterator[HolisticDetector]:
    with HolisticDetector(static_image_mode=True) as det:
        yield det


@pytest.fixture(scope="module")
def results(detector: HolisticDetector) -> dict[str, tuple[np.ndarray, PoseSequence]]:
    out = {}
    for name, load in PHOTOS.items():
        image = load()
        out[name] = (image, detector.detect([image]))
    return out


def test_layout_shapes_and_missing_points(results: dict[str, tuple[np.ndarray, PoseSequence]]) -> None:
    for image, seq in results.values():
        assert len(seq) == 1
        assert (
            seq.body.shape == (1, 25, 3) and seq.face.shape == (1, 70, 3) and seq.hands.shape == (1, 2, 21, 3)
        )
        assert seq.body.dtype == np.float32
        # MediaPipe has no small toes: always "not detected".
        assert np.all(seq.body[0, [BODY["LSmallToe"], BODY["RSmallToe"]]] == 0)
        h, w = image.shape[:2]
        for part in (seq.body[0], seq.face[0], seq.hands[0].reshape(-1, 3)):
            found = part[:, 2] > 0
            assert np.all(part[~found] == 0), "an undetected point must be exactly (0, 0, 0)"
            assert np.all((part[found, 0] >= 0) & (part[found, 0] < w)), (
                "detected points lie inside the frame"
            )
            assert np.all((part[found, 1] >= 0) & (part[found, 1] < h))
            assert np.all(part[found, 2] <= 1.0)


@pytest.mark.parametrize("name", list(PHOTOS))
def test_body_found_where_the_face_is_and_sides_correct(
    name: str, results: dict[str, tuple[np.ndarray, PoseSequence]]
) -> None:
    image, seq = results[name]
    box = _haar_face(image)
    body = seq.body[0]
    for joint in ("Nose", "REye", "LEye", "RShoulder", "LShoulder", "Neck"):
        assert body[BODY[joint], 2] > 0.5, f"{joint} not confidently detected"
    head = body[[BODY["Nose"], BODY["REye"], BODY["LEye"]]]
    assert _inside(head, box).all(), f"nose/eyes {head[:, :2]} outside the Haar face box {box}"
    # Subject facing the camera: their right eye / shoulder is on the image's left.
    assert body[BODY["REye"], 0] < body[BODY["Nose"], 0] < body[BODY["LEye"], 0]
    assert body[BODY["RShoulder"], 0] < box[0] + 0.5 * (box[2] - box[0]) < body[BODY["LShoulder"], 0]
    assert body[BODY["RShoulder"], 1] > box[3] and body[BODY["LShoulder"], 1] > box[3], (
        "shoulders below the face"
    )
    neck = (body[BODY["RShoulder"], :2] + body[BODY["LShoulder"], :2]) / 2
    np.testing.assert_allclose(body[BODY["Neck"], :2], neck, atol=1e-3)
    assert body[BODY["Neck"], 2] == pytest.approx(min(body[BODY["RShoulder"], 2], body[BODY["LShoulder"], 2]))


@pytest.mark.parametrize("name", list(PHOTOS))
def test_face_points_on_the_face_in_contour_order(
    name: str, results: dict[str, tuple[np.ndarray, PoseSequence]]
) -> None:
    image, seq = results[name]
    box = _haar_face(image)
    face = seq.face[0]
    assert (face[:, 2] > 0).all(), "a frontal portrait: all 70 face points detected"
    # The Haar box is tight around eyes/nose/mouth; the jaw and brows reach a little beyond it.
    assert _inside(face, box, margin=0.25).all()
    inner = np.r_[FACE_70_GROUPS["nose_bottom"], FACE_70_GROUPS["right_eye"], FACE_70_GROUPS["left_eye"]]
    assert _inside(face[inner], box).all()

    def centre(group: str) -> np.ndarray:
        return face[FACE_70_GROUPS[group], :2].mean(axis=0)

    # Subject's right on the image's left.
    assert centre("right_eye")[0] < centre("nose_bridge")[0] < centre("left_eye")[0]
    assert centre("right_brow")[0] < centre("left_brow")[0]
    jaw = face[FACE_70_GROUPS["jaw"]]
    assert jaw[0, 0] < jaw[8, 0] < jaw[16, 0], "jaw runs from the subject's right to left"
    assert jaw[8, 1] == jaw[:, 1].max(), "point 8 is the chin, the lowest jaw point"
    assert face[48, 0] < face[54, 0], "mouth corners: 48 is the subject's right"
    # Top to bottom: brows, eyes, nose tip, mouth, chin.
    assert (
        centre("right_brow")[1] < centre("right_eye")[1] < face[30, 1] < centre("outer_lips")[1] < jaw[8, 1]
    )
    # Pupils: the eye's centre, inside the eye's outline.
    for pupil, eye in ((68, "right_eye"), (69, "left_eye")):
        pts = face[FACE_70_GROUPS[eye]]
        np.testing.assert_allclose(face[pupil, :2], pts[:, :2].mean(axis=0), atol=1e-3)
        assert pts[:, 0].min() < face[pupil, 0] < pts[:, 0].max()
    # The body's nose lies within the face's nose region.
    nose = seq.body[0, BODY["Nose"], :2]
    assert np.linalg.norm(nose - face[30, :2]) < 0.25 * (box[2] - box[0])


def test_blank_image_gives_no_person(detector: HolisticDetector) -> None:
    seq = detector.detect([np.full((256, 256, 3), 127, np.uint8)])
    assert len(seq) == 1
    for part in (seq.body, seq.face, seq.hands):
        assert not part.any()


def test_video_mode_restarts_tracking_on_each_call() -> None:
    image = cv2.resize(_astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = [np.roll(image, shift, axis=1) for shift in range(0, 12, 2)]
    with HolisticDetector() as det:
        first = det.detect(frames)
        again = det.detect(frames)
        assert len(det.detect([])) == 0
    with HolisticDetector() as fresh:
        third = fresh.detect(frames)
    assert (first.body[:, BODY["Nose"], 2] > 0.5).all()
    for a, b in ((first, again), (first, third)):
        assert np.array_equal(a.body, b.body) and np.array_equal(a.face, b.face)
        assert np.array_equal(a.hands, b.hands)
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(frames)


def test_registry_version_and_errors() -> None:
    assert "mediapipe-holistic" in available_detectors()
    with pytest.raises(ValueError, match="valid detectors: 'mediapipe-holistic'"):
        get_detector("openpose-gpu")
    with pytest.raises(ValueError, match="model_complexity=2 is not available offline"):
        HolisticDetector(model_complexity=2)
    with pytest.raises(ValueError, match="model_complexity=0 is not available offline"):
        detector_version("mediapipe-holistic", model_complexity=0)
    with pytest.raises(TypeError):
        detector_version("mediapipe-holistic", no_such_option=1)
    import mediapipe as mp

    with get_detector("mediapipe-holistic", static_image_mode=True) as det:
        assert isinstance(det, HolisticDetector)
        assert mp.__version__ in det.version and "complexity=1" in det.version and "mapping=" in det.version
        with pytest.raises(ValueError, match="uint8 RGB"):
            det.detect([np.zeros((8, 8), np.float32)])
        static_version = det.version
        assert detector_version("mediapipe-holistic", static_image_mode=True) == static_version
    with get_detector("mediapipe-holistic") as video_det:
        assert video_det.version != static_version


def test_face_mesh_indices_are_distinct_and_valid() -> None:
    assert len(FACE_68_FROM_MESH) == 68
    assert len(set(FACE_68_FROM_MESH)) == 68
    assert all(0 <= i < 468 for i in FACE_68_FROM_MESH)


def test_points_outside_the_frame_are_not_detected(detector: HolisticDetector) -> None:
    # The astronaut's left shoulder is near row 255 and her hips far below: cropped at row 200, MediaPipe
    # still guesses them (outside the image), and they must come out as "not detected".
    crop = np.ascontiguousarray(_astronaut()[:200])
    body = detector.detect([crop]).body[0]
    assert body[BODY["Nose"], 2] > 0.5
    for joint in ("LShoulder", "RHip", "LHip", "MidHip", "RKnee", "LKnee", "RAnkle", "LAnkle"):
        assert np.all(body[BODY[joint]] == 0), f"{joint} lies below the crop and must be (0, 0, 0)"
    # A derived point needs both parents: no left shoulder, no neck.
    assert np.all(body[BODY["Neck"]] == 0)


def test_hand_sides_on_the_rendered_demo_dancer() -> None:
    """No shipped photo shows hands, so the sides are checked on the demo dancer's known hands."""
    subject = make_subjects(seed=0, n_sources=0, target_seconds=20)[0]
    frames, truth = render_frames(subject, size=256, fps=30, frames=range(0, 600, 15))
    with HolisticDetector() as det:
        seq = det.detect(list(frames))
    for side in (0, 1):  # 0 = the subject's left hand
        both = (
            (seq.hands[:, side, 0, 2] > 0)
            & (truth.hands[:, side, 0, 2] > 0)
            & (truth.hands[:, 1 - side, 0, 2] > 0)
        )
        assert both.sum() >= 10, f"hand {side} detected in only {both.sum()} of {len(seq)} frames"
        wrist = seq.hands[both, side, 0, :2]
        same = np.linalg.norm(wrist - truth.hands[both, side, 0, :2], axis=-1)
        other = np.linalg.norm(wrist - truth.hands[both, 1 - side, 0, :2], axis=-1)
        assert np.mean(same < other) >= 0.9, f"hand {side} is mostly the other hand"
        assert np.median(same) < 5.0


_QUIET_SCRIPT = """
import sys

import skimage.data

from dataset.pose import HolisticDetector

photo = skimage.data.astronaut()
with HolisticDetector() as det:
    for _ in range(2):  # the second track restarts the graph, which starts the models again
        seq = det.detect([photo, photo])
        print(f"person {int(seq.body[0, 0, 2] > 0)}", file=sys.stderr, flush=True)


def failing_frames():
    raise OSError("corrupt.mp4: cannot decode")
    yield photo


det = HolisticDetector()
try:
    det.detect(failing_frames())
except OSError as error:
    print(f"error: {error}", file=sys.stderr, flush=True)
det.close()
print("stderr still works", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("native_logs", ["0", "1"])
def test_mediapipe_start_up_chatter_is_quiet_and_stderr_keeps_working(native_logs: str) -> None:
    """MediaPipe logs each model's start-up from C++ on stderr (absl "W0000 ... Feedback manager"
    lines, TFLite's XNNPACK line); the detector keeps them off the terminal unless
    DANCENOW_NATIVE_LOGS=1, and everything else written to stderr still shows: between tracks, after
    an error before the first frame, after close."""
    import os
    import subprocess
    import sys

    env = os.environ | {"DANCENOW_NATIVE_LOGS": native_logs}
    done = subprocess.run(
        [sys.executable, "-c", _QUIET_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    ours = [line for line in lines if line.startswith(("person", "error", "stderr"))]
    assert ours == ["person 1", "person 1", "error: corrupt.mp4: cannot decode", "stderr still works"]
    chatter = [line for line in lines if "inference_feedback_manager" in line or "XNNPACK" in line]
    if native_logs == "1":
        assert chatter, "MediaPipe no longer logs its start-up: the quieting may be unnecessary"
    else:
        assert chatter == [], chatter
