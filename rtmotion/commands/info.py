"""`rtmotion info`: versions, backends and extras available, GPU presence, MediaPipe model."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import json
import logging
import platform
import sys
from pathlib import Path
from typing import Any

NAME = "info"
HELP = "show versions, generator backends (and why one cannot run), extras, GPU, MediaPipe model"

log = logging.getLogger(__name__)

# (distribution name, import name, what it is for, extra that installs it)
PACKAGES: tuple[tuple[str, str, str, str], ...] = (
    ("torch", "torch", "models, training, torch backend", "core"),
    ("numpy", "numpy", "arrays", "core"),
    ("av", "av", "video decode/encode (PyAV)", "core"),
    ("mediapipe", "mediapipe", "pose extraction (BlazePose)", "pose"),
    ("opencv-contrib-python", "cv2", "drawing, synthetic dancer", "core"),
    ("onnx", "onnx", "ONNX export", "core"),
    ("onnxruntime", "onnxruntime", "onnxruntime backend", "core"),
    ("protobuf", "google.protobuf", "mediapipe/onnx (<5 for mediapipe: the pose extra)", "core"),
    ("cupy", "cupy", "CUDA warp/flow kernels", "gpu-cuda12|gpu-cuda13"),
    ("tensorrt", "tensorrt", "TensorRT backend", "tensorrt"),
    ("pyvirtualcam", "pyvirtualcam", "virtual camera output", "live"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _version(dist: str, module: str) -> str | None:
    for name in (dist, module.split(".")[0]):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    # cupy ships under per-CUDA distribution names (cupy-cuda12x, ...): ask the module.
    try:
        mod = importlib.import_module(module)
        return str(getattr(mod, "__version__", "unknown"))
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None


def _gpu_report() -> dict[str, Any]:
    out: dict[str, Any] = {"cuda": False, "devices": []}
    try:
        import torch
    except ImportError:
        return out
    out["torch_cuda_build"] = torch.version.cuda
    if torch.cuda.is_available():
        out["cuda"] = True
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        from rtmotion.kernels.cupy_kernels import cupy_status

        ok, why = cupy_status()  # compiles and runs a test kernel
        out["cupy_kernels"] = {"usable": ok, "why": why}
    return out


def _mediapipe_model() -> dict[str, Any]:
    """Whether the BlazePose model files rtmotion needs are inside the installed wheel."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return {"found": False, "why": "mediapipe not installed"}
    root = Path(list(spec.submodule_search_locations)[0])
    need = ("pose_detection.tflite", "pose_landmark_full.tflite")
    found = {n: [str(p) for p in root.rglob(n)] for n in need}
    ok = all(found.values())
    res: dict[str, Any] = {"found": ok, "files": {k: (v[0] if v else None) for k, v in found.items()}}
    if not ok:
        res["why"] = ("this mediapipe wheel carries no BlazePose model; "
                      "install mediapipe==0.10.21 (pip install 'mediapipe==0.10.21')")
    return res


def collect() -> dict[str, Any]:
    """The whole report as a JSON-friendly dict."""
    from rtmotion import __version__

    pkgs = {}
    for dist, module, purpose, extra in PACKAGES:
        pkgs[dist] = {"version": _version(dist, module), "for": purpose, "extra": extra}
    from rtmotion.export.availability import backend_status

    backends = [b.to_dict() for b in backend_status()]
    return {
        "rtmotion": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": pkgs,
        "backends": backends,
        "gpu": _gpu_report(),
        "mediapipe_model": _mediapipe_model(),
    }


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    lines = [f"rtmotion {report['rtmotion']}  (python {report['python']}, {report['platform']})", ""]
    lines.append("packages:")
    for name, p in report["packages"].items():
        ver = p["version"] or "not installed"
        extras = " or ".join(f"'rtmotion[{e}]'" for e in p["extra"].split("|"))
        hint = "" if p["version"] or p["extra"] == "core" else f"  [pip install {extras}]"
        lines.append(f"  {name:24s} {ver:16s} {p['for']}{hint}")
    lines.append("")
    lines.append("generator backends (can run here: cpu / cuda; why not):")
    for b in report["backends"]:
        where = "/".join(k for k in ("cpu", "cuda") if b[k]) or "no"
        lines.append(f"  {b['name']:12s} {str(b['version'] or '-'):16s} {where:9s}"
                     + ("  " + "; ".join(b["why_not"]) if b["why_not"] else ""))
        for note in b["notes"]:
            lines.append(f"  {'':12s} {'':16s} {'':9s}  {note}")
    g = report["gpu"]
    lines.append("gpu: " + (", ".join(g["devices"]) if g["cuda"] else "none (CPU only)"))
    if g.get("cupy_kernels"):
        lines.append("cupy kernels: " + ("usable: " if g["cupy_kernels"]["usable"] else "NOT usable: ")
                     + g["cupy_kernels"]["why"])
    m = report["mediapipe_model"]
    lines.append("mediapipe pose model: " + ("found (BlazePose full, offline)" if m["found"] else
                                             f"MISSING: {m.get('why')}"))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
