#!/usr/bin/env bash
# tools/gpu_check.sh - issue 12's one GPU check: run on a GPU machine from a copy of the tree.
#
# NOT RUN ON A GPU YET. Written on 2026-11-29 in a session that had no GPU; only `bash -n` and
# `--dry-run` have run (on a 2-core CPU machine). Expect to fix small things on its first run.
#
#   tools/gpu_check.sh [--out DIR] [--parts LIST] [--subject S] [--data DIR] [--wheels DIR]
#                      [--frames N] [--train-steps A,B] [--dry-run]
#
# Parts (in this order; --parts picks some, e.g. --parts tests,measure):
#   install  pip install --no-deps --target /tmp/site every wheel in WHEELS (PyAV, pytorch_msssim,
#            pytest if the machine lacks it); PYTHONPATH=/tmp/site:$PWD for everything after
#   tests    pytest -m "gpu or cupy" tests (CuPy kernels, frame conversions, the CUDA
#            synthesizer and its graphs) -> OUT/gpu_tests.xml
#   kernels  tools/gpu_kernels_check.py: CuPy / torch-CUDA vs numpy, timings -> OUT/kernels_check.json
#   measure  tools/gpu_report.py measure: copy bandwidth, each kernel vs its memory-traffic floor,
#            the generator in a CUDA graph, the per-frame step 3 ways -> OUT/gpu_raw.json
#   bench    rtmotion bench at 256 and 512 on cuda, offline and live -> OUT/bench.json
#   train    rtmotion train --device cuda twice (A and B steps, 256x256, batch 8, 3-frame clips)
#            on DATA (video.mp4 + poses.npz from `tools/train_demo_subject.py prepare`) -> OUT/train.json
#   report   tools/gpu_report.py write -> docs/gpu_report.json and OUT/gpu_report.json
# OUT is --out (default /tmp/gpu_check, which survives between calls while the device machine is
# warm, so `--parts install,tests,kernels,measure` then `--parts install,bench,train,report` work
# as two calls); at the end everything in it is also copied to $OUT when that is set (the `run`
# tool's folder that comes back). Every part runs under its own timeout and logs to
# OUT/logs/PART.log; its rc and seconds go to OUT/parts.tsv and the next part still runs.
# The whole run is estimated (not measured) at 7-9 minutes: one 10-minute call, or two.
#
# The wheels (git-ignored folder `wheels/`, carried with the tree: about 37 MB of the 64 MiB),
# fetched on the CPU side with:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 -d wheels av==18.1.0
#   pip download --no-deps -d wheels pytorch-msssim
#   pip download --no-deps -d wheels pytest pluggy iniconfig      # only if the GPU image lacks pytest
# (av 18.1.0's wheel is cp311-abi3, so it installs on the machine's Python 3.12.)
# MediaPipe cannot go there (36 MB more, and it needs numpy<2): the bench drives the subject with
# the synthetic source's exact poses (`rtmotion bench --poses truth`); pose extraction's rate is
# measured on the CPU side (docs/BENCHMARKS.md).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=/tmp/gpu_check
PARTS=install,tests,kernels,measure,bench,train,report
SUBJECT=rtmotion/data/subjects/demo-ada
DATA=runs/demo-ada-data
WHEELS=wheels
FRAMES=150
TRAIN_STEPS=40,240
DRY=0
PY=${PYTHON:-python3}

usage() { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT_DIR=${2:?--out needs a folder}; shift 2 ;;
        --parts) PARTS=${2:?--parts needs a list}; shift 2 ;;
        --subject) SUBJECT=${2:?--subject needs a bundle}; shift 2 ;;
        --data) DATA=${2:?--data needs a folder}; shift 2 ;;
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift 2 ;;
        --frames) FRAMES=${2:?--frames needs a number}; shift 2 ;;
        --train-steps) TRAIN_STEPS=${2:?--train-steps needs A,B}; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

case "$FRAMES" in ''|*[!0-9]*) die "--frames must be a positive integer, got '$FRAMES'" ;; esac
[ "$FRAMES" -ge 1 ] || die "--frames must be >= 1"
case "$TRAIN_STEPS" in
    *[!0-9,]*|,*|*,|*,*,*) die "--train-steps must be A,B (two step counts, A < B), got '$TRAIN_STEPS'" ;;
    *,*) ;;
    *) die "--train-steps must be A,B (two step counts, A < B), got '$TRAIN_STEPS'" ;;
esac
STEPS_A=${TRAIN_STEPS%,*}
STEPS_B=${TRAIN_STEPS#*,}
[ "$STEPS_A" -lt "$STEPS_B" ] || die "--train-steps A,B needs A < B, got '$TRAIN_STEPS'"
for p in ${PARTS//,/ }; do
    case ",install,tests,kernels,measure,bench,train,report," in
        *",$p,"*) ;;
        *) die "unknown part '$p' (install, tests, kernels, measure, bench, train, report)" ;;
    esac
done
want() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

STATUS="$OUT_DIR/parts.tsv"
if [ "$DRY" = 0 ]; then
    mkdir -p "$OUT_DIR/logs"
    : > "$STATUS"
fi
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"

# run PART TIMEOUT_S CMD...: run (or, with --dry-run, show) one part, log it, record rc and seconds.
run() {
    local part=$1 limit=$2; shift 2
    if [ "$DRY" = 1 ]; then
        printf '[dry-run] %-8s (timeout %ss) %s\n' "$part" "$limit" "$*"
        return 0
    fi
    local t0 t1 rc
    t0=$(date +%s.%N)
    echo "== $part: $*" | tee -a "$OUT_DIR/logs/$part.log"
    timeout "$limit" "$@" >> "$OUT_DIR/logs/$part.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    printf '%s\t%s\t%s\n' "$part" "$rc" "$(elapsed "$t0" "$t1")" >> "$STATUS"
    echo "== $part: rc=$rc" | tee -a "$OUT_DIR/logs/$part.log"
    tail -n 5 "$OUT_DIR/logs/$part.log"
    return $rc
}

if want install; then
    shopt -s nullglob
    whls=("$WHEELS"/*.whl)
    shopt -u nullglob
    if [ ${#whls[@]} -gt 0 ]; then
        run install 120 "$PY" -m pip install --no-deps --no-index --target /tmp/site "${whls[@]}"
    else
        echo "gpu_check: no wheels in $WHEELS/ (PyAV, pytorch_msssim): parts that need them will fail"
    fi
fi

if want tests; then
    run tests 180 "$PY" -m pytest -m "gpu or cupy" tests -q -rs -p no:cacheprovider \
        --junitxml "$OUT_DIR/gpu_tests.xml"
fi

if want kernels; then
    run kernels 90 "$PY" tools/gpu_kernels_check.py --out "$OUT_DIR/kernels_check.json" --reps 3 --budget 0.6
fi

if want measure; then
    run measure 150 "$PY" tools/gpu_report.py measure --out "$OUT_DIR/gpu_raw.json" --sizes 256 512
fi

if want bench; then
    # --poses truth: MediaPipe cannot be installed on the GPU image
    run bench 200 "$PY" -m rtmotion bench -t "$SUBJECT" --frames "$FRAMES" --warmup 15 \
        --resolutions 256,512 --modes offline,live --backends torch --precisions fp32 \
        --device cuda --poses truth --json "$OUT_DIR/bench.json"
fi

if want train; then
    if [ -f "$DATA/video.mp4" ] && [ -f "$DATA/poses.npz" ] || [ "$DRY" = 1 ]; then
        work=/tmp/gpu-train.dry-run
        [ "$DRY" = 1 ] || work=$(mktemp -d /tmp/gpu-train.XXXXXX)
        runs=()
        for steps in "$STEPS_A" "$STEPS_B"; do
            t0=$(date +%s.%N)
            run "train" 150 "$PY" -m rtmotion train --video "$DATA/video.mp4" --poses "$DATA/poses.npz" \
                -o "$work/subject_$steps" --work-dir "$work/work_$steps" --cache "$work/cache" \
                --resolution 256x256 --batch-size 8 --clip-length 3 --device cuda --steps "$steps" \
                --save-every 100000 --sample-every 100000
            rc=$?
            t1=$(date +%s.%N)
            runs+=("{\"steps\": $steps, \"seconds\": $(elapsed "$t0" "$t1"), \"ok\": $([ $rc = 0 ] && echo true || echo false)}")
        done
        if [ "$DRY" = 0 ]; then
            (IFS=,; echo "{\"resolution\": 256, \"batch_size\": 8, \"clip_length\": 3, \"runs\": [${runs[*]}]}") \
                > "$OUT_DIR/train.json"
        fi
    else
        echo "gpu_check: no $DATA/video.mp4 + poses.npz (tools/train_demo_subject.py prepare): train skipped"
    fi
fi

if want report; then
    run report 60 "$PY" tools/gpu_report.py write --measure "$OUT_DIR/gpu_raw.json" \
        --bench "$OUT_DIR/bench.json" --train "$OUT_DIR/train.json" --out docs/gpu_report.json
    [ "$DRY" = 1 ] || cp docs/gpu_report.json "$OUT_DIR/gpu_report.json" 2>/dev/null
fi

if [ "$DRY" = 0 ]; then
    echo "gpu_check: parts (name, rc, seconds):"
    cat "$STATUS"
    if [ -n "${OUT:-}" ] && [ "$OUT" != "$OUT_DIR" ]; then
        mkdir -p "$OUT" && cp -r "$OUT_DIR"/. "$OUT"/
    fi
fi
exit 0
