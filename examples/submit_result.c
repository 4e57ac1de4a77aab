/*
 * submit_result.c: submit every pair, then wait for each result in turn, as in Python:
 *
 *     start = time.time()
 *     with ThreadPoolExecutor(max_workers=2) as pool:
 *         futures = [pool.submit(gcd, pair) for pair in numbers]
 *         results = [future.result() for future in futures]
 *     print('thread pool:', results, 'in %.3f s' % (time.time() - start))
 *
 * Change POOL to CF_PROCESS_POOL to run the same program on the process pool.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfutures.h"

#ifndef POOL
#define POOL CF_THREAD_POOL /* or CF_PROCESS_POOL: the one line to change */
#endif
#define MAX_WORKERS 2
#define N_PAIRS 6

static const long numbers[N_PAIRS][2] = {
    {1963309, 2265973}, {1879675, 2493670}, {2030677, 3814172},
    {1551645, 2229620}, {1988912, 4736670}, {2198964, 7876293},
};

/* The brute-force gcd of the Python examples. */
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

/* The task: its argument is a pair of long, its result one long. */
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

/* Prints the failed call, its status and cf_last_error(), then exits nonzero. */
static void fail(const char *call, cf_status status) {
    /* cf_last_error() last: its text is valid only until the next cfutures call. */
    const char *name = cf_status_str(status);
    const char *message = cf_last_error();
    fprintf(stderr, "%s: %s: %s\n", call, name, message);
    exit(EXIT_FAILURE);
}

/* The same for a constructor that returned NULL. */
static void fail_new(const char *call) {
    fprintf(stderr, "%s: %s\n", call, cf_last_error());
    exit(EXIT_FAILURE);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    const char *pool_name = POOL == CF_THREAD_POOL ? "thread pool:" : "process pool:";
    cf_future *futures[N_PAIRS];
    long results[N_PAIRS];
    cf_executor *pool;
    cf_status status;
    double start;
    size_t i;

    start = now();
    pool = cf_executor_new(POOL, MAX_WORKERS, NULL);
    if (pool == NULL) {
        fail_new("cf_executor_new");
    }

    /* futures = [pool.submit(gcd, pair) for pair in numbers] */
    for (i = 0; i < N_PAIRS; i++) {
        status = cf_submit(pool, gcd_task, numbers[i], sizeof numbers[i], &futures[i]);
        if (status != CF_OK) {
            fail("cf_submit", status);
        }
    }

    /* results = [future.result() for future in futures] */
    for (i = 0; i < N_PAIRS; i++) {
        const void *data;
        size_t len;
        status = cf_future_result(futures[i], CF_FOREVER, &data, &len);
        if (status != CF_OK) {
            fail("cf_future_result", status);
        }
        if (len != sizeof results[i]) {
            fprintf(stderr, "cf_future_result: result of %zu bytes, expected %zu\n", len,
                    sizeof results[i]);
            return EXIT_FAILURE;
        }
        memcpy(&results[i], data, sizeof results[i]); /* data is valid while we hold futures[i] */
        cf_future_free(futures[i]);
    }
    cf_executor_free(pool); /* the end of the with block: shutdown(wait=True) */

    printf("%-13s [", pool_name);
    for (i = 0; i < N_PAIRS; i++) {
        printf(i == 0 ? "%ld" : ", %ld", results[i]);
    }
    printf("] in %.3f s\n", now() - start);
    return EXIT_SUCCESS;
}
