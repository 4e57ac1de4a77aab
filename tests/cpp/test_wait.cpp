// test_wait.cpp: cf::wait (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, timeouts,
// duplicates, no futures, an initializer list, futures of two executors), cf::as_completed
// (completion order, structured bindings, cf::Timeout after handing out what finished,
// duplicates, a cancel wakes it) and cf::WaitTime's conversions of std::chrono durations.
#include <array>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "cpptest.hpp"

using namespace std::chrono_literals;

namespace {

long ident(long x) { return x; }
long fails(long x) { throw cf::TaskError(static_cast<int>(x), "failed on purpose"); }

// WaitTime conversions, at compile time where they can be.
static_assert(cf::WaitTime(std::chrono::seconds(2)).seconds() == 2.0);
static_assert(cf::WaitTime(std::chrono::milliseconds(1500)).seconds() == 1.5);
static_assert(cf::WaitTime(std::chrono::minutes(1)).seconds() == 60.0);
static_assert(cf::WaitTime(std::chrono::seconds(-3)).seconds() == 0.0);
static_assert(cf::WaitTime(std::chrono::seconds(0)).seconds() == 0.0);
static_assert(cf::WaitTime(cf::forever).seconds() == CF_FOREVER);
static_assert(cf::WaitTime(cf::forever).is_forever());
static_assert(!cf::WaitTime(std::chrono::seconds(1)).is_forever());
static_assert(std::is_nothrow_constructible_v<cf::WaitTime, std::chrono::nanoseconds>);
static_assert(std::is_nothrow_copy_constructible_v<cf::Future>);
static_assert(std::is_nothrow_move_constructible_v<cf::Executor>);
static_assert(!std::is_copy_constructible_v<cf::Executor>);
static_assert(!std::is_copy_constructible_v<cf::Map>);
static_assert(!std::is_copy_constructible_v<cf::AsCompleted>);
static_assert(!std::is_copy_constructible_v<cf::Options>);
static_assert(std::is_nothrow_move_assignable_v<cf::Future>);
static_assert(std::is_nothrow_destructible_v<cf::Executor>);
static_assert(std::is_base_of_v<cf::Error, cf::Timeout>);
static_assert(std::is_base_of_v<std::runtime_error, cf::Error>);

void wait_time() {
    CHECK_EQ(cf::WaitTime(std::chrono::nanoseconds(250)).seconds(), 250e-9);
    CHECK_EQ(cf::WaitTime(std::chrono::duration<float>(0.5f)).seconds(), 0.5);
    CHECK_EQ(cf::WaitTime(std::chrono::duration<double, std::milli>(-1.0)).seconds(), 0.0);
    double inf = std::numeric_limits<double>::infinity();
    CHECK_EQ(cf::WaitTime(std::chrono::duration<double>(inf)).seconds(), inf);
    CHECK_EQ(cf::WaitTime(std::chrono::duration<double>(-inf)).seconds(), 0.0);
    CHECK(std::isnan(cf::WaitTime(std::chrono::duration<double>(std::nan(""))).seconds()));
    double huge = cf::WaitTime(std::chrono::hours::max()).seconds();
    CHECK(huge > 1e18);

    // Huge and infinite timeouts wait (without overflow) for a future that finishes.
    cf::Executor pool(CF_THREAD_POOL, 1);
    cf::Future f = pool.submit(cf::task<ident>, 3L);
    CHECK_EQ(f.result<long>(std::chrono::hours::max()), 3L);
    CHECK_EQ(f.result<long>(std::chrono::nanoseconds::max()), 3L);
    CHECK_EQ(f.result<long>(std::chrono::duration<double>(inf)), 3L);
    CHECK_EQ(f.result<long>(std::chrono::seconds::min()), 3L); // polls: done already
}

void waits() {
    cf::Executor pool(CF_THREAD_POOL, 2);
    cf::Executor other(CF_THREAD_POOL, 1);

    // Everything done already: ALL_COMPLETED at once.
    std::vector<cf::Future> done_fs{pool.submit(cf::task<ident>, 1L),
                                    other.submit(cf::task<ident>, 2L)};
    cf::WaitResult r = cf::wait(done_fs);
    CHECK(!r.timed_out);
    CHECK_EQ(r.done.size(), 2u);
    CHECK(r.not_done.empty());
    CHECK_EQ(r.n_done, 2u);
    CHECK_EQ(r.done[0], 0u);
    CHECK_EQ(r.done[1], 1u);

    t::Gate gate;
    t::Counter started;
    cf::Future blocked = pool.submit(t::gated_task, t::gated(&gate, &started, nullptr, 9));
    cf::Future quick = pool.submit(cf::task<ident>, 4L);
    started.await(1);
    CHECK_EQ(quick.result<long>(), 4L);

    // ALL_COMPLETED with a deadline: timed out, the quick one done, the blocked one not.
    std::array<cf::Future, 2> fs{blocked, quick};
    r = cf::wait(fs, 5ms);
    CHECK(r.timed_out);
    CHECK_EQ(r.done.size(), 1u);
    CHECK_EQ(r.done[0], 1u);
    CHECK_EQ(r.not_done.size(), 1u);
    CHECK_EQ(r.not_done[0], 0u);
    CHECK_EQ(r.n_done, 1u);
    r = cf::wait(fs, 0s, CF_ALL_COMPLETED); // a poll
    CHECK(r.timed_out);

    // FIRST_COMPLETED: one is done.
    r = cf::wait(fs, cf::forever, CF_FIRST_COMPLETED);
    CHECK(!r.timed_out);
    CHECK_EQ(r.done.size(), 1u);
    CHECK_EQ(r.done[0], 1u);

    // FIRST_EXCEPTION: returns on a failure; a cancel is not one.
    cf::Future failed = other.submit(cf::task<fails>, 6L);
    r = cf::wait({blocked, failed}, cf::forever, CF_FIRST_EXCEPTION);
    CHECK(!r.timed_out);
    CHECK_EQ(r.done.size(), 1u);
    CHECK_EQ(r.done[0], 1u);
    cf::Future queued = pool.submit(cf::task<ident>, 5L); // waits behind... both workers?
    cf::Future queued_behind;
    {
        // Occupy the second worker too, so that the next one stays queued.
        t::Gate gate2;
        t::Counter started2;
        cf::Future second = pool.submit(t::gated_task, t::gated(&gate2, &started2));
        CHECK_EQ(queued.result<long>(), 5L);
        started2.await(1);
        queued_behind = pool.submit(cf::task<ident>, 6L);
        CHECK(queued_behind.cancel());
        r = cf::wait({blocked, queued_behind}, 5ms, CF_FIRST_EXCEPTION);
        CHECK(r.timed_out); // the cancel did not end it
        CHECK_EQ(r.done.size(), 1u);
        CHECK_EQ(r.done[0], 1u);
        r = cf::wait({blocked, queued_behind}, cf::forever, CF_FIRST_COMPLETED);
        CHECK(!r.timed_out); // but counts for FIRST_COMPLETED
        gate2.open();
        second.result();
    }

    // Duplicates count once; every position is reported.
    r = cf::wait({quick, quick, blocked}, 0s);
    CHECK(r.timed_out);
    CHECK_EQ(r.n_done, 1u);
    CHECK_EQ(r.done.size(), 2u);
    CHECK_EQ(r.done[0], 0u);
    CHECK_EQ(r.done[1], 1u);

    // No futures: done at once.
    r = cf::wait(std::vector<cf::Future>{}, 0s);
    CHECK(!r.timed_out);
    CHECK(r.done.empty() && r.not_done.empty());

    // Bad arguments.
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, cf::wait({quick, cf::Future()}));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::wait({quick}, std::chrono::duration<double>(std::nan(""))));

    // A cancel wakes a waiter at once (another thread waits without a deadline).
    {
        t::Gate gate3;
        t::Counter started3;
        cf::Future hold = pool.submit(t::gated_task, t::gated(&gate3, &started3));
        started3.await(1); // both workers busy now
        cf::Future pending = pool.submit(cf::task<ident>, 1L);
        cf::WaitResult seen;
        std::thread waiter([&] { seen = cf::wait({pending}); });
        CHECK(pending.cancel());
        waiter.join();
        CHECK(!seen.timed_out);
        CHECK_EQ(seen.done.size(), 1u);
        gate3.open();
        hold.result();
    }

    gate.open();
    CHECK_EQ(blocked.result<long>(), 9L);
    r = cf::wait(fs);
    CHECK(!r.timed_out);
    CHECK_EQ(r.done.size(), 2u);
}

void as_completed() {
    cf::Executor pool(CF_THREAD_POOL, 3);
    t::Gate g0, g1, g2;
    t::Counter started;
    std::vector<cf::Future> fs{pool.submit(t::gated_task, t::gated(&g0, &started, nullptr, 10)),
                               pool.submit(t::gated_task, t::gated(&g1, &started, nullptr, 11)),
                               pool.submit(t::gated_task, t::gated(&g2, &started, nullptr, 12))};
    started.await(3);

    // A deadline that passes: cf::Timeout naming the unfinished futures.
    {
        cf::AsCompleted it = cf::as_completed(fs, 2ms);
        cf::Timeout e = CHECK_THROWS(cf::Timeout, CF_TIMEOUT, it.next());
        CHECK(t::contains(e.message(), "3 (of 3)"));
        CHECK_EQ(e.call(), std::string("cf_as_completed_next"));
    }
    // Completion order, as the futures finish (each awaited before the next is released).
    {
        std::vector<std::size_t> order;
        std::vector<long> values;
        cf::AsCompleted it = cf::as_completed(fs, 30s);
        g2.open();
        CHECK_EQ(fs[2].result<long>(), 12L);
        std::optional<cf::Completed> c = it.next();
        CHECK(c.has_value());
        CHECK_EQ(c->index, 2u);
        CHECK(c->future == fs[2]);
        order.push_back(c->index);
        g0.open();
        for (auto [index, future] : it) {
            order.push_back(index);
            values.push_back(future.result<long>());
            if (index == 0) g1.open();
        }
        CHECK_EQ(order.size(), 3u);
        CHECK_EQ(order[1], 0u);
        CHECK_EQ(order[2], 1u);
        CHECK_EQ(values[0], 10L);
        CHECK_EQ(values[1], 11L);
        CHECK(!it.next().has_value()); // stays at the end
    }
    // Already done: every one at once, each once (duplicates too), from a temporary.
    {
        std::vector<cf::Future> dup{fs[1], fs[0], fs[1]};
        std::vector<std::size_t> seen;
        for (auto [index, future] : cf::as_completed(dup, 0s)) {
            CHECK(future.done());
            seen.push_back(index);
        }
        CHECK_EQ(seen.size(), 2u);
        CHECK(seen[0] != seen[1]);
        CHECK(seen[0] <= 1 && seen[1] <= 1);
        int n = 0;
        for (const cf::Completed &c : cf::as_completed({fs[0]})) {
            CHECK(c.future == fs[0]);
            n++;
        }
        CHECK_EQ(n, 1);
        for (auto c : cf::as_completed(std::vector<cf::Future>{})) {
            (void)c;
            CHECK(!"no futures, no steps");
        }
    }
    // Finished futures come out before the timeout does (unlike cpython#73919).
    {
        t::Gate gate;
        cf::Future slow = pool.submit(t::gated_task, t::gated(&gate));
        cf::AsCompleted it = cf::as_completed({slow, fs[0]}, 1ms);
        std::optional<cf::Completed> c = it.next();
        CHECK(c.has_value());
        CHECK_EQ(c->index, 1u);
        cf::Timeout e = CHECK_THROWS(cf::Timeout, CF_TIMEOUT, it.next());
        CHECK(t::contains(e.message(), "1 (of 2)"));
        // In a range-for, the timeout comes out of the loop.
        int steps = 0;
        try {
            for (auto step : cf::as_completed({fs[1], slow}, 1ms)) {
                (void)step;
                steps++;
            }
            CHECK(!"the loop threw");
        } catch (const cf::Timeout &) {
        }
        CHECK_EQ(steps, 1);
        // A cancel wakes it: a queued future behind three busy workers.
        t::Counter st;
        t::Gate hold;
        cf::Future b1 = pool.submit(t::gated_task, t::gated(&hold, &st));
        cf::Future b2 = pool.submit(t::gated_task, t::gated(&hold, &st));
        st.await(2);
        cf::Future pending = pool.submit(cf::task<ident>, 1L);
        std::optional<cf::Completed> woke;
        std::thread waiter([&] {
            cf::AsCompleted w = cf::as_completed({pending});
            woke = w.next();
        });
        CHECK(pending.cancel());
        waiter.join();
        CHECK(woke.has_value());
        CHECK(woke->future.cancelled());
        hold.open();
        gate.open();
        slow.result();
    }
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT,
                 cf::as_completed(fs, std::chrono::duration<double>(std::nan(""))));
    CHECK_THROWS(cf::InvalidArgument, CF_INVALID_ARGUMENT, cf::as_completed({cf::Future()}));
}

} // namespace

int main() {
    return t::run("test_wait", [] {
        wait_time();
        waits();
        as_completed();
    });
}
