/* test_shutdown.c: cf_executor_shutdown and cf_executor_free. */
#include "cftest.h"

typedef struct helper {
    pid_t tid;
    cft_gate *gate;
    pthread_t th;
} helper;

static void *helper_main(void *p) {
    helper *h = p;
    cft_wait_blocked(h->tid);
    cft_gate_open(h->gate);
    return NULL;
}

/* Opens `gate` once the calling thread is parked (e.g. in a shutdown that waits). */
static void helper_start(helper *h, cft_gate *gate) {
    h->tid = cft_gettid();
    h->gate = gate;
    CHECK(pthread_create(&h->th, NULL, helper_main, h) == 0);
}

static void helper_join(helper *h) { CHECK(pthread_join(h->th, NULL) == 0); }

static cf_future *submit_count(cf_executor *ex, cft_counter *k) {
    cf_future *f = NULL;
    CHECK_STATUS(cf_submit(ex, cft_task_count, &k, sizeof k, &f), CF_OK);
    return f;
}

static void test_submit_after_shutdown(int threads0) {
    cf_executor *ex = cft_pool(2);
    cf_future *f = (cf_future *)&f;
    cft_counter k;
    cft_counter_init(&k);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_SHUTDOWN);
    CHECK(cf_last_error()[0] != '\0');
    CHECK(f == (cf_future *)&f);
    /* Twice is harmless, in every combination. */
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_STATUS(cf_executor_shutdown(ex, false, true), CF_OK);
    CHECK_STATUS(cf_executor_shutdown(ex, true, true), CF_OK);
    CHECK_STATUS(cf_submit(ex, cft_task_count, &k, sizeof(cft_counter *), &f), CF_SHUTDOWN);
    cf_executor_free(ex);
    CHECK_EQ_INT(cft_counter_get(&k), 0);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
}

/* shutdown(wait=true) runs all queued work and joins the threads. */
static void test_shutdown_wait(int threads0) {
    enum { N = 50 };
    cf_executor *ex = cft_pool(2);
    cft_counter k;
    cf_future *fs[N];
    int i;
    cft_counter_init(&k);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&k), N);
    for (i = 0; i < N; i++) {
        CHECK(cf_future_done(fs[i]));
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    /* The workers have exited: threads back to the baseline before the executor is freed. */
    CHECK_THREADS_BACK_TO(threads0);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    cf_executor_free(ex);
    cft_counter_destroy(&k);
}

/* shutdown(wait=false) returns at once with work running; the work still completes. */
static void test_shutdown_nowait(int threads0) {
    enum { N = 10 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter started, k;
    cf_future *running, *fs[N];
    cf_future *late = (cf_future *)&late;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&k);
    running = cft_submit_gated(ex, &gate, &started, NULL);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    cft_counter_await(&started, 1);
    /* The gate is closed: a shutdown that waited would never return. */
    CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK);
    CHECK(!cf_future_done(running));
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &late), CF_SHUTDOWN);
    CHECK(late == (cf_future *)&late);
    /* Queued work still runs (the second thread may already be at it). */
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(running, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    for (i = 0; i < N; i++) {
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    CHECK_EQ_INT(cft_counter_get(&k), N);
    cf_future_free(running);
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* cancel_futures=true cancels everything queued; the running task finishes. */
static void test_cancel_futures(int threads0, bool wait) {
    enum { N = 50 };
    cf_executor *ex = cft_pool(1);
    cft_gate gate;
    cft_counter started, k;
    cf_future *running, *fs[N + 1];
    size_t n_done = 0;
    int i;
    helper h;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&k);
    running = cft_submit_gated(ex, &gate, &started, NULL);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    cft_counter_await(&started, 1);
    if (wait) {
        /* Waits for the running task: the helper opens its gate once we are blocked. */
        helper_start(&h, &gate);
        CHECK_STATUS(cf_executor_shutdown(ex, true, true), CF_OK);
        helper_join(&h);
        CHECK(cf_future_done(running));
        CHECK_THREADS_BACK_TO(threads0);
    } else {
        CHECK_STATUS(cf_executor_shutdown(ex, false, true), CF_OK);
        CHECK(!cf_future_done(running));
        CHECK(cf_future_running(running));
    }
    /* Every queued future is cancelled by the time shutdown returns. */
    for (i = 0; i < N; i++) {
        CHECK(cf_future_cancelled(fs[i]));
        CHECK(cf_future_done(fs[i]));
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_CANCELLED);
    }
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, N);
    if (!wait) cft_gate_open(&gate);
    fs[N] = running;
    CHECK_STATUS(cf_wait(fs, N + 1, CF_FOREVER, CF_ALL_COMPLETED, NULL, &n_done), CF_OK);
    CHECK_EQ_INT(n_done, N + 1);
    CHECK_STATUS(cf_future_exception(running, 0.0), CF_OK);
    for (i = 0; i <= N; i++) cf_future_free(fs[i]);
    cf_executor_free(ex);
    CHECK_EQ_INT(cft_counter_get(&k), 0);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* cf_executor_free with futures held elsewhere: queued work runs, futures stay readable. */
static void test_free_with_futures(int threads0) {
    enum { N = 20 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter started;
    cf_future *gated, *fs[N];
    char payload[N][48];
    helper h;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    gated = cft_submit_gated(ex, &gate, &started, NULL);
    for (i = 0; i < N; i++) {
        memset(payload[i], 'A' + i, sizeof payload[i]);
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_echo, payload[i], sizeof payload[i], &fs[i]), CF_OK);
    }
    cft_counter_await(&started, 1);
    /* Free waits for the queue: the helper releases the gated task once we are blocked. */
    helper_start(&h, &gate);
    cf_executor_free(ex);
    helper_join(&h);
    CHECK_THREADS_BACK_TO(threads0);
    CHECK(cf_future_done(gated));
    CHECK_STATUS(cf_future_exception(gated, 0.0), CF_OK);
    for (i = 0; i < N; i++) {
        const void *data = NULL;
        size_t len = 0;
        CHECK(cf_future_done(fs[i]));
        CHECK_STATUS(cf_future_result(fs[i], 0.0, &data, &len), CF_OK);
        CHECK_EQ_INT(len, sizeof payload[i]);
        CHECK(memcmp(data, payload[i], len) == 0);
        cf_future_free(fs[i]);
    }
    cf_future_free(gated);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* Free (or shutdown with wait) from inside a task of the same pool: no deadlock. */
typedef struct self_free {
    cf_executor *ex;
    cft_gate *gate; /* the task waits here before freeing, so work is still queued */
    int shutdown_status;
} self_free;

static int task_free_own_executor(const void *arg, size_t len, cf_out *out) {
    self_free *s;
    (void)out;
    if (len != sizeof s) return 99;
    memcpy(&s, arg, sizeof s);
    cft_gate_wait(s->gate);
    s->shutdown_status = (int)cf_executor_shutdown(s->ex, true, false);
    cf_executor_free(s->ex);
    return 0;
}

static void test_free_from_task(int threads0) {
    enum { N = 30 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter k;
    self_free s;
    self_free *ps = &s;
    cf_future *f = NULL, *fs[N];
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&k);
    s.ex = ex;
    s.gate = &gate;
    s.shutdown_status = -1;
    CHECK_STATUS(cf_submit(ex, task_free_own_executor, &ps, sizeof ps, &f), CF_OK);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    cft_gate_open(&gate);
    /* From here on ex belongs to the task (it frees it): only the futures are used. */
    ex = NULL;
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
    CHECK_STATUS(s.shutdown_status, CF_INVALID_ARGUMENT);
    /* The workers finish the queue on their own. */
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    for (i = 0; i < N; i++) {
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    CHECK_EQ_INT(cft_counter_get(&k), N);
    cf_future_free(f);
    /* Nobody joins those workers: they exit once the queue is drained. */
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
    cft_gate_destroy(&gate);
}

/* Free from inside a done-callback running in one of the pool's threads: no deadlock either. */
typedef struct cb_free_ex {
    cf_executor *ex;
    cft_counter done;
} cb_free_ex;

static void cb_free_executor(cf_future *f, void *ud) {
    cb_free_ex *c = ud;
    (void)f;
    cf_executor_free(c->ex);
    cft_counter_add(&c->done, 1);
}

static void test_free_from_callback(int threads0) {
    enum { N = 30 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter k;
    cb_free_ex c;
    cf_future *f, *fs[N];
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&k);
    cft_counter_init(&c.done);
    c.ex = ex;
    f = cft_submit_gated(ex, &gate, NULL, NULL);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_free_executor, &c), CF_OK);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    ex = NULL; /* the callback frees it */
    cft_gate_open(&gate);
    cft_counter_await(&c.done, 1);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    for (i = 0; i < N; i++) {
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    CHECK_EQ_INT(cft_counter_get(&k), N);
    CHECK_STATUS(cf_future_exception(f, 0.0), CF_OK);
    cf_future_free(f);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&c.done);
    cft_counter_destroy(&k);
    cft_gate_destroy(&gate);
}

/* 10 000 x {submit, cancel at once}, then shutdown(wait): every future ends exactly cancelled
 * or finished, and its callback ran exactly once. */
enum { STORM = 10000 };
static int storm_ran[STORM];
static int storm_calls[STORM];

static int task_storm(const void *arg, size_t len, cf_out *out) {
    int i;
    (void)out;
    if (len != sizeof i) return 99;
    memcpy(&i, arg, sizeof i);
    storm_ran[i]++;
    return 0;
}

static void cb_storm(cf_future *f, void *ud) {
    int *calls = ud;
    (void)f;
    (*calls)++;
}

static void test_cancel_storm(int threads0) {
    cf_executor *ex = cft_pool(4);
    static cf_future *fs[STORM];
    static bool cancel_ok[STORM];
    int i, n_cancelled = 0, n_finished = 0;
    for (i = 0; i < STORM; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, task_storm, &i, sizeof i, &fs[i]), CF_OK);
        CHECK_STATUS(cf_future_add_done_callback(fs[i], cb_storm, &storm_calls[i]), CF_OK);
        cancel_ok[i] = cf_future_cancel(fs[i]);
    }
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    for (i = 0; i < STORM; i++) {
        CHECK(cf_future_done(fs[i]));
        CHECK_EQ_INT(storm_calls[i], 1);
        if (cf_future_cancelled(fs[i])) {
            CHECK(cancel_ok[i]);
            CHECK_EQ_INT(storm_ran[i], 0);
            CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_CANCELLED);
            n_cancelled++;
        } else {
            CHECK(!cancel_ok[i]);
            CHECK_EQ_INT(storm_ran[i], 1);
            CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
            n_finished++;
        }
        cf_future_free(fs[i]);
    }
    CHECK_EQ_INT(n_cancelled + n_finished, STORM);
    printf("cancel storm: %d cancelled, %d finished\n", n_cancelled, n_finished);
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
}

/* Submits racing a shutdown from other threads: each submit either gets CF_OK (and its work
 * is done when shutdown(wait=true) returns) or CF_SHUTDOWN. */
enum { RACERS = 3, RACE_MAX = 20000 };

typedef struct racer {
    cf_executor *ex;
    cft_counter *ready;
    cf_future *fs[RACE_MAX];
    int n;
    int last_status;
    pthread_t th;
} racer;

static void *racer_main(void *p) {
    racer *r = p;
    int st = CF_OK;
    r->n = 0;
    while (r->n < RACE_MAX) {
        cf_future *f = NULL;
        st = (int)cf_submit(r->ex, cft_task_noop, NULL, 0, &f);
        if (st != CF_OK) break;
        r->fs[r->n++] = f;
        if (r->n == 100) cft_counter_add(r->ready, 1);
    }
    if (r->n < 100) cft_counter_add(r->ready, 1);
    r->last_status = st;
    return NULL;
}

static void test_submit_race(int threads0) {
    static racer rs[RACERS];
    cf_executor *ex = cft_pool(2);
    cft_counter ready;
    int i, j;
    cft_counter_init(&ready);
    for (i = 0; i < RACERS; i++) {
        rs[i].ex = ex;
        rs[i].ready = &ready;
        CHECK(pthread_create(&rs[i].th, NULL, racer_main, &rs[i]) == 0);
    }
    cft_counter_await(&ready, RACERS);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    for (i = 0; i < RACERS; i++) {
        CHECK(pthread_join(rs[i].th, NULL) == 0);
        if (rs[i].n < RACE_MAX) CHECK_STATUS(rs[i].last_status, CF_SHUTDOWN);
        /* Every accepted submit was accepted before the shutdown, so its work was done
         * before shutdown(wait=true) returned: nothing runs it any more. */
        for (j = 0; j < rs[i].n; j++) {
            CHECK(cf_future_done(rs[i].fs[j]));
            CHECK_STATUS(cf_future_exception(rs[i].fs[j], 0.0), CF_OK);
            cf_future_free(rs[i].fs[j]);
        }
    }
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&ready);
}

int main(void) {
    cft_baseline base;
    base = cft_begin("test_shutdown");

    test_submit_after_shutdown(base.threads);
    test_shutdown_wait(base.threads);
    test_shutdown_nowait(base.threads);
    test_cancel_futures(base.threads, false);
    test_cancel_futures(base.threads, true);
    test_free_with_futures(base.threads);
    test_free_from_task(base.threads);
    test_free_from_callback(base.threads);
    test_cancel_storm(base.threads);
    test_submit_race(base.threads);

    CFT_END(base);
    return 0;
}
