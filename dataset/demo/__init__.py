"""The bundled demo subject: a rendered human figure with exact ground-truth keypoints.

Real full-body footage cannot be fetched offline, so the demo (``dancenow demo-data``) and the
tests use a procedurally rendered person instead: a 3D skeleton (:mod:`.skeleton`) moving through
a library of moves and dances (:mod:`.moves`), dressed and lit (:mod:`.appearance`), drawn with
OpenCV (:mod:`.render`) and written as clips with keypoints in the shared OpenPose layout
(:mod:`.generate`). It is built to be detected by the real MediaPipe Holistic model, so the whole
pipeline runs on it unchanged, as it would on real footage.
"""

from dataset.demo.generate import (
    SOURCE_CLIP,
    TARGET_CLIP,
    TARGET_ID,
    DemoClip,
    DemoSubject,
    generate_demo,
    make_subjects,
    render_clip,
    render_frames,
    source_id,
)
from dataset.demo.render import FrameKeypoints

__all__ = [
    "SOURCE_CLIP",
    "TARGET_CLIP",
    "TARGET_ID",
    "DemoClip",
    "DemoSubject",
    "FrameKeypoints",
    "generate_demo",
    "make_subjects",
    "render_clip",
    "render_frames",
    "source_id",
]
