/* test_fork.c: the application forks (without exec) while a thread pool has threads.
 *
 * Catalogue row SD13, thread pool side (RELIABILITY.md section 2): the child of a plain fork()
 * calls submit, map, shutdown and free on the pool it inherited: each gives a defined result
 * (CF_INVALID_ARGUMENT naming the cause for work, CF_OK for shutdown and free, which touch
 * nothing) and never blocks, although one of the pool's threads was inside a task and another
 * idle in the queue at the fork. A future done before the fork is still readable; a new pool
 * made in the child works (fresh state); the child's exit-time hook does not wait for the
 * parent's pool. The parent is unaffected. The child runs under its own 20 s alarm watchdog
 * (alarms are not inherited across fork); the parent checks how it ended. O2, O3 (no child
 * left) and O5 in the parent. */
#include "cftest.h"

#include <sys/wait.h>

#define CHILD_WATCHDOG_SECS 20

/* Everything the child checks; exits 0 when all pass (CHECK exits 1, the watchdog 3). */
static void child_main(cf_executor *ex, cf_future *done_before) {
    cf_future *f = (cf_future *)&f;
    cf_map_iter *it = (cf_map_iter *)&it;
    const void *data = NULL;
    size_t len = 0;
    int items[2] = {1, 2};

    alarm(CHILD_WATCHDOG_SECS);

    /* Work on the inherited pool: a defined error, at once, out-params untouched. */
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_INVALID_ARGUMENT);
    CHECK(f == (cf_future *)&f);
    printf("child: cf_submit on the inherited pool: %s\n", cf_last_error());
    CHECK(strstr(cf_last_error(), "fork") != NULL || strstr(cf_last_error(), "parent") != NULL);
    CHECK_STATUS(cf_map(ex, cft_task_echo, items, sizeof items[0], 2, CF_FOREVER, 1, &it),
                 CF_INVALID_ARGUMENT);
    CHECK(it == (cf_map_iter *)&it);

    /* A future done before the fork is still readable. */
    CHECK(cf_future_done(done_before));
    CHECK_STATUS(cf_future_result(done_before, 0.0, &data, &len), CF_OK);
    CHECK(len == 4 && memcmp(data, "pre!", 4) == 0);

    /* Shutdown (even with wait) and free return: the pool's threads do not exist here. */
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    CHECK_STATUS(cf_executor_shutdown(ex, true, true), CF_OK);
    cf_executor_free(ex);
    cf_future_free(done_before);

#if !defined(__SANITIZE_THREAD__)
    /* Fresh state: a new pool in the child works. (ThreadSanitizer refuses new threads after
     * a multithreaded fork, so this part is skipped under it.) */
    {
        cf_executor *ex2 = cft_pool(2);
        cf_future *g = NULL;
        CHECK_STATUS(cf_submit(ex2, cft_task_echo, "child", 5, &g), CF_OK);
        CHECK_STATUS(cf_future_result(g, CF_FOREVER, &data, &len), CF_OK);
        CHECK(len == 5 && memcmp(data, "child", 5) == 0);
        cf_future_free(g);
        cf_executor_free(ex2);
    }
#endif
    printf("child: all checks passed\n");
    fflush(stdout);
    /* exit, not _exit: cfutures' exit-time hook runs and must skip the parent's pool. Under
     * ASan or valgrind the child ends by exec'ing `true` instead: their leak check at exit
     * would report what the parent's threads own (their start closures, thread-local
     * destructor lists), which no thread exists to free in a forked child, and an exec
     * replaces the image without that check. The exit hook is covered by the uninstrumented
     * run. */
    if (cft_memory_instrumented()) {
        execlp("true", "true", (char *)NULL);
        _exit(4); /* exec failed */
    }
    exit(0);
}

int main(void) {
    cft_baseline base = cft_begin("test_fork");
    cf_executor *ex = cft_pool(2);
    cft_gate gate;
    cft_counter started;
    cf_future *running, *done_before = NULL, *after = NULL;
    const void *data = NULL;
    size_t len = 0;
    pid_t pid;
    int status = 0;

    cft_gate_init(&gate);
    cft_counter_init(&started);
    CHECK_STATUS(cf_submit(ex, cft_task_echo, "pre!", 4, &done_before), CF_OK);
    CHECK_STATUS(cf_future_exception(done_before, CF_FOREVER), CF_OK);
    /* Two threads: one runs a gated task at the fork, the other waits for work. */
    running = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 1);
    {
        cf_future *idle = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &idle), CF_OK);
        CHECK_STATUS(cf_future_exception(idle, CF_FOREVER), CF_OK);
        cf_future_free(idle);
    }
    /* The first thread is busy, so the second submit started a second one. */
    CHECK_EQ_INT(cft_count_threads(), base.threads + 2);

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child_main(ex, done_before);

    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
            fprintf(stderr, "the child blocked: its watchdog (%d s) ended it\n",
                    CHILD_WATCHDOG_SECS);
        fprintf(stderr, "child status 0x%x\n", (unsigned)status);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_EQ_INT(cft_count_children(), 0);

    /* The parent's pool is unaffected. */
    CHECK(!cf_future_done(running));
    cft_gate_open(&gate);
    CHECK_STATUS(cf_future_exception(running, CF_FOREVER), CF_OK);
    CHECK_STATUS(cf_submit(ex, cft_task_echo, "parent", 6, &after), CF_OK);
    CHECK_STATUS(cf_future_result(after, CF_FOREVER, &data, &len), CF_OK);
    CHECK(len == 6 && memcmp(data, "parent", 6) == 0);
    cf_future_free(after);
    cf_future_free(running);
    cf_future_free(done_before);
    cf_executor_free(ex);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
    CFT_END(base);
    return 0;
}
