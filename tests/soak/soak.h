/*
 * soak.h: what the soak (tests/soak/soak.c) and its task library (tests/soak/soak_tasks.c,
 * built as libsoaktasks.so) share: the task argument and result layouts, the byte pattern and
 * digest both sides compute, and the task declarations.
 *
 * Tasks live in a shared library because the spawn start method loads them by path and
 * symbol in the cf-worker program. Arguments are plain structs copied as bytes; a gated task
 * synchronises with the soak through FIFOs named in its argument (a worker inherits no
 * descriptor of the soak), as tests/c/proctest.h does.
 */
#ifndef SOAK_H
#define SOAK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfutures.h"

#define SK_PATH_MAX 192

/* The argument of every task but sk_echo and sk_square. sk_digest takes payload bytes after
 * it. */
typedef struct sk_arg {
    uint64_t key;      /* sk_digest: seeds the pattern of its output */
    uint64_t out_len;  /* sk_digest: pattern bytes after the result header */
    int32_t code;      /* sk_fail: the return value; sk_exit: the exit status */
    int32_t tag;       /* sk_block, sk_sleep: copied into the report and the result */
    uint32_t sleep_ms; /* sk_sleep: how long */
    uint32_t pad;
    char report[SK_PATH_MAX]; /* sk_block: FIFO to write an sk_report to on start ("": none) */
    char gate[SK_PATH_MAX];   /* sk_block: FIFO to read one byte from before finishing */
} sk_arg;

/* The result of sk_digest (followed by out_len pattern bytes), sk_sleep and sk_block. */
typedef struct sk_result {
    uint64_t in_digest; /* sk_digest: sk_digest_bytes of the payload */
    uint64_t in_len;    /* sk_digest: payload length */
    uint64_t key;       /* sk_digest: the key it used */
    int32_t pid;        /* getpid() of the process that ran the task */
    int32_t tag;        /* the argument's tag */
} sk_result;

/* What sk_block writes to its report FIFO (atomic: smaller than PIPE_BUF). */
typedef struct sk_report {
    int32_t pid;
    int32_t tag;
} sk_report;

/* The message sk_fail gives cf_out_fail. */
#define SK_FAIL_FMT "soak failure %d"
/* sk_square's return value for a negative input. */
#define SK_SQUARE_NEGATIVE 3

static inline uint64_t sk_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Writes the bytes [start, start + n) of the pattern of `key` to p; start is a multiple of 8. */
static inline void sk_fill(uint8_t *p, uint64_t start, uint64_t n, uint64_t key) {
    uint64_t j = start / 8, done = 0;
    while (done < n) {
        uint64_t w = sk_mix(key ^ (j++ * 0xd1b54a32d192ed03ull));
        size_t k = n - done < 8 ? (size_t)(n - done) : 8;
        memcpy(p + done, &w, k);
        done += k;
    }
}

/* A 64-bit digest of n bytes (word-wise FNV-1a variant). */
static inline uint64_t sk_digest_bytes(const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Returns its argument bytes. */
int sk_echo(const void *arg, size_t len, cf_out *out);
/* sk_arg + payload: result sk_result {digest and length of the payload, key, pid} followed by
 * out_len bytes of the pattern of key (cf_out_alloc). */
int sk_digest(const void *arg, size_t len, cf_out *out);
/* sk_arg: sleeps sleep_ms, result sk_result {pid, tag}. */
int sk_sleep(const void *arg, size_t len, cf_out *out);
/* sk_arg: reports {pid, tag}, waits at the gate, result sk_result {pid, tag}. */
int sk_block(const void *arg, size_t len, cf_out *out);
/* sk_arg: cf_out_fail(SK_FAIL_FMT with code), returns code. */
int sk_fail(const void *arg, size_t len, cf_out *out);
/* abort() (no core file). */
int sk_abort(const void *arg, size_t len, cf_out *out);
/* raise(SIGSEGV) (no core file). */
int sk_segv(const void *arg, size_t len, cf_out *out);
/* sk_arg: _exit(code). */
int sk_exit(const void *arg, size_t len, cf_out *out);
/* exit(0): atexit handlers and stdio flushes run; still a death for the pool. */
int sk_exit0(const void *arg, size_t len, cf_out *out);
/* Sleeps for ever (until its time limit kills it). */
int sk_hang(const void *arg, size_t len, cf_out *out);
/* Ignores SIGTERM, then sleeps for ever (the time limit escalates to SIGKILL). */
int sk_hang_term(const void *arg, size_t len, cf_out *out);
/* Fails with "a cancelled task ran": given to tasks that must be cancelled before they run. */
int sk_poison(const void *arg, size_t len, cf_out *out);
/* int64 x -> x * x; x < 0: cf_out_fail("negative input"), returns SK_SQUARE_NEGATIVE. */
int sk_square(const void *arg, size_t len, cf_out *out);

#endif /* SOAK_H */
