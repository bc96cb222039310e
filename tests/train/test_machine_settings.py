"""Settings chosen for the machine, the step-time estimate and the budget planner (fast: no
training; the planner runs on a controlled clock)."""

from __future__ import annotations

import pytest

import rtmotion.train.machine_settings as ms
from rtmotion.cli import build_parser
from rtmotion.commands.train import config_from_args, settings_from_args
from rtmotion.train.config import TrainConfig
from rtmotion.train.trainer import learning_rate


def test_cpu_gets_demo_adas_recipe_and_gpu_the_full_one() -> None:
    cpu = ms.choose_settings({}, "cpu", cores=2)
    assert cpu.values == {"preset": "small", "resolution": (128, 128), "batch_size": 4,
                          "d_channels": 32, "workers": 1, "lr": ms.CPU_LR, "adversarial": False}
    assert set(cpu.origin.values()) == {"machine"}
    # GPU: exactly the defaults `train` always had (its behaviour does not change).
    gpu = ms.choose_settings({}, "cuda")
    assert gpu.values == {"preset": "small", "resolution": (256, 256), "batch_size": 4,
                          "d_channels": 64, "workers": 2, "lr": 2e-4, "adversarial": True}
    assert ms.CPU_LR > ms.GPU_LR == TrainConfig().lr  # a GPU run keeps pix2pixHD's rate
    assert TrainConfig().adversarial  # ... and its discriminators
    assert ms.choose_settings({}, "cpu", cores=16).values["workers"] == 2


def test_flags_win_then_the_checkpoint_then_the_machine() -> None:
    chosen = ms.choose_settings({"resolution": (192, 192), "workers": 0, "batch_size": None},
                                "cpu", cores=2,
                                resumed={"resolution": [64, 64], "d_channels": 16, "preset": "tiny"})
    assert chosen.values["resolution"] == (192, 192) and chosen.origin["resolution"] == "flag"
    assert chosen.values["workers"] == 0 and chosen.origin["workers"] == "flag"
    assert chosen.values["d_channels"] == 16 and chosen.origin["d_channels"] == "checkpoint"
    assert chosen.values["preset"] == "tiny"
    assert chosen.values["batch_size"] == 4 and chosen.origin["batch_size"] == "machine"
    assert "resolution 192x192 (flag)" in chosen.describe()
    assert f"lr {ms.CPU_LR:g} (machine)" in chosen.describe()
    # a run resumed from a checkpoint keeps its learning rate and its discriminators
    assert ms.choose_settings({}, "cpu", cores=2, resumed={"lr": 2e-4}).values["lr"] == 2e-4
    kept = ms.choose_settings({}, "cpu", cores=2, resumed={"adversarial": True})
    assert kept.values["adversarial"] is True and "gan on (checkpoint)" in kept.describe()
    assert "gan off (machine)" in ms.choose_settings({}, "cpu", cores=2).describe()


def test_cli_fills_what_no_flag_gave() -> None:
    parser = build_parser()
    cfg, chosen = settings_from_args(parser.parse_args(
        ["train", "--video", "v.mp4", "-o", "out", "--device", "cpu"]))
    assert cfg.resolution == (128, 128) and cfg.d_channels == 32 and cfg.preset == "small"
    assert cfg.workers == ms.recipe_for("cpu").workers
    assert (cfg.steps, cfg.lr_decay_steps, cfg.fit_minutes) == (20000, 0, False)  # no budget
    assert cfg.lr == ms.CPU_LR
    # a CPU trains without the discriminators unless --gan says so; a GPU keeps them
    assert cfg.adversarial is ms.CPU_ADVERSARIAL is False
    assert config_from_args(parser.parse_args(
        ["train", "--video", "v.mp4", "-o", "out", "--device", "cpu", "--gan"])).adversarial
    assert ms.choose_settings({}, "cuda").values["adversarial"] is True
    assert config_from_args(parser.parse_args(
        ["train", "--video", "v.mp4", "-o", "out", "--device", "cpu", "--lr", "1e-4"])).lr == 1e-4
    cfg = config_from_args(parser.parse_args(
        ["train", "--video", "v.mp4", "-o", "out", "--device", "cpu", "--resolution", "256",
         "--d-channels", "64", "--workers", "2", "--batch-size", "8", "--preset", "base"]))
    assert (cfg.resolution, cfg.d_channels, cfg.workers, cfg.batch_size, cfg.preset) == \
        ((256, 256), 64, 2, 8, "base")


def test_budget_flags() -> None:
    # CPU + --minutes: the steps and the LR decay fit the budget.
    f = ms.budget_flags({"minutes": 10}, "cpu")
    assert f["fit_minutes"] and f["fit_lr_decay"] and f["max_steps"] == 0
    # an explicit --steps is the cap; an explicit --lr-decay-steps is kept
    f = ms.budget_flags({"minutes": 10, "steps": 500}, "cpu")
    assert f["fit_minutes"] and f["max_steps"] == 500 and f["steps"] == 500
    f = ms.budget_flags({"minutes": 10, "lr_decay_steps": 100}, "cpu")
    assert f["fit_minutes"] and not f["fit_lr_decay"] and f["lr_decay_steps"] == 100
    # both explicit, no --minutes, or a GPU: nothing is planned (GPU runs as it always did)
    for given, dev in (({"minutes": 10, "steps": 500, "lr_decay_steps": 100}, "cpu"),
                       ({}, "cpu"), ({"minutes": 10}, "cuda")):
        f = ms.budget_flags(given, dev)
        assert not f["fit_minutes"] and not f["fit_lr_decay"]
    assert ms.budget_flags({"minutes": 10}, "cuda")["steps"] == 20000


def test_estimate_is_calibrated_on_demo_ada_and_scales_with_the_work() -> None:
    demo = TrainConfig(resolution=(128, 128), d_channels=32, batch_size=4, preset="small")
    assert ms.estimate_step_seconds(demo, "cpu", threads=2) == pytest.approx(1.45, rel=0.01)
    # the GPU recipe on the CPU: the issue measured 10-36 s a step on a loaded 2-core machine
    full = TrainConfig(resolution=(256, 256), d_channels=64, batch_size=4, preset="small")
    assert 8 < ms.estimate_step_seconds(full, "cpu", threads=2) < 20
    assert ms.estimate_step_seconds(demo, "cuda") is None  # measured once the run starts
    # --no-gan: no discriminator runs, the generator's share is left
    no_gan = TrainConfig(resolution=(128, 128), d_channels=32, batch_size=4, preset="small",
                         adversarial=False)
    assert ms.estimate_step_seconds(no_gan, "cpu", threads=2) == pytest.approx(
        1.45 * ms.GENERATOR_SHARE, rel=0.01)
    assert ms.steps_that_fit(20, 1.45) == 827


def test_too_few_steps_are_said_before_starting() -> None:
    msg = ms.too_few_steps_warning(62, 1.5, 1.45, "calibrated estimate")
    assert msg is not None and "only 62 training steps" in msg and "--minutes 8" in msg
    assert ms.too_few_steps_warning(827, 20, 1.45, "calibrated estimate") is None
    cfg = TrainConfig(minutes=1.5, fit_minutes=True, fit_lr_decay=True)
    text = ms.describe_budget(cfg, 1.45, measured=False)
    assert "1.45 s per step (calibrated estimate): 62 steps fit in --minutes 1.5" in text
    text = ms.describe_budget(TrainConfig(steps=20000), 1.45, measured=False)
    assert "20000 steps take about 8.1 h" in text


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _run(planner: ms.BudgetPlanner, cfg: TrainConfig, clock: FakeClock, step_seconds,
         start: int = 0) -> tuple[TrainConfig, list[float]]:
    """Steps until the planned end or the deadline; the learning rate of each step."""
    step, lrs = start, []
    while step < cfg.steps and clock.t < planner.deadline:
        lrs.append(learning_rate(cfg, step))
        clock.t += step_seconds(step)
        step += 1
        new = planner.after_step(step)
        if new is not None:
            cfg = new
    return cfg, lrs


def test_planner_fits_the_end_and_the_lr_decay_to_the_minutes(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=2.0, fit_minutes=True, fit_lr_decay=True, resolution=(128, 128),
                      d_channels=32)
    planner, cfg = ms.BudgetPlanner.start(cfg, 0)
    assert planner is not None and cfg.steps == ms.steps_that_fit(2.0, planner.plan.seconds_per_step)
    # the machine is slower than the estimate: 3 s a step (the first step 6 s: warm-up)
    cfg, lrs = _run(planner, cfg, clock, lambda s: 6.0 if s == 0 else 3.0)
    assert planner.plan.measured and planner.seconds_per_step == pytest.approx(3.0)
    # 120 s: the 6 s warm-up step, then 3 s a step; the clock or the plan ends it
    assert 38 <= cfg.steps <= 40 and cfg.steps - 1 <= len(lrs) <= cfg.steps
    assert lrs[0] == cfg.lr and lrs[-1] < 0.1 * cfg.lr  # decayed to ~0 as the time runs out
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_planner_follows_a_machine_that_slows_down_and_keeps_the_cap(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=2.0, fit_minutes=True, fit_lr_decay=True)
    planner, cfg = ms.BudgetPlanner.start(cfg, 0)
    # 1 s a step for 20 steps, then another job starts: 4 s a step
    cfg, lrs = _run(planner, cfg, clock, lambda s: 1.0 if s < 20 else 4.0)
    assert clock.t <= planner.deadline + 4.0
    assert lrs[-1] < 0.25 * cfg.lr  # the decay was re-planned to end with the time
    # an explicit --steps stays the cap
    clock.t = 5000.0
    capped = TrainConfig(minutes=2.0, fit_minutes=True, fit_lr_decay=True, max_steps=30, steps=30)
    planner, capped = ms.BudgetPlanner.start(capped, 0)
    capped, lrs = _run(planner, capped, clock, lambda s: 1.0)
    assert capped.steps == 30 and len(lrs) == 30 and lrs[-1] == pytest.approx(capped.lr / 30)


def test_a_swinging_machine_gets_a_plan_line_a_minute_at_most(monkeypatch, caplog) -> None:
    """The plan follows every step; its log line comes at most every REPLAN_LOG_SECONDS."""
    import logging

    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=5.0, fit_minutes=True, fit_lr_decay=True)
    planner, cfg = ms.BudgetPlanner.start(cfg, 0)
    ends = []
    # another job starts and stops every 10 steps: 0.5 s a step, then 3 s
    with caplog.at_level(logging.INFO, logger="rtmotion.train.machine_settings"):
        step = 0
        while step < cfg.steps and clock.t < planner.deadline:
            clock.t += 0.5 if (step // 10) % 2 == 0 else 3.0
            step += 1
            if (new := planner.after_step(step)) is not None:
                cfg = new
                ends.append(cfg.steps)
    lines = [r.getMessage() for r in caplog.records if "training to step" in r.getMessage()]
    assert len(set(ends)) > 20                        # re-planned all along
    assert 2 <= len(lines) <= 5 * 60 / ms.REPLAN_LOG_SECONDS + 1
    assert lines[0].startswith("measured") and "the steps take" in lines[1]


def test_a_few_slow_seconds_move_the_plan_by_what_they_cost(monkeypatch) -> None:
    """A 10-s step among 1-s ones (another job took the CPU for a moment) costs the budget 9 s,
    and the plan moves by about that; a per-step moving average had cut a resumed run's end
    from 2604 to 594 steps and its learning rate with it."""
    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=20.0, fit_minutes=True, fit_lr_decay=True)
    planner, cfg = ms.BudgetPlanner.start(cfg, 0)
    ends = {}
    step = 0
    while step < 400:
        clock.t += 10.0 if step == 300 else 1.0
        step += 1
        if (new := planner.after_step(step)) is not None:
            ends[step] = new.steps
    before = ends[300]
    assert abs(ends[300] - 1200) <= 5                  # 1 s a step: the whole 20 minutes
    after = [ends[s] for s in range(301, 400)]
    assert min(after) >= before - 9 - 0.2 * (before - 300)  # the burst's 9 s, spread over the window
    assert ends[399] == pytest.approx(before - 9, abs=3)    # and once it left the window, just its cost


def test_planner_on_resume_decays_over_this_runs_steps(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=1.0, fit_minutes=True, fit_lr_decay=True, resolution=(128, 128),
                      d_channels=32)  # (estimated 1.45 s a step: the first plan has steps to measure)
    planner, cfg = ms.BudgetPlanner.start(cfg, 500)
    cfg, lrs = _run(planner, cfg, clock, lambda s: 2.0, start=500)
    assert 528 <= cfg.steps <= 530 and cfg.lr_decay_steps == cfg.steps - 500
    # its first step is the warm-up's first (the decay is whole there), its last near 0
    assert cfg.lr_warmup_start == 500 and cfg.lr_warmup_steps == ms.RESUME_WARMUP_STEPS
    assert lrs[0] == pytest.approx(cfg.lr / ms.RESUME_WARMUP_STEPS) and lrs[-1] < 0.1 * cfg.lr


def test_without_a_budget_to_fit_the_run_is_only_timed(monkeypatch, caplog) -> None:
    import logging

    clock = FakeClock()
    monkeypatch.setattr(ms.time, "monotonic", clock)
    cfg = TrainConfig(minutes=2.0)  # e.g. a GPU run: steps and LR as given
    timer, same = ms.BudgetPlanner.start(cfg, 0)
    assert isinstance(timer, ms.StepTimer) and same is cfg
    with caplog.at_level(logging.INFO, logger="rtmotion.train.machine_settings"):
        for step in range(1, 20):
            clock.t += 0.2
            assert timer.after_step(step) is None
    assert timer.seconds_per_step == pytest.approx(0.2)
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "measured 0.200 s per step: about 588 more steps fit in --minutes 2" in msg  # float floor of 117.8 / 0.2


def test_a_planned_decay_warms_up_only_on_a_resumed_run() -> None:
    from rtmotion.train.machine_settings import RESUME_WARMUP_STEPS, BudgetPlan, plan_config

    fitted = TrainConfig(fit_minutes=True, fit_lr_decay=True, minutes=20.0)
    fresh = plan_config(fitted, BudgetPlan(1.5, True, 0, 800))
    assert (fresh.steps, fresh.lr_decay_steps, fresh.lr_warmup_steps) == (800, 800, 0)
    resumed = plan_config(fitted, BudgetPlan(1.5, True, 600, 1400))
    assert (resumed.steps, resumed.lr_decay_steps) == (1400, 800)
    assert (resumed.lr_warmup_start, resumed.lr_warmup_steps) == (600, RESUME_WARMUP_STEPS)
    # a schedule the flags fixed is a function of the step alone: no jump, no warm-up
    fixed = plan_config(TrainConfig(fit_minutes=True, minutes=20.0, lr_decay_steps=300),
                        BudgetPlan(1.5, True, 600, 1400))
    assert (fixed.lr_decay_steps, fixed.lr_warmup_steps) == (300, 0)
