/*
 * proc_tasks.c: the task functions of the process-pool tests, built by tests/process_api.rs
 * into libproctasks.so (and, with -DPT_LIB_TAG=2, into a second copy that the tests load
 * with dlopen only after their executor exists). Tasks live in a shared library because the
 * spawn start method loads them by path and symbol in the cf-worker program.
 *
 * Internal helpers are static, and no task reads a global of another task through the
 * dynamic symbol table: the late copy exports the same names, and a call by name could bind
 * to the first copy.
 */
#define _GNU_SOURCE
#define PROCTASKS_BUILD
#include "proctest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef PT_LIB_TAG
#define PT_LIB_TAG 1
#endif

static void nap_ms(uint32_t ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The pt_block_arg in arg, if arg holds one. */
static int block_arg(const void *arg, size_t len, pt_block_arg *a) {
    memset(a, 0, sizeof *a);
    if (len != sizeof *a) return 0;
    memcpy(a, arg, sizeof *a);
    a->report[PT_PATH_MAX - 1] = 0;
    a->gate[PT_PATH_MAX - 1] = 0;
    return 1;
}

/* Writes one record to the report FIFO (if any). The test holds the FIFO open for reading,
 * so the open does not block; the write is atomic (smaller than PIPE_BUF). */
static int report(const pt_block_arg *a, int32_t extra) {
    pt_report r;
    int fd;
    ssize_t n;
    if (!a->report[0]) return 0;
    r.pid = (int32_t)getpid();
    r.tag = a->tag;
    r.extra = extra;
    fd = open(a->report, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    do {
        n = write(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    close(fd);
    return n == (ssize_t)sizeof r ? 0 : -1;
}

/* Blocks until the test writes a byte to the gate FIFO (or closes it). */
static int gate(const pt_block_arg *a) {
    char c;
    int fd;
    ssize_t n;
    if (!a->gate[0]) return 0;
    fd = open(a->gate, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    return n >= 0 ? 0 : -1;
}

static int set_pid_result(cf_out *out, int32_t tag) {
    pt_pid_result r;
    r.pid = (int32_t)getpid();
    r.tag = tag;
    return cf_out_set(out, &r, sizeof r) == CF_OK ? 0 : 90;
}

int pt_echo(const void *arg, size_t len, cf_out *out) {
    return cf_out_set(out, arg, len) == CF_OK ? 0 : 91;
}

int pt_square(const void *arg, size_t len, cf_out *out) {
    int64_t x, y;
    if (len != sizeof x) return 92;
    memcpy(&x, arg, sizeof x);
    if (x < 0) {
        cf_out_fail(out, "negative input");
        return 3;
    }
    y = x * x;
    return cf_out_set(out, &y, sizeof y) == CF_OK ? 0 : 91;
}

int pt_fail(const void *arg, size_t len, cf_out *out) {
    pt_fail_arg a;
    if (len != sizeof a) return 93;
    memcpy(&a, arg, sizeof a);
    a.msg[sizeof a.msg - 1] = 0;
    if (a.msg[0]) cf_out_fail(out, a.msg);
    return a.code;
}

int pt_abort(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    (void)out;
    if (block_arg(arg, len, &a)) report(&a, 0);
    abort();
}

int pt_segv(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    (void)out;
    if (block_arg(arg, len, &a)) report(&a, 0);
    raise(SIGSEGV);
    return 94; /* not reached */
}

int pt_exit42(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    (void)out;
    if (block_arg(arg, len, &a)) report(&a, 0);
    _exit(42);
}

int pt_exit0(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    (void)out;
    if (block_arg(arg, len, &a)) report(&a, 0);
    exit(0);
}

int pt_sleep_ms(const void *arg, size_t len, cf_out *out) {
    uint32_t ms;
    if (len != sizeof ms) return 95;
    memcpy(&ms, arg, sizeof ms);
    nap_ms(ms);
    return set_pid_result(out, (int32_t)ms);
}

int pt_pid(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    return set_pid_result(out, 0);
}

int pt_block(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    if (!block_arg(arg, len, &a)) return 96;
    if (report(&a, 0) != 0) {
        cf_out_fail(out, "pt_block: cannot write the report FIFO");
        return 97;
    }
    if (gate(&a) != 0) {
        cf_out_fail(out, "pt_block: cannot read the gate FIFO");
        return 98;
    }
    if (a.sleep_ms) nap_ms(a.sleep_ms);
    if (set_pid_result(out, a.tag) != 0) return 90;
    return a.rc;
}

int pt_big(const void *arg, size_t len, cf_out *out) {
    uint64_t n, i;
    uint8_t *p;
    if (len != sizeof n) return 99;
    memcpy(&n, arg, sizeof n);
    p = (uint8_t *)cf_out_alloc(out, (size_t)n);
    if (!p) {
        cf_out_fail(out, "cf_out_alloc failed");
        return 100;
    }
    for (i = 0; i < n; i++) p[i] = pt_pattern(i);
    return 0;
}

int pt_checksum(const void *arg, size_t len, cf_out *out) {
    uint64_t r[2] = {0, 0};
    const uint8_t *p = (const uint8_t *)arg;
    size_t i;
    for (i = 0; i < len; i++) r[0] += p[i];
    r[1] = (uint64_t)len;
    return cf_out_set(out, r, sizeof r) == CF_OK ? 0 : 91;
}

int pt_grandchild(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    pid_t g;
    (void)out;
    if (!block_arg(arg, len, &a)) return 101;
    g = fork();
    if (g < 0) return 102;
    if (g == 0) {
        /* Keeps every descriptor of the worker, its channel included. */
        nap_ms(60000);
        _exit(0);
    }
    report(&a, (int32_t)g);
    raise(SIGKILL);
    return 103; /* not reached */
}

int pt_ignore_term(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    volatile unsigned long spin = 0;
    (void)out;
    signal(SIGTERM, SIG_IGN);
    if (block_arg(arg, len, &a)) report(&a, 0);
    for (;;) spin++;
}

static void *late_segv_thread(void *p) {
    (void)p;
    nap_ms(50);
    raise(SIGSEGV);
    return NULL;
}

int pt_late_segv(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    pthread_t t;
    if (block_arg(arg, len, &a)) report(&a, 0);
    if (pthread_create(&t, NULL, late_segv_thread, NULL) != 0) return 104;
    pthread_detach(t);
    return cf_out_set(out, "late", 4) == CF_OK ? 0 : 91;
}

int pt_init_fail(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    if (block_arg(arg, len, &a)) report(&a, 0);
    cf_out_fail(out, "initializer failed on purpose");
    return 1;
}

static int32_t init_mark;

int pt_init_mark(const void *arg, size_t len, cf_out *out) {
    (void)out;
    if (len != sizeof init_mark) return 105;
    memcpy(&init_mark, arg, sizeof init_mark);
    return 0;
}

int pt_init_value(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    return set_pid_result(out, init_mark);
}

int pt_touch(const void *arg, size_t len, cf_out *out) {
    char path[PT_PATH_MAX];
    int fd;
    if (len == 0 || len > sizeof path) return 106;
    memcpy(path, arg, len);
    path[len - 1] = 0;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        cf_out_fail(out, "pt_touch: cannot create the file");
        return 107;
    }
    close(fd);
    return set_pid_result(out, 0);
}

#if PT_LIB_TAG == 2
/* The late copy's initialiser crashes a process that loads it while PT_LATE_ABORT_UNLESS_PID
 * names another process (proc_resolve's crashing_library_initializer: workers load it, the
 * test program does not crash). */
__attribute__((constructor)) static void late_init(void) {
    const char *pid = getenv("PT_LATE_ABORT_UNLESS_PID");
    if (pid != NULL && atol(pid) != (long)getpid()) abort();
}
#endif

int pt_lib_tag(const void *arg, size_t len, cf_out *out) {
    int32_t tag = PT_LIB_TAG;
    (void)arg;
    (void)len;
    return cf_out_set(out, &tag, sizeof tag) == CF_OK ? 0 : 91;
}

int pt_partial_frame(const void *arg, size_t len, cf_out *out) {
    /* Writes, on the worker's own channel (descriptor 3), the start of a 1 MiB result frame
     * and no more: the parent is left in the middle of a big frame from this worker. */
    static unsigned char buf[8 + 16384];
    uint64_t body = (uint64_t)(1u << 20) + 32;
    size_t off = 0;
    pt_block_arg a;
    (void)out;
    if (!block_arg(arg, len, &a)) return 96;
    memset(buf, 0, sizeof buf);
    memcpy(buf, &body, sizeof body); /* little-endian length, as the protocol says */
    buf[8] = 7;                      /* a single-result Done */
    while (off < sizeof buf) {
        ssize_t n = write(3, buf + off, sizeof buf - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 95;
        off += (size_t)n;
    }
    if (report(&a, 0) != 0) return 97;
    if (gate(&a) != 0) return 98;
    _exit(3); /* the frame can never be finished: this worker must die */
}

/* ---- tasks of the fault rows (tests/c/proc_faults.c, tests/c/proc_load.c) ---------------- */

int pt_big_report(const void *arg, size_t len, cf_out *out) {
    pt_big_arg a;
    pt_block_arg r;
    uint8_t *p;
    uint64_t i;
    if (len != sizeof a) return 99;
    memcpy(&a, arg, sizeof a);
    a.report[PT_PATH_MAX - 1] = 0;
    p = (uint8_t *)cf_out_alloc(out, (size_t)a.len);
    if (!p) {
        cf_out_fail(out, "cf_out_alloc failed");
        return 100;
    }
    for (i = 0; i < a.len; i++) p[i] = pt_pattern(i);
    memset(&r, 0, sizeof r);
    memcpy(r.report, a.report, sizeof r.report);
    report(&r, 0);
    return 0;
}

/* Writes all of buf to fd (errors ignored: the descriptor may not exist). */
static void write_fd(int fd, const void *buf, size_t len) {
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

int pt_chan(const void *arg, size_t len, cf_out *out) {
    pt_chan_arg a;
    pt_block_arg r;
    int fd;
    if (len != sizeof a) return 96;
    memcpy(&a, arg, sizeof a);
    a.report[PT_PATH_MAX - 1] = 0;
    if (a.len > sizeof a.bytes) a.len = sizeof a.bytes;
    memset(&r, 0, sizeof r);
    memcpy(r.report, a.report, sizeof r.report);
    r.tag = (int32_t)a.mode;
    if (report(&r, 0) != 0) return 97;
    switch (a.mode) {
    case PT_CHAN_ALL_FDS:
        /* Downwards: the channel (3) last, so that the pool, which kills the worker for what
         * arrives there, cannot stop the writes to the other descriptors. */
        for (fd = 1023; fd >= 3; fd--) write_fd(fd, a.bytes, a.len);
        break;
    case PT_CHAN_WRITE:
        write_fd(3, a.bytes, a.len);
        break;
    case PT_CHAN_EXIT:
        write_fd(3, a.bytes, a.len);
        _exit(3);
    case PT_CHAN_CLOSE:
        syscall(SYS_close_range, 3u, ~0u, 0u);
        break;
    case PT_CHAN_LATE: {
        pid_t worker = getpid(), g;
        if (a.late > sizeof a.bytes - a.len) return 95;
        g = fork();
        if (g < 0) return 102;
        if (g == 0) {
            int i;
            /* Bounded (~20 s): reparented once the worker is dead. */
            for (i = 0; i < 20000 && getppid() == worker; i++) nap_ms(1);
            write_fd(3, a.bytes + a.len, a.late);
            _exit(0);
        }
        write_fd(3, a.bytes, a.len);
        for (;;) pause(); /* the pool kills this worker for what it wrote */
    }
    case PT_CHAN_DUP_NULL:
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0) return 98;
        if (dup2(fd, 3) != 3) return 98;
        close(fd);
        break;
    default:
        return 95;
    }
    return cf_out_set(out, "chan", 4) == CF_OK ? 0 : 91;
}

int pt_flood(const void *arg, size_t len, cf_out *out) {
    static char buf[65536];
    uint64_t n, done = 0;
    int fd;
    if (len != sizeof n) return 99;
    memcpy(&n, arg, sizeof n);
    memset(buf, 'f', sizeof buf);
    for (fd = 1; fd <= 2; fd++) {
        uint64_t left = n;
        while (left > 0) {
            size_t k = left < sizeof buf ? (size_t)left : sizeof buf;
            ssize_t w = write(fd, buf, k);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                cf_out_fail(out, "pt_flood: write failed");
                return 108;
            }
            left -= (uint64_t)w;
            done += (uint64_t)w;
        }
    }
    return cf_out_set(out, &done, sizeof done) == CF_OK ? 0 : 91;
}

int pt_read_stdin(const void *arg, size_t len, cf_out *out) {
    char buf[64];
    ssize_t n;
    int64_t r;
    (void)arg;
    (void)len;
    do {
        n = read(0, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    r = n < 0 ? -(int64_t)errno : (int64_t)n;
    return cf_out_set(out, &r, sizeof r) == CF_OK ? 0 : 91;
}

int pt_gate_segv(const void *arg, size_t len, cf_out *out) {
    pt_block_arg a;
    (void)out;
    if (!block_arg(arg, len, &a)) return 96;
    report(&a, 0);
    gate(&a);
    raise(SIGSEGV);
    return 94; /* not reached */
}

int pt_core_limit(const void *arg, size_t len, cf_out *out) {
    struct rlimit rl;
    uint64_t r[2];
    (void)arg;
    (void)len;
    if (getrlimit(RLIMIT_CORE, &rl) != 0) return 109;
    r[0] = (uint64_t)rl.rlim_cur;
    r[1] = (uint64_t)rl.rlim_max;
    return cf_out_set(out, r, sizeof r) == CF_OK ? 0 : 91;
}

static pthread_mutex_t app_mutex = PTHREAD_MUTEX_INITIALIZER;

void pt_app_lock(void) { pthread_mutex_lock(&app_mutex); }

void pt_app_unlock(void) { pthread_mutex_unlock(&app_mutex); }

int pt_lock_app_mutex(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    pthread_mutex_lock(&app_mutex);
    pthread_mutex_unlock(&app_mutex);
    return set_pid_result(out, 0);
}

int pt_reenter(const void *arg, size_t len, cf_out *out) {
    uint64_t addr;
    cf_executor *ex;
    cf_future *f = NULL;
    pt_reenter_result r;
    if (len != sizeof addr) return 99;
    memcpy(&addr, arg, sizeof addr);
    ex = (cf_executor *)(uintptr_t)addr;
    r.submit = (int32_t)cf_submit(ex, pt_pid, NULL, 0, &f);
    r.names_parent = strstr(cf_last_error(), "parent process") != NULL;
    if (f) cf_future_free(f);
    r.shutdown_wait = (int32_t)cf_executor_shutdown(ex, true, false);
    r.shutdown_now = (int32_t)cf_executor_shutdown(ex, false, true);
    return cf_out_set(out, &r, sizeof r) == CF_OK ? 0 : 91;
}

/* Runs pt_square(7) on a new executor of `kind`; 0 and *y on success, else a message. */
static int nested_square(cf_executor_kind kind, int32_t method, int64_t *y, char *msg,
                         size_t msg_len) {
    cf_executor_options *o = cf_executor_options_new();
    cf_executor *ex;
    cf_future *f = NULL;
    const void *d;
    size_t n;
    int64_t x = 7;
    cf_status s;
    const char *what = kind == CF_THREAD_POOL ? "thread pool" : "process pool";
    if (!o) {
        snprintf(msg, msg_len, "%s: options: %s", what, cf_last_error());
        return -1;
    }
    if (kind == CF_PROCESS_POOL)
        cf_executor_options_set_start_method(o, (cf_start_method)method);
    ex = cf_executor_new(kind, 1, o);
    cf_executor_options_free(o);
    if (!ex) {
        snprintf(msg, msg_len, "%s: cf_executor_new: %s", what, cf_last_error());
        return -1;
    }
    s = cf_submit(ex, pt_square, &x, sizeof x, &f);
    if (s != CF_OK) {
        snprintf(msg, msg_len, "%s: cf_submit: %s: %s", what, cf_status_str(s), cf_last_error());
        cf_executor_free(ex);
        return -1;
    }
    s = cf_future_result(f, 20.0, &d, &n);
    if (s != CF_OK || n != sizeof *y) {
        snprintf(msg, msg_len, "%s: result: %s: %s", what, cf_status_str(s),
                 cf_future_error_message(f) ? cf_future_error_message(f) : "");
        cf_future_free(f);
        cf_executor_free(ex);
        return -1;
    }
    memcpy(y, d, sizeof *y);
    cf_future_free(f);
    cf_executor_free(ex);
    return 0;
}

int pt_nested(const void *arg, size_t len, cf_out *out) {
    int32_t method;
    int64_t y[2] = {0, 0};
    char msg[512];
    if (len != sizeof method) return 99;
    memcpy(&method, arg, sizeof method);
    if (nested_square(CF_THREAD_POOL, method, &y[0], msg, sizeof msg) != 0 ||
        nested_square(CF_PROCESS_POOL, method, &y[1], msg, sizeof msg) != 0) {
        cf_out_fail(out, msg);
        return 110;
    }
    return cf_out_set(out, y, sizeof y) == CF_OK ? 0 : 91;
}
