/* test_threads.c: many application threads on one executor.
 *
 * Catalogue row LD06 (RELIABILITY.md section 2): 10 threads mix submit, cancel, map, cf_wait
 * and as_completed on one thread pool, each on its own futures; then all 10 cancel the same
 * queued futures at once. Results are consistent and O6 holds: every future ends exactly one of
 * finished (its task ran once) or cancelled (its task never ran, and the cancel that did it
 * returned true), every done-callback ran exactly once, as_completed hands each future out
 * once, map gives its results in order. O2 and O5 at the end. */
#include "cftest.h"

enum { THREADS = 10, ROUNDS = 150, K = 8, MAP_N = 6 };

/* Per future: how often its task ran and its callback ran. */
typedef struct slot {
    int ran;
    int calls;
    bool cancel_ok;     /* a cancel of it returned true */
    cf_future *f;
} slot;

typedef struct worker_ctx {
    int id;
    cf_executor *ex;
    slot slots[K];
    cft_counter callbacks; /* callbacks run for this thread's futures, all rounds */
    long finished, cancelled;
    pthread_t th;
} worker_ctx;

static int task_run(const void *arg, size_t len, cf_out *out) {
    slot *s;
    if (len != sizeof s) return 99;
    memcpy(&s, arg, sizeof s);
    s->ran++;
    return cf_out_set(out, &s, sizeof s) == CF_OK ? 0 : 98;
}

typedef struct cb_arg {
    slot *s;
    cft_counter *k;
} cb_arg;

static void cb_done(cf_future *f, void *ud) {
    cb_arg *a = ud;
    (void)f;
    a->s->calls++;
    cft_counter_add(a->k, 1);
}

static int task_square(const void *arg, size_t len, cf_out *out) {
    int v;
    long long sq;
    if (len != sizeof v) return 99;
    memcpy(&v, arg, sizeof v);
    sq = (long long)v * v;
    return cf_out_set(out, &sq, sizeof sq) == CF_OK ? 0 : 98;
}

static void *worker_main(void *p) {
    worker_ctx *w = p;
    static cb_arg args[THREADS][K];
    long expected_callbacks = 0;
    int round, i;
    for (i = 0; i < K; i++) {
        args[w->id][i].s = &w->slots[i];
        args[w->id][i].k = &w->callbacks;
    }
    for (round = 0; round < ROUNDS; round++) {
        cf_future *fs[K];
        bool seen[K];
        cf_as_completed *it = NULL;
        cf_future *got = NULL;
        size_t idx = 0, n_done = 0;
        /* Submit K, with a callback each; cancel every third at once. */
        for (i = 0; i < K; i++) {
            slot *s = &w->slots[i];
            s->ran = 0;
            s->calls = 0;
            s->cancel_ok = false;
            s->f = NULL;
            CHECK_STATUS(cf_submit(w->ex, task_run, &s, sizeof s, &s->f), CF_OK);
            CHECK_STATUS(cf_future_add_done_callback(s->f, cb_done, &args[w->id][i]), CF_OK);
            fs[i] = s->f;
            if (i % 3 == 0) s->cancel_ok = cf_future_cancel(s->f);
        }
        expected_callbacks += K;
        /* A map meanwhile, results in order. */
        {
            int items[MAP_N];
            cf_map_iter *mi = NULL;
            const void *data = NULL;
            size_t len = 0;
            for (i = 0; i < MAP_N; i++) items[i] = w->id * 1000 + round + i;
            CHECK_STATUS(cf_map(w->ex, task_square, items, sizeof items[0], MAP_N, CF_FOREVER,
                                1, &mi),
                         CF_OK);
            for (i = 0; i < MAP_N; i++) {
                long long sq;
                CHECK_STATUS(cf_map_next(mi, &data, &len), CF_OK);
                CHECK_EQ_INT(len, sizeof sq);
                memcpy(&sq, data, sizeof sq);
                CHECK_EQ_INT(sq, (long long)items[i] * items[i]);
            }
            CHECK_STATUS(cf_map_next(mi, &data, &len), CF_DONE);
            cf_map_free(mi);
        }
        /* as_completed: each once, then wait ALL (already done). */
        memset(seen, 0, sizeof seen);
        CHECK_STATUS(cf_as_completed_new(fs, K, CF_FOREVER, &it), CF_OK);
        for (i = 0; i < K; i++) {
            CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
            CHECK(idx < K && got == fs[idx] && !seen[idx]);
            seen[idx] = true;
        }
        CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_DONE);
        cf_as_completed_free(it);
        CHECK_STATUS(cf_wait(fs, K, CF_FOREVER, CF_ALL_COMPLETED, NULL, &n_done), CF_OK);
        CHECK_EQ_INT(n_done, K);
        /* Callbacks may still be running on pool threads: wait for this round's. */
        cft_counter_await(&w->callbacks, expected_callbacks);
        for (i = 0; i < K; i++) {
            slot *s = &w->slots[i];
            const void *data = NULL;
            size_t len = 0;
            CHECK_EQ_INT(s->calls, 1);
            if (cf_future_cancelled(s->f)) {
                CHECK(s->cancel_ok);
                CHECK_EQ_INT(s->ran, 0);
                CHECK_STATUS(cf_future_result(s->f, 0.0, &data, &len), CF_CANCELLED);
                w->cancelled++;
            } else {
                CHECK(!s->cancel_ok);
                CHECK_EQ_INT(s->ran, 1);
                CHECK_STATUS(cf_future_result(s->f, 0.0, &data, &len), CF_OK);
                CHECK(len == sizeof s && memcmp(data, &s, sizeof s) == 0);
                w->finished++;
            }
            cf_future_free(s->f);
            s->f = NULL;
        }
    }
    return NULL;
}

/* Cancels racing on shared futures: 10 futures queued behind a gated task on a one-thread
 * pool; all 10 threads cancel all 10, each in its own order. Every cancel returns true (the
 * first cancels, the others find it cancelled) and each callback runs once. */
typedef struct shared_phase {
    cf_executor *ex1;
    cf_future *fs[THREADS];
    cft_counter calls;
    int results[THREADS][THREADS]; /* results[t][j]: thread t's cancel of fs[j] */
} shared_phase;

typedef struct canceller {
    shared_phase *sp;
    int id;
    pthread_t th;
} canceller;

static void *canceller_main(void *p) {
    canceller *c = p;
    int j;
    for (j = 0; j < THREADS; j++) {
        int k = (j + c->id) % THREADS; /* each thread in its own order */
        c->sp->results[c->id][k] = cf_future_cancel(c->sp->fs[k]) ? 1 : 0;
    }
    return NULL;
}

static void cb_count(cf_future *f, void *ud) {
    (void)f;
    cft_counter_add((cft_counter *)ud, 1);
}

static void test_shared_cancels(void) {
    static shared_phase sp;
    canceller cs[THREADS];
    cft_gate gate;
    cft_counter started;
    cf_future *blocker;
    int t, j;
    sp.ex1 = cft_pool(1);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&sp.calls);
    blocker = cft_submit_gated(sp.ex1, &gate, &started, NULL);
    cft_counter_await(&started, 1);
    for (j = 0; j < THREADS; j++) {
        sp.fs[j] = NULL;
        CHECK_STATUS(cf_submit(sp.ex1, cft_task_noop, NULL, 0, &sp.fs[j]), CF_OK);
        CHECK_STATUS(cf_future_add_done_callback(sp.fs[j], cb_count, &sp.calls), CF_OK);
    }
    for (t = 0; t < THREADS; t++) {
        cs[t].sp = &sp;
        cs[t].id = t;
        CHECK(pthread_create(&cs[t].th, NULL, canceller_main, &cs[t]) == 0);
    }
    for (t = 0; t < THREADS; t++) CHECK(pthread_join(cs[t].th, NULL) == 0);
    /* All queued behind the gate: every cancel from every thread returned true, and each
     * future's callback ran once. */
    for (t = 0; t < THREADS; t++)
        for (j = 0; j < THREADS; j++) CHECK_EQ_INT(sp.results[t][j], 1);
    CHECK_EQ_INT(cft_counter_get(&sp.calls), THREADS);
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    for (j = 0; j < THREADS; j++) {
        CHECK_STATUS(cf_future_exception(sp.fs[j], 0.0), CF_CANCELLED);
        cf_future_free(sp.fs[j]);
    }
    CHECK_EQ_INT(cft_counter_get(&sp.calls), THREADS);
    cf_future_free(blocker);
    cf_executor_free(sp.ex1);
    cft_counter_destroy(&started);
    cft_counter_destroy(&sp.calls);
    cft_gate_destroy(&gate);
}

int main(void) {
    cft_baseline base = cft_begin("test_threads");
    static worker_ctx ws[THREADS];
    cf_executor *ex = cft_pool(4);
    long finished = 0, cancelled = 0;
    int t;
    for (t = 0; t < THREADS; t++) {
        ws[t].id = t;
        ws[t].ex = ex;
        ws[t].finished = 0;
        ws[t].cancelled = 0;
        cft_counter_init(&ws[t].callbacks);
        CHECK(pthread_create(&ws[t].th, NULL, worker_main, &ws[t]) == 0);
    }
    for (t = 0; t < THREADS; t++) {
        CHECK(pthread_join(ws[t].th, NULL) == 0);
        finished += ws[t].finished;
        cancelled += ws[t].cancelled;
        CHECK_EQ_INT(cft_counter_get(&ws[t].callbacks), (long)ROUNDS * K);
        cft_counter_destroy(&ws[t].callbacks);
    }
    CHECK_EQ_INT(finished + cancelled, (long)THREADS * ROUNDS * K);
    printf("%d threads x %d rounds: %ld finished, %ld cancelled\n", THREADS, ROUNDS, finished,
           cancelled);
    cf_executor_free(ex);

    test_shared_cancels();
    CFT_END(base);
    return 0;
}
