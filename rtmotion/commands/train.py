"""`rtmotion train`: a target video -> a subject bundle (subjects/NAME)."""

from __future__ import annotations

import argparse
import logging

from rtmotion.commands.args import DEVICE_HELP, add_person, size_type

NAME = "train"
HELP = "train a subject (pose -> image generator) from a video of the target person"
DESCRIPTION = (
    "Train a subject from a few minutes of video of the target person. Extracts the poses "
    "(MediaPipe) unless --poses is given, crops the video once around the person, caches the "
    "dataset, trains the generator (CPU slowly, CUDA with bf16 autocast; `torchrun "
    "--nproc_per_node=N -m rtmotion train ...` for several GPUs) and writes the subject bundle "
    "(subject.json, generator.pt, pose_stats.json, preview.png) to -o. Training state "
    "(checkpoints/, cache/, samples/, tb/) goes to --work-dir (default: the output folder); "
    "--resume continues from its last checkpoint. Settings no flag gives are chosen for the "
    "device (a CPU: 128x128, discriminator 32, 1 worker; a GPU: 256x256, 64, 2) and printed with "
    "the expected seconds per step and the steps that fit --minutes; on a CPU the steps and a "
    "linear learning-rate decay are fitted to --minutes. The video is checked first (length, "
    "pose coverage, person size and framing, several people) and the finished subject is scored "
    "on held-out frames."
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, help="video of the target person")
    parser.add_argument("-o", "--output", required=True, help="subject bundle folder (subjects/NAME)")
    parser.add_argument("--poses", default=None,
                        help="pose file (.npz) of the video; default: extract with MediaPipe (cached)")
    add_person(parser, "poses (and so the subject) follow")
    parser.add_argument("--name", default=None, help="subject name (default: the output folder's name)")
    parser.add_argument("--work-dir", default=None,
                        help="training state folder (checkpoints, cache, samples, tb); default: -o")
    parser.add_argument("--cache", dest="cache_dir", default=None,
                        help="dataset cache folder (default: WORK_DIR/cache)")
    parser.add_argument("--preset", default=None,
                        help="generator size: tiny, small, base (default: small)")
    parser.add_argument("--resolution", type=size_type(lo=16, hi=4096, square=True), default=None,
                        help="model resolution WIDTHxHEIGHT (or one number; default: for the "
                             "device, 128x128 on a CPU, 256x256 on a GPU)")
    parser.add_argument("--steps", type=int, default=None,
                        help="total training steps (default: on a CPU with --minutes, the steps "
                             "that fit, measured as the run goes; else 20000)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training time budget of this run: it stops after this many minutes "
                             "(on a CPU the steps and the learning-rate decay are fitted to it)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size per process (default: 4)")
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam learning rate, G and D (default: for the machine: 2e-4 on a "
                             "GPU, 1e-3 on a CPU, whose short runs it trains better)")
    parser.add_argument("--lr-decay-steps", type=int, default=None,
                        help="decay the learning rate linearly to 0 over the last N of --steps "
                             "(pix2pixHD; 0: constant; default: on a CPU with --minutes, over all "
                             "the steps that fit, else 0)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto",
                        help="mixed precision (auto: bf16 on CUDA, off on CPU; bf16 on a CPU with "
                             "AMX is ~1.5x the steps a minute, measured no better at 20 minutes)")
    parser.add_argument("--workers", type=int, default=None,
                        help="data loader worker processes (default: for the device, 1 on a "
                             "CPU of up to 4 cores, else 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--sample-every", type=int, default=500,
                        help="steps between sample grids (0: none)")
    parser.add_argument("--log-every", type=int, default=20, help="steps between loss logs")
    parser.add_argument("--resume", action="store_true", help="continue from WORK_DIR/checkpoints/last.pt")
    parser.add_argument("--face", action="store_true", help="also train the face enhancer")
    parser.add_argument("--face-steps", type=int, default=2000, help="steps of the face stage")
    parser.add_argument("--face-crop", type=int, default=None,
                        help="the face enhancer's crop side in pixels (default: 1.5 x the face "
                             "box's side in the model frame, rounded up to a multiple of 8; "
                             "a --resume of a face stage keeps its checkpoint's crop)")
    parser.add_argument("--perceptual-weights", default=None,
                        help="local VGG19 weights (.pt) to add a perceptual loss (nothing is downloaded)")
    parser.add_argument("--d-channels", type=int, default=None,
                        help="discriminator width (channels of its first layer; default: for the "
                             "device, 32 on a CPU, 64 on a GPU; a CPU trains without the "
                             "discriminators unless --gan)")
    parser.add_argument("--d-scales", type=int, default=2, help="discriminator scales")
    parser.add_argument("--gan", dest="adversarial", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="train with the discriminators (frame and temporal GAN losses, "
                             "feature matching); --no-gan: L1 + SSIM alone, 2.4x the steps a "
                             "minute. Default: for the device, off on a CPU (a higher held-out "
                             "score at equal minutes), on on a GPU")
    parser.add_argument("--min-pose-frames", type=int, default=50,
                        help="refuse a video with fewer usable pose frames")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="fraction of the video held out for validation / `rtmotion eval` (a "
                        "block in its middle; 0.25 s either side of it is not trained on either)")
    parser.add_argument("--teacher-forcing", type=float, default=None,
                        help="initial probability of warping the REAL previous frame (decays to "
                             "0; default: 0 with keyframes, 0.5 without)")
    parser.add_argument("--teacher-forcing-steps", type=int, default=2000,
                        help="steps over which teacher forcing decays to 0")
    parser.add_argument("--clip-length", type=int, default=2,
                        help="consecutive frames per training sample (2 = EDN's pairs; 3-4 also "
                             "train against error that builds up over a long rollout)")
    parser.add_argument("--keyframes", type=int, default=32,
                        help="keyframes of the target kept as the generator's appearance "
                             "reference (the nearest in pose is warped to each frame; 0: none)")
    parser.add_argument("--keyframe-exclude", type=int, default=8,
                        help="training never uses a keyframe within this many frames of the "
                             "frame it predicts (subjects made before 2026-12-04 used 30)")
    parser.add_argument("--max-gap", type=int, default=8,
                        help="frames between a clip's frames are drawn from 1..N (1: consecutive; "
                             "more trains for live use, where frames are dropped)")
    parser.add_argument("--follow-crop", action=argparse.BooleanOptionalAction, default=None,
                        help="the generator draws a box that follows the person (more pixels "
                             "for the person at the same cost; the default, or with --resume "
                             "what the checkpoint used) instead of the whole area they move in "
                             "(--no-follow-crop)")
    parser.add_argument("--shape-frame", action="store_true",
                        help="give the model frame the person's shape at the pixels of "
                             "--resolution (a standing person: e.g. 80x192 for 128x128, drawn "
                             "1.5x larger at the same cost; at 20 CPU minutes it scored lower "
                             "than the square: docs/BENCHMARKS.md); a resumed run keeps its "
                             "checkpoint's frame")
    parser.add_argument("--person-segmentation", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="keep the person out of the background plate by their segmentation "
                             "as well as their skeleton (default; --no-person-segmentation: the "
                             "skeleton alone, a wider mask that misses long clothes and hair)")
    parser.add_argument("--person-weight", type=float, default=1.0,
                        help="in the L1 loss the person's pixels (where a frame differs from the "
                             "background plate) weigh this many times the room's (1: uniform)")
    parser.add_argument("--ssim-weight", dest="weight_ssim", type=float, default=1.0,
                        help="weight of the SSIM loss (L1 weighs 10, the GAN 1, feature matching 10)")
    parser.add_argument("--ssim-region", choices=("frame", "body"), default="frame",  # SSIM_REGIONS
                        help="where the SSIM loss is measured: the whole model frame, or each "
                             "frame's body box (the region `rtmotion eval` scores)")
    parser.add_argument("--no-background-plate", dest="background_plate", action="store_false",
                        help="do not give the generator the target's clean background (use for "
                             "a moving camera; by default it is estimated from the training frames)")


def config_from_args(args: argparse.Namespace):  # -> TrainConfig
    """TrainConfig from the parsed arguments (see `settings_from_args`)."""
    return settings_from_args(args)[0]


def settings_from_args(args: argparse.Namespace):  # -> tuple[TrainConfig, ChosenSettings]
    """TrainConfig from the parsed arguments, field by field name (every flag's `dest` is the
    name of a TrainConfig field), with the settings no flag gave chosen for the device
    (`rtmotion.train.machine_settings`): with --resume the checkpoint's, else the machine's."""
    import dataclasses

    from rtmotion.devices import resolve_device
    from rtmotion.errors import InputError
    from rtmotion.train.config import TrainConfig
    from rtmotion.train.machine_settings import budget_flags, choose_settings

    given = dict(vars(args))
    device_type = resolve_device(given.get("device") or "auto").type
    resumed = _resumed_config(given)
    if given.get("follow_crop") is None:
        # A resumed run keeps its crop (checkpoints from before the follow crop drew the fixed
        # one); a new run follows the person.
        given["follow_crop"] = bool(resumed.get("follow_crop", False)) if resumed else True
    chosen = choose_settings(given, device_type, resumed=resumed)
    given.update(chosen.values)
    if chosen.origin["resolution"] == "checkpoint":
        given["shape_frame"] = False  # the checkpoint's frame was shaped already, if asked
    given.update(budget_flags(given, device_type))
    try:
        cfg = TrainConfig(**{f.name: given[f.name] for f in dataclasses.fields(TrainConfig)
                             if f.name in given})
    except ValueError as e:
        raise InputError(None, f"invalid training option: {e}") from None
    return cfg, chosen


def _resumed_config(given: dict) -> dict | None:
    """With --resume, the config recorded in the checkpoint it continues (None: no resume, or
    no checkpoint yet)."""
    from pathlib import Path

    from rtmotion.train.checkpoint import load_checkpoint

    if not given.get("resume") or not given.get("output"):
        return None
    ckpt = Path(given.get("work_dir") or given["output"]) / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        return None
    return dict(load_checkpoint(ckpt).get("config") or {})


def run(args: argparse.Namespace) -> int:
    from rtmotion.errors import InputError
    from rtmotion.io import VideoInfo
    from rtmotion.models.config import GENERATOR_PRESETS
    from rtmotion.pose.posefile import PoseSequence
    from rtmotion.train.framing import generator_stride
    from rtmotion.train.trainer import check_outputs, train

    if args.preset is not None and args.preset not in GENERATOR_PRESETS:
        raise InputError(None, f"--preset {args.preset!r} is unknown",
                         f"choose from: {', '.join(GENERATOR_PRESETS)}")
    cfg, chosen = settings_from_args(args)
    generator_stride(cfg)  # a resolution the generator cannot take: said before any work
    # Inputs first, then outputs: a bad video must not leave empty folders under -o.
    VideoInfo.from_path(cfg.video)
    if args.poses is not None:
        PoseSequence.load(args.poses)
    check_outputs(cfg)  # OutputError before any work
    if _rank() == 0:
        _announce(cfg, chosen)
    before = _recorded_quality(cfg) if cfg.resume else None
    result = train(cfg)
    if result.world_size == 1 or _rank() == 0:
        val = "n/a" if result.val_l1 is None else f"{result.val_l1:.4f}"
        log.info("done: %s (%d steps, %.1f min on %s, validation L1 %s)", result.bundle,
                 result.steps, result.minutes, result.device, val)
        _score(cfg, result.bundle, result.device, result.steps, before)
    return 0


def _recorded_quality(cfg):  # (TrainConfig) -> Quality | None
    """The held-out score the bundle a --resume continues recorded (None: none yet)."""
    from pathlib import Path

    from rtmotion.eval.quality import Quality
    from rtmotion.train.cache import read_json_object

    recorded = (read_json_object(Path(cfg.output) / "subject.json") or {}).get("quality")
    return Quality.from_dict(recorded) if isinstance(recorded, dict) else None


def _announce(cfg, chosen) -> None:  # (TrainConfig, ChosenSettings)
    """Before any work: the settings (and where each came from), the expected seconds per step,
    the steps that fit --minutes, and a warning when that cannot make a usable subject."""
    from rtmotion.train.machine_settings import (
        describe_budget,
        estimate_step_seconds,
        steps_that_fit,
        too_few_steps_warning,
    )

    log.info("settings for %s: %s", chosen.recipe.why, chosen.describe())
    for note in chosen.notes:
        log.info("%s", note)
    seconds = estimate_step_seconds(cfg, chosen.recipe.kind)
    log.info("%s", describe_budget(cfg, seconds, measured=False))
    if seconds is not None and cfg.minutes is not None:
        fit = steps_that_fit(cfg.minutes, seconds)
        if cfg.max_steps or not cfg.fit_minutes:
            fit = min(fit, cfg.max_steps or cfg.steps)
        warning = too_few_steps_warning(fit, cfg.minutes, seconds, "calibrated estimate")
        if warning and not cfg.resume:
            log.warning("%s", warning)


def _score(cfg, bundle, device: str, steps: int, before=None) -> None:
    """Never a silent blob: score the bundle on its held-out frames and on frames it trained on
    (its fit), record both in subject.json, print them with how new the held-out poses are, and
    warn loudly when the subject is not converged or not usable (`_verdict`).
    (TrainConfig, Path, str, int, Quality | None: the score recorded before a resumed run)"""
    from rtmotion.eval.quality import heldout_quality
    from rtmotion.subject.bundle import read_subject_info, update_subject_info
    from rtmotion.train.background import training_motion_note

    quality = heldout_quality(bundle, device=device)
    if quality is None:
        log.warning("no held-out frames (--val-fraction 0): the subject's quality is unknown; "
                    "check it with `rtmotion eval %s --video OTHER_FOOTAGE`", bundle)
        return
    update_subject_info(bundle, quality=quality.to_dict())
    if quality.novelty is not None:
        log.info("%s", quality.novelty.describe())
    camera = training_motion_note(read_subject_info(bundle)[1].get("training") or {})
    warning = _verdict(quality, _continue_command(cfg, steps), bundle, before, camera)
    if warning is None:
        log.info("quality: %s", quality.describe())
    else:
        log.warning("%s", warning)


def _verdict(quality, command: str, bundle, before=None, camera: str | None = None) -> str | None:
    """The warning a score calls for, None when the subject is usable and converged.

    First, a camera that moved (`camera`: how far the frames were from their room's plate,
    `rtmotion.train.background.training_motion_note`; None for a fixed camera): the subject learns
    a fixed room, so no training time makes such a clip usable, and that is what to say.

    The fit tells the two ways of falling short apart (`rtmotion.eval.quality`): a subject that
    does not yet draw the frames it trained on has not finished learning (train longer: the
    `command` that continues); one that draws them well but not the held-out frames has learned
    the clip but not those poses, which more of the same training does not fix. A resumed run
    whose fit stayed low and hardly rose over the one recorded `before` it says so. Without a fit,
    held-out poses far from the trained ones (`PoseNovelty.new_moves`) or a resumed run that did
    not raise the score recorded `before` it say the latter. (Quality, str, Path, Quality | None)
    """
    import shlex

    from rtmotion.eval.quality import USABLE_BODY_SSIM

    converged, novelty = quality.converged, quality.novelty
    if quality.usable and converged is not False:
        return None
    if camera is not None:
        return (f"NOT USABLE: {quality.describe()}. The camera moves in this clip ({camera}): "
                "the subject learns a person in a fixed room and draws that room in one place, "
                "so it will look blurred and misplaced, and training longer does not fix that. "
                "Film the target with the camera held still (a tripod, or the phone propped up); "
                f"or continue anyway: {command}")
    short = quality.fit_shortfall()
    if converged is False and before is not None and quality.fit_stalled_since(before):
        return (f"NOT CONVERGED: {quality.describe()}. On frames it trained on it is "
                f"{short}, and this resumed run hardly raised it (before it: "
                f"{before.fit.describe()}): more minutes of this model are unlikely to "
                f"finish it. Look at them (rtmotion eval {shlex.quote(str(bundle))} --frames "
                "training --samples DIR); a larger generator (--preset base) or a higher "
                "--resolution, trained anew (on a GPU if there is one), may draw them better"
                + ("; the face enhancer (--face) draws the face on a crop of its own"
                   if "face" in short else ""))
    if converged is False:
        held = ("" if not quality.usable else
                "; the held-out frames score above the usable level, but it will look softer than "
                "it can")
        return (f"NOT CONVERGED: {quality.describe()}. On frames it trained on it is "
                f"{short}: it has not finished learning this clip{held}. "
                f"Train longer: {command}")
    look = (f"look at them (rtmotion eval {shlex.quote(str(bundle))} --samples DIR) and film the "
            "target doing such moves, or continue anyway")
    below = (f"{quality.describe(with_fit=False)} is below the usable level (body SSIM "
             f"{USABLE_BODY_SSIM:.2f})")
    new_moves = novelty is not None and novelty.new_moves
    if converged:
        why = (f"they show moves the rest of it does not ({novelty.describe()})" if new_moves else
               "they show poses, or a view of the person (a turn to the side), that the rest of "
               "it does not show")
        return (f"NOT USABLE on new poses: {below}, while it draws the frames it trained on well "
                f"(body SSIM {quality.fit.body_ssim:.3f} on {quality.fit.frames} of them). It has "
                f"learned this clip, not the held-out "
                f"frames (the middle tenth of the clip): {why}. Training longer on this clip "
                f"raises that little: {look}: {command}")
    if new_moves:
        return (f"NOT CONVERGED: {below}. The held-out frames (the middle tenth of the clip) show "
                f"moves the rest of it does not ({novelty.describe()}). This score measures how "
                f"the subject draws poses it never saw, which training longer on this clip raises "
                f"little: {look}: {command}")
    if before is not None and quality.stalled_since(before):
        return (f"NOT CONVERGED: {below}, and this resumed run moved it only from "
                f"{before.body_ssim:.3f}: more minutes are unlikely to help. The held-out frames "
                f"(the middle tenth of the clip) may show poses the rest of it never does; "
                f"{look}: {command}")
    return (f"NOT CONVERGED: {below}; the subject will look like a blur. Train longer: {command}")


def _continue_command(cfg, steps: int) -> str:  # (TrainConfig, int) -> str
    """The `rtmotion train ... --resume --minutes N` command that continues this run."""
    import shlex

    again = ["rtmotion", "train", "--video", cfg.video, "-o", cfg.output]
    if cfg.poses:
        again += ["--poses", cfg.poses]
    if cfg.work_dir:
        again += ["--work-dir", cfg.work_dir]
    again += ["--resume", "--minutes", str(int(max(20, 2 * (cfg.minutes or 10))))]
    cap = cfg.max_steps if cfg.fit_minutes else cfg.steps
    if cap and steps >= cap:  # it stopped at --steps: more minutes alone would not train further
        again += ["--steps", str(2 * max(cap, 1))]
    return " ".join(shlex.quote(a) for a in again)


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))
