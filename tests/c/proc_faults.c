/*
 * proc_faults.c: process-pool rows of the fault catalogue (RELIABILITY.md section 2) that the
 * other proc_*.c programs do not cover, for the start method in argv[1]. Each scenario names
 * its rows; docs/reliability.md ("Process pool rows") maps every row to its test.
 *
 * - core_limit (CR02): workers run with RLIMIT_CORE 0 (no core files pile up);
 * - kill_during_result (CR08): SIGKILL while a big result travels: CF_OK with intact bytes or
 *   CF_WORKER_DIED, never a truncated success;
 * - fork_failure (CR15): worker starts fail (test hook): queued futures get CF_BROKEN naming
 *   the cause instead of hanging; a pool whose last worker dies and cannot be replaced breaks;
 * - protocol_garbage (PR01), protocol_lies (PR02), truncated_frames (PR03): a worker that
 *   writes garbage, well-formed lies or half a frame is killed and reaped; its own future fails
 *   (CF_WORKER_DIED naming the malformed message), no other future is touched;
 * - stdio_flood (PR04), stdin_eof (PR05), closed_channel (PR06): tasks that flood stdout and
 *   stderr, read stdin, or close / replace their channel;
 * - shutdown_nowait_reaps (SD02), crash_during_shutdown (SD06), creator_thread_exits (SD11),
 *   fork_with_live_pool (SD13, process side);
 * - reenter_inherited_copy (RE06, process side), nested_pools (RE10);
 * - app_lock_at_fork (FK01), cloexec (FK05), parent_signal_state (FK07),
 *   app_reaps_children (FK08), fd_limit (LD07).
 *
 * With argv[2] = "sd10exit" (SD10, the exit(0) variant; tests/process_api.rs checks it from
 * outside): tasks running and queued, no shutdown, exit(0): the exit-time shutdown runs the
 * queued tasks (marker files), and nothing lingers (O4).
 *
 * Rows that cannot apply to a method are skipped there with a printed reason:
 * - RE06 under spawn: a cf-worker process is a fresh program; it holds no copy of any executor,
 *   so there is no inherited handle to misuse. Under forkserver only executors created before
 *   the pool's fork server exist in its workers (the scenario uses one such).
 * - FK01's hang is a fork-mode hazard: spawn workers are fresh programs (never affected), and
 *   forkserver workers are forks of a single-threaded server forked when the pool is created
 *   (affected only by a lock held at that moment: pinned below).
 *
 * Several rows inject faults through CFUTURES_TEST_FAULT (src/fault.rs, test-only), set with
 * setenv in the scenario's own process before the pool is created (and kept while a spawn
 * pool starts its workers when the hook acts in them: cf-worker reads it at startup).
 *
 * Sizes: CR08 runs 64 MiB results and 6 kill delays by default; CFUTURES_BIG_TESTS=1 runs the
 * row's 1 GiB and 20 delays from 0 to 50 ms (give it CFTEST_WATCHDOG_SECS=3000 and ~3 GiB).
 *
 * Under valgrind, processes forked from the multi-threaded scenario (fork servers, workers, and
 * fork_with_live_pool's child) report the memory of the parent's other threads as lost (their
 * stacks are not in the copy); the scenario processes themselves are clean.
 */
#define _GNU_SOURCE
#include "proctest.h"

#include <sys/resource.h>
#include <sys/syscall.h>

static void check_pid_in(const char *msg, int pid) {
    char s[32];
    snprintf(s, sizeof s, "%d", pid);
    CHECK_CONTAINS(msg, s);
}

static cf_executor *pool_with(uint32_t workers, double limit, uint64_t max_tasks) {
    cf_executor_options *o = pt_opts();
    cf_executor *ex;
    if (limit > 0) CHECK_STATUS(cf_executor_options_set_task_timeout(o, limit), CF_OK);
    if (max_tasks) CHECK_STATUS(cf_executor_options_set_max_tasks_per_child(o, max_tasks), CF_OK);
    ex = pt_new_opts(workers, o);
    cf_executor_options_free(o);
    return ex;
}

/* Sets CFUTURES_TEST_FAULT (read when the next pool is created). */
static void set_fault(const char *spec) { CHECK(setenv("CFUTURES_TEST_FAULT", spec, 1) == 0); }
static void clear_fault(void) { CHECK(unsetenv("CFUTURES_TEST_FAULT") == 0); }

/* ---- CR02 --------------------------------------------------------------------------------- */

static void core_limit(void) {
    pt_base b = pt_begin("CR02: workers run with RLIMIT_CORE 0");
    cf_executor *ex = pt_new(1);
    cf_future *f = pt_submit(ex, pt_core_limit, NULL, 0);
    uint64_t lim[2];
    size_t n;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof lim);
    memcpy(lim, d, sizeof lim);
    CHECK_EQ_INT(lim[0], 0);
    CHECK_EQ_INT(lim[1], 0);
    cf_future_free(f);
    pt_worker_pid(ex);
    pt_free(ex);
    pt_end(b);
}

/* ---- CR08 --------------------------------------------------------------------------------- */

static bool big_tests(void) {
    const char *e = getenv("CFUTURES_BIG_TESTS");
    return e && *e && strcmp(e, "0") != 0;
}

/* A big result is filled, then the worker reports and returns; the test kills it `delay` ms
 * after the report, while (or after) the result travels. Default: 64 MiB results, 6 delays
 * from 0 to 400 ms; CFUTURES_BIG_TESTS=1: 1 GiB results, 20 delays from 0 to 50 ms. (In the
 * debug build the parent takes longer than 400 ms to receive 64 MiB: most runs end in
 * CF_WORKER_DIED; either outcome is checked.) */
static void kill_during_result(void) {
    static const uint32_t small_delays[] = {0, 1, 5, 20, 100, 400};
    uint64_t size = big_tests() ? (uint64_t)1 << 30 : (uint64_t)64 << 20;
    int runs = big_tests() ? 20 : (int)(sizeof small_delays / sizeof small_delays[0]);
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    int k, ok = 0, died = 0;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("CR08: SIGKILL while a big result travels");
    ex = pt_new(1);
    for (k = 0; k < runs; k++) {
        uint32_t delay = big_tests() ? (uint32_t)(k * 50 / (runs - 1)) : small_delays[k];
        pt_big_arg a;
        cf_future *f;
        pt_report r;
        const void *d;
        size_t n;
        cf_status s;
        memset(&a, 0, sizeof a);
        snprintf(a.report, sizeof a.report, "%s", rep.path);
        a.len = size;
        f = pt_submit(ex, pt_big_report, &a, sizeof a);
        r = pt_read_report(&rep); /* the result is filled; the task returns now */
        pt_note_pid(r.pid);
        if (delay) cft_nap((long)delay * 1000000L); /* the row's kill delay, not a sync */
        CHECK(kill(r.pid, SIGKILL) == 0);
        s = cf_future_result(f, PT_LONG, &d, &n);
        if (s == CF_OK) {
            const uint8_t *p = (const uint8_t *)d;
            uint64_t i;
            CHECK_EQ_INT(n, size); /* never a truncated success */
            for (i = 0; i < size; i++) {
                if (p[i] != pt_pattern(i)) {
                    fprintf(stderr, "  byte %llu of a successful result is wrong\n",
                            (unsigned long long)i);
                    CHECK(!"a successful big result is intact");
                }
            }
            ok++;
        } else {
            CHECK_STATUS(s, CF_WORKER_DIED);
            CHECK_EQ_INT(cf_future_error_code(f), -SIGKILL);
            check_pid_in(cf_future_error_message(f), r.pid);
            died++;
        }
        cf_future_free(f);
        CHECK(pt_worker_pid(ex) != r.pid);
    }
    fprintf(stderr, "  %d runs of %llu MiB: %d CF_OK (intact), %d CF_WORKER_DIED\n", runs,
            (unsigned long long)(size >> 20), ok, died);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* ---- CR15 --------------------------------------------------------------------------------- */

static void fork_failure(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *f[3], *g = NULL, *fb;
    pt_block_arg a;
    pt_report r;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("CR15: no worker can be started (injected EAGAIN): futures fail, no hang");
    set_fault("fail-start:0");
    ex = pt_new(2);
    clear_fault();
    /* The first submit is taken (workers start lazily) and fails; once the pool knows it is
     * broken, submits are refused at once. */
    for (i = 0; i < 3; i++) {
        cf_status s;
        f[i] = NULL;
        s = cf_submit(ex, pt_pid, NULL, 0, &f[i]);
        if (s == CF_OK) {
            pt_track(f[i]);
            PT_EXPECT(f[i], CF_BROKEN);
            CHECK_CONTAINS(cf_future_error_message(f[i]), "cannot start a worker process");
            CHECK_CONTAINS(cf_future_error_message(f[i]), "Resource temporarily unavailable");
            cf_future_free(f[i]);
        } else {
            CHECK(i > 0);
            CHECK_STATUS(s, CF_BROKEN);
            CHECK_CONTAINS(cf_last_error(), "Resource temporarily unavailable");
        }
    }
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_BROKEN);
    CHECK(g == NULL);
    CHECK_CONTAINS(cf_last_error(), "cannot start a worker process");
    pt_free(ex);

    /* One worker starts, no replacement can: while it lives the pool works (the second worker
     * it wanted never came); once it dies, the pool is broken (CPython:
     * test_failed_worker_replacement_breaks_pool). */
    set_fault("fail-start:1");
    ex = pt_new(2);
    clear_fault();
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    for (i = 0; i < 3; i++) f[i] = pt_submit(ex, pt_pid, NULL, 0);
    pt_release(&gate, 1);
    pt_ok(fb, NULL);
    for (i = 0; i < 3; i++) {
        CHECK_EQ_INT(pt_ok_pid(f[i]), r.pid);
        cf_future_free(f[i]);
    }
    cf_future_free(fb);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    CHECK_EQ_INT(pt_read_report(&rep).pid, r.pid);
    for (i = 0; i < 3; i++) f[i] = pt_submit(ex, pt_pid, NULL, 0);
    CHECK(kill(r.pid, SIGKILL) == 0);
    PT_EXPECT(fb, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fb), -SIGKILL);
    for (i = 0; i < 3; i++) {
        PT_EXPECT(f[i], CF_BROKEN);
        CHECK_CONTAINS(cf_future_error_message(f[i]), "cannot start a worker process");
        cf_future_free(f[i]);
    }
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_BROKEN);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- PR01-PR03, PR06: a worker misusing its channel --------------------------------------- */

static size_t put_le(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
    return (size_t)n;
}

/* A single-result Done frame for `job` carrying `payload` (the protocol's K_DONE1 layout:
 * kind 7, 7 pad bytes, job, payload length, 8 pad bytes, payload). */
static size_t done_frame(uint8_t *buf, uint64_t job, const char *payload) {
    size_t plen = strlen(payload), k = 0;
    k += put_le(buf + k, 32 + plen, 8);
    buf[k++] = 7;
    memset(buf + k, 0, 7);
    k += 7;
    k += put_le(buf + k, job, 8);
    k += put_le(buf + k, plen, 8);
    memset(buf + k, 0, 8);
    k += 8;
    memcpy(buf + k, payload, plen);
    return k + plen;
}

static pt_chan_arg chan_arg(const pt_fifo *rep, uint32_t mode, const uint8_t *bytes, size_t n) {
    pt_chan_arg a;
    memset(&a, 0, sizeof a);
    snprintf(a.report, sizeof a.report, "%s", rep->path);
    a.mode = mode;
    CHECK(n <= sizeof a.bytes);
    if (n) memcpy(a.bytes, bytes, n);
    a.len = (uint32_t)n;
    return a;
}

/* Runs pt_chan with `a` on ex: its future fails with CF_WORKER_DIED, the message names the
 * worker and (if given) `words`; the worker is gone and the pool goes on in a new process. */
static void expect_chan_death(cf_executor *ex, pt_fifo *rep, const pt_chan_arg *a,
                              const char *words) {
    cf_future *f = pt_submit(ex, pt_chan, a, sizeof *a);
    pt_report r = pt_read_report(rep), again;
    pt_note_pid(r.pid);
    PT_EXPECT(f, CF_WORKER_DIED);
    if (pt_try_report(rep, 0.0, &again)) {
        fprintf(stderr, "  the task ran again, in worker %d, after worker %d ran it\n", again.pid,
                r.pid);
        CHECK(!"a task that began runs once");
    }
    check_pid_in(cf_future_error_message(f), r.pid);
    if (words) CHECK_CONTAINS(cf_future_error_message(f), words);
    fprintf(stderr, "    %s\n", cf_future_error_message(f));
    CHECK(kill(r.pid, 0) == -1 && errno == ESRCH); /* killed and reaped */
    CHECK(pt_worker_pid(ex) != r.pid);
    cf_future_free(f);
}

static void protocol_garbage(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    uint8_t buf[64];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t i;
    pt_chan_arg a;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("PR01: garbage on the channel: the worker is killed, the pool goes on");
    ex = pt_new(2);
    /* 64 pseudo-random bytes to every descriptor from 1023 down to 3. (A spawned worker used
     * to keep the slot table's memfd open as descriptor 4: the write overwrote the task's slot
     * word, and the parent, seeing no claim, ran the task again in another worker.) */
    for (i = 0; i < sizeof buf; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (uint8_t)(x >> 56);
    }
    a = chan_arg(&rep, PT_CHAN_ALL_FDS, buf, sizeof buf);
    expect_chan_death(ex, &rep, &a, "malformed message");
    /* A frame announcing 2^63 bytes: refused before any allocation. */
    memset(buf, 0xab, sizeof buf);
    put_le(buf, (uint64_t)1 << 63, 8);
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, sizeof buf);
    expect_chan_death(ex, &rep, &a, "bad frame length");
    /* Just above the protocol's 1 TiB cap. */
    put_le(buf, ((uint64_t)1 << 40) + 1, 8);
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, sizeof buf);
    expect_chan_death(ex, &rep, &a, "bad frame length");
    /* An empty frame, then an unknown message kind. */
    put_le(buf, 0, 8);
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, 8);
    expect_chan_death(ex, &rep, &a, "malformed message");
    put_le(buf, 1, 8);
    buf[8] = 0xee;
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, 9);
    expect_chan_death(ex, &rep, &a, "unknown message kind");
    /* A well-framed message of an unknown kind, then (from a grandchild sharing the channel,
     * once the worker is dead) a valid result for the task: the worker was condemned by the
     * first, nothing after it is trusted. The slow manager (test hook) makes sure the result
     * is there before the death is handled. Job ids are given out 1, 2, 3... per pool in
     * submit order (src/process/mod.rs, `next_job`): this pool's first job is the task. */
    pt_free(ex);
    set_fault("slow-manager:100ms");
    ex = pt_new(2);
    clear_fault();
    put_le(buf, 1, 8);
    buf[8] = 0xee;
    a = chan_arg(&rep, PT_CHAN_LATE, buf, 9);
    a.late = (uint32_t)done_frame(a.bytes + 9, 1, "trusted after garbage");
    expect_chan_death(ex, &rep, &a, "unknown message kind");
    /* The pool still runs tasks on every worker. */
    {
        cf_future *f[8];
        int k;
        for (k = 0; k < 8; k++) f[k] = pt_submit(ex, pt_pid, NULL, 0);
        for (k = 0; k < 8; k++) {
            pt_ok_pid(f[k]);
            cf_future_free(f[k]);
        }
    }
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* Job ids are given out 1, 2, 3... by each pool in submit order (src/process/mod.rs,
 * `next_job`): the lying tasks below name real jobs by those numbers. */
static void protocol_lies(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *f, *g = NULL;
    pt_block_arg ab;
    pt_chan_arg a;
    pt_report rb, rl;
    uint8_t buf[128];
    size_t n;
    const void *d;
    pt_pid_result res;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("PR02: well-formed lies: another job's reply, a duplicate, a bad hello");
    ex = pt_new(2);
    /* Job 1 blocks on one worker; job 2, on the other, forges job 1's result. */
    ab = pt_block_args(&rep, &gate, 77);
    fb = pt_submit(ex, pt_block, &ab, sizeof ab); /* job 1 */
    rb = pt_read_report(&rep);
    pt_note_pid(rb.pid);
    n = done_frame(buf, 1, "forged by another worker");
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, n);
    f = pt_submit(ex, pt_chan, &a, sizeof a); /* job 2 */
    rl = pt_read_report(&rep);
    pt_note_pid(rl.pid);
    CHECK(rl.pid != rb.pid);
    PT_EXPECT(f, CF_WORKER_DIED);
    CHECK_CONTAINS(cf_future_error_message(f), "reply for job 1, which it was not given");
    check_pid_in(cf_future_error_message(f), rl.pid);
    cf_future_free(f);
    CHECK(!cf_future_done(fb));
    pt_release(&gate, 1);
    d = pt_ok(fb, &n); /* job 1's own result, not the forged one */
    CHECK_EQ_INT(n, sizeof res);
    memcpy(&res, d, sizeof res);
    CHECK_EQ_INT(res.pid, rb.pid);
    CHECK_EQ_INT(res.tag, 77);
    cf_future_free(fb);

    /* Job 3 replies for itself first, then the worker sends the real reply: a duplicate. The
     * future keeps the first reply (its own task wrote it); the worker is killed for the
     * second, and the next task runs in a new process. */
    n = done_frame(buf, 3, "first reply");
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, n);
    f = pt_submit(ex, pt_chan, &a, sizeof a); /* job 3 */
    rl = pt_read_report(&rep);
    pt_note_pid(rl.pid);
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, strlen("first reply"));
    CHECK(memcmp(d, "first reply", n) == 0);
    cf_future_free(f);
    CHECK(pt_await_dead(rl.pid));
    /* A Started for a job it does not have, and a second Ready: killed. */
    buf[0] = 0;
    n = put_le(buf, 9, 8);
    buf[n++] = 4; /* Started */
    n += put_le(buf + n, 999, 8);
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, n);
    expect_chan_death(ex, &rep, &a, "started unknown job 999");
    n = put_le(buf, 1, 8);
    buf[n++] = 2; /* Ready */
    a = chan_arg(&rep, PT_CHAN_WRITE, buf, n);
    expect_chan_death(ex, &rep, &a, "unexpected message");
    pt_free(ex);

    /* Every worker announces protocol version 99 (test hook): each is killed once its hello
     * is read; three in a row break the pool, which says why. A job already sent to such a
     * worker (jobs follow its settings at once) may have begun there: it fails with
     * CF_WORKER_DIED naming the bad hello; the others get CF_BROKEN. */
    set_fault("hello-version:99"); /* kept until the workers have started: cf-worker reads it */
    ex = pt_new(2);
    {
        int k, broken = 0;
        for (k = 0; k < 20 && !broken; k++) {
            cf_status s;
            g = NULL;
            s = cf_submit(ex, pt_pid, NULL, 0, &g);
            if (s == CF_BROKEN) {
                broken = 1;
                break;
            }
            CHECK_STATUS(s, CF_OK);
            pt_track(g);
            s = cf_future_exception(g, PT_LONG);
            CHECK(s == CF_BROKEN || s == CF_WORKER_DIED);
            CHECK_CONTAINS(cf_future_error_message(g), "bad hello");
            if (s == CF_BROKEN) {
                CHECK_CONTAINS(cf_future_error_message(g), "before they are ready");
                broken = 1;
            }
            cf_future_free(g);
        }
        CHECK(broken);
    }
    clear_fault();
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_BROKEN);
    CHECK_CONTAINS(cf_last_error(), "bad hello");
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

static void truncated_frames(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    uint8_t buf[64];
    pt_chan_arg a;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("PR03: half a frame, then exit: no read waits for the rest");
    ex = pt_new(1);
    /* Half a length prefix. */
    put_le(buf, 40, 8);
    a = chan_arg(&rep, PT_CHAN_EXIT, buf, 4);
    expect_chan_death(ex, &rep, &a, "exited with status 3");
    /* A frame of 100 bytes of which 10 come. (A 1 MiB frame cut short is proc_semantics'
     * big_frame_does_not_stall.) */
    put_le(buf, 100, 8);
    buf[8] = 7;
    memset(buf + 9, 0, 9);
    a = chan_arg(&rep, PT_CHAN_EXIT, buf, 18);
    expect_chan_death(ex, &rep, &a, "exited with status 3");
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

static void closed_channel(void) {
    pt_fifo rep;
    pt_base b;
    cf_executor *ex;
    pt_chan_arg a;

    pt_fifo_open(&rep, "rep");
    b = pt_begin("PR06: the task closes its channel, or puts /dev/null over it");
    ex = pt_new(1);
    a = chan_arg(&rep, PT_CHAN_CLOSE, NULL, 0);
    expect_chan_death(ex, &rep, &a, NULL);
    a = chan_arg(&rep, PT_CHAN_DUP_NULL, NULL, 0);
    expect_chan_death(ex, &rep, &a, NULL);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
}

/* ---- PR04, PR05 --------------------------------------------------------------------------- */

static void stdio_flood(void) {
    pt_base b = pt_begin("PR04: tasks write 100 MB to stdout and to stderr");
    uint64_t n = 100u * 1000u * 1000u, got = 0;
    int saved_out, saved_err, null_fd, i;
    cf_executor *ex;
    cf_future *f[3], *e[3];
    cf_status s[3], se[3];
    size_t len[3], elen[3];
    const void *d[3], *ed[3];

    /* The pool's processes inherit stdout and stderr now: /dev/null, for the flood. Checks wait
     * until both are back (a failing check prints to stderr). */
    fflush(stdout);
    fflush(stderr);
    saved_out = fcntl(1, F_DUPFD_CLOEXEC, 10);
    saved_err = fcntl(2, F_DUPFD_CLOEXEC, 10);
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(saved_out >= 0 && saved_err >= 0 && null_fd >= 0);
    CHECK(dup2(null_fd, 1) == 1 && dup2(null_fd, 2) == 2);
    close(null_fd);
    ex = pt_new(2);
    for (i = 0; i < 3; i++) {
        f[i] = pt_submit(ex, pt_flood, &n, sizeof n);
        e[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    }
    for (i = 0; i < 3; i++) {
        s[i] = cf_future_result(f[i], PT_LONG, &d[i], &len[i]);
        se[i] = cf_future_result(e[i], PT_LONG, &ed[i], &elen[i]);
    }
    pt_free(ex);
    CHECK(dup2(saved_out, 1) == 1 && dup2(saved_err, 2) == 2);
    close(saved_out);
    close(saved_err);
    for (i = 0; i < 3; i++) {
        CHECK_STATUS(s[i], CF_OK);
        CHECK_EQ_INT(len[i], sizeof got);
        memcpy(&got, d[i], sizeof got);
        CHECK(got == 2 * n);
        CHECK_STATUS(se[i], CF_OK);
        CHECK_EQ_INT(elen[i], sizeof i);
        CHECK(memcmp(ed[i], &i, sizeof i) == 0);
        cf_future_free(f[i]);
        cf_future_free(e[i]);
    }
    pt_end(b);
}

static void stdin_eof(void) {
    static const char input[] = "parent-input";
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    int p[2], saved_in;
    int64_t r;
    size_t n;
    char buf[64];
    const void *d;

    /* The parent's stdin holds bytes: a worker that shared it could take them. */
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(write(p[1], input, sizeof input) == (ssize_t)sizeof input);
    close(p[1]);
    saved_in = fcntl(0, F_DUPFD_CLOEXEC, 10);
    CHECK(saved_in >= 0);
    CHECK(dup2(p[0], 0) == 0);
    close(p[0]);
    b = pt_begin("PR05: a task reading stdin gets EOF at once; the parent's input stays");
    ex = pt_new(1);
    f = pt_submit(ex, pt_read_stdin, NULL, 0);
    d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof r);
    memcpy(&r, d, sizeof r);
    CHECK_EQ_INT(r, 0);
    cf_future_free(f);
    pt_free(ex);
    pt_end(b);
    CHECK(read(0, buf, sizeof buf) == (ssize_t)sizeof input);
    CHECK(memcmp(buf, input, sizeof input) == 0);
    CHECK(dup2(saved_in, 0) == 0);
    close(saved_in);
}

/* ---- SD02 --------------------------------------------------------------------------------- */

/* shutdown(wait=false) returns while a task blocks; once the work is done, the pool's threads
 * end and its processes are reaped by themselves, before cf_executor_free. With a slow manager
 * (test hook), the waiters read the last results themselves: the manager must still learn
 * that the work is over (it used to sleep on, and the workers stayed until the free). `cancel`
 * queued tasks are cancelled by the caller after the shutdown. */
static void shutdown_nowait_case(uint32_t workers, int cancel, const char *fault) {
    pt_fifo rep, gate;
    cf_executor *ex;
    cf_future *fb, *q[8], *g = NULL;
    pt_block_arg a;
    int i, pids[64], n, threads = cft_count_threads();

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    if (fault) set_fault(fault);
    ex = pt_new(workers);
    if (fault) clear_fault();
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    for (i = 0; i < 4 + cancel; i++) q[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    pt_note_pid(pt_read_report(&rep).pid);
    n = pt_descendants((int)getpid(), pids, 64); /* workers, fork server */
    CHECK(n >= 1);
    CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK);
    CHECK(!cf_future_done(fb)); /* it returned while the task is blocked */
    CHECK_STATUS(cf_submit(ex, pt_pid, NULL, 0, &g), CF_SHUTDOWN);
    for (i = 4; i < 4 + cancel; i++) CHECK(cf_future_cancel(q[i]));
    pt_release(&gate, 1);
    pt_ok(fb, NULL);
    for (i = 0; i < 4; i++) pt_ok(q[i], NULL);
    for (i = 4; i < 4 + cancel; i++) PT_EXPECT(q[i], CF_CANCELLED);
    /* Not freed yet: the threads and processes go by themselves (bounded waits). */
    for (i = 0; i < n && i < 64; i++) {
        pt_note_pid(pids[i]);
        if (!pt_await_dead(pids[i])) {
            pt_stat st = pt_read_stat(pids[i]);
            fprintf(stderr, "  %d (state %c, parent %d) still alive\n", pids[i], st.state,
                    st.ppid);
            CHECK(!"the pool's processes end after shutdown(wait=false) once its work is done");
        }
    }
    CHECK_THREADS_BACK_TO(threads);
    CHECK_EQ_INT(pt_zombie_children(), 0);
    CHECK_EQ_INT(pt_descendants((int)getpid(), pids, 64), 0);
    for (i = 0; i < 4 + cancel; i++) cf_future_free(q[i]);
    cf_future_free(fb);
    pt_free(ex);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}


/* Waits (bounded, ~20 s) until thread `tid` is blocked in system call `a` or `b`. */
static bool await_blocked_in(pid_t tid, long a, long b) {
    int i;
    for (i = 0; i < 20000; i++) {
        long nr = pt_blocked_in(tid);
        if (nr == a || nr == b) return true;
        cft_nap(1000000);
    }
    return false;
}

/* The same, made certain: the manager has looked at the pool (the task still running) and is
 * held by the slow-manager hook before it polls; meanwhile the task ends and the waiter reads
 * its result itself. The manager must still be woken to tell the worker to exit. */
static void shutdown_nowait_pumped(void) {
    pt_fifo rep, gate;
    cf_executor *ex;
    cf_future *fb;
    pt_block_arg a;
    pid_t mgr;
    cf_status s = CF_TIMEOUT;
    int i, pids[64], n, threads = cft_count_threads();
    const void *d;
    size_t len;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    set_fault("slow-manager:200ms");
    ex = pt_new(1);
    clear_fault();
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    pt_note_pid(pt_read_report(&rep).pid);
    n = pt_descendants((int)getpid(), pids, 64);
    mgr = pt_manager_tid();
    CHECK(mgr > 0);
    CHECK(await_blocked_in(mgr, SYS_poll, SYS_ppoll)); /* idle, the task running */
    CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK); /* wakes it */
    CHECK(await_blocked_in(mgr, SYS_clock_nanosleep, SYS_nanosleep)); /* held by the hook */
    pt_release(&gate, 1);
    /* Short waits pump the replies in this thread, while the manager sleeps. */
    for (i = 0; i < 20000 && s == CF_TIMEOUT; i++) s = cf_future_result(fb, 0.001, &d, &len);
    CHECK_STATUS(s, CF_OK);
    for (i = 0; i < n && i < 64; i++) {
        pt_note_pid(pids[i]);
        if (!pt_await_dead(pids[i])) {
            fprintf(stderr, "  %d still alive: the manager never learnt the work was over\n",
                    pids[i]);
            CHECK(!"the pool's processes end after shutdown(wait=false) once its work is done");
        }
    }
    CHECK_THREADS_BACK_TO(threads);
    cf_future_free(fb);
    pt_free(ex);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

static void shutdown_nowait_reaps(void) {
    pt_base b = pt_begin("SD02: after shutdown(wait=false) the threads end and workers are reaped");
    shutdown_nowait_case(2, 0, NULL);
    shutdown_nowait_case(1, 3, NULL);
    shutdown_nowait_pumped();
    pt_end(b);
}

/* ---- SD06 --------------------------------------------------------------------------------- */

typedef struct shutdown_call {
    cf_executor *ex;
    pid_t tid;
    cft_counter ready;
    int status;
} shutdown_call;

static void *shutdown_main(void *p) {
    shutdown_call *c = (shutdown_call *)p;
    c->tid = cft_gettid();
    cft_counter_add(&c->ready, 1);
    c->status = (int)cf_executor_shutdown(c->ex, true, false);
    return NULL;
}

static void crash_during_shutdown(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fs, *q[4];
    pt_block_arg a;
    pt_report r;
    shutdown_call c;
    pthread_t t;
    int i;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("SD06: a worker crashes while shutdown(wait=true) waits for it");
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    fs = pt_submit(ex, pt_gate_segv, &a, sizeof a);
    for (i = 0; i < 4; i++) q[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    memset(&c, 0, sizeof c);
    c.ex = ex;
    cft_counter_init(&c.ready);
    CHECK(pthread_create(&t, NULL, shutdown_main, &c) == 0);
    cft_counter_await(&c.ready, 1);
    cft_wait_blocked(c.tid); /* shutdown is waiting (for the crashing task among others) */
    CHECK(!cf_future_done(fs));
    pt_release(&gate, 1); /* the task segfaults now */
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(c.status, CF_OK);
    PT_EXPECT(fs, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fs), -SIGSEGV);
    check_pid_in(cf_future_error_message(fs), r.pid);
    for (i = 0; i < 4; i++) {
        size_t n;
        const void *d = pt_ok(q[i], &n);
        CHECK_EQ_INT(n, sizeof i);
        CHECK(memcmp(d, &i, sizeof i) == 0);
        cf_future_free(q[i]);
    }
    cft_counter_destroy(&c.ready);
    cf_future_free(fs);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- SD11 --------------------------------------------------------------------------------- */

typedef struct creator {
    pt_fifo *rep, *gate;
    cf_executor *ex;
    cf_future *blocked;
    int pid;
} creator;

static void *creator_main(void *p) {
    creator *c = (creator *)p;
    pt_block_arg a = pt_block_args(c->rep, c->gate, 5);
    c->ex = pt_new(2);
    c->pid = pt_worker_pid(c->ex);
    c->blocked = pt_submit(c->ex, pt_block, &a, sizeof a);
    CHECK_EQ_INT(pt_read_report(c->rep).pid, c->pid);
    return NULL; /* the creating thread ends with the pool busy */
}

static void creator_thread_exits(void) {
    pt_fifo rep, gate;
    pt_base b;
    creator c;
    pthread_t t;
    cf_future *f;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("SD11: the thread that created the pool exits; the workers keep running");
    memset(&c, 0, sizeof c);
    c.rep = &rep;
    c.gate = &gate;
    CHECK(pthread_create(&t, NULL, creator_main, &c) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pt_alive(c.pid));
    pt_release(&gate, 1);
    CHECK_EQ_INT(pt_ok_pid(c.blocked), c.pid); /* the same worker finished it */
    f = pt_submit(c.ex, pt_pid, NULL, 0);
    CHECK_EQ_INT(pt_ok_pid(f), c.pid);
    cf_future_free(f);
    cf_future_free(c.blocked);
    pt_free(c.ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- SD13 (process side) ------------------------------------------------------------------ */

/* In a child forked (without exec) while the pool has threads, workers and a running task:
 * every call returns at once with a defined result; a new pool made in the child works. The
 * child must not touch the test's tracking (its lock may have been held at the fork). */
static int forked_child_checks(cf_executor *ex, cf_future *running) {
    cf_future *f = NULL;
    cf_executor *mine;
    const void *d;
    size_t n;
    int64_t x = 9, y = 0;
    int bad = 0;
    alarm(30);
#define CHILD_CHECK(c)                                                                       \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "  forked child: check failed: %s (%s)\n", #c, cf_last_error());  \
            bad = 1;                                                                         \
        }                                                                                    \
    } while (0)
    CHILD_CHECK(cf_submit(ex, pt_pid, NULL, 0, &f) == CF_INVALID_ARGUMENT);
    CHILD_CHECK(f == NULL);
    CHILD_CHECK(strstr(cf_last_error(), "parent process") != NULL);
    CHILD_CHECK(!cf_future_done(running));
    CHILD_CHECK(cf_future_result(running, 0.0, &d, &n) == CF_TIMEOUT);
    CHILD_CHECK(cf_executor_shutdown(ex, true, false) == CF_OK); /* returns: nothing to wait */
    {
        cf_executor_options *o = pt_opts();
        mine = cf_executor_new(CF_PROCESS_POOL, 1, o);
        cf_executor_options_free(o);
    }
    CHILD_CHECK(mine != NULL);
    if (mine) {
        CHILD_CHECK(cf_submit(mine, pt_square, &x, sizeof x, &f) == CF_OK);
        if (f) {
            CHILD_CHECK(cf_future_result(f, PT_LONG, &d, &n) == CF_OK);
            if (n == sizeof y) memcpy(&y, d, sizeof y);
            CHILD_CHECK(y == 81);
            cf_future_free(f);
        }
        cf_executor_free(mine);
    }
    cf_executor_free(ex); /* the child's copy: returns, touches nothing of the parent's */
#undef CHILD_CHECK
    return bad;
}

static void fork_with_live_pool(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb, *f;
    pt_block_arg a;
    pt_report r;
    pid_t child;
    int status = 0;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("SD13: the application forks while the pool is live");
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    fflush(stdout);
    fflush(stderr);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) exit(forked_child_checks(ex, fb)); /* exit: the atexit hook runs too */
    while (waitpid(child, &status, 0) < 0) CHECK(errno == EINTR);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    /* The parent is unaffected. */
    pt_release(&gate, 1);
    CHECK_EQ_INT(pt_ok_pid(fb), r.pid);
    f = pt_submit(ex, pt_pid, NULL, 0);
    pt_ok_pid(f);
    cf_future_free(f);
    cf_future_free(fb);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- RE06 (process side) ------------------------------------------------------------------ */

static void check_reenter(cf_future *f) {
    pt_reenter_result r;
    size_t n;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof r);
    memcpy(&r, d, sizeof r);
    CHECK_STATUS(r.submit, CF_INVALID_ARGUMENT);
    CHECK_EQ_INT(r.names_parent, 1);
    CHECK_STATUS(r.shutdown_wait, CF_OK);
    CHECK_STATUS(r.shutdown_now, CF_OK);
}

static void reenter_inherited_copy(void) {
    pt_base b;
    cf_executor *victim, *ex;
    cf_future *f;
    uint64_t addr;
    int pid;

    if (pt_method == CF_START_SPAWN) {
        fprintf(stderr, "  RE06: n/a under spawn: a cf-worker holds no copy of any executor\n");
        return;
    }
    b = pt_begin("RE06: a task shuts down and submits to its inherited copy of an executor");
    victim = pt_new(1); /* exists before ex's fork server and workers */
    pid = pt_worker_pid(victim);
    ex = pt_new(1);
    addr = (uint64_t)(uintptr_t)victim;
    f = pt_submit(ex, pt_reenter, &addr, sizeof addr);
    check_reenter(f);
    cf_future_free(f);
    if (pt_method == CF_START_FORK) {
        /* A fork-mode worker also holds a copy of its own pool. */
        f = pt_submit(victim, pt_reenter, &addr, sizeof addr);
        check_reenter(f);
        cf_future_free(f);
    }
    /* The parent's executor is unaffected: same worker, still accepting work. */
    CHECK_EQ_INT(pt_worker_pid(victim), pid);
    pt_worker_pid(ex);
    pt_free(ex);
    pt_free(victim);
    pt_end(b);
}

/* ---- RE10 --------------------------------------------------------------------------------- */

static void nested_pools(void) {
    pt_base b = pt_begin("RE10: a task makes its own thread pool and process pool");
    cf_executor *ex = pt_new(2);
    int32_t m = (int32_t)pt_method;
    cf_future *f[2];
    int i;
    for (i = 0; i < 2; i++) f[i] = pt_submit(ex, pt_nested, &m, sizeof m);
    for (i = 0; i < 2; i++) {
        const void *d;
        size_t n;
        int64_t y[2];
        cf_status s = cf_future_result(f[i], PT_LONG, &d, &n);
        if (s != CF_OK) fprintf(stderr, "  nested: %s\n", cf_future_error_message(f[i]));
        CHECK_STATUS(s, CF_OK);
        CHECK_EQ_INT(n, sizeof y);
        memcpy(y, d, sizeof y);
        CHECK_EQ_INT(y[0], 49);
        CHECK_EQ_INT(y[1], 49);
        cf_future_free(f[i]);
    }
    pt_worker_pid(ex);
    pt_free(ex);
    pt_end(b);
}

/* ---- FK01 --------------------------------------------------------------------------------- */

/* An application thread holding pt_app_lock's mutex until told to let go. */
typedef struct holder {
    cft_gate release;
    cft_counter locked;
} holder;

static void *holder_main(void *p) {
    holder *h = (holder *)p;
    pt_app_lock();
    cft_counter_add(&h->locked, 1);
    cft_gate_wait(&h->release);
    pt_app_unlock();
    return NULL;
}

static void hold(holder *h, pthread_t *t) {
    cft_gate_init(&h->release);
    cft_counter_init(&h->locked);
    CHECK(pthread_create(t, NULL, holder_main, h) == 0);
    cft_counter_await(&h->locked, 1);
}

static void let_go(holder *h, pthread_t t) {
    cft_gate_open(&h->release);
    CHECK(pthread_join(t, NULL) == 0);
    cft_gate_destroy(&h->release);
    cft_counter_destroy(&h->locked);
}

/* A task taking the application's mutex: fine, or (if its worker inherited the mutex held)
 * CF_TASK_EXPIRED through the time limit; either way the pool goes on. */
static void lock_task(cf_executor *ex, bool may_hang) {
    cf_future *f = pt_submit(ex, pt_lock_app_mutex, NULL, 0), *g;
    if (may_hang) {
        PT_EXPECT(f, CF_TASK_EXPIRED);
    } else {
        pt_ok_pid(f);
    }
    cf_future_free(f);
    g = pt_submit(ex, pt_pid, NULL, 0);
    pt_ok_pid(g);
    cf_future_free(g);
}

static void app_lock_at_fork(void) {
    pt_base b = pt_begin("FK01: an application thread holds a mutex the task takes");
    holder h;
    pthread_t t;
    cf_executor *ex;

    /* Held while workers are made (after the pool was created): only fork-mode workers, forked
     * from this multi-threaded process, inherit it held. */
    ex = pool_with(1, 0.5, 0);
    hold(&h, &t);
    lock_task(ex, pt_method == CF_START_FORK);
    let_go(&h, t);
    pt_free(ex);

    /* Held through the pool's creation too: the fork server is forked then, so forkserver
     * workers inherit it held as well (documented: a fork server is a fork of the creating
     * process, not a fresh program as in Python). Spawn workers never do. */
    hold(&h, &t);
    ex = pool_with(1, 0.5, 0);
    lock_task(ex, pt_method != CF_START_SPAWN);
    let_go(&h, t);
    pt_free(ex);
    pt_end(b);
}

/* ---- FK05 --------------------------------------------------------------------------------- */

static void cloexec(void) {
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *fb;
    pt_block_arg a;
    pt_report r;
    char pidfile[PT_PATH_MAX + 16], cmd[PT_PATH_MAX + 64], path[64], link[256];
    int helper = 0, fds = 0;
    FILE *pf;
    DIR *d;
    struct dirent *e;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("FK05: a program the application starts inherits no cfutures descriptor");
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    fb = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    snprintf(pidfile, sizeof pidfile, "%s/fk05-pid", pt_dir);
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s", pidfile);
    CHECK(system(cmd) == 0);
    pf = fopen(pidfile, "r");
    CHECK(pf != NULL);
    CHECK(fscanf(pf, "%d", &helper) == 1);
    fclose(pf);
    CHECK(helper > 0);
    snprintf(path, sizeof path, "/proc/%d/fd", helper);
    d = opendir(path);
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char fdpath[384];
        ssize_t k;
        if (e->d_name[0] == '.') continue;
        snprintf(fdpath, sizeof fdpath, "%s/%s", path, e->d_name);
        k = readlink(fdpath, link, sizeof link - 1);
        if (k <= 0) continue;
        link[k] = 0;
        fds++;
        if (pt_contains(link, "socket:") || pt_contains(link, "anon_inode:") ||
            pt_contains(link, "memfd:")) {
            fprintf(stderr, "  the helper inherited fd %s -> %s\n", e->d_name, link);
            kill(helper, SIGKILL);
            CHECK(!"no cfutures descriptor leaks into a program the application starts");
        }
    }
    closedir(d);
    CHECK(fds >= 1);
    /* With the helper alive, a worker's death is still seen. */
    CHECK(kill(r.pid, SIGKILL) == 0);
    PT_EXPECT(fb, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(fb), -SIGKILL);
    CHECK(kill(helper, SIGKILL) == 0); /* an orphan of the runner (the subreaper) now */
    cf_future_free(fb);
    pt_worker_pid(ex);
    pt_free(ex);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- FK07 --------------------------------------------------------------------------------- */

/* With the signal state the caller set up: a task over its time limit is killed
 * (CF_TASK_EXPIRED), a crash is reported (CF_WORKER_DIED), the pool goes on. `reaped`: the
 * death may have been collected by someone else, so its code may be unknown (0). */
static void limits_and_crash(bool reaped) {
    pt_fifo rep;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;
    int code;

    pt_fifo_open(&rep, "rep");
    ex = pool_with(2, 0.3, 0);
    a = pt_block_args(&rep, NULL, 1);
    a.sleep_ms = 20000;
    f = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    PT_EXPECT(f, CF_TASK_EXPIRED);
    check_pid_in(cf_future_error_message(f), r.pid);
    CHECK(pt_await_dead(r.pid));
    cf_future_free(f);
    a = pt_block_args(&rep, NULL, 2);
    f = pt_submit(ex, pt_segv, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    PT_EXPECT(f, CF_WORKER_DIED);
    code = cf_future_error_code(f);
    check_pid_in(cf_future_error_message(f), r.pid);
    if (reaped && code == 0) {
        CHECK_CONTAINS(cf_future_error_message(f), "collected elsewhere");
    } else {
        CHECK_EQ_INT(code, -SIGSEGV);
    }
    cf_future_free(f);
    CHECK(pt_worker_pid(ex) != r.pid);
    pt_free(ex);
    pt_fifo_close(&rep);
}

static void parent_signal_state(void) {
    pt_base b = pt_begin("FK07: SIGTERM and SIGCHLD blocked, then SIGCHLD ignored");
    sigset_t block, old;
    struct sigaction ign, prev;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    CHECK(pthread_sigmask(SIG_BLOCK, &block, &old) == 0);
    limits_and_crash(false);
    CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);

    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    CHECK(sigaction(SIGCHLD, &ign, &prev) == 0); /* children are reaped by the kernel */
    limits_and_crash(true);
    CHECK(sigaction(SIGCHLD, &prev, NULL) == 0);
    pt_end(b);
}

/* ---- FK08 --------------------------------------------------------------------------------- */

static volatile sig_atomic_t reaped_by_app;

static void reap_all(int sig) {
    int saved = errno, st;
    (void)sig;
    while (waitpid(-1, &st, WNOHANG) > 0) reaped_by_app++;
    errno = saved;
}

static void app_reaps_children(void) {
    struct sigaction sa, prev;
    pt_fifo rep, gate;
    pt_base b;
    cf_executor *ex;
    cf_future *f;
    pt_block_arg a;
    pt_report r;

    pt_fifo_open(&rep, "rep");
    pt_fifo_open(&gate, "gate");
    b = pt_begin("FK08: the application's SIGCHLD handler reaps every child");

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = reap_all;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the pool's system calls see EINTR */
    CHECK(sigaction(SIGCHLD, &sa, &prev) == 0);
    limits_and_crash(true);

    /* kill -9 of a busy worker. */
    ex = pt_new(2);
    a = pt_block_args(&rep, &gate, 1);
    f = pt_submit(ex, pt_block, &a, sizeof a);
    r = pt_read_report(&rep);
    pt_note_pid(r.pid);
    CHECK(kill(r.pid, SIGKILL) == 0);
    PT_EXPECT(f, CF_WORKER_DIED);
    if (cf_future_error_code(f) == 0) {
        CHECK_CONTAINS(cf_future_error_message(f), "collected elsewhere");
    } else {
        CHECK_EQ_INT(cf_future_error_code(f), -SIGKILL);
    }
    cf_future_free(f);
    CHECK(pt_worker_pid(ex) != r.pid);
    pt_free(ex);
    CHECK(sigaction(SIGCHLD, &prev, NULL) == 0);
    fprintf(stderr, "  the application's handler reaped %d process(es)\n", (int)reaped_by_app);
    pt_end(b);
    pt_fifo_close(&rep);
    pt_fifo_close(&gate);
}

/* ---- LD07 --------------------------------------------------------------------------------- */

/* Under RLIMIT_NOFILE `limit`: a pool of 64 workers and 64 tasks. Creation may fail, worker
 * starts may fail: every failure says "Too many open files"; what starts runs the tasks.
 * Returns 0 if all tasks succeeded, 1 if some or all failed, 2 if creation failed. */
static int under_fd_limit(rlim_t limit) {
    struct rlimit old, low;
    cf_executor *ex;
    cf_future *f[64];
    cf_status s[64];
    char msg[64][160];
    char create_err[256];
    int i, failed = 0;

    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = limit;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    {
        cf_executor_options *o = pt_opts();
        ex = cf_executor_new(CF_PROCESS_POOL, 64, o);
        cf_executor_options_free(o);
    }
    snprintf(create_err, sizeof create_err, "%s", ex ? "" : cf_last_error());
    if (ex) {
        for (i = 0; i < 64; i++) {
            /* A pool already broken by a failed start refuses the submit itself. */
            f[i] = NULL;
            s[i] = cf_submit(ex, pt_pid, NULL, 0, &f[i]);
            if (s[i] == CF_OK) {
                pt_track(f[i]);
            } else {
                snprintf(msg[i], sizeof msg[i], "%s", cf_last_error());
            }
        }
        for (i = 0; i < 64; i++) {
            const void *d;
            size_t n;
            if (!f[i]) continue;
            s[i] = cf_future_result(f[i], PT_LONG, &d, &n);
            snprintf(msg[i], sizeof msg[i], "%s",
                     cf_future_error_message(f[i]) ? cf_future_error_message(f[i]) : "");
            if (s[i] == CF_OK) {
                pt_pid_result r;
                memcpy(&r, d, sizeof r);
                pt_note_pid(r.pid);
            }
        }
    }
    /* The test's own checks need descriptors: the pool is freed under the normal limit (its
     * failed starts were cleaned up under the low one). */
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    if (ex) pt_free(ex);
    if (!ex) {
        fprintf(stderr, "  limit %d: cf_executor_new failed: %s\n", (int)limit, create_err);
        CHECK_CONTAINS(create_err, "Too many open files");
        return 2;
    }
    for (i = 0; i < 64; i++) {
        if (s[i] == CF_OK) {
            cf_future_free(f[i]);
            continue;
        }
        if (f[i]) cf_future_free(f[i]);
        if (!failed)
            fprintf(stderr, "  limit %d: %s: %s\n", (int)limit, cf_status_str(s[i]), msg[i]);
        failed++;
        CHECK(s[i] == CF_BROKEN || s[i] == CF_NO_MEMORY);
        if (!pt_contains(msg[i], "Too many open files")) fprintf(stderr, "  %s\n", msg[i]);
        CHECK(pt_contains(msg[i], "Too many open files"));
    }
    if (!failed) fprintf(stderr, "  limit %d: all 64 tasks ran\n", (int)limit);
    return failed ? 1 : 0;
}

static void fd_limit(void) {
    pt_base b = pt_begin("LD07: RLIMIT_NOFILE low: clear errors, nothing leaked, or it runs");
    static bool open_fd[4096];
    int k, fd, seen[3] = {0, 0, 0};
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d) && fd < 4096) open_fd[fd] = true;
    }
    closedir(d);
    /* The row's literal case: new descriptors must be below 32; 64 workers. */
    seen[under_fd_limit(32)]++;
    /* Then limits leaving exactly k descriptor numbers free, k = 0..15: the limit is the k-th
     * free number (counting from 0). */
    for (k = 0, fd = 0; k < 16 && fd < 4096; fd++) {
        if (open_fd[fd]) continue;
        seen[under_fd_limit((rlim_t)fd)]++;
        CHECK_FDS_BACK_TO(b.fds);
        CHECK_EQ_INT(pt_zombie_children(), 0);
        k++;
    }
    /* The sweep went from "cannot create" or "no worker" to "runs". */
    CHECK(seen[1] + seen[2] >= 1);
    CHECK(seen[0] >= 1);
    pt_end(b);
}

/* ---- SD10 (exit(0) variant), ends the process --------------------------------------------- */

static void sd10exit(void) {
    pt_fifo rep;
    cf_executor *ex;
    pt_block_arg a;
    int i;
    pt_fifo_open(&rep, "rep");
    ex = pt_new(2);
    a = pt_block_args(&rep, NULL, 1);
    a.sleep_ms = 300;
    for (i = 0; i < 2; i++) {
        cf_future *f = NULL;
        CHECK_STATUS(cf_submit(ex, pt_block, &a, sizeof a, &f), CF_OK);
        cf_future_free(f);
    }
    pt_read_report(&rep); /* a task is running */
    for (i = 0; i < 6; i++) {
        char marker[PT_PATH_MAX];
        cf_future *f = NULL;
        snprintf(marker, sizeof marker, "%s/sd10exit-%d", pt_dir, i);
        CHECK_STATUS(cf_submit(ex, pt_touch, marker, strlen(marker) + 1, &f), CF_OK);
        cf_future_free(f);
    }
    printf("SD10 markers 6\n");
    pt_fifo_close(&rep);
    pt_finish();
    /* No shutdown, no free: exit runs the exit-time shutdown, which waits for the work. */
    exit(0);
}

int main(int argc, char **argv) {
    const char *scenario = argc > 2 ? argv[2] : "";
    pt_setup(argc, argv, "proc_faults");
    if (strcmp(scenario, "sd10exit") == 0) sd10exit();
    if (*scenario) {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    PT_RUN(core_limit);
    PT_RUN(kill_during_result);
    PT_RUN(fork_failure);
    PT_RUN(protocol_garbage);
    PT_RUN(protocol_lies);
    PT_RUN(truncated_frames);
    PT_RUN(closed_channel);
    PT_RUN(stdio_flood);
    PT_RUN(stdin_eof);
    PT_RUN(shutdown_nowait_reaps);
    PT_RUN(crash_during_shutdown);
    PT_RUN(creator_thread_exits);
    PT_RUN(fork_with_live_pool);
    PT_RUN(reenter_inherited_copy);
    PT_RUN(nested_pools);
    PT_RUN(app_lock_at_fork);
    PT_RUN(cloexec);
    PT_RUN(parent_signal_state);
    PT_RUN(app_reaps_children);
    PT_RUN(fd_limit);
    return pt_finish();
}
