/* test_signals.c: waits interrupted by signals every millisecond.
 *
 * Catalogue row TO13 (RELIABILITY.md section 2): `setitimer` every 1 ms with a no-op handler
 * installed without SA_RESTART, during `cf_future_result(f, 2.0)` and the other waiting calls.
 * Each gives CF_TIMEOUT, never an EINTR-shaped early return or another status; a wait without
 * limit still ends with CF_OK when the work completes. The signals must reach the waiting
 * thread: the pool's threads are started with SIGALRM blocked (they inherit the mask), so the
 * process-directed SIGALRM goes to the main thread, the one that waits.
 *
 * The assertion is the status. One check is on time, and only as a lower bound, which load
 * cannot break: a timed wait never returns before its deadline (an EINTR treated as a timeout
 * would return early). ITIMER_REAL is the watchdog's timer too: while the 1 ms timer runs,
 * the in-program watchdog is off (the Rust runner's watchdog still bounds the program, O1);
 * it is re-armed afterwards. O2 and O5 at the end. */
#include "cftest.h"

#include <sys/time.h>

static volatile sig_atomic_t g_ticks;

static void on_tick(int sig) {
    (void)sig;
    g_ticks = g_ticks + 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void block_sigalrm(bool block) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    CHECK(pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL) == 0);
}

/* Starts the 1 ms interval timer with the no-op handler (no SA_RESTART). */
static void ticks_start(void) {
    struct sigaction sa;
    struct itimerval it;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = 0; /* no SA_RESTART: interrupted system calls fail with EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    memset(&it, 0, sizeof it);
    it.it_interval.tv_usec = 1000;
    it.it_value.tv_usec = 1000;
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

/* Stops the interval timer and re-arms the watchdog. */
static void ticks_stop(void) {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    cft_watchdog_arm();
}

/* Checks one timed wait: CF_TIMEOUT, not before its deadline, with signals delivered during
 * it. */
static void check_timed(const char *what, int status, double t0, double timeout,
                        sig_atomic_t ticks0) {
    double elapsed = now_s() - t0;
    long ticks = (long)(g_ticks - ticks0);
    printf("%s(%.1f): %s after %.3f s, %ld signals during the wait\n", what, timeout,
           cf_status_str((cf_status)status), elapsed, ticks);
    if (status != CF_TIMEOUT) fprintf(stderr, "%s: expected CF_TIMEOUT\n", what);
    CHECK_STATUS(status, CF_TIMEOUT);
    /* Never early (a lower bound: load only makes the wait longer). */
    CHECK(elapsed >= timeout - 1e-3);
    /* The signals really interrupted this thread (the test means something). */
    CHECK(ticks > 0);
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
    cft_baseline base = cft_begin("test_signals");
    cf_executor *ex;
    cft_gate gate, gate2;
    cft_counter started;
    cf_future *f, *g;
    const void *data = (const void *)&data;
    size_t len = 7;
    double t0;
    sig_atomic_t ticks0;
    int st;

    cft_gate_init(&gate);
    cft_gate_init(&gate2);
    cft_counter_init(&started);

    /* Threads started from here on (the pool's, the opener) have SIGALRM blocked. */
    block_sigalrm(true);
    ex = cft_pool(2);
    f = cft_submit_gated(ex, &gate, &started, NULL);
    g = cft_submit_gated(ex, &gate2, &started, NULL);
    cft_counter_await(&started, 2);

    ticks_start();
    block_sigalrm(false);

    /* The row itself: result(f, 2.0) under 1 ms signals. */
    ticks0 = g_ticks;
    t0 = now_s();
    st = (int)cf_future_result(f, 2.0, &data, &len);
    check_timed("cf_future_result", st, t0, 2.0, ticks0);
    CHECK(data == (const void *)&data);
    CHECK_EQ_INT(len, 7);

    /* The other waiting calls, shorter. */
    ticks0 = g_ticks;
    t0 = now_s();
    st = (int)cf_future_exception(f, 0.5);
    check_timed("cf_future_exception", st, t0, 0.5, ticks0);
    {
        cf_future *fs[2];
        bool done[2] = {true, true};
        size_t n_done = 9;
        fs[0] = f;
        fs[1] = g;
        ticks0 = g_ticks;
        t0 = now_s();
        st = (int)cf_wait(fs, 2, 0.5, CF_FIRST_COMPLETED, done, &n_done);
        check_timed("cf_wait", st, t0, 0.5, ticks0);
        CHECK(!done[0] && !done[1]);
        CHECK_EQ_INT(n_done, 0);
    }
    {
        cf_as_completed *it = NULL;
        cf_future *got = NULL;
        ticks0 = g_ticks;
        t0 = now_s();
        CHECK_STATUS(cf_as_completed_new(&f, 1, 0.5, &it), CF_OK);
        st = (int)cf_as_completed_next(it, &got, NULL);
        check_timed("cf_as_completed_next", st, t0, 0.5, ticks0);
        cf_as_completed_free(it);
    }

    /* A wait without limit is not ended by the signals: CF_OK once the gate opens (a helper
     * opens it once this thread is parked). */
    {
        opener o;
        pthread_t th;
        o.tid = cft_gettid();
        o.gate = &gate;
        block_sigalrm(true);
        CHECK(pthread_create(&th, NULL, open_when_blocked, &o) == 0);
        block_sigalrm(false);
        ticks0 = g_ticks;
        st = (int)cf_future_result(f, CF_FOREVER, &data, &len);
        CHECK(pthread_join(th, NULL) == 0);
        printf("cf_future_result(CF_FOREVER): %s, %ld signals during the wait\n",
               cf_status_str((cf_status)st), (long)(g_ticks - ticks0));
        CHECK_STATUS(st, CF_OK);
        CHECK_EQ_INT(len, 0);
    }

    ticks_stop();
    cft_gate_open(&gate2);
    CHECK_STATUS(cf_future_exception(g, CF_FOREVER), CF_OK);
    cf_future_free(f);
    cf_future_free(g);
    cf_executor_free(ex);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
    cft_gate_destroy(&gate2);
    CFT_END(base);
    return 0;
}
