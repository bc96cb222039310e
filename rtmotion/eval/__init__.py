"""Evaluation of a trained subject (`rtmotion eval`): EDN's table, which its code never shipped.

- `metrics`: SSIM (pytorch_msssim) and PSNR of uint8 images;
- `crops`: the body box (pose bounding box + margin) and the face box (head joints);
- `flicker`: temporal change / jitter of a frame stream;
- `sources`: held-out frames, another video, synthetic transfer ground truth;
- `evaluate`: sequential generation + scoring; `report`: table, JSON, sample images.
"""
