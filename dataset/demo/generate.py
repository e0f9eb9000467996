"""The bundled demo data: one target clip and a few source dance clips with ground-truth keypoints.

Real full-body footage is not available offline (STACK.md), so the demo subject is rendered: a
target doing the paper's range of training moves and source dancers who differ from it and each
other in height, proportions, clothes, skin and hair, room, and where the camera puts them.

Layout written by :func:`generate_demo`::

    out_dir/demo-target/target/moves.mp4
    out_dir/demo-target/ground_truth/moves.npz       (PoseSequence.save)
    out_dir/demo-dancer-<i>/source/dance.mp4
    out_dir/demo-dancer-<i>/ground_truth/dance.npz

Everything is a pure function of ``seed`` (and the sizes asked for): the same seed gives
byte-identical frames and keypoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from dataset.demo.appearance import TARGET_ROOM, TARGET_STYLE, Room, SubjectStyle, source_room, source_style
from dataset.demo.moves import DANCE_STYLES, Routine, Stance, dance_routine, target_routine
from dataset.demo.render import FigureRenderer, FrameKeypoints
from dataset.demo.skeleton import Camera, Proportions
from dataset.keypoints import PoseSequence

Role = Literal["target", "source"]

TARGET_ID = "demo-target"
TARGET_CLIP = "moves"
SOURCE_CLIP = "dance"


def source_id(index: int) -> str:
    """Subject id of source dancer ``index`` (0-based): ``demo-dancer-1`` for the first."""
    return f"demo-dancer-{index + 1}"


@dataclass(frozen=True)
class DemoSubject:
    """A subject ready to render: its look, body, room, camera and routine."""

    subject_id: str
    role: Role
    clip_name: str
    style: SubjectStyle
    body: Proportions
    room: Room
    camera: Camera
    routine: Routine
    description: str

    @property
    def seconds(self) -> float:
        return self.routine.duration

    def n_frames(self, fps: float) -> int:
        return max(1, round(self.seconds * fps))


@dataclass(frozen=True)
class DemoClip:
    """One written clip and its ground truth."""

    subject_id: str
    role: Role
    clip_name: str
    video_path: Path
    ground_truth_path: Path
    n_frames: int
    fps: float
    width: int
    height: int
    description: str


# Per-source variety: body, camera framing, where it dances, tempo (beats per minute).
_SOURCE_BODIES = (
    dict(
        height=1.60,
        leg_scale=0.97,
        arm_scale=1.0,
        shoulder_scale=0.92,
        hip_scale=1.1,
        head_scale=1.03,
        girth=0.95,
    ),
    dict(
        height=1.84,
        leg_scale=1.05,
        arm_scale=1.04,
        shoulder_scale=1.08,
        hip_scale=0.95,
        head_scale=0.97,
        girth=1.05,
    ),
    dict(
        height=1.68,
        leg_scale=0.98,
        arm_scale=0.97,
        shoulder_scale=1.0,
        hip_scale=1.02,
        head_scale=1.0,
        girth=1.15,
    ),
    dict(
        height=1.76,
        leg_scale=1.02,
        arm_scale=1.0,
        shoulder_scale=1.04,
        hip_scale=0.98,
        head_scale=0.98,
        girth=1.0,
    ),
)
_SOURCE_FRAMING = (
    # focal (× size), principal point (× size), camera height, distance, camera x; stance x, z; bpm
    dict(focal=1.55, cx=0.44, cy=0.47, height=1.0, distance=4.4, cam_x=0.0, x=0.25, z=0.2, bpm=118.0),
    dict(focal=1.25, cx=0.5, cy=0.45, height=1.3, distance=4.8, cam_x=0.0, x=-0.45, z=-0.3, bpm=104.0),
    dict(focal=1.6, cx=0.52, cy=0.5, height=1.2, distance=4.9, cam_x=0.2, x=0.05, z=0.1, bpm=126.0),
    dict(focal=1.4, cx=0.5, cy=0.48, height=1.1, distance=4.6, cam_x=0.0, x=0.0, z=0.0, bpm=112.0),
)
_BASE_SIZE = 256
#: H.264 quality of the written clips, better than the writer's default (18): at 256 px a face is
#: only ~10-16 px tall and coding smears it. Measured with MediaPipe Holistic on the darkest-skinned
#: dancer at 256 px: face found in 99% of raw frames, 41% after crf 18, 69% after crf 12 (files
#: about twice as big). At 512 px faces are found in over 99% of decoded frames.
VIDEO_CRF = 12


def target_camera() -> Camera:
    """The target's fixed camera: 4.6 m from the room's centre mark at 1.15 m, looking level.

    The focal length keeps the raised hands and the feet in frame at the nearest row the target
    walks to (about 3.8 m away).
    """
    return Camera(
        size=_BASE_SIZE, focal=1.5 * _BASE_SIZE, cx=127.5, cy=0.48 * _BASE_SIZE, height=1.15, distance=4.6
    )


def make_subjects(
    seed: int = 0, n_sources: int = 3, target_seconds: float = 120.0, source_seconds: float = 20.0
) -> list[DemoSubject]:
    """The target followed by ``n_sources`` dancers, all built deterministically from ``seed``."""
    if n_sources < 0:
        raise ValueError(f"n_sources must be at least 0, got {n_sources}")
    if target_seconds <= 0 or source_seconds <= 0:
        raise ValueError("clip lengths must be positive seconds")
    body = Proportions.human(1.72)
    routine = target_routine(body, target_seconds, np.random.default_rng([seed, 0]))
    subjects = [
        DemoSubject(
            subject_id=TARGET_ID,
            role="target",
            clip_name=TARGET_CLIP,
            style=TARGET_STYLE,
            body=body,
            room=TARGET_ROOM,
            camera=target_camera(),
            routine=routine,
            description=f"Rendered target doing standard moves: {routine.describe()}",
        )
    ]
    for i in range(n_sources):
        rng = np.random.default_rng([seed, i + 1])
        if i < len(_SOURCE_BODIES):
            shape, frame = _SOURCE_BODIES[i], _SOURCE_FRAMING[i]
        else:
            shape = {k: float(v) * float(rng.uniform(0.97, 1.03)) for k, v in _SOURCE_BODIES[i % 4].items()}
            frame = dict(_SOURCE_FRAMING[i % 4])
            frame["x"] = float(rng.uniform(-0.4, 0.4))
            frame["bpm"] = float(rng.uniform(100, 128))
        src_body = Proportions.human(**shape)
        camera = Camera(
            size=_BASE_SIZE,
            focal=frame["focal"] * _BASE_SIZE,
            cx=frame["cx"] * _BASE_SIZE,
            cy=frame["cy"] * _BASE_SIZE,
            height=frame["height"],
            distance=frame["distance"],
            x=frame["cam_x"],
        )
        dance = DANCE_STYLES[i % len(DANCE_STYLES)]
        stance = Stance(frame["x"], frame["z"], 0.0)
        src_routine = dance_routine(src_body, dance, source_seconds, rng, stance, frame["bpm"])
        subjects.append(
            DemoSubject(
                subject_id=source_id(i),
                role="source",
                clip_name=SOURCE_CLIP,
                style=source_style(i, rng),
                body=src_body,
                room=source_room(i),
                camera=camera,
                routine=src_routine,
                description=(
                    f"Rendered dancer ({dance} style, {frame['bpm']:.0f} bpm, {src_body.height:.2f} m): "
                    f"{src_routine.describe()}"
                ),
            )
        )
    return subjects


def render_clip(
    subject: DemoSubject, size: int = 256, fps: float = 30.0, frames: Iterable[int] | None = None
) -> Iterator[tuple[np.ndarray, FrameKeypoints]]:
    """Yield ``(frame, keypoints)`` for the given frame indices (default: the whole clip).

    Frames are ``size``×``size``×3 uint8 RGB; frame ``i`` shows the routine at ``i / fps`` seconds.
    Nothing is written to disk, so tests can render a handful of frames cheaply.
    """
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    renderer = FigureRenderer(subject.style, subject.body, subject.room, subject.camera, size)
    indices = range(subject.n_frames(fps)) if frames is None else frames
    for i in indices:
        yield renderer.render(subject.routine.pose_at(i / fps))


def render_frames(
    subject: DemoSubject, size: int = 256, fps: float = 30.0, frames: Iterable[int] | None = None
) -> tuple[np.ndarray, PoseSequence]:
    """Like :func:`render_clip`, collected: frames ``(N, size, size, 3)`` and their ground truth."""
    images, bodies, faces, hands = [], [], [], []
    for image, kp in render_clip(subject, size, fps, frames):
        images.append(image)
        bodies.append(kp.body)
        faces.append(kp.face)
        hands.append(kp.hands)
    if not images:
        return np.zeros((0, size, size, 3), np.uint8), PoseSequence.empty(0)
    return np.stack(images), PoseSequence(np.stack(bodies), np.stack(faces), np.stack(hands))


def generate_demo(
    out_dir: str | Path,
    seed: int = 0,
    target_seconds: float = 120.0,
    source_seconds: float = 20.0,
    n_sources: int = 3,
    size: int = 256,
    fps: float = 30.0,
    progress: bool = True,
) -> list[DemoClip]:
    """Render and write the demo target and sources under ``out_dir`` (see the module docstring).

    Each video is written atomically (:class:`dataset.video.VideoWriter`) and its ground truth with
    :meth:`PoseSequence.save`, so an interrupted run never leaves a half-written file in place.
    """
    from tqdm import tqdm

    from dataset.video import VideoWriter

    out = Path(out_dir)
    subjects = make_subjects(seed, n_sources, target_seconds, source_seconds)
    total = sum(s.n_frames(fps) for s in subjects)
    bar = tqdm(total=total, unit="frame", desc="demo data", disable=not progress)
    clips: list[DemoClip] = []
    try:
        for subject in subjects:
            video = out / subject.subject_id / subject.role / f"{subject.clip_name}.mp4"
            truth = out / subject.subject_id / "ground_truth" / f"{subject.clip_name}.npz"
            bar.set_postfix_str(subject.subject_id)
            bodies, faces, hands = [], [], []
            with VideoWriter(video, fps, crf=VIDEO_CRF) as writer:
                for frame, kp in render_clip(subject, size, fps):
                    writer.write(frame)
                    bodies.append(kp.body)
                    faces.append(kp.face)
                    hands.append(kp.hands)
                    bar.update(1)
            PoseSequence(np.stack(bodies), np.stack(faces), np.stack(hands)).save(truth)
            clips.append(
                DemoClip(
                    subject_id=subject.subject_id,
                    role=subject.role,
                    clip_name=subject.clip_name,
                    video_path=video,
                    ground_truth_path=truth,
                    n_frames=len(bodies),
                    fps=fps,
                    width=size + size % 2,  # the writer pads odd sizes by a pixel (yuv420p)
                    height=size + size % 2,
                    description=subject.description,
                )
            )
    finally:
        bar.close()
    return clips
