/* test_cancel.c: cancelling a queued future wakes every kind of waiter at once, runs its
 * callback once, and its task never runs.
 *
 * Catalogue rows (RELIABILITY.md section 2): TO09 cancel a pending future whose task is
 * `abort` (the process would die if it ran); SD05 submit, cancel, then shutdown(wait=true).
 * Checks O6 (callbacks exactly once), O2 and O5 (main); O1 is the runner's watchdog. */
#include "cftest.h"

/* Must never run: the test process would abort. */
static int task_abort(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    abort();
}

static void cb_count(cf_future *f, void *ud) {
    (void)f;
    cft_counter_add((cft_counter *)ud, 1);
}

/* One waiting thread: which call it makes, and what it got. */
enum wait_kind { W_RESULT, W_EXCEPTION, W_WAIT, W_AS_COMPLETED, N_KINDS };

typedef struct waiter {
    enum wait_kind kind;
    cf_future *f;     /* the future to be cancelled */
    cf_future *other; /* a future that stays pending (for cf_wait and as_completed) */
    cft_counter *ready;
    pid_t tid;
    int status;
    bool done_flags[2];
    cf_future *got;
    size_t index;
    pthread_t th;
} waiter;

static void *waiter_main(void *p) {
    waiter *w = p;
    cf_future *fs[2];
    const void *data = NULL;
    size_t len = 0;
    fs[0] = w->other;
    fs[1] = w->f;
    w->tid = cft_gettid();
    cft_counter_add(w->ready, 1);
    switch (w->kind) {
    case W_RESULT:
        w->status = (int)cf_future_result(w->f, CF_FOREVER, &data, &len);
        break;
    case W_EXCEPTION:
        w->status = (int)cf_future_exception(w->f, CF_FOREVER);
        break;
    case W_WAIT:
        w->status = (int)cf_wait(fs, 2, CF_FOREVER, CF_FIRST_COMPLETED, w->done_flags, NULL);
        break;
    case W_AS_COMPLETED: {
        cf_as_completed *it = NULL;
        w->status = (int)cf_as_completed_new(fs, 2, CF_FOREVER, &it);
        if (w->status == CF_OK) w->status = (int)cf_as_completed_next(it, &w->got, &w->index);
        cf_as_completed_free(it);
        break;
    }
    default:
        break;
    }
    return NULL;
}

/* TO09: a one-thread pool runs a gated task; f (task `abort`) is queued behind it. Four threads
 * block on f (result, exception, cf_wait FIRST_COMPLETED, as_completed). Once all four are
 * parked, cancel f: true; all four wake while the gate is still closed (so not when a worker
 * reaches the item); the callback ran exactly once; f's task never runs. */
static void test_cancel_wakes_everyone(void) {
    cf_executor *ex1 = cft_pool(1);
    cft_gate gate;
    cft_counter started, ready, calls;
    cf_future *blocker, *f = NULL;
    waiter ws[N_KINDS];
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&ready);
    cft_counter_init(&calls);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex1, task_abort, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_count, &calls), CF_OK);
    cft_counter_await(&started, 1);

    for (i = 0; i < N_KINDS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].kind = (enum wait_kind)i;
        ws[i].f = f;
        ws[i].other = blocker;
        ws[i].ready = &ready;
        ws[i].status = -1;
        CHECK(pthread_create(&ws[i].th, NULL, waiter_main, &ws[i]) == 0);
    }
    cft_counter_await(&ready, N_KINDS);
    for (i = 0; i < N_KINDS; i++) cft_wait_blocked(ws[i].tid);
    CHECK(!cf_future_done(f));
    CHECK_EQ_INT(cft_counter_get(&calls), 0);

    CHECK(cf_future_cancel(f));
    /* The callback ran in this thread, before cancel returned. */
    CHECK_EQ_INT(cft_counter_get(&calls), 1);
    for (i = 0; i < N_KINDS; i++) CHECK(pthread_join(ws[i].th, NULL) == 0);
    /* Every waiter woke with the gate still closed: nothing but the cancel could wake them. */
    CHECK(!cf_future_done(blocker));
    CHECK_STATUS(ws[W_RESULT].status, CF_CANCELLED);
    CHECK_STATUS(ws[W_EXCEPTION].status, CF_CANCELLED);
    CHECK_STATUS(ws[W_WAIT].status, CF_OK);
    CHECK(!ws[W_WAIT].done_flags[0] && ws[W_WAIT].done_flags[1]);
    CHECK_STATUS(ws[W_AS_COMPLETED].status, CF_OK);
    CHECK(ws[W_AS_COMPLETED].got == f);
    CHECK_EQ_INT(ws[W_AS_COMPLETED].index, 1);

    /* Cancelling again: true, and nothing runs twice. */
    CHECK(cf_future_cancel(f));
    CHECK(cf_future_cancelled(f));
    CHECK_EQ_INT(cft_counter_get(&calls), 1);

    /* The worker reaches the cancelled item and skips it: this process is still alive after
     * a later task on the same (only) thread. */
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    {
        cf_future *probe = NULL;
        CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &probe), CF_OK);
        CHECK_STATUS(cf_future_exception(probe, CF_FOREVER), CF_OK);
        cf_future_free(probe);
    }
    CHECK_STATUS(cf_future_exception(f, 0.0), CF_CANCELLED);
    CHECK_EQ_INT(cft_counter_get(&calls), 1);
    cf_future_free(blocker);
    cf_future_free(f);
    cf_executor_free(ex1);
    cft_counter_destroy(&started);
    cft_counter_destroy(&ready);
    cft_counter_destroy(&calls);
    cft_gate_destroy(&gate);
}

typedef struct opener {
    pid_t tid;
    cft_gate *gate;
} opener;

static void *open_when_blocked(void *p) {
    opener *o = p;
    cft_wait_blocked(o->tid);
    cft_gate_open(o->gate);
    return NULL;
}

/* SD05: submit, cancel, then shutdown(wait=true) returns (the runner's watchdog bounds it);
 * the cancelled task never runs, the queued one behind it does. */
static void test_cancel_then_shutdown(int threads0) {
    cf_executor *ex1 = cft_pool(1);
    cft_gate gate;
    cft_counter started, k;
    cft_counter *pk = &k;
    cf_future *blocker, *f = NULL, *after = NULL;
    opener o;
    pthread_t th;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&k);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex1, task_abort, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_submit(ex1, cft_task_count, &pk, sizeof pk, &after), CF_OK);
    cft_counter_await(&started, 1);
    CHECK(cf_future_cancel(f));
    o.tid = cft_gettid();
    o.gate = &gate;
    CHECK(pthread_create(&th, NULL, open_when_blocked, &o) == 0);
    CHECK_STATUS(cf_executor_shutdown(ex1, true, false), CF_OK);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(cf_future_exception(f, 0.0), CF_CANCELLED);
    CHECK_STATUS(cf_future_exception(after, 0.0), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&k), 1);
    CHECK_THREADS_BACK_TO(threads0);
    cf_executor_free(ex1);
    cf_future_free(blocker);
    cf_future_free(f);
    cf_future_free(after);
    cft_counter_destroy(&started);
    cft_counter_destroy(&k);
    cft_gate_destroy(&gate);
}

int main(void) {
    cft_baseline base = cft_begin("test_cancel");
    test_cancel_wakes_everyone();
    CHECK_THREADS_BACK_TO(base.threads);
    test_cancel_then_shutdown(base.threads);
    CFT_END(base);
    return 0;
}
