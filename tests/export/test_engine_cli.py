"""`rtmotion export`, `rtmotion calibrate`, `rtmotion info` as a user runs them (in-process)."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import onnx

from rtmotion.cli import main


def test_export_states_the_difference_on_recorded_inputs(tiny_subject, calibration_root,
                                                         tmp_path, capsys) -> None:
    out = tmp_path / "tiny.onnx"
    assert main(["export", str(tiny_subject.path), "-o", str(out), "--batch", "3",
                 "--calibration-dir", str(calibration_root)]) == 0
    line = capsys.readouterr().out
    assert "max abs difference vs PyTorch" in line and "9 recorded frames" in line
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["parity"]["max_abs_diff"] < 2e-3 and report["opset"] == 17
    assert report["dynamo"] is False and report["batch"] == 3
    assert report["inputs"]["pose_maps"] == [3, 25, 32, 32]
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 25, 32, 32]


def test_export_records_inputs_when_there_is_no_set(tiny_subject, tmp_path, capsys) -> None:
    out = tmp_path / "t.onnx"
    assert main(["export", str(tiny_subject.path), "-o", str(out),
                 "--calibration-dir", str(tmp_path / "none")]) == 0
    assert "recorded now from synthetic ground truth" in capsys.readouterr().out


def test_export_bad_output_is_one_line_and_writes_nothing(tiny_subject, tmp_path, capsys) -> None:
    assert main(["export", str(tiny_subject.path), "-o", str(tmp_path / "x.txt")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "x.txt" in err[0] and ".onnx" in err[0]
    assert main(["export", str(tmp_path / "nobody"), "-o", str(tmp_path / "y.onnx")]) == 2
    assert "subject not found" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_calibrate_writes_npz_by_input_name_and_its_origin(tiny_subject, tmp_path, capsys) -> None:
    assert main(["calibrate", str(tiny_subject.path), "-o", str(tmp_path), "--frames", "5",
                 "--max-poses", "8"]) == 0
    assert "5 generator calls" in capsys.readouterr().out
    with np.load(tmp_path / "tiny" / "32x32.npz") as data:
        assert sorted(data.files) == ["pose_maps", "prev_mask", "warped_prev"]
        assert data["pose_maps"].shape == (5, 25, 32, 32) and data["pose_maps"].dtype == np.float32
    info = json.loads((tmp_path / "tiny" / "32x32.json").read_text())
    assert info["poses"]["kind"] == "heldout" and info["poses"]["frames"] == [2430, 2438]
    assert info["subject"] == "tiny" and len(info["indices"]) == 5 and info["generated"] == 8
    assert info["command"].startswith("rtmotion ")


def test_calibrate_from_a_pose_file_of_another_size_is_refused(tiny_subject, tmp_path,
                                                               capsys) -> None:
    from rtmotion.pose.posefile import PoseSequence

    poses = tmp_path / "p.npz"
    PoseSequence(np.zeros((4, 25, 3), np.float32), "body25", Fraction(30), (100, 50),
                 np.arange(4) / 30.0).save(poses)
    assert main(["calibrate", str(tiny_subject.path), "--poses", str(poses),
                 "-o", str(tmp_path / "cal")]) == 2
    err = capsys.readouterr().err
    assert "p.npz" in err and "100x50" in err
    assert not (tmp_path / "cal").exists()


def test_info_lists_every_backend(capsys) -> None:
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [b["name"] for b in report["backends"]]
    assert names == ["torch", "onnxruntime", "aoti", "tensorrt"]
    for b in report["backends"]:
        assert b["usable"] or b["why_not"]  # a backend that cannot run says why
    assert main(["info"]) == 0
    assert "tensorrt" in capsys.readouterr().out


def test_build_int8_records_the_calibration_set_when_there_is_none(tiny_subject, tmp_path,
                                                                   capsys, caplog) -> None:
    """One command: `build --precision int8` with no set records it (the code `rtmotion
    calibrate` runs), says so, then builds and checks the INT8 engine; a second build reuses
    both."""
    import logging

    from rtmotion.commands.calibrate import DEFAULT_FRAMES
    from rtmotion.eval.recording import DEFAULT_CALIBRATION_FRAMES

    assert DEFAULT_FRAMES == DEFAULT_CALIBRATION_FRAMES
    cal, eng = tmp_path / "cal", tmp_path / "eng"
    args = ["build", str(tiny_subject.path), "--backend", "onnxruntime", "--precision", "int8",
            "--device", "cpu", "--calibration-dir", str(cal), "--engine-dir", str(eng),
            "--check", "0", "--json"]
    with caplog.at_level(logging.INFO, logger="rtmotion"):
        assert main(args) == 0
    assert "no calibration set for tiny" in caplog.text and "rtmotion calibrate" in caplog.text
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == "int8" and result["built"]
    assert result["calibrated"].startswith("calibration set recorded now: ")
    info = json.loads((cal / "tiny" / "32x32.json").read_text())
    assert info["poses"]["kind"] == "heldout" and info["command"].startswith("rtmotion ")
    assert result["quality"]["frames"] > 0
    caplog.clear()
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["calibrated"] is None and not again["built"]
