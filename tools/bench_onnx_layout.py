"""Time a subject's ONNX generator in ONNX Runtime in the forms its graph could take.

Usage: python tools/bench_onnx_layout.py [-t demo-ada] [--calls 20] [--rounds 7] [--json out.json]

Builds (or reuses, from the engine cache) the subject's fp32 ONNX graph and opens it on one CPU
thread as the runner opens it ("padded": convolutions padded to ONNX Runtime's channel block,
`rtmotion.runtime.onnx_layout`) and unchanged ("as exported"); for a generator with the
appearance reference also "softmax choose": the same weights exported with the candidates'
masked softmax written as ONNX Softmax (`softmax_choose`, the form before graph revision 2),
padded. Checks that every arm gives the same frame on random inputs in the real ranges, and
times `--calls` calls of each, `--rounds` times alternated (the machine is shared: compare
within a round). Prints the median CPU milliseconds per call of each and the largest difference
of their outputs. docs/BENCHMARKS.md "Speed by design" holds runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np
import onnxruntime as ort
import torch

import rtmotion.models.generator as generator_module
from rtmotion.errors import RtmotionError
from rtmotion.export.engine import open_engine
from rtmotion.export.onnx_export import OPSET, export_generator_onnx
from rtmotion.models.generator import example_inputs
from rtmotion.runtime.onnx_layout import cpu_session_model
from rtmotion.subject import load_subject


def session(model: bytes | str) -> ort.InferenceSession:
    """One CPU thread, no spinning (as the runner)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def alternated_cpu_ms(arms: dict[str, ort.InferenceSession], feeds: dict[str, np.ndarray],
                      calls: int, rounds: int) -> dict[str, list[float]]:
    """CPU milliseconds a call of each arm, one value per round: each round runs every arm once
    (a warm-up call, then `calls` timed calls), so a busy minute of a shared machine falls on
    all arms alike."""
    times: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(rounds):
        for k, s in arms.items():
            s.run(None, feeds)
            t0 = time.process_time()
            for _ in range(calls):
                s.run(None, feeds)
            times[k].append(1e3 * (time.process_time() - t0) / calls)
    return times


def softmax_choose(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """`rtmotion.models.generator.choose` as it was written before graph revision 2: softmax,
    masked, renormalized (the same weights; exported as an ONNX Softmax over the channels)."""
    full = torch.cat([logits, torch.zeros_like(logits[:, :1])], dim=1)
    p = torch.softmax(full, dim=1) * torch.cat([masks, torch.ones_like(masks[:, :1])], dim=1)
    return p / p.sum(dim=1, keepdim=True)


def export_softmax_form(subject: object, folder: Path) -> Path:
    """The subject's generator exported with `softmax_choose` in place of `choose`."""
    real = generator_module.choose
    generator_module.choose = softmax_choose
    try:
        return export_generator_onnx(subject.generator, folder / "softmax.onnx", batch=1,  # type: ignore[attr-defined]
                                     opset_version=OPSET)
    finally:
        generator_module.choose = real


def timing_parser(doc: str) -> argparse.ArgumentParser:
    """The options of the ONNX timing tools: the subject, calls a round, rounds, the JSON report."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--subject", default="demo-ada")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", type=Path)
    return ap


def parse_timing_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parsed options; a JSON report whose folder does not exist is refused before any work."""
    args = ap.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        ap.error(f"--json {args.json}: no folder {args.json.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_timing_args(timing_parser(__doc__), argv)
    subject = load_subject(args.subject)
    runner, _ = open_engine(subject, "onnxruntime", "fp32", "cpu", threads=1)  # built once, cached
    path = runner.path
    runner.close()
    arms = {"padded": session(cpu_session_model(path)),
            "as exported": session(str(path))}
    if subject.generator_config.use_reference:
        with tempfile.TemporaryDirectory(prefix="rtmotion-softmax-") as tmp:
            arms["softmax choose"] = session(cpu_session_model(export_softmax_form(subject, Path(tmp))))
    feeds = {k: v.numpy() for k, v in example_inputs(subject.generator_config).items()}
    feeds = {k: v for k, v in feeds.items() if k in {i.name for i in arms["padded"].get_inputs()}}
    outs = {k: s.run(None, feeds)[0] for k, s in arms.items()}
    diff = max(float(np.abs(outs["padded"] - o).max()) for o in outs.values())
    times = alternated_cpu_ms(arms, feeds, args.calls, args.rounds)
    rows = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    sys.stdout.write(f"{args.subject} fp32 ONNX, one thread, {args.calls} calls x {args.rounds} rounds: "
                     + ", ".join(f"{k} {v} ms" for k, v in rows.items())
                     + f"; max |frame difference| {diff:.2g}\n")
    if args.json:
        args.json.write_text(json.dumps({"subject": args.subject, "ms_per_call": rows,
                                         "rounds": times, "max_abs_diff": diff}, indent=1) + "\n")
    return 0


def run_tool(main: Callable[[], int], script: str) -> NoReturn:
    """Exit with what `main()` returns; an RtmotionError (a bad subject) as one line, the way
    the CLI says it, with its exit code. `script`: the tool's file, for the message."""
    try:
        sys.exit(main())
    except RtmotionError as e:
        print(f"{Path(script).name}: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    run_tool(main, __file__)
