"""The built-in serial map versus pool.map on both pools (examples/map.c in Python):

    results = list(map(gcd, numbers))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(gcd, numbers))

Run with `make python-examples` (which builds the gcd_task library first).
"""

import ctypes
import os
import struct
import time
from pathlib import Path

from cfutures import ProcessPoolExecutor, ThreadPoolExecutor

numbers = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
           (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]

# The native task: gcd_task(pair of C long) -> one C long.
lib = ctypes.CDLL(os.environ.get("CFUTURES_GCD_LIB")
                  or Path(__file__).resolve().parents[2] / "build/examples/python/libgcd.so")
args = [struct.pack("ll", a, b) for a, b in numbers]


def gcd(pair):
    a, b = pair
    low = min(a, b)
    for i in range(low, 0, -1):
        if a % i == 0 and b % i == 0:
            return i


def show(label, results, seconds):
    print(f"{label:<13} {results} in {seconds:.3f} s")


start = time.monotonic()
results = list(map(gcd, numbers))
show("serial:", results, time.monotonic() - start)

for label, Pool in (("thread pool:", ThreadPoolExecutor), ("process pool:", ProcessPoolExecutor)):
    start = time.monotonic()
    with Pool(max_workers=2) as pool:
        results = [struct.unpack("l", r)[0] for r in pool.map(lib.gcd_task, args)]
    show(label, results, time.monotonic() - start)
