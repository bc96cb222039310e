#!/usr/bin/env bash
# Mutation testing of rtmotion's core (mutmut), at the lowest CPU priority: the default groups
# take about 37 minutes on two cores (pipeline 25 of them). Results: docs/mutation.json; see docs/MUTATION.md.
#   tools/mutation.sh                 # kernels, pipeline, export-int8, eval
#   tools/mutation.sh pose            # a slow group on its own
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
exec nice -n 19 "$PY" tools/mutation.py "$@"
