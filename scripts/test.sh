#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, real broker, real Spark (local and a
# standalone cluster), the official fink-client, AppTest and the headless-Chromium end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export SPARK_LOCAL_IP=127.0.0.1
# the condition property draws 3000 conditions here (the unit layer alone: 1000, to stay under a minute)
export FT_CONDITION_EXAMPLES="${FT_CONDITION_EXAMPLES:-3000}"
exec .venv/bin/python -m pytest -q -ra --durations=15 "$@"
