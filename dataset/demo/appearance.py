"""How each demo subject looks: skin, hair, clothes with procedural textures, and its room.

Textures are per-quad colours on the body meshes (indexed by ring along a part and segment around
it), so stripes and checks stick to the body as it moves instead of sliding in screen space, and
they cost nothing per frame: each garment's texture is computed once per part.

The target wears tight, high-contrast clothes (as the paper asks of its filmed subjects); the
sources are drawn from the same palettes but always differ from the target and from each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Color = tuple[int, int, int]
Pattern = Literal["solid", "stripes", "checks", "noise", "bands"]
HairStyle = Literal["short", "buzz", "bob", "bun", "ponytail"]

SKIN_TONES: tuple[Color, ...] = (
    (236, 188, 160),
    (222, 170, 132),
    (196, 138, 100),
    (160, 108, 74),
    (118, 78, 54),
    (245, 205, 180),
)
HAIR_COLORS: tuple[Color, ...] = ((38, 30, 26), (72, 46, 30), (112, 72, 40), (196, 156, 92), (138, 62, 34))
EYE_COLORS: tuple[Color, ...] = ((78, 52, 32), (60, 96, 130), (70, 100, 60), (40, 30, 24))
CLOTH_COLORS: dict[str, Color] = {
    "red": (196, 38, 44),
    "blue": (42, 82, 190),
    "green": (38, 138, 72),
    "yellow": (232, 190, 40),
    "orange": (232, 118, 32),
    "purple": (118, 58, 160),
    "teal": (28, 146, 150),
    "white": (236, 236, 232),
    "black": (34, 34, 40),
    "navy": (30, 40, 84),
    "denim": (58, 84, 132),
    "khaki": (168, 148, 108),
    "grey": (118, 120, 126),
    "pink": (226, 112, 150),
    "maroon": (110, 28, 40),
}


@dataclass(frozen=True)
class Garment:
    """A piece of clothing: two colours and a pattern, ``scale`` mesh rings per stripe or check."""

    primary: Color
    secondary: Color = (236, 236, 232)
    pattern: Pattern = "solid"
    scale: int = 1
    seed: int = 0

    def albedo(self, rows: int, cols: int) -> np.ndarray:
        """Colours ``(rows, cols, 3)`` in 0..1 for a part meshed as ``rows`` rings × ``cols`` around."""
        a = np.asarray(self.primary, np.float64) / 255.0
        b = np.asarray(self.secondary, np.float64) / 255.0
        r = np.arange(rows)[:, None]
        c = np.arange(cols)[None, :]
        s = max(1, self.scale)
        if self.pattern == "stripes":
            mask = ((r // s) % 2 == 1) & np.ones_like(c, bool)
        elif self.pattern == "checks":
            mask = ((r // s) + (c // max(1, s))) % 2 == 1
        elif self.pattern == "bands":  # one wide band across the middle (a sports top)
            mask = (np.abs(r - rows * 0.55) < max(1.0, rows * 0.12)) & np.ones_like(c, bool)
        else:
            mask = np.zeros((rows, cols), bool)
        out = np.where(mask[..., None], b, a)
        if self.pattern == "noise":
            rng = np.random.default_rng(self.seed)
            coarse = rng.normal(0.0, 1.0, (rows // 2 + 2, cols // 2 + 2))
            fine = np.kron(coarse, np.ones((2, 2)))[:rows, :cols]
            fine = fine + 0.6 * rng.normal(0.0, 1.0, (rows, cols))
            t = np.clip(0.5 + 0.28 * fine, 0.0, 1.0)[..., None]
            out = a * (1 - t) + b * t
        return out


@dataclass(frozen=True)
class SubjectStyle:
    """Everything about a subject's look; proportions live in :class:`~dataset.demo.skeleton.Proportions`."""

    skin: Color
    hair: Color
    hair_style: HairStyle
    eyes: Color
    shirt: Garment
    pants: Garment
    shoes: Color
    sole: Color = (235, 235, 230)
    sleeves: Literal["short", "long", "tank"] = "short"
    pants_length: Literal["long", "shorts", "capri"] = "long"

    @property
    def lips(self) -> Color:
        r, g, b = self.skin
        return (int(r * 0.78 + 30), int(g * 0.5), int(b * 0.55))

    @property
    def brows(self) -> Color:
        r, g, b = self.hair
        return (int(r * 0.7), int(g * 0.7), int(b * 0.7))


@dataclass(frozen=True)
class Room:
    """The static set behind a subject: a wall, a tiled floor and the light."""

    wall: Color = (196, 204, 214)
    wall_panel: Color = (178, 188, 200)
    floor_a: Color = (150, 112, 78)
    floor_b: Color = (132, 96, 64)
    tile: float = 0.6  # metres
    wall_z: float = -3.2  # the wall's position (world Z); the camera is at positive Z
    skirting: Color = (236, 236, 232)
    light: tuple[float, float, float] = field(default=(-0.45, 0.75, 0.5))  # towards the light


TARGET_STYLE = SubjectStyle(
    skin=SKIN_TONES[1],
    hair=HAIR_COLORS[1],
    hair_style="short",
    eyes=EYE_COLORS[0],
    shirt=Garment(CLOTH_COLORS["red"], CLOTH_COLORS["white"], "stripes", scale=1),
    pants=Garment(CLOTH_COLORS["denim"], CLOTH_COLORS["navy"], "noise", seed=7),
    shoes=(40, 40, 46),
    sleeves="short",
    pants_length="long",
)
TARGET_ROOM = Room()

# Sources: each entry differs from the target and from the others in skin, hair, clothes and room.
SOURCE_STYLES: tuple[SubjectStyle, ...] = (
    SubjectStyle(
        skin=SKIN_TONES[3],
        hair=HAIR_COLORS[0],
        hair_style="bun",
        eyes=EYE_COLORS[3],
        shirt=Garment(CLOTH_COLORS["yellow"], CLOTH_COLORS["black"], "checks", scale=2),
        pants=Garment(CLOTH_COLORS["black"]),
        shoes=(236, 236, 232),
        sole=(60, 60, 60),
        sleeves="tank",
        pants_length="long",
    ),
    SubjectStyle(
        skin=SKIN_TONES[5],
        hair=HAIR_COLORS[3],
        hair_style="ponytail",
        eyes=EYE_COLORS[1],
        shirt=Garment(CLOTH_COLORS["teal"], CLOTH_COLORS["white"], "bands"),
        pants=Garment(CLOTH_COLORS["purple"], CLOTH_COLORS["navy"], "noise", seed=11),
        shoes=(200, 40, 50),
        sleeves="long",
        pants_length="capri",
    ),
    SubjectStyle(
        skin=SKIN_TONES[4],
        hair=HAIR_COLORS[0],
        hair_style="buzz",
        eyes=EYE_COLORS[0],
        shirt=Garment(CLOTH_COLORS["green"], CLOTH_COLORS["khaki"], "noise", seed=5),
        pants=Garment(CLOTH_COLORS["khaki"], CLOTH_COLORS["grey"], "stripes", scale=2),
        shoes=(90, 60, 40),
        sleeves="short",
        pants_length="shorts",
    ),
    SubjectStyle(
        skin=SKIN_TONES[2],
        hair=HAIR_COLORS[4],
        hair_style="bob",
        eyes=EYE_COLORS[2],
        shirt=Garment(CLOTH_COLORS["navy"], CLOTH_COLORS["orange"], "stripes", scale=2),
        pants=Garment(CLOTH_COLORS["grey"]),
        shoes=(30, 30, 30),
        sleeves="long",
        pants_length="long",
    ),
)
SOURCE_ROOMS: tuple[Room, ...] = (
    Room(
        wall=(214, 200, 176),
        wall_panel=(200, 184, 158),
        floor_a=(120, 124, 130),
        floor_b=(104, 108, 114),
        tile=0.5,
    ),
    Room(
        wall=(186, 208, 188),
        wall_panel=(170, 194, 172),
        floor_a=(176, 150, 116),
        floor_b=(158, 132, 98),
        tile=0.8,
    ),
    Room(
        wall=(210, 196, 214),
        wall_panel=(196, 180, 200),
        floor_a=(92, 80, 74),
        floor_b=(80, 68, 62),
        tile=0.45,
    ),
    Room(
        wall=(222, 214, 196),
        wall_panel=(206, 198, 180),
        floor_a=(140, 140, 150),
        floor_b=(116, 116, 126),
        tile=0.7,
    ),
)


def source_style(index: int, rng: np.random.Generator) -> SubjectStyle:
    """The look of source ``index`` (0-based): the fixed list, then seeded variations of it."""
    base = SOURCE_STYLES[index % len(SOURCE_STYLES)]
    if index < len(SOURCE_STYLES):
        return base
    names = list(CLOTH_COLORS)
    shirt = names[int(rng.integers(len(names)))]
    second = names[int(rng.integers(len(names)))]
    return SubjectStyle(
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair=HAIR_COLORS[int(rng.integers(len(HAIR_COLORS)))],
        hair_style=base.hair_style,
        eyes=base.eyes,
        shirt=Garment(CLOTH_COLORS[shirt], CLOTH_COLORS[second], base.shirt.pattern, base.shirt.scale, index),
        pants=base.pants,
        shoes=base.shoes,
        sole=base.sole,
        sleeves=base.sleeves,
        pants_length=base.pants_length,
    )


def source_room(index: int) -> Room:
    return SOURCE_ROOMS[index % len(SOURCE_ROOMS)]
