#!/usr/bin/env bash
# Before and after on one machine, in one sitting: the engine benchmark
# (src/test/java/dev/winnow/bench/EngineBenchmark.java, the same file on both sides) and the
# startup measurement (bench/startup.py), run on a base commit and on this working tree,
# interleaved round by round, then side by side with ratios (after / before).
#
#   bench/compare.sh [base-commit] [rounds]
#
# base-commit defaults to where this branch left main; rounds to 2. Environment:
#   BENCH_ARGS    arguments for EngineBenchmark (default: --heap-requests 0, i.e. sections 0-3 and 5)
#   STARTUP_RUNS  launches per side and round for startup.py (default 3)
#   NICE          prefix for every build and run (default: nice -n 5; the machine is shared)
# Output: bench/out/compare-<time>/ (every printout) and the table on stdout, with each figure's
# noise: how far one side's rounds spread (2 rounds or more).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"
base=${1:-$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD~1)}
rounds=${2:-2}
BENCH_ARGS=${BENCH_ARGS:---heap-requests 0}
STARTUP_RUNS=${STARTUP_RUNS:-3}
NICE=${NICE:-nice -n 5}
out="$root/bench/out/compare-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
work=$(mktemp -d /tmp/winnow-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "base $(git rev-parse --short "$base"), after: working tree at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + changes'); results in $out"
mkdir -p "$work/before"
git archive "$base" | tar -x -C "$work/before"
# The same benchmark on both sides (it uses only APIs the engine had before issue 11, and reaches
# BestOfN's constructor in either of its forms, before and after issue 24).
cp src/test/java/dev/winnow/bench/EngineBenchmark.java "$work/before/src/test/java/dev/winnow/bench/"

build() { # dir
    (cd "$1" && $NICE ./mvnw -B -q package -DskipTests \
        && $NICE ./mvnw -B -q test-compile -Dquarkus.build.skip=true \
        && ./mvnw -B -q dependency:build-classpath -Dmdep.outputFile=target/bench-classpath.txt -Dmdep.includeScope=test \
        && echo "--add-modules jdk.incubator.vector -cp target/test-classes:target/classes:$(cat target/bench-classpath.txt)" > target/bench-java-args.txt)
}
echo "building before and after ..."
build "$work/before"
build "$root"

bench() { # dir label round
    (cd "$1" && $NICE java @target/bench-java-args.txt dev.winnow.bench.EngineBenchmark $BENCH_ARGS) \
        > "$out/bench-$2-$3.txt" 2>&1
}
startup() { # dir label round
    (cd "$1" && $NICE python3 "$root/bench/startup.py" --runs "$STARTUP_RUNS") > "$out/startup-$2-$3.txt" 2>&1
}
for r in $(seq "$rounds"); do
    echo "round $r of $rounds: benchmark before, after; startup before, after"
    bench "$work/before" before "$r"
    bench "$root" after "$r"
    startup "$work/before" before "$r"
    startup "$root" after "$r"
done
python3 "$root/bench/summarize.py" "$out" | tee "$out/summary.txt"
