#!/usr/bin/env python3
"""Helpers of scripts/bench: the machine's details, the quiet check, and the report.

  bench_report.py --machine        JSON with the machine's details (stdout)
  bench_report.py --quiet-check    waits (a few seconds at most) for the machine to be quiet,
                                   then says how busy it is and what else runs
  bench_report.py --report DIR     merges DIR/{thread_pool,python_process,process_pool}.json
                                   into DIR/results.json and DIR/results.csv, writes the
                                   summary table DIR/summary.md and draws DIR/scaling.png

Every benchmark part writes rows of the same shape: scenario, implementation, unit, median,
min, max, and optionally values, n (a task count or a size), target_at_most / target_at_least,
cfutures_over_peer, note.
"""
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import time

PARTS = ["thread_pool", "python_process", "process_pool"]


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}
    try:
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    info["cpus_online"] = os.cpu_count()
    info["cpus_available"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    info["kernel"] = platform.release()
    try:
        with open("/etc/os-release") as f:
            for l in f:
                if l.startswith("PRETTY_NAME="):
                    info["os"] = l.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    info["rustc"] = run(["rustc", "--version"])
    info["cc"] = (run(["cc", "--version"]) or "").split("\n")[0] or None
    info["python"] = platform.python_version()
    rev = run(["git", "rev-parse", "--short", "HEAD"])
    if rev and run(["git", "status", "--porcelain", "--untracked-files=no"]):
        rev += " (with uncommitted changes)"
    info["git"] = rev
    with open("/proc/loadavg") as f:
        info["loadavg"] = f.read().strip()
    return info


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v), idle


def proc_times():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1 : s.rindex(")")]
            rest = s[s.rindex(")") + 2 :].split()
            out[int(pid)] = (name, int(rest[11]) + int(rest[12]))
        except (OSError, ValueError, IndexError):
            pass
    return out


def busy_over(seconds):
    """Fraction of all CPUs busy over `seconds`, and the processes that used CPU meanwhile."""
    t0, i0 = cpu_times()
    p0 = proc_times()
    time.sleep(seconds)  # the measurement window itself
    t1, i1 = cpu_times()
    p1 = proc_times()
    busy = 1 - (i1 - i0) / max(1, t1 - t0)
    me = os.getpid()
    hz = os.sysconf("SC_CLK_TCK")
    users = []
    for pid, (name, t) in p1.items():
        if pid == me or pid not in p0:
            continue
        d = (t - p0[pid][1]) / hz / seconds
        if d >= 0.02:
            users.append((d, pid, name))
    users.sort(reverse=True)
    return busy, users[:5]


def quiet_check():
    """Waits up to ~10 s for less than 10 % of the CPUs to be busy; reports either way."""
    for attempt in range(5):
        busy, users = busy_over(2.0)
        if busy < 0.10:
            break
    cpus = os.cpu_count() or 1
    verdict = "quiet" if busy < 0.10 else "NOT quiet: figures may be skewed"
    print(f"machine load before measuring: {busy * 100:.1f}% of {cpus} CPUs busy ({verdict})")
    for d, pid, name in users:
        print(f"  other load: {name} (pid {pid}) {d * 100:.0f}% of a CPU")


def load_parts(d):
    rows, meta = [], {}
    for part in PARTS:
        path = os.path.join(d, part + ".json")
        if not os.path.exists(path):
            meta[part] = "missing"
            continue
        with open(path) as f:
            j = json.load(f)
        meta[part] = {k: v for k, v in j.items() if k != "rows"}
        for r in j.get("rows", []):
            r = dict(r)
            r["part"] = part
            rows.append(r)
    return rows, meta


METHODS = ("forkserver", "fork", "spawn")


def method_of(name):
    for m in METHODS:  # "forkserver" before "fork"
        if m in name:
            return m
    return None


def norm_scenario(s):
    """Scenario names without the thread bench's leading numbers ("1 throughput")."""
    head, _, tail = s.partition(" ")
    return tail if head.isdigit() else s


def add_cross_ratios(rows):
    """Ratios of cfutures' process pool to the Python process peers, which run in another
    program (the same run): matched by scenario, n, and start method (loky and pebble, which
    have no start method option here, against cfutures' default, forkserver)."""
    cf = {}
    for r in rows:
        if r["part"] == "process_pool" and r["implementation"].startswith("cfutures"):
            cf[(norm_scenario(r["scenario"]), r.get("n"), method_of(r["implementation"]))] = r
    for r in rows:
        if r["part"] != "python_process" or "cfutures_over_peer" in r:
            continue
        m = method_of(r["implementation"]) or "forkserver"
        c = cf.get((norm_scenario(r["scenario"]), r.get("n"), m))
        if c and r.get("median") and c["unit"] == r["unit"]:
            r["cfutures_over_peer"] = c["median"] / r["median"]
            r["compared_with"] = c["implementation"]


def fmt(x):
    if x is None:
        return ""
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def target_text(r):
    if "target_at_most" in r:
        t = r["target_at_most"]
        ok = r["median"] <= t
        return f"≤ {fmt(t)} {'PASS' if ok else 'MISS'}"
    if "target_at_least" in r:
        t = r["target_at_least"]
        ok = r["median"] >= t
        return f"≥ {fmt(t)} {'PASS' if ok else 'MISS'}"
    return ""


def summary(rows, machine_info, quiet, path):
    lines = ["# cfutures benchmark run", ""]
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in machine_info.items() if v))
    if quiet:
        lines += ["", "Quiet check: " + quiet.strip().replace("\n", "; ")]
    lines += [
        "",
        "Medians over the repetitions (min–max). Ratio: cfutures / peer (below 1: cfutures is "
        "faster or smaller); targets are the issue's.",
        "",
    ]
    titles = {
        "thread_pool": "Thread pool",
        "python_process": "Python process pools (peers of the process pool)",
        "process_pool": "Process pool",
    }
    for part in PARTS:
        prows = [r for r in rows if r["part"] == part]
        if not prows:
            continue
        lines += [f"## {titles[part]}", ""]
        lines.append("| scenario | n | implementation | median | min–max | unit | cfutures/peer | target |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in prows:
            ratio = r.get("cfutures_over_peer")
            vs = r.get("compared_with")
            rtxt = fmt(ratio) + (f" ({vs})" if ratio is not None and vs else "")
            lines.append(
                f"| {r['scenario']} | {r.get('n', '')} | {r['implementation']} | {fmt(r.get('median'))} | "
                f"{fmt(r.get('min'))}–{fmt(r.get('max'))} | {r['unit']} | {rtxt} | {target_text(r)} |"
            )
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def per_task_us(r):
    u = r["unit"]
    m = r["median"]
    if u.startswith("ns"):
        return m / 1000
    if u.startswith("us") or u.startswith("µs"):
        return m
    if u.startswith("ms"):
        return m * 1000
    return None


def plot_label(r):
    """The implementation's name, saying which pool a cfutures row belongs to."""
    name = r["implementation"]
    if name == "cfutures" and r["part"] == "thread_pool":
        return "cfutures thread pool"
    if name.startswith("cfutures ") and r["part"] == "process_pool":
        return "cfutures process pool, " + name[len("cfutures ") :]
    return name


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed: no plot (scripts/bench installs it in its venv)")
        return False
    series = {}
    for r in rows:
        if "scaling" not in r["scenario"] or r.get("n") is None:
            continue
        y = per_task_us(r)
        if y is None:
            continue
        series.setdefault(plot_label(r), []).append((r["n"], y))
    if not series:
        print("note: no scaling rows: no plot")
        return False
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    colours = plt.get_cmap("tab20").colors
    for k, name in enumerate(sorted(series, key=lambda n: (not n.startswith("cfutures"), n))):
        pts = sorted(series[name])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        cf = name.startswith("cfutures")
        ax.plot(xs, ys, "-" if cf else "--", marker="o" if cf else "s", markersize=5,
                linewidth=2.6 if cf else 1.3, color=colours[(2 * k) % 20 + (k // 10) % 2],
                label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tasks submitted, then every result taken (2 workers)")
    ax.set_ylabel("cost per task (µs, log scale)")
    ax.set_title("Per-task cost against task count (no-op tasks), one run on one machine")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    return True


def report(d):
    rows, meta = load_parts(d)
    if not rows:
        print(f"no benchmark output in {d}")
        return 1
    add_cross_ratios(rows)
    machine_info = {}
    mp = os.path.join(d, "machine.json")
    if os.path.exists(mp):
        with open(mp) as f:
            machine_info = json.load(f)
    quiet = None
    qp = os.path.join(d, "quiet.txt")
    if os.path.exists(qp):
        with open(qp) as f:
            quiet = f.read()
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump({"machine": machine_info, "quiet_check": quiet, "parts": meta, "rows": rows}, f, indent=1)
    cols = ["part", "scenario", "n", "implementation", "unit", "median", "min", "max",
            "cfutures_over_peer", "compared_with", "target_at_most", "target_at_least", "note"]
    with open(os.path.join(d, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    summary(rows, machine_info, quiet, os.path.join(d, "summary.md"))
    drew = plot(rows, os.path.join(d, "scaling.png"))
    missing = [p for p, m in meta.items() if m == "missing"]
    print(f"{len(rows)} rows -> {d}/results.json, {d}/results.csv, {d}/summary.md"
          + (f", {d}/scaling.png" if drew else ""))
    if missing:
        print("missing parts: " + ", ".join(missing))
    return 0


def main(argv):
    if argv[1:2] == ["--machine"]:
        print(json.dumps(machine(), indent=1))
        return 0
    if argv[1:2] == ["--quiet-check"]:
        quiet_check()
        return 0
    if argv[1:2] == ["--report"] and len(argv) == 3:
        return report(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
