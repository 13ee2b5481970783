#!/usr/bin/env bash
# Overload check with plain curl: CLIENTS parallel loops, each sending REQUESTS requests
# back to back, against a local Winnow. Prints the count of each HTTP status; past
# capacity the service must answer 429 (with Retry-After), never 5xx.
#
#   loadtest/curl-overload.sh [URL] [CLIENTS] [REQUESTS]
#   e.g. with winnow.engine.queue-capacity=16: loadtest/curl-overload.sh http://localhost:8080 64 10
set -euo pipefail
URL="${1:-http://localhost:8080}"
CLIENTS="${2:-64}"
REQUESTS="${3:-10}"
case "$URL" in
  http://localhost*|http://127.*|http://\[::1\]*) ;;
  *) echo "refusing to load anything but a local service: $URL" >&2; exit 2 ;;
esac
out="$(mktemp -d)"
body='{"prompt": "a red circle on a white background", "n": 4, "steps": 20}'
for c in $(seq 1 "$CLIENTS"); do
  (
    for r in $(seq 1 "$REQUESTS"); do
      curl -s -o /dev/null -w '%{http_code}\n' --max-time 300 -X POST "$URL/generate" \
        -H 'Content-Type: application/json' -d "$body" || echo "000"
    done > "$out/$c"
  ) &
done
wait
echo "status  count"
cat "$out"/* | sort | uniq -c | awk '{printf "%-7s %s\n", $2, $1}'
if cat "$out"/* | grep -qE '^(5..|000)$'; then
  echo "FAIL: 5xx or connection errors under overload" >&2
  rm -rf "$out"; exit 1
fi
rm -rf "$out"
echo "ok: only non-5xx answers"
