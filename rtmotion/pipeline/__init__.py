"""rtmotion.pipeline: one set of stage code for the three uses (the flow of one frame: source ->
pose -> normalization -> maps -> warp -> generator -> blend -> sink; rtmotion/README.md).

- `session`: `open_session(subject, EngineRequest) -> Session`, one subject on one engine, the
  ONLY way frames are made (`prepare(keypoints)` then `generate(prepared)`, which is
  `finish(draw(prepared))` for a pipeline that runs the parts in threads), with the no-person
  rule; every command (convert, live, bench, eval, calibration recording, demo) goes through it;
- `synthesize`: `SubjectSynthesizer` (pose -> frame, with EDN's temporal state), `PosePreparer`
  (the pose-only half, run one frame ahead) and `make_synthesizer` (with the CUDA layer on a
  GPU); `cuda_synth`: that layer, the CUDA-only part (one stream; the CuPy step on static and
  pinned buffers, captured in CUDA graphs), not a synthesizer of its own;
- `stages`: `StagePipeline`, threads joined by bounded FIFO queues (offline) or latest-wins
  slots (`LatestSlot`, live; paced: a stage starts just in time for the next); a failing
  stage ends the run with `StageError` naming it;
- `offline`: `convert` (video or pose file -> video, every frame, timing and audio kept);
- `live`: `run_live` (camera or file-as-camera -> preview / virtual camera / recording);
- `bench`: `run_bench` (per-stage percentiles, fps, latency, vs EDN's generator);
- `gaps`, `compose`, `progress`, `stats`, `reference`: the no-person rule, side-by-side panels
  and overlay, progress output, timing percentiles, the appearance reference.
"""
