// proc_pool.cpp: the C++ wrappers on the process pool, run once per start method (argv[1]:
// forkserver, fork or spawn) by tests/cpp_api.rs. Tasks come from libcpptasks.so
// (tests/cpp/cpp_tasks.cpp), which spawn needs; the harness gives CF_WORKER_PATH (the
// cf-worker of this build) and CPPTEST_DIR (a scratch directory for FIFOs).
//
// Covers: typed submit and results, cf::task<F> (an extern "C" wrapper and a template
// instance inside the library; a function of the main program runs under forkserver and
// fork, and is a clear cf::InvalidArgument under spawn), failures with code and message,
// map with chunks, wait / as_completed / done-callbacks over worker processes, cf::WorkerDied
// (abort: code -6), cf::TaskExpired (task_timeout), the initializer (and cf::Broken when it
// fails), max_tasks_per_child, terminate_workers / kill_workers (code -15 / -9, then
// cf::Shutdown), the worker_path option, and bad options.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <set>
#include <thread>
#include <vector>

#include "cpp_tasks.hpp"
#include "cpptest.hpp"

using namespace std::chrono_literals;

namespace {

cf_start_method method = CF_START_FORKSERVER;
const char *method_name = "forkserver";

cf::Options opts() { return cf::Options().start_method(method); }

// A task of the main program: not in a shared library.
std::int64_t local_double(std::int64_t x) { return 2 * x; }

std::string scratch(const char *name) {
    const char *dir = std::getenv("CPPTEST_DIR");
    return std::string(dir != nullptr && *dir != 0 ? dir : ".") + "/" + name;
}

// A FIFO the blocking task reports its pid on. Held open read-write, so that neither side's
// open blocks and a read waits for data (bounded by the watchdog).
class Fifo {
public:
    explicit Fifo(const char *name) : path_(scratch(name)) {
        unlink(path_.c_str());
        CHECK(mkfifo(path_.c_str(), 0600) == 0);
        fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
        CHECK(fd_ >= 0);
    }
    ~Fifo() {
        close(fd_);
        unlink(path_.c_str());
    }
    CptPath arg() const {
        CptPath p{};
        CHECK(path_.size() < sizeof p.path);
        std::memcpy(p.path, path_.c_str(), path_.size() + 1);
        return p;
    }
    std::int32_t read_pid() {
        std::int32_t pid = 0;
        ssize_t n;
        do {
            n = read(fd_, &pid, sizeof pid);
        } while (n < 0 && errno == EINTR);
        CHECK_EQ(n, static_cast<ssize_t>(sizeof pid));
        return pid;
    }

private:
    std::string path_;
    int fd_ = -1;
};

void basics() {
    cf::Executor pool(CF_PROCESS_POOL, 2, opts());

    CHECK_EQ(pool.submit(cpt_square, std::int64_t{7}).result<std::int64_t>(30s), 49);
    cf::Future neg = pool.submit(cpt_square, std::int64_t{-2});
    cf::TaskFailed e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, neg.result(30s));
    CHECK_EQ(e.code(), 3);
    CHECK_EQ(e.message(), std::string("negative input"));
    CHECK_EQ(neg.error_code(), 3);

    // A cf::task<F> template instance inside the library (mangled, weak symbol).
    cf_task_fn cube = cpt_cube_task();
    CHECK_EQ(pool.submit(cube, std::int64_t{3}).result<std::int64_t>(30s), 27);
    cf::Future big = pool.submit(cube, std::int64_t{3000000});
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, big.result(30s));
    CHECK_EQ(e.code(), 0);
    CHECK_EQ(e.message(), std::string("cube overflow"));

    // cf_out_fail with a code, and a bare nonzero return.
    CptFail f4{4, "four"};
    cf::Future four = pool.submit(cpt_fail, f4);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, four.result<std::int64_t>(30s));
    CHECK_EQ(e.code(), 4);
    CHECK_EQ(e.message(), std::string("four"));
    CHECK(!four.exception(30s).value().message().empty());
    CptFail f6{6, ""};
    cf::Future six = pool.submit(cpt_fail, f6);
    CHECK_EQ(six.exception(30s).value().message(), std::string("task returned 6"));
    CHECK_EQ(six.exception().value().code(), 6);

    // map in chunks, in order; a failure inside a chunk fails only its own item.
    std::vector<std::int64_t> xs{1, 2, 3, 4, 5, 6, 7};
    std::vector<std::int64_t> sq = pool.map(cpt_square, xs, 30s, 3).collect<std::int64_t>();
    CHECK_EQ(sq.size(), xs.size());
    for (std::size_t i = 0; i < xs.size(); i++) CHECK_EQ(sq[i], xs[i] * xs[i]);
    cf::Map m = pool.map(cpt_square, std::vector<std::int64_t>{2, -1, 3}, 30s, 3);
    CHECK_EQ(m.next<std::int64_t>().value(), 4);
    cf::TaskFailed mf = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, m.next());
    CHECK(t::contains(mf.message(), "negative input"));
    CHECK(!m.next().has_value());

    // wait, as_completed and a done-callback over worker processes.
    std::vector<cf::Future> fs;
    for (std::int64_t i = 1; i <= 4; i++) fs.push_back(pool.submit(cpt_square, i));
    t::Counter called;
    std::atomic<int> calls{0};
    fs[0].add_done_callback([&](cf::Future &f) {
        calls++;
        CHECK(f.done());
        called.add();
    });
    cf::WaitResult w = cf::wait(fs, 30s);
    CHECK(!w.timed_out);
    CHECK_EQ(w.done.size(), 4u);
    std::int64_t total = 0;
    for (auto &[index, future] : cf::as_completed(fs, 30s)) {
        total += future.result<std::int64_t>() * static_cast<std::int64_t>(index + 1);
    }
    CHECK_EQ(total, 1 * 1 + 4 * 2 + 9 * 3 + 16 * 4);
    called.await(1);
    CHECK_EQ(calls.load(), 1);

    // A function of the main program: any function runs under forkserver and fork; spawn
    // can only load tasks from shared libraries, and says so.
    if (method == CF_START_SPAWN) {
        try {
            cf::Future f = pool.submit(cf::task<local_double>, std::int64_t{5});
            (void)f.result(30s);
            CHECK(!"a main-program task under spawn fails");
        } catch (const cf::Error &err) {
            CHECK_EQ(err.status(), CF_INVALID_ARGUMENT);
            CHECK(!err.message().empty());
        }
    } else {
        CHECK_EQ(pool.submit(cf::task<local_double>, std::int64_t{5}).result<std::int64_t>(30s), 10);
    }
    // The pool goes on.
    CHECK_EQ(pool.submit(cpt_square, std::int64_t{9}).result<std::int64_t>(30s), 81);
}

void worker_died_and_expired() {
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts());
        cf::Future f = pool.submit(cpt_abort);
        cf::WorkerDied d = CHECK_THROWS(cf::WorkerDied, CF_WORKER_DIED, f.result(30s));
        CHECK_EQ(d.code(), -6);
        CHECK_EQ(f.error_code(), -6);
        std::printf("worker died: %s\n", d.what());
        CHECK(t::contains(d.message(), "SIGABRT"));
        CHECK(!f.exception().value().message().empty());
        // Only that task failed: a replacement worker takes the next one.
        CHECK_EQ(pool.submit(cpt_square, std::int64_t{4}).result<std::int64_t>(30s), 16);
    }
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts().task_timeout(200ms));
        cf::Future f = pool.submit(cpt_block, CptPath{});
        cf::TaskExpired x = CHECK_THROWS(cf::TaskExpired, CF_TASK_EXPIRED, f.result(60s));
        CHECK(!x.message().empty());
        CHECK_EQ(f.exception().value().status(), CF_TASK_EXPIRED);
        CHECK_EQ(pool.submit(cpt_square, std::int64_t{5}).result<std::int64_t>(30s), 25);
    }
}

void initializer_and_recycling() {
    {
        cf::Executor pool(CF_PROCESS_POOL, 2, opts().initializer(cpt_init, std::int64_t{99}));
        CHECK_EQ(pool.submit(cpt_init_value).result<std::int64_t>(30s), 99);
    }
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts().initializer(cpt_init, std::int64_t{-1}));
        cf::Future f = pool.submit(cpt_init_value);
        cf::Broken b = CHECK_THROWS(cf::Broken, CF_BROKEN, f.result(30s));
        CHECK(!b.message().empty());
        CHECK_THROWS(cf::Broken, CF_BROKEN, pool.submit(cpt_init_value));
    }
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts().max_tasks_per_child(1));
        std::int32_t a = pool.submit(cpt_pid).result<std::int32_t>(30s);
        std::int32_t b = pool.submit(cpt_pid).result<std::int32_t>(30s);
        CHECK(a != b);
        CHECK(a != static_cast<std::int32_t>(getpid()));
    }
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts());
        std::int32_t a = pool.submit(cpt_pid).result<std::int32_t>(30s);
        std::int32_t b = pool.submit(cpt_pid).result<std::int32_t>(30s);
        CHECK_EQ(a, b); // without the option the worker stays
    }
}

void terminate_and_kill() {
    for (bool kill : {false, true}) {
        Fifo fifo(kill ? "kill.fifo" : "term.fifo");
        cf::Executor pool(CF_PROCESS_POOL, 1, opts());
        cf::Future f = pool.submit(cpt_block, fifo.arg());
        cf::Future queued = pool.submit(cpt_square, std::int64_t{2});
        std::int32_t pid = fifo.read_pid();
        CHECK(pid > 0);
        CHECK(f.running());
        CHECK_THROWS(cf::Timeout, CF_TIMEOUT, f.result(0s));
        if (kill) {
            pool.kill_workers();
        } else {
            pool.terminate_workers();
        }
        cf::WorkerDied d = CHECK_THROWS(cf::WorkerDied, CF_WORKER_DIED, f.result(30s));
        CHECK_EQ(d.code(), kill ? -9 : -15);
        CHECK(t::contains(d.message(), std::to_string(pid)));
        CHECK_THROWS(cf::Cancelled, CF_CANCELLED, queued.result(30s));
        CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, pool.submit(cpt_pid));
    }
}

void options_and_worker_path() {
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Options().start_method(static_cast<cf_start_method>(42)));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Executor(CF_PROCESS_POOL, 1, opts().thread_name_prefix("nope")));
    if (method != CF_START_SPAWN) {
        return;
    }
    const char *env = std::getenv("CF_WORKER_PATH");
    CHECK(env != nullptr && *env != 0);
    std::string worker = env;
    CHECK(unsetenv("CF_WORKER_PATH") == 0);
    {
        cf::Executor pool(CF_PROCESS_POOL, 1, opts().worker_path(worker));
        CHECK_EQ(pool.submit(cpt_square, std::int64_t{6}).result<std::int64_t>(30s), 36);
    }
    cf::InvalidArgument e = CHECK_THROWS(
        cf::InvalidArgument, CF_INVALID_ARGUMENT,
        cf::Executor(CF_PROCESS_POOL, 1, opts().worker_path(scratch("no-such-cf-worker"))));
    CHECK(t::contains(e.message(), "no-such-cf-worker"));
    CHECK(setenv("CF_WORKER_PATH", worker.c_str(), 1) == 0);
}

} // namespace

int main(int argc, char **argv) {
    std::string m = argc > 1 ? argv[1] : "forkserver";
    if (m == "forkserver") {
        method = CF_START_FORKSERVER;
    } else if (m == "fork") {
        method = CF_START_FORK;
    } else if (m == "spawn") {
        method = CF_START_SPAWN;
    } else {
        std::fprintf(stderr, "usage: %s forkserver|fork|spawn\n", argv[0]);
        return 2;
    }
    method_name = argv[1];
    return t::run("proc_pool", [] {
        std::printf("start method: %s\n", method_name);
        int fds = t::count_fds();
        int threads = t::count_threads();
        basics();
        worker_died_and_expired();
        initializer_and_recycling();
        terminate_and_kill();
        options_and_worker_path();
        CHECK_EQ(t::count_fds(), fds);
        CHECK_EQ(t::settle_threads(threads), threads);
    });
}
