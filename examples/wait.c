/*
 * wait.c: wait() for all the futures, then for the first of a new batch, as in Python:
 *
 *     with ThreadPoolExecutor(max_workers=2) as pool:
 *         futures = [pool.submit(gcd, pair) for pair in numbers]
 *         done, not_done = wait(futures, timeout=2, return_when=ALL_COMPLETED)
 *         print(done, not_done)
 *         futures = [pool.submit(gcd, pair) for pair in numbers]
 *         done, not_done = wait(futures, timeout=2, return_when=FIRST_COMPLETED)
 *         print(done, not_done)
 *
 * The done and not-done futures are printed by their index in `futures`, each done one with
 * its result. Change POOL to CF_PROCESS_POOL to run the same program on the process pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* futures = [pool.submit(gcd, pair) for pair in numbers] */
static void submit_all(cf_executor *pool, cf_future **futures) {
    size_t i;
    for (i = 0; i < N_PAIRS; i++) {
        cf_status status = cf_submit(pool, gcd_task, numbers[i], sizeof numbers[i], &futures[i]);
        if (status != CF_OK) {
            fail("cf_submit", status);
        }
    }
}

/* done, not_done = wait(futures, timeout=2, return_when=when); print(done, not_done) */
static void wait_and_print(cf_future *const *futures, cf_return_when when, const char *name) {
    bool done[N_PAIRS];
    size_t n_done, i;
    bool first = true;
    cf_status status = cf_wait(futures, N_PAIRS, 2.0, when, done, &n_done);

    if (status != CF_OK && status != CF_TIMEOUT) {
        fail("cf_wait", status);
    }
    printf("wait(futures, timeout=2, return_when=%s): %s, %zu (of %d) done\n", name,
           status == CF_OK ? "condition met" : "timed out", n_done, N_PAIRS);

    printf("  done:     {");
    for (i = 0; i < N_PAIRS; i++) {
        const void *data;
        size_t len;
        long result;
        if (!done[i]) {
            continue;
        }
        status = cf_future_result(futures[i], 0.0, &data, &len);
        if (status != CF_OK) {
            fail("cf_future_result", status);
        }
        if (len != sizeof result) {
            fprintf(stderr, "cf_future_result: result of %zu bytes, expected %zu\n", len,
                    sizeof result);
            exit(EXIT_FAILURE);
        }
        memcpy(&result, data, sizeof result);
        printf("%sfutures[%zu] = %ld", first ? "" : ", ", i, result);
        first = false;
    }
    printf("}\n");

    first = true;
    printf("  not done: {");
    for (i = 0; i < N_PAIRS; i++) {
        if (!done[i]) {
            printf("%sfutures[%zu]", first ? "" : ", ", i);
            first = false;
        }
    }
    printf("}\n");
}

int main(void) {
    cf_future *futures[N_PAIRS];
    cf_executor *pool;
    size_t i;

    pool = cf_executor_new(POOL, MAX_WORKERS, NULL);
    if (pool == NULL) {
        fail_new("cf_executor_new");
    }

    submit_all(pool, futures);
    wait_and_print(futures, CF_ALL_COMPLETED, "ALL_COMPLETED");
    for (i = 0; i < N_PAIRS; i++) {
        cf_future_free(futures[i]);
    }

    submit_all(pool, futures);
    wait_and_print(futures, CF_FIRST_COMPLETED, "FIRST_COMPLETED");
    for (i = 0; i < N_PAIRS; i++) {
        cf_future_free(futures[i]); /* the tasks still run; the executor waits for them */
    }

    cf_executor_free(pool); /* the end of the with block: shutdown(wait=True) */
    return EXIT_SUCCESS;
}
