// test_future.cpp: cf::Future on the thread pool: submit (raw, typed, bytes, no argument),
// result / result<T> / exception / error_code / error_message, cf::task<F> with every kind
// of argument and result and its exceptions, timeouts (cf::Timeout), cancel (cf::Cancelled),
// copy = retain and move semantics, C and C++ done-callbacks (exactly once, on which thread,
// lifetime of the callable, a throwing callable terminates).
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "cpptest.hpp"

using namespace std::chrono_literals;

namespace {

struct Pair {
    long a, b;
};

long gcd(const Pair &p) {
    long low = p.a < p.b ? p.a : p.b;
    for (long i = low; i > 0; i--) {
        if (p.a % i == 0 && p.b % i == 0) return i;
    }
    return 0;
}

std::string shout(cf::Bytes b) {
    std::string s = b.str();
    for (char &c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    return s + "!";
}

std::size_t text_len(std::string_view s) noexcept { return s.size(); }

std::vector<int> first_n(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; i++) v.push_back(i * i);
    return v;
}

std::atomic<int> side_effects{0};
void no_result(int x) { side_effects += x; }
int forty_two() { return 42; }

int task_error(int code) { throw cf::TaskError(code, "custom failure " + std::to_string(code)); }
int std_error(int) { throw std::out_of_range("out of range here"); }
int odd_error(int) { throw 17; }

int returns_nonzero(const void *, std::size_t, cf_out *) { return 5; }
int fails_with_message(const void *, std::size_t, cf_out *out) {
    cf::fail(out, "boom");
    return 0;
}
int fails_and_returns(const void *, std::size_t, cf_out *out) {
    cf::fail(out, "bad and 9");
    return 9;
}

void submit_and_result() {
    cf::Executor pool(CF_THREAD_POOL, 2);

    // Typed argument and result.
    cf::Future f = pool.submit(cf::task<gcd>, Pair{1879675, 2493670});
    CHECK_EQ(f.result<long>(), 5L);
    CHECK_EQ(f.result<long>(5s), 5L);
    CHECK(f.done());
    CHECK(!f.running());
    CHECK(!f.cancelled());
    CHECK_EQ(f.error_code(), 0);
    CHECK(f.error_message() == nullptr);
    CHECK(!f.exception().has_value());
    CHECK(f.wait());

    // The raw bytes, valid while the future is held.
    cf::Bytes b = f.result();
    CHECK_EQ(b.size(), sizeof(long));
    CHECK_EQ(b.as<long>(), 5L);
    CHECK_EQ(b.to_vector<long>().size(), 1u);
    CHECK_EQ(b.to_vector<int>().size(), sizeof(long) / sizeof(int));

    // Wrong size: cf::InvalidArgument, without touching the future.
    cf::InvalidArgument e = CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, f.result<int>());
    CHECK(t::contains(e.what(), "8 bytes"));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, b.to_vector<std::array<char, 3>>());
    CHECK_EQ(f.result<long>(), 5L);

    // Raw pointer + length, cf::Bytes, no argument.
    Pair p{1963309, 2265973};
    cf::Future raw = pool.submit(cf::task<gcd>, &p, sizeof p);
    cf::Future text = pool.submit(cf::task<shout>, cf::Bytes("hello"));
    cf::Future view = pool.submit(cf::task<text_len>, cf::Bytes(std::string_view("four")));
    cf::Future vec = pool.submit(cf::task<first_n>, 4);
    cf::Future none = pool.submit(cf::task<no_result>, 3);
    cf::Future noarg = pool.submit(cf::task<forty_two>);
    CHECK_EQ(raw.result<long>(), 1L);
    CHECK_EQ(text.result().str(), std::string("HELLO!"));
    CHECK_EQ(text.result().view(), std::string_view("HELLO!"));
    CHECK_EQ(view.result<std::size_t>(), 4u);
    std::vector<int> squares = vec.result().to_vector<int>();
    CHECK_EQ(squares.size(), 4u);
    CHECK_EQ(squares[3], 9);
    CHECK(none.result().empty());
    CHECK_EQ(side_effects.load(), 3);
    CHECK_EQ(noarg.result<int>(), 42);

    // A typed task given the wrong argument size fails its future, naming the sizes.
    cf::Future wrong = pool.submit(cf::task<gcd>, 7);
    cf::TaskFailed tf = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, wrong.result());
    CHECK(t::contains(tf.message(), "4 bytes"));
    CHECK(t::contains(tf.message(), "16"));

    // A capture-less lambda is a task.
    cf::Future lam = pool.submit(
        [](const void *arg, std::size_t len, cf_out *out) -> int {
            return cf::set_result(out, static_cast<int>(len) + *static_cast<const char *>(arg)) ==
                           CF_OK
                       ? 0
                       : 1;
        },
        'a');
    CHECK_EQ(lam.result<int>(), 'a' + 1);
}

void failures() {
    cf::Executor pool(CF_THREAD_POOL, 2);

    // A nonzero return: code and "task returned N".
    cf::Future f = pool.submit(returns_nonzero);
    cf::TaskFailed e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, f.result());
    CHECK_EQ(e.code(), 5);
    CHECK_EQ(e.message(), std::string("task returned 5"));
    CHECK(t::contains(e.what(), "cf_future_result"));
    CHECK(t::contains(e.what(), "task returned 5"));
    CHECK_EQ(e.call(), std::string("cf_future_result"));
    CHECK_EQ(f.error_code(), 5);
    CHECK_EQ(std::string(f.error_message()), std::string("task returned 5"));
    CHECK(f.done());
    std::optional<cf::Error> x = f.exception();
    CHECK(x.has_value());
    CHECK_EQ(x->status(), CF_TASK_FAILED);
    CHECK_EQ(x->code(), 5);
    CHECK_EQ(x->message(), std::string("task returned 5"));
    // Typed result of a failed future throws the failure too, not a size error.
    CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, f.result<long>());
    // A failed future is caught as cf::Error as well.
    try {
        (void)f.result();
        CHECK(!"result() of a failed future threw");
    } catch (const cf::Error &err) {
        CHECK_EQ(err.status(), CF_TASK_FAILED);
    }

    // cf_out_fail only: code 0 and the message.
    cf::Future g = pool.submit(fails_with_message);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, g.result());
    CHECK_EQ(e.code(), 0);
    CHECK_EQ(e.message(), std::string("boom"));
    cf::Future h = pool.submit(fails_and_returns);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, h.result());
    CHECK_EQ(e.code(), 9);
    CHECK_EQ(e.message(), std::string("bad and 9"));

    // Exceptions from a cf::task<F> function.
    cf::Future te = pool.submit(cf::task<task_error>, 12);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, te.result<int>());
    CHECK_EQ(e.code(), 12);
    CHECK_EQ(e.message(), std::string("custom failure 12"));
    cf::Future se = pool.submit(cf::task<std_error>, 1);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, se.result());
    CHECK_EQ(e.code(), 0);
    CHECK_EQ(e.message(), std::string("out of range here"));
    cf::Future oe = pool.submit(cf::task<odd_error>, 1);
    e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, oe.result());
    CHECK_EQ(e.message(), std::string("unknown C++ exception"));

    // The pool goes on.
    CHECK_EQ(pool.submit(cf::task<forty_two>).result<int>(), 42);
}

void timeouts_and_cancel() {
    cf::Executor pool(CF_THREAD_POOL, 1);
    t::Gate gate;
    t::Counter started;
    cf::Future running = pool.submit(t::gated_task, t::gated(&gate, &started, nullptr, 7));
    cf::Future queued = pool.submit(t::gated_task, t::gated(nullptr, nullptr, nullptr, 8));
    started.await(1);

    // Timeouts of every shape: nothing changes.
    cf::Timeout to = CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.result(0s));
    CHECK(t::contains(to.what(), "timeout") || t::contains(to.what(), "Timeout") ||
          t::contains(to.what(), "TIMEOUT"));
    CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.result(1ms));
    CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.result(std::chrono::microseconds(10)));
    CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.result(-5s)); // negative polls
    CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.result<long>(std::chrono::duration<double>(0.001)));
    CHECK_THROWS(cf::Timeout, CF_TIMEOUT, running.exception(0s));
    CHECK_THROWS(cf::Error, CF_TIMEOUT, running.result(0s)); // a cf::Error too
    CHECK(!running.wait(0s));
    CHECK(!running.wait(2ms));
    CHECK(running.running());
    CHECK(!running.done());
    CHECK(!queued.running());

    // NaN is an invalid argument.
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 running.result(std::chrono::duration<double>(std::nan(""))));

    // Cancel: only while pending.
    CHECK(!running.cancel());
    CHECK(queued.cancel());
    CHECK(queued.cancel()); // again: still true
    CHECK(queued.cancelled());
    CHECK(queued.done());
    CHECK(queued.wait(0s));
    cf::Cancelled c = CHECK_THROWS(cf::Cancelled, CF_CANCELLED, queued.result());
    CHECK_EQ(c.code(), 0);
    CHECK_THROWS(cf::Cancelled, CF_CANCELLED, queued.result<long>(1s));
    CHECK_THROWS(cf::Cancelled, CF_CANCELLED, queued.exception()); // as Python
    CHECK_THROWS(cf::Error, CF_CANCELLED, queued.result());

    gate.open();
    CHECK_EQ(running.result<long>(cf::forever), 7L);
    CHECK(running.wait(cf::forever));
    CHECK(!running.cancel());
    CHECK(!running.cancelled());
}

void empty_future() {
    cf::Future none;
    CHECK(!none);
    CHECK(!none.done());
    CHECK(!none.running());
    CHECK(!none.cancelled());
    CHECK(!none.cancel());
    CHECK_EQ(none.error_code(), 0);
    CHECK(none.error_message() == nullptr);
    CHECK(none.get() == nullptr);
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, none.result());
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, none.result<int>(1s));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, none.exception());
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, none.wait());
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 none.add_done_callback([](cf::Future &) {}));
}

void copy_and_move() {
    cf::Executor pool(CF_THREAD_POOL, 1);

    // A copy is the same future and keeps it alive after the original is gone.
    cf::Future copy;
    {
        cf::Future original = pool.submit(cf::task<forty_two>);
        copy = original;
        CHECK(copy == original);
        CHECK(copy.get() == original.get());
    }
    CHECK_EQ(copy.result<int>(), 42);
    cf::Bytes kept = copy.result();

    t::Gate gate;
    cf::Future a = pool.submit(t::gated_task, t::gated(&gate, nullptr, nullptr, 11));

    // Move steals: the source is empty, the target is the future.
    cf::Future* self = &a;
    a = *self; // self-assignment keeps it
    CHECK(a);
    cf::Future b = std::move(a);
    CHECK(!a);
    CHECK(b);
    CHECK(!a.cancel());
    cf::Future c;
    c = std::move(b);
    CHECK(!b);
    CHECK(c);
    CHECK(a != c);
    cf::Future d(c);
    CHECK(d == c);

    // Cancelling through one reference is seen through the other.
    cf::Future queued = pool.submit(cf::task<forty_two>);
    cf::Future alias = queued;
    CHECK(alias.cancel());
    CHECK(queued.cancelled());

    // release() gives the C handle; the caller frees it.
    cf::Future e = c;
    cf_future *raw = e.release();
    CHECK(!e);
    CHECK(raw == c.get());
    cf::Future adopted(raw);
    CHECK(adopted == c);
    cf::Future retained = cf::Future::retain(c.get());
    CHECK(retained == c);

    gate.open();
    CHECK_EQ(retained.result<long>(), 11L);
    CHECK_EQ(d.result<long>(), 11L);
    CHECK_EQ(kept.as<int>(), 42); // still valid: `copy` holds the future
}

struct CbData {
    std::atomic<int> calls{0};
    std::atomic<cf_future *> seen{nullptr};
};
void c_callback(cf_future *f, void *user) {
    CbData *d = static_cast<CbData *>(user);
    d->seen = f;
    d->calls++;
}

void callbacks() {
    cf::Executor pool(CF_THREAD_POOL, 1);

    // A C callback with user data.
    {
        t::Gate gate;
        CbData data;
        cf::Future f = pool.submit(t::gated_task, t::gated(&gate));
        f.add_done_callback(c_callback, &data);
        CHECK_EQ(data.calls.load(), 0);
        gate.open();
        f.result();
        pool.submit(cf::task<forty_two>).wait(); // callbacks have run: one worker, in order
        CHECK_EQ(data.calls.load(), 1);
        CHECK(data.seen.load() == f.get());
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                     cf::Future().add_done_callback(c_callback, &data));
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, f.add_done_callback(nullptr, &data));
        CHECK_EQ(data.calls.load(), 1);
    }

    // A C++ callable: once, on the worker thread, with the future; destroyed after its call.
    {
        t::Gate gate;
        t::Counter called;
        auto token = std::make_shared<int>(5);
        std::atomic<int> calls{0};
        std::thread::id where;
        cf_future *seen = nullptr;
        cf::Future f = pool.submit(t::gated_task, t::gated(&gate, nullptr, nullptr, 3));
        f.add_done_callback([token, &calls, &where, &seen, &called](cf::Future &done) {
            calls++;
            where = std::this_thread::get_id();
            seen = done.get();
            CHECK(done.done());
            CHECK_EQ(done.result<long>(), 3L); // the callback may call back into cfutures
            called.add();
        });
        CHECK_EQ(token.use_count(), 2L); // the callable is held until it runs
        gate.open();
        called.await(1);
        CHECK_EQ(f.result<long>(), 3L);
        pool.submit(cf::task<forty_two>).wait(); // the worker is past the callback
        CHECK_EQ(calls.load(), 1);
        CHECK(where != std::this_thread::get_id());
        CHECK(seen == f.get());
        CHECK_EQ(token.use_count(), 1L); // and destroyed after its one call
    }

    // Already done: runs at once, in this thread, before add_done_callback returns.
    {
        cf::Future f = pool.submit(cf::task<forty_two>);
        f.wait();
        auto token = std::make_shared<int>(1);
        int calls = 0;
        std::thread::id where;
        f.add_done_callback([token, &calls, &where](const cf::Future &done) {
            calls++;
            where = std::this_thread::get_id();
            CHECK(done.done());
        });
        CHECK_EQ(calls, 1);
        CHECK(where == std::this_thread::get_id());
        CHECK_EQ(token.use_count(), 1L);
        // A named callable is copied; the original stays usable.
        auto named = [&calls](cf::Future &) { calls += 10; };
        f.add_done_callback(named);
        named(f);
        CHECK_EQ(calls, 21);
    }

    // Cancelled: runs in the cancelling thread; callbacks in the order added.
    {
        t::Gate gate;
        t::Counter started;
        cf::Future busy = pool.submit(t::gated_task, t::gated(&gate, &started));
        cf::Future queued = pool.submit(cf::task<forty_two>);
        started.await(1);
        std::vector<int> order;
        std::thread::id where;
        queued.add_done_callback([&order, &where](cf::Future &d) {
            CHECK(d.cancelled());
            where = std::this_thread::get_id();
            order.push_back(1);
        });
        queued.add_done_callback([&order](cf::Future &) { order.push_back(2); });
        CHECK(order.empty());
        CHECK(queued.cancel());
        CHECK_EQ(order.size(), 2u);
        CHECK_EQ(order[0], 1);
        CHECK_EQ(order[1], 2);
        CHECK(where == std::this_thread::get_id());
        gate.open();
        busy.result();
    }

    // Failing to add (empty future): never called, the callable is destroyed at once.
    {
        auto token = std::make_shared<int>(2);
        bool called = false;
        cf::Future none;
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                     none.add_done_callback([token, &called](cf::Future &) { called = true; }));
        CHECK(!called);
        CHECK_EQ(token.use_count(), 1L);
    }

    // A callback that submits to the pool (calls back into the API without deadlock).
    {
        cf::Future second;
        t::Counter submitted;
        cf::Future first = pool.submit(cf::task<forty_two>);
        first.add_done_callback([&pool, &second, &submitted](cf::Future &) {
            second = pool.submit(cf::task<gcd>, Pair{1551645, 2229620});
            submitted.add();
        });
        submitted.await(1);
        CHECK_EQ(second.result<long>(), 5L);
    }
}

int throwing_callback_child(bool already_done) {
    cf::Executor pool(CF_THREAD_POOL, 1);
    t::Gate gate;
    cf::Future f = pool.submit(t::gated_task, t::gated(&gate));
    if (already_done) {
        gate.open();
        f.wait();
    }
    std::printf("child: adding the throwing callback\n");
    f.add_done_callback([](cf::Future &) { throw std::runtime_error("from a callback"); });
    gate.open();
    f.wait();
    pool.submit(cf::task<forty_two>).wait(); // the worker has run the callback
    std::printf("child: the exception did not terminate\n");
    std::fflush(stdout);
    _exit(0);
}

// A throwing C++ callback ends the program with std::terminate (SIGABRT) rather than
// unwinding into the library: checked in a forked child, inline and on a worker thread.
void throwing_callback_terminates() {
    for (bool already_done : {true, false}) {
        std::fflush(stdout);
        std::fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            throwing_callback_child(already_done);
        }
        int status = 0;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFSIGNALED(status));
        CHECK_EQ(WTERMSIG(status), SIGABRT);
    }
}

} // namespace

int main() {
    return t::run("test_future", [] {
        throwing_callback_terminates(); // first: fork while single-threaded
        submit_and_result();
        failures();
        timeouts_and_cancel();
        empty_future();
        copy_and_move();
        callbacks();
    });
}
