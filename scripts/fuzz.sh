#!/usr/bin/env bash
# Fuzzes every file reader with libFuzzer (docs/reliability.md).
#
#   bash scripts/fuzz.sh [SECONDS] [READER ...]     READER: vti h5 txt png tif npy dream3d (default: all)
#   bash scripts/fuzz.sh 0 h5                       only replay the last run's crash inputs
#
# Configures and builds build-fuzz/ with clang (-DMICROSTUDIO_FUZZ=ON: core
# and io compiled with -fsanitize=fuzzer-no-link,address,undefined; targets
# tests/fuzz/fuzz_<reader>.cpp), then runs each target for SECONDS (default
# 600) on its seed corpus tests/fuzz/corpus/<reader>/ (read only) plus
# build-fuzz/corpus/<reader>/ (what the fuzzer adds). A crash, sanitizer
# report, leak, hang (-timeout) or allocation of more than -malloc_limit_mb
# stops a target and leaves its input in build-fuzz/crashes/<reader>/; keep
# it as a regression test in tests/io and fix the bug.
#
# Environment: MICROSTUDIO_FUZZ_JOBS=N runs N targets at a time (default 1),
# MICROSTUDIO_FUZZ_DIR (default build-fuzz), CC/CXX (default clang-14).
# Not part of CI. Needs clang-14 and libclang-rt-14-dev (Debian 12).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-600}"
[ $# -gt 0 ] && shift
readers=("$@")
[ ${#readers[@]} -eq 0 ] && readers=(vti h5 txt png tif npy dream3d)
build="${MICROSTUDIO_FUZZ_DIR:-$root/build-fuzz}"
jobs="${MICROSTUDIO_FUZZ_JOBS:-1}"
cc="${CC:-clang-14}"
cxx="${CXX:-clang++-14}"
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DMICROSTUDIO_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
fi
targets=()
for r in "${readers[@]}"; do targets+=("fuzz_$r"); done
cmake --build "$build" --target "${targets[@]}" -j "${MICROSTUDIO_JOBS:-$(nproc)}"

# Inputs up to 16 KB; no single allocation above what 16 KB can back through
# zlib (16 KB x 1032 = 17 MB) plus 64 MB; 10 s per input counts as a hang.
# -fork=1 -ignore_crashes=1: a crash does not end the run; every crash input
# is kept, then replayed below to say where it crashed.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
run() {
  local r="$1"
  local log="$build/fuzz_$r.log"
  if [ "$seconds" != 0 ]; then
    rm -rf "$build/crashes/$r"  # this run's crash inputs only (keep the ones you fix in tests/io)
  fi
  mkdir -p "$build/corpus/$r" "$build/crashes/$r"
  rm -f "$log.crashes"
  local bin="$build/tests/fuzz/fuzz_$r"
  # libhdf5 leaks a few KB on many malformed files (inside H5C/H5O error
  # paths); leaks are only checked in our own readers.
  local leaks=1
  [ "$r" = h5 ] || [ "$r" = dream3d ] && leaks=0
  local status=0
  [ "$seconds" = 0 ] || ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=1" nice -n 5 "$bin" -fork=1 -ignore_crashes=1 \
    -max_total_time="$seconds" -max_len=16384 -malloc_limit_mb=96 -rss_limit_mb=2048 -timeout=10 \
    -detect_leaks=$leaks -artifact_prefix="$build/crashes/$r/" \
    "$build/corpus/$r" "$root/tests/fuzz/corpus/$r" >"$log" 2>&1 || status=$?
  local execs
  execs=$(grep -o '^#[0-9]*:' "$log" | tail -1 | tr -d '#:')
  local summary="fuzz $r: ${seconds} s, ${execs:-?} executions"
  local crashes=0 ours=0
  for input in "$build/crashes/$r"/*; do
    [ -f "$input" ] || continue
    crashes=$((crashes + 1))
    # Where it crashed, in process: the first frame outside libc and the sanitizer.
    local where
    where=$(ASAN_OPTIONS="detect_leaks=$leaks" "$bin" -timeout=10 "$input" 2>&1 |
      grep -E '^ +#[0-9]+ ' | grep -vE 'libc\.so|__interceptor|sanitizer|/sysdeps/|libFuzzer|fuzzer::| in (malloc|calloc|realloc|operator new)' |
      head -1 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in //; s/ \(BuildId.*//' || true)
    local verdict="in our code"
    if [[ "$where" == *libhdf5* ]]; then
      verdict="in libhdf5"
      # The CLI reads HDF5 in a child process: there it must be one clean error.
      if MS_FUZZ_H5_ISOLATED=1 ASAN_OPTIONS=detect_leaks=0 "$bin" -timeout=10 "$input" >/dev/null 2>&1; then
        verdict="$verdict; refused cleanly through the child-process reader"
      else
        verdict="$verdict; NOT refused cleanly through the child-process reader"
        ours=$((ours + 1))
      fi
    else
      ours=$((ours + 1))
    fi
    echo "  $(basename "$input"): ${where:-no stack (leak or timeout?)} ($verdict)" >>"$log.crashes"
  done
  # Inputs of fork-mode jobs that crashed (no exit handler ran): theirs only.
  for f in /dev/shm/ms_fuzz_*.h5 /dev/shm/ms_fuzz_*.dream3d; do
    [ -f "$f" ] || continue
    pid="${f##*/ms_fuzz_}"; pid="${pid%.*}"
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
  echo "$summary, $crashes crash input(s), $ours to fix (inputs in $build/crashes/$r/, log $log)"
  [ -f "$log.crashes" ] && sed -n '1,20p' "$log.crashes"
  [ "$ours" -eq 0 ]
}
failed=0
for r in "${readers[@]}"; do
  if [ "$jobs" -gt 1 ]; then
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
    run "$r" &
  else
    run "$r" || failed=1
  fi
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
exit "$failed"
