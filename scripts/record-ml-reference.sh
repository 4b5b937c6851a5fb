#!/usr/bin/env bash
# Records what the CLI's ML commands give for fixed inputs and seeds, with
# the CLI given (issue 27: the reference was recorded with microstudio-cli
# built at 6aec00b, the commit before the ML commands moved into the worker
# microstudio-ml; test_cli mlCommandsMatchTheReferenceBeforeTheSplit runs the
# same commands now and compares). Inputs and outputs go to OUT:
#   scripts/record-ml-reference.sh /tmp/ref-6aec00b/build/app/microstudio-cli tests/cli/reference-6aec00b
set -euo pipefail
cli=$1 out=$2
mkdir -p "$out"
cd "$out"
export MICROSTUDIO_THREADS=1
# Inputs: a two-phase 64x64 Cahn-Hilliard image with salt-and-pepper noise
# (kept: noisy.h5), a tiny untrained 3D generator (seeded; the test makes it
# again with the CLI under test: the weights are the same bytes).
"$cli" simulate --size 64x64 --phi 0.5 --chi 3 --time 200 --snapshots 2 --seed 1 --threads 1 --no-field -o clean.h5
"$cli" noise apply --type salt-pepper --seed 1 --sample 1 clean.h5 noisy.h5
rm -f clean.h5
"$cli" generate --create-tiny tiny3d --phases 2
# The commands (flags as they were then and are now).
"$cli" denoise noisy.h5 denoised.h5
"$cli" sample2d sampled.h5 --count 2 --steps 10 --seed 3
"$cli" generate --model tiny3d --target ABS_f_D=0.4 -n 2 --steps 5 --seed 7 -o generated.h5
rm -rf tiny3d
ls -l
