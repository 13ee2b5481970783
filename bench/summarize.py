#!/usr/bin/env python3
"""Lines up the SUMMARY and STARTUP figures of bench/compare.sh's printouts: the median of each
figure over the rounds, before and after, after / before, and the noise: how far the same side's
rounds spread, (max - min) / median, the larger of the two sides (needs 2 rounds or more). An
after/before further from 1 than the noise is a change; one within it is not told apart."""
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
    return values


def spread(values):
    """(max - min) / median of one side's rounds, or None with fewer than two."""
    if len(values) < 2 or statistics.median(values) == 0:
        return None
    return (max(values) - min(values)) / abs(statistics.median(values))


def main():
    out = sys.argv[1]
    before = figures(os.path.join(out, "*-before-*.txt"))
    after = figures(os.path.join(out, "*-after-*.txt"))
    print("%-48s %12s %12s %12s %8s" % ("figure (medians over rounds)", "before", "after", "after/before", "noise"))
    for key in sorted(set(before) | set(after)):
        bs, as_ = before.get(key, []), after.get(key, [])
        b = statistics.median(bs) if bs else None
        a = statistics.median(as_) if as_ else None
        ratio = "%.2f" % (a / b) if a is not None and b else "-"
        spreads = [x for x in (spread(bs), spread(as_)) if x is not None]
        noise = "%.0f%%" % (100 * max(spreads)) if spreads else "-"
        print("%-48s %12s %12s %12s %8s" % (key, "%.4g" % b if b is not None else "-",
                                            "%.4g" % a if a is not None else "-", ratio, noise))


if __name__ == "__main__":
    main()
