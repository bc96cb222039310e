"""Subject bundles: what `rtmotion train` makes and every other command loads, self-describing
and version-checked.

A subject bundle is a folder `subjects/NAME/`:

    subject.json      format "rtmotion-subject", bundle_version, rtmotion version, name,
                      resolution, crop box, source video info, pose map config, generator
                      config, face config, validation frame range, training summary
    generator.pt      inference weights only: {"kind", "version", "config", "dtype",
                      "state_dict"} (fp16 by default: half the size, no visible difference)
    face.pt           (optional) the face enhancer, same layout, plus its fixed crop side
    pose_stats.json   SubjectPoseStats of the target's poses in crop pixels (normalization)
    preview.png       a few generated frames next to the real ones
    background.png    (when trained with a background plate) the plate the generator holds
    scene.png         (optional) the same plate at the camera frame's resolution: the full
                      output frame is composed on it (`rtmotion.pipeline.canvas`)
    keyframes.npz     (a generator with use_reference) the appearance keyframes

Training state (checkpoints) is not part of a bundle: see `rtmotion.train.checkpoint`.

`load_subject(path)` checks everything and raises CheckpointError with one clear line for a
missing file, a folder of another format, a bundle too new or too old for this rtmotion, weights
of another model kind or that do not fit the stored config, and damaged files.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from rtmotion import __version__
from rtmotion.atomic import atomic_path, check_writable
from rtmotion.errors import CheckpointError, InputError
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.models.config import FaceConfig, GeneratorConfig
from rtmotion.models.face import FaceEnhancer
from rtmotion.models.generator import PoseGenerator
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.subject.crop import CropBox
from rtmotion.subject.follow import FollowCrop
from rtmotion.subject.keyframe_detail import KEYFRAME_DETAIL_FILE, KeyframeDetail
from rtmotion.subject.keyframes import KEYFRAMES_FILE, KeyframeSet
from rtmotion.subject.weights import (
    FACE_KIND,
    GENERATOR_KIND,
    RETRAIN_HINT,
    json_normalized,
    load_face_file,
    load_generator_file,
    torch_save_atomic,
    weights_payload,
)

log = logging.getLogger(__name__)

FORMAT_NAME = "rtmotion-subject"
BUNDLE_VERSION = 2            # bump on an incompatible change of the bundle layout
#                               (2: keyframes.npz, the generator's appearance reference)
MIN_BUNDLE_VERSION = 1        # oldest bundle this rtmotion still reads

SUBJECT_FILE = "subject.json"
GENERATOR_FILE = "generator.pt"
FACE_FILE = "face.pt"
STATS_FILE = "pose_stats.json"
PREVIEW_FILE = "preview.png"
BACKGROUND_FILE = "background.png"  # the plate inside generator.pt, as an image to look at
SCENE_PLATE_FILE = "scene.png"       # the same clean background at the camera's resolution


def builtin_subjects_dir() -> Path:
    """The subjects shipped inside the package (rtmotion/data/subjects/)."""
    return Path(__file__).resolve().parent.parent / "data" / "subjects"


def resolve_subject_path(spec: str | Path) -> Path:
    """A subject folder from a path, or the name of a shipped subject (e.g. "demo-ada")."""
    p = Path(spec)
    if p.exists() or p.is_absolute() or len(p.parts) > 1:
        return p
    builtin = builtin_subjects_dir() / str(spec)
    return builtin if builtin.is_dir() else p


@dataclass
class Subject:
    """A loaded subject bundle, ready for inference.

    Attributes:
        path: the bundle folder.
        name: subject name.
        resolution: (W, H) the generator makes.
        crop: the fixed crop box in the source video (poses in crop pixels relate to it).
        pose_map_config: rtmotion.kernels.maps_numpy.PoseMapConfig of the conditioning maps.
        generator_config: rtmotion.models.config.GeneratorConfig.
        generator: PoseGenerator in eval mode (float32, on the requested device).
        stats: SubjectPoseStats of the target in crop pixels (normalization target).
        face: FaceEnhancer in eval mode, or None; face_config / face_side with it.
        pose_flow_config: rtmotion.kernels.flow_numpy.PoseFlowConfig the generator was trained
            with (warp the previous output with the same one).
        keyframes: the appearance reference (`KeyframeSet`) of a generator with
            `use_reference`, else None.
        scene_plate: uint8 (H, W, 3) RGB, the clean background at the camera frame's size
            (`crop.frame_size`), which the full output frame is composed on; None for a bundle
            without one (`rtmotion.pipeline.canvas`).
        follow_crop: the box that follows the person (`rtmotion.subject.follow`) of a subject
            whose generator draws it (`plate_input`), or None: the generator draws `crop`.
        keyframe_detail: the keyframes at the camera's resolution (`rtmotion.subject.
            keyframe_detail`; the output frame's full-resolution detail), or None (a subject
            made before it, or without keyframes).
        validation_range: (start, end) held-out frame indices of the source video.
        info: the whole subject.json.
    """

    path: Path
    name: str
    resolution: tuple[int, int]
    crop: CropBox
    pose_map_config: PoseMapConfig
    generator_config: GeneratorConfig
    generator: PoseGenerator
    stats: SubjectPoseStats
    face: FaceEnhancer | None = None
    face_config: FaceConfig | None = None
    face_side: int | None = None
    validation_range: tuple[int, int] = (0, 0)
    info: dict[str, Any] = field(default_factory=dict)
    pose_flow_config: PoseFlowConfig | None = None
    keyframes: KeyframeSet | None = None
    scene_plate: np.ndarray | None = None
    follow_crop: FollowCrop | None = None
    keyframe_detail: KeyframeDetail | None = None

    def model_plate(self) -> np.ndarray | None:
        """uint8 (H, W, 3) RGB, the background plate the generator holds (model resolution),
        or None for a generator without one."""
        if not self.generator_config.background_plate:
            return None
        bg = self.generator.background[0].detach().float().cpu()  # 3 x H x W in [-1, 1]
        return ((bg + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

    @property
    def source_video(self) -> dict[str, Any]:
        return dict(self.info.get("source_video") or {})

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.info.get("training") or {})


def pose_map_config_to_dict(cfg: PoseMapConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["size"] = list(cfg.size)
    return d


def pose_map_config_from_dict(d: dict[str, Any]) -> PoseMapConfig:
    d = dict(d)
    d["size"] = tuple(d["size"])
    return PoseMapConfig(**d)


def write_bundle(
    folder: str | Path,
    *,
    name: str,
    resolution: tuple[int, int],
    crop: CropBox,
    pose_map_config: PoseMapConfig,
    generator: PoseGenerator,
    stats: SubjectPoseStats,
    source_video: dict[str, Any],
    validation_range: tuple[int, int],
    training: dict[str, Any],
    preview: np.ndarray | None = None,
    face: FaceEnhancer | None = None,
    face_side: int | None = None,
    weights_dtype: str = "float16",
    pose_flow_config: PoseFlowConfig | None = None,
    background: np.ndarray | None = None,
    keyframes: KeyframeSet | None = None,
    scene_plate: np.ndarray | None = None,
    follow_crop: FollowCrop | None = None,
    keyframe_detail: KeyframeDetail | None = None,
) -> Path:
    """Write a subject bundle (each file atomically, subject.json last). Returns the folder."""
    folder = Path(folder)
    check_writable(folder / SUBJECT_FILE)
    gen_cfg = generator.config.to_dict()
    torch_save_atomic(weights_payload(GENERATOR_KIND, gen_cfg, generator, weights_dtype),
                       folder / GENERATOR_FILE)
    face_info = None
    if face is not None:
        face_cfg = face.config.to_dict()
        torch_save_atomic(weights_payload(FACE_KIND, face_cfg, face, weights_dtype, side=face_side),
                           folder / FACE_FILE)
        face_info = {"config": face_cfg, "file": FACE_FILE, "side": face_side}
    stats.save(folder / STATS_FILE)
    if preview is not None:
        write_png(folder / PREVIEW_FILE, preview)
    if background is not None:  # uint8 H x W x 3; the generator holds the same plate
        write_png(folder / BACKGROUND_FILE, background)
    if scene_plate is not None:  # uint8 H x W x 3 at the camera frame's size
        if scene_plate.shape[:2] != (crop.frame_size[1], crop.frame_size[0]):
            raise ValueError(f"scene plate is {scene_plate.shape[1]}x{scene_plate.shape[0]}, the "
                             f"camera frame {crop.frame_size[0]}x{crop.frame_size[1]}")
        write_png(folder / SCENE_PLATE_FILE, scene_plate)
    if (follow_crop is not None) != generator.config.plate_input or \
            (follow_crop is not None and (scene_plate is None or keyframes is None
                                          or keyframes.origins is None)):
        raise ValueError("a follow crop goes with a plate_input generator, a scene plate and "
                         "keyframes with origins")
    if generator.config.use_reference and keyframes is None:
        raise ValueError("a generator with use_reference needs its keyframes in the bundle")
    _write_keyframes(folder, keyframes, keyframe_detail)
    info = {
        "format": FORMAT_NAME,
        "bundle_version": BUNDLE_VERSION,
        "rtmotion_version": __version__,
        "name": name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "resolution": [int(resolution[0]), int(resolution[1])],
        "crop": crop.to_dict(),
        "follow_crop": None if follow_crop is None else follow_crop.to_dict(),
        "source_video": source_video,
        "pose_maps": pose_map_config_to_dict(pose_map_config),
        "pose_flow": None if pose_flow_config is None else asdict(pose_flow_config),
        "generator": gen_cfg,
        "generator_file": GENERATOR_FILE,
        "face": face_info,
        "pose_stats_file": STATS_FILE,
        "preview": PREVIEW_FILE if preview is not None else None,
        "background": BACKGROUND_FILE if background is not None else None,
        "scene_plate": SCENE_PLATE_FILE if scene_plate is not None else None,
        "keyframes": None if keyframes is None else {"file": KEYFRAMES_FILE, "count": len(keyframes),
                                                     "frames": keyframes.frames.tolist()},
        "keyframe_detail": None if keyframe_detail is None else {
            "file": KEYFRAME_DETAIL_FILE, "size": list(keyframe_detail.size)},
        "validation": {"start": int(validation_range[0]), "end": int(validation_range[1])},
        "training": training,
    }
    with atomic_path(folder / SUBJECT_FILE, suffix=".json") as tmp:
        tmp.write_text(json.dumps(json_normalized(info), indent=2) + "\n", encoding="utf-8")
    return folder


def update_subject_info(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Set top-level fields of a bundle's subject.json (atomically; e.g. the held-out quality
    measured after training). Returns the new contents."""
    folder, info = read_subject_info(folder)
    info.update(fields)
    with atomic_path(folder / SUBJECT_FILE, suffix=".json") as tmp:
        tmp.write_text(json.dumps(json_normalized(info), indent=2) + "\n", encoding="utf-8")
    return info


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """uint8 RGB (H, W, 3) -> PNG, atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
            raise CheckpointError(path, "could not encode the PNG")
    return path


def read_png(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A bundle's PNG as uint8 RGB (H, W, 3), checked to be `size` = (W, H)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CheckpointError(path, "missing or not a readable PNG", RETRAIN_HINT)
    if (image.shape[1], image.shape[0]) != tuple(size):
        raise CheckpointError(path, f"is {image.shape[1]}x{image.shape[0]}, expected "
                              f"{size[0]}x{size[1]}", RETRAIN_HINT)
    return np.ascontiguousarray(image[..., ::-1])


def read_subject_info(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(folder, subject.json contents) after the format and version checks."""
    folder = resolve_subject_path(path)
    if not folder.exists():
        raise CheckpointError(folder, "subject not found",
                              "give a folder made by `rtmotion train` or a shipped name like demo-ada")
    if not folder.is_dir():
        raise CheckpointError(folder, "is not a subject folder (expected subjects/NAME/)",
                              "give the folder `rtmotion train -o` wrote")
    sj = folder / SUBJECT_FILE
    if not sj.is_file():
        raise CheckpointError(sj, "missing: this folder is not an rtmotion subject bundle",
                              "give the folder `rtmotion train -o` wrote")
    try:
        info = json.loads(sj.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(sj, f"damaged, not readable JSON ({e})", RETRAIN_HINT) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise CheckpointError(sj, f"not an rtmotion subject (format {got!r}, expected "
                              f"{FORMAT_NAME!r})", "give the folder `rtmotion train -o` wrote")
    ver = info.get("bundle_version")
    if not isinstance(ver, int):
        raise CheckpointError(sj, f"damaged: bundle_version is {ver!r}", RETRAIN_HINT)
    if ver > BUNDLE_VERSION:
        raise CheckpointError(sj, f"made by a newer rtmotion ({info.get('rtmotion_version')}, "
                              f"bundle version {ver}); this rtmotion {__version__} reads up to "
                              f"version {BUNDLE_VERSION}", "upgrade rtmotion")
    if ver < MIN_BUNDLE_VERSION:
        raise CheckpointError(sj, f"bundle version {ver} is too old for rtmotion {__version__} "
                              f"(reads {MIN_BUNDLE_VERSION}..{BUNDLE_VERSION})", RETRAIN_HINT)
    return folder, info


def load_subject(path: str | Path, device: str | torch.device = "cpu", load_face: bool = True
                 ) -> Subject:
    """Load and check a subject bundle (see module docstring). `path` may also be the name of a
    shipped subject (e.g. "demo-ada")."""
    folder, info = read_subject_info(path)
    sj = folder / SUBJECT_FILE
    try:
        name = str(info["name"])
        resolution = (int(info["resolution"][0]), int(info["resolution"][1]))
        crop = CropBox.from_dict(info["crop"])
        follow = FollowCrop.from_dict(info["follow_crop"]) if info.get("follow_crop") else None
        pmc = pose_map_config_from_dict(info["pose_maps"])
        gen_cfg_d = info["generator"]
        val = info.get("validation") or {}
        validation_range = (int(val.get("start", 0)), int(val.get("end", 0)))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(sj, f"damaged: missing or invalid field ({e})", RETRAIN_HINT) from None
    generator = load_generator_file(folder / str(info.get("generator_file") or GENERATOR_FILE),
                                    gen_cfg_d, device)
    gcfg = generator.config
    if tuple(gcfg.resolution) != resolution:
        raise CheckpointError(sj, f"resolution {resolution} differs from the generator's "
                              f"{tuple(gcfg.resolution)}", RETRAIN_HINT)
    if gcfg.pose_channels != pmc.num_channels or tuple(pmc.size) != resolution:
        raise CheckpointError(sj, f"pose map config ({pmc.num_channels} channels, {pmc.size}) does "
                              f"not fit the generator ({gcfg.pose_channels} channels, {resolution})",
                              RETRAIN_HINT)
    try:
        stats = SubjectPoseStats.load(folder / str(info.get("pose_stats_file") or STATS_FILE))
    except InputError as e:
        raise CheckpointError(e.path, e.problem, e.hint or RETRAIN_HINT) from None
    flow_cfg = None
    if info.get("pose_flow"):
        try:
            # A bundle from before the rigid head (`PoseFlowConfig.head`) was trained with every
            # head bone on its own, and one from before the reference's ghost mask
            # (`PoseFlowConfig.mask_ghosts`) without it: each is driven as it was trained.
            flow_cfg = PoseFlowConfig(**{"head": "bones", "mask_ghosts": False,
                                         **info["pose_flow"]})
        except (TypeError, ValueError) as e:
            raise CheckpointError(sj, f"damaged: invalid pose_flow ({e})", RETRAIN_HINT) from None
    keyframes = None
    if gcfg.use_reference:
        kinfo = info.get("keyframes") or {}
        kpath = folder / str(kinfo.get("file") or KEYFRAMES_FILE)
        if not kpath.is_file():
            raise CheckpointError(kpath, "missing: this subject's generator needs its keyframes",
                                  RETRAIN_HINT)
        keyframes = KeyframeSet.load(kpath)
        if keyframes.size != resolution or len(keyframes) == 0:
            raise CheckpointError(kpath, f"{len(keyframes)} keyframes of {keyframes.size}, the "
                                  f"generator needs at least one at {resolution}", RETRAIN_HINT)
    scene_plate = None
    if info.get("scene_plate"):
        scene_plate = read_png(folder / str(info["scene_plate"]), crop.frame_size)
    if (follow is not None) != gcfg.plate_input or (follow is not None and (
            scene_plate is None or keyframes is None or keyframes.origins is None)):
        raise CheckpointError(sj, "damaged: a follow crop needs a plate_input generator, "
                              "scene.png and keyframes with origins", RETRAIN_HINT)
    keyframe_detail = _load_keyframe_detail(folder, info, keyframes)
    face = face_cfg = face_side = None
    if load_face and info.get("face"):
        finfo = info["face"]
        face, face_cfg, face_side = load_face_file(folder / str(finfo.get("file") or FACE_FILE),
                                                   finfo.get("config"), device)
    return Subject(path=folder, name=name, resolution=resolution, crop=crop, pose_map_config=pmc,
                   generator_config=gcfg, generator=generator, stats=stats, face=face,
                   face_config=face_cfg, face_side=face_side, validation_range=validation_range,
                   info=info, pose_flow_config=flow_cfg, keyframes=keyframes,
                   scene_plate=scene_plate, follow_crop=follow, keyframe_detail=keyframe_detail)


def _write_keyframes(folder: Path, keyframes: KeyframeSet | None,
                     detail: KeyframeDetail | None) -> None:
    """keyframes.npz and keyframe_detail.npz (when given; the detail needs its keyframes)."""
    if keyframes is not None:
        keyframes.save(folder / KEYFRAMES_FILE)
    if detail is not None:
        if keyframes is None or not np.array_equal(detail.frames, keyframes.frames):
            raise ValueError("keyframe detail goes with the keyframes of the same frames")
        detail.save(folder / KEYFRAME_DETAIL_FILE)


def _load_keyframe_detail(folder: Path, info: dict[str, Any], keyframes: KeyframeSet | None
                          ) -> KeyframeDetail | None:
    """The bundle's keyframe detail, or None. It only sharpens the output frame, so a file that
    is missing, damaged or not of the keyframes is a warning: the subject works without it."""
    dinfo = info.get("keyframe_detail")
    if not dinfo or keyframes is None:
        return None
    path = folder / str(dinfo.get("file") or KEYFRAME_DETAIL_FILE)
    if not path.is_file():
        log.warning("%s: missing; the output frame is the model frame enlarged, without the "
                    "keyframes' full-resolution detail", path)
        return None
    try:
        detail = KeyframeDetail.load(path)
    except CheckpointError as e:
        log.warning("%s; the output frame is the model frame enlarged", e)
        return None
    if not np.array_equal(detail.frames, keyframes.frames):
        log.warning("%s: its keyframes (%s) are not the subject's (%s); not used", path,
                    detail.frames.tolist(), keyframes.frames.tolist())
        return None
    return detail
