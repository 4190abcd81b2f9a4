#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian machine: Java 17 (Spark and the Kafka
# broker), Maven (fetches Apache Kafka once from Maven Central into .cache/), a virtualenv in .venv
# with the package (editable) and its dependencies; with --test also the test tools and Debian's
# Chromium for the browser tests. Idempotent: re-running only fills what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ "$WITH_TEST" = 1 ] && [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$WITH_TEST" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
.venv/bin/fink-transfer broker install
echo "setup: done ($(.venv/bin/python -c 'import pyspark, streamlit; print("pyspark", pyspark.__version__, "streamlit", streamlit.__version__)'))"
