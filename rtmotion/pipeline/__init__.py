"""rtmotion.pipeline: one set of stage code for the three uses (see DESIGN.md, "The flow of one
frame").

- `synthesize`: `SubjectSynthesizer` (pose -> frame, with EDN's temporal state) and `PosePreparer`
  (the pose-only half, run one frame ahead);
- `stages`: threads joined by bounded queues (`StagePipeline`, offline) or latest-wins slots
  (`LatestSlot`, live); a failing stage ends the run with `StageError` naming it;
- `engine`: `open_runner`, the ONE place generator runners are created (compiled engines plug in
  there);
- `offline`: `convert` (video or pose file -> video, every frame, timing and audio kept);
- `live`: `run_live` (camera or file-as-camera -> preview / virtual camera / recording);
- `bench`: `run_bench` (per-stage percentiles, fps, latency, vs EDN's generator);
- `gaps`, `compose`, `progress`, `stats`: the no-person rule, side-by-side panels and overlay,
  progress output, timing percentiles.
"""
