/*
 * native_tasks.c: native tasks for the Python binding's tests (built by conftest.py into a
 * temporary directory with `cc -shared -fPIC`). Every task follows cf_task_fn.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfutures.h"

/* Result = the argument. */
int echo_task(const void *arg, size_t arg_len, cf_out *out) {
    return cf_out_set(out, arg, arg_len) == CF_OK ? 0 : 1;
}

/* Argument: two long; result: their gcd as one long. */
int gcd_task(const void *arg, size_t arg_len, cf_out *out) {
    long pair[2], a, b, t;
    if (arg_len != sizeof pair) {
        cf_out_fail(out, "gcd_task: the argument must be a pair of long");
        return 1;
    }
    memcpy(pair, arg, sizeof pair);
    a = labs(pair[0]);
    b = labs(pair[1]);
    while (b != 0) {
        t = a % b;
        a = b;
        b = t;
    }
    return cf_out_set(out, &a, sizeof a) == CF_OK ? 0 : 1;
}

/* Argument: an int32 code, then an optional message. Fails with both. */
int fail_task(const void *arg, size_t arg_len, cf_out *out) {
    int32_t code = 0;
    char message[256];
    size_t n;
    if (arg_len < sizeof code) {
        return 99;
    }
    memcpy(&code, arg, sizeof code);
    n = arg_len - sizeof code;
    if (n > 0) {
        if (n > sizeof message - 1) {
            n = sizeof message - 1;
        }
        memcpy(message, (const char *)arg + sizeof code, n);
        message[n] = '\0';
        cf_out_fail(out, message);
    }
    return (int)code;
}

/* Dies by SIGABRT. */
int abort_task(const void *arg, size_t arg_len, cf_out *out) {
    (void)arg;
    (void)arg_len;
    (void)out;
    abort();
}

/* Argument: an int32 status; the worker exits with it. */
int exit_task(const void *arg, size_t arg_len, cf_out *out) {
    int32_t status = 0;
    (void)out;
    if (arg_len == sizeof status) {
        memcpy(&status, arg, sizeof status);
    }
    _exit((int)status);
}

/* Argument: a double, seconds to sleep (the workload of the time-limit tests). */
int sleep_task(const void *arg, size_t arg_len, cf_out *out) {
    double seconds = 0;
    struct timespec ts;
    (void)out;
    if (arg_len == sizeof seconds) {
        memcpy(&seconds, arg, sizeof seconds);
    }
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

/* Argument: a double (seconds), then a path of a FIFO. Writes one byte to the FIFO (telling
 * the test that the task has begun, across processes), then sleeps. */
int notify_sleep_task(const void *arg, size_t arg_len, cf_out *out) {
    double seconds = 0;
    char path[512];
    size_t n;
    int fd;
    if (arg_len <= sizeof seconds || arg_len - sizeof seconds >= sizeof path) {
        cf_out_fail(out, "notify_sleep_task: bad argument");
        return 1;
    }
    memcpy(&seconds, arg, sizeof seconds);
    n = arg_len - sizeof seconds;
    memcpy(path, (const char *)arg + sizeof seconds, n);
    path[n] = '\0';
    fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, "s", 1) != 1) {
        cf_out_fail(out, "notify_sleep_task: cannot write to the FIFO");
        return 2;
    }
    close(fd);
    return sleep_task(&seconds, sizeof seconds, out);
}

/* Result: the worker's pid as a 64-bit integer. */
int pid_task(const void *arg, size_t arg_len, cf_out *out) {
    int64_t pid = (int64_t)getpid();
    (void)arg;
    (void)arg_len;
    return cf_out_set(out, &pid, sizeof pid) == CF_OK ? 0 : 1;
}

/* Argument: uint64 n; result: n bytes, byte i = (i * 31 + 7) & 0xff, filled in place. */
int pattern_task(const void *arg, size_t arg_len, cf_out *out) {
    uint64_t n, i;
    unsigned char *p;
    if (arg_len != sizeof n) {
        return 1;
    }
    memcpy(&n, arg, sizeof n);
    p = cf_out_alloc(out, (size_t)n);
    if (p == NULL) {
        return 2;
    }
    for (i = 0; i < n; i++) {
        p[i] = (unsigned char)((i * 31 + 7) & 0xff);
    }
    return 0;
}

/* Result: a 64-bit checksum (sum of byte * (index % 251 + 1)) of the argument. */
int checksum_task(const void *arg, size_t arg_len, cf_out *out) {
    const unsigned char *p = arg;
    uint64_t sum = 0;
    size_t i;
    for (i = 0; i < arg_len; i++) {
        sum += (uint64_t)p[i] * (uint64_t)(i % 251 + 1);
    }
    return cf_out_set(out, &sum, sizeof sum) == CF_OK ? 0 : 1;
}

/* --- initializers (process pool: run once per worker) --- */

static unsigned char init_state[64];
static size_t init_state_len = 0;
static int init_calls = 0;

/* Keeps its argument in the worker; a later init_state_task returns it. */
int init_task(const void *arg, size_t arg_len, cf_out *out) {
    (void)out;
    if (arg_len > sizeof init_state) {
        arg_len = sizeof init_state;
    }
    memcpy(init_state, arg, arg_len);
    init_state_len = arg_len;
    init_calls++;
    return 0;
}

/* Result: the initializer's argument followed by one byte, how often it ran here. */
int init_state_task(const void *arg, size_t arg_len, cf_out *out) {
    unsigned char buf[sizeof init_state + 1];
    (void)arg;
    (void)arg_len;
    memcpy(buf, init_state, init_state_len);
    buf[init_state_len] = (unsigned char)init_calls;
    return cf_out_set(out, buf, init_state_len + 1) == CF_OK ? 0 : 1;
}

/* An initializer that always fails. */
int init_fail_task(const void *arg, size_t arg_len, cf_out *out) {
    (void)arg;
    (void)arg_len;
    cf_out_fail(out, "init_fail_task: refusing to initialize");
    return 3;
}

/* --- a gate (thread pool only: shared memory) ---
 * gate_task reports that it started, then blocks until gate_open() is called (or fails after
 * its argument, a double, in seconds). Python calls gate_open() from another thread: if the
 * waiting thread held the GIL, that thread could not run and gate_task would fail. */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_is_open = 0;
static int gate_started = 0;

void gate_reset(void) {
    pthread_mutex_lock(&gate_lock);
    gate_is_open = 0;
    gate_started = 0;
    pthread_mutex_unlock(&gate_lock);
}

void gate_open(void) {
    pthread_mutex_lock(&gate_lock);
    gate_is_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static struct timespec deadline_after(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)seconds;
    ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits (blocking, so called through ctypes without the GIL) until gate_task has started;
 * returns 1 if it did within `seconds`, else 0. */
int gate_wait_started(double seconds) {
    struct timespec ts = deadline_after(seconds);
    int ok;
    pthread_mutex_lock(&gate_lock);
    while (!gate_started) {
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    ok = gate_started;
    pthread_mutex_unlock(&gate_lock);
    return ok;
}

int gate_task(const void *arg, size_t arg_len, cf_out *out) {
    double seconds = 10.0;
    struct timespec ts;
    int opened;
    if (arg_len == sizeof seconds) {
        memcpy(&seconds, arg, sizeof seconds);
    }
    ts = deadline_after(seconds);
    pthread_mutex_lock(&gate_lock);
    gate_started = 1;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_is_open) {
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &ts) == ETIMEDOUT) {
            break;
        }
    }
    opened = gate_is_open;
    pthread_mutex_unlock(&gate_lock);
    if (!opened) {
        cf_out_fail(out, "gate_task: the gate was never opened");
        return 1;
    }
    return 0;
}
