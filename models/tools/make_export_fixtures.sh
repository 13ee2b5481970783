#!/usr/bin/env bash
# Writes the test fixture packs that Optimum's real exporter makes: SD 1.5, SD 2.1 (768-v) and
# SD-Turbo with their real classes at tiny widths and random weights (random_sd.py --tiny), each
# exported exactly as `optimum-cli export onnx --task text-to-image` exports it, then SD 1.5 once
# more through batch_timestep.py. Their images mean nothing; their interfaces are the real ones.
#
#   src/test/fixture-packs/sd15-optimum-scalar-fixture    SD 1.5, rank-0 timestep (Optimum 1.24+)
#   src/test/fixture-packs/sd15-optimum-batched-fixture   the same UNet after batch_timestep.py
#   src/test/fixture-packs/sd21-v-fixture                 SD 2.1 768-v (v_prediction, pad "!")
#   src/test/fixture-packs/sd-turbo-fixture               SD-Turbo (Euler, trailing spacing)
#
# Needs the exporter stack of docs/REAL-MODELS.md (optimum-onnx, diffusers, transformers < 4.58,
# torch, onnx, onnxruntime) on PYTHON (default python3). About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
CLI="${OPTIMUM_CLI:-$(dirname "$PY")/optimum-cli}"
FIX=src/test/fixture-packs
# The small vocabulary the hand-built fixtures carry (CLIP's own may not be committed).
VOCAB="$(mktemp -d)"
cp "$FIX/sd15-optimum-fixture/tokenizer/vocab.json" "$FIX/sd15-optimum-fixture/tokenizer/merges.txt" "$VOCAB/"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK" "$VOCAB"' EXIT
export HF_HUB_OFFLINE=1

export_one() {   # export_one ARCH FIXTURE
  "$PY" models/tools/random_sd.py "$1" "$WORK/$1" --tiny --vocab "$VOCAB"
  rm -rf "${FIX:?}/$2"
  "$CLI" export onnx --model "$WORK/$1" --task text-to-image "$FIX/$2"
}
export_one sd15 sd15-optimum-scalar-fixture
export_one sd21-v sd21-v-fixture
export_one sd-turbo sd-turbo-fixture
rm -rf "$FIX/sd15-optimum-batched-fixture"
"$PY" models/tools/batch_timestep.py "$FIX/sd15-optimum-scalar-fixture" "$FIX/sd15-optimum-batched-fixture"
# Hard links from batch_timestep.py would tie the two folders' files together in a checkout: copy.
find "$FIX/sd15-optimum-batched-fixture" -type f -links +1 -exec sh -c 'cp --remove-destination "$1" "$1.tmp" && mv "$1.tmp" "$1"' _ {} \;
du -sh "$FIX"/sd15-optimum-scalar-fixture "$FIX"/sd15-optimum-batched-fixture "$FIX"/sd21-v-fixture "$FIX"/sd-turbo-fixture
