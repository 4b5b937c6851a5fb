#!/usr/bin/env bash
# Installs every Debian 12 package MicroStudio needs. Idempotent: when all are
# present it only runs dpkg-query and exits in well under a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev qt6-charts-dev
  libgl-dev libglx-dev libegl-dev
  libvtk9-dev
  libtorch-dev libopenblas0-pthread libgloo-dev
  libhdf5-dev hdf5-tools libfmt-dev nlohmann-json3-dev libcli11-dev libpng-dev libtiff-dev zlib1g-dev libfftw3-dev libyaml-dev
  python3
  xvfb xauth mesa-utils libgl1-mesa-dri
  dpkg-dev file
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
