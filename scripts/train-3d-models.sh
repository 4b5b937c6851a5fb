#!/usr/bin/env bash
# The 3D generators from data to shipped folders (docs/ml3d.md, "The
# generalisation dataset" and "Training the shipped 3D models"):
#   1. the 240-run Cahn-Hilliard dataset, both thresholdings, split by run
#      train / validation / test (70 / 15 / 15);
#   2. the VAE variant, chosen on VALIDATION by its round-trip R^2 (the least
#      over the conditioned descriptors) after a short pilot of each variant;
#   3. `train3d recipe` with that variant (checkpoints: a rerun resumes), its
#      validation figures and the guidance scale chosen on validation;
#   4. `evaluate` on TEST (read only here, to report), with memorisation
#      against the training split, saved as evaluation.json;
#   5. the shipped held-out subset (64 test volumes) beside the model.
# Every step checks for its own output, so rerunning the script after a kill
# or in a later session goes on where it stopped. Runs niced.
#   PHASES="2 3" DATA=... WORK=... CLI=... THREADS=2 [RECIPE_FLAGS=--bf16] scripts/train-3d-models.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA=${DATA:-/work/data/ch3d-lhs240}
WORK=${WORK:-/work/data/models}
CLI=${CLI:-$root/build/app/microstudio-cli}
THREADS=${THREADS:-2}
PHASES=${PHASES:-"2 3"}
PILOT_LIMIT=${PILOT_LIMIT:-2400}   # training samples per VAE pilot (evenly spaced)
PILOT_EPOCHS=${PILOT_EPOCHS:-3}
RECIPE_FLAGS=${RECIPE_FLAGS:-}     # more `train3d recipe` flags, e.g. --bf16 (docs/ml3d.md)
export OMP_WAIT_POLICY=PASSIVE
# shellcheck source=steps.sh
. "$root/scripts/steps.sh"  # run, once
mkdir -p "$WORK"

# 1. Data (resumes finished runs; merges into DATA/2phase and DATA/3phase).
if [ ! -f "$DATA/2phase/train.h5" ] || [ ! -f "$DATA/3phase/train.h5" ]; then
  run "$CLI" dataset build --size 64x64x32 --sampling lhs --runs 240 --phi 0.35:0.65 --chi 2.5:4.0 \
    --seed 2026 --time 1000 --snapshots 400 --keep-snapshots 50 --phases 2,3 \
    --validation 0.15 --test 0.15 --threads "$THREADS" -o "$DATA"
fi

# The VAE variants compared in step 2 (recipe flags).
declare -A VARIANT=(
  [A]="--latent-channels 4"
  [B]="--latent-channels 8 --periodic-xy --minority-weight 2"
)

# The least round-trip figure over the conditioned descriptors in an evaluate
# JSON: per condition the lower of R^2 (squared Pearson) and the coefficient of
# determination, so a variant that is correlated but biased (session 21: the
# 3-phase class output's mixed phase, R^2 0.80 at a fraction 0.20 for 0.16)
# does not win on R^2 alone. JSONs from before r2_determination: R^2.
least_round_trip() {
  python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["reconstruction"]
d = r.get("r2_determination", {})
print(min(min(v, d.get(k, v) if d.get(k) is not None else v) for k, v in r["r2"].items()))' "$1"
}

for p in $PHASES; do
  d="$DATA/${p}phase"
  name="gen3d-ch$p"
  # 2. VAE pilots, measured on validation.
  choice="$WORK/$name-vae-choice.txt"
  if [ ! -f "$choice" ]; then
    best="" best_r2=-1 measured=""
    for v in "${!VARIANT[@]}"; do
      out="$WORK/pilot-$name-$v"
      if [ ! -f "$out/generator3d.pt" ] || [ -f "$out/vae.ckpt" ]; then
        # shellcheck disable=SC2086
        run "$CLI" train3d --data "$d/train.h5" --val "$d/val.h5" --out "$out" --stage vae --phases "$p" \
          --dims 64x64x32 --channels 16,32,64 --first-stride 2 --features 64 --context data --augment \
          --min-phase-fraction 0.01 --limit "$PILOT_LIMIT" --val-limit 128 --epochs "$PILOT_EPOCHS" --batch 16 \
          --lr 2e-3 --checkpoint-every 50 --threads "$THREADS" --seed 0 ${VARIANT[$v]}
      fi
      # 3 phases: each pilot labelled as its model will be (its own mixed band, or
      # offset for a class output, chosen on validation, step 3a), so the
      # comparison is not between one pilot's default and another's.
      if [ "$p" = 3 ]; then
        once "$out-mixed.txt" "$CLI" evaluate --model "$out" --data "$d/val.h5" -n 256 --threads "$THREADS" \
          --choose-mixed-band
      fi
      once "$out-val.json" "$CLI" evaluate --model "$out" --data "$d/val.h5" -n 256 --round-trip-only \
        --threads "$THREADS" --json
      r2=$(least_round_trip "$out-val.json")
      echo "pilot $name $v (${VARIANT[$v]}): least round-trip R^2 / determination on validation $r2" >&2
      measured="$measured $v $r2;"
      if python3 -c "import sys; sys.exit(0 if float('$r2') > float('$best_r2') else 1)"; then best=$v best_r2=$r2; fi
    done
    echo "VAE variant $best (${VARIANT[$best]}) chosen on validation by the least round-trip R^2 or determination over the" \
      "conditions after a ${PILOT_EPOCHS}-epoch pilot on $PILOT_LIMIT training samples:$measured" > "$choice.note"
    echo "${VARIANT[$best]}" > "$choice.tmp" && mv "$choice.tmp" "$choice"
  fi

  # 3. The model (the recipe resumes from DIR/checkpoints).
  model="$WORK/$name"
  # shellcheck disable=SC2046,SC2086
  run "$CLI" train3d recipe --phases "$p" --data "$d/train.h5" --val "$d/val.h5" --out "$model" \
    --threads "$THREADS" $(cat "$choice") --choice "$(cat "$choice.note")" $RECIPE_FLAGS

  # 3a. 3 phases: the decoder's mixed band [low, high), chosen on the validation
  #     round trips (the thin M band is blurred; 0.25/0.75 under-produces it) and
  #     recorded in the model before any figure is measured.
  if [ "$p" = 3 ]; then
    once "$WORK/$name-mixed-band.txt" "$CLI" evaluate --model "$model" --data "$d/val.h5" -n 256 \
      --threads "$THREADS" --choose-mixed-band
  fi
  # 3b. Validation figures (plain sampling and the VAE round trip, 256 targets):
  #     what the choices above are judged by (the VAE must reach round-trip
  #     R^2 >= 0.97 on every condition, docs/ml3d.md); test is not read here.
  once "$WORK/$name-val.json" "$CLI" evaluate --model "$model" --data "$d/val.h5" -n 256 --steps 50 \
    --threads "$THREADS" --json
  # 3c. The guidance scale, chosen on validation and recorded in the model
  #     (generate, evaluate and the Design tab then sample at it).
  once "$WORK/$name-guidance.txt" "$CLI" evaluate --model "$model" --data "$d/val.h5" -n 256 --steps 50 \
    --threads "$THREADS" --choose-guidance 1,2

  # 4. Test figures (256 evenly spaced test targets, memorisation against train).
  once "$WORK/$name-test.json" "$CLI" evaluate --model "$model" --data "$d/test.h5" -n 256 --steps 50 \
    --training "$d/train.h5" --threads "$THREADS" --save --json

  # 5. The shipped held-out subset.
  [ -f "$model/heldout-test.h5" ] || run "$CLI" dataset subset "$d/test.h5" -n 64 -o "$model/heldout-test.h5"
  echo "$name ready in $model (copy it to resources/models/$name once it beats the shipped one on test)" >&2
done
