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
