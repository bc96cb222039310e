"""The pieces of one training step: pose maps of a batch, a clip batch on the device, the clip
step (the generator's sequential forward over a batch of clips), the two discriminators as one
module, and the validation rollout (inference's own per-frame step).

Shapes: B clips of L frames; frames float in [-1, 1]; keypoints (x, y, confidence) in pixels of
the subject's fixed crop at the model's resolution; pose maps float in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rtmotion.kernels.flow_numpy import PoseFlowConfig
from rtmotion.kernels.maps_numpy import PoseMapConfig
from rtmotion.kernels.maps_torch import pose_maps_torch
from rtmotion.kernels.warp_torch import warp_previous
from rtmotion.pipeline.follow_frame import FollowPlacer
from rtmotion.pipeline.reference import keyframe_tensors, reference_batch
from rtmotion.pipeline.synthesize import FrameSynthesizer
from rtmotion.runtime.torch_backend import TorchRunner
from rtmotion.subject.keyframes import KeyframeSet
from rtmotion.train.dataset import to_model_range


def clip_batch_to_device(batch: dict[str, torch.Tensor], pmc: PoseMapConfig, device: torch.device
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A `ClipDataset` batch on `device`, ready for `ClipStep`.

    Returns (real, kps, maps): real B x L x 3 x H x W in [-1, 1]; kps B x L x K x 3 in crop
    pixels; maps B x L x C x H x W pose maps in [0, 1].
    """
    clip = batch["frames"].to(device, non_blocking=True)  # B x L x 3 x H x W uint8
    b, n = clip.shape[:2]
    real = to_model_range(clip.flatten(0, 1)).view(b, n, *clip.shape[2:])
    kps = batch["keypoints"].to(device)
    maps = pose_maps_torch(kps.flatten(0, 1), pmc)  # (B*L) x C x H x W
    return real, kps, maps.view(b, n, *maps.shape[1:])


#: A follow crop's inputs of a batch of clips: origins B x L x 2 (model pixels), plates
#: B x L x 3 x H x W in [-1, 1] (see `rtmotion.train.dataset.ClipDataset`).
ClipFollow = tuple[torch.Tensor, torch.Tensor]


def follow_batch(batch: dict[str, torch.Tensor], device: torch.device) -> ClipFollow | None:
    """A batch's follow-crop inputs on `device`, or None (a fixed-crop run)."""
    if "origins" not in batch:
        return None
    plates = batch["plates"].to(device, non_blocking=True)           # B x L x 3 x H x W uint8
    b, n = plates.shape[:2]
    plates = to_model_range(plates.flatten(0, 1)).view(b, n, *plates.shape[2:])
    return batch["origins"].to(device), plates


#: The reference inputs of a batch of clips: ref_warped B x L x 3 x H x W, ref_mask B x L x 1 x
#: H x W, ref_image B x L x 3 x H x W (see `rtmotion.pipeline.reference.Reference`).
ClipReferences = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class TrainReference:
    """The run's keyframes, and the references of training clips (inference's own lookup and
    warp, `rtmotion.pipeline.reference`, with training's exclusion rule).

    Args:
        keyframes: the run's keyframes (the bundle ships the same set).
        device: where the warp runs.
        flow_cfg: the run's pose flow.
        exclude_near: no keyframe within this many frames of the frame predicted.
    """

    def __init__(self, keyframes: KeyframeSet, device: torch.device, flow_cfg: PoseFlowConfig,
                 exclude_near: int) -> None:
        self.keyframes = keyframes
        self.flow_cfg = flow_cfg
        self.exclude_near = int(exclude_near)
        self.images, self.keypoints = keyframe_tensors(keyframes, device)

    def clips(self, kps: torch.Tensor, indices: torch.Tensor, follow: ClipFollow | None = None
              ) -> ClipReferences:
        """kps: B x L x K x 3 (crop pixels, on the device); indices: B x L frame indices;
        follow: the clips' follow-crop inputs (their origins shift the keyframe warps)."""
        b, n = kps.shape[:2]
        origins = None if follow is None else follow[0].reshape(-1, 2).cpu().numpy()
        ref = reference_batch(self.keyframes, self.images, self.keypoints, kps.flatten(0, 1),
                              indices.flatten().cpu().numpy(), self.flow_cfg, self.exclude_near,
                              origins)
        return (ref.warped.view(b, n, *ref.warped.shape[1:]),
                ref.mask.view(b, n, *ref.mask.shape[1:]),
                ref.image.view(b, n, *ref.image.shape[1:]))


class ClipStep(nn.Module):
    """The generator's sequential steps over a batch of clips, in one forward (one DDP call).

    forward(maps, kps, real, teacher, refs=None, follow=None) -> (fakes, gate_last)
        maps: B x L x C x H x W pose maps in [0, 1]; kps: B x L x K x 3 crop pixels;
        real: B x L x 3 x H x W in [-1, 1]; teacher: bool B x (L-1), True where step l takes
        the REAL frame l-1 as its previous frame instead of its own output; refs: the clips'
        reference inputs (`TrainReference.clips`; None for a generator without a reference);
        follow: the clips' follow-crop inputs (`follow_batch`; None for the fixed crop): the
        previous frame's warp is shifted by the boxes' move, and each frame gets its plate.
        fakes: B x L x 3 x H x W in [-1, 1]; gate_last: B x 1 x H x W, the last frame's gate.
    Frame 0 is made from its pose alone; frame l from pose l and frame l-1 (generated, or real
    under teacher forcing) warped to pose l with `flow_cfg` (the pose flow the bundle records,
    so inference warps exactly as training did). EDN's sequential training: a previous output is
    an input, not a path for gradients (detached).
    """

    def __init__(self, generator: nn.Module, flow_cfg: PoseFlowConfig) -> None:
        super().__init__()
        self.generator = generator
        self.flow_cfg = flow_cfg

    def forward(self, maps: torch.Tensor, kps: torch.Tensor, real: torch.Tensor,
                teacher: torch.Tensor, refs: ClipReferences | None = None,
                follow: ClipFollow | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        def ref(i: int) -> tuple[torch.Tensor | None, ...]:
            refs_i = (None, None, None) if refs is None else tuple(r[:, i] for r in refs)
            return (*refs_i, None if follow is None else follow[1][:, i])

        fake, gate, _ = self.generator(maps[:, 0], None, None, *ref(0))  # no previous frame
        fakes = [fake]
        for i in range(1, maps.shape[1]):
            prev = torch.where(teacher[:, i - 1].view(-1, 1, 1, 1), real[:, i - 1],
                               fakes[-1].detach().to(real.dtype))
            shift = None if follow is None else follow[0][:, i] - follow[0][:, i - 1]
            with torch.no_grad():
                warped, mask = warp_previous(prev, kps[:, i - 1], kps[:, i], self.flow_cfg, shift)
            fake, gate, _ = self.generator(maps[:, i], warped, mask, *ref(i))
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


def split_features(feats: list[list[torch.Tensor]], n: int) -> tuple[list[list[torch.Tensor]], ...]:
    """Discriminator features of a batch [first n; rest] -> (features of the first n, of the rest)."""
    return ([[f[:n] for f in s] for s in feats], [[f[n:] for f in s] for s in feats])


def float_features(feats: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Discriminator features in float32 (losses in fp32 whatever the autocast dtype)."""
    return [[x.float() for x in s] for s in feats]


@torch.no_grad()
def rollout(generator: nn.Module, poses: np.ndarray, pmc: PoseMapConfig,
            flow_cfg: PoseFlowConfig, device: torch.device,
            keyframes: KeyframeSet | None = None, follow: FollowPlacer | None = None
            ) -> torch.Tensor:
    """Generate frames one by one exactly as inference does (`FrameSynthesizer`: each frame from
    its own previous output warped to the new pose, the no-person rule, uint8 output), so the
    validation loss measures what `rtmotion eval` measures.

    poses: (N, K, 3) crop pixels. Returns N x 3 x H x W float32 in [-1, 1] on the CPU (the
    uint8 frames, mapped back). `generator` is not modified (the runner runs an eval copy).
    keyframes: the appearance reference of a generator with `use_reference`.
    follow: a follow-crop run's placer: `poses` are then in the fixed crop's pixels and each
    frame is drawn in its own box (the box the cache cropped that frame with).
    """
    with FrameSynthesizer(TorchRunner(generator, device), pmc, flow_cfg,
                          keyframes=keyframes, follow=follow) as synth:
        frames = [synth(kp) for kp in poses]  # each uint8 H x W x 3
    stacked = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # N x 3 x H x W uint8
    return to_model_range(stacked)
