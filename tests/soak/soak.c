/*
 * soak.c: the soak (RELIABILITY.md row LD10): for a given time, a seeded random mix of
 * crashes, time limits, cancels, re-entrant callbacks, big payloads, map, wait and
 * as_completed over both pools and the three start methods, with executors created and freed
 * round after round. Run it with scripts/soak [SECONDS] [SEED]; usage: soak SECONDS SEED.
 *
 * The program forks itself after prctl(PR_SET_CHILD_SUBREAPER): the parent (the supervisor)
 * only watches, the child runs the rounds.
 * - Supervisor: O1, a watchdog fed by a heartbeat pipe (the child writes the round number at
 *   every event): after SOAK_STALL_SECS (default 180) without one, it dumps every thread
 *   stack of the child and its descendants with gdb (from a forked helper), kills the child's
 *   process group and fails. O4: descendants orphaned while the child runs are reparented to
 *   it; one alive 2 s after it was first seen, or any descendant alive 2 s after the child
 *   exited, fails the soak.
 * - Child: each round derives its own generator from (seed, round number), so a round's plan
 *   does not depend on what earlier rounds saw (SOAK_FIRST_ROUND=R starts at round R: a
 *   failure replays from its round). A round creates 1 to 3 executors (thread pool or process
 *   pool with a random start method, worker count, time limit, max_tasks_per_child and end
 *   mode), runs 3 to 10 events on them (batches of random tasks, gated cancel episodes with
 *   wait/as_completed deadlines, cancel bursts, maps), ends each executor its way (shutdown
 *   and free; free with work pending; shutdown(wait=false, cancel_futures=true); shutdown
 *   without waiting), then checks every future of the round and the process's resources.
 *
 * Oracles, after every round (once its executors are freed):
 * - O6/O7: every future is done with exactly one outcome of its expected class: CF_OK with the
 *   right bytes (payloads and results up to 8 MiB, checked against the generator or a
 *   digest), CF_TASK_FAILED with the task's code and message, CF_WORKER_DIED with -SIGABRT,
 *   -SIGSEGV or the exit status as its code and the signal name or "exited with status N"
 *   and the pid in its message, CF_TASK_EXPIRED ("time limit") for tasks that outrun the
 *   limit, CF_CANCELLED exactly where cancel returned true (or, for an executor shut down
 *   with cancel_futures, for work that had not started). Its counting done-callback ran
 *   exactly once; a re-entrant callback (waits on its own future, frees it, or submits the
 *   next link of a chain) ran once and saw the same outcome. In a pool with a time limit a
 *   task may also expire because the loaded machine stalled it past the limit: that is
 *   accepted (the message must still name the limit) and counted as "expired under load".
 * - O2/O5: /proc/self/fd and /proc/self/task are back to their baseline (taken before the
 *   first executor) after every round.
 * - O3: no child process of ours is left (no zombie, no worker, no fork server), and every
 *   worker pid seen (in results, error messages and the process tree before each free) is
 *   gone; a pid is compared with its start time, so a recycled pid is not mistaken for it.
 * - Memory stays flat: RSS (/proc/self/statm, after malloc_trim; glibc's mmap threshold is
 *   fixed at 256 KiB, so a freed payload-sized block goes back to the system and a leaked one
 *   shows) is sampled after every round; after the warm-up (the first quarter of the run, at
 *   least 3 rounds), a sample above the warm-up maximum plus SOAK_RSS_SLACK_MIB (default 32)
 *   fails the soak. The samples and their linear-fit slope are printed.
 * The summary gives rounds, executors, tasks per outcome class, peak RSS and the seed.
 * SOAK_VERBOSE=1 prints each executor and event as it goes (to see what a failing round did).
 */
#define _GNU_SOURCE
#include "cftest.h"
#include "soak.h"

#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Bound of every wait that must not time out: a hang shows as a failed check. */
#define LONG_WAIT 120.0
#define MAX_EXECS 3
#define MIB (1024.0 * 1024.0)

/* ------------------------------------------------------------------------------------------ */
/* Settings and small helpers                                                                 */
/* ------------------------------------------------------------------------------------------ */

static uint64_t g_seed;
static double g_secs;
static int g_hb_fd = -1;
static char g_dir[160];
static uint64_t g_round;
static double g_t0;
static bool g_verbose; /* SOAK_VERBOSE=1: one line per executor and event */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { return sk_mix(r->s++); }
static uint64_t rnd(rng *r, uint64_t n) { return n ? rng_next(r) % n : 0; }
static bool chance(rng *r, unsigned pct) { return rnd(r, 100) < pct; }

static bool contains(const char *s, const char *sub) {
    return s != NULL && strstr(s, sub) != NULL;
}

/* Tells the supervisor we are alive (the round number, for its messages). */
static void heartbeat(void) {
    uint32_t r = (uint32_t)g_round;
    ssize_t n;
    do {
        n = write(g_hb_fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct pstat {
    char state; /* 0: no such process */
    int ppid;
    unsigned long long start; /* start time in clock ticks after boot */
} pstat;

static pstat read_pstat(int pid) {
    char path[64], buf[1024];
    pstat s;
    FILE *f;
    size_t n;
    char *p;
    int i;
    memset(&s, 0, sizeof s);
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f) return s;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %d", &s.state, &s.ppid) != 2) {
        s.state = 0;
        return s;
    }
    /* Field 22 (starttime); p + 1 starts at field 3. */
    p++;
    for (i = 3; i < 22 && p; i++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p, " %llu", &s.start) != 1) s.state = 0;
    return s;
}

/* Processes whose parent is ppid (zombies included); returns how many (at most max stored). */
static int children_of(int ppid, int *out, int max) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        pstat s;
        if (pid <= 0) continue;
        s = read_pstat(pid);
        if (s.state == 0 || s.ppid != ppid) continue;
        if (n < max && out) out[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* Descendants of root, breadth first (at most max). */
static int descendants_of(int root, int *out, int max) {
    int n = 0, i = 0, k, m;
    int kids[256];
    m = children_of(root, kids, 256);
    for (k = 0; k < m && k < 256 && n < max; k++) out[n++] = kids[k];
    while (i < n) {
        m = children_of(out[i], kids, 256);
        for (k = 0; k < m && k < 256 && n < max; k++) out[n++] = kids[k];
        i++;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared state: records, statistics, worker pids (g_lock)                                    */
/* ------------------------------------------------------------------------------------------ */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;

enum kind {
    K_ECHO,
    K_DIGEST,
    K_SLEEP,
    K_BLOCK,
    K_FAIL,
    K_ABORT,
    K_SEGV,
    K_EXIT,
    K_EXIT0,
    K_HANG,
    K_HANG_TERM,
    K_POISON,
    K_N
};
static const char *const kind_name[K_N] = {"echo", "digest", "sleep", "block",
                                           "fail", "abort",  "segv",  "exit",
                                           "exit0", "hang",  "hang_term", "poison"};

static cf_task_fn kind_fn(int k) {
    switch (k) {
    case K_ECHO: return sk_echo;
    case K_DIGEST: return sk_digest;
    case K_SLEEP: return sk_sleep;
    case K_BLOCK: return sk_block;
    case K_FAIL: return sk_fail;
    case K_ABORT: return sk_abort;
    case K_SEGV: return sk_segv;
    case K_EXIT: return sk_exit;
    case K_EXIT0: return sk_exit0;
    case K_HANG: return sk_hang;
    case K_HANG_TERM: return sk_hang_term;
    default: return sk_poison;
    }
}

/* Re-entrant done-callbacks (RE02, RE03, RE04). */
enum reent { R_NONE, R_WAIT_OWN, R_FREE_OWN, R_CHAIN, R_N };
/* How an executor ends (SD01, SD07, TO14, SD02). */
enum end_mode { E_WAIT, E_FREE, E_CANCEL, E_NOWAIT, E_N };
static const char *const end_name[E_N] = {"shutdown(wait)+free", "free with work pending",
                                          "shutdown(nowait,cancel)", "shutdown(nowait)+free"};
static const char *const method_name[3] = {"forkserver", "fork", "spawn"};

typedef struct exec_state {
    cf_executor *ex;
    int id; /* executor number, over the whole run */
    bool process;
    int method; /* cf_start_method */
    uint32_t workers;
    double limit; /* per-task time limit; 0: none */
    uint64_t max_tasks;
    int end_mode;
    /* g_lock: */
    bool shutting_down;
    long chain_submitted, chain_callbacks; /* links submitted; their chain callbacks run */
    long selffree_pending;                 /* futures whose callback frees them, not run yet */
} exec_state;

typedef struct rec {
    cf_future *f; /* our reference; NULL when the callback owns the future (R_FREE_OWN) */
    exec_state *es;
    int kind;
    int reent;
    int chain_left;    /* R_CHAIN: links still to submit after this one */
    uint64_t key, len; /* echo: payload key and length; digest: output key and length */
    uint64_t in_digest, in_len; /* digest: of the payload */
    int code;                   /* fail, exit: the code; sleep, block: the tag */
    bool may_expire;            /* its pool has a time limit */
    bool may_cancel;            /* its pool ends with shutdown(cancel_futures) */
    bool cancel_true;           /* cf_future_cancel returned true */
    /* g_lock: */
    int callbacks;   /* runs of the counting callback */
    int reent_runs;  /* runs of the re-entrant callback */
    int seen_status; /* the status the re-entrant callback saw */
    bool verified;   /* R_FREE_OWN: checked inside its callback */
} rec;

static rec **g_recs;
static size_t g_nrecs, g_caprecs;

enum outcome {
    O_OK,
    O_FAILED,
    O_DIED_ABRT,
    O_DIED_SEGV,
    O_DIED_EXIT,
    O_EXPIRED,
    O_EXPIRED_LOAD,
    O_CANCELLED,
    O_CANCELLED_SHUTDOWN,
    O_N
};

typedef struct stats {
    long rounds, executors, exec_kind[4], idle_executors, end_modes[E_N];
    long kinds[K_N], outcomes[O_N];
    long callbacks, reent[R_N], chain_links, chain_refused;
    long maps, map_items, map_failures, map_early, map_expired;
    long waits, wait_timeouts, as_completed, ac_timeouts, mixed_waits;
    long gate_episodes, strict_episodes, cancels_true, cancels_false, bursts;
    long after_shutdown;
    double bytes_in, bytes_out;
} stats;
static stats g_st;

#define MAX_PIDS 8192
typedef struct noted_pid {
    int pid;
    unsigned long long start;
} noted_pid;
static noted_pid g_pids[MAX_PIDS];
static int g_npids;

/* Records a worker pid that must be gone at the end of the round (with its start time, so
 * that a recycled pid is not taken for it). */
static void note_pid(int pid) {
    pstat s;
    int i;
    if (pid <= 0 || pid == (int)getpid()) return;
    s = read_pstat(pid);
    if (s.state == 0) return; /* already gone */
    pthread_mutex_lock(&g_lock);
    for (i = 0; i < g_npids; i++)
        if (g_pids[i].pid == pid && g_pids[i].start == s.start) break;
    if (i == g_npids && g_npids < MAX_PIDS) {
        g_pids[g_npids].pid = pid;
        g_pids[g_npids].start = s.start;
        g_npids++;
    }
    pthread_mutex_unlock(&g_lock);
}

/* The pid in "... worker process <pid> ..." (0 if none). */
static int pid_in(const char *msg) {
    const char *p = msg ? strstr(msg, "process ") : NULL;
    return p ? atoi(p + 8) : 0;
}

static rec *new_rec(exec_state *es, int kind) {
    rec *r = (rec *)calloc(1, sizeof *r);
    CHECK(r != NULL);
    r->es = es;
    r->kind = kind;
    r->may_expire = es->limit > 0;
    r->may_cancel = es->end_mode == E_CANCEL;
    pthread_mutex_lock(&g_lock);
    if (g_nrecs == g_caprecs) {
        size_t cap = g_caprecs ? g_caprecs * 2 : 256;
        rec **p = (rec **)realloc(g_recs, cap * sizeof *p);
        CHECK(p != NULL);
        g_recs = p;
        g_caprecs = cap;
    }
    g_recs[g_nrecs++] = r;
    g_st.kinds[kind]++;
    pthread_mutex_unlock(&g_lock);
    return r;
}

static void stat_add(long *p, long d) {
    pthread_mutex_lock(&g_lock);
    *p += d;
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Checking one future                                                                        */
/* ------------------------------------------------------------------------------------------ */

static void describe_rec(const rec *r, const char *why, int st, cf_future *f) {
    const exec_state *es = r->es;
    fprintf(stderr,
            "soak: round %" PRIu64 ": %s\n  future of task %s (code %d, key %" PRIu64
            ", len %" PRIu64 ", reent %d, cancel_true %d, may_cancel %d, may_expire %d)\n"
            "  on executor #%d: %s, %s, %u workers, limit %.2f s, max_tasks %" PRIu64
            ", end: %s\n  got %s (%d), error code %d, message \"%s\"\n",
            g_round, why, kind_name[r->kind], r->code, r->key, r->len, r->reent,
            (int)r->cancel_true, (int)r->may_cancel, (int)r->may_expire, es->id,
            es->process ? "process pool" : "thread pool",
            es->process ? method_name[es->method] : "-", es->workers, es->limit,
            es->max_tasks, end_name[es->end_mode], cf_status_str((cf_status)st), st,
            f ? cf_future_error_code(f) : 0,
            f && cf_future_error_message(f) ? cf_future_error_message(f) : "(none)");
}

#define EXPECT(cond, r, st, f)                                                               \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            describe_rec((r), #cond, (st), (f));                                             \
            cft_fail(__FILE__, __LINE__, #cond, "the future's outcome is wrong (O6, O7)");   \
        }                                                                                    \
    } while (0)

/* Checks that the bytes [0, n) of data are the pattern of key. */
static bool pattern_ok(const uint8_t *data, uint64_t n, uint64_t key) {
    uint8_t buf[16384];
    uint64_t off = 0;
    while (off < n) {
        uint64_t k = n - off < sizeof buf ? n - off : sizeof buf;
        sk_fill(buf, off, k, key);
        if (memcmp(buf, data + off, (size_t)k) != 0) return false;
        off += k;
    }
    return true;
}

/* Checks the outcome of a done future against its record; counts it; returns its status. */
static int verify(rec *r, cf_future *f) {
    const void *d = NULL;
    size_t n = 0;
    int st, code, outcome = -1;
    const char *msg;
    sk_result res;
    EXPECT(cf_future_done(f), r, -1, f);
    st = (int)cf_future_result(f, 0.0, &d, &n);
    EXPECT(st != CF_TIMEOUT, r, st, f);
    EXPECT((int)cf_future_exception(f, 0.0) == st, r, st, f);
    EXPECT(!cf_future_running(f), r, st, f);
    code = cf_future_error_code(f);
    msg = cf_future_error_message(f);
    if (r->cancel_true || st == CF_CANCELLED) {
        EXPECT(st == CF_CANCELLED, r, st, f);
        EXPECT(r->cancel_true || r->may_cancel, r, st, f);
        EXPECT(cf_future_cancelled(f), r, st, f);
        outcome = r->cancel_true ? O_CANCELLED : O_CANCELLED_SHUTDOWN;
        goto done;
    }
    EXPECT(!cf_future_cancelled(f), r, st, f);
    if (st == CF_TASK_EXPIRED && r->may_expire && r->kind != K_HANG && r->kind != K_HANG_TERM) {
        /* The loaded machine kept a short task past the limit (it counts from the start). */
        EXPECT(contains(msg, "time limit"), r, st, f);
        note_pid(pid_in(msg));
        outcome = O_EXPIRED_LOAD;
        goto done;
    }
    switch (r->kind) {
    case K_ECHO:
        EXPECT(st == CF_OK, r, st, f);
        EXPECT(n == r->len, r, st, f);
        EXPECT(pattern_ok((const uint8_t *)d, n, r->key), r, st, f);
        outcome = O_OK;
        break;
    case K_DIGEST:
        EXPECT(st == CF_OK, r, st, f);
        EXPECT(n == sizeof res + r->len, r, st, f);
        memcpy(&res, d, sizeof res);
        EXPECT(res.in_len == r->in_len && res.in_digest == r->in_digest, r, st, f);
        EXPECT(res.key == r->key, r, st, f);
        EXPECT(pattern_ok((const uint8_t *)d + sizeof res, r->len, r->key), r, st, f);
        if (r->es->process) note_pid(res.pid);
        outcome = O_OK;
        break;
    case K_SLEEP:
    case K_BLOCK:
        EXPECT(st == CF_OK, r, st, f);
        EXPECT(n == sizeof res, r, st, f);
        memcpy(&res, d, sizeof res);
        EXPECT(res.tag == r->code, r, st, f);
        EXPECT((res.pid == (int)getpid()) == !r->es->process, r, st, f);
        if (r->es->process) note_pid(res.pid);
        outcome = O_OK;
        break;
    case K_FAIL: {
        char want[64];
        snprintf(want, sizeof want, SK_FAIL_FMT, r->code);
        EXPECT(st == CF_TASK_FAILED, r, st, f);
        EXPECT(code == r->code, r, st, f);
        EXPECT(msg != NULL && strcmp(msg, want) == 0, r, st, f);
        outcome = O_FAILED;
        break;
    }
    case K_ABORT:
    case K_SEGV: {
        bool ab = r->kind == K_ABORT;
        EXPECT(st == CF_WORKER_DIED, r, st, f);
        EXPECT(code == (ab ? -SIGABRT : -SIGSEGV), r, st, f);
        EXPECT(contains(msg, ab ? "SIGABRT" : "SIGSEGV"), r, st, f);
        EXPECT(contains(msg, "signal") && contains(msg, "worker"), r, st, f);
        EXPECT(pid_in(msg) > 0, r, st, f);
        note_pid(pid_in(msg));
        outcome = ab ? O_DIED_ABRT : O_DIED_SEGV;
        break;
    }
    case K_EXIT:
    case K_EXIT0: {
        char want[64];
        int c = r->kind == K_EXIT ? r->code : 0;
        snprintf(want, sizeof want, "exited with status %d", c);
        EXPECT(st == CF_WORKER_DIED, r, st, f);
        EXPECT(code == c, r, st, f);
        EXPECT(contains(msg, want) && !contains(msg, "signal"), r, st, f);
        EXPECT(pid_in(msg) > 0, r, st, f);
        note_pid(pid_in(msg));
        outcome = O_DIED_EXIT;
        break;
    }
    case K_HANG:
    case K_HANG_TERM:
        EXPECT(st == CF_TASK_EXPIRED, r, st, f);
        EXPECT(contains(msg, "time limit"), r, st, f);
        EXPECT(pid_in(msg) > 0, r, st, f);
        note_pid(pid_in(msg));
        outcome = O_EXPIRED;
        break;
    default:
        /* A poisoned task must have been cancelled (checked above). */
        EXPECT(!"a poisoned task was cancelled", r, st, f);
    }
done:
    pthread_mutex_lock(&g_lock);
    g_st.outcomes[outcome]++;
    pthread_mutex_unlock(&g_lock);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Done-callbacks                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void count_cb(cf_future *f, void *user) {
    rec *r = (rec *)user;
    (void)f;
    pthread_mutex_lock(&g_lock);
    r->callbacks++;
    g_st.callbacks++;
    pthread_mutex_unlock(&g_lock);
}

/* RE04: waits on its own (done) future every way there is; all return at once. */
static void wait_own_cb(cf_future *f, void *user) {
    rec *r = (rec *)user;
    const void *d = NULL;
    size_t n = 0, nd = 0, idx = 9;
    bool done[2] = {false, false};
    cf_future *fs[2];
    cf_future *got = NULL;
    cf_as_completed *it = NULL;
    int st = (int)cf_future_result(f, CF_FOREVER, &d, &n);
    CHECK(st != CF_TIMEOUT);
    CHECK_STATUS(cf_future_exception(f, CF_FOREVER), st);
    fs[0] = f;
    fs[1] = f;
    CHECK_STATUS(cf_wait(fs, 2, CF_FOREVER, CF_ALL_COMPLETED, done, &nd), CF_OK);
    CHECK(done[0] && done[1]);
    CHECK_EQ_INT(nd, 1);
    CHECK_STATUS(cf_as_completed_new(fs, 2, CF_FOREVER, &it), CF_OK);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_OK);
    CHECK(got == f);
    CHECK_EQ_INT(idx, 0);
    CHECK_STATUS(cf_as_completed_next(it, &got, &idx), CF_DONE);
    cf_as_completed_free(it);
    CHECK(cf_future_cancel(f) == (st == CF_CANCELLED));
    pthread_mutex_lock(&g_lock);
    r->reent_runs++;
    r->seen_status = st;
    g_st.reent[R_WAIT_OWN]++;
    pthread_mutex_unlock(&g_lock);
}

/* RE03: checks its future, then drops the last reference the program holds. */
static void free_own_cb(cf_future *f, void *user) {
    rec *r = (rec *)user;
    int calls;
    verify(r, f);
    cf_future_free(f);
    pthread_mutex_lock(&g_lock);
    calls = r->callbacks;
    r->reent_runs++;
    r->verified = true;
    r->es->selffree_pending--;
    g_st.reent[R_FREE_OWN]++;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    /* The counting callback was added first: it has run. */
    EXPECT(calls == 1, r, CF_OK, (cf_future *)NULL);
}

static void attach(rec *r, cf_future *f);

/* An echo payload of `len` pattern bytes of `key` (caller frees). */
static uint8_t *echo_payload(uint64_t key, uint64_t len) {
    uint8_t *p = (uint8_t *)malloc(len ? (size_t)len : 1);
    CHECK(p != NULL);
    sk_fill(p, 0, len, key);
    return p;
}

/* RE02: submits the next link of its chain on the same executor. After the executor's
 * shutdown has begun the submit may give CF_SHUTDOWN, and the chain ends there. */
static void chain_cb(cf_future *f, void *user) {
    rec *r = (rec *)user;
    exec_state *es = r->es;
    (void)f;
    if (r->chain_left > 0) {
        uint64_t key = sk_mix(r->key), len = key % 512;
        uint8_t *p = echo_payload(key, len);
        cf_future *nf = NULL;
        int st = (int)cf_submit(es->ex, sk_echo, p, (size_t)len, &nf);
        free(p);
        if (st == CF_OK) {
            rec *n = new_rec(es, K_ECHO);
            n->key = key;
            n->len = len;
            n->reent = R_CHAIN;
            n->chain_left = r->chain_left - 1;
            pthread_mutex_lock(&g_lock);
            es->chain_submitted++;
            g_st.chain_links++;
            pthread_mutex_unlock(&g_lock);
            attach(n, nf);
        } else {
            bool sd;
            pthread_mutex_lock(&g_lock);
            sd = es->shutting_down;
            g_st.chain_refused++;
            pthread_mutex_unlock(&g_lock);
            CHECK_STATUS(st, CF_SHUTDOWN);
            CHECK(sd);
        }
    }
    pthread_mutex_lock(&g_lock);
    r->reent_runs++;
    es->chain_callbacks++;
    g_st.reent[R_CHAIN]++;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

/* Gives the future to its record and adds its callbacks (the counting one first). With
 * R_FREE_OWN the future belongs to its callback afterwards. */
static void attach(rec *r, cf_future *f) {
    CHECK(f != NULL);
    pthread_mutex_lock(&g_lock);
    r->f = r->reent == R_FREE_OWN ? NULL : f;
    pthread_mutex_unlock(&g_lock);
    CHECK_STATUS(cf_future_add_done_callback(f, count_cb, r), CF_OK);
    switch (r->reent) {
    case R_WAIT_OWN:
        CHECK_STATUS(cf_future_add_done_callback(f, wait_own_cb, r), CF_OK);
        break;
    case R_FREE_OWN:
        pthread_mutex_lock(&g_lock);
        r->es->selffree_pending++;
        pthread_mutex_unlock(&g_lock);
        CHECK_STATUS(cf_future_add_done_callback(f, free_own_cb, r), CF_OK);
        break;
    case R_CHAIN:
        CHECK_STATUS(cf_future_add_done_callback(f, chain_cb, r), CF_OK);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Submitting                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static sk_arg base_arg(void) {
    sk_arg a;
    memset(&a, 0, sizeof a);
    return a;
}

/* Picks a task kind the executor can run (crashes and hangs only in process pools, hangs
 * only under a time limit). */
static int pick_kind(exec_state *es, rng *r) {
    unsigned x = (unsigned)rnd(r, 100);
    if (!es->process) {
        if (x < 35) return K_ECHO;
        if (x < 50) return K_DIGEST;
        if (x < 75) return K_SLEEP;
        return K_FAIL;
    }
    if (x < 24) return K_ECHO;
    if (x < 36) return K_DIGEST;
    if (x < 48) return K_SLEEP;
    if (x < 58) return K_FAIL;
    if (x < 67) return K_ABORT;
    if (x < 76) return K_SEGV;
    if (x < 84) return K_EXIT;
    if (x < 88) return K_EXIT0;
    if (x < 97) return es->limit > 0 ? K_HANG : K_ECHO;
    return es->limit > 0 ? K_HANG_TERM : K_SLEEP;
}

static int pick_reent(rng *r, bool any) {
    unsigned x = (unsigned)rnd(r, 100);
    if (x < 8) return R_WAIT_OWN;
    if (!any) return R_NONE;
    if (x < 14) return R_FREE_OWN;
    if (x < 19) return R_CHAIN;
    return R_NONE;
}

/* Big payloads (MiBs) left for this round. */
static int g_big_left;

static uint64_t pick_size(rng *r, bool big) {
    if (big) return (1u << 20) + rnd(r, 7u << 20);
    if (chance(r, 10)) return 0;
    return rnd(r, 65536);
}

/* Submits one task of `kind` on es with the re-entrant callback `reent`; returns its record
 * (whose f is NULL for R_FREE_OWN). `report`/`gate` are FIFO paths for K_BLOCK. */
static rec *submit_job(exec_state *es, rng *r, int kind, int reent, const char *report,
                       const char *gate, int tag) {
    rec *rc = new_rec(es, kind);
    sk_arg a = base_arg();
    uint8_t *buf = NULL;
    size_t len = sizeof a;
    const void *arg = NULL;
    cf_future *f = NULL;
    rc->reent = reent;
    if (reent == R_CHAIN) rc->chain_left = 1 + (int)rnd(r, 20);
    switch (kind) {
    case K_ECHO:
        rc->key = rng_next(r);
        rc->len = rnd(r, 4096);
        buf = echo_payload(rc->key, rc->len);
        arg = buf;
        len = (size_t)rc->len;
        break;
    case K_DIGEST: {
        bool big_in = g_big_left > 0 && chance(r, 30);
        bool big_out = g_big_left > 0 && chance(r, 30);
        uint64_t in_key = rng_next(r);
        g_big_left -= (int)big_in + (int)big_out;
        rc->in_len = pick_size(r, big_in);
        rc->key = rng_next(r);
        rc->len = pick_size(r, big_out);
        a.key = rc->key;
        a.out_len = rc->len;
        a.tag = tag;
        len = sizeof a + (size_t)rc->in_len;
        buf = (uint8_t *)malloc(len);
        CHECK(buf != NULL);
        memcpy(buf, &a, sizeof a);
        sk_fill(buf + sizeof a, 0, rc->in_len, in_key);
        rc->in_digest = sk_digest_bytes(buf + sizeof a, (size_t)rc->in_len);
        arg = buf;
        pthread_mutex_lock(&g_lock);
        g_st.bytes_in += (double)rc->in_len;
        g_st.bytes_out += (double)rc->len;
        pthread_mutex_unlock(&g_lock);
        break;
    }
    case K_SLEEP:
        a.sleep_ms = 1 + (uint32_t)rnd(r, 30);
        a.tag = (int32_t)a.sleep_ms;
        rc->code = a.tag;
        break;
    case K_BLOCK:
        CHECK(report && gate);
        snprintf(a.report, sizeof a.report, "%s", report);
        snprintf(a.gate, sizeof a.gate, "%s", gate);
        a.tag = tag;
        rc->code = tag;
        break;
    case K_FAIL:
        a.code = 1 + (int32_t)rnd(r, 200);
        rc->code = a.code;
        break;
    case K_EXIT:
        a.code = 1 + (int32_t)rnd(r, 120);
        rc->code = a.code;
        break;
    default:
        break;
    }
    if (!arg) arg = &a;
    CHECK_STATUS(cf_submit(es->ex, kind_fn(kind), arg, len, &f), CF_OK);
    free(buf);
    if (reent == R_CHAIN) {
        pthread_mutex_lock(&g_lock);
        es->chain_submitted++;
        pthread_mutex_unlock(&g_lock);
    }
    attach(rc, f);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Waiting                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Waits (bounded) until every chain link of es has run its callback and every future that
 * frees itself has been checked: nothing more will be submitted from a callback. */
static void wait_callbacks(exec_state *es) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)LONG_WAIT;
    pthread_mutex_lock(&g_lock);
    while (es->chain_callbacks != es->chain_submitted || es->selffree_pending != 0) {
        int rc = pthread_cond_timedwait(&g_cond, &g_lock, &ts);
        if (rc == ETIMEDOUT) {
            fprintf(stderr,
                    "soak: executor #%d: chain links %ld submitted, %ld callbacks; %ld "
                    "self-freeing futures pending after %.0f s\n",
                    es->id, es->chain_submitted, es->chain_callbacks, es->selffree_pending,
                    LONG_WAIT);
            pthread_mutex_unlock(&g_lock);
            CHECK(!"callbacks ran within the bound (O1, O6)");
        }
    }
    pthread_mutex_unlock(&g_lock);
}

/* The futures we hold of executor es (all executors for NULL); caller frees the array. */
static cf_future **held_futures(exec_state *es, size_t *n) {
    cf_future **fs;
    size_t i, k = 0;
    pthread_mutex_lock(&g_lock);
    fs = (cf_future **)malloc((g_nrecs + 1) * sizeof *fs);
    CHECK(fs != NULL);
    for (i = 0; i < g_nrecs; i++)
        if (g_recs[i]->f && (!es || g_recs[i]->es == es)) fs[k++] = g_recs[i]->f;
    pthread_mutex_unlock(&g_lock);
    *n = k;
    return fs;
}

/* cf_wait(ALL) on fs must finish within the bound, all of them done. */
static void wait_all_done(cf_future **fs, size_t n) {
    bool *done = (bool *)calloc(n + 1, sizeof *done);
    size_t nd = 0, i;
    CHECK(done != NULL);
    CHECK_STATUS(cf_wait(fs, n, LONG_WAIT, CF_ALL_COMPLETED, done, &nd), CF_OK);
    for (i = 0; i < n; i++) CHECK(done[i] && cf_future_done(fs[i]));
    free(done);
    stat_add(&g_st.waits, 1);
}

/* Everything of es is done and no callback will submit more. */
static void quiesce(exec_state *es) {
    size_t n;
    cf_future **fs;
    wait_callbacks(es);
    fs = held_futures(es, &n);
    wait_all_done(fs, n);
    free(fs);
}

/* Whether f occurs in fs[0..n) before position i. */
static bool seen_before(cf_future *const *fs, size_t i, cf_future *f) {
    size_t j;
    for (j = 0; j < i; j++)
        if (fs[j] == f) return true;
    return false;
}

static size_t distinct(cf_future *const *fs, size_t n) {
    size_t i, k = 0;
    for (i = 0; i < n; i++)
        if (!seen_before(fs, i, fs[i])) k++;
    return k;
}

/* as_completed over fs with `timeout`: each yielded future is done, is fs[index] at its first
 * position and comes once. Returns how many were yielded; *timed_out tells how it ended.
 * `forbidden` (if not NULL) must never be yielded. */
static size_t check_as_completed(cf_future **fs, size_t n, double timeout, bool *timed_out,
                                 cf_future *const *forbidden, size_t n_forbidden) {
    cf_as_completed *it = NULL;
    bool *yielded = (bool *)calloc(n + 1, sizeof *yielded);
    size_t got = 0, i;
    CHECK(yielded != NULL);
    CHECK_STATUS(cf_as_completed_new(fs, n, timeout, &it), CF_OK);
    *timed_out = false;
    for (;;) {
        cf_future *f = NULL;
        size_t idx = n + 1;
        int st = (int)cf_as_completed_next(it, &f, &idx);
        if (st == CF_DONE) break;
        if (st == CF_TIMEOUT) {
            CHECK(timeout >= 0 && timeout < LONG_WAIT);
            CHECK(contains(cf_last_error(), "unfinished"));
            *timed_out = true;
            break;
        }
        CHECK_STATUS(st, CF_OK);
        CHECK(idx < n);
        CHECK(fs[idx] == f);
        CHECK(!seen_before(fs, idx, f));
        CHECK(!yielded[idx]);
        CHECK(cf_future_done(f));
        for (i = 0; i < n_forbidden; i++) CHECK(f != forbidden[i]);
        yielded[idx] = true;
        got++;
    }
    if (!*timed_out) CHECK_EQ_INT(got, distinct(fs, n));
    /* Once every future has been handed out, the iterator stays finished. (After a timeout
     * a future that finished since may still come.) */
    if (!*timed_out) {
        cf_future *f = NULL;
        CHECK_STATUS(cf_as_completed_next(it, &f, NULL), CF_DONE);
    }
    cf_as_completed_free(it);
    free(yielded);
    pthread_mutex_lock(&g_lock);
    g_st.as_completed++;
    g_st.ac_timeouts += *timed_out;
    pthread_mutex_unlock(&g_lock);
    return got;
}

/* cf_wait over fs with a random timeout and condition; checks what it reports. */
static void check_wait(cf_future **fs, size_t n, rng *r) {
    static const double timeouts[] = {0.0, 0.01, 0.1, CF_FOREVER, LONG_WAIT};
    double t = timeouts[rnd(r, 5)];
    int when = (int)rnd(r, 3);
    bool *done = (bool *)calloc(n + 1, sizeof *done);
    size_t nd = 0, i, k = 0;
    int st;
    bool failed = false;
    CHECK(done != NULL);
    st = (int)cf_wait(fs, n, t, (cf_return_when)when, done, &nd);
    CHECK(st == CF_OK || (st == CF_TIMEOUT && t >= 0 && t < LONG_WAIT));
    for (i = 0; i < n; i++) {
        if (done[i]) {
            CHECK(cf_future_done(fs[i]));
            if (!seen_before(fs, i, fs[i])) k++;
            if (!cf_future_cancelled(fs[i]) && cf_future_exception(fs[i], 0.0) != CF_OK)
                failed = true;
        }
    }
    CHECK_EQ_INT(nd, k);
    if (st == CF_OK) {
        size_t dn = distinct(fs, n);
        if (when == CF_ALL_COMPLETED) CHECK_EQ_INT(nd, dn);
        if (when == CF_FIRST_COMPLETED) CHECK(nd >= 1 || dn == 0);
        if (when == CF_FIRST_EXCEPTION) CHECK(failed || nd == dn);
    }
    free(done);
    pthread_mutex_lock(&g_lock);
    g_st.waits++;
    g_st.wait_timeouts += st == CF_TIMEOUT;
    pthread_mutex_unlock(&g_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* FIFOs (gated tasks)                                                                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct fifo {
    char path[SK_PATH_MAX];
    int fd;
} fifo;

static void fifo_open(fifo *f, const char *name) {
    static int seq;
    snprintf(f->path, sizeof f->path, "%s/%s-%d", g_dir, name, seq++);
    unlink(f->path);
    if (mkfifo(f->path, 0600) != 0) {
        perror(f->path);
        cft_die();
    }
    f->fd = open(f->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    CHECK(f->fd >= 0);
}

static void fifo_close(fifo *f) {
    unlink(f->path);
    close(f->fd);
    f->fd = -1;
}

/* Reads one report (bounded wait). */
static sk_report read_report(fifo *f) {
    struct pollfd p;
    sk_report rep;
    double end = now_s() + LONG_WAIT;
    for (;;) {
        ssize_t n;
        int rc, ms = (int)((end - now_s()) * 1000);
        CHECK(ms > 0 && "a gated task reported its start within the bound");
        p.fd = f->fd;
        p.events = POLLIN;
        p.revents = 0;
        rc = poll(&p, 1, ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) continue;
        n = read(f->fd, &rep, sizeof rep);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        CHECK_EQ_INT(n, sizeof rep);
        return rep;
    }
}

static void release(fifo *g, int n) {
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

/* ------------------------------------------------------------------------------------------ */
/* Events                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A batch of random tasks with random callbacks, then sometimes a wait or an as_completed
 * over what we hold of it. */
static void ev_batch(exec_state *es, rng *r, bool final) {
    int k = 2 + (int)rnd(r, 10), i;
    cf_future *fs[16];
    size_t n = 0;
    for (i = 0; i < k; i++) {
        int kind = pick_kind(es, r);
        /* No chain in the last batch before a free: a callback cannot submit to a freed
         * executor. */
        int re = pick_reent(r, true);
        rec *rc;
        if (final && re == R_CHAIN) re = R_NONE;
        rc = submit_job(es, r, kind, re, NULL, NULL, i);
        if (rc->f) fs[n++] = rc->f;
    }
    if (n > 0 && chance(r, 25)) { /* a duplicate (BI09) */
        fs[n] = fs[rnd(r, n)];
        n++;
    }
    if (n > 0 && chance(r, 45)) {
        if (chance(r, 50)) {
            static const double timeouts[] = {0.0, 0.02, 0.2, CF_FOREVER};
            bool to;
            check_as_completed(fs, n, timeouts[rnd(r, 4)], &to, NULL, 0);
        } else {
            check_wait(fs, n, r);
        }
    }
}

/* Gated tasks hold the workers; victims queued behind them are cancelled (TO09), and waits
 * with deadlines see exactly what can be done (TO04, TO12). Strict (every worker held, so
 * every cancel must succeed) for thread pools and one-worker process pools; a process pool
 * may send a task ahead to a busy worker, so with several workers only some are held and the
 * cancels are checked leniently (a victim that ran has its normal outcome). */
static void ev_gate(exec_state *es, rng *r) {
    fifo rep, gate;
    bool strict = !es->process || es->workers == 1;
    int nb = strict ? (int)es->workers : 1 + (int)rnd(r, es->workers);
    int nv = 1 + (int)rnd(r, 6), i;
    cf_future *fs[32], *blockers[8];
    rec *victims[8];
    size_t n = 0;
    bool to;
    int cancelled = 0;
    const void *d;
    size_t len;

    quiesce(es);
    fifo_open(&rep, "rep");
    fifo_open(&gate, "gate");
    for (i = 0; i < nb; i++) {
        rec *b = submit_job(es, r, K_BLOCK, chance(r, 20) ? R_WAIT_OWN : R_NONE, rep.path,
                            gate.path, i);
        blockers[i] = b->f;
        fs[n++] = b->f;
    }
    if (strict) {
        for (i = 0; i < nb; i++) {
            sk_report rp = read_report(&rep);
            CHECK(rp.tag >= 0 && rp.tag < nb);
            if (es->process) note_pid(rp.pid);
        }
    }
    /* TO04: a zero timeout on a pending future polls. */
    CHECK_STATUS(cf_future_result(blockers[0], 0.0, &d, &len), CF_TIMEOUT);
    CHECK(!cf_future_done(blockers[0]));
    for (i = 0; i < nv; i++) {
        int kind;
        unsigned x = (unsigned)rnd(r, 100);
        if (strict && x < 40) {
            kind = es->process ? K_ABORT : K_POISON; /* would break everything if it ran */
        } else if (x < 60) {
            kind = K_ECHO;
        } else if (x < 80) {
            kind = K_FAIL;
        } else {
            kind = es->process ? K_SEGV : K_SLEEP;
        }
        victims[i] = submit_job(es, r, kind, pick_reent(r, false), NULL, NULL, 100 + i);
        fs[n++] = victims[i]->f;
    }
    for (i = 0; i < nv; i++) {
        cf_future *v = victims[i]->f;
        bool c = cf_future_cancel(v);
        if (strict) CHECK(c && "a task queued behind held workers can be cancelled");
        victims[i]->cancel_true = c;
        if (c) {
            cancelled++;
            CHECK(cf_future_cancel(v)); /* true again: it is cancelled */
            CHECK(cf_future_cancelled(v) && cf_future_done(v));
            CHECK_STATUS(cf_future_result(v, 0.0, &d, &len), CF_CANCELLED);
        }
    }
    pthread_mutex_lock(&g_lock);
    g_st.gate_episodes++;
    g_st.strict_episodes += strict;
    g_st.cancels_true += cancelled;
    g_st.cancels_false += nv - cancelled;
    pthread_mutex_unlock(&g_lock);
    fs[n] = fs[rnd(r, n)]; /* a duplicate */
    n++;

    /* No blocker can finish while the gate is shut: every deadline below must pass. */
    {
        bool done[32];
        size_t nd = 99;
        double t = chance(r, 50) ? 0.0 : 0.05;
        CHECK_STATUS(cf_wait(fs, n, t, CF_ALL_COMPLETED, done, &nd), CF_TIMEOUT);
        for (i = 0; i < nb; i++) CHECK(!done[i]);
        if (strict) CHECK_EQ_INT(nd, nv);
        if (cancelled > 0) {
            CHECK_STATUS(cf_wait(fs, n, LONG_WAIT, CF_FIRST_COMPLETED, done, &nd), CF_OK);
            CHECK(nd >= 1);
        }
        if (strict) {
            /* Cancelled is not an exception: nothing failed, so the deadline passes. */
            CHECK_STATUS(cf_wait(fs, n, 0.02, CF_FIRST_EXCEPTION, done, &nd), CF_TIMEOUT);
        }
        check_as_completed(fs, n, chance(r, 50) ? 0.0 : 0.1, &to, blockers, (size_t)nb);
        CHECK(to);
        pthread_mutex_lock(&g_lock);
        g_st.waits += 2;
        g_st.wait_timeouts += 1 + strict;
        pthread_mutex_unlock(&g_lock);
    }
    release(&gate, nb);
    /* Every blocker is done before the FIFOs go (one may not have opened them yet). */
    if (chance(r, 50)) {
        check_as_completed(fs, n, chance(r, 50) ? CF_FOREVER : LONG_WAIT, &to, NULL, 0);
        CHECK(!to);
    } else {
        wait_all_done(blockers, (size_t)nb);
    }
    fifo_close(&rep);
    fifo_close(&gate);
}

/* A burst of short tasks, then the later half cancelled: whatever had not started is
 * cancelled (cancel returns true), the rest finishes normally. */
static void ev_cancel_burst(exec_state *es, rng *r) {
    int k = 4 + (int)rnd(r, 12), i, c = 0;
    rec *recs[16];
    for (i = 0; i < k; i++)
        recs[i] = submit_job(es, r, chance(r, 60) ? K_SLEEP : K_ECHO, pick_reent(r, false),
                             NULL, NULL, i);
    for (i = k - 1; i >= k / 2; i--) {
        bool ok = cf_future_cancel(recs[i]->f);
        recs[i]->cancel_true = ok;
        if (ok) {
            CHECK(cf_future_cancel(recs[i]->f));
            c++;
        }
    }
    pthread_mutex_lock(&g_lock);
    g_st.bursts++;
    g_st.cancels_true += c;
    g_st.cancels_false += (k - k / 2) - c;
    pthread_mutex_unlock(&g_lock);
}

/* cf_map over sk_square with chunks; sometimes an item fails (TASK_FAILED at that index, then
 * the iterator is finished), sometimes the iterator is freed early. */
static void ev_map(exec_state *es, rng *r) {
    size_t n = (size_t)rnd(r, 300), chunk = 1 + (size_t)rnd(r, 32), i;
    long fail_at = -1, early = -1;
    int64_t *vals = (int64_t *)malloc((n + 1) * sizeof *vals);
    double timeout = chance(r, 50) ? CF_FOREVER : LONG_WAIT;
    cf_map_iter *it = NULL;
    bool finished = false;
    CHECK(vals != NULL);
    for (i = 0; i < n; i++) vals[i] = (int64_t)rnd(r, 1u << 20);
    if (n > 0 && chance(r, 20)) {
        fail_at = (long)rnd(r, n);
        vals[fail_at] = -1 - (int64_t)rnd(r, 1000);
    }
    if (n > 1 && chance(r, 15)) early = (long)rnd(r, n);
    CHECK_STATUS(cf_map(es->ex, sk_square, vals, sizeof *vals, n, timeout, chunk, &it), CF_OK);
    for (i = 0; i < n; i++) {
        const void *d = NULL;
        size_t len = 0;
        int st;
        int64_t y;
        if ((long)i == early) break;
        st = (int)cf_map_next(it, &d, &len);
        if (st == CF_TASK_EXPIRED && es->limit > 0) {
            /* As for a single task: a stalled chunk may outrun k times the limit. */
            CHECK(contains(cf_last_error(), "time limit"));
            stat_add(&g_st.map_expired, 1);
            finished = true;
            break;
        }
        if ((long)i == fail_at) {
            CHECK_STATUS(st, CF_TASK_FAILED);
            CHECK_EQ_INT(cf_map_error_code(it), SK_SQUARE_NEGATIVE);
            CHECK(contains(cf_last_error(), "negative input"));
            stat_add(&g_st.map_failures, 1);
            finished = true;
            break;
        }
        CHECK_STATUS(st, CF_OK);
        CHECK_EQ_INT(len, sizeof y);
        memcpy(&y, d, sizeof y);
        CHECK(y == vals[i] * vals[i]);
        stat_add(&g_st.map_items, 1);
    }
    if ((long)i == early) {
        stat_add(&g_st.map_early, 1);
    } else {
        const void *d = NULL;
        size_t len = 0;
        (void)finished;
        CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
        CHECK_STATUS(cf_map_next(it, &d, &len), CF_DONE);
    }
    cf_map_free(it);
    free(vals);
    stat_add(&g_st.maps, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Executors                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static int g_exec_seq;

static void make_exec(exec_state *es, rng *r) {
    static const double limits[] = {0.2, 0.25, 0.3, 0.5};
    cf_executor_options *o = cf_executor_options_new();
    unsigned x;
    CHECK(o != NULL);
    memset(es, 0, sizeof *es);
    es->id = g_exec_seq++;
    es->process = chance(r, 65);
    if (es->process) {
        es->method = (int)rnd(r, 3);
        es->workers = 1 + (uint32_t)rnd(r, 3);
        es->limit = chance(r, 35) ? limits[rnd(r, 4)] : 0.0;
        es->max_tasks = chance(r, 25) ? 1 + rnd(r, 3) : 0;
        CHECK_STATUS(cf_executor_options_set_start_method(o, (cf_start_method)es->method),
                     CF_OK);
        if (es->limit > 0)
            CHECK_STATUS(cf_executor_options_set_task_timeout(o, es->limit), CF_OK);
        if (es->max_tasks)
            CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(o, es->max_tasks), CF_OK);
    } else {
        es->workers = 1 + (uint32_t)rnd(r, 4);
        CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, "soak"), CF_OK);
    }
    x = (unsigned)rnd(r, 100);
    es->end_mode = x < 30 ? E_WAIT : x < 60 ? E_FREE : x < 85 ? E_CANCEL : E_NOWAIT;
    es->ex = cf_executor_new(es->process ? CF_PROCESS_POOL : CF_THREAD_POOL, es->workers, o);
    CHECK(es->ex != NULL);
    cf_executor_options_free(o);
    if (g_verbose)
        fprintf(stderr, "soak: round %" PRIu64 ": executor #%d: %s %s, %u workers, limit %.2f, "
                "max_tasks %" PRIu64 ", end: %s\n", g_round, es->id,
                es->process ? "process" : "thread", es->process ? method_name[es->method] : "",
                es->workers, es->limit, es->max_tasks, end_name[es->end_mode]);
    pthread_mutex_lock(&g_lock);
    g_st.executors++;
    g_st.exec_kind[es->process ? 1 + es->method : 0]++;
    g_st.end_modes[es->end_mode]++;
    pthread_mutex_unlock(&g_lock);
}

/* Records every live descendant (workers, fork server): they must be gone after the round. */
static void note_descendants(void) {
    int pids[256], n, i;
    n = descendants_of((int)getpid(), pids, 256);
    for (i = 0; i < n; i++) note_pid(pids[i]);
}

static void submit_after_shutdown(exec_state *es) {
    cf_future *f = NULL;
    CHECK_STATUS(cf_submit(es->ex, sk_echo, "x", 1, &f), CF_SHUTDOWN);
    CHECK(f == NULL);
    stat_add(&g_st.after_shutdown, 1);
}

static void set_shutting_down(exec_state *es) {
    pthread_mutex_lock(&g_lock);
    es->shutting_down = true;
    pthread_mutex_unlock(&g_lock);
}

static void end_exec(exec_state *es, rng *r) {
    size_t n;
    cf_future **fs;
    switch (es->end_mode) {
    case E_WAIT: /* SD01: queued work runs, then the workers exit */
        wait_callbacks(es);
        note_descendants();
        set_shutting_down(es);
        CHECK_STATUS(cf_executor_shutdown(es->ex, true, false), CF_OK);
        submit_after_shutdown(es);
        fs = held_futures(es, &n);
        /* Everything ran: nothing is left pending after a waiting shutdown. */
        wait_all_done(fs, n);
        free(fs);
        break;
    case E_FREE: /* SD07: free with work pending; the futures still complete */
        wait_callbacks(es);
        ev_batch(es, r, true);
        note_descendants();
        break;
    case E_CANCEL: /* TO14: queued work is cancelled, running work finishes */
        ev_batch(es, r, true);
        note_descendants();
        set_shutting_down(es);
        CHECK_STATUS(cf_executor_shutdown(es->ex, false, true), CF_OK);
        submit_after_shutdown(es);
        wait_callbacks(es);
        fs = held_futures(es, &n);
        wait_all_done(fs, n);
        free(fs);
        break;
    default: /* SD02 */
        wait_callbacks(es);
        note_descendants();
        set_shutting_down(es);
        CHECK_STATUS(cf_executor_shutdown(es->ex, false, false), CF_OK);
        submit_after_shutdown(es);
        break;
    }
    cf_executor_free(es->ex);
    es->ex = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Rounds                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct sample {
    double t;
    uint64_t round;
    long rss;
} sample;

static sample *g_samples;
static size_t g_nsamples, g_capsamples;
static int g_base_fds, g_base_threads;
static long g_warm_max = -1;
static bool g_warm_done;
static long g_slack;

static long rss_bytes(void) {
    malloc_trim(0);
    return cft_rss_bytes();
}

static void print_samples(FILE *out) {
    size_t step = g_nsamples > 120 ? (g_nsamples + 119) / 120 : 1, i;
    fprintf(out, "  rss after each round (MiB)%s:", step > 1 ? " (every few rounds)" : "");
    for (i = 0; i < g_nsamples; i += step) {
        if ((i / step) % 12 == 0) fprintf(out, "\n   ");
        fprintf(out, " %" PRIu64 ":%.1f", g_samples[i].round, g_samples[i].rss / MIB);
    }
    if (g_nsamples && (g_nsamples - 1) % step != 0)
        fprintf(out, " ... %" PRIu64 ":%.1f", g_samples[g_nsamples - 1].round,
                g_samples[g_nsamples - 1].rss / MIB);
    fprintf(out, "\n");
}

/* Least-squares slope of RSS over time after the warm-up, in MiB per minute. */
static double rss_slope(void) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0, k = 0;
    size_t i;
    double warm = g_secs / 4;
    for (i = 0; i < g_nsamples; i++) {
        double x = g_samples[i].t, y = g_samples[i].rss / MIB;
        if (x < warm) continue;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        k++;
    }
    if (k < 2 || k * sxx - sx * sx <= 0) return 0;
    return (k * sxy - sx * sy) / (k * sxx - sx * sx) * 60.0;
}

/* The oracles after a round: resources back to baseline, no process left, flat memory. */
static void round_end_checks(void) {
    int kids[64], n, i;
    long rss;
    double t = now_s() - g_t0;
    CHECK_FDS_BACK_TO(g_base_fds);         /* O2 */
    CHECK_THREADS_BACK_TO(g_base_threads); /* O5 */
    n = children_of((int)getpid(), kids, 64);
    for (i = 0; i < n && i < 64; i++) {
        pstat s = read_pstat(kids[i]);
        fprintf(stderr, "soak: round %" PRIu64 ": child %d left (state %c)\n", g_round,
                kids[i], s.state ? s.state : '?');
    }
    CHECK(n == 0 && "no child process (zombie, worker, fork server) is left (O3)");
    for (i = 0; i < g_npids; i++) {
        pstat s = read_pstat(g_pids[i].pid);
        if (s.state != 0 && s.start == g_pids[i].start) {
            fprintf(stderr, "soak: round %" PRIu64 ": worker %d still exists (state %c)\n",
                    g_round, g_pids[i].pid, s.state);
            CHECK(!"every worker pid seen is gone (O3)");
        }
    }
    g_npids = 0;
    rss = rss_bytes();
    if (g_nsamples == g_capsamples) {
        size_t cap = g_capsamples ? g_capsamples * 2 : 256;
        sample *p = (sample *)realloc(g_samples, cap * sizeof *p);
        CHECK(p != NULL);
        g_samples = p;
        g_capsamples = cap;
    }
    g_samples[g_nsamples].t = t;
    g_samples[g_nsamples].round = g_round;
    g_samples[g_nsamples].rss = rss;
    g_nsamples++;
    if (!g_warm_done) {
        if (rss > g_warm_max) g_warm_max = rss;
        if (t >= g_secs / 4 && g_nsamples >= 3) {
            g_warm_done = true;
            fprintf(stderr, "soak: warm-up over after %zu rounds: rss limit %.1f MiB\n",
                    g_nsamples, (g_warm_max + g_slack) / MIB);
        }
    } else if (rss > g_warm_max + g_slack) {
        print_samples(stderr);
        fprintf(stderr,
                "soak: round %" PRIu64 ": rss %.1f MiB is above the warm-up maximum %.1f MiB "
                "+ %.0f MiB\n",
                g_round, rss / MIB, g_warm_max / MIB, g_slack / MIB);
        CHECK(!"memory stays flat");
    }
}

static void run_round(uint64_t round) {
    rng rr, *r = &rr;
    exec_state es[MAX_EXECS];
    int n_ex, n_ev, e, i, order[MAX_EXECS];
    size_t k;
    rr.s = sk_mix(g_seed) ^ sk_mix(round * 0xa0761d6478bd642full);
    g_round = round;
    g_big_left = 2;
    heartbeat();
    if (chance(r, 5)) { /* created and freed without a task: workers start lazily */
        exec_state idle;
        make_exec(&idle, r);
        cf_executor_free(idle.ex);
        stat_add(&g_st.idle_executors, 1);
    }
    n_ex = 1 + (int)rnd(r, MAX_EXECS);
    for (i = 0; i < n_ex; i++) make_exec(&es[i], r);
    n_ev = 3 + (int)rnd(r, 8);
    for (e = 0; e < n_ev; e++) {
        exec_state *x = &es[rnd(r, (uint64_t)n_ex)];
        unsigned what = (unsigned)rnd(r, 100);
        heartbeat();
        if (g_verbose)
            fprintf(stderr, "soak: round %" PRIu64 ": event %d on #%d: %s\n", g_round, e, x->id,
                    what < 45   ? "batch"
                    : what < 65 ? (x->limit > 0 ? "cancel burst" : "gate")
                    : what < 80 ? "cancel burst"
                                : "map");
        if (what < 45) {
            ev_batch(x, r, false);
        } else if (what < 65) {
            if (x->limit > 0)
                ev_cancel_burst(x, r);
            else
                ev_gate(x, r);
        } else if (what < 80) {
            ev_cancel_burst(x, r);
        } else {
            ev_map(x, r);
        }
    }
    heartbeat();
    if (chance(r, 40)) { /* BI11: one wait over the futures of every executor */
        cf_future **fs;
        for (i = 0; i < n_ex; i++) wait_callbacks(&es[i]);
        fs = held_futures(NULL, &k);
        wait_all_done(fs, k);
        free(fs);
        stat_add(&g_st.mixed_waits, 1);
    }
    /* End the executors in a random order (callbacks may be using es[]: shuffle indices). */
    for (i = 0; i < n_ex; i++) order[i] = i;
    for (i = n_ex - 1; i > 0; i--) {
        int j = (int)rnd(r, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (i = 0; i < n_ex; i++) {
        heartbeat();
        end_exec(&es[order[i]], r);
    }
    heartbeat();
    /* Every future of the round (O6, O7); the executors are gone, so are their callbacks. */
    for (k = 0; k < g_nrecs; k++) {
        rec *rc = g_recs[k];
        if (rc->reent == R_FREE_OWN) {
            EXPECT(rc->verified && rc->reent_runs == 1 && rc->callbacks == 1, rc, CF_OK,
                   (cf_future *)NULL);
        } else {
            int st = verify(rc, rc->f);
            EXPECT(rc->callbacks == 1, rc, st, rc->f);
            if (rc->reent == R_WAIT_OWN)
                EXPECT(rc->reent_runs == 1 && rc->seen_status == st, rc, st, rc->f);
            if (rc->reent == R_CHAIN) EXPECT(rc->reent_runs == 1, rc, st, rc->f);
            cf_future_free(rc->f);
        }
        free(rc);
    }
    g_nrecs = 0;
    round_end_checks();
    g_st.rounds++;
}

/* ------------------------------------------------------------------------------------------ */
/* Summary                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static long vm_hwm_bytes(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

static void print_summary(uint64_t first_round, double elapsed) {
    const stats *s = &g_st;
    long tasks = 0, died;
    int k;
    for (k = 0; k < K_N; k++) tasks += s->kinds[k];
    died = s->outcomes[O_DIED_ABRT] + s->outcomes[O_DIED_SEGV] + s->outcomes[O_DIED_EXIT];
    printf("soak: seed %" PRIu64 ", %.1f s, %ld rounds (%" PRIu64 " to %" PRIu64 ")\n", g_seed,
           elapsed, s->rounds, first_round, first_round + (uint64_t)s->rounds - 1);
    printf("  executors: %ld (thread pool %ld, forkserver %ld, fork %ld, spawn %ld) and %ld idle;"
           "\n    ended by %s %ld, %s %ld, %s %ld, %s %ld; %ld submits after shutdown refused\n",
           s->executors, s->exec_kind[0], s->exec_kind[1], s->exec_kind[2], s->exec_kind[3],
           s->idle_executors, end_name[0], s->end_modes[0], end_name[1], s->end_modes[1],
           end_name[2], s->end_modes[2], end_name[3], s->end_modes[3], s->after_shutdown);
    printf("  tasks: %ld submitted:", tasks);
    for (k = 0; k < K_N; k++) printf(" %s %ld%s", kind_name[k], s->kinds[k], k + 1 < K_N ? "," : "\n");
    printf("  outcomes: CF_OK %ld, CF_TASK_FAILED %ld, CF_WORKER_DIED %ld (SIGABRT %ld, SIGSEGV "
           "%ld, exit %ld), CF_TASK_EXPIRED %ld,\n    CF_CANCELLED %ld (by cancel %ld, by "
           "shutdown(cancel_futures) %ld); expired under load (accepted) %ld\n",
           s->outcomes[O_OK], s->outcomes[O_FAILED], died, s->outcomes[O_DIED_ABRT],
           s->outcomes[O_DIED_SEGV], s->outcomes[O_DIED_EXIT], s->outcomes[O_EXPIRED],
           s->outcomes[O_CANCELLED] + s->outcomes[O_CANCELLED_SHUTDOWN],
           s->outcomes[O_CANCELLED], s->outcomes[O_CANCELLED_SHUTDOWN],
           s->outcomes[O_EXPIRED_LOAD]);
    printf("  callbacks: %ld counting callbacks, each ran exactly once; re-entrant: waited on "
           "their own future %ld,\n    freed their own future %ld, chain links %ld (submitted "
           "from callbacks %ld, refused after shutdown %ld)\n",
           s->callbacks, s->reent[R_WAIT_OWN], s->reent[R_FREE_OWN], s->reent[R_CHAIN],
           s->chain_links, s->chain_refused);
    printf("  cancels: %ld gate episodes (%ld with every worker held), %ld bursts; cancel() "
           "true %ld, false %ld\n",
           s->gate_episodes, s->strict_episodes, s->bursts, s->cancels_true, s->cancels_false);
    printf("  map: %ld maps, %ld items checked, %ld failing items, %ld freed early, %ld "
           "expired under load\n",
           s->maps, s->map_items, s->map_failures, s->map_early, s->map_expired);
    printf("  waits: cf_wait %ld (%ld timed out), as_completed %ld (%ld timed out), %ld across "
           "all executors of a round\n",
           s->waits, s->wait_timeouts, s->as_completed, s->ac_timeouts, s->mixed_waits);
    printf("  payloads: %.1f MiB in, %.1f MiB out (digest tasks)\n", s->bytes_in / MIB,
           s->bytes_out / MIB);
    print_samples(stdout);
    printf("  rss: warm-up max %.1f MiB, last %.1f MiB, limit %.1f MiB, slope after warm-up "
           "%+.2f MiB/min; peak (VmHWM) %.1f MiB\n",
           g_warm_max / MIB, g_nsamples ? g_samples[g_nsamples - 1].rss / MIB : 0.0,
           (g_warm_max + g_slack) / MIB, rss_slope(), vm_hwm_bytes() / MIB);
    printf("  after every round: %d fds and %d threads (baseline), no child process, every "
           "worker pid gone\n",
           g_base_fds, g_base_threads);
}

/* ------------------------------------------------------------------------------------------ */
/* The soak (child of the supervisor)                                                         */
/* ------------------------------------------------------------------------------------------ */

static int soak_child(uint64_t first_round) {
    const char *slack = getenv("SOAK_RSS_SLACK_MIB");
    pthread_condattr_t ca;
    struct rlimit z;
    uint64_t round = first_round;
    double next_print;
    z.rlim_cur = 0;
    z.rlim_max = 0;
    setrlimit(RLIMIT_CORE, &z); /* crashing workers leave no core files */
    /* Every allocation above 256 KiB is its own mapping, returned at free: without this,
     * glibc raises the threshold after the first big free and keeps payload-sized blocks in
     * its arenas, which hides a leaked payload and makes RSS depend on fragmentation. */
    CHECK(mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1);
    /* Under Yama ptrace_scope 1 the supervisor's gdb (not our ancestor) may then attach. */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    signal(SIGPIPE, SIG_DFL); /* CR06: a write to a dead worker must not kill us */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cond, &ca);
    pthread_condattr_destroy(&ca);
    g_verbose = getenv("SOAK_VERBOSE") && *getenv("SOAK_VERBOSE") == '1';
    g_slack = (long)((slack && *slack ? atof(slack) : 32.0) * MIB);
    g_base_fds = cft_count_fds();
    g_base_threads = cft_count_threads();
    g_t0 = now_s();
    next_print = 10;
    while (now_s() - g_t0 < g_secs) {
        double t;
        run_round(round++);
        t = now_s() - g_t0;
        if (t >= next_print) {
            printf("soak: %5.1f s: %ld rounds, %ld executors, %ld callbacks; rss %.1f MiB, %d "
                   "fds, %d threads\n",
                   t, g_st.rounds, g_st.executors, g_st.callbacks,
                   g_samples[g_nsamples - 1].rss / MIB, g_base_fds, g_base_threads);
            next_print = t + 10;
        }
    }
    print_summary(first_round, now_s() - g_t0);
    free(g_samples);
    free(g_recs);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The supervisor: watchdog (O1) and orphans (O4)                                             */
/* ------------------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig) { g_stop = sig; }

/* Dumps the thread stacks of pid with gdb, from a forked helper (bounded to 60 s). */
static void run_gdb(int pid) {
    char p[32];
    pid_t g;
    int st, i;
    snprintf(p, sizeof p, "%d", pid);
    fflush(stdout);
    fflush(stderr);
    g = fork();
    if (g < 0) return;
    if (g == 0) {
        dup2(2, 1);
        execlp("gdb", "gdb", "-batch", "-nx", "-ex", "thread apply all bt", "-p", p,
               (char *)NULL);
        fprintf(stderr, "soak: cannot run gdb (%s): no stack dump\n", strerror(errno));
        _exit(127);
    }
    for (i = 0; i < 1200; i++) {
        if (waitpid(g, &st, WNOHANG) == g) return;
        cft_nap(50000000);
    }
    kill(g, SIGKILL);
    waitpid(g, &st, 0);
}

/* Live (not zombie) children of ours other than `except`; returns how many. */
static int live_orphans(pid_t except, int *out, int max) {
    int kids[256], n = children_of((int)getpid(), kids, 256), i, k = 0;
    for (i = 0; i < n && i < 256; i++) {
        pstat s;
        if (kids[i] == (int)except) continue;
        s = read_pstat(kids[i]);
        if (s.state == 0 || s.state == 'Z' || s.state == 'X') continue;
        if (k < max) out[k] = kids[i];
        k++;
    }
    return k;
}

static void replay_hint(uint32_t round) {
    fprintf(stderr,
            "soak: replay: scripts/soak %.0f %" PRIu64 "   (or start at the round: "
            "SOAK_FIRST_ROUND=%u scripts/soak %.0f %" PRIu64 ")\n",
            g_secs, g_seed, round, g_secs, g_seed);
}

/* Removes the FIFO directory (FIFOs a failed soak left behind included) if we made it. */
static void remove_dir(bool made) {
    DIR *d;
    struct dirent *e;
    char path[sizeof g_dir + 300];
    if (!made || !(d = opendir(g_dir))) return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(g_dir);
}

static int supervise(pid_t child, int hb, double stall, uint64_t first_round) {
    double last = now_s(), next_scan = 0;
    uint32_t round = (uint32_t)first_round;
    int status = 0, i;
    bool hb_open = true, o4 = false;
    long transient = 0;
    struct {
        int pid;
        double seen;
    } orph[64];
    int n_orph = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    for (;;) {
        struct pollfd p;
        pid_t w;
        int st;
        double t;
        p.fd = hb;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, hb_open ? 1 : 0, 200) > 0) {
            uint32_t buf[256];
            ssize_t n = read(hb, buf, sizeof buf);
            if (n >= (ssize_t)sizeof buf[0]) {
                round = buf[n / (ssize_t)sizeof buf[0] - 1];
                last = now_s();
            } else if (n == 0) {
                hb_open = false;
            }
        }
        while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
            if (w == child) {
                status = st;
                goto child_gone;
            }
            transient++; /* a descendant reparented to us, already dead */
        }
        t = now_s();
        if (g_stop) {
            fprintf(stderr, "soak: interrupted (signal %d) in round %u\n", (int)g_stop, round);
            killpg(child, SIGKILL);
            kill(child, SIGKILL);
            waitpid(child, &st, 0);
            return 130;
        }
        if (t - last > stall) {
            int pids[16], n;
            pids[0] = child;
            n = 1 + descendants_of(child, pids + 1, 15);
            fprintf(stderr,
                    "soak: WATCHDOG: no progress for %.0f s in round %u (O1); thread stacks "
                    "of %d process(es) follow\n",
                    stall, round, n < 8 ? n : 8);
            for (i = 0; i < n && i < 8; i++) {
                fprintf(stderr, "=== pid %d ===\n", pids[i]);
                run_gdb(pids[i]);
            }
            killpg(child, SIGKILL);
            for (i = 0; i < n; i++) kill(pids[i], SIGKILL);
            waitpid(child, &st, 0);
            fprintf(stderr, "soak: FAILED: hung in round %u (seed %" PRIu64 ")\n", round,
                    g_seed);
            replay_hint(round);
            return 3;
        }
        if (t >= next_scan) {
            /* O4 while the child runs: an orphan reparented to us may not outlive 2 s. */
            int live[64], n = live_orphans(child, live, 64), j;
            for (i = 0; i < n && i < 64; i++) {
                for (j = 0; j < n_orph && orph[j].pid != live[i]; j++) {
                }
                if (j == n_orph && n_orph < 64) {
                    orph[n_orph].pid = live[i];
                    orph[n_orph].seen = t;
                    n_orph++;
                } else if (j < n_orph && t - orph[j].seen > 2.0) {
                    fprintf(stderr, "soak: O4: process %d was orphaned (reparented to the "
                                    "supervisor) and still lives after 2 s\n",
                            live[i]);
                    kill(live[i], SIGKILL);
                    o4 = true;
                }
            }
            next_scan = t + 0.5;
        }
    }
child_gone:
    /* O4 after the child: every descendant goes within 2 s. */
    {
        double end = now_s() + 2.0;
        for (;;) {
            int live[64], n;
            int st;
            while (waitpid(-1, &st, WNOHANG) > 0) transient++;
            n = live_orphans(0, live, 64);
            if (n == 0) break;
            if (now_s() > end) {
                for (i = 0; i < n && i < 64; i++) {
                    pstat s = read_pstat(live[i]);
                    fprintf(stderr, "soak: O4: process %d (state %c) outlived the soak by 2 s\n",
                            live[i], s.state ? s.state : '?');
                    kill(live[i], SIGKILL);
                }
                while (waitpid(-1, &st, 0) > 0) {
                }
                o4 = true;
                break;
            }
            cft_nap(20000000);
        }
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "soak: FAILED in round %u (seed %" PRIu64 "): the soak %s %d\n", round,
                g_seed, WIFEXITED(status) ? "exited with status" : "was killed by signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        replay_hint(round);
        return 1;
    }
    if (o4) {
        fprintf(stderr, "soak: FAILED: orphaned processes outlived their parent (O4)\n");
        replay_hint(round);
        return 1;
    }
    printf("  supervisor: no orphan left (O4); %ld short-lived orphan(s) reaped; no stall "
           "(watchdog %.0f s)\n",
           transient, stall);
    printf("soak: PASS (seed %" PRIu64 ")\n", g_seed);
    return 0;
}

int main(int argc, char **argv) {
    const char *first = getenv("SOAK_FIRST_ROUND");
    const char *stall_env = getenv("SOAK_STALL_SECS");
    const char *dir = getenv("SOAK_DIR");
    const char *tmp = getenv("TMPDIR");
    bool made_dir = !(dir && *dir);
    int rc;
    uint64_t first_round = first && *first ? strtoull(first, NULL, 10) : 0;
    double stall = stall_env && *stall_env ? atof(stall_env) : 180.0;
    int hb[2];
    pid_t child;
    if (argc > 3 || (argc > 1 && atof(argv[1]) <= 0)) {
        fprintf(stderr, "usage: %s SECONDS [SEED]\n", argv[0]);
        return 2;
    }
    g_secs = argc > 1 ? atof(argv[1]) : 60.0;
    g_seed = argc > 2 ? strtoull(argv[2], NULL, 10)
                      : sk_mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("soak: %.0f s, seed %" PRIu64 ", first round %" PRIu64 " (cfutures %s)\n", g_secs,
           g_seed, first_round, cf_version());
    fflush(stdout);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("prctl(PR_SET_CHILD_SUBREAPER)");
        return 2;
    }
    if (made_dir) {
        snprintf(g_dir, sizeof g_dir, "%s/cfsoak-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        CHECK(mkdtemp(g_dir) != NULL);
    } else {
        snprintf(g_dir, sizeof g_dir, "%s", dir);
        mkdir(g_dir, 0700);
    }
    CHECK(pipe2(hb, O_CLOEXEC) == 0);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        setpgid(0, 0);
        close(hb[0]);
        g_hb_fd = hb[1];
        rc = soak_child(first_round);
        fflush(stdout);
        exit(rc);
    }
    setpgid(child, child);
    close(hb[1]);
    rc = supervise(child, hb[0], stall, first_round);
    remove_dir(made_dir);
    return rc;
}
