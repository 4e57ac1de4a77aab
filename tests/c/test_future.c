/* test_future.c: submit and result, result bytes, failures, states, cancel, refcounting.
 *
 * Catalogue rows (RELIABILITY.md section 2): TO10 cancel of a running or finished future
 * (test_states), BI12 a future freed while its task is queued or running (test_free_queued,
 * test_free_running; memory through the sanitize script, O8), BI13 result twice and the bytes'
 * lifetime (test_refcount), BI15 result replacement (test_empty_results; the rest of cf_out
 * misuse is test_out.c). main checks threads and descriptors (O2, O5). */
#include "cftest.h"

#define ALIGNED16(p) ((((uintptr_t)(const void *)(p)) & 15u) == 0)

/* Echoes its argument; fails with 77 if the argument is misaligned. */
static int task_echo_aligned(const void *arg, size_t len, cf_out *out) {
    if (arg != NULL && !ALIGNED16(arg)) return 77;
    if (len > 0 && arg == NULL) return 78;
    return cf_out_set(out, arg, len) == CF_OK ? 0 : 79;
}

/* Argument of task_big: the result size and a seed for the pattern. */
typedef struct big_arg {
    size_t len;
    unsigned seed;
} big_arg;

static unsigned char pattern(size_t i, unsigned seed) {
    return (unsigned char)((i * 31u + (i >> 8) + seed) & 0xffu);
}

/* Fills a result buffer from cf_out_alloc with a pattern. 70: NULL, 71: misaligned,
 * 72: not zeroed. */
static int task_big(const void *arg, size_t len, cf_out *out) {
    big_arg a;
    unsigned char *p;
    size_t i;
    if (len != sizeof a) return 69;
    memcpy(&a, arg, sizeof a);
    p = cf_out_alloc(out, a.len);
    if (p == NULL) return 70;
    if (!ALIGNED16(p)) return 71;
    for (i = 0; i < a.len; i++) {
        if (p[i] != 0) return 72;
        p[i] = pattern(i, a.seed);
    }
    return 0;
}

static int task_return(const void *arg, size_t len, cf_out *out) {
    int rc;
    (void)out;
    if (len != sizeof rc) return 1000;
    memcpy(&rc, arg, sizeof rc);
    return rc;
}

/* Argument of task_fail: message (may be NULL), the return value, whether to set a result. */
typedef struct fail_arg {
    const char *message;
    int rc;
    bool set_result_first;
} fail_arg;

static int task_fail(const void *arg, size_t len, cf_out *out) {
    fail_arg a;
    if (len != sizeof a) return 1000;
    memcpy(&a, arg, sizeof a);
    if (a.set_result_first && cf_out_set(out, "xyz", 3) != CF_OK) return 1001;
    if (cf_out_fail(out, a.message) != CF_OK) return 1002;
    return a.rc;
}

/* Result replacement: set, then alloc, then set again; the last one wins. */
static int task_replace(const void *arg, size_t len, cf_out *out) {
    char *p;
    (void)arg;
    (void)len;
    if (cf_out_set(out, "first", 5) != CF_OK) return 1;
    p = cf_out_alloc(out, 100);
    if (!p) return 2;
    memset(p, 'a', 100);
    if (cf_out_set(out, "final", 5) != CF_OK) return 3;
    return 0;
}

/* Set, then alloc: the buffer replaces the set result. */
static int task_set_then_alloc(const void *arg, size_t len, cf_out *out) {
    char *p;
    (void)arg;
    (void)len;
    if (cf_out_set(out, "a result that will be replaced by the buffer", 44) != CF_OK) return 1;
    p = cf_out_alloc(out, 3);
    if (!p) return 2;
    memcpy(p, "buf", 3);
    return 0;
}

/* cf_out_alloc(0): a non-NULL pointer to nothing, and an empty result. */
static int task_alloc0(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    return cf_out_alloc(out, 0) != NULL ? 0 : 1;
}

static void expect_bytes(cf_future *f, const void *want, size_t want_len) {
    const void *data = NULL;
    size_t len = 12345;
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_EQ_INT(len, want_len);
    if (want_len > 0) {
        CHECK(data != NULL);
        CHECK(ALIGNED16(data));
        CHECK(memcmp(data, want, want_len) == 0);
    }
    CHECK(cf_future_error_message(f) == NULL);
    CHECK_EQ_INT(cf_future_error_code(f), 0);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
    CHECK(cf_future_done(f));
    CHECK(!cf_future_running(f));
    CHECK(!cf_future_cancelled(f));
}

static void test_result_bytes(cf_executor *ex) {
    static const size_t sizes[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 48, 63, 64, 100, 4096, 65537};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], j;
        unsigned char *buf = malloc(n + 1);
        cf_future *f = NULL;
        CHECK(buf != NULL);
        for (j = 0; j < n; j++) buf[j] = (unsigned char)(j * 7 + n);
        CHECK_STATUS(cf_submit(ex, task_echo_aligned, buf, n, &f), CF_OK);
        expect_bytes(f, buf, n);
        cf_future_free(f);
        free(buf);
    }
    /* A plain string, the simplest case. */
    {
        cf_future *f = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_echo, "hello", 5, &f), CF_OK);
        expect_bytes(f, "hello", 5);
        cf_future_free(f);
    }
}

static void test_big_results(cf_executor *ex) {
    static const size_t sizes[] = {1, 32, 33, 1000, (size_t)1 << 20};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        big_arg a;
        cf_future *f = NULL;
        const unsigned char *data = NULL;
        const void *d = NULL;
        size_t len = 0, j;
        a.len = sizes[i];
        a.seed = (unsigned)i + 3u;
        CHECK_STATUS(cf_submit(ex, task_big, &a, sizeof a, &f), CF_OK);
        CHECK_STATUS(cf_future_result(f, CF_FOREVER, &d, &len), CF_OK);
        data = d;
        CHECK_EQ_INT(len, a.len);
        CHECK(ALIGNED16(data));
        for (j = 0; j < len; j++) {
            if (data[j] != pattern(j, a.seed)) {
                fprintf(stderr, "byte %zu of %zu differs\n", j, len);
                CHECK(data[j] == pattern(j, a.seed));
            }
        }
        cf_future_free(f);
    }
}

static void test_empty_results(cf_executor *ex) {
    cf_future *f = NULL;
    const void *data = NULL;
    size_t len = 99;
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_EQ_INT(len, 0);
    CHECK(cf_future_error_message(f) == NULL);
    cf_future_free(f);

    f = NULL;
    len = 99;
    CHECK_STATUS(cf_submit(ex, task_alloc0, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_EQ_INT(len, 0);
    cf_future_free(f);

    f = NULL;
    CHECK_STATUS(cf_submit(ex, task_replace, NULL, 0, &f), CF_OK);
    expect_bytes(f, "final", 5);
    cf_future_free(f);

    f = NULL;
    CHECK_STATUS(cf_submit(ex, task_set_then_alloc, NULL, 0, &f), CF_OK);
    expect_bytes(f, "buf", 3);
    cf_future_free(f);
}

static void expect_failure(cf_future *f, int code, const char *message) {
    const void *data = (const void *)&data;
    size_t len = 4242;
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_TASK_FAILED);
    CHECK_STR(cf_last_error(), message);
    /* Out-params are written only on CF_OK. */
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 4242);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_TASK_FAILED);
    CHECK_STR(cf_last_error(), message);
    CHECK_EQ_INT(cf_future_error_code(f), code);
    CHECK_STR(cf_future_error_message(f), message);
    CHECK(cf_future_done(f));
    CHECK(!cf_future_running(f));
    CHECK(!cf_future_cancelled(f));
    CHECK(!cf_future_cancel(f));
}

static void test_failures(cf_executor *ex) {
    static const int codes[] = {1, 42, -7, 255, 256, 2147483647, -2147483647 - 1};
    size_t i;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        cf_future *f = NULL;
        char msg[64];
        int rc = codes[i];
        CHECK_STATUS(cf_submit(ex, task_return, &rc, sizeof rc, &f), CF_OK);
        snprintf(msg, sizeof msg, "task returned %d", rc);
        expect_failure(f, rc, msg);
        cf_future_free(f);
    }
    {
        /* cf_out_fail with a message: the code is the return value, even 0. */
        struct {
            fail_arg a;
            int code;
            const char *msg;
        } cases[6];
        cases[0].a.message = "boom";
        cases[0].a.rc = 5;
        cases[0].a.set_result_first = false;
        cases[0].code = 5;
        cases[0].msg = "boom";
        cases[1].a.message = "boom with a zero return";
        cases[1].a.rc = 0;
        cases[1].a.set_result_first = true; /* the result is discarded */
        cases[1].code = 0;
        cases[1].msg = "boom with a zero return";
        cases[2].a.message = NULL;
        cases[2].a.rc = 0;
        cases[2].a.set_result_first = false;
        cases[2].code = 0;
        cases[2].msg = "task failed";
        cases[3].a.message = "";
        cases[3].a.rc = 0;
        cases[3].a.set_result_first = false;
        cases[3].code = 0;
        cases[3].msg = "";
        cases[4].a.message = "negative";
        cases[4].a.rc = -3;
        cases[4].a.set_result_first = true;
        cases[4].code = -3;
        cases[4].msg = "negative";
        /* cf_out_fail(out, NULL) and a nonzero return: NULL gives "task failed" (header and
         * DESIGN.md), the code is the return value. */
        cases[5].a.message = NULL;
        cases[5].a.rc = 3;
        cases[5].a.set_result_first = false;
        cases[5].code = 3;
        cases[5].msg = "task failed";
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            cf_future *f = NULL;
            CHECK_STATUS(cf_submit(ex, task_fail, &cases[i].a, sizeof cases[i].a, &f), CF_OK);
            expect_failure(f, cases[i].code, cases[i].msg);
            cf_future_free(f);
        }
    }
}

/* TO10 and states on a one-thread pool: a gated task runs, a second one waits behind it. A
 * running or finished future cannot be cancelled and keeps its state and result. */
static void test_states(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started, ran, counted;
    cf_future *a, *b, *c = NULL;
    const void *data = NULL;
    size_t len = 0;
    cft_counter *pk = &counted;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&ran);
    cft_counter_init(&counted);

    a = cft_submit_gated(ex1, &gate, &started, &ran);
    b = cft_submit_gated(ex1, NULL, NULL, &ran);
    CHECK_STATUS(cf_submit(ex1, cft_task_count, &pk, sizeof pk, &c), CF_OK);

    /* b and c are pending: nothing can run them while a holds the only thread. */
    CHECK(!cf_future_running(b));
    CHECK(!cf_future_done(b));
    CHECK(!cf_future_cancelled(b));
    CHECK(cf_future_error_message(b) == NULL);
    CHECK_EQ_INT(cf_future_error_code(b), 0);

    cft_counter_await(&started, 1);
    CHECK(cf_future_running(a));
    CHECK(!cf_future_done(a));
    CHECK(!cf_future_cancelled(a));
    /* A running future cannot be cancelled. */
    CHECK(!cf_future_cancel(a));
    CHECK(cf_future_running(a));
    CHECK(!cf_future_cancelled(a));

    /* Cancel the pending c: true, and true again; its task never runs. */
    CHECK(cf_future_cancel(c));
    CHECK(cf_future_cancel(c));
    CHECK(cf_future_cancelled(c));
    CHECK(cf_future_done(c));
    CHECK(!cf_future_running(c));
    CHECK_STATUS(cf_future_result(c, CF_FOREVER, &data, &len), CF_CANCELLED);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_STATUS(cf_future_exception(c, 0.0), CF_CANCELLED);
    CHECK(cf_future_error_message(c) == NULL);
    CHECK_EQ_INT(cf_future_error_code(c), 0);

    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_result(a, CF_FOREVER, &data, &len), CF_OK);
    CHECK(cf_future_done(a));
    CHECK(!cf_future_running(a));
    CHECK(!cf_future_cancelled(a));
    /* A finished future cannot be cancelled and its result is unchanged. */
    CHECK(!cf_future_cancel(a));
    CHECK(!cf_future_cancelled(a));
    CHECK_STATUS(cf_future_result(a, 0.0, &data, &len), CF_OK);
    CHECK_EQ_INT(len, 0);

    CHECK_STATUS(cf_future_result(b, CF_FOREVER, &data, &len), CF_OK);
    CHECK(!cf_future_cancel(b));
    CHECK_STATUS(cf_future_exception(b, 0.0), CF_OK);

    /* Every submitted task has run (or was cancelled) once the pool has drained. */
    {
        cf_future *fs[3];
        size_t n_done = 0;
        fs[0] = a;
        fs[1] = b;
        fs[2] = c;
        CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, NULL, &n_done), CF_OK);
        CHECK_EQ_INT(n_done, 3);
    }
    CHECK_EQ_INT(cft_counter_get(&ran), 2);

    cf_future_free(a);
    cf_future_free(b);
    cf_future_free(c);
    /* The cancelled task must never run, even after everything drained. A later task on the
     * same single thread proves the queue has moved past c. */
    {
        cf_future *d = NULL;
        CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &d), CF_OK);
        CHECK_STATUS(cf_future_exception(d, CF_FOREVER), CF_OK);
        cf_future_free(d);
    }
    CHECK_EQ_INT(cft_counter_get(&counted), 0);

    cft_counter_destroy(&started);
    cft_counter_destroy(&ran);
    cft_counter_destroy(&counted);
    cft_gate_destroy(&gate);
}

/* BI13: result twice gives the same bytes at the same address; a retained reference keeps
 * them alive after the first is freed. */
static void test_refcount(cf_executor *ex) {
    cf_future *f = NULL, *g;
    const void *data = NULL, *data2 = NULL;
    size_t len = 0, len2 = 0;
    char big[100];
    memset(big, 'q', sizeof big);
    CHECK_STATUS(cf_submit(ex, cft_task_echo, big, sizeof big, &f), CF_OK);
    g = cf_future_retain(f);
    CHECK(g == f);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data2, &len2), CF_OK);
    CHECK(data2 == data);
    CHECK_EQ_INT(len2, len);
    /* Free the original: the retained reference keeps the future and its bytes alive. */
    cf_future_free(f);
    CHECK_EQ_INT(len, sizeof big);
    CHECK(memcmp(data, big, sizeof big) == 0);
    CHECK(cf_future_done(g));
    CHECK_STATUS(cf_future_result(g, 0.0, &data, &len), CF_OK);
    CHECK(memcmp(data, big, sizeof big) == 0);
    /* Many references, dropped in any order. */
    {
        cf_future *refs[10];
        int i;
        for (i = 0; i < 10; i++) refs[i] = cf_future_retain(g);
        cf_future_free(g);
        for (i = 0; i < 10; i += 2) cf_future_free(refs[i]);
        CHECK_STATUS(cf_future_result(refs[9], 0.0, &data, &len), CF_OK);
        CHECK(memcmp(data, big, sizeof big) == 0);
        for (i = 1; i < 10; i += 2) cf_future_free(refs[i]);
    }
}

/* BI12: a future freed while its task is still queued: the task still runs. */
static void test_free_queued(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started, counted;
    cf_future *blocker, *f = NULL;
    cft_counter *pk = &counted;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&counted);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    cft_counter_await(&started, 1);
    for (i = 0; i < 5; i++) {
        f = NULL;
        CHECK_STATUS(cf_submit(ex1, cft_task_count, &pk, sizeof pk, &f), CF_OK);
        CHECK(!cf_future_done(f));
        cf_future_free(f);
    }
    /* The argument was copied at submit: changing the pointer variable now changes nothing. */
    pk = NULL;
    CHECK_EQ_INT(cft_counter_get(&counted), 0);
    cft_gate_open(&gate);
    cft_counter_await(&counted, 5);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    cf_future_free(blocker);
    cft_counter_destroy(&started);
    cft_counter_destroy(&counted);
    cft_gate_destroy(&gate);
}

/* BI12: a future freed (its only reference) while its task is running: the task finishes and
 * sets its result into the released-by-the-user future without a use-after-free (ASan and
 * valgrind in the sanitize script), and the pool goes on. */
static void test_free_running(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started, ran;
    cf_future *f, *probe = NULL;
    int i;
    for (i = 0; i < 3; i++) {
        cft_gate_init(&gate);
        cft_counter_init(&started);
        cft_counter_init(&ran);
        f = cft_submit_gated(ex1, &gate, &started, &ran);
        cft_counter_await(&started, 1);
        CHECK(cf_future_running(f));
        cf_future_free(f);
        cft_gate_open(&gate);
        cft_counter_await(&ran, 1);
        /* The same thread then takes the next task: the completion went through. */
        CHECK_STATUS(cf_submit(ex1, cft_task_echo, "next", 4, &probe), CF_OK);
        CHECK_STATUS(cf_future_exception(probe, CF_FOREVER), CF_OK);
        cf_future_free(probe);
        probe = NULL;
        cft_counter_destroy(&started);
        cft_counter_destroy(&ran);
        cft_gate_destroy(&gate);
    }
}

/* Arguments are copied at submit time. */
static void test_arg_copied(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started;
    cf_future *blocker, *small = NULL, *large = NULL;
    char s[8] = "abcdefg";
    char *l = malloc(5000);
    CHECK(l != NULL);
    memset(l, 'L', 5000);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex1, cft_task_echo, s, sizeof s, &small), CF_OK);
    CHECK_STATUS(cf_submit(ex1, cft_task_echo, l, 5000, &large), CF_OK);
    memset(s, 'X', sizeof s);
    memset(l, 'X', 5000);
    free(l);
    cft_gate_open(&gate);
    expect_bytes(small, "abcdefg", 8);
    {
        const void *data = NULL;
        size_t len = 0, i;
        CHECK_STATUS(cf_future_result(large, CF_FOREVER, &data, &len), CF_OK);
        CHECK_EQ_INT(len, 5000);
        for (i = 0; i < len; i++) CHECK(((const char *)data)[i] == 'L');
    }
    cf_future_free(blocker);
    cf_future_free(small);
    cf_future_free(large);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* Several threads wait on one future at once; all see the same bytes. */
typedef struct waiter_arg {
    cf_future *f;
    const void *data;
    size_t len;
    int status;
} waiter_arg;

static void *waiter_thread(void *p) {
    waiter_arg *w = p;
    w->status = (int)cf_future_result(w->f, CF_FOREVER, &w->data, &w->len);
    return NULL;
}

static void test_concurrent_result(cf_executor *ex) {
    cft_gate gate;
    cft_counter started;
    cf_future *f;
    pthread_t th[4];
    waiter_arg w[4];
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    f = cft_submit_gated(ex, &gate, &started, NULL);
    for (i = 0; i < 4; i++) {
        w[i].f = f;
        w[i].data = NULL;
        w[i].len = 7;
        w[i].status = -1;
        CHECK(pthread_create(&th[i], NULL, waiter_thread, &w[i]) == 0);
    }
    cft_gate_open(&gate);
    for (i = 0; i < 4; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK_STATUS(w[i].status, CF_OK);
        CHECK_EQ_INT(w[i].len, 0);
        CHECK(w[i].data == w[0].data);
    }
    cf_future_free(f);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* A cancel from another thread wakes a blocked cf_future_result / cf_future_exception at once:
 * the future is queued behind a gated task on a one-thread pool, so the cancel is the only way
 * out. Several threads cancelling together all get true, and the callbacks run once. */
typedef struct cancel_helper {
    pid_t tid;
    cf_future *f;
    bool result;
} cancel_helper;

static void *cancel_when_blocked(void *p) {
    cancel_helper *h = p;
    cft_wait_blocked(h->tid);
    h->result = cf_future_cancel(h->f);
    return NULL;
}

static void *cancel_now(void *p) {
    cancel_helper *h = p;
    h->result = cf_future_cancel(h->f);
    return NULL;
}

static void cb_count_calls(cf_future *f, void *ud) {
    (void)f;
    cft_counter_add((cft_counter *)ud, 1);
}

static void test_cancel_wakes_result(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started, calls;
    cf_future *blocker, *f, *g, *h3;
    cancel_helper h;
    pthread_t th;
    const void *data = (const void *)&data;
    size_t len = 11;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&calls);
    blocker = cft_submit_gated(ex1, &gate, &started, NULL);
    f = cft_submit_gated(ex1, NULL, NULL, NULL);
    g = cft_submit_gated(ex1, NULL, NULL, NULL);
    h3 = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);

    h.tid = cft_gettid();
    h.f = f;
    h.result = false;
    CHECK(pthread_create(&th, NULL, cancel_when_blocked, &h) == 0);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_CANCELLED);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(h.result);
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 11);

    h.f = g;
    h.result = false;
    CHECK(pthread_create(&th, NULL, cancel_when_blocked, &h) == 0);
    CHECK_STATUS(cf_future_exception(g, CF_FOREVER), CF_CANCELLED);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(h.result);

    /* Four threads cancel h3 at once: all true, its callback runs once. */
    {
        cancel_helper hs[4];
        pthread_t ths[4];
        int i;
        CHECK_STATUS(cf_future_add_done_callback(h3, cb_count_calls, &calls), CF_OK);
        for (i = 0; i < 4; i++) {
            hs[i].f = h3;
            hs[i].result = false;
            CHECK(pthread_create(&ths[i], NULL, cancel_now, &hs[i]) == 0);
        }
        for (i = 0; i < 4; i++) {
            CHECK(pthread_join(ths[i], NULL) == 0);
            CHECK(hs[i].result);
        }
        CHECK_EQ_INT(cft_counter_get(&calls), 1);
        CHECK(cf_future_cancelled(h3));
    }

    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(blocker, CF_FOREVER), CF_OK);
    cf_future_free(blocker);
    cf_future_free(f);
    cf_future_free(g);
    cf_future_free(h3);
    cft_counter_destroy(&started);
    cft_counter_destroy(&calls);
    cft_gate_destroy(&gate);
}

int main(void) {
    cft_baseline base;
    cf_executor *ex, *ex1;
    base = cft_begin("test_future");

    ex = cft_pool(4);
    ex1 = cft_pool(1);

    test_result_bytes(ex);
    test_big_results(ex);
    test_empty_results(ex);
    test_failures(ex);
    test_states(ex1);
    test_refcount(ex);
    test_free_queued(ex1);
    test_free_running(ex1);
    test_arg_copied(ex1);
    test_concurrent_result(ex);
    test_cancel_wakes_result(ex1);

    cf_executor_free(ex);
    cf_executor_free(ex1);
    CFT_END(base);
    return 0;
}
