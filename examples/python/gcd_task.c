/*
 * gcd_task.c: the brute-force gcd of the Python examples as a native task, built by
 * `make python-examples` into build/examples/python/libgcd.so and loaded with ctypes.
 * Argument: two C longs; result: one long (as in the C examples).
 *
 * cf_out_set is left undefined here: it resolves from the libcfutures.so that the cfutures
 * package has loaded (or from cf-worker in spawn mode).
 */
#include <string.h>

#include "cfutures.h"

static long gcd(long a, long b) {
    long low = a < b ? a : b;
    long i;
    for (i = low; i > 0; i--) {
        if (a % i == 0 && b % i == 0) {
            return i;
        }
    }
    return 0;
}

int gcd_task(const void *arg, size_t arg_len, cf_out *out);

int gcd_task(const void *arg, size_t arg_len, cf_out *out) {
    long pair[2];
    long result;
    if (arg_len != sizeof pair) {
        cf_out_fail(out, "gcd_task: the argument must be a pair of long");
        return 1;
    }
    memcpy(pair, arg, sizeof pair);
    result = gcd(pair[0], pair[1]);
    return cf_out_set(out, &result, sizeof result) == CF_OK ? 0 : 1;
}
