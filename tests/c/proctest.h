/*
 * proctest.h: helpers of the process-pool C tests (tests/c/proc_*.c) and the declarations of
 * the task library they share (tests/c/proc_tasks.c, built as libproctasks.so).
 *
 * Tasks must live in a shared library: the spawn start method loads them by path in the
 * cf-worker program. Task arguments are the plain structs below, copied as bytes.
 *
 * Cross-process synchronisation uses FIFOs (named pipes) in a per-test directory: a worker
 * inherits no descriptor from the test (workers close everything above 2 but their channel),
 * so a task opens a FIFO by the path given in its argument.
 * - A "report" FIFO: the test holds it open read-write (so a task's open for writing never
 *   blocks); a task writes one pt_report record (atomic: smaller than PIPE_BUF) when it
 *   begins; the test reads records with a bounded poll.
 * - A "gate" FIFO: the test holds it open read-write (a writer exists, so a task's open for
 *   reading never blocks); a task blocks reading one byte; the test releases n tasks by
 *   writing n bytes (or all of them by closing it: EOF).
 *
 * Oracles checked at the end of every scenario (pt_begin / pt_end):
 * - O2: /proc/self/fd count back to its value before the executor was created;
 * - O5: /proc/self/task back to its baseline;
 * - O3: no zombie child of ours, and kill(pid, 0) gives ESRCH for every worker pid recorded
 *   with pt_note_pid (fork-server workers are not our children: they must still be gone);
 * - O6: every future given to pt_track is done and its done-callback ran exactly once.
 * The runner (tests/process_api.rs) checks O4 (no orphan) after the program exits.
 */
#ifndef PROCTEST_H
#define PROCTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdint.h>
#include <stddef.h>

#include "cfutures.h"

/* ------------------------------------------------------------------------------------------ */
/* The task library's interface                                                               */
/* ------------------------------------------------------------------------------------------ */

#define PT_PATH_MAX 200

/* What a task writes to a report FIFO. */
typedef struct pt_report {
    int32_t pid;   /* getpid() of the worker */
    int32_t tag;   /* the argument's tag */
    int32_t extra; /* task-specific (pt_grandchild: the grandchild's pid) */
} pt_report;

/* Argument of pt_block (and of the crash tasks, which use only `report`). */
typedef struct pt_block_arg {
    char report[PT_PATH_MAX]; /* FIFO to write a pt_report to on start ("" for none) */
    char gate[PT_PATH_MAX];   /* FIFO to read one byte from before finishing ("" for none) */
    int32_t tag;              /* copied into the report and the result */
    int32_t rc;               /* the task's return value */
    uint32_t sleep_ms;        /* sleep this long (after the gate) before returning */
    uint32_t pad;
} pt_block_arg;

/* The result of pt_block, pt_pid, pt_init_value, pt_touch and pt_sleep_ms. */
typedef struct pt_pid_result {
    int32_t pid;
    int32_t tag; /* pt_block: the tag; pt_init_value: the initializer's mark */
} pt_pid_result;

/* Argument of pt_fail. */
typedef struct pt_fail_arg {
    int32_t code;  /* returned */
    char msg[124]; /* given to cf_out_fail unless empty */
} pt_fail_arg;

/* The byte at offset i of a pt_big result. */
static inline uint8_t pt_pattern(uint64_t i) {
    return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24) ^ 0x5a);
}

/* Magic the tests give pt_init_mark. */
#define PT_INIT_MAGIC 0x1234abcd

/* Returns its argument bytes. */
int pt_echo(const void *arg, size_t len, cf_out *out);
/* int64 x -> x * x (int64); x < 0: cf_out_fail("negative input") and returns 3. */
int pt_square(const void *arg, size_t len, cf_out *out);
/* pt_fail_arg: fails with the message (if any) and returns the code. */
int pt_fail(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg (reports first): abort(). */
int pt_abort(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg (reports first): raise(SIGSEGV). */
int pt_segv(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg (reports first): _exit(42). */
int pt_exit42(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg (reports first): exit(0), running atexit handlers and stdio flushes. */
int pt_exit0(const void *arg, size_t len, cf_out *out);
/* uint32 ms: sleeps that long (the workload), result pt_pid_result. */
int pt_sleep_ms(const void *arg, size_t len, cf_out *out);
/* Result pt_pid_result {getpid(), 0}. */
int pt_pid(const void *arg, size_t len, cf_out *out);
/* pt_block_arg: reports, waits at the gate, sleeps, result {pid, tag}, returns rc. */
int pt_block(const void *arg, size_t len, cf_out *out);
/* pt_block_arg: writes the start of a 1 MiB result frame on the worker's channel (fd 3),
 * reports, waits at the gate, then _exit(3). */
int pt_partial_frame(const void *arg, size_t len, cf_out *out);
/* uint64 len: a result of len bytes from cf_out_alloc filled with pt_pattern. */
int pt_big(const void *arg, size_t len, cf_out *out);
/* Any bytes: result uint64 sum of the bytes, then uint64 length. */
int pt_checksum(const void *arg, size_t len, cf_out *out);
/* pt_block_arg: forks a grandchild that sleeps 60 s (keeping the worker's descriptors),
 * reports {pid, tag, grandchild pid}, then raise(SIGKILL). */
int pt_grandchild(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg: ignores SIGTERM, reports, then spins forever. */
int pt_ignore_term(const void *arg, size_t len, cf_out *out);
/* Optional pt_block_arg: reports, starts a thread that raises SIGSEGV 50 ms later, returns 0
 * with the result "late". */
int pt_late_segv(const void *arg, size_t len, cf_out *out);
/* Initializer; optional pt_block_arg (reports first): fails with a message, returns 1. */
int pt_init_fail(const void *arg, size_t len, cf_out *out);
/* Initializer; int32 mark: stores the mark in a global of this library. */
int pt_init_mark(const void *arg, size_t len, cf_out *out);
/* Result pt_pid_result {getpid(), the mark pt_init_mark stored (0 if none)}. */
int pt_init_value(const void *arg, size_t len, cf_out *out);
/* NUL-terminated path: creates that file; result pt_pid_result. */
int pt_touch(const void *arg, size_t len, cf_out *out);
/* Result int32: PT_LIB_TAG, the build's tag (1 for libproctasks.so, 2 for the late copy). */
int pt_lib_tag(const void *arg, size_t len, cf_out *out);

/* ---- tasks of the fault rows (tests/c/proc_faults.c, tests/c/proc_load.c) ---------------- */

/* Argument of pt_big_report. */
typedef struct pt_big_arg {
    char report[PT_PATH_MAX]; /* FIFO to write a pt_report to once the result is filled */
    uint64_t len;             /* result length */
} pt_big_arg;

/* pt_big_arg: fills a len-byte result (cf_out_alloc, pt_pattern), then reports and returns 0:
 * a kill after the report lands in (or after) the result's transfer (CR08, LD03). */
int pt_big_report(const void *arg, size_t len, cf_out *out);

/* What pt_chan does after reporting. */
enum {
    PT_CHAN_ALL_FDS = 1,  /* writes `bytes` to every descriptor from 1023 down to 3, returns 0 */
    PT_CHAN_WRITE = 2,    /* writes `bytes` to its channel (descriptor 3), returns 0 */
    PT_CHAN_EXIT = 3,     /* writes `bytes` to its channel, then _exit(3) */
    PT_CHAN_CLOSE = 4,    /* closes every descriptor from 3 up (close_range), returns 0 */
    PT_CHAN_DUP_NULL = 5, /* puts /dev/null over its channel with dup2, returns 0 */
    PT_CHAN_LATE = 6      /* forks a grandchild sharing the channel, writes `bytes`, waits to
                           * be killed; once the worker is dead, the grandchild writes the
                           * `late` bytes that follow them in `bytes` and exits */
};

/* Argument of pt_chan. */
typedef struct pt_chan_arg {
    char report[PT_PATH_MAX]; /* FIFO to write a pt_report to first ("" for none) */
    uint32_t mode;            /* PT_CHAN_* */
    uint32_t len;             /* bytes written by the task, at the start of `bytes` */
    uint32_t late;            /* PT_CHAN_LATE: bytes written by the grandchild, after those */
    uint32_t pad;
    uint8_t bytes[256];
} pt_chan_arg;

/* pt_chan_arg: reports, then misuses the worker's channel as `mode` says (PR01-PR03, PR06).
 * Result "chan" when it returns. */
int pt_chan(const void *arg, size_t len, cf_out *out);
/* uint64 n: writes n bytes to stdout and n to stderr (PR04); result uint64 bytes written. */
int pt_flood(const void *arg, size_t len, cf_out *out);
/* Reads stdin once (PR05): result int64, what read(0, buf, 64) returned (-errno on error). */
int pt_read_stdin(const void *arg, size_t len, cf_out *out);
/* pt_block_arg: reports, waits at the gate, then raise(SIGSEGV) (SD06). */
int pt_gate_segv(const void *arg, size_t len, cf_out *out);
/* Result uint64[2]: the worker's RLIMIT_CORE soft and hard limits (CR02). */
int pt_core_limit(const void *arg, size_t len, cf_out *out);
/* The mutex of FK01, a global of this library: locked and unlocked by the test program's
 * threads (not tasks). */
void pt_app_lock(void);
void pt_app_unlock(void);
/* Locks and unlocks pt_app_lock's mutex (FK01); result pt_pid_result. */
int pt_lock_app_mutex(const void *arg, size_t len, cf_out *out);

/* Result of pt_reenter. */
typedef struct pt_reenter_result {
    int32_t submit;        /* cf_submit on the inherited executor */
    int32_t names_parent;  /* cf_last_error() after it mentions "parent process" */
    int32_t shutdown_wait; /* cf_executor_shutdown(ex, true, false) */
    int32_t shutdown_now;  /* cf_executor_shutdown(ex, false, true) */
} pt_reenter_result;

/* uint64: the address of a cf_executor of the parent (valid in a forked worker's copy of the
 * parent's memory): submits to it and shuts it down from the worker (RE06). */
int pt_reenter(const void *arg, size_t len, cf_out *out);
/* int32 start method: in the worker, makes a thread pool and a process pool (that method),
 * runs pt_square(7) on each and frees them (RE10). Result int64[2] {49, 49}; a failure is
 * cf_out_fail naming the step and cf_last_error(). */
int pt_nested(const void *arg, size_t len, cf_out *out);

#ifndef PROCTASKS_BUILD

/* ------------------------------------------------------------------------------------------ */
/* Test-side helpers                                                                          */
/* ------------------------------------------------------------------------------------------ */

#include "cftest.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The bound of every wait that must not time out (a hang shows as a failed check). */
#define PT_LONG 20.0

static cf_start_method pt_method = CF_START_FORKSERVER;
static const char *pt_method_name = "forkserver";
static char pt_dir[PT_PATH_MAX - 40];
static char pt_prog[64];

/* Parses argv[1] (the start method), starts the watchdog, keeps SIGPIPE at its default
 * action (CR06: the test must not be killed by a write to a dead worker), and makes the
 * per-test directory (PROCTEST_DIR from the runner, else a fresh one under /tmp). */
static inline void pt_setup(int argc, char **argv, const char *name) {
    const char *m = argc > 1 ? argv[1] : "forkserver";
    const char *d = getenv("PROCTEST_DIR");
    static char title[128];
    snprintf(title, sizeof title, "%s %s", name, m);
    snprintf(pt_prog, sizeof pt_prog, "%s", name);
    cft_start(title);
    signal(SIGPIPE, SIG_DFL);
    if (strcmp(m, "forkserver") == 0) {
        pt_method = CF_START_FORKSERVER;
    } else if (strcmp(m, "fork") == 0) {
        pt_method = CF_START_FORK;
    } else if (strcmp(m, "spawn") == 0) {
        pt_method = CF_START_SPAWN;
    } else {
        fprintf(stderr, "unknown start method %s\n", m);
        cft_die();
    }
    pt_method_name = m;
    if (d && *d) {
        snprintf(pt_dir, sizeof pt_dir, "%s", d);
        mkdir(pt_dir, 0700);
    } else {
        snprintf(pt_dir, sizeof pt_dir, "/tmp/proctest-XXXXXX");
        CHECK(mkdtemp(pt_dir) != NULL);
    }
}

/* Options with the start method under test. Caller frees. */
static inline cf_executor_options *pt_opts(void) {
    cf_executor_options *o = cf_executor_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(cf_executor_options_set_start_method(o, pt_method), CF_OK);
    return o;
}

static inline cf_executor *pt_new_opts(uint32_t max_workers, cf_executor_options *o) {
    cf_executor *ex = cf_executor_new(CF_PROCESS_POOL, max_workers, o);
    CHECK(ex != NULL);
    return ex;
}

/* A process pool with the start method under test. */
static inline cf_executor *pt_new(uint32_t max_workers) {
    cf_executor_options *o = pt_opts();
    cf_executor *ex = pt_new_opts(max_workers, o);
    cf_executor_options_free(o);
    return ex;
}

static inline bool pt_contains(const char *s, const char *sub) {
    return s != NULL && sub != NULL && strstr(s, sub) != NULL;
}

#define CHECK_CONTAINS(s, sub)                                                               \
    do {                                                                                     \
        const char *pt_s_ = (s);                                                             \
        const char *pt_sub_ = (sub);                                                         \
        if (!pt_contains(pt_s_, pt_sub_)) {                                                  \
            char pt_buf_[768];                                                               \
            snprintf(pt_buf_, sizeof pt_buf_, "\"%s\" does not contain \"%s\"",              \
                     pt_s_ ? pt_s_ : "(NULL)", pt_sub_ ? pt_sub_ : "(NULL)");                \
            cft_fail(__FILE__, __LINE__, #s " contains " #sub, pt_buf_);                     \
        }                                                                                    \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* FIFOs                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct pt_fifo {
    char path[PT_PATH_MAX];
    int fd;
} pt_fifo;

/* Makes a FIFO in the test directory and opens it read-write, non-blocking, close-on-exec. */
static inline void pt_fifo_open(pt_fifo *f, const char *name) {
    static int seq;
    snprintf(f->path, sizeof f->path, "%s/%s-%d", pt_dir, name, seq++);
    unlink(f->path);
    if (mkfifo(f->path, 0600) != 0) {
        perror(f->path);
        cft_die();
    }
    f->fd = open(f->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    CHECK(f->fd >= 0);
}

/* Unlinks, then closes: a task that opens the FIFO to write after this either finds no path
 * (ENOENT, a clean failure) or opened it while this end was still open. Closing first left a
 * window in which a task's open(O_WRONLY) found the path but no reader, and blocked for ever
 * (seen once in CI: SD03's second blocking task started late, under load). */
static inline void pt_fifo_close(pt_fifo *f) {
    unlink(f->path);
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

/* Reads one pt_report, waiting at most `secs`; false on timeout. */
static inline bool pt_try_report(pt_fifo *f, double secs, pt_report *r) {
    struct pollfd p;
    ssize_t n;
    p.fd = f->fd;
    p.events = POLLIN;
    p.revents = 0;
    for (;;) {
        int rc = poll(&p, 1, (int)(secs * 1000));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        n = read(f->fd, r, sizeof *r);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        CHECK_EQ_INT(n, sizeof *r);
        return true;
    }
}

/* Reads one pt_report; fails the test if none comes within PT_LONG seconds. */
static inline pt_report pt_read_report(pt_fifo *f) {
    pt_report r;
    if (!pt_try_report(f, PT_LONG, &r)) {
        fprintf(stderr, "no report on %s within %.0f s\n", f->path, PT_LONG);
        CHECK(!"a task reported that it began");
    }
    return r;
}

/* Releases n tasks waiting at the gate. */
static inline void pt_release(pt_fifo *g, int n) {
    char buf[64];
    memset(buf, 'g', sizeof buf);
    while (n > 0) {
        int k = n < (int)sizeof buf ? n : (int)sizeof buf;
        ssize_t w = write(g->fd, buf, (size_t)k);
        if (w < 0 && errno == EINTR) continue;
        CHECK(w > 0);
        n -= (int)w;
    }
}

static inline pt_block_arg pt_block_args(const pt_fifo *report, const pt_fifo *gate, int tag) {
    pt_block_arg a;
    memset(&a, 0, sizeof a);
    if (report) snprintf(a.report, sizeof a.report, "%s", report->path);
    if (gate) snprintf(a.gate, sizeof a.gate, "%s", gate->path);
    a.tag = tag;
    return a;
}

/* ------------------------------------------------------------------------------------------ */
/* Futures: exactly-once callbacks (O6)                                                       */
/* ------------------------------------------------------------------------------------------ */

#define PT_MAX_TRACKED 8192

static pthread_mutex_t pt_track_lock = PTHREAD_MUTEX_INITIALIZER;
static cf_future *pt_tracked[PT_MAX_TRACKED];
static int pt_calls[PT_MAX_TRACKED];
static size_t pt_n_tracked;

static inline void pt_track_cb(cf_future *f, void *user) {
    size_t i = (size_t)(uintptr_t)user;
    (void)f;
    pthread_mutex_lock(&pt_track_lock);
    pt_calls[i]++;
    pthread_mutex_unlock(&pt_track_lock);
}

/* Holds a reference to f and counts its done-callback runs; checked by pt_end. */
static inline cf_future *pt_track(cf_future *f) {
    size_t i;
    CHECK(f != NULL);
    pthread_mutex_lock(&pt_track_lock);
    CHECK(pt_n_tracked < PT_MAX_TRACKED);
    i = pt_n_tracked++;
    pt_tracked[i] = cf_future_retain(f);
    pt_calls[i] = 0;
    pthread_mutex_unlock(&pt_track_lock);
    CHECK_STATUS(cf_future_add_done_callback(f, pt_track_cb, (void *)(uintptr_t)i), CF_OK);
    return f;
}

/* Submits and tracks; checks CF_OK. Caller owns the returned reference. */
static inline cf_future *pt_submit(cf_executor *ex, cf_task_fn fn, const void *arg,
                                   size_t len) {
    cf_future *f = NULL;
    CHECK_STATUS(cf_submit(ex, fn, arg, len, &f), CF_OK);
    return pt_track(f);
}

/* Every tracked future is done and its callback ran exactly once; drops the references. */
static inline void pt_check_tracked(void) {
    size_t i;
    pthread_mutex_lock(&pt_track_lock);
    for (i = 0; i < pt_n_tracked; i++) {
        if (!cf_future_done(pt_tracked[i]) || pt_calls[i] != 1) {
            fprintf(stderr, "tracked future #%zu: done=%d, callback ran %d times\n", i,
                    (int)cf_future_done(pt_tracked[i]), pt_calls[i]);
            CHECK(!"every future resolved exactly once (O6)");
        }
        cf_future_free(pt_tracked[i]);
        pt_tracked[i] = NULL;
    }
    pt_n_tracked = 0;
    pthread_mutex_unlock(&pt_track_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct pt_stat {
    int pid;
    char state; /* 0: no such process */
    int ppid;
    int pgrp;
} pt_stat;

static inline pt_stat pt_read_stat(int pid) {
    char path[64], buf[1024];
    pt_stat s;
    FILE *f;
    size_t n;
    char *p;
    memset(&s, 0, sizeof s);
    s.pid = pid;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f) return s;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %d %d", &s.state, &s.ppid, &s.pgrp) != 3) s.state = 0;
    return s;
}

/* Alive and not a zombie. */
static inline bool pt_alive(int pid) {
    pt_stat s = pt_read_stat(pid);
    return s.state != 0 && s.state != 'Z' && s.state != 'X';
}

/* Children of `ppid` (zombies included if asked); returns how many (at most max stored). */
static inline int pt_children(int ppid, int *out, int max, bool zombies) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        pt_stat s;
        if (pid <= 0) continue;
        s = pt_read_stat(pid);
        if (s.state == 0 || s.ppid != ppid) continue;
        if (!zombies && (s.state == 'Z' || s.state == 'X')) continue;
        if (n < max && out) out[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* Zombie children of ours (O3). */
static inline int pt_zombie_children(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0, me = (int)getpid();
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        pt_stat s;
        if (pid <= 0) continue;
        s = pt_read_stat(pid);
        if (s.ppid == me && s.state == 'Z') {
            fprintf(stderr, "zombie child %d\n", pid);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Waits (bounded, ~20 s) until pid is no longer alive (gone or a zombie). A wait for a
 * state, not a stand-in for synchronisation: the test asserts the state afterwards. */
static inline bool pt_await_dead(int pid) {
    int i;
    for (i = 0; i < 20000; i++) {
        if (!pt_alive(pid)) return true;
        cft_nap(1000000);
    }
    return false;
}

/* The fork server of a pool created just now (forkserver method): our only live child. */
static inline int pt_fork_server(void) {
    int kids[8];
    int n = pt_children((int)getpid(), kids, 8, false);
    if (pt_method != CF_START_FORKSERVER) return 0;
    CHECK_EQ_INT(n, 1);
    return kids[0];
}

/* Live worker processes: children of the fork server (forkserver), else our children. */
static inline int pt_live_workers(int server, int *out, int max) {
    return pt_children(server ? server : (int)getpid(), out, max, false);
}

#define PT_MAX_PIDS 4096
static int pt_pids[PT_MAX_PIDS];
static int pt_n_pids;

/* Records a worker pid that must be gone after the scenario. */
static inline void pt_note_pid(int pid) {
    int i;
    CHECK(pid > 0);
    CHECK(pid != (int)getpid());
    for (i = 0; i < pt_n_pids; i++)
        if (pt_pids[i] == pid) return;
    CHECK(pt_n_pids < PT_MAX_PIDS);
    pt_pids[pt_n_pids++] = pid;
}

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Waits for f (bounded) and checks CF_OK; returns the result bytes (len in *len if given). */
static inline const void *pt_ok(cf_future *f, size_t *len) {
    const void *data = NULL;
    size_t n = 0;
    CHECK_STATUS(cf_future_result(f, PT_LONG, &data, &n), CF_OK);
    CHECK(cf_future_done(f));
    CHECK(!cf_future_running(f));
    CHECK(!cf_future_cancelled(f));
    CHECK(cf_future_error_message(f) == NULL);
    CHECK_EQ_INT(cf_future_error_code(f), 0);
    if (len) *len = n;
    return data;
}

/* The pid in a pt_pid_result future (checked CF_OK); records it. */
static inline int pt_ok_pid(cf_future *f) {
    size_t n = 0;
    pt_pid_result r;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof r);
    memcpy(&r, d, sizeof r);
    pt_note_pid(r.pid);
    return r.pid;
}

/* Runs pt_pid on ex and returns the worker's pid (recorded). */
static inline int pt_worker_pid(cf_executor *ex) {
    cf_future *f = pt_submit(ex, pt_pid, NULL, 0);
    int pid = pt_ok_pid(f);
    cf_future_free(f);
    return pid;
}

/* Waits for f (bounded) and checks it ended with `want` (not CF_TIMEOUT). */
#define PT_EXPECT(f, want)                                                                   \
    do {                                                                                     \
        const void *pt_d_;                                                                   \
        size_t pt_n_;                                                                        \
        CHECK_STATUS(cf_future_result((f), PT_LONG, &pt_d_, &pt_n_), (want));                \
        CHECK(cf_future_done(f));                                                            \
        CHECK(!cf_future_running(f));                                                        \
        CHECK_STATUS(cf_future_exception((f), 0.0), (want));                                 \
    } while (0)

/* The tid of this process's thread named cf-process-<n> (a pool's manager, not its callback
 * thread cf-process-<n>-cb), 0 if none. */
static inline pid_t pt_manager_tid(void) {
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    pid_t tid = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char path[96], comm[64];
        FILE *f;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", atoi(e->d_name));
        f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "cf-process-", 11) == 0 &&
            !strstr(comm, "-cb"))
            tid = (pid_t)atoi(e->d_name);
        fclose(f);
    }
    closedir(d);
    return tid;
}

/* The system call thread `tid` is blocked in (-1 if running or unknown). */
static inline long pt_blocked_in(pid_t tid) {
    char path[64], buf[256];
    FILE *f;
    long nr = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    f = fopen(path, "r");
    if (!f) return -1;
    if (fgets(buf, sizeof buf, f) && sscanf(buf, "%ld", &nr) != 1) nr = -1;
    fclose(f);
    return nr;
}

/* Descendants of `root` (live ones), breadth first; returns how many were stored. */
static inline int pt_descendants(int root, int *out, int max) {
    int n = 0, i = 0, k;
    int kids[256];
    int m = pt_children(root, kids, 256, false);
    for (k = 0; k < m && k < 256 && n < max; k++) out[n++] = kids[k];
    while (i < n) {
        m = pt_children(out[i], kids, 256, false);
        for (k = 0; k < m && k < 256 && n < max; k++) out[n++] = kids[k];
        i++;
    }
    return n;
}

/* Frees the executor after recording every live descendant of ours (workers, fork server):
 * pt_end checks they are all gone (O3). */
static inline void pt_free(cf_executor *ex) {
    int pids[256], n, i;
    n = pt_descendants((int)getpid(), pids, 256);
    for (i = 0; i < n && i < 256; i++) pt_note_pid(pids[i]);
    cf_executor_free(ex);
}

/* ------------------------------------------------------------------------------------------ */
/* Scenario bracket                                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef struct pt_base {
    int fds;
    int threads;
    const char *name;
} pt_base;

/* Takes the baselines; call before creating the scenario's executor. */
static inline pt_base pt_begin(const char *name) {
    pt_base b;
    b.name = name;
    b.fds = cft_count_fds();
    b.threads = cft_count_threads();
    pt_n_pids = 0;
    fprintf(stderr, "[%s %s] %s\n", pt_prog, pt_method_name, name);
    return b;
}

/* Checks the oracles; call after cf_executor_free. */
static inline void pt_end(pt_base b) {
    int i;
    pt_check_tracked();
    CHECK_FDS_BACK_TO(b.fds);
    CHECK_THREADS_BACK_TO(b.threads);
    CHECK_EQ_INT(pt_zombie_children(), 0);
    for (i = 0; i < pt_n_pids; i++) {
        int r = kill(pt_pids[i], 0);
        if (!(r == -1 && errno == ESRCH)) {
            pt_stat s = pt_read_stat(pt_pids[i]);
            fprintf(stderr, "worker %d still exists (state %c, ppid %d)\n", pt_pids[i],
                    s.state ? s.state : '?', s.ppid);
            CHECK(!"every recorded worker pid is gone (O3)");
        }
    }
    pt_n_pids = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scenarios                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static char pt_failed[1024];
static int pt_n_failed;

static inline bool pt_selected(const char *name) {
    const char *only = getenv("PROCTEST_ONLY");
    const char *p;
    size_t len = strlen(name);
    if (!only || !*only) return true;
    for (p = only; (p = strstr(p, name)) != NULL; p += len) {
        bool start = p == only || p[-1] == ',';
        bool end = p[len] == 0 || p[len] == ',';
        if (start && end) return true;
    }
    return false;
}

/* Runs one scenario in a forked child (the program is still single-threaded here, and every
 * scenario frees its executors), so that a failing scenario does not hide the others. Then
 * checks that the scenario left no live process of ours behind (its descendants were
 * reparented to the runner, the subreaper: they share our process group). PROCTEST_ONLY
 * (comma-separated names) runs a subset. */
static inline void pt_run(const char *name, void (*fn)(void)) {
    pid_t pid;
    int status = 0, i;
    const char *env = getenv("CFTEST_ALARM");
    if (!pt_selected(name)) return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(env && *env ? (unsigned)strtoul(env, NULL, 10) : 100);
        fn();
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "[%s %s] SCENARIO %s FAILED (%s %d)\n", pt_prog, pt_method_name, name,
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        pt_n_failed++;
        if (strlen(pt_failed) + strlen(name) + 2 < sizeof pt_failed) {
            strcat(pt_failed, " ");
            strcat(pt_failed, name);
        }
    }
    /* Leftovers of the scenario: live processes of our group other than us (bounded). Only
     * when we lead our process group (as under the runner): run from a shell, the group is
     * the shell's pipeline. */
    for (i = 0; getpgrp() == getpid() && i < 2000; i++) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        int left = 0, me = (int)getpid(), grp = (int)getpgrp();
        CHECK(d != NULL);
        while ((e = readdir(d)) != NULL) {
            int p = atoi(e->d_name);
            pt_stat s;
            if (p <= 0 || p == me) continue;
            s = pt_read_stat(p);
            if (s.state == 0 || s.state == 'Z' || s.state == 'X' || s.pgrp != grp) continue;
            if (i == 1999) fprintf(stderr, "  left behind by %s: pid %d (state %c)\n", name, p,
                                   s.state);
            left++;
        }
        closedir(d);
        if (left == 0) break;
        if (i == 1999) {
            fprintf(stderr, "[%s %s] SCENARIO %s left processes behind (O4)\n", pt_prog,
                    pt_method_name, name);
            pt_n_failed++;
            if (strlen(pt_failed) + strlen(name) + 8 < sizeof pt_failed) {
                strcat(pt_failed, " ");
                strcat(pt_failed, name);
                strcat(pt_failed, "(O4)");
            }
        }
        cft_nap(1000000);
    }
}

#define PT_RUN(fn) pt_run(#fn, fn)

/* Ends the program: 0 and the pass line if every scenario passed. */
static inline int pt_finish(void) {
    if (pt_n_failed) {
        fprintf(stderr, "[%s %s] %d scenario(s) failed:%s\n", pt_prog, pt_method_name,
                pt_n_failed, pt_failed);
        fflush(stdout);
        fflush(stderr);
        return 1;
    }
    cft_pass();
    return 0;
}

/* RE09: keeps the pool's callback thread busy. A task on `ex`'s idle worker blocks on `gx`
 * and gets a done-callback that waits on `stall`; the task is released, and this returns its
 * future once the callback is inside `stall` (initialised here). The caller opens `stall`
 * to let callbacks run again, then destroys it. */
static inline void pt_stall_cb(cf_future *f, void *stall) {
    (void)f;
    cft_gate_wait((cft_gate *)stall);
}

static inline cf_future *pt_stall_callbacks(cf_executor *ex, pt_fifo *gx, cft_gate *stall) {
    pt_block_arg ax;
    cf_future *fx;
    cft_gate_init(stall);
    pt_worker_pid(ex); /* the worker is up and idle */
    ax = pt_block_args(NULL, gx, 1);
    fx = pt_submit(ex, pt_block, &ax, sizeof ax);
    CHECK_STATUS(cf_future_add_done_callback(fx, pt_stall_cb, stall), CF_OK);
    pt_release(gx, 1);
    cft_gate_await_arrivals(stall, 1); /* the callback thread is in pt_stall_cb now */
    return fx;
}

#endif /* PROCTASKS_BUILD */

#endif /* PROCTEST_H */
