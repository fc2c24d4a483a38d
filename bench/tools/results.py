#!/usr/bin/env python3
"""Results of the benchmark (stdlib only).

  results.py record --jsonl FILE --scenario S --server X --rep N --kind K ...
      Parses one run's raw output (K = wrk | h2load | curl | json | skip) and
      appends one JSON line to FILE.

  results.py report --jsonl FILE --meta FILE --md OUT.md --svg OUT.svg
      Medians over the repeats, one Markdown table per scenario, and an SVG
      bar chart of each server's main ratio to hyper per scenario.
"""

import argparse
import html
import json
import os
import re
import statistics
import sys

# scenario id -> (kind, title)
SCENARIOS = {
    "h1": ("req", "(a) HTTP/1.1 keep-alive — wrk -t1 -c64"),
    "h1pipe": ("req", "(a') HTTP/1.1 keep-alive, pipelined — h2load --h1 -c64 -m16"),
    "h1close": ("req", "(b) HTTP/1.1, new connection per request — wrk -t1 -c64, Connection: close"),
    "h2c": ("req", "(c) h2c (prior knowledge) — h2load -c16 -m32"),
    "h2tls": ("req", "(d) h2 over TLS (ALPN) — h2load -c16 -m32"),
    "dl_h1": ("dl", "(e) Download over HTTP/1.1 — curl"),
    "dl_h2": ("dl", "(e') Download over HTTP/2 (h2c) — curl --http2-prior-knowledge"),
    "dlf_h1": ("dl", "(e'') Download over HTTP/1.1 — hyper's client (bench/peers/fetch)"),
    "dlf_h2": ("dl", "(e''') Download over HTTP/2 (h2c) — hyper's client (bench/peers/fetch)"),
    "sse": ("sse", "(f) SSE fan-out — HTTP/1.1 clients on /sse"),
    "idle_tcp": ("idle", "(g) Memory per idle connection, accepted, no request yet"),
    "idle_h1": ("idle", "(g') Memory per idle HTTP/1.1 keep-alive connection (after one request)"),
    "idle_h2": ("idle", "(g'') Memory per idle h2c connection (after the SETTINGS exchange)"),
    "idle_h2req": ("idle", "(g''') Memory per idle h2c connection (after one request)"),
    "idle_h1tls": ("idle", "(g'''') Memory per idle HTTP/1.1 keep-alive connection over TLS (after one request)"),
    "idle_h2tls": ("idle", "(g''''') Memory per idle h2 connection over TLS (after the SETTINGS exchange)"),
}

MAIN_RATIO = {
    "req": "hyper's CPU per request ÷ the server's",
    "dl": "the server's throughput ÷ hyper's",
    "sse": "hyper's CPU per event ÷ the server's",
    "idle": "hyper's bytes per idle connection ÷ the server's",
}

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def dur_ms(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s.strip())
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def parse_wrk(text):
    r = {"lat_ms": {}}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError("no 'requests in' line in wrk output")
    r["work"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rate"] = float(m.group(1)) if m else None
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        r["lat_ms"]["max"] = dur_ms(m.group(3))
    for pct, val in re.findall(r"^\s*(50|90|99)%\s+(\S+)", text, re.M):
        r["lat_ms"]["p" + pct] = dur_ms(val)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    r["errors"] = errors
    return r


def parse_h2load(text, log_path):
    r = {"lat_ms": {}}
    m = re.search(r"finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", text)
    if not m:
        raise ValueError("no 'finished in' line in h2load output")
    r["rate"] = float(m.group(3))
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout",
        text,
    )
    if not m:
        raise ValueError("no 'requests:' line in h2load output")
    total, started, done, ok, failed, errored, timeout = (int(x) for x in m.groups())
    r["work"] = ok
    r["errors"] = failed + errored + timeout
    if log_path:
        lat = []
        with open(log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    try:
                        lat.append(int(parts[2]) / 1000.0)
                    except ValueError:
                        pass
        lat.sort()
        if lat:
            for p in (50, 90, 99):
                r["lat_ms"]["p%d" % p] = percentile(lat, p)
            r["lat_ms"]["max"] = lat[-1]
    return r


def parse_curl(text, expect_bytes):
    # curl -w '%{http_code} %{size_download} %{speed_download} %{time_total}'
    m = re.search(r"^(\d{3}) (\d+) ([\d.]+) ([\d.]+)\s*$", text.strip(), re.M)
    if not m:
        raise ValueError("no curl -w line")
    code, size, speed, total = int(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4))
    ok = code == 200 and (expect_bytes is None or size == expect_bytes)
    return {"rate": speed, "work": size, "errors": 0 if ok else 1, "wall_s": total, "status": code}


def record(a):
    rec = {"scenario": a.scenario, "server": a.server, "rep": a.rep}
    if a.kind == "skip":
        rec["skip"] = a.reason or "skipped"
    else:
        try:
            text = open(a.out, errors="replace").read()
            if a.kind == "wrk":
                rec.update(parse_wrk(text))
            elif a.kind == "h2load":
                rec.update(parse_h2load(text, a.log))
            elif a.kind == "curl":
                rec.update(parse_curl(text, a.expect_bytes))
            elif a.kind == "json":
                d = json.loads(text.strip().splitlines()[-1])
                rec["extra"] = d
                if "events_per_s" in d:
                    rec.update(rate=d["events_per_s"], work=d["events"], cpu_s=d["cpu_s"])
                else:
                    rec.update(work=d["alive"], per_conn=d["bytes_per_conn"])
                    rec["rss_hwm_kb"] = d.get("rss_hwm_kb")
                rec["errors"] = d["errors"]
        except (OSError, ValueError, KeyError, IndexError) as e:
            rec["skip"] = f"could not parse output ({e}); see raw/{a.out.rsplit('/', 1)[-1]}"
        if a.cpu1 is not None and a.cpu0 is not None and "cpu_s" not in rec:
            rec["cpu_s"] = a.cpu1 - a.cpu0
        if a.hwm is not None and not rec.get("rss_hwm_kb"):
            rec["rss_hwm_kb"] = a.hwm
    with open(a.jsonl, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if "skip" in rec:
        print(f"    {a.server:6} {a.scenario:10} SKIP: {rec['skip']}", file=sys.stderr)
    else:
        print(f"    {a.server:6} {a.scenario:10} {summary(a.scenario, rec)}", file=sys.stderr)


# ------------------------------------------------------------------ report


def cpu_per_unit(kind, rec):
    cpu, work = rec.get("cpu_s"), rec.get("work")
    if cpu is None or not work:
        return None
    if kind == "dl":
        return cpu / (work / 2**30)  # CPU seconds per GiB
    return cpu / work * 1e6  # µs per request / event


def summary(scenario, rec):
    kind = SCENARIOS.get(scenario, ("req",))[0]
    if kind == "idle":
        pc = rec.get("per_conn")
        return f"{rec.get('work')} conns, {pc:.0f} B/conn" if pc is not None else "no figure"
    c = cpu_per_unit(kind, rec)
    rate = rec.get("rate") or 0
    if kind == "dl":
        return f"{rate / 1e6:.0f} MB/s, CPU {c or 0:.3f} s/GiB, errors {rec.get('errors')}"
    return f"{rate:.0f}/s, CPU {c or 0:.2f} µs/unit, errors {rec.get('errors')}"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def aggregate(recs):
    """(scenario, server) -> medians of each figure over the runs that ran."""
    groups = {}
    for r in recs:
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    out = {}
    for key, runs in groups.items():
        ran = [r for r in runs if "skip" not in r]
        kind = SCENARIOS.get(key[0], ("req",))[0]
        if not ran:
            out[key] = {"skip": runs[-1]["skip"], "runs": 0}
            continue
        agg = {"runs": len(ran), "of": len(runs)}
        agg["rate"] = med([r.get("rate") for r in ran])
        agg["cpu_unit"] = med([cpu_per_unit(kind, r) for r in ran])
        agg["errors"] = med([r.get("errors") for r in ran])
        agg["rss_hwm_kb"] = med([r.get("rss_hwm_kb") for r in ran])
        agg["per_conn"] = med([r.get("per_conn") for r in ran])
        for p in ("p50", "p90", "p99", "max"):
            agg[p] = med([r.get("lat_ms", {}).get(p) for r in ran])
        ex = [r.get("extra", {}) for r in ran]
        for k in ("connected", "expected_per_s", "alive", "rss_before_kb", "rss_after_kb", "n", "clients"):
            agg[k] = med([e.get(k) for e in ex])
        out[key] = agg
    return out


def main_ratio(kind, row, base):
    """Higher is better; 1.0 = hyper."""
    if not row or not base or "skip" in row or "skip" in base:
        return None
    if kind == "dl":
        a, b = row.get("rate"), base.get("rate")
        return a / b if a and b else None
    if kind == "idle":
        a, b = row.get("per_conn"), base.get("per_conn")
    else:
        a, b = row.get("cpu_unit"), base.get("cpu_unit")
    if a is None or b is None:
        return None
    if a <= 0:
        return None
    return b / a


def fmt(v, spec="{:.0f}", none="—"):
    return none if v is None else spec.format(v)


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v * 1000:.0f} µs" if v < 1 else f"{v:.2f} ms"


def fmt_kb(v):
    return "—" if v is None else f"{v / 1024:.1f} MiB"


def ratio_s(a, b, invert=False):
    if a is None or b is None or a == 0 or b == 0:
        return "—"
    return f"{(b / a if invert else a / b):.2f}×"


# The server every ratio is taken to: hyper, or hyper-mt in a run of the
# multi-core servers without it (set by report()).
BASE = "hyper"


def table(scenario, kind, servers, agg):
    base = agg.get((scenario, BASE))
    lines = []
    if kind == "req":
        lines.append(f"| server | req/s | CPU µs/req | p50 | p90 | p99 | max | errors | peak RSS | req/s ÷ {BASE} | CPU/req ÷ {BASE} |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    elif kind == "dl":
        lines.append(f"| server | MB/s | CPU s/GiB | errors | peak RSS | MB/s ÷ {BASE} | CPU/GiB ÷ {BASE} |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|")
    elif kind == "sse":
        lines.append(f"| server | clients | events/s | offered events/s | CPU µs/event | errors | peak RSS | events/s ÷ {BASE} | CPU/event ÷ {BASE} |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    else:
        lines.append(f"| server | idle conns | RSS before | RSS after | bytes/conn | errors | bytes/conn ÷ {BASE} |")
        lines.append("|---|--:|--:|--:|--:|--:|--:|")
    for s in servers:
        row = agg.get((scenario, s))
        if row is None:
            continue
        if "skip" in row:
            lines.append(f"| {s} | skipped: {row['skip']} |")
            continue
        b = base if base and "skip" not in base else {}
        if kind == "req":
            lines.append(
                f"| {s} | {fmt(row['rate'])} | {fmt(row['cpu_unit'], '{:.2f}')} | {fmt_ms(row['p50'])} | "
                f"{fmt_ms(row['p90'])} | {fmt_ms(row['p99'])} | {fmt_ms(row['max'])} | {fmt(row['errors'])} | "
                f"{fmt_kb(row['rss_hwm_kb'])} | {ratio_s(row['rate'], b.get('rate'))} | "
                f"{ratio_s(row['cpu_unit'], b.get('cpu_unit'))} |"
            )
        elif kind == "dl":
            mbs = row["rate"] / 1e6 if row["rate"] else None
            lines.append(
                f"| {s} | {fmt(mbs)} | {fmt(row['cpu_unit'], '{:.3f}')} | {fmt(row['errors'])} | "
                f"{fmt_kb(row['rss_hwm_kb'])} | {ratio_s(row['rate'], b.get('rate'))} | "
                f"{ratio_s(row['cpu_unit'], b.get('cpu_unit'))} |"
            )
        elif kind == "sse":
            lines.append(
                f"| {s} | {fmt(row['connected'])} | {fmt(row['rate'])} | {fmt(row['expected_per_s'])} | "
                f"{fmt(row['cpu_unit'], '{:.2f}')} | {fmt(row['errors'])} | {fmt_kb(row['rss_hwm_kb'])} | "
                f"{ratio_s(row['rate'], b.get('rate'))} | {ratio_s(row['cpu_unit'], b.get('cpu_unit'))} |"
            )
        else:
            lines.append(
                f"| {s} | {fmt(row['alive'])} | {fmt_kb(row['rss_before_kb'])} | {fmt_kb(row['rss_after_kb'])} | "
                f"{fmt(row['per_conn'])} | {fmt(row['errors'])} | {ratio_s(row['per_conn'], b.get('per_conn'))} |"
            )
    return lines


COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def svg_chart(scenarios, servers, agg, title):
    groups = []
    for sc in scenarios:
        kind = SCENARIOS[sc][0]
        base = agg.get((sc, BASE))
        vals = [main_ratio(kind, agg.get((sc, s)), base) for s in servers]
        groups.append((sc, vals))
    top = max([v for _, vals in groups for v in vals if v is not None] + [1.0])
    cap = min(max(1.5, top * 1.1), 3.0)
    bar_w, gap, left, right, top_m, plot_h = 20, 24, 60, 20, 60, 300
    group_w = bar_w * max(1, len(servers)) + gap
    width = left + right + group_w * max(1, len(groups))
    height = top_m + plot_h + 110
    y = lambda v: top_m + plot_h - min(v, cap) / cap * plot_h  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="{left}" y="38" fill="#444">Ratio to {BASE}, higher is better (1.0 = {BASE}): CPU per request / per event, '
        f"throughput for downloads, bytes per idle connection.</text>",
    ]
    step = 0.5 if cap <= 3 else 1.0
    t = 0.0
    while t <= cap + 1e-9:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.1f}</text>')
        t += step
    out.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(1.0):.1f}" y2="{y(1.0):.1f}" '
        'stroke="#333" stroke-dasharray="4 3"/>'
    )
    for gi, (sc, vals) in enumerate(groups):
        gx = left + gi * group_w + gap / 2
        for si, v in enumerate(vals):
            x = gx + si * bar_w
            color = COLORS[si % len(COLORS)]
            if v is None:
                out.append(f'<text x="{x + bar_w / 2:.1f}" y="{y(0) - 3:.1f}" text-anchor="middle" fill="#999">×</text>')
                continue
            out.append(
                f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w - 2}" height="{y(0) - y(v):.1f}" fill="{color}">'
                f"<title>{html.escape(servers[si])} {sc}: {v:.2f}</title></rect>"
            )
            label = f"{v:.2f}" + ("↑" if v > cap else "")
            out.append(
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y(v) - 3:.1f}" font-size="8" text-anchor="middle">{label}</text>'
            )
        cx = gx + len(vals) * bar_w / 2
        out.append(
            f'<text x="{cx:.1f}" y="{top_m + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-35 {cx:.1f} {top_m + plot_h + 14})">{html.escape(sc)}</text>'
        )
    lx = left
    ly = height - 18
    for si, s in enumerate(servers):
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLORS[si % len(COLORS)]}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{html.escape(s)}</text>')
        lx += 24 + 7 * len(s) + 14
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(a):
    recs = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    meta = {}
    if a.meta:
        for line in open(a.meta):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    servers = []
    for r in recs:
        if r["server"] not in servers:
            servers.append(r["server"])
    order = {s: i for i, s in enumerate(["duet", "duet-base", "duet-mt", "duet-per-core", "hyper", "hyper-mt",
                                          "axum", "axum-duet", "actix", "nginx", "h2o"])}
    servers.sort(key=lambda s: order.get(s, 99))
    global BASE
    BASE = "hyper-mt" if "hyper" not in servers and "hyper-mt" in servers else "hyper"
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in recs)]
    agg = aggregate(recs)
    md = ["# duet benchmark — latest results", ""]
    if meta.get("quick") == "1" or float(meta.get("duration", "10")) < 10:
        md += ["> **Smoke run** (short runs / --quick): figures prove the harness works; do not quote them.", ""]
    if meta.get("pinning") == "none":
        where = ("Servers and load generators not pinned: both share every core; each server runs its own "
                 "threads (duet-mt and hyper-mt one worker per core, duet-per-core one runtime per core).")
    else:
        where = (f"Servers on core {meta.get('cpu_server', '0')} with one worker thread; load generators on core "
                 f"{meta.get('cpu_client', '1')}.")
    md.append(
        f"Run {meta.get('date', '?')} at commit `{meta.get('commit', '?')}` on {meta.get('cpu', '?')} "
        f"({meta.get('nproc', '?')} cores, kernel {meta.get('kernel', '?')}). {where} "
        f"{meta.get('duration', '?')} s per run, warm-up {meta.get('warmup', '?')} s, median of "
        f"{meta.get('repeat', '?')} repeat(s) (each figure's median on its own)."
    )
    md.append("")
    md.append(f"Load average (1, 5, 15 min): {meta.get('load', '?')} — anything well above 0 means other work shared the cores.")
    md.append("")
    md.append(f"duet: {meta.get('duet', '?')}. Tools: {meta.get('tools', '?')}. Peers: {meta.get('peers', '?')}.")
    md.append("")
    if meta.get("note_servers"):
        md.append(meta["note_servers"])
        md.append("")
    md.append("Server CPU per request (utime+stime of the server's processes during the run ÷ requests "
              "completed) is the figure that ranks servers: on two cores the load generator saturates its "
              "core before a fast server saturates its own. See bench/README.md for the columns.")
    md.append("")
    md.append(f"![ratios to {BASE}]({os.path.basename(a.svg)})")
    md.append("")
    for sc in scenarios:
        kind, title = SCENARIOS[sc]
        md.append(f"## {title}")
        md.append("")
        note = meta.get(f"note_{sc}")
        if note:
            md.append(note)
            md.append("")
        md += table(sc, kind, servers, agg)
        md.append("")
    with open(a.md, "w") as f:
        f.write("\n".join(md))
    with open(a.svg, "w") as f:
        f.write(svg_chart(scenarios, servers, agg, f"duet vs peers — {meta.get('date', '')}"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--jsonl", required=True)
    r.add_argument("--scenario", required=True)
    r.add_argument("--server", required=True)
    r.add_argument("--rep", type=int, default=1)
    r.add_argument("--kind", choices=["wrk", "h2load", "curl", "json", "skip"], required=True)
    r.add_argument("--out")
    r.add_argument("--log")
    r.add_argument("--reason")
    r.add_argument("--cpu0", type=float)
    r.add_argument("--cpu1", type=float)
    r.add_argument("--hwm", type=int)
    r.add_argument("--expect-bytes", type=int)
    q = sub.add_parser("report")
    q.add_argument("--jsonl", required=True)
    q.add_argument("--meta")
    q.add_argument("--md", required=True)
    q.add_argument("--svg", required=True)
    a = p.parse_args()
    record(a) if a.cmd == "record" else report(a)


if __name__ == "__main__":
    main()
