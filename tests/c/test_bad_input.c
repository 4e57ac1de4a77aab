/* test_bad_input.c: NULL for every handle and out-pointer of every exported function, walked
 * through the header in order; each gives its documented value (CF_INVALID_ARGUMENT, false,
 * 0, NULL) and sets cf_last_error(). Also the *_free(NULL) no-ops, cf_status_str, cf_version,
 * and argument pointer / length combinations.
 *
 * Catalogue rows: BI01 (by hand here; tests/null_table.rs derives it from the header), BI02
 * (bad submit arguments, lengths no object can have), BI03 (empty argument), BI04 (bad enum
 * values and options; the max_workers limits are in test_pool.c), BI10 (bad return_when). */
#include "cftest.h"

#include <math.h>

#include <limits.h>
#include <stdint.h>

/* The first length no object can have: C objects and Rust slices span at most PTRDIFF_MAX
 * bytes. Lengths from here to SIZE_MAX are rejected before anything is read or allocated; a
 * smaller one cannot be told from a real length. */
#define TOO_LONG ((size_t)PTRDIFF_MAX + 1)

/* cf_last_error() is only ever replaced, never cleared by a successful call. To prove that a
 * failing call sets it, set a known "sentinel" message first and check it changed. */
static char sentinel[256];

static void set_sentinel(void) {
    cf_executor *ex = cf_executor_new((cf_executor_kind)7, 0, NULL);
    CHECK(ex == NULL);
    snprintf(sentinel, sizeof sentinel, "%s", cf_last_error());
    CHECK(sentinel[0] != '\0');
}

static void check_fresh_error(const char *expr, int line) {
    const char *e = cf_last_error();
    if (e == NULL || e[0] == '\0' || strcmp(e, sentinel) == 0) {
        fprintf(stderr, "line %d: %s did not set cf_last_error() (still \"%s\")\n", line, expr,
                e ? e : "(NULL)");
        cft_die();
    }
}

/* `expr` must return CF_INVALID_ARGUMENT and set a new message. */
#define BAD(expr)                                                                            \
    do {                                                                                     \
        set_sentinel();                                                                      \
        CHECK_STATUS((expr), CF_INVALID_ARGUMENT);                                           \
        check_fresh_error(#expr, __LINE__);                                                  \
    } while (0)

/* `expr` must equal `want` and set a new message. */
#define BAD_VALUE(expr, want)                                                                \
    do {                                                                                     \
        set_sentinel();                                                                      \
        CHECK((expr) == (want));                                                             \
        check_fresh_error(#expr, __LINE__);                                                  \
    } while (0)

static cft_counter g_calls;

static void cb_count(cf_future *f, void *ud) {
    (void)f;
    (void)ud;
    cft_counter_add(&g_calls, 1);
}

/* Checks cf_out_* misuse from inside a running task (the only place a cf_out exists). */
static int task_out_checks(const void *arg, size_t len, cf_out *out) {
    void *p;
    (void)arg;
    CHECK_EQ_INT(len, 0);
    BAD(cf_out_set(out, NULL, 5));
    BAD(cf_out_set(NULL, "abc", 3));
    BAD(cf_out_fail(NULL, "message"));
    BAD(cf_out_fail(NULL, NULL));
    BAD_VALUE(cf_out_alloc(NULL, 16), NULL);
    BAD_VALUE(cf_out_alloc(NULL, 0), NULL);
    /* BI02: lengths no object can have; nothing is read, nothing allocated. */
    BAD(cf_out_set(out, "abc", SIZE_MAX));
    BAD(cf_out_set(out, "abc", TOO_LONG));
    BAD_VALUE(cf_out_alloc(out, SIZE_MAX), NULL);
    BAD_VALUE(cf_out_alloc(out, TOO_LONG), NULL);
    /* Valid: NULL data with length 0 (an empty result), then a real one. */
    CHECK_STATUS(cf_out_set(out, NULL, 0), CF_OK);
    p = cf_out_alloc(out, 0);
    CHECK(p != NULL);
    CHECK_STATUS(cf_out_set(out, "ok", 2), CF_OK);
    return 0;
}

/* The task sees its argument length; a NULL argument with length 0 is valid. */
static int task_len(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    return cf_out_set(out, &len, sizeof len) == CF_OK ? 0 : 1;
}

static void test_status_str_version(void) {
    static const char *const names[] = {"CF_OK", "CF_TIMEOUT", "CF_CANCELLED",
                                        "CF_TASK_FAILED", "CF_WORKER_DIED", "CF_TASK_EXPIRED",
                                        "CF_BROKEN", "CF_SHUTDOWN", "CF_INVALID_ARGUMENT",
                                        "CF_NO_MEMORY", "CF_DONE", "CF_INTERNAL"};
    static const int unknown[] = {-1, 12, 13, 100, 1000, INT_MAX, INT_MIN};
    const char *seen[12];
    int i, j;
    char want[64];
    CHECK_EQ_INT(CF_OK, 0);
    CHECK_EQ_INT(CF_TIMEOUT, 1);
    CHECK_EQ_INT(CF_CANCELLED, 2);
    CHECK_EQ_INT(CF_TASK_FAILED, 3);
    CHECK_EQ_INT(CF_WORKER_DIED, 4);
    CHECK_EQ_INT(CF_TASK_EXPIRED, 5);
    CHECK_EQ_INT(CF_BROKEN, 6);
    CHECK_EQ_INT(CF_SHUTDOWN, 7);
    CHECK_EQ_INT(CF_INVALID_ARGUMENT, 8);
    CHECK_EQ_INT(CF_NO_MEMORY, 9);
    CHECK_EQ_INT(CF_DONE, 10);
    CHECK_EQ_INT(CF_INTERNAL, 11);
    for (i = 0; i <= 11; i++) {
        const char *s = cf_status_str((cf_status)i);
        CHECK(s != NULL);
        CHECK(s[0] != '\0');
        CHECK(strcmp(s, "unknown status") != 0);
        /* A human-readable name: it names the status. */
        if (strstr(s, names[i]) == NULL) {
            fprintf(stderr, "cf_status_str(%d) = \"%s\" does not name %s\n", i, s, names[i]);
            CHECK(strstr(s, names[i]) != NULL);
        }
        for (j = 0; j < i; j++) CHECK(strcmp(seen[j], s) != 0);
        seen[i] = s;
        /* Static: the same pointer every time. */
        CHECK(cf_status_str((cf_status)i) == s);
    }
    for (i = 0; i < (int)(sizeof unknown / sizeof unknown[0]); i++)
        CHECK_STR(cf_status_str((cf_status)unknown[i]), "unknown status");

    snprintf(want, sizeof want, "%d.%d.%d", CFUTURES_VERSION_MAJOR, CFUTURES_VERSION_MINOR,
             CFUTURES_VERSION_PATCH);
    CHECK(cf_version() != NULL);
    CHECK_STR(cf_version(), want);
    CHECK(cf_version() == cf_version());
    CHECK(CF_FOREVER < 0);
}

/* BI10: a bad return_when is CF_INVALID_ARGUMENT even when every future is already done and
 * nothing would be waited for (CPython checks it only when it must wait: a deliberate
 * difference), and for no futures at all. `done_f` is a finished future. */
static void test_bad_return_when(cf_future *done_f) {
    static const int bad[] = {42, 3, -1, INT_MAX};
    cf_future *fs[2];
    int i;
    fs[0] = done_f;
    fs[1] = done_f;
    CHECK(cf_future_done(done_f));
    for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        bool done[2] = {false, false};
        size_t n_done = 99;
        cf_return_when w = (cf_return_when)bad[i];
        BAD(cf_wait(fs, 2, 0.0, w, done, &n_done));
        BAD(cf_wait(fs, 1, CF_FOREVER, w, done, &n_done));
        BAD(cf_wait(fs, 2, 1e300, w, NULL, NULL));
        BAD(cf_wait(NULL, 0, 0.0, w, done, &n_done));
        /* Neither CF_OK nor CF_TIMEOUT: the out-parameters are not written. */
        CHECK(!done[0] && !done[1]);
        CHECK_EQ_INT(n_done, 99);
    }
    /* The valid values still work on the same futures. */
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_COMPLETED, NULL, NULL), CF_OK);
    CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_EXCEPTION, NULL, NULL), CF_OK);
}

static void *fresh_thread(void *p) {
    const char **out = p;
    *out = cf_last_error();
    return NULL;
}

int main(void) {
    cft_baseline base;
    cf_executor *ex;
    cf_executor_options *opts;
    cf_future *f = NULL, *pending, *fs[2];
    cft_gate gate;
    cft_counter started, work;
    cft_counter *pk = &work;
    const void *data = NULL;
    size_t len = 0;

    cft_start("test_bad_input");
    /* Before any failing call: an empty string, never NULL (here and in a fresh thread). */
    CHECK(cf_last_error() != NULL);
    CHECK_STR(cf_last_error(), "");
    {
        pthread_t th;
        const char *e = NULL;
        CHECK(pthread_create(&th, NULL, fresh_thread, &e) == 0);
        CHECK(pthread_join(th, NULL) == 0);
        CHECK(e != NULL);
    }
    base.fds = cft_count_fds();
    base.threads = cft_count_threads();
    cft_counter_init(&g_calls);
    cft_counter_init(&started);
    cft_counter_init(&work);
    cft_gate_init(&gate);

    test_status_str_version();

    /* cf_executor_new: NULL opts is valid (defaults); bad kinds and sizes give NULL. */
    ex = cf_executor_new(CF_THREAD_POOL, 0, NULL);
    CHECK(ex != NULL);
    cf_executor_free(ex);
    BAD_VALUE(cf_executor_new((cf_executor_kind)2, 1, NULL), NULL);
    BAD_VALUE(cf_executor_new(CF_THREAD_POOL, 100000, NULL), NULL);
    BAD_VALUE(cf_executor_new(CF_PROCESS_POOL, 100000, NULL), NULL);

    ex = cft_pool(2);
    pending = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 1);

    /* cf_submit. BI02: fn NULL; arg NULL with a length. */
    BAD(cf_submit(NULL, cft_task_noop, NULL, 0, &f));
    BAD(cf_submit(ex, NULL, NULL, 0, &f));
    BAD(cf_submit(ex, cft_task_count, &pk, sizeof pk, NULL));
    BAD(cf_submit(ex, cft_task_count, NULL, sizeof pk, &f));
    BAD(cf_submit(ex, cft_task_count, NULL, 1, &f));
    CHECK(f == NULL);
    /* BI02: a length no object can have, with a non-NULL pointer: CF_INVALID_ARGUMENT, not
     * an abort (Rust requires slices of at most isize::MAX bytes) nor a read past `pk`. */
    BAD(cf_submit(ex, cft_task_count, &pk, SIZE_MAX, &f));
    BAD(cf_submit(ex, cft_task_count, &pk, TOO_LONG, &f));
    BAD(cf_submit(ex, cft_task_count, NULL, SIZE_MAX, &f));
    CHECK(f == NULL);
    /* Valid: NULL argument with length 0; the task sees length 0. */
    CHECK_STATUS(cf_submit(ex, task_len, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK_EQ_INT(len, sizeof(size_t));
    {
        size_t seen_len;
        memcpy(&seen_len, data, sizeof seen_len);
        CHECK_EQ_INT(seen_len, 0);
    }
    cf_future_free(f);
    /* A non-NULL argument with length 0 is valid too. */
    f = NULL;
    CHECK_STATUS(cf_submit(ex, task_len, "ignored", 0, &f), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    {
        size_t seen_len;
        memcpy(&seen_len, data, sizeof seen_len);
        CHECK_EQ_INT(seen_len, 0);
    }
    cf_future_free(f);

    /* cf_out_* (from inside a task) */
    f = NULL;
    CHECK_STATUS(cf_submit(ex, task_out_checks, NULL, 0, &f), CF_OK);
    CHECK_STATUS(cf_future_result(f, CF_FOREVER, &data, &len), CF_OK);
    CHECK(len == 2 && memcmp(data, "ok", 2) == 0);
    cf_future_free(f);
    /* ... and from outside one. */
    BAD(cf_out_set(NULL, NULL, 0));
    BAD(cf_out_fail(NULL, "x"));
    BAD_VALUE(cf_out_alloc(NULL, 1), NULL);

    /* cf_executor_shutdown */
    BAD(cf_executor_shutdown(NULL, false, false));
    BAD(cf_executor_shutdown(NULL, true, false));
    BAD(cf_executor_shutdown(NULL, true, true));

    /* cf_future_result / cf_future_exception */
    BAD(cf_future_result(NULL, 0.0, &data, &len));
    BAD(cf_future_result(NULL, CF_FOREVER, &data, &len));
    BAD(cf_future_result(pending, 0.0, NULL, &len));
    BAD(cf_future_result(pending, 0.0, &data, NULL));
    BAD(cf_future_result(pending, CF_FOREVER, NULL, NULL));
    BAD(cf_future_exception(NULL, 0.0));
    BAD(cf_future_exception(NULL, CF_FOREVER));

    /* Getters: 0 / NULL / false */
    BAD_VALUE(cf_future_error_code(NULL), 0);
    BAD_VALUE(cf_map_error_code(NULL), 0);
    BAD_VALUE(cf_future_error_message(NULL), NULL);
    BAD_VALUE(cf_future_cancel(NULL), false);
    BAD_VALUE(cf_future_cancelled(NULL), false);
    BAD_VALUE(cf_future_running(NULL), false);
    BAD_VALUE(cf_future_done(NULL), false);
    BAD_VALUE(cf_future_retain(NULL), NULL);

    /* cf_future_add_done_callback: a failing call never calls the callback. */
    BAD(cf_future_add_done_callback(NULL, cb_count, NULL));
    BAD(cf_future_add_done_callback(pending, NULL, NULL));
    BAD(cf_future_add_done_callback(NULL, NULL, NULL));
    CHECK_EQ_INT(cft_counter_get(&g_calls), 0);

    /* cf_map / cf_map_next */
    {
        cf_map_iter *it = NULL;
        int items[3] = {1, 2, 3};
        BAD(cf_map(NULL, cft_task_echo, items, sizeof items[0], 3, CF_FOREVER, 1, &it));
        BAD(cf_map(ex, NULL, items, sizeof items[0], 3, CF_FOREVER, 1, &it));
        BAD(cf_map(ex, cft_task_echo, items, sizeof items[0], 3, CF_FOREVER, 1, NULL));
        BAD(cf_map(ex, cft_task_echo, NULL, sizeof items[0], 3, CF_FOREVER, 1, &it));
        BAD(cf_map(ex, cft_task_echo, items, sizeof items[0], 3, CF_FOREVER, 0, &it));
        BAD(cf_map(ex, cft_task_echo, items, SIZE_MAX, 2, CF_FOREVER, 1, &it));
        /* BI02: n * arg_len past what any object can hold, without and with overflow. */
        BAD(cf_map(ex, cft_task_echo, items, TOO_LONG, 1, CF_FOREVER, 1, &it));
        BAD(cf_map(ex, cft_task_echo, items, (size_t)1 << (sizeof(size_t) * 8 - 2), 2,
                   CF_FOREVER, 1, &it));
        BAD(cf_map(ex, cft_task_echo, items, 1, SIZE_MAX, CF_FOREVER, 1, &it));
        BAD(cf_map(ex, cft_task_echo, items, 2, SIZE_MAX / 2 + 1, CF_FOREVER, 1, &it));
        CHECK(it == NULL);
        CHECK_STATUS(cf_map(ex, cft_task_echo, items, sizeof items[0], 3, CF_FOREVER, 1, &it),
                     CF_OK);
        BAD(cf_map_next(NULL, &data, &len));
        BAD(cf_map_next(it, NULL, &len));
        BAD(cf_map_next(it, &data, NULL));
        BAD(cf_map_next(it, NULL, NULL));
        /* The failed calls consumed nothing: the first item is still the first. */
        CHECK_STATUS(cf_map_next(it, &data, &len), CF_OK);
        CHECK(len == sizeof(int) && memcmp(data, &items[0], sizeof(int)) == 0);
        CHECK_STATUS(cf_map_next(it, &data, &len), CF_OK);
        CHECK(len == sizeof(int) && memcmp(data, &items[1], sizeof(int)) == 0);
        cf_map_free(it);
    }

    /* Options */
    opts = cf_executor_options_new();
    CHECK(opts != NULL);
    BAD(cf_executor_options_set_thread_name_prefix(NULL, "x"));
    BAD(cf_executor_options_set_thread_name_prefix(NULL, NULL));
    BAD(cf_executor_options_set_initializer(NULL, cft_task_noop, NULL, 0));
    BAD(cf_executor_options_set_initializer(NULL, NULL, NULL, 0));
    BAD(cf_executor_options_set_initializer(opts, cft_task_noop, NULL, 4));
    /* BI02 for the initializer's arguments. */
    BAD(cf_executor_options_set_initializer(opts, cft_task_noop, &pk, SIZE_MAX));
    BAD(cf_executor_options_set_initializer(opts, cft_task_noop, &pk, TOO_LONG));
    CHECK_STATUS(cf_executor_options_set_thread_name_prefix(opts, NULL), CF_OK);
    CHECK_STATUS(cf_executor_options_set_initializer(opts, cft_task_noop, NULL, 0), CF_OK);
    CHECK_STATUS(cf_executor_options_set_initializer(opts, NULL, NULL, 0), CF_OK);
    CHECK_STATUS(cf_executor_options_set_initializer(opts, NULL, NULL, 4), CF_OK);
    /* Process-pool options: NULL options, and bad values. */
    BAD(cf_executor_options_set_start_method(NULL, CF_START_FORK));
    BAD(cf_executor_options_set_start_method(opts, (cf_start_method)7));
    /* BI04: other bad enum values (kind 7 and max_workers 1<<31: test_pool.c). */
    BAD(cf_executor_options_set_start_method(opts, (cf_start_method)3));
    BAD(cf_executor_options_set_start_method(opts, (cf_start_method)-1));
    BAD(cf_executor_options_set_start_method(opts, (cf_start_method)INT_MAX));
    BAD_VALUE(cf_executor_new((cf_executor_kind)INT_MAX, 1, NULL), NULL);
    BAD_VALUE(cf_executor_new((cf_executor_kind)-2, 0, NULL), NULL);
    BAD(cf_executor_options_set_max_tasks_per_child(NULL, 1));
    BAD(cf_executor_options_set_task_timeout(NULL, 1.0));
    BAD(cf_executor_options_set_task_timeout(opts, NAN));
    BAD(cf_executor_options_set_worker_path(NULL, "cf-worker"));
    BAD(cf_executor_options_set_worker_path(NULL, NULL));
    CHECK_STATUS(cf_executor_options_set_start_method(opts, CF_START_SPAWN), CF_OK);
    CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(opts, 3), CF_OK);
    CHECK_STATUS(cf_executor_options_set_task_timeout(opts, -1.0), CF_OK);
    CHECK_STATUS(cf_executor_options_set_worker_path(opts, NULL), CF_OK);
    cf_executor_options_free(opts);
    /* BI04: a process-pool option on a thread pool (the worker path; the time limit, start
     * method and max_tasks_per_child: proc_limits.c). */
    opts = cf_executor_options_new();
    CHECK(opts != NULL);
    CHECK_STATUS(cf_executor_options_set_worker_path(opts, "cf-worker"), CF_OK);
    BAD_VALUE(cf_executor_new(CF_THREAD_POOL, 1, opts), NULL);
    /* The same options are fine once the path is back to the default. */
    CHECK_STATUS(cf_executor_options_set_worker_path(opts, NULL), CF_OK);
    {
        cf_executor *ok = cf_executor_new(CF_THREAD_POOL, 1, opts);
        CHECK(ok != NULL);
        cf_executor_free(ok);
    }
    cf_executor_options_free(opts);
    BAD(cf_executor_terminate_workers(NULL));
    BAD(cf_executor_kill_workers(NULL));
    /* A thread cannot be killed: the calls are for the process pool only. */
    BAD(cf_executor_terminate_workers(ex));
    BAD(cf_executor_kill_workers(ex));

    /* cf_wait */
    fs[0] = pending;
    fs[1] = NULL;
    BAD(cf_wait(NULL, 1, 0.0, CF_ALL_COMPLETED, NULL, NULL));
    BAD(cf_wait(fs, 2, 0.0, CF_ALL_COMPLETED, NULL, NULL));
    BAD(cf_wait(fs + 1, 1, CF_FOREVER, CF_FIRST_COMPLETED, NULL, NULL));
    BAD(cf_wait(fs, 1, 0.0, (cf_return_when)3, NULL, NULL));
    /* done and n_done may be NULL. */
    CHECK_STATUS(cf_wait(fs, 1, 0.0, CF_ALL_COMPLETED, NULL, NULL), CF_TIMEOUT);
    /* BI02: a count no array of pointers can have. */
    {
        bool done[1] = {true};
        size_t n_done = 77;
        BAD(cf_wait(fs, SIZE_MAX, 0.0, CF_ALL_COMPLETED, done, &n_done));
        BAD(cf_wait(fs, TOO_LONG / sizeof fs[0], 0.0, CF_ALL_COMPLETED, done, &n_done));
        BAD(cf_wait(fs, SIZE_MAX, CF_FOREVER, CF_FIRST_COMPLETED, NULL, NULL));
        CHECK(done[0]);
        CHECK_EQ_INT(n_done, 77);
    }

    /* cf_as_completed_* */
    {
        cf_as_completed *it = NULL;
        cf_future *got = NULL;
        size_t idx = 0;
        BAD(cf_as_completed_new(NULL, 1, CF_FOREVER, &it));
        BAD(cf_as_completed_new(fs, 2, CF_FOREVER, &it));
        BAD(cf_as_completed_new(fs, 1, CF_FOREVER, NULL));
        BAD(cf_as_completed_new(NULL, 0, CF_FOREVER, NULL));
        /* BI02: a count no array of pointers can have. */
        BAD(cf_as_completed_new(fs, SIZE_MAX, CF_FOREVER, &it));
        BAD(cf_as_completed_new(fs, TOO_LONG / sizeof fs[0], 0.0, &it));
        CHECK(it == NULL);
        CHECK_STATUS(cf_as_completed_new(fs, 1, CF_FOREVER, &it), CF_OK);
        BAD(cf_as_completed_next(NULL, &got, &idx));
        BAD(cf_as_completed_next(NULL, &got, NULL));
        BAD(cf_as_completed_next(it, NULL, &idx));
        BAD(cf_as_completed_next(it, NULL, NULL));
        CHECK(got == NULL);
        cft_gate_open(&gate);
        /* Nothing was consumed by the failed calls. */
        CHECK_STATUS(cf_as_completed_next(it, &got, NULL), CF_OK);
        CHECK(got == pending);
        CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_DONE);
        cf_as_completed_free(it);
    }

    /* *_free(NULL) are no-ops. */
    cf_executor_free(NULL);
    cf_future_free(NULL);
    cf_map_free(NULL);
    cf_executor_options_free(NULL);
    cf_as_completed_free(NULL);

    CHECK_STATUS(cf_future_exception(pending, CF_FOREVER), CF_OK);
    test_bad_return_when(pending);
    /* A callback on a live future still works after all that. */
    CHECK_STATUS(cf_future_add_done_callback(pending, cb_count, NULL), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&g_calls), 1);
    cf_future_free(pending);
    cf_executor_free(ex);
    /* The rejected submits and maps ran nothing. */
    CHECK_EQ_INT(cft_counter_get(&work), 0);

    cft_counter_destroy(&g_calls);
    cft_counter_destroy(&started);
    cft_counter_destroy(&work);
    cft_gate_destroy(&gate);
    CFT_END(base);
    return 0;
}
