// test_raii.cpp: no handle leaks and the exact reference counting of the wrappers, made
// visible by interposing the C API's create/retain/free calls.
//
// This program defines cf_submit, cf_future_retain, cf_future_free, cf_executor_new,
// cf_executor_free, cf_executor_options_new/_free, cf_map, cf_map_free, cf_as_completed_new
// and cf_as_completed_free itself: the header's inline code in this program calls these,
// which count the live handles of each kind and forward to libcfutures.so (dlsym RTLD_NEXT).
// Each scenario checks the counts after every step (copy = one retain, move = none, ...) and
// that they are back to zero at its end, with file descriptors and threads back to baseline.
#include <dlfcn.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "cpptest.hpp"

using namespace std::chrono_literals;

namespace {

std::atomic<long> live_futures{0}, retains{0}, future_frees{0}, live_executors{0},
    live_options{0}, live_maps{0}, live_iters{0};

template <class F> F next_fn(const char *name) {
    void *p = dlsym(RTLD_NEXT, name);
    if (p == nullptr) t::fail(__FILE__, __LINE__, std::string("dlsym ") + name);
    F f;
    std::memcpy(&f, &p, sizeof f);
    return f;
}

} // namespace

extern "C" {

cf_status cf_submit(cf_executor *ex, cf_task_fn fn, const void *arg, size_t len, cf_future **out) {
    static auto real = next_fn<decltype(&cf_submit)>("cf_submit");
    cf_status s = real(ex, fn, arg, len, out);
    if (s == CF_OK) live_futures++;
    return s;
}

cf_future *cf_future_retain(cf_future *f) {
    static auto real = next_fn<decltype(&cf_future_retain)>("cf_future_retain");
    if (f != nullptr) {
        live_futures++;
        retains++;
    }
    return real(f);
}

void cf_future_free(cf_future *f) {
    static auto real = next_fn<decltype(&cf_future_free)>("cf_future_free");
    if (f != nullptr) {
        live_futures--;
        future_frees++;
    }
    real(f);
}

cf_executor *cf_executor_new(cf_executor_kind kind, uint32_t n, const cf_executor_options *o) {
    static auto real = next_fn<decltype(&cf_executor_new)>("cf_executor_new");
    cf_executor *ex = real(kind, n, o);
    if (ex != nullptr) live_executors++;
    return ex;
}

void cf_executor_free(cf_executor *ex) {
    static auto real = next_fn<decltype(&cf_executor_free)>("cf_executor_free");
    if (ex != nullptr) live_executors--;
    real(ex);
}

cf_executor_options *cf_executor_options_new(void) {
    static auto real = next_fn<decltype(&cf_executor_options_new)>("cf_executor_options_new");
    cf_executor_options *o = real();
    if (o != nullptr) live_options++;
    return o;
}

void cf_executor_options_free(cf_executor_options *o) {
    static auto real = next_fn<decltype(&cf_executor_options_free)>("cf_executor_options_free");
    if (o != nullptr) live_options--;
    real(o);
}

cf_status cf_map(cf_executor *ex, cf_task_fn fn, const void *args, size_t len, size_t n,
                 double timeout, size_t chunksize, cf_map_iter **out) {
    static auto real = next_fn<decltype(&cf_map)>("cf_map");
    cf_status s = real(ex, fn, args, len, n, timeout, chunksize, out);
    if (s == CF_OK) live_maps++;
    return s;
}

void cf_map_free(cf_map_iter *it) {
    static auto real = next_fn<decltype(&cf_map_free)>("cf_map_free");
    if (it != nullptr) live_maps--;
    real(it);
}

cf_status cf_as_completed_new(cf_future *const *fs, size_t n, double timeout,
                              cf_as_completed **out) {
    static auto real = next_fn<decltype(&cf_as_completed_new)>("cf_as_completed_new");
    cf_status s = real(fs, n, timeout, out);
    if (s == CF_OK) live_iters++;
    return s;
}

void cf_as_completed_free(cf_as_completed *it) {
    static auto real = next_fn<decltype(&cf_as_completed_free)>("cf_as_completed_free");
    if (it != nullptr) live_iters--;
    real(it);
}

} // extern "C"

namespace {

long ident(long x) { return x; }
long fails(long) { throw std::runtime_error("no"); }

#define CHECK_LIVE(fut, ex, opt, maps, iters)                                                \
    do {                                                                                     \
        CHECK_EQ(live_futures.load(), static_cast<long>(fut));                               \
        CHECK_EQ(live_executors.load(), static_cast<long>(ex));                              \
        CHECK_EQ(live_options.load(), static_cast<long>(opt));                               \
        CHECK_EQ(live_maps.load(), static_cast<long>(maps));                                 \
        CHECK_EQ(live_iters.load(), static_cast<long>(iters));                               \
    } while (0)

void futures() {
    cf::Executor pool(CF_THREAD_POOL, 1);
    CHECK_LIVE(0, 1, 0, 0, 0);
    {
        cf::Future a = pool.submit(cf::task<ident>, 1L);
        CHECK_LIVE(1, 1, 0, 0, 0);
        long r0 = retains, f0 = future_frees;
        cf::Future b = a; // copy: one retain
        CHECK_EQ(retains - r0, 1L);
        CHECK_LIVE(2, 1, 0, 0, 0);
        cf::Future c = std::move(a); // move: nothing
        CHECK_EQ(retains - r0, 1L);
        CHECK_LIVE(2, 1, 0, 0, 0);
        CHECK(!a);
        cf::Future d;
        d = c; // copy-assign into empty: one retain, no free
        CHECK_EQ(retains - r0, 2L);
        CHECK_EQ(future_frees - f0, 0L);
        CHECK_LIVE(3, 1, 0, 0, 0);
        cf::Future e = pool.submit(cf::task<ident>, 2L);
        CHECK_LIVE(4, 1, 0, 0, 0);
        d = e; // copy-assign over a held future: retain e, free the old
        CHECK_EQ(retains - r0, 3L);
        CHECK_EQ(future_frees - f0, 1L);
        CHECK_LIVE(4, 1, 0, 0, 0);
        d = std::move(e); // move-assign over: frees the old one only
        CHECK_EQ(retains - r0, 3L);
        CHECK_EQ(future_frees - f0, 2L);
        CHECK_LIVE(3, 1, 0, 0, 0);
        cf::Future &self = d;
        d = self; // self-assignment: nothing
        d = std::move(self);
        CHECK_EQ(retains - r0, 3L);
        CHECK_EQ(future_frees - f0, 2L);
        CHECK(d);
        cf_future *raw = d.release(); // release: nothing, the caller owns it
        CHECK_LIVE(3, 1, 0, 0, 0);
        cf::Future adopted(raw); // adopt: nothing
        CHECK_LIVE(3, 1, 0, 0, 0);
        cf::Future again = cf::Future::retain(raw); // retain: one more
        CHECK_LIVE(4, 1, 0, 0, 0);
        CHECK_EQ(adopted.result<long>(), 2L);
        CHECK_EQ(b.result<long>(), 1L);
        // wait() borrows; results and getters retain nothing.
        cf::WaitResult w = cf::wait({b, c});
        CHECK_EQ(w.done.size(), 2u);
        CHECK_LIVE(4, 1, 0, 0, 0);
    }
    CHECK_LIVE(0, 1, 0, 0, 0);

    // Done-callbacks: the callback's Future is one reference, dropped after the call.
    {
        t::Counter called;
        long during = -1;
        cf::Future f = pool.submit(cf::task<ident>, 3L);
        f.wait();
        f.add_done_callback([&](cf::Future &) { during = live_futures; });
        CHECK_EQ(during, 2L);
        CHECK_LIVE(1, 1, 0, 0, 0);
        cf::Future kept;
        t::Gate gate;
        cf::Future g = pool.submit(t::gated_task, t::gated(&gate));
        g.add_done_callback([&](cf::Future &me) {
            kept = me; // keeping the callback's future is one more reference
            called.add();
        });
        gate.open();
        called.await(1);
        g.wait();
        pool.submit(cf::task<ident>, 0L).wait(); // the worker is past the callback
        CHECK(kept == g);
        CHECK_LIVE(3, 1, 0, 0, 0);
    }
    CHECK_LIVE(0, 1, 0, 0, 0);

    // Failures thrown from result() keep nothing.
    {
        cf::Future f = pool.submit(cf::task<fails>, 1L);
        CHECK_THROWS(cf::TaskFailed, CF_TASK_FAILED, f.result());
        std::optional<cf::Error> e = f.exception();
        CHECK(e.has_value());
        CHECK_LIVE(1, 1, 0, 0, 0);
    }
    CHECK_LIVE(0, 1, 0, 0, 0);
}

void executors_and_options() {
    CHECK_LIVE(0, 0, 0, 0, 0);
    {
        cf::Options o;
        CHECK_LIVE(0, 0, 1, 0, 0);
        o.thread_name_prefix("x").initializer(nullptr);
        cf::Options moved = std::move(o);
        CHECK_LIVE(0, 0, 1, 0, 0);
        o = cf::Options(); // move-assign into a moved-from one
        CHECK_LIVE(0, 0, 2, 0, 0);
        o = std::move(moved); // move-assign over a live one frees it
        CHECK_LIVE(0, 0, 1, 0, 0);
        cf::Executor a(CF_THREAD_POOL, 1, o);
        CHECK_LIVE(0, 1, 1, 0, 0);
        cf::Executor b = std::move(a);
        CHECK_LIVE(0, 1, 1, 0, 0);
        a = cf::Executor(CF_THREAD_POOL, 1);
        CHECK_LIVE(0, 2, 1, 0, 0);
        a = std::move(b); // frees the one a held
        CHECK_LIVE(0, 1, 1, 0, 0);
        cf::Executor c(a.release());
        CHECK_LIVE(0, 1, 1, 0, 0);
    }
    CHECK_LIVE(0, 0, 0, 0, 0);

    // A chain on temporaries leaves one options object at a time, and none after.
    {
        cf::Executor ex(CF_THREAD_POOL, 1,
                        cf::Options().thread_name_prefix("y").initializer(nullptr));
        CHECK_LIVE(0, 1, 0, 0, 0);
    }
    CHECK_LIVE(0, 0, 0, 0, 0);

    // Throwing constructors and setters leak nothing.
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Executor(CF_THREAD_POOL, 1, cf::Options().start_method(CF_START_SPAWN)));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::Options().thread_name_prefix("z").task_timeout(
                     std::chrono::duration<double>(std::nan(""))));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, cf::Executor(CF_THREAD_POOL, 100000));
    CHECK_LIVE(0, 0, 0, 0, 0);

    // Submit failures leak nothing either.
    {
        cf::Executor ex(CF_THREAD_POOL, 1);
        ex.shutdown();
        CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, ex.submit(cf::task<ident>, 1L));
        CHECK_THROWS(cf::Shutdown, CF_SHUTDOWN, ex.map(cf::task<ident>, std::vector<long>{1}));
        CHECK_LIVE(0, 1, 0, 0, 0);
    }
    CHECK_LIVE(0, 0, 0, 0, 0);
}

void iterators() {
    cf::Executor pool(CF_THREAD_POOL, 2);
    {
        cf::Map m = pool.map(cf::task<ident>, std::vector<long>{1, 2, 3});
        CHECK_LIVE(0, 1, 0, 1, 0);
        cf::Map n = std::move(m);
        CHECK_LIVE(0, 1, 0, 1, 0);
        m = pool.map(cf::task<ident>, std::vector<long>{4});
        CHECK_LIVE(0, 1, 0, 2, 0);
        m = std::move(n);
        CHECK_LIVE(0, 1, 0, 1, 0);
        long total = 0;
        for (long x : std::move(m).as<long>()) total += x; // the range owns the map
        CHECK_EQ(total, 6L);
        CHECK_LIVE(0, 1, 0, 0, 0);
        for (long x : pool.map(cf::task<ident>, std::vector<long>{5, 6}).as<long>()) total += x;
        CHECK_EQ(total, 17L);
        CHECK_LIVE(0, 1, 0, 0, 0);
        // A failure thrown out of a loop frees the map.
        try {
            for (cf::Bytes b : pool.map(cf::task<fails>, std::vector<long>{1, 2})) (void)b;
            CHECK(!"the loop threw");
        } catch (const cf::TaskFailed &) {
        }
        CHECK_LIVE(0, 1, 0, 0, 0);
    }
    {
        std::vector<cf::Future> fs{pool.submit(cf::task<ident>, 1L), pool.submit(cf::task<ident>, 2L)};
        CHECK_LIVE(2, 1, 0, 0, 0);
        {
            cf::AsCompleted it = cf::as_completed(fs);
            CHECK_LIVE(2, 1, 0, 0, 1);
            std::optional<cf::Completed> c = it.next();
            CHECK(c.has_value());
            CHECK_LIVE(3, 1, 0, 0, 1); // the Completed's future is one reference
            cf::AsCompleted moved = std::move(it);
            CHECK_LIVE(3, 1, 0, 0, 1);
        }
        CHECK_LIVE(2, 1, 0, 0, 0);
        long n = 0;
        for (auto &[index, future] : cf::as_completed(fs)) {
            n += static_cast<long>(index) + 1;
            CHECK_LIVE(3, 1, 0, 0, 1); // the iterator's current step
            (void)future;
        }
        for (auto [index, future] : cf::as_completed(fs)) {
            n += static_cast<long>(index) + 1;
            CHECK_LIVE(4, 1, 0, 0, 1); // and a copy of it
        }
        CHECK_EQ(n, 6L);
        CHECK_LIVE(2, 1, 0, 0, 0);
        // A timeout thrown out of a loop frees the iterator.
        t::Gate gate;
        fs.push_back(pool.submit(t::gated_task, t::gated(&gate)));
        try {
            for (auto step : cf::as_completed(fs, 1ms)) (void)step;
            CHECK(!"the loop threw");
        } catch (const cf::Timeout &) {
        }
        CHECK_LIVE(3, 1, 0, 0, 0);
        gate.open();
    }
    CHECK_LIVE(0, 1, 0, 0, 0);
}

} // namespace

int main() {
    return t::run("test_raii", [] {
        int fds = t::count_fds();
        int threads = t::count_threads();
        futures();
        executors_and_options();
        iterators();
        CHECK_LIVE(0, 0, 0, 0, 0);
        CHECK_EQ(t::count_fds(), fds);
        CHECK_EQ(t::settle_threads(threads), threads);
        CHECK(retains.load() > 0);
    });
}
