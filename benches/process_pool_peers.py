"""Python's process pools on the workloads of benches/process_pool.c, for the ratios.

    process_pool_peers.py [--json PATH] [EXECUTOR ...]

EXECUTOR is any of forkserver, fork, spawn (ProcessPoolExecutor with that start method), loky
and pebble; all by default. loky and pebble are measured when they can be imported, and skipped
with a note otherwise.

Prints "metric executor value" lines (same metrics and units as the C program, which reads
them) on stdout, notes on stderr; with --json, also writes every figure as rows of the C
program's schema (scenario, implementation, unit, median, min, max, values, n, note).
Every measurement starts a new pool with 2 workers, as the C program does.
"""
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

PAIRS = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
         (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]
# Few repetitions: the Python pools cost ~100 us per task, and the whole script must stay
# within a few minutes for five executors.
REPS = 3
# Scaling runs per task count: 1e5 tasks take ~10 s on a Python pool, so only one run there;
# 1e6 (minutes) is not measured.
SCALING = [(1000, REPS), (10000, REPS), (100000, 1)]
PPE_METHODS = ["forkserver", "fork", "spawn"]


def noop(x=None):
    return None


def gcd(pair):
    a, b = pair
    low = min(a, b)
    for i in range(low, 0, -1):
        if a % i == 0 and b % i == 0:
            return i


class PebblePool:
    """pebble.ProcessPool behind the Executor calls used here (submit, map, with)."""

    def __init__(self):
        import pebble

        self.pool = pebble.ProcessPool(max_workers=2)

    def submit(self, fn, *args):
        return self.pool.schedule(fn, args=args)

    def map(self, fn, iterable, chunksize=1):
        return self.pool.map(fn, iterable, chunksize=chunksize).result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.close()
        self.pool.join()


def executors(names, notes):
    """(text key, JSON implementation name, pool factory, note) for each executor wanted."""
    out = []
    for name in names:
        if name in PPE_METHODS:
            ctx = mp.get_context(name)
            out.append((name, "python ProcessPoolExecutor " + name,
                        lambda ctx=ctx: cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx),
                        None))
        elif name == "loky":
            try:
                import loky
            except ImportError:
                note("loky not installed: skipped", notes)
                continue
            out.append(("loky", "loky", lambda: loky.ProcessPoolExecutor(max_workers=2),
                        f"loky {loky.__version__} ProcessPoolExecutor(max_workers=2) with its "
                        "default start method ('loky': fork + exec of a new interpreter)"))
        elif name == "pebble":
            try:
                import pebble
            except ImportError:
                note("pebble not installed: skipped", notes)
                continue
            version = getattr(pebble, "__version__", "")
            out.append(("pebble", "pebble", PebblePool,
                        f"pebble {version} ProcessPool(max_workers=2) with multiprocessing's "
                        f"default start method ({mp.get_start_method()})"))
        else:
            sys.exit(f"unknown executor {name!r}: use {', '.join(PPE_METHODS)}, loky or pebble")
    return out


def note(text, notes):
    print("note: " + text, file=sys.stderr, flush=True)
    notes.append(text)


class Report:
    def __init__(self):
        self.rows = []

    def add(self, metric, scenario, unit, key, impl, values, n=None, note=None):
        """One text line for the C program ("metric key median") and one JSON row."""
        values = list(values)
        med = statistics.median_high(values)  # the C program's median for an even count
        print(metric, key, med, flush=True)
        row = {"scenario": scenario, "implementation": impl, "unit": unit, "median": med,
               "min": min(values), "max": max(values), "values": values}
        if n is not None:
            row["n"] = n
        if note:
            row["note"] = note
        self.rows.append(row)


def measure(pool, key, impl, extra, rep):
    """Every scenario of the C program on one executor (`pool()` makes a new one)."""

    def both(text):
        return text + ("; " + extra if extra else "")

    def throughput(n):
        with pool() as ex:
            ex.submit(noop).result()
            t = time.perf_counter()
            fs = [ex.submit(noop) for _ in range(n)]
            for f in fs:
                f.result()
            return (time.perf_counter() - t) * 1e6 / n

    def mapcost(k, n):
        with pool() as ex:
            ex.submit(noop).result()
            t = time.perf_counter()
            for _ in ex.map(noop, range(n), chunksize=k):
                pass
            return (time.perf_counter() - t) * 1e6 / n

    def round_trip(n, idle):
        with pool() as ex:
            ex.submit(noop).result()
            v = []
            for _ in range(n):
                if idle:
                    time.sleep(0.005)  # the scenario: an idle pool
                t = time.perf_counter()
                ex.submit(noop).result()
                v.append((time.perf_counter() - t) * 1e6)
            return statistics.median(v)

    def first():
        t = time.perf_counter()
        with pool() as ex:
            ex.submit(noop).result()
            return (time.perf_counter() - t) * 1e3

    def gcd_pool():
        """Milliseconds to the last result and to the end of the shutdown, start included."""
        t = time.perf_counter()
        with pool() as ex:
            list(ex.map(gcd, PAIRS))
            done = time.perf_counter()
        return (done - t) * 1e3, (time.perf_counter() - t) * 1e3

    scaling = {}
    for n, runs in SCALING:
        scaling[n] = [throughput(n) for _ in range(runs)]
        rep.add(f"scaling_{n}_us_per_task", "scaling", "us/task", key, impl, scaling[n], n=n,
                note=both("n no-op tasks submitted, then each result taken; 2 workers, started "
                          "(one task run) before the clock starts; "
                          f"{runs} run{'s' if runs > 1 else ''}"))
    rep.add("noop_us_per_task", "noop", "us/task", key, impl, scaling[10000],
            note=both("10000 no-op tasks submitted, then each result taken; 2 workers (the "
                      "scaling runs with n = 10000; the C program uses 100000)"))
    rep.add("map64_us_per_task", "map_chunksize_64", "us/task", key, impl,
            [mapcost(64, 200000) for _ in range(REPS)],
            note=both("map over 200000 no-op items, chunksize 64, every result taken"))
    rep.add("map1_us_per_task", "map_chunksize_1", "us/task", key, impl,
            [mapcost(1, 10000) for _ in range(REPS)],
            note=both("map over 10000 no-op items (the C program: 50000), chunksize 1"))
    rep.add("round_trip_us", "round_trip", "us", key, impl,
            [round_trip(1000, False) for _ in range(REPS)],
            note=both("back-to-back submit -> result; each value the median of 1000"))
    rep.add("idle_round_trip_us", "idle_round_trip", "us", key, impl,
            [round_trip(100, True) for _ in range(REPS)],
            note=both("submit -> result after a 5 ms sleep; each value the median of 100"))
    rep.add("first_result_ms", "first_result", "ms", key, impl, [first() for _ in range(REPS)],
            note=both("pool creation to the first no-op result"))
    g = [gcd_pool() for _ in range(REPS)]
    rep.add("gcd_ms", "gcd", "ms", key, impl, [x[0] for x in g],
            note=both("the six gcd pairs, map chunksize 1: pool start included, shutdown not"))
    rep.add("gcd_with_teardown_ms", "gcd_with_teardown", "ms", key, impl, [x[1] for x in g],
            note=both("the six gcd pairs, pool start and shutdown included"))


def main(argv):
    json_path = None
    names = []
    args = iter(argv[1:])
    for a in args:
        if a == "--json":
            json_path = next(args, None)
            if json_path is None:
                sys.exit("--json needs a path")
        else:
            names.append(a)
    names = names or PPE_METHODS + ["loky", "pebble"]
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    notes = []
    rep = Report()
    started = time.perf_counter()

    serial = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        [gcd(p) for p in PAIRS]
        serial.append((time.perf_counter() - t0) * 1e3)
    rep.add("gcd_ms", "gcd", "ms", "serial", "python serial", serial,
            note="the six gcd pairs in a plain loop")

    for key, impl, pool, extra in executors(names, notes):
        try:
            measure(pool, key, impl, extra, rep)
        except Exception as e:  # one broken peer must not cost the others' figures
            note(f"{impl} failed ({type(e).__name__}: {e}): its remaining figures skipped",
                 notes)
    note("scaling at n = 1000000 not measured for the Python pools: minutes per run", notes)

    if json_path:
        doc = {"bench": "process_pool_peers", "python": sys.version.split()[0],
               "cpus_online": os.cpu_count(), "loadavg_before": load, "reps": REPS,
               "seconds": round(time.perf_counter() - started, 1), "rows": rep.rows,
               "notes": notes}
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
