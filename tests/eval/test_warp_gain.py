"""The measured claim: warping frame t by the pose flow to pose t+k predicts frame t+k better
than frame t itself (synthetic dancer, ground-truth poses, 30 fps, k = 2, 3, 5)."""

from __future__ import annotations

import logging

import pytest

from rtmotion.eval.warp_gain import measure_warp_gain

log = logging.getLogger(__name__)


@pytest.mark.slow  # a quality measure; the flow and warp have numpy oracles in tests/kernels
def test_pose_flow_warp_predicts_the_next_frame_better_than_no_warp() -> None:
    g = measure_warp_gain()
    log.info("warp gain: %s", g)
    assert g.pairs >= 30
    # Moving region L1 (uint8 levels): measured 43.6 -> 15.3 on this set (docs/BENCHMARKS.md).
    assert g.l1_warp < 0.5 * g.l1_plain
    assert g.better >= 0.95
    assert g.psnr_warp > g.psnr_plain + 3.0
    for k, (plain, warp) in g.by_k.items():
        assert warp < plain, k
