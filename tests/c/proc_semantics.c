/*
 * proc_semantics.c: the thread-pool semantics, against the process pool (start method from
 * argv[1]): results (small, 1 MiB, 64 MiB, 256 MiB), failures, states, cancel, wait, as_completed,
 * map, callbacks, shutdown, defaults, lazy start, initializers.
 *
 * Ordering is made deterministic with max_workers=1 wherever a test depends on which task
 * runs when; tasks that must stay running block on a gate FIFO the test controls.
 */
#define _GNU_SOURCE
#include "proctest.h"

/* ---- results ------------------------------------------------------------------------------ */

static void check_big(cf_executor *ex, uint64_t n) {
    size_t len = 0;
    const uint8_t *p;
    uint64_t i;
    cf_future *f = pt_submit(ex, pt_big, &n, sizeof n);
    p = (const uint8_t *)pt_ok(f, &len);
    CHECK_EQ_INT(len, n);
    CHECK(((uintptr_t)p % 16) == 0);
    for (i = 0; i < n; i++) {
        if (p[i] != pt_pattern(i)) {
            fprintf(stderr, "byte %llu of a %llu-byte result: %u, expected %u\n",
                    (unsigned long long)i, (unsigned long long)n, p[i], pt_pattern(i));
            CHECK(!"big result intact");
        }
    }
    cf_future_free(f);
}

static void results(void) {
    pt_base b = pt_begin("results: small, empty, 1, 64 and 256 MiB results, 8 MiB argument");
    cf_executor *ex = pt_new(2);
    const void *d;
    size_t n;
    int64_t x = 7, y = 0;
    cf_future *f, *g, *e;
    uint8_t *big;
    uint64_t sum = 0, got[2];
    size_t i, big_len = (size_t)8 << 20;

    f = pt_submit(ex, pt_echo, "hello", 5);
    g = pt_submit(ex, pt_square, &x, sizeof x);
    e = pt_submit(ex, pt_echo, NULL, 0);
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(d, "hello", 5) == 0);
    /* The same bytes again (BI13). */
    CHECK_STATUS(cf_future_result(f, 0.0, &d, &n), CF_OK);
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(d, "hello", 5) == 0);
    d = pt_ok(g, &n);
    CHECK_EQ_INT(n, sizeof y);
    memcpy(&y, d, sizeof y);
    CHECK_EQ_INT(y, 49);
    pt_ok(e, &n);
    CHECK_EQ_INT(n, 0);
    cf_future_free(f);
    cf_future_free(g);
    cf_future_free(e);

    check_big(ex, 1000);
    check_big(ex, (uint64_t)1 << 20);
    check_big(ex, (uint64_t)64 << 20);
    check_big(ex, (uint64_t)256 << 20); /* issue 3: results of any size, tested to 256 MiB */

    big = (uint8_t *)malloc(big_len);
    CHECK(big != NULL);
    for (i = 0; i < big_len; i++) {
        big[i] = pt_pattern(i * 7);
        sum += big[i];
    }
    f = pt_submit(ex, pt_checksum, big, big_len);
    memset(big, 0, big_len); /* the argument was copied at submit */
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof got);
    memcpy(got, d, sizeof got);
    CHECK_EQ_INT(got[1], big_len);
    CHECK(got[0] == sum);
    cf_future_free(f);
    free(big);

    pt_free(ex);
    pt_end(b);
}

/* ---- failures ----------------------------------------------------------------------------- */

static cf_future *submit_fail(cf_executor *ex, int code, const char *msg) {
    pt_fail_arg a;
    memset(&a, 0, sizeof a);
    a.code = code;
    if (msg) snprintf(a.msg, sizeof a.msg, "%s", msg);
    return pt_submit(ex, pt_fail, &a, sizeof a);
}

static void failures(void) {
    pt_base b = pt_begin("failures: code and message");
    cf_executor *ex = pt_new(2);
    cf_future *f1 = submit_fail(ex, 7, "boom in a worker");
    cf_future *f2 = submit_fail(ex, 5, NULL);
    cf_future *f3 = submit_fail(ex, 0, "failed through cf_out_fail only");

    PT_EXPECT(f1, CF_TASK_FAILED);
    CHECK_EQ_INT(cf_future_error_code(f1), 7);
    CHECK_STR(cf_future_error_message(f1), "boom in a worker");
    CHECK_CONTAINS(cf_last_error(), "boom in a worker");
    PT_EXPECT(f2, CF_TASK_FAILED);
    CHECK_EQ_INT(cf_future_error_code(f2), 5);
    CHECK_STR(cf_future_error_message(f2), "task returned 5");
    PT_EXPECT(f3, CF_TASK_FAILED);
    CHECK_EQ_INT(cf_future_error_code(f3), 0);
    CHECK_STR(cf_future_error_message(f3), "failed through cf_out_fail only");
    CHECK(!cf_future_cancel(f1));
    cf_future_free(f1);
    cf_future_free(f2);
    cf_future_free(f3);
    /* A failure is the task's, not the pool's. */
    pt_worker_pid(ex);
    pt_free(ex);
    pt_end(b);
}

/* ---- states ------------------------------------------------------------------------------- */

static void states(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;
    const void *d;
    size_t n;
    pt_pid_result res;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("states: pending, running once the worker began it, finished");
    ex = pt_new(1);
    a = pt_block_args(&rep, &gate, 7);
    f = pt_submit(ex, pt_block, &a, sizeof a);
    CHECK(!cf_future_done(f));
    CHECK(!cf_future_cancelled(f));
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK_EQ_INT(r.tag, 7);
    /* The worker has begun it (it reported after claiming the job's slot): it is running at
     * once, whether or not the parent has read anything from the worker yet, and it cannot be
     * cancelled (TO10). */
    CHECK(cf_future_running(f));
    CHECK(!cf_future_cancel(f));
    CHECK(!cf_future_cancelled(f));
    CHECK(!cf_future_done(f));
    CHECK(cf_future_running(f));
    CHECK_STATUS(cf_future_result(f, 0.0, &d, &n), CF_TIMEOUT);
    CHECK_STATUS(cf_future_result(f, 0.05, &d, &n), CF_TIMEOUT);
    CHECK_STATUS(cf_future_exception(f, 0.0), CF_TIMEOUT);
    CHECK(cf_future_running(f));
    pt_release(&gate, 1);
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof res);
    memcpy(&res, d, sizeof res);
    CHECK_EQ_INT(res.pid, r.pid);
    CHECK_EQ_INT(res.tag, 7);
    CHECK(!cf_future_cancel(f));
    CHECK(!cf_future_cancelled(f));
    cf_future_free(f);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* The pool's callback thread runs done-callbacks; a slow one (RE09) must not make a started task look
 * pending: cancel() refusing it while running() and done() are both false would contradict
 * CPython's invariant (cancel() is False only for a running or finished future). */
static void states_busy_manager(void) {
    pt_fifo rep, gate, gx;
    pt_base b;
    cf_executor *ex;
    cf_future *fx, *f;
    pt_block_arg a;
    cft_gate stall;
    pt_report r;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    pt_fifo_open(&gx, "gx");
    b = pt_begin("states with the manager busy in a slow done-callback (RE09)");
    ex = pt_new(1);
    fx = pt_stall_callbacks(ex, &gx, &stall);

    a = pt_block_args(&rep, &gate, 2);
    f = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK(!cf_future_cancel(f)); /* the worker has begun it */
    if (!cf_future_running(f) && !cf_future_done(f)) {
        cft_gate_open(&stall);
        pt_release(&gate, 1);
        CHECK(!"cancel() returned false, yet running() and done() are both false");
    }
    cft_gate_open(&stall);
    pt_release(&gate, 1);
    pt_ok(fx, NULL);
    pt_ok(f, NULL);
    cf_future_free(fx);
    cf_future_free(f);
    pt_free(ex);
    cft_gate_destroy(&stall);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
    pt_fifo_close(&gx);
}

/* ---- cancel ------------------------------------------------------------------------------- */

typedef struct waiter_arg {
    cf_future *f;
    int status;
    pid_t tid;
    cft_counter ready;
} waiter_arg;

static void *waiter_main(void *p) {
    waiter_arg *w = (waiter_arg *)p;
    const void *d;
    size_t n;
    w->tid = cft_gettid();
    cft_counter_add(&w->ready, 1);
    w->status = (int)cf_future_result(w->f, PT_LONG, &d, &n);
    return NULL;
}

#define N_QUEUED 12

static void cancel_pending(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *blocker, *q[N_QUEUED], *last;
    char marker[N_QUEUED][PT_PATH_MAX];
    pt_block_arg a;
    pt_report r;
    waiter_arg w;
    pthread_t t;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("cancel pending futures (TO09): true, CF_CANCELLED, never run");
    ex = pt_new(1);
    a = pt_block_args(&rep, &gate, 1);
    blocker = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep); /* the only worker is busy */
    pt_note_pid(r.pid);
    /* Queued behind it, some sent ahead to the worker, some still in the parent: each would
     * kill the worker (abort) or leave a marker file if it ever ran. */
    for (i = 0; i < N_QUEUED; i++) {
        snprintf(marker[i], sizeof marker[i], "%s/cancelled-%d", pt_dir, i);
        if (i % 2 == 0)
            q[i] = pt_submit(ex, pt_abort, NULL, 0);
        else
            q[i] = pt_submit(ex, pt_touch, marker[i], strlen(marker[i]) + 1);
        CHECK(!cf_future_running(q[i]));
        CHECK(!cf_future_done(q[i]));
    }
    /* A waiter parked on q[0] wakes at the cancel, not when a worker reaches the item. */
    memset(&w, 0, sizeof w);
    w.f = q[0];
    cft_counter_init(&w.ready);
    CHECK(pthread_create(&t, NULL, waiter_main, &w) == 0);
    cft_counter_await(&w.ready, 1);
    cft_wait_blocked(w.tid);
    for (i = 0; i < N_QUEUED; i++) {
        const void *d;
        size_t n;
        CHECK(cf_future_cancel(q[i]));
        CHECK(cf_future_cancelled(q[i]));
        CHECK(cf_future_done(q[i]));
        CHECK(!cf_future_running(q[i]));
        CHECK_STATUS(cf_future_result(q[i], 0.0, &d, &n), CF_CANCELLED);
        CHECK(cf_future_cancel(q[i])); /* again: still true */
    }
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(w.status, CF_CANCELLED);
    CHECK(!cf_future_done(blocker)); /* the waiter woke while the worker was still busy */
    cft_counter_destroy(&w.ready);
    last = pt_submit(ex, pt_pid, NULL, 0);
    pt_release(&gate, 1);
    pt_ok(blocker, NULL);
    /* Same worker: none of the aborting tasks ran. */
    CHECK_EQ_INT(pt_ok_pid(last), r.pid);
    for (i = 0; i < N_QUEUED; i++) cf_future_free(q[i]);
    cf_future_free(blocker);
    cf_future_free(last);
    pt_free(ex);
    for (i = 0; i < N_QUEUED; i++) CHECK(access(marker[i], F_OK) != 0);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- concurrency -------------------------------------------------------------------------- */

/* max_workers=2: while one task blocks, another runs (CPython: any idle worker takes the next
 * call, and a new worker starts when none is idle). A task must not wait behind a blocked one
 * while the pool has room for another worker. One worker is warmed up first, so that both
 * tasks are submitted while exactly one worker exists (and is idle). */
static void two_workers_run_two_tasks(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fa, *fb;
    pt_block_arg a;
    pt_report r;
    const void *d;
    size_t n;
    int status;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("max_workers=2: a second task runs while the first blocks");
    ex = pt_new(2);
    pt_worker_pid(ex); /* one worker, idle */
    a = pt_block_args(&rep, &gate, 1);
    fa = pt_submit(ex, pt_block, &a, sizeof a);
    fb = pt_submit(ex, pt_pid, NULL, 0);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    /* A second worker starts in milliseconds; 10 s is only a bound. */
    status = (int)cf_future_result(fb, 10.0, &d, &n);
    pt_release(&gate, 1); /* let the blocker go before any check can fail */
    CHECK_STATUS(status, CF_OK);
    CHECK(pt_ok_pid(fb) != r.pid);
    pt_ok(fa, NULL);
    cf_future_free(fa);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* One worker stuck in the middle of sending a big result must not stall the others' results
 * (issue 3: "one big result does not stall other workers' small ones"; LD03's head-of-line
 * half). The stuck frame is written by the task itself, so the stall is certain, not a matter
 * of timing. Then the worker exits with its frame cut short: CF_WORKER_DIED, and no read waits
 * for the rest (PR03; short frames cut in the middle are in proc_faults.c). */
static void big_frame_does_not_stall(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *stuck, *f;
    pt_block_arg a;
    pt_report r;
    const void *d;
    size_t n;
    int i, status = CF_OK;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("a worker stuck mid-frame does not stall the other worker's results");
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    stuck = pt_submit(ex, pt_partial_frame, &a, sizeof a);
    r = pt_read_report(&rep); /* its partial frame is written */
    pt_note_pid(r.pid);
    for (i = 0; i < 20 && status == CF_OK; i++) {
        f = pt_submit(ex, pt_pid, NULL, 0);
        status = (int)cf_future_result(f, PT_LONG, &d, &n);
        if (status == CF_OK) CHECK(pt_ok_pid(f) != r.pid);
        cf_future_free(f);
    }
    pt_release(&gate, 1); /* let the stuck worker go before any check can fail */
    CHECK_STATUS(status, CF_OK);
    PT_EXPECT(stuck, CF_WORKER_DIED);
    cf_future_free(stuck);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- wait --------------------------------------------------------------------------------- */

static void waits(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fa, *fb, *fc, *fd, *fe, *fsegv, *fg, *fh, *fi;
    cf_future *fs[3];
    bool done[3];
    size_t nd;
    pt_block_arg a;
    pt_fail_arg fl;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("wait: FIRST_COMPLETED, ALL_COMPLETED, FIRST_EXCEPTION");
    ex = pt_new(1);

    /* FIRST_COMPLETED / ALL_COMPLETED: fa finishes, fb blocks. */
    fa = pt_submit(ex, pt_echo, "a", 1);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    fs[0] = fb;
    fs[1] = fa;
    CHECK_STATUS(cf_wait(fs, 2, PT_LONG, CF_FIRST_COMPLETED, done, &nd), CF_OK);
    CHECK(!done[0]);
    CHECK(done[1]);
    CHECK_EQ_INT(nd, 1);
    CHECK_STATUS(cf_wait(fs, 2, 0.1, CF_ALL_COMPLETED, done, &nd), CF_TIMEOUT);
    CHECK(!done[0]);
    CHECK(done[1]);
    CHECK_EQ_INT(nd, 1);
    pt_note_pid(pt_read_report(&rep).pid);
    pt_release(&gate, 1);
    CHECK_STATUS(cf_wait(fs, 2, PT_LONG, CF_ALL_COMPLETED, done, &nd), CF_OK);
    CHECK(done[0] && done[1]);
    CHECK_EQ_INT(nd, 2);
    /* FIRST_EXCEPTION with none failing: all completed. */
    CHECK_STATUS(cf_wait(fs, 2, PT_LONG, CF_FIRST_EXCEPTION, done, &nd), CF_OK);
    CHECK_EQ_INT(nd, 2);

    /* FIRST_EXCEPTION: fc fails, fd blocks, fe is queued behind fd. */
    memset(&fl, 0, sizeof fl);
    fl.code = 4;
    snprintf(fl.msg, sizeof fl.msg, "bad");
    fc = pt_submit(ex, pt_fail, &fl, sizeof fl);
    a = pt_block_args(&rep, &gate, 2);
    fd = pt_submit(ex, pt_block, &a, sizeof a);
    fe = pt_submit(ex, pt_echo, "e", 1);
    fs[0] = fd;
    fs[1] = fc;
    fs[2] = fe;
    CHECK_STATUS(cf_wait(fs, 3, PT_LONG, CF_FIRST_EXCEPTION, done, &nd), CF_OK);
    CHECK(!done[0]);
    CHECK(done[1]);
    CHECK(!done[2]);
    CHECK_EQ_INT(nd, 1);
    pt_note_pid(pt_read_report(&rep).pid);
    pt_release(&gate, 1);
    CHECK_STATUS(cf_wait(fs, 3, PT_LONG, CF_ALL_COMPLETED, done, &nd), CF_OK);
    CHECK_EQ_INT(nd, 3);

    /* FIRST_EXCEPTION: a dead worker is a failure too. */
    fsegv = pt_submit(ex, pt_segv, NULL, 0);
    a = pt_block_args(&rep, &gate, 3);
    fg = pt_submit(ex, pt_block, &a, sizeof a);
    fs[0] = fg;
    fs[1] = fsegv;
    CHECK_STATUS(cf_wait(fs, 2, PT_LONG, CF_FIRST_EXCEPTION, done, &nd), CF_OK);
    CHECK(!done[0]);
    CHECK(done[1]);
    PT_EXPECT(fsegv, CF_WORKER_DIED);
    pt_note_pid(pt_read_report(&rep).pid);
    pt_release(&gate, 1);
    pt_ok(fg, NULL);

    /* FIRST_COMPLETED counts a cancel; duplicates count once. */
    a = pt_block_args(&rep, &gate, 4);
    fh = pt_submit(ex, pt_block, &a, sizeof a);
    fi = pt_submit(ex, pt_echo, "i", 1);
    pt_note_pid(pt_read_report(&rep).pid);
    CHECK(cf_future_cancel(fi));
    fs[0] = fh;
    fs[1] = fi;
    fs[2] = fi;
    CHECK_STATUS(cf_wait(fs, 3, PT_LONG, CF_FIRST_COMPLETED, done, &nd), CF_OK);
    CHECK(!done[0]);
    CHECK(done[1] && done[2]);
    CHECK_EQ_INT(nd, 1);
    CHECK_STATUS(cf_wait(fs, 3, 0.0, CF_FIRST_EXCEPTION, done, &nd), CF_TIMEOUT);
    pt_release(&gate, 1);
    pt_ok(fh, NULL);

    cf_future_free(fa);
    cf_future_free(fb);
    cf_future_free(fc);
    cf_future_free(fd);
    cf_future_free(fe);
    cf_future_free(fsegv);
    cf_future_free(fg);
    cf_future_free(fh);
    cf_future_free(fi);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- as_completed ------------------------------------------------------------------------- */

static void as_completed(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fa, *fb, *fc, *got;
    cf_future *fs[3];
    cf_as_completed *it, *it2;
    pt_block_arg a;
    size_t idx;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("as_completed: done ones first, completion order, deadline");
    ex = pt_new(1);
    fa = pt_submit(ex, pt_echo, "a", 1);
    pt_ok(fa, NULL);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    fc = pt_submit(ex, pt_echo, "c", 1); /* runs after fb: one worker */
    fs[0] = fc;
    fs[1] = fb;
    fs[2] = fa;
    CHECK_STATUS(cf_as_completed_new(fs, 3, PT_LONG, &it), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
    CHECK(got == fa);
    CHECK_EQ_INT(idx, 2);

    /* A short deadline: the done one, then CF_TIMEOUT naming what is unfinished (TO12). */
    fs[0] = fb;
    fs[1] = fa;
    CHECK_STATUS(cf_as_completed_new(fs, 2, 0.2, &it2), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it2, &got, &idx), CF_OK);
    CHECK(got == fa);
    CHECK_EQ_INT(idx, 1);
    CHECK_STATUS(cf_as_completed_next(it2, &got, &idx), CF_TIMEOUT);
    CHECK_CONTAINS(cf_last_error(), "1 (of 2)");
    cf_as_completed_free(it2);

    pt_note_pid(pt_read_report(&rep).pid);
    pt_release(&gate, 1);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
    CHECK(got == fb);
    CHECK_EQ_INT(idx, 1);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
    CHECK(got == fc);
    CHECK_EQ_INT(idx, 0);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_DONE);
    cf_as_completed_free(it);
    cf_future_free(fa);
    cf_future_free(fb);
    cf_future_free(fc);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- map ---------------------------------------------------------------------------------- */

static void map_squares(cf_executor *ex, size_t n, size_t chunk) {
    int64_t *in = (int64_t *)calloc(n + 1, sizeof *in);
    cf_map_iter *it;
    const void *d;
    size_t len, i;
    CHECK(in != NULL);
    for (i = 0; i < n; i++) in[i] = (int64_t)i;
    CHECK_STATUS(cf_map(ex, pt_square, in, sizeof *in, n, PT_LONG, chunk, &it), CF_OK);
    free(in); /* copied */
    for (i = 0; i < n; i++) {
        int64_t y;
        CHECK_STATUS(cf_map_next(it, &d, &len), CF_OK);
        CHECK_EQ_INT(len, sizeof y);
        memcpy(&y, d, sizeof y);
        CHECK_EQ_INT(y, (int64_t)(i * i));
    }
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
    cf_map_free(it);
}

static void map_failing(cf_executor *ex, size_t chunk) {
    int64_t in[10];
    cf_map_iter *it;
    const void *d;
    size_t len, i;
    for (i = 0; i < 10; i++) in[i] = (int64_t)i;
    in[4] = -4;
    CHECK_STATUS(cf_map(ex, pt_square, in, sizeof in[0], 10, PT_LONG, chunk, &it), CF_OK);
    for (i = 0; i < 4; i++) {
        int64_t y;
        CHECK_STATUS(cf_map_next(it, &d, &len), CF_OK);
        memcpy(&y, d, sizeof y);
        CHECK_EQ_INT(y, (int64_t)(i * i));
    }
    CHECK_EQ_INT(cf_map_error_code(it), 0);
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_TASK_FAILED);
    CHECK_CONTAINS(cf_last_error(), "negative input");
    CHECK_EQ_INT(cf_map_error_code(it), 3); /* the task's return value, in a chunk or not */
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
    CHECK_EQ_INT(cf_map_error_code(it), 0);
    cf_map_free(it);
}

static void map(void) {
    pt_fifo gate;
    pt_base b;
    cf_executor *ex;
    cf_map_iter *it;
    pt_block_arg a;
    const void *d;
    size_t len;

    pt_fifo_open(&gate, "gate");
    b = pt_begin("map: order, chunksize 1 and 64, a failing item, a timeout");
    ex = pt_new(2);
    map_squares(ex, 100, 1);
    map_squares(ex, 100, 64);
    map_squares(ex, 128, 64);
    map_squares(ex, 7, 3);
    map_squares(ex, 0, 4);
    map_failing(ex, 1);
    map_failing(ex, 3);
    CHECK_STATUS(cf_map(ex, pt_square, NULL, 8, 4, PT_LONG, 0, &it), CF_INVALID_ARGUMENT);

    a = pt_block_args(NULL, &gate, 1);
    CHECK_STATUS(cf_map(ex, pt_block, &a, sizeof a, 1, 0.2, 1, &it), CF_OK);
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_TIMEOUT);
    CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
    cf_map_free(it);
    pt_release(&gate, 1); /* if it started, let it end; if it was cancelled, nothing reads */

    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&gate);
}

/* ---- callbacks ---------------------------------------------------------------------------- */

typedef struct cb_rec {
    pthread_mutex_t m;
    int calls;
    pthread_t thread;
} cb_rec;

static void cb_record(cf_future *f, void *user) {
    cb_rec *r = (cb_rec *)user;
    (void)f;
    pthread_mutex_lock(&r->m);
    r->calls++;
    r->thread = pthread_self();
    pthread_mutex_unlock(&r->m);
}

#define CHAIN 6
static cf_executor *chain_ex;
static cf_future *chain[CHAIN];
static cft_counter chain_len;

static void cb_chain(cf_future *f, void *user) {
    long depth = (long)(intptr_t)user;
    int64_t x = depth;
    cf_future *next = NULL;
    (void)f;
    if (depth >= CHAIN) return;
    /* Submit from the completing thread (RE02). */
    if (cf_submit(chain_ex, pt_square, &x, sizeof x, &next) != CF_OK) {
        fprintf(stderr, "submit from a callback failed: %s\n", cf_last_error());
        cft_die();
    }
    chain[depth] = next;
    cft_counter_add(&chain_len, 1);
    cf_future_add_done_callback(next, cb_chain, (void *)(intptr_t)(depth + 1));
}

static void callbacks(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *fa;
    cb_rec r1, r2;
    pt_block_arg a;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("callbacks: on completion, at once when done, submitting from a callback");
    ex = pt_new(1);
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    pthread_mutex_init(&r1.m, NULL);
    pthread_mutex_init(&r2.m, NULL);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    CHECK_STATUS(cf_future_add_done_callback(fb, cb_record, &r1), CF_OK);
    pt_note_pid(pt_read_report(&rep).pid);
    pthread_mutex_lock(&r1.m);
    CHECK_EQ_INT(r1.calls, 0);
    pthread_mutex_unlock(&r1.m);
    pt_release(&gate, 1);
    pt_ok(fb, NULL);

    fa = pt_submit(ex, pt_echo, "a", 1);
    pt_ok(fa, NULL);
    CHECK_STATUS(cf_future_add_done_callback(fa, cb_record, &r2), CF_OK);
    CHECK_EQ_INT(r2.calls, 1); /* at once, in this thread (RE01) */
    CHECK(pthread_equal(r2.thread, pthread_self()));

    chain_ex = ex;
    cft_counter_init(&chain_len);
    memset(chain, 0, sizeof chain);
    {
        int64_t x = 100;
        cf_future *first = pt_submit(ex, pt_square, &x, sizeof x);
        CHECK_STATUS(cf_future_add_done_callback(first, cb_chain, (void *)(intptr_t)0), CF_OK);
        cft_counter_await(&chain_len, CHAIN);
        pt_ok(first, NULL);
        cf_future_free(first);
    }
    for (i = 0; i < CHAIN; i++) {
        const void *d;
        size_t n;
        int64_t y;
        CHECK(chain[i] != NULL);
        CHECK_STATUS(cf_future_result(chain[i], PT_LONG, &d, &n), CF_OK);
        memcpy(&y, d, sizeof y);
        CHECK_EQ_INT(y, (int64_t)i * i);
    }
    pt_free(ex);
    /* The callback of fb ran once, on another thread (the one that completed it). */
    CHECK_EQ_INT(r1.calls, 1);
    CHECK(!pthread_equal(r1.thread, pthread_self()));
    CHECK_EQ_INT(r2.calls, 1);
    for (i = 0; i < CHAIN; i++) cf_future_free(chain[i]);
    cft_counter_destroy(&chain_len);
    cf_future_free(fb);
    cf_future_free(fa);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

static void shutdown_wait(void) {
    pt_base b = pt_begin("shutdown(wait=true) runs the queued work (SD01)");
    cf_executor *ex = pt_new(2);
    cf_future *f[8], *g = NULL;
    cf_map_iter *it = NULL;
    uint32_t ms = 30;
    int i;
    int64_t x = 3;
    for (i = 0; i < 8; i++) f[i] = pt_submit(ex, pt_sleep_ms, &ms, sizeof ms);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    for (i = 0; i < 8; i++) {
        const void *d;
        size_t n;
        CHECK(cf_future_done(f[i]));
        CHECK_STATUS(cf_future_result(f[i], 0.0, &d, &n), CF_OK);
        CHECK_EQ_INT(n, sizeof(pt_pid_result));
        cf_future_free(f[i]);
    }
    CHECK_STATUS(cf_submit(ex, pt_square, &x, sizeof x, &g), CF_SHUTDOWN);
    CHECK(g == NULL);
    CHECK_STATUS(cf_map(ex, pt_square, &x, sizeof x, 1, PT_LONG, 1, &it), CF_SHUTDOWN);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK); /* again: harmless */
    pt_free(ex);
    pt_end(b);
}

/* BI07: 4 threads call shutdown(wait=true) at once while the one worker is held at a gate
 * with work queued behind it. Each call returns CF_OK only once all the work is done: one of
 * them joins the manager, the others wait for that (a second caller used to find no manager
 * handle and return at once). The gate opens once every shutter has started its call. */
enum { PT_SHUTTERS = 4, PT_SHUT_QUEUED = 6 };

typedef struct pt_shutter {
    cf_executor *ex;
    cf_future **fs;
    int n;
    cft_counter *ready;
    pid_t tid;
    int status;
    int undone_at_return; /* futures not done when its shutdown returned */
    pthread_t th;
} pt_shutter;

static void *pt_shutter_main(void *p) {
    pt_shutter *s = p;
    int i;
    s->tid = cft_gettid();
    cft_counter_add(s->ready, 1);
    s->status = (int)cf_executor_shutdown(s->ex, true, false);
    s->undone_at_return = 0;
    for (i = 0; i < s->n; i++) s->undone_at_return += !cf_future_done(s->fs[i]);
    return NULL;
}

static void concurrent_shutdowns(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fs[1 + PT_SHUT_QUEUED];
    pt_shutter ss[PT_SHUTTERS];
    pt_block_arg a;
    cft_counter ready;
    int i;
    int64_t x = 3;

    cft_counter_init(&ready);
    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("concurrent shutdown(wait=true) calls each wait for all the work (BI07)");
    ex = pt_new(1);
    a = pt_block_args(&rep, &gate, 1);
    fs[0] = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < PT_SHUT_QUEUED; i++) fs[1 + i] = pt_submit(ex, pt_square, &x, sizeof x);
    pt_note_pid(pt_read_report(&rep).pid);
    for (i = 0; i < PT_SHUTTERS; i++) {
        ss[i].ex = ex;
        ss[i].fs = fs;
        ss[i].n = 1 + PT_SHUT_QUEUED;
        ss[i].ready = &ready;
        ss[i].status = -1;
        ss[i].undone_at_return = -1;
        CHECK(pthread_create(&ss[i].th, NULL, pt_shutter_main, &ss[i]) == 0);
    }
    /* Each shutter has entered its call and is blocked in it (a caller that returned at
     * once is not blocked): only then does the gate open. */
    cft_counter_await(&ready, PT_SHUTTERS);
    for (i = 0; i < PT_SHUTTERS; i++) (void)cft_wait_blocked(ss[i].tid);
    CHECK(!cf_future_done(fs[0]));
    pt_release(&gate, 1);
    for (i = 0; i < PT_SHUTTERS; i++) {
        CHECK(pthread_join(ss[i].th, NULL) == 0);
        CHECK_STATUS(ss[i].status, CF_OK);
        if (ss[i].undone_at_return != 0)
            fprintf(stderr, "shutdown %d returned with %d futures not done\n", i,
                    ss[i].undone_at_return);
        CHECK_EQ_INT(ss[i].undone_at_return, 0);
    }
    for (i = 0; i < 1 + PT_SHUT_QUEUED; i++) {
        pt_ok(fs[i], NULL);
        cf_future_free(fs[i]);
    }
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK); /* again: harmless */
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
    cft_counter_destroy(&ready);
}

static void shutdown_nowait(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *q[5], *g = NULL;
    pt_block_arg a;
    int i;
    int64_t x = 2;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("shutdown(wait=false) returns at once; queued work still runs (SD02)");
    ex = pt_new(1);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < 5; i++) q[i] = pt_submit(ex, pt_square, &x, sizeof x);
    pt_note_pid(pt_read_report(&rep).pid);
    CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK); /* the worker is blocked */
    CHECK_STATUS(cf_submit(ex, pt_square, &x, sizeof x, &g), CF_SHUTDOWN);
    CHECK(!cf_future_done(fb));
    pt_release(&gate, 1);
    pt_ok(fb, NULL);
    for (i = 0; i < 5; i++) {
        pt_ok(q[i], NULL);
        cf_future_free(q[i]);
    }
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

static void shutdown_cancel(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *q[N_QUEUED], *g = NULL;
    char marker[N_QUEUED][PT_PATH_MAX];
    pt_block_arg a;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("shutdown(cancel_futures) cancels what has not started (TO14)");
    ex = pt_new(1);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    pt_note_pid(pt_read_report(&rep).pid);
    for (i = 0; i < N_QUEUED; i++) {
        snprintf(marker[i], sizeof marker[i], "%s/shutdown-cancelled-%d", pt_dir, i);
        if (i % 3 == 0)
            q[i] = pt_submit(ex, pt_abort, NULL, 0);
        else
            q[i] = pt_submit(ex, pt_touch, marker[i], strlen(marker[i]) + 1);
    }
    CHECK_STATUS(cf_executor_shutdown(ex, false, true), CF_OK);
    for (i = 0; i < N_QUEUED; i++) {
        const void *d;
        size_t n;
        CHECK(cf_future_cancelled(q[i]));
        CHECK_STATUS(cf_future_result(q[i], 0.0, &d, &n), CF_CANCELLED);
    }
    CHECK(!cf_future_done(fb));
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_SHUTDOWN);
    pt_release(&gate, 1);
    pt_ok(fb, NULL);
    pt_free(ex);
    for (i = 0; i < N_QUEUED; i++) {
        CHECK(access(marker[i], F_OK) != 0);
        cf_future_free(q[i]);
    }
    cf_future_free(fb);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- defaults, lazy start, freeing a future --------------------------------------------- */

static void default_workers(void) {
    pt_base b = pt_begin("max_workers 0 means the default");
    cf_executor_options *o = pt_opts();
    cf_executor *ex = cf_executor_new(CF_PROCESS_POOL, 0, o);
    cf_future *f[4];
    int64_t i;
    CHECK(ex != NULL);
    cf_executor_options_free(o);
    for (i = 0; i < 4; i++) f[i] = pt_submit(ex, pt_square, &i, sizeof i);
    for (i = 0; i < 4; i++) {
        size_t n;
        int64_t y;
        const void *d = pt_ok(f[i], &n);
        memcpy(&y, d, sizeof y);
        CHECK_EQ_INT(y, i * i);
        cf_future_free(f[i]);
    }
    pt_free(ex);
    pt_end(b);
}

static void lazy_start(void) {
    pt_base b = pt_begin("lazy start: no worker before the first submit");
    cf_executor *ex = pt_new(2);
    int server = pt_fork_server(); /* 0 unless forkserver: then exactly one child of ours */
    int kids[16];
    int pid;
    pt_stat s;
    if (server) {
        CHECK_EQ_INT(pt_children(server, kids, 16, true), 0);
    } else {
        CHECK_EQ_INT(pt_children((int)getpid(), kids, 16, true), 0);
    }
    pid = pt_worker_pid(ex);
    s = pt_read_stat(pid);
    CHECK(s.state != 0);
    CHECK_EQ_INT(s.ppid, server ? server : (int)getpid());
    if (server) pt_note_pid(server);
    pt_free(ex);
    pt_end(b);
}

static void free_future_early(void) {
    char marker[PT_PATH_MAX];
    pt_base b = pt_begin("a future freed right after submit still runs (BI12)");
    cf_executor *ex = pt_new(1);
    cf_future *f = NULL;
    snprintf(marker, sizeof marker, "%s/freed-early", pt_dir);
    CHECK_STATUS(cf_submit(ex, pt_touch, marker, strlen(marker) + 1, &f), CF_OK);
    cf_future_free(f);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK(access(marker, F_OK) == 0);
    unlink(marker);
    pt_free(ex);
    pt_end(b);
}

/* ---- initializers ------------------------------------------------------------------------- */

static int32_t init_value(cf_future *f) {
    size_t n;
    pt_pid_result r;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof r);
    memcpy(&r, d, sizeof r);
    CHECK_EQ_INT(r.tag, PT_INIT_MAGIC);
    pt_note_pid(r.pid);
    return r.pid;
}

/* Every worker runs the initializer before its first task: the tasks see the mark it left.
 * New workers are made by killing the idle one (not with max_tasks_per_child, which has its
 * own checks in proc_limits). */
static void initializer(void) {
    pt_base b = pt_begin("the initializer runs in each worker");
    cf_executor_options *o = pt_opts();
    int32_t mark = PT_INIT_MAGIC;
    cf_executor *ex;
    cf_future *f[4];
    int i, prev = 0;
    CHECK_STATUS(cf_executor_options_set_initializer(o, pt_init_mark, &mark, sizeof mark), CF_OK);
    mark = 0; /* copied by the setter */
    ex = pt_new_opts(2, o);
    cf_executor_options_free(o);
    for (i = 0; i < 4; i++) f[i] = pt_submit(ex, pt_init_value, NULL, 0);
    for (i = 0; i < 4; i++) {
        init_value(f[i]);
        cf_future_free(f[i]);
    }
    for (i = 0; i < 3; i++) {
        cf_future *g = pt_submit(ex, pt_init_value, NULL, 0);
        int pid = init_value(g);
        cf_future_free(g);
        CHECK(pid != prev); /* another worker (a new one once the first are killed) */
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(pt_await_dead(pid));
        prev = pid;
    }
    pt_free(ex);
    pt_end(b);
}

static void failing_initializer(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor_options *o;
    cf_executor *ex;
    cf_future *f[3], *g = NULL;
    cf_map_iter *it = NULL;
    pt_block_arg a;
    pt_report r;
    int i, n = 0;
    int64_t x = 1;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("a failing initializer breaks the pool (CR14, BI06)");
    o = pt_opts();
    a = pt_block_args(&rep, NULL, 9);
    CHECK_STATUS(cf_executor_options_set_initializer(o, pt_init_fail, &a, sizeof a), CF_OK);
    ex = pt_new_opts(2, o);
    cf_executor_options_free(o);
    f[0] = pt_submit(ex, pt_pid, NULL, 0); /* nothing has started yet: accepted */
    n = 1;
    for (i = 1; i < 3; i++) {
        cf_future *h = NULL;
        cf_status s = cf_submit(ex, pt_pid, NULL, 0, &h);
        CHECK(s == CF_OK || s == CF_BROKEN);
        if (s == CF_OK) f[n++] = pt_track(h);
    }
    for (i = 0; i < n; i++) {
        PT_EXPECT(f[i], CF_BROKEN);
        CHECK_CONTAINS(cf_future_error_message(f[i]), "initializer");
        cf_future_free(f[i]);
    }
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_BROKEN);
    CHECK(g == NULL);
    CHECK_CONTAINS(cf_last_error(), "initializer");
    CHECK_STATUS(cf_map(ex, pt_square, &x, sizeof x, 1, PT_LONG, 1, &it), CF_BROKEN);
    /* Every worker that ran the initializer reported its pid: each must be gone. */
    while (pt_try_report(&rep, 0.0, &r)) pt_note_pid(r.pid);
    CHECK(pt_n_pids >= 1);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

int main(int argc, char **argv) {
    pt_setup(argc, argv, "proc_semantics");
    PT_RUN(results);
    PT_RUN(failures);
    PT_RUN(states);
    PT_RUN(cancel_pending);
    PT_RUN(waits);
    PT_RUN(as_completed);
    PT_RUN(map);
    PT_RUN(callbacks);
    PT_RUN(shutdown_wait);
    PT_RUN(shutdown_nowait);
    PT_RUN(concurrent_shutdowns);
    PT_RUN(shutdown_cancel);
    PT_RUN(default_workers);
    PT_RUN(lazy_start);
    PT_RUN(free_future_early);
    PT_RUN(initializer);
    PT_RUN(failing_initializer);
    PT_RUN(two_workers_run_two_tasks);
    PT_RUN(states_busy_manager);
    PT_RUN(big_frame_does_not_stall);
    return pt_finish();
}
