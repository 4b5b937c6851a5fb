#!/usr/bin/env bash
# The README's launch command: installs what is missing, builds, then opens
# the studio (any arguments are passed on, e.g. a file to open). With no
# display it runs the headless demo instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/build.sh" >&2
build_dir="${MICROSTUDIO_BUILD_DIR:-$root/build}"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$build_dir/app/microstudio" ]; then
  exec "$build_dir/app/microstudio" "$@"
fi
echo "No display: running the headless demo (microstudio-cli demo)." >&2
exec "$build_dir/app/microstudio-cli" demo "$@"
