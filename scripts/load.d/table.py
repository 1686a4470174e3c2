#!/usr/bin/env python3
"""scripts/load's markdown table from its rounds (TSV: row, policy, round, "req/s p50 p99 errors")."""
import statistics
import sys

POLICIES = [("ours", "this policy"), ("established", "established"),
            ("floor", "verifier floor"), ("noop", "do-nothing floor")]
rows = {}
for line in open(sys.argv[1], encoding="utf-8"):
    name, policy, _round, figures = line.rstrip("\n").split("\t")
    rps, p50, p99, errors = figures.split()
    rows.setdefault(name, {}).setdefault(policy, []).append((float(rps), float(p50), float(p99), int(errors)))


def cell(runs):
    rps = [r[0] for r in runs]
    return (f"{min(rps):,.0f}–{max(rps):,.0f} req/s, p50 {statistics.median(r[1] for r in runs):.1f} ms, "
            f"p99 {statistics.median(r[2] for r in runs):.1f} ms, errors {sum(r[3] for r in runs)}")


def median_rps(runs):
    return statistics.median(r[0] for r in runs)


print("| request, rule | " + " | ".join(label for _, label in POLICIES)
      + " | this / established | this / verifier floor |")
print("| --- " * (len(POLICIES) + 3) + "|")
for name, by_policy in rows.items():
    cells = [cell(by_policy[p]) if p in by_policy else "–" for p, _ in POLICIES]
    ours = median_rps(by_policy["ours"])
    ratios = [f"{ours / median_rps(by_policy[p]):.2f}×" if p in by_policy else "–" for p in ("established", "floor")]
    print(f"| {name} | " + " | ".join(cells + ratios) + " |")
print()
print("Ratios: median req/s of the rounds. p50/p99: median over rounds. "
      "Errors: non-200 answers and hey errors.")
