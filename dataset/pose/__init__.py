"""Pose detection in OpenPose's keypoint layout: detectors, OpenPose JSON I/O, smoothing, extraction.

- :mod:`.base`: the :class:`PoseDetector` interface and the :func:`get_detector` registry;
- :mod:`.mediapipe_holistic`: :class:`HolisticDetector`, MediaPipe Holistic mapped to BODY_25 + 70
  face points + 2 × 21 hand points;
- :mod:`.openpose_json`: read and write OpenPose's ``--write_json`` folders;
- :mod:`.smoothing`: :func:`smooth_poses`, confidence-aware temporal smoothing;
- :mod:`.extract`: :func:`extract_poses`, parallel (processes or Ray), chunked and cached extraction.

Names are imported from their submodule on first use, and mediapipe only when a Holistic detector is
built, so importing this package (the command line does, for the detector names) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataset.pose.base import (
        PoseDetector,
        available_detectors,
        detector_version,
        get_detector,
        register_detector,
    )
    from dataset.pose.extract import (
        DEFAULT_CHUNK_FRAMES,
        ExtractionStats,
        PoseExtraction,
        PoseExtractionError,
        default_cache_dir,
        extract_openpose,
        extract_poses,
        video_sha256,
    )
    from dataset.pose.mediapipe_holistic import FACE_68_FROM_MESH, HolisticDetector
    from dataset.pose.openpose_json import (
        OpenPoseFormatError,
        load_openpose_dir,
        load_openpose_json,
        write_openpose_json,
    )
    from dataset.pose.smoothing import smooth_poses

# Where each public name lives; smoothing needs scipy and extraction numpy, av and decord.
_SUBMODULE_OF = {
    **dict.fromkeys(
        ("PoseDetector", "available_detectors", "detector_version", "get_detector", "register_detector"),
        "base",
    ),
    **dict.fromkeys(
        (
            "DEFAULT_CHUNK_FRAMES",
            "ExtractionStats",
            "PoseExtraction",
            "PoseExtractionError",
            "default_cache_dir",
            "extract_openpose",
            "extract_poses",
            "video_sha256",
        ),
        "extract",
    ),
    **dict.fromkeys(("FACE_68_FROM_MESH", "HolisticDetector"), "mediapipe_holistic"),
    **dict.fromkeys(
        ("OpenPoseFormatError", "load_openpose_dir", "load_openpose_json", "write_openpose_json"),
        "openpose_json",
    ),
    "smooth_poses": "smoothing",
}


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "FACE_68_FROM_MESH",
    "ExtractionStats",
    "HolisticDetector",
    "OpenPoseFormatError",
    "PoseDetector",
    "PoseExtraction",
    "PoseExtractionError",
    "available_detectors",
    "default_cache_dir",
    "detector_version",
    "extract_openpose",
    "extract_poses",
    "get_detector",
    "load_openpose_dir",
    "load_openpose_json",
    "register_detector",
    "smooth_poses",
    "video_sha256",
    "write_openpose_json",
]
