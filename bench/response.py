#!/usr/bin/env python3
"""What a request costs beyond the service's own `timings_ms.total`: starts the packaged service
as the README does, sends REQUESTS requests one at a time (after WARM of warm-up) and prints, per
request, the client's wall time less `total` (HTTP in and out, validation, the JSON body with its
base64 PNG), then the median and the 90th percentile.

    bench/response.py [--requests 30] [--pack src/test/fixture-packs/sd15-optimum-fixture]
                      [--body '{"prompt": "...", "n": 8, "steps": 20}'] [-- java args]

Run it from the repository root after `./mvnw package -DskipTests`. The default is issue 30's
set-up: the SD-1.5-shaped fixture pack at 512², N = 8, 20 steps, the embedded judges.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from startup import README_JAVA_ARGS, get_ok, load_average  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--app", default="target/quarkus-app")
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--pack", default="src/test/fixture-packs/sd15-optimum-fixture")
    ap.add_argument("--body", default=json.dumps({"prompt": "a red circle on a white background", "n": 8,
                                                  "steps": 20, "seed": 1000}))
    ap.add_argument("java_args", nargs="*")
    a = ap.parse_args()
    base = "http://127.0.0.1:%d" % a.port
    cmd = (["java", "-Dquarkus.http.port=%d" % a.port, "-Dwinnow.pipeline.path=" + a.pack]
           + (a.java_args or list(README_JAVA_ARGS)) + ["-jar", os.path.join(a.app, "quarkus-run.jar")])
    log = open("/tmp/winnow-response.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    overhead, totals, sizes = [], [], []
    try:
        t0 = time.monotonic()
        while not get_ok(base + "/q/health/ready"):
            if proc.poll() is not None or time.monotonic() - t0 > 120:
                sys.exit("the service did not become ready; see /tmp/winnow-response.log")
            time.sleep(0.05)
        body = json.loads(a.body)
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=120)  # kept alive, as a client's pool is
        for i in range(a.warm + a.requests):
            body["seed"] = body.get("seed", 1000) + body.get("n", 1)  # seeds that do not overlap
            data = json.dumps(body).encode()
            start = time.monotonic()
            conn.request("POST", "/generate", body=data, headers={"Content-Type": "application/json"})
            payload = conn.getresponse().read()
            wall = (time.monotonic() - start) * 1000
            answer = json.loads(payload)
            if i < a.warm:
                continue
            total = answer["timings_ms"]["total"]
            overhead.append(wall - total)
            totals.append(total)
            sizes.append(len(payload))
            print("request %d: wall %.1f ms, total %d ms, wall - total %.1f ms (queue %s ms), body %d bytes, encode %s ms"
                  % (i - a.warm + 1, wall, total, wall - total, answer["timings_ms"].get("queue", "-"), len(payload),
                     answer["timings_ms"].get("encode", "-")), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    overhead.sort()
    print("RESPONSE wall_minus_total_ms median %.1f p90 %.1f; total_ms median %.0f; body %d bytes (%d requests; "
          "load average %s)" % (statistics.median(overhead), overhead[int(0.9 * (len(overhead) - 1))],
                                statistics.median(totals), statistics.median(sizes), len(overhead), load_average()))


if __name__ == "__main__":
    main()
