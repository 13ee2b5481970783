#!/usr/bin/env python3
"""Lines up the SUMMARY and STARTUP figures of bench/compare.sh's printouts: the median of each
figure over the rounds, before and after, and after / before."""
import glob
import os
import re
import statistics
import sys


def figures(pattern):
    values = {}
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            for line in f:
                m = re.match(r"SUMMARY (\S+) ([-0-9.eE+]+)", line)
                if m:
                    values.setdefault(m.group(1), []).append(float(m.group(2)))
                m = re.match(r"STARTUP ready_ms (\S+) first_image_ms (\S+) cpu_until_ready_ms (\S+)", line)
                if m:
                    for key, v in zip(("startup.ready_ms", "startup.first_image_ms", "startup.cpu_until_ready_ms"),
                                      m.groups()):
                        if v != "?":
                            values.setdefault(key, []).append(float(v))
    return {k: statistics.median(v) for k, v in values.items()}


def main():
    out = sys.argv[1]
    before = figures(os.path.join(out, "*-before-*.txt"))
    after = figures(os.path.join(out, "*-after-*.txt"))
    print("%-48s %12s %12s %10s" % ("figure (medians over rounds)", "before", "after", "after/before"))
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        ratio = "%.2f" % (a / b) if a is not None and b else "-"
        print("%-48s %12s %12s %10s" % (key, "%.4g" % b if b is not None else "-", "%.4g" % a if a is not None else "-",
                                        ratio))


if __name__ == "__main__":
    main()
