/*
 * proc_resolve.c: how task functions travel to workers (CR10, CR11, CR15), for the start
 * method in argv[1]: a static function of this program (refused by spawn, fine elsewhere), a
 * pointer into anonymous memory (refused everywhere), bad submits followed by good ones, a
 * missing cf-worker program, a library loaded with dlopen after the executor was created,
 * a library deleted before a worker could load it, and one whose initialiser crashes workers.
 */
#define _GNU_SOURCE
#include "proctest.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

/* A task of the main program, not exported. */
static int local_task(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    return cf_out_set(out, "local", 5) == CF_OK ? 0 : 1;
}

/* A task of the main program with external linkage (still not in the dynamic symbol table of
 * an executable linked without -rdynamic). */
int proc_resolve_global_task(const void *arg, size_t len, cf_out *out);
int proc_resolve_global_task(const void *arg, size_t len, cf_out *out) {
    (void)arg;
    (void)len;
    return cf_out_set(out, "global", 6) == CF_OK ? 0 : 1;
}

static cf_task_fn as_task(void *p) {
    cf_task_fn fn;
    memcpy(&fn, &p, sizeof fn);
    return fn;
}

static void check_runs(cf_executor *ex, cf_task_fn fn, const char *want) {
    cf_future *f = pt_submit(ex, fn, NULL, 0);
    size_t n;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, strlen(want));
    CHECK(memcmp(d, want, n) == 0);
    cf_future_free(f);
}

static void check_refused(cf_executor *ex, cf_task_fn fn, const char *words) {
    cf_future *f = NULL;
    cf_map_iter *it = NULL;
    int64_t x = 1;
    CHECK_STATUS(cf_submit(ex, fn, NULL, 0, &f), CF_INVALID_ARGUMENT);
    CHECK(f == NULL);
    if (words) CHECK_CONTAINS(cf_last_error(), words);
    CHECK(strlen(cf_last_error()) > 0);
    CHECK_STATUS(cf_map(ex, fn, &x, sizeof x, 1, PT_LONG, 1, &it), CF_INVALID_ARGUMENT);
    CHECK(it == NULL);
}

/* ---- CR10/CR11: main-program functions ---------------------------------------------------- */

static void main_program_functions(void) {
    pt_base b = pt_begin("a function of the main program: spawn refuses it, forks run it");
    cf_executor *ex = pt_new(1);
    if (pt_method == CF_START_SPAWN) {
        check_refused(ex, local_task, "shared library");
        check_refused(ex, proc_resolve_global_task, "shared library");
        /* The message names the fix: the other start methods. */
        check_refused(ex, local_task, "forkserver");
    } else {
        check_runs(ex, local_task, "local");
        check_runs(ex, proc_resolve_global_task, "global");
    }
    /* The pool is not hurt. */
    check_runs(ex, pt_echo, "");
    pt_free(ex);
    pt_end(b);
}

/* ---- CR11: pointers into anonymous memory ------------------------------------------------- */

static void *anon_page(void) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0xc3, 4096); /* x86 "ret", should anything ever call it */
    CHECK(mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0);
    return p;
}

static void anonymous_pointers(void) {
    pt_base b = pt_begin("CR11: pointers into anonymous memory are refused at submit");
    void *page = anon_page();
    void *heap = malloc(64);
    void *bigheap = malloc((size_t)1 << 20); /* an mmap'd chunk */
    cf_executor *ex = pt_new(1);
    CHECK(heap && bigheap);
    check_refused(ex, as_task(page), NULL);
    check_refused(ex, as_task((char *)page + 100), NULL);
    check_refused(ex, as_task(heap), NULL);
    check_refused(ex, as_task(bigheap), NULL);
    check_runs(ex, pt_echo, "");
    pt_free(ex);
    munmap(page, 4096);
    free(heap);
    free(bigheap);
    pt_end(b);
}

static void bad_then_good(void) {
    pt_base b = pt_begin("CR11: 100 bad submits, then 100 good ones");
    void *page = anon_page();
    cf_executor *ex = pt_new(2);
    cf_future *f[100];
    int64_t i;
    for (i = 0; i < 100; i++) {
        cf_future *g = NULL;
        cf_task_fn fn = (pt_method == CF_START_SPAWN && i % 2) ? local_task
                                                                : as_task((char *)page + i);
        CHECK_STATUS(cf_submit(ex, fn, &i, sizeof i, &g), CF_INVALID_ARGUMENT);
        CHECK(g == NULL);
    }
    for (i = 0; i < 100; i++) f[i] = pt_submit(ex, pt_square, &i, sizeof i);
    for (i = 0; i < 100; i++) {
        size_t n;
        int64_t y;
        const void *d = pt_ok(f[i], &n);
        CHECK_EQ_INT(n, sizeof y);
        memcpy(&y, d, sizeof y);
        CHECK_EQ_INT(y, i * i);
        cf_future_free(f[i]);
    }
    pt_free(ex);
    munmap(page, 4096);
    pt_end(b);
}

/* ---- CR15: no cf-worker program ----------------------------------------------------------- */

static void missing_worker_program(void) {
    pt_base b = pt_begin("CR15: spawn with a missing cf-worker: cf_executor_new fails");
    cf_executor_options *o = cf_executor_options_new();
    cf_executor *ex;
    CHECK(o != NULL);
    CHECK_STATUS(cf_executor_options_set_start_method(o, CF_START_SPAWN), CF_OK);
    CHECK_STATUS(cf_executor_options_set_worker_path(o, "/nonexistent/cf-worker"), CF_OK);
    ex = cf_executor_new(CF_PROCESS_POOL, 2, o);
    CHECK(ex == NULL);
    CHECK_CONTAINS(cf_last_error(), "/nonexistent/cf-worker");
    cf_executor_options_free(o);
    CHECK_EQ_INT(pt_children((int)getpid(), NULL, 0, true), 0);
    pt_end(b);
}

/* ---- a library loaded after the executor was created -------------------------------------- */

static void *load_late(const char *path, cf_task_fn *fn) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        CHECK(!"dlopen the late library");
    }
    *fn = as_task(dlsym(h, "pt_lib_tag"));
    CHECK(*fn != NULL);
    CHECK(*fn != pt_lib_tag); /* a second copy, not the linked one */
    return h;
}

static int32_t tag_of(cf_future *f) {
    size_t n;
    int32_t t;
    const void *d = pt_ok(f, &n);
    CHECK_EQ_INT(n, sizeof t);
    memcpy(&t, d, sizeof t);
    return t;
}

static void dlopen_after_create(void) {
    const char *late = getenv("PROCTEST_LATE_LIB");
    pt_base b = pt_begin("a task in a library dlopen'ed after the executor was created");
    cf_executor *ex;
    cf_task_fn fn;
    cf_future *f1, *f2;
    void *h;
    CHECK(late != NULL && *late);
    ex = pt_new(1);
    pt_worker_pid(ex); /* a worker exists before the library is loaded */
    h = load_late(late, &fn);
    f1 = pt_submit(ex, fn, NULL, 0);
    f2 = pt_submit(ex, pt_lib_tag, NULL, 0);
    CHECK_EQ_INT(tag_of(f1), 2);
    CHECK_EQ_INT(tag_of(f2), 1);
    cf_future_free(f1);
    cf_future_free(f2);
    pt_free(ex);
    dlclose(h);
    pt_end(b);
}

/* Copies the late library to `name` in the test's directory; its path goes to `path`. */
static void copy_late_lib(const char *name, char *path, size_t size) {
    const char *late = getenv("PROCTEST_LATE_LIB");
    FILE *in, *out;
    char buf[65536];
    size_t n;
    CHECK(late != NULL && *late);
    snprintf(path, size, "%s/%s", pt_dir, name);
    in = fopen(late, "rb");
    out = fopen(path, "wb");
    CHECK(in && out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK(fwrite(buf, 1, n, out) == n);
    fclose(in);
    fclose(out);
}

/* CR10: the library is deleted before a worker can load it: that future fails with the
 * loader's message; the pool goes on. */
static void deleted_library(void) {
    char copy[PT_PATH_MAX];
    pt_base b;
    cf_executor *ex;
    cf_task_fn fn;
    cf_future *f;
    void *h;
    int w1;

    copy_late_lib("libgone.so", copy, sizeof copy);
    b = pt_begin("CR10: a library deleted before the worker loads it");
    ex = pt_new(1);
    w1 = pt_worker_pid(ex); /* the worker exists before the library is loaded */
    h = load_late(copy, &fn);
    CHECK(unlink(copy) == 0);
    f = pt_submit(ex, fn, NULL, 0);
    PT_EXPECT(f, CF_INVALID_ARGUMENT);
    CHECK_CONTAINS(cf_future_error_message(f), "libgone.so");
    cf_future_free(f);
    CHECK_EQ_INT(pt_worker_pid(ex), w1); /* the pool, and even the worker, go on */
    pt_free(ex);
    dlclose(h);
    pt_end(b);
}

/* A library whose initialiser crashes the worker that loads it: the worker dies inside the
 * task that needed the library, so that future fails with CF_WORKER_DIED (SIGABRT) and the
 * pool goes on. (The worker used to load the library before claiming the task, so the task
 * counted as not started and was handed to a new worker, which crashed the same way, for
 * ever.) */
static void crashing_library_initializer(void) {
    char copy[PT_PATH_MAX], pid[32];
    pt_base b;
    cf_executor *ex;
    cf_task_fn fn;
    cf_future *f;
    void *h;
    int round;

    /* A fresh path: no process has this copy mapped yet. */
    copy_late_lib("libinitabort.so", copy, sizeof copy);
    b = pt_begin("a library whose initialiser crashes the worker loading it");
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    CHECK(setenv("PT_LATE_ABORT_UNLESS_PID", pid, 1) == 0); /* before any worker exists */
    ex = pt_new(1);
    pt_worker_pid(ex);
    h = load_late(copy, &fn); /* this process loads it safely */
    for (round = 0; round < 2; round++) {
        f = pt_submit(ex, fn, NULL, 0);
        if (round == 1 && pt_method == CF_START_FORK) {
            /* The replacement was forked from this process, which has the library mapped:
             * nothing to load, nothing crashes. */
            CHECK_EQ_INT(tag_of(f), 2);
        } else {
            PT_EXPECT(f, CF_WORKER_DIED);
            CHECK_EQ_INT(cf_future_error_code(f), -SIGABRT);
        }
        cf_future_free(f);
        f = pt_submit(ex, pt_lib_tag, NULL, 0); /* the pool goes on */
        CHECK_EQ_INT(tag_of(f), 1);
        cf_future_free(f);
    }
    pt_free(ex);
    CHECK(unsetenv("PT_LATE_ABORT_UNLESS_PID") == 0);
    dlclose(h);
    unlink(copy);
    pt_end(b);
}

int main(int argc, char **argv) {
    pt_setup(argc, argv, "proc_resolve");
    PT_RUN(main_program_functions);
    PT_RUN(anonymous_pointers);
    PT_RUN(bad_then_good);
    PT_RUN(missing_worker_program);
    PT_RUN(dlopen_after_create);
    PT_RUN(deleted_library);
    PT_RUN(crashing_library_initializer);
    return pt_finish();
}
