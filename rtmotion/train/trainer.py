"""`train(cfg)`: target video -> subject bundle (nanoGPT-style: one short loop).

Flow:
1. poses: `cfg.poses` (ground truth or a precomputed extraction) or MediaPipe extraction,
   cached; the ONE crop box of the video (`compute_crop_box`); the dataset cache (frames cropped
   and resized, poses in crop pixels); the split (training pairs, held-out last block).
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
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rtmotion.devices import resolve_device
from rtmotion.errors import CheckpointError, InputError
from rtmotion.train.config import TrainConfig
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.subject.crop import CropBox

log = logging.getLogger(__name__)


@dataclass
class TrainPaths:
    """Where a run writes (output = the bundle; work = training state)."""

    output: Path
    work: Path
    cache: Path

    @property
    def checkpoint(self) -> Path:
        return self.work / "checkpoints" / "last.pt"

    @property
    def samples(self) -> Path:
        return self.work / "samples"

    @property
    def tensorboard(self) -> Path:
        return self.work / "tb"

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> TrainPaths:
        out = Path(cfg.output)
        work = Path(cfg.work_dir) if cfg.work_dir else out
        cache = Path(cfg.cache_dir) if cfg.cache_dir else work / "cache"
        return cls(out, work, cache)


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
    from rtmotion.atomic import check_writable
    from rtmotion.errors import OutputError

    paths = TrainPaths.from_config(cfg)
    if paths.output.exists() and not paths.output.is_dir():
        raise OutputError(paths.output, "exists and is not a folder", "give a folder for the subject")
    for p in (paths.output / "subject.json", paths.checkpoint, paths.cache / "key.json",
              paths.samples / "x.png"):
        check_writable(p)
    return paths


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: bf16 on CUDA by default, none on CPU (CPU bf16 is slower there)."""
    mode = cfg.amp
    if mode == "auto":
        mode = "bf16" if device.type == "cuda" else "off"
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[mode]


# ---- flow + warp of the previous frame ---------------------------------------------------------

def render_maps(kp: torch.Tensor, pmc: Any) -> torch.Tensor:
    """B x K x 3 keypoints (crop pixels) -> B x C x H x W maps in [0, 1] on kp's device."""
    from rtmotion.kernels.render_torch import render_pose_maps_torch

    return render_pose_maps_torch(kp, pmc)


def clip_batch_to_device(batch: dict[str, torch.Tensor], pmc: Any, device: torch.device
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A `ClipDataset` batch on `device`, ready for `ClipStep`.

    Returns (real, kps, maps): real B x L x 3 x H x W in [-1, 1]; kps B x L x K x 3 in crop
    pixels; maps B x L x C x H x W pose maps in [0, 1].
    """
    from rtmotion.train.dataset import to_model_range

    clip = batch["frames"].to(device, non_blocking=True)  # B x L x 3 x H x W uint8
    b, n = clip.shape[:2]
    real = to_model_range(clip.flatten(0, 1)).view(b, n, *clip.shape[2:])
    kps = batch["keypoints"].to(device)
    maps = render_maps(kps.flatten(0, 1), pmc)  # (B*L) x C x H x W
    return real, kps, maps.view(b, n, *maps.shape[1:])


class ClipStep(nn.Module):
    """The generator's sequential steps over a batch of clips, in one forward (one DDP call).

    forward(maps, kps, real, teacher) -> (fakes, gate_last)
        maps: B x L x C x H x W pose maps in [0, 1]; kps: B x L x K x 3 crop pixels;
        real: B x L x 3 x H x W in [-1, 1]; teacher: bool B x (L-1), True where step l takes
        the REAL frame l-1 as its previous frame instead of its own output.
        fakes: B x L x 3 x H x W in [-1, 1]; gate_last: B x 1 x H x W, the last frame's gate.
    Frame 0 is made from its pose alone; frame l from pose l and frame l-1 (generated, or real
    under teacher forcing) warped to pose l. EDN's sequential training: a previous output is an
    input, not a path for gradients (detached).
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, maps: torch.Tensor, kps: torch.Tensor, real: torch.Tensor,
                teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake, gate, _ = self.generator(maps[:, 0], None)  # B x 3 x H x W, no previous frame
        fakes = [fake]
        for i in range(1, maps.shape[1]):
            prev = torch.where(teacher[:, i - 1].view(-1, 1, 1, 1), real[:, i - 1],
                               fakes[-1].detach().to(real.dtype))
            with torch.no_grad():
                warped, mask = warp_previous(prev, kps[:, i - 1], kps[:, i])
            fake, gate, _ = self.generator(maps[:, i], warped, mask)
            fakes.append(fake)
        return torch.stack(fakes, dim=1), gate


class Discriminators(nn.Module):
    """Frame PatchGAN + temporal PatchGAN in one module (one DDP wrapper, one backward)."""

    def __init__(self, frame_d: nn.Module, temporal_d: nn.Module) -> None:
        super().__init__()
        self.frame = frame_d
        self.temporal = temporal_d

    def forward(self, maps: torch.Tensor, frames: torch.Tensor, pair_a: torch.Tensor,
                pair_b: torch.Tensor, maps_a: torch.Tensor, maps_b: torch.Tensor) -> tuple[Any, Any]:
        return self.frame(maps, frames), self.temporal(pair_a, pair_b, maps_a, maps_b)


def _split(feats: list[list[torch.Tensor]], n: int) -> tuple[list[list[torch.Tensor]], ...]:
    """Features of a batch [first n; rest] -> (features of the first n, of the rest)."""
    return ([[f[:n] for f in s] for s in feats], [[f[n:] for f in s] for s in feats])


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Adam learning rate at `step`: `cfg.lr`, then linear to 0 over the last
    `cfg.lr_decay_steps` of `cfg.steps` (pix2pixHD's schedule)."""
    if cfg.lr_decay_steps <= 0:
        return cfg.lr
    return cfg.lr * min(1.0, max(0.0, (cfg.steps - step) / cfg.lr_decay_steps))


def teacher_prob(cfg: TrainConfig, step: int) -> float:
    """Teacher-forcing probability at `step`: linear from cfg.teacher_forcing to 0."""
    if cfg.teacher_forcing_steps <= 0:
        return 0.0
    return cfg.teacher_forcing * max(0.0, 1.0 - step / cfg.teacher_forcing_steps)


# ---- images ------------------------------------------------------------------------------------

def pose_preview(maps: torch.Tensor, skeleton: str = "body25") -> torch.Tensor:
    """B x C x H x W maps in [0, 1] -> B x 3 x H x W in [-1, 1]: bones in their overlay colours."""
    from rtmotion.pose.draw import bone_colors
    from rtmotion.pose.skeleton import get_skeleton

    cols = [tuple(c) for c in bone_colors(get_skeleton(skeleton))]
    cols += [(255, 255, 255)] * (maps.shape[1] - len(cols))
    cols_t = torch.tensor(cols[: maps.shape[1]], dtype=torch.float32, device=maps.device) / 255.0
    rgb = (maps.float()[:, :, None] * cols_t[None, :, :, None, None]).amax(dim=1)  # B x 3 x H x W
    return rgb * 2.0 - 1.0


def image_grid(columns: list[torch.Tensor], rows: int) -> np.ndarray:
    """Columns of B x 3 x H x W images in [-1, 1] -> uint8 (rows*H, len(columns)*W, 3) grid."""
    from rtmotion.train.dataset import to_uint8

    cols = [to_uint8(c[:rows]) for c in columns]  # each rows x H x W x 3
    return np.concatenate([np.concatenate(list(c), axis=0) for c in cols], axis=1)


# ---- rollout (inference-style) -----------------------------------------------------------------

@torch.no_grad()
def rollout(generator: nn.Module, poses: np.ndarray, pmc: Any, device: torch.device
            ) -> torch.Tensor:
    """Generate frames one by one as inference does: each frame from its own previous output
    warped to the new pose (the first with none). poses: (N, K, 3) crop pixels.
    Returns N x 3 x H x W float32 in [-1, 1] on CPU."""
    generator.eval()
    outs = []
    prev = None
    kp_all = torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float32)).to(device)
    for t in range(len(poses)):
        kp = kp_all[t:t + 1]
        maps = render_maps(kp, pmc)
        if prev is None:
            frame, _, _ = generator(maps, None)
        else:
            warped, mask = warp_previous(prev, kp_all[t - 1:t], kp)
            frame, _, _ = generator(maps, warped, mask)
        prev = frame.float()
        outs.append(prev.cpu())
    return torch.cat(outs, dim=0)


# ---- the run -----------------------------------------------------------------------------------

@dataclass
class _Data:
    seq: Any  # PoseSequence (source pixels)
    pose_source: str
    crop: CropBox
    cache: Any  # CachedData
    split: Any  # Split
    video_info: Any


def _prepare_data(cfg: TrainConfig, paths: TrainPaths, is_main: bool) -> _Data:
    from rtmotion.io import VideoInfo
    from rtmotion.pose.posefile import PoseSequence
    from rtmotion.train.cache import build_cache, extract_poses_cached, file_fingerprint
    from rtmotion.subject.crop import compute_crop_box, usable_frames
    from rtmotion.train.dataset import make_split

    info = VideoInfo.from_path(cfg.video)
    if cfg.poses:
        seq = PoseSequence.load(cfg.poses)
        fp = file_fingerprint(cfg.poses)
        pose_source = f"file:{fp['path']}"
    else:
        seq = extract_poses_cached(cfg.video, paths.cache, show_progress=is_main)
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
        make_split(seq.keypoints, cfg.val_fraction, cfg.min_pose_frames, cfg.min_joints, cfg.video)
    w, h = cfg.resolution
    crop = compute_crop_box(seq.keypoints, info.size, aspect=w / h, margin=cfg.crop_margin, usable=ok)
    cache = build_cache(cfg.video, seq, crop, cfg.resolution, paths.cache, pose_source,
                        show_progress=is_main)
    split = make_split(cache.poses, cfg.val_fraction, cfg.min_pose_frames, cfg.min_joints, cfg.video)
    return _Data(seq, pose_source, crop, cache, split, info)


def _infinite(loader: Any, sampler: Any, start_epoch: int):
    epoch = start_epoch
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def train(cfg: TrainConfig) -> TrainResult:
    """Train a subject from `cfg.video` and write the bundle to `cfg.output` (see module doc).

    Raises:
        OutputError: an output folder is unwritable (before any work).
        InputError: bad video / pose file, too few usable pose frames.
        CheckpointError: --resume from a checkpoint of another model / version / damaged.
    """
    from rtmotion.models.config import generator_preset
    from rtmotion.pose.render import PoseMapConfig
    from rtmotion.train import distributed as D

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

        # 1. data: rank 0 first (extraction + cache), then the others read the caches.
        if dist.is_main:
            data = _prepare_data(cfg, paths, True)
        D.barrier(dist)
        if not dist.is_main:
            data = _prepare_data(cfg, paths, False)
        w, h = cfg.resolution
        pmc = PoseMapConfig(size=(w, h))
        try:
            gcfg = generator_preset(cfg.preset, (w, h), pose_channels=pmc.num_channels,
                                    background_plate=cfg.background_plate)
        except ValueError as e:
            raise InputError(None, f"--preset {cfg.preset} / --resolution {w}x{h}: {e}") from None
        return _run(cfg, paths, device, dist, data, pmc, gcfg)
    finally:
        D.cleanup_distributed(dist)


def _run(cfg: TrainConfig, paths: TrainPaths, device: torch.device, dist: Any, data: _Data,
         pmc: Any, gcfg: Any) -> TrainResult:
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

    from rtmotion.models import losses as L
    from rtmotion.models.config import DiscriminatorConfig
    from rtmotion.models.discriminator import MultiScalePatchDiscriminator, TemporalDiscriminator
    from rtmotion.models.generator import PoseGenerator
    from rtmotion.progress import progress
    from rtmotion.train import distributed as D
    from rtmotion.subject.bundle import write_png
    from rtmotion.train.checkpoint import load_checkpoint, save_checkpoint
    from rtmotion.train.dataset import ClipDataset, clip_ends

    is_main = dist.is_main
    dcfg = DiscriminatorConfig(num_scales=cfg.d_scales, base_channels=cfg.d_channels)
    gen = PoseGenerator(gcfg).to(device)
    frame_d = MultiScalePatchDiscriminator(pmc.num_channels, dcfg)
    temporal_d = TemporalDiscriminator(pmc.num_channels, dcfg, use_pose=True)
    discs = Discriminators(frame_d, temporal_d).to(device)
    plate = _background_plate(cfg, data, gen) if gcfg.background_plate else None
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(discs.parameters(), lr=cfg.lr, betas=betas)
    adt = amp_dtype(cfg, device)
    use_scaler = adt == torch.float16
    scaler_g = torch.amp.GradScaler(device.type, enabled=use_scaler)
    scaler_d = torch.amp.GradScaler(device.type, enabled=use_scaler)
    perceptual = L.PerceptualLoss(cfg.perceptual_weights).to(device) if cfg.perceptual_weights else None

    step, face_step, trained_s = 0, 0, 0.0
    ckpt_state: dict[str, Any] | None = None
    if cfg.resume:
        if paths.checkpoint.is_file():
            ckpt_state = load_checkpoint(paths.checkpoint, gcfg.to_dict())
            try:
                gen.load_state_dict(ckpt_state["generator"])
                discs.load_state_dict(ckpt_state["discriminators"])
                opt_g.load_state_dict(ckpt_state["opt_g"])
                opt_d.load_state_dict(ckpt_state["opt_d"])
                if use_scaler and ckpt_state.get("scaler_g"):
                    scaler_g.load_state_dict(ckpt_state["scaler_g"])
                    scaler_d.load_state_dict(ckpt_state["scaler_d"])
            except (KeyError, RuntimeError, ValueError) as e:
                raise CheckpointError(paths.checkpoint, f"does not fit this model ({str(e)[:160]})",
                                      "train without --resume") from None
            step = int(ckpt_state["step"])
            face_step = int(ckpt_state.get("face_step", 0))
            trained_s = float(ckpt_state.get("trained_seconds", 0.0))
            log.info("resumed from %s at step %d", paths.checkpoint, step)
        else:
            log.info("--resume: no checkpoint at %s yet, starting from step 0", paths.checkpoint)

    ends = clip_ends(data.split.pairs, cfg.clip_length)
    if len(ends) == 0:
        raise InputError(cfg.video, f"no {cfg.clip_length} consecutive frames with a usable pose "
                         "in the training part", "use a lower --clip-length")
    ds = ClipDataset(data.cache.folder / "frames.npy", data.cache.poses, ends, cfg.clip_length)
    bs = max(1, min(cfg.batch_size, len(ds) // dist.world_size))
    if dist.enabled:
        sampler = DistributedSampler(ds, dist.world_size, dist.rank, shuffle=True, seed=cfg.seed,
                                     drop_last=True)
    else:
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(cfg.seed + step))
    loader = DataLoader(ds, batch_size=bs, sampler=sampler, num_workers=cfg.workers,
                        drop_last=True, pin_memory=device.type == "cuda",
                        persistent_workers=cfg.workers > 0)
    if len(loader) == 0:
        raise InputError(cfg.video, f"{len(ds)} training pairs are too few for {dist.world_size} "
                         "processes", "use a longer video or fewer processes")
    per_epoch = len(loader)
    batches = _infinite(loader, sampler, step // per_epoch)

    g_step = DDP(ClipStep(gen), device_ids=[device.index] if device.type == "cuda" else None) \
        if dist.enabled else ClipStep(gen)
    d_step = DDP(discs, device_ids=[device.index] if device.type == "cuda" else None) \
        if dist.enabled else discs

    tb = _tensorboard(paths.tensorboard) if is_main else None
    autocast = (lambda: torch.autocast(device.type, dtype=adt)) if adt else nullcontext
    # --minutes limits this run (a resumed run gets its own time; the summary counts the total).
    deadline = None if cfg.minutes is None else time.monotonic() + cfg.minutes * 60
    t_start = time.monotonic()
    last_logged: dict[str, float] = dict(ckpt_state.get("losses", {})) if ckpt_state else {}
    acc: dict[str, torch.Tensor] = {}
    n_acc = 0
    extra_state: dict[str, Any] = {}

    def state(extra: dict[str, Any] | None = None) -> dict[str, Any]:
        s = {
            "step": step, "face_step": face_step,
            "trained_seconds": trained_s + time.monotonic() - t_start,
            "config": cfg.to_dict(), "generator_config": gcfg.to_dict(),
            "pose_map_config": {"size": list(pmc.size)},
            "crop": data.crop.to_dict(),
            "generator": gen.state_dict(), "discriminators": discs.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "scaler_g": scaler_g.state_dict() if use_scaler else None,
            "scaler_d": scaler_d.state_dict() if use_scaler else None,
            "losses": last_logged,
        }
        s.update(extra_state)
        s.update(extra or {})
        return s

    bar = progress(total=cfg.steps, desc="train", unit="it") if is_main else None
    if bar is not None:
        bar.n = min(step, cfg.steps)
        bar.refresh()
    stopped_by_time = False
    gen.train()
    discs.train()
    try:
        while step < cfg.steps:
            if deadline is not None and D.any_flag(dist, time.monotonic() >= deadline, device):
                stopped_by_time = True
                break
            batch = next(batches)
            # Set every step (not only on change): a resumed optimizer state carries the lr it
            # was saved with, and the schedule is a function of the step alone.
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = learning_rate(cfg, step)
            real, kps, maps = clip_batch_to_device(batch, pmc, device)  # B x L x ...
            b, n = real.shape[:2]
            teacher = torch.rand(b, n - 1, device=device) < teacher_prob(cfg, step)

            # ---- generator step (discriminators frozen, used without their DDP wrapper) ----
            with autocast():
                fakes, gate_last = g_step(maps, kps, real, teacher)  # B x L x 3 x H x W
            # Flat views: every frame of every clip, and every consecutive pair (a -> b).
            real_f, fake_f, maps_f = real.flatten(0, 1), fakes.flatten(0, 1), maps.flatten(0, 1)
            real_a, real_b = real[:, :-1].flatten(0, 1), real[:, 1:].flatten(0, 1)
            fake_a, fake_b = fakes[:, :-1].flatten(0, 1), fakes[:, 1:].flatten(0, 1)
            maps_a, maps_b = maps[:, :-1].flatten(0, 1), maps[:, 1:].flatten(0, 1)
            discs.requires_grad_(False)
            with autocast():
                f_out = discs.frame(torch.cat([maps_f, maps_f]), torch.cat([real_f, fake_f]))
                t_out = discs.temporal(fake_a, fake_b, maps_a, maps_b)
            f_real, f_fake = _split(f_out, b * n)
            fake_all = fake_f.float()  # losses in fp32 whatever the autocast dtype
            fl = lambda o: [[x.float() for x in s] for s in o]  # noqa: E731
            lg: dict[str, torch.Tensor] = {
                "l1": F.l1_loss(fake_all, real_f) * cfg.weight_l1,
                "ssim": L.ssim_loss(fake_all, real_f) * cfg.weight_ssim,
                "gan": L.gan_loss_g(fl(f_fake), cfg.gan_mode) * cfg.weight_gan,
                "fm": L.feature_matching_loss(fl(f_real), fl(f_fake)) * cfg.weight_fm,
                "tgan": L.gan_loss_g(fl(t_out), cfg.gan_mode) * cfg.weight_temporal,
            }
            if perceptual is not None:
                lg["vgg"] = perceptual(fake_all, real_f) * cfg.weight_perceptual
            loss_g = sum(lg.values())
            opt_g.zero_grad(set_to_none=True)
            scaler_g.scale(loss_g).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
            discs.requires_grad_(True)

            # ---- discriminator step ----
            fd, fa, fb = fake_f.detach(), fake_a.detach(), fake_b.detach()
            with autocast():
                f_out, t_out = d_step(
                    torch.cat([maps_f, maps_f]), torch.cat([real_f, fd]),
                    torch.cat([real_a, fa]), torch.cat([real_b, fb]),
                    torch.cat([maps_a, maps_a]), torch.cat([maps_b, maps_b]))
            fr, ff = _split(f_out, b * n)
            tr, tf = _split(t_out, b * (n - 1))
            ld = {"d": L.gan_loss_d(fl(fr), fl(ff), cfg.gan_mode),
                  "dt": L.gan_loss_d(fl(tr), fl(tf), cfg.gan_mode)}
            loss_d = ld["d"] + ld["dt"]
            opt_d.zero_grad(set_to_none=True)
            scaler_d.scale(loss_d).backward()
            scaler_d.step(opt_d)
            scaler_d.update()
            step += 1

            # Summed on the device: no GPU sync per step, only at log time.
            for k, v in {**lg, **ld, "gate": gate_last.float().mean()}.items():
                acc[k] = acc[k] + v.detach().float() if k in acc else v.detach().float()
            n_acc += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                last_logged = D.mean_across(dist, {k: float(v) / n_acc for k, v in acc.items()}, device)
                acc, n_acc = {}, 0
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in last_logged.items()}, refresh=False)
                if tb is not None:
                    for k, v in last_logged.items():
                        tb.add_scalar(f"loss/{k}", v, step)
                    tb.add_scalar("train/teacher_forcing", teacher_prob(cfg, step), step)
                    tb.add_scalar("train/lr", learning_rate(cfg, step), step)
            if bar is not None:
                bar.update(1)
            if is_main and cfg.sample_every and step % cfg.sample_every == 0:
                grid = image_grid([pose_preview(maps[:, -1]), fakes[:, -1], real[:, -1]],
                                  rows=min(4, b))
                write_png(paths.samples / f"step_{step:07d}.png", grid)
                if tb is not None:
                    tb.add_image("samples", grid, step, dataformats="HWC")
            if is_main and cfg.save_every and step % cfg.save_every == 0:
                save_checkpoint(paths.checkpoint, state())
    except KeyboardInterrupt:
        if is_main and step > 0:
            save_checkpoint(paths.checkpoint, state())
            log.warning("interrupted at step %d; checkpoint saved (continue with --resume)", step)
        raise
    finally:
        if bar is not None:
            bar.close()
    if stopped_by_time:
        log.info("time limit of %s minutes reached at step %d", cfg.minutes, step)
    if n_acc:  # losses since the last log (a run stopped by the time limit)
        last_logged = D.mean_across(dist, {k: float(v) / n_acc for k, v in acc.items()}, device)

    face = None
    face_side = None
    if cfg.face:
        from rtmotion.train.face_stage import train_face

        face, face_side, face_step, face_extra = train_face(
            cfg, gen, data, pmc, device, dist, face_step, paths, tb, autocast,
            lambda fs, extra: save_checkpoint(paths.checkpoint, state({"face_step": fs, **extra})))
        extra_state.update(face_extra)

    if is_main:
        save_checkpoint(paths.checkpoint, state())
    if tb is not None:
        tb.flush()
    result = TrainResult(paths.output, step, face_step, (trained_s + time.monotonic() - t_start) / 60,
                         last_logged, None, str(device), dist.world_size,
                         float(sum(p.detach().double().sum() for p in gen.parameters())))
    if is_main:
        result.val_l1 = _finish_bundle(cfg, paths, gen, data, pmc, device, result, face, face_side,
                                       plate)
        if tb is not None:
            if result.val_l1 is not None:
                tb.add_scalar("val/l1_rollout", result.val_l1, step)
            tb.close()
    D.barrier(dist)
    return result


def _background_plate(cfg: TrainConfig, data: _Data, gen: nn.Module) -> Any:
    """Estimate the clean background plate from the TRAINING frames (the held-out block never
    votes) and give it to the generator. Deterministic, so every DDP rank and every resumed run
    computes the same plate (a resumed run then loads the checkpoint's copy anyway)."""
    from rtmotion.pose.skeleton import get_skeleton
    from rtmotion.train.background import RESIDUAL_WARN, estimate_background_plate

    pairs = data.split.pairs
    frames = np.union1d(pairs, pairs - 1)
    try:
        plate = estimate_background_plate(data.cache.frames, data.cache.poses,
                                          get_skeleton(data.seq.skeleton).bones, frames)
    except ValueError as e:
        raise InputError(cfg.video, f"cannot estimate the background ({e})",
                         "train with --no-background-plate") from None
    log.info("background plate from %d frames: %.1f%% inpainted, residual %.1f/255",
             plate.frames_used, 100 * plate.inpainted_fraction, plate.residual)
    if not plate.looks_static:
        log.warning("the background changes a lot between frames (median residual %.1f > %.1f): "
                    "a moving camera or changing light? Consider --no-background-plate",
                    plate.residual, RESIDUAL_WARN)
    gen.set_background(plate.image)
    return plate


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(folder))


def _synthetic_origin(video_info: Any, seq: Any) -> dict[str, str]:
    """{'origin', 'background'} when the target video is a synthetic dancer, else {}.

    Read from the video's container tag (written by `rtmotion synth`) or, failing that, from a
    ground-truth pose file's source; `rtmotion eval` uses it to re-render ground truth.
    """
    from rtmotion.synthetic import parse_origin_tag

    found = parse_origin_tag(str(getattr(video_info, "tags", {}).get("comment", "")))
    if found is None and str(seq.source).startswith("synthetic:"):
        found = {"origin": str(seq.source)}
    return found or {}


def _finish_bundle(cfg: TrainConfig, paths: TrainPaths, gen: nn.Module, data: _Data, pmc: Any,
                   device: torch.device, result: TrainResult, face: nn.Module | None,
                   face_side: int | None, plate: Any = None) -> float | None:
    """Roll out over the held-out block, make the preview and write the bundle. Returns val L1."""
    from rtmotion.pose.stats import SubjectPoseStats
    from rtmotion.subject.bundle import write_bundle
    from rtmotion.subject.crop import usable_frames

    cache, split = data.cache, data.split
    v0, v1 = split.val_range
    if v1 - v0 < 2:  # no held-out block: preview on the last training frames
        v0, v1 = max(0, cache.poses.shape[0] - 32), cache.poses.shape[0]
    n = min(v1 - v0, 48)
    poses = cache.poses[v0:v0 + n]
    real = torch.from_numpy(np.ascontiguousarray(np.asarray(cache.frames[v0:v0 + n]).transpose(0, 3, 1, 2)))
    real = real.float() / 127.5 - 1.0
    was_training = gen.training
    fake = rollout(gen, poses, pmc, device)
    gen.train(was_training)
    ok = torch.from_numpy(usable_frames(poses, cfg.min_joints))
    val_l1 = float((fake[ok] - real[ok]).abs().mean()) if bool(ok.any()) else None
    k = max(1, min(cfg.preview_frames, n))
    pick = np.linspace(0, n - 1, k).round().astype(int)
    maps = render_maps(torch.from_numpy(np.ascontiguousarray(poses[pick])).to(device), pmc).cpu()
    # One row per picked frame: pose | generated | real.
    preview = image_grid([pose_preview(maps), fake[pick], real[pick]], rows=k)
    usable = usable_frames(cache.poses, cfg.min_joints)
    stats = SubjectPoseStats.from_keypoints(cache.poses[usable], data.seq.joint_names, cfg.resolution,
                                            data.seq.skeleton)
    vi = data.video_info
    source = {"path": str(Path(cfg.video).resolve()), "name": Path(cfg.video).name,
              "width": vi.width, "height": vi.height, "fps": str(vi.fps),
              "frame_count": int(cache.poses.shape[0]), "pose_source": data.pose_source}
    source.update(_synthetic_origin(vi, data.seq))
    training = {
        "steps": result.steps, "face_steps": result.face_steps,
        "minutes": round(result.minutes, 3), "device": result.device,
        "world_size": result.world_size, "preset": cfg.preset, "batch_size": cfg.batch_size,
        "lr": cfg.lr, "seed": cfg.seed, "amp": cfg.amp,
        "final_losses": {k2: round(v, 5) for k2, v in result.losses.items()},
        "val_l1_rollout": None if val_l1 is None else round(val_l1, 5),
        "val_frames_scored": int(ok.sum()),
        "train_pairs": int(len(split.pairs)), "usable_frames": int(split.usable),
        "clip_length": cfg.clip_length,
        "background_plate": None if plate is None else plate.summary(),
    }
    name = cfg.name or paths.output.resolve().name
    from rtmotion.kernels.flow_numpy import PoseFlowConfig

    write_bundle(paths.output, name=name, resolution=cfg.resolution, crop=data.crop,
                 pose_map_config=pmc, pose_flow_config=PoseFlowConfig(), generator=gen, stats=stats, source_video=source,
                 validation_range=split.val_range, training=training, preview=preview,
                 face=face, face_side=face_side,
                 background=None if plate is None else plate.image)
    log.info("subject bundle written: %s (%d steps, %.1f min, validation L1 %s)", paths.output,
             result.steps, result.minutes, "n/a" if val_l1 is None else f"{val_l1:.4f}")
    return val_l1
