/* test_shutdown.c: cf_executor_shutdown and cf_executor_free.
 *
 * Catalogue rows (RELIABILITY.md section 2), thread pool side: BI05 submit after shutdown,
 * BI07 shutdown twice and from 8 threads at once, SD01 queued work at shutdown, TO14 and SD05
 * cancel_futures / cancel then shutdown, SD07 free with futures held elsewhere, RE06 shutdown
 * and free from inside a task, TO11 the 10 000 x {submit, cancel} storm, RE07 a task waiting
 * on its own one-thread pool. Every scenario checks the pool's threads are back to the
 * baseline (O5); main checks descriptors (O2); the runner's watchdog bounds time (O1). */
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

/* BI05: submit after shutdown gives CF_SHUTDOWN and runs nothing; shutdown twice is harmless. */
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

/* SD01: shutdown(wait=true) runs all queued work and joins the threads. Both threads are held
 * by gated tasks, so all 50 tasks are still queued when the shutdown starts; a helper opens the
 * gate once the shutdown is blocked. */
static void test_shutdown_wait(int threads0) {
    enum { N = 50 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter k, started;
    cf_future *fs[N], *gated[2];
    helper h;
    int i;
    cft_counter_init(&k);
    cft_counter_init(&started);
    cft_gate_init(&gate);
    gated[0] = cft_submit_gated(ex, &gate, &started, NULL);
    gated[1] = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 2);
    for (i = 0; i < N; i++) fs[i] = submit_count(ex, &k);
    CHECK_EQ_INT(cft_counter_get(&k), 0);
    helper_start(&h, &gate);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    helper_join(&h);
    CHECK_EQ_INT(cft_counter_get(&k), N);
    for (i = 0; i < 2; i++) {
        CHECK_STATUS(cf_future_exception(gated[i], 0.0), CF_OK);
        cf_future_free(gated[i]);
    }
    cft_gate_destroy(&gate);
    cft_counter_destroy(&started);
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

/* TO14: cancel_futures=true cancels everything queued (50 futures); the running task
 * finishes; cf_wait(ALL, CF_FOREVER) on them returns. */
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

/* SD07: cf_executor_free with futures held elsewhere: queued work runs, futures stay
 * readable. */
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

/* RE06 (thread side): free (or shutdown with wait) from inside a task of the same pool: no
 * deadlock; the shutdown returns CF_INVALID_ARGUMENT and the workers drain the queue. */
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

/* TO11 and SD05: 10 000 x {submit, cancel at once}, then shutdown(wait): every future ends
 * exactly cancelled or finished, and its callback ran exactly once (O6); the shutdown returns
 * (bounded by the runner's watchdog, O1). */
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

/* BI05 raced: submits racing a shutdown from other threads: each submit either gets CF_OK (and
 * its work is done when shutdown(wait=true) returns) or CF_SHUTDOWN. */
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

/* BI07: 8 threads call shutdown(wait=true) at once while both threads of the pool are held by
 * gated tasks and work is queued. Every call returns CF_OK, and each returns only once all the
 * work is done (CPython's shutdown joins every thread in every caller); the gate opens only
 * once the 8 are parked. Then free, and the threads are back to the baseline: one teardown. */
enum { SHUTTERS = 8, SHUT_QUEUED = 20 };

typedef struct shutter {
    cf_executor *ex;
    cf_future **fs;
    int n;
    cft_counter *ready;
    pid_t tid;
    int status;
    int undone_at_return; /* futures not done when its shutdown returned */
    pthread_t th;
} shutter;

static void *shutter_main(void *p) {
    shutter *s = p;
    int i;
    s->tid = cft_gettid();
    cft_counter_add(s->ready, 1);
    s->status = (int)cf_executor_shutdown(s->ex, true, false);
    s->undone_at_return = 0;
    for (i = 0; i < s->n; i++) s->undone_at_return += !cf_future_done(s->fs[i]);
    return NULL;
}

static void test_concurrent_shutdowns(int threads0) {
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter started, ready, k;
    cf_future *fs[2 + SHUT_QUEUED];
    shutter ss[SHUTTERS];
    int i, parked = 0;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&ready);
    cft_counter_init(&k);
    fs[0] = cft_submit_gated(ex, &gate, &started, NULL);
    fs[1] = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 2);
    for (i = 0; i < SHUT_QUEUED; i++) fs[2 + i] = submit_count(ex, &k);
    for (i = 0; i < SHUTTERS; i++) {
        ss[i].ex = ex;
        ss[i].fs = fs;
        ss[i].n = 2 + SHUT_QUEUED;
        ss[i].ready = &ready;
        ss[i].status = -1;
        ss[i].undone_at_return = -1;
        CHECK(pthread_create(&ss[i].th, NULL, shutter_main, &ss[i]) == 0);
    }
    cft_counter_await(&ready, SHUTTERS);
    /* A shutdown that returned early (without waiting) is gone from /proc and not parked. */
    for (i = 0; i < SHUTTERS; i++) parked += cft_wait_blocked(ss[i].tid);
    printf("concurrent shutdowns: %d of %d seen parked before the gate opened\n", parked,
           SHUTTERS);
    CHECK(!cf_future_done(fs[0]));
    cft_gate_open(&gate);
    for (i = 0; i < SHUTTERS; i++) {
        CHECK(pthread_join(ss[i].th, NULL) == 0);
        CHECK_STATUS(ss[i].status, CF_OK);
        if (ss[i].undone_at_return != 0)
            fprintf(stderr, "shutdown %d returned with %d futures not done\n", i,
                    ss[i].undone_at_return);
        CHECK_EQ_INT(ss[i].undone_at_return, 0);
    }
    CHECK_EQ_INT(cft_counter_get(&k), SHUT_QUEUED);
    /* The teardown is over: more shutdowns are harmless and return at once. */
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_STATUS(cf_executor_shutdown(ex, false, true), CF_OK);
    CHECK_THREADS_BACK_TO(threads0);
    cf_executor_free(ex);
    for (i = 0; i < 2 + SHUT_QUEUED; i++) {
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
    cft_counter_destroy(&ready);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* RE07: a task on a one-thread pool submits to its own pool and waits for that future with
 * timeout 1: the documented deadlock case gives CF_TIMEOUT (the only thread is the waiter);
 * the inner task then runs once the outer one returns, and the pool shuts down normally. */
typedef struct self_wait {
    cf_executor *ex;
    cft_counter *inner_ran;
    int submit_status;
    int wait_status;
    cf_future *inner;
} self_wait;

static int task_wait_on_own_pool(const void *arg, size_t len, cf_out *out) {
    self_wait *s;
    const void *data = NULL;
    size_t dlen = 0;
    (void)out;
    if (len != sizeof s) return 99;
    memcpy(&s, arg, sizeof s);
    s->submit_status = (int)cf_submit(s->ex, cft_task_count, &s->inner_ran,
                                      sizeof s->inner_ran, &s->inner);
    if (s->submit_status != CF_OK) return 98;
    s->wait_status = (int)cf_future_result(s->inner, 1.0, &data, &dlen);
    return 0;
}

static void test_task_waits_on_own_pool(int threads0) {
    cf_executor *ex = cft_pool(1);
    cft_counter inner_ran;
    self_wait s;
    self_wait *ps = &s;
    cf_future *f = NULL;
    cft_counter_init(&inner_ran);
    s.ex = ex;
    s.inner_ran = &inner_ran;
    s.submit_status = -1;
    s.wait_status = -1;
    s.inner = NULL;
    CHECK_STATUS(cf_submit(ex, task_wait_on_own_pool, &ps, sizeof ps, &f), CF_OK);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
    CHECK_STATUS(s.submit_status, CF_OK);
    CHECK_STATUS(s.wait_status, CF_TIMEOUT);
    /* The inner task runs once the thread is free; then the pool shuts down. */
    CHECK_STATUS(cf_future_exception(s.inner, CF_FOREVER), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&inner_ran), 1);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    cf_executor_free(ex);
    cf_future_free(s.inner);
    cf_future_free(f);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&inner_ran);
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
    test_concurrent_shutdowns(base.threads);
    test_task_waits_on_own_pool(base.threads);

    CFT_END(base);
    return 0;
}
