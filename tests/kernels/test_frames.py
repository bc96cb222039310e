"""Frame conversions: numpy oracle vs torch (always, on CPU) and vs the CUDA kernels (CuPy +
CUDA only: skipped elsewhere with the reason)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmotion.kernels.cupy_kernels import cupy_available
from rtmotion.kernels.frames_numpy import float_to_frames_numpy, frames_to_float_numpy
from rtmotion.kernels.frames_torch import float_to_frames_torch, frames_to_float_torch
from rtmotion.pipeline.synthesize import to_uint8_image

needs_cupy = pytest.mark.skipif(not cupy_available(),
                                reason="needs CuPy (pip install 'rtmotion[gpu-cuda12]' or '[gpu-cuda13]') and a CUDA GPU")


def _images(seed: int = 0) -> np.ndarray:
    """float32 (2, 3, 7, 9): every rounding tie of the uint8 grid, the ends, values outside
    [-1, 1] and random values."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.2, 1.2, (2, 3, 7, 9)).astype(np.float32)
    levels = np.arange(256, dtype=np.float32)
    ties = ((levels + np.float32(0.5)) / np.float32(127.5) - np.float32(1)).astype(np.float32)
    flat = x.reshape(-1)
    flat[:256] = ties[:256] if flat.size >= 256 else ties[:flat.size]
    flat[256:260] = [-1.0, 1.0, -7.0, 3.0]
    return x


def _frames(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = rng.integers(0, 256, (2, 11, 13, 3), dtype=np.uint8)
    f.reshape(-1)[:256] = np.arange(256, dtype=np.uint8)  # every level once
    return f


def test_float_to_frames_numpy_is_to_uint8_image_bit_for_bit() -> None:
    x = _images()
    ref = np.stack([to_uint8_image(torch.from_numpy(i)) for i in x])
    got = float_to_frames_numpy(x)
    assert got.dtype == np.uint8 and got.shape == (2, 7, 9, 3)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(float_to_frames_numpy(x[0]), ref[:1])  # (3, H, W) accepted


def test_float_to_frames_torch_matches_numpy_and_writes_out() -> None:
    x = _images(1)
    out = torch.empty((2, 7, 9, 3), dtype=torch.uint8)
    got = float_to_frames_torch(torch.from_numpy(x), out=out)
    assert got.data_ptr() == out.data_ptr()
    np.testing.assert_array_equal(got.numpy(), float_to_frames_numpy(x))
    half = torch.from_numpy(x).half()  # a runner's fp16 output converts the same way as float32
    np.testing.assert_array_equal(float_to_frames_torch(half).numpy(),
                                  float_to_frames_numpy(half.float().numpy()))


def test_nan_becomes_zero_in_both() -> None:
    x = np.zeros((1, 3, 2, 2), np.float32)
    x[0, 1, 0, 1] = np.nan
    assert float_to_frames_numpy(x)[0, 0, 1, 1] == 0
    assert float_to_frames_torch(torch.from_numpy(x))[0, 0, 1, 1] == 0


def test_frames_to_float_is_trainings_formula() -> None:
    f = _frames()
    ref = torch.from_numpy(f).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).numpy()  # dataset's
    got_np = frames_to_float_numpy(f)
    got_t = frames_to_float_torch(torch.from_numpy(f)).numpy()
    assert got_np.dtype == np.float32 and got_np.shape == (2, 3, 11, 13)
    np.testing.assert_array_equal(got_np, ref)
    np.testing.assert_array_equal(got_t, ref)
    assert got_np.min() == -1.0 and got_np.max() == 1.0


def test_round_trip_is_exact_on_uint8() -> None:
    f = _frames(2)
    np.testing.assert_array_equal(float_to_frames_numpy(frames_to_float_numpy(f)), f)
    back = float_to_frames_torch(frames_to_float_torch(torch.from_numpy(f[0])))
    np.testing.assert_array_equal(back.numpy(), f[:1])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        frames_to_float_numpy(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        frames_to_float_torch(torch.zeros(4, 4, 3))
    with pytest.raises(ValueError, match="3, H, W"):
        float_to_frames_numpy(np.zeros((1, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        float_to_frames_torch(torch.zeros(1, 3, 4, 4), out=torch.empty(1, 4, 4, 3, dtype=torch.float32))


@pytest.mark.cupy
@pytest.mark.gpu
@needs_cupy
def test_cuda_kernels_match_numpy_bit_for_bit() -> None:
    import cupy

    from rtmotion.kernels.cupy_kernels import float_to_frames_cupy, frames_to_float_cupy

    x = _images(3)
    np.testing.assert_array_equal(float_to_frames_cupy(cupy.asarray(x)).get(), float_to_frames_numpy(x))
    f = _frames(3)
    np.testing.assert_array_equal(frames_to_float_cupy(cupy.asarray(f)).get(), frames_to_float_numpy(f))
    big = np.random.default_rng(4).uniform(-1, 1, (1, 3, 512, 512)).astype(np.float32)
    out = cupy.empty((1, 512, 512, 3), cupy.uint8)
    assert float_to_frames_cupy(cupy.asarray(big), out=out) is out
    np.testing.assert_array_equal(out.get(), float_to_frames_numpy(big))


@pytest.mark.cupy
@pytest.mark.gpu
@needs_cupy
def test_cuda_kernels_on_torch_stream_with_torch_tensors() -> None:
    import cupy

    from rtmotion.kernels.cupy_kernels import float_to_frames_cupy, torch_stream

    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    x = torch.from_numpy(_images(5)).cuda()
    out = torch.empty((2, 7, 9, 3), dtype=torch.uint8, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream), torch_stream(0, stream.cuda_stream):
        float_to_frames_cupy(cupy.from_dlpack(x), out=cupy.from_dlpack(out))
    stream.synchronize()
    np.testing.assert_array_equal(out.cpu().numpy(), float_to_frames_numpy(x.cpu().numpy()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch's CUDA ops)")
def test_torch_conversions_on_cuda_match_numpy_bit_for_bit() -> None:
    """The torch conversions on CUDA (not the CuPy kernels): every uint8 level in, and float
    frames out, equal the numpy oracle. Division by a CPU scalar on CUDA is a reciprocal
    multiply (1 ulp off for 111 of the 256 levels), which this catches."""
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    got = frames_to_float_torch(torch.from_numpy(levels).cuda()).cpu().numpy()
    np.testing.assert_array_equal(got, frames_to_float_numpy(levels))
    x = _images(3)
    np.testing.assert_array_equal(float_to_frames_torch(torch.from_numpy(x).cuda()).cpu().numpy(),
                                  float_to_frames_numpy(x))


def test_reciprocal_multiply_is_not_a_division() -> None:
    """Why frames_to_float_torch divides by a device tensor on CUDA: x * (1 / 127.5) differs
    from x / 127.5 in float32 for many uint8 levels (numpy shows the arithmetic on the CPU)."""
    x = np.arange(256, dtype=np.float32)
    true_div = x / np.float32(127.5)
    recip = x * (np.float32(1) / np.float32(127.5))
    assert int((true_div != recip).sum()) > 100
    levels = x.astype(np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    got = frames_to_float_torch(torch.from_numpy(levels)).numpy()[0, 0].ravel()
    np.testing.assert_array_equal(got, true_div - np.float32(1))  # the CPU: a true division


def test_torch_conversions_refuse_four_channels_and_name_the_shape() -> None:
    with pytest.raises(ValueError, match=r"images must be \(3, H, W\) or \(B, 3, H, W\), got \(1, 4, 4, 4\)"):
        float_to_frames_torch(torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match=r"images must be floating point, got torch.uint8"):
        float_to_frames_torch(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"frames must be \(H, W, 3\) or \(B, H, W, 3\), got \(1, 4, 4, 4\)"):
        frames_to_float_torch(torch.zeros(1, 4, 4, 4, dtype=torch.uint8))


def test_torch_conversions_of_one_image_and_into_a_given_buffer() -> None:
    g = torch.Generator().manual_seed(3)
    frame = torch.randint(0, 256, (5, 6, 3), dtype=torch.uint8, generator=g)   # one (H, W, 3)
    buf = torch.full((1, 3, 5, 6), 7.0)
    got = frames_to_float_torch(frame, out=buf)
    assert got is buf and got.shape == (1, 3, 5, 6)
    assert torch.equal(buf, torch.from_numpy(frames_to_float_numpy(frame.numpy()[None])))
    back = torch.empty(1, 5, 6, 3, dtype=torch.uint8)
    assert float_to_frames_torch(buf[0], out=back) is back                     # one (3, H, W)
    assert torch.equal(back[0], frame)


def test_numpy_conversions_infinities_shapes_and_dtypes() -> None:
    img = np.zeros((1, 3, 2, 2), np.float32)
    img[0, :, 0, 0], img[0, :, 0, 1] = np.inf, -np.inf
    out = float_to_frames_numpy(img)
    assert out[0, 0, 0].tolist() == [255, 255, 255] and out[0, 0, 1].tolist() == [0, 0, 0]
    assert frames_to_float_numpy(np.zeros((2, 2, 3), np.uint8)).dtype == np.float32
    with pytest.raises(ValueError, match=r"frames must be \(H, W, 3\) or \(B, H, W, 3\), got \(1, 4, 4, 4\)"):
        frames_to_float_numpy(np.zeros((1, 4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="images must be floating point, got uint8"):
        float_to_frames_numpy(np.zeros((1, 3, 4, 4), np.uint8))


def test_torch_conversions_allocate_their_documented_dtype() -> None:
    """Without `out`, the buffers they allocate are uint8 (B, H, W, 3) frames and float32
    (B, 3, H, W) images, contiguous, whatever the input's float type: the values alone would
    compare equal in the wrong dtype."""
    x = torch.from_numpy(_images(1))
    for src in (x, x.double(), x.half()):
        got = float_to_frames_torch(src)
        assert got.dtype == torch.uint8 and got.shape == (2, 7, 9, 3) and got.is_contiguous()
    back = frames_to_float_torch(got)
    assert back.dtype == torch.float32 and back.shape == (2, 3, 7, 9) and back.is_contiguous()
