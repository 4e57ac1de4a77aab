/*
 * proc_limits.c: per-task time limits (TO01, TO02, TO03), max_tasks_per_child (SD12), and
 * terminate_workers / kill_workers mid-task (SD08), for the start method in argv[1].
 */
#define _GNU_SOURCE
#include "proctest.h"

#include <math.h>

static void check_pid_in(const char *msg, int pid) {
    char s[32];
    snprintf(s, sizeof s, "%d", pid);
    CHECK_CONTAINS(msg, s);
}

static cf_executor *pool_with_limit(uint32_t workers, double limit) {
    cf_executor_options *o = pt_opts();
    cf_executor *ex;
    CHECK_STATUS(cf_executor_options_set_task_timeout(o, limit), CF_OK);
    ex = pt_new_opts(workers, o);
    cf_executor_options_free(o);
    return ex;
}

/* ---- TO01 --------------------------------------------------------------------------------- */

static void time_limit(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    cf_future *f, *q;
    pt_block_arg a;
    pt_report r;
    int next;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("TO01: a task outruns its 0.2 s limit");
    ex = pool_with_limit(1, 0.2);
    a = pt_block_args(&rep, NULL, 1);
    a.sleep_ms = 10000;
    f = pt_submit(ex, pt_block, &a, sizeof a);
    q = pt_submit(ex, pt_echo, "q", 1); /* queued behind it: re-dispatched */
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    PT_EXPECT(f, CF_TASK_EXPIRED);
    CHECK_CONTAINS(cf_future_error_message(f), "time limit");
    check_pid_in(cf_future_error_message(f), r.pid);
    CHECK(kill(r.pid, 0) == -1 && errno == ESRCH); /* killed and reaped */
    pt_ok(q, NULL);
    next = pt_worker_pid(ex);
    CHECK(next != r.pid); /* the next task runs in a new process */
    cf_future_free(f);
    cf_future_free(q);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* ---- TO02 --------------------------------------------------------------------------------- */

static void time_limit_ignoring_sigterm(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("TO02: an expired task that ignores SIGTERM is killed with SIGKILL");
    ex = pool_with_limit(1, 0.2);
    a = pt_block_args(&rep, NULL, 1);
    f = pt_submit(ex, pt_ignore_term, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    PT_EXPECT(f, CF_TASK_EXPIRED);
    check_pid_in(cf_future_error_message(f), r.pid);
    /* SIGTERM was ignored: only the escalation can have ended it. */
    CHECK(kill(r.pid, 0) == -1 && errno == ESRCH);
    CHECK(pt_worker_pid(ex) != r.pid);
    cf_future_free(f);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* A map chunk of k items gets k times the limit: 4 items of 0.2 s under a 0.5 s limit. */
static void time_limit_chunk(void) {
    pt_base b = pt_begin("a map chunk of k items gets k times the limit");
    cf_executor *ex = pool_with_limit(1, 0.5);
    uint32_t ms[4] = {200, 200, 200, 200};
    cf_map_iter *it;
    const void *d;
    size_t n;
    int i;
    CHECK_STATUS(cf_map(ex, pt_sleep_ms, ms, sizeof ms[0], 4, PT_LONG, 4, &it), CF_OK);
    for (i = 0; i < 4; i++) {
        pt_pid_result r;
        CHECK_STATUS(cf_map_next(it, &d, &n), CF_OK);
        memcpy(&r, d, sizeof r);
        pt_note_pid(r.pid);
    }
    CHECK_STATUS(cf_map_next(it, &d, &n), CF_DONE);
    cf_map_free(it);
    pt_free(ex);
    pt_end(b);
}

/* ---- max_tasks_per_child (SD12) ----------------------------------------------------------- */

static cf_executor *pool_with_max_tasks(uint32_t workers, uint64_t max_tasks) {
    cf_executor_options *o = pt_opts();
    cf_executor *ex;
    CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(o, max_tasks), CF_OK);
    ex = pt_new_opts(workers, o);
    cf_executor_options_free(o);
    return ex;
}

static void run_pids(cf_executor *ex, int *pids, int n, bool shutdown_midway) {
    cf_future *f[16];
    int i;
    CHECK(n <= 16);
    for (i = 0; i < n; i++) f[i] = pt_submit(ex, pt_pid, NULL, 0);
    if (shutdown_midway) CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK);
    for (i = 0; i < n; i++) {
        pids[i] = pt_ok_pid(f[i]);
        cf_future_free(f[i]);
    }
}

static int count_of(const int *pids, int n, int pid) {
    int i, c = 0;
    for (i = 0; i < n; i++) c += pids[i] == pid;
    return c;
}

/* Two workers, at most 2 tasks each: no process ran more than 2 (one may run fewer: the
 * last jobs can be spread over two fresh workers). */
static void check_at_most_two_each(const int *pids) {
    int i, distinct = 0;
    for (i = 0; i < 8; i++) {
        int c = count_of(pids, 8, pids[i]);
        if (c > 2) {
            int j;
            fprintf(stderr, "  pids of the 8 tasks:");
            for (j = 0; j < 8; j++) fprintf(stderr, " %d", pids[j]);
            fprintf(stderr, "\n");
        }
        CHECK(c <= 2);
        if (count_of(pids, i, pids[i]) == 0) distinct++;
    }
    CHECK(distinct >= 4);
}

static void max_tasks_per_child(void) {
    pt_base b = pt_begin("max_tasks_per_child 1 and 2 with 8 queued tasks (SD12)");
    cf_executor *ex;
    int pids[8], i, j;

    /* 1 task per child, one worker at a time: 8 processes. */
    ex = pool_with_max_tasks(1, 1);
    run_pids(ex, pids, 8, false);
    for (i = 0; i < 8; i++)
        for (j = 0; j < i; j++) CHECK(pids[i] != pids[j]);
    pt_free(ex);

    /* 2 per child, one worker: tasks 2k and 2k+1 share a process. */
    ex = pool_with_max_tasks(1, 2);
    run_pids(ex, pids, 8, false);
    for (i = 0; i < 8; i += 2) {
        CHECK_EQ_INT(pids[i], pids[i + 1]);
        if (i) CHECK(pids[i] != pids[i - 1]);
        CHECK_EQ_INT(count_of(pids, 8, pids[i]), 2);
    }
    pt_free(ex);

    /* 2 per child, two workers. */
    ex = pool_with_max_tasks(2, 2);
    run_pids(ex, pids, 8, false);
    check_at_most_two_each(pids);
    pt_free(ex);

    /* shutdown(wait=false) mid-way: every result still comes, replacements still start. */
    ex = pool_with_max_tasks(2, 2);
    run_pids(ex, pids, 8, true);
    check_at_most_two_each(pids);
    pt_free(ex);

    /* A map chunk counts as one task: 8 items in chunks of 4 run in 2 processes. */
    ex = pool_with_max_tasks(1, 1);
    {
        uint32_t zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        cf_map_iter *it;
        const void *d;
        size_t n;
        CHECK_STATUS(cf_map(ex, pt_sleep_ms, zero, sizeof zero[0], 8, PT_LONG, 4, &it), CF_OK);
        for (i = 0; i < 8; i++) {
            pt_pid_result r;
            CHECK_STATUS(cf_map_next(it, &d, &n), CF_OK);
            memcpy(&r, d, sizeof r);
            pids[i] = r.pid;
            pt_note_pid(r.pid);
        }
        CHECK_STATUS(cf_map_next(it, &d, &n), CF_DONE);
        cf_map_free(it);
        for (i = 0; i < 8; i++) CHECK_EQ_INT(pids[i], pids[i < 4 ? 0 : 4]);
        CHECK(pids[0] != pids[4]);
    }
    pt_free(ex);
    pt_end(b);
}

/* ---- SD08: terminate_workers / kill_workers mid-task -------------------------------------- */

static void stop_workers(bool use_kill) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *q[4], *g = NULL;
    char marker[4][PT_PATH_MAX];
    pt_block_arg a;
    pt_report r;
    int i, server, live[16], n;
    int sig = use_kill ? SIGKILL : SIGTERM;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin(use_kill ? "SD08: kill_workers mid-task" : "SD08: terminate_workers mid-task");
    ex = pt_new(1);
    server = pt_fork_server();
    if (server) pt_note_pid(server);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < 4; i++) {
        snprintf(marker[i], sizeof marker[i], "%s/after-stop-%d", pt_dir, i);
        q[i] = pt_submit(ex, pt_touch, marker[i], strlen(marker[i]) + 1);
    }
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    if (use_kill)
        CHECK_STATUS(cf_executor_kill_workers(ex), CF_OK);
    else
        CHECK_STATUS(cf_executor_terminate_workers(ex), CF_OK);
    PT_EXPECT(fb, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fb), -sig);
    check_pid_in(cf_future_error_message(fb), r.pid);
    for (i = 0; i < 4; i++) {
        PT_EXPECT(q[i], CF_CANCELLED);
        CHECK(cf_future_cancelled(q[i]));
    }
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_SHUTDOWN);
    CHECK(g == NULL);
    /* No replacement worker was started. */
    n = pt_live_workers(server, live, 16);
    for (i = 0; i < n && i < 16; i++) {
        if (live[i] != r.pid) {
            fprintf(stderr, "  a worker %d exists after %s\n", live[i],
                    use_kill ? "kill_workers" : "terminate_workers");
            CHECK(!"no replacement spawns");
        }
    }
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    pt_free(ex);
    for (i = 0; i < 4; i++) {
        CHECK(access(marker[i], F_OK) != 0);
        cf_future_free(q[i]);
    }
    cf_future_free(fb);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

static void terminate_workers(void) { stop_workers(false); }
static void kill_workers(void) { stop_workers(true); }

/* ---- TO03 and option checks --------------------------------------------------------------- */

static void thread_pool_options(void) {
    pt_base b = pt_begin("TO03: process-pool options on a thread pool are rejected");
    cf_executor_options *o;
    cf_executor *ex;

    o = cf_executor_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(cf_executor_options_set_task_timeout(o, 0.2), CF_OK);
    CHECK(cf_executor_new(CF_THREAD_POOL, 2, o) == NULL);
    CHECK(strlen(cf_last_error()) > 0);
    cf_executor_options_free(o);

    o = cf_executor_options_new();
    CHECK_STATUS(cf_executor_options_set_start_method(o, pt_method), CF_OK);
    CHECK(cf_executor_new(CF_THREAD_POOL, 2, o) == NULL);
    cf_executor_options_free(o);

    o = cf_executor_options_new();
    CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(o, 3), CF_OK);
    CHECK(cf_executor_new(CF_THREAD_POOL, 2, o) == NULL);
    cf_executor_options_free(o);

    o = cf_executor_options_new();
    CHECK_STATUS(cf_executor_options_set_task_timeout(o, NAN), CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_executor_options_set_start_method(o, (cf_start_method)7), CF_INVALID_ARGUMENT);
    cf_executor_options_free(o);

    ex = cf_executor_new(CF_THREAD_POOL, 1, NULL);
    CHECK(ex != NULL);
    CHECK_STATUS(cf_executor_terminate_workers(ex), CF_INVALID_ARGUMENT);
    CHECK_STATUS(cf_executor_kill_workers(ex), CF_INVALID_ARGUMENT);
    pt_free(ex);
    pt_end(b);
}

int main(int argc, char **argv) {
    pt_setup(argc, argv, "proc_limits");
    PT_RUN(time_limit);
    PT_RUN(time_limit_ignoring_sigterm);
    PT_RUN(time_limit_chunk);
    PT_RUN(max_tasks_per_child);
    PT_RUN(terminate_workers);
    PT_RUN(kill_workers);
    PT_RUN(thread_pool_options);
    return pt_finish();
}
