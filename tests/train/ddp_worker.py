"""Run by tests/train/test_train_ddp.py under `torchrun --nproc_per_node=2` (gloo, CPU).

Usage: ddp_worker.py VIDEO POSES OUT REPORT_DIR. Each rank trains (a few steps, tiny model) and
writes REPORT_DIR/rank{R}.json with its generator checksum and step count.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from rtmotion.train.config import TrainConfig
from rtmotion.train.trainer import train


def main() -> None:
    video, poses, out, report = sys.argv[1:5]
    torch.set_num_threads(1)
    cfg = TrainConfig(video=video, poses=poses, output=out, preset="tiny", resolution=(32, 32),
                      steps=4, batch_size=2, device="cpu", workers=0, d_channels=8, d_scales=1,
                      save_every=2, sample_every=2, log_every=2, min_pose_frames=30)
    res = train(cfg)
    rank = int(os.environ["RANK"])
    state = res.generator_checksum
    Path(report, f"rank{rank}.json").write_text(json.dumps(
        {"rank": rank, "world_size": res.world_size, "steps": res.steps, "checksum": state,
         "losses": res.losses}))


if __name__ == "__main__":
    main()
