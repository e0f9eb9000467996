"""MediaPipe Holistic as a :class:`~dataset.pose.base.PoseDetector` in OpenPose's keypoint layout.

Why MediaPipe: OpenPose needs a GPU build and its model weights cannot be fetched here, while
mediapipe 0.10.14 ships the Holistic models inside its wheel (body 33 + face mesh 468 + two hands of
21) and runs at about 26–28 frames/s per process on a CPU (keeping about 1.4 cores busy). Only ``model_complexity=1`` ships; 0 and 2
would be downloaded at run time, so they are refused up front with a clear message.

Mapping to the shared layout (:mod:`dataset.keypoints`), "left"/"right" always the subject's own:

- **Body** (BODY_25 from the 33 pose landmarks): direct correspondences for nose, eyes, ears,
  shoulders, elbows, wrists, hips, knees, ankles; heels from MediaPipe's heels and big toes from its
  ``foot_index``; neck = the shoulders' midpoint and mid-hip = the hips' midpoint, each with the
  smaller of its two parents' confidences (a derived point is only as sure as its weaker parent).
  MediaPipe has no small toes, so BODY_25's 20 and 23 are always "not detected". Confidence is the
  landmark's ``visibility``; below ``min_visibility`` a point counts as not detected (MediaPipe
  always guesses every landmark, e.g. legs below a portrait's frame, where OpenPose would report
  nothing).
- **Face** (70 points): the 68-point contour layout picked from the 468-point mesh by
  :data:`FACE_68_FROM_MESH`, plus pupils 68 (right) and 69 (left) as the mean of each eye's six
  points, because Holistic without ``refine_face_landmarks`` predicts no iris (so the "pupil" is
  the eye's centre and does not follow the gaze). The mesh has no per-point score: detected face
  points get confidence 1. The indices were checked by drawing them on real portraits and are
  tested against an independent face detector (``tests/test_pose_detector.py``).
- **Hands**: MediaPipe's 21 hand landmarks have OpenPose's topology and order (wrist, then four
  points per finger from thumb to little finger). Holistic's ``left_hand_landmarks`` is the hand at
  the pose's left wrist, i.e. the subject's left, which is index 0 here (tested against the rendered
  demo dancer's known hands: no shipped photo shows hands). Confidence 1 when detected.

Coordinates are pixels (normalised landmark × frame width/height). Any point outside the frame is
set to ``(0, 0, 0)``, as OpenPose never reports one there.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

from dataset.keypoints import N_BODY, N_FACE, N_HAND, PoseSequence
from dataset.pose.base import PoseDetector

#: Bump whenever the mapping below changes what is written for the same MediaPipe output.
MAPPING_VERSION = 1

# BODY_25 index -> MediaPipe pose landmark index (direct correspondences only).
_BODY_FROM_POSE: dict[int, int] = {
    0: 0,  # Nose
    2: 12,  # RShoulder
    3: 14,  # RElbow
    4: 16,  # RWrist
    5: 11,  # LShoulder
    6: 13,  # LElbow
    7: 15,  # LWrist
    9: 24,  # RHip
    10: 26,  # RKnee
    11: 28,  # RAnkle
    12: 23,  # LHip
    13: 25,  # LKnee
    14: 27,  # LAnkle
    15: 5,  # REye (MediaPipe "right_eye", the eye centre)
    16: 2,  # LEye
    17: 8,  # REar
    18: 7,  # LEar
    19: 31,  # LBigToe <- left_foot_index
    21: 29,  # LHeel
    22: 32,  # RBigToe <- right_foot_index
    24: 30,  # RHeel
}
# Derived BODY_25 points: index -> the two MediaPipe landmarks averaged.
_BODY_MIDPOINTS: dict[int, tuple[int, int]] = {
    1: (11, 12),  # Neck = shoulders' midpoint
    8: (23, 24),  # MidHip = hips' midpoint
}
#: BODY_25 indices this detector can fill (the rest, the small toes, are always "not detected").
DETECTABLE_BODY_POINTS: tuple[int, ...] = tuple(sorted({*_BODY_FROM_POSE, *_BODY_MIDPOINTS}))
_BODY_DST = np.array(list(_BODY_FROM_POSE), np.intp)
_BODY_SRC = np.array(list(_BODY_FROM_POSE.values()), np.intp)

#: Face-mesh indices for OpenPose's first 68 face points (the iBUG 68-point contour layout).
#: "Right" is the subject's right, which is the image's left for a subject facing the camera;
#: checked on real portraits in ``tests/test_pose_detector.py``.
FACE_68_FROM_MESH: tuple[int, ...] = (
    # jaw 0-16: from the subject's right temple-side cheek along the jaw, chin (8), to the left
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    # right brow 17-21 (upper edge, outer to inner)
    70, 63, 105, 66, 107,
    # left brow 22-26 (upper edge, inner to outer)
    336, 296, 334, 293, 300,
    # nose bridge 27-30 (between the eyes down to the tip)
    168, 197, 5, 4,
    # nose bottom 31-35 (right nostril wing, under the nose, left nostril wing)
    98, 97, 2, 326, 327,
    # right eye 36-41: outer corner, upper lid (2), inner corner, lower lid (2)
    33, 160, 158, 133, 153, 144,
    # left eye 42-47: inner corner, upper lid (2), outer corner, lower lid (2)
    362, 385, 387, 263, 373, 380,
    # outer lips 48-59: right corner, upper lip to the left corner, lower lip back
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips 60-67: right corner, upper inner lip, left corner, lower inner lip
    78, 81, 13, 311, 308, 402, 14, 178,
)  # fmt: skip
_FACE_SRC = np.array(FACE_68_FROM_MESH, np.intp)
_RIGHT_EYE = slice(36, 42)
_LEFT_EYE = slice(42, 48)

SUPPORTED_MODEL_COMPLEXITY = 1


def _check_options(
    model_complexity: int,
    min_detection_confidence: float,
    min_tracking_confidence: float,
    min_visibility: float,
) -> None:
    if model_complexity != SUPPORTED_MODEL_COMPLEXITY:
        raise ValueError(
            f"model_complexity={model_complexity} is not available offline: mediapipe ships only "
            f"the model_complexity={SUPPORTED_MODEL_COMPLEXITY} pose model in its wheel (0 and 2 are "
            "downloaded at run time); use model_complexity=1"
        )
    for label, value in (
        ("min_detection_confidence", min_detection_confidence),
        ("min_tracking_confidence", min_tracking_confidence),
        ("min_visibility", min_visibility),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {value}")


def _landmarks_array(landmarks: Any, with_visibility: bool) -> np.ndarray | None:
    """MediaPipe ``NormalizedLandmarkList`` -> ``(N, 3)`` of (x, y, visibility-or-1), or None."""
    if landmarks is None:
        return None
    if with_visibility:
        rows = [(p.x, p.y, p.visibility) for p in landmarks.landmark]
    else:
        rows = [(p.x, p.y, 1.0) for p in landmarks.landmark]
    return np.array(rows, np.float64)


def _face_landmarks_array(landmarks: Any) -> np.ndarray | None:
    """Only the 68 mesh points we use, as ``(68, 3)``: reading all 468 from protobuf costs ~0.3 ms."""
    if landmarks is None:
        return None
    mesh = landmarks.landmark
    return np.array([(mesh[i].x, mesh[i].y, 1.0) for i in FACE_68_FROM_MESH], np.float64)


def _to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale normalised points to pixels and zero every point outside the frame (in place)."""
    points[:, 0] *= width
    points[:, 1] *= height
    outside = (points[:, 0] < 0) | (points[:, 0] >= width) | (points[:, 1] < 0) | (points[:, 1] >= height)
    points[outside] = 0.0
    return points


def map_body(pose: np.ndarray | None, width: int, height: int, min_visibility: float) -> np.ndarray:
    """33 MediaPipe pose landmarks (normalised x, y, visibility) -> BODY_25 ``(25, 3)`` in pixels."""
    body = np.zeros((N_BODY, 3), np.float64)
    if pose is None:
        return body.astype(np.float32)
    pts = _to_pixels(pose.copy(), width, height)
    pts[pts[:, 2] < min_visibility] = 0.0
    body[_BODY_DST] = pts[_BODY_SRC]
    for dst, (a, b) in _BODY_MIDPOINTS.items():
        if pts[a, 2] > 0 and pts[b, 2] > 0:
            body[dst, :2] = (pts[a, :2] + pts[b, :2]) / 2
            body[dst, 2] = min(pts[a, 2], pts[b, 2])
    return body.astype(np.float32)


def map_face(mesh: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """Face-mesh landmarks (normalised) -> OpenPose's 70 face points ``(70, 3)`` in pixels.

    ``mesh`` is either the full 468-point mesh or just its :data:`FACE_68_FROM_MESH` rows, in order.
    """
    face = np.zeros((N_FACE, 3), np.float64)
    if mesh is None:
        return face.astype(np.float32)
    face[:68] = mesh if len(mesh) == 68 else mesh[_FACE_SRC]
    for dst, eye in ((68, _RIGHT_EYE), (69, _LEFT_EYE)):
        face[dst] = face[eye].mean(axis=0)  # pupil: mean of the eye's six points (no iris model)
    return _to_pixels(face, width, height).astype(np.float32)


def map_hand(hand: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """21 MediaPipe hand landmarks (normalised) -> ``(21, 3)`` in pixels (same topology)."""
    if hand is None:
        return np.zeros((N_HAND, 3), np.float32)
    return _to_pixels(hand.copy(), width, height).astype(np.float32)


class NativeStderrQuiet:
    """Holds file descriptor 2 on /dev/null while MediaPipe starts a graph run.

    Its models log their start-up from C++ (TFLite's "Created ... XNNPACK delegate", absl's "W0000
    ... Feedback manager requires a model with a single signature" per model and process) before any
    log level applies, from the graph's threads, after ``Holistic()`` or ``reset()`` has returned
    and until the first frame is through. A detector holds one of these from then until that frame
    is through, and while it closes a graph run (one closed before its first frame still starts).
    Holders are counted per process, so detectors may start and finish in any order; the last one
    out restores stderr. ``DANCENOW_NATIVE_LOGS=1`` keeps the lines. Errors still surface: MediaPipe
    raises them as Python exceptions.
    """

    _lock = threading.Lock()
    _holders = 0
    _saved_fd: int | None = None

    def __init__(self) -> None:
        self.held = False

    def hold(self) -> None:
        if self.held or os.environ.get("DANCENOW_NATIVE_LOGS", "") not in ("", "0"):
            return
        cls = NativeStderrQuiet
        with cls._lock:
            if cls._holders == 0:
                if sys.stderr is not None:  # None under pythonw and some embedders
                    sys.stderr.flush()
                cls._saved_fd = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            cls._holders += 1
            self.held = True

    def release(self) -> None:
        if not self.held:
            return
        cls = NativeStderrQuiet
        with cls._lock:
            self.held = False
            cls._holders -= 1
            if cls._holders == 0 and cls._saved_fd is not None:
                if sys.stderr is not None:
                    sys.stderr.flush()
                os.dup2(cls._saved_fd, 2)
                os.close(cls._saved_fd)
                cls._saved_fd = None


class HolisticDetector(PoseDetector):
    """MediaPipe Holistic (one person, tracked across the frames of one :meth:`detect` call).

    ``static_image_mode=True`` runs the person detector on every frame (unrelated photos);
    ``False`` (the default) tracks from frame to frame, which is faster and steadier on video.
    ``smooth_landmarks`` is MediaPipe's own in-track filter; our temporal smoothing
    (:func:`dataset.pose.smoothing.smooth_poses`) is a separate, explicit step.
    """

    name = "mediapipe-holistic"

    def __init__(
        self,
        static_image_mode: bool = False,
        model_complexity: int = 1,
        smooth_landmarks: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        min_visibility: float = 0.1,
    ) -> None:
        _check_options(model_complexity, min_detection_confidence, min_tracking_confidence, min_visibility)
        # Quiet TFLite/glog start-up chatter unless the user asked for it.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # mediapipe 0.10.14 calls a protobuf API that protobuf 4 deprecates, warning on first use.
        warnings.filterwarnings("ignore", "SymbolDatabase.GetPrototype", UserWarning, "google.protobuf")
        import mediapipe as mp

        self.static_image_mode = static_image_mode
        self.model_complexity = model_complexity
        self.smooth_landmarks = smooth_landmarks
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.min_visibility = min_visibility
        self._quiet = NativeStderrQuiet()
        # Released after the first frame, by close(), or when the detector is collected unused.
        weakref.finalize(self, self._quiet.release)
        self._quiet.hold()
        try:
            self._holistic: Any = mp.solutions.holistic.Holistic(
                static_image_mode=static_image_mode,
                model_complexity=model_complexity,
                smooth_landmarks=smooth_landmarks,
                enable_segmentation=False,
                refine_face_landmarks=False,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
        except BaseException:
            self._quiet.release()
            raise
        self._used = False

    @classmethod
    def version_for(cls, **options: Any) -> str:
        """The version a detector built with ``options`` reports, without loading any model."""
        bound = inspect.signature(cls.__init__).bind(None, **options)
        bound.apply_defaults()
        o = dict(bound.arguments)
        _check_options(
            o["model_complexity"],
            o["min_detection_confidence"],
            o["min_tracking_confidence"],
            o["min_visibility"],
        )
        return (
            f"{cls.name}:mediapipe={importlib.metadata.version('mediapipe')}"
            f":complexity={o['model_complexity']}:mapping={MAPPING_VERSION}"
            f":static={int(o['static_image_mode'])}:smooth={int(o['smooth_landmarks'])}"
            f":det={o['min_detection_confidence']:g}:track={o['min_tracking_confidence']:g}"
            f":minvis={o['min_visibility']:g}"
        )

    @property
    def version(self) -> str:
        return self.version_for(
            static_image_mode=self.static_image_mode,
            model_complexity=self.model_complexity,
            smooth_landmarks=self.smooth_landmarks,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
            min_visibility=self.min_visibility,
        )

    def _restart(self) -> None:
        """Start a new track: a fresh graph run with timestamps from zero, as a new instance would."""
        if self._holistic is None:
            raise RuntimeError("HolisticDetector is closed")
        if self._used:
            self._quiet.hold()  # a new graph run starts the models again
            self._holistic.reset()
            # SolutionBase.reset() keeps counting simulated timestamps; restart them so a reused
            # detector is indistinguishable from a fresh one (results must not depend on history).
            self._holistic._simulated_timestamp = 0
        self._used = True

    def detect_frame(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Body ``(25, 3)``, face ``(70, 3)`` and hands ``(2, 21, 3)`` of one frame, continuing the track."""
        if self._holistic is None:
            raise RuntimeError("HolisticDetector is closed")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB arrays, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        try:
            result = self._holistic.process(np.ascontiguousarray(frame))
        finally:
            self._quiet.release()  # the graph run has started: its start-up lines are out
        self._used = True
        body = map_body(_landmarks_array(result.pose_landmarks, True), width, height, self.min_visibility)
        face = map_face(_face_landmarks_array(result.face_landmarks), width, height)
        hands = np.stack(
            [
                map_hand(_landmarks_array(result.left_hand_landmarks, False), width, height),
                map_hand(_landmarks_array(result.right_hand_landmarks, False), width, height),
            ]
        )
        return body, face, hands

    def detect(self, frames: Iterable[np.ndarray]) -> PoseSequence:
        self._restart()
        bodies, faces, hands = [], [], []
        try:
            for frame in frames:
                b, f, h = self.detect_frame(frame)
                bodies.append(b)
                faces.append(f)
                hands.append(h)
        finally:
            self._quiet.release()  # also when there was no frame, or the frames failed first
        if not bodies:
            return PoseSequence.empty(0)
        return PoseSequence(np.stack(bodies), np.stack(faces), np.stack(hands))

    def close(self) -> None:
        if self._holistic is not None:
            # A graph run closed before its first frame finishes starting its models first.
            self._quiet.hold()
            self._holistic.close()
            self._holistic = None
        self._quiet.release()
