"""The keypoint layout every stage shares: OpenPose-compatible BODY_25, 70 face points, 21 per hand.

Every keypoint is ``(x, y, confidence)`` in pixels of the frame it was detected on; a point that
was not detected is ``(0, 0, 0)``. A clip's keypoints are a :class:`PoseSequence` of three arrays:

- ``body``  ``(T, 25, 3)`` in OpenPose BODY_25 order (:data:`BODY_25_NAMES`);
- ``face``  ``(T, 70, 3)``: the 68-point contour layout (jaw, brows, nose, eyes, lips) and the two
  pupils, as OpenPose's face model writes it (:data:`FACE_70_GROUPS`);
- ``hands`` ``(T, 2, 21, 3)``: index 0 is the subject's **left** hand, 1 the right (OpenPose's
  ``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d`` order), each wrist then four points per
  finger from thumb to little finger (:data:`HAND_21_NAMES`).

"Left" and "right" are always the subject's own, as in OpenPose.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes

BODY_25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye",
    "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
BODY = {name: i for i, name in enumerate(BODY_25_NAMES)}

# Limbs drawn and checked as pairs of BODY_25 indices (OpenPose's own pairing).
BODY_25_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)  # fmt: skip

# OpenPose COCO-18 body order, for importing COCO-model JSON.
COCO_18_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)  # fmt: skip

# Index ranges of the 70 face points, in OpenPose's (68 + 2 pupils) order.
FACE_70_GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_bottom": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lips": range(48, 60),
    "inner_lips": range(60, 68),
    "right_pupil": range(68, 69),
    "left_pupil": range(69, 70),
}

HAND_21_NAMES: tuple[str, ...] = (
    "Wrist",
    *(
        f"{finger}{joint}"
        for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky")
        for joint in (1, 2, 3, 4)
    ),
)
HAND_LEFT, HAND_RIGHT = 0, 1

N_BODY, N_FACE, N_HAND = 25, 70, 21


def empty_body(n_frames: int) -> np.ndarray:
    return np.zeros((n_frames, N_BODY, 3), np.float32)


def empty_face(n_frames: int) -> np.ndarray:
    return np.zeros((n_frames, N_FACE, 3), np.float32)


def empty_hands(n_frames: int) -> np.ndarray:
    return np.zeros((n_frames, 2, N_HAND, 3), np.float32)


@dataclass
class PoseSequence:
    """Keypoints of one clip, frame by frame (see the module docstring for the layout)."""

    body: np.ndarray  # (T, 25, 3) float32
    face: np.ndarray  # (T, 70, 3) float32
    hands: np.ndarray  # (T, 2, 21, 3) float32

    def __post_init__(self) -> None:
        self.body = np.asarray(self.body, np.float32)
        self.face = np.asarray(self.face, np.float32)
        self.hands = np.asarray(self.hands, np.float32)
        t = self.body.shape[0]
        expected = {
            "body": (t, N_BODY, 3),
            "face": (t, N_FACE, 3),
            "hands": (t, 2, N_HAND, 3),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"PoseSequence.{name} has shape {actual}, expected {shape}")

    def __len__(self) -> int:
        return int(self.body.shape[0])

    @classmethod
    def empty(cls, n_frames: int) -> PoseSequence:
        return cls(empty_body(n_frames), empty_face(n_frames), empty_hands(n_frames))

    @classmethod
    def concatenate(cls, parts: list[PoseSequence]) -> PoseSequence:
        if not parts:
            return cls.empty(0)
        return cls(
            np.concatenate([p.body for p in parts]),
            np.concatenate([p.face for p in parts]),
            np.concatenate([p.hands for p in parts]),
        )

    def slice(self, start: int, stop: int) -> PoseSequence:
        return PoseSequence(self.body[start:stop], self.face[start:stop], self.hands[start:stop])

    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` atomically (a temporary file renamed into place)."""
        buffer = io.BytesIO()
        np.savez(buffer, body=self.body, face=self.face, hands=self.hands)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> PoseSequence:
        with np.load(path) as data:
            return cls(data["body"], data["face"], data["hands"])


def detected(points: np.ndarray) -> np.ndarray:
    """Boolean mask of detected keypoints (confidence above zero), shape ``points.shape[:-1]``."""
    return points[..., 2] > 0
