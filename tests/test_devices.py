"""The device resolver: the CPU here, and a CUDA device always with its index (torch's CUDA
queries are replaced by a stand-in, since no GPU exists on the test machines)."""

from __future__ import annotations

import pytest
import torch

from rtmotion.devices import resolve_device
from rtmotion.errors import InputError


def test_cpu_and_unknown_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("gpu0")
    with pytest.raises(InputError, match="not supported"):
        resolve_device("meta")


def test_cuda_without_an_index_gets_torchs_current_device(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(InputError, match="only 2 CUDA GPU"):
        resolve_device("cuda:2")


def test_no_cuda_is_an_error_not_a_cpu_fallback(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(InputError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_strict_fp32_turns_tf32_off_and_restores_it() -> None:
    from rtmotion.devices import strict_fp32, tf32_state

    saved = tf32_state()
    try:
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = True
        with strict_fp32():
            assert tf32_state() == {"cudnn": False, "matmul": False}
        assert tf32_state() == {"cudnn": True, "matmul": True}
        with pytest.raises(RuntimeError), strict_fp32():
            raise RuntimeError("restored on errors too")
        assert tf32_state() == {"cudnn": True, "matmul": True}
    finally:
        torch.backends.cudnn.allow_tf32 = saved["cudnn"]
        torch.backends.cuda.matmul.allow_tf32 = saved["matmul"]
