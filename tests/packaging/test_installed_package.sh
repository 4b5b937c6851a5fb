#!/usr/bin/env bash
# test_installed_package BUILD_DIR SOURCE_DIR: builds the .deb from BUILD_DIR,
# extracts it into a scratch root and runs the installed microstudio-cli
# there with SOURCE_DIR and BUILD_DIR hidden by empty tmpfs mounts in a
# private mount namespace (unshare; as root, or in a user namespace). Every
# check failing is a test failure; a missing unshare/cpack/dpkg too.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/ms-package-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
deb=$(ls "$work"/pkg/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "cpack wrote no .deb"
dpkg -x "$deb" "$work/root"
models="$work/root/usr/share/microstudio/models"
for f in gen3d-ch2/generator3d.pt gen3d-ch2/generator3d.json gen3d-ch2/heldout-test.h5 gen3d-ch2/evaluation.json \
         denoise-vae2d.pt denoise-vae2d.json; do
  [ -f "$models/$f" ] || fail "the package lacks usr/share/microstudio/models/$f"
done
[ -z "$(find "$models" -name '*.ckpt' -o -name checkpoints)" ] || fail "the package ships training checkpoints"
[ -x "$work/root/usr/bin/microstudio-ml" ] || fail "the package lacks usr/bin/microstudio-ml (the ML worker)"
# The CLI and the studio are torch-free: model work runs in microstudio-ml.
for exe in microstudio-cli microstudio; do
  [ "$exe" = microstudio ] && [ ! -x "$build/app/microstudio" ] && continue  # built without the GUI
  [ -x "$work/root/usr/bin/$exe" ] || fail "the package lacks usr/bin/$exe"
  if ldd "$work/root/usr/bin/$exe" | grep -q 'libtorch\|libQt5\|libopencv'; then
    fail "the installed $exe links LibTorch, OpenCV or Qt5"
  fi
done
echo "package: $(basename "$deb"), $(du -sm "$deb" | cut -f1) MB"

# What runs with the trees hidden.
cat > "$work/inside.sh" <<INSIDE
set -euo pipefail
cli="$work/root/usr/bin/microstudio-cli"
[ ! -e "$src/CMakeLists.txt" ] || { echo "FAIL: the source tree is still visible"; exit 1; }
unset MICROSTUDIO_MODELS
cd "$work"
"\$cli" models > models.txt
grep -q '^gen3d-ch2 ' models.txt || { echo "FAIL: models lists no gen3d-ch2:"; cat models.txt; exit 1; }
grep -q '^denoise-vae2d ' models.txt || { echo "FAIL: models lists no denoise-vae2d"; exit 1; }
grep -q "$models" models.txt || { echo "FAIL: models are not found in the package's folder"; exit 1; }
if grep -q '"feature_min"\|"points"' models.txt; then echo "FAIL: models prints raw architecture JSON"; exit 1; fi
"\$cli" models --json > models.json
grep -q '"architecture"' models.json || { echo "FAIL: models --json lacks the architecture"; exit 1; }
"\$cli" generate --model gen3d-ch2 --target ABS_f_D=0.5 -n 1 --sampler dpmpp --steps 4 -o gen.h5 > generate.txt
[ -s gen.h5 ] || { echo "FAIL: generate wrote nothing"; exit 1; }
"\$cli" demo -o demo --size 32x32x16 > demo.txt
[ -s demo/demo.vti ] || { echo "FAIL: demo wrote no .vti"; exit 1; }
echo "installed: models, generate and demo work with the source tree hidden"
INSIDE
hide="mount -t tmpfs none '$src'"
case "$build/" in "$src"/*) ;; *) hide="$hide && mount -t tmpfs none '$build'" ;; esac
if [ "$(id -u)" = 0 ]; then
  unshare -m bash -c "$hide && bash '$work/inside.sh'"
else
  unshare -r -m bash -c "$hide && bash '$work/inside.sh'"
fi
