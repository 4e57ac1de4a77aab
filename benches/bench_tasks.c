/* Task functions for benches/process_pool.c, in a shared library so that every start method,
 * spawn included, can run them. */
#define _GNU_SOURCE /* flock, O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cfutures.h"

int bench_noop(const void *arg, size_t len, cf_out *out);
int bench_gcd(const void *arg, size_t len, cf_out *out);
int bench_echo(const void *arg, size_t len, cf_out *out);
int bench_gate(const void *arg, size_t len, cf_out *out);
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

/* The result is a copy of the argument, written straight into the result buffer. */
int bench_echo(const void *arg, size_t len, cf_out *out) {
    void *r = cf_out_alloc(out, len);
    if (r == NULL) {
        cf_out_fail(out, "bench_echo: cf_out_alloc failed");
        return 1;
    }
    if (len > 0) memcpy(r, arg, len);
    return 0;
}

/* Blocks until the benchmark lets it go. The argument is the NUL-terminated path of a file on
 * which the benchmark holds an exclusive flock(); this task waits for a shared lock on its own
 * open of that file. A lock crosses processes whatever the start method (workers inherit no
 * descriptor of ours: they close them all), needs no polling, and is dropped by the kernel if
 * the benchmark dies, so a worker never hangs on a dead benchmark. */
int bench_gate(const void *arg, size_t len, cf_out *out) {
    const char *path = arg;
    int fd, r;
    if (len == 0 || path[len - 1] != '\0') {
        cf_out_fail(out, "bench_gate: the argument must be a NUL-terminated path");
        return 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cf_out_fail(out, "bench_gate: cannot open the lock file");
        return 1;
    }
    do
        r = flock(fd, LOCK_SH);
    while (r != 0 && errno == EINTR);
    close(fd);
    if (r != 0) {
        cf_out_fail(out, "bench_gate: flock failed");
        return 1;
    }
    return 0;
}
