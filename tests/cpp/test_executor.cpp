// test_executor.cpp: cf::Executor and cf::Options on the thread pool, and cf::Map:
// options (thread name prefix, initializer with typed initargs, a failing initializer breaks
// the pool: cf::Broken), bad options and arguments (cf::InvalidArgument), shutdown(wait,
// cancel_futures), submit after shutdown (cf::Shutdown), shutdown from the pool's own task,
// terminate/kill_workers on a thread pool, the destructor as Python's `with` exit, moves, and
// map (raw, typed pointer, containers, iteration, as<T>, collect, failures, timeout, early
// destruction cancels what has not started).
#include <pthread.h>

#include <array>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "cpptest.hpp"

using namespace std::chrono_literals;

namespace {

long twice(long x) {
    if (x == 13) throw cf::TaskError(13, "unlucky");
    return 2 * x;
}

struct Pair {
    long a, b;
};
long sum(const Pair &p) { return p.a + p.b; }

std::string thread_name() {
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    return name;
}

thread_local long init_seen = -1;
int init_task(const void *arg, std::size_t len, cf_out *out) {
    std::optional<long> v = cf::arg<long>(arg, len);
    if (!v) return 1;
    if (*v < 0) {
        cf::fail(out, "negative initargs");
        return 2;
    }
    init_seen = *v;
    return 0;
}
long read_init() { return init_seen; }

int count_task(const void *arg, std::size_t len, cf_out *) {
    std::optional<t::Counter *> c = cf::arg<t::Counter *>(arg, len);
    if (!c) return 1;
    (*c)->add();
    return 0;
}

void options() {
    // Thread name prefix, on a named Options and on a chained temporary.
    {
        cf::Options o;
        o.thread_name_prefix("cppq");
        cf::Executor pool(CF_THREAD_POOL, 1, o);
        cf::Future f = pool.submit(cf::task<thread_name>);
        std::string name = f.result().str();
        CHECK_EQ(name.rfind("cppq_", 0), 0u);
    }
    {
        cf::Executor pool(CF_THREAD_POOL, 1, cf::Options().thread_name_prefix(std::string("tmpq")));
        cf::Future f = pool.submit(cf::task<thread_name>);
        std::string name = f.result().str();
        CHECK_EQ(name.rfind("tmpq_", 0), 0u);
    }
    // Builder moved into a variable.
    cf::Options built = cf::Options().thread_name_prefix("abc").initializer(init_task, 77L);
    cf::Options moved = std::move(built);
    CHECK(built.get() == nullptr);
    CHECK(moved.get() != nullptr);

    // Initializer with typed initargs runs in each worker before its tasks.
    {
        cf::Executor pool(CF_THREAD_POOL, 2, cf::Options().initializer(init_task, 41L));
        CHECK_EQ(pool.submit(cf::task<read_init>).result<long>(), 41L);
        CHECK_EQ(pool.submit(cf::task<read_init>).result<long>(), 41L);
    }
    {
        long v = 5;
        cf::Options o;
        o.initializer(init_task, &v, sizeof v);
        cf::Executor pool(CF_THREAD_POOL, 1, o);
        CHECK_EQ(pool.submit(cf::task<read_init>).result<long>(), 5L);
    }
    // A failing initializer breaks the executor: its futures and later submits get CF_BROKEN.
    {
        cf::Executor pool(CF_THREAD_POOL, 1, cf::Options().initializer(init_task, -1L));
        cf::Future f = pool.submit(cf::task<read_init>);
        cf::Broken b = CHECK_THROWS(cf::Broken, CF_BROKEN, f.result());
        CHECK(!b.message().empty());
        CHECK_THROWS(cf::Broken, CF_BROKEN, pool.submit(cf::task<read_init>));
    }
    // Initializer removed with nullptr.
    {
        cf::Executor pool(CF_THREAD_POOL, 1,
                          cf::Options().initializer(init_task, -1L).initializer(nullptr));
        CHECK_EQ(pool.submit(cf::task<read_init>).result<long>(), -1L);
    }

    // Options the thread pool rejects, bad values, bad executor arguments.
    cf::InvalidArgument e = CHECK_THROWS(
        cf::InvalidArgument, CF_INVALID_ARGUMENT,
        cf::Executor(CF_THREAD_POOL, 1, cf::Options().start_method(CF_START_FORK)));
    CHECK(!e.message().empty());
    CHECK_EQ(e.call(), std::string("cf_executor_new"));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Executor(CF_THREAD_POOL, 1, cf::Options().task_timeout(5s)));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Executor(CF_THREAD_POOL, 1, cf::Options().max_tasks_per_child(3)));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Options().task_timeout(std::chrono::duration<double>(std::nan(""))));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Options().start_method(static_cast<cf_start_method>(99)));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, cf::Executor(CF_THREAD_POOL, 70000));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Executor(static_cast<cf_executor_kind>(7), 1));
}

void shutdown_and_errors() {
    // Submit after shutdown.
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        pool.shutdown();
        cf::Shutdown s = CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, pool.submit(cf::task<read_init>));
        CHECK_EQ(s.call(), std::string("cf_submit"));
        CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, pool.map(cf::task<twice>, std::vector<long>{1}));
        pool.shutdown(true, true); // again: harmless
    }
    // shutdown(wait=false, cancel_futures=true): what has not started is cancelled.
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        t::Gate gate;
        t::Counter started, ran;
        cf::Future busy = pool.submit(t::gated_task, t::gated(&gate, &started, &ran, 1));
        std::vector<cf::Future> queued;
        for (int i = 0; i < 3; i++) queued.push_back(pool.submit(count_task, &ran));
        started.await(1);
        pool.shutdown(false, true);
        for (cf::Future &f : queued) {
            CHECK(f.cancelled());
            CHECK_THROWS(cf::Cancelled, CF_CANCELLED, f.result());
        }
        gate.open();
        CHECK_EQ(busy.result<long>(), 1L);
        pool.shutdown(); // wait
        CHECK_EQ(ran.get(), 1L);
    }
    // shutdown(wait=false) without cancel: queued work still runs.
    {
        t::Counter ran;
        cf::Executor pool(CF_THREAD_POOL, 1);
        t::Gate gate;
        cf::Future busy = pool.submit(t::gated_task, t::gated(&gate));
        for (int i = 0; i < 3; i++) (void)pool.submit(count_task, &ran);
        pool.shutdown(false);
        gate.open();
        pool.shutdown(true);
        CHECK_EQ(ran.get(), 3L);
    }
    // shutdown with wait from the executor's own task: cf::InvalidArgument, no deadlock.
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        cf::Future f = pool.submit(
            [](const void *arg, std::size_t len, cf_out *out) -> int {
                std::optional<cf::Executor *> ex = cf::arg<cf::Executor *>(arg, len);
                if (!ex) return 1;
                try {
                    (*ex)->shutdown(true);
                    return cf::set_result(out, static_cast<int>(CF_OK)) == CF_OK ? 0 : 1;
                } catch (const cf::Error &e) {
                    return cf::set_result(out, static_cast<int>(e.status())) == CF_OK ? 0 : 1;
                }
            },
            &pool);
        CHECK_EQ(f.result<int>(), static_cast<int>(CF_INVALID_ARGUMENT));
        CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, pool.submit(cf::task<read_init>));
    }
    // Process-pool-only calls on a thread pool.
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, pool.terminate_workers());
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, pool.kill_workers());
        CHECK_EQ(pool.submit(cf::task<twice>, 4L).result<long>(), 8L);
    }
    // Bad submit arguments.
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, pool.submit(nullptr));
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, pool.submit(count_task, nullptr, 8));
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                     pool.map(cf::task<twice>, std::vector<long>{1, 2}, cf::forever, 0));
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                     pool.map(cf::task<twice>, std::vector<long>{1},
                              std::chrono::duration<double>(std::nan(""))));
    }
}

void lifetime_and_moves() {
    // The destructor is the `with` exit: shutdown(wait=true) runs the queued work first.
    t::Counter ran;
    {
        cf::Executor pool(CF_THREAD_POOL, 2);
        for (int i = 0; i < 20; i++) (void)pool.submit(count_task, &ran);
    }
    CHECK_EQ(ran.get(), 20L);

    // Futures outlive their executor and still complete.
    cf::Future late;
    {
        cf::Executor pool(CF_THREAD_POOL, 1);
        late = pool.submit(cf::task<twice>, 21L);
    }
    CHECK_EQ(late.result<long>(), 42L);

    // Moves: the moved-from executor holds nothing; move-assign frees (and waits for) the
    // executor it replaces.
    cf::Executor a(CF_THREAD_POOL, 1);
    cf::Executor b = std::move(a);
    CHECK(!a);
    CHECK(b);
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, a.submit(cf::task<read_init>));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, a.shutdown());
    t::Counter ran2;
    for (int i = 0; i < 5; i++) (void)b.submit(count_task, &ran2);
    b = cf::Executor(CF_THREAD_POOL, 1);
    CHECK_EQ(ran2.get(), 5L);
    CHECK_EQ(b.submit(cf::task<twice>, 2L).result<long>(), 4L);
    cf::Executor empty;
    CHECK(!empty);
    cf::Executor c(b.release());
    CHECK(!b);
    CHECK_EQ(c.submit(cf::task<twice>, 3L).result<long>(), 6L);
}

void map() {
    cf::Executor pool(CF_THREAD_POOL, 2);
    const long items[] = {1, 2, 3, 4, 5};

    // Range-for over the bytes.
    {
        std::vector<long> got;
        for (cf::Bytes b : pool.map(cf::task<twice>, items)) got.push_back(b.as<long>());
        CHECK_EQ(got.size(), 5u);
        for (std::size_t i = 0; i < got.size(); i++) CHECK_EQ(got[i], 2 * items[i]);
    }
    // Typed ranges, collect, containers, a typed pointer, raw bytes.
    {
        long total = 0;
        for (long x : pool.map(cf::task<twice>, std::vector<long>{10, 20, 30}).as<long>()) {
            total += x;
        }
        CHECK_EQ(total, 120L);
        std::array<Pair, 3> pairs{{{1, 2}, {3, 4}, {5, 6}}};
        std::vector<long> sums = pool.map(cf::task<sum>, pairs, 10s, 2).collect<long>();
        CHECK_EQ(sums.size(), 3u);
        CHECK_EQ(sums[2], 11L);
        std::vector<long> v = pool.map(cf::task<twice>, items + 1, 3).collect<long>();
        CHECK_EQ(v.size(), 3u);
        CHECK_EQ(v[0], 4L);
        std::vector<long> raw =
            pool.map(cf::task<twice>, static_cast<const void *>(items), sizeof(long), 2)
                .collect<long>();
        CHECK_EQ(raw.size(), 2u);
        CHECK_EQ(raw[1], 4L);
        CHECK(pool.map(cf::task<twice>, std::vector<long>{}).collect<long>().empty());
    }
    // as<T>() on a named map refers to it: the map stays, finished.
    {
        cf::Map named = pool.map(cf::task<twice>, std::vector<long>{1, 2});
        long total = 0;
        for (long x : named.as<long>()) total += x;
        CHECK_EQ(total, 6L);
        CHECK(named);
        CHECK(!named.next().has_value());
    }
    // next() and next<T>() by hand; the end is nothing, and stays so.
    {
        cf::Map m = pool.map(cf::task<twice>, std::vector<long>{7, 8});
        CHECK(m);
        std::optional<cf::Bytes> first = m.next();
        CHECK(first.has_value());
        CHECK_EQ(first->as<long>(), 14L);
        std::optional<long> second = m.next<long>();
        CHECK(second.has_value());
        CHECK_EQ(*second, 16L);
        CHECK(!m.next().has_value());
        CHECK(!m.next<long>().has_value());
        cf::Map moved = std::move(m);
        CHECK(!m);
        CHECK(!moved.next().has_value());
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, m.next());
    }
    // A failure: thrown at its turn, with the message; then the map is finished.
    {
        cf::Map m = pool.map(cf::task<twice>, std::vector<long>{1, 13, 3});
        CHECK_EQ(m.next<long>().value(), 2L);
        cf::TaskFailed e = CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, m.next<long>());
        CHECK(t::contains(e.message(), "unlucky"));
        CHECK_EQ(e.call(), std::string("cf_map_next"));
        CHECK(!m.next().has_value());
        // In a range-for, the failure comes out of the loop.
        long seen = 0;
        try {
            for (long x : pool.map(cf::task<twice>, std::vector<long>{1, 13, 3}).as<long>()) {
                seen += x;
            }
            CHECK(!"the loop threw");
        } catch (const cf::TaskFailed &) {
        }
        CHECK_EQ(seen, 2L);
        // A wrong result size is cf::InvalidArgument.
        cf::Map w = pool.map(cf::task<twice>, std::vector<long>{1});
        CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, w.next<int>());
    }
    // The map's deadline: cf::Timeout, then finished; what had not started is cancelled.
    {
        cf::Executor one(CF_THREAD_POOL, 1);
        t::Gate gate;
        t::Counter started, ran;
        std::vector<t::GatedArg> args{t::gated(&gate, &started, &ran, 1),
                                      t::gated(nullptr, nullptr, &ran, 2),
                                      t::gated(nullptr, nullptr, &ran, 3)};
        cf::Map m = one.map(t::gated_task, args, 5ms);
        started.await(1);
        cf::Timeout e = CHECK_THROWS(cf::Timeout, CF_TIMEOUT, m.next());
        CHECK_EQ(e.status(), CF_TIMEOUT);
        CHECK(!m.next().has_value());
        gate.open();
        one.shutdown();
        CHECK_EQ(ran.get(), 1L);
    }
    // Destroying the map early cancels the items that have not started.
    {
        cf::Executor one(CF_THREAD_POOL, 1);
        t::Gate gate;
        t::Counter started, ran;
        std::vector<t::GatedArg> args{t::gated(&gate, &started, &ran),
                                      t::gated(nullptr, nullptr, &ran),
                                      t::gated(nullptr, nullptr, &ran)};
        {
            cf::Map m = one.map(t::gated_task, args);
            started.await(1);
        }
        gate.open();
        one.shutdown();
        CHECK_EQ(ran.get(), 1L);
    }
}

} // namespace

int main() {
    return t::run("test_executor", [] {
        options();
        shutdown_and_errors();
        lifetime_and_moves();
        map();
    });
}
