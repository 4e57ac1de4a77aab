/* test_mixed.c: futures of a thread pool and of a process pool together.
 *
 * Catalogue row BI11 (RELIABILITY.md section 2): thread and process futures in one cf_wait
 * (FIRST_COMPLETED, ALL_COMPLETED, FIRST_EXCEPTION), one as_completed and callbacks on both.
 * The thread futures are held by a gate, so the process futures are the first to complete.
 * Checks O6 (each future handed out once, callbacks once), O2 and O5 at the end, and O3 (no
 * child process left once the process pool is freed). */
#include "cftest.h"

static int task_fail9(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    cf_out_fail(out, "nine");
    return 9;
}

static void cb_count(cf_future *f, void *ud) {
    (void)f;
    cft_counter_add((cft_counter *)ud, 1);
}

typedef struct opener {
    pid_t tid;
    cft_gate *gate;
} opener;

static void *open_when_blocked(void *p) {
    opener *o = p;
    cft_wait_blocked(o->tid);
    cft_gate_open(o->gate);
    return NULL;
}

int main(void) {
    cft_baseline base = cft_begin("test_mixed");
    cf_executor *tp = cft_pool(2);
    cf_executor *pp = cf_executor_new(CF_PROCESS_POOL, 2, NULL);
    cft_gate gate;
    cft_counter started, calls;
    cf_future *t0, *t1, *p0 = NULL, *p1 = NULL, *pf = NULL;
    const void *data = NULL;
    size_t len = 0;
    int i;

    CHECK(pp != NULL);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&calls);

    t0 = cft_submit_gated(tp, &gate, &started, NULL);
    t1 = cft_submit_gated(tp, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(pp, cft_task_echo, "proc-0", 6, &p0), CF_OK);
    CHECK_STATUS(cf_submit(pp, cft_task_echo, "proc-1", 6, &p1), CF_OK);
    cft_counter_await(&started, 2);
    {
        cf_future *all[4];
        all[0] = t0;
        all[1] = p0;
        all[2] = t1;
        all[3] = p1;
        for (i = 0; i < 4; i++)
            CHECK_STATUS(cf_future_add_done_callback(all[i], cb_count, &calls), CF_OK);
    }

    /* FIRST_COMPLETED over [t0, p0]: only the process future can complete. */
    {
        cf_future *fs[2];
        bool done[2] = {true, true};
        size_t n_done = 0;
        fs[0] = t0;
        fs[1] = p0;
        CHECK_STATUS(cf_wait(fs, 2, CF_FOREVER, CF_FIRST_COMPLETED, done, &n_done), CF_OK);
        CHECK_EQ_INT(n_done, 1);
        CHECK(!done[0] && done[1]);
        CHECK_STATUS(cf_future_result(p0, 0.0, &data, &len), CF_OK);
        CHECK(len == 6 && memcmp(data, "proc-0", 6) == 0);
    }

    /* as_completed over [t0, p1, t1, p0]: the process futures first (both complete with the
     * gate closed), then the thread ones once a helper opens the gate. */
    {
        cf_future *fs[4], *got = NULL;
        cf_as_completed *it = NULL;
        bool seen[4] = {false, false, false, false};
        size_t idx = 0;
        opener o;
        pthread_t th;
        fs[0] = t0;
        fs[1] = p1;
        fs[2] = t1;
        fs[3] = p0;
        CHECK_STATUS(cf_as_completed_new(fs, 4, CF_FOREVER, &it), CF_OK);
        for (i = 0; i < 2; i++) {
            CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
            CHECK(idx == 1 || idx == 3);
            CHECK(got == fs[idx] && !seen[idx]);
            seen[idx] = true;
        }
        CHECK(!cf_future_done(t0) && !cf_future_done(t1));
        o.tid = cft_gettid();
        o.gate = &gate;
        CHECK(pthread_create(&th, NULL, open_when_blocked, &o) == 0);
        for (i = 0; i < 2; i++) {
            CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
            CHECK(idx == 0 || idx == 2);
            CHECK(got == fs[idx] && !seen[idx]);
            seen[idx] = true;
        }
        CHECK(pthread_join(th, NULL) == 0);
        CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_DONE);
        cf_as_completed_free(it);
    }

    /* ALL_COMPLETED over all four (now done), and FIRST_EXCEPTION with a failing process
     * future among thread ones. */
    {
        cf_future *fs[5];
        bool done[5];
        size_t n_done = 0;
        fs[0] = t0;
        fs[1] = p0;
        fs[2] = t1;
        fs[3] = p1;
        CHECK_STATUS(cf_wait(fs, 4, CF_FOREVER, CF_ALL_COMPLETED, done, &n_done), CF_OK);
        CHECK_EQ_INT(n_done, 4);
        CHECK_STATUS(cf_submit(pp, task_fail9, NULL, 0, &pf), CF_OK);
        fs[4] = pf;
        CHECK_STATUS(cf_wait(fs, 5, CF_FOREVER, CF_FIRST_EXCEPTION, done, &n_done), CF_OK);
        CHECK(done[4]);
        CHECK_STATUS(cf_future_exception(pf, 0.0), CF_TASK_FAILED);
        CHECK_EQ_INT(cf_future_error_code(pf), 9);
        CHECK_STR(cf_future_error_message(pf), "nine");
    }

    /* Every callback ran exactly once (the process pool's on its callback thread). */
    cft_counter_await(&calls, 4);
    cf_executor_free(pp);
    cf_executor_free(tp);
    CHECK_EQ_INT(cft_counter_get(&calls), 4);
    CHECK_EQ_INT(cft_count_children(), 0);

    cf_future_free(t0);
    cf_future_free(t1);
    cf_future_free(p0);
    cf_future_free(p1);
    cf_future_free(pf);
    cft_counter_destroy(&started);
    cft_counter_destroy(&calls);
    cft_gate_destroy(&gate);
    CFT_END(base);
    return 0;
}
