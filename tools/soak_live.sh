#!/usr/bin/env bash
# Soak test of `rtmotion live` (issue 10): SECONDS of --source looping, --no-preview, at low
# priority; samples the process's resident memory (VmRSS) every 10 s into rss.csv.
# Usage: tools/soak_live.sh SUBJECT SOURCE.mp4 OUTDIR [SECONDS=600]
set -euo pipefail
subject=$1; source=$2; out=$3; secs=${4:-600}
mkdir -p "$out"
PY=${PYTHON:-python}
nice -n 19 "$PY" -m rtmotion live -t "$subject" --source "$source" --loop --no-preview \
    --seconds "$secs" --json "$out/soak.json" > "$out/soak.txt" 2> "$out/soak.err" &
pid=$!
echo "t_s,rss_kb" > "$out/rss.csv"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),$rss" >> "$out/rss.csv"
    sleep 10
done
wait "$pid"
