"""Submit every pair, then wait for each result in turn (examples/submit_result.c in Python):

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(gcd, pair) for pair in numbers]
        results = [future.result() for future in futures]

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
gcd = lib.gcd_task

for label, Pool in (("thread pool:", ThreadPoolExecutor), ("process pool:", ProcessPoolExecutor)):
    start = time.monotonic()
    with Pool(max_workers=2) as pool:
        futures = [pool.submit(gcd, struct.pack("ll", *pair)) for pair in numbers]
        results = [struct.unpack("l", future.result())[0] for future in futures]
    print(f"{label:<13} {results} in {time.monotonic() - start:.3f} s")
