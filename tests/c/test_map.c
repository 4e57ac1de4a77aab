/* test_map.c: cf_map / cf_map_next / cf_map_free.
 *
 * Catalogue rows (RELIABILITY.md section 2): BI14 degenerate maps (test_empty: n 0, items of 0
 * bytes; test_invalid: chunksize 0 is CF_INVALID_ARGUMENT), SD04 a full queue at shutdown
 * (test_full_queue_shutdown). main checks threads and descriptors (O2, O5). */
#include "cftest.h"

enum item_kind { ITEM_SQUARE = 0, ITEM_FAIL = 1 };

/* One map item (laid end to end in the args buffer). */
typedef struct item {
    int kind;
    int value;
    cft_gate *gate;         /* waited on first, if not NULL */
    cft_counter *started;   /* incremented on start, if not NULL */
    cft_counter *ran;       /* incremented at the end, if not NULL */
} item;

static int task_item(const void *arg, size_t len, cf_out *out) {
    item it;
    long long sq;
    if (len != sizeof it) return 1000;
    memcpy(&it, arg, sizeof it);
    if (it.started) cft_counter_add(it.started, 1);
    if (it.gate) cft_gate_wait(it.gate);
    if (it.kind == ITEM_FAIL) {
        char msg[64];
        snprintf(msg, sizeof msg, "item %d failed", it.value);
        cf_out_fail(out, msg);
        if (it.ran) cft_counter_add(it.ran, 1);
        return 17;
    }
    sq = (long long)it.value * it.value;
    if (cf_out_set(out, &sq, sizeof sq) != CF_OK) return 1001;
    if (it.ran) cft_counter_add(it.ran, 1);
    return 0;
}

static item mk(int kind, int value, cft_gate *gate, cft_counter *started, cft_counter *ran) {
    item it;
    memset(&it, 0, sizeof it);
    it.kind = kind;
    it.value = value;
    it.gate = gate;
    it.started = started;
    it.ran = ran;
    return it;
}

static void expect_square(cf_map_iter *it, int value) {
    const void *data = NULL;
    size_t len = 0;
    long long sq;
    CHECK_STATUS(cf_map_next(it, &data, &len), CF_OK);
    CHECK_EQ_INT(len, sizeof sq);
    memcpy(&sq, data, sizeof sq);
    CHECK_EQ_INT(sq, (long long)value * value);
}

static void expect_end(cf_map_iter *it) {
    const void *data = (const void *)&data;
    size_t len = 31;
    CHECK_STATUS(cf_map_next(it, &data, &len), CF_DONE);
    CHECK_STATUS(cf_map_next(it, &data, &len), CF_DONE);
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 31);
}

/* Helper thread for SD04: opens `gate` once thread `tid` is parked. */
typedef struct opener {
    pid_t tid;
    cft_gate *gate;
} opener;

static void *open_when_blocked(void *p) {
    opener *h = p;
    cft_wait_blocked(h->tid);
    cft_gate_open(h->gate);
    return NULL;
}

/* Waits until every task queued so far on a one-thread pool has run. */
static void drain1(cf_executor *ex1) {
    cf_future *probe = NULL;
    CHECK_STATUS(cf_submit(ex1, cft_task_noop, NULL, 0, &probe), CF_OK);
    CHECK_STATUS(cf_future_exception(probe, CF_FOREVER), CF_OK);
    cf_future_free(probe);
}

/* Results come in input order even when the items complete in reverse order. */
static void test_order(cf_executor *ex) {
    enum { N = 8 };
    cft_gate gates[N];
    cft_counter started, ran;
    item items[N];
    cf_map_iter *it = NULL;
    int i;
    cft_counter_init(&started);
    cft_counter_init(&ran);
    for (i = 0; i < N; i++) {
        cft_gate_init(&gates[i]);
        items[i] = mk(ITEM_SQUARE, i + 1, &gates[i], &started, &ran);
    }
    CHECK_STATUS(cf_map(ex, task_item, items, sizeof(item), N, CF_FOREVER, 1, &it), CF_OK);
    cft_counter_await(&started, N);
    for (i = N - 1; i >= 0; i--) {
        cft_gate_open(&gates[i]);
        cft_counter_await(&ran, N - i);
    }
    for (i = 0; i < N; i++) expect_square(it, i + 1);
    expect_end(it);
    cf_map_free(it);
    for (i = 0; i < N; i++) cft_gate_destroy(&gates[i]);
    cft_counter_destroy(&started);
    cft_counter_destroy(&ran);
}

/* Many items, several chunk sizes (the thread pool ignores chunksize, but it must work). */
static void test_many(cf_executor *ex) {
    enum { N = 5000 };
    static item items[N];
    static const size_t chunks[] = {1, 2, 7, 1000, (size_t)-1};
    size_t c;
    int i;
    for (i = 0; i < N; i++) items[i] = mk(ITEM_SQUARE, i, NULL, NULL, NULL);
    for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        cf_map_iter *it = NULL;
        CHECK_STATUS(cf_map(ex, task_item, items, sizeof(item), N, CF_FOREVER, chunks[c], &it),
                     CF_OK);
        for (i = 0; i < N; i++) expect_square(it, i);
        expect_end(it);
        cf_map_free(it);
    }
}

/* Results stay valid until the next cf_map_next. */
static void test_data_lifetime(cf_executor *ex) {
    char args[4][40];
    cf_map_iter *it = NULL;
    const void *data = NULL;
    size_t len = 0;
    int i;
    for (i = 0; i < 4; i++) memset(args[i], 'a' + i, sizeof args[i]);
    CHECK_STATUS(cf_map(ex, cft_task_echo, args, sizeof args[0], 4, CF_FOREVER, 1, &it), CF_OK);
    /* The args were copied: changing them now changes nothing. */
    memset(args, 'z', sizeof args);
    for (i = 0; i < 4; i++) {
        size_t j;
        CHECK_STATUS(cf_map_next(it, &data, &len), CF_OK);
        CHECK_EQ_INT(len, 40);
        CHECK((((uintptr_t)data) & 15u) == 0);
        for (j = 0; j < len; j++) CHECK(((const char *)data)[j] == 'a' + i);
    }
    expect_end(it);
    cf_map_free(it);
}

static void test_empty(cf_executor *ex) {
    cf_map_iter *it = NULL;
    /* n = 0, with and without an args pointer. */
    CHECK_STATUS(cf_map(ex, task_item, NULL, sizeof(item), 0, CF_FOREVER, 1, &it), CF_OK);
    CHECK(it != NULL);
    expect_end(it);
    cf_map_free(it);
    it = NULL;
    {
        item one = mk(ITEM_SQUARE, 3, NULL, NULL, NULL);
        CHECK_STATUS(cf_map(ex, task_item, &one, sizeof one, 0, 0.0, 1, &it), CF_OK);
        expect_end(it);
        cf_map_free(it);
    }
    /* Items of 0 bytes: args may be NULL; each task sees len 0. */
    {
        int i;
        it = NULL;
        CHECK_STATUS(cf_map(ex, cft_task_echo, NULL, 0, 5, CF_FOREVER, 1, &it), CF_OK);
        for (i = 0; i < 5; i++) {
            const void *data = NULL;
            size_t len = 9;
            CHECK_STATUS(cf_map_next(it, &data, &len), CF_OK);
            CHECK_EQ_INT(len, 0);
        }
        expect_end(it);
        cf_map_free(it);
    }
}

static void test_invalid(cf_executor *ex) {
    item items[2];
    cf_map_iter *it = (cf_map_iter *)&it;
    items[0] = mk(ITEM_SQUARE, 1, NULL, NULL, NULL);
    items[1] = mk(ITEM_SQUARE, 2, NULL, NULL, NULL);
    CHECK_STATUS(cf_map(ex, task_item, items, sizeof(item), 2, CF_FOREVER, 0, &it),
                 CF_INVALID_ARGUMENT);
    CHECK(strstr(cf_last_error(), "chunksize") != NULL);
    CHECK_STATUS(cf_map(ex, task_item, NULL, sizeof(item), 0, CF_FOREVER, 0, &it),
                 CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_map(ex, task_item, NULL, sizeof(item), 2, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_STATUS(cf_map(ex, task_item, NULL, 1, 1, CF_FOREVER, 1, &it), CF_INVALID_ARGUMENT);
    /* n * arg_len overflows: rejected before anything is read (the buffer is small). */
    CHECK_STATUS(cf_map(ex, task_item, items, SIZE_MAX / 2 + 1, 2, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK_STATUS(cf_map(ex, task_item, items, SIZE_MAX, SIZE_MAX, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_map(ex, task_item, items, 2, SIZE_MAX, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_map(ex, task_item, NULL, SIZE_MAX, 3, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    /* Out-param untouched on failure. */
    CHECK(it == (cf_map_iter *)&it);
}

/* A failing item: CF_TASK_FAILED with its message, then CF_DONE; items not started are
 * cancelled. One thread: items run in order; item 3 blocks on a gate, so when item 2's failure
 * is reported, items 4.. have not started and must never run. */
static void test_failure(cf_executor *ex1) {
    enum { N = 10 };
    item items[N];
    cft_gate gate;
    cft_counter started3, ran_late, ran_early;
    cf_map_iter *it = NULL;
    const void *data = (const void *)&data;
    size_t len = 5;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started3);
    cft_counter_init(&ran_late);
    cft_counter_init(&ran_early);
    items[0] = mk(ITEM_SQUARE, 0, NULL, NULL, &ran_early);
    items[1] = mk(ITEM_SQUARE, 1, NULL, NULL, &ran_early);
    items[2] = mk(ITEM_FAIL, 2, NULL, NULL, &ran_early);
    items[3] = mk(ITEM_SQUARE, 3, &gate, &started3, &ran_early);
    for (i = 4; i < N; i++) items[i] = mk(ITEM_SQUARE, i, NULL, NULL, &ran_late);
    CHECK_STATUS(cf_map(ex1, task_item, items, sizeof(item), N, CF_FOREVER, 1, &it), CF_OK);
    expect_square(it, 0);
    expect_square(it, 1);
    CHECK_EQ_INT(cf_map_error_code(it), 0); /* the last call succeeded */
    CHECK_STATUS(cf_map_next(it, &data, &len), CF_TASK_FAILED);
    CHECK_STR(cf_last_error(), "item 2 failed");
    CHECK_EQ_INT(cf_map_error_code(it), 17); /* the task's return value */
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 5);
    expect_end(it);
    CHECK_EQ_INT(cf_map_error_code(it), 0); /* CF_DONE is no failure */
    cft_gate_open(&gate);
    drain1(ex1);
    CHECK_EQ_INT(cft_counter_get(&ran_late), 0);
    cf_map_free(it);
    drain1(ex1);
    CHECK_EQ_INT(cft_counter_get(&ran_late), 0);
    cft_gate_destroy(&gate);
    cft_counter_destroy(&started3);
    cft_counter_destroy(&ran_late);
    cft_counter_destroy(&ran_early);
}

/* A timeout: CF_TIMEOUT then CF_DONE; items not started are cancelled. A result that is ready
 * is returned even after the deadline. */
static void test_timeout(cf_executor *ex1, double timeout) {
    enum { N = 6 };
    item items[N];
    cft_gate gate;
    cft_counter ran0, started1, ran_late;
    cf_map_iter *it = NULL;
    const void *data = (const void *)&data;
    size_t len = 5;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&ran0);
    cft_counter_init(&started1);
    cft_counter_init(&ran_late);
    items[0] = mk(ITEM_SQUARE, 4, NULL, NULL, &ran0);
    items[1] = mk(ITEM_SQUARE, 5, &gate, &started1, NULL);
    for (i = 2; i < N; i++) items[i] = mk(ITEM_SQUARE, i, NULL, NULL, &ran_late);
    CHECK_STATUS(cf_map(ex1, task_item, items, sizeof(item), N, timeout, 1, &it), CF_OK);
    cft_counter_await(&ran0, 1);
    cft_counter_await(&started1, 1);
    /* Item 0 finished (maybe after the deadline): its result is given. */
    expect_square(it, 4);
    CHECK_STATUS(cf_map_next(it, &data, &len), CF_TIMEOUT);
    CHECK(cf_last_error()[0] != '\0');
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 5);
    expect_end(it);
    cft_gate_open(&gate);
    drain1(ex1);
    CHECK_EQ_INT(cft_counter_get(&ran_late), 0);
    cf_map_free(it);
    cft_gate_destroy(&gate);
    cft_counter_destroy(&ran0);
    cft_counter_destroy(&started1);
    cft_counter_destroy(&ran_late);
}

/* cf_map_free mid-way cancels what has not started. */
static void test_free_midway(cf_executor *ex1, int consume) {
    enum { N = 12 };
    item items[N];
    cft_gate gate;
    cft_counter started, ran_late;
    cf_map_iter *it = NULL;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&ran_late);
    for (i = 0; i < consume; i++) items[i] = mk(ITEM_SQUARE, i, NULL, NULL, NULL);
    items[consume] = mk(ITEM_SQUARE, consume, &gate, &started, NULL);
    for (i = consume + 1; i < N; i++) items[i] = mk(ITEM_SQUARE, i, NULL, NULL, &ran_late);
    CHECK_STATUS(cf_map(ex1, task_item, items, sizeof(item), N, CF_FOREVER, 1, &it), CF_OK);
    for (i = 0; i < consume; i++) expect_square(it, i);
    cft_counter_await(&started, 1);
    cf_map_free(it);
    cft_gate_open(&gate);
    drain1(ex1);
    CHECK_EQ_INT(cft_counter_get(&ran_late), 0);
    cft_gate_destroy(&gate);
    cft_counter_destroy(&started);
    cft_counter_destroy(&ran_late);
}

/* SD04: a map over max_workers + 1 items (every thread busy, one item queued), then shutdown:
 * with wait, it returns once every item ran (a helper opens the gate once the shutdown is
 * blocked) and the iterator gives every result; with cancel_futures and no wait, the queued
 * item is cancelled, the running ones finish. No hang either way. */
static void test_full_queue_shutdown(void) {
    enum { W = 3, N = W + 1 };
    int variant;
    for (variant = 0; variant < 2; variant++) {
        int threads0 = cft_count_threads(); /* other pools of this program keep theirs */
        cf_executor *ex = cft_pool(W);
        cft_gate gate;
        cft_counter started;
        item items[N];
        cf_map_iter *it = NULL;
        pid_t tid = cft_gettid();
        int i;
        cft_gate_init(&gate);
        cft_counter_init(&started);
        for (i = 0; i < N; i++) items[i] = mk(ITEM_SQUARE, i + 2, &gate, &started, NULL);
        CHECK_STATUS(cf_map(ex, task_item, items, sizeof(item), N, CF_FOREVER, 1, &it), CF_OK);
        cft_counter_await(&started, W);
        if (variant == 0) {
            /* Opens the gate once this thread is blocked in the shutdown. */
            opener h;
            pthread_t th;
            h.tid = tid;
            h.gate = &gate;
            CHECK(pthread_create(&th, NULL, open_when_blocked, &h) == 0);
            CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
            CHECK(pthread_join(th, NULL) == 0);
            CHECK_EQ_INT(cft_counter_get(&started), N);
            for (i = 0; i < N; i++) expect_square(it, i + 2);
        } else {
            const void *data = NULL;
            size_t len = 0;
            CHECK_STATUS(cf_executor_shutdown(ex, false, true), CF_OK);
            cft_gate_open(&gate);
            for (i = 0; i < W; i++) expect_square(it, i + 2);
            CHECK_STATUS(cf_map_next(it, &data, &len), CF_CANCELLED);
            CHECK_EQ_INT(cft_counter_get(&started), W);
        }
        expect_end(it);
        cf_map_free(it);
        cf_executor_free(ex);
        CHECK_THREADS_BACK_TO(threads0);
        cft_counter_destroy(&started);
        cft_gate_destroy(&gate);
    }
}

/* map after shutdown: nothing can be submitted. */
static void test_after_shutdown(void) {
    cf_executor *ex = cft_pool(2);
    item one = mk(ITEM_SQUARE, 1, NULL, NULL, NULL);
    cf_map_iter *it = (cf_map_iter *)&it;
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_STATUS(cf_map(ex, task_item, &one, sizeof one, 1, CF_FOREVER, 1, &it), CF_SHUTDOWN);
    CHECK(it == (cf_map_iter *)&it);
    cf_executor_free(ex);
}

int main(void) {
    cft_baseline base;
    cf_executor *ex, *ex1;
    base = cft_begin("test_map");

    ex = cft_pool(8);
    ex1 = cft_pool(1);

    test_order(ex);
    test_many(ex);
    test_data_lifetime(ex);
    test_empty(ex);
    test_invalid(ex);
    test_failure(ex1);
    test_timeout(ex1, 0.0);
    test_timeout(ex1, 0.02);
    test_free_midway(ex1, 0);
    test_free_midway(ex1, 3);
    test_after_shutdown();
    test_full_queue_shutdown();

    cf_executor_free(ex);
    cf_executor_free(ex1);
    CFT_END(base);
    return 0;
}
