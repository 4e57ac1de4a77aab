/* test_pool.c: the thread pool: default size, lazy start, thread reuse, thread names,
 * initializer, broken pools, bad constructor arguments.
 *
 * Catalogue row TO03 (RELIABILITY.md section 2): a per-task time limit on the thread pool is
 * rejected by cf_executor_new (a thread cannot be killed), pinned in test_bad_constructor. */

/* pthread_getname_np and sched_getaffinity are GNU extensions; only this file needs them. */
#define _GNU_SOURCE
#include "cftest.h"

/* Linux shows at most 15 bytes of a thread name. */
#define NAME_MAX_SHOWN 15

static void task_thread_name(char *buf, size_t n) {
    CHECK(pthread_getname_np(pthread_self(), buf, n) == 0);
}

/* Records the thread's name and identity; optionally blocks on a gate first. */
typedef struct name_arg {
    cft_gate *gate;
    cft_counter *started;
    char *name; /* 32 bytes */
    pthread_t *self;
} name_arg;

static int task_name(const void *arg, size_t len, cf_out *out) {
    name_arg a;
    (void)out;
    if (len != sizeof a) return 99;
    memcpy(&a, arg, sizeof a);
    if (a.name) task_thread_name(a.name, 32);
    if (a.self) *a.self = pthread_self();
    if (a.started) cft_counter_add(a.started, 1);
    if (a.gate) cft_gate_wait(a.gate);
    return 0;
}

static cf_future *submit_name(cf_executor *ex, cft_gate *gate, cft_counter *started, char *name,
                              pthread_t *self) {
    name_arg a;
    cf_future *f = NULL;
    a.gate = gate;
    a.started = started;
    a.name = name;
    a.self = self;
    CHECK_STATUS(cf_submit(ex, task_name, &a, sizeof a, &f), CF_OK);
    return f;
}

static void test_bad_constructor(void) {
    cf_executor *ex;
    /* TO03: the thread pool rejects a per-task time limit: NULL, and the message says why.
     * A limit of 0 (no limit) is accepted. */
    {
        cf_executor_options *o = cf_executor_options_new();
        CHECK(o != NULL);
        CHECK_STATUS(cf_executor_options_set_task_timeout(o, 1.0), CF_OK);
        ex = cf_executor_new(CF_THREAD_POOL, 2, o);
        CHECK(ex == NULL);
        printf("thread pool with a task timeout: %s\n", cf_last_error());
        CHECK(strstr(cf_last_error(), "killed") != NULL);
        CHECK_STATUS(cf_executor_options_set_task_timeout(o, 0.0), CF_OK);
        ex = cf_executor_new(CF_THREAD_POOL, 2, o);
        CHECK(ex != NULL);
        cf_executor_free(ex);
        cf_executor_options_free(o);
    }
    /* CF_PROCESS_POOL: a library with only the thread pool fails it with NULL and a message.
     * Once the process pool exists it gives a working executor (tested elsewhere), freed at
     * once here; the fd and thread baselines at the end then also cover its creation. */
    ex = cf_executor_new(CF_PROCESS_POOL, 2, NULL);
    if (ex == NULL) {
        CHECK(cf_last_error()[0] != '\0');
        printf("CF_PROCESS_POOL: %s\n", cf_last_error());
        ex = cf_executor_new(CF_PROCESS_POOL, 0, NULL);
        CHECK(ex == NULL);
        CHECK(cf_last_error()[0] != '\0');
    } else {
        printf("CF_PROCESS_POOL: available\n");
        cf_executor_free(ex);
    }
    ex = cf_executor_new(CF_PROCESS_POOL, 1u << 31, NULL);
    CHECK(ex == NULL);
    CHECK(cf_last_error()[0] != '\0');
    ex = cf_executor_new((cf_executor_kind)7, 2, NULL);
    CHECK(ex == NULL);
    CHECK(cf_last_error()[0] != '\0');
    ex = cf_executor_new((cf_executor_kind)-1, 2, NULL);
    CHECK(ex == NULL);
    ex = cf_executor_new(CF_THREAD_POOL, 1u << 31, NULL);
    CHECK(ex == NULL);
    CHECK(cf_last_error()[0] != '\0');
    ex = cf_executor_new(CF_THREAD_POOL, UINT32_MAX, NULL);
    CHECK(ex == NULL);
    ex = cf_executor_new(CF_THREAD_POOL, 65537, NULL);
    CHECK(ex == NULL);
    /* 65536 is the documented limit: accepted (and no thread starts). */
    {
        int t0 = cft_count_threads();
        ex = cf_executor_new(CF_THREAD_POOL, 65536, NULL);
        CHECK(ex != NULL);
        CHECK_EQ_INT(cft_count_threads(), t0);
        cf_executor_free(ex);
    }
}

/* max_workers 0: the default, min(32, cpus + 4), and it works. */
static void test_default_size(int threads0) {
    enum { N = 40 };
    cf_executor *ex = cft_pool(0);
    cft_gate gate;
    cft_counter started;
    cf_future *fs[N];
    cpu_set_t set;
    int i, grown, cpus;
    cft_gate_init(&gate);
    cft_counter_init(&started);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    cpus = CPU_COUNT(&set);
    CHECK_EQ_INT(cft_count_threads(), threads0);
    /* Gated tasks never free a thread: each submit starts one until the maximum. */
    for (i = 0; i < N; i++) fs[i] = submit_name(ex, &gate, &started, NULL, NULL);
    grown = cft_count_threads() - threads0;
    printf("default max_workers: %d threads started (%d CPUs available)\n", grown, cpus);
    /* The library counts CPUs as Rust's available_parallelism does (which may also apply a
     * cgroup quota), so allow any count up to the affinity mask's. */
    CHECK(grown >= 5);
    CHECK(grown <= 32);
    CHECK(grown <= cpus + 4);
    cft_counter_await(&started, grown);
    cft_gate_open(&gate);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    CHECK_EQ_INT(cft_counter_get(&started), N);
    for (i = 0; i < N; i++) {
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_OK);
        cf_future_free(fs[i]);
    }
    CHECK_EQ_INT(cft_count_threads() - threads0, grown);
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* Threads start lazily: none before the first submit, one for it. */
static void test_lazy(int threads0) {
    cf_executor *ex = cft_pool(4);
    pthread_t first;
    CHECK_EQ_INT(cft_count_threads(), threads0);
    {
        cf_executor *ex2 = cft_pool(0);
        CHECK_EQ_INT(cft_count_threads(), threads0);
        cf_executor_free(ex2);
    }
    {
        cf_future *f = submit_name(ex, NULL, NULL, NULL, &first);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
    }
    CHECK_EQ_INT(cft_count_threads(), threads0 + 1);
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
}

/* Sequential submit + result, back to back, on a max_workers=4 pool: the one idle thread does
 * everything and the thread count grows by one only (DESIGN.md: the thread pool "reuses idle
 * ones before starting new ones"). Many rounds: a worker that counted itself idle only after
 * publishing the result let the next submit start a second thread now and then. */
static void test_reuse(int threads0) {
    cf_executor *ex = cft_pool(4);
    pthread_t first, self;
    int i;
    {
        cf_future *f = submit_name(ex, NULL, NULL, NULL, &first);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
    }
    {
        enum { SEQ = 100000 };
        int other = -1;
        for (i = 0; i < SEQ; i++) {
            cf_future *f = submit_name(ex, NULL, NULL, NULL, &self);
            CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
            cf_future_free(f);
            if (other < 0 && !pthread_equal(self, first)) other = i;
        }
        if (other >= 0 || cft_count_threads() != threads0 + 1)
            fprintf(stderr,
                    "sequential submit+result: %d threads started (first task on another "
                    "thread at iteration %d)\n",
                    cft_count_threads() - threads0, other);
        CHECK_EQ_INT(cft_count_threads(), threads0 + 1);
        CHECK_EQ_INT(other, -1);
    }
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
}

static void check_default_name(const char *name) {
    static const char want[] = "ThreadPoolExecutor-";
    size_t n = strlen(name);
    /* Linux truncates to 15 bytes: "ThreadPoolExecu" is all that can be seen. */
    CHECK(n >= NAME_MAX_SHOWN);
    CHECK(strncmp(name, want, n < sizeof want - 1 ? n : sizeof want - 1) == 0);
}

static void test_names(void) {
    cf_executor_options *o = cf_executor_options_new();
    cf_executor *ex;
    cft_gate gate;
    cft_counter started;
    char names[3][32];
    cf_future *fs[3];
    int i;
    CHECK(o != NULL);
    cft_gate_init(&gate);
    cft_counter_init(&started);

    /* A custom prefix: threads are <prefix>_<n>. */
    CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, "cfw"), CF_OK);
    ex = cf_executor_new(CF_THREAD_POOL, 3, o);
    CHECK(ex != NULL);
    /* Options are copied: changing or freeing them does not affect the executor. */
    CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, "other"), CF_OK);
    for (i = 0; i < 3; i++) fs[i] = submit_name(ex, &gate, &started, names[i], NULL);
    cft_counter_await(&started, 3);
    cft_gate_open(&gate);
    CHECK_STATUS(cf_wait(fs, 3, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    {
        bool seen[3] = {false, false, false};
        for (i = 0; i < 3; i++) {
            CHECK(strncmp(names[i], "cfw_", 4) == 0);
            CHECK(names[i][4] >= '0' && names[i][4] <= '2' && names[i][5] == 0);
            CHECK(!seen[names[i][4] - '0']);
            seen[names[i][4] - '0'] = true;
            cf_future_free(fs[i]);
        }
    }
    cf_executor_free(ex);

    /* "other" (set after the first executor was made) applies to the next one. */
    ex = cf_executor_new(CF_THREAD_POOL, 1, o);
    CHECK(ex != NULL);
    cf_executor_options_free(o);
    o = NULL;
    fs[0] = submit_name(ex, NULL, NULL, names[0], NULL);
    CHECK_STATUS(cf_future_exception(fs[0], CF_FOREVER), CF_OK);
    CHECK_STR(names[0], "other_0");
    cf_future_free(fs[0]);
    cf_executor_free(ex);

    /* A long prefix: Linux shows its first 15 bytes. */
    o = cf_executor_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, "averyveryverylongprefix"), CF_OK);
    ex = cf_executor_new(CF_THREAD_POOL, 1, o);
    CHECK(ex != NULL);
    fs[0] = submit_name(ex, NULL, NULL, names[0], NULL);
    CHECK_STATUS(cf_future_exception(fs[0], CF_FOREVER), CF_OK);
    CHECK_STR(names[0], "averyveryverylo");
    cf_future_free(fs[0]);
    cf_executor_free(ex);

    /* NULL and "" restore the default; so do no options at all and fresh options. */
    for (i = 0; i < 4; i++) {
        if (i == 0) CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, NULL), CF_OK);
        if (i == 1) {
            CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, "x"), CF_OK);
            CHECK_STATUS(cf_executor_options_set_thread_name_prefix(o, ""), CF_OK);
        }
        if (i == 3) {
            cf_executor_options_free(o);
            o = cf_executor_options_new();
            CHECK(o != NULL);
        }
        ex = cf_executor_new(CF_THREAD_POOL, 1, i == 2 ? NULL : o);
        CHECK(ex != NULL);
        fs[0] = submit_name(ex, NULL, NULL, names[0], NULL);
        CHECK_STATUS(cf_future_exception(fs[0], CF_FOREVER), CF_OK);
        check_default_name(names[0]);
        cf_future_free(fs[0]);
        cf_executor_free(ex);
    }
    cf_executor_options_free(o);
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* The initializer runs once per thread, before any task, with its initargs. */
#define MAXT 16
typedef struct init_log {
    pthread_mutex_t m;
    int n;
    pthread_t threads[MAXT];
    int bad_args;
    int misaligned;
    cft_gate *gate; /* a failing initializer waits here first */
    int rc;         /* what the initializer returns */
    const char *fail_message;
} init_log;

static init_log g_log;

typedef struct init_args {
    init_log *log;
    char text[40];
} init_args;

static int initializer(const void *arg, size_t len, cf_out *out) {
    init_args a;
    init_log *log;
    if (len != sizeof a) {
        g_log.bad_args++;
        return 1;
    }
    memcpy(&a, arg, sizeof a);
    log = a.log;
    pthread_mutex_lock(&log->m);
    if ((((uintptr_t)arg) & 15u) != 0) log->misaligned++;
    if (strcmp(a.text, "init-args: the original text") != 0) log->bad_args++;
    if (log->n < MAXT) log->threads[log->n] = pthread_self();
    log->n++;
    pthread_mutex_unlock(&log->m);
    /* A result set by an initializer is ignored. */
    cf_out_set(out, "ignored", 7);
    if (log->gate) cft_gate_wait(log->gate);
    if (log->fail_message) cf_out_fail(out, log->fail_message);
    return log->rc;
}

/* A task that checks its thread ran the initializer. */
static int task_check_init(const void *arg, size_t len, cf_out *out) {
    init_log *log;
    int i, found = 0;
    if (len != sizeof log) return 99;
    memcpy(&log, arg, sizeof log);
    pthread_mutex_lock(&log->m);
    for (i = 0; i < log->n && i < MAXT; i++) found += pthread_equal(log->threads[i], pthread_self());
    pthread_mutex_unlock(&log->m);
    if (found != 1) return 50 + found;
    return cf_out_set(out, "task", 4) == CF_OK ? 0 : 98;
}

static void log_reset(init_log *log) {
    log->n = 0;
    log->bad_args = 0;
    log->misaligned = 0;
    log->gate = NULL;
    log->rc = 0;
    log->fail_message = NULL;
}

static cf_executor *pool_with_init(uint32_t max_workers, init_log *log) {
    cf_executor_options *o = cf_executor_options_new();
    init_args a;
    cf_executor *ex;
    CHECK(o != NULL);
    memset(&a, 0, sizeof a);
    a.log = log;
    strcpy(a.text, "init-args: the original text");
    CHECK_STATUS(cf_executor_options_set_initializer(o, initializer, &a, sizeof a), CF_OK);
    /* initargs are copied. */
    strcpy(a.text, "changed after set_initializer");
    ex = cf_executor_new(CF_THREAD_POOL, max_workers, o);
    CHECK(ex != NULL);
    cf_executor_options_free(o);
    return ex;
}

static void test_initializer(int threads0) {
    enum { N = 60 };
    cf_executor *ex;
    cft_gate gate;
    cft_counter started;
    cf_future *fs[N];
    init_log *log = &g_log;
    int i;

    pthread_mutex_init(&log->m, NULL);
    log_reset(log);
    cft_gate_init(&gate);
    cft_counter_init(&started);
    ex = pool_with_init(3, log);
    CHECK_EQ_INT(log->n, 0); /* lazily: nothing ran yet */
    /* Three gated tasks force three threads. */
    for (i = 0; i < 3; i++) fs[i] = cft_submit_gated(ex, &gate, &started, NULL);
    cft_counter_await(&started, 3);
    for (i = 3; i < N; i++) {
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, task_check_init, &log, sizeof log, &fs[i]), CF_OK);
    }
    cft_gate_open(&gate);
    CHECK_STATUS(cf_wait(fs, N, CF_FOREVER, CF_ALL_COMPLETED, NULL, NULL), CF_OK);
    for (i = 0; i < N; i++) {
        const void *data = NULL;
        size_t len = 0;
        CHECK_STATUS(cf_future_result(fs[i], 0.0, &data, &len), CF_OK);
        if (i >= 3) CHECK(len == 4 && memcmp(data, "task", 4) == 0);
        cf_future_free(fs[i]);
    }
    cf_executor_free(ex);
    CHECK_EQ_INT(log->n, 3);
    CHECK_EQ_INT(log->bad_args, 0);
    CHECK_EQ_INT(log->misaligned, 0);
    CHECK(!pthread_equal(log->threads[0], log->threads[1]));
    CHECK(!pthread_equal(log->threads[1], log->threads[2]));
    CHECK(!pthread_equal(log->threads[0], log->threads[2]));
    CHECK_THREADS_BACK_TO(threads0);

    /* set_initializer(NULL) removes it. */
    {
        cf_executor_options *o = cf_executor_options_new();
        init_args a;
        cf_future *f = NULL;
        memset(&a, 0, sizeof a);
        a.log = log;
        log_reset(log);
        CHECK_STATUS(cf_executor_options_set_initializer(o, initializer, &a, sizeof a), CF_OK);
        CHECK_STATUS(cf_executor_options_set_initializer(o, NULL, NULL, 0), CF_OK);
        ex = cf_executor_new(CF_THREAD_POOL, 1, o);
        CHECK(ex != NULL);
        cf_executor_options_free(o);
        CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &f), CF_OK);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
        cf_executor_free(ex);
        CHECK_EQ_INT(log->n, 0);
    }
    cft_counter_destroy(&started);
    cft_gate_destroy(&gate);
}

/* A failing initializer breaks the executor: queued futures get CF_BROKEN and later submits
 * return CF_BROKEN with a message. The initializer waits on a gate, so the submits below are
 * all accepted before it fails. */
static void test_broken(int threads0, uint32_t max_workers, int rc, const char *message) {
    enum { N = 8 };
    cf_executor *ex;
    cft_gate gate;
    cft_counter k;
    cf_future *fs[N];
    cf_future *late = (cf_future *)&late;
    init_log *log = &g_log;
    int i;
    cft_gate_init(&gate);
    cft_counter_init(&k);
    log_reset(log);
    log->gate = &gate;
    log->rc = rc;
    log->fail_message = message;
    ex = pool_with_init(max_workers, log);
    for (i = 0; i < N; i++) {
        cft_counter *pk = &k;
        fs[i] = NULL;
        CHECK_STATUS(cf_submit(ex, cft_task_count, &pk, sizeof pk, &fs[i]), CF_OK);
    }
    cft_gate_open(&gate);
    for (i = 0; i < N; i++) {
        const void *data = NULL;
        size_t len = 0;
        const char *m;
        CHECK_STATUS(cf_future_result(fs[i], CF_FOREVER, &data, &len), CF_BROKEN);
        CHECK(cf_last_error()[0] != '\0');
        m = cf_future_error_message(fs[i]);
        CHECK(m != NULL && m[0] != '\0');
        if (message) CHECK(strstr(m, message) != NULL);
        CHECK(cf_future_done(fs[i]));
        CHECK(!cf_future_cancelled(fs[i]));
        CHECK_STATUS(cf_future_exception(fs[i], 0.0), CF_BROKEN);
        if (i == 0) printf("broken executor future: %s\n", m);
        cf_future_free(fs[i]);
    }
    CHECK_STATUS(cf_submit(ex, cft_task_noop, NULL, 0, &late), CF_BROKEN);
    CHECK(cf_last_error()[0] != '\0');
    CHECK(late == (cf_future *)&late);
    printf("submit on a broken executor: %s\n", cf_last_error());
    {
        cf_map_iter *it = (cf_map_iter *)&it;
        CHECK_STATUS(cf_map(ex, cft_task_noop, NULL, 0, 3, CF_FOREVER, 1, &it), CF_BROKEN);
        CHECK(it == (cf_map_iter *)&it);
    }
    CHECK_EQ_INT(cft_counter_get(&k), 0);
    CHECK_STATUS(cf_executor_shutdown(ex, true, false), CF_OK);
    cf_executor_free(ex);
    CHECK(log->n >= 1);
    CHECK_EQ_INT(cft_counter_get(&k), 0);
    CHECK_THREADS_BACK_TO(threads0);
    cft_counter_destroy(&k);
    cft_gate_destroy(&gate);
}

/* A task's failure never kills its thread. */
static int task_fail_self(const void *arg, size_t len, cf_out *out) {
    pthread_t *self;
    if (len != sizeof self) return 99;
    memcpy(&self, arg, sizeof self);
    *self = pthread_self();
    cf_out_fail(out, "fails on purpose");
    return 1;
}

static void test_failure_keeps_thread(int threads0) {
    cf_executor *ex = cft_pool(1);
    pthread_t first, self;
    pthread_t *ps = &self;
    int i;
    {
        cf_future *f = submit_name(ex, NULL, NULL, NULL, &first);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        cf_future_free(f);
    }
    for (i = 0; i < 50; i++) {
        cf_future *f = NULL;
        CHECK_STATUS(cf_submit(ex, task_fail_self, &ps, sizeof ps, &f), CF_OK);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_TASK_FAILED);
        CHECK(pthread_equal(self, first));
        cf_future_free(f);
    }
    {
        cf_future *f = submit_name(ex, NULL, NULL, NULL, &self);
        CHECK_STATUS(cf_future_exception(f, CF_FOREVER), CF_OK);
        CHECK(pthread_equal(self, first));
        cf_future_free(f);
    }
    CHECK_EQ_INT(cft_count_threads(), threads0 + 1);
    cf_executor_free(ex);
    CHECK_THREADS_BACK_TO(threads0);
}

int main(void) {
    cft_baseline base;
    base = cft_begin("test_pool");

    test_bad_constructor();
    test_default_size(base.threads);
    test_lazy(base.threads);
    test_reuse(base.threads);
    test_names();
    CHECK_THREADS_BACK_TO(base.threads);
    test_initializer(base.threads);
    test_broken(base.threads, 1, 5, NULL);
    test_broken(base.threads, 1, 0, "init boom");
    test_broken(base.threads, 3, 7, "init boom three");
    test_failure_keeps_thread(base.threads);
    pthread_mutex_destroy(&g_log.m);
    CFT_END(base);
    return 0;
}
