"""Distributed data-parallel training: a real 2-process torchrun job on gloo (CPU)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rtmotion.subject import load_subject
from rtmotion.train.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# slow (18 s on 2 cores: two processes each start torch and train): DDP is the multi-GPU
# path; single-process training is covered by the default suite.
@pytest.mark.slow
def test_two_process_gloo_run(dancer_clip, tmp_path: Path) -> None:
    out, report = tmp_path / "subj", tmp_path / "report"
    report.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "--master_addr=127.0.0.1",
           str(Path(__file__).with_name("ddp_worker.py")),
           str(dancer_clip.video), str(dancer_clip.poses), str(out), str(report)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((report / f"rank{i}.json").read_text()) for i in range(2)]
    assert [x["world_size"] for x in ranks] == [2, 2]
    assert [x["steps"] for x in ranks] == [4, 4]
    # DDP keeps the replicas identical: same weights on both ranks after 4 optimizer steps.
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    assert ranks[0]["losses"] == ranks[1]["losses"]  # all-reduced for logging
    ck = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ck["step"] == 4
    s = load_subject(out)
    assert s.info["training"]["world_size"] == 2
    assert abs(sum(float(p.detach().double().sum()) for p in s.generator.parameters())
               - ranks[0]["checksum"]) < 1e-2 * max(1.0, abs(ranks[0]["checksum"]))
