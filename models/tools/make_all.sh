#!/usr/bin/env bash
# Re-create every embedded model pack from nothing (CPU; about 55 minutes on an idle
# 2-core machine: tiny-shapes ~45, the two scorers ~8, the NSFW conversion ~2).
# Needs Python with requirements.txt installed (PYTHON=..., default python3) and, for the
# NSFW judge, node >= 20 + npm. Training is never part of the Maven build or tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
"$PY" models/tools/train_tiny_shapes.py all --vae-steps 1251 --unet-steps 11419 --threads 2
"$PY" models/tools/eval_tiny_shapes.py --seeds 4
"$PY" models/tools/measure_checker.py
"$PY" models/tools/train_aesthetic.py
"$PY" models/tools/train_faithfulness.py
PYTHON="$PY" models/tools/nsfw/make.sh
"$PY" models/tools/verify_packs.py
