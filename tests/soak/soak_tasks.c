/*
 * soak_tasks.c: the task functions of the soak (tests/soak/soak.c), built by scripts/soak
 * into libsoaktasks.so. They run in thread-pool threads of the soak itself and in worker
 * processes of every start method (spawn loads this library by path in cf-worker).
 * Descriptions are in soak.h.
 */
#define _GNU_SOURCE
#include "soak.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(uint32_t ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The sk_arg at the start of arg (zeroed when arg is too short); whether there was one. */
static int get_arg(const void *arg, size_t len, sk_arg *a) {
    memset(a, 0, sizeof *a);
    if (len < sizeof *a) return 0;
    memcpy(a, arg, sizeof *a);
    a->report[SK_PATH_MAX - 1] = 0;
    a->gate[SK_PATH_MAX - 1] = 0;
    return 1;
}

static int set_result(cf_out *out, int32_t tag) {
    sk_result r;
    memset(&r, 0, sizeof r);
    r.pid = (int32_t)getpid();
    r.tag = tag;
    return cf_out_set(out, &r, sizeof r) == CF_OK ? 0 : 90;
}

/* A crash leaves no core file behind (the pool sets RLIMIT_CORE=0 in workers too). */
static void no_core(void) {
    struct rlimit z;
    z.rlim_cur = 0;
    z.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &z);
}

int sk_echo(const void *arg, size_t len, cf_out *out) {
    return cf_out_set(out, arg, len) == CF_OK ? 0 : 91;
}

int sk_digest(const void *arg, size_t len, cf_out *out) {
    sk_arg a;
    sk_result r;
    uint8_t *p;
    const uint8_t *payload = (const uint8_t *)arg + sizeof a;
    if (!get_arg(arg, len, &a)) return 92;
    memset(&r, 0, sizeof r);
    r.in_len = (uint64_t)(len - sizeof a);
    r.in_digest = sk_digest_bytes(payload, len - sizeof a);
    r.key = a.key;
    r.pid = (int32_t)getpid();
    r.tag = a.tag;
    p = (uint8_t *)cf_out_alloc(out, sizeof r + (size_t)a.out_len);
    if (!p) {
        cf_out_fail(out, "sk_digest: cf_out_alloc failed");
        return 93;
    }
    memcpy(p, &r, sizeof r);
    sk_fill(p + sizeof r, 0, a.out_len, a.key);
    return 0;
}

int sk_sleep(const void *arg, size_t len, cf_out *out) {
    sk_arg a;
    if (!get_arg(arg, len, &a)) return 94;
    nap_ms(a.sleep_ms);
    return set_result(out, a.tag);
}

int sk_block(const void *arg, size_t len, cf_out *out) {
    sk_arg a;
    sk_report rep;
    char c;
    int fd;
    ssize_t n;
    if (!get_arg(arg, len, &a)) return 95;
    /* The soak holds both FIFOs open read-write: neither open blocks. */
    rep.pid = (int32_t)getpid();
    rep.tag = a.tag;
    fd = open(a.report, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        cf_out_fail(out, "sk_block: cannot open the report FIFO");
        return 96;
    }
    do {
        n = write(fd, &rep, sizeof rep);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n != (ssize_t)sizeof rep) {
        cf_out_fail(out, "sk_block: cannot write the report FIFO");
        return 96;
    }
    fd = open(a.gate, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cf_out_fail(out, "sk_block: cannot open the gate FIFO");
        return 97;
    }
    do {
        n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        cf_out_fail(out, "sk_block: cannot read the gate FIFO");
        return 97;
    }
    return set_result(out, a.tag);
}

int sk_fail(const void *arg, size_t len, cf_out *out) {
    sk_arg a;
    char msg[64];
    if (!get_arg(arg, len, &a)) return 98;
    snprintf(msg, sizeof msg, SK_FAIL_FMT, (int)a.code);
    cf_out_fail(out, msg);
    return a.code;
}

int sk_abort(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    no_core();
    abort();
}

int sk_segv(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    no_core();
    raise(SIGSEGV);
    return 99; /* not reached */
}

int sk_exit(const void *arg, size_t len, cf_out *out) {
    sk_arg a;
    (void)out;
    if (!get_arg(arg, len, &a)) return 100;
    _exit(a.code);
}

int sk_exit0(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    exit(0);
}

int sk_hang(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    for (;;) pause();
}

int sk_hang_term(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    (void)out;
    signal(SIGTERM, SIG_IGN);
    for (;;) pause();
}

int sk_poison(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    cf_out_fail(out, "a cancelled task ran");
    return 77;
}

int sk_square(const void *arg, size_t len, cf_out *out) {
    int64_t x, y;
    if (len != sizeof x) return 101;
    memcpy(&x, arg, sizeof x);
    if (x < 0) {
        cf_out_fail(out, "negative input");
        return SK_SQUARE_NEGATIVE;
    }
    y = x * x;
    return cf_out_set(out, &y, sizeof y) == CF_OK ? 0 : 91;
}
