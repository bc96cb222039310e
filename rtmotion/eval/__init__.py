"""Evaluation of a trained subject (`rtmotion eval`): EDN's table, which its code never shipped.

- `metrics`: SSIM (pytorch_msssim) and PSNR of uint8 images;
- boxes (body, face) come from `rtmotion.pose.boxes`;
- `flicker`: temporal change / jitter of a frame stream;
- `sources`: held-out frames, another video, synthetic transfer ground truth;
- `evaluate`: sequential generation + scoring; `report`: table, JSON, sample images;
- `warp_gain`: how much the pose-flow warp helps on synthetic pairs (a measurement of the kernels).
"""
