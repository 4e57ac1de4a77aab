/* Task functions for benches/process_pool.c, in a shared library so that every start method,
 * spawn included, can run them. */
#include <string.h>

#include "cfutures.h"

int bench_noop(const void *arg, size_t len, cf_out *out);
int bench_gcd(const void *arg, size_t len, cf_out *out);
long bench_gcd_serial(long a, long b);

long bench_gcd_serial(long a, long b) {
    long low = a < b ? a : b;
    for (long i = low; i > 0; i--)
        if (a % i == 0 && b % i == 0) return i;
    return 1;
}

int bench_noop(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

int bench_gcd(const void *arg, size_t len, cf_out *out) {
    long p[2], r;
    if (len != sizeof p) return 1;
    memcpy(p, arg, sizeof p);
    r = bench_gcd_serial(p[0], p[1]);
    return cf_out_set(out, &r, sizeof r) == CF_OK ? 0 : 1;
}
