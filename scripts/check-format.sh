#!/usr/bin/env bash
# Fails (exit 1) when a C++ file differs from .clang-format's style and names
# each such file. Without arguments: every C++ file git tracks (or, outside a
# git checkout, every one under the source folders). Fix: clang-format -i FILE.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2; exit 2; }
if [ "${1:-}" = --self-check ]; then
  # The check must fail on a misformatted file and pass on its formatted form (CTest check_format_self_check).
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  printf 'int  twice( int x ){return 2*x;}\n' > "$tmp/bad.cpp"
  clang-format --style=file:"$root/.clang-format" "$tmp/bad.cpp" > "$tmp/good.cpp"
  if bash "$0" "$tmp/bad.cpp" 2>/dev/null; then echo "check-format: passed a misformatted file" >&2; exit 1; fi
  bash "$0" "$tmp/good.cpp" >/dev/null || { echo "check-format: refused a formatted file" >&2; exit 1; }
  echo "check-format: self-check passed (refuses the misformatted file, passes its formatted form)"
  exit 0
fi
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cu' '*.cc' '*.cuh')
  else
    mapfile -t files < <(find app core descriptors io jobs ml noise physics render tests ui \
      -regex '.*\.\(cpp\|hpp\|h\|cu\|cc\|cuh\)' | sort)
  fi
fi
unformatted=()
for f in "${files[@]}"; do
  clang-format --style=file:"$root/.clang-format" --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ ${#unformatted[@]} -gt 0 ]; then
  printf 'check-format: not in the style of .clang-format (run clang-format -i FILE): %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} C++ files in the style of .clang-format"
