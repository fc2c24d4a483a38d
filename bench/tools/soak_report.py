#!/usr/bin/env python3
"""Summarises a soak run (bench/soak.sh) into bench/results/soak.md and
checks it: no panic, no failed well-behaved request, RSS flat over the
second half, file descriptors back to the baseline, every attack closed by
the server or bounded. Exits 1 when a check fails."""

import argparse
import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict


def h2load_counts(path):
    """(succeeded, failed) of one h2load output."""
    text = open(path, errors="replace").read()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not m:
        return 0, 1  # no summary: the run itself failed
    total, started, done, ok, failed, errored, timeout = map(int, m.groups())
    return ok, failed + errored + timeout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--base-fds", type=int, required=True)
    ap.add_argument("--end-fds", type=int, required=True)
    ap.add_argument("--base-rss", type=int, required=True)
    ap.add_argument("--end-rss", type=int, required=True)
    ap.add_argument("--exit", type=int, required=True)
    ap.add_argument("--commit", default="?")
    ap.add_argument("--load", default="not recorded", help="/proc/loadavg (1, 5, 15 min) at the end")
    ap.add_argument("--md", required=True)
    a = ap.parse_args()

    load = {}
    for proto in ("h1", "h2c", "h2"):
        ok = bad = 0
        for f in sorted(glob.glob(os.path.join(a.raw, f"{proto}.*.txt"))):
            o, b = h2load_counts(f)
            ok += o
            bad += b
        load[proto] = (ok, bad)

    samples = []
    for line in open(os.path.join(a.raw, "samples.tsv")):
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            samples.append(tuple(int(p) for p in parts))
    half = [s for s in samples if s[0] >= a.seconds / 2 and s[0] <= a.seconds]
    rss_all = [s[1] for s in samples]
    rss_half = [s[1] for s in half] or rss_all
    fds_all = [s[2] for s in samples]

    attacks = defaultdict(lambda: {"n": 0, "closed": 0, "held": 0, "other": 0, "goaway": set(), "secs": []})
    for line in open(os.path.join(a.raw, "attacks.jsonl")):
        r = json.loads(line)
        s = attacks[r["attack"]]
        s["n"] += 1
        if r["result"] == "closed by server":
            s["closed"] += 1
        elif r["result"] == "held":
            s["held"] += 1
        else:
            s["other"] += 1
        if "goaway" in r:
            s["goaway"].add(r["goaway"])
        s["secs"].append(r["seconds"])

    log = open(os.path.join(a.raw, "server.log"), errors="replace").read()
    panics = log.count("panicked")
    total_ok = sum(v[0] for v in load.values())
    total_bad = sum(v[1] for v in load.values())
    attack_conns = sum(s["n"] for s in attacks.values())

    # Flat: the second half's highest RSS within 10 % (and 4 MiB) of its lowest.
    lo, hi = min(rss_half), max(rss_half)
    flat = hi <= lo * 1.10 + 4096
    fds_back = a.end_fds <= a.base_fds + 2
    checks = [
        ("no panic in the server log", panics == 0, f"{panics} panics"),
        ("server exited cleanly on SIGTERM", a.exit == 0, f"exit status {a.exit}"),
        ("no failed well-behaved request", total_bad == 0, f"{total_bad} failed of {total_ok + total_bad}"),
        ("RSS flat over the second half", flat, f"{lo} to {hi} kB"),
        ("file descriptors back to the baseline", fds_back, f"{a.base_fds} at the start, {a.end_fds} at the end"),
    ]

    md = ["# duet soak — latest run", ""]
    md.append(f"Commit {a.commit}; {int(a.seconds)} s; one worker pinned to core 0, load and attacks on core 1.")
    md.append(f"Machine: {os.cpu_count()} cores, shared: other builds and jobs may run on them during the "
              f"soak (load average at the end of the run: {a.load}). A soak checks failures and bounds "
              "(memory, descriptors, every attack closed), not speed: its request counts are no benchmark.")
    md.append("Well-behaved load in rounds (new connections each round): `h2load --h1 -c 8 -m 1`, "
              "`h2load -c 4 -m 8` on h2c and on h2 over TLS, all at once; attack connections from "
              "`bench/tools/attacks.py` meanwhile.")
    md.append("")
    md.append("| check | result | figure |")
    md.append("|---|---|---|")
    for name, ok, fig in checks:
        md.append(f"| {name} | {'pass' if ok else '**FAIL**'} | {fig} |")
    md.append("")
    md.append("| well-behaved load | requests succeeded | failed |")
    md.append("|---|--:|--:|")
    for proto, (ok, bad) in load.items():
        md.append(f"| {proto} | {ok} | {bad} |")
    md.append("")
    md.append(f"Memory: {a.base_rss} kB at the start, peak {max(rss_all) if rss_all else 0} kB, "
              f"second half {lo}–{hi} kB, {a.end_rss} kB at the end. File descriptors: "
              f"{a.base_fds} at the start, peak {max(fds_all) if fds_all else 0}, {a.end_fds} at the end.")
    md.append("")
    md.append(f"Attack connections: {attack_conns}.")
    md.append("")
    md.append("| attack | connections | closed by the server | GOAWAY codes seen | held to the attacker's limit | median s to close |")
    md.append("|---|--:|--:|---|--:|--:|")
    for name, s in sorted(attacks.items()):
        codes = ", ".join(hex(c) for c in sorted(s["goaway"])) or "-"
        med = statistics.median(s["secs"]) if s["secs"] else 0
        md.append(f"| {name} | {s['n']} | {s['closed']} | {codes} | {s['held']} | {med:.2f} |")
    md.append("")
    md.append("Samples (every few seconds: s, RSS kB, fds, CPU ticks) are in "
              f"`bench/results/raw/{os.path.basename(a.raw)}/samples.tsv` (not committed).")
    open(a.md, "w").write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
