#!/usr/bin/env bash
# The look ablation of docs/BENCHMARKS.md: arms trained at equal steps from the same data, seed
# and settings, each then scored by `rtmotion eval` (held-out, transfer at stride 1 and 3), and
# the table printed by tools/ablation_table.py. Needs the demo data:
#   python tools/train_demo_subject.py prepare        # runs/demo-ada-data (video + MediaPipe poses)
# Usage: tools/ablate_look.sh [STEPS] [ROOT]   (defaults 300, runs/abl); about 8 minutes of training
# and 3 minutes of evaluation per arm on a quiet 2-core CPU. Arms already trained are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
ROOT=${2:-runs/abl}
DATA=runs/demo-ada-data
RT=${RTMOTION:-.venv/bin/rtmotion}
mkdir -p "$ROOT"
train_arm() {  # NAME extra-args...
    local name=$1; shift
    [ -f "$ROOT/$name/subject.json" ] && return 0
    "$RT" train --video "$DATA/video.mp4" --poses "$DATA/poses.npz" -o "$ROOT/$name" \
        --work-dir "$ROOT/$name-work" --cache "$ROOT/cache" --name demo-ada --preset small \
        --resolution 128x128 --batch-size 4 --device cpu --workers 1 --seed 0 --save-every 100 \
        --sample-every 100 --d-channels 32 --clip-length 2 --steps "$STEPS" "$@" > "$ROOT/$name.log" 2>&1
}
eval_arm() {  # NAME
    local name=$1 s=$ROOT/$1
    [ -f "$s-heldout.json" ] || "$RT" eval "$s" --no-pose -o "$s-heldout.json" > /dev/null
    [ -f "$s-transfer.json" ] || "$RT" eval "$s" --no-pose --transfer-character bruno -o "$s-transfer.json" > /dev/null
    [ -f "$s-transfer-s3.json" ] || "$RT" eval "$s" --no-pose --transfer-character bruno --stride 3 \
        -o "$s-transfer-s3.json" > /dev/null
}
train_arm base --keyframes 0
train_arm ref --keyframes 32
train_arm refgap --keyframes 32 --max-gap 8
train_arm refgaptf0 --keyframes 32 --max-gap 8 --teacher-forcing 0
for arm in base ref refgap refgaptf0; do eval_arm "$arm"; done
.venv/bin/python tools/ablation_table.py "$ROOT" base ref refgap refgaptf0
