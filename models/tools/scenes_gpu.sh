#!/bin/bash
# The supervised stages of train_scenes.py (data, then unet from a pack) in one call on a GPU machine,
# keeping EMA snapshots small enough to copy off it (about 16 MB each).
#
#   bash models/tools/scenes_gpu.sh WORK OUT MINUTES SCENES [train_scenes.py unet arguments...]
#   bash models/tools/scenes_gpu.sh WORK OUT MINUTES SCENES [common arguments] :: [variant 1] :: [variant 2] ...
#
# WORK holds vae.pt, an encoder fitted to the pack's decoder (train_encoder.py, run where the
# service's traffic is); SCENES scenes are rendered ($WORKERS processes, default 16) and encoded
# there, then the UNet trains for MINUTES on ${DEVICE:-cuda} (at most until DEADLINE seconds after
# this script started, less 45 s, when DEADLINE is set: a machine lent for a fixed time), and its EMA
# weights go to OUT/snap-STEP/unet.pt SNAPSHOTS times, evenly, the last at the end (default 3).
# With variants (argument groups after `::`), each trains at the same time on the same scenes (the
# GPU has room; each takes 8 CPU threads), with the common arguments and its own, in OUT/vK-work,
# its snapshots in OUT/vK/snap-STEP.
# On the device tool's machine pass $OUT itself as OUT: what comes back from it is at most two
# folders deep (OUT/vK/snap-STEP/unet.pt; OUT/r6/vK/... was left behind once) and about 64 MB in all,
# four snapshots of 16 MB (two variants: SNAPSHOTS=2). Back on any machine:
#   cp WORK/vae.pt OUT/ && python models/tools/train_scenes.py export --work OUT/snap-STEP \
#       --init-pack models/shapes-scenes --out NEW --version V
# Every random draw is made on the CPU from train_scenes' seeded streams, so a step count is the
# same recipe on a GPU as on a CPU (floats differ in the last bits); the GPU only fits more steps
# into the time.
set -euo pipefail
WORK=${1:?usage: scenes_gpu.sh WORK OUT MINUTES SCENES [unet args]}
OUT=${2:?}; MINUTES=${3:?}; SCENES=${4:?}; shift 4
DEVICE=${DEVICE:-cuda}; WORKERS=${WORKERS:-16}; PY=${PYTHON:-python3}; DEADLINE=${DEADLINE:-0}; SNAPSHOTS=${SNAPSHOTS:-3}
WORK=$(cd "$WORK" && pwd); mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
t0=$(date +%s)
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
$PY train_scenes.py data --work "$WORK" --scenes "$SCENES" --device "$DEVICE" --workers "$WORKERS" --threads 8
echo "data: $(( $(date +%s) - t0 )) s"
# the UNet's own minutes: MINUTES, or what the deadline leaves (loading and the last save: 45 s)
MINUTES=$($PY -c "import sys; m, d, used = map(float, sys.argv[1:]); print(round(min(m, (d - used - 45) / 60) if d else m, 2))" \
  "$MINUTES" "$DEADLINE" "$(( $(date +%s) - t0 ))")
SNAP=$($PY -c "import sys; print(round(float(sys.argv[1]) / int(sys.argv[2]) * 1.01, 3))" "$MINUTES" "$SNAPSHOTS")  # the last at the end
echo "unet: $MINUTES min, a snapshot every $SNAP min"
common=(); variants=(); k=0
for arg in "$@"; do  # split the arguments at `::` into the common group and one group per variant
  if [ "$arg" = "::" ]; then k=$((k + 1)); variants[$k]=""; continue; fi
  if [ "$k" = 0 ]; then common+=("$arg"); else variants[$k]+="${variants[$k]:+ }$arg"; fi
done
if [ "$k" = 0 ]; then
  $PY train_scenes.py unet --work "$WORK" --device "$DEVICE" --threads 8 --unet-minutes "$MINUTES" \
    --snapshot-minutes "$SNAP" --snapshot-dir "$OUT" "${common[@]}"
else
  pids=()
  for v in $(seq "$k"); do
    mkdir -p "$OUT/v$v-work" "$OUT/v$v"
    for f in vae.pt latents.pt scenes.pkl; do ln -sf "$WORK/$f" "$OUT/v$v-work/$f"; done
    echo "variant v$v: ${common[*]} ${variants[$v]}"
    # shellcheck disable=SC2086  # a variant's arguments are words
    $PY train_scenes.py unet --work "$OUT/v$v-work" --device "$DEVICE" --threads 8 --unet-minutes "$MINUTES" \
      --snapshot-minutes "$SNAP" --snapshot-dir "$OUT/v$v" "${common[@]}" ${variants[$v]} > "$OUT/v$v/train.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  tail -n 3 "$OUT"/v*/train.log
  rm -f "$OUT"/v*-work/unet.pt  # the resumable checkpoints (optimizer state): too big to copy off
  [ "$status" = 0 ]
fi
ls -ld "$OUT"/snap-* "$OUT"/v*/snap-* 2>/dev/null || true  # one of the two patterns matches nothing
echo "all: $(( $(date +%s) - t0 )) s"
