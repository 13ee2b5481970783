#!/usr/bin/env python3
"""Readiness and first image after launch: starts the packaged service, times how long
/q/health/ready takes to answer UP and how long the first /generate (sent the moment it is
ready: one candidate, the pack's default size and steps) takes to come back, both from the
launch. Prints each launch and the medians.

    bench/startup.py [--runs 5] [--app target/quarkus-app] [--port 18080] [-- java args]

Without java args it launches as the README does (`java -XX:TieredStopAtLevel=1 -jar ...`);
--jvm-defaults launches with none (the JVM's default JIT).

Run it from the repository root (the default model paths are relative to it). Each launch
starts a fresh JVM; ONNX Runtime's graph cache (winnow.engine.graph-cache-dir) is left as the
previous launch wrote it, as after a restart, unless --cold, which gives every launch an
empty cache folder of its own.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


README_JAVA_ARGS = ("-XX:TieredStopAtLevel=1",)  # the README's launch (see its "Run")


def default_pack_paths():
    """The service's default pack folders (winnow.*.path), as application.properties sets them."""
    with open("src/main/resources/application.properties", encoding="utf-8") as f:
        pairs = (line.split("=", 1) for line in f if "=" in line and not line.lstrip().startswith("#"))
        return {k.strip(): v.strip() for k, v in pairs if k.strip().startswith("winnow.") and k.strip().endswith(".path")}


def get_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def cpu_ms(pid):
    """User + system CPU time of a process so far (Linux), in ms; None elsewhere."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--app", default="target/quarkus-app")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--cold", action="store_true", help="an empty graph cache for every launch")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--jar-relative", action="store_true",
                    help="launch from inside --app as `java -jar quarkus-run.jar` (what an AppCDS archive needs), "
                         "with the model paths made absolute")
    ap.add_argument("--jvm-defaults", action="store_true", help="no JVM flags (default: the README's launch flags)")
    ap.add_argument("java_args", nargs="*")
    a = ap.parse_args()
    if not a.java_args and not a.jvm_defaults:
        a.java_args = list(README_JAVA_ARGS)
    base = "http://127.0.0.1:%d" % a.port
    body = json.dumps({"prompt": "a red circle on a white background", "n": 1}).encode()
    ready, first, cpu = [], [], []
    for run in range(a.runs):
        cache = tempfile.mkdtemp(prefix="winnow-graph-cache-") if a.cold else None
        cmd = ["java", "-Dquarkus.http.port=%d" % a.port] + a.java_args
        if cache:
            cmd.append("-Dwinnow.engine.graph-cache-dir=" + cache)
        cwd = None
        if a.jar_relative:
            root = os.getcwd()
            for key, rel in default_pack_paths().items():
                if not any(arg.startswith("-D" + key + "=") for arg in cmd):
                    cmd.append("-D%s=%s" % (key, os.path.join(root, rel)))
            cmd += ["-jar", "quarkus-run.jar"]
            cwd = a.app
        else:
            cmd += ["-jar", os.path.join(a.app, "quarkus-run.jar")]
        log = open("/tmp/winnow-startup-%d.log" % run, "w")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            while not get_ok(base + "/q/health/ready"):
                if proc.poll() is not None or time.monotonic() - t0 > a.timeout:
                    sys.exit("the service did not become ready; see /tmp/winnow-startup-%d.log" % run)
                time.sleep(0.005)
            t_ready = time.monotonic()
            cpu_ready = cpu_ms(proc.pid)
            req = urllib.request.Request(base + "/generate", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            t_first = time.monotonic()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
            if cache:
                shutil.rmtree(cache, ignore_errors=True)
        ready.append((t_ready - t0) * 1000)
        first.append((t_first - t0) * 1000)
        if cpu_ready is not None:
            cpu.append(cpu_ready)
        print("launch %d: ready after %.0f ms (%s ms of CPU), first image after %.0f ms"
              % (run + 1, ready[-1], "%.0f" % cpu_ready if cpu_ready is not None else "?", first[-1]), flush=True)
    print("STARTUP ready_ms %.0f first_image_ms %.0f cpu_until_ready_ms %s (medians of %d launches; load average %s)"
          % (statistics.median(ready), statistics.median(first), "%.0f" % statistics.median(cpu) if cpu else "?",
             a.runs, load_average()))


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
