#!/usr/bin/env bash
# The shipped demo subject's data, and a GPU recipe for it (see train_demo_subject.py; the shipped subject itself was
# trained on a CPU by `rtmotion train`'s defaults: rtmotion/data/subjects/demo-ada/train_command.txt).
#
#   tools/train_demo_subject.sh prepare      # CPU machine with mediapipe: video + MediaPipe poses
#   tools/train_demo_subject.sh train        # GPU machine (torch CUDA, av, pytorch-msssim)
#   tools/train_demo_subject.sh all          # both on one machine
#
# Environment: PYTHON (default python3), DATA (default runs/demo-ada-data), OUT_BUNDLE (bundle folder,
# default rtmotion/data/subjects/demo-ada), WORK (default runs/demo-ada-work), MINUTES (per run,
# default 8), STEPS (default 20000), DEVICE (default cuda), RESUME (set: continue the last run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STEP=${1:-all}
DATA=${DATA:-runs/demo-ada-data}
OUT=${OUT_BUNDLE:-rtmotion/data/subjects/demo-ada}
WORK=${WORK:-runs/demo-ada-work}
exec "$PYTHON" tools/train_demo_subject.py "$STEP" --data "$DATA" --out "$OUT" --work-dir "$WORK" \
    --seconds 90 --size 512x512 --seed 0 \
    --preset small --resolution 256x256 --batch-size 8 \
    --steps "${STEPS:-20000}" --minutes "${MINUTES:-8}" ${RESUME:+--resume} --device "${DEVICE:-cuda}"
