"""Python's ProcessPoolExecutor on the workloads of benches/process_pool.c, for the ratios.

Prints "metric method value" lines (same units as the C program) on stdout.
"""
import concurrent.futures as cf
import multiprocessing as mp
import statistics
import sys
import time

PAIRS = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
         (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]
REPS = 3


def noop(x=None):
    return None


def gcd(pair):
    a, b = pair
    low = min(a, b)
    for i in range(low, 0, -1):
        if a % i == 0 and b % i == 0:
            return i


def med(f):
    return statistics.median(f() for _ in range(REPS))


def main():
    methods = sys.argv[1:] or ["forkserver", "fork", "spawn"]
    t0 = time.perf_counter()
    [gcd(p) for p in PAIRS]
    print("gcd_ms serial", (time.perf_counter() - t0) * 1e3, flush=True)
    for m in methods:
        ctx = mp.get_context(m)

        def pool():
            return cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx)

        def throughput(n=20000):
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

        def round_trip(n=2000):
            with pool() as ex:
                ex.submit(noop).result()
                v = []
                for _ in range(n):
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
            t = time.perf_counter()
            with pool() as ex:
                list(ex.map(gcd, PAIRS))
            return (time.perf_counter() - t) * 1e3

        print("noop_us_per_task", m, med(throughput), flush=True)
        print("map64_us_per_task", m, med(lambda: mapcost(64, 200000)), flush=True)
        print("map1_us_per_task", m, med(lambda: mapcost(1, 20000)), flush=True)
        print("round_trip_us", m, med(round_trip), flush=True)
        print("first_result_ms", m, med(first), flush=True)
        print("gcd_with_teardown_ms", m, med(gcd_pool), flush=True)


if __name__ == "__main__":
    main()
