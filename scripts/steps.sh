# Sourced by the resumable pipelines (train-3d-models.sh, train-paper-vae2d.sh):
# their two step helpers.
# run COMMAND...: echoed to stderr, then run niced.
run() { echo "+ $*" >&2; nice -n 10 "$@"; }
# once FILE COMMAND...: COMMAND's output into FILE (temp + rename), unless FILE
# exists, so a rerun skips what is done. (`[ -f F ] || cmd > F.tmp && mv ...`
# would run the mv, and fail, when F exists.)
once() {
  local file="$1"; shift
  [ -f "$file" ] && return 0
  run "$@" > "$file.tmp" && mv "$file.tmp" "$file"
}
