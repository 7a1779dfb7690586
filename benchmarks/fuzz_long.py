"""Long fuzz campaign: random problems until a wall-clock budget, outcomes counted and plotted.

Cases and their classification are those of ``tests/test_fuzz.py`` (:func:`random_case`,
:func:`run_case`): N <= 12, d <= 30, depth 1..5, alpha 1e-30..1e30, three shapes, both losses,
sum and mean, three kinds of data, stops down to log10 L = -10^30 (or t = 10^30 for data that
are not separable); each run at rtol 1e-6 is checked against its invariants and an independent
reference (the N = 1 closed form, or a multiprecision run at rtol 1e-8), and ends
``confirmed``, ``unconfirmed``, ``stopped``, ``refused``, ``known bug`` or ``failure``.

Every case is appended to a JSON-lines file as soon as it is done (the case, its outcome and
a reproducer), so an interrupted campaign keeps its results. At the end (or with
``--report-only``) it prints the counts by outcome and by status, the failures with their
reproducers, writes a summary JSON and a PNG of the outcomes over (log10 alpha, target
exponent k) per depth.

Usage: ``nice -n 10 python benchmarks/fuzz_long.py --minutes 45 [--seed 0]
[--out benchmarks/results/fuzz_long]`` (writes ``OUT.jsonl``, ``OUT.json``, ``OUT.png``).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_fuzz import KNOWN_BUGS, OUTCOMES, FuzzCase, random_case, run_case  # noqa: E402

COLORS = {"confirmed": "tab:green", "unconfirmed": "tab:olive", "stopped": "tab:blue",
          "refused": "tab:gray", "known bug": "tab:orange", "failure": "tab:red"}
MARKERS = {"confirmed": "o", "unconfirmed": "s", "stopped": "^", "refused": "x",
           "known bug": "D", "failure": "X"}


def campaign(out, minutes, seed, run_limit, reference_limit):
    rng = np.random.default_rng(seed)
    deadline = time.monotonic() + 60.0 * minutes
    done = 0
    with open(out + ".jsonl", "a") as stream:
        while time.monotonic() < deadline:
            case = random_case(rng)
            outcome = run_case(case, run_limit, reference_limit)
            record = {"case": dataclasses.asdict(case), "outcome": dataclasses.asdict(outcome),
                      "reproducer": case.reproducer()}
            stream.write(json.dumps(record, sort_keys=True) + "\n")
            stream.flush()
            done += 1
            last_line = outcome.detail.splitlines()[-1][:90] if outcome.detail else ""
            print(f"{done:4d} {outcome.kind:11s} {outcome.status:19s} {outcome.seconds:7.1f} s "
                  f"N={case.n_samples:<2d} d={case.n_features:<2d} D={case.depth} "
                  f"log10 alpha={case.log10_alpha:7.2f} k={case.target_exponent:6.2f} "
                  f"{case.loss:8s} {case.reduction:4s} {case.data_kind:10s} "
                  f"{case.shape_kind:10s} {last_line}", flush=True)


def report(out):
    records = [json.loads(line) for line in open(out + ".jsonl")]
    for r in records:  # records written before a bug was listed as known
        o = r["outcome"]
        if o["kind"] == "failure" and any(text in o["detail"] for _, text in KNOWN_BUGS):
            o["kind"] = "known bug"
    kinds = collections.Counter(r["outcome"]["kind"] for r in records)
    statuses = collections.Counter((r["outcome"]["kind"], r["outcome"]["status"])
                                   for r in records)
    seconds = sum(r["outcome"]["seconds"] for r in records)
    print(f"\n{len(records)} cases, {seconds / 60:.1f} min of runs and checks")
    print(f"{'outcome':>12} {'count':>6}   statuses")
    for kind in OUTCOMES:
        detail = ", ".join(f"{status}: {count}" for (k, status), count in sorted(statuses.items())
                           if k == kind)
        print(f"{kind:>12} {kinds.get(kind, 0):6d}   {detail}")
    by_reference = collections.Counter(r["outcome"]["reference"] for r in records
                                       if r["outcome"]["kind"] == "confirmed")
    print("confirmed by: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_reference.items())))
    by_depth = collections.defaultdict(collections.Counter)
    for r in records:
        by_depth[r["case"]["depth"]][r["outcome"]["kind"]] += 1
    print(f"\n{'D':>3} " + " ".join(f"{k:>11}" for k in OUTCOMES))
    for depth in sorted(by_depth):
        print(f"{depth:>3} " + " ".join(f"{by_depth[depth].get(k, 0):>11}" for k in OUTCOMES))
    failures = [r for r in records
                if r["outcome"]["kind"] in ("failure", "known bug", "unconfirmed")]
    if failures:
        print("\nfailures and unconfirmed cases (reproducers):")
    for r in failures:
        o = r["outcome"]
        print(f"- {o['kind']} [{o['status']}] {o['detail'].splitlines()[-1][:200]}\n"
              f"  {FuzzCase(**r['case'])!r}")
    summary = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                           "load_average": os.getloadavg()},
               "cases": len(records), "seconds": seconds, "outcomes": dict(kinds),
               "statuses": {f"{k}/{s}": c for (k, s), c in statuses.items()},
               "failures": [{"case": r["case"], "outcome": r["outcome"]} for r in failures]}
    with open(out + ".json", "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    _figure(records, out + ".png")


def _figure(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(20, 4.2), sharex=True, sharey=True)
    for depth, ax in zip(range(1, 6), axes):
        for kind in OUTCOMES:
            pts = [(r["case"]["log10_alpha"], r["case"]["target_exponent"]) for r in records
                   if r["case"]["depth"] == depth and r["outcome"]["kind"] == kind]
            if pts:
                x, y = zip(*pts)
                ax.scatter(x, y, c=COLORS[kind], marker=MARKERS[kind], s=28, label=kind)
        ax.set_title(f"D = {depth}")
        ax.set_xlabel("log10 alpha")
    axes[0].set_ylabel("k (stop log10 L = -10^k, or t = 10^k)")
    handles = [plt.Line2D([], [], color=COLORS[k], marker=MARKERS[k], ls="", label=k)
               for k in OUTCOMES]
    fig.legend(handles=handles, loc="upper center", ncol=len(OUTCOMES))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-limit", type=float, default=300.0,
                        help="max_seconds of a run under test (status 'time limit'; a run that "
                             "does not return within twice that counts as a hang)")
    parser.add_argument("--reference-limit", type=float, default=180.0,
                        help="seconds after which a case stays unconfirmed")
    parser.add_argument("--out", default="benchmarks/results/fuzz_long")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    if not args.report_only:
        campaign(args.out, args.minutes, args.seed, args.run_limit, args.reference_limit)
    report(args.out)


if __name__ == "__main__":
    main()
