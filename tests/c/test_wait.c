/* test_wait.c: cf_wait: return_when, already-done futures, zero futures, duplicates, timeouts,
 * cancel wake-ups, mixed executors, large sets, invalid arguments. */
#include "cftest.h"

/* A helper thread that, once the main thread is parked, opens a gate or cancels futures. */
typedef struct helper {
    pid_t tid;
    cft_gate *gate;
    cf_future **cancel;
    size_t n_cancel;
    bool cancelled_ok;
    pthread_t th;
} helper;

static void *helper_main(void *p) {
    helper *h = p;
    size_t i;
    cft_wait_blocked(h->tid);
    h->cancelled_ok = true;
    for (i = 0; i < h->n_cancel; i++) h->cancelled_ok &= cf_future_cancel(h->cancel[i]);
    if (h->gate) cft_gate_open(h->gate);
    return NULL;
}

static void helper_start(helper *h, cft_gate *gate, cf_future **cancel, size_t n_cancel) {
    h->tid = cft_gettid();
    h->gate = gate;
    h->cancel = cancel;
    h->n_cancel = n_cancel;
    h->cancelled_ok = false;
    CHECK(pthread_create(&h->th, NULL, helper_main, h) == 0);
}

static void helper_join(helper *h) { CHECK(pthread_join(h->th, NULL) == 0); }

static cf_future *submit_gated_rc(cf_executor *ex, cft_gate *gate, cft_counter *started, int rc) {
    cf_future *f = NULL;
    cft_gated_arg a = cft_gated(gate, started, NULL);
    a.rc = rc;
    CHECK_STATUS(cf_submit(ex, cft_task_gated, &a, sizeof a, &f), CF_OK);
    return f;
}

static void free_all(cf_future **fs, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) cf_future_free(fs[i]);
}

static void test_all_completed(cf_executor *ex) {
    cft_gate gate;
    cf_future *fs[5];
    bool done[5];
    size_t n_done = 0, i;
    helper h;
    cft_gate_init(&gate);
    for (i = 0; i < 5; i++) fs[i] = cft_submit_gated(ex, &gate, NULL, NULL);
    helper_start(&h, &gate, NULL, 0);
    memset(done, 0, sizeof done);
    CHECK_STATUS(cf_wait(fs, 5, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 5);
    for (i = 0; i < 5; i++) {
        CHECK(done[i]);
        CHECK(cf_future_done(fs[i]));
    }
    /* Again, all already done: CF_OK at once, even with timeout 0. */
    memset(done, 0, sizeof done);
    CHECK_STATUS(cf_wait(fs, 5, 0.0, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, 5);
    for (i = 0; i < 5; i++) CHECK(done[i]);
    free_all(fs, 5);
    cft_gate_destroy(&gate);
}

static void test_first_completed(cf_executor *ex) {
    cft_gate ga, gb;
    cf_future *fs[3];
    bool done[3];
    size_t n_done = 0;
    helper h;
    cft_gate_init(&ga);
    cft_gate_init(&gb);
    fs[0] = cft_submit_gated(ex, &gb, NULL, NULL);
    fs[1] = cft_submit_gated(ex, &ga, NULL, NULL);
    fs[2] = cft_submit_gated(ex, &gb, NULL, NULL);
    helper_start(&h, &ga, NULL, 0);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    /* Only fs[1] can be done: gate b is closed. */
    CHECK_EQ_INT(n_done, 1);
    CHECK(!done[0] && done[1] && !done[2]);
    /* Already-done futures count: at once, timeout 0. */
    CHECK_STATUS(cf_wait(fs, 3, 0.0, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, 1);
    /* The others still pending: ALL times out, and still writes done / n_done. */
    memset(done, 1, sizeof done);
    n_done = 77;
    CHECK_STATUS(cf_wait(fs, 3, 0.0, CF_ALL_COMPLETED, done, &n_done), CF_TIMEOUT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_EQ_INT(n_done, 1);
    CHECK(!done[0] && done[1] && !done[2]);
    CHECK_STATUS(cf_wait(fs, 3, 1e-3, CF_ALL_COMPLETED, done, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 1);
    cft_gate_open(&gb);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    free_all(fs, 3);
    cft_gate_destroy(&ga);
    cft_gate_destroy(&gb);
}

static void test_first_exception(cf_executor *ex, cf_executor *ex1) {
    cft_gate ga, gb;
    cft_counter started;
    cf_future *fs[3];
    bool done[3];
    size_t n_done = 0;
    helper h;

    /* Returns when a future fails, others still pending. */
    cft_gate_init(&ga);
    cft_gate_init(&gb);
    fs[0] = submit_gated_rc(ex, &gb, NULL, 0);
    fs[1] = submit_gated_rc(ex, &ga, NULL, 5);
    fs[2] = submit_gated_rc(ex, &gb, NULL, 0);
    helper_start(&h, &ga, NULL, 0);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 1);
    CHECK(!done[0] && done[1] && !done[2]);
    CHECK_STATUS(cf_future_exception(fs[1], 0.0), CF_TASK_FAILED);
    /* An already-failed future satisfies it at once. */
    CHECK_STATUS(cf_wait(fs, 3, 0.0, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
    cft_gate_open(&gb);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    free_all(fs, 3);
    cft_gate_destroy(&ga);
    cft_gate_destroy(&gb);

    /* Without failures it is ALL_COMPLETED: one success does not end it. */
    cft_gate_init(&ga);
    cft_gate_init(&gb);
    fs[0] = submit_gated_rc(ex, &ga, NULL, 0);
    fs[1] = submit_gated_rc(ex, &gb, NULL, 0);
    cft_gate_open(&ga);
    CHECK_STATUS(cf_future_exception(fs[0], CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_EXCEPTION, done, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 1);
    CHECK(done[0] && !done[1]);
    helper_start(&h, &gb, NULL, 0);
    CHECK_STATUS(cf_wait(fs, 2, CF_FOREVER, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 2);
    CHECK(done[0] && done[1]);
    free_all(fs, 2);
    cft_gate_destroy(&ga);
    cft_gate_destroy(&gb);

    /* A cancellation is not an exception. One thread: fs[0] runs (gated), fs[1] queued. */
    cft_gate_init(&ga);
    cft_counter_init(&started);
    fs[0] = submit_gated_rc(ex1, &ga, &started, 0);
    fs[1] = submit_gated_rc(ex1, NULL, NULL, 0);
    cft_counter_await(&started, 1);
    CHECK(cf_future_cancel(fs[1]));
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_EXCEPTION, done, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 1);
    CHECK(!done[0] && done[1]);
    /* ... but it is a completion. */
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
    helper_start(&h, &ga, NULL, 0);
    CHECK_STATUS(cf_wait(fs, 2, CF_FOREVER, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 2);
    free_all(fs, 2);
    cft_counter_destroy(&started);
    cft_gate_destroy(&ga);

    /* A cancel while FIRST_EXCEPTION is blocked does not end it either; the last one does.
     * One thread: fs[0] running behind gate a, fs[1] and fs[2] queued. */
    cft_gate_init(&ga);
    cft_counter_init(&started);
    fs[0] = submit_gated_rc(ex1, &ga, &started, 0);
    fs[1] = submit_gated_rc(ex1, NULL, NULL, 0);
    fs[2] = submit_gated_rc(ex1, NULL, NULL, 0);
    cft_counter_await(&started, 1);
    helper_start(&h, NULL, fs + 1, 1);
    CHECK_STATUS(cf_wait(fs, 3, 0.05, CF_FIRST_EXCEPTION, done, &n_done), CF_TIMEOUT);
    helper_join(&h);
    /* The helper may or may not have cancelled before the deadline: no timing assertion,
     * but fs[0] (gated) and fs[2] (behind it) cannot be done. */
    CHECK(!done[0] && !done[2]);
    CHECK(h.cancelled_ok);
    cft_gate_open(&ga);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, 3);
    free_all(fs, 3);
    cft_counter_destroy(&started);
    cft_gate_destroy(&ga);
}

static void test_zero_futures(void) {
    int w;
    for (w = 0; w < 3; w++) {
        size_t n_done = 99;
        bool flag = true;
        CHECK_STATUS(cf_wait(NULL, 0, CF_FOREVER, (cf_return_when)w, NULL, &n_done), CF_OK);
        CHECK_EQ_INT(n_done, 0);
        CHECK_STATUS(cf_wait(NULL, 0, 0.0, (cf_return_when)w, NULL, NULL), CF_OK);
        /* A non-NULL array with n 0 is fine too, and no flag is written. */
        {
            cf_future *none[1];
            none[0] = NULL;
            CHECK_STATUS(cf_wait(none, 0, CF_FOREVER, (cf_return_when)w, &flag, &n_done), CF_OK);
            CHECK(flag);
        }
    }
}

static void test_duplicates(cf_executor *ex) {
    cft_gate gate;
    cf_future *a = NULL, *b;
    cf_future *fs[5];
    bool done[5];
    size_t n_done = 0;
    helper h;
    cft_gate_init(&gate);
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &a), CF_OK);
    CHECK_STATUS(cf_future_exception(a, CF_FOREVER), CF_OK);
    b = cft_submit_gated(ex, &gate, NULL, NULL);
    fs[0] = a;
    fs[1] = b;
    fs[2] = b;
    fs[3] = a;
    fs[4] = b;
    memset(done, 1, sizeof done);
    CHECK_STATUS(cf_wait(fs, 5, 0.0, CF_ALL_COMPLETED, done, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 1);
    CHECK(done[0] && !done[1] && !done[2] && done[3] && !done[4]);
    CHECK_STATUS(cf_wait(fs, 5, 0.0, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, 1);
    helper_start(&h, &gate, NULL, 0);
    memset(done, 0, sizeof done);
    CHECK_STATUS(cf_wait(fs, 5, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 2);
    CHECK(done[0] && done[1] && done[2] && done[3] && done[4]);
    /* A duplicate-only set waited on while pending: one distinct future. */
    {
        cft_gate g2;
        cf_future *c, *cs[40];
        bool cd[40];
        int i;
        cft_gate_init(&g2);
        c = cft_submit_gated(ex, &g2, NULL, NULL);
        for (i = 0; i < 40; i++) cs[i] = c; /* > 16: the hashed path for distinct futures */
        helper_start(&h, &g2, NULL, 0);
        CHECK_STATUS(cf_wait(cs, 40, CF_FOREVER, CF_ALL_COMPLETED, cd, &n_done), CF_OK);
        helper_join(&h);
        CHECK_EQ_INT(n_done, 1);
        for (i = 0; i < 40; i++) CHECK(cd[i]);
        cf_future_free(c);
        cft_gate_destroy(&g2);
    }
    cf_future_free(a);
    cf_future_free(b);
    cft_gate_destroy(&gate);
}

/* A cancel from another thread wakes a blocked wait; the futures cannot finish by
 * themselves (they are queued behind a gated task on a one-thread pool). */
static void test_cancel_wakes(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started;
    cf_future *blocker, *fs[3];
    bool done[3];
    size_t n_done = 0;
    helper h;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    fs[0] = cft_submit_gated(ex1, NULL, NULL, NULL);
    fs[1] = cft_submit_gated(ex1, NULL, NULL, NULL);
    fs[2] = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);

    helper_start(&h, NULL, fs + 1, 1);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK(h.cancelled_ok);
    CHECK_EQ_INT(n_done, 1);
    CHECK(!done[0] && done[1] && !done[2]);

    /* ALL_COMPLETED woken by the cancels of the rest. */
    {
        cf_future *rest[2];
        rest[0] = fs[0];
        rest[1] = fs[2];
        helper_start(&h, NULL, rest, 2);
        CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
        helper_join(&h);
        CHECK(h.cancelled_ok);
        CHECK_EQ_INT(n_done, 3);
        CHECK(done[0] && done[1] && done[2]);
    }
    CHECK(!cf_future_done(blocker));
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    cf_future_free(blocker);
    free_all(fs, 3);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

static void test_two_executors(cf_executor *ex, cf_executor *ex1) {
    cft_gate gate;
    cf_future *fs[4];
    bool done[4];
    size_t n_done = 0;
    helper h;
    cft_gate_init(&gate);
    fs[0] = cft_submit_gated(ex, &gate, NULL, NULL);
    fs[1] = cft_submit_gated(ex1, &gate, NULL, NULL);
    fs[2] = submit_gated_rc(ex, &gate, NULL, 3);
    fs[3] = cft_submit_gated(ex1, &gate, NULL, NULL);
    helper_start(&h, &gate, NULL, 0);
    CHECK_STATUS(cf_wait(fs, 4, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, 4);
    CHECK(done[0] && done[1] && done[2] && done[3]);
    CHECK_STATUS(cf_future_exception(fs[2], 0.0), CF_TASK_FAILED);
    free_all(fs, 4);
    cft_gate_destroy(&gate);
}

static void test_large(cf_executor *ex, cf_executor *ex1) {
    enum { N = 100000 };
    cf_future **fs = malloc(N * sizeof *fs);
    bool *done = malloc(N * sizeof *done);
    cft_gate gate;
    cft_counter started;
    cf_future *blocker;
    size_t n_done = 0, i;
    helper h;
    CHECK(fs != NULL && done != NULL);

    /* 100k queued behind a gate on one thread: the wait installs a waiter on each, blocks,
     * and is woken when they have all run. */
    cft_gate_init(&gate);
    cft_counter_init(&started);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    for (i = 0; i < N; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &fs[i]), CF_OK);
    }
    cft_counter_await(&started, 1);
    CHECK_STATUS(cf_wait(fs, N, 0.0, CF_FIRST_COMPLETED, done, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 0);
    CHECK_STATUS(cf_wait(fs, N, 1e-3, CF_ALL_COMPLETED, NULL, &n_done), CF_TIMEOUT);
    CHECK_EQ_INT(n_done, 0);
    helper_start(&h, &gate, NULL, 0);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(n_done, N);
    for (i = 0; i < N; i++) CHECK(done[i]);
    free_all(fs, N);
    cf_future_free(blocker);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);

    /* 100k on a multi-thread pool, FIRST_COMPLETED then ALL. */
    for (i = 0; i < N; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &fs[i]), CF_OK);
    }
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_FIRST_COMPLETED, NULL, &n_done), CF_OK);
    CHECK(n_done >= 1);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, N);
    for (i = 0; i < N; i++) CHECK(done[i]);
    free_all(fs, N);
    free(fs);
    free(done);
}

static void test_invalid(cf_executor *ex) {
    cf_future *f = NULL, *fs[3];
    bool done[3] = {true, true, true};
    size_t n_done = 55;
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
    fs[0] = f;
    fs[1] = NULL;
    fs[2] = f;
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done),
                 CF_INVALID_ARGUMENT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_EQ_INT(n_done, 55);
    CHECK(done[0] && done[1] && done[2]);
    fs[1] = f;
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, (cf_return_when)7, done, &n_done),
                 CF_INVALID_ARGUMENT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, (cf_return_when)3, done, &n_done),
                 CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_wait(NULL, 0, CF_FOREVER, (cf_return_when)7, NULL, NULL),
                 CF_INVALID_ARGUMENT);
    CHECK_EQ_INT(n_done, 55);
    CHECK_STATUS(cf_wait(NULL, 2, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done),
                 CF_INVALID_ARGUMENT);
    CHECK_EQ_INT(n_done, 55);
    /* Valid again: done/n_done written. */
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, 1);
    cf_future_free(f);
}

int main(void) {
    cft_baseline base;
    cf_executor *ex, *ex1;
    base = cft_begin("test_wait");

    ex = cft_pool(8);
    ex1 = cft_pool(1);

    test_all_completed(ex);
    test_first_completed(ex);
    test_first_exception(ex, ex1);
    test_zero_futures();
    test_duplicates(ex);
    test_cancel_wakes(ex1);
    test_two_executors(ex, ex1);
    test_large(ex, ex1);
    test_invalid(ex);

    cf_executor_free(ex);
    cf_executor_free(ex1);
    CFT_END(base);
    return 0;
}
