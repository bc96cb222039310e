"""Training: target video -> subject bundle (`rtmotion train`).

- `config.TrainConfig`: every knob; `trainer.train(cfg) -> TrainResult`.
- `cache.build_cache`: cropped frames (uint8 .npy memory map) + poses, keyed by the inputs.
- `dataset.make_split` / `clip_ends` / `ClipDataset`: consecutive pairs and clips, the
  held-out last block.
- `background.estimate_background_plate`: the target's clean background for the generator.
- `checkpoint.save_checkpoint` / `load_checkpoint`: the resumable training state.
- `distributed`: torchrun / DDP helpers (NCCL on CUDA, gloo on CPU).

The bundle a run writes (and everything that loads it) is `rtmotion.subject`.
"""
