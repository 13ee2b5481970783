#!/usr/bin/env bash
# The capacity simulator against the real service on this machine (docs/CAPACITY.md, "Checked
# against reality"): profile the embedded pack, pick three arrival rates from the simulator's
# predicted saturation (half of it, 80% of it, 130% of it: past saturation), and for each rate
# write one Poisson trace, simulate it, and replay the same trace against the packaged service
# (open loop: bench's OpenLoopLoad). Prints predicted against measured throughput and p50/p95/p99.
#
#   bench/capacity_check.sh                      # 90 s per rate, best-of-4 at the defaults
#   SECONDS_PER_RATE=60 BODY='{"prompt": "a red circle", "n": 8}' bench/capacity_check.sh
#
# Run it on a quiet machine without nice; it reports the load average before and after. On a shared
# machine whose load drifts, PROFILE_EACH=1 profiles again (5 rounds) just before each rate and
# simulates that rate on its own profile (the rates still come from the first profile).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/capacity/check}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-90}
BODY=${BODY:-'{"prompt": "two green triangles", "n": 4}'}
SHARES=${SHARES:-"0.5 0.8 1.3"}
PORT=${PORT:-8089}
ROUNDS=${ROUNDS:-7}
PROFILE_EACH=${PROFILE_EACH:-0}
# The service's JVM flags (the README's launch), for the profile too: the calls' Java side (the
# samplers, image conversions, the judges' input) runs at the JIT level the service runs it at.
JVM_FLAGS=${JVM_FLAGS:--XX:TieredStopAtLevel=1}
mkdir -p "$OUT"

[ -f target/quarkus-app/quarkus-run.jar ] || ./mvnw -B -q package -DskipTests
./mvnw -B -q test-compile -Dquarkus.build.skip=true
./mvnw -B -q dependency:build-classpath -Dmdep.outputFile=target/capacity.classpath -Dmdep.includeScope=test
CP=target/classes:target/test-classes:$(cat target/capacity.classpath)
sim() { java -cp "$CP" dev.winnow.capacity.CapacityCommand simulate "$@"; }

echo "load average at start: $(cat /proc/loadavg)" | tee "$OUT/load.txt"
java $JVM_FLAGS -cp "$CP" dev.winnow.capacity.ProfileCommand --out "$OUT/profile.json" --rounds "$ROUNDS" | tee "$OUT/profile.txt"

# The predicted saturation: throughput with a full queue under heavy overload.
sim --profile "$OUT/profile.json" --rate 50 --seconds 60 --body "$BODY" --json "$OUT/saturation.json" > /dev/null
MU=$(python3 -c "import json; print(json.load(open('$OUT/saturation.json'))['throughput'])")
echo "predicted saturation: $MU requests/s"

java $JVM_FLAGS -Dquarkus.http.port="$PORT" -jar target/quarkus-app/quarkus-run.jar > "$OUT/service.log" 2>&1 &
SERVICE=$!
trap 'kill $SERVICE 2>/dev/null || true' EXIT
until curl -sf "localhost:$PORT/q/health/ready" > /dev/null; do sleep 0.5; done
# warm the JIT and the pools: 20 requests, one a second
sim --profile "$OUT/profile.json" --rate 1 --seconds 20 --body "$BODY" --seed 99 --write-trace "$OUT/warm.jsonl" > /dev/null
java -cp "$CP" dev.winnow.bench.OpenLoopLoad "$OUT/warm.jsonl" "http://localhost:$PORT" "$OUT/warm.json" > /dev/null

for share in $SHARES; do
  RATE=$(python3 -c "print(round($MU * $share, 3))")
  echo "== rate $RATE/s ($share of the predicted saturation), $SECONDS_PER_RATE s"
  PROFILE="$OUT/profile.json"
  if [ "$PROFILE_EACH" = 1 ]; then
    PROFILE="$OUT/profile-$share.json"
    java $JVM_FLAGS -cp "$CP" dev.winnow.capacity.ProfileCommand --out "$PROFILE" --rounds 5 > "$OUT/profile-$share.txt"
  fi
  sim --profile "$PROFILE" --rate "$RATE" --seconds "$SECONDS_PER_RATE" --body "$BODY" --seed 7 \
      --write-trace "$OUT/trace-$share.jsonl" --json "$OUT/sim-$share.json" | sed -n 3,5p
  java -cp "$CP" dev.winnow.bench.OpenLoopLoad "$OUT/trace-$share.jsonl" "http://localhost:$PORT" "$OUT/real-$share.json"
  echo "load average: $(cat /proc/loadavg)" | tee -a "$OUT/load.txt"
  sleep 5
done
kill $SERVICE; wait $SERVICE 2>/dev/null || true
echo "load average at end: $(cat /proc/loadavg)" | tee -a "$OUT/load.txt"
# Beside each prediction, the same trace on the same curves with a one-call-at-a-time device (the
# profile without its measured overlap): what the overlap model changes.
for share in $SHARES; do
  PROFILE="$OUT/profile.json"
  [ "$PROFILE_EACH" = 1 ] && PROFILE="$OUT/profile-$share.json"
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); p.pop('overlap', None); json.dump(p, open(sys.argv[2], 'w'))" \
      "$PROFILE" "$OUT/profile-serial-$share.json"
  sim --profile "$OUT/profile-serial-$share.json" --trace "$OUT/trace-$share.jsonl" --json "$OUT/sim-serial-$share.json" > /dev/null
done
python3 bench/capacity_compare.py "$OUT" $SHARES
