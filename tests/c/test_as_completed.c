/* test_as_completed.c: cf_as_completed_new / _next / _free.
 *
 * Catalogue rows (RELIABILITY.md section 2): TO12 the deadline (test_deadline_two_slow: 4
 * futures, 2 slow, timeout 0.1), BI08 zero futures (test_zero), BI09 duplicates
 * (test_distinct, test_same_thrice), BI13 the iterator freed early (test_many), TO09 a cancel
 * wakes a blocked next (test_cancel_wakes). main checks threads and descriptors (O2, O5). */
#include "cftest.h"

typedef struct helper {
    pid_t tid;
    cft_gate *gate;
    cf_future *cancel;
    bool cancelled;
    pthread_t th;
} helper;

static void *helper_main(void *p) {
    helper *h = p;
    cft_wait_blocked(h->tid);
    if (h->cancel) h->cancelled = cf_future_cancel(h->cancel);
    if (h->gate) cft_gate_open(h->gate);
    return NULL;
}

static void helper_start(helper *h, cft_gate *gate, cf_future *cancel) {
    h->tid = cft_gettid();
    h->gate = gate;
    h->cancel = cancel;
    h->cancelled = false;
    CHECK(pthread_create(&h->th, NULL, helper_main, h) == 0);
}

static void helper_join(helper *h) { CHECK(pthread_join(h->th, NULL) == 0); }

static cf_future *done_future(cf_executor *ex) {
    cf_future *f = NULL;
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
    return f;
}

static void expect_done(cf_as_completed *it) {
    cf_future *f = (cf_future *)&f;
    size_t idx = 1234;
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_DONE);
    CHECK(f == (cf_future *)&f);
    CHECK_EQ_INT(idx, 1234);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_DONE);
    CHECK_STATUS(cf_as_completed_next(it, &f, NULL), CF_DONE);
}

/* BI09: each distinct future once, with its first index. */
static void test_distinct(cf_executor *ex) {
    cf_future *a = done_future(ex), *b = done_future(ex), *c = done_future(ex);
    cf_future *fs[6];
    cf_as_completed *it = NULL;
    int seen_a = 0, seen_b = 0, seen_c = 0, i;
    fs[0] = a;
    fs[1] = b;
    fs[2] = a;
    fs[3] = c;
    fs[4] = b;
    fs[5] = c;
    CHECK_STATUS(cf_as_completed_new(fs, 6, CF_FOREVER, &it), CF_OK);
    CHECK(it != NULL);
    for (i = 0; i < 3; i++) {
        cf_future *f = NULL;
        size_t idx = 99;
        CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
        if (f == a) {
            seen_a++;
            CHECK_EQ_INT(idx, 0);
        } else if (f == b) {
            seen_b++;
            CHECK_EQ_INT(idx, 1);
        } else if (f == c) {
            seen_c++;
            CHECK_EQ_INT(idx, 3);
        } else {
            CHECK(!"as_completed gave a pointer that is not in fs");
        }
    }
    CHECK(seen_a == 1 && seen_b == 1 && seen_c == 1);
    expect_done(it);
    cf_as_completed_free(it);
    cf_future_free(a);
    cf_future_free(b);
    cf_future_free(c);
}

/* Already-done futures first; then completion order, which the gates control. */
static void test_order(cf_executor *ex) {
    cft_gate gates[4];
    cft_counter started;
    cf_future *pend[4], *d0, *d1, *fs[6];
    cf_as_completed *it = NULL;
    cf_future *f = NULL;
    size_t idx = 0;
    bool got_d0 = false, got_d1 = false;
    int i;

    cft_counter_init(&started);
    for (i = 0; i < 4; i++) {
        cft_gate_init(&gates[i]);
        pend[i] = cft_submit_gated(ex, &gates[i], &started, NULL);
    }
    cft_counter_await(&started, 4);
    d0 = done_future(ex);
    d1 = done_future(ex);
    fs[0] = pend[0];
    fs[1] = d0;
    fs[2] = pend[1];
    fs[3] = pend[2];
    fs[4] = d1;
    fs[5] = pend[3];
    CHECK_STATUS(cf_as_completed_new(fs, 6, CF_FOREVER, &it), CF_OK);

    /* Release one future while nothing is being waited for: still after the early ones. */
    cft_gate_open(&gates[3]);
    CHECK_STATUS(cf_future_exception(pend[3], CF_FOREVER), CF_OK);

    for (i = 0; i < 2; i++) {
        CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
        if (f == d0) {
            CHECK_EQ_INT(idx, 1);
            got_d0 = true;
        } else if (f == d1) {
            CHECK_EQ_INT(idx, 4);
            got_d1 = true;
        } else {
            CHECK(!"a future done at _new did not come first");
        }
    }
    CHECK(got_d0 && got_d1);

    /* Then pend[3], which completed first among the rest. */
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    CHECK(f == pend[3]);
    CHECK_EQ_INT(idx, 5);

    /* Two complete before we ask: they come in the order they completed (1 then 0). */
    cft_gate_open(&gates[1]);
    CHECK_STATUS(cf_future_exception(pend[1], CF_FOREVER), CF_OK);
    cft_gate_open(&gates[0]);
    CHECK_STATUS(cf_future_exception(pend[0], CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    CHECK(f == pend[1]);
    CHECK_EQ_INT(idx, 2);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    CHECK(f == pend[0]);
    CHECK_EQ_INT(idx, 0);

    /* The last one completes while next is blocked. */
    {
        helper h;
        helper_start(&h, &gates[2], NULL);
        CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
        helper_join(&h);
        CHECK(f == pend[2]);
        CHECK_EQ_INT(idx, 3);
    }
    expect_done(it);
    cf_as_completed_free(it);
    for (i = 0; i < 4; i++) {
        cf_future_free(pend[i]);
        cft_gate_destroy(&gates[i]);
    }
    cf_future_free(d0);
    cf_future_free(d1);
    cft_counter_destroy(&started);
}

/* The deadline counts from _new; finished futures are handed out even after it; then
 * CF_TIMEOUT with "N (of M) futures unfinished". */
static void test_timeout(cf_executor *ex) {
    cft_gate ga, gb;
    cft_counter started;
    cf_future *d, *pa, *pb, *fs[4], *f = NULL;
    cf_as_completed *it = NULL;
    size_t idx = 0;

    cft_gate_init(&ga);
    cft_gate_init(&gb);
    cft_counter_init(&started);
    d = done_future(ex);
    pa = cft_submit_gated(ex, &ga, &started, NULL);
    pb = cft_submit_gated(ex, &gb, &started, NULL);
    fs[0] = pa;
    fs[1] = d;
    fs[2] = pb;
    fs[3] = pa;
    /* Timeout 0: the deadline is already over when _new returns. */
    CHECK_STATUS(cf_as_completed_new(fs, 4, 0.0, &it), CF_OK);
    /* pa finishes after the deadline: still handed out (unlike cpython#73919). */
    cft_gate_open(&ga);
    CHECK_STATUS(cf_future_exception(pa, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    CHECK(f == d);
    CHECK_EQ_INT(idx, 1);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    CHECK(f == pa);
    CHECK_EQ_INT(idx, 0);
    f = (cf_future *)&f;
    idx = 4321;
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_TIMEOUT);
    CHECK(strstr(cf_last_error(), "1 (of 3) futures unfinished") != NULL);
    CHECK(f == (cf_future *)&f);
    CHECK_EQ_INT(idx, 4321);
    cf_as_completed_free(it);

    /* A deadline that passes while next is blocked. */
    it = NULL;
    fs[0] = pb;
    CHECK_STATUS(cf_as_completed_new(fs, 1, 0.02, &it), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_TIMEOUT);
    CHECK(strstr(cf_last_error(), "1 (of 1) futures unfinished") != NULL);
    cf_as_completed_free(it);

    cft_gate_open(&gb);
    CHECK_STATUS(cf_future_exception(pb, CF_FOREVER), CF_OK);
    cf_future_free(d);
    cf_future_free(pa);
    cf_future_free(pb);
    cft_counter_destroy(&started);
    cft_gate_destroy(&ga);
    cft_gate_destroy(&gb);
}

/* TO09: a cancel from another thread wakes a blocked next at once (the futures are queued
 * behind a gated task on a one-thread pool: nothing else can complete them). */
static void test_cancel_wakes(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started;
    cf_future *blocker, *fs[3], *f = NULL;
    cf_as_completed *it = NULL;
    size_t idx = 0;
    helper h;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    for (i = 0; i < 3; i++) fs[i] = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);
    CHECK_STATUS(cf_as_completed_new(fs, 3, CF_FOREVER, &it), CF_OK);
    helper_start(&h, NULL, fs[2]);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    helper_join(&h);
    CHECK(h.cancelled);
    CHECK(f == fs[2]);
    CHECK_EQ_INT(idx, 2);
    CHECK(cf_future_cancelled(f));
    helper_start(&h, NULL, fs[0]);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    helper_join(&h);
    CHECK(f == fs[0]);
    CHECK_EQ_INT(idx, 0);
    /* fs[1] runs once the blocker is released. */
    helper_start(&h, &gate, NULL);
    CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
    helper_join(&h);
    CHECK(f == fs[1]);
    CHECK_STATUS(cf_future_exception(f, 0.0), CF_OK);
    expect_done(it);
    cf_as_completed_free(it);
    cf_future_free(blocker);
    for (i = 0; i < 3; i++) cf_future_free(fs[i]);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* The iterator keeps its futures alive after the caller freed them. */
static void test_keeps_alive(cf_executor *ex) {
    cft_gate gate;
    cf_future *fs[3], *f = NULL;
    cf_as_completed *it = NULL;
    int i, seen = 0;
    cft_gate_init(&gate);
    for (i = 0; i < 3; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_echo, "alive!", 6, &fs[i]), CF_OK);
    }
    /* One pending, behind a gate. */
    cf_future_free(fs[2]);
    fs[2] = cft_submit_gated(ex, &gate, NULL, NULL);
    CHECK_STATUS(cf_as_completed_new(fs, 3, CF_FOREVER, &it), CF_OK);
    for (i = 0; i < 3; i++) cf_future_free(fs[i]);
    cft_gate_open(&gate);
    while (cf_as_completed_next(it, &f, NULL) == CF_OK) {
        const void *data = NULL;
        size_t len = 0;
        CHECK(cf_future_done(f));
        CHECK_STATUS(cf_future_result(f, 0.0, &data, &len), CF_OK);
        CHECK(len == 0 || (len == 6 && memcmp(data, "alive!", 6) == 0));
        seen++;
    }
    CHECK_EQ_INT(seen, 3);
    cf_as_completed_free(it);
    cft_gate_destroy(&gate);
}

/* BI09: as_completed([f, f, f]) hands f out once, with index 0, then CF_DONE; pending at _new
 * or already done. */
static void test_same_thrice(cf_executor *ex) {
    cft_gate gate;
    cf_future *f, *fs[3], *got = NULL;
    cf_as_completed *it = NULL;
    size_t idx = 9;
    int round;
    cft_gate_init(&gate);
    f = cft_submit_gated(ex, &gate, NULL, NULL);
    fs[0] = fs[1] = fs[2] = f;
    for (round = 0; round < 2; round++) {
        it = NULL;
        CHECK_STATUS(cf_as_completed_new(fs, 3, CF_FOREVER, &it), CF_OK);
        if (round == 0) cft_gate_open(&gate); /* pending at _new in round 0 */
        CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
        CHECK(got == f);
        CHECK_EQ_INT(idx, 0);
        expect_done(it);
        cf_as_completed_free(it);
    }
    cf_future_free(f);
    cft_gate_destroy(&gate);
}

/* TO12: 4 futures, 2 done and 2 slow (gated, never released before the deadline), timeout
 * 0.1: the 2 done ones come first, then CF_TIMEOUT with "2 (of 4) futures unfinished" in
 * cf_last_error(); later calls keep reporting the timeout. */
static void test_deadline_two_slow(cf_executor *ex) {
    cft_gate slow;
    cft_counter started;
    cf_future *fs[4], *got = NULL;
    cf_as_completed *it = NULL;
    bool seen[4] = {false, false, false, false};
    size_t idx = 0;
    int i;
    cft_gate_init(&slow);
    cft_counter_init(&started);
    fs[0] = cft_submit_gated(ex, &slow, &started, NULL);
    fs[1] = done_future(ex);
    fs[2] = cft_submit_gated(ex, &slow, &started, NULL);
    fs[3] = done_future(ex);
    cft_counter_await(&started, 2);
    CHECK_STATUS(cf_as_completed_new(fs, 4, 0.1, &it), CF_OK);
    for (i = 0; i < 2; i++) {
        CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
        CHECK(idx == 1 || idx == 3);
        CHECK(got == fs[idx]);
        CHECK(!seen[idx]);
        seen[idx] = true;
    }
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_TIMEOUT);
    if (strstr(cf_last_error(), "2 (of 4) futures unfinished") == NULL)
        fprintf(stderr, "cf_last_error(): \"%s\"\n", cf_last_error());
    CHECK(strstr(cf_last_error(), "2 (of 4) futures unfinished") != NULL);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_TIMEOUT);
    CHECK(!cf_future_done(fs[0]) && !cf_future_done(fs[2]));
    cf_as_completed_free(it);
    cft_gate_open(&slow);
    CHECK_STATUS(cf_wait(fs, 4, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    for (i = 0; i < 4; i++) cf_future_free(fs[i]);
    cft_counter_destroy(&started);
    cft_gate_destroy(&slow);
}

/* BI08: zero futures: CF_DONE at once. */
static void test_zero(void) {
    cf_as_completed *it = NULL;
    CHECK_STATUS(cf_as_completed_new(NULL, 0, CF_FOREVER, &it), CF_OK);
    CHECK(it != NULL);
    expect_done(it);
    cf_as_completed_free(it);
    it = NULL;
    CHECK_STATUS(cf_as_completed_new(NULL, 0, 0.0, &it), CF_OK);
    expect_done(it);
    cf_as_completed_free(it);
}

/* Many futures: each handed out exactly once; BI13: free the iterator half-way too. */
static void test_many(cf_executor *ex) {
    enum { N = 20000 };
    cf_future **fs = malloc(N * sizeof *fs);
    char *seen = calloc(N, 1);
    cf_as_completed *it = NULL;
    cf_future *f = NULL;
    size_t idx = 0;
    int i, st, count = 0;
    CHECK(fs != NULL && seen != NULL);
    for (i = 0; i < N; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &fs[i]), CF_OK);
    }
    CHECK_STATUS(cf_as_completed_new(fs, N, CF_FOREVER, &it), CF_OK);
    while ((st = cf_as_completed_next(it, &f, &idx)) == CF_OK) {
        CHECK(idx < (size_t)N);
        CHECK(fs[idx] == f);
        CHECK(!seen[idx]);
        seen[idx] = 1;
        count++;
    }
    CHECK_STATUS(st, CF_DONE);
    CHECK_EQ_INT(count, N);
    cf_as_completed_free(it);

    /* Freed before the end: the waiters on pending futures are removed. */
    {
        cft_gate gate;
        cf_future *g;
        cft_gate_init(&gate);
        g = cft_submit_gated(ex, &gate, NULL, NULL);
        cf_future_free(fs[0]);
        fs[0] = g;
        it = NULL;
        CHECK_STATUS(cf_as_completed_new(fs, N, CF_FOREVER, &it), CF_OK);
        CHECK_STATUS(cf_as_completed_next(it, &f, &idx), CF_OK);
        cf_as_completed_free(it);
        cft_gate_open(&gate);
        CHECK_STATUS(cf_future_exception(g, CF_FOREVER), CF_OK);
        cf_future_free(g);
        fs[0] = NULL;
        cft_gate_destroy(&gate);
    }
    for (i = 1; i < N; i++) cf_future_free(fs[i]);
    free(fs);
    free(seen);
}

/* Completion order, many rounds: a future whose completion the caller has already observed
 * (its cf_future_exception returned) comes before one that completed afterwards. Two gated
 * futures: open a, wait until a is done, open b, wait until b is done, then next must give a,
 * then b. (The same check as in test_order, repeated: a failure here is a narrow race.) */
static void test_order_rounds(cf_executor *ex) {
    enum { ROUNDS = 5000 };
    int round, wrong = 0, first_wrong = -1;
    for (round = 0; round < ROUNDS; round++) {
        cft_gate ga, gb;
        cft_counter started;
        cf_future *fs[2], *f1 = NULL, *f2 = NULL;
        cf_as_completed *it = NULL;
        cft_gate_init(&ga);
        cft_gate_init(&gb);
        cft_counter_init(&started);
        fs[0] = cft_submit_gated(ex, &gb, &started, NULL);
        fs[1] = cft_submit_gated(ex, &ga, &started, NULL);
        cft_counter_await(&started, 2);
        CHECK_STATUS(cf_as_completed_new(fs, 2, CF_FOREVER, &it), CF_OK);
        cft_gate_open(&ga);
        CHECK_STATUS(cf_future_exception(fs[1], CF_FOREVER), CF_OK);
        cft_gate_open(&gb);
        CHECK_STATUS(cf_future_exception(fs[0], CF_FOREVER), CF_OK);
        CHECK_STATUS(cf_as_completed_next(it, &f1, NULL), CF_OK);
        CHECK_STATUS(cf_as_completed_next(it, &f2, NULL), CF_OK);
        CHECK(f1 != f2);
        if (f1 != fs[1]) {
            wrong++;
            if (first_wrong < 0) first_wrong = round;
        }
        cf_as_completed_free(it);
        cf_future_free(fs[0]);
        cf_future_free(fs[1]);
        cft_counter_destroy(&started);
        cft_gate_destroy(&ga);
        cft_gate_destroy(&gb);
    }
    if (wrong)
        fprintf(stderr,
                "as_completed handed out the later-completed future first in %d of %d rounds "
                "(first in round %d)\n",
                wrong, ROUNDS, first_wrong);
    CHECK_EQ_INT(wrong, 0);
}

int main(void) {
    cft_baseline base;
    cf_executor *ex, *ex1;
    base = cft_begin("test_as_completed");

    ex = cft_pool(8);
    ex1 = cft_pool(1);

    test_distinct(ex);
    test_order(ex);
    test_timeout(ex);
    test_cancel_wakes(ex1);
    test_keeps_alive(ex);
    test_zero();
    test_same_thrice(ex);
    test_deadline_two_slow(ex);
    test_many(ex);
    test_order_rounds(ex);

    cf_executor_free(ex);
    cf_executor_free(ex1);
    CFT_END(base);
    return 0;
}
