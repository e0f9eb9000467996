"""The head's shape and the 70 face keypoints, defined on its surface.

The head is an ellipsoid whose lower half narrows towards the chin and leans forward (a jaw).
Face features are placed at frontal coordinates ``(u, v)`` (``u`` = the subject's left, ``v`` = up,
both in head half-widths/half-heights) and lifted onto that surface, so the keypoints written as
ground truth are exactly the points the renderer draws the eyes, brows, nose and lips from, at
any head turn. The layout is OpenPose's 68 + 2 pupils (:data:`dataset.keypoints.FACE_70_GROUPS`):
"right" is the subject's right, which is the image's left when it faces the camera.
"""

from __future__ import annotations

import numpy as np

# Frontal template (u, v) of the 68 contour points. u < 0 is the subject's right.
_JAW_T = np.linspace(0.0, np.pi, 17)
_EYE_R = [(-0.66, 0.03), (-0.54, 0.09), (-0.38, 0.09), (-0.25, 0.03), (-0.38, -0.025), (-0.54, -0.025)]
_EYE_L = [(0.25, 0.03), (0.38, 0.09), (0.54, 0.09), (0.66, 0.03), (0.54, -0.025), (0.38, -0.025)]
_TEMPLATE_UV: np.ndarray = np.array(
    # brows 17-26: right brow outer -> inner, left brow inner -> outer
    [(-0.78, 0.2), (-0.64, 0.27), (-0.48, 0.3), (-0.32, 0.29), (-0.17, 0.25),
     (0.17, 0.25), (0.32, 0.29), (0.48, 0.3), (0.64, 0.27), (0.78, 0.2),
     # nose bridge 27-30, top to tip
     (0.0, 0.05), (0.0, -0.08), (0.0, -0.2), (0.0, -0.33),
     # nose bottom 31-35, right wing -> left wing
     (-0.2, -0.37), (-0.1, -0.41), (0.0, -0.43), (0.1, -0.41), (0.2, -0.37),
     *_EYE_R, *_EYE_L,
     # outer lips 48-59: right corner, upper lip to the left corner, lower lip back
     (-0.36, -0.62), (-0.24, -0.56), (-0.1, -0.535), (0.0, -0.55), (0.1, -0.535), (0.24, -0.56),
     (0.36, -0.62), (0.24, -0.69), (0.11, -0.725), (0.0, -0.73), (-0.11, -0.725), (-0.24, -0.69),
     # inner lips 60-67: right corner, upper inner lip, left corner, lower inner lip
     (-0.3, -0.62), (-0.11, -0.605), (0.0, -0.61), (0.11, -0.605), (0.3, -0.62),
     (0.11, -0.635), (0.0, -0.64), (-0.11, -0.635)]
)  # fmt: skip
# How far each point stands out of the head surface, in half-depths (the nose sticks out).
_PROTRUDE = np.zeros(68)
_PROTRUDE[27:31] = [0.02, 0.08, 0.17, 0.27]
_PROTRUDE[31:36] = [0.07, 0.12, 0.14, 0.12, 0.07]
_PROTRUDE[48:68] = 0.03
_PROTRUDE[17:27] = 0.04
_LOWER_INNER = np.array([65, 66, 67]) - 17  # rows of _TEMPLATE_UV
_LOWER_OUTER = np.array([55, 56, 57, 58, 59]) - 17
EYE_CENTRES_UV = np.array([(-0.455, 0.03), (0.455, 0.03)])  # right, left
#: Eye opening (half height) in head half-heights, for drawing the iris.
EYE_HALF_OPENING = 0.055


def _taper(sin_lat: np.ndarray) -> np.ndarray:
    """Width factor: the jaw narrows below the cheekbones."""
    below = np.clip(-sin_lat, 0.0, 1.0)
    return 1.0 - 0.22 * below**1.6


def head_surface(lat: np.ndarray, lon: np.ndarray, radii: tuple[float, float, float]) -> np.ndarray:
    """Points ``(..., 3)`` of the head surface in head coordinates (x left, y up, z forward).

    ``lat`` runs from -pi/2 (under the chin) to pi/2 (the crown), ``lon`` from the face (0) round
    to the subject's left (positive).
    """
    a, b, c = radii
    lat, lon = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
    sl, cl = np.sin(lat), np.cos(lat)
    below = np.clip(-sl, 0.0, 1.0)
    front = np.clip(np.cos(lon), 0.0, 1.0)
    x = a * _taper(sl) * cl * np.sin(lon)
    y = b * sl
    z = c * cl * np.cos(lon) + 0.22 * c * below * front**2
    return np.stack([x, y, z], axis=-1)


def head_normals(lat: np.ndarray, lon: np.ndarray, radii: tuple[float, float, float]) -> np.ndarray:
    """Outward unit normals of :func:`head_surface` (finite differences, oriented away from the centre)."""
    eps = 1e-3
    d_lat = head_surface(lat + eps, lon, radii) - head_surface(lat - eps, lon, radii)
    d_lon = head_surface(lat, lon + eps, radii) - head_surface(lat, lon - eps, radii)
    n = np.cross(d_lon, d_lat)
    # Near the poles d_lon vanishes; fall back to the radial direction there.
    p = head_surface(lat, lon, radii)
    weak = np.linalg.norm(n, axis=-1, keepdims=True) < 1e-9
    n = np.where(weak, p, n)
    n = n * np.sign(np.sum(n * p, axis=-1, keepdims=True) + 1e-12)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _uv_to_latlon(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.clip(uv[..., 1], -0.999, 0.999)
    lat = np.arcsin(v)
    width = _taper(v) * np.cos(lat)
    lon = np.arcsin(np.clip(uv[..., 0] / np.maximum(width, 1e-6), -0.999, 0.999))
    return lat, lon


def _jaw_latlon() -> tuple[np.ndarray, np.ndarray]:
    """The jaw line: from beside the right eye, round the chin, to beside the left eye."""
    lat = -0.05 + (-1.2 - -0.05) * np.sin(_JAW_T) ** 0.9
    lon = -1.38 * np.cos(_JAW_T)
    return lat, lon


def face_points_local(
    radii: tuple[float, float, float], gaze: tuple[float, float] = (0.0, 0.0), mouth: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """The 70 face keypoints and their surface normals in head coordinates, each ``(70, 3)``."""
    uv = _TEMPLATE_UV.copy()
    uv[_LOWER_INNER, 1] -= 0.09 * mouth
    uv[_LOWER_OUTER, 1] -= 0.06 * mouth
    pupils = EYE_CENTRES_UV + np.array([gaze[0] * 0.07, gaze[1] * 0.025])
    uv_all = np.concatenate([uv, pupils])  # 17..69
    lat_f, lon_f = _uv_to_latlon(uv_all)
    lat_j, lon_j = _jaw_latlon()
    lat = np.concatenate([lat_j, lat_f])
    lon = np.concatenate([lon_j, lon_f])
    pts = head_surface(lat, lon, radii)
    nrm = head_normals(lat, lon, radii)
    protrude = np.concatenate([_PROTRUDE, np.zeros(2)])
    pts = pts + nrm * (protrude * radii[2])[:, None]
    return pts, nrm


def ear_outline_local(
    radii: tuple[float, float, float], side: float, n: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Outline of one ear (``side`` +1 = left) and its centre, in head coordinates.

    The ear sits at eye-to-nose height just behind the head's widest point and stands out
    backwards at an angle, so it shows as a sliver beside the head from the front and as an oval
    from the side.
    """
    a, b, c = radii
    lat = np.array(-0.12)
    lon = np.array(side * 1.66)
    base = head_surface(lat, lon, radii)
    outward = np.array([side, 0.0, 0.0])
    back = np.array([0.0, 0.0, -1.0])
    tilt = np.deg2rad(30.0)
    e_w = np.cos(tilt) * back + np.sin(tilt) * outward
    e_h = np.array([0.0, 1.0, 0.0])
    hh, hw = 0.27 * b, 0.2 * c
    centre = base + outward * 0.05 * a + e_w * hw * 0.55
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    outline = centre + np.outer(np.sin(t) * hh, e_h) + np.outer(np.cos(t) * hw, e_w)
    return outline, centre


class FaceModel:
    """The face keypoints of one head, precomputed for speed.

    Only the lower lips (mouth opening) and the pupils (gaze) move; both move by small amounts
    over a smooth surface, so they are interpolated linearly between precomputed extremes instead of
    being lifted onto the surface every frame.
    """

    def __init__(self, radii: tuple[float, float, float]) -> None:
        self.rest, self.normals = face_points_local(radii)
        opened, _ = face_points_local(radii, mouth=1.0)
        right, _ = face_points_local(radii, gaze=(1.0, 0.0))
        up, _ = face_points_local(radii, gaze=(0.0, 1.0))
        self._d_mouth = opened - self.rest
        self._d_gaze_x = right - self.rest
        self._d_gaze_y = up - self.rest

    def points(
        self, gaze: tuple[float, float] = (0.0, 0.0), mouth: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Face keypoints and normals ``(70, 3)`` in head coordinates."""
        pts = self.rest + mouth * self._d_mouth + gaze[0] * self._d_gaze_x + gaze[1] * self._d_gaze_y
        return pts, self.normals
