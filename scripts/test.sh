#!/usr/bin/env bash
# The README's test command: installs what is missing, checks the C++ style
# (scripts/check-format.sh, .clang-format), builds, runs every
# test (unit, end-to-end CLI, GUI screenshots under Xvfb) with CTest, then
# the sanitizer step.
#
# Sanitizer step (docs/reliability.md): a second build in build-asan/ with
# -DMICROSTUDIO_SANITIZE=ON (AddressSanitizer + UndefinedBehaviorSanitizer,
# no recovery) and without the GUI and LibTorch, then the library and CLI
# tests in it. Any sanitizer report aborts the test process, so the step
# fails. MICROSTUDIO_SKIP_SANITIZE=1 leaves it out; MICROSTUDIO_ONLY_SANITIZE=1
# runs only it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${MICROSTUDIO_ONLY_SANITIZE:-0}" != 1 ]; then
  # The style first: an unformatted C++ file fails the run before the long build.
  bash "$root/scripts/install-deps.sh"
  bash "$root/scripts/check-format.sh"
  bash "$root/scripts/build.sh" "$@"
  build_dir="${MICROSTUDIO_BUILD_DIR:-$root/build}"
  (cd "$build_dir" && ctest --output-on-failure -j "${MICROSTUDIO_TEST_JOBS:-2}" --timeout 900)
fi

if [ "${MICROSTUDIO_SKIP_SANITIZE:-0}" != 1 ]; then
  start=$(date +%s)
  asan_dir="${MICROSTUDIO_ASAN_DIR:-$root/build-asan}"
  # The tests of every library but ml/ and the GUI; the CLI test runs the
  # CLI built the same way (its ML commands are absent there, and skipped).
  asan_tests=(test_core test_io test_descriptors test_descriptors_similarity test_physics test_noise test_jobs test_cli)
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$asan_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$asan_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMICROSTUDIO_SANITIZE=ON \
      -DMICROSTUDIO_WITH_GUI=OFF -DMICROSTUDIO_WITH_TORCH=OFF -DMICROSTUDIO_WITH_CUDA=OFF >/dev/null
  fi
  cmake --build "$asan_dir" -j "${MICROSTUDIO_JOBS:-$(nproc)}" --target microstudio-cli "${asan_tests[@]}"
  built=$(date +%s)
  # halt_on_error / abort_on_error: the first report ends the process with a
  # failure; max_allocation_size_mb stands in for test_cli's address-space
  # limit, which an ASan process cannot run under.
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:max_allocation_size_mb=2000:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
  export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
  regex="^($(IFS='|'; echo "${asan_tests[*]}"))\$"
  (cd "$asan_dir" && ctest --output-on-failure -j "${MICROSTUDIO_TEST_JOBS:-2}" --timeout 900 -R "$regex")
  end=$(date +%s)
  echo "sanitizer step: ${#asan_tests[@]} test programs under ASan+UBSan passed; build $((built - start)) s, tests $((end - built)) s"
fi
