/*
 * proc_lifecycle.c: process-pool lifecycle for the start method in argv[1].
 *
 * Without argv[2]: FK04 (a worker holds only its stdio and its channel) and SD07 (an
 * executor freed while other code holds its futures). With argv[2], one scenario that ends
 * the process, checked from outside by tests/process_api.rs:
 * - fk06: FK06 and CR04's stdout half: a marker printed without a newline before the pool
 *   starts must reach stdout exactly once, even though a task calls exit(0) in its worker;
 * - sd03: SD03: shutdown(wait=false) with tasks running, then main returns: no hang, the
 *   queued tasks run (marker files), no worker lingers;
 * - sd10: SD10: _exit(0) with busy workers and no shutdown: nothing lingers;
 * - sd09: SD09: prints the pids of its descendants (fork server, workers) and SIGKILLs
 *   itself: every one of them must be gone within 2 s.
 */
#define _GNU_SOURCE
#include "proctest.h"

/* ---- FK04 --------------------------------------------------------------------------------- */

static int list_fds(int pid, int *fds, int max) {
    char path[64];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    d = opendir(path);
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n < max) fds[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void fd_link(int pid, int fd, char *buf, size_t len) {
    char path[64];
    ssize_t n;
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    n = readlink(path, buf, len - 1);
    CHECK(n > 0);
    buf[n] = 0;
}

/* Whether this process holds a descriptor whose target is `link`. */
static bool we_hold(const char *link) {
    int fds[1024], n, i;
    char mine[256];
    n = list_fds((int)getpid(), fds, 1024);
    for (i = 0; i < n && i < 1024; i++) {
        char path[64];
        ssize_t k;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
        k = readlink(path, mine, sizeof mine - 1);
        if (k <= 0) continue;
        mine[k] = 0;
        if (strcmp(mine, link) == 0) return true;
    }
    return false;
}

static void fd_hygiene(void) {
    pt_base b = pt_begin("FK04: a worker holds only fds 0-2 and its channel");
    cf_executor *ex = pt_new(2);
    int server = pt_fork_server();
    int w, fds[64], n, i;
    bool has_chan = false;
    char link[256];
    if (server) pt_note_pid(server);
    w = pt_worker_pid(ex); /* idle now, alive until the pool is freed */
    n = list_fds(w, fds, 64);
    for (i = 0; i < n && i < 64; i++) {
        bool allowed = fds[i] <= 3 || (pt_method == CF_START_SPAWN && fds[i] == 4);
        if (!allowed) {
            fd_link(w, fds[i], link, sizeof link);
            fprintf(stderr, "  worker %d holds fd %d -> %s\n", w, fds[i], link);
            CHECK(!"the worker holds only fds 0-2, its channel (3) and (spawn) its slot table (4)");
        }
        has_chan |= fds[i] == 3;
    }
    CHECK(has_chan);
    fd_link(w, 0, link, sizeof link);
    CHECK_STR(link, "/dev/null"); /* PR05: stdin is not the parent's */
    fd_link(w, 3, link, sizeof link);
    CHECK_CONTAINS(link, "socket:");
    CHECK(!we_hold(link)); /* the parent keeps its own end only */
    if (server) {
        /* The fork server: stdio, its request socket, its signalfd. */
        n = list_fds(server, fds, 64);
        for (i = 0; i < n && i < 64; i++) {
            if (fds[i] <= 3) continue;
            fd_link(server, fds[i], link, sizeof link);
            if (!pt_contains(link, "signalfd")) {
                fprintf(stderr, "  fork server %d holds fd %d -> %s\n", server, fds[i], link);
                CHECK(!"the fork server holds only stdio, its socket and its signalfd");
            }
        }
        fd_link(server, 3, link, sizeof link);
        CHECK(!we_hold(link));
    }
    pt_free(ex);
    pt_end(b);
}

/* ---- SD07 --------------------------------------------------------------------------------- */

typedef struct holder {
    cf_future *fs[4];
    cft_counter started;
    int status;
    int ok;
} holder;

static void *holder_main(void *p) {
    holder *h = (holder *)p;
    int i;
    cft_counter_add(&h->started, 1);
    h->status = (int)cf_wait(h->fs, 4, PT_LONG, CF_ALL_COMPLETED, NULL, NULL);
    for (i = 0; i < 4; i++) {
        const void *d;
        size_t n;
        if (cf_future_result(h->fs[i], 0.0, &d, &n) == CF_OK && n == sizeof(pt_pid_result))
            h->ok++;
        cf_future_free(h->fs[i]);
    }
    return NULL;
}

static void freed_with_futures_elsewhere(void) {
    pt_base b = pt_begin("SD07: the executor is freed while another thread holds its futures");
    cf_executor *ex = pt_new(2);
    holder h;
    pthread_t t;
    uint32_t ms = 100;
    int i;
    memset(&h, 0, sizeof h);
    cft_counter_init(&h.started);
    for (i = 0; i < 4; i++) {
        cf_future *f = pt_submit(ex, pt_sleep_ms, &ms, sizeof ms);
        h.fs[i] = cf_future_retain(f); /* the holder's own references */
        cf_future_free(f);
    }
    CHECK(pthread_create(&t, NULL, holder_main, &h) == 0);
    cft_counter_await(&h.started, 1);
    pt_free(ex);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(h.status, CF_OK);
    CHECK_EQ_INT(h.ok, 4);
    cft_counter_destroy(&h.started);
    pt_end(b);
}

/* ---- scenarios that end the process ------------------------------------------------------- */

static int fk06(void) {
    pt_base b;
    cf_executor *ex;
    cf_future *f[5], *x;
    int i;
    /* Buffered, not written: a worker that flushed its copy would print it again. */
    printf("FK06-MARK|");
    b = pt_begin("FK06: no double stdio flush");
    ex = pt_new(2);
    for (i = 0; i < 5; i++) f[i] = pt_submit(ex, pt_echo, &i, sizeof i);
    for (i = 0; i < 5; i++) {
        pt_ok(f[i], NULL);
        cf_future_free(f[i]);
    }
    x = pt_submit(ex, pt_exit0, NULL, 0); /* runs atexit handlers and flushes in the worker */
    PT_EXPECT(x, CF_WORKER_DIED);
    CHECK_EQ_INT(cf_future_error_code(x), 0);
    cf_future_free(x);
    pt_free(ex);
    pt_end(b);
    return pt_finish();
}

/* Starts busy tasks (each reports, then sleeps `ms`); returns once one has begun. */
static cf_executor *busy_pool(pt_fifo *rep, uint32_t ms, int n) {
    cf_executor *ex = pt_new(2);
    pt_block_arg a = pt_block_args(rep, NULL, 1);
    int i;
    a.sleep_ms = ms;
    for (i = 0; i < n; i++) {
        cf_future *f = NULL;
        CHECK_STATUS(cf_submit(ex, pt_block, &a, sizeof a, &f), CF_OK);
        cf_future_free(f);
    }
    pt_read_report(rep);
    return ex;
}

static int sd03(void) {
    pt_fifo rep;
    cf_executor *ex;
    int i;
    pt_fifo_open(&rep, "rep");
    ex = busy_pool(&rep, 300, 2);
    for (i = 0; i < 6; i++) {
        char marker[PT_PATH_MAX];
        cf_future *f = NULL;
        snprintf(marker, sizeof marker, "%s/sd03-%d", pt_dir, i);
        CHECK_STATUS(cf_submit(ex, pt_touch, marker, strlen(marker) + 1, &f), CF_OK);
        cf_future_free(f);
    }
    CHECK_STATUS(cf_executor_shutdown(ex, false, false), CF_OK);
    printf("SD03 markers 6\n");
    pt_fifo_close(&rep);
    /* The executor is never freed: the exit-time shutdown waits for its queued work. */
    return pt_finish();
}

static void sd10(void) {
    pt_fifo rep;
    pt_fifo_open(&rep, "rep");
    busy_pool(&rep, 60000, 2);
    pt_fifo_close(&rep);
    pt_finish();
    fflush(stdout);
    fflush(stderr);
    _exit(0);
}

static void sd09(void) {
    pt_fifo rep;
    int pids[64], n, i;
    pt_fifo_open(&rep, "rep");
    busy_pool(&rep, 60000, 2);
    n = pt_descendants((int)getpid(), pids, 64);
    for (i = 0; i < n && i < 64; i++) printf("SD09 pid %d\n", pids[i]);
    printf("SD09 killing myself\n");
    fflush(stdout);
    fflush(stderr);
    pt_fifo_close(&rep);
    raise(SIGKILL);
}

int main(int argc, char **argv) {
    const char *scenario = argc > 2 ? argv[2] : "";
    pt_setup(argc, argv, "proc_lifecycle");
    if (strcmp(scenario, "fk06") == 0) return fk06();
    if (strcmp(scenario, "sd03") == 0) return sd03();
    if (strcmp(scenario, "sd10") == 0) sd10();
    if (strcmp(scenario, "sd09") == 0) sd09();
    if (*scenario) {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    PT_RUN(fd_hygiene);
    PT_RUN(freed_with_futures_elsewhere);
    return pt_finish();
}
