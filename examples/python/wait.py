"""wait() for all the futures, then for the first of a new batch (examples/wait.c in Python):

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(gcd, pair) for pair in numbers]
        done, not_done = wait(futures, timeout=2, return_when=ALL_COMPLETED)
        print(done, not_done)
        futures = [pool.submit(gcd, pair) for pair in numbers]
        done, not_done = wait(futures, timeout=2, return_when=FIRST_COMPLETED)
        print(done, not_done)

Run with `make python-examples` (which builds the gcd_task library first).
"""

import ctypes
import os
import struct
from pathlib import Path

from cfutures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)

numbers = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
           (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]

# The native task: gcd_task(pair of C long) -> one C long.
lib = ctypes.CDLL(os.environ.get("CFUTURES_GCD_LIB")
                  or Path(__file__).resolve().parents[2] / "build/examples/python/libgcd.so")
gcd = lib.gcd_task


def wait_and_print(futures, return_when):
    done, not_done = wait(futures, timeout=2, return_when=return_when)
    print(f"wait(futures, timeout=2, return_when={return_when}): "
          f"{len(done)} (of {len(futures)}) done")
    print("  done:     {" + ", ".join(
        f"futures[{i}] = {struct.unpack('l', f.result())[0]}"
        for i, f in enumerate(futures) if f in done) + "}")
    print("  not done: {" + ", ".join(
        f"futures[{i}]" for i, f in enumerate(futures) if f in not_done) + "}")


for label, Pool in (("thread pool", ThreadPoolExecutor), ("process pool", ProcessPoolExecutor)):
    print(f"--- {label}")
    with Pool(max_workers=2) as pool:
        futures = [pool.submit(gcd, struct.pack("ll", *pair)) for pair in numbers]
        wait_and_print(futures, ALL_COMPLETED)
        futures = [pool.submit(gcd, struct.pack("ll", *pair)) for pair in numbers]
        wait_and_print(futures, FIRST_COMPLETED)
