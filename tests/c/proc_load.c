/*
 * proc_load.c: process-pool load, size and respawn rows of the fault catalogue (RELIABILITY.md
 * 2.1, 2.6, 2.7, 2.8), for the start method in argv[1]:
 * - big_arguments_and_kill (CR07, LD04): a worker SIGKILLed while big arguments are written;
 * - slow_manager (LD02): many tiny tasks while the manager thread is slowed down (test hook);
 * - big_result (LD03): a big result intact, parent peak RSS bounded, small results flowing;
 * - cancel_big_inflight (LD05): big arguments sent ahead, all cancelled, then shutdown;
 * - worker_memory (LD08): a worker's RSS stays flat over many 1 MiB arguments;
 * - create_destroy_soak (SD14): create, use, crash, free, over and over: O2, O3, O5 each time;
 * - malloc_stdio_storm (FK02), thread_pool_flat_out (FK03): workers respawned one task each
 *   while application threads hammer malloc and stdio, or a thread pool runs flat out;
 * - crash_storm_full (CR12 at the row's size; CFUTURES_BIG_TESTS only: proc_crash's
 *   crash_storm runs 40 + 40 by default).
 *
 * Sizes: by default every row runs scaled down, so that the three methods together add well
 * under a minute to the suite. CFUTURES_BIG_TESTS=1 runs the rows' own sizes (GiB arguments
 * and results, 1e5 tasks, 100 soak rounds, 1000 respawns); give it time and memory:
 *   CFUTURES_BIG_TESTS=1 CFTEST_WATCHDOG_SECS=3000 cargo nextest run --test process_api proc_load
 * (about 6 GiB of RAM at the peak: LD04 holds 4 x 256 MiB argument copies, LD03 a 1 GiB
 * result, CR07 a 512 MiB argument).
 */
#define _GNU_SOURCE
#include "proctest.h"

/* Built with gcc's AddressSanitizer (scripts/sanitize): its quarantine keeps freed memory
 * resident, and its allocator (gcc 12) has no fork handlers, so a process forked while another
 * thread is inside its malloc can deadlock there (glibc's malloc is fork-safe). */
#if defined(__SANITIZE_ADDRESS__)
#define PT_ASAN 1
#else
#define PT_ASAN 0
#endif

static bool big_tests(void) {
    const char *e = getenv("CFUTURES_BIG_TESTS");
    return e && *e && strcmp(e, "0") != 0;
}

static void check_pid_in(const char *msg, int pid) {
    char s[32];
    snprintf(s, sizeof s, "%d", pid);
    CHECK_CONTAINS(msg, s);
}

static cf_executor *pool_with(uint32_t workers, uint64_t max_tasks) {
    cf_executor_options *o = pt_opts();
    cf_executor *ex;
    if (max_tasks) CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(o, max_tasks), CF_OK);
    ex = pt_new_opts(workers, o);
    cf_executor_options_free(o);
    return ex;
}

/* A `key:` field of /proc/<pid>/status, in bytes (its value is in kB); -1 if absent. */
static long status_bytes(int pid, const char *key) {
    char path[64], line[256];
    size_t k = strlen(key);
    long v = -1;
    FILE *f;
    if (pid) {
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    } else {
        snprintf(path, sizeof path, "/proc/self/status");
    }
    f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            v = atol(line + k + 1) * 1024;
            break;
        }
    }
    fclose(f);
    return v;
}

/* A buffer of `len` bytes (pt_pattern of i * 3) and its byte sum. */
static uint8_t *pattern_buffer(size_t len, uint64_t *sum) {
    uint8_t *p = (uint8_t *)malloc(len);
    size_t i;
    CHECK(p != NULL);
    *sum = 0;
    for (i = 0; i < len; i++) {
        p[i] = pt_pattern(i * 3);
        *sum += p[i];
    }
    return p;
}

static void check_checksum(const void *d, size_t n, uint64_t sum, size_t len) {
    uint64_t got[2];
    CHECK_EQ_INT(n, sizeof got);
    memcpy(got, d, sizeof got);
    CHECK(got[0] == sum);
    CHECK_EQ_INT(got[1], len);
}

/* Runs `n` gated blockers to learn the pids of `n` distinct workers (each blocks until all
 * have begun); returns once they are all idle again. */
static void worker_pids(cf_executor *ex, int n, int *pids) {
    pt_fifo rep, gate;
    cf_future *f[16];
    pt_block_arg a;
    int i;
    CHECK(n <= 16);
    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    a = pt_block_args(&rep, &gate, 1);
    for (i = 0; i < n; i++) f[i] = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < n; i++) {
        pids[i] = pt_read_report(&rep).pid;
        pt_note_pid(pids[i]);
    }
    pt_release(&gate, n);
    for (i = 0; i < n; i++) {
        pt_ok(f[i], NULL);
        cf_future_free(f[i]);
    }
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- CR07, LD04 --------------------------------------------------------------------------- */

/* `k` futures of pt_checksum over `arg` (len bytes, sum `sum`) were submitted, and `victim` was
 * SIGKILLed meanwhile: each is CF_OK with the right sum, or CF_WORKER_DIED by SIGKILL naming the
 * victim (at most one: the victim ran one job at a time). */
static int check_after_kill(cf_future **f, int k, uint64_t sum, size_t len, int victim) {
    int i, died = 0;
    for (i = 0; i < k; i++) {
        const void *d;
        size_t n;
        cf_status s = cf_future_result(f[i], PT_LONG, &d, &n);
        if (s == CF_OK) {
            check_checksum(d, n, sum, len);
        } else {
            CHECK_STATUS(s, CF_WORKER_DIED);
            CHECK_EQ_INT(cf_future_error_code(f[i]), -SIGKILL);
            check_pid_in(cf_future_error_message(f[i]), victim);
            died++;
        }
        cf_future_free(f[i]);
    }
    CHECK(died <= 1);
    return died;
}

static void big_arguments_and_kill(void) {
    static const uint32_t delays[] = {0, 2, 10};
    size_t len = big_tests() ? (size_t)256 << 20 : (size_t)16 << 20;
    pt_base b = pt_begin("CR07, LD04: 4 big arguments in flight, one worker SIGKILLed");
    cf_executor *ex = pt_new(4);
    uint64_t sum;
    uint8_t *arg = pattern_buffer(len, &sum);
    int r, i, died = 0;

    for (r = 0; r < (int)(sizeof delays / sizeof delays[0]); r++) {
        int pids[4];
        cf_future *f[4];
        worker_pids(ex, 4, pids); /* 4 idle workers, each takes one argument */
        for (i = 0; i < 4; i++) f[i] = pt_submit(ex, pt_checksum, arg, len);
        if (delays[r]) cft_nap((long)delays[r] * 1000000L); /* the row's kill delay */
        CHECK(kill(pids[r % 4], SIGKILL) == 0);
        died += check_after_kill(f, 4, sum, len, pids[r % 4]);
    }
    fprintf(stderr, "  %d rounds of 4 x %zu MiB: %d argument(s) lost with their worker\n", r,
            len >> 20, died);
    free(arg);

    if (big_tests()) {
        /* CR07 at the row's size: one 512 MiB argument, the worker killed 5 ms after submit. */
        size_t big = (size_t)512 << 20;
        int pid;
        cf_future *f;
        arg = pattern_buffer(big, &sum);
        worker_pids(ex, 1, &pid);
        f = pt_submit(ex, pt_checksum, arg, big);
        cft_nap(5000000);
        CHECK(kill(pid, SIGKILL) == 0);
        /* Any worker may have taken it: the victim is one of the idle ones. */
        check_after_kill(&f, 1, sum, big, pid);
        free(arg);
    }
    /* No thread stays blocked in a write to a dead worker: the pool goes on, and its threads
     * are back to the baseline after the free (pt_end). */
    pt_worker_pid(ex);
    pt_free(ex);
    pt_end(b);
}

/* ---- LD02 --------------------------------------------------------------------------------- */

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int *calls;

static void count_call(cf_future *f, void *user) {
    (void)f;
    pthread_mutex_lock(&calls_lock);
    calls[(size_t)(uintptr_t)user]++;
    pthread_mutex_unlock(&calls_lock);
}

static void slow_manager(void) {
    size_t n = big_tests() ? 100000 : 20000, i;
    pt_base b = pt_begin("LD02: many tiny tasks while the manager thread is slow (test hook)");
    cf_executor *ex;
    cf_future **f = (cf_future **)calloc(n, sizeof *f);
    calls = (int *)calloc(n, sizeof *calls);
    CHECK(f != NULL && calls != NULL);
    CHECK(setenv("CFUTURES_TEST_FAULT", "slow-manager:1ms", 1) == 0);
    ex = pt_new(2);
    CHECK(unsetenv("CFUTURES_TEST_FAULT") == 0);
    /* Submits never wait for the manager: nothing they write to can fill up and block. */
    for (i = 0; i < n; i++) {
        uint64_t x = i;
        CHECK_STATUS(cf_submit(ex, pt_echo, &x, sizeof x, &f[i]), CF_OK);
        CHECK_STATUS(cf_future_add_done_callback(f[i], count_call, (void *)(uintptr_t)i), CF_OK);
    }
    CHECK_STATUS(cf_wait(f, n, big_tests() ? 1800.0 : 100.0, CF_ALL_COMPLETED, NULL, NULL),
                 CF_OK);
    for (i = 0; i < n; i++) {
        const void *d;
        size_t len;
        uint64_t x;
        CHECK_STATUS(cf_future_result(f[i], 0.0, &d, &len), CF_OK);
        CHECK_EQ_INT(len, sizeof x);
        memcpy(&x, d, sizeof x);
        CHECK(x == i);
        cf_future_free(f[i]);
    }
    pt_worker_pid(ex);
    pt_free(ex);
    for (i = 0; i < n; i++) {
        if (calls[i] != 1) fprintf(stderr, "  future %zu: callback ran %d times\n", i, calls[i]);
        CHECK_EQ_INT(calls[i], 1); /* O6 */
    }
    free(f);
    free(calls);
    calls = NULL;
    pt_end(b);
}

/* ---- LD03 --------------------------------------------------------------------------------- */

static void big_result(void) {
    uint64_t size = big_tests() ? (uint64_t)1 << 30 : (uint64_t)64 << 20;
    pt_base b = pt_begin("LD03: a big result: intact, parent peak RSS bounded, others flow");
    cf_executor *ex = pt_new(2);
    cf_future *fb, *f[20];
    const uint8_t *p;
    size_t n;
    uint64_t i;
    long base, peak, limit;
    int k, fd;

    pt_worker_pid(ex);
    /* Reset the peak RSS (VmHWM) to the current RSS. */
    fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(write(fd, "5", 1) == 1);
    close(fd);
    base = status_bytes(0, "VmHWM");
    CHECK(base > 0);
    fb = pt_submit(ex, pt_big, &size, sizeof size);
    for (k = 0; k < 20; k++) f[k] = pt_submit(ex, pt_pid, NULL, 0);
    /* The small ones complete, on the other worker if the big one still travels (the stall
     * itself is made certain in proc_semantics' big_frame_does_not_stall). */
    for (k = 0; k < 20; k++) {
        pt_ok_pid(f[k]);
        cf_future_free(f[k]);
    }
    p = (const uint8_t *)pt_ok(fb, &n);
    CHECK_EQ_INT(n, size);
    for (i = 0; i < size; i++) {
        if (p[i] != pt_pattern(i)) {
            fprintf(stderr, "  byte %llu of the result is wrong\n", (unsigned long long)i);
            CHECK(!"the big result is intact");
        }
    }
    peak = status_bytes(0, "VmHWM");
    /* The row: about 2.2 times the result at most (1 GiB: 2.2 GiB). */
    limit = (long)(size / 10 * 22) + (32L << 20);
    fprintf(stderr, "  %llu MiB result: parent peak RSS grew by %ld MiB (bound %ld MiB)\n",
            (unsigned long long)(size >> 20), (peak - base) >> 20, limit >> 20);
    CHECK(peak - base <= limit);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
}

/* ---- LD05 --------------------------------------------------------------------------------- */

static void cancel_big_inflight(void) {
    size_t len = big_tests() ? (size_t)100 << 20 : (size_t)8 << 20;
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *blk[2], *f[10];
    pt_block_arg a;
    uint64_t sum;
    uint8_t *arg;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("LD05: 10 big arguments sent ahead or queued, all cancelled, then shutdown");
    ex = pt_new(2);
    arg = pattern_buffer(len, &sum);
    a = pt_block_args(&rep, &gate, 1);
    for (i = 0; i < 2; i++) blk[i] = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < 2; i++) pt_note_pid(pt_read_report(&rep).pid); /* both workers busy */
    for (i = 0; i < 10; i++) f[i] = pt_submit(ex, pt_checksum, arg, len);
    free(arg);
    for (i = 0; i < 10; i++) CHECK(cf_future_cancel(f[i])); /* none has begun */
    pt_release(&gate, 2);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    for (i = 0; i < 10; i++) {
        PT_EXPECT(f[i], CF_CANCELLED);
        cf_future_free(f[i]);
    }
    for (i = 0; i < 2; i++) {
        pt_ok(blk[i], NULL);
        cf_future_free(blk[i]);
    }
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- LD08 --------------------------------------------------------------------------------- */

static void worker_memory(void) {
    size_t n = big_tests() ? 100000 : 300, len = (size_t)1 << 20, i;
    pt_base b = pt_begin("LD08: a worker's RSS stays flat over many 1 MiB arguments");
    cf_executor *ex = pt_new(1);
    uint64_t sum;
    uint8_t *arg = pattern_buffer(len, &sum);
    int pid = pt_worker_pid(ex);
    long rss0 = 0, rss1;
    cf_future *f[32];
    for (i = 0; i < n;) {
        size_t k, batch = n - i < 32 ? n - i : 32;
        /* Not tracked (10^5 of them with CFUTURES_BIG_TESTS): each is checked right here. */
        for (k = 0; k < batch; k++) CHECK_STATUS(cf_submit(ex, pt_checksum, arg, len, &f[k]), CF_OK);
        for (k = 0; k < batch; k++) {
            size_t m;
            const void *d = pt_ok(f[k], &m);
            check_checksum(d, m, sum, len);
            cf_future_free(f[k]);
        }
        i += batch;
        if (i == 64) rss0 = status_bytes(pid, "VmRSS"); /* after a warm-up */
    }
    rss1 = status_bytes(pid, "VmRSS");
    CHECK(rss0 > 0 && rss1 > 0);
    fprintf(stderr, "  %zu tasks: worker RSS %ld MiB after 64, %ld MiB at the end\n", n,
            rss0 >> 20, rss1 >> 20);
    if (PT_ASAN) {
        fprintf(stderr, "  (RSS bound not checked under ASan: its quarantine keeps freed memory)\n");
    } else {
        CHECK(rss1 - rss0 < 20L << 20);
    }
    CHECK_EQ_INT(pt_worker_pid(ex), pid); /* the same worker all along */
    free(arg);
    pt_free(ex);
    pt_end(b);
}

/* ---- SD14 --------------------------------------------------------------------------------- */

static void create_destroy_soak(void) {
    int rounds = big_tests() ? 100 : 15, r, i;
    pt_base b = pt_begin("SD14: create, 10 tasks, a crash, free; again and again");
    for (r = 0; r < rounds; r++) {
        cf_executor *ex = pt_new(4);
        cf_future *f[10], *c;
        for (i = 0; i < 10; i++) f[i] = pt_submit(ex, pt_echo, &i, sizeof i);
        c = pt_submit(ex, pt_segv, NULL, 0);
        for (i = 0; i < 10; i++) {
            size_t n;
            const void *d = pt_ok(f[i], &n);
            CHECK_EQ_INT(n, sizeof i);
            CHECK(memcmp(d, &i, sizeof i) == 0);
            cf_future_free(f[i]);
        }
        PT_EXPECT(c, CF_WORKER_DIED);
        CHECK_EQ_INT(cf_future_error_code(c), -SIGSEGV);
        cf_future_free(c);
        pt_free(ex);
        /* Back to the baseline after every round (O2, O3, O5). */
        CHECK_FDS_BACK_TO(b.fds);
        CHECK_THREADS_BACK_TO(b.threads);
        CHECK_EQ_INT(pt_zombie_children(), 0);
        CHECK_EQ_INT(pt_children((int)getpid(), NULL, 0, true), 0);
    }
    pt_end(b);
}

/* ---- FK02, FK03 --------------------------------------------------------------------------- */

typedef struct storm {
    pthread_mutex_t m;
    bool stop;
    long rounds;
    FILE *sink;
    cf_executor *tp; /* FK03: the thread pool to keep busy */
    int bad;
} storm;

static bool storm_stopped(storm *s, long rounds) {
    bool stop;
    pthread_mutex_lock(&s->m);
    stop = s->stop;
    s->rounds += rounds;
    pthread_mutex_unlock(&s->m);
    return stop;
}

/* FK02: malloc, free and fprintf as fast as possible. */
static void *malloc_stdio_main(void *p) {
    storm *s = (storm *)p;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    long k = 0;
    for (;;) {
        size_t n = (size_t)(rand_r(&seed) % 65536) + 1;
        char *q = (char *)malloc(n);
        if (q) {
            memset(q, 'm', n);
            fprintf(s->sink, "%ld %zu %c\n", k, n, q[n - 1]);
            free(q);
        }
        if (++k % 64 == 0 && storm_stopped(s, 64)) return NULL;
    }
}

/* FK03: submit to the thread pool and wait, as fast as possible. */
static void *thread_pool_main(void *p) {
    storm *s = (storm *)p;
    int64_t x = 0;
    for (;;) {
        cf_future *f = NULL;
        const void *d;
        size_t n;
        int64_t y = -1;
        x++;
        if (cf_submit(s->tp, pt_square, &x, sizeof x, &f) != CF_OK ||
            cf_future_result(f, PT_LONG, &d, &n) != CF_OK || n != sizeof y) {
            s->bad = 1;
        } else {
            memcpy(&y, d, sizeof y);
            if (y != x * x) s->bad = 1;
        }
        cf_future_free(f);
        if (storm_stopped(s, 1)) return NULL;
    }
}

/* `n` tasks on a pool with max_tasks_per_child=1 (a new worker for each), each given a
 * generous bounded wait (the row: under 1 s each; no timing assertion here, only a bound far
 * above that, so that a worker stuck on an inherited lock fails the test instead of hanging
 * it). Every task ran in a process of its own. */
static void respawn_many(cf_executor *ex, int n) {
    int *pids = (int *)calloc((size_t)n, sizeof *pids), i, j;
    CHECK(pids != NULL);
    for (i = 0; i < n;) {
        cf_future *f[8];
        int k, batch = n - i < 8 ? n - i : 8;
        for (k = 0; k < batch; k++) f[k] = pt_submit(ex, pt_pid, NULL, 0);
        for (k = 0; k < batch; k++) {
            const void *d;
            size_t len;
            pt_pid_result r;
            cf_status s = cf_future_result(f[k], 10.0, &d, &len);
            if (s != CF_OK)
                fprintf(stderr, "  respawn %d: %s (%s)\n", i + k, cf_status_str(s),
                        cf_future_error_message(f[k]) ? cf_future_error_message(f[k]) : "");
            CHECK_STATUS(s, CF_OK);
            memcpy(&r, d, sizeof r);
            pids[i + k] = r.pid;
            cf_future_free(f[k]);
        }
        i += batch;
    }
    for (i = 0; i < n; i++)
        for (j = 0; j < i; j++) CHECK(pids[i] != pids[j]);
    free(pids);
}

/* The pool is made before the storm starts: a fork server is forked from a quiet process (its
 * point); fork-mode workers are forked from the manager thread in the middle of the storm. */
static void run_storm(int threads, void *(*fn)(void *), storm *s, int respawns) {
    cf_executor *ex = pool_with(2, 1);
    pthread_t t[4];
    int i;
    CHECK(threads <= 4);
    pthread_mutex_init(&s->m, NULL);
    for (i = 0; i < threads; i++) CHECK(pthread_create(&t[i], NULL, fn, s) == 0);
    respawn_many(ex, respawns);
    pt_free(ex);
    pthread_mutex_lock(&s->m);
    s->stop = true;
    pthread_mutex_unlock(&s->m);
    for (i = 0; i < threads; i++) CHECK(pthread_join(t[i], NULL) == 0);
    pthread_mutex_destroy(&s->m);
    CHECK(s->rounds > 0);
}

static bool asan_fork_skip(const char *row) {
    if (PT_ASAN && pt_method == CF_START_FORK) {
        fprintf(stderr, "  %s: skipped for fork under ASan (its allocator is not fork-safe)\n",
                row);
        return true;
    }
    return false;
}

static void malloc_stdio_storm(void) {
    int n = big_tests() ? 1000 : 150;
    pt_base b;
    storm s;
    if (asan_fork_skip("FK02")) return;
    b = pt_begin("FK02: workers respawned while 4 threads hammer malloc and stdio");
    memset(&s, 0, sizeof s);
    s.sink = fopen("/dev/null", "we");
    CHECK(s.sink != NULL);
    run_storm(4, malloc_stdio_main, &s, n);
    fprintf(stderr, "  %d respawns; the threads did %ld malloc+fprintf rounds\n", n, s.rounds);
    fclose(s.sink);
    pt_end(b);
}

static void thread_pool_flat_out(void) {
    int n = big_tests() ? 500 : 100;
    pt_base b;
    storm s;
    if (asan_fork_skip("FK03")) return;
    b = pt_begin("FK03: workers respawned while a thread pool runs flat out");
    memset(&s, 0, sizeof s);
    s.tp = cf_executor_new(CF_THREAD_POOL, 4, NULL);
    CHECK(s.tp != NULL);
    run_storm(2, thread_pool_main, &s, n);
    fprintf(stderr, "  %d respawns; the thread pool ran %ld tasks\n", n, s.rounds);
    CHECK_EQ_INT(s.bad, 0);
    cf_executor_free(s.tp);
    pt_end(b);
}

/* ---- CR12 at its size (CFUTURES_BIG_TESTS only) ------------------------------------------- */

#define STORM_WORKERS 4

typedef struct sampler {
    int server;
    pthread_mutex_t m;
    bool stop;
    int max_seen, over;
} sampler;

static void *sampler_main(void *p) {
    sampler *s = (sampler *)p;
    int parent = s->server ? s->server : (int)getpid();
    for (;;) {
        int pids[64], n, i, still = 0;
        bool stop;
        pthread_mutex_lock(&s->m);
        stop = s->stop;
        pthread_mutex_unlock(&s->m);
        if (stop) return NULL;
        n = pt_live_workers(s->server, pids, 64);
        if (n > 64) n = 64;
        for (i = 0; i < n; i++) { /* alive at the end of the scan: all alive together */
            pt_stat st = pt_read_stat(pids[i]);
            if (st.state && st.state != 'Z' && st.state != 'X' && st.ppid == parent) still++;
        }
        pthread_mutex_lock(&s->m);
        if (still > s->max_seen) s->max_seen = still;
        if (still > STORM_WORKERS) s->over++;
        pthread_mutex_unlock(&s->m);
        cft_nap(2000000); /* the sampling period, not a synchronisation */
    }
}

static void crash_storm_full(void) {
    enum { N = 200 };
    static cf_future *f[2 * N];
    pt_base b;
    cf_executor *ex;
    sampler s;
    pthread_t t;
    int i;
    if (!big_tests()) {
        fprintf(stderr, "  CR12 at 200 + 200: with CFUTURES_BIG_TESTS=1 only (proc_crash runs "
                        "40 + 40)\n");
        return;
    }
    b = pt_begin("CR12: 200 segfaults interleaved with 200 good tasks, max_workers=4");
    ex = pt_new(STORM_WORKERS);
    memset(&s, 0, sizeof s);
    s.server = pt_fork_server();
    if (s.server) pt_note_pid(s.server);
    pthread_mutex_init(&s.m, NULL);
    CHECK(pthread_create(&t, NULL, sampler_main, &s) == 0);
    for (i = 0; i < 2 * N; i++)
        f[i] = i % 2 ? pt_submit(ex, pt_echo, &i, sizeof i) : pt_submit(ex, pt_segv, NULL, 0);
    for (i = 0; i < 2 * N; i++) {
        if (i % 2) {
            size_t n;
            const void *d = pt_ok(f[i], &n);
            CHECK_EQ_INT(n, sizeof i);
            CHECK(memcmp(d, &i, sizeof i) == 0);
        } else {
            PT_EXPECT(f[i], CF_WORKER_DIED);
            CHECK_EQ_INT(cf_future_error_code(f[i]), -SIGSEGV);
        }
        cf_future_free(f[i]);
    }
    pthread_mutex_lock(&s.m);
    s.stop = true;
    pthread_mutex_unlock(&s.m);
    CHECK(pthread_join(t, NULL) == 0);
    fprintf(stderr, "  at most %d live workers seen\n", s.max_seen);
    CHECK_EQ_INT(s.over, 0);
    pt_free(ex);
    pthread_mutex_destroy(&s.m);
    pt_end(b);
}

int main(int argc, char **argv) {
    pt_setup(argc, argv, "proc_load");
    PT_RUN(big_arguments_and_kill);
    PT_RUN(slow_manager);
    PT_RUN(big_result);
    PT_RUN(cancel_big_inflight);
    PT_RUN(worker_memory);
    PT_RUN(create_destroy_soak);
    PT_RUN(malloc_stdio_storm);
    PT_RUN(thread_pool_flat_out);
    PT_RUN(crash_storm_full);
    return pt_finish();
}
