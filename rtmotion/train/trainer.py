"""`train(cfg)`: target video -> subject bundle (nanoGPT-style: one short loop).

Flow:
1. poses: `cfg.poses` (ground truth or a precomputed extraction) or MediaPipe extraction,
   cached; the ONE crop box of the video (`compute_crop_box`); the dataset cache (frames cropped
   and resized, poses in crop pixels); the split (training pairs, held-out block in the middle).
   Under DDP rank 0 does this and the other ranks wait at a barrier, then read the caches.
2. models: `PoseGenerator` (preset at the resolution), a multi-scale PatchGAN on
   (pose maps, frame), a temporal PatchGAN on consecutive (frame, frame, poses) pairs.
3. the loop, per step on a batch of clips of `clip_length` frames (EDN: pairs; see `ClipStep`):
   - G makes the clip's first frame from its pose with no previous frame;
   - for each next frame, the previous frame (G's own output, detached as in EDN's sequential
     training, or with the teacher-forcing probability the REAL one) is warped to the new pose
     by the analytic pose flow, and G makes the frame from its pose + that warped frame + its
     validity mask (clips longer than 2 feed G its own blended outputs, as inference does);
   - G loss on all frames: L1 (x10), 1-SSIM (x1), PatchGAN (hinge) + feature matching (x10),
     temporal GAN on each generated consecutive pair, perceptual only with local VGG weights;
   - D loss on real vs generated (detached) frames and consecutive pairs.
   Adam(2e-4, (0.5, 0.999)), optionally decayed linearly to 0 over the last `lr_decay_steps`
   (pix2pixHD); bf16 autocast on CUDA (GradScaler only for fp16); a checkpoint
   every `save_every` steps (atomic), a sample grid (pose | output | real) every `sample_every`
   steps, TensorBoard scalars, a tqdm bar with the losses and it/s; stop at `steps` or after
   `minutes`.
4. optional face stage (`cfg.face`): G frozen, the face enhancer trained on fixed-size head
   crops (L1 + its own PatchGAN + feature matching).
5. rank 0 rolls the generator over the held-out frames as inference does (each frame from
   its own previous output), reports the validation L1 and writes the bundle (subject.json,
   generator.pt, pose_stats.json, preview.png).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from rtmotion.atomic import check_writable
from rtmotion.devices import resolve_device
from rtmotion.errors import (
    CheckpointError,
    InputError,
    MissingDependencyError,
    OutputError,
)
from rtmotion.io import VideoInfo, frames_at
from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.kernels.maps_torch import pose_maps_torch
from rtmotion.models import losses as L
from rtmotion.models.config import DiscriminatorConfig, generator_preset
from rtmotion.models.discriminator import (
    MultiScalePatchDiscriminator,
    TemporalDiscriminator,
)
from rtmotion.models.generator import PoseGenerator
from rtmotion.pipeline.follow_frame import FollowPlacer
from rtmotion.pose.draw import bone_colors
from rtmotion.pose.posefile import PoseSequence
from rtmotion.pose.segmentation import PersonSegmenter
from rtmotion.pose.skeleton import get_skeleton
from rtmotion.pose.stats import SubjectPoseStats
from rtmotion.progress import progress
from rtmotion.subject.bundle import write_bundle, write_png
from rtmotion.subject.crop import usable_frames
from rtmotion.subject.keyframe_detail import (
    KeyframeDetail,
    keyframe_boxes,
    keyframe_detail_from_frames,
)
from rtmotion.subject.keyframes import KeyframeSet, keyframes_from_video
from rtmotion.synthetic.origin import SyntheticOrigin
from rtmotion.train import distributed as D
from rtmotion.train.background import (
    BackgroundPlate,
    Segmenter,
    estimate_background_plate,
    estimate_scene_plate,
)
from rtmotion.train.cache import build_cache, extract_poses_cached, file_fingerprint
from rtmotion.train.checkpoint import load_checkpoint
from rtmotion.train.config import TrainConfig
from rtmotion.train.dataset import ClipDataset, clip_ends, make_split, to_uint8
from rtmotion.train.face_stage import train_face
from rtmotion.train.framing import choose_crops, generator_stride, shape_model_frame
from rtmotion.train.input_checks import report_training_input
from rtmotion.train.machine_settings import BudgetPlanner
from rtmotion.train.person_weight import body_box_masks, person_weights
from rtmotion.train.run import TrainData, TrainPaths, TrainRun, run_record
from rtmotion.train.step import (
    ClipFollow,
    ClipStep,
    Discriminators,
    TrainReference,
    clip_batch_to_device,
    float_features,
    follow_batch,
    rollout,
    split_features,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run made."""

    bundle: Path
    steps: int
    face_steps: int
    minutes: float
    losses: dict[str, float] = field(default_factory=dict)
    val_l1: float | None = None
    device: str = "cpu"
    world_size: int = 1
    generator_checksum: float = 0.0  # sum of all generator parameters (DDP ranks must agree)


def check_outputs(cfg: TrainConfig) -> TrainPaths:
    """OutputError before any work if the bundle, checkpoint or cache folders are unwritable."""
    paths = TrainPaths.from_config(cfg)
    if paths.output.exists() and not paths.output.is_dir():
        raise OutputError(paths.output, "exists and is not a folder", "give a folder for the subject")
    for p in (paths.output / "subject.json", paths.checkpoint, paths.cache / "key.json",
              paths.samples / "x.png"):
        check_writable(p)
    return paths


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: bf16 on CUDA by default, none on a CPU. (On a CPU with AMX, `--amp bf16`
    nearly halves the generator's step, but at 20 minutes it scored no better: the extra steps
    found no gain and faces lost a little; docs/BENCHMARKS.md "bf16 autocast on a CPU".)"""
    mode = cfg.amp
    if mode == "auto":
        mode = "bf16" if device.type == "cuda" else "off"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[mode]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Adam learning rate at `step`: `cfg.lr`, then linear to 0 over the last
    `cfg.lr_decay_steps` of `cfg.steps` (pix2pixHD's schedule); times a linear warm-up over
    `cfg.lr_warmup_steps` steps from `cfg.lr_warmup_start` (a resumed fitted run)."""
    lr = cfg.lr
    if cfg.lr_decay_steps > 0:
        lr *= min(1.0, max(0.0, (cfg.steps - step) / cfg.lr_decay_steps))
    if cfg.lr_warmup_steps > 0:
        lr *= min(1.0, max(0.0, (step - cfg.lr_warmup_start + 1) / cfg.lr_warmup_steps))
    return lr


def teacher_prob(cfg: TrainConfig, step: int) -> float:
    """Teacher-forcing probability at `step`: linear from cfg.teacher_forcing to 0."""
    if cfg.teacher_forcing_steps <= 0:
        return 0.0
    return cfg.teacher_forcing * max(0.0, 1.0 - step / cfg.teacher_forcing_steps)


# ---- images ------------------------------------------------------------------------------------

def pose_preview(maps: torch.Tensor, skeleton: str = "body25") -> torch.Tensor:
    """B x C x H x W maps in [0, 1] -> B x 3 x H x W in [-1, 1]: bones in their overlay colours."""
    cols = [tuple(c) for c in bone_colors(get_skeleton(skeleton))]
    cols += [(255, 255, 255)] * (maps.shape[1] - len(cols))
    cols_t = torch.tensor(cols[: maps.shape[1]], dtype=torch.float32, device=maps.device) / 255.0
    rgb = (maps.float()[:, :, None] * cols_t[None, :, :, None, None]).amax(dim=1)  # B x 3 x H x W
    return rgb * 2.0 - 1.0


def image_grid(columns: list[torch.Tensor], rows: int) -> np.ndarray:
    """Columns of B x 3 x H x W images in [-1, 1] -> uint8 (rows*H, len(columns)*W, 3) grid."""
    cols = [to_uint8(c[:rows]) for c in columns]  # each rows x H x W x 3
    return np.concatenate([np.concatenate(list(c), axis=0) for c in cols], axis=1)


# ---- data --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedPoses:
    """The training video's poses, checked: camera pixels (T, 25, 3), and its facts."""

    seq: PoseSequence
    pose_source: str
    info: VideoInfo
    usable: np.ndarray  # bool (T,): frames with at least cfg.min_joints joints


def load_poses(cfg: TrainConfig, paths: TrainPaths, is_main: bool) -> LoadedPoses:
    """The poses training uses (the given pose file, or MediaPipe's, extracted once and cached).

    Raises:
        InputError: poses of another frame size or skeleton; too few usable frames.
    """
    info = VideoInfo.from_path(cfg.video)
    if cfg.poses:
        seq = PoseSequence.load(cfg.poses)
        fp = file_fingerprint(cfg.poses)
        pose_source = f"file:{fp['path']}"
    else:
        seq = extract_poses_cached(cfg.video, paths.cache, show_progress=is_main, person=cfg.person)
        pose_source = "mediapipe"
    if tuple(seq.size) != tuple(info.size):
        raise InputError(cfg.poses or cfg.video, f"poses are for {seq.size[0]}x{seq.size[1]} frames "
                         f"but {cfg.video} is {info.width}x{info.height}",
                         "give the pose file of this video")
    if seq.skeleton != "body25":
        raise InputError(cfg.poses or cfg.video, f"poses use skeleton {seq.skeleton!r}, training "
                         "needs body25", "re-extract with `rtmotion extract`")
    ok = usable_frames(seq.keypoints, cfg.min_joints)
    if int(ok.sum()) < cfg.min_pose_frames:
        # Same message as make_split, before the (slow) frame cache is built.
        make_split(seq.keypoints, cfg.val_fraction, cfg.min_pose_frames, cfg.min_joints, cfg.video,
                   float(info.fps))
    return LoadedPoses(seq, pose_source, info, ok)


def load_data(cfg: TrainConfig, paths: TrainPaths, is_main: bool) -> tuple[TrainConfig, TrainData]:
    """The poses, then the model frame (`shape_model_frame`: shaped to the person when asked,
    which needs the poses and decides the crops), then the crops, cache and split. Returns the
    config with its final resolution and the data."""
    poses = load_poses(cfg, paths, is_main)
    cfg = shape_model_frame(cfg, poses.seq, poses.usable)
    return cfg, prepare_data(cfg, paths, poses, is_main)


def prepare_data(cfg: TrainConfig, paths: TrainPaths, poses: LoadedPoses, is_main: bool
                 ) -> TrainData:
    """The crop boxes at `cfg.resolution`, the frame cache and the split of `poses`."""
    seq, pose_source, info, ok = poses.seq, poses.pose_source, poses.info, poses.usable
    crop, follow = choose_crops(cfg, seq, ok)
    cache = build_cache(cfg.video, seq, crop, cfg.resolution, paths.cache, pose_source,
                        show_progress=is_main, follow=follow)
    split = make_split(cache.poses, cfg.val_fraction, cfg.min_pose_frames, cfg.min_joints, cfg.video,
                       float(info.fps))
    data = TrainData(seq, pose_source, crop, cache, split, info, follow)
    if follow is not None:
        # A resumed run trains on the plate its checkpoint trained with: estimating another
        # (up to 64 segmented frames, seconds) would only be thrown away.
        data.scene_plate, data.scene_plate_summary = resumed_scene_plate(cfg, paths, info)
        if data.scene_plate is None and (plate := scene_plate(cfg, data)) is not None:
            data.scene_plate, data.scene_plate_summary = plate.image, plate.summary()
        if data.scene_plate is None:
            raise InputError(cfg.video, "a follow crop needs the clean background of the video, "
                             "which could not be estimated", "train with --no-follow-crop")
    return data


def resumed_scene_plate(cfg: TrainConfig, paths: TrainPaths, info: VideoInfo
                        ) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """--resume of a follow-crop run: the scene plate (uint8 (H, W, 3), camera pixels) its
    checkpoint trained with and ships, so the generator keeps the room it learned, and how it was
    made (`BackgroundPlate.summary`; None from a checkpoint saved before it was kept); (None,
    None) when not resuming, with no checkpoint yet, or one saved without a plate (the run
    estimates it).

    Raises:
        CheckpointError: the checkpoint is damaged, or its plate is not this video's frame size.
    """
    if not cfg.resume or not paths.checkpoint.is_file():
        return None, None
    # (the generator config is checked by `resume`, which loads the models from it)
    state = load_checkpoint(paths.checkpoint)
    stored = state.get("scene_plate")
    if stored is None:
        return None, None
    plate = stored.numpy()
    if plate.shape != (info.height, info.width, 3):
        raise CheckpointError(paths.checkpoint, f"its scene plate is {plate.shape[1]}x"
                              f"{plate.shape[0]}, this video's frames {info.width}x{info.height}",
                              "train without --resume")
    log.info("--resume: the checkpoint's background plate (the one it trained with)")
    return plate, state.get("scene_plate_summary")


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def train(cfg: TrainConfig) -> TrainResult:
    """Train a subject from `cfg.video` and write the bundle to `cfg.output` (see module doc).

    Raises:
        OutputError: an output folder is unwritable (before any work).
        InputError: a preset / resolution the generator cannot take (before any work), bad
            video / pose file, too few usable pose frames.
        CheckpointError: --resume from a checkpoint of another model / version / damaged.
    """
    generator_stride(cfg)  # InputError for a preset / resolution the generator cannot take
    paths = check_outputs(cfg)
    device = resolve_device(cfg.device)
    dist = D.setup_distributed(device.type)
    try:
        if device.type == "cuda":
            device = torch.device("cuda", dist.local_rank if dist.enabled else
                                  (device.index or torch.cuda.current_device()))
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        _seed_all(cfg.seed + dist.rank)

        # Data: rank 0 first (extraction + cache), then the others read the caches.
        if dist.is_main:
            cfg, data = load_data(cfg, paths, True)
            report_training_input(cfg.video, data.seq.keypoints,
                                  usable_frames(data.seq.keypoints, cfg.min_joints),
                                  data.video_info.size, float(data.video_info.fps), len(data.seq),
                                  cfg.resolution, cfg.val_fraction,
                                  person=None if cfg.poses else cfg.person,
                                  cache_dir=paths.cache)
        D.barrier(dist)
        if not dist.is_main:
            cfg, data = load_data(cfg, paths, False)  # rank 0's extraction, from the cache
        run = build_run(cfg, paths, device, dist, data)
        resume(run)
        train_generator(run)
        if cfg.face:
            face, face_side = train_face(run)
        else:
            face, face_side = None, None
        return finish(run, face, face_side)
    finally:
        D.cleanup_distributed(dist)


def build_run(cfg: TrainConfig, paths: TrainPaths, device: torch.device, dist: D.DistInfo,
              data: TrainData) -> TrainRun:
    """The models, the optimizers and the run's bookkeeping (before any resume)."""
    w, h = cfg.resolution
    pmc = PoseMapConfig(size=(w, h))
    follow = data.follow is not None
    # (preset and resolution were checked by `train`: generator_stride)
    gcfg = generator_preset(cfg.preset, (w, h), pose_channels=pmc.num_channels,
                            background_plate=cfg.background_plate and not follow,
                            use_reference=cfg.keyframes > 0, plate_input=follow)
    dcfg = DiscriminatorConfig(num_scales=cfg.d_scales, base_channels=cfg.d_channels)
    gen = PoseGenerator(gcfg).to(device)
    frame_d = MultiScalePatchDiscriminator(pmc.num_channels, dcfg)
    temporal_d = TemporalDiscriminator(pmc.num_channels, dcfg, use_pose=True)
    discs = Discriminators(frame_d, temporal_d).to(device)
    plate = background_plate(cfg, data, gen) if gcfg.background_plate else None
    flow_cfg = PoseFlowConfig()
    reference = None
    if gcfg.use_reference:
        keyframes = keyframes_from_video(data.cache.frames, data.cache.poses,
                                         np.flatnonzero(data.split.train), cfg.keyframes,
                                         data.follow_origins())
        log.info("appearance reference: %d keyframes chosen for pose coverage", len(keyframes))
        reference = TrainReference(keyframes, device, flow_cfg, cfg.keyframe_exclude)
    betas = (cfg.beta1, cfg.beta2)
    adt = amp_dtype(cfg, device)
    use_scaler = adt == torch.float16

    def autocast() -> AbstractContextManager[Any]:
        return torch.autocast(device.type, dtype=adt) if adt else nullcontext()

    return TrainRun(
        cfg=cfg, paths=paths, device=device, dist=dist, data=data, pose_map_config=pmc,
        generator_config=gcfg, flow_config=flow_cfg, gen=gen, discs=discs,
        opt_g=torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=betas),
        opt_d=torch.optim.Adam(discs.parameters(), lr=cfg.lr, betas=betas),
        scaler_g=torch.amp.GradScaler(device.type, enabled=use_scaler),
        scaler_d=torch.amp.GradScaler(device.type, enabled=use_scaler),
        autocast=autocast,
        perceptual=L.PerceptualLoss(cfg.perceptual_weights).to(device) if cfg.perceptual_weights else None,
        plate=plate, reference=reference,
        tb=_tensorboard(paths.tensorboard) if dist.is_main else None,
    )


def resume(run: TrainRun) -> None:
    """--resume: load the checkpoint's models, optimizers, step and losses into `run`."""
    cfg, paths = run.cfg, run.paths
    if not cfg.resume:
        return
    if not paths.checkpoint.is_file():
        log.info("--resume: no checkpoint at %s yet, starting from step 0", paths.checkpoint)
        return
    st = load_checkpoint(paths.checkpoint, run.generator_config.to_dict())
    try:
        run.gen.load_state_dict(st["generator"])
        run.discs.load_state_dict(st["discriminators"])
        run.opt_g.load_state_dict(st["opt_g"])
        run.opt_d.load_state_dict(st["opt_d"])
        if run.use_scaler and st.get("scaler_g"):
            run.scaler_g.load_state_dict(st["scaler_g"])
            run.scaler_d.load_state_dict(st["scaler_d"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(paths.checkpoint, f"does not fit this model ({str(e)[:160]})",
                              "train without --resume") from None
    run.step = int(st["step"])
    run.face_step = int(st.get("face_step", 0))
    run.trained_seconds = float(st.get("trained_seconds", 0.0))
    # A checkpoint of before the runs were recorded: the one run it knows, from its config.
    run.earlier_runs = list(st.get("runs") or [run_record(
        st.get("config") or {}, (0, run.step), (0, run.face_step), run.trained_seconds)])
    run.losses = dict(st.get("losses", {}))
    run.face_state = {k: st[k] for k in ("face", "face_d", "opt_face", "opt_face_d", "face_crop")
                      if k in st}
    # (a follow crop's scene plate came from the checkpoint already: `resumed_scene_plate`)
    log.info("resumed from %s at step %d", paths.checkpoint, run.step)
    held = tuple(run.data.split.val_range)
    trained_with = st.get("validation")  # absent: a checkpoint of before 2026-12-04 (last block)
    if trained_with is None or tuple(trained_with) != held:
        log.warning("--resume: this run holds out frames %d..%d, but the checkpoint was trained "
                    "holding out %s: the held-out score will include frames it trained on "
                    "(train without --resume for a fair score)", held[0], held[1] - 1,
                    "the last tenth (an older rtmotion)" if trained_with is None
                    else f"frames {trained_with[0]}..{trained_with[1] - 1}")


def _infinite(loader: DataLoader, sampler: Any, start_epoch: int) -> Iterator[Any]:
    epoch = start_epoch
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def clip_batches(run: TrainRun) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled batches of training clips (per DDP rank), continuing at `run.step`."""
    cfg, dist, data = run.cfg, run.dist, run.data
    ends = clip_ends(data.split.pairs, cfg.clip_length)
    if len(ends) == 0:
        raise InputError(cfg.video, f"no {cfg.clip_length} consecutive frames with a usable pose "
                         "in the training part", "use a lower --clip-length")
    ds = ClipDataset(data.cache.folder / "frames.npy", data.cache.poses, ends, cfg.clip_length,
                     max_gap=cfg.max_gap, valid=data.split.train,
                     follow=data.dataset_follow())
    bs = max(1, min(cfg.batch_size, len(ds) // dist.world_size))
    if dist.enabled:
        sampler: Any = DistributedSampler(ds, dist.world_size, dist.rank, shuffle=True,
                                          seed=cfg.seed, drop_last=True)
    else:
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(cfg.seed + run.step))
    loader = DataLoader(ds, batch_size=bs, sampler=sampler, num_workers=cfg.workers,
                        drop_last=True, pin_memory=run.device.type == "cuda",
                        persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise InputError(cfg.video, f"{len(ds)} training pairs are too few for {dist.world_size} "
                         "processes", "use a longer video or fewer processes")
    return _infinite(loader, sampler, run.step // len(loader))


def _ddp(module: nn.Module, run: TrainRun) -> nn.Module:
    if not run.dist.enabled:
        return module
    return DDP(module, device_ids=[run.device.index] if run.device.type == "cuda" else None)


def frame_plates(run: TrainRun, follow: ClipFollow | None) -> torch.Tensor | None:
    """The background plate under each frame of a batch, in [-1, 1]: (B*L) x 3 x H x W for a
    follow crop (each frame's own cut of the room), 1 x 3 x H x W for the fixed crop (the
    generator's plate), None without a plate."""
    if follow is not None:
        return follow[1].flatten(0, 1)
    if run.generator_config.background_plate:
        return run.gen.background
    return None


def ssim_weights(cfg: TrainConfig, kps: torch.Tensor) -> torch.Tensor | None:
    """Where the SSIM loss is measured (`TrainConfig.ssim_region`): None for the whole frame,
    else the (B*L) x 1 x H x W body-box masks of a batch's poses kps (B x L x K x 3)."""
    if cfg.ssim_region == "frame":
        return None
    return body_box_masks(kps.flatten(0, 1), cfg.resolution)


@dataclass
class StepOutput:
    """One GAN step's losses (detached device scalars) and the clip it saw (for samples)."""

    losses: dict[str, torch.Tensor]
    maps: torch.Tensor   # B x L x C x H x W in [0, 1]
    fakes: torch.Tensor  # B x L x 3 x H x W in [-1, 1]
    real: torch.Tensor   # B x L x 3 x H x W in [-1, 1]


def gan_step(run: TrainRun, g_step: nn.Module, d_step: nn.Module,
             batch: dict[str, torch.Tensor]) -> StepOutput:
    """One generator update then (with `cfg.adversarial`) one discriminator update on a batch
    of clips."""
    cfg, device, discs = run.cfg, run.device, run.discs
    # Set every step (not only on change): a resumed optimizer state carries the lr it was saved
    # with, and the schedule is a function of the step alone.
    for opt in (run.opt_g, run.opt_d):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, run.step)
    real, kps, maps = clip_batch_to_device(batch, run.pose_map_config, device)  # B x L x ...
    b, n = real.shape[:2]
    teacher = torch.rand(b, n - 1, device=device) < teacher_prob(cfg, run.step)
    follow = follow_batch(batch, device)
    refs = None if run.reference is None else run.reference.clips(kps, batch["indices"], follow)

    # ---- generator step (discriminators frozen, used without their DDP wrapper) ----
    with run.autocast():
        fakes, gate_last = g_step(maps, kps, real, teacher, refs, follow)  # B x L x 3 x H x W
    # Flat views: every frame of every clip, and every consecutive pair (a -> b).
    real_f, fake_f, maps_f = real.flatten(0, 1), fakes.flatten(0, 1), maps.flatten(0, 1)
    fake_a, fake_b = fakes[:, :-1].flatten(0, 1), fakes[:, 1:].flatten(0, 1)
    maps_a, maps_b = maps[:, :-1].flatten(0, 1), maps[:, 1:].flatten(0, 1)
    fake_all = fake_f.float()  # losses in fp32 whatever the autocast dtype
    fl = float_features
    weights = None  # uniform: the plain L1
    if cfg.person_weight != 1.0 and (plates := frame_plates(run, follow)) is not None:
        weights = person_weights(real_f, plates, cfg.person_weight)
    lg: dict[str, torch.Tensor] = {
        "l1": L.l1_loss(fake_all, real_f, weights) * cfg.weight_l1,
        "ssim": L.ssim_loss(fake_all, real_f, ssim_weights(cfg, kps)) * cfg.weight_ssim,
    }
    if cfg.adversarial:
        discs.requires_grad_(False)
        with run.autocast():
            f_out = discs.frame(torch.cat([maps_f, maps_f]), torch.cat([real_f, fake_f]))
            t_out = discs.temporal(fake_a, fake_b, maps_a, maps_b)
        f_real, f_fake = split_features(f_out, b * n)
        lg["gan"] = L.gan_loss_g(fl(f_fake), cfg.gan_mode) * cfg.weight_gan
        lg["fm"] = L.feature_matching_loss(fl(f_real), fl(f_fake)) * cfg.weight_fm
        lg["tgan"] = L.gan_loss_g(fl(t_out), cfg.gan_mode) * cfg.weight_temporal
    if run.perceptual is not None:
        lg["vgg"] = run.perceptual(fake_all, real_f) * cfg.weight_perceptual
    loss_g = sum(lg.values())
    run.opt_g.zero_grad(set_to_none=True)
    run.scaler_g.scale(loss_g).backward()
    run.scaler_g.step(run.opt_g)
    run.scaler_g.update()
    ld: dict[str, torch.Tensor] = {}
    if cfg.adversarial:
        ld = discriminator_step(run, d_step, maps, real, fake_f.detach(), fake_a.detach(),
                                fake_b.detach())
    run.step += 1
    losses = {k: v.detach().float() for k, v in {**lg, **ld, "gate": gate_last.float().mean()}.items()}
    return StepOutput(losses, maps, fakes, real)


def discriminator_step(run: TrainRun, d_step: nn.Module, maps: torch.Tensor, real: torch.Tensor,
                       fake_f: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
                       ) -> dict[str, torch.Tensor]:
    """One update of the frame and temporal discriminators on a batch of clips.

    maps: B x L x C x H x W pose maps; real: B x L x 3 x H x W in [-1, 1]; fake_f: (B*L) x 3 x
    H x W the generated frames, fake_a / fake_b: (B*(L-1)) x 3 x H x W the first and second of
    each consecutive generated pair (all detached). Returns the two hinge/LSGAN losses."""
    cfg = run.cfg
    run.discs.requires_grad_(True)  # frozen for the generator's step
    b, n = real.shape[:2]
    real_f, maps_f = real.flatten(0, 1), maps.flatten(0, 1)
    real_a, real_b = real[:, :-1].flatten(0, 1), real[:, 1:].flatten(0, 1)
    maps_a, maps_b = maps[:, :-1].flatten(0, 1), maps[:, 1:].flatten(0, 1)
    fl = float_features
    with run.autocast():
        f_out, t_out = d_step(
            torch.cat([maps_f, maps_f]), torch.cat([real_f, fake_f]),
            torch.cat([real_a, fake_a]), torch.cat([real_b, fake_b]),
            torch.cat([maps_a, maps_a]), torch.cat([maps_b, maps_b]))
    fr, ff = split_features(f_out, b * n)
    tr, tf = split_features(t_out, b * (n - 1))
    ld = {"d": L.gan_loss_d(fl(fr), fl(ff), cfg.gan_mode),
          "dt": L.gan_loss_d(fl(tr), fl(tf), cfg.gan_mode)}
    run.opt_d.zero_grad(set_to_none=True)
    run.scaler_d.scale(ld["d"] + ld["dt"]).backward()
    run.scaler_d.step(run.opt_d)
    run.scaler_d.update()
    return ld


class LossMeter:
    """Losses summed on the device (no GPU sync per step), averaged across ranks at log time."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += 1

    def mean(self, dist: D.DistInfo, device: torch.device) -> dict[str, float]:
        """The mean since the last call, across ranks; resets."""
        out = D.mean_across(dist, {k: float(v) / self.count for k, v in self.sums.items()}, device)
        self.sums, self.count = {}, 0
        return out


def log_sample_save(run: TrainRun, out: StepOutput, meter: LossMeter, bar: Any) -> None:
    """After a step: losses to the bar and TensorBoard every log_every steps, a sample grid
    (pose | output | real) every sample_every steps, a checkpoint every save_every steps."""
    cfg, step, tb = run.cfg, run.step, run.tb
    if step % cfg.log_every == 0 or step == cfg.steps:
        run.losses = meter.mean(run.dist, run.device)
        if bar is not None:
            bar.set_postfix({k: f"{v:.3f}" for k, v in run.losses.items()}, refresh=False)
        if tb is not None:
            for k, v in run.losses.items():
                tb.add_scalar(f"loss/{k}", v, step)
            tb.add_scalar("train/teacher_forcing", teacher_prob(cfg, step), step)
            tb.add_scalar("train/lr", learning_rate(cfg, step), step)
    if bar is not None:
        bar.update(1)
    if run.is_main and cfg.sample_every and step % cfg.sample_every == 0:
        grid = image_grid([pose_preview(out.maps[:, -1]), out.fakes[:, -1], out.real[:, -1]],
                          rows=min(4, out.real.shape[0]))
        write_png(run.paths.samples / f"step_{step:07d}.png", grid)
        if tb is not None:
            tb.add_image("samples", grid, step, dataformats="HWC")
    if run.is_main and cfg.save_every and step % cfg.save_every == 0:
        run.save_checkpoint()


def train_generator(run: TrainRun) -> None:
    """The main loop: GAN steps until `cfg.steps` or the time limit (checkpoint on Ctrl-C)."""
    cfg, dist, device = run.cfg, run.dist, run.device
    batches = clip_batches(run)
    g_step = _ddp(ClipStep(run.gen, run.flow_config), run)
    d_step = _ddp(run.discs, run)
    # A CPU run with --minutes: its end step and LR decay fit the budget (measured as it goes);
    # any other run: its step time measured and what fits said (nothing changed).
    planner, run.cfg = BudgetPlanner.start(
        cfg, run.step, agree=lambda end: D.mean_across(dist, {"end": float(end)}, device)["end"],
        verbose=run.is_main)
    # --minutes limits this run (a resumed run gets its own time; the summary counts the total).
    deadline = None if cfg.minutes is None else time.monotonic() + cfg.minutes * 60
    meter = LossMeter()
    bar = progress(total=run.cfg.steps, desc="train", unit="it") if run.is_main else None
    if bar is not None:
        bar.n = min(run.step, cfg.steps)
        bar.refresh()
    stopped_by_time = False
    run.gen.train()
    run.discs.train()
    try:
        while run.step < run.cfg.steps:
            if deadline is not None and D.any_flag(dist, time.monotonic() >= deadline, device):
                stopped_by_time = True
                break
            out = gan_step(run, g_step, d_step, next(batches))
            planned = planner.after_step(run.step)
            if planned is not None:
                run.cfg = planned
                if bar is not None:
                    bar.total = planned.steps
            meter.add(out.losses)
            log_sample_save(run, out, meter, bar)
    except KeyboardInterrupt:
        if run.is_main and run.step > 0:
            run.save_checkpoint()
            log.warning("interrupted at step %d; checkpoint saved (continue with --resume)", run.step)
        raise
    finally:
        if bar is not None:
            bar.close()
    if stopped_by_time:
        log.info("time limit of %s minutes reached at step %d", cfg.minutes, run.step)
    if meter.count:  # losses since the last log (a run stopped by the time limit)
        run.losses = meter.mean(dist, device)


def finish(run: TrainRun, face: nn.Module | None, face_side: int | None) -> TrainResult:
    """Last checkpoint, the result, and (rank 0) the validation rollout and the bundle."""
    if run.is_main:
        run.save_checkpoint()
    if run.tb is not None:
        run.tb.flush()
    result = TrainResult(run.paths.output, run.step, run.face_step, run.minutes(), run.losses,
                         None, str(run.device), run.dist.world_size,
                         float(sum(p.detach().double().sum() for p in run.gen.parameters())))
    if run.is_main:
        result.val_l1 = write_subject(run, result, face, face_side)
        if run.tb is not None:
            if result.val_l1 is not None:
                run.tb.add_scalar("val/l1_rollout", result.val_l1, run.step)
            run.tb.close()
    D.barrier(run.dist)
    return result


@contextmanager
def plate_segmenter(cfg: TrainConfig) -> Iterator[Segmenter | None]:
    """The person segmentation the plates' masks are joined with (`cfg.person_segmentation`),
    or None: not asked for, or MediaPipe missing (logged; the skeleton mask alone is used)."""
    with ExitStack() as stack:
        segmenter = None
        if cfg.person_segmentation:
            try:
                segmenter = stack.enter_context(PersonSegmenter())
            except MissingDependencyError as e:
                log.warning("background plate without the person's segmentation (%s)", e)
        yield None if segmenter is None else segmenter.mask


def background_plate(cfg: TrainConfig, data: TrainData, gen: PoseGenerator) -> BackgroundPlate:
    """Estimate the clean background plate from the TRAINING frames (the held-out block never
    votes) and give it to the generator. Deterministic, so every DDP rank and every resumed run
    computes the same plate (a resumed run then loads the checkpoint's copy anyway)."""
    pairs = data.split.pairs
    frames = np.union1d(pairs, pairs - 1)
    try:
        with plate_segmenter(cfg) as segmenter:
            plate = estimate_background_plate(data.cache.frames, data.cache.poses,
                                              get_skeleton(data.seq.skeleton).bones, frames,
                                              segmenter=segmenter)
    except ValueError as e:
        raise InputError(cfg.video, f"cannot estimate the background ({e})",
                         "train with --no-background-plate") from None
    log.info("background plate from %d frames (%d segmented): %.1f%% inpainted, residual "
             "%.1f/255", plate.frames_used, plate.frames_segmented, 100 * plate.inpainted_fraction,
             plate.residual)
    if not plate.looks_static:
        log.warning("%s: the background changes between frames (%s): a moving camera or changing "
                    "light? Consider --no-background-plate", Path(cfg.video).name, plate.motion_note())
    gen.set_background(plate.image)
    return plate


def scene_plate(cfg: TrainConfig, data: TrainData) -> BackgroundPlate | None:
    """The background plate at the camera's resolution, from the training frames (the full
    output frame is composed on it, `rtmotion.pipeline.canvas`; a follow crop's generator is
    given its cuts); None (logged) when it cannot be made: the bundle then scales the model frame
    onto the output alone. A follow-crop run is warned here, before training, when the camera
    moves (`camera_moves_warning`)."""
    pairs = data.split.pairs
    try:
        with plate_segmenter(cfg) as segmenter:
            plate = estimate_scene_plate(cfg.video, data.seq.keypoints,
                                         get_skeleton(data.seq.skeleton).bones,
                                         np.union1d(pairs, pairs - 1), segmenter=segmenter)
    except ValueError as e:
        log.warning("no full-resolution background plate (%s): the output frame is the model "
                    "frame scaled up", e)
        return None
    log.info("full-resolution background plate from %d frames (%d segmented, %dx%d): %.1f%% "
             "inpainted", plate.frames_used, plate.frames_segmented, plate.image.shape[1],
             plate.image.shape[0], 100 * plate.inpainted_fraction)
    if data.follow is not None and not plate.looks_static:
        log.warning("%s", camera_moves_warning(cfg.video, plate))
    return plate


def camera_moves_warning(video: str | Path, plate: BackgroundPlate) -> str:
    """The warning for a follow-crop run whose frames do not agree with their room's plate.

    The person is drawn on the room's plate and the generator learns where the room is: with a
    camera that pans or zooms the plate is right in few frames, and no training time fixes that
    (a handheld clip in a dark studio: held-out body SSIM 0.51 after 20 minutes, while the
    frames it trained on scored 0.88; docs/BENCHMARKS.md "... a moving camera named")."""
    return (f"{Path(video).name}: THE CAMERA MOVES (or the light changes): {plate.motion_note()}. "
            "rtmotion learns a person in a fixed room (Everybody Dance Now's setting); a camera "
            "that pans, zooms, shakes or cuts to another view puts the room somewhere else in "
            "many frames, and the subject will draw a blurred, misplaced room and person however "
            "long it trains. Film the target with the camera held still (a tripod, or the phone "
            "propped up)")


def keyframe_detail_of(cfg: TrainConfig, data: TrainData, keyframes: KeyframeSet | None
                       ) -> KeyframeDetail | None:
    """The keyframes' boxes at the camera's resolution (`rtmotion.subject.keyframe_detail`: the
    output frame's full-resolution detail), cut from the video as their model-frame images were
    (the same box each); None (logged) without keyframes or when a frame cannot be read."""
    if keyframes is None:
        return None
    boxes = keyframe_boxes(keyframes, data.crop, None if data.follow is None else data.follow.size)
    try:
        detail = keyframe_detail_from_frames(
            ((f.index, f.image) for f in frames_at(cfg.video, keyframes.frames.tolist())),
            keyframes.frames, boxes)
    except (InputError, ValueError) as e:
        detail, why = None, str(e)
    else:
        why = "a keyframe's frame could not be decoded"
    if detail is None:
        log.warning("no full-resolution keyframe detail (%s): the person in the output frame is "
                    "the model frame enlarged", why)
        return None
    log.info("keyframe detail: %d keyframes at %dx%d (the output frame's full-resolution detail)",
             len(detail), *detail.size)
    return detail


def follow_placer_of(data: TrainData, resolution: tuple[int, int]) -> FollowPlacer | None:
    """Inference's placer of a follow-crop run (None: the fixed crop)."""
    if data.follow is None or data.scene_plate is None:
        return None
    return FollowPlacer(data.crop, data.follow, data.scene_plate, resolution)


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but a broken install must not stop training
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(folder))


def synthetic_origin_fields(video_info: VideoInfo, seq: PoseSequence) -> dict[str, str]:
    """{'origin', 'background'} when the target video is a synthetic dancer, else {}.

    Read from the video's container tag (written by `rtmotion synth`) or, failing that, from a
    ground-truth pose file's source; `rtmotion eval` uses it to re-render ground truth.
    """
    found = SyntheticOrigin.from_tag(str(video_info.tags.get("comment", "")))
    if found is None:
        found = SyntheticOrigin.parse(seq.source)
    if found is None:
        return {}
    out = {"origin": found.source_text()}
    if found.background:
        out["background"] = found.background
    return out


def trained_pose_file(cfg: TrainConfig, paths: TrainPaths) -> str | None:
    """Absolute path of the pose file training used: --poses, or the MediaPipe extraction cached
    in the work dir (`extract_poses_cached`: cache/extracted.npz); None if neither is a file."""
    pf = Path(cfg.poses) if cfg.poses else paths.cache / "extracted.npz"
    return str(pf.resolve()) if pf.is_file() else None


def write_subject(run: TrainRun, result: TrainResult, face: nn.Module | None,
                  face_side: int | None) -> float | None:
    """Roll out over the held-out block, make the preview and write the bundle. Returns val L1."""
    cfg, data, pmc = run.cfg, run.data, run.pose_map_config
    cache, split = data.cache, data.split
    v0, v1 = split.val_range
    if v1 - v0 < 2:  # no held-out block: preview on the last training frames
        v0, v1 = max(0, cache.poses.shape[0] - 32), cache.poses.shape[0]
    n = min(v1 - v0, 48)
    poses = cache.poses[v0:v0 + n]
    fixed_poses = data.fixed_poses()
    real = torch.from_numpy(np.ascontiguousarray(np.asarray(cache.frames[v0:v0 + n]).transpose(0, 3, 1, 2)))
    real = real.float() / 127.5 - 1.0
    keyframes = None if run.reference is None else run.reference.keyframes
    fake = rollout(run.gen, fixed_poses[v0:v0 + n], pmc, run.flow_config, run.device, keyframes,
                   follow_placer_of(data, cfg.resolution))
    ok = torch.from_numpy(usable_frames(poses, cfg.min_joints))
    val_l1 = float((fake[ok] - real[ok]).abs().mean()) if bool(ok.any()) else None
    k = max(1, min(cfg.preview_frames, n))
    pick = np.linspace(0, n - 1, k).round().astype(int)
    maps = pose_maps_torch(torch.from_numpy(np.ascontiguousarray(poses[pick])).to(run.device), pmc).cpu()
    # One row per picked frame: pose | generated | real.
    preview = image_grid([pose_preview(maps), fake[pick], real[pick]], rows=k)
    usable = usable_frames(cache.poses, cfg.min_joints)
    stats = SubjectPoseStats.from_keypoints(fixed_poses[usable], data.seq.joint_names, cfg.resolution,
                                            data.seq.skeleton)
    vi = data.video_info
    source = {"path": str(Path(cfg.video).resolve()), "name": Path(cfg.video).name,
              "width": vi.width, "height": vi.height, "fps": str(vi.fps),
              "frame_count": int(cache.poses.shape[0]), "pose_source": data.pose_source,
              # which estimator made the training poses: eval drives held-out frames with the same
              "pose_extractor": data.seq.extractor or data.pose_source,
              # the poses trained on (given or extracted): eval drives held-out frames with them
              "pose_file": trained_pose_file(cfg, run.paths)}
    source.update(synthetic_origin_fields(vi, data.seq))
    training = {
        "steps": result.steps, "face_steps": result.face_steps,
        "minutes": round(result.minutes, 3), "device": result.device,
        "world_size": result.world_size, "preset": cfg.preset, "batch_size": cfg.batch_size,
        "lr": cfg.lr, "seed": cfg.seed, "amp": cfg.amp,
        "final_losses": {k2: round(v, 5) for k2, v in result.losses.items()},
        "val_l1_rollout": None if val_l1 is None else round(val_l1, 5),
        "val_frames_scored": int(ok.sum()),
        "train_pairs": int(len(split.pairs)), "usable_frames": int(split.usable),
        "clip_length": cfg.clip_length, "max_gap": cfg.max_gap,
        "person_weight": cfg.person_weight,
        "weight_ssim": cfg.weight_ssim, "ssim_region": cfg.ssim_region,
        "keyframes": cfg.keyframes, "keyframe_exclude": cfg.keyframe_exclude,
        "d_channels": cfg.d_channels, "workers": cfg.workers, "adversarial": cfg.adversarial,
        "lr_decay_steps": cfg.lr_decay_steps, "fitted_to_minutes": cfg.fit_minutes,
        "background_plate": None if run.plate is None else run.plate.summary(),
        # how the camera-resolution plate was made (follow crop); its residual and changed
        # share say whether the camera moved (`BackgroundPlate.looks_static`)
        "scene_plate": data.scene_plate_summary,
        # each run of a resumed training (the options above are the last run's)
        "runs": run.runs(),
    }
    name = cfg.name or run.paths.output.resolve().name
    # a fixed crop's output frame is composed on the room at the camera's resolution too
    fixed_plate = None if data.follow is not None or run.plate is None else scene_plate(cfg, data)
    fixed_scene = None if fixed_plate is None else fixed_plate.image
    write_bundle(run.paths.output, name=name, resolution=cfg.resolution, crop=data.crop,
                 pose_map_config=pmc, pose_flow_config=run.flow_config, generator=run.gen,
                 stats=stats, source_video=source, validation_range=split.val_range,
                 training=training, preview=preview, face=face, face_side=face_side,
                 background=None if run.plate is None else run.plate.image, keyframes=keyframes,
                 scene_plate=data.scene_plate if data.follow is not None else fixed_scene,
                 follow_crop=data.follow, keyframe_detail=keyframe_detail_of(cfg, data, keyframes))
    log.info("subject bundle written: %s (%d steps, %.1f min, validation L1 %s)", run.paths.output,
             result.steps, result.minutes, "n/a" if val_l1 is None else f"{val_l1:.4f}")
    return val_l1
