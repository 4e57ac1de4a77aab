/*
 * Process pool benchmark: cfutures' CF_PROCESS_POOL for each start method, against Python's
 * ProcessPoolExecutor measured in the same run (benches/process_pool_peers.py).
 *
 *   process_pool [PEERS_FILE] [--json PATH]
 *
 * Run with `make bench` or scripts/bench (or build it as the Makefile does and run it). Prints
 * medians (and min-max) over the repetitions, the ratio of cfutures to Python for each metric
 * found in PEERS_FILE (the peers' "metric method value" lines) and the targets; with
 * --json, writes every figure it prints to PATH as rows of one schema (scenario,
 * implementation, unit, median, min, max, values, n, target_at_most / target_at_least, note).
 * It is a report, never a test: it exits 0 whatever the figures (1 only when something could
 * not run, or a payload came back altered).
 *
 * `process_pool --memory-child` is the memory scenario's fresh process (see memory_child).
 */
#define _GNU_SOURCE /* malloc_trim, mkostemp */
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfutures.h"

#define REPS 5

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* In benches/bench_tasks.c (a shared library, so that spawned workers can load them). */
int bench_noop(const void *arg, size_t len, cf_out *out);
int bench_gcd(const void *arg, size_t len, cf_out *out);
int bench_echo(const void *arg, size_t len, cf_out *out);
int bench_gate(const void *arg, size_t len, cf_out *out);
long bench_gcd_serial(long a, long b);
#define noop bench_noop
#define gcd_task bench_gcd
#define gcd bench_gcd_serial

static const long PAIRS[6][2] = {{1963309, 2265973}, {1879675, 2493670}, {2030677, 3814172},
                                 {1551645, 2229620}, {1988912, 4736670}, {2198964, 7876293}};

static void bail(void) {
    fflush(NULL);
    _exit(1); /* not exit(): the shutdown of pools still alive would wait for their work */
}

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, cf_last_error());
    bail();
}

static cf_executor *make_pool(int method, unsigned workers) {
    cf_executor_options *o = cf_executor_options_new();
    cf_executor *ex;
    if (o == NULL || cf_executor_options_set_start_method(o, (cf_start_method)method) != CF_OK)
        die("options");
    ex = cf_executor_new(CF_PROCESS_POOL, workers, o);
    cf_executor_options_free(o);
    if (ex == NULL) die("cf_executor_new");
    return ex;
}

static void run_one(cf_executor *ex, cf_task_fn fn, const void *arg, size_t len) {
    cf_future *f;
    const void *d;
    size_t l;
    if (cf_submit(ex, fn, arg, len, &f) != CF_OK) die("cf_submit");
    if (cf_future_result(f, CF_FOREVER, &d, &l) != CF_OK) die("cf_future_result");
    cf_future_free(f);
}

/* Microseconds per no-op task, submit all then take each result, 2 workers. */
static double throughput(int method, int n) {
    cf_executor *ex = make_pool(method, 2);
    cf_future **fs = malloc(sizeof *fs * (size_t)n);
    const void *d;
    size_t l;
    double t0, t1;
    run_one(ex, noop, NULL, 0);
    t0 = now();
    for (int i = 0; i < n; i++)
        if (cf_submit(ex, noop, NULL, 0, &fs[i]) != CF_OK) die("cf_submit");
    for (int i = 0; i < n; i++) {
        if (cf_future_result(fs[i], CF_FOREVER, &d, &l) != CF_OK) die("result");
        cf_future_free(fs[i]);
    }
    t1 = now();
    free(fs);
    cf_executor_free(ex);
    return (t1 - t0) * 1e6 / n;
}

/* Microseconds per item of cf_map over n no-op items with the given chunksize. */
static double map_cost(int method, int n, size_t chunksize) {
    cf_executor *ex = make_pool(method, 2);
    char *args = calloc((size_t)n, 8);
    cf_map_iter *it;
    const void *d;
    size_t l;
    double t0, t1;
    run_one(ex, noop, NULL, 0);
    t0 = now();
    if (cf_map(ex, noop, args, 8, (size_t)n, CF_FOREVER, chunksize, &it) != CF_OK) die("cf_map");
    while (cf_map_next(it, &d, &l) == CF_OK) {
    }
    cf_map_free(it);
    t1 = now();
    free(args);
    cf_executor_free(ex);
    return (t1 - t0) * 1e6 / n;
}

/* Median microseconds of one submit -> result round trip; idle: workers parked first. */
static double round_trip(int method, int idle) {
    cf_executor *ex = make_pool(method, 2);
    int n = idle ? 100 : 5000;
    double *v = malloc(sizeof *v * (size_t)n), med;
    run_one(ex, noop, NULL, 0);
    for (int i = 0; i < n; i++) {
        double t0;
        if (idle) {
            struct timespec s = {0, 5 * 1000 * 1000}; /* the scenario: an idle pool */
            nanosleep(&s, NULL);
        }
        t0 = now();
        run_one(ex, noop, NULL, 0);
        v[i] = (now() - t0) * 1e6;
    }
    for (int i = 1; i < n; i++) /* insertion sort: small n */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    med = v[n / 2];
    free(v);
    cf_executor_free(ex);
    return med;
}

/* The floor under the idle round trip on this machine: median microseconds for a bare forked
 * process, asleep in read() on a socketpair after the same 5 ms pause, to echo one byte to a
 * parent that spins for it (yielding, as cfutures' waiters do). No library, no framing, no
 * task: one wake-up of a sleeping process and two one-byte messages. */
static double idle_floor(void) {
    int sv[2];
    enum { N = 100 };
    double v[N], med;
    pid_t pid;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
    pid = fork();
    if (pid == 0) {
        char c;
        close(sv[0]);
        while (read(sv[1], &c, 1) == 1)
            if (write(sv[1], &c, 1) != 1) break;
        _exit(0);
    }
    close(sv[1]);
    for (int i = 0; i < N; i++) {
        char c = 1;
        struct timespec s = {0, 5 * 1000 * 1000};
        double t0;
        nanosleep(&s, NULL);
        t0 = now();
        if (write(sv[0], &c, 1) != 1) break;
        while (recv(sv[0], &c, 1, MSG_DONTWAIT) != 1) sched_yield();
        v[i] = (now() - t0) * 1e6;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    for (int i = 1; i < N; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    med = v[N / 2];
    return med;
}

/* Milliseconds from cf_executor_new to the first result. */
static double first_result(int method) {
    double t0 = now();
    cf_executor *ex = make_pool(method, 2);
    run_one(ex, noop, NULL, 0);
    t0 = now() - t0;
    cf_executor_free(ex);
    return t0 * 1e3;
}

/* The 2-pthread peer: thread i computes pairs i, i + 2, i + 4 (the pool's deal, in order). */
static void *gcd_thread(void *p) {
    long i = (long)(intptr_t)p;
    volatile long sink = 0;
    for (; i < 6; i += 2) sink += gcd(PAIRS[i][0], PAIRS[i][1]);
    (void)sink;
    return NULL;
}

/* The 2-process peer: two children forked directly, each computing its pairs as the pthreads
 * do and writing its sum to a pipe; the parent reads both and reaps them. The least a process
 * pool can cost: two forks, two pipe messages, two waits. */
static void gcd_processes(void) {
    int fd[2][2];
    pid_t pid[2];
    for (long i = 0; i < 2; i++) {
        if (pipe(fd[i]) != 0) {
            fprintf(stderr, "pipe failed\n");
            exit(1);
        }
        pid[i] = fork();
        if (pid[i] == 0) {
            long sum = 0;
            for (long k = i; k < 6; k += 2) sum += gcd(PAIRS[k][0], PAIRS[k][1]);
            if (write(fd[i][1], &sum, sizeof sum) != sizeof sum) _exit(1);
            _exit(0);
        }
        close(fd[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        long sum;
        if (read(fd[i][0], &sum, sizeof sum) != sizeof sum) fprintf(stderr, "gcd child failed\n");
        close(fd[i][0]);
        waitpid(pid[i], NULL, 0);
    }
}

/* Milliseconds for the six gcd pairs: serial (method -1), two plain pthreads (method -2,
 * their start included), two forked processes (method -3, their start and exit included) or a
 * 2-worker pool, start included; with `teardown`, also the pool's shutdown (workers exited and
 * reaped). */
static double gcd_run(int method, int teardown);
static double gcd_ms(int method) { return gcd_run(method, 0); }
static double gcd_total_ms(int method) { return gcd_run(method, 1); }
static double gcd_run(int method, int teardown) {
    double done_at;
    double t0 = now();
    if (method == -1) {
        volatile long sink = 0;
        for (int i = 0; i < 6; i++) sink += gcd(PAIRS[i][0], PAIRS[i][1]);
        (void)sink;
    } else if (method == -2) {
        pthread_t th[2];
        for (long i = 0; i < 2; i++)
            if (pthread_create(&th[i], NULL, gcd_thread, (void *)(intptr_t)i) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                exit(1);
            }
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    } else if (method == -3) {
        gcd_processes();
    } else {
        cf_executor *ex = make_pool(method, 2);
        cf_map_iter *it;
        const void *d;
        size_t l;
        if (cf_map(ex, gcd_task, PAIRS, sizeof PAIRS[0], 6, CF_FOREVER, 1, &it) != CF_OK)
            die("cf_map");
        while (cf_map_next(it, &d, &l) == CF_OK) {
        }
        done_at = now();
        cf_map_free(it);
        cf_executor_free(ex);
        if (!teardown) return (done_at - t0) * 1e3;
    }
    return (now() - t0) * 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double med, lo, hi;
} stat;

/* Median (the upper one for an even count), min and max of v, which is left unsorted. */
static stat stat_of(const double *v, int n) {
    double *s = malloc(sizeof *s * (size_t)n);
    stat r;
    if (s == NULL) {
        fprintf(stderr, "out of memory\n");
        bail();
    }
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof s[0], cmp);
    r.med = s[n / 2];
    r.lo = s[0];
    r.hi = s[n - 1];
    free(s);
    return r;
}

/* ---- Reporting: one text line and one JSON row per figure ---- */

/* What a row says besides its figures. */
typedef struct {
    const char *metric;   /* the text table's name, also the key of the Python peers' lines */
    const char *scenario; /* the JSON row's scenario, shared with the Python peers' rows */
    const char *unit;
    long n;         /* the task count or size the row is about; 0: none */
    double at_most; /* the target; 0: none */
    double at_least;
    const char *note;
} spec;

static const char *peers; /* the Python peers' "metric method value" lines, or NULL */
static FILE *json;        /* --json's file, or NULL */
static int json_rows;

static const char *NAMES[] = {"forkserver", "fork", "spawn"};

static const char *method_name(int method) {
    static const char *PEERS[] = {"serial", "2 pthreads", "2 processes", "bare process"};
    return method >= 0 ? NAMES[method] : PEERS[-method - 1];
}

/* Python's figure for (metric, method) from the peers' output, or 0 when missing. Matched at
 * the start of a line: "round_trip_us fork " must not find "idle_round_trip_us fork ". */
static double peer(const char *metric, const char *method) {
    char key[128];
    size_t k;
    const char *p = peers;
    k = (size_t)snprintf(key, sizeof key, "%s %s ", metric, method);
    while (p != NULL && *p) {
        if (strncmp(p, key, k) == 0) return atof(p + k);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0.0;
}

static void json_str(const char *s) {
    fputc('"', json);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(json, "\\%c", c);
        else if (c < 0x20)
            fprintf(json, "\\u%04x", c);
        else
            fputc(c, json);
    }
    fputc('"', json);
}

static void json_num(double x) {
    if (isfinite(x))
        fprintf(json, "%.6g", x);
    else
        fputs("null", json); /* JSON has no inf or nan */
}

static void report(spec sp, int method, const double *v, int nv) {
    stat s = stat_of(v, nv);
    double py = peer(sp.metric, method_name(method));
    char impl[64];
    if (method >= 0)
        snprintf(impl, sizeof impl, "cfutures %s", NAMES[method]);
    else
        snprintf(impl, sizeof impl, "%s", method_name(method));
    printf("%-27s %-12s %10.3f %-7s (%.3f-%.3f)", sp.metric, method_name(method), s.med, sp.unit,
           s.lo, s.hi);
    if (py > 0) printf("  python %9.3f  cfutures/python %.3f", py, s.med / py);
    if (sp.at_most > 0) printf("  target <= %g", sp.at_most);
    if (sp.at_least > 0) printf("  target >= %g", sp.at_least);
    printf("\n");
    fflush(stdout);
    if (json == NULL) return;
    fputs(json_rows++ ? ",\n  {" : "\n  {", json);
    fputs("\"scenario\": ", json);
    json_str(sp.scenario);
    fputs(", \"implementation\": ", json);
    json_str(impl);
    fputs(", \"unit\": ", json);
    json_str(sp.unit);
    fputs(", \"median\": ", json);
    json_num(s.med);
    fputs(", \"min\": ", json);
    json_num(s.lo);
    fputs(", \"max\": ", json);
    json_num(s.hi);
    fputs(", \"values\": [", json);
    for (int i = 0; i < nv; i++) {
        if (i) fputs(", ", json);
        json_num(v[i]);
    }
    fputs("]", json);
    if (sp.n > 0) fprintf(json, ", \"n\": %ld", sp.n);
    if (sp.at_most > 0) {
        fputs(", \"target_at_most\": ", json);
        json_num(sp.at_most);
    }
    if (sp.at_least > 0) {
        fputs(", \"target_at_least\": ", json);
        json_num(sp.at_least);
    }
    if (py > 0) {
        char with[96];
        snprintf(with, sizeof with, "python %s%s", method >= 0 ? "ProcessPoolExecutor " : "",
                 method_name(method));
        fputs(", \"python_median\": ", json);
        json_num(py);
        fputs(", \"cfutures_over_peer\": ", json);
        json_num(s.med / py);
        fputs(", \"compared_with\": ", json);
        json_str(with);
    }
    if (sp.note) {
        fputs(", \"note\": ", json);
        json_str(sp.note);
    }
    fputs("}", json);
}

/* ---- Scenarios ---- */

static void measure(double (*f)(int, int, size_t), int method, int n, size_t k, int runs,
                    double *v) {
    for (int i = 0; i < runs; i++) {
        /* Fork cost grows with the parent's page tables: give back what earlier runs freed, so
         * that each measurement starts from the same small process. */
        malloc_trim(0);
        v[i] = f(method, n, k);
    }
}

static double f_throughput(int m, int n, size_t k) { (void)k; return throughput(m, n); }
static double f_map(int m, int n, size_t k) { return map_cost(m, n, k); }
static double f_rt(int m, int n, size_t k) { (void)k; return round_trip(m, n); }
static double f_first(int m, int n, size_t k) { (void)n; (void)k; return first_result(m); }
static double f_gcd_total(int m, int n, size_t k) { (void)n; (void)k; return gcd_total_ms(m); }

/* The gcd rows take more runs: their spread comes from where the scheduler first puts two
 * freshly started workers (sometimes on one CPU for a few ms). */
#define GCD_REPS 15

/* The gcd workload: serial, 2 pthreads, 2 forked processes and each pool, interleaved within
 * every repetition so that each speed-up compares runs made under the same conditions (this
 * machine's second CPU is not always there: two plain busy threads get 1.3x-1.8x at times).
 * Prints each time, then the medians of the per-repetition speed-ups over serial and of each
 * pool's time relative to the 2-pthread and 2-process peers'. */
static void gcd_section(void) {
    enum { COLS = 6, POOL0 = 3 }; /* serial, 2 pthreads, 2 processes, forkserver, fork, spawn */
    double t[COLS][GCD_REPS], v[GCD_REPS];
    int methods[COLS] = {-1, -2, -3, 0, 1, 2};
    int cols = getenv("CF_WORKER_PATH") != NULL ? COLS : COLS - 1;
    for (int r = 0; r < GCD_REPS; r++) {
        for (int c = 0; c < cols; c++) {
            malloc_trim(0);
            t[c][r] = gcd_ms(methods[c]);
        }
    }
    for (int c = 0; c < cols; c++)
        report((spec){"gcd_ms", "gcd", "ms", 0, 0, 0,
                      c >= POOL0 ? "the six gcd pairs on a new 2-worker pool, cf_map chunksize 1: "
                                   "pool start included, shutdown not"
                                 : "the six gcd pairs; threads' or processes' start included"},
               methods[c], t[c], GCD_REPS);
    for (int c = 1; c < cols; c++) {
        for (int r = 0; r < GCD_REPS; r++) v[r] = t[0][r] / t[c][r];
        report((spec){"gcd_speedup", "gcd_speedup", "x", 0, 0, c >= POOL0 ? 1.75 : 0,
                      "serial time / this time, per repetition"},
               methods[c], v, GCD_REPS);
    }
    for (int c = POOL0; c < cols; c++) {
        for (int r = 0; r < GCD_REPS; r++) v[r] = t[c][r] / t[1][r];
        report((spec){"gcd_vs_2_pthreads", "gcd_vs_2_pthreads", "x", 0, 1.089, 0,
                      "this pool's gcd time (start included) / the 2-pthread loop's time in the "
                      "same repetition; the target is the issue's 19.5 ms on a machine where 2 "
                      "pthreads take 17.9 ms: 1.089x"},
               methods[c], v, GCD_REPS);
        for (int r = 0; r < GCD_REPS; r++) v[r] = t[c][r] / t[2][r];
        report((spec){"gcd_vs_2_processes", "gcd_vs_2_processes", "x", 0, 0, 0,
                      "this pool's gcd time (start included) / 2 directly forked processes' time "
                      "in the same repetition"},
               methods[c], v, GCD_REPS);
    }
}

/* Per-task cost against the task count: n = 1e3 ... 1e6 no-op tasks submitted, then every
 * result taken and every future freed; fewer runs for the big counts (one 1e6 run takes
 * seconds). The n = 100000 runs are also the noop row. */
static void scaling_section(int m) {
    static const int NS[] = {1000, 10000, 100000, 1000000};
    static const int RUNS[] = {REPS, REPS, REPS, 3};
    double v[4][REPS];
    for (int i = 0; i < 4; i++) {
        char metric[48];
        measure(f_throughput, m, NS[i], 0, RUNS[i], v[i]);
        snprintf(metric, sizeof metric, "scaling_%d_us_per_task", NS[i]);
        report((spec){metric, "scaling", "us/task", NS[i], 0, 0,
                      "n no-op tasks submitted, then each result taken and each future freed; "
                      "2 workers, started (one task run) before the clock starts"},
               m, v[i], RUNS[i]);
    }
    report((spec){"noop_us_per_task", "noop", "us/task", 0, 1.5, 0,
                  "100000 no-op tasks submitted, then each result taken and each future freed; "
                  "2 workers (the scaling runs with n = 100000)"},
           m, v[2], RUNS[2]);
}

/* Fills buf with a pattern that differs at every 8-byte word and for every seed, so that a
 * stale, shifted or truncated echo shows. */
static void fill(unsigned char *buf, size_t len, uint64_t seed) {
    for (size_t k = 0; k + 8 <= len; k += 8) {
        uint64_t x = (k / 8 + seed * 0x9E3779B97F4A7C15u) * 0xBF58476D1CE4E5B9u;
        x ^= x >> 31;
        memcpy(buf + k, &x, 8);
    }
}

/* One task whose argument and result are S bytes (bench_echo), for S = 16 B ... 16 MiB:
 * median microseconds per round trip and the bytes moved per second (2 S: there and back).
 * Each echo is checked: the bench stops if one comes back altered. */
static void payload_section(int m) {
    static const size_t SIZES[] = {16, 256, 4096, 65536, (size_t)1 << 20, (size_t)16 << 20};
    enum { MAXS = 101 };
    cf_executor *ex = make_pool(m, 2);
    unsigned char *arg = malloc((size_t)16 << 20);
    double us[MAXS], mbs[MAXS];
    if (arg == NULL) {
        fprintf(stderr, "out of memory\n");
        bail();
    }
    run_one(ex, noop, NULL, 0);
    for (int i = 0; i < 6; i++) {
        size_t s = SIZES[i];
        int n = s >= SIZES[5] ? 11 : s >= SIZES[4] ? 31 : MAXS;
        char metric[48];
        for (int r = -1; r < n; r++) { /* r == -1: a warm-up at this size, not counted */
            cf_future *f;
            const void *d;
            size_t l;
            double t0, t;
            fill(arg, s, (uint64_t)(r + 2) * 7 + s);
            t0 = now();
            if (cf_submit(ex, bench_echo, arg, s, &f) != CF_OK) die("cf_submit");
            if (cf_future_result(f, CF_FOREVER, &d, &l) != CF_OK) die("cf_future_result");
            t = now() - t0;
            if (l != s || memcmp(d, arg, s) != 0) {
                if (l != s)
                    fprintf(stderr, "payload: the %s pool echoed %zu bytes for %zu\n", NAMES[m], l,
                            s);
                else
                    fprintf(stderr, "payload: the %s pool echoed %zu bytes that differ from those "
                            "sent\n", NAMES[m], s);
                bail();
            }
            cf_future_free(f);
            if (r >= 0) {
                us[r] = t * 1e6;
                mbs[r] = 2.0 * (double)s / t / 1e6;
            }
        }
        snprintf(metric, sizeof metric, "payload_%zu_us", s);
        report((spec){metric, "payload", "us", (long)s, 0, 0,
                      "one task with an n-byte argument and an n-byte result (a copy), submit to "
                      "result, on a warm 2-worker pool; each echo checked"},
               m, us, n);
        snprintf(metric, sizeof metric, "payload_%zu_MB_per_s", s);
        report((spec){metric, "payload_throughput", "MB/s", (long)s, 0, 0,
                      "2 n bytes (argument there, result back) / the round trip; MB = 1e6 bytes"},
               m, mbs, n);
    }
    free(arg);
    cf_executor_free(ex);
}

#define MEM_N 1000000
#define MEM_REPS 3

/* A line of /proc/self/status ("VmRSS", "VmHWM") in bytes, or -1. */
static double status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t k = strlen(field);
    double kb = -1;
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, k) == 0 && line[k] == ':') {
            kb = atof(line + k + 1);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void child_fail(const char *what) {
    fprintf(stderr, "memory: %s\n", what);
    bail();
}

/* The memory scenario, in a fresh process (`process_pool --memory-child`) so that no earlier
 * scenario's freed heap absorbs the growth. Both workers of a forkserver pool are held in
 * bench_gate (blocked on a flock() this process holds), so that MEM_N no-op futures submitted
 * next all stay pending; prints the RSS before and after submitting them and the peak RSS
 * (VmHWM, read after they have all run), in bytes, on stdout. */
static int memory_child(void) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    cf_future *gate[2], **fs;
    const void *d;
    size_t l;
    double before, after, peak, t0;
    int fd;
    cf_executor *ex = make_pool(0, 2);
    run_one(ex, noop, NULL, 0); /* the workers started and the task defined before measuring */
    snprintf(path, sizeof path, "%s/cfutures-bench-gate-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) child_fail("cannot create the lock file (set TMPDIR?)");
    if (flock(fd, LOCK_EX) != 0) child_fail("flock failed");
    for (int i = 0; i < 2; i++)
        if (cf_submit(ex, bench_gate, path, strlen(path) + 1, &gate[i]) != CF_OK)
            child_fail(cf_last_error());
    /* Wait (on the futures' state, bounded) until each worker is inside a gate. */
    t0 = now();
    while (!(cf_future_running(gate[0]) && cf_future_running(gate[1]))) {
        if (cf_future_done(gate[0]) || cf_future_done(gate[1]))
            child_fail("a gate task ended before it was released");
        if (now() - t0 > 60) child_fail("the gate tasks did not both start within 60 s");
        sched_yield();
    }
    /* The caller's array of handles is allocated and touched first: it is not the pool's. */
    fs = calloc(MEM_N, sizeof *fs);
    if (fs == NULL) child_fail("out of memory");
    memset(fs, 0, sizeof *fs * MEM_N);
    malloc_trim(0);
    before = status_bytes("VmRSS");
    for (int i = 0; i < MEM_N; i++)
        if (cf_submit(ex, noop, NULL, 0, &fs[i]) != CF_OK) child_fail(cf_last_error());
    after = status_bytes("VmRSS");
    if (cf_future_done(fs[0]) || cf_future_done(fs[MEM_N - 1]) || cf_future_done(gate[0]) ||
        cf_future_done(gate[1]))
        child_fail("the futures did not stay pending");
    /* Release: the gates get their shared lock, every queued task runs. */
    if (flock(fd, LOCK_UN) != 0) child_fail("flock(LOCK_UN) failed");
    close(fd);
    unlink(path);
    for (int i = 0; i < MEM_N; i++) {
        if (cf_future_result(fs[i], CF_FOREVER, &d, &l) != CF_OK) die("cf_future_result");
        cf_future_free(fs[i]);
    }
    for (int i = 0; i < 2; i++) {
        if (cf_future_result(gate[i], CF_FOREVER, &d, &l) != CF_OK) die("gate");
        cf_future_free(gate[i]);
    }
    free(fs);
    peak = status_bytes("VmHWM");
    cf_executor_free(ex);
    printf("%.0f %.0f %.0f\n", before, after, peak);
    return 0;
}

/* Runs memory_child in a new process (this program, re-executed); 1 on success. */
static int memory_once(double *before, double *after, double *peak) {
    int p[2], st, ok;
    pid_t pid;
    FILE *f;
    fflush(NULL);
    if (pipe(p) != 0) return 0;
    pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        char *args[3];
        args[0] = (char *)"process_pool";
        args[1] = (char *)"--memory-child";
        args[2] = NULL;
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(p[1]);
    f = fdopen(p[0], "r");
    ok = f != NULL && fscanf(f, "%lf %lf %lf", before, after, peak) == 3;
    if (f) fclose(f);
    waitpid(pid, &st, 0);
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void memory_section(void) {
    double per[MEM_REPS], peak[MEM_REPS];
    for (int r = 0; r < MEM_REPS; r++) {
        double before, after, hwm;
        if (!memory_once(&before, &after, &hwm)) {
            printf("memory: the measuring process failed (see above); skipped\n");
            return;
        }
        per[r] = (after - before) / MEM_N;
        peak[r] = hwm / 1e6;
    }
    report((spec){"memory_bytes_per_pending", "memory", "bytes/future", MEM_N, 256, 0,
                  "(RSS after - RSS before) / n with n no-op futures pending on a forkserver "
                  "pool whose 2 workers are held in a task blocked on a flock() the bench "
                  "releases afterwards; measured in a fresh process (the bench re-executed); "
                  "the caller's array of handles is not counted"},
           0, per, MEM_REPS);
    report((spec){"memory_peak_rss_MB", "memory_peak_rss", "MB", MEM_N, 300, 0,
                  "VmHWM of that fresh process after the n pending futures have all run "
                  "(MB = 1e6 bytes); the issue's target is < 300 MB"},
           0, peak, MEM_REPS);
}

/* The scenarios measured the same way for each start method, in this order. */
typedef struct {
    double (*f)(int, int, size_t);
    int n;
    size_t k;
    spec row;
} scenario;

static const scenario SCENARIOS[] = {
    {f_map, 200000, 64,
     {"map64_us_per_task", "map_chunksize_64", "us/task", 0, 0.1, 0,
      "cf_map over 200000 no-op items, chunksize 64, every result taken; 2 workers"}},
    {f_map, 50000, 1,
     {"map1_us_per_task", "map_chunksize_1", "us/task", 0, 0, 0,
      "cf_map over 50000 no-op items, chunksize 1, every result taken; 2 workers"}},
    {f_rt, 0, 0,
     {"round_trip_us", "round_trip", "us", 0, 5, 0,
      "back-to-back submit -> result of one no-op task; each value the median of 5000"}},
    {f_rt, 1, 0,
     {"idle_round_trip_us", "idle_round_trip", "us", 0, 70, 0,
      "submit -> result of one no-op task after a 5 ms sleep (workers idle); each value the "
      "median of 100"}},
    {f_gcd_total, 0, 0,
     {"gcd_with_teardown_ms", "gcd_with_teardown", "ms", 0, 0, 0,
      "the gcd workload with pool start and shutdown (workers exited and reaped) included"}},
};

int main(int argc, char **argv) {
    static char peers_buf[65536];
    const char *peers_path = NULL, *json_path = NULL;
    char load[128] = "?";
    FILE *lf;
    int spawn = getenv("CF_WORKER_PATH") != NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--memory-child") == 0) return memory_child();
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (argv[i][0] != '-' && peers_path == NULL)
            peers_path = argv[i]; /* the Python peers' "metric method value" lines */
        else {
            fprintf(stderr, "usage: %s [PEERS_FILE] [--json PATH]\n", argv[0]);
            return 2;
        }
    }
    if ((lf = fopen("/proc/loadavg", "r")) != NULL) {
        if (fgets(load, sizeof load, lf) == NULL) strcpy(load, "?");
        load[strcspn(load, "\n")] = 0;
        fclose(lf);
    }
    if (peers_path) {
        FILE *pf = fopen(peers_path, "r");
        if (pf) {
            size_t n = fread(peers_buf, 1, sizeof peers_buf - 1, pf);
            peers_buf[n] = 0;
            peers = peers_buf;
            fclose(pf);
        }
    }
    if (json_path) {
        if ((json = fopen(json_path, "w")) == NULL) {
            perror(json_path);
            return 1;
        }
        fprintf(json, "{\"bench\": \"process_pool\", \"cfutures_version\": ");
        json_str(cf_version());
        fprintf(json, ", \"cpus_online\": %ld, \"loadavg_before\": ",
                sysconf(_SC_NPROCESSORS_ONLN));
        json_str(load);
        fprintf(json, ", \"reps\": %d, \"gcd_reps\": %d, \"rows\": [", REPS, GCD_REPS);
    }
    printf("cfutures %s process pool benchmark; cpus %ld; load before: %s\n", cf_version(),
           sysconf(_SC_NPROCESSORS_ONLN), load);
    printf("median of %d runs (gcd: %d; scaling at 1e6 and memory: 3) (min-max)\n", REPS,
           GCD_REPS);
    /* The gcd workload first, while this process is as small as a user's program: the other
     * scenarios leave it larger (heap, thread stacks, mappings), which makes every later fork
     * dearer and skews a figure that includes the pool's start. */
    gcd_section();
    {
        double fl[REPS];
        for (int i = 0; i < REPS; i++) fl[i] = idle_floor();
        report((spec){"idle_round_trip_us", "idle_round_trip", "us", 0, 0, 0,
                      "the floor: a bare forked process echoing one byte over a socketpair "
                      "after the same 5 ms pause (see idle_floor)"},
               -4, fl, REPS);
    }
    /* Creation to first result next, for the same reason as gcd: a fork's cost grows with the
     * parent's page tables, and the scaling scenario leaves this process with a big heap. */
    for (int m = 0; m < 3; m++) {
        double v[REPS];
        if (m == 2 && !spawn) continue;
        measure(f_first, m, 0, 0, REPS, v);
        report((spec){"first_result_ms", "first_result", "ms", 0, m == 2 ? 1.5 : 0.5, 0,
                      "cf_executor_new to the first no-op result, 2 workers"},
               m, v, REPS);
    }
    for (int m = 0; m < 3; m++) {
        double v[REPS];
        if (m == 2 && !spawn) {
            printf("spawn: skipped (set CF_WORKER_PATH to the cf-worker program)\n");
            continue;
        }
        scaling_section(m);
        for (size_t i = 0; i < sizeof SCENARIOS / sizeof SCENARIOS[0]; i++) {
            const scenario *sc = &SCENARIOS[i];
            measure(sc->f, m, sc->n, sc->k, REPS, v);
            report(sc->row, m, v, REPS);
        }
        payload_section(m);
    }
    memory_section();
    if (json) {
        fputs("\n], \"notes\": [", json);
        if (!spawn) json_str("spawn skipped: CF_WORKER_PATH not set");
        fputs("]}\n", json);
        if (fclose(json) != 0) {
            perror(json_path);
            return 1;
        }
    }
    return 0;
}
