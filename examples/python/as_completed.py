"""Futures' states, then as_completed with a deadline too short and one long enough
(examples/as_completed.c in Python):

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(gcd, pair) for pair in numbers]
        for future in futures:
            print(future.running(), future.done())
        try:
            for future in as_completed(futures, timeout=0.0001):
                print(future.running(), future.done())
        except TimeoutError as e:
            print('TimeoutError:', e)
        for future in as_completed(futures, timeout=1):
            print(future.running(), future.done())

Run with `make python-examples` (which builds the gcd_task library first).
"""

import ctypes
import os
import struct
from pathlib import Path

from cfutures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

numbers = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
           (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]

# The native task: gcd_task(pair of C long) -> one C long.
lib = ctypes.CDLL(os.environ.get("CFUTURES_GCD_LIB")
                  or Path(__file__).resolve().parents[2] / "build/examples/python/libgcd.so")
gcd = lib.gcd_task


def print_state(futures, future):
    i = futures.index(future)
    line = f"  futures[{i}]: {future.running()!s:<5} {future.done()!s:<5}"
    if future.done():
        line += f"  gcd{numbers[i]} = {struct.unpack('l', future.result())[0]}"
    print(line)


def run_as_completed(futures, timeout):
    print(f"as_completed(futures, timeout={timeout}):")
    try:
        for future in as_completed(futures, timeout=timeout):
            print_state(futures, future)
        print(f"  all {len(futures)} futures completed")
    except TimeoutError as e:
        print("  TimeoutError:", e)


for label, Pool in (("thread pool", ThreadPoolExecutor), ("process pool", ProcessPoolExecutor)):
    print(f"--- {label}")
    with Pool(max_workers=2) as pool:
        futures = [pool.submit(gcd, struct.pack("ll", *pair)) for pair in numbers]
        print("after submit (running, done):")
        for future in futures:
            print_state(futures, future)
        run_as_completed(futures, 0.0001)  # too short: times out
        run_as_completed(futures, 1)  # long enough: every future completes
