"""Optional face stage (`rtmotion train --face`): EDN's face GAN after the main generator.

The generator is frozen; the `FaceEnhancer` learns a residual on a fixed-size crop around the
head: enhanced = crop(G(x)) + F(crop(G(x)), crop(pose maps)). Losses: L1 (x10) against the real
crop, a single-scale PatchGAN on (pose crop, face crop) with hinge loss, feature matching (x10).
The crop side is ONE number per subject (EDN: steady crops): the median over the training poses
of `box_scale` x the head size, in crop pixels; a frame without a visible face uses the median
face centre.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from rtmotion.models import losses as L
from rtmotion.models.config import DiscriminatorConfig, FaceConfig
from rtmotion.models.discriminator import MultiScalePatchDiscriminator
from rtmotion.models.face import FaceEnhancer, crop_resize
from rtmotion.pose.boxes import face_crop_box, head_size
from rtmotion.progress import progress
from rtmotion.train.dataset import ClipDataset
from rtmotion.train.run import TrainRun
from rtmotion.train.step import ClipStep, clip_batch_to_device, float_features, follow_batch

log = logging.getLogger(__name__)


#: The enhancer's crop side is about this many times the face box's side (measured on demo-ada:
#: docs/BENCHMARKS.md, "The face enhancer's crop"), a multiple of `FACE_CROP_MULTIPLE` (its
#: downsamplings stay whole) and at least `MIN_FACE_CROP` pixels.
FACE_CROP_PER_SIDE = 1.5
FACE_CROP_MULTIPLE = 8
MIN_FACE_CROP = 16
#: The crop every face stage used before checkpoints recorded theirs (resuming such a stage).
OLD_FACE_CROP = 64


def face_side(poses: np.ndarray, scale: float, crop_size: int, frame: tuple[int, int]) -> int:
    """The subject's fixed face-box side in pixels (median of scale x head size)."""
    sizes = [s for s in (head_size(kp) for kp in poses) if s]
    side = int(round(scale * float(np.median(sizes)))) if sizes else crop_size
    return int(max(8, min(side, frame[0], frame[1])))


def face_crop_for_side(side: int, n_down: int = FaceConfig.n_down) -> int:
    """The enhancer's crop side for a face box of `side` model pixels: 1.5 x the side, rounded
    up to a multiple of 8 (and of 2**n_down), at least 16.

    Why not the fixed 64 px it was: the residual is pasted back into the `side`-pixel box of the
    model frame, so a much larger crop mostly adds pixels that are averaged away again. On
    demo-ada (a 21 px face box) 64 px crops cost 10.8 ms a frame in ONNX Runtime, 32 px crops 2.7
    ms, for a held-out face SSIM 0.009 lower; 24 px crops (1.7 ms) lost 0.017."""
    multiple = max(FACE_CROP_MULTIPLE, 2 ** int(n_down))
    want = FACE_CROP_PER_SIDE * int(side)
    return max(MIN_FACE_CROP, int(-(-want // multiple)) * multiple)


def face_boxes(kps: np.ndarray, side: int, frame: tuple[int, int], fallback: tuple[int, int, int, int],
               crop_size: int) -> list[tuple[int, int, int, int]]:
    """One face box per pose (x0, y0, x1, y1 in crop pixels); `fallback` where no face is seen."""
    out = []
    for kp in kps:
        box = face_crop_box(kp, frame, crop_size, side=side)
        out.append(box if box is not None else fallback)
    return out


def face_state(face: nn.Module, fd: nn.Module, opt_f: Any, opt_fd: Any, crop: int
               ) -> dict[str, Any]:
    """The face stage's part of a training checkpoint (its crop side too: the enhancer is
    convolutional, so its weights would load into any crop size; a resumed stage keeps its own)."""
    return {"face": face.state_dict(), "face_d": fd.state_dict(), "opt_face": opt_f.state_dict(),
            "opt_face_d": opt_fd.state_dict(), "face_crop": int(crop)}


def train_face(run: TrainRun) -> tuple[FaceEnhancer, int]:
    """Train the face enhancer for cfg.face_steps steps (resuming at `run.face_step` from
    `run.face_state`), checkpointing through `run`. Returns (enhancer in eval mode, face side)."""
    cfg, device, dist, data, pmc = run.cfg, run.device, run.dist, run.data, run.pose_map_config
    gen = run.gen
    frame = tuple(cfg.resolution)
    poses = data.cache.poses[data.split.pairs]
    side = face_side(poses, FaceConfig.box_scale, FaceConfig.crop_size, frame)
    # the crop of the checkpoint's enhancer when resuming one, else --face-crop, else the side's
    kept = run.face_state.get("face_crop") or (OLD_FACE_CROP if "face" in run.face_state else None)
    crop = int(kept or cfg.face_crop or face_crop_for_side(side))
    if kept and cfg.face_crop is not None and int(cfg.face_crop) != crop and dist.is_main:
        # Said, not silent: the user asked for another crop and would otherwise believe they got it.
        log.warning("--face-crop %d not used: the resumed face stage keeps its checkpoint's %d px "
                    "crop (its enhancer was trained on that crop); train without --resume for "
                    "another crop", cfg.face_crop, crop)
    fcfg = FaceConfig(crop_size=crop, pose_channels=pmc.num_channels)
    log.info("face enhancer: a %dx%d crop for the %d px face box", crop, crop, side)
    centres = [face_crop_box(kp, frame, fcfg.crop_size, side=side) for kp in poses]
    centres = [c for c in centres if c is not None]
    fallback = tuple(int(v) for v in np.median(np.array(centres), axis=0)) if centres else \
        (0, 0, side, side)
    face = FaceEnhancer(fcfg).to(device)
    fd = MultiScalePatchDiscriminator(pmc.num_channels, DiscriminatorConfig(num_scales=1)).to(device)
    opt_f = torch.optim.Adam(face.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_fd = torch.optim.Adam(fd.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    if run.face_step > 0 and "face" in run.face_state:
        st = run.face_state
        face.load_state_dict(st["face"])
        fd.load_state_dict(st["face_d"])
        opt_f.load_state_dict(st["opt_face"])
        opt_fd.load_state_dict(st["opt_face_d"])
    gen.eval().requires_grad_(False)
    ds = ClipDataset(data.cache.folder / "frames.npy", data.cache.poses, data.split.pairs, 2,
                     follow=data.dataset_follow())
    sampler: Any = DistributedSampler(ds, dist.world_size, dist.rank, seed=cfg.seed + 1) \
        if dist.enabled else \
        RandomSampler(ds, generator=torch.Generator().manual_seed(cfg.seed + 1 + run.face_step))
    loader = DataLoader(ds, batch_size=min(cfg.batch_size, len(ds)), sampler=sampler,
                        num_workers=cfg.workers, drop_last=True)
    f_step = DDP(face, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else face
    d_step = DDP(fd, device_ids=[device.index] if device.type == "cuda" else None) if dist.enabled else fd
    pair = ClipStep(gen, run.flow_config)
    bar = progress(total=cfg.face_steps, desc="face", unit="it") if dist.is_main else None
    if bar is not None:
        bar.n = run.face_step
    epoch = 0
    fl = float_features
    while run.face_step < cfg.face_steps:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        epoch += 1
        for batch in loader:
            if run.face_step >= cfg.face_steps:
                break
            # As inference makes a frame: from its pose and the warped previous output.
            real, kps, maps = clip_batch_to_device(batch, pmc, device)  # B x 2 x ...
            teacher = torch.zeros(real.shape[0], 1, dtype=torch.bool, device=device)
            with torch.no_grad(), run.autocast():
                follow = follow_batch(batch, device)
                refs = None if run.reference is None else \
                    run.reference.clips(kps, batch["indices"], follow)
                fakes, _ = pair(maps, kps, real, teacher, refs, follow)
            fake_c, real_c, maps_c = fakes[:, 1], real[:, 1], maps[:, 1]
            boxes = face_boxes(batch["keypoints"][:, 1].numpy(), side, frame, fallback,
                               fcfg.crop_size)
            s = fcfg.crop_size
            g_crop = crop_resize(fake_c.float(), boxes, s)
            r_crop = crop_resize(real_c, boxes, s)
            m_crop = crop_resize(maps_c, boxes, s)
            with run.autocast():
                enhanced, _ = f_step(g_crop, m_crop)
            enhanced = enhanced.float()
            fd.requires_grad_(False)
            with run.autocast():
                outs = fd(torch.cat([m_crop, m_crop]), torch.cat([r_crop, enhanced]))
            real_o = [[f[: len(boxes)] for f in sc] for sc in outs]
            fake_o = [[f[len(boxes):] for f in sc] for sc in outs]
            loss = (F.l1_loss(enhanced, r_crop) * cfg.weight_l1
                    + L.gan_loss_g(fl(fake_o), cfg.gan_mode) * cfg.weight_gan
                    + L.feature_matching_loss(fl(real_o), fl(fake_o)) * cfg.weight_fm)
            opt_f.zero_grad(set_to_none=True)
            loss.backward()
            opt_f.step()
            fd.requires_grad_(True)
            with run.autocast():
                outs = d_step(torch.cat([m_crop, m_crop]), torch.cat([r_crop, enhanced.detach()]))
            real_o = [[f[: len(boxes)] for f in sc] for sc in outs]
            fake_o = [[f[len(boxes):] for f in sc] for sc in outs]
            loss_d = L.gan_loss_d(fl(real_o), fl(fake_o), cfg.gan_mode)
            opt_fd.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_fd.step()
            run.face_step += 1
            lg, ld = float(loss.detach()), float(loss_d.detach())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(face=f"{lg:.3f}", d=f"{ld:.3f}", refresh=False)
            if run.tb is not None and run.face_step % cfg.log_every == 0:
                run.tb.add_scalar("face/g", lg, run.face_step)
                run.tb.add_scalar("face/d", ld, run.face_step)
            if dist.is_main and cfg.save_every and run.face_step % cfg.save_every == 0:
                run.face_state = face_state(face, fd, opt_f, opt_fd, crop)
                run.save_checkpoint()
    if bar is not None:
        bar.close()
    gen.requires_grad_(True)
    run.face_state = face_state(face, fd, opt_f, opt_fd, crop)
    return face.eval(), side


__all__ = ["face_boxes", "face_crop_for_side", "face_side", "face_state", "train_face"]
