/*
 * cftest.h: the small helper shared by the C test programs in tests/c.
 *
 * - CHECK / CHECK_EQ_INT / CHECK_STATUS: on failure print file:line, the expression and
 *   cf_last_error(), then end the process with status 1. They end it with _exit (after
 *   flushing stdio) rather than exit: exit would run cfutures' process-exit hook, which waits
 *   for the queued work of every live executor, and a failed check usually leaves tasks blocked
 *   on a gate that nobody will open, so exit would hang until the watchdog.
 * - cft_start(): the watchdog (alarm + SIGALRM handler that writes a message and _exit(3)).
 * - cft_count_fds() / cft_count_threads() and cft_settle_threads(): baseline checks.
 * - cft_gate: a pthread mutex + condition "gate" tasks block on, so the test decides when they
 *   finish; cft_counter: a counter/latch ("n tasks have started").
 * - cft_wait_blocked(tid): waits until a thread is asleep in the kernel (used to make sure a
 *   thread is really inside a blocking wait before the gate opens; never needed for
 *   correctness, only to make the test meaningful).
 *
 * No sleep stands in for synchronisation anywhere: gates and counters do.
 */
#ifndef CFTEST_H
#define CFTEST_H

#if !defined(_GNU_SOURCE)
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#endif

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cfutures.h"

/* ------------------------------------------------------------------------------------------ */
/* Failure reporting                                                                          */
/* ------------------------------------------------------------------------------------------ */

static inline void cft_die(void) {
    fflush(stdout);
    fflush(stderr);
    _exit(1);
}

static inline void cft_fail(const char *file, int line, const char *expr, const char *detail) {
    const char *err = cf_last_error();
    fprintf(stderr, "%s:%d: CHECK FAILED: %s%s%s\n  cf_last_error(): \"%s\"\n", file, line, expr,
            detail ? "\n  " : "", detail ? detail : "", err ? err : "(NULL)");
    cft_die();
}

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) cft_fail(__FILE__, __LINE__, #cond, NULL);                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                   \
    do {                                                                                     \
        long long cft_a_ = (long long)(a);                                                   \
        long long cft_b_ = (long long)(b);                                                   \
        if (cft_a_ != cft_b_) {                                                              \
            char cft_buf_[128];                                                              \
            snprintf(cft_buf_, sizeof cft_buf_, "left = %lld, right = %lld", cft_a_, cft_b_);\
            cft_fail(__FILE__, __LINE__, #a " == " #b, cft_buf_);                            \
        }                                                                                    \
    } while (0)

/* Evaluates `expr` (a cf_status) once; on a mismatch prints both statuses and
 * cf_last_error(), read after the call. */
#define CHECK_STATUS(expr, expected)                                                         \
    do {                                                                                     \
        int cft_got_ = (int)(expr);                                                          \
        int cft_want_ = (int)(expected);                                                     \
        if (cft_got_ != cft_want_) {                                                         \
            char cft_buf_[256];                                                              \
            snprintf(cft_buf_, sizeof cft_buf_, "got %d (%s), expected %d (%s)", cft_got_,   \
                     cf_status_str((cf_status)cft_got_), cft_want_,                          \
                     cf_status_str((cf_status)cft_want_));                                   \
            cft_fail(__FILE__, __LINE__, #expr, cft_buf_);                                   \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *cft_sa_ = (a);                                                           \
        const char *cft_sb_ = (b);                                                           \
        if (cft_sa_ == NULL || cft_sb_ == NULL || strcmp(cft_sa_, cft_sb_) != 0) {           \
            char cft_buf_[512];                                                              \
            snprintf(cft_buf_, sizeof cft_buf_, "left = \"%s\", right = \"%s\"",             \
                     cft_sa_ ? cft_sa_ : "(NULL)", cft_sb_ ? cft_sb_ : "(NULL)");            \
            cft_fail(__FILE__, __LINE__, #a " == " #b, cft_buf_);                            \
        }                                                                                    \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Watchdog                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static const char *cft_test_name = "c test";

static inline void cft_on_alarm(int sig) {
    static const char msg[] = "\nWATCHDOG: the test program did not finish in time; giving up\n";
    ssize_t r;
    (void)sig;
    r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

/* (Re)arms the watchdog: SIGALRM handler and alarm(CFTEST_ALARM seconds, default 100). A
 * test that needs SIGALRM or ITIMER_REAL for itself (test_signals.c) calls it afterwards, and
 * so does a forked child (alarms are not inherited across fork). */
static inline void cft_watchdog_arm(void) {
    struct sigaction sa;
    const char *env = getenv("CFTEST_ALARM");
    unsigned secs = 100;
    if (env && *env) secs = (unsigned)strtoul(env, NULL, 10);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cft_on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0) {
        perror("sigaction");
        cft_die();
    }
    alarm(secs);
}

/* Starts the watchdog: CFTEST_ALARM seconds (default 100). The Rust runner sets it above its
 * own 120 s limit, so that under the runner its watchdog (which dumps stacks with gdb) fires
 * first; run by hand, this one ends a hung program. Also makes stdout unbuffered-by-line. */
static inline void cft_start(const char *name) {
    cft_test_name = name;
    cft_watchdog_arm();
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void cft_pass(void) {
    printf("%s: all checks passed\n", cft_test_name);
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------------ */
/* Resource counting                                                                          */
/* ------------------------------------------------------------------------------------------ */

static inline int cft_count_dir(const char *path, bool exclude_own_fd) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    int own;
    if (!d) {
        perror(path);
        cft_die();
    }
    own = dirfd(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (exclude_own_fd && atoi(e->d_name) == own) continue;
        n++;
    }
    closedir(d);
    return n;
}

/* Open file descriptors of this process. */
static inline int cft_count_fds(void) { return cft_count_dir("/proc/self/fd", true); }

/* Threads of this process (including the main thread). */
static inline int cft_count_threads(void) { return cft_count_dir("/proc/self/task", false); }

static inline void cft_nap(long ns) {
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = ns;
    nanosleep(&ts, NULL);
}

/* The thread count once exited threads have left /proc/self/task, but at most `expected` is
 * awaited: pthread_join returns when the kernel clears the thread's tid, a moment before the
 * kernel unlists the task, so right after cf_executor_free the count may still include a
 * thread that has already been joined. This polls (bounded, ~10 s) for that bookkeeping
 * only; it never stands in for synchronisation with cfutures. Returns the last count. */
static inline int cft_settle_threads(int expected) {
    int n = cft_count_threads();
    int i;
    for (i = 0; i < 10000 && n > expected; i++) {
        cft_nap(1000000);
        n = cft_count_threads();
    }
    return n;
}

/* Child processes of this process (any state, zombies included), from /proc/<pid>/stat. */
static inline int cft_count_children(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    pid_t self = getpid();
    if (!d) {
        perror("/proc");
        cft_die();
    }
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512];
        FILE *f;
        size_t got;
        char *p;
        int ppid = 0;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (!f) continue; /* gone meanwhile */
        got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        p = strrchr(buf, ')');
        /* After the command: " S ppid ..." */
        if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == (int)self) n++;
    }
    closedir(d);
    return n;
}

#define CHECK_THREADS_BACK_TO(baseline) CHECK_EQ_INT(cft_settle_threads(baseline), (baseline))
#define CHECK_FDS_BACK_TO(baseline) CHECK_EQ_INT(cft_count_fds(), (baseline))

/* The descriptors and threads a test program has at its start. */
typedef struct {
    int fds, threads;
} cft_baseline;

/* cft_start, then the baseline the program must be back to at its end (CFT_END). */
static inline cft_baseline cft_begin(const char *name) {
    cft_baseline b;
    cft_start(name);
    b.fds = cft_count_fds();
    b.threads = cft_count_threads();
    return b;
}

/* Threads and descriptors back to the baseline `b`, then cft_pass(). */
#define CFT_END(b)                                                                           \
    do {                                                                                     \
        CHECK_THREADS_BACK_TO((b).threads);                                                  \
        CHECK_FDS_BACK_TO((b).fds);                                                          \
        cft_pass();                                                                          \
    } while (0)

/* Resident set size in bytes, from /proc/self/statm. */
static inline long cft_rss_bytes(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) {
        perror("/proc/self/statm");
        cft_die();
    }
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* Whether heap usage is distorted by instrumentation (AddressSanitizer's redzones and
 * quarantine, or valgrind, which preloads its vgpreload library): RSS bounds say nothing then. */
static inline bool cft_memory_instrumented(void) {
    const char *pre = getenv("LD_PRELOAD");
#if defined(__SANITIZE_ADDRESS__)
    return true;
#endif
    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

static inline pid_t cft_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* Waits (bounded, ~10 s) until thread `tid` of this process is asleep in the kernel (state S),
 * i.e. parked inside a blocking call. Returns whether it was seen asleep. Used only to make a
 * test meaningful (the gate opens once the waiter is really waiting), never for correctness:
 * if it returns false the test still checks the same outcome. */
static inline bool cft_wait_blocked(pid_t tid) {
    char path[64];
    char buf[512];
    int i;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    for (i = 0; i < 100000; i++) {
        FILE *f = fopen(path, "r");
        size_t n;
        char *p;
        if (!f) return false;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'S') return true;
        if (i < 1000)
            sched_yield();
        else
            cft_nap(100000);
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Gate and counter                                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef struct cft_gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool open;
    int waiting; /* threads currently blocked in cft_gate_wait */
    int arrived; /* threads that ever arrived */
} cft_gate;

static inline void cft_gate_init(cft_gate *g) {
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->c, NULL);
    g->open = false;
    g->waiting = 0;
    g->arrived = 0;
}

static inline void cft_gate_destroy(cft_gate *g) {
    pthread_cond_destroy(&g->c);
    pthread_mutex_destroy(&g->m);
}

/* Blocks until the gate is open. */
static inline void cft_gate_wait(cft_gate *g) {
    pthread_mutex_lock(&g->m);
    g->waiting++;
    g->arrived++;
    pthread_cond_broadcast(&g->c);
    while (!g->open) pthread_cond_wait(&g->c, &g->m);
    g->waiting--;
    pthread_mutex_unlock(&g->m);
}

static inline void cft_gate_open(cft_gate *g) {
    pthread_mutex_lock(&g->m);
    g->open = true;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

/* Blocks until at least `n` threads have arrived at the gate. */
static inline void cft_gate_await_arrivals(cft_gate *g, int n) {
    pthread_mutex_lock(&g->m);
    while (g->arrived < n) pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
}

typedef struct cft_counter {
    pthread_mutex_t m;
    pthread_cond_t c;
    long n;
} cft_counter;

static inline void cft_counter_init(cft_counter *k) {
    pthread_mutex_init(&k->m, NULL);
    pthread_cond_init(&k->c, NULL);
    k->n = 0;
}

static inline void cft_counter_destroy(cft_counter *k) {
    pthread_cond_destroy(&k->c);
    pthread_mutex_destroy(&k->m);
}

static inline long cft_counter_add(cft_counter *k, long d) {
    long v;
    pthread_mutex_lock(&k->m);
    k->n += d;
    v = k->n;
    pthread_cond_broadcast(&k->c);
    pthread_mutex_unlock(&k->m);
    return v;
}

static inline long cft_counter_get(cft_counter *k) {
    long v;
    pthread_mutex_lock(&k->m);
    v = k->n;
    pthread_mutex_unlock(&k->m);
    return v;
}

/* Blocks until the counter reaches at least `n`. */
static inline void cft_counter_await(cft_counter *k, long n) {
    pthread_mutex_lock(&k->m);
    while (k->n < n) pthread_cond_wait(&k->c, &k->m);
    pthread_mutex_unlock(&k->m);
}

/* ------------------------------------------------------------------------------------------ */
/* Common tasks                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Argument of cft_task_gated: pointers passed by value (the arg bytes are this struct). */
typedef struct cft_gated_arg {
    cft_gate *gate;       /* waited on; may be NULL */
    cft_counter *started; /* incremented when the task begins; may be NULL */
    cft_counter *ran;     /* incremented when the task ends; may be NULL */
    int rc;               /* returned */
} cft_gated_arg;

/* Signals start, blocks on the gate, signals end, returns arg->rc. */
static inline int cft_task_gated(const void *arg, size_t len, cf_out *out) {
    cft_gated_arg a;
    (void)out;
    if (len != sizeof a) return 99;
    memcpy(&a, arg, sizeof a);
    if (a.started) cft_counter_add(a.started, 1);
    if (a.gate) cft_gate_wait(a.gate);
    if (a.ran) cft_counter_add(a.ran, 1);
    return a.rc;
}

static inline cft_gated_arg cft_gated(cft_gate *gate, cft_counter *started, cft_counter *ran) {
    cft_gated_arg a;
    memset(&a, 0, sizeof a);
    a.gate = gate;
    a.started = started;
    a.ran = ran;
    a.rc = 0;
    return a;
}

/* Submits cft_task_gated and checks CF_OK. */
static inline cf_future *cft_submit_gated(cf_executor *ex, cft_gate *gate, cft_counter *started,
                                          cft_counter *ran) {
    cf_future *f = NULL;
    cft_gated_arg a = cft_gated(gate, started, ran);
    CHECK_STATUS(cf_submit(ex, cft_task_gated, &a, sizeof a, &f), CF_OK);
    CHECK(f != NULL);
    return f;
}

/* Does nothing, successfully. */
static inline int cft_task_noop(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

/* Returns its argument bytes as the result. */
static inline int cft_task_echo(const void *arg, size_t len, cf_out *out) {
    return cf_out_set(out, arg, len) == CF_OK ? 0 : 98;
}

/* Increments the cft_counter whose address is the argument. */
static inline int cft_task_count(const void *arg, size_t len, cf_out *out) {
    cft_counter *k;
    (void)out;
    if (len != sizeof k) return 97;
    memcpy(&k, arg, sizeof k);
    cft_counter_add(k, 1);
    return 0;
}

/* A fresh executor, checked. */
static inline cf_executor *cft_pool(uint32_t max_workers) {
    cf_executor *ex = cf_executor_new(CF_THREAD_POOL, max_workers, NULL);
    CHECK(ex != NULL);
    return ex;
}

#endif /* CFTEST_H */
