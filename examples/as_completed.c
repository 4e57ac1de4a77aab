/*
 * as_completed.c: futures' states, then as_completed with a deadline too short and one long
 * enough, as in Python:
 *
 *     with ThreadPoolExecutor(max_workers=2) as pool:
 *         futures = [pool.submit(gcd, pair) for pair in numbers]
 *         for future in futures:
 *             print(future.running(), future.done())
 *         try:
 *             for future in as_completed(futures, timeout=0.0001):
 *                 print(future.running(), future.done())
 *         except TimeoutError as e:
 *             print('TimeoutError:', e)          # "6 (of 6) futures unfinished"
 *         for future in as_completed(futures, timeout=1):
 *             print(future.running(), future.done())
 *
 * Unlike CPython, the deadline counts from cf_as_completed_new, not from the first next.
 * Change POOL to CF_PROCESS_POOL to run the same program on the process pool.
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

static const char *py_bool(bool b) {
    return b ? "True" : "False";
}

/* print(future.running(), future.done()), with the index and, once done, the result. */
static void print_state(cf_future *f, size_t index) {
    bool running = cf_future_running(f);
    bool done = cf_future_done(f);
    printf("  futures[%zu]: %-5s %-5s", index, py_bool(running), py_bool(done));
    if (done) {
        const void *data;
        size_t len;
        long result;
        cf_status status = cf_future_result(f, 0.0, &data, &len);
        if (status != CF_OK) {
            fail("cf_future_result", status);
        }
        if (len != sizeof result) {
            fprintf(stderr, "cf_future_result: result of %zu bytes, expected %zu\n", len,
                    sizeof result);
            exit(EXIT_FAILURE);
        }
        memcpy(&result, data, sizeof result);
        printf("  gcd(%ld, %ld) = %ld", numbers[index][0], numbers[index][1], result);
    }
    printf("\n");
}

/* for future in as_completed(futures, timeout): print(future.running(), future.done()) */
static void run_as_completed(cf_future *const *futures, double timeout) {
    cf_as_completed *it;
    cf_status status;

    printf("as_completed(futures, timeout=%g):\n", timeout);
    status = cf_as_completed_new(futures, N_PAIRS, timeout, &it);
    if (status != CF_OK) {
        fail("cf_as_completed_new", status);
    }
    for (;;) {
        cf_future *f;
        size_t index;
        status = cf_as_completed_next(it, &f, &index);
        if (status == CF_OK) {
            print_state(f, index);
        } else if (status == CF_TIMEOUT) {
            /* Python raises TimeoutError("N (of 6) futures unfinished"). */
            printf("  TimeoutError: %s\n", cf_last_error());
            break;
        } else if (status == CF_DONE) {
            printf("  all %d futures completed\n", N_PAIRS);
            break;
        } else {
            fail("cf_as_completed_next", status);
        }
    }
    cf_as_completed_free(it);
}

int main(void) {
    cf_future *futures[N_PAIRS];
    cf_executor *pool;
    cf_status status;
    size_t i;

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

    printf("after submit (running, done):\n");
    for (i = 0; i < N_PAIRS; i++) {
        print_state(futures[i], i);
    }

    run_as_completed(futures, 0.0001); /* too short: times out */
    run_as_completed(futures, 1.0);    /* long enough: every future completes */

    for (i = 0; i < N_PAIRS; i++) {
        cf_future_free(futures[i]);
    }
    cf_executor_free(pool); /* the end of the with block: shutdown(wait=True) */
    return EXIT_SUCCESS;
}
