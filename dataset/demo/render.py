"""Drawing one frame of a demo subject and its ground-truth keypoints.

The figure is a set of closed quad meshes (capsules for the limbs, neck and shoes, a generalised
cylinder for the torso, a deformed ellipsoid for the head with a hair shell over it), shaded with
Lambert lighting and drawn with OpenCV as filled convex polygons:

- within a part only the quads facing the camera are drawn; a part is convex, so they never
  overlap and need no sorting among themselves;
- parts are painted far to near (by the depth of their centre), so a near arm covers the torso and
  a turned body hides its far arm;
- all quads of a frame are shaded and projected in one vectorised pass, and the room (wall, tiled
  floor) is rendered once per clip and copied under every frame;
- everything is drawn at ``SUPERSAMPLE`` times the output size with sub-pixel coordinates and
  area-averaged down, which anti-aliases edges without OpenCV's slower anti-aliased fills.

Keypoints come from the same 3D points the figure is drawn from, projected with the same camera,
so ground truth and pixels agree by construction. Points hidden behind the body keep confidence 1
(the renderer knows where they are; a detector may or may not guess them); points outside the
frame are ``(0, 0, 0)``, as OpenPose writes undetected points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from dataset.demo.appearance import Room, SubjectStyle
from dataset.demo.face import EYE_HALF_OPENING, FaceModel, ear_outline_local, head_surface
from dataset.demo.skeleton import TORSO_LEVELS, Camera, Pose, Proportions, Skeleton3D, forward_kinematics
from dataset.keypoints import N_BODY, N_FACE, N_HAND

SUPERSAMPLE = 2
_SHIFT = 3  # OpenCV sub-pixel bits for polygon and line coordinates
_ONE = float(1 << _SHIFT)

Draw = Callable[[np.ndarray], None]
Color = tuple[int, int, int]

# Capsule mesh: rings along the axis (hemispherical caps of two rings at each end) and around it.
_CAP_T = np.array([0.0, 0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0])
_CAP_BETA = np.array([-np.pi / 2, -np.pi / 4, 0.0, 0.0, 0.0, 0.0, np.pi / 4, np.pi / 2])
_CAP_AROUND = 10
_PHI = np.linspace(0.0, 2 * np.pi, _CAP_AROUND, endpoint=False)
# Head mesh (latitude rings × longitude segments) and torso segments around.
_HEAD_LAT = np.linspace(-np.pi / 2, np.pi / 2, 13)
_HEAD_LON = np.linspace(-np.pi, np.pi, 18, endpoint=False)
_TORSO_AROUND = 16
_TORSO_PHI = np.linspace(0.0, 2 * np.pi, _TORSO_AROUND, endpoint=False)

# Torso profile per level of TORSO_LEVELS, in fractions of the stature: half width, half depth and
# a forward offset (chest out, seat back).
_TORSO_W = np.array(
    [0.08, 0.093, 0.098, 0.094, 0.087, 0.083, 0.085, 0.09, 0.095, 0.099, 0.102, 0.103, 0.097, 0.08, 0.052, 0.03]
)  # fmt: skip
_TORSO_D = np.array(
    [0.05, 0.062, 0.064, 0.06, 0.056, 0.055, 0.058, 0.064, 0.066, 0.064, 0.06, 0.055, 0.05, 0.042, 0.034, 0.026]
)  # fmt: skip
_TORSO_Z = np.array(
    [-0.006, -0.008, -0.006, 0.0, 0.004, 0.006, 0.006, 0.008, 0.01, 0.01, 0.006, 0.0, -0.004, -0.006, -0.004, 0.0]
)  # fmt: skip
_PANTS_TOP = 0.18  # torso levels below this are trousers
# Limb radii (start, middle, end) in fractions of the stature.
_RADII = {
    "upper_arm": (0.029, 0.025, 0.022),
    "forearm": (0.022, 0.02, 0.016),
    "thigh": (0.052, 0.042, 0.032),
    "shin": (0.032, 0.031, 0.02),
    "neck": (0.03, 0.029, 0.028),
    "shoe": (0.026, 0.034, 0.028),
}
_LIMBS: tuple[tuple[str, str, str, str], ...] = (
    # part name, kind, start joint, end joint
    ("l_upper_arm", "upper_arm", "l_shoulder", "l_elbow"),
    ("l_forearm", "forearm", "l_elbow", "l_wrist"),
    ("r_upper_arm", "upper_arm", "r_shoulder", "r_elbow"),
    ("r_forearm", "forearm", "r_elbow", "r_wrist"),
    ("l_thigh", "thigh", "l_hip", "l_knee"),
    ("l_shin", "shin", "l_knee", "l_ankle"),
    ("r_thigh", "thigh", "r_hip", "r_knee"),
    ("r_shin", "shin", "r_knee", "r_ankle"),
    ("neck", "neck", "neck", "head_pivot"),
    ("l_shoe", "shoe", "l_heel", "l_toe"),
    ("r_shoe", "shoe", "r_heel", "r_toe"),
)
_NECK = 8
_SHOES = (9, 10)
_HAIRLINE_LON = np.array([0.0, 0.5, 1.0, 1.35, 1.7, 2.3, np.pi])
_HAIRLINES: dict[str, np.ndarray] = {
    # latitude above which the scalp is hair, by |longitude| (0 = face, pi = the back)
    "short": np.array([0.66, 0.6, 0.42, 0.28, 0.18, -0.42, -0.55]),
    "buzz": np.array([0.72, 0.66, 0.5, 0.34, 0.26, -0.3, -0.42]),
    "bob": np.array([0.6, 0.55, 0.38, 0.2, -0.6, -0.75, -0.8]),
    "bun": np.array([0.64, 0.58, 0.42, 0.28, 0.12, -0.45, -0.55]),
    "ponytail": np.array([0.64, 0.58, 0.42, 0.28, 0.12, -0.45, -0.55]),
}
# Lighting: (ambient, diffuse) for the body and for the head. The head is lit brightly and evenly,
# like a face under studio lights: measured with MediaPipe Holistic at 256 px, a face half in
# shadow was found in 27% of frames of the far target and 35% for the darkest skin tone; lit like
# this, 89% and 93%.
_LIGHT_BODY = (0.42, 0.62)
_LIGHT_HEAD = (1.0, 0.12)
# Face drawing. Faces are only ~12 px tall in a 256 px full-body frame, and H.264 (4:2:0 chroma,
# quantisation) smears them further, so the features are drawn with strong luminance contrast:
# a shaded eye socket, bright sclera, dark iris and brows, lips darker than the skin. Measured on
# decoded crf-18 video of the darkest-skinned dancer, this raised MediaPipe's face rate from 31%
# to 41% (raw renders are unaffected); see also the crf used by ``generate_demo``.
_SOCKET_SHADE = 0.7  # multiplies the skin colour
_SOCKET_GROW = (1.3, 1.9)  # socket size relative to the eye (width, height)
_BROW_THICKNESS = 0.008  # metres
_SCLERA: Color = (250, 250, 248)
_IRIS_SHADE = 0.5  # multiplies the eye colour
_BROW_SHADE = 0.5  # multiplies the style's brow colour
_LIP_TINT: Color = (120, 40, 50)
_LIP_MIX = 0.6  # how far the lips go from the skin colour towards the tint


@dataclass
class FrameKeypoints:
    """Ground truth of one frame in :mod:`dataset.keypoints`' layout (pixels of the output frame)."""

    body: np.ndarray  # (25, 3)
    face: np.ndarray  # (70, 3)
    hands: np.ndarray  # (2, 21, 3), 0 = the subject's left hand


def _radius_profile(r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Quadratic through (0, r0), (0.5, r1), (1, r2); ``r`` is ``(C, 3)``, ``t`` is ``(R,)``."""
    w0 = (1 - t) * (1 - 2 * t)
    w1 = 4 * t * (1 - t)
    w2 = t * (2 * t - 1)
    return r[:, :1] * w0 + r[:, 1:2] * w1 + r[:, 2:3] * w2


def _quads(vertices: np.ndarray) -> np.ndarray:
    """Quads ``(..., R-1, M, 4, K)`` of a ring grid ``(..., R, M, K)`` that is closed around."""
    nxt = np.roll(vertices, -1, axis=-2)
    return np.stack(
        [vertices[..., :-1, :, :], nxt[..., :-1, :, :], nxt[..., 1:, :, :], vertices[..., 1:, :, :]], -2
    )


def _capsules(
    starts: np.ndarray, ends: np.ndarray, radii: np.ndarray, refs: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Vertex grids ``(C, rings, around, 3)`` of tapered capsules with elliptical sections.

    ``radii`` ``(C, 3)`` is the radius at the start, middle and end; ``refs`` fixes where the mesh
    seam lies (so textures stay put on the limb); ``scale`` ``(C, 2)`` flattens the section.
    """
    axis = ends - starts
    length = np.maximum(np.linalg.norm(axis, axis=1), 1e-6)
    u = axis / length[:, None]
    p = refs - np.sum(refs * u, axis=1, keepdims=True) * u
    weak = np.linalg.norm(p, axis=1) < 0.3
    if weak.any():
        up = np.array([0.0, 1.0, 0.0])
        p = np.where(weak[:, None], p + (up - np.sum(up * u, axis=1, keepdims=True) * u), p)
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-9)
    q = np.cross(u, p)
    rad = _radius_profile(radii, _CAP_T)
    along = _CAP_T[None, :] * length[:, None] + np.sin(_CAP_BETA)[None, :] * rad
    ring_r = np.cos(_CAP_BETA)[None, :] * rad
    circle = (
        np.cos(_PHI)[None, None, :, None] * (p * scale[:, :1])[:, None, None, :]
        + np.sin(_PHI)[None, None, :, None] * (q * scale[:, 1:])[:, None, None, :]
    )
    return (
        starts[:, None, None, :]
        + (u[:, None, :] * along[:, :, None])[:, :, None, :]
        + ring_r[..., None, None] * circle
    )


def _color(c: Color, k: float = 1.0) -> Color:
    return (min(255, int(c[0] * k)), min(255, int(c[1] * k)), min(255, int(c[2] * k)))


def _mix_color(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] * (1 - t) + b[0] * t), int(a[1] * (1 - t) + b[1] * t), int(a[2] * (1 - t) + b[2] * t))


def _fix(points: np.ndarray) -> np.ndarray:
    """Sub-pixel fixed-point coordinates for OpenCV drawing."""
    return np.round(points * _ONE).astype(np.int32)


class _Projector:
    """A camera's projection with its axes precomputed (called many times per frame)."""

    def __init__(self, camera: Camera) -> None:
        c, s = math.cos(camera.pitch), math.sin(camera.pitch)
        self.axes = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, -s, -c]])  # right, up, forward
        self.position = camera.position
        self.focal, self.cx, self.cy = camera.focal, camera.cx, camera.cy

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cam = (points - self.position) @ self.axes.T
        depth = cam[..., 2]
        z = np.maximum(depth, 1e-3)
        px = np.stack(
            [self.cx + self.focal * cam[..., 0] / z, self.cy - self.focal * cam[..., 1] / z], axis=-1
        )
        return px, depth


class _Meshes:
    """The quads of every part of one frame, shaded, culled and projected in one vectorised pass."""

    def __init__(self) -> None:
        self._quads: list[np.ndarray] = []
        self._inside: list[np.ndarray] = []
        self._albedo: list[np.ndarray] = []
        self._mask: list[np.ndarray] = []
        self._light: list[np.ndarray] = []
        self._polys: list[np.ndarray] = []
        self._colours: list[list[list[int]]] = []

    def add(
        self,
        quads: np.ndarray,
        inside: np.ndarray,
        albedo: np.ndarray,
        mask: np.ndarray | None = None,
        light: tuple[float, float] = _LIGHT_BODY,
    ) -> int:
        """Register a mesh's quads ``(..., 4, 3)``; ``inside`` is a point inside the part (broadcast)."""
        lead = quads.shape[:-2]
        n = int(np.prod(lead))
        self._quads.append(quads.reshape(n, 4, 3))
        self._inside.append(np.broadcast_to(inside, (*lead, 3)).reshape(n, 3))
        self._albedo.append(np.broadcast_to(albedo, (*lead, 3)).reshape(n, 3))
        self._mask.append(np.ones(n, bool) if mask is None else np.broadcast_to(mask, lead).reshape(n))
        self._light.append(np.broadcast_to(np.asarray(light, np.float64), (n, 2)))
        return len(self._quads) - 1

    def finish(self, light_dir: np.ndarray, cam_pos: np.ndarray, project: _Projector) -> None:
        quads = np.concatenate(self._quads)
        inside = np.concatenate(self._inside)
        albedo = np.concatenate(self._albedo)
        lighting = np.concatenate(self._light)
        centres = quads.mean(axis=1)
        d1 = quads[:, 2] - quads[:, 0]
        d2 = quads[:, 3] - quads[:, 1]
        n = np.stack(
            [d1[:, 1] * d2[:, 2] - d1[:, 2] * d2[:, 1], d1[:, 2] * d2[:, 0] - d1[:, 0] * d2[:, 2],
             d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]],
            axis=1,
        )  # fmt: skip
        n *= np.where(np.sum(n * (centres - inside), axis=1) < 0, -1.0, 1.0)[:, None]
        n /= np.maximum(np.sqrt(np.sum(n * n, axis=1)), 1e-12)[:, None]
        view = cam_pos - centres
        view /= np.sqrt(np.sum(view * view, axis=1))[:, None]
        facing = np.sum(n * view, axis=1)
        diffuse = np.clip(n @ light_dir, 0.0, 1.0)
        k = (lighting[:, 0] + lighting[:, 1] * diffuse) * (0.72 + 0.28 * np.clip(facing, 0.0, 1.0))
        colours = np.clip(albedo * k[:, None] * 255.0, 0, 255).astype(np.int32)
        keep = (facing > 0.0) & np.concatenate(self._mask)
        px, _ = project(quads.reshape(-1, 3))
        fixed = _fix(px).reshape(-1, 4, 2)
        start = 0
        for q in self._quads:
            stop = start + len(q)
            sel = keep[start:stop]
            self._polys.append(fixed[start:stop][sel])
            self._colours.append(colours[start:stop][sel].tolist())
            start = stop

    def painter(self, handle: int) -> Draw:
        """A function that paints mesh ``handle`` (valid once :meth:`finish` has run)."""

        def draw(canvas: np.ndarray) -> None:
            for poly, col in zip(self._polys[handle], self._colours[handle], strict=True):
                cv2.fillConvexPoly(canvas, poly, col, cv2.LINE_8, _SHIFT)

        return draw


class FigureRenderer:
    """Renders one subject in one room through one camera at one output size.

    Construction does the per-clip work (background, textures, shadow sprite); :meth:`render` is the
    per-frame work. ``camera`` may be defined for any size: it is rescaled to ``size``.
    """

    def __init__(self, style: SubjectStyle, body: Proportions, room: Room, camera: Camera, size: int) -> None:
        self.style = style
        self.body = body
        self.room = room
        self.size = int(size)
        self.canvas_size = self.size * SUPERSAMPLE
        self.camera = camera.scaled(self.size)
        self.canvas_camera = camera.scaled(self.canvas_size)
        self._project = _Projector(self.canvas_camera)
        self._project_out = _Projector(self.camera)
        self.cam_pos = self.camera.position
        light = np.asarray(room.light, np.float64)
        self.light = light / np.linalg.norm(light)
        self.background = render_room(room, self.canvas_camera)
        self._shadow = _shadow_sprite()
        self._sprites: dict[tuple[int, int], np.ndarray] = {}  # the sprite resized, by size
        self._limb_albedo = self._limb_textures()
        self._torso_albedo = self._torso_texture()
        self._head_skin = np.asarray(style.skin, np.float64) / 255.0
        self._hair_mask, self._hair_albedo = self._hair_texture()
        self._head_grid = head_surface(_HEAD_LAT[:, None], _HEAD_LON[None, :], body.head_radii)
        self._hair_grid = self._head_grid * 1.07
        self._face = FaceModel(body.head_radii)
        self._ears = [ear_outline_local(body.head_radii, side) for side in (1.0, -1.0)]  # left, right
        h = body.height * body.girth
        self._limb_radii = np.array([_RADII[kind] for _, kind, _, _ in _LIMBS]) * h
        self._limb_scale = np.ones((len(_LIMBS), 2))
        self._limb_scale[list(_SHOES)] = (1.0, 0.62)
        levels = TORSO_LEVELS
        upper = np.clip((levels - 0.3) / 0.4, 0.0, 1.0)
        width_scale = (1 - upper) * (body.hip_width / (0.105 * body.height)) + upper * (
            body.shoulder_width / (0.215 * body.height)
        )
        self._torso_local = np.stack(
            [
                np.cos(_TORSO_PHI)[None, :] * (_TORSO_W * h * width_scale)[:, None],
                np.zeros((len(levels), _TORSO_AROUND)),
                np.sin(_TORSO_PHI)[None, :] * (_TORSO_D * h)[:, None] + (_TORSO_Z * body.height)[:, None],
            ],
            axis=-1,
        )  # (levels, around, 3) in each ring's own frame
        self._lips = _mix_color(style.skin, _LIP_TINT, _LIP_MIX)
        self._hair_extra_albedo = np.asarray(style.hair, np.float64) / 255.0

    # ---- per-clip textures -------------------------------------------------------------------

    def _limb_textures(self) -> np.ndarray:
        """Albedo ``(limbs, rings-1, around, 3)``: sleeves, trouser legs, skin and shoes."""
        rows = len(_CAP_T) - 1
        skin = np.asarray(self.style.skin, np.float64) / 255.0
        t_mid = 0.5 * (_CAP_T[:-1] + _CAP_T[1:])
        out = np.empty((len(_LIMBS), rows, _CAP_AROUND, 3))
        sleeve_upper = {"short": 0.45, "long": 2.0, "tank": -1.0}[self.style.sleeves]
        sleeve_fore = 2.0 if self.style.sleeves == "long" else -1.0
        pants_shin = {"long": 2.0, "capri": 0.55, "shorts": -1.0}[self.style.pants_length]
        pants_thigh = 0.6 if self.style.pants_length == "shorts" else 2.0
        shirt = self.style.shirt.albedo(rows * 2, _CAP_AROUND)
        pants = self.style.pants.albedo(rows * 2, _CAP_AROUND)
        for i, (_, kind, _, _) in enumerate(_LIMBS):
            if kind == "shoe":
                shoe = np.asarray(self.style.shoes, np.float64) / 255.0
                sole = np.asarray(self.style.sole, np.float64) / 255.0
                is_sole = np.sin(_PHI + np.pi / _CAP_AROUND) < -0.55
                out[i] = np.where(is_sole[None, :, None], sole, shoe)
                continue
            if kind == "neck":
                out[i] = skin
                continue
            if kind in ("upper_arm", "forearm"):
                cover, cloth, offset = (sleeve_upper if kind == "upper_arm" else sleeve_fore), shirt, 0
                if kind == "forearm":
                    offset = rows
            else:
                cover, cloth, offset = (pants_thigh if kind == "thigh" else pants_shin), pants, 0
                if kind == "shin":
                    offset = rows
            covered = t_mid < cover
            out[i] = np.where(covered[:, None, None], cloth[offset : offset + rows], skin)
        return out

    def _torso_texture(self) -> np.ndarray:
        rows = len(TORSO_LEVELS) - 1
        mid = 0.5 * (TORSO_LEVELS[:-1] + TORSO_LEVELS[1:])
        shirt = self.style.shirt.albedo(rows, _TORSO_AROUND)
        pants = self.style.pants.albedo(rows, _TORSO_AROUND)
        skin = np.asarray(self.style.skin, np.float64) / 255.0
        out = np.where((mid < _PANTS_TOP)[:, None, None], pants, shirt)
        neckline = 1.06 if self.style.sleeves != "tank" else 1.0
        out[mid > neckline] = skin
        if self.style.sleeves == "tank":
            # bare shoulders: the outer part of the top rings (around the arm holes) is skin
            side = np.abs(np.cos(_TORSO_PHI + np.pi / _TORSO_AROUND)) > 0.55
            out[(mid > 0.93)[:, None] & side[None, :]] = skin
        return out

    def _hair_texture(self) -> tuple[np.ndarray, np.ndarray]:
        lat_mid = 0.5 * (_HEAD_LAT[:-1] + _HEAD_LAT[1:])
        lon_mid = _HEAD_LON + np.pi / len(_HEAD_LON)
        line = np.interp(
            np.abs(np.angle(np.exp(1j * lon_mid))), _HAIRLINE_LON, _HAIRLINES[self.style.hair_style]
        )
        mask = lat_mid[:, None] > line[None, :]
        hair = np.asarray(self.style.hair, np.float64) / 255.0
        rng = np.random.default_rng(3)
        streaks = 1.0 + 0.08 * rng.normal(size=mask.shape)[..., None]
        return mask, hair * streaks

    # ---- per frame ---------------------------------------------------------------------------

    def render(self, pose: Pose) -> tuple[np.ndarray, FrameKeypoints]:
        """The frame (``size``×``size``×3 uint8 RGB) and its ground truth for ``pose``."""
        skel = forward_kinematics(pose, self.body)
        canvas = self.background.copy()
        self._draw_shadow(canvas, skel)
        face_pts, face_nrm = self._face_world(skel)
        meshes = _Meshes()
        parts: list[tuple[float, Draw]] = []
        limb_handles, limb_keys = self._limbs(skel, meshes)
        torso_handle, torso_key = self._torso(skel, meshes)
        head_handles = self._head(skel, meshes)
        meshes.finish(self.light, self.cam_pos, self._project)

        for k, handle in enumerate(limb_handles):
            if k != _NECK:
                parts.append((limb_keys[k], meshes.painter(handle)))
        parts.append((torso_key, meshes.painter(torso_handle)))
        # The neck and head go right after (in front of) the torso unless something is nearer.
        parts.append((torso_key - 1e-3, meshes.painter(limb_handles[_NECK])))
        head_key, head_draw, extra = self._head_painters(skel, meshes, head_handles, face_pts, face_nrm)
        parts.append((min(head_key, torso_key - 2e-3), head_draw))
        if extra is not None:
            parts.append(extra)
        self._hands(skel, parts)
        parts.sort(key=lambda p: -p[0])
        for _, draw in parts:
            draw(canvas)
        frame = cv2.resize(canvas, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return frame, self._keypoints(skel, face_pts)

    def _limbs(self, skel: Skeleton3D, meshes: _Meshes) -> tuple[list[int], list[float]]:
        j = skel.joints
        starts = np.stack([j[a] for _, _, a, _ in _LIMBS])
        ends = np.stack([j[b] for _, _, _, b in _LIMBS])
        up = np.array([0.0, 1.0, 0.0])
        refs = np.empty((len(_LIMBS), 3))
        refs[:4] = skel.chest_rot[:, 2]
        refs[4:8] = skel.pelvis_rot[:, 2]
        refs[_NECK] = skel.chest_rot[:, 2]
        for k, foot_dir in zip(_SHOES, skel.foot_dirs, strict=True):
            # Shoes rise from the heel and toe points (on the sole) to the middle of the foot's height.
            lift = 0.55 * self._limb_radii[k, 1]
            starts[k] = starts[k] + up * lift + (starts[k] - ends[k]) * 0.05
            ends[k] = ends[k] + up * lift * 0.8
            refs[k] = np.cross(up, foot_dir)  # seam across the foot: the section flattens upright, sole down
        verts = _capsules(starts, ends, self._limb_radii, refs, self._limb_scale)
        quads = _quads(verts)
        mids = 0.5 * (starts + ends)
        handles = [meshes.add(quads[k], mids[k], self._limb_albedo[k]) for k in range(len(_LIMBS))]
        _, depth = self._project(mids)
        return handles, [float(d) for d in depth]

    def _torso(self, skel: Skeleton3D, meshes: _Meshes) -> tuple[int, float]:
        verts = skel.spine_centres[:, None, :] + np.einsum("kij,kmj->kmi", skel.spine_rots, self._torso_local)
        inside = 0.5 * (skel.spine_centres[:-1] + skel.spine_centres[1:])[:, None, :]
        handle = meshes.add(_quads(verts), inside, self._torso_albedo)
        _, depth = self._project(skel.spine_centres)
        return handle, float(depth.mean()) + 0.04 * self.body.height / 1.7

    def _head(self, skel: Skeleton3D, meshes: _Meshes) -> tuple[int, int, int | None]:
        r = skel.head_rot
        centre = skel.joints["head"]
        skin = meshes.add(_quads(centre + self._head_grid @ r.T), centre, self._head_skin, light=_LIGHT_HEAD)
        hair = meshes.add(
            _quads(centre + self._hair_grid @ r.T),
            centre,
            self._hair_albedo,
            self._hair_mask,
            light=_LIGHT_HEAD,
        )
        extra = self._hair_extra(skel, meshes)
        return skin, hair, extra

    def _hair_extra(self, skel: Skeleton3D, meshes: _Meshes) -> int | None:
        """A bun or a ponytail: a capsule fixed to the head."""
        style = self.style.hair_style
        if style not in ("bun", "ponytail"):
            return None
        a, b, c = self.body.head_radii
        r = skel.head_rot
        centre = skel.joints["head"]
        if style == "bun":
            start, end = np.array([0.0, 0.78 * b, -0.62 * c]), np.array([0.0, 0.86 * b, -0.8 * c])
            rads = np.array([[0.42 * a, 0.44 * a, 0.42 * a]])
        else:
            start, end = np.array([0.0, 0.35 * b, -1.02 * c]), np.array([0.0, -1.15 * b, -1.35 * c])
            rads = np.array([[0.3 * a, 0.26 * a, 0.12 * a]])
        p0, p1 = centre + r @ start, centre + r @ end
        verts = _capsules(p0[None], p1[None], rads, r[:, 0][None], np.ones((1, 2)))
        return meshes.add(_quads(verts[0]), 0.5 * (p0 + p1), self._hair_extra_albedo)

    def _face_world(self, skel: Skeleton3D) -> tuple[np.ndarray, np.ndarray]:
        pts, nrm = self._face.points(skel.gaze, skel.mouth)
        r = skel.head_rot
        return skel.joints["head"] + pts @ r.T, nrm @ r.T

    def _head_painters(
        self,
        skel: Skeleton3D,
        meshes: _Meshes,
        handles: tuple[int, int, int | None],
        face_pts: np.ndarray,
        face_nrm: np.ndarray,
    ) -> tuple[float, Draw, tuple[float, Draw] | None]:
        """The head's painter (far ear, skin, face, near ear, hair) and the bun/ponytail's."""
        r = skel.head_rot
        centre = skel.joints["head"]
        skin_draw = meshes.painter(handles[0])
        hair_draw = meshes.painter(handles[1])
        ears: list[tuple[np.ndarray, bool]] = []
        for (outline, ear_c), side in zip(self._ears, (1.0, -1.0), strict=True):
            normal = r @ np.array([side, 0.0, -0.35])
            view = self.cam_pos - (centre + r @ ear_c)
            px, _ = self._project(centre + outline @ r.T)
            ears.append((cv2.convexHull(_fix(px)), float(normal @ view) > 0.0))
        face_draw = self._face_painter(face_pts, face_nrm, skel)
        ear_col = _color(self.style.skin, 0.9)

        def draw(canvas: np.ndarray) -> None:
            for hull, near in ears:
                if not near:
                    cv2.fillConvexPoly(canvas, hull, ear_col, cv2.LINE_8, _SHIFT)
            skin_draw(canvas)
            face_draw(canvas)
            for hull, near in ears:
                if near:
                    cv2.fillConvexPoly(canvas, hull, ear_col, cv2.LINE_8, _SHIFT)
            hair_draw(canvas)

        _, depth = self._project(centre[None])
        extra: tuple[float, Draw] | None = None
        if handles[2] is not None:
            back = centre + r @ np.array([0.0, 0.0, -1.1 * self.body.head_radii[2]])
            _, d = self._project(back[None])
            extra = (float(d[0]), meshes.painter(handles[2]))
        return float(depth[0]), draw, extra

    def _face_painter(self, pts3: np.ndarray, nrm: np.ndarray, skel: Skeleton3D) -> Draw:
        """Eyes, brows, nose and lips drawn from the projected face keypoints (visible ones only)."""
        view = self.cam_pos - pts3
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        vis = np.sum(nrm * view, axis=1)
        px, depth = self._project(pts3)
        ppm = self.canvas_camera.focal / max(float(depth[30]), 1e-3)  # canvas pixels per metre
        fx = _fix(px)
        style = self.style
        skin = style.skin
        radii = self.body.head_radii
        light_side = 1.0 if self.light[0] >= 0 else -1.0
        lips = self._lips
        socket = _color(skin, _SOCKET_SHADE)
        iris = _color(style.eyes, _IRIS_SHADE)
        brows = _color(style.brows, _BROW_SHADE)

        def visible(idx: range, thr: float) -> bool:
            return bool(np.mean(vis[idx.start : idx.stop]) > thr)

        def thick(metres: float) -> int:
            return max(1, round(metres * ppm))

        eye_r = max(EYE_HALF_OPENING * radii[1] * ppm, 0.7)
        lid_col = (46, 32, 28)

        def draw(canvas: np.ndarray) -> None:
            for eye, pupil in ((range(36, 42), 68), (range(42, 48), 69)):
                if not visible(eye, 0.2):
                    continue
                centre = px[eye.start : eye.stop].mean(axis=0)
                # a soft socket shadow makes the eyes read at a few pixels
                grown = centre + (px[eye.start : eye.stop] - centre) * np.array(_SOCKET_GROW)
                cv2.fillConvexPoly(canvas, _fix(grown), socket, cv2.LINE_8, _SHIFT)
                cv2.fillConvexPoly(canvas, fx[eye.start : eye.stop], _SCLERA, cv2.LINE_8, _SHIFT)
                rad = round(eye_r * 1.05 * _ONE)
                cv2.circle(canvas, (int(fx[pupil, 0]), int(fx[pupil, 1])), rad, iris, -1, cv2.LINE_8, _SHIFT)
                cv2.circle(
                    canvas,
                    (int(fx[pupil, 0]), int(fx[pupil, 1])),
                    max(1, rad // 2),
                    (16, 12, 10),
                    -1,
                    cv2.LINE_8,
                    _SHIFT,
                )
                lid = fx[eye.start : eye.start + 4]
                cv2.polylines(canvas, [lid], False, lid_col, thick(0.0035), cv2.LINE_8, _SHIFT)
            for brow in (range(17, 22), range(22, 27)):
                if visible(brow, 0.15):
                    cv2.polylines(
                        canvas,
                        [fx[brow.start : brow.stop]],
                        False,
                        brows,
                        thick(_BROW_THICKNESS),
                        cv2.LINE_8,
                        _SHIFT,
                    )
            if visible(range(27, 36), 0.1):
                # nose: a shadowed flank on the side away from the light, the base and nostrils
                flank = px[27:31] + np.array([-light_side * 0.006 * ppm, 0.0])
                cv2.polylines(
                    canvas, [_fix(flank)], False, _color(skin, 0.8), thick(0.004), cv2.LINE_8, _SHIFT
                )
                cv2.polylines(
                    canvas, [fx[31:36]], False, _color(skin, 0.66), thick(0.004), cv2.LINE_8, _SHIFT
                )
                for k in (32, 34):
                    cv2.circle(
                        canvas, (int(fx[k, 0]), int(fx[k, 1])), round(0.003 * ppm * _ONE), _color(skin, 0.45), -1,
                        cv2.LINE_8, _SHIFT,
                    )  # fmt: skip
            if visible(range(48, 60), 0.1):
                cv2.fillPoly(canvas, [fx[48:60]], lips, cv2.LINE_8, _SHIFT)
                if skel.mouth > 0.15:
                    cv2.fillPoly(canvas, [fx[60:68]], (70, 26, 30), cv2.LINE_8, _SHIFT)
                else:
                    cv2.polylines(
                        canvas, [fx[60:65]], False, _color(lips, 0.55), thick(0.0025), cv2.LINE_8, _SHIFT
                    )

        return draw

    def _hands(self, skel: Skeleton3D, parts: list[tuple[float, Draw]]) -> None:
        skin = self.style.skin
        length = self.body.hand
        for hand in skel.hands:
            pts = hand.points
            thickness = 0.055 * length
            palm3 = np.concatenate(
                [hand.palm + hand.normal * thickness / 2, hand.palm - hand.normal * thickness / 2]
            )
            centre = 0.5 * (pts[0] + pts[9])
            px, depth = self._project(np.concatenate([pts, palm3, centre[None]]))
            view = self.cam_pos - centre
            palm_facing = float(hand.normal @ view) > 0.0
            diffuse = abs(float(hand.normal @ self.light))
            k = 0.5 + 0.55 * diffuse
            ppm = self.canvas_camera.focal / max(float(depth[9]), 1e-3)
            painter = _HandPainter(
                hull=cv2.convexHull(_fix(px[21:-1])),
                chains=[_fix(px[1 + 4 * f : 5 + 4 * f]) for f in range(5)],
                palm_facing=palm_facing,
                palm_col=_color(skin, k * (1.06 if palm_facing else 1.0)),
                finger_col=_color(skin, k * 0.97),
                edge_col=_color(skin, k * 0.72),
                width=max(1, round(0.09 * length * ppm)),
            )
            parts.append((float(depth[-1]), painter))

    def _draw_shadow(self, canvas: np.ndarray, skel: Skeleton3D) -> None:
        """A soft contact shadow under the feet, fading as they leave the floor."""
        j = skel.joints
        feet = np.stack([j["l_heel"], j["l_toe"], j["r_heel"], j["r_toe"]])
        lift = float(feet[:, 1].min())
        strength = 0.5 * math.exp(-max(lift, 0.0) / 0.25)
        lo, hi = feet.min(axis=0), feet.max(axis=0)
        centre = np.array([(lo[0] + hi[0]) / 2, 0.0, (lo[2] + hi[2]) / 2])
        scale = self.body.height / 1.7
        self._blob(
            canvas, centre, (hi[0] - lo[0]) / 2 + 0.2 * scale, (hi[2] - lo[2]) / 2 + 0.14 * scale, strength
        )
        for side in ("l", "r"):
            heel, toe = j[f"{side}_heel"], j[f"{side}_toe"]
            h = float(min(heel[1], toe[1]))
            if h < 0.15:
                sole = 0.5 * (heel + toe)
                self._blob(canvas, np.array([sole[0], 0.0, sole[2]]), 0.09, 0.1, 0.35 * (1 - h / 0.15))

    def _blob(
        self, canvas: np.ndarray, centre: np.ndarray, half_x: float, half_z: float, strength: float
    ) -> None:
        dx, dz = np.array([half_x, 0.0, 0.0]), np.array([0.0, 0.0, half_z])
        ends = np.stack([centre, centre + dx, centre + dz, centre - dz])
        px, depth = self._project(ends)
        if depth.min() <= 0.1:
            return
        cx, cy = px[0]
        rx = abs(px[1, 0] - cx) * 1.5
        ry = max(abs(px[2, 1] - px[3, 1]) / 2, 1.0) * 1.5
        x0, x1 = round(cx - rx), round(cx + rx) + 1
        y0, y1 = round(cy - ry), round(cy + ry) + 1
        n = canvas.shape[0]
        if x1 <= 0 or y1 <= 0 or x0 >= n or y0 >= n or x1 - x0 < 2 or y1 - y0 < 2:
            return
        key = (x1 - x0, y1 - y0)
        sprite = self._sprites.get(key)
        if sprite is None:
            if len(self._sprites) > 512:
                self._sprites.clear()
            sprite = self._sprites[key] = cv2.resize(self._shadow, key, interpolation=cv2.INTER_LINEAR)
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x1, n), min(y1, n)
        sub = sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        region = canvas[cy0:cy1, cx0:cx1]
        region[:] = (region * (1.0 - strength * sub)[..., None]).astype(np.uint8)

    # -- ground truth --

    def _keypoints(self, skel: Skeleton3D, face_pts: np.ndarray) -> FrameKeypoints:
        j = skel.joints
        r = skel.head_rot
        ears = [j["head"] + r @ self._ears[i][1] for i in (1, 0)]  # right ear (BODY_25 17), then left (18)
        world = np.concatenate(
            [
                np.stack([j[n] for n in _BODY_JOINTS]),
                np.stack(ears),
                face_pts,
                skel.hands[0].points,
                skel.hands[1].points,
            ]
        )
        px, depth = self._project_out(world)
        n_b = len(_BODY_JOINTS)
        body = np.zeros((N_BODY, 2))
        body[_BODY_INDEX] = px[:n_b]
        body[[17, 18]] = px[n_b : n_b + 2]
        face = px[n_b + 2 : n_b + 2 + N_FACE]
        hands = px[n_b + 2 + N_FACE :].reshape(2, N_HAND, 2)
        body[0] = face[30]  # nose tip
        body[15] = face[36:42].mean(axis=0)  # right eye centre
        body[16] = face[42:48].mean(axis=0)
        body[1] = 0.5 * (body[2] + body[5])  # neck = shoulders' midpoint (as OpenPose and our mapping)
        body[8] = 0.5 * (body[9] + body[12])  # mid-hip = hips' midpoint
        in_front = bool(depth.min() > 0)
        return FrameKeypoints(
            body=_with_confidence(body, self.size, in_front),
            face=_with_confidence(face, self.size, in_front),
            hands=_with_confidence(hands, self.size, in_front),
        )


_BODY_JOINTS = (
    "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
    "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel",
)  # fmt: skip
_BODY_INDEX = [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24]


@dataclass
class _HandPainter:
    """Paints a hand: palm outline and finger chains, fingers in front when the palm faces us."""

    hull: np.ndarray
    chains: list[np.ndarray]
    palm_facing: bool
    palm_col: Color
    finger_col: Color
    edge_col: Color
    width: int

    def _fingers(self, canvas: np.ndarray) -> None:
        if self.width >= 3:
            cv2.polylines(canvas, self.chains, False, self.edge_col, self.width + 2, cv2.LINE_8, _SHIFT)
        cv2.polylines(canvas, self.chains, False, self.finger_col, self.width, cv2.LINE_8, _SHIFT)

    def __call__(self, canvas: np.ndarray) -> None:
        if not self.palm_facing:
            self._fingers(canvas)
        cv2.fillConvexPoly(canvas, self.hull, self.palm_col, cv2.LINE_8, _SHIFT)
        if self.palm_facing:
            self._fingers(canvas)


def _with_confidence(points: np.ndarray, size: int, valid: bool) -> np.ndarray:
    """Append confidence 1 inside the frame; zero points outside it (OpenPose's "not detected")."""
    inside = (points[..., 0] >= 0) & (points[..., 0] < size) & (points[..., 1] >= 0) & (points[..., 1] < size)
    inside &= valid
    out = np.zeros((*points.shape[:-1], 3), np.float32)
    out[..., :2] = np.where(inside[..., None], points, 0.0)
    out[..., 2] = inside.astype(np.float32)
    return out


def _shadow_sprite(n: int = 64) -> np.ndarray:
    """A soft elliptical shadow (1 in the middle, fading to 0 at the sprite's edge)."""
    t = np.linspace(-1.0, 1.0, n)
    r2 = t[None, :] ** 2 + t[:, None] ** 2
    return np.clip(np.exp(-r2 * 2.6) - math.exp(-2.6), 0.0, None).astype(np.float32) / (1 - math.exp(-2.6))


def render_room(room: Room, camera: Camera) -> np.ndarray:
    """The static background: a panelled wall with a skirting board and a tiled floor, lit softly."""
    n = camera.size
    v, u = np.mgrid[0:n, 0:n].astype(np.float64)
    fx, fz, hits = camera.floor_ray(u, v)
    floor = hits & (fz > room.wall_z)
    # Where the pixel rays meet the wall plane.
    c, s = math.cos(camera.pitch), math.sin(camera.pitch)
    right, up, forward = np.array([1.0, 0.0, 0.0]), np.array([0.0, c, -s]), np.array([0.0, -s, -c])
    dirs = (
        forward[None, None, :]
        + ((u - camera.cx) / camera.focal)[..., None] * right
        - ((v - camera.cy) / camera.focal)[..., None] * up
    )
    t_wall = (room.wall_z - camera.distance) / np.minimum(dirs[..., 2], -1e-6)
    wx = camera.x + t_wall * dirs[..., 0]
    wy = camera.height + t_wall * dirs[..., 1]
    img = np.zeros((n, n, 3), np.float64)
    # Wall: panels with grooves, a dado rail and the skirting board, slightly brighter higher up.
    wall = np.asarray(room.wall, np.float64)
    img[:] = wall
    in_panel = (np.mod(wx + 0.05, 1.1) > 0.1) & (wy > 0.25) & (wy < 0.95)
    img[in_panel] = np.asarray(room.wall_panel, np.float64)
    groove = (np.abs(np.mod(wx + 0.05, 1.1) - 0.05) < 0.012) & (wy > 0.2)
    img[groove] = wall * 0.82
    img[np.abs(wy - 1.0) < 0.025] = np.asarray(room.skirting) * 0.95
    img[wy < 0.12] = room.skirting
    img *= (0.9 + 0.1 * np.clip(wy / 2.5, 0.0, 1.0))[..., None]
    # Floor: tiles with a per-tile tint, grout lines and a pool of light where the subject stands.
    ti = np.floor(fx / room.tile).astype(np.int64)
    tk = np.floor(fz / room.tile).astype(np.int64)
    tile_col = np.where(
        ((ti + tk) % 2 == 0)[..., None], np.asarray(room.floor_a, float), np.asarray(room.floor_b, float)
    )
    jitter = (((ti * 7349 + tk * 1931) % 17) / 17.0 - 0.5) * 0.08
    tile_col = tile_col * (1.0 + jitter)[..., None]
    gu = np.abs(fx / room.tile - np.round(fx / room.tile)) * room.tile
    gv = np.abs(fz / room.tile - np.round(fz / room.tile)) * room.tile
    tile_col[(gu < 0.012) | (gv < 0.012)] *= 0.72
    light = 0.78 + 0.3 * np.exp(-(np.hypot(fx, fz + 0.2) ** 2) / 6.0)
    near_wall = 1.0 - 0.25 * np.exp(-np.clip(fz - room.wall_z, 0.0, 50.0) / 0.25)
    tile_col *= (light * near_wall)[..., None]
    img[floor] = tile_col[floor]
    return np.clip(img, 0, 255).astype(np.uint8)
