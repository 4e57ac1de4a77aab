/* test_exit.c: an executor that is never freed, with work still queued when main returns. The
 * process-exit hook (Python's atexit join) must run all the queued work before the process
 * ends. Each task writes "exit-task <i>" to stdout; the Rust runner checks all N lines.
 * A second executor is shut down with wait=false (no cancel_futures) before main returns: its
 * queued work must run too ("exit-late <i>" lines), as Python's exit hook joins such workers.
 *
 * Order at exit (atexit handlers run last-registered first):
 *   1. open_gate_at_exit (registered after the executor exists): releases the task that has
 *      been blocking the pool's only thread, so all N tasks are still queued when main returns;
 *   2. cfutures' own exit hook (registered when the first executor was created): must run the
 *      queued work and join the worker;
 *   3. check_at_exit (registered first of all): every task has finished by now. */
#include "cftest.h"

#define N_TASKS 200 /* keep in sync with EXIT_TASKS in tests/c_api.rs */
#define N_LATE 50   /* keep in sync with EXIT_LATE_TASKS in tests/c_api.rs */

static cft_gate g_gate;
static cft_counter g_finished;

static int task_line(const void *arg, size_t len, cf_out *out) {
    int i;
    char line[32];
    int n;
    ssize_t w;
    (void)out;
    if (len != sizeof i) return 99;
    memcpy(&i, arg, sizeof i);
    if (i >= 0)
        n = snprintf(line, sizeof line, "exit-task %d\n", i);
    else
        n = snprintf(line, sizeof line, "exit-late %d\n", -i - 1);
    w = write(1, line, (size_t)n);
    if (w != n) return 98;
    cft_counter_add(&g_finished, 1);
    return 0;
}

static void open_gate_at_exit(void) {
    static const char msg[] = "atexit: opening the gate\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    cft_gate_open(&g_gate);
}

static void check_at_exit(void) {
    char line[96];
    long n = cft_counter_get(&g_finished);
    int len = snprintf(line, sizeof line, "exit check: %ld of %d tasks finished\n", n,
                       N_TASKS + N_LATE);
    ssize_t w = write(1, line, (size_t)len);
    (void)w;
    if (n != N_TASKS + N_LATE) _exit(4);
}

int main(void) {
    cf_executor *ex, *ex2;
    cf_future *f = NULL;
    int i;
    cft_start("test_exit");
    cft_gate_init(&g_gate);
    cft_counter_init(&g_finished);
    CHECK(atexit(check_at_exit) == 0);

    ex = cft_pool(1);
    ex2 = cft_pool(1);
    CHECK(atexit(open_gate_at_exit) == 0);

    /* The only thread blocks until the exit handlers start. */
    f = cft_submit_gated(ex, &g_gate, NULL, NULL);
    cf_future_free(f);
    for (i = 0; i < N_TASKS; i++) {
        f = NULL;
        CHECK_STATUS(cf_submit(ex, task_line, &i, sizeof i, &f), CF_OK);
        cf_future_free(f);
    }
    /* The second executor: blocked the same way, then shut down without waiting. */
    f = cft_submit_gated(ex2, &g_gate, NULL, NULL);
    cf_future_free(f);
    for (i = 0; i < N_LATE; i++) {
        int arg = -i - 1;
        f = NULL;
        CHECK_STATUS(cf_submit(ex2, task_line, &arg, sizeof arg, &f), CF_OK);
        cf_future_free(f);
    }
    CHECK_STATUS(cf_executor_shutdown(ex2, false, false), CF_OK);
    printf("main: returning with %ld of %d tasks finished\n", cft_counter_get(&g_finished),
           N_TASKS + N_LATE);
    fflush(stdout);
    /* ex and ex2 are deliberately never freed. */
    return 0;
}
