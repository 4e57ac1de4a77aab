/* test_million.c: a million queued tasks and one wait on all of them; a million polling waits
 * on one pending future without memory growth.
 *
 * Catalogue rows (RELIABILITY.md section 2): LD01 one million queued futures, one cf_wait on
 * all of them, all freed (test_million_tasks; memory per queued future under 1 KiB, not
 * checked under ASan or valgrind; freeing a million does not recurse), LD09 waiter cleanup: a
 * million cf_wait(timeout 0) and result(timeout 0) on one pending future, plus timed waits and
 * as_completed iterators, without memory growth (test_polling_memory). main checks threads and
 * descriptors (O2, O5). */
#include "cftest.h"

enum { MILLION = 1000000 };

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

static void test_million_tasks(void) {
    cf_executor *ex = cft_pool(2);
    cf_future **fs = malloc(MILLION * sizeof *fs);
    cft_gate gate;
    cft_counter started;
    cf_future *blockers[2];
    size_t n_done = 0;
    helper h;
    long rss0, rss1;
    int i;
    CHECK(fs != NULL);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    /* Both threads blocked: the million tasks are all queued when the wait starts. */
    blockers[0] = cft_submit_gated(ex, &gate, &started, NULL);
    blockers[1] = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 2);
    rss0 = cft_rss_bytes();
    for (i = 0; i < MILLION; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &fs[i]), CF_OK);
    }
    rss1 = cft_rss_bytes();
    CHECK(!cf_future_done(fs[0]));
    CHECK(!cf_future_done(fs[MILLION - 1]));
    /* LD01: memory per queued future (future, queue entry, C handle) is bounded. */
    printf("a million queued futures: %ld bytes each\n", (rss1 - rss0) / MILLION);
    if (cft_memory_instrumented())
        printf("heap instrumented (ASan or valgrind): the bound is not checked\n");
    else
        CHECK((rss1 - rss0) / MILLION < 1024);
    h.tid = cft_gettid();
    h.gate = &gate;
    CHECK(pthread_create(&h.th, NULL, helper_main, &h) == 0);
    CHECK_STATUS(cf_wait(fs, MILLION, CF_FOREVER, CF_ALL_COMPLETED, NULL, &n_done), CF_OK);
    CHECK(pthread_join(h.th, NULL) == 0);
    CHECK_EQ_INT(n_done, MILLION);
    for (i = 0; i < MILLION; i++) {
        if (cf_future_exception(fs[i], 0.0) != CF_OK) {
            fprintf(stderr, "future %d\n", i);
            CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        }
        cf_future_free(fs[i]);
    }
    cf_future_free(blockers[0]);
    cf_future_free(blockers[1]);
    cf_executor_free(ex);
    free(fs);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* Repeated timed-out waits on one pending future leave nothing behind. */
static void test_polling_memory(void) {
    cf_executor *ex = cft_pool(1);
    cft_gate gate;
    cft_counter started;
    cf_future *pending, *queued;
    const void *data = NULL;
    size_t len = 0, n_done = 0;
    bool done = false;
    long rss0, rss1;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    pending = cft_submit_gated(ex, &gate, &started, NULL);
    queued = cft_submit_gated(ex, NULL, NULL, NULL);
    cft_counter_await(&started, 1);

    /* Warm up (allocator pools, thread-local error buffers), then measure. */
    for (i = 0; i < 1000; i++) {
        CHECK_STATUS(cf_wait(&pending, 1, 0.0, CF_ALL_COMPLETED, &done, &n_done), CF_TIMEOUT);
        CHECK_STATUS(cf_wait(&pending, 1, 1e-6, CF_FIRST_COMPLETED, NULL, NULL), CF_TIMEOUT);
    }
    rss0 = cft_rss_bytes();
    for (i = 0; i < MILLION; i++) {
        if (cf_wait(&pending, 1, 0.0, CF_ALL_COMPLETED, &done, &n_done) != CF_TIMEOUT)
            CHECK_STATUS(cf_wait(&pending, 1, 0.0, CF_ALL_COMPLETED, &done, &n_done),
                         CF_TIMEOUT);
    }
    CHECK(!done);
    CHECK_EQ_INT(n_done, 0);
    for (i = 0; i < MILLION; i++) {
        if (cf_future_result(queued, 0.0, &data, &len) != CF_TIMEOUT)
            CHECK_STATUS(cf_future_result(queued, 0.0, &data, &len), CF_TIMEOUT);
    }
    /* Waits that install a waiter and time out (a short deadline, then removal). */
    for (i = 0; i < 20000; i++) {
        cf_future *both[2];
        both[0] = pending;
        both[1] = queued;
        if (cf_wait(both, 2, 1e-6, CF_FIRST_COMPLETED, NULL, NULL) != CF_TIMEOUT)
            CHECK(!"a timed wait on pending futures did not time out");
        if (cf_future_exception(pending, 1e-6) != CF_TIMEOUT)
            CHECK(!"a timed exception() on a pending future did not time out");
    }
    /* as_completed iterators made and dropped on pending futures. */
    for (i = 0; i < 20000; i++) {
        cf_as_completed *it = NULL;
        cf_future *got = NULL;
        CHECK_STATUS(cf_as_completed_new(&pending, 1, 0.0, &it), CF_OK);
        if (cf_as_completed_next(it, &got, NULL) != CF_TIMEOUT)
            CHECK(!"as_completed on a pending future did not time out");
        cf_as_completed_free(it);
    }
    rss1 = cft_rss_bytes();
    printf("RSS before %ld KiB, after %ld KiB\n", rss0 / 1024, rss1 / 1024);
    /* AddressSanitizer's quarantine keeps freed memory out of reuse: RSS says nothing. */
    if (cft_memory_instrumented())
        printf("heap instrumented (ASan or valgrind): RSS bound not checked\n");
    else
        CHECK(rss1 - rss0 < 16L * 1024 * 1024);

    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(pending, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_future_exception(queued, CF_FOREVER), CF_OK);
    cf_future_free(pending);
    cf_future_free(queued);
    cf_executor_free(ex);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

int main(void) {
    cft_baseline base;
    base = cft_begin("test_million");

    test_million_tasks();
    CHECK_THREADS_BACK_TO(base.threads);
    test_polling_memory();

    CFT_END(base);
    return 0;
}
