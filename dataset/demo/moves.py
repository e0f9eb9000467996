"""The motion library: moves and dances as functions of time, sequenced into routines.

A :class:`Move` maps seconds since its start to a :class:`~dataset.demo.skeleton.Pose`. Every
target move starts and ends in the neutral standing pose of its :class:`Stance` (where the subject
stands and which way it faces), so moves chain without jumps; a :class:`Routine` also cross-fades
neighbouring moves, which is what keeps dance figures (that do not return to neutral) smooth.

Plausibility rules the moves follow: planted feet never slide (feet are world-space IK targets and
the gait plants each foot for its whole stance phase); the pelvis is lowered automatically when a
stride would overstretch a leg; the weight moves over the standing foot before a kick; only jumps
leave the floor, on a ballistic arc. Everything is deterministic given the routine's seed.

The target's routine follows the paper's training footage: walking towards and away from the
camera (backwards, still facing it, so its face stays visible and the ankles sweep between a
"close" and a "far" row of the image), side steps, arm raises and circles, waves, squats, kicks,
torso twists, partial turns, side bends, marching and idle standing. Sources dance in one of a few
styles; their spins stay within ±60° so the face remains mostly visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from dataset.demo.skeleton import Pose, Proportions, blend, rot_y

DanceStyle = Literal["disco", "robot", "bounce"]
DANCE_STYLES: tuple[DanceStyle, ...] = ("disco", "robot", "bounce")


def smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, C1-smooth in between."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def envelope(t: float, duration: float, ramp: float = 0.6) -> float:
    """Rises from 0 to 1 over ``ramp`` seconds and falls back to 0 over the last ``ramp`` seconds."""
    ramp = min(ramp, duration / 2)
    return smoothstep(t / ramp) * smoothstep((duration - t) / ramp)


def arm_angles(swing: float, abduct: float = 0.12) -> tuple[float, float]:
    """(elevation, azimuth) of an arm swung ``swing`` rad forward (negative: back), ``abduct`` out.

    Keeping a little abduction makes the azimuth continuous as the arm swings through vertical.
    """
    d = np.array([math.sin(abduct), -math.cos(swing) * math.cos(abduct), math.sin(swing) * math.cos(abduct)])
    return math.acos(max(-1.0, min(1.0, -d[1]))), math.atan2(d[2], d[0])


@dataclass(frozen=True)
class Stance:
    """Where the subject stands on the floor (metres) and which way it faces (yaw, radians)."""

    x: float = 0.0
    z: float = 0.0
    yaw: float = 0.0

    def axes(self, yaw: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World (left, forward) floor directions of a body at ``yaw`` (default: the stance's)."""
        r = rot_y(self.yaw if yaw is None else yaw)
        return r[:, 0], r[:, 2]


def place_feet(pose: Pose, body: Proportions, x: float, z: float, yaw: float, spread: float = 0.0) -> None:
    """Put both feet in the neutral stance around ``(x, z)``, ``spread`` metres wider than hip width."""
    left, _ = Stance(yaw=yaw).axes()
    half = body.hip_width / 2 + 0.015 + spread / 2
    pose.l_foot_x, pose.l_foot_z = x + left[0] * half, z + left[2] * half
    pose.r_foot_x, pose.r_foot_z = x - left[0] * half, z - left[2] * half
    pose.l_foot_y = pose.r_foot_y = 0.0
    pose.l_foot_yaw, pose.r_foot_yaw = yaw + 0.12, yaw - 0.12


def neutral_pose(stance: Stance, body: Proportions) -> Pose:
    """Standing relaxed at ``stance``: arms hanging, palms in, looking ahead."""
    pose = Pose(root_x=stance.x, root_z=stance.z, yaw=stance.yaw)
    place_feet(pose, body, stance.x, stance.z, stance.yaw)
    return pose


@dataclass
class Move:
    """One move: a pose for every time in ``[0, duration]``, from stance ``start`` to ``end``."""

    name: str
    duration: float
    start: Stance
    end: Stance
    fn: Callable[[float], Pose]

    def __call__(self, t: float) -> Pose:
        return self.fn(min(max(t, 0.0), self.duration))


@dataclass
class Routine:
    """Moves played back to back, cross-faded over ``fade`` seconds at each boundary."""

    moves: list[Move]
    fade: float = 0.3

    def __post_init__(self) -> None:
        self.starts = np.cumsum([0.0] + [m.duration for m in self.moves])

    @property
    def duration(self) -> float:
        return float(self.starts[-1])

    def segment_at(self, t: float) -> int:
        i = int(np.searchsorted(self.starts, t, side="right")) - 1
        return min(max(i, 0), len(self.moves) - 1)

    def pose_at(self, t: float) -> Pose:
        i = self.segment_at(t)
        local = t - self.starts[i]
        pose = self.moves[i](local)
        half = self.fade / 2
        if i > 0 and local < half:
            w = smoothstep((local + half) / self.fade)
            return blend(self.moves[i - 1](t - self.starts[i - 1]), pose, w)
        if i + 1 < len(self.moves) and self.moves[i].duration - local < half:
            w = smoothstep((local - (self.moves[i].duration - half)) / self.fade)
            return blend(pose, self.moves[i + 1](t - self.starts[i + 1]), w)
        return pose

    def describe(self) -> str:
        """The moves' names, each once, in order of first appearance."""
        return ", ".join(dict.fromkeys(m.name for m in self.moves))


# ---- locomotion -------------------------------------------------------------------------------


def _footsteps(distance: float, step: float, together: bool) -> list[tuple[int, float, float]]:
    """The steps of a walk as ``(foot, from, to)`` distances along the path; foot 0 leads.

    Walking, the feet pass each other: the first and last steps are half steps, the ones between
    are whole strides. Side-stepping, the trailing foot closes up to the leading one every time
    (step-together), so the feet never cross.
    """
    n = max(1, math.ceil(distance / step - 1e-9))
    d = distance / n
    steps: list[tuple[int, float, float]] = []
    if together:
        for i in range(n):
            steps += [(0, i * d, (i + 1) * d), (1, i * d, (i + 1) * d)]
        return steps
    pos = [0.0, 0.0]
    for k in range(1, n + 1):
        foot = (k - 1) % 2
        steps.append((foot, pos[foot], k * d))
        pos[foot] = k * d
    last = n % 2  # the foot that did not move in step n closes up
    steps.append((last, pos[last], distance))
    return steps


def walk(
    body: Proportions,
    start: Stance,
    to: tuple[float, float],
    kind: Literal["forward", "backward", "sideways"] = "forward",
    end_yaw: float | None = None,
) -> Move:
    """Walk from ``start`` to floor point ``to`` by an explicit plan of footsteps.

    ``forward`` turns towards the direction of travel, ``backward`` walks with the back leading
    while facing the other way (used to walk away from the camera while still facing it), and
    ``sideways`` steps to the side without turning. Each foot moves only during its own swing and is
    planted otherwise; the pelvis follows the feet smoothly (a moving average of their midpoint) and
    leans a little over the standing foot. The body turns smoothly back to ``end_yaw``.
    """
    p0 = np.array([start.x, start.z])
    p1 = np.array(to, np.float64)
    delta = p1 - p0
    distance = float(np.linalg.norm(delta))
    end_yaw = start.yaw if end_yaw is None else end_yaw
    end = Stance(float(p1[0]), float(p1[1]), end_yaw)
    if distance < 1e-3:
        return Move("stand", 0.5, start, end, lambda t: neutral_pose(start, body))
    direction = delta / distance
    scale = body.height / 1.7
    if kind == "forward":
        step, step_time, lift = 0.38 * scale, 0.5, 0.08 * scale
        travel_yaw = math.atan2(direction[0], direction[1])
    elif kind == "backward":
        step, step_time, lift = 0.3 * scale, 0.5, 0.06 * scale
        travel_yaw = math.atan2(-direction[0], -direction[1])
    else:
        step, step_time, lift = 0.28 * scale, 0.4, 0.05 * scale
        travel_yaw = start.yaw
    swing_time = 0.8 * step_time
    steps = _footsteps(distance, step, together=kind == "sideways")
    if kind == "sideways":
        # the foot on the side we move towards leads
        left_axis, _ = start.axes()
        leads_left = float(direction @ np.array([left_axis[0], left_axis[2]])) > 0
        steps = [(f if leads_left else 1 - f, a, b) for f, a, b in steps]
    pad = 0.25
    t_start = [pad + i * step_time for i in range(len(steps))]
    duration = t_start[-1] + swing_time + pad
    final = {foot: max(i for i, st in enumerate(steps) if st[0] == foot) for foot in (0, 1)}
    half = body.hip_width / 2 + 0.015

    def lateral(yaw: float, foot: int) -> np.ndarray:
        left, _ = Stance(yaw=yaw).axes()
        return np.array([left[0], left[2]]) * half * (1.0 if foot == 0 else -1.0)

    def foot_state(foot: int, t: float) -> tuple[np.ndarray, float, float, float]:
        """Floor position, lift, swing fraction (-1 when planted) and the yaw it points to."""
        along, lat, yaw, g = 0.0, lateral(start.yaw, foot), start.yaw, -1.0
        for i, (f, a, b) in enumerate(steps):
            if f != foot or t < t_start[i]:
                continue
            yaw_to = end_yaw if i == final[foot] else travel_yaw
            lat_to = lateral(yaw_to, foot)
            g = (t - t_start[i]) / swing_time
            if g >= 1.0:
                along, lat, yaw, g = b, lat_to, yaw_to, -1.0
                continue
            w = smoothstep(g)
            along, lat, yaw = a + (b - a) * w, lat + (lat_to - lat) * w, yaw + _wrap(yaw_to - yaw) * w
            break
        position = p0 + direction * along + lat
        return position, (lift * math.sin(math.pi * g) if g >= 0 else 0.0), g, yaw

    # Pelvis progress: a moving average (one step wide) of the feet's mean progress along the path.
    grid = np.arange(-step_time, duration + step_time, 1 / 120)
    mid = np.array([0.5 * sum(float((foot_state(f, t)[0] - p0) @ direction) for f in (0, 1)) for t in grid])
    width = max(1, round(step_time * 120))
    kernel = np.ones(width) / width
    smooth = np.convolve(np.pad(mid, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")

    def yaw_at(t: float) -> float:
        a = smoothstep(t / (1.5 * step_time))
        b = smoothstep((t - (duration - 1.5 * step_time)) / (1.5 * step_time))
        return start.yaw + _wrap(travel_yaw - start.yaw) * a + _wrap(end_yaw - travel_yaw) * b

    def fn(t: float) -> Pose:
        along = float(np.interp(t, grid, smooth))
        yaw = yaw_at(t)
        root = p0 + direction * along
        pose = neutral_pose(Stance(float(root[0]), float(root[1]), yaw), body)
        left, fwd = Stance(yaw=yaw).axes()
        heading = float(direction @ np.array([fwd[0], fwd[2]]))  # +1 walking forward, -1 backward
        arm_env = envelope(t, duration, 0.5)
        sway = 0.0
        for foot, prefix in ((0, "l"), (1, "r")):
            position, up, g, foot_yaw = foot_state(foot, t)
            side = 1.0 if foot == 0 else -1.0
            setattr(pose, f"{prefix}_foot_x", float(position[0]))
            setattr(pose, f"{prefix}_foot_z", float(position[1]))
            setattr(pose, f"{prefix}_foot_y", up)
            setattr(pose, f"{prefix}_foot_yaw", foot_yaw + 0.12 * side)
            if g >= 0:
                setattr(pose, f"{prefix}_foot_pitch", -0.3 * heading * math.sin(2 * math.pi * g))
                sway -= side * 0.02 * scale * math.sin(math.pi * g)  # lean over the standing foot
            # arms swing against the legs: this foot ahead of the pelvis -> this arm back
            ahead = float((position - root) @ direction)
            swing = 0.0 if kind == "sideways" else -0.5 * heading * ahead / step
            elev, azim = arm_angles(swing, 0.14)
            f_elev, f_azim = arm_angles(swing + 0.35, 0.1)
            arms = {f"{prefix}_up_elev": elev, f"{prefix}_up_azim": azim, f"{prefix}_fore_elev": f_elev}
            _mix(pose, arm_env, **arms, **{f"{prefix}_fore_azim": f_azim})
        pose.root_x += left[0] * sway
        pose.root_z += left[2] * sway
        pose.pelvis_roll = 1.5 * sway
        ahead_l = float((np.array([pose.l_foot_x, pose.l_foot_z]) - root) @ direction)
        ahead_r = float((np.array([pose.r_foot_x, pose.r_foot_z]) - root) @ direction)
        pose.spine_twist = 0.3 * heading * (ahead_l - ahead_r) / (2 * step) if kind != "sideways" else 0.0
        pose.head_yaw = -0.5 * _wrap(yaw)
        return pose

    return Move(f"walk {kind}", duration, start, end, fn)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


# ---- in-place moves (target) ------------------------------------------------------------------


def _in_place(
    name: str, body: Proportions, stance: Stance, duration: float, shape: Callable[[Pose, float, float], None]
) -> Move:
    """A move that starts and ends neutral: ``shape(pose, t, e)`` bends it, ``e`` its envelope."""

    def fn(t: float) -> Pose:
        pose = neutral_pose(stance, body)
        shape(pose, t, envelope(t, duration, 0.7))
        return pose

    return Move(name, duration, stance, stance, fn)


def _mix(pose: Pose, e: float, **values: float) -> None:
    """Move fields of ``pose`` towards ``values`` by ``e`` (0 keeps the pose, 1 sets the values)."""
    for name, value in values.items():
        setattr(pose, name, getattr(pose, name) * (1 - e) + value * e)


def _pivot_feet(
    pose: Pose,
    body: Proportions,
    stance: Stance,
    t: float,
    yaw_at: Callable[[float], float],
    step_time: float,
    lift: float,
) -> None:
    """Feet for turning on the spot without sliding: the feet take turns, each turning to the body's
    heading only while it is lifted (its own step window) and staying planted otherwise."""
    k = math.floor(t / step_time)
    frac = t / step_time - k
    half = body.hip_width / 2 + 0.015
    for j, (prefix, side) in enumerate((("l", 1.0), ("r", -1.0))):
        if k % 2 == j:
            y0, y1 = yaw_at(max(k - 1, 0) * step_time), yaw_at((k + 1) * step_time)
            yaw = y0 + (y1 - y0) * smoothstep(frac)
            up = lift * math.sin(math.pi * frac) * min(1.0, abs(y1 - y0) / 0.08)
        else:
            yaw, up = yaw_at(k * step_time), 0.0
        left, _ = stance.axes(yaw)
        setattr(pose, f"{prefix}_foot_x", stance.x + left[0] * half * side)
        setattr(pose, f"{prefix}_foot_z", stance.z + left[2] * half * side)
        setattr(pose, f"{prefix}_foot_y", up)
        setattr(pose, f"{prefix}_foot_yaw", yaw + 0.12 * side)


def _step_out(
    pose: Pose, body: Proportions, stance: Stance, t: float, duration: float, spread: float
) -> None:
    """Widen the stance by ``spread`` metres at the start of a move and close it at the end, one
    foot at a time and lifted, instead of sliding the feet apart."""
    left, _ = stance.axes()
    for prefix, side, (a, b) in (("l", 1.0, (0.1, 0.45)), ("r", -1.0, (0.45, 0.8))):
        out_f = (t - a) / (b - a)
        in_f = (t - (duration - b)) / (b - a)
        amount = smoothstep(out_f) - smoothstep(in_f)
        moving = 0.0 < out_f < 1.0 or 0.0 < in_f < 1.0
        frac = out_f if 0.0 < out_f < 1.0 else in_f
        offset = side * spread / 2 * amount
        setattr(pose, f"{prefix}_foot_x", getattr(pose, f"{prefix}_foot_x") + left[0] * offset)
        setattr(pose, f"{prefix}_foot_z", getattr(pose, f"{prefix}_foot_z") + left[2] * offset)
        if moving:
            setattr(pose, f"{prefix}_foot_y", 0.05 * math.sin(math.pi * frac))


def idle(body: Proportions, stance: Stance, duration: float, rng: np.random.Generator) -> Move:
    """Standing: shifting weight, breathing, looking around a little."""
    ph = rng.uniform(0, 2 * math.pi, 4)
    left, _ = stance.axes()

    def shape(pose: Pose, t: float, e: float) -> None:
        sway = 0.025 * math.sin(0.9 * t + ph[0])
        pose.root_x += left[0] * sway
        pose.root_z += left[2] * sway
        pose.pelvis_roll = -0.6 * sway
        pose.spine_bend = 0.02 * math.sin(1.6 * t + ph[1])
        pose.head_yaw = e * 0.25 * math.sin(0.5 * t + ph[2])
        pose.head_pitch = e * 0.06 * math.sin(0.7 * t + ph[3])
        pose.gaze_x = 0.6 * math.sin(0.5 * t + ph[2] + 0.5)

    return _in_place("idle", body, stance, duration, shape)


def arm_raise(body: Proportions, stance: Stance, reps: int, kind: str, arms: str) -> Move:
    """Raising the arms sideways, forwards or overhead and lowering them, ``reps`` times."""
    period = 2.4
    duration = reps * period + 0.6
    use = {"both": ("l", "r"), "left": ("l",), "right": ("r",)}[arms]

    def shape(pose: Pose, t: float, e: float) -> None:
        a = e * 0.5 * (1 - math.cos(2 * math.pi * max(t - 0.3, 0.0) / period))
        for p in use:
            if kind == "side":
                _mix(pose, a, **{f"{p}_up_elev": 1.62, f"{p}_up_azim": 0.1, f"{p}_fore_elev": 1.68})
                _mix(
                    pose,
                    a,
                    **{f"{p}_fore_azim": 0.15, f"{p}_palm": -0.6, f"{p}_curl": 0.1, f"{p}_spread": 0.5},
                )
            elif kind == "front":
                _mix(pose, a, **{f"{p}_up_elev": 1.55, f"{p}_up_azim": 1.45, f"{p}_fore_elev": 1.6})
                _mix(pose, a, **{f"{p}_fore_azim": 1.5, f"{p}_curl": 0.15})
            else:  # overhead, through the side
                _mix(pose, a, **{f"{p}_up_elev": 2.8, f"{p}_up_azim": 0.25, f"{p}_fore_elev": 2.95})
                _mix(
                    pose,
                    a,
                    **{f"{p}_fore_azim": 0.3, f"{p}_palm": 1.2, f"{p}_spread": 0.7, f"{p}_curl": 0.05},
                )
        pose.head_pitch = -0.08 * a if kind == "up" else 0.0

    which = "" if arms == "both" else f" ({arms} arm)"
    return _in_place(f"arm raise {kind}{which}", body, stance, duration, shape)


def arm_circles(body: Proportions, stance: Stance, reps: int, backwards: bool) -> Move:
    """Arms held out to the sides drawing circles."""
    period = 1.1
    duration = reps * period + 1.6
    sign = -1.0 if backwards else 1.0

    def shape(pose: Pose, t: float, e: float) -> None:
        ang = sign * 2 * math.pi * t / period
        for p in ("l", "r"):
            _mix(pose, e, **{f"{p}_up_elev": 1.57 + 0.3 * math.sin(ang), f"{p}_up_azim": 0.3 * math.cos(ang)})
            _mix(
                pose,
                e,
                **{f"{p}_fore_elev": 1.6 + 0.35 * math.sin(ang), f"{p}_fore_azim": 0.35 * math.cos(ang)},
            )
            _mix(pose, e, **{f"{p}_curl": 0.5, f"{p}_palm": 0.0})

    return _in_place("arm circles", body, stance, duration, shape)


def wave(body: Proportions, stance: Stance, reps: int, hand: str) -> Move:
    """Waving hello with one raised hand, palm to the camera."""
    period = 0.7
    duration = reps * period + 1.6
    p = hand

    def shape(pose: Pose, t: float, e: float) -> None:
        _mix(pose, e, **{f"{p}_up_elev": 2.0, f"{p}_up_azim": 0.35, f"{p}_palm": 1.57})
        _mix(pose, e, **{f"{p}_fore_elev": 2.75 + 0.32 * math.sin(2 * math.pi * t / period)})
        _mix(pose, e, **{f"{p}_fore_azim": 0.25, f"{p}_curl": 0.05, f"{p}_spread": 0.8})
        pose.head_roll = 0.06 * e * (1 if p == "l" else -1)
        pose.mouth = 0.35 * e

    return _in_place(f"wave {'left' if p == 'l' else 'right'} hand", body, stance, duration, shape)


def squat(body: Proportions, stance: Stance, reps: int, depth: float) -> Move:
    """Squats with the arms held forward for balance; the hips go back as the knees bend."""
    period = 2.6
    duration = reps * period + 1.8
    _, fwd = stance.axes()

    def shape(pose: Pose, t: float, e: float) -> None:
        _step_out(pose, body, stance, t, duration, 0.12)
        a = e * 0.5 * (1 - math.cos(2 * math.pi * max(t - 0.9, 0.0) / period))
        pose.pelvis_drop = a * depth * body.leg
        back = -0.16 * a * depth / 0.35 * body.height / 1.7
        pose.root_x += fwd[0] * back
        pose.root_z += fwd[2] * back
        pose.spine_bend = 0.45 * a
        pose.head_pitch = -0.35 * a
        for side in ("l", "r"):
            _mix(pose, e, **{f"{side}_up_elev": 0.2 + 1.3 * a, f"{side}_up_azim": 1.35})
            _mix(pose, e, **{f"{side}_fore_elev": 0.3 + 1.3 * a, f"{side}_fore_azim": 1.45})

    return _in_place("squat", body, stance, duration, shape)


def kick(body: Proportions, stance: Stance, reps: int, leg: str, kind: str) -> Move:
    """Kicks to the front or side after moving the weight over the standing foot."""
    period = 1.5
    duration = reps * period + 1.4
    left, fwd = stance.axes()
    side = 1.0 if leg == "l" else -1.0
    other = "r" if leg == "l" else "l"

    def shape(pose: Pose, t: float, e: float) -> None:
        shift = e * (body.hip_width / 2 + 0.015) * -side
        pose.root_x += left[0] * shift
        pose.root_z += left[2] * shift
        ph = max(t - 0.7, 0.0) % period / period if 0.7 < t < duration - 0.7 else 0.0
        k = math.sin(math.pi * ph) ** 2 * e
        foot_x, foot_z = getattr(pose, f"{leg}_foot_x"), getattr(pose, f"{leg}_foot_z")
        reach = body.leg * 0.9
        if kind == "front":
            ang = 1.15 * k
            out, up_amt = fwd * math.sin(ang) * reach, reach * (1 - math.cos(ang))
            pose.spine_bend = -0.12 * k
            pose.pelvis_pitch = -0.1 * k
        else:
            ang = 0.85 * k
            out, up_amt = left * side * math.sin(ang) * reach, reach * (1 - math.cos(ang))
            pose.spine_side = -side * 0.3 * k
            pose.pelvis_roll = side * 0.15 * k
        setattr(pose, f"{leg}_foot_x", foot_x + out[0])
        setattr(pose, f"{leg}_foot_z", foot_z + out[2])
        setattr(pose, f"{leg}_foot_y", up_amt + 0.04 * k)
        setattr(pose, f"{leg}_foot_pitch", -0.5 * k if kind == "front" else 0.0)
        for p in (leg, other):
            _mix(pose, e, **{f"{p}_up_elev": 1.25, f"{p}_up_azim": 0.25, f"{p}_fore_elev": 1.35})
            _mix(pose, e, **{f"{p}_fore_azim": 0.4, f"{p}_curl": 0.6})

    return _in_place(f"{kind} kick {'left' if leg == 'l' else 'right'}", body, stance, duration, shape)


def twist(body: Proportions, stance: Stance, reps: int) -> Move:
    """Torso twists with the elbows bent, the hips turning a little the other way."""
    period = 1.8
    duration = reps * period + 1.2

    def shape(pose: Pose, t: float, e: float) -> None:
        _step_out(pose, body, stance, t, duration, 0.1)
        s = math.sin(2 * math.pi * max(t - 0.6, 0.0) / period) * e
        pose.spine_twist = 0.65 * s
        pose.yaw = stance.yaw - 0.12 * s
        pose.head_yaw = -0.4 * s
        for p in ("l", "r"):
            _mix(pose, e, **{f"{p}_up_elev": 1.25, f"{p}_up_azim": 0.45, f"{p}_fore_elev": 1.55})
            _mix(pose, e, **{f"{p}_fore_azim": 1.9, f"{p}_curl": 0.75})

    return _in_place("torso twist", body, stance, duration, shape)


def side_bend(body: Proportions, stance: Stance, reps: int) -> Move:
    """Leaning to each side with the opposite arm reaching overhead."""
    period = 3.2
    duration = reps * period + 0.8

    def shape(pose: Pose, t: float, e: float) -> None:
        _step_out(pose, body, stance, t, duration, 0.15)
        s = math.sin(2 * math.pi * max(t - 0.4, 0.0) / period) * e
        pose.spine_side = 0.38 * s
        pose.head_roll = 0.2 * s
        p, q = ("r", "l") if s > 0 else ("l", "r")
        a = abs(s)
        _mix(pose, a, **{f"{p}_up_elev": 2.75, f"{p}_up_azim": 0.2, f"{p}_fore_elev": 3.3})
        _mix(pose, a, **{f"{p}_fore_azim": 0.1, f"{p}_palm": 0.3, f"{p}_curl": 0.1})
        _mix(
            pose,
            a,
            **{f"{q}_up_elev": 0.35, f"{q}_up_azim": 0.0, f"{q}_fore_elev": 0.4, f"{q}_fore_azim": 0.5},
        )

    return _in_place("side bend", body, stance, duration, shape)


def march(body: Proportions, stance: Stance, reps: int) -> Move:
    """Marching on the spot with high knees and swinging arms."""
    period = 1.2
    duration = reps * period + 1.0
    _, fwd = stance.axes()

    def shape(pose: Pose, t: float, e: float) -> None:
        ph = 2 * math.pi * max(t - 0.5, 0.0) / period
        for p, sign in (("l", 1.0), ("r", -1.0)):
            k = max(0.0, sign * math.sin(ph)) * e
            hip_lift = body.thigh * math.sin(1.25 * k)
            fwd_amt = body.thigh * (math.sin(1.25 * k)) * 0.75
            setattr(pose, f"{p}_foot_x", getattr(pose, f"{p}_foot_x") + fwd[0] * fwd_amt)
            setattr(pose, f"{p}_foot_z", getattr(pose, f"{p}_foot_z") + fwd[2] * fwd_amt)
            setattr(pose, f"{p}_foot_y", hip_lift * 0.85)
            setattr(pose, f"{p}_foot_pitch", -0.3 * k)
            swing = -0.6 * sign * math.sin(ph) * e
            elev, azim = arm_angles(swing, 0.15)
            f_elev, f_azim = arm_angles(swing + 1.2 * e, 0.1)
            _mix(pose, e, **{f"{p}_up_elev": elev, f"{p}_up_azim": azim, f"{p}_fore_elev": f_elev})
            _mix(pose, e, **{f"{p}_fore_azim": f_azim, f"{p}_curl": 0.8})
        pose.pelvis_roll = 0.05 * math.sin(ph) * e

    return _in_place("march", body, stance, duration, shape)


def turn(body: Proportions, stance: Stance, angle: float) -> Move:
    """A partial turn on the spot (stepping round), a pause, and back to face the camera."""
    turn_t, hold = 1.4, 1.6
    duration = 2 * turn_t + hold + 0.4

    def yaw_at(t: float) -> float:
        return stance.yaw + angle * (
            smoothstep((t - 0.2) / turn_t) - smoothstep((t - 0.2 - turn_t - hold) / turn_t)
        )

    def fn(t: float) -> Pose:
        yaw = yaw_at(t)
        pose = neutral_pose(Stance(stance.x, stance.z, yaw), body)
        _pivot_feet(pose, body, stance, t, yaw_at, 0.35, 0.05)
        e = envelope(t, duration, 0.7)
        pose.head_yaw = -0.35 * (yaw - stance.yaw)
        _mix(pose, e, l_up_elev=0.22, r_up_elev=0.22, l_curl=0.5, r_curl=0.5)
        return pose

    return Move("partial turn", duration, stance, stance, fn)


def jumping_jacks(body: Proportions, stance: Stance, reps: int) -> Move:
    """Jumping jacks: feet apart with arms overhead, feet together with arms down, hopping between."""
    period = 1.0
    duration = reps * period + 1.0
    g = 9.81
    air = 0.28  # seconds in the air per hop
    hop = g * air * air / 8  # apex height of a ballistic hop lasting ``air``

    def fn(t: float) -> Pose:
        pose = neutral_pose(stance, body)
        tt = t - 0.5
        if tt <= 0 or tt >= reps * period:
            return pose
        ph = tt % period / period  # one hop out (first half period), one hop in
        opening = ph < 0.5
        half = ph * 2 % 1.0
        # airborne for the middle of each half period; the feet only move apart or together then
        start_air = 0.5 - air / period
        a = (half - start_air) / (2 * air / period)
        z = 4 * hop * a * (1 - a) if 0 < a < 1 else 0.0
        crouch = 0.04 * math.cos(math.pi * half) ** 2 if not 0 < a < 1 else 0.0
        feet_open = smoothstep(a) if opening else 1.0 - smoothstep(a)
        arms_open = smoothstep((half - 0.1) / 0.8) if opening else 1.0 - smoothstep((half - 0.1) / 0.8)
        place_feet(pose, body, stance.x, stance.z, stance.yaw, spread=0.42 * body.height / 1.7 * feet_open)
        pose.l_foot_y = pose.r_foot_y = z
        pose.pelvis_drop = crouch - z
        for p in ("l", "r"):
            open_amt = arms_open
            elev = 0.15 + 2.65 * open_amt
            _mix(pose, 1.0, **{f"{p}_up_elev": elev, f"{p}_up_azim": 0.15, f"{p}_fore_elev": elev + 0.15})
            _mix(pose, 1.0, **{f"{p}_fore_azim": 0.2, f"{p}_palm": 1.2 * open_amt, f"{p}_spread": 0.6})
        return pose

    return Move("jumping jacks", duration, stance, stance, fn)


def target_routine(body: Proportions, seconds: float, rng: np.random.Generator) -> Routine:
    """The target's training footage: moves in place between walks towards and away from the camera.

    Walks alternate between a near row (about 4 m from the camera) and a far row (about 6 m), so
    every stretch of the clip shows the subject at several depths; an idle stand at the end (or a
    last move cut short) makes the routine last exactly ``seconds``.
    """
    moves: list[Move] = []
    here = Stance(0.0, 0.0, 0.0)
    moves.append(idle(body, here, 2.5, rng))
    elapsed = moves[0].duration
    in_place: list[Callable[[Stance], Move]] = [
        lambda s: arm_raise(
            body, s, int(rng.integers(2, 4)), str(rng.choice(["side", "front", "up"])), "both"
        ),
        lambda s: arm_raise(body, s, 2, "side", str(rng.choice(["left", "right"]))),
        lambda s: arm_circles(body, s, int(rng.integers(3, 6)), bool(rng.integers(2))),
        lambda s: wave(body, s, int(rng.integers(3, 6)), str(rng.choice(["l", "r"]))),
        lambda s: squat(body, s, int(rng.integers(2, 4)), float(rng.uniform(0.22, 0.32))),
        lambda s: kick(body, s, 2, str(rng.choice(["l", "r"])), str(rng.choice(["front", "side"]))),
        lambda s: twist(body, s, int(rng.integers(2, 4))),
        lambda s: turn(body, s, float(rng.choice([-1, 1]) * rng.uniform(0.6, 1.05))),
        lambda s: side_bend(body, s, 2),
        lambda s: march(body, s, int(rng.integers(3, 6))),
        lambda s: jumping_jacks(body, s, int(rng.integers(3, 6))),
        lambda s: idle(body, s, float(rng.uniform(1.5, 3.0)), rng),
    ]
    order: list[int] = []
    near = True
    while elapsed < seconds - 3.0:
        # Walk to the other depth band (forward when coming closer, backwards when going away).
        z = float(rng.uniform(0.5, 0.8)) if near else float(rng.uniform(-1.6, -1.1))
        x = float(rng.uniform(-0.3, 0.3))
        kind: Literal["forward", "backward"] = "forward" if z > here.z else "backward"
        m = walk(body, here, (x, z), kind, end_yaw=0.0)
        moves.append(m)
        here = m.end
        near = not near
        for _ in range(int(rng.integers(2, 4))):
            if not order:
                order = list(rng.permutation(len(in_place)))
            m = in_place[order.pop()](here)
            moves.append(m)
        if rng.uniform() < 0.5:
            dx = float(rng.choice([-1, 1]) * rng.uniform(0.35, 0.6))
            nx = float(np.clip(here.x + dx, -0.35, 0.35))
            m = walk(body, here, (nx, here.z), "sideways")
            moves.append(m)
            here = m.end
        elapsed = sum(mv.duration for mv in moves)
    return _fit(moves, body, here, seconds, rng)


def _fit(
    moves: list[Move], body: Proportions, here: Stance, seconds: float, rng: np.random.Generator
) -> Routine:
    """Trim or pad ``moves`` with an idle stand so the routine lasts exactly ``seconds``."""
    total = sum(m.duration for m in moves)
    while moves and total > seconds and total - moves[-1].duration >= seconds - 0.5:
        total -= moves.pop().duration
    if moves:
        here = moves[-1].end
    rest = seconds - total
    if rest > 1e-6:
        moves.append(idle(body, here, rest, rng))
    elif rest < 0:
        last = moves[-1]
        moves[-1] = replace(last, duration=last.duration + rest)
    return Routine(moves)


# ---- dances (sources) --------------------------------------------------------------------------


def _steps(
    beat: float, keys: list[tuple[float, float, float, float]]
) -> tuple[float, float, float, float, float, float]:
    """Footwork from per-beat key positions ``(lx, lz, rx, rz)`` in the body frame (metres).

    Returns the interpolated positions and each foot's lift fraction (a foot lifts while moving).
    """
    n = len(keys)
    k = math.floor(beat) % n
    f = beat - math.floor(beat)
    a, b = np.array(keys[k]), np.array(keys[(k + 1) % n])
    pos = a + (b - a) * smoothstep(f)
    moving = np.abs(b - a)
    l_lift = math.sin(math.pi * f) if moving[0] + moving[1] > 1e-6 else 0.0
    r_lift = math.sin(math.pi * f) if moving[2] + moving[3] > 1e-6 else 0.0
    return float(pos[0]), float(pos[1]), float(pos[2]), float(pos[3]), l_lift, r_lift


def _snap(beat: float, n: int, snap: float = 0.3) -> tuple[int, int, float]:
    """Index of the key held before this beat, the next key, and a blend that snaps to the next key
    over the first ``snap`` of the beat and then holds (the robot's staccato)."""
    k = math.floor(beat) % n
    return k, (k + 1) % n, smoothstep((beat - math.floor(beat)) / snap)


def _apply_feet(
    pose: Pose, body: Proportions, stance: Stance, yaw: float, feet: tuple[float, ...], lift: float
) -> None:
    """Place the feet from body-frame offsets around the stance point; the pelvis sits between them."""
    left, fwd = stance.axes(yaw)
    lx, lz, rx, rz, ll, rl = feet
    base = np.array([stance.x, 0.0, stance.z])
    lw = base + left * lx + fwd * lz
    rw = base + left * rx + fwd * rz
    pose.l_foot_x, pose.l_foot_z, pose.l_foot_y = float(lw[0]), float(lw[2]), lift * ll
    pose.r_foot_x, pose.r_foot_z, pose.r_foot_y = float(rw[0]), float(rw[2]), lift * rl
    mid = 0.5 * (lw + rw)
    pose.root_x, pose.root_z = float(mid[0]), float(mid[2])
    pose.l_foot_yaw, pose.r_foot_yaw = yaw + 0.12, yaw - 0.12


def _step_touch(body: Proportions, width: float) -> list[tuple[float, float, float, float]]:
    """Step right, close left, step left, close right: four beats, back where it started."""
    w = body.hip_width / 2 + 0.015  # as in the neutral stance, so figures chain without sliding
    s = width
    return [(w, 0.0, -w, 0.0), (w, 0.0, -w - s, 0.0), (w - s, 0.0, -w - s, 0.0), (w, 0.0, -w - s, 0.0)]


def dance_figure(
    style: DanceStyle, figure: int, body: Proportions, stance: Stance, bpm: float, bars: int
) -> Move:
    """One figure (``bars`` × 4 beats) of a dance style, as a move around ``stance``."""
    beat_t = 60.0 / bpm
    duration = bars * 4 * beat_t
    w = body.hip_width / 2 + 0.015  # as in the neutral stance, so figures chain without sliding
    scale = body.height / 1.7

    def base(t: float) -> tuple[Pose, float]:
        return neutral_pose(stance, body), t / beat_t

    if style == "disco":
        keys = _step_touch(body, 0.22 * scale)

        def disco(t: float) -> Pose:
            pose, b = base(t)
            feet = _steps(b, keys)
            _apply_feet(pose, body, stance, stance.yaw, feet, 0.06 * scale)
            pose.pelvis_roll = 0.08 * math.sin(math.pi * b)
            pose.pelvis_drop = 0.025 * (1 + math.cos(2 * math.pi * b)) * scale
            if figure % 2 == 0:
                # the classic point: right hand up to the corner, then down across the body
                up = 0.5 * (1 - math.cos(math.pi * b))
                _mix(
                    pose,
                    1.0,
                    r_up_elev=0.7 + 1.9 * up,
                    r_up_azim=0.5 + 1.3 * (1 - up),
                    r_fore_elev=0.9 + 1.95 * up,
                )
                _mix(pose, 1.0, r_fore_azim=0.4 + 1.9 * (1 - up), r_curl=0.85, r_spread=0.0, r_palm=0.6)
                _mix(pose, 1.0, l_up_elev=0.55, l_up_azim=-0.3, l_fore_elev=1.9, l_fore_azim=-2.6, l_curl=0.7)
                pose.head_yaw = -0.3 * up + 0.15
                pose.head_pitch = -0.2 * up + 0.05
            else:
                # rolling forearms in front of the chest, arms swinging to the step
                ang = 2 * math.pi * b
                for p, ph in (("l", 0.0), ("r", math.pi)):
                    _mix(pose, 1.0, **{f"{p}_up_elev": 0.75, f"{p}_up_azim": 1.1})
                    _mix(pose, 1.0, **{f"{p}_fore_elev": 1.6 + 0.35 * math.sin(ang + ph)})
                    _mix(pose, 1.0, **{f"{p}_fore_azim": 2.35 + 0.3 * math.cos(ang + ph), f"{p}_curl": 0.85})
                pose.head_yaw = 0.2 * math.sin(math.pi * b / 2)
            pose.mouth = 0.3
            return pose

        return Move(f"disco {'point' if figure % 2 == 0 else 'roll'}", duration, stance, stance, disco)

    if style == "robot":
        arm_keys = [
            # (l_up_elev, l_up_azim, l_fore_elev, l_fore_azim, r_up_elev, r_up_azim, r_fore_elev, r_fore_azim)
            (1.57, 0.0, 3.1, 0.0, 1.57, 0.0, 3.1, 0.0),  # goal posts
            (0.3, 0.6, 1.57, 1.57, 0.3, 0.6, 1.57, 1.57),  # forearms forward
            (1.57, 0.1, 1.6, 0.1, 0.3, 0.6, 1.57, 1.57),
            (1.57, 1.5, 1.57, 2.9, 1.57, 1.5, 1.57, 2.9),  # folded in front
            (0.3, 0.6, 1.57, 1.57, 1.57, 0.1, 1.6, 0.1),
            (2.7, 0.2, 2.9, 0.2, 0.4, 0.3, 0.5, 0.3),
        ]
        head_keys = [0.0, 0.35, -0.35, 0.0, 0.3, -0.3]

        def robot(t: float) -> Pose:
            pose, b = base(t)
            if figure % 2 == 0:
                k, k2, wgt = _snap(b, len(arm_keys))
                a = np.array(arm_keys[k]) * (1 - wgt) + np.array(arm_keys[k2]) * wgt
                pose.l_up_elev, pose.l_up_azim, pose.l_fore_elev, pose.l_fore_azim = a[:4]
                pose.r_up_elev, pose.r_up_azim, pose.r_fore_elev, pose.r_fore_azim = a[4:]
                pose.l_curl = pose.r_curl = 0.05
                pose.l_spread = pose.r_spread = 0.0
                pose.l_palm = pose.r_palm = -0.5
                pose.head_yaw = head_keys[k] * (1 - wgt) + head_keys[k2] * wgt
                pose.pelvis_drop = 0.05 * scale
                keys = [
                    (w, 0.0, -w, 0.0),
                    (w, 0.0, -w, 0.0),
                    (w + 0.12 * scale, 0.0, -w, 0.0),
                    (w, 0.0, -w, 0.0),
                ]
                _apply_feet(pose, body, stance, stance.yaw, _steps(b / 2, keys), 0.04 * scale)
                pose.spine_twist = 0.15 * math.sin(math.pi * math.floor(b) / 2)
            else:
                # arm wave: a ripple travelling from one hand through the shoulders to the other
                direction = 1.0 if (int(b // 4) % 2 == 0) else -1.0
                ph = 2 * math.pi * b / 4
                for p, offset in (("l", -1.0), ("r", 1.0)):
                    lag = direction * offset * 1.2
                    pose_vals = {
                        f"{p}_up_elev": 1.5 + 0.22 * math.sin(ph + lag),
                        f"{p}_up_azim": 0.15,
                        f"{p}_fore_elev": 1.55 + 0.45 * math.sin(ph + lag - 0.9),
                        f"{p}_fore_azim": 0.2,
                        f"{p}_wrist": 0.5 * math.sin(ph + lag - 1.8),
                        f"{p}_palm": -1.2,
                        f"{p}_curl": 0.05,
                        f"{p}_spread": 0.3,
                    }
                    _mix(pose, 1.0, **pose_vals)
                pose.spine_side = 0.08 * math.sin(ph)
                pose.head_roll = 0.1 * math.sin(ph)
                pose.pelvis_drop = 0.03 * scale
                pose.head_yaw = 0.25 * math.sin(ph / 2)
            return pose

        return Move(f"robot {'pops' if figure % 2 == 0 else 'arm wave'}", duration, stance, stance, robot)

    def bounce(t: float) -> Pose:
        pose, b = base(t)
        bounce_amt = 0.06 * scale * (1 + math.cos(2 * math.pi * b)) / 2
        pose.pelvis_drop = 0.03 * scale + bounce_amt
        if figure % 3 == 2:
            # a spin: turn up to 60 degrees one way, back, the other way, back, stepping round
            def spin_yaw(tt: float) -> float:
                # round and back in 7 beats; the 8th lets both feet step back to the front
                return stance.yaw + 1.05 * math.sin(2 * math.pi * min(tt / beat_t, 7.0) / 7)

            yaw = spin_yaw(t)
            _pivot_feet(pose, body, stance, t, spin_yaw, beat_t / 2, 0.06 * scale)
            pose.yaw = yaw
            pose.head_yaw = -0.3 * (yaw - stance.yaw)
            for p in ("l", "r"):
                _mix(pose, 1.0, **{f"{p}_up_elev": 1.3, f"{p}_up_azim": 0.3, f"{p}_fore_elev": 1.6})
                _mix(pose, 1.0, **{f"{p}_fore_azim": 0.6, f"{p}_curl": 0.3, f"{p}_spread": 0.5})
        else:
            keys = [
                (w, 0.0, -w, 0.0),
                (w + 0.2 * scale, 0.0, -w, 0.0),
                (w, 0.0, -w, 0.0),
                (w, 0.0, -w - 0.2 * scale, 0.0),
            ]
            if figure % 3 == 1:
                keys = [
                    (w, 0.0, -w, 0.0),
                    (w, 0.22 * scale, -w, 0.0),
                    (w, 0.0, -w, 0.0),
                    (w, 0.0, -w, 0.22 * scale),
                ]
            _apply_feet(pose, body, stance, stance.yaw, _steps(b, keys), 0.07 * scale)
            pump = 0.5 * (1 - math.cos(2 * math.pi * b))
            if figure % 3 == 0:
                # fists pumping with bent elbows
                for p, ph in (("l", 0.0), ("r", math.pi)):
                    s = 0.5 * (1 - math.cos(2 * math.pi * b / 2 + ph))
                    _mix(pose, 1.0, **{f"{p}_up_elev": 0.5 + 0.6 * s, f"{p}_up_azim": 0.9})
                    _mix(
                        pose,
                        1.0,
                        **{f"{p}_fore_elev": 1.9 + 0.6 * s, f"{p}_fore_azim": 1.3, f"{p}_curl": 0.95},
                    )
            else:
                # raise the roof: palms pushing up on the beat
                for p in ("l", "r"):
                    _mix(pose, 1.0, **{f"{p}_up_elev": 1.75 + 0.35 * pump, f"{p}_up_azim": 0.4})
                    _mix(pose, 1.0, **{f"{p}_fore_elev": 2.85 + 0.2 * pump, f"{p}_fore_azim": 0.6})
                    _mix(
                        pose,
                        1.0,
                        **{f"{p}_wrist": -1.0, f"{p}_palm": 0.0, f"{p}_curl": 0.05, f"{p}_spread": 0.4},
                    )
            pose.head_pitch = 0.12 * pump - 0.05
        pose.mouth = 0.4 * (figure % 2)
        return pose

    names = ("bounce pump", "bounce raise the roof", "bounce spin")
    return Move(names[figure % 3], duration, stance, stance, bounce)


def dance_routine(
    body: Proportions, style: DanceStyle, seconds: float, rng: np.random.Generator, stance: Stance, bpm: float
) -> Routine:
    """A dance in ``style``: its figures in a seeded order, two bars each, filling ``seconds``."""
    n_figures = {"disco": 2, "robot": 2, "bounce": 3}[style]
    moves: list[Move] = [idle(body, stance, 1.0, rng)]
    total = 1.0
    last = -1
    while total < seconds:
        fig = int(rng.integers(n_figures))
        if fig == last:
            fig = (fig + 1) % n_figures
        last = fig
        m = dance_figure(style, fig, body, stance, bpm, bars=2)
        moves.append(m)
        total += m.duration
    return _fit(moves, body, stance, seconds, rng)
