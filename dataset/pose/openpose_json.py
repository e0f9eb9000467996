"""Import and export OpenPose's per-frame JSON (``--write_json``), so OpenPose users can bring their
own detections and take ours back to their tools.

OpenPose writes one ``<stem>_<frame:012d>_keypoints.json`` per frame::

    {"version": 1.3, "people": [{"pose_keypoints_2d": [x, y, c, ...],
                                 "face_keypoints_2d": [...], "hand_left_keypoints_2d": [...],
                                 "hand_right_keypoints_2d": [...], ...}, ...]}

- ``pose_keypoints_2d``: 75 values (BODY_25) or 54 values (the COCO-18 model). COCO is mapped into
  BODY_25: mid-hip is derived as the hips' midpoint (confidence = the smaller of the two) when both
  hips are detected, and the six foot points stay "not detected". The pre-1.2 key
  ``pose_keypoints`` (same content) is accepted too.
- ``face_keypoints_2d``: 70 points; ``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d``: 21
  points each (left = the subject's left = hands index 0). A missing or empty list means "not
  detected".

**Several people in a frame**: this project follows one subject, so we keep the person with the
largest *total body confidence × diagonal of the bounding box of their detected body points*. The
confidence sum prefers complete, confident skeletons; the size factor prefers the subject in front of
the camera over small, distant bystanders (whose skeletons can be just as confident). Ties keep the
first person in the file. A frame with no people (or no file for that frame) is all zeros.

Frames are placed by the frame number in each file name (the last run of digits before
``_keypoints``), so a missing file leaves a gap of "not detected" frames rather than shifting every
later frame.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from dataset.files import atomic_write_text
from dataset.keypoints import BODY, COCO_18_NAMES, N_BODY, N_FACE, N_HAND, PoseSequence

#: Where each COCO-18 point goes in BODY_25 (by name, so the two orders cannot drift apart).
COCO_TO_BODY25: tuple[int, ...] = tuple(BODY[name] for name in COCO_18_NAMES)

_FRAME_NUMBER = re.compile(r"(\d+)_keypoints\.json$")
_SUFFIX = "_keypoints.json"


class OpenPoseFormatError(ValueError):
    """An OpenPose JSON file that cannot be read; the one-line message names the file and the problem."""


def _keypoints(
    person: dict[str, Any], keys: tuple[str, ...], sizes: tuple[int, ...], file: str, where: str
) -> np.ndarray | None:
    """The flat ``[x, y, c, ...]`` list under the first present key, as ``(N, 3)``; None if absent/empty."""
    for key in keys:
        if key in person:
            values = person[key]
            break
    else:
        return None
    if values is None or (isinstance(values, list) and not values):
        return None
    if not isinstance(values, list):
        raise OpenPoseFormatError(
            f"{file}: {where} {keys[0]!r} is a {type(values).__name__}, expected a list"
        )
    if len(values) not in sizes:
        expected = " or ".join(f"{n} ({n // 3} points × 3)" for n in sizes)
        raise OpenPoseFormatError(
            f"{file}: {where} {keys[0]!r} has {len(values)} values, expected {expected}"
        )
    try:
        arr = np.array(values, np.float64)
    except (TypeError, ValueError):
        raise OpenPoseFormatError(f"{file}: {where} {keys[0]!r} holds non-numeric values") from None
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise OpenPoseFormatError(f"{file}: {where} {keys[0]!r} holds nested lists or non-finite values")
    return arr.reshape(-1, 3)


def _coco_to_body25(coco: np.ndarray) -> np.ndarray:
    body = np.zeros((N_BODY, 3), np.float64)
    body[list(COCO_TO_BODY25)] = coco
    r, lft = body[BODY["RHip"]], body[BODY["LHip"]]
    if r[2] > 0 and lft[2] > 0:
        body[BODY["MidHip"]] = ((r[0] + lft[0]) / 2, (r[1] + lft[1]) / 2, min(r[2], lft[2]))
    return body


def _person_arrays(person: Any, file: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    where = f"people[{index}]"
    if not isinstance(person, dict):
        raise OpenPoseFormatError(f"{file}: {where} is a {type(person).__name__}, expected an object")
    pose = _keypoints(
        person, ("pose_keypoints_2d", "pose_keypoints"), (N_BODY * 3, len(COCO_18_NAMES) * 3), file, where
    )
    if pose is None:
        body = np.zeros((N_BODY, 3))
    elif len(pose) == len(COCO_18_NAMES):
        body = _coco_to_body25(pose)
    else:
        body = pose
    face = _keypoints(person, ("face_keypoints_2d", "face_keypoints"), (N_FACE * 3,), file, where)
    hands = np.zeros((2, N_HAND, 3))
    for side, keys in enumerate(
        (
            ("hand_left_keypoints_2d", "hand_left_keypoints"),
            ("hand_right_keypoints_2d", "hand_right_keypoints"),
        )
    ):
        hand = _keypoints(person, keys, (N_HAND * 3,), file, where)
        if hand is not None:
            hands[side] = hand
    return body, np.zeros((N_FACE, 3)) if face is None else face, hands


def _score(body: np.ndarray) -> float:
    """Total body confidence × diagonal of the detected body points' bounding box."""
    found = body[:, 2] > 0
    if not found.any():
        return 0.0
    xy = body[found, :2]
    diagonal = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0))))
    return float(body[found, 2].sum()) * diagonal


def _clean(points: np.ndarray) -> np.ndarray:
    """Enforce the layout's rule: a point with confidence 0 (or below) is exactly (0, 0, 0)."""
    points = points.astype(np.float32)
    points[points[..., 2] <= 0] = 0.0
    return points


def load_openpose_json(path: str | os.PathLike[str]) -> PoseSequence:
    """One OpenPose JSON file -> a one-frame :class:`PoseSequence` (the chosen person, or zeros)."""
    file = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise OpenPoseFormatError(
            f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise OpenPoseFormatError(f"{file}: not a UTF-8 text file; expected OpenPose JSON") from None
    if not isinstance(data, dict):
        raise OpenPoseFormatError(
            f"{file}: top level is a {type(data).__name__}, expected an object with 'people'"
        )
    if "people" not in data:
        raise OpenPoseFormatError(f"{file}: no 'people' key; expected OpenPose --write_json output")
    people = data["people"]
    if people is None:
        people = []
    if not isinstance(people, list):
        raise OpenPoseFormatError(f"{file}: 'people' is a {type(people).__name__}, expected a list")
    seq = PoseSequence.empty(1)
    best = -1.0
    for i, person in enumerate(people):
        body, face, hands = _person_arrays(person, file, i)
        score = _score(body)
        if score > best:
            best = score
            seq.body[0], seq.face[0], seq.hands[0] = _clean(body), _clean(face), _clean(hands)
    return seq


def _frame_number(path: Path) -> int:
    match = _FRAME_NUMBER.search(path.name)
    if match is None:
        raise OpenPoseFormatError(f"{path}: no frame number before '_keypoints.json' in the file name")
    return int(match.group(1))


def load_openpose_dir(folder: str | os.PathLike[str], n_frames: int | None = None) -> PoseSequence:
    """All ``*_keypoints.json`` of an OpenPose output folder -> one :class:`PoseSequence`.

    Frame ``k`` of the result comes from the file numbered ``k``; frames without a file are "not
    detected". The length is ``n_frames`` when given (the video's frame count: trailing frames
    OpenPose skipped are then kept as empty frames) or the largest frame number + 1.
    """
    root = Path(folder)
    if not root.is_dir():
        raise OpenPoseFormatError(f"{root}: not a folder; pass the folder OpenPose wrote with --write_json")
    files = sorted(root.glob(f"*{_SUFFIX}"))
    numbered: dict[int, Path] = {}
    for path in files:
        k = _frame_number(path)
        if k in numbered:
            raise OpenPoseFormatError(
                f"{path}: frame number {k} is also in {numbered[k].name}; keep one OpenPose run per folder"
            )
        numbered[k] = path
    if n_frames is None:
        if not numbered:
            raise OpenPoseFormatError(
                f"{root}: no *{_SUFFIX} files; pass the folder OpenPose wrote with --write_json"
            )
        n_frames = max(numbered) + 1
    elif n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    too_late = [k for k in numbered if k >= n_frames]
    if too_late:
        k = min(too_late)
        raise OpenPoseFormatError(f"{numbered[k]}: frame number {k} is beyond the video's {n_frames} frames")
    seq = PoseSequence.empty(n_frames)
    for k, path in numbered.items():
        one = load_openpose_json(path)
        seq.body[k], seq.face[k], seq.hands[k] = one.body[0], one.face[0], one.hands[0]
    return seq


def extract_openpose(json_dir: str | os.PathLike[str], n_frames: int | None = None) -> PoseSequence:
    """Poses of a video from OpenPose's JSON output: the same as :func:`load_openpose_dir`."""
    return load_openpose_dir(json_dir, n_frames)


def _flat(points: np.ndarray) -> list[float]:
    # float() of a float32 prints the shortest decimal that reads back to the same float32 value.
    return [float(v) for v in points.reshape(-1)]


def write_openpose_json(seq: PoseSequence, folder: str | os.PathLike[str], stem: str) -> list[Path]:
    """Write ``seq`` as OpenPose BODY_25 JSON, ``<stem>_<frame:012d>_keypoints.json`` per frame.

    A frame where nothing is detected gets ``"people": []``; otherwise one person with all four
    keypoint lists (undetected points as zeros, as OpenPose writes them). Files are written
    atomically. Returns the paths written.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in range(len(seq)):
        anything = bool(
            (seq.body[t, :, 2] > 0).any() or (seq.face[t, :, 2] > 0).any() or (seq.hands[t, ..., 2] > 0).any()
        )
        people = []
        if anything:
            people.append(
                {
                    "person_id": [-1],
                    "pose_keypoints_2d": _flat(seq.body[t]),
                    "face_keypoints_2d": _flat(seq.face[t]),
                    "hand_left_keypoints_2d": _flat(seq.hands[t, 0]),
                    "hand_right_keypoints_2d": _flat(seq.hands[t, 1]),
                    "pose_keypoints_3d": [],
                    "face_keypoints_3d": [],
                    "hand_left_keypoints_3d": [],
                    "hand_right_keypoints_3d": [],
                }
            )
        path = out / f"{stem}_{t:012d}{_SUFFIX}"
        atomic_write_text(path, json.dumps({"version": 1.3, "people": people}))
        paths.append(path)
    return paths


__all__ = [
    "COCO_TO_BODY25",
    "OpenPoseFormatError",
    "extract_openpose",
    "load_openpose_dir",
    "load_openpose_json",
    "write_openpose_json",
]
