// cpptest.hpp: the small helper shared by the C++ test programs in tests/cpp (compiled and
// run by tests/cpp_api.rs, one process per program, under its watchdog).
//
// - CHECK / CHECK_EQ / CHECK_THROWS: on failure print file:line and what differed, then end
//   the process with _exit(1) (after flushing): exit() would run cfutures' exit hook, which
//   waits for queued work, and a failed check usually leaves tasks blocked on a gate.
// - start(): the program's own watchdog (alarm + a handler that _exits 3), after the runner's.
// - Gate (tasks block on it until the test opens it) and Counter (a latch): no sleep stands in
//   for synchronisation anywhere.
// - gated_task: a thread-pool task whose argument is a GatedArg (pointers by value).
#ifndef CPPTEST_HPP
#define CPPTEST_HPP

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>

#include "cfutures.hpp"

namespace t {

[[noreturn]] inline void die() {
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(1);
}

[[noreturn]] inline void fail(const char *file, int line, const std::string &what) {
    std::fprintf(stderr, "%s:%d: CHECK FAILED: %s\n", file, line, what.c_str());
    die();
}

template <class A, class B>
void check_eq(const A &a, const B &b, const char *ea, const char *eb, const char *file, int line) {
    if (!(a == b)) {
        std::ostringstream s;
        s << ea << " == " << eb << "\n  left = " << a << "\n  right = " << b;
        fail(file, line, s.str());
    }
}

// Runs f, which must throw E (a cf::Error subclass) with `status`; returns the exception.
template <class E, class F>
E check_throws(F &&f, cf_status status, const char *expr, const char *file, int line) {
    try {
        f();
    } catch (const E &e) {
        if (e.status() != status) {
            fail(file, line,
                 std::string(expr) + ": threw status " + cf::status_name(e.status()) +
                     ", expected " + cf::status_name(status) + " (" + e.what() + ")");
        }
        return e;
    } catch (const std::exception &e) {
        fail(file, line, std::string(expr) + ": threw the wrong exception: " + e.what());
    }
    fail(file, line, std::string(expr) + ": did not throw (expected " +
                         cf::status_name(status) + ")");
}

inline bool contains(const std::string &s, const std::string &part) {
    return s.find(part) != std::string::npos;
}

} // namespace t

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) t::fail(__FILE__, __LINE__, #cond);                                     \
    } while (0)

#define CHECK_EQ(a, b) t::check_eq((a), (b), #a, #b, __FILE__, __LINE__)

// CHECK_THROWS(cf::Timeout, CF_TIMEOUT, f.result(0s)) evaluates to the caught exception.
#define CHECK_THROWS(E, status, ...)                                                         \
    t::check_throws<E>([&]() { (void)(__VA_ARGS__); }, (status), #__VA_ARGS__, __FILE__, __LINE__)

namespace t {

inline void on_alarm(int) {
    static const char msg[] = "\nWATCHDOG: the test program did not finish in time\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

// The program's own watchdog (CFTEST_ALARM seconds, default 100) and line-buffered stdout.
inline void start(const char *name) {
    const char *env = std::getenv("CFTEST_ALARM");
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    alarm(env != nullptr && *env != 0 ? static_cast<unsigned>(std::strtoul(env, nullptr, 10))
                                      : 100u);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::printf("%s: start (cfutures %s)\n", name, cf::version());
}

inline void pass(const char *name) {
    std::printf("%s: all checks passed\n", name);
    std::fflush(stdout);
}

// The program: start(name), body(), pass(name); an exception escaping body (a cfutures call
// that failed outside a CHECK_THROWS) fails the program with its what().
template <class F> int run(const char *name, F &&body) {
    start(name);
    try {
        body();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: uncaught exception: %s\n", name, e.what());
        die();
    }
    pass(name);
    return 0;
}

// A gate tasks block on until the test opens it; counts arrivals. Destroying it opens it and
// waits until every task inside wait() has left, so a gate may go out of scope right after
// open() while the woken tasks are still on their way out (they would otherwise touch a
// destroyed mutex).
class Gate {
public:
    Gate() = default;
    Gate(const Gate &) = delete;
    Gate &operator=(const Gate &) = delete;
    ~Gate() {
        std::unique_lock<std::mutex> l(m_);
        open_ = true;
        c_.notify_all();
        c_.wait(l, [&] { return inside_ == 0; });
    }
    void wait() {
        std::unique_lock<std::mutex> l(m_);
        arrived_++;
        inside_++;
        c_.notify_all();
        c_.wait(l, [&] { return open_; });
        inside_--;
        c_.notify_all();
    }
    void open() {
        std::lock_guard<std::mutex> l(m_);
        open_ = true;
        c_.notify_all();
    }
    void await_arrivals(int n) {
        std::unique_lock<std::mutex> l(m_);
        c_.wait(l, [&] { return arrived_ >= n; });
    }

private:
    std::mutex m_;
    std::condition_variable c_;
    bool open_ = false;
    int arrived_ = 0;
    int inside_ = 0;
};

// A counter one can wait on.
class Counter {
public:
    long add(long d = 1) {
        std::lock_guard<std::mutex> l(m_);
        n_ += d;
        c_.notify_all();
        return n_;
    }
    long get() {
        std::lock_guard<std::mutex> l(m_);
        return n_;
    }
    void await(long n) {
        std::unique_lock<std::mutex> l(m_);
        c_.wait(l, [&] { return n_ >= n; });
    }

private:
    std::mutex m_;
    std::condition_variable c_;
    long n_ = 0;
};

// The argument of gated_task: pointers passed by value (a thread-pool argument).
struct GatedArg {
    Gate *gate;       // waited on (may be null)
    Counter *started; // incremented when the task begins (may be null)
    Counter *ran;     // incremented when it ends (may be null)
    int rc;           // returned
    long result;      // the result (a long)
};

inline int gated_task(const void *arg, std::size_t len, cf_out *out) {
    std::optional<GatedArg> a = cf::arg<GatedArg>(arg, len);
    if (!a) return 99;
    if (a->started) a->started->add();
    if (a->gate) a->gate->wait();
    if (a->ran) a->ran->add();
    if (cf::set_result(out, a->result) != CF_OK) return 98;
    return a->rc;
}

inline GatedArg gated(Gate *gate, Counter *started = nullptr, Counter *ran = nullptr,
                      long result = 0, int rc = 0) {
    return GatedArg{gate, started, ran, rc, result};
}

// Open file descriptors / threads of this process.
inline int count_dir(const char *path) {
    DIR *d = opendir(path);
    if (d == nullptr) fail(__FILE__, __LINE__, std::string("opendir ") + path);
    int own = dirfd(d), n = 0;
    while (struct dirent *e = readdir(d)) {
        if (e->d_name[0] == '.' || std::atoi(e->d_name) == own) continue;
        n++;
    }
    closedir(d);
    return n;
}
inline int count_fds() { return count_dir("/proc/self/fd"); }
inline int count_threads() { return count_dir("/proc/self/task"); }

// The thread count once exited (already joined) threads have left /proc/self/task: the kernel
// unlists a task a moment after pthread_join returns. Bounded (~10 s) bookkeeping poll, never
// a stand-in for synchronisation with cfutures.
inline int settle_threads(int expected) {
    int n = count_threads();
    for (int i = 0; i < 10000 && n > expected; i++) {
        usleep(1000);
        n = count_threads();
    }
    return n;
}

} // namespace t

#endif // CPPTEST_HPP
