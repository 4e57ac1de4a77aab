/* test_out.c: cf_out misuse and edge cases.
 *
 * Catalogue rows (RELIABILITY.md section 2): BI15 cf_out misuse: cf_out_set twice (the last
 * wins), cf_out_alloc then cf_out_set and the reverse (the last wins), a cf_out kept and used
 * after its task returned, or used from another thread while the task runs
 * (CF_INVALID_ARGUMENT / NULL, never a write into a dead stack frame), a 1 MiB failure
 * message (kept whole); BI03 an empty argument (NULL, length 0: the task sees length 0).
 * Memory errors would show under the sanitize script (O8); O2 and O5 at the end. */
#include "cftest.h"

/* The cf_out of the last task_keep_out call, kept on purpose past its return. */
static cf_out *g_kept;

static int task_keep_out(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    g_kept = out;
    return cf_out_set(out, "kept", 4) == CF_OK ? 0 : 1;
}

/* Several writes: the last one is the result. 1: set twice; 2: alloc then set; 3: set then
 * alloc; 4: alloc twice. */
static int task_writes(const void *arg, size_t len, cf_out *out) {
    int mode;
    char *p;
    if (len != sizeof mode) return 99;
    memcpy(&mode, arg, sizeof mode);
    switch (mode) {
    case 1:
        if (cf_out_set(out, "first", 5) != CF_OK) return 1;
        if (cf_out_set(out, "second", 6) != CF_OK) return 1;
        return 0;
    case 2:
        p = cf_out_alloc(out, 64);
        if (!p) return 2;
        memset(p, 'x', 64);
        return cf_out_set(out, "set-last", 8) == CF_OK ? 0 : 2;
    case 3:
        if (cf_out_set(out, "set-first", 9) != CF_OK) return 3;
        p = cf_out_alloc(out, 5);
        if (!p) return 3;
        memcpy(p, "alloc", 5);
        return 0;
    case 4:
        p = cf_out_alloc(out, 100);
        if (!p) return 4;
        memset(p, 'y', 100);
        p = cf_out_alloc(out, 3);
        if (!p) return 4;
        memcpy(p, "two", 3);
        return 0;
    default:
        return 98;
    }
}

/* Fails with the 1 MiB message whose address is the argument. */
static int task_big_message(const void *arg, size_t len, cf_out *out) {
    const char *msg;
    if (len != sizeof msg) return 99;
    memcpy(&msg, arg, sizeof msg);
    return cf_out_fail(out, msg) == CF_OK ? 5 : 98;
}

/* Publishes its cf_out, then blocks on a gate while another thread tries to use it. */
typedef struct exposed {
    cft_gate *gate;
    cft_counter *started;
    cf_out *out;
} exposed;

static int task_expose_out(const void *arg, size_t len, cf_out *out) {
    exposed *e;
    if (len != sizeof e) return 99;
    memcpy(&e, arg, sizeof e);
    e->out = out;
    cft_counter_add(e->started, 1);
    cft_gate_wait(e->gate);
    /* Still usable from its own thread during the call. */
    return cf_out_set(out, "own", 3) == CF_OK ? 0 : 97;
}

/* BI03: reports the argument length it saw. */
static int task_len(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    return cf_out_set(out, &len, sizeof len) == CF_OK ? 0 : 1;
}

static void expect_result(cf_future *f, const void *want, size_t want_len) {
    const void *data = NULL;
    size_t len = 0;
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_EQ_INT(len, want_len);
    CHECK(memcmp(data, want, want_len) == 0);
}

static void test_last_write_wins(cf_executor *ex) {
    static const char *const want[5] = {NULL, "second", "set-last", "alloc", "two"};
    int mode;
    for (mode = 1; mode <= 4; mode++) {
        cf_future *f = NULL;
        CHECK_STATUS(cf_submit(ex, task_writes, &mode, sizeof mode, &f), CF_OK);
        expect_result(f, want[mode], strlen(want[mode]));
        cf_future_free(f);
    }
}

static void test_kept_after_return(cf_executor *ex) {
    cf_future *f = NULL;
    int round;
    for (round = 0; round < 3; round++) {
        g_kept = NULL;
        CHECK_STATUS(cf_submit(ex, task_keep_out, NULL, 0, &f), CF_OK);
        expect_result(f, "kept", 4);
        CHECK(g_kept != NULL);
        /* Used after the task returned: refused, and the result is unchanged. */
        CHECK_STATUS(cf_out_set(g_kept, "late", 4), CF_INVALID_ARGUMENT);
        CHECK(strstr(cf_last_error(), "cf_out") != NULL);
        CHECK(cf_out_alloc(g_kept, 16) == NULL);
        CHECK(cf_last_error()[0] != '\0');
        CHECK_STATUS(cf_out_fail(g_kept, "late failure"), CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_out_set(g_kept, NULL, 0), CF_INVALID_ARGUMENT);
        expect_result(f, "kept", 4);
        CHECK_STATUS(cf_future_exception(f, 0.0), CF_OK);
        cf_future_free(f);
    }
}

static void test_other_thread(cf_executor *ex) {
    cft_gate gate;
    cft_counter started;
    exposed e;
    exposed *pe = &e;
    cf_future *f = NULL;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    e.gate = &gate;
    e.started = &started;
    e.out = NULL;
    CHECK_STATUS(cf_submit(ex, task_expose_out, &pe, sizeof pe, &f), CF_OK);
    cft_counter_await(&started, 1);
    /* The task is running on a pool thread: its cf_out is not this thread's. */
    CHECK_STATUS(cf_out_set(e.out, "intruder", 8), CF_INVALID_ARGUMENT);
    CHECK(cf_out_alloc(e.out, 8) == NULL);
    CHECK_STATUS(cf_out_fail(e.out, "intruder"), CF_INVALID_ARGUMENT);
    cft_gate_open(&gate);
    expect_result(f, "own", 3);
    cf_future_free(f);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

static void test_big_message(cf_executor *ex) {
    enum { MIB = 1 << 20 };
    char *msg = malloc(MIB + 1);
    const char *got;
    cf_future *f = NULL;
    size_t i;
    CHECK(msg != NULL);
    for (i = 0; i < MIB; i++) msg[i] = (char)('a' + i % 26);
    msg[MIB] = 0;
    CHECK_STATUS(cf_submit(ex, task_big_message, &msg, sizeof msg, &f), CF_OK);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_TASK_FAILED);
    CHECK_EQ_INT(strlen(cf_last_error()), MIB);
    got = cf_future_error_message(f);
    CHECK(got != NULL);
    CHECK_EQ_INT(strlen(got), MIB);
    CHECK(memcmp(got, msg, MIB) == 0);
    CHECK_EQ_INT(cf_future_error_code(f), 5);
    cf_future_free(f);
    free(msg);
}

static void test_empty_argument(cf_executor *ex) {
    cf_future *f = NULL;
    size_t seen = 99;
    CHECK_STATUS(cf_submit(ex, task_len, NULL, 0, &f), CF_OK);
    {
        const void *data = NULL;
        size_t len = 0;
        CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
        CHECK_EQ_INT(len, sizeof seen);
        memcpy(&seen, data, sizeof seen);
        CHECK_EQ_INT(seen, 0);
    }
    cf_future_free(f);
}

int main(void) {
    cft_baseline base = cft_begin("test_out");
    cf_executor *ex = cft_pool(2);
    test_last_write_wins(ex);
    test_kept_after_return(ex);
    test_other_thread(ex);
    test_big_message(ex);
    test_empty_argument(ex);
    cf_executor_free(ex);
    CFT_END(base);
    return 0;
}
