#!/usr/bin/env bash
# One round of the alignment loop, through the running service (docs/LOOP.md):
#
#   traffic -> pairs -> training -> new versions -> swapped in live -> measured
#
#   bash models/tools/loop.sh WORK            # round 1 from the repository's pack and judge
#   bash models/tools/loop.sh WORK            # again: round 2 from round 1's versions and traffic
#
# WORK holds everything: versions/ (every pack and judge version, never overwritten), the two
# symlinks the service reads (pipeline, aesthetic), traffic/ and feedback/ (what the service
# kept), rounds/<k>/ (pairs, measurements, logs, report.md, cpu.tsv). The service is started here
# from target/quarkus-app (built if missing) with live swaps on, and stopped at the end.
#
# Settings (environment; the defaults are the recipe of docs/QUALITY.md "The loop"):
#   GENERATIONS=3000  requests of best-of-N on training prompts (loop_traffic.py)
#   N=8               candidates per request
#   PICKS=2500        picks by the scripted person through POST /feedback (annotator.py)
#   GEN_METHOD=dpo GEN_ARGS="--beta 1000 --lr 2e-5 --batch 16 --ema 0.995 --steps 2500" GEN_MINUTES=200 (--steps decides;
#                     about five passes over the pairs is what rounds 3 and 4 chose on tuning prompts: 2,500 steps
#                     for 8,722 pairs, 800 for 2,664)
#   GEN_METHOD=scenes: the pack's own supervised stage instead of a preference method, in the serving
#                     pack's latent space (an encoder fitted to its decoder from the traffic's latents,
#                     train_encoder.py), on SCENES=160000 rendered scenes, in two stages: SCENES_ARGS
#                     (the direction drawn and weighted more), then SCENES2_ARGS (the plain mix back, for
#                     small objects' detail); the defaults are v4's recipe (QUALITY.md "Training a
#                     relation's direction"; its first stage ran on a GPU with scenes_gpu.sh);
#                     ENCODER_ARGS="--steps 1500 --batch 32" for train_encoder.py
#   PAIRS_ARGS="--top 8 --min-chosen 0.95 --unsafe-rejected"   which candidates are chosen and rejected
#                     (traffic_to_pairs.py; --unsafe-rejected also pairs the top against the ones the safety judge
#                     flagged, as round 4 did: on benign prompts those are its false positives)
#   RELABEL=0         1: add relabel_pairs.py's binding pairs (the round's own traffic read again against
#                     its two-object captions' siblings) to the judges' pairs; RELABEL_ARGS="" passes on
#                     (tried once from v1: no gain on tuning prompts, QUALITY.md "Binding pairs")
#   REWARD_ARGS="--steps 1400 --batch 64 --lr 2e-3 --flip hv --members 3"
#   MEASURE_ARGS=""   extra bench_scenes.py arguments (e.g. "--limit 1" for a quick look, not a result)
#   REWARD_EVAL_ARGS=""  extra eval_reward.py collect arguments (e.g. "--limit 12")
#   PORT=8097 ADMIN_PORT=9497 THREADS=2
#
# Every stage's wall and CPU seconds (this script's children, and the service's own CPU while the
# stage ran) go to rounds/<k>/cpu.tsv and are printed at the end.
set -euo pipefail

WORK=${1:?usage: loop.sh WORK}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
GENERATIONS=${GENERATIONS:-3000}
N=${N:-8}
PICKS=${PICKS:-2500}
GEN_METHOD=${GEN_METHOD:-dpo}
GEN_ARGS=${GEN_ARGS:---beta 1000 --lr 2e-5 --batch 16 --ema 0.995 --steps 2500}
GEN_MINUTES=${GEN_MINUTES:-200}
PAIRS_ARGS=${PAIRS_ARGS:---top 8 --min-chosen 0.95 --unsafe-rejected}
RELABEL=${RELABEL:-0}
RELABEL_ARGS=${RELABEL_ARGS:-}
REWARD_ARGS=${REWARD_ARGS:---steps 1400 --batch 64 --lr 2e-3 --flip hv --members 3}
MEASURE_ARGS=${MEASURE_ARGS:-}
REWARD_EVAL_ARGS=${REWARD_EVAL_ARGS:-}
PORT=${PORT:-8097}
ADMIN_PORT=${ADMIN_PORT:-9497}
THREADS=${THREADS:-2}
SCENES=${SCENES:-160000}
ENCODER_ARGS=${ENCODER_ARGS:---steps 1500 --batch 32}
SCENES_ARGS=${SCENES_ARGS:---grow-positional --lr 5e-4 --warmup 200 --seed 6 --batch 256 --relation-captions 0.8 \
--relation-scenes 0.35 --layout-share 0.3 --layout-weight 0.15 --unet-steps 1407}
SCENES2_ARGS=${SCENES2_ARGS:---relation-captions 0.8 --relation-scenes 0.15 --layout-weight 0.15 --lr 2e-4 --warmup 100 \
--batch 64 --seed 7 --unet-steps 2453}
URL=http://localhost:$PORT
export OMP_WAIT_POLICY=PASSIVE   # spinning OpenMP threads cost 10x the CPU on a shared machine

mkdir -p "$WORK"/versions "$WORK"/rounds
WORK=$(cd "$WORK" && pwd)
cd "$HERE"   # the tools import each other

# ---------------------------------------------------------------- the versions in service
if [ ! -e "$WORK/pipeline" ]; then
  # Round 1 starts from the repository's pack and aesthetic judge, copied as versions.
  v=$($PY -c "import json,sys; print(json.load(open(sys.argv[1])).get('winnow_version','v1'))" "$REPO/models/shapes-scenes/model_index.json")
  cp -r "$REPO/models/shapes-scenes" "$WORK/versions/pipeline-$v"
  ln -sfn "$WORK/versions/pipeline-$v" "$WORK/pipeline"
  j=$($PY -c "import json,sys; print(json.load(open(sys.argv[1])).get('winnow_version','v1'))" "$REPO/models/judges/aesthetic-scenes/judge.json")
  cp -r "$REPO/models/judges/aesthetic-scenes" "$WORK/versions/aesthetic-$j"
  ln -sfn "$WORK/versions/aesthetic-$j" "$WORK/aesthetic"
fi
round=$(( $(ls "$WORK/rounds" | wc -l) + 1 ))
R="$WORK/rounds/$round"
mkdir -p "$R"
pipeline_version=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['winnow_version'])" "$WORK/pipeline/model_index.json")
echo "round $round: serving pipeline $pipeline_version ($(readlink "$WORK/pipeline")), aesthetic $(readlink "$WORK/aesthetic")"

# ---------------------------------------------------------------- the service
JAR="$REPO/target/quarkus-app/quarkus-run.jar"
[ -f "$JAR" ] || (cd "$REPO" && ./mvnw -B -q package -DskipTests)
SECRET=$(head -c 32 /dev/urandom | base64)
# from the repository root: the other models' default paths are relative to it
(cd "$REPO" && exec java -Dquarkus.http.port="$PORT" \
     -Dwinnow.pipeline.path="$WORK/pipeline" -Dwinnow.judges.aesthetic.path="$WORK/aesthetic" \
     -Dwinnow.traffic.dir="$WORK/traffic" \
     -Dwinnow.feedback.dir="$WORK/feedback" -Dwinnow.feedback.secret="$SECRET" \
     -Dwinnow.models.admin-port="$ADMIN_PORT" \
     -jar "$JAR" > "$R/service.log" 2>&1) &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null || true' EXIT
for _ in $(seq 1 180); do
  curl -sf "$URL/q/health/ready" > /dev/null && break
  kill -0 $SERVICE 2>/dev/null || { echo "the service did not start: $R/service.log"; exit 1; }
  sleep 1
done

service_cpu() {  # the service's CPU seconds so far (utime + stime of the JVM)
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVICE/stat"
}
printf "stage\twall_s\tclient_cpu_s\tservice_cpu_s\n" > "$R/cpu.tsv"
stage() {  # stage NAME COMMAND...: run it, log it, and account its time
  local name=$1; shift
  echo "== round $round: $name"
  local t0 s0 c0 c1
  t0=$(date +%s.%N); s0=$(service_cpu)
  c0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  "$@" 2>&1 | tee "$R/$name.log" | sed -e '/^\[W/d' -e '/Warning/d'
  c1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  awk -v n="$name" -v t0="$t0" -v t1="$(date +%s.%N)" -v c0="$c0" -v c1="$c1" -v hz="$(getconf CLK_TCK)" \
      -v s0="$s0" -v s1="$(service_cpu)" 'BEGIN {printf "%s\t%.0f\t%.0f\t%.0f\n", n, t1 - t0, (c1 - c0) / hz, s1 - s0}' >> "$R/cpu.tsv"
}

reload() {  # ask for the swap now (rather than waiting for a poll) and check what serves
  curl -sf -X POST "http://127.0.0.1:$ADMIN_PORT/models/reload"; echo
  curl -sf "http://127.0.0.1:$ADMIN_PORT/models"; echo
}

# ---------------------------------------------------------------- 1. data from the service
# Request k of round r draws seeds TRAINING_SEED_BASE + ((r-1) * GENERATIONS + k) * N: no two
# requests of any round share a candidate, none shares one with the evaluation's seed sets.
stage traffic $PY loop_traffic.py --url "$URL" --requests "$GENERATIONS" --n "$N" \
  --seed-base $(( 100000 + (round - 1) * GENERATIONS * N )) --prompt-seed "$round"
stage picks $PY annotator.py pick --url "$URL" --picks "$PICKS" --start $(( (round - 1) * PICKS )) --progress 250

# Pairs now, before the measurement's own requests (held-out prompts, which training would drop) are logged.
stage pairs $PY traffic_to_pairs.py "$WORK/traffic" "$R/pairs" --pipeline-version "$pipeline_version" $PAIRS_ARGS
train_pairs="$R/pairs/pairs.jsonl"
if [ "$RELABEL" = 1 ]; then
  stage relabel $PY relabel_pairs.py "$WORK/traffic" "$R/relabel" --pipeline-version "$pipeline_version" \
    --pack-of "$pipeline_version=$(readlink -f "$WORK/pipeline")" --threads "$THREADS" $RELABEL_ARGS
  train_pairs="$R/train-pairs.jsonl"
  cat "$R/pairs/pairs.jsonl" "$R/relabel/pairs.jsonl" > "$train_pairs"
fi

# ---------------------------------------------------------------- 2. measured before
stage measure-before $PY bench_scenes.py --url "$URL" --ns 1,8 --diversity --json "$R/before.json" $MEASURE_ARGS
stage reward-before $PY eval_reward.py collect --url "$URL" --out "$R/reward-before" --n "$N" $REWARD_EVAL_ARGS

# ---------------------------------------------------------------- 3. training
new_pipeline="$WORK/versions/pipeline-r$round"
if [ "$GEN_METHOD" = scenes ]; then
  S="$R/scenes-work"
  current=$(readlink -f "$WORK/pipeline")
  # shellcheck disable=SC2086  # the *_ARGS are words
  stage encoder $PY train_encoder.py "$WORK/traffic" --work "$S" --pack "$current" --threads "$THREADS" $ENCODER_ARGS
  stage scenes-data $PY train_scenes.py data --work "$S" --scenes "$SCENES" --workers "$THREADS" --threads "$THREADS"
  # shellcheck disable=SC2086
  stage train-generator $PY train_scenes.py unet --work "$S" --init-pack "$current" --threads "$THREADS" $SCENES_ARGS
  stage export-stage1 $PY train_scenes.py export --work "$S" --init-pack "$current" \
    --out "$R/stage1" --version "r$round-scenes-stage1"
  # the second stage starts from the first's export, on the same scenes; its checkpoint replaces the first's
  # shellcheck disable=SC2086
  stage train-generator-2 $PY train_scenes.py unet --work "$S" --init-pack "$R/stage1" --threads "$THREADS" $SCENES2_ARGS
  stage export $PY train_scenes.py export --work "$S" --init-pack "$R/stage1" \
    --out "$new_pipeline" --version "r$round-scenes"
else
  stage train-generator $PY train_generator.py "$train_pairs" "$new_pipeline" --pack "$(readlink -f "$WORK/pipeline")" \
    --name "r$round-$GEN_METHOD" --method "$GEN_METHOD" $GEN_ARGS --minutes "$GEN_MINUTES" --threads "$THREADS" --force
fi
old_judge=$(readlink -f "$WORK/aesthetic")
new_judge="$WORK/versions/aesthetic-r$round"
stage train-reward $PY train_reward.py "$WORK/feedback" "$new_judge" --version "v2-people-r$round" $REWARD_ARGS \
  --threads "$THREADS" --history "$R/reward-history.json"

# ---------------------------------------------------------------- 4. swapped in live, measured after
ln -sfn "$new_pipeline" "$WORK/pipeline.tmp" && mv -T "$WORK/pipeline.tmp" "$WORK/pipeline"
ln -sfn "$new_judge" "$WORK/aesthetic.tmp" && mv -T "$WORK/aesthetic.tmp" "$WORK/aesthetic"
stage swap reload
stage measure-after $PY bench_scenes.py --url "$URL" --ns 1,8 --diversity --json "$R/after.json" $MEASURE_ARGS
stage reward-after $PY eval_reward.py collect --url "$URL" --out "$R/reward-after" --n "$N" $REWARD_EVAL_ARGS --expect-aesthetic "v2-people-r$round"
stage report-generator $PY loop_report.py "$R/before.json" "$R/after.json" --markdown "$R/report.md" --json "$R/report.json"
stage report-reward $PY eval_reward.py report "$R/reward-before" "$R/reward-after" \
  --judge "old=$old_judge" --judge "new=$new_judge" --json "$R/reward-report.json"

echo
echo "round $round done: $R/report.md, $R/reward-report.json; now serving $(readlink "$WORK/pipeline") and $(readlink "$WORK/aesthetic")"
echo "Roll back: ln -sfn OLD_VERSION $WORK/pipeline (or aesthetic) and POST /models/reload on the admin port."
column -t "$R/cpu.tsv"
awk -F'\t' 'NR > 1 {w += $2; c += $3; s += $4} END {printf "total: %.0f s wall, %.0f s client CPU, %.0f s service CPU\n", w, c, s}' "$R/cpu.tsv"
