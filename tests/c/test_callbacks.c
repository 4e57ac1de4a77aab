/* test_callbacks.c: done-callbacks run once, in order, in the completing thread (or at once in
 * the caller), and may call back into cfutures.
 *
 * Catalogue rows (RELIABILITY.md section 2): RE01 callback on an already-done future (success,
 * failure, cancel), RE02 callbacks that submit (chains of 100, 50 and 60), RE03 a callback that
 * frees its future, RE04 a callback that waits on or cancels its own future, RE05 shutdown from
 * a callback, RE08 exactly once (1000 callbacks; the racing version is in tests/rust_api.rs and
 * tests/loom.rs), RE09 a blocked callback delays no other future. Callback counters check O6;
 * main checks threads and descriptors (O2, O5). */
#include "cftest.h"

#define MAXREC 1100

/* What callbacks saw. */
typedef struct rec {
    pthread_mutex_t m;
    int n;
    int order[MAXREC];
    pthread_t thread[MAXREC];
    cf_future *future[MAXREC];
    int calls[MAXREC]; /* per callback id */
    cft_counter count; /* callbacks run so far */
} rec;

static void rec_init(rec *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->m, NULL);
    cft_counter_init(&r->count);
}

static void rec_destroy(rec *r) {
    pthread_mutex_destroy(&r->m);
    cft_counter_destroy(&r->count);
}

typedef struct cbarg {
    rec *r;
    int id;
} cbarg;

static void cb_record(cf_future *f, void *ud) {
    cbarg *a = ud;
    rec *r = a->r;
    pthread_mutex_lock(&r->m);
    if (r->n < MAXREC) {
        r->order[r->n] = a->id;
        r->thread[r->n] = pthread_self();
        r->future[r->n] = f;
        r->n++;
    }
    r->calls[a->id]++;
    pthread_mutex_unlock(&r->m);
    cft_counter_add(&r->count, 1);
}

/* A task that records the thread running it, then blocks on a gate. */
typedef struct self_arg {
    cft_gate *gate;
    pthread_t *self;
    cft_counter *started;
} self_arg;

static int task_self(const void *arg, size_t len, cf_out *out) {
    self_arg a;
    (void)out;
    if (len != sizeof a) return 99;
    memcpy(&a, arg, sizeof a);
    *a.self = pthread_self();
    if (a.started) cft_counter_add(a.started, 1);
    if (a.gate) cft_gate_wait(a.gate);
    return 0;
}

/* Callbacks run exactly once, in the order added, in the thread that completes the future. */
static void test_order_and_thread(cf_executor *ex) {
    enum { N = 1000 };
    static cbarg args[N];
    static rec r;
    cft_gate gate;
    pthread_t task_thread;
    self_arg sa;
    cf_future *f = NULL;
    int i;

    rec_init(&r);
    cft_gate_init(&gate);
    sa.gate = &gate;
    sa.self = &task_thread;
    sa.started = NULL;
    CHECK_STATUS(cf_submit(ex, task_self, &sa, sizeof sa, &f), CF_OK);
    for (i = 0; i < N; i++) {
        args[i].r = &r;
        args[i].id = i;
        CHECK_STATUS(cf_future_add_done_callback(f, cb_record, &args[i]), CF_OK);
    }
    CHECK_EQ_INT(cft_counter_get(&r.count), 0);
    cft_gate_open(&gate);
    cft_counter_await(&r.count, N);
    for (i = 0; i < N; i++) {
        CHECK_EQ_INT(r.order[i], i);
        CHECK_EQ_INT(r.calls[i], 1);
        CHECK(r.future[i] == f);
        CHECK(pthread_equal(r.thread[i], task_thread));
        CHECK(!pthread_equal(r.thread[i], pthread_self()));
    }
    CHECK(cf_future_done(f));

    /* Already done: the callback runs at once, in this thread, before the call returns. */
    {
        cbarg late;
        late.r = &r;
        late.id = N + 1;
        CHECK_STATUS(cf_future_add_done_callback(f, cb_record, &late), CF_OK);
        CHECK_EQ_INT(cft_counter_get(&r.count), N + 1);
        CHECK_EQ_INT(r.calls[N + 1], 1);
        CHECK(pthread_equal(r.thread[N], pthread_self()));
        CHECK(r.future[N] == f);
        /* NULL fn fails and calls nothing, also on a done future. */
        CHECK_STATUS(cf_future_add_done_callback(f, NULL, &late), CF_INVALID_ARGUMENT);
        CHECK(cf_last_error()[0] != '\0');
        CHECK_EQ_INT(cft_counter_get(&r.count), N + 1);
    }
    cf_future_free(f);
    /* Nothing ran twice. */
    for (i = 0; i < N; i++) CHECK_EQ_INT(r.calls[i], 1);
    cft_gate_destroy(&gate);
    rec_destroy(&r);
}

/* The task fails: callbacks still run once, and see the failure. */
static int task_fail7(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    return 7;
}

typedef struct seen_status {
    int status;
    int code;
    cft_counter done;
} seen_status;

static void cb_status(cf_future *f, void *ud) {
    seen_status *s = ud;
    s->status = (int)cf_future_exception(f, 0.0);
    s->code = cf_future_error_code(f);
    cft_counter_add(&s->done, 1);
}

static void test_failed_future(cf_executor *ex) {
    seen_status s;
    cf_future *f = NULL;
    s.status = -1;
    s.code = -1;
    cft_counter_init(&s.done);
    CHECK_STATUS(cf_submit(ex, task_fail7, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_status, &s), CF_OK);
    cft_counter_await(&s.done, 1);
    CHECK_STATUS(s.status, CF_TASK_FAILED);
    CHECK_EQ_INT(s.code, 7);
    cf_future_free(f);
    cft_counter_destroy(&s.done);
}

/* A cancel runs the callbacks in the cancelling thread, before cf_future_cancel returns. */
typedef struct canceller {
    cf_future *f;
    rec *r;
    bool cancelled;
    long count_after;
} canceller;

static void *cancel_thread(void *p) {
    canceller *c = p;
    c->cancelled = cf_future_cancel(c->f);
    c->count_after = cft_counter_get(&c->r->count);
    return NULL;
}

static void test_cancel_thread(cf_executor *ex1) {
    rec r;
    cbarg a[3];
    cft_gate gate;
    cft_counter started;
    cf_future *blocker, *f;
    canceller c;
    pthread_t th;
    int i;

    rec_init(&r);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    f = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);
    for (i = 0; i < 3; i++) {
        a[i].r = &r;
        a[i].id = i;
        CHECK_STATUS(cf_future_add_done_callback(f, cb_record, &a[i]), CF_OK);
    }
    c.f = f;
    c.r = &r;
    c.cancelled = false;
    c.count_after = -1;
    CHECK(pthread_create(&th, NULL, cancel_thread, &c) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(c.cancelled);
    CHECK_EQ_INT(c.count_after, 3);
    for (i = 0; i < 3; i++) {
        CHECK_EQ_INT(r.order[i], i);
        CHECK(pthread_equal(r.thread[i], th));
        CHECK_EQ_INT(r.calls[i], 1);
    }
    /* A second cancel runs nothing again. */
    CHECK(cf_future_cancel(f));
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_CANCELLED);
    CHECK_EQ_INT(cft_counter_get(&r.count), 3);
    cf_future_free(blocker);
    cf_future_free(f);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
    rec_destroy(&r);
}

/* RE02, re-entrant callback 1: submits new work to the same executor. */
typedef struct resubmit {
    cf_executor *ex;
    cft_counter *work;
    cf_future *submitted;
    int status;
    pthread_t thread;
    cft_counter done;
} resubmit;

static void cb_resubmit(cf_future *f, void *ud) {
    resubmit *s = ud;
    (void)f;
    s->thread = pthread_self();
    s->status = (int)cf_submit(s->ex, cft_task_count, &s->work, sizeof s->work, &s->submitted);
    cft_counter_add(&s->done, 1);
}

static void test_callback_submits(cf_executor *ex) {
    resubmit s;
    cft_counter work;
    cf_future *f = NULL;
    cft_counter_init(&work);
    cft_counter_init(&s.done);
    s.ex = ex;
    s.work = &work;
    s.submitted = NULL;
    s.status = -1;
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_resubmit, &s), CF_OK);
    cft_counter_await(&s.done, 1);
    CHECK_STATUS(s.status, CF_OK);
    CHECK(s.submitted != NULL);
    CHECK_STATUS(cf_future_exception(s.submitted, CF_FOREVER), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&work), 1);
    cf_future_free(s.submitted);
    cf_future_free(f);
    cft_counter_destroy(&work);
    cft_counter_destroy(&s.done);
}

/* Re-entrant callback 2: cancels another future (queued behind, on a one-thread pool). */
typedef struct cancel_other {
    cf_future *other;
    bool result;
    cft_counter done;
} cancel_other;

static void cb_cancel_other(cf_future *f, void *ud) {
    cancel_other *c = ud;
    (void)f;
    c->result = cf_future_cancel(c->other);
    cft_counter_add(&c->done, 1);
}

static void test_callback_cancels(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started, work;
    cf_future *first, *second = NULL;
    cancel_other c;
    rec r;
    cbarg a;
    cft_counter *pk = &work;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&work);
    cft_counter_init(&c.done);
    rec_init(&r);
    first = cft_submit_gated(ex1, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex1, cft_task_count, &pk, sizeof pk, &second), CF_OK);
    c.other = second;
    c.result = false;
    a.r = &r;
    a.id = 0;
    CHECK_STATUS(cf_future_add_done_callback(first, cb_cancel_other, &c), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(second, cb_record, &a), CF_OK);
    cft_counter_await(&started, 1);
    cft_gate_open(&gate);
    cft_counter_await(&c.done, 1);
    /* The only thread was busy running first's callbacks: second had not started. */
    CHECK(c.result);
    CHECK(cf_future_cancelled(second));
    CHECK_STATUS(cf_future_exception(second, CF_FOREVER), CF_CANCELLED);
    /* second's own callback ran once, in the cancelling thread (the pool's). */
    CHECK_EQ_INT(cft_counter_get(&r.count), 1);
    CHECK(!pthread_equal(r.thread[0], pthread_self()));
    /* Its task never runs: a later task on the same thread proves the queue moved past it. */
    {
        cf_future *probe = NULL;
        CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &probe), CF_OK);
        CHECK_STATUS(cf_future_exception(probe, CF_FOREVER), CF_OK);
        cf_future_free(probe);
    }
    CHECK_EQ_INT(cft_counter_get(&work), 0);
    cf_future_free(first);
    cf_future_free(second);
    rec_destroy(&r);
    cft_counter_destroy(&c.done);
    cft_counter_destroy(&started);
    cft_counter_destroy(&work);
    cft_gate_destroy(&gate);
}

/* RE03, re-entrant callback 3: frees the future it was given (it was given a reference). Also
 * calls other functions on the future first. A callback added after it still runs. */
typedef struct freer {
    int status;
    bool done;
    cft_counter count;
} freer;

static void cb_free(cf_future *f, void *ud) {
    freer *s = ud;
    const void *data = NULL;
    size_t len = 0;
    s->status = (int)cf_future_result(f, 0.0, &data, &len);
    s->done = cf_future_done(f);
    cf_future_free(f); /* the reference main handed over */
    cft_counter_add(&s->count, 1);
}

static void test_callback_frees(cf_executor *ex) {
    cft_gate gate;
    cft_counter started;
    freer s;
    cf_future *f;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&s.count);
    s.status = -1;
    s.done = false;
    /* Pending at add time: the callback runs in the pool thread after main freed its own
     * reference, so the callback drops the last reference users hold. */
    f = cft_submit_gated(ex, &gate, &started, NULL);
    CHECK_STATUS(cf_future_add_done_callback(cf_future_retain(f), cb_free, &s), CF_OK);
    {
        /* A later callback on the same future: it runs after the one that dropped the last
         * user reference (the completer keeps the future alive while callbacks run). */
        static rec r;
        static cbarg later;
        rec_init(&r);
        later.r = &r;
        later.id = 0;
        CHECK_STATUS(cf_future_add_done_callback(f, cb_record, &later), CF_OK);
        cf_future_free(f);
        cft_gate_open(&gate);
        cft_counter_await(&s.count, 1);
        cft_counter_await(&r.count, 1);
        CHECK_EQ_INT(r.calls[0], 1);
        rec_destroy(&r);
    }
    CHECK_STATUS(s.status, CF_OK);
    CHECK(s.done);
    /* Already done at add time: the callback runs at once in this thread and frees. */
    for (i = 0; i < 10; i++) {
        f = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        CHECK_STATUS(cf_future_add_done_callback(f, cb_free, &s), CF_OK); /* takes main's ref */
        CHECK_EQ_INT(cft_counter_get(&s.count), 2 + i);
    }
    cft_counter_destroy(&started);
    cft_counter_destroy(&s.count);
    cft_gate_destroy(&gate);
}

/* RE05, re-entrant callback 4: shutdown(wait=true) from inside a pool thread must not
 * deadlock; it returns CF_INVALID_ARGUMENT, and the shutdown has started. */
typedef struct shutter {
    cf_executor *ex;
    int status_wait;
    int status_nowait;
    int submit_after;
    char message[256];
    pthread_t thread;
    cft_counter done;
} shutter;

static void cb_shutdown(cf_future *f, void *ud) {
    shutter *s = ud;
    cf_future *g = NULL;
    (void)f;
    s->thread = pthread_self();
    s->status_wait = (int)cf_executor_shutdown(s->ex, true, false);
    snprintf(s->message, sizeof s->message, "%s", cf_last_error());
    s->status_nowait = (int)cf_executor_shutdown(s->ex, false, false);
    s->submit_after = (int)cf_submit(s->ex, cft_task_noop, NULL, 0, &g);
    if (g) cf_future_free(g);
    cft_counter_add(&s->done, 1);
}

static void test_callback_shutdown(void) {
    cf_executor *ex = cft_pool(2);
    shutter s;
    cf_future *f = NULL, *queued = NULL;
    cft_gate gate;
    cft_counter started;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&s.done);
    s.ex = ex;
    s.status_wait = -1;
    s.status_nowait = -1;
    s.submit_after = -1;
    s.message[0] = 0;
    f = cft_submit_gated(ex, &gate, &started, NULL);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_shutdown, &s), CF_OK);
    cft_counter_await(&started, 1);
    /* Queued work still runs after a shutdown without cancel_futures. */
    queued = cft_submit_gated(ex, &gate, NULL, NULL);
    cft_gate_open(&gate);
    cft_counter_await(&s.done, 1);
    CHECK(!pthread_equal(s.thread, pthread_self()));
    CHECK_STATUS(s.status_wait, CF_INVALID_ARGUMENT);
    CHECK(s.message[0] != '\0');
    CHECK_STATUS(s.status_nowait, CF_OK);
    CHECK_STATUS(s.submit_after, CF_SHUTDOWN);
    CHECK_STATUS(cf_future_exception(queued, CF_FOREVER), CF_OK);
    {
        cf_future *g = (cf_future *)&g;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &g), CF_SHUTDOWN);
        CHECK(g == (cf_future *)&g);
    }
    cf_future_free(f);
    cf_future_free(queued);
    cf_executor_free(ex);
    cft_counter_destroy(&s.done);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* Re-entrant callback 5: adds another callback to its own (done) future, which runs at once,
 * nested, in the same thread. */
typedef struct nester {
    rec *r;
    cbarg inner;
    int status;
    long count_after; /* inner callbacks run when add_done_callback returned */
    cft_counter done;
} nester;

static void cb_nest(cf_future *f, void *ud) {
    nester *n = ud;
    n->status = (int)cf_future_add_done_callback(f, cb_record, &n->inner);
    n->count_after = cft_counter_get(&n->r->count);
    cft_counter_add(&n->done, 1);
}

static void test_callback_nested(cf_executor *ex) {
    rec r;
    nester n;
    cf_future *f = NULL;
    rec_init(&r);
    n.r = &r;
    n.inner.r = &r;
    n.inner.id = 5;
    n.status = -1;
    n.count_after = -1;
    cft_counter_init(&n.done);
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_nest, &n), CF_OK);
    cft_counter_await(&n.done, 1);
    CHECK_STATUS(n.status, CF_OK);
    /* The nested callback ran at once, inside the outer one, in the same thread. */
    CHECK_EQ_INT(n.count_after, 1);
    CHECK_EQ_INT(r.calls[5], 1);
    cf_future_free(f);
    cft_counter_destroy(&n.done);
    rec_destroy(&r);
}

/* RE01: a callback added to an already-done future runs at once, in the caller, exactly once:
 * after a success, a failure and a cancel. */
static void test_already_done(cf_executor *ex1) {
    rec r;
    cbarg a[3];
    cft_gate gate;
    cft_counter started;
    cf_future *ok = NULL, *failed = NULL, *blocker, *cancelled;
    int i;
    rec_init(&r);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &ok), CF_OK);
    CHECK_STATUS(cf_future_exception(ok, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_submit(ex1, task_fail7, NULL, 0, &failed), CF_OK);
    CHECK_STATUS(cf_future_exception(failed, CF_FOREVER), CF_TASK_FAILED);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    cancelled = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);
    CHECK(cf_future_cancel(cancelled));
    {
        cf_future *done[3];
        done[0] = ok;
        done[1] = failed;
        done[2] = cancelled;
        for (i = 0; i < 3; i++) {
            a[i].r = &r;
            a[i].id = i;
            CHECK_STATUS(cf_future_add_done_callback(done[i], cb_record, &a[i]), CF_OK);
            /* Ran before add_done_callback returned, in this thread. */
            CHECK_EQ_INT(cft_counter_get(&r.count), i + 1);
            CHECK_EQ_INT(r.calls[i], 1);
            CHECK(pthread_equal(r.thread[i], pthread_self()));
            CHECK(r.future[i] == done[i]);
        }
    }
    /* Nothing runs them again: not the blocker finishing, not another cancel. */
    CHECK(cf_future_cancel(cancelled));
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    for (i = 0; i < 3; i++) CHECK_EQ_INT(r.calls[i], 1);
    CHECK_EQ_INT(cft_counter_get(&r.count), 3);
    cf_future_free(ok);
    cf_future_free(failed);
    cf_future_free(blocker);
    cf_future_free(cancelled);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
    rec_destroy(&r);
}

/* RE02: chains of callbacks that submit: each link's callback submits the next link, to a
 * depth of 100, 50 and 60, three chains at once. All finish (bounded by the watchdog, O1);
 * every link ran exactly once and its callback ran exactly once. */
enum { CHAIN_MAX = 100 };

typedef struct chain {
    cf_executor *ex;
    int depth;               /* links wanted */
    int ran[CHAIN_MAX];      /* per link: task runs */
    int calls[CHAIN_MAX];    /* per link: callback runs */
    cf_future *fs[CHAIN_MAX];
    int submit_failures;
    cft_counter done;        /* 1 once the last link's callback ran */
} chain;

typedef struct link_arg {
    chain *c;
    int i;
} link_arg;

static void cb_next_link(cf_future *f, void *ud);

static int task_link(const void *arg, size_t len, cf_out *out) {
    link_arg a;
    (void)out;
    if (len != sizeof a) return 99;
    memcpy(&a, arg, sizeof a);
    a.c->ran[a.i]++;
    return 0;
}

/* Submits link i of chain c and adds the callback that submits link i + 1. */
static void submit_link(chain *c, int i) {
    link_arg a;
    cf_future *f = NULL;
    a.c = c;
    a.i = i;
    if (cf_submit(c->ex, task_link, &a, sizeof a, &f) != CF_OK) {
        c->submit_failures++;
        cft_counter_add(&c->done, 1);
        return;
    }
    c->fs[i] = f;
    /* user_data: the link's index inside its chain, recovered from the pointer. */
    if (cf_future_add_done_callback(f, cb_next_link, &c->calls[i]) != CF_OK) {
        c->submit_failures++;
        cft_counter_add(&c->done, 1);
    }
}

static chain *g_chains[3];

static void cb_next_link(cf_future *f, void *ud) {
    int *calls = ud;
    int k;
    (void)f;
    (*calls)++;
    for (k = 0; k < 3; k++) {
        chain *c = g_chains[k];
        if (calls >= c->calls && calls < c->calls + CHAIN_MAX) {
            int i = (int)(calls - c->calls);
            if (i + 1 < c->depth)
                submit_link(c, i + 1);
            else
                cft_counter_add(&c->done, 1);
            return;
        }
    }
}

static void test_callback_chains(cf_executor *ex, cf_executor *ex1) {
    static chain chains[3];
    static const int depths[3] = {100, 50, 60};
    int k, i;
    for (k = 0; k < 3; k++) {
        chain *c = &chains[k];
        memset(c->ran, 0, sizeof c->ran);
        memset(c->calls, 0, sizeof c->calls);
        memset(c->fs, 0, sizeof c->fs);
        c->ex = k == 1 ? ex1 : ex;
        c->depth = depths[k];
        c->submit_failures = 0;
        cft_counter_init(&c->done);
        g_chains[k] = c;
    }
    for (k = 0; k < 3; k++) submit_link(&chains[k], 0);
    for (k = 0; k < 3; k++) {
        chain *c = &chains[k];
        cft_counter_await(&c->done, 1);
        CHECK_EQ_INT(c->submit_failures, 0);
        for (i = 0; i < c->depth; i++) {
            CHECK_EQ_INT(c->ran[i], 1);
            CHECK_EQ_INT(c->calls[i], 1);
            CHECK(c->fs[i] != NULL);
            CHECK_STATUS(cf_future_exception(c->fs[i], 0.0), CF_OK);
            cf_future_free(c->fs[i]);
        }
        for (; i < CHAIN_MAX; i++) CHECK(c->fs[i] == NULL);
        cft_counter_destroy(&c->done);
    }
}

/* RE04: a callback waits on its own future (result with CF_FOREVER, cf_wait, exception),
 * cancels it and adds to it: everything returns at once (CF_OK, CF_OK, false), since no lock is
 * held while callbacks run. Once run by the completing pool thread, once at once in main. */
typedef struct self_waiter {
    int result_status;
    size_t result_len;
    int wait_status;
    size_t n_done;
    int exception_status;
    bool cancel_result;
    cft_counter done;
} self_waiter;

static void cb_wait_own(cf_future *f, void *ud) {
    self_waiter *w = ud;
    const void *data = NULL;
    cf_future *fs[2];
    fs[0] = f;
    fs[1] = f;
    w->result_len = 99;
    w->result_status = (int)cf_future_result(f, CF_FOREVER, &data, &w->result_len);
    w->wait_status = (int)cf_wait(fs, 2, CF_FOREVER, CF_ALL_COMPLETED, NULL, &w->n_done);
    w->exception_status = (int)cf_future_exception(f, CF_FOREVER);
    w->cancel_result = cf_future_cancel(f);
    cft_counter_add(&w->done, 1);
}

static void check_self_waiter(self_waiter *w) {
    CHECK_STATUS(w->result_status, CF_OK);
    CHECK_EQ_INT(w->result_len, 5);
    CHECK_STATUS(w->wait_status, CF_OK);
    CHECK_EQ_INT(w->n_done, 1);
    CHECK_STATUS(w->exception_status, CF_OK);
    CHECK(!w->cancel_result);
}

static void test_callback_waits_on_own_future(cf_executor *ex1) {
    self_waiter w;
    cft_gate gate;
    cft_counter started;
    cf_future *f = NULL, *blocker;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&w.done);
    /* Pending at add (queued behind a gated task on a one-thread pool): the completing pool
     * thread runs the callback. */
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex1, cft_task_echo, "hello", 5, &f), CF_OK);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_wait_own, &w), CF_OK);
    cft_gate_open(&gate);
    cft_counter_await(&w.done, 1);
    check_self_waiter(&w);
    /* Already done: runs at once in this thread. */
    CHECK_STATUS(cf_future_add_done_callback(f, cb_wait_own, &w), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&w.done), 2);
    check_self_waiter(&w);
    CHECK(!cf_future_cancelled(f));
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    cf_future_free(blocker);
    cf_future_free(f);
    cft_counter_destroy(&w.done);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* RE09 (thread side): a callback that blocks (on a gate, standing in for a slow one) holds only
 * the thread that runs it: the future itself is already done for every waiter, and other work
 * runs on another thread meanwhile: a single submit made while the callback blocks starts a
 * thread (the pool has room) instead of queueing behind the callback. That one is checked with
 * a generous bounded wait (30 s) so that the failure names the cause. */
typedef struct blocker_cb {
    cft_gate *gate;
    cft_counter *entered;
} blocker_cb;

static void cb_block(cf_future *f, void *ud) {
    blocker_cb *b = ud;
    (void)f;
    cft_counter_add(b->entered, 1);
    cft_gate_wait(b->gate);
}

static void test_blocked_callback(void) {
    enum { N = 200 };
    cf_executor *ex = cft_pool(2);
    cft_gate gate, task_gate;
    cft_counter entered, started, k;
    blocker_cb b;
    cf_future *f, *fs[N];
    const void *data = NULL;
    size_t len = 0;
    int i;
    cft_gate_init(&gate);
    cft_gate_init(&task_gate);
    cft_counter_init(&entered);
    cft_counter_init(&started);
    cft_counter_init(&k);
    b.gate = &gate;
    b.entered = &entered;
    f = cft_submit_gated(ex, &task_gate, &started, NULL);
    cft_counter_await(&started, 1);
    CHECK_STATUS(cf_future_add_done_callback(f, cb_block, &b), CF_OK);
    cft_gate_open(&task_gate);
    cft_counter_await(&entered, 1);
    /* The callback is blocked: the future is done for waiters all the same. */
    CHECK(cf_future_done(f));
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_STATUS(cf_wait(&f, 1, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    /* One submit: the thread running the callback is not idle, so a second thread starts. */
    {
        cf_future *g = NULL;
        int st;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &g), CF_OK);
        st = (int)cf_future_exception(g, 30.0);
        if (st == CF_TIMEOUT)
            fprintf(stderr, "a task submitted while a done-callback blocked waited behind it, "
                            "although the pool had room for another thread\n");
        CHECK_STATUS(st, CF_OK);
        cf_future_free(g);
    }
    /* Many more: they all complete on the other thread (a hang here: the watchdog). */
    for (i = 0; i < N; i++) {
        cft_counter *pk = &k;
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_count, &pk, sizeof pk, &fs[i]), CF_OK);
    }
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&k), N);
    cft_gate_open(&gate);
    for (i = 0; i < N; i++) cf_future_free(fs[i]);
    cf_future_free(f);
    cf_executor_free(ex);
    cft_counter_destroy(&entered);
    cft_counter_destroy(&started);
    cft_counter_destroy(&k);
    cft_gate_destroy(&gate);
    cft_gate_destroy(&task_gate);
}

int main(void) {
    cft_baseline base;
    cf_executor *ex, *ex1;
    base = cft_begin("test_callbacks");

    ex = cft_pool(4);
    ex1 = cft_pool(1);

    /* NULL fn on a pending future: CF_INVALID_ARGUMENT, and nothing is ever called. */
    {
        cft_gate gate;
        cf_future *f;
        cft_gate_init(&gate);
        f = cft_submit_gated(ex, &gate, NULL, NULL);
        CHECK_STATUS(cf_future_add_done_callback(f, NULL, NULL), CF_INVALID_ARGUMENT);
        cft_gate_open(&gate);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
        cft_gate_destroy(&gate);
    }

    test_order_and_thread(ex);
    test_failed_future(ex);
    test_cancel_thread(ex1);
    test_callback_submits(ex);
    test_callback_submits(ex1);
    test_callback_cancels(ex1);
    test_callback_frees(ex);
    test_callback_shutdown();
    test_callback_nested(ex);
    test_already_done(ex1);
    test_callback_chains(ex, ex1);
    test_callback_waits_on_own_future(ex1);
    test_blocked_callback();

    cf_executor_free(ex);
    cf_executor_free(ex1);
    CFT_END(base);
    return 0;
}
