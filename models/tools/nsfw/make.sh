#!/usr/bin/env bash
# Re-create Winnow's NSFW judge pack (models/judges/nsfw-mobilenet-v2/) from scratch:
#   npm pack nsfwjs@4.4.0 -> extract model -> convert to ONNX -> generate fixtures
#   -> tfjs reference outputs -> ONNX parity check.
# Needs: node >= 20 + npm (registry access), Python with numpy, pillow, onnx, onnxruntime.
# Env: PYTHON (default /work/venv/bin/python, else python3), NSFW_WORK (default /tmp/winnow-nsfw).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JUDGE="$(cd "$HERE/../../judges" && pwd)/nsfw-mobilenet-v2"
WORK="${NSFW_WORK:-/tmp/winnow-nsfw}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi
NSFWJS_VERSION=4.4.0
NSFWJS_SHA1=706017d11e44de0803b73a568819f800a50ae470   # `npm view nsfwjs@4.4.0 dist.shasum`

echo "== 1. npm pack nsfwjs@$NSFWJS_VERSION -> $WORK"
rm -rf "$WORK" && mkdir -p "$WORK"
(cd "$WORK" && npm pack "nsfwjs@$NSFWJS_VERSION" --silent >/dev/null)
TGZ="$WORK/nsfwjs-$NSFWJS_VERSION.tgz"
echo "$NSFWJS_SHA1  $TGZ" | sha1sum -c -
tar -xzf "$TGZ" -C "$WORK"            # -> $WORK/package

echo "== 2. npm ci (pinned @tensorflow/tfjs, nsfwjs, pngjs; pure JS, no install scripts)"
(cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

echo "== 3. extract the MobileNetV2 layers model (model.json + weight shard) from the JS bundles"
node "$HERE/extract_model.cjs" "$WORK/package" "$WORK/extracted" mobilenet_v2

echo "== 4. convert to ONNX"
mkdir -p "$JUDGE/parity"
"$PYTHON" "$HERE/convert_nsfwjs.py" --model-dir "$WORK/extracted" --out "$JUDGE/model.onnx"

echo "== 5. generate parity fixtures"
rm -f "$JUDGE"/parity/*.png "$JUDGE/parity/reference.json"
"$PYTHON" "$HERE/gen_fixtures.py" "$JUDGE/parity"

echo "== 6. reference probabilities from the original model (pure-JS @tensorflow/tfjs, CPU)"
(cd "$HERE" && node reference_tfjs.cjs "$WORK/extracted" "$JUDGE/parity")

echo "== 7. parity check (onnxruntime vs tfjs)"
"$PYTHON" "$HERE/check_parity.py" --judge-dir "$JUDGE"

echo "== 8. LICENSE (attribution + nsfwjs' MIT licence, verbatim from the package)"
{
  cat <<'HDR'
The model in this directory (model.onnx) is a format conversion, made by Winnow's
models/tools/nsfw/convert_nsfwjs.py, of the MobileNetV2 NSFW image classifier shipped
in the npm package nsfwjs 4.4.0 (dist/models/mobilenet_v2), by Infinite Red, Inc.
and the nsfwjs contributors:
  https://github.com/infinitered/nsfwjs
  https://www.npmjs.com/package/nsfwjs/v/4.4.0
It is redistributed under the MIT License below, copied verbatim from the
LICENSE file of that package.

--------------------------------------------------------------------------------

HDR
  cat "$WORK/package/LICENSE"
} > "$JUDGE/LICENSE"

ls -l "$JUDGE/model.onnx"
sha256sum "$JUDGE/model.onnx"
echo "done"
