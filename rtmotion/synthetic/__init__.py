"""The synthetic dancer: procedural humanoids, dance motions and exact ground-truth poses.

Real footage cannot be downloaded here, so rtmotion makes its own test people. Layers:

- `characters`: named `Character`s (proportions, skin, hair, clothes) -> `BodyDims` in metres;
- `motion`: character-independent joint angles over time (`motion_angles` -> `MotionAngles`);
- `body`: forward kinematics (`pose_body`: a character + one angle row -> 3D `BodyPose`) and
  the pinhole `Camera`;
- `render`: OpenCV drawing with depth order, and the BODY25 ground truth (`Renderer`);
- `generate`: `render_sequence` / `write_dancer_video` (MP4 + beat audio + pose file);
- `origin`: `SyntheticOrigin`, where a synthetic clip came from (pose file source, MP4 tag);
- `extractor`: the dancer's exact poses as a pose source ("synthetic:ada,dance"), registered by
  name with the pose extractors;
- `figures`: hand-placed keypoint figures for kernel tests and benchmarks.

Retargeting ground truth: `angles = motion_angles("dance", 4, 30, seed=1)`, then
`render_sequence("ada", angles=angles)` and `render_sequence("bruno", angles=angles)` give the
same joint angles, each with its own bone lengths.
"""

from rtmotion.synthetic.backgrounds import BACKGROUNDS
from rtmotion.synthetic.body import BodyPose, Camera, pose_body
from rtmotion.synthetic.characters import CHARACTERS, BodyDims, Character, get_character
from rtmotion.synthetic.generate import render_pose, render_sequence, write_dancer_video
from rtmotion.synthetic.motion import (
    DOFS,
    MOTIONS,
    MotionAngles,
    angles_from_dict,
    motion_angles,
    neutral_angles,
)
from rtmotion.synthetic.origin import SyntheticOrigin
from rtmotion.synthetic.render import Renderer

__all__ = [
    "BACKGROUNDS", "CHARACTERS", "DOFS", "MOTIONS",
    "BodyDims", "BodyPose", "Camera", "Character", "MotionAngles", "Renderer", "SyntheticOrigin",
    "angles_from_dict", "get_character", "motion_angles", "neutral_angles", "pose_body",
    "render_pose", "render_sequence", "write_dancer_video",
]
