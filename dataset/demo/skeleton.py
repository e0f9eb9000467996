"""The demo subject's 3D skeleton: proportions, pose parameters, kinematics and the camera.

Why 3D: global pose normalisation (METHOD.md §2) needs a target whose ankles move up and down the
image as it walks towards and away from the camera, with its apparent height shrinking in step.
A flat 2D puppet cannot do that consistently; a skeleton placed in a 3D room and seen through a
pinhole camera does it for free.

Coordinates (metres, right-handed, the OpenGL convention): world ``X`` points to the image's right,
``Y`` up, ``Z`` towards the camera; the floor is ``Y = 0``. A subject with ``yaw = 0`` faces the
camera, so its own left is ``+X`` (the image's right) and its right shoulder appears on the image's
left, as OpenPose and MediaPipe expect. Body-local axes are ``x`` = the subject's left, ``y`` = up,
``z`` = its forward; ``yaw`` rotates the body about ``Y`` (positive: turning to its own left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

Vec = np.ndarray


def rot_x(angle: float) -> np.ndarray:
    """Rotation about ``x``; positive tips ``+y`` towards ``+z`` (a forward bend or a nod down)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """Rotation about ``y``; positive turns ``+z`` (forward) towards ``+x`` (the subject's left)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """Rotation about ``z``; positive tips ``+y`` towards ``-x`` (a lean to the subject's right)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (``np.cross`` costs more than the arithmetic at this size)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else v


@dataclass(frozen=True)
class Proportions:
    """Segment lengths and girths in metres.

    Built with :meth:`human` from anthropometric ratios (segment length / stature, after the
    classic Drillis–Contini tables), so the figure reads as an adult human to a pose detector.
    """

    height: float
    shoulder_width: float  # between the shoulder joint centres
    hip_width: float  # between the hip joint centres
    upper_arm: float
    forearm: float
    hand: float  # wrist to the middle fingertip
    thigh: float
    shin: float
    ankle_height: float
    foot_length: float
    spine: float  # mid-hip to the shoulders' midpoint
    neck: float  # shoulders' midpoint to the head's pivot
    head_radii: tuple[float, float, float]  # half width, half height, half depth
    girth: float  # multiplies every limb and torso radius

    @classmethod
    def human(
        cls,
        height: float = 1.70,
        leg_scale: float = 1.0,
        arm_scale: float = 1.0,
        shoulder_scale: float = 1.0,
        hip_scale: float = 1.0,
        head_scale: float = 1.0,
        girth: float = 1.0,
    ) -> Proportions:
        """An adult of stature ``height``; the scales vary one proportion each (1 = average)."""
        head_half_h = 0.0655 * head_scale
        leg = (0.039 + 0.246 + 0.245) * leg_scale
        neck = 0.047
        # The spine takes up whatever is left so that the crown stays at exactly ``height``.
        pivot_to_crown = 0.02 + 0.035 + head_half_h  # pivot -> head centre -> crown (fractions)
        spine = 1.0 - leg - neck - pivot_to_crown
        h = height
        return cls(
            height=h,
            shoulder_width=0.215 * shoulder_scale * h,
            hip_width=0.105 * hip_scale * h,
            upper_arm=0.186 * arm_scale * h,
            forearm=0.146 * arm_scale * h,
            hand=0.106 * arm_scale * h,
            thigh=0.245 * leg_scale * h,
            shin=0.246 * leg_scale * h,
            ankle_height=0.039 * leg_scale * h,
            foot_length=0.152 * h,
            spine=spine * h,
            neck=neck * h,
            head_radii=(0.046 * head_scale * h, head_half_h * h, 0.057 * head_scale * h),
            girth=girth,
        )

    @property
    def leg(self) -> float:
        """Hip joint to ankle joint with a straight knee."""
        return self.thigh + self.shin

    @property
    def hip_height(self) -> float:
        """Height of the hip joints when standing straight."""
        return self.ankle_height + self.leg


@dataclass
class Pose:
    """Everything that moves, as plain floats so that two poses blend by linear interpolation.

    Angles are radians. Arm directions are given in the chest's frame as an elevation (0 = hanging
    straight down, pi/2 = horizontal, pi = straight up) and an azimuth (0 = out to the side, pi/2 =
    forward, pi = across the body); the forearm has its own direction in the same frame. ``palm``
    turns the palm from facing the body's midline (0) to facing forward (pi/2). Feet are ankle
    targets in world coordinates, solved by two-bone IK, so a planted foot never slides; the pelvis
    height follows from ``pelvis_drop`` but is lowered further whenever a foot would be out of reach.
    """

    root_x: float = 0.0
    root_z: float = 0.0
    yaw: float = 0.0
    pelvis_drop: float = 0.0  # metres below the standing hip height (negative: lifted, a jump)
    pelvis_roll: float = 0.0  # positive: the subject's left hip drops
    pelvis_pitch: float = 0.0
    spine_bend: float = 0.0  # forward flexion
    spine_side: float = 0.0  # positive: lean to the subject's left
    spine_twist: float = 0.0  # chest yaw relative to the pelvis, positive to the left
    head_yaw: float = 0.0
    head_pitch: float = 0.0  # positive: looking down
    head_roll: float = 0.0
    l_up_elev: float = 0.12
    l_up_azim: float = 0.4
    l_fore_elev: float = 0.3
    l_fore_azim: float = 1.2
    l_wrist: float = 0.0  # bend towards the palm
    l_palm: float = 0.0
    l_curl: float = 0.3
    l_spread: float = 0.2
    r_up_elev: float = 0.12
    r_up_azim: float = 0.4
    r_fore_elev: float = 0.3
    r_fore_azim: float = 1.2
    r_wrist: float = 0.0
    r_palm: float = 0.0
    r_curl: float = 0.3
    r_spread: float = 0.2
    l_foot_x: float = 0.1
    l_foot_y: float = 0.0  # lift of the ankle above its standing height
    l_foot_z: float = 0.0
    l_foot_pitch: float = 0.0  # positive: toes up
    l_foot_yaw: float = 0.0  # world yaw of the foot
    r_foot_x: float = -0.1
    r_foot_y: float = 0.0
    r_foot_z: float = 0.0
    r_foot_pitch: float = 0.0
    r_foot_yaw: float = 0.0
    gaze_x: float = 0.0  # -1..1, the subject's left is positive
    gaze_y: float = 0.0  # -1..1, up is positive
    mouth: float = 0.0  # 0 closed .. 1 open

    def to_array(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in POSE_FIELDS], np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> Pose:
        return cls(**{name: float(v) for name, v in zip(POSE_FIELDS, values, strict=True)})

    def copy(self) -> Pose:
        return Pose(**{name: getattr(self, name) for name in POSE_FIELDS})


POSE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Pose))


def blend(a: Pose, b: Pose, w: float) -> Pose:
    """``a`` at ``w = 0``, ``b`` at ``w = 1``, linear in every field in between."""
    if w <= 0.0:
        return a.copy()
    if w >= 1.0:
        return b.copy()
    return Pose.from_array(a.to_array() * (1.0 - w) + b.to_array() * w)


def arm_direction(elev: float, azim: float, side: float) -> np.ndarray:
    """Unit vector in the chest frame; ``side`` is +1 for the left arm, -1 for the right."""
    s = math.sin(elev)
    return np.array([side * s * math.cos(azim), -math.cos(elev), s * math.sin(azim)])


# Hand model, in units of the hand length along (fingers, thumb side, palm normal).
# Finger bases (MCP joints) and phalanx lengths, index to little finger; the thumb is separate.
_FINGER_BASES = np.array([[0.50, 0.17, 0.0], [0.52, 0.055, 0.0], [0.50, -0.055, 0.0], [0.46, -0.16, 0.0]])
_FINGER_PHALANGES = np.array([[0.23, 0.14, 0.10], [0.26, 0.16, 0.11], [0.24, 0.15, 0.10], [0.19, 0.11, 0.09]])
_FINGER_SPLAY = np.array([0.10, 0.0, -0.09, -0.2])  # radians at spread 1, towards the thumb
_THUMB_BASE = np.array([0.10, 0.16, 0.06])
_THUMB_PHALANGES = np.array([0.25, 0.17, 0.14])
#: Corners of the palm (hand units), thumb side first, used to draw it and for its outline.
PALM_OUTLINE = np.array(
    [[0.02, 0.15, 0.0], [0.22, 0.24, 0.02], [0.50, 0.21, 0.0], [0.52, 0.0, 0.0], [0.47, -0.21, 0.0],
     [0.02, -0.16, 0.0]]
)  # fmt: skip


@dataclass
class HandFrame:
    """Where one hand is: its 21 keypoints (OpenPose order) and its axes in world coordinates."""

    points: np.ndarray  # (21, 3)
    along: np.ndarray  # wrist -> fingers
    thumb: np.ndarray  # towards the thumb side
    normal: np.ndarray  # out of the palm (the side the fingers curl to)
    palm: np.ndarray  # (6, 3) palm outline


def hand_frame(
    wrist: np.ndarray,
    along: np.ndarray,
    normal: np.ndarray,
    side: float,
    length: float,
    curl: float,
    spread: float,
) -> HandFrame:
    """Finger kinematics: each joint flexes towards the palm by ``curl`` of its range.

    ``side`` is +1 for the left hand. The thumb side follows from the cross product (computed in a
    right-handed frame): for a right hand hanging with the palm forward the thumb points outwards.
    """
    along = _unit(along)
    normal = _unit(normal - float(normal @ along) * along)
    thumb = -side * _cross(along, normal)
    basis = np.stack([along, thumb, normal])  # rows: hand axes in world
    # Fingers (vectorised over the four): each phalanx turns further towards the palm.
    splay = _FINGER_SPLAY * (0.35 + spread)
    angles = np.cumsum(np.array([1.35, 1.7, 1.2]) * curl)  # (3,) cumulative flexion per joint
    dirs = np.empty((4, 3, 3))
    dirs[..., 0] = np.cos(splay)[:, None] * np.cos(angles)[None, :]
    dirs[..., 1] = np.sin(splay)[:, None] * np.cos(angles)[None, :]
    dirs[..., 2] = np.sin(angles)[None, :]
    chain = _FINGER_BASES[:, None, :] + np.cumsum(dirs * _FINGER_PHALANGES[..., None], axis=1)
    fingers = np.concatenate([_FINGER_BASES[:, None, :], chain], axis=1)  # (4, 4, 3): MCP, PIP, DIP, tip
    # Thumb: from its carpometacarpal joint, swinging across the palm as the hand closes.
    t_dir = np.array([0.55, 0.75, 0.3]) + curl * np.array([0.25, -0.55, 0.75])
    t_dir /= np.linalg.norm(t_dir)
    bends = 0.45 * curl * np.arange(1, 4)
    t_dirs = (
        t_dir[None, :] * np.cos(bends)[:, None] + np.array([0.0, -0.4, 0.9])[None, :] * np.sin(bends)[:, None]
    )
    t_dirs /= np.linalg.norm(t_dirs, axis=1, keepdims=True)
    thumb_pts = np.concatenate(
        [_THUMB_BASE[None], _THUMB_BASE + np.cumsum(t_dirs * _THUMB_PHALANGES[:, None], axis=0)]
    )
    local = np.concatenate([np.zeros((1, 3)), thumb_pts, fingers.reshape(16, 3)])
    pts = wrist + (local * length) @ basis
    palm = wrist + (PALM_OUTLINE * length) @ basis
    return HandFrame(points=pts, along=along, thumb=thumb, normal=normal, palm=palm)


@dataclass
class Skeleton3D:
    """World positions of the joints and the orientations the renderer needs (matrix columns are
    the segment's left, up and forward axes in world coordinates)."""

    joints: dict[str, np.ndarray]
    pelvis_rot: np.ndarray
    chest_rot: np.ndarray
    head_rot: np.ndarray
    spine_rots: np.ndarray  # (K, 3, 3) along the torso, see ``torso_levels``
    spine_centres: np.ndarray  # (K, 3)
    torso_levels: np.ndarray  # (K,) fractions of the spine, 0 = mid-hip, 1 = shoulders
    hands: tuple[HandFrame, HandFrame]  # subject's left, right
    foot_dirs: tuple[np.ndarray, np.ndarray]  # toe direction of the left and right foot
    gaze: tuple[float, float]
    mouth: float


#: Torso rings from below the hips to the base of the neck, as fractions of the spine.
TORSO_LEVELS = np.array(
    [-0.17, -0.1, 0.0, 0.12, 0.25, 0.38, 0.5, 0.6, 0.7, 0.8, 0.88, 0.95, 1.0, 1.04, 1.08, 1.11]
)


def _spine_rotations(pose: Pose, alpha: np.ndarray) -> np.ndarray:
    """Pelvis-relative rotations ``(K, 3, 3)`` of the torso ``alpha`` of the way up the spine.

    Each is ``rot_y(twist) @ rot_x(bend) @ rot_z(-side)`` scaled by ``alpha``, built in one go.
    """
    k = len(alpha)
    cy, sy = np.cos(alpha * pose.spine_twist), np.sin(alpha * pose.spine_twist)
    cx, sx = np.cos(alpha * pose.spine_bend), np.sin(alpha * pose.spine_bend)
    cz, sz = np.cos(-alpha * pose.spine_side), np.sin(-alpha * pose.spine_side)
    zero, one = np.zeros(k), np.ones(k)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], axis=1).reshape(k, 3, 3)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], axis=1).reshape(k, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], axis=1).reshape(k, 3, 3)
    return ry @ rx @ rz


def _two_bone(hip: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray) -> tuple[Vec, Vec]:
    """Knee and (possibly clamped) ankle for a leg reaching from ``hip`` towards ``target``."""
    d_vec = target - hip
    d = float(np.linalg.norm(d_vec))
    u = d_vec / max(d, 1e-9)
    d_c = min(max(d, abs(l1 - l2) + 1e-4), (l1 + l2) * 0.9999)
    ankle = hip + u * d_c
    cos_a = (l1 * l1 + d_c * d_c - l2 * l2) / (2 * l1 * d_c)
    sin_a = math.sqrt(max(0.0, 1.0 - cos_a * cos_a))
    v = pole - float(pole @ u) * u
    v = _unit(v)
    knee = hip + l1 * (cos_a * u + sin_a * v)
    return knee, ankle


def forward_kinematics(pose: Pose, body: Proportions) -> Skeleton3D:
    """World joint positions for ``pose``: spine as a smooth bend, arms by direction, legs by IK."""
    yaw_m = rot_y(pose.yaw)
    root = np.array([pose.root_x, 0.0, pose.root_z])

    def to_world(local: np.ndarray) -> np.ndarray:
        return root + local @ yaw_m.T

    def to_local(world: np.ndarray) -> np.ndarray:
        return (world - root) @ yaw_m

    pelvis_rot_l = rot_z(pose.pelvis_roll) @ rot_x(pose.pelvis_pitch)
    feet_world = [
        np.array([pose.l_foot_x, body.ankle_height + pose.l_foot_y, pose.l_foot_z]),
        np.array([pose.r_foot_x, body.ankle_height + pose.r_foot_y, pose.r_foot_z]),
    ]
    feet_local = [to_local(f) for f in feet_world]
    hip_offsets = [pelvis_rot_l @ np.array([s * body.hip_width / 2, 0.0, 0.0]) for s in (1.0, -1.0)]
    # Pelvis height: as asked, but low enough that both ankles stay reachable with a soft knee.
    reach = body.leg * 0.985
    y = body.hip_height - pose.pelvis_drop
    for off, foot in zip(hip_offsets, feet_local, strict=True):
        horiz = math.hypot(foot[0] - off[0], foot[2] - off[2])
        if horiz < reach:
            y = min(y, foot[1] - off[1] + math.sqrt(reach * reach - horiz * horiz))
    pelvis = np.array([0.0, y, 0.0])

    # Spine: integrate small rotated steps so the torso bends smoothly along its length.
    levels = TORSO_LEVELS
    rots = np.einsum("ij,kjl->kil", pelvis_rot_l, _spine_rotations(pose, np.clip(levels, 0.0, 1.0)))
    step_dirs = rots[:, :, 1]  # local "up" of each ring
    dl = np.diff(levels, prepend=0.0) * body.spine
    # Integrate from level 0 (the pelvis) outwards in both directions.
    zero = int(np.argmin(np.abs(levels)))
    centres = np.zeros((len(levels), 3))
    centres[zero] = pelvis
    for k in range(zero + 1, len(levels)):
        centres[k] = centres[k - 1] + 0.5 * (step_dirs[k] + step_dirs[k - 1]) * dl[k]
    for k in range(zero - 1, -1, -1):
        centres[k] = centres[k + 1] - 0.5 * (step_dirs[k] + step_dirs[k + 1]) * dl[k + 1]
    top = int(np.argmin(np.abs(levels - 1.0)))
    neck = centres[top]
    chest_l = rots[top]
    shoulders = [
        neck + chest_l @ np.array([s * body.shoulder_width / 2, -0.004 * body.height, 0.0]) for s in (1, -1)
    ]

    head_l = chest_l @ rot_x(0.08) @ rot_y(pose.head_yaw) @ rot_x(pose.head_pitch) @ rot_z(-pose.head_roll)
    pivot = neck + chest_l @ np.array([0.0, body.neck, 0.012 * body.height])
    head_c = pivot + head_l @ np.array([0.0, 0.035 * body.height, 0.008 * body.height])

    joints: dict[str, np.ndarray] = {
        "pelvis": pelvis,
        "neck": neck,
        "head_pivot": pivot,
        "head": head_c,
    }
    hands: list[HandFrame] = []
    for side, prefix, sh in ((1.0, "l", shoulders[0]), (-1.0, "r", shoulders[1])):
        up_dir = chest_l @ arm_direction(
            getattr(pose, f"{prefix}_up_elev"), getattr(pose, f"{prefix}_up_azim"), side
        )
        fore_dir = chest_l @ arm_direction(
            getattr(pose, f"{prefix}_fore_elev"), getattr(pose, f"{prefix}_fore_azim"), side
        )
        elbow = sh + up_dir * body.upper_arm
        wrist = elbow + fore_dir * body.forearm
        psi = getattr(pose, f"{prefix}_palm")
        inward = chest_l @ np.array([-side, 0.0, 0.0])
        fwd = chest_l @ np.array([0.0, 0.0, 1.0])
        down = chest_l @ np.array([0.0, -1.0, 0.0])
        # A slight "palm down" bias keeps the palm defined when the forearm points along the reference.
        ref = math.cos(psi) * inward + math.sin(psi) * fwd + 0.35 * down
        normal = ref - float(ref @ fore_dir) * fore_dir
        if np.linalg.norm(normal) < 0.25:  # reference almost along the forearm: lean on "down"
            normal = normal + 0.5 * (down - float(down @ fore_dir) * fore_dir)
        normal = _unit(normal)
        bend = getattr(pose, f"{prefix}_wrist")
        along = math.cos(bend) * fore_dir + math.sin(bend) * normal
        normal = -math.sin(bend) * fore_dir + math.cos(bend) * normal
        hands.append(
            hand_frame(
                wrist,
                along,
                normal,
                side,
                body.hand,
                getattr(pose, f"{prefix}_curl"),
                getattr(pose, f"{prefix}_spread"),
            )
        )
        joints[f"{prefix}_shoulder"] = sh
        joints[f"{prefix}_elbow"] = elbow
        joints[f"{prefix}_wrist"] = wrist

    foot_dirs: list[np.ndarray] = []
    for i, (side, prefix) in enumerate(((1.0, "l"), (-1.0, "r"))):
        hip = pelvis + hip_offsets[i]
        target = feet_local[i]
        foot_yaw = getattr(pose, f"{prefix}_foot_yaw") - pose.yaw
        toe_dir = rot_y(foot_yaw) @ rot_x(-getattr(pose, f"{prefix}_foot_pitch")) @ np.array([0.0, 0.0, 1.0])
        # Knees point along the foot, slightly outwards, as in a natural stance.
        pole = _unit(toe_dir * np.array([1.0, 0.0, 1.0]) + np.array([side * 0.15, 0.0, 0.0]))
        pole = pelvis_rot_l @ pole
        knee, ankle = _two_bone(hip, target, body.thigh, body.shin, pole)
        up = np.array([0.0, 1.0, 0.0])
        lateral = _unit(_cross(up, toe_dir)) * side  # points to the outside of this foot
        fl = body.foot_length
        heel = ankle - toe_dir * (0.24 * fl) - up * body.ankle_height
        toe_tip = ankle + toe_dir * (0.74 * fl) - up * (body.ankle_height * 0.85)
        big_toe = toe_tip - lateral * (0.07 * fl)
        small_toe = ankle + toe_dir * (0.58 * fl) + lateral * (0.14 * fl) - up * (body.ankle_height * 0.85)
        joints[f"{prefix}_hip"] = hip
        joints[f"{prefix}_knee"] = knee
        joints[f"{prefix}_ankle"] = ankle
        joints[f"{prefix}_heel"] = heel
        joints[f"{prefix}_toe"] = toe_tip
        joints[f"{prefix}_big_toe"] = big_toe
        joints[f"{prefix}_small_toe"] = small_toe
        foot_dirs.append(toe_dir)

    # Everything above was body-local; move it into the world.
    names = list(joints)
    world = to_world(np.stack([joints[k] for k in names]))
    joints = dict(zip(names, world, strict=True))
    world_hands = tuple(
        HandFrame(
            points=to_world(h.points),
            along=yaw_m @ h.along,
            thumb=yaw_m @ h.thumb,
            normal=yaw_m @ h.normal,
            palm=to_world(h.palm),
        )
        for h in hands
    )
    return Skeleton3D(
        joints=joints,
        pelvis_rot=yaw_m @ pelvis_rot_l,
        chest_rot=yaw_m @ chest_l,
        head_rot=yaw_m @ head_l,
        spine_rots=np.einsum("ij,kjl->kil", yaw_m, rots),
        spine_centres=to_world(centres),
        torso_levels=levels,
        hands=(world_hands[0], world_hands[1]),
        foot_dirs=(yaw_m @ foot_dirs[0], yaw_m @ foot_dirs[1]),
        gaze=(pose.gaze_x, pose.gaze_y),
        mouth=pose.mouth,
    )


@dataclass(frozen=True)
class Camera:
    """A pinhole camera at ``(x, height, distance)`` looking down ``-Z``, tilted down by ``pitch``.

    ``focal``, ``cx`` and ``cy`` are in pixels of a ``size`` × ``size`` frame, with pixel centres at
    integer coordinates (OpenPose's convention). :meth:`scaled` gives the same view for another size.
    """

    size: int
    focal: float
    cx: float
    cy: float
    height: float = 1.1
    distance: float = 4.5
    x: float = 0.0
    pitch: float = 0.0

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.height, self.distance])

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, s = math.cos(self.pitch), math.sin(self.pitch)
        right = np.array([1.0, 0.0, 0.0])
        up = np.array([0.0, c, -s])
        forward = np.array([0.0, -s, -c])
        return right, up, forward

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(..., 2)`` and depths ``(...)`` (metres along the view axis) of world points."""
        right, up, forward = self._axes()
        d = points - self.position
        depth = d @ forward
        z = np.maximum(depth, 1e-3)
        u = self.cx + self.focal * (d @ right) / z
        v = self.cy - self.focal * (d @ up) / z
        return np.stack([u, v], axis=-1), depth

    def scaled(self, size: int) -> Camera:
        """The same view rendered ``size`` pixels wide (pixel centres stay at integers)."""
        k = size / self.size
        return Camera(
            size=size,
            focal=self.focal * k,
            cx=(self.cx + 0.5) * k - 0.5,
            cy=(self.cy + 0.5) * k - 0.5,
            height=self.height,
            distance=self.distance,
            x=self.x,
            pitch=self.pitch,
        )

    def floor_ray(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World ``(x, z)`` where pixel rays hit the floor, and a mask of rays that hit it at all."""
        right, up, forward = self._axes()
        dirs = (
            forward[None, None, :]
            + ((u - self.cx) / self.focal)[..., None] * right
            - ((v - self.cy) / self.focal)[..., None] * up
        )
        dy = dirs[..., 1]
        hits = dy < -1e-6
        t = np.where(hits, -self.height / np.where(hits, dy, -1.0), 0.0)
        x = self.x + t * dirs[..., 0]
        z = self.distance + t * dirs[..., 2]
        return x, z, hits
