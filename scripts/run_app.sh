#!/usr/bin/env bash
# Set up (if needed) and run the main job: embedded Kafka broker + demo archive (built once) + the app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fink-transfer app "$@"
