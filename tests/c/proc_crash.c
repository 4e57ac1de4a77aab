/*
 * proc_crash.c: worker death (RELIABILITY.md 2.1) for the start method in argv[1]: abort,
 * SIGSEGV, _exit(42), exit(0), kill -9 of a busy and of an idle worker, a worker killed while
 * its big argument is written, a grandchild holding the worker's pipes, a crash storm, and a
 * crash after the result was sent. After every crash the pool keeps working.
 */
#define _GNU_SOURCE
#include "proctest.h"

#include <sys/mman.h>

static void check_pid_in(const char *msg, int pid) {
    char s[32];
    snprintf(s, sizeof s, "%d", pid);
    CHECK_CONTAINS(msg, s);
}

/* ---- CR01-CR04 ---------------------------------------------------------------------------- */

typedef struct crash_case {
    const char *id;
    cf_task_fn fn;
    int code;
    const char *words; /* in the message */
    bool is_signal;
} crash_case;

static void crashes(void) {
    static const crash_case cases[] = {
        {"CR01 abort", pt_abort, -SIGABRT, "SIGABRT", true},
        {"CR02 SIGSEGV", pt_segv, -SIGSEGV, "SIGSEGV", true},
        {"CR03 _exit(42)", pt_exit42, 42, "exited with status 42", false},
        {"CR04 exit(0)", pt_exit0, 0, "exited with status 0", false},
    };
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    size_t c;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("CR01-CR04: abort, SIGSEGV, _exit(42), exit(0)");
    ex = pt_new(1);
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const crash_case *k = &cases[c];
        pt_block_arg a = pt_block_args(&rep, NULL, (int)c);
        cf_future *f, *q[3];
        pt_report r;
        const char *msg;
        int i, next;
        fprintf(stderr, "  %s\n", k->id);
        f = pt_submit(ex, k->fn, &a, sizeof a);
        /* Queued behind it (one worker): re-dispatched, never failed. */
        for (i = 0; i < 3; i++) q[i] = pt_submit(ex, pt_echo, &i, sizeof i);
        r = pt_read_report(&rep);
        pt_note_pid(r.pid);
        PT_EXPECT(f, CF_WORKER_DIED);
        CHECK_EQ_INT(cf_future_error_code(f), k->code);
        msg = cf_future_error_message(f);
        CHECK_CONTAINS(msg, k->words);
        CHECK_CONTAINS(msg, "worker");
        check_pid_in(msg, r.pid);
        CHECK_CONTAINS(cf_last_error(), k->words);
        if (k->is_signal) {
            CHECK_CONTAINS(msg, "signal");
        } else {
            CHECK(!pt_contains(msg, "signal"));
        }
        CHECK(!cf_future_cancel(f));
        /* The dead worker has been reaped before its future failed. */
        CHECK(kill(r.pid, 0) == -1 && errno == ESRCH);
        for (i = 0; i < 3; i++) {
            size_t n;
            const void *d = pt_ok(q[i], &n);
            CHECK_EQ_INT(n, sizeof i);
            CHECK(memcmp(d, &i, sizeof i) == 0);
            cf_future_free(q[i]);
        }
        next = pt_worker_pid(ex);
        CHECK(next != r.pid);
        cf_future_free(f);
    }
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* ---- CR05: kill -9 a busy worker ---------------------------------------------------------- */

static void kill_busy(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *q[6];
    pt_block_arg a;
    pt_report r;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("CR05: kill -9 a busy worker: only its future fails");
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < 6; i++) q[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK(kill(r.pid, SIGKILL) == 0);
    PT_EXPECT(fb, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fb), -SIGKILL);
    CHECK_CONTAINS(cf_future_error_message(fb), "SIGKILL");
    check_pid_in(cf_future_error_message(fb), r.pid);
    for (i = 0; i < 6; i++) {
        size_t n;
        const void *d = pt_ok(q[i], &n);
        CHECK_EQ_INT(n, sizeof i);
        CHECK(memcmp(d, &i, sizeof i) == 0);
        cf_future_free(q[i]);
    }
    CHECK(pt_worker_pid(ex) != r.pid);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- CR06: kill -9 an idle worker, then submit -------------------------------------------- */

static void kill_idle(void) {
    pt_base b = pt_begin("CR06: kill -9 an idle worker, then submit (SIGPIPE at default)");
    cf_executor *ex = pt_new(1);
    int k;
    for (k = 0; k < 6; k++) {
        int victim = pt_worker_pid(ex);
        cf_future *f;
        size_t n;
        const void *d;
        CHECK(kill(victim, SIGKILL) == 0);
        /* Even k: submit at once (the job may be written to the dead worker's channel);
         * odd k: once the worker is surely dead. */
        if (k % 2) CHECK(pt_await_dead(victim));
        f = pt_submit(ex, pt_echo, &k, sizeof k);
        d = pt_ok(f, &n);
        CHECK_EQ_INT(n, sizeof k);
        CHECK(memcmp(d, &k, sizeof k) == 0);
        cf_future_free(f);
        CHECK(pt_worker_pid(ex) != victim);
    }
    pt_free(ex);
    pt_end(b);
}

/* ---- CR07 (small): the worker dies while its big argument is being written --------------- */

/* A job whose worker dies before beginning it is sent again (DESIGN: "work queued behind it is
 * re-dispatched"), so CF_OK (intact) is a right answer as well as CF_WORKER_DIED; the row's
 * sizes (512 MiB, 4 x 256 MiB with LD04) are in proc_load.c under CFUTURES_BIG_TESTS=1. */

static void kill_during_big_argument(void) {
    pt_base b = pt_begin("CR07: kill -9 the worker while a 64 MiB argument is written");
    cf_executor *ex = pt_new(1);
    size_t len = (size_t)64 << 20, i;
    uint8_t *big = (uint8_t *)malloc(len);
    uint64_t sum = 0;
    int k;
    CHECK(big != NULL);
    for (i = 0; i < len; i++) {
        big[i] = pt_pattern(i);
        sum += big[i];
    }
    for (k = 0; k < 3; k++) {
        int victim = pt_worker_pid(ex);
        cf_future *f = pt_submit(ex, pt_checksum, big, len);
        const void *d;
        size_t n;
        cf_status s;
        CHECK(kill(victim, SIGKILL) == 0);
        s = cf_future_result(f, PT_LONG, &d, &n);
        /* Died before it began: sent again to a new worker (OK); or while running it. */
        CHECK(s == CF_OK || s == CF_WORKER_DIED);
        if (s == CF_OK) {
            uint64_t got[2];
            CHECK_EQ_INT(n, sizeof got);
            memcpy(got, d, sizeof got);
            CHECK(got[0] == sum);
            CHECK_EQ_INT(got[1], len);
        } else {
            CHECK_EQ_INT(cf_future_error_code(f), -SIGKILL);
        }
        cf_future_free(f);
        CHECK(pt_worker_pid(ex) != victim);
    }
    free(big);
    pt_free(ex);
    pt_end(b);
}

/* ---- CR09: a grandchild keeps the worker's pipes open ------------------------------------- */

static void grandchild_holds_pipes(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("CR09: a grandchild holds the worker's channel; death still reported");
    ex = pt_new(1);
    a = pt_block_args(&rep, NULL, 1);
    f = pt_submit(ex, pt_grandchild, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK(r.extra > 0);
    {
        const void *d;
        size_t n;
        cf_status s = cf_future_result(f, PT_LONG, &d, &n);
        if (s != CF_WORKER_DIED) kill(r.extra, SIGKILL);
        CHECK_STATUS(s, CF_WORKER_DIED);
    }
    CHECK_EQ_INT(cf_future_error_code(f), -SIGKILL);
    check_pid_in(cf_future_error_message(f), r.pid);
    CHECK(pt_alive(r.extra)); /* the grandchild still holds the channel */
    CHECK(pt_worker_pid(ex) != r.pid);
    CHECK(kill(r.extra, SIGKILL) == 0); /* an orphan of the runner (the subreaper) now */
    cf_future_free(f);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* ---- CR12: crash storm -------------------------------------------------------------------- */

/* 40 + 40 by default; the row's 200 + 200 is proc_load.c's crash_storm_full
 * (CFUTURES_BIG_TESTS=1). */

#define STORM 40
#define STORM_WORKERS 4

typedef struct sampler {
    int server; /* forkserver: the fork server, whose children are the workers */
    pthread_mutex_t m;
    bool stop;
    int max_seen;
    int over;
    int samples;
} sampler;

static void *sampler_main(void *p) {
    sampler *s = (sampler *)p;
    int parent = s->server ? s->server : (int)getpid();
    for (;;) {
        int pids[64], n, i, still = 0;
        pthread_mutex_lock(&s->m);
        if (s->stop) {
            pthread_mutex_unlock(&s->m);
            return NULL;
        }
        pthread_mutex_unlock(&s->m);
        n = pt_live_workers(s->server, pids, 64);
        if (n > 64) n = 64;
        /* A scan is not atomic: a worker read alive early may be replaced before the scan
         * ends. Those still alive now were all alive together at the end of the scan. */
        for (i = 0; i < n; i++) {
            pt_stat st = pt_read_stat(pids[i]);
            if (st.state && st.state != 'Z' && st.state != 'X' && st.ppid == parent) still++;
        }
        pthread_mutex_lock(&s->m);
        s->samples++;
        if (still > s->max_seen) s->max_seen = still;
        if (still > STORM_WORKERS) s->over++;
        pthread_mutex_unlock(&s->m);
        cft_nap(2000000);
    }
}

static void crash_storm(void) {
    pt_base b = pt_begin("CR12: 40 segfaults interleaved with 40 good tasks, max_workers=4");
    cf_executor *ex = pt_new(STORM_WORKERS);
    sampler s;
    pthread_t t;
    cf_future *f[2 * STORM];
    int i, ok = 0, died = 0;
    memset(&s, 0, sizeof s);
    s.server = pt_fork_server();
    if (s.server) pt_note_pid(s.server);
    pthread_mutex_init(&s.m, NULL);
    CHECK(pthread_create(&t, NULL, sampler_main, &s) == 0);
    for (i = 0; i < 2 * STORM; i++) {
        if (i % 2 == 0)
            f[i] = pt_submit(ex, pt_segv, NULL, 0);
        else
            f[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    }
    for (i = 0; i < 2 * STORM; i++) {
        const void *d;
        size_t n;
        cf_status st = cf_future_result(f[i], PT_LONG, &d, &n);
        if (i % 2 == 0) {
            CHECK_STATUS(st, CF_WORKER_DIED);
            CHECK_EQ_INT(cf_future_error_code(f[i]), -SIGSEGV);
            died++;
        } else {
            CHECK_STATUS(st, CF_OK);
            CHECK_EQ_INT(n, sizeof i);
            CHECK(memcmp(d, &i, sizeof i) == 0);
            ok++;
        }
        cf_future_free(f[i]);
    }
    CHECK_EQ_INT(died, STORM);
    CHECK_EQ_INT(ok, STORM);
    pthread_mutex_lock(&s.m);
    s.stop = true;
    pthread_mutex_unlock(&s.m);
    CHECK(pthread_join(t, NULL) == 0);
    fprintf(stderr, "  live workers: at most %d seen in %d samples\n", s.max_seen, s.samples);
    CHECK_EQ_INT(s.over, 0);
    pt_worker_pid(ex);
    pt_free(ex);
    pthread_mutex_destroy(&s.m);
    pt_end(b);
}

/* ---- CR13: crash after the result was sent ----------------------------------------------- */

static void crash_after_result(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;
    const void *d;
    size_t n;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("CR13: the worker crashes 50 ms after sending its result");
    ex = pt_new(1);
    a = pt_block_args(&rep, NULL, 1);
    f = pt_submit(ex, pt_late_segv, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(d, "late", 4) == 0);
    CHECK(pt_await_dead(r.pid));
    CHECK(pt_worker_pid(ex) != r.pid);
    cf_future_free(f);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* The same, with the callback thread busy in a slow done-callback (RE09) while the worker
 * sends its result and dies: when the manager wakes, the result and the death are both
 * waiting. The result was sent first: the future must succeed. */
static void crash_after_result_busy_manager(void) {
    pt_fifo rep, gx;
    pt_base b;
    cf_executor *ex;
    cf_future *fx, *f;
    pt_block_arg a;
    cft_gate stall;
    pt_report r;
    const void *d;
    size_t n;
    cf_status s;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gx, "gx");
    b = pt_begin("CR13 with the manager busy in a slow done-callback (RE09)");
    ex = pt_new(1);
    fx = pt_stall_callbacks(ex, &gx, &stall);

    a = pt_block_args(&rep, NULL, 2);
    f = pt_submit(ex, pt_late_segv, &a, sizeof a); /* written to the idle worker at once */
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK(pt_await_dead(r.pid)); /* result sent, then the crash */
    cft_gate_open(&stall);
    s = cf_future_result(f, PT_LONG, &d, &n);
    if (s != CF_OK)
        fprintf(stderr, "  the result was sent before the crash, yet: %s (%s)\n",
                cf_status_str(s), cf_future_error_message(f));
    CHECK_STATUS(s, CF_OK);
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(d, "late", 4) == 0);
    pt_ok(fx, NULL);
    CHECK(pt_worker_pid(ex) != r.pid);
    cf_future_free(fx);
    cf_future_free(f);
    pt_free(ex);
    cft_gate_destroy(&stall);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gx);
}

/* ---- a death reported while the pool waits for a new worker (forkserver) ------------------ */


/* With the fork server stopped, a busy worker is killed and a new worker is requested: when
 * the server resumes it reports the death first, then the new worker. The pool must handle
 * that death (fail the busy task) without waiting for a later message from the server. */
static void death_reported_during_spawn(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fa, *fb;
    pt_block_arg a;
    pt_report r;
    int server, i;
    pid_t mgr;
    cf_status s;
    const void *d;
    size_t n;

    if (pt_method != CF_START_FORKSERVER) {
        fprintf(stderr, "  (fork server only)\n");
        return;
    }
    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("a death reported while the pool waits for a new worker (forkserver)");
    ex = pt_new(2);
    server = pt_fork_server();
    pt_note_pid(server);
    mgr = pt_manager_tid();
    CHECK(mgr > 0);
    a = pt_block_args(&rep, &gate, 1);
    fa = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);

    CHECK(kill(server, SIGSTOP) == 0);
    CHECK(kill(r.pid, SIGKILL) == 0);
    CHECK(pt_await_dead(r.pid)); /* a zombie: its parent, the server, is stopped */
    fb = pt_submit(ex, pt_pid, NULL, 0); /* a second worker is requested from the server */
    /* Wait (bounded) until the manager is blocked waiting for the server's reply. */
    for (i = 0; i < 20000 && pt_blocked_in(mgr) != SYS_recvmsg; i++) cft_nap(1000000);
    CHECK_EQ_INT(pt_blocked_in(mgr), SYS_recvmsg);
    CHECK(kill(server, SIGCONT) == 0);

    s = cf_future_result(fa, 10.0, &d, &n);
    if (s == CF_TIMEOUT)
        fprintf(stderr, "  the worker died, but its task is still pending 10 s later\n");
    CHECK_STATUS(s, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fa), -SIGKILL);
    /* fb may have been written to the dead worker (its death was not known yet): it is sent
     * again to the new one. */
    pt_ok_pid(fb);
    cf_future_free(fa);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

int main(int argc, char **argv) {
    pt_setup(argc, argv, "proc_crash");
    PT_RUN(crashes);
    PT_RUN(kill_busy);
    PT_RUN(kill_idle);
    PT_RUN(kill_during_big_argument);
    PT_RUN(grandchild_holds_pipes);
    PT_RUN(crash_storm);
    PT_RUN(crash_after_result);
    PT_RUN(crash_after_result_busy_manager);
    PT_RUN(death_reported_during_spawn);
    return pt_finish();
}
