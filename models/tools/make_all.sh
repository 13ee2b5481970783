#!/usr/bin/env bash
# Re-create every embedded model pack from nothing, on the CPU (training on a GPU is welcome
# but not needed). Wall times measured on this project's 2-core machine are in
# models/README.md (about six and a half hours in all, most of it the UNet).
# Needs Python with requirements.txt installed (PYTHON=..., default python3) and, for the
# NSFW judge, node >= 20 + npm. Training is never part of the Maven build or tests.
# Intermediate files (autoencoder, encoded latents, checkpoints) go to $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
WORK="${WORK:-/tmp/scenes-work}"
T=models/tools
"$PY" $T/measure_scenes_checker.py --no-autoencoder                 # the checker on renders (>= 0.99 per category)
"$PY" $T/train_scenes.py tokenizer --work "$WORK"
"$PY" $T/train_scenes.py vae --work "$WORK" --vae-steps 1340
"$PY" $T/measure_scenes_checker.py --work "$WORK"                   # on autoencoder round trips (>= 0.95 per category)
"$PY" $T/train_scenes.py data --work "$WORK" --scenes 200000
"$PY" $T/train_scenes.py unet --work "$WORK" --unet-steps "${UNET_STEPS:-9859}"
"$PY" $T/train_scenes.py export --work "$WORK"
"$PY" $T/eval_scenes.py --work "$WORK"                               # torch sampler + checker, per category
"$PY" $T/train_scenes_aesthetic.py
"$PY" $T/gen_verifier_data.py --work "$WORK" --images 6400 --out "$WORK/generated.npz"   # pipeline samples: measured on, never trained on
"$PY" $T/train_verifier.py --work "$WORK" --generated "$WORK/generated.npz"       # ~1 hour
"$PY" $T/train_preview_verifier.py data --work "$WORK" --chunks 118           # pipeline samples with x̂0 previews, ~30 min
"$PY" $T/train_preview_verifier.py train --work "$WORK" --steps 1500 --minutes 600   # preview scorer, ~17 min
"$PY" $T/train_preview_verifier.py export --work "$WORK"
PYTHON="$PY" $T/nsfw/make.sh
"$PY" $T/verify_packs.py
