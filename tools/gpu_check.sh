#!/usr/bin/env bash
# tools/gpu_check.sh - the one GPU check: run on a GPU machine from a copy of the tree.
#
# NOT RUN ON A GPU YET. Only `bash -n` and `--dry-run` (tests/tools/test_gpu_check.py) have run,
# on a 2-core CPU machine. Expect small fixes on its first run.
#
#   tools/gpu_check.sh [--call 1|2] [--parts LIST] [--budget S] [--out DIR] [--subject S]
#                      [--data DIR] [--wheels DIR] [--frames N] [--train-steps A,B] [--dry-run]
#
# Two calls of the device tool, each about 8 minutes at most (one call is killed at 600 s):
#   --call 1 (default): install, tests, kernels, measure
#   --call 2:           install, bench, train, report
# --parts LIST picks parts instead (e.g. --parts tests,kernels). The sum of the chosen parts'
# timeouts must fit --budget (default 480 s), or the script refuses to start: a call killed from
# outside loses its running part.
#
# Parts:
#   install  pip install --no-deps --target /tmp/site every wheel in WHEELS (PyAV,
#            pytorch_msssim); pytest, pluggy and iniconfig wheels are skipped when the machine
#            has pytest (a carried one would shadow it); PYTHONPATH=/tmp/site:$PWD afterwards
#   tests    pytest -m "gpu or cupy" tests -> RES/gpu_tests.xml
#   kernels  tools/gpu_kernels_check.py: CuPy / torch-CUDA vs numpy, timings -> RES/kernels_check.json
#   measure  tools/gpu_report.py measure: bandwidth, each kernel vs its floor (CUDA-graph
#            replays), the generator in a CUDA graph (TF32 and strict fp32), the per-frame
#            step 3 ways -> RES/gpu_raw.json
#   bench    rtmotion bench at 256 and 512 on cuda, offline and live -> RES/bench.json
#   train    rtmotion train --device cuda twice (A and B steps, 256x256, batch 8, 3-frame clips),
#            each run with its own dataset cache (so both pay the same start-up) on DATA
#            (video.mp4 + poses.npz from `tools/train_demo_subject.py prepare`) -> RES/train.json
#   report   tools/gpu_report.py write -> RES/gpu_report.json (copy it to docs/ afterwards)
#
# Results: RES is $OUT when set (the device tool's folder that comes back), else --out. Each
# result is written there AS SOON AS IT EXISTS (the tools write their JSON straight into RES,
# measure after each size), so a killed call still brings back what was done. At most 8 files,
# none in a sub-folder:
#   status.tsv  part, rc, seconds (one line per finished part; "dry" in a dry run)
#   log.txt     every part's output, appended as it runs (kept under 8 MiB)
#   gpu_tests.xml  kernels_check.json  gpu_raw.json  bench.json  train.json  gpu_report.json
# Each result is also copied to --out (default /tmp/gpu_check, which survives between calls
# while the device machine is warm), so call 2's report finds call 1's gpu_raw.json there.
#
# --dry-run: tiny sizes, no GPU call. It runs everything else for real: the argument checks,
# the budget check, the install part's wheel selection, the output layout (status.tsv,
# log.txt), the report from whatever results exist, and, for every GPU command, a check that
# each --option it passes exists in that command's --help (the tests part: pytest collects the
# GPU tests). A renamed option is found on the CPU, not on the GPU's clock.
#
# The wheels (git-ignored folder `wheels/`, carried with the tree: about 37 MB of the 64 MiB),
# fetched on the CPU side with:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 -d wheels av==18.1.0
#   pip download --no-deps -d wheels pytorch-msssim
# (av 18.1.0's wheel is cp311-abi3, so it installs on the machine's Python 3.12; the machine
# has its own pytest: do not carry one.) MediaPipe cannot go there (36 MB more, and it needs
# numpy<2): the bench drives the subject with the synthetic source's exact poses
# (`rtmotion bench --poses truth`).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=/tmp/gpu_check
CALL=1
PARTS=
BUDGET=480
SUBJECT=rtmotion/data/subjects/demo-ada
DATA=runs/demo-ada-data
WHEELS=wheels
FRAMES=150
TRAIN_STEPS=40,240
DRY=0
PY=${PYTHON:-python3}

usage() { sed -n '2,52p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT_DIR=${2:?--out needs a folder}; shift 2 ;;
        --call) CALL=${2:?--call needs 1 or 2}; shift 2 ;;
        --parts) PARTS=${2:?--parts needs a list}; shift 2 ;;
        --budget) BUDGET=${2:?--budget needs seconds}; shift 2 ;;
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

case "$CALL" in
    1) DEFAULT_PARTS=install,tests,kernels,measure ;;
    2) DEFAULT_PARTS=install,bench,train,report ;;
    *) die "--call must be 1 or 2, got '$CALL'" ;;
esac
PARTS=${PARTS:-$DEFAULT_PARTS}
case "$FRAMES" in ''|*[!0-9]*) die "--frames must be a positive integer, got '$FRAMES'" ;; esac
[ "$FRAMES" -ge 1 ] || die "--frames must be >= 1"
case "$BUDGET" in ''|*[!0-9]*) die "--budget must be whole seconds, got '$BUDGET'" ;; esac
case "$TRAIN_STEPS" in
    *[!0-9,]*|,*|*,|*,*,*) die "--train-steps must be A,B (two step counts, A < B), got '$TRAIN_STEPS'" ;;
    *,*) ;;
    *) die "--train-steps must be A,B (two step counts, A < B), got '$TRAIN_STEPS'" ;;
esac
STEPS_A=${TRAIN_STEPS%,*}
STEPS_B=${TRAIN_STEPS#*,}
[ "$STEPS_A" -lt "$STEPS_B" ] || die "--train-steps A,B needs A < B, got '$TRAIN_STEPS'"

# Each part's timeout (seconds); train runs twice under its timeout each.
limit_of() {
    case "$1" in
        install) echo 60 ;; tests) echo 150 ;; kernels) echo 60 ;; measure) echo 180 ;;
        bench) echo 200 ;; train) echo 90 ;; report) echo 30 ;; *) echo 0 ;;
    esac
}
total=0
for p in ${PARTS//,/ }; do
    case ",install,tests,kernels,measure,bench,train,report," in
        *",$p,"*) ;;
        *) die "unknown part '$p' (install, tests, kernels, measure, bench, train, report)" ;;
    esac
    l=$(limit_of "$p")
    [ "$p" = train ] && l=$((2 * l))
    total=$((total + l))
done
[ "$total" -le "$BUDGET" ] || die "parts '$PARTS' may take ${total} s, over the ${BUDGET} s budget of one call: split them (--call 1, --call 2) or raise --budget"
want() { case ",$PARTS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ "$DRY" = 1 ]; then  # tiny sizes: nothing is timed, but every command is checked
    FRAMES=3; SIZES="64"; RESOLUTIONS=64; STEPS_A=1; STEPS_B=2; REPS=2; LAUNCHES=2
else
    SIZES="256 512"; RESOLUTIONS=256,512; REPS=200; LAUNCHES=100
fi

RES=${OUT:-$OUT_DIR}
mkdir -p "$RES" "$OUT_DIR" || die "cannot create $RES / $OUT_DIR"
STATUS="$RES/status.tsv"
LOG="$RES/log.txt"
touch "$STATUS" "$LOG"
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
say() { echo "$*" | tee -a "$LOG"; }

# keep log.txt under 8 MiB (the device tool brings back files up to 16 MiB)
trim_log() {
    local size
    size=$(wc -c < "$LOG")
    if [ "$size" -gt 8388608 ]; then
        tail -c 4194304 "$LOG" > "$LOG.cut" && mv "$LOG.cut" "$LOG"
    fi
}

# keep a result for a later call (RES is emptied between calls, OUT_DIR is not)
keep() {
    local f
    for f in "$@"; do
        [ -f "$RES/$f" ] && [ "$RES" != "$OUT_DIR" ] && cp "$RES/$f" "$OUT_DIR/$f"
    done
    return 0
}

# the newest copy of a result: this call's, else an earlier call's
result() { if [ -f "$RES/$1" ]; then echo "$RES/$1"; else echo "$OUT_DIR/$1"; fi; }

# check_options N CMD...: (dry run) every --option of CMD must appear in the --help of its
# first N words (e.g. N=4: `python -m rtmotion train`)
check_options() {
    local n=$1 help opt bad=0
    shift
    help=$("${@:1:$n}" --help 2>&1) || { echo "[dry-run] '${*:1:$n} --help' failed:"; echo "$help" | tail -n 3; return 1; }
    for opt in "${@:$((n + 1))}"; do
        case "$opt" in
            --*) grep -qE -- "(^|[^a-z-])${opt%%=*}([^a-z-]|$)" <<< "$help" \
                     || { echo "[dry-run] $opt is not an option of: ${*:1:$n}"; bad=1; } ;;
        esac
    done
    [ $bad = 0 ] && echo "[dry-run] options checked against '${*:1:$n} --help'"
    return $bad
}

# run PART CMD...: run one part under its timeout (dry run: check it instead); output appended
# to log.txt as it comes; rc and seconds appended to status.tsv.
run() {
    local part=$1; shift
    local limit t0 t1 rc
    limit=$(limit_of "$part")
    t0=$(date +%s.%N)
    say "== $part (timeout ${limit}s): $*"
    if [ "$DRY" = 1 ]; then
        case "$1" in
            "$PY") local cmd=("$@")
                   if [ "$part" = tests ]; then
                       timeout "$limit" "$PY" -m pytest --collect-only -q -m "gpu or cupy" tests \
                           -p no:cacheprovider >> "$LOG" 2>&1
                   else
                       # `python -m rtmotion train ...` -> `python -m rtmotion train --help`
                       local upto=2
                       [ "${cmd[1]}" = -m ] && upto=4
                       [ "${cmd[1]}" = tools/gpu_report.py ] && upto=3
                       check_options "$upto" "${cmd[@]}" >> "$LOG" 2>&1
                   fi
                   rc=$? ;;
            *) rc=0 ;;
        esac
        t1=$(date +%s.%N)
        printf '%s\t%s\t%s\tdry\n' "$part" "$rc" "$(elapsed "$t0" "$t1")" >> "$STATUS"
        say "== $part: dry run rc=$rc"
        return $rc
    fi
    timeout "$limit" "$@" >> "$LOG" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    printf '%s\t%s\t%s\n' "$part" "$rc" "$(elapsed "$t0" "$t1")" >> "$STATUS"
    say "== $part: rc=$rc$([ $rc = 124 ] && echo " (timed out after ${limit}s)")"
    trim_log
    return $rc
}

say "gpu_check: parts $PARTS (at most ${total}s of ${BUDGET}s), results in $RES$([ "$DRY" = 1 ] && echo ', dry run')"

if want install; then
    shopt -s nullglob
    whls=()
    for w in "$WHEELS"/*.whl; do
        case "$(basename "$w")" in
            pytest-*|pluggy-*|iniconfig-*)
                if "$PY" -c "import pytest" 2>/dev/null; then
                    say "gpu_check: not installing $(basename "$w"): this machine has pytest"
                    continue
                fi ;;
        esac
        whls+=("$w")
    done
    shopt -u nullglob
    if [ ${#whls[@]} -gt 0 ]; then
        say "gpu_check: wheels to install: ${whls[*]##*/}"
        run install "$PY" -m pip install --no-deps --no-index --target /tmp/site "${whls[@]}"
    else
        say "gpu_check: no wheels in $WHEELS/ (PyAV, pytorch_msssim): parts that need them will fail"
    fi
fi

if want tests; then
    run tests "$PY" -m pytest -m "gpu or cupy" tests -q -rs -p no:cacheprovider \
        --junitxml "$RES/gpu_tests.xml"
    keep gpu_tests.xml
fi

if want kernels; then
    run kernels "$PY" tools/gpu_kernels_check.py --out "$RES/kernels_check.json" --reps 3 --budget 0.6
    keep kernels_check.json
fi

if want measure; then
    # shellcheck disable=SC2086  # SIZES is a list of numbers
    run measure "$PY" tools/gpu_report.py measure --out "$RES/gpu_raw.json" --sizes $SIZES \
        --reps "$REPS" --launches "$LAUNCHES" --frames "$FRAMES"
    keep gpu_raw.json
fi

if want bench; then
    # --poses truth: MediaPipe cannot be installed on the GPU image. "fp32" on CUDA is TF32
    # convolutions (torch's default), see docs/BENCHMARKS.md.
    run bench "$PY" -m rtmotion bench -t "$SUBJECT" --frames "$FRAMES" --warmup 15 \
        --resolutions "$RESOLUTIONS" --modes offline,live --backends torch --precisions fp32 \
        --device cuda --poses truth --json "$RES/bench.json"
    keep bench.json
fi

if want train; then
    if [ "$DRY" = 1 ] || { [ -f "$DATA/video.mp4" ] && [ -f "$DATA/poses.npz" ]; }; then
        work=/tmp/gpu-train.dry-run
        [ "$DRY" = 1 ] || work=$(mktemp -d /tmp/gpu-train.XXXXXX)
        runs=()
        for steps in "$STEPS_A" "$STEPS_B"; do
            t0=$(date +%s.%N)
            # its own dataset cache: a shared one would let the second run skip building it
            run train "$PY" -m rtmotion train --video "$DATA/video.mp4" --poses "$DATA/poses.npz" \
                -o "$work/subject_$steps" --work-dir "$work/work_$steps" --cache "$work/cache_$steps" \
                --resolution 256x256 --batch-size 8 --clip-length 3 --device cuda --steps "$steps" \
                --save-every 100000 --sample-every 100000
            rc=$?
            t1=$(date +%s.%N)
            runs+=("{\"steps\": $steps, \"seconds\": $(elapsed "$t0" "$t1"), \"ok\": $([ $rc = 0 ] && echo true || echo false), \"cache\": \"$work/cache_$steps\"}")
        done
        (IFS=,; echo "{\"resolution\": 256, \"batch_size\": 8, \"clip_length\": 3, \"dry_run\": $([ "$DRY" = 1 ] && echo true || echo false), \"runs\": [${runs[*]}]}") \
            > "$RES/train.json"
        keep train.json
    else
        say "gpu_check: no $DATA/video.mp4 + poses.npz (tools/train_demo_subject.py prepare): train skipped"
    fi
fi

if want report; then
    # runs in dry runs too: `write` needs no GPU, and missing results become nulls
    t0=$(date +%s.%N)
    say "== report: tools/gpu_report.py write -> $RES/gpu_report.json"
    timeout "$(limit_of report)" "$PY" tools/gpu_report.py write --measure "$(result gpu_raw.json)" \
        --bench "$(result bench.json)" --train "$(result train.json)" --out "$RES/gpu_report.json" \
        >> "$LOG" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    printf '%s\t%s\t%s\n' report "$rc" "$(elapsed "$t0" "$t1")" >> "$STATUS"
    keep gpu_report.json
fi

say "gpu_check: parts (name, rc, seconds):"
cat "$STATUS" | tee -a "$LOG"
count=$(find "$RES" -mindepth 1 -maxdepth 1 | wc -l)
[ "$count" -le 8 ] || say "gpu_check: WARNING: $count entries in $RES, the device tool brings back 8"
exit 0
