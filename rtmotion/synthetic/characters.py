"""Named synthetic people: body proportions, skin, hair and clothes.

A `Character` is pure data. `Character.dims()` turns its proportions into segment lengths and
radii in metres (`BodyDims`), which the kinematics (`body.py`) and the renderer (`render.py`) use.
Motions are character-independent joint angles, so one motion rendered with two characters
gives each its own bone lengths with the same angles (retargeting ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RGB = tuple[int, int, int]

HAIR_STYLES: tuple[str, ...] = ("short", "buzz", "long", "bun", "ponytail", "bald")
PATTERNS: tuple[str, ...] = ("plain", "stripes", "checks")
SLEEVES: tuple[str, ...] = ("long", "short", "none")
BOTTOMS: tuple[str, ...] = ("trousers", "shorts")


@dataclass(frozen=True)
class BodyDims:
    """Segment lengths and radii in metres (derived from a `Character`).

    Lengths are joint-centre to joint-centre; radii are limb half-thickness at each end.
    `torso_levels` are (s, half_width, half_depth): s is the fraction along the spine from the
    hip-joint level (0) to the shoulder-joint level (1); negative s is below the hip joints.
    """

    height: float
    head_radii: tuple[float, float, float]  # x (ear to ear), y (chin to crown), z (face to back)
    neck_len: float
    neck_radius: float
    torso_len: float        # hip-joint level to shoulder-joint level along the spine
    shoulder_half: float    # half distance between shoulder joint centres
    hip_half: float         # half distance between hip joint centres
    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    ankle_height: float     # ankle joint above the sole
    heel_back: float        # ankle to back of heel, horizontal
    toe_forward: float      # ankle to tip of the foot, horizontal
    r_upper_arm: tuple[float, float]
    r_forearm: tuple[float, float]
    r_hand: tuple[float, float]
    r_thigh: tuple[float, float]
    r_shin: tuple[float, float]
    r_foot: tuple[float, float]  # shoe radius at heel, at toe
    torso_levels: tuple[tuple[float, float, float], ...]

    @property
    def leg_length(self) -> float:
        """Hip joint to sole (m): the unit of motion root translations."""
        return self.thigh + self.shin + self.ankle_height


@dataclass(frozen=True)
class Character:
    """A synthetic person.

    Proportion fields are multipliers around an average adult (1.0); `height` is the standing
    height in metres (sole to crown); colours are RGB uint8 triples.
    """

    name: str
    height: float = 1.72
    build: float = 1.0           # limb and torso thickness
    shoulder_width: float = 1.0
    hip_width: float = 1.0
    waist: float = 1.0
    head_size: float = 1.0
    arm_length: float = 1.0
    leg_length: float = 1.0
    skin: RGB = (226, 180, 150)
    hair: RGB = (60, 40, 30)
    hair_style: str = "short"
    eyes: RGB = (70, 50, 35)
    lips: RGB = (170, 90, 90)
    beard: bool = False
    shirt: RGB = (200, 40, 40)
    shirt2: RGB = (240, 240, 240)  # second colour of the pattern
    shirt_pattern: str = "plain"
    sleeves: str = "short"
    trousers: RGB = (40, 50, 90)
    bottoms: str = "trousers"
    shoes: RGB = (240, 240, 240)
    background: str = "room"       # default scene for this character
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for attr, allowed in (("hair_style", HAIR_STYLES), ("shirt_pattern", PATTERNS),
                              ("sleeves", SLEEVES), ("bottoms", BOTTOMS)):
            if getattr(self, attr) not in allowed:
                raise ValueError(f"Character {self.name!r}: {attr} must be one of {allowed}")
        if not 0.5 <= self.height <= 2.5:
            raise ValueError(f"Character {self.name!r}: height {self.height} m is not plausible")

    def dims(self) -> BodyDims:
        """Segment lengths/radii in metres, scaled so the standing height equals `height`.

        Base fractions of stature follow common anthropometric tables (e.g. Drillis & Contini):
        knee 0.285, hip joint 0.53, shoulder 0.818 of height; upper arm 0.186, forearm 0.146,
        hand 0.108, foot 0.152.
        """
        a, lg, b = self.arm_length, self.leg_length, self.build
        hs = self.head_size
        ry = 0.066 * hs
        head = (0.047 * hs, ry, 0.056 * hs)
        neck = 0.074
        ankle = 0.039 * lg
        shin = 0.246 * lg
        thigh = 0.245 * lg
        torso = 0.288
        # Standing height (unit-stature units): sole->ankle->knee->hip->shoulder->neck top->crown.
        # The head centre sits 0.55*ry above the neck top, the crown ry above the centre.
        stand = ankle + shin + thigh + torso + neck + 1.55 * ry
        k = self.height / stand
        sw, hw, wa = self.shoulder_width, self.hip_width, self.waist
        levels = (
            (-0.20, 0.088 * hw * b, 0.060 * b),   # crotch / bottom of pelvis
            (-0.08, 0.100 * hw * b, 0.066 * b),
            (0.05, 0.102 * hw * b, 0.066 * b),    # widest at the hips
            (0.22, 0.094 * (hw + wa) / 2 * b, 0.062 * b),
            (0.40, 0.084 * wa * b, 0.058 * b),    # waist
            (0.55, 0.088 * (wa + sw) / 2 * b, 0.061 * b),
            (0.72, 0.098 * sw * b, 0.066 * b),    # chest
            (0.86, 0.108 * sw * b, 0.064 * b),
            (0.97, 0.112 * sw * b, 0.056 * b),    # shoulder caps
            (1.06, 0.085 * sw * b, 0.046 * b),
            (1.12, 0.045 * b, 0.036 * b),         # trapezius into the neck
        )
        return BodyDims(
            height=self.height,
            head_radii=(head[0] * k, head[1] * k, head[2] * k),
            neck_len=neck * k,
            neck_radius=0.027 * b * k,
            torso_len=torso * k,
            shoulder_half=0.100 * sw * k,
            hip_half=0.058 * hw * k,
            upper_arm=0.186 * a * k,
            forearm=0.146 * a * k,
            hand=0.085 * a * k,
            thigh=thigh * k,
            shin=shin * k,
            ankle_height=ankle * k,
            heel_back=0.036 * lg * k,
            toe_forward=0.118 * lg * k,
            r_upper_arm=(0.031 * b * k, 0.024 * b * k),
            r_forearm=(0.024 * b * k, 0.018 * b * k),
            r_hand=(0.021 * b * k, 0.018 * b * k),
            r_thigh=(0.047 * b * k, 0.031 * b * k),
            r_shin=(0.031 * b * k, 0.020 * b * k),
            r_foot=(0.022 * k, 0.019 * k),
            torso_levels=tuple((s, w * k, d * k) for s, w, d in levels),
        )


CHARACTERS: dict[str, Character] = {
    c.name: c
    for c in (
        Character(
            name="ada", height=1.68, build=0.95, shoulder_width=0.95, hip_width=1.05, waist=0.92,
            skin=(236, 192, 160), hair=(92, 52, 28), hair_style="ponytail", lips=(190, 90, 95),
            shirt=(210, 40, 50), shirt2=(245, 245, 245), shirt_pattern="stripes", sleeves="short",
            trousers=(35, 55, 110), bottoms="trousers", shoes=(245, 245, 245), background="room",
            description="medium height, slim; red/white striped t-shirt, blue jeans, ponytail",
        ),
        Character(
            name="bruno", height=1.88, build=1.25, shoulder_width=1.1, hip_width=1.05, waist=1.2,
            head_size=1.02, skin=(242, 204, 184), hair=(35, 30, 28), hair_style="short",
            beard=True, lips=(180, 110, 105),
            shirt=(40, 120, 60), shirt2=(20, 60, 30), shirt_pattern="checks", sleeves="long",
            trousers=(190, 165, 120), bottoms="trousers", shoes=(90, 55, 30),
            background="gradient",
            description="tall, heavy; green checked long-sleeve shirt, khaki trousers, beard",
        ),
        Character(
            name="mira", height=1.58, build=0.88, shoulder_width=0.9, hip_width=1.08, waist=0.9,
            head_size=1.02, skin=(184, 128, 92), hair=(20, 16, 16), hair_style="bun",
            lips=(140, 70, 70), shirt=(250, 200, 40), shirt2=(250, 200, 40),
            shirt_pattern="plain", sleeves="none", trousers=(30, 30, 36), bottoms="shorts",
            shoes=(230, 80, 150), background="texture",
            description="short, slim; yellow tank top, black shorts, pink shoes, hair bun",
        ),
        Character(
            name="kofi", height=1.80, build=1.08, shoulder_width=1.15, hip_width=0.95, waist=1.0,
            skin=(112, 72, 50), hair=(18, 14, 12), hair_style="buzz", eyes=(40, 25, 15),
            lips=(95, 55, 50), shirt=(40, 110, 220), shirt2=(250, 250, 250),
            shirt_pattern="plain", sleeves="short", trousers=(120, 120, 125),
            bottoms="trousers", shoes=(25, 25, 25), background="studio",
            description="tall, athletic; blue t-shirt, grey trousers, black shoes, buzz cut",
        ),
        Character(
            name="lena", height=1.73, build=1.0, shoulder_width=0.95, hip_width=1.02,
            skin=(250, 220, 200), hair=(225, 190, 110), hair_style="long",
            lips=(200, 100, 110), eyes=(60, 110, 160), shirt=(120, 60, 160),
            shirt2=(250, 250, 250), shirt_pattern="stripes", sleeves="long",
            trousers=(30, 30, 30), bottoms="trousers", shoes=(150, 30, 40), background="room",
            description="average height; purple/white striped long sleeves, blonde long hair",
        ),
        Character(
            name="sam", height=1.64, build=1.12, shoulder_width=1.0, hip_width=1.0, waist=1.1,
            skin=(205, 160, 115), hair=(60, 45, 35), hair_style="bald", beard=False,
            shirt=(235, 235, 230), shirt2=(230, 90, 40), shirt_pattern="checks",
            sleeves="short", trousers=(80, 60, 40), bottoms="shorts", shoes=(40, 80, 160),
            background="gradient",
            description="short, stocky; orange/white checked shirt, brown shorts, bald",
        ),
    )
}


def get_character(name: str | Character) -> Character:
    """A named character (or the `Character` given); ValueError lists the known names."""
    if isinstance(name, Character):
        return name
    try:
        return CHARACTERS[name]
    except KeyError:
        raise ValueError(
            f"unknown character {name!r} (choose from: {', '.join(CHARACTERS)})"
        ) from None
