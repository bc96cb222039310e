"""The `rtmotion` command line: a thin dispatcher over `rtmotion.commands.*`.

Each subcommand lives in its own module under `rtmotion/commands/` exposing
`NAME: str`, `HELP: str`, `add_arguments(parser) -> None` and `run(args) -> int`.
Modules are imported when the parser is built, so they must import heavy packages
(torch, mediapipe, av) inside `run`, keeping `rtmotion --help` fast.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence

from rtmotion import __version__
from rtmotion.errors import RtmotionError

#: = rtmotion.pose.extractors.mediapipe.NATIVE_LOGS_ENV (importing that module would load numpy
#: before --help; tests/pose/test_quiet_logs.py keeps the two equal)
NATIVE_LOGS_ENV = "RTMOTION_NATIVE_LOGS"

# Order here is the order in `rtmotion --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "convert",
    "live",
    "serve",
    "bench",
    "info",
    "synth",
    "extract",
    "normalize",
    "inspect",
    "train",
    "eval",
    "calibrate",
    "export",
    "build",
)

log = logging.getLogger("rtmotion")


def _load_commands() -> list:
    mods = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(f"rtmotion.commands.{name}"))
        except ModuleNotFoundError as e:
            # A command whose module is not written yet is simply absent.
            if e.name == f"rtmotion.commands.{name}":
                continue
            raise
    return mods


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it would mislead: on/off flags (whose stored
    default reads as the opposite of the flag, "--no-background-plate (default: True)") and
    defaults of None (nothing given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.nargs == 0 or action.default is None:
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtmotion",
        description="Real-time motion transfer: make a target person move like a source dancer.",
    )
    parser.add_argument("--version", action="version", version=f"rtmotion {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output: -v adds the native libraries' own logs (MediaPipe, "
                             "TFLite) and deprecation warnings, -vv debug")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors, no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _load_commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=HelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose >= 2 else
                                         logging.INFO if verbose >= 0 else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # MediaPipe / TFLite / absl are chatty on stderr; keep them quiet unless debugging.
    if verbose < 2:
        for noisy in ("absl", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    if verbose >= 1:
        # -v: the native libraries' own logs too (MediaPipe's C++ glog/absl, TFLite), in this
        # process and in the worker processes it starts (they inherit the environment).
        os.environ[NATIVE_LOGS_ENV] = "1"
    else:
        # Deprecation notices of libraries (torch's FutureWarnings while exporting or
        # compiling) are for developers, not for a user's run: shown with -v.
        warnings.filterwarnings("ignore", category=FutureWarning)


def _stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's Python stack to stderr and the run goes on: what
    a run that seems stuck (a live window that shows nothing) is waiting for. Where the signal
    or a real stderr is missing (Windows, a captured stream), nothing is registered."""
    if hasattr(signal, "SIGUSR1"):
        with contextlib.suppress(AttributeError, ValueError, OSError, RuntimeError):
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    _setup_logging(args.verbose, args.quiet)
    _stacks_on_sigusr1()
    try:
        return int(args._run(args) or 0)
    except RtmotionError as e:
        print(f"rtmotion {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"rtmotion {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
