/* test_timeouts.c: timeout values for every waiting call. 0 polls; NaN is invalid; negative,
 * +inf and huge values wait without limit; tiny ones time out. No timing assertions.
 *
 * Catalogue rows: TO04 (zero: test_zero), TO05 (NaN: test_nan), TO06 (negative: the
 * `forever` values -1.0, -0.5, -inf, CF_FOREVER), TO07 (huge: the `forever` values +inf, 1e300,
 * DBL_MAX, and test_huge_task_limit for the process pool's per-task limit), TO08 (tiny: the
 * `tiny` values 1e-9, 5e-324, ...). Each runs for every waiting call (`enum op`). */
#include "cftest.h"

#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <sys/stat.h>

enum op {
    OP_RESULT,
    OP_EXCEPTION,
    OP_WAIT_ALL,
    OP_WAIT_FIRST,
    OP_WAIT_FIRST_EXC,
    OP_AS_COMPLETED,
    OP_MAP,
    N_OPS
};

static const char *const op_names[N_OPS] = {
    "cf_future_result",       "cf_future_exception",        "cf_wait(ALL_COMPLETED)",
    "cf_wait(FIRST_COMPLETED)", "cf_wait(FIRST_EXCEPTION)", "cf_as_completed_next",
    "cf_map_next",
};

typedef struct opener {
    cft_gate *gate;
    pid_t tid;
    bool saw_blocked;
} opener;

/* How many helpers saw the waiter parked before opening the gate (information only). */
static int n_saw_blocked, n_helpers;

/* Opens the gate once the waiting thread is parked in the kernel. */
static void *opener_thread(void *p) {
    opener *o = p;
    o->saw_blocked = cft_wait_blocked(o->tid);
    cft_gate_open(o->gate);
    return NULL;
}

/* Runs `op` with `timeout` on a task blocked on a fresh gate. If `helper`, another thread
 * opens the gate once this thread is blocked in the call; otherwise the gate opens after the
 * call returns. Returns the call's status; cleans up everything. */
static int run_op(cf_executor *ex, enum op op, double timeout, bool helper) {
    cft_gate gate;
    cft_counter started, ran;
    cf_future *f = NULL;
    cf_map_iter *it = NULL;
    pthread_t th;
    opener o;
    int st = -1;
    const void *data = (const void *)&data;
    size_t len = 777;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&ran);
    if (op == OP_MAP) {
        cft_gated_arg a = cft_gated(&gate, &started, &ran);
        CHECK_STATUS(cf_map(ex, cft_task_gated, &a, sizeof a, 1, timeout, 1, &it), CF_OK);
    } else {
        f = cft_submit_gated(ex, &gate, &started, &ran);
    }
    cft_counter_await(&started, 1);

    o.gate = &gate;
    o.tid = cft_gettid();
    o.saw_blocked = false;
    if (helper) CHECK(pthread_create(&th, NULL, opener_thread, &o) == 0);

    switch (op) {
    case OP_RESULT:
        st = cf_future_result(f, timeout, &data, &len);
        if (st == CF_OK) {
            CHECK_EQ_INT(len, 0);
        } else {
            /* Out-params untouched unless CF_OK. */
            CHECK(data == (const void *)&data);
            CHECK_EQ_INT(len, 777);
        }
        break;
    case OP_EXCEPTION:
        st = cf_future_exception(f, timeout);
        break;
    case OP_WAIT_ALL:
    case OP_WAIT_FIRST:
    case OP_WAIT_FIRST_EXC: {
        cf_return_when w = op == OP_WAIT_ALL     ? CF_ALL_COMPLETED
                           : op == OP_WAIT_FIRST ? CF_FIRST_COMPLETED
                                                 : CF_FIRST_EXCEPTION;
        bool done[2] = {true, true};
        size_t n_done = 99;
        cf_future *fs[2];
        fs[0] = f;
        fs[1] = f;
        st = cf_wait(fs, 2, timeout, w, done, &n_done);
        if (st == CF_OK) {
            CHECK(done[0] && done[1]);
            CHECK_EQ_INT(n_done, 1);
        } else if (st == CF_TIMEOUT) {
            CHECK(!done[0] && !done[1]);
            CHECK_EQ_INT(n_done, 0);
        }
        break;
    }
    case OP_AS_COMPLETED: {
        cf_as_completed *ac = NULL;
        cf_future *got = NULL;
        size_t idx = 99;
        CHECK_STATUS(cf_as_completed_new(&f, 1, timeout, &ac), CF_OK);
        st = cf_as_completed_next(ac, &got, &idx);
        if (st == CF_OK) {
            CHECK(got == f);
            CHECK_EQ_INT(idx, 0);
            CHECK_STATUS(cf_as_completed_next(ac, &got, &idx), CF_DONE);
        } else {
            CHECK(got == NULL);
            CHECK_EQ_INT(idx, 99);
        }
        cf_as_completed_free(ac);
        break;
    }
    case OP_MAP:
        st = cf_map_next(it, &data, &len);
        if (st == CF_OK) {
            CHECK_EQ_INT(len, 0);
        } else {
            CHECK(data == (const void *)&data);
            CHECK_EQ_INT(len, 777);
        }
        /* Either way, the map has nothing more to give. */
        CHECK_STATUS(cf_map_next(it, &data, &len), CF_DONE);
        break;
    default:
        CHECK(!"unknown op");
    }

    if (helper) {
        CHECK(pthread_join(th, NULL) == 0);
        n_helpers++;
        n_saw_blocked += o.saw_blocked;
    } else {
        cft_gate_open(&gate);
    }
    if (f) {
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
    }
    /* The task has left the gate once `ran` is 1 (a map's future is not ours to wait on). */
    cft_counter_await(&ran, 1);
    if (it) cf_map_free(it);
    cft_counter_destroy(&started);
    cft_counter_destroy(&ran);
    cft_gate_destroy(&gate);
    return st;
}

/* TO04: timeout 0 polls: CF_TIMEOUT at once, the future unchanged, later CF_OK. */
static void test_zero(cf_executor *ex1) {
    cft_gate gate;
    cft_counter started;
    cf_future *running, *queued;
    const void *data = (const void *)&data;
    size_t len = 5;
    int i;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    running = cft_submit_gated(ex1, &gate, &started, NULL);
    queued = cft_submit_gated(ex1, NULL, NULL, NULL);
    cft_counter_await(&started, 1);

    for (i = 0; i < 3; i++) {
        CHECK_STATUS(cf_future_result(running, 0.0, &data, &len), CF_TIMEOUT);
        CHECK(cf_last_error()[0] != '\0');
        /* -0.0 compares equal to 0: it polls too. */
        CHECK_STATUS(cf_future_result(running, -0.0, &data, &len), CF_TIMEOUT);
        CHECK_STATUS(cf_future_exception(running, 0.0), CF_TIMEOUT);
        CHECK(data == (const void *)&data);
        CHECK_EQ_INT(len, 5);
        CHECK(cf_future_running(running));
        CHECK(!cf_future_done(running));

        CHECK_STATUS(cf_future_result(queued, 0.0, &data, &len), CF_TIMEOUT);
        CHECK_STATUS(cf_future_exception(queued, 0.0), CF_TIMEOUT);
        CHECK(!cf_future_running(queued));
        CHECK(!cf_future_done(queued));
        CHECK(!cf_future_cancelled(queued));
    }
    {
        cf_future *fs[2];
        bool done[2] = {true, true};
        size_t n_done = 9;
        fs[0] = running;
        fs[1] = queued;
        CHECK_STATUS(cf_wait(fs, 2, 0.0, CF_FIRST_COMPLETED, done, &n_done), CF_TIMEOUT);
        CHECK(!done[0] && !done[1]);
        CHECK_EQ_INT(n_done, 0);
    }
    {
        cf_as_completed *ac = NULL;
        cf_future *fs[2], *got = NULL;
        fs[0] = running;
        fs[1] = queued;
        CHECK_STATUS(cf_as_completed_new(fs, 2, 0.0, &ac), CF_OK);
        CHECK_STATUS(cf_as_completed_next(ac, &got, NULL), CF_TIMEOUT);
        CHECK(strstr(cf_last_error(), "2 (of 2) futures unfinished") != NULL);
        cf_as_completed_free(ac);
    }
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_result(running, CF_FOREVER, &data, &len), CF_OK);
    CHECK_STATUS(cf_future_result(queued, CF_FOREVER, &data, &len), CF_OK);
    /* Done futures: timeout 0 gives the outcome at once. */
    CHECK_STATUS(cf_future_result(running, 0.0, &data, &len), CF_OK);
    CHECK_STATUS(cf_future_exception(queued, 0.0), CF_OK);
    cf_future_free(running);
    cf_future_free(queued);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* TO05: NaN is CF_INVALID_ARGUMENT for every call taking a timeout, pending or done, at once
 * (a wait on the pending future would never end: the gate opens only afterwards). */
static void test_nan(cf_executor *ex) {
    cft_gate gate;
    cft_counter started, counted;
    cf_future *pending, *done_f = NULL;
    const void *data = (const void *)&data;
    size_t len = 3;
    double nans[2];
    int i;
    nans[0] = NAN;
    nans[1] = -NAN;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    cft_counter_init(&counted);
    pending = cft_submit_gated(ex, &gate, &started, NULL);
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &done_f), CF_OK);
    CHECK_STATUS(cf_future_exception(done_f, CF_FOREVER), CF_OK);

    for (i = 0; i < 2; i++) {
        double nan = nans[i];
        cf_future *fs[2];
        bool done[2] = {true, true};
        size_t n_done = 42;
        cf_as_completed *ac = (cf_as_completed *)&ac;
        cf_map_iter *it = (cf_map_iter *)&it;
        cft_counter *pk = &counted;
        fs[0] = pending;
        fs[1] = done_f;

        CHECK(isnan(nan));
        CHECK_STATUS(cf_future_result(pending, nan, &data, &len), CF_INVALID_ARGUMENT);
        CHECK(strstr(cf_last_error(), "NaN") != NULL);
        CHECK_STATUS(cf_future_result(done_f, nan, &data, &len), CF_INVALID_ARGUMENT);
        CHECK(data == (const void *)&data);
        CHECK_EQ_INT(len, 3);
        CHECK_STATUS(cf_future_exception(pending, nan), CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_future_exception(done_f, nan), CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_wait(fs, 2, nan, CF_ALL_COMPLETED, done, &n_done), CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_wait(fs, 2, nan, CF_FIRST_COMPLETED, done, &n_done),
                     CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_wait(fs + 1, 1, nan, CF_FIRST_EXCEPTION, done, &n_done),
                     CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_wait(NULL, 0, nan, CF_ALL_COMPLETED, NULL, NULL), CF_INVALID_ARGUMENT);
        /* Not CF_OK / CF_TIMEOUT: done and n_done are not written. */
        CHECK(done[0] && done[1]);
        CHECK_EQ_INT(n_done, 42);
        CHECK_STATUS(cf_as_completed_new(fs, 2, nan, &ac), CF_INVALID_ARGUMENT);
        CHECK(ac == (cf_as_completed *)&ac);
        CHECK_STATUS(cf_as_completed_new(NULL, 0, nan, &ac), CF_INVALID_ARGUMENT);
        CHECK_STATUS(cf_map(ex, cft_task_count, &pk, sizeof pk, 1, nan, 1, &it),
                     CF_INVALID_ARGUMENT);
        CHECK(it == (cf_map_iter *)&it);
        CHECK_STATUS(cf_map(ex, cft_task_noop, NULL, 0, 0, nan, 1, &it), CF_INVALID_ARGUMENT);
    }
    CHECK(!cf_future_done(pending));
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(pending, CF_FOREVER), CF_OK);
    cf_future_free(pending);
    cf_future_free(done_f);
    /* The rejected maps submitted nothing. */
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&counted), 0);
    cft_counter_destroy(&started);
    cft_counter_destroy(&counted);
    cft_gate_destroy(&gate);
}

/* Argument of task_handshake: two FIFOs, by path (a worker process inherits no other fd). */
typedef struct fifo_arg {
    char report[128];
    char gate[128];
} fifo_arg;

/* A process-pool task: writes a byte to the report FIFO, then waits for a byte on the gate. */
static int task_handshake(const void *arg, size_t len, cf_out *out) {
    fifo_arg a;
    char c = 's';
    int fd;
    ssize_t n;
    (void)out;
    if (len != sizeof a) return 90;
    memcpy(&a, arg, sizeof a);
    fd = open(a.report, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return 91;
    n = write(fd, &c, 1);
    close(fd);
    if (n != 1) return 92;
    fd = open(a.gate, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 93;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    return n == 1 ? 0 : 94;
}

/* Makes a FIFO at `path` and opens it read-write (so the task's opens never block). */
static int open_fifo(const char *path) {
    int fd;
    CHECK(mkfifo(path, 0600) == 0);
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

/* TO07 for the process pool's per-task time limit: a limit past what a deadline can hold
 * (1e19 s fits a Duration but not an instant; 1e300, DBL_MAX and +inf not even a Duration) is
 * no limit. The pool computes the deadline while the task runs: before the fix, 1e19 s made
 * that overflow and panic the pool's manager thread, and the future never completed. The
 * task reports that it runs, and is released after a short bounded wait (which gives the
 * manager time to see it start; were it released at once the check could pass vacuously,
 * never fail wrongly). Every future must give CF_OK within a generous bound. */
static void test_huge_task_limit(void) {
    double limits[5];
    char dir[64];
    fifo_arg a;
    int i, report_fd, gate_fd;
    const char *tmp = getenv("TMPDIR");
    limits[0] = 1e19;
    limits[1] = 1.8e19;
    limits[2] = 1e300;
    limits[3] = DBL_MAX;
    limits[4] = INFINITY;
    if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 30) tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/cft-timeouts-XXXXXX", tmp);
    CHECK(mkdtemp(dir) != NULL);
    memset(&a, 0, sizeof a);
    snprintf(a.report, sizeof a.report, "%s/report", dir);
    snprintf(a.gate, sizeof a.gate, "%s/gate", dir);
    report_fd = open_fifo(a.report);
    gate_fd = open_fifo(a.gate);
    for (i = 0; i < 5; i++) {
        cf_executor_options *o = cf_executor_options_new();
        cf_executor *ex;
        cf_future *f = NULL;
        struct pollfd p;
        char c;
        int st;
        CHECK(o != NULL);
        CHECK_STATUS(cf_executor_options_set_task_timeout(o, limits[i]), CF_OK);
        ex = cf_executor_new(CF_PROCESS_POOL, 1, o);
        CHECK(ex != NULL);
        cf_executor_options_free(o);
        CHECK_STATUS(cf_submit(ex, task_handshake, &a, sizeof a, &f), CF_OK);
        /* The task runs (bounded: the watchdog ends a test whose task never starts). */
        p.fd = report_fd;
        p.events = POLLIN;
        p.revents = 0;
        while ((st = poll(&p, 1, 60000)) < 0 && errno == EINTR) {
        }
        if (st != 1) {
            fprintf(stderr, "task limit %g: the task did not start within 60 s\n", limits[i]);
            CHECK(st == 1);
        }
        CHECK(read(report_fd, &c, 1) == 1);
        /* Blocked at the gate: this bounded wait only gives the manager its turn. */
        CHECK_STATUS(cf_future_exception(f, 0.2), CF_TIMEOUT);
        c = 'g';
        CHECK(write(gate_fd, &c, 1) == 1);
        st = cf_future_exception(f, 60.0);
        if (st != CF_OK) {
            fprintf(stderr, "task limit %g: the task gave %s (\"%s\")\n", limits[i],
                    cf_status_str((cf_status)st), cf_last_error());
            CHECK_STATUS(st, CF_OK);
        }
        cf_future_free(f);
        cf_executor_free(ex);
    }
    close(report_fd);
    close(gate_fd);
    unlink(a.report);
    unlink(a.gate);
    rmdir(dir);
}

int main(void) {
    cft_baseline base;
    int i, op;
    cf_executor *ex, *ex1;
    double forever[7];
    double tiny[6];

    base = cft_begin("test_timeouts");

    /* TO06 (negative) and TO07 (huge): wait without limit, then CF_OK once the gate opens. */
    forever[0] = -1.0;
    forever[1] = -0.5;
    forever[2] = -INFINITY;
    forever[3] = INFINITY;
    forever[4] = 1e300;
    forever[5] = DBL_MAX;
    forever[6] = CF_FOREVER;
    /* TO08: tiny timeouts give CF_TIMEOUT (the task stays blocked until the call returns). */
    tiny[0] = 1e-9;
    tiny[1] = 5e-324;
    tiny[2] = DBL_MIN;
    tiny[3] = 1e-300;
    tiny[4] = 1e-7;
    tiny[5] = 0.0;

    ex1 = cft_pool(1);
    test_zero(ex1);
    cf_executor_free(ex1);

    ex = cft_pool(2);
    for (i = 0; i < 7; i++) {
        for (op = 0; op < N_OPS; op++) {
            int st = run_op(ex, (enum op)op, forever[i], true);
            if (st != CF_OK) {
                fprintf(stderr, "%s with timeout %g: expected CF_OK after the gate opened\n",
                        op_names[op], forever[i]);
                CHECK_STATUS(st, CF_OK);
            }
        }
    }
    for (i = 0; i < 6; i++) {
        for (op = 0; op < N_OPS; op++) {
            int st = run_op(ex, (enum op)op, tiny[i], false);
            if (st != CF_TIMEOUT) {
                fprintf(stderr, "%s with timeout %g: expected CF_TIMEOUT\n", op_names[op],
                        tiny[i]);
                CHECK_STATUS(st, CF_TIMEOUT);
            }
        }
    }
    cf_executor_free(ex);
    printf("waits without limit: the waiter was seen parked before the gate opened in %d of %d\n",
           n_saw_blocked, n_helpers);

    ex = cft_pool(2);
    test_nan(ex);
    cf_executor_free(ex);

    test_huge_task_limit();

    CFT_END(base);
    return 0;
}
