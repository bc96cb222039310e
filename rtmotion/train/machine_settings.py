"""Training settings chosen for the machine, and the step budget of `--minutes`.

`rtmotion train` used to start every run with the GPU recipe (256x256, discriminator 64
channels, 2 loader workers). On a 2-core CPU a step of that took 10-36 s: `--minutes 8` made
23 steps and a dark blob. Here:

- `choose_settings`: the resolution, generator preset, batch, discriminator width, loader
  workers, learning rate and whether the discriminators train, for the device. A CUDA GPU gets
  the full recipe (the defaults `train` always had); a CPU gets the generator demo-ada was
  trained with on the 2-core dev CPU (128x128, "small", batch 4, 1 worker;
  `rtmotion/data/subjects/demo-ada/train_command.txt`) with a higher learning rate for its
  short budgets (`CPU_LR`) and without the discriminators (`CPU_ADVERSARIAL`: L1 + SSIM, about
  0.45 s a step instead of demo-ada's 1.45 s with discriminators of 32 channels). Priority per
  setting: its flag, then (with `--resume`) the checkpoint's, then the machine's recipe, so an
  explicit flag always wins and a resumed run keeps the model it continues.
- `estimate_step_seconds`: a calibrated estimate of one step's time, from demo-ada's measured
  step scaled by the work per step (generator FLOPs of the preset and resolution, the
  discriminator's width, batch, clip length, threads). Printed before any work, with the steps
  that fit `--minutes`; with fewer than `MIN_USABLE_STEPS` a warning says so before starting.
- `BudgetPlanner`: during the run, the real step time is measured (after the first, warm-up
  step) and the end step and the linear learning-rate decay are re-planned so that the decay
  reaches 0 when the budget ends. Where the user gave `--steps`, that stays the cap; where they
  gave `--lr-decay-steps`, the schedule is theirs. A `--resume`d run plans its own budget: the
  learning rate starts again at `lr` and decays to 0 over the steps that fit this time (a warm
  restart, like the demo subject's second slice). A GPU run's steps and schedule are unchanged
  (its settings and its constant learning rate are what it always had); the planner only says
  what fits there.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from rtmotion.train.config import TrainConfig

log = logging.getLogger(__name__)

#: The settings chosen for the machine (TrainConfig field names; CLI flags map one to one).
MACHINE_FIELDS: tuple[str, ...] = ("preset", "resolution", "batch_size", "d_channels", "workers",
                                   "lr", "adversarial")
#: Steps when neither --steps nor --minutes is given (what `train` always did).
DEFAULT_STEPS = 20000
#: Fewer planned steps than this: the subject may not be usable; said before starting.
#: Measured on real clips (issue 18, 2-core CPU): 23 steps made a blob (body SSIM 0.54), about
#: 110 steps at demo-ada's recipe a recognizable person at 0.82, just above the usable 0.80;
#: demo-ada itself took 1500. (The synthetic dancer, with its keyframe reference, scores 0.96
#: after 30 steps: it is easier than real footage.)
MIN_USABLE_STEPS = 300

#: demo-ada's recipe on the 2-core dev CPU (2 torch threads, 1 loader worker): 1.45 s a step,
#: measured over 1200 steps (docs/BENCHMARKS.md, "refgaptf0" arm).
CPU_REFERENCE_SECONDS = 1.45
CPU_REFERENCE_THREADS = 2
#: Generator GFLOPs per frame at 128x128 (docs/BENCHMARKS.md, tools/model_size.py); they scale
#: with the pixels.
PRESET_GFLOPS_128 = {"tiny": 0.61, "small": 1.46, "base": 3.47}
#: Share of demo-ada's step spent in the generator (forward + backward) vs the discriminators;
#: the discriminators' cost grows with the square of their width. Measured without them
#: (`--no-gan`, docs/BENCHMARKS.md "Without the discriminators on a CPU"): 0.42-0.50 s a step
#: on real 8 s clips, against 1.0 s with them on the same clips and demo-ada's 1.45 s.
GENERATOR_SHARE = 0.33
#: Adam's learning rate (G and the discriminators) on a GPU: pix2pixHD's, what `train` always used.
GPU_LR = 2e-4
#: ... and on a CPU, where a run is 20-40 minutes (about 1000 steps) with the rate decaying to 0
#: over them. Measured on real 8 s clips at equal minutes (docs/BENCHMARKS.md, "A higher learning
#: rate for CPU budgets"): 5e-4 against 2e-4 raised the held-out body SSIM on every clip tried;
#: 1e-3 against 5e-4 raised it again a little on the three real clips tried (+0.002 to +0.009;
#: "1e-3 for CPU budgets").
CPU_LR = 1e-3
#: ... and trains without the discriminators (`TrainConfig.adversarial`, `--no-gan`): at CPU_LR
#: they give up within a few hundred steps (hinge loss ~2.0 at the end of every 20-minute run),
#: so the ~60 % of each step they take buys little; without them 2.4x the steps fit. Measured on
#: three real 8 s clips at 20 minutes (docs/BENCHMARKS.md, "Without the discriminators on a
#: CPU"): held-out body SSIM +0.011 / +0.001 / +0.000, at the output frame +0.005 / +0.001 /
#: +0.004; the face mixed (-0.011 / -0.029 / +0.054); on a synthetic dancer (8 minutes) body
#: and face up (+0.007, +0.012).
CPU_ADVERSARIAL = False


@dataclass(frozen=True)
class MachineRecipe:
    """The settings `train` uses on one kind of machine when no flag says otherwise."""

    kind: str  # "cpu" or "cuda"
    preset: str
    resolution: tuple[int, int]
    batch_size: int
    d_channels: int
    workers: int
    lr: float
    adversarial: bool  # the discriminators (GAN, temporal GAN, feature matching) train
    why: str

    def values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in MACHINE_FIELDS}


#: The full recipe (unchanged: what `train` has always run on a GPU).
GPU_RECIPE = MachineRecipe("cuda", "small", (256, 256), 4, 64, 2, GPU_LR, True,
                           "CUDA GPU: the full recipe")


def cpu_recipe(cores: int) -> MachineRecipe:
    """demo-ada's recipe at CPU_LR without the discriminators (`CPU_ADVERSARIAL`); a second
    loader worker only where cores are to spare."""
    return MachineRecipe("cpu", "small", (128, 128), 4, 32, 1 if cores <= 4 else 2, CPU_LR,
                         CPU_ADVERSARIAL,
                         f"{cores}-core CPU: demo-ada's generator at a higher learning rate, "
                         "L1 + SSIM without the discriminators (about 0.5 s a step on 2 cores)")


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def recipe_for(device_type: str, cores: int | None = None) -> MachineRecipe:
    """The recipe of a device type ("cpu" or "cuda")."""
    if device_type == "cuda":
        return GPU_RECIPE
    return cpu_recipe(cpu_cores() if cores is None else cores)


@dataclass
class ChosenSettings:
    """The settings a run uses and where each came from ("flag", "checkpoint", "machine")."""

    values: dict[str, Any]
    origin: dict[str, str]
    recipe: MachineRecipe
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: `resolution 128x128 (machine), preset small (flag), ...`."""
        parts = []
        for f in MACHINE_FIELDS:
            v = self.values[f]
            if f == "adversarial":
                parts.append(f"gan {'on' if v else 'off'} ({self.origin[f]})")
                continue
            text = f"{v[0]}x{v[1]}" if f == "resolution" else f"{v:g}" if f == "lr" else str(v)
            parts.append(f"{f.replace('_', ' ')} {text} ({self.origin[f]})")
        return ", ".join(parts)


def choose_settings(given: dict[str, Any], device_type: str, cores: int | None = None,
                    resumed: dict[str, Any] | None = None) -> ChosenSettings:
    """Fill the machine settings the user did not give.

    Args:
        given: parsed flags by TrainConfig field name; None = not given on the command line.
        device_type: "cpu" or "cuda" (the resolved device).
        cores: CPU cores (default: this process's).
        resumed: the config recorded in the checkpoint a `--resume` continues, or None.
    """
    recipe = recipe_for(device_type, cores)
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    notes: list[str] = []
    for f in MACHINE_FIELDS:
        if given.get(f) is not None:
            values[f], origin[f] = given[f], "flag"
        elif resumed is not None and f in resumed:
            v = resumed[f]
            values[f], origin[f] = (tuple(v) if f == "resolution" else v), "checkpoint"
        else:
            values[f], origin[f] = getattr(recipe, f), "machine"
    values["resolution"] = tuple(int(x) for x in values["resolution"])
    if (resumed is not None and device_type == "cuda"
            and any(origin[f] == "checkpoint" and values[f] != getattr(recipe, f)
                    for f in MACHINE_FIELDS)):
        notes.append("resuming keeps the checkpoint's settings; a new run here would use "
                     "the GPU recipe")
    return ChosenSettings(values, origin, recipe, notes)


def estimate_step_seconds(cfg: TrainConfig, device_type: str, threads: int | None = None
                          ) -> float | None:
    """Calibrated estimate of one training step's seconds on the CPU (None on a GPU: measured
    once the run starts). Scaled from demo-ada's 1.45 s by the generator FLOPs (preset x pixels),
    the discriminators' width squared x pixels (none with --no-gan), batch, clip length and the
    torch threads."""
    if device_type != "cpu":
        return None
    w, h = cfg.resolution
    pixels = (w * h) / (128 * 128)
    gen = PRESET_GFLOPS_128.get(cfg.preset, PRESET_GFLOPS_128["small"]) / PRESET_GFLOPS_128["small"]
    disc = (cfg.d_channels / 32) ** 2 * cfg.d_scales / 2 if cfg.adversarial else 0.0
    work = pixels * (GENERATOR_SHARE * gen + (1 - GENERATOR_SHARE) * disc)
    work *= cfg.batch_size / 4 * cfg.clip_length / 2
    if cfg.keyframes <= 0:  # no reference keyframe to warp: a little less work
        work *= 0.9
    n = threads if threads is not None else _torch_threads()
    return CPU_REFERENCE_SECONDS * work * CPU_REFERENCE_THREADS / max(1, min(n, cpu_cores()))


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def steps_that_fit(minutes: float, seconds_per_step: float) -> int:
    """Whole steps in `minutes` at `seconds_per_step`."""
    if seconds_per_step <= 0:
        return 0
    return int(math.floor(minutes * 60.0 / seconds_per_step))


def budget_flags(given: dict[str, Any], device_type: str) -> dict[str, Any]:
    """TrainConfig fields for the step budget: steps, lr_decay_steps and the planner's switches.

    On a CPU with --minutes the run's end step and the learning-rate decay are planned from the
    measured step time (`fit_minutes`, `fit_lr_decay`); an explicit --steps stays the cap
    (`max_steps`), an explicit --lr-decay-steps keeps its schedule. Without --minutes, or on a
    GPU, steps and the schedule are the flags' (default 20000 steps, constant learning rate).
    """
    steps, decay = given.get("steps"), given.get("lr_decay_steps")
    out: dict[str, Any] = {"steps": DEFAULT_STEPS if steps is None else int(steps),
                           "lr_decay_steps": 0 if decay is None else int(decay),
                           "fit_minutes": False, "fit_lr_decay": False, "max_steps": 0}
    if given.get("minutes") is None or device_type != "cpu":
        return out
    if steps is not None and decay is not None:
        return out  # both explicit: the user's schedule, stopped by the clock as before
    out["fit_minutes"] = True
    out["max_steps"] = 0 if steps is None else int(steps)
    out["fit_lr_decay"] = decay is None
    return out


@dataclass(frozen=True)
class BudgetPlan:
    """Where a run with a time budget will end."""

    seconds_per_step: float
    measured: bool  # False: the calibrated estimate
    start_step: int
    end_step: int

    @property
    def steps(self) -> int:
        return self.end_step - self.start_step


#: Steps over which a resumed run with a fitted decay ramps its learning rate back up from 0
#: (`TrainConfig.lr_warmup_steps`): restarting at the full rate made the discriminator collapse.
RESUME_WARMUP_STEPS = 50


def plan_config(cfg: TrainConfig, plan: BudgetPlan) -> TrainConfig:
    """`cfg` with its steps (and, when planned, its learning-rate decay) set to `plan`.

    A planned decay runs over this run's own steps, so a resumed run starts it at the full rate
    again after the last run's decayed to 0: it warms up over `RESUME_WARMUP_STEPS` first."""
    steps = plan.end_step
    decay = plan.steps if cfg.fit_lr_decay else min(cfg.lr_decay_steps, steps)
    warmup = RESUME_WARMUP_STEPS if cfg.fit_lr_decay and plan.start_step > 0 else 0
    return replace(cfg, steps=steps, lr_decay_steps=max(0, decay),
                   lr_warmup_start=plan.start_step if warmup else 0, lr_warmup_steps=warmup)


def describe_budget(cfg: TrainConfig, seconds: float | None, measured: bool,
                    start_step: int = 0) -> str:
    """The expected step time and what fits, for the start-up summary."""
    how = "measured" if measured else "calibrated estimate"
    if seconds is None:
        return "seconds per step: measured after the first steps"
    text = f"about {seconds:.2f} s per step ({how})"
    if cfg.minutes is not None:
        fit = steps_that_fit(cfg.minutes, seconds)
        text += f": {fit} steps fit in --minutes {cfg.minutes:g}"
        if cfg.fit_minutes:
            cap = f" (capped by --steps {cfg.max_steps})" if cfg.max_steps else ""
            text += f"{cap}; "
            text += ("the learning rate decays linearly to 0 over them" if cfg.fit_lr_decay
                     else f"learning rate decay over the last {cfg.lr_decay_steps} steps")
    else:
        todo = max(0, cfg.steps - start_step)
        text += f": {todo} steps take about {_duration(todo * seconds)} (--minutes sets a budget)"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def too_few_steps_warning(steps: int, minutes: float, seconds: float, how: str) -> str | None:
    """The warning for a budget that cannot make a usable subject, or None."""
    if steps >= MIN_USABLE_STEPS:
        return None
    need = math.ceil(MIN_USABLE_STEPS * seconds / 60.0)
    return (f"only {steps} training steps fit in --minutes {minutes:g} at {seconds:.2f} s per step "
            f"({how}); with fewer than {MIN_USABLE_STEPS} a subject of real footage may not be "
            f"usable (23 steps made a blob, ~110 only just passed). Give --minutes {need} or more, "
            "or continue later with --resume (the score at the end says whether it is usable)")


#: A re-planned end is said at most this often (seconds): the plan follows every step, but a
#: machine whose load swings (another job starting and stopping) moved it >10 % every few steps
#: and filled a 20-minute run's log with 54 plan lines (docs/BENCHMARKS.md, issue 18).
REPLAN_LOG_SECONDS = 60.0


#: The planner's step time is the mean over the last this many seconds of steps (all of them
#: before that much has passed). A moving average weighted per step (0.15 for the newest) moved
#: a resumed run's planned end from 2604 to 594 steps and back, and its learning rate with it,
#: when another job took the CPU for a few seconds: one 10-s step weighed as much as 15 s of
#: normal ones. Over a window of time a burst counts for the time it took, a lasting slowdown is
#: followed within the window, and the periodic costs inside the loop (checkpoints, samples) are
#: paid for in proportion.
STEP_TIME_WINDOW_SECONDS = 60.0


class BudgetPlanner:
    """Re-plans a budgeted run's end step and learning-rate decay from its measured step time.

    Call `after_step(step)` after every optimizer step; it returns the re-planned TrainConfig
    (or None before the first measurement). The first step (loader start-up, allocation) is not
    timed; the plan is first made after `first_measure` timed steps, then after every step from
    the mean step time over the last `window` seconds (`STEP_TIME_WINDOW_SECONDS`), so a machine
    that slows down for good (another job starts) shortens the plan and the learning rate still
    reaches 0 when the time is up, while a few slow seconds move it by no more than they cost.
    Under DDP every rank calls it at the same steps and `agree` averages the planned end over
    the ranks, so they stop together.
    """

    def __init__(self, cfg: TrainConfig, start_step: int, deadline: float,
                 agree: Any = None, first_measure: int = 3,
                 window: float = STEP_TIME_WINDOW_SECONDS) -> None:
        self.cfg = cfg
        self.start_step = start_step
        self.deadline = deadline
        self.agree = agree or (lambda end: end)
        self.first_measure = first_measure
        self.window = window
        self.plan: BudgetPlan | None = None
        self._marks: deque[tuple[float, int]] = deque()  # (time.monotonic(), step) after each step
        self._timed = 0
        self._seconds: float | None = None  # the windowed mean
        self._logged_end: int | None = None
        self._logged_at = 0.0  # time.monotonic() of the last plan line
        self._warned = False
        self.verbose = True

    @classmethod
    def start(cls, cfg: TrainConfig, start_step: int, agree: Any = None, verbose: bool = True
              ) -> tuple[BudgetPlanner | StepTimer, TrainConfig]:
        """The planner of a run and the config planned from the calibrated estimate (for the
        progress bar and the first steps' learning rate). A run without a budget to fit (a GPU
        run, no --minutes, or --steps and --lr-decay-steps both given) gets a `StepTimer` that
        only measures and says what fits, and its config unchanged."""
        deadline = None if cfg.minutes is None else time.monotonic() + cfg.minutes * 60.0
        if not cfg.fit_minutes or deadline is None:
            return StepTimer(cfg, start_step, deadline, verbose), cfg
        planner = cls(cfg, start_step, deadline, agree)
        planner.verbose = verbose
        est = estimate_step_seconds(cfg, "cpu") or CPU_REFERENCE_SECONDS
        planner.plan = planner._make(est, False, start_step)
        return planner, plan_config(cfg, planner.plan)

    @property
    def seconds_per_step(self) -> float | None:
        """The measured seconds per step (mean over the window), None before the first
        measurement."""
        return self._seconds if self._timed >= self.first_measure else None

    def _make(self, seconds: float, measured: bool, step: int) -> BudgetPlan:
        left = max(0.0, self.deadline - time.monotonic())
        end = step + steps_that_fit(left / 60.0, seconds)
        end = int(round(self.agree(end)))
        if self.cfg.max_steps:
            end = min(end, self.cfg.max_steps)
        return BudgetPlan(seconds, measured, self.start_step, max(end, step))

    def after_step(self, step: int) -> TrainConfig | None:
        """After optimizer step `step` (the count of steps done, resumed ones included)."""
        now = time.monotonic()
        self._marks.append((now, step))
        if len(self._marks) == 1:  # the warm-up step: start timing after it
            return None
        self._timed += 1
        if self._timed < self.first_measure:
            return None
        # Keep the oldest mark that still spans the window: drop it while the next one does.
        while len(self._marks) > 2 and now - self._marks[1][0] >= self.window:
            self._marks.popleft()
        since, first = self._marks[0]
        self._seconds = (now - since) / max(1, step - first)
        self.plan = self._make(self._seconds, True, step)
        self._report(step)
        return plan_config(self.cfg, self.plan)

    def _report(self, step: int) -> None:
        assert self.plan is not None and self._seconds is not None
        if not self.verbose:
            return
        end = self.plan.end_step
        now = time.monotonic()
        if self._logged_end is not None and (
                abs(end - self._logged_end) <= 0.1 * max(1, self._logged_end - self.start_step)
                or now - self._logged_at < REPLAN_LOG_SECONDS):
            return
        first = self._logged_end is None
        self._logged_end, self._logged_at = end, now
        log.info("%s %.2f s per step: training to step %d within --minutes %g%s",
                 "measured" if first else f"at step {step} the steps take", self._seconds, end,
                 self.cfg.minutes,
                 "; the learning rate decays linearly to 0 there" if self.cfg.fit_lr_decay else "")
        warning = too_few_steps_warning(self.plan.end_step, float(self.cfg.minutes), self._seconds,
                                        "measured")
        if warning and not self._warned:
            log.warning(warning)
            self._warned = True


class StepTimer:
    """Measures a run's step time and says once what fits, changing nothing (a GPU run, or one
    whose steps and schedule the flags fixed). `after_step` always returns None."""

    def __init__(self, cfg: TrainConfig, start_step: int, deadline: float | None,
                 verbose: bool = True, timed_steps: int = 10) -> None:
        self.cfg = cfg
        self.start_step = start_step
        self.deadline = deadline
        self.verbose = verbose
        self.timed_steps = timed_steps
        self._t0: float | None = None
        self.seconds_per_step: float | None = None

    def after_step(self, step: int) -> None:
        now = time.monotonic()
        if self._t0 is None:  # after the warm-up step
            self._t0 = now
            return None
        done = step - self.start_step - 1
        if self.seconds_per_step is not None or done < self.timed_steps:
            return None
        self.seconds_per_step = (now - self._t0) / done
        if not self.verbose:
            return None
        todo = max(0, self.cfg.steps - step)
        if self.deadline is not None:
            fit = steps_that_fit(max(0.0, self.deadline - now) / 60.0, self.seconds_per_step)
            log.info("measured %.3f s per step: about %d more steps fit in --minutes %g "
                     "(%d to go to --steps %d; steps and learning rate as given)",
                     self.seconds_per_step, fit, self.cfg.minutes, todo, self.cfg.steps)
        else:
            log.info("measured %.3f s per step: the %d steps to go take about %s",
                     self.seconds_per_step, todo, _duration(todo * self.seconds_per_step))
        return None
