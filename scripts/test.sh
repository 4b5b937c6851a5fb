#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every
# test (unit, end-to-end CLI, GUI screenshots under Xvfb) with CTest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build.sh" "$@"
build_dir="${MICROSTUDIO_BUILD_DIR:-$root/build}"
cd "$build_dir"
ctest --output-on-failure -j "${MICROSTUDIO_TEST_JOBS:-2}" --timeout 900
