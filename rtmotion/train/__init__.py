"""Training: target video -> subject bundle (`rtmotion train`).

- `config.TrainConfig`: every knob; `trainer.train(cfg) -> TrainResult` (build_run, resume,
  gan_step, log_sample_save, train_generator, finish).
- `run.TrainRun`: everything one run holds (the object the GAN step, face stage and bundle
  writer take); `step`: maps of a batch, the clip step, the validation rollout (inference's own
  `FrameSynthesizer`); `face_stage.train_face(run)`.
- `cache.build_cache`: cropped frames (uint8 .npy memory map) + poses, keyed by the inputs.
- `dataset.make_split` / `clip_ends` / `ClipDataset`: consecutive pairs and clips, the
  held-out block in the middle.
- `background.estimate_background_plate`: the target's clean background for the generator.
- `checkpoint.save_checkpoint` / `load_checkpoint`: the resumable training state.
- `distributed`: torchrun / DDP helpers (NCCL on CUDA, gloo on CPU).

The bundle a run writes (and everything that loads it) is `rtmotion.subject`.
"""
