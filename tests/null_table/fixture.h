/* fixture.h: the fixed part of the program tests/null_table.rs generates from cfutures.h
 * (catalogue row BI01). The generated part is one function per case and a table of them.
 *
 * Every case runs on a fresh fixture: a thread pool with one worker, default options, a done
 * future that failed with code 7, a map iterator whose first (failed) item was taken, an
 * as_completed iterator over the future, buffers and out-variables. A case passes NULL in one
 * pointer position and the valid fixture value everywhere else, so NULL is the only thing
 * wrong with the call; the "all valid" control case of each function proves that. Cases whose
 * function takes a cf_out run inside a task, the only place a cf_out exists.
 *
 * Failure: a message naming the case, then _exit(1) (see cftest.h for why not exit). */
#ifndef NULL_TABLE_FIXTURE_H
#define NULL_TABLE_FIXTURE_H

#include "cftest.h"

struct fx {
    cf_executor *ex;           /* thread pool, 1 worker */
    cf_executor_options *opts; /* defaults */
    cf_future *fut;            /* done: the task failed with code 7 */
    cf_future *futs[1];        /* { fut } */
    cf_map_iter *map_it;       /* one item, failed with code 7, already taken */
    cf_as_completed *ac_it;    /* over futs */
    cf_out *out;               /* set only while a case runs inside a task */
    /* Where calls write their results. */
    cf_future *o_future;
    cf_map_iter *o_map;
    cf_as_completed *o_ac;
    const void *o_data;
    size_t o_size;
    bool o_flags[1];
    /* Bytes calls may read, and user data. */
    unsigned char buf[16];
    int user;
};

/* One generated case. */
struct nt_case {
    void (*run)(struct fx *);
    bool in_task; /* the function takes a cf_out */
    const char *func;
    const char *what;
};

static const struct nt_case *nt_now; /* the case running, for messages */
static size_t nt_now_index;

static void nt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#include <stdarg.h>

static void nt_fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "null table case %zu, %s with %s: ", nt_now_index, nt_now->func,
            nt_now->what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  cf_last_error(): \"%s\"\n", cf_last_error());
    cft_die();
    _exit(1); /* cft_die does not return; this tells the compiler */
}

static inline int nt_task_noop(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

static inline int nt_task_fail7(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    cf_out_fail(out, "failed with 7 on purpose");
    return 7;
}

static inline void nt_callback(cf_future *f, void *user_data) {
    (void)f;
    (void)user_data;
}

/* cf_last_error() is replaced by failing calls, never cleared by successful ones: a known
 * message first, so that a failing call can be seen to set its own. */
static char nt_sentinel_text[256];

static inline void nt_sentinel(void) {
    cf_executor *ex = cf_executor_new((cf_executor_kind)7, 0, NULL);
    CHECK(ex == NULL);
    snprintf(nt_sentinel_text, sizeof nt_sentinel_text, "%s", cf_last_error());
    CHECK(nt_sentinel_text[0] != '\0');
}

/* The call just made set a new, non-empty message naming the NULL parameter (O7). */
static inline void nt_fresh_error(const char *param) {
    const char *e = cf_last_error();
    char quoted[96];
    if (e == NULL || e[0] == '\0') nt_fail("cf_last_error() is empty");
    if (strcmp(e, nt_sentinel_text) == 0) nt_fail("cf_last_error() was not set by the call");
    snprintf(quoted, sizeof quoted, "`%s`", param);
    if (strstr(e, quoted) == NULL) nt_fail("cf_last_error() does not name %s", quoted);
}

/* A NULL the API documents as a no-op leaves cf_last_error() alone. */
static inline void nt_error_untouched(void) {
    if (strcmp(cf_last_error(), nt_sentinel_text) != 0)
        nt_fail("cf_last_error() changed to \"%s\"", cf_last_error());
}

static inline void fx_setup(struct fx *fx) {
    const void *data = NULL;
    size_t len = 0;
    memset(fx, 0, sizeof *fx);
    fx->ex = cf_executor_new(CF_THREAD_POOL, 1, NULL);
    CHECK(fx->ex != NULL);
    fx->opts = cf_executor_options_new();
    CHECK(fx->opts != NULL);
    CHECK_STATUS(cf_submit(fx->ex, nt_task_fail7, NULL, 0, &fx->fut), CF_OK);
    CHECK_STATUS(cf_future_exception(fx->fut, CF_FOREVER), CF_TASK_FAILED);
    CHECK_EQ_INT(cf_future_error_code(fx->fut), 7);
    fx->futs[0] = fx->fut;
    CHECK_STATUS(cf_map(fx->ex, nt_task_fail7, NULL, 0, 1, CF_FOREVER, 1, &fx->map_it), CF_OK);
    CHECK_STATUS(cf_map_next(fx->map_it, &data, &len), CF_TASK_FAILED);
    CHECK_EQ_INT(cf_map_error_code(fx->map_it), 7);
    CHECK_STATUS(cf_as_completed_new(fx->futs, 1, CF_FOREVER, &fx->ac_it), CF_OK);
    memcpy(fx->buf, "null-table-bytes", sizeof fx->buf);
}

/* Releases what a call wrote to the out-variables. cf_as_completed_next hands back the
 * caller's own handle (fx->fut); every other call writing a cf_future gives a new one. */
static inline void fx_release_outs(struct fx *fx) {
    if (fx->o_future != NULL && fx->o_future != fx->fut) cf_future_free(fx->o_future);
    fx->o_future = NULL;
    cf_map_free(fx->o_map);
    fx->o_map = NULL;
    cf_as_completed_free(fx->o_ac);
    fx->o_ac = NULL;
}

static inline void fx_teardown(struct fx *fx) {
    fx_release_outs(fx);
    cf_as_completed_free(fx->ac_it);
    cf_map_free(fx->map_it);
    cf_future_free(fx->fut);
    cf_executor_options_free(fx->opts);
    cf_executor_free(fx->ex);
}

/* The fixture and case a task runs (one at a time: the runner waits for the task). */
static struct fx *nt_task_fx;
static bool nt_task_ran;

static inline int nt_in_task(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    nt_task_fx->out = out;
    nt_now->run(nt_task_fx);
    nt_task_fx->out = NULL;
    nt_task_ran = true;
    return 0;
}

/* Runs case `k` on a fresh fixture, in a task if it needs a cf_out. */
static inline void nt_run(const struct nt_case *c, size_t k) {
    struct fx fx;
    nt_now = c;
    nt_now_index = k;
    fx_setup(&fx);
    if (c->in_task) {
        cf_future *t = NULL;
        int st;
        nt_task_fx = &fx;
        nt_task_ran = false;
        CHECK_STATUS(cf_submit(fx.ex, nt_in_task, NULL, 0, &t), CF_OK);
        /* A case that calls cf_out_fail fails the task on purpose. */
        st = cf_future_exception(t, CF_FOREVER);
        if (st != CF_OK && st != CF_TASK_FAILED) nt_fail("the task ended with %s", cf_status_str(st));
        /* The future's completion orders the task's write before this read. */
        if (!nt_task_ran) nt_fail("the task did not run the case");
        cf_future_free(t);
    } else {
        c->run(&fx);
    }
    fx_teardown(&fx);
    printf("case %zu %s %s: ok\n", k, c->func, c->what);
}

#endif /* NULL_TABLE_FIXTURE_H */
