"""The CUDA synthesizer on a GPU: CuPy kernels, pinned buffers, one stream, CUDA graphs.

Needs torch with CUDA and CuPy; skipped elsewhere (the reason says which). Written in a session
without a GPU: `tools/gpu_check.sh` runs it. The CPU side is `test_cuda_synth.py`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.kernels.cupy_kernels import cupy_available
from rtmotion.pipeline.cuda_synth import CudaOptions
from rtmotion.pipeline.synthesize import KeypointPreparer, SubjectSynthesizer, make_synthesizer
from rtmotion.runtime import get_backend
from tests.pipeline.test_cuda_synth import _run, _sequence, subject  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.cupy,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch with a CUDA GPU"),
    pytest.mark.skipif(not cupy_available(), reason="needs CuPy (pip install 'rtmotion[gpu-cuda12]' or '[gpu-cuda13]') and a CUDA GPU"),
]


def _long_sequence() -> list[np.ndarray]:
    """Enough frames of each mode to pass the warm-up and replay the graphs several times."""
    seq = _sequence()
    return seq + seq[5:] + seq


def test_graphs_are_captured_and_replays_equal_eager_cupy(subject) -> None:  # noqa: F811
    seq = _long_sequence()
    with SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions(graphs=False)) as eager:
        assert eager.cuda is not None
        assert eager.cuda.kernels == "cupy" and not eager.cuda.graphs_enabled
        ref, ref_modes = _run(eager, seq)
    with SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions(warmup=1)) as synth:
        assert synth.cuda is not None
        assert synth.cuda.graphs_enabled and synth.cuda.stream is not None
        got, modes = _run(synth, seq)
        assert synth.cuda.graph_modes == ("pose-only", "warped")
        assert synth.last_gate is not None and synth.last_gate.is_cuda
    assert modes == ref_modes
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_cuda_frames_match_framesynthesizer_on_cuda(subject) -> None:  # noqa: F811
    """Against the reference synthesizer on the same GPU (torch kernels). The CuPy maps agree
    with torch's within 1e-5 and the flow within 1e-3 px, and each frame feeds the next, so a
    few pixels may drift by a few grey levels (bound not measured yet: no GPU when written); a
    wiring error (a swapped axis, a stale buffer, a missing warp) moves most pixels far more."""
    seq = _long_sequence()
    with SubjectSynthesizer(subject, device="cuda") as ref_synth:
        ref, ref_modes = _run(ref_synth, seq)
    with make_synthesizer(subject, None, "cuda", True) as synth:
        assert synth.cuda is not None
        got, modes = _run(synth, seq)
    assert modes == ref_modes
    for a, b in zip(got, ref):
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
        assert diff.max() <= 8 and diff.mean() < 0.1


def test_torch_kernels_on_cuda_are_exact(subject) -> None:  # noqa: F811
    seq = _sequence()
    with SubjectSynthesizer(subject, device="cuda") as ref_synth:
        ref, _ = _run(ref_synth, seq)
    with SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions(kernels="torch")) as synth:
        assert synth.cuda is not None
        assert not synth.cuda.graphs_enabled  # graphs need the CuPy kernels
        got, _ = _run(synth, seq)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_runner_stats_exclude_the_capture(subject) -> None:  # noqa: F811
    runner = get_backend("torch", subject, "cuda")
    seq = _sequence()[:6]  # pose-only, warped x2, gap, pose-only, warped
    with SubjectSynthesizer(subject, runner, cuda=CudaOptions(warmup=1)) as synth:
        _run(synth, seq)
        # eager warm-ups call the runner; captures do not count; replays do not call it.
        assert runner.stats.count == 2
        assert synth.cuda is not None and synth.cuda.graph_modes == ("pose-only", "warped")


def test_two_stage_generate_with_cupy_equals_the_call(subject) -> None:  # noqa: F811
    """The offline pipeline's two halves on the CuPy synthesizer: its preparer only checks the
    keypoints, and `generate(preparer(kp))` is the frame of `synth(kp)`, graphs included."""
    seq = _long_sequence()
    with SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions(warmup=1)) as a, \
            SubjectSynthesizer(subject, device="cuda", cuda=CudaOptions(warmup=1)) as b:
        prep = a.preparer()
        assert isinstance(prep, KeypointPreparer)
        for kp in seq:
            np.testing.assert_array_equal(a.generate(prep(kp)), b(kp))
            assert a.last_mode == b.last_mode
