"""tools/ablation_table.py reads the arms' bundles and eval reports into one markdown row each."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ablation_table.py"


def _tool():
    spec = importlib.util.spec_from_file_location("ablation_table", TOOL)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def _report(path: Path, body: float, face: float) -> None:
    path.write_text(json.dumps({"metrics": {"body_ssim": {"mean": body}, "body_psnr": {"mean": 25.0},
                                            "face_ssim": {"mean": face}, "face_psnr": {"mean": None}}}))


def test_rows_from_reports(tmp_path: Path, capsys) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "subject.json").write_text(json.dumps({"training": {"steps": 300, "minutes": 7.5}}))
    _report(tmp_path / "a-heldout.json", 0.9412, 0.88)
    _report(tmp_path / "a-transfer.json", 0.8, 0.7)
    assert _tool().main([str(tmp_path), "a", "missing"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[1].count("---") == 10
    assert lines[2] == "| a | 300 | 7.5 | 0.941 | 25.00 | 0.880 | - | 0.800 | 0.700 | - |"
    assert lines[3].startswith("| missing | - | - | - |")
    assert _tool().main([]) == 2
