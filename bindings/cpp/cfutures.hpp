// cfutures.hpp: the C++ binding of cfutures (Python's concurrent.futures for C and C++).
//
// Header-only, C++17 or later, over the C API of include/cfutures.h; everything lives in
// namespace cf and is inline (ODR-safe in any number of translation units). Link with
// -lcfutures as for C.
//
//     #include "cfutures.hpp"
//
//     struct Pair { long a, b; };
//     long gcd(const Pair &p) { ... }                 // an ordinary C++ function
//
//     cf::Executor pool(CF_PROCESS_POOL, 2);          // ProcessPoolExecutor(max_workers=2)
//     cf::Future f = pool.submit(cf::task<gcd>, Pair{1963309, 2265973});
//     long r = f.result<long>(std::chrono::seconds(5));   // f.result(timeout=5)
//     for (long x : pool.map(cf::task<gcd>, pairs).as<long>()) { ... }
//     // the end of the scope: pool.shutdown(wait=True), as Python's `with` block
//
// What maps to what (Python -> C++):
//   ThreadPoolExecutor / ProcessPoolExecutor  cf::Executor(CF_THREAD_POOL / CF_PROCESS_POOL,
//                                               max_workers, cf::Options()...)
//   with pool: ...                           the cf::Executor destructor (cf_executor_free:
//                                               shutdown(wait=true), then release)
//   pool.submit(fn, arg)                     pool.submit(fn, arg) -> cf::Future
//   pool.map(fn, items, timeout, chunksize)  pool.map(fn, items, timeout, chunksize) -> cf::Map
//   pool.shutdown(wait, cancel_futures)      pool.shutdown(wait, cancel_futures)
//   future.result(timeout)                   f.result(timeout) (bytes) / f.result<T>(timeout)
//   future.exception(timeout)                f.exception(timeout) -> std::optional<cf::Error>
//   future.add_done_callback(fn)             f.add_done_callback(callable) or (C fn, user_data)
//   wait(fs, timeout, return_when)           cf::wait(fs, timeout, when) -> cf::WaitResult
//   as_completed(fs, timeout)                for (auto [index, future] : cf::as_completed(fs, t))
//   TimeoutError, CancelledError             cf::Timeout, cf::Cancelled (both cf::Error)
//
// Conventions of this header:
// - Ownership. cf::Executor, cf::Options, cf::Map and cf::AsCompleted are move-only owners of
//   their C handle (the destructor calls the matching cf_*_free; a moved-from object holds
//   nothing and its destructor does nothing). cf::Future is reference counted like the C
//   handle: copying calls cf_future_retain, moving steals, the destructor calls
//   cf_future_free (which never cancels the task). get() gives the C handle (borrowed),
//   release() gives up ownership of it. No destructor throws.
// - Errors. Every failing call throws a cf::Error (a std::runtime_error) that carries the
//   cf_status, the cf_last_error() text captured right after the failing C call (the C text
//   is thread-local and valid only until the next cfutures call; the exception keeps a copy),
//   the name of the C call, and, for a failed future, the task's error code
//   (cf_future_error_code). Each status that code commonly catches has its own subclass:
//   cf::Timeout, cf::Cancelled, cf::TaskFailed, cf::WorkerDied, cf::TaskExpired, cf::Broken,
//   cf::Shutdown, cf::InvalidArgument; catch cf::Error for all of them. Getters that cannot
//   fail (done(), running(), error_code(), ...) are noexcept.
// - Timeouts. Every wait takes a cf::WaitTime: any std::chrono::duration (converted to double
//   seconds) or cf::forever (the default wherever a timeout is optional). A zero or negative
//   duration polls, as std::condition_variable::wait_for does (the C API's negative-means-
//   forever is spelled cf::forever here); a floating duration of +inf waits forever; a NaN
//   duration gives cf::InvalidArgument (from the C call).
// - Bytes. Arguments are bytes copied at submit time; results are bytes owned by the future.
//   cf::Bytes is a non-owning view: the one returned by Future::result() is valid while any
//   cf::Future referring to that future lives (result() is deleted on an rvalue Future, so
//   `pool.submit(...).result()` cannot dangle; result<T>() copies and works on both); the one
//   given by a cf::Map is valid until the next step of that map.
// - Iteration. cf::Map and cf::AsCompleted are input ranges whose steps may throw (the
//   exception leaves the range-for; the owner is destroyed as usual). A range-for over a
//   temporary (`for (x : pool.map(...))`, `.as<T>()` on a temporary Map,
//   `cf::as_completed(...)`) keeps it alive for the loop. `for (auto &[index, future] :
//   cf::as_completed(fs))` binds the step; `auto` without & copies its Future (one retain).
// - Typed helpers. submit/map/initializer take any trivially copyable T and send its object
//   representation (static_assert on anything else; std::string_view and cf::Bytes are
//   refused as T because their bytes are a pointer: pass cf::Bytes(view) to send the text).
//   result<T>() / Bytes::as<T>() check the size and copy the bytes back into a T (trivially
//   copyable and default constructible). A pointer is a trivially copyable value: sending
//   one shares memory, which only the thread pool can use.
// - Tasks. A task is a plain C function pointer, cf_task_fn: `int task(const void *arg,
//   size_t len, cf_out *out)`; a capture-less lambda converts to it (thread pool, and the
//   forkserver and fork process pools). It must not throw: an exception cannot cross the C
//   frames that call it. cf::task<F> turns an ordinary function `R F(A)` (or `R F()`), with
//   A trivially copyable, cf::Bytes or std::string_view and R trivially copyable, std::string,
//   std::vector<trivially copyable>, cf::Bytes or void, into such a task: it checks the
//   argument size, calls F and stores its result; an exception thrown by F fails the future
//   (cf_out_fail with what(); error code 0, or the code of a cf::TaskError) and never escapes.
//   For the process pool, the function must exist in every worker: forkserver and fork run
//   any function of the program; spawn needs an exported function of a shared library: an
//   `extern "C" int my_task(const void *a, size_t n, cf_out *o) { return
//   cf::task<impl>(a, n, o); }` compiled into the library, or the address of cf::task<impl>
//   taken inside the library when impl has external linkage (for a static or
//   anonymous-namespace impl the instance is not exported, and submit throws
//   cf::InvalidArgument saying so).
// - Done-callbacks given as C++ callables run exactly once, on the thread that completes or
//   cancels the future, or at once inside add_done_callback if the future is already done;
//   the callable is destroyed right after its one call. An exception escaping the callable
//   calls std::terminate (the trampoline is noexcept: it never unwinds into C).
// - Threads. As the C API: a cf::Future may be used from any thread concurrently (one
//   cf::Future object is not itself synchronised for assignment); an Executor from any
//   thread, except that its destruction must be the last use; Map, AsCompleted and Options
//   from one thread at a time.
//
// Semantics are CPython 3.14's as the C API gives them, with its documented differences
// (include/cfutures.h): a cancel wakes every waiter at once; as_completed's and map's
// deadlines count from the call that creates them; wait(FIRST_EXCEPTION) ignores
// cancellations; a worker that dies fails only its own task (cf::WorkerDied, not a broken
// pool); pending-but-sent process-pool tasks can still be cancelled.

#ifndef CFUTURES_HPP
#define CFUTURES_HPP

#if __cplusplus < 201703L
#error "cfutures.hpp needs C++17 or later"
#endif

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cfutures.h"

namespace cf {

// -------------------------------------------------------------------------------------------
// Status and errors
// -------------------------------------------------------------------------------------------

/// The static name of a status (cf_status_str).
inline const char *status_name(cf_status status) noexcept { return cf_status_str(status); }

/// The library's version, "MAJOR.MINOR.PATCH" (cf_version).
inline const char *version() noexcept { return cf_version(); }

/// A failed cfutures call or a failed future. status() is the cf_status; message() the text
/// cf_last_error() (or the future's error message) held when it failed; code() the task's
/// error code for a failed future (cf_future_error_code: the task's nonzero return, minus the
/// signal for a dead worker), else 0; call() the C function that failed. what() is
/// "<call>: <status name>: <message>".
class Error : public std::runtime_error {
public:
    Error(cf_status status, std::string message, int code = 0, std::string call = std::string())
        : std::runtime_error(describe(status, message, call)), status_(status), code_(code),
          message_(std::make_shared<const std::string>(std::move(message))),
          call_(std::make_shared<const std::string>(std::move(call))) {}

    cf_status status() const noexcept { return status_; }
    int code() const noexcept { return code_; }
    const std::string &message() const noexcept { return *message_; }
    const std::string &call() const noexcept { return *call_; }

private:
    static std::string describe(cf_status status, const std::string &message,
                                const std::string &call) {
        std::string s;
        if (!call.empty()) {
            s += call;
            s += ": ";
        }
        s += cf_status_str(status);
        if (!message.empty()) {
            s += ": ";
            s += message;
        }
        return s;
    }

    cf_status status_;
    int code_;
    // Shared, so that copying an exception never throws (std::exception's copy is noexcept).
    std::shared_ptr<const std::string> message_;
    std::shared_ptr<const std::string> call_;
};

/// CF_TIMEOUT: the deadline came first; nothing changed (Python: TimeoutError).
class Timeout : public Error {
public:
    using Error::Error;
};
/// CF_CANCELLED: the future was cancelled (Python: CancelledError).
class Cancelled : public Error {
public:
    using Error::Error;
};
/// CF_TASK_FAILED: the task returned nonzero or called cf_out_fail; code() and message()
/// are the task's (Python: the exception the callable raised).
class TaskFailed : public Error {
public:
    using Error::Error;
};
/// CF_WORKER_DIED: the worker process running the task died; code() is minus the signal
/// number or the exit status, message() names it and the worker's pid.
class WorkerDied : public Error {
public:
    using Error::Error;
};
/// CF_TASK_EXPIRED: the task outran the executor's task_timeout; its worker was killed.
class TaskExpired : public Error {
public:
    using Error::Error;
};
/// CF_BROKEN: the executor can run nothing more (Python: BrokenExecutor).
class Broken : public Error {
public:
    using Error::Error;
};
/// CF_SHUTDOWN: the executor no longer accepts work (Python: RuntimeError after shutdown).
class Shutdown : public Error {
public:
    using Error::Error;
};
/// CF_INVALID_ARGUMENT: a bad argument, option, NaN timeout, unresolvable task, wrong size...
class InvalidArgument : public Error {
public:
    using Error::Error;
};

/// Thrown by a function wrapped with cf::task<F> to fail its future with this code (the
/// future's error_code()) and message.
class TaskError : public std::runtime_error {
public:
    TaskError(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

/// Throws the cf::Error subclass for `status`.
[[noreturn]] inline void throw_error(cf_status status, std::string message, int code,
                                     const char *call) {
    std::string c = call != nullptr ? call : "";
    switch (status) {
    case CF_TIMEOUT:
        throw Timeout(status, std::move(message), code, std::move(c));
    case CF_CANCELLED:
        throw Cancelled(status, std::move(message), code, std::move(c));
    case CF_TASK_FAILED:
        throw TaskFailed(status, std::move(message), code, std::move(c));
    case CF_WORKER_DIED:
        throw WorkerDied(status, std::move(message), code, std::move(c));
    case CF_TASK_EXPIRED:
        throw TaskExpired(status, std::move(message), code, std::move(c));
    case CF_BROKEN:
        throw Broken(status, std::move(message), code, std::move(c));
    case CF_SHUTDOWN:
        throw Shutdown(status, std::move(message), code, std::move(c));
    case CF_INVALID_ARGUMENT:
        throw InvalidArgument(status, std::move(message), code, std::move(c));
    default:
        throw Error(status, std::move(message), code, std::move(c));
    }
}

/// Throws for a C call that just returned `status`, with cf_last_error() read first (before
/// any other cfutures call can replace it).
[[noreturn]] inline void throw_last(cf_status status, const char *call) {
    std::string message = cf_last_error();
    throw_error(status, std::move(message), 0, call);
}

/// Throws unless `status` is CF_OK.
inline void check(cf_status status, const char *call) {
    if (status != CF_OK) {
        throw_last(status, call);
    }
}

/// The message and code of a future `f` whose cf_future_result/_exception just returned
/// `status`: cf_last_error() first, then the future's own message and code when it has them.
inline std::pair<std::string, int> future_failure(cf_status status, const cf_future *f) {
    std::string message = cf_last_error();
    int code = 0;
    if (status != CF_TIMEOUT && f != nullptr) {
        code = cf_future_error_code(f);
        if (const char *m = cf_future_error_message(f)) {
            message = m;
        }
    }
    return {std::move(message), code};
}

/// Throws for a future `f` whose cf_future_result/_exception just returned `status`.
[[noreturn]] inline void throw_future(cf_status status, const cf_future *f, const char *call) {
    std::pair<std::string, int> failure = future_failure(status, f);
    throw_error(status, std::move(failure.first), failure.second, call);
}

template <class T>
constexpr bool is_bytes_like_v =
    std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>;

template <class T> constexpr void check_value_type() {
    static_assert(!std::is_void_v<T>, "cfutures: a typed helper needs an object type");
    static_assert(std::is_trivially_copyable_v<T>,
                  "cfutures: arguments and results are sent as bytes: T must be trivially "
                  "copyable (use cf::Bytes for text or raw bytes)");
    static_assert(!is_bytes_like_v<T>,
                  "cfutures: a string_view's bytes are a pointer; pass cf::Bytes(view) to send "
                  "its text");
}

} // namespace detail

// -------------------------------------------------------------------------------------------
// Timeouts
// -------------------------------------------------------------------------------------------

/// The type of cf::forever.
struct forever_t {
    explicit constexpr forever_t() = default;
};

/// "No timeout": wait without limit (the C API's CF_FOREVER).
inline constexpr forever_t forever{};

/// A timeout: any std::chrono::duration, or cf::forever. Converted to the C API's double
/// seconds: durations of zero or less poll (0.0), cf::forever is CF_FOREVER, NaN stays NaN
/// (the C call then fails with CF_INVALID_ARGUMENT), +inf waits forever.
class WaitTime {
public:
    constexpr WaitTime(forever_t) noexcept : seconds_(CF_FOREVER) {}
    template <class Rep, class Period>
    constexpr WaitTime(const std::chrono::duration<Rep, Period> &d) noexcept
        : seconds_(to_seconds(d)) {}

    /// The C API's timeout: seconds, or CF_FOREVER.
    constexpr double seconds() const noexcept { return seconds_; }
    constexpr bool is_forever() const noexcept { return seconds_ == CF_FOREVER; }

private:
    template <class Rep, class Period>
    static constexpr double to_seconds(const std::chrono::duration<Rep, Period> &d) noexcept {
        double s = std::chrono::duration<double>(d).count();
        return s <= 0.0 ? 0.0 : s; // NaN compares false and is kept
    }
    double seconds_;
};

// -------------------------------------------------------------------------------------------
// Bytes
// -------------------------------------------------------------------------------------------

/// A non-owning view of bytes (a task's argument or result). See "Bytes" above for how long
/// the views this header returns stay valid.
class Bytes {
public:
    constexpr Bytes() noexcept = default;
    constexpr Bytes(const void *data, std::size_t size) noexcept : data_(data), size_(size) {}
    /// The characters of `s` (no terminating NUL).
    constexpr Bytes(std::string_view s) noexcept : data_(s.data()), size_(s.size()) {}

    constexpr const void *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    const std::byte *begin() const noexcept { return static_cast<const std::byte *>(data_); }
    const std::byte *end() const noexcept { return begin() + size_; }

    /// The bytes as characters (a view, valid as long as this view).
    std::string_view view() const noexcept {
        return size_ == 0 ? std::string_view() : std::string_view(static_cast<const char *>(data_), size_);
    }
    /// A copy of the bytes as a string.
    std::string str() const { return std::string(view()); }

    /// The bytes as one T (copied); throws cf::InvalidArgument if the size is not sizeof(T).
    template <class T> T as() const {
        detail::check_value_type<T>();
        static_assert(std::is_default_constructible_v<T>,
                      "cfutures: as<T>() needs a default constructible T");
        if (size_ != sizeof(T)) {
            size_mismatch("cf::Bytes::as<T>", "", sizeof(T));
        }
        T value;
        std::memcpy(static_cast<void *>(&value), data_, sizeof(T));
        return value;
    }

    /// The bytes as consecutive Ts (copied); throws cf::InvalidArgument if the size is not a
    /// multiple of sizeof(T).
    template <class T> std::vector<T> to_vector() const {
        detail::check_value_type<T>();
        if (size_ % sizeof(T) != 0) {
            size_mismatch("cf::Bytes::to_vector<T>", "a multiple of ", sizeof(T));
        }
        std::vector<T> v(size_ / sizeof(T));
        if (size_ != 0) {
            std::memcpy(static_cast<void *>(v.data()), data_, size_);
        }
        return v;
    }

private:
    [[noreturn]] void size_mismatch(const char *call, const char *how, std::size_t want) const {
        detail::throw_error(CF_INVALID_ARGUMENT,
                            std::to_string(size_) + " bytes where " + how +
                                std::to_string(want) + " were expected",
                            0, call);
    }

    const void *data_ = nullptr;
    std::size_t size_ = 0;
};

// -------------------------------------------------------------------------------------------
// Writing tasks
// -------------------------------------------------------------------------------------------

/// Inside a task: the argument as a T, or nothing when its size is not sizeof(T).
template <class T> std::optional<T> arg(const void *data, std::size_t size) noexcept {
    detail::check_value_type<T>();
    static_assert(std::is_default_constructible_v<T>, "cfutures: arg<T> needs a default constructible T");
    if (size != sizeof(T) || data == nullptr) {
        return std::nullopt;
    }
    T value;
    std::memcpy(static_cast<void *>(&value), data, sizeof(T));
    return value;
}

/// Inside a task: sets the result to `bytes` (copied).
[[nodiscard]] inline cf_status set_result(cf_out *out, Bytes bytes) noexcept {
    return cf_out_set(out, bytes.data(), bytes.size());
}
/// Inside a task: sets the result to the characters of `s`.
[[nodiscard]] inline cf_status set_result(cf_out *out, const std::string &s) noexcept {
    return cf_out_set(out, s.data(), s.size());
}
/// Inside a task: sets the result to the characters of `s`.
[[nodiscard]] inline cf_status set_result(cf_out *out, std::string_view s) noexcept {
    return cf_out_set(out, s.data(), s.size());
}
/// Inside a task: sets the result to the Ts of `v`, end to end.
template <class T>
[[nodiscard]] cf_status set_result(cf_out *out, const std::vector<T> &v) noexcept {
    detail::check_value_type<T>();
    return cf_out_set(out, v.data(), v.size() * sizeof(T));
}
/// Inside a task: sets the result to the bytes of `value`.
template <class T> [[nodiscard]] cf_status set_result(cf_out *out, const T &value) noexcept {
    detail::check_value_type<T>();
    return cf_out_set(out, &value, sizeof(T));
}

/// Inside a task: fails the future with `message` (cf_out_fail).
inline cf_status fail(cf_out *out, const char *message) noexcept {
    return cf_out_fail(out, message);
}

namespace detail {

template <class F> struct fn_traits;
template <class R, class A> struct fn_traits<R (*)(A)> {
    using result = R;
    using arg = std::remove_cv_t<std::remove_reference_t<A>>;
    static constexpr bool has_arg = true;
};
template <class R, class A> struct fn_traits<R (*)(A) noexcept> : fn_traits<R (*)(A)> {};
template <class R> struct fn_traits<R (*)()> {
    using result = R;
    using arg = void;
    static constexpr bool has_arg = false;
};
template <class R> struct fn_traits<R (*)() noexcept> : fn_traits<R (*)()> {};

template <class A> A decode_arg(const void *data, std::size_t size) {
    if constexpr (std::is_same_v<A, Bytes>) {
        return Bytes(data, size);
    } else if constexpr (std::is_same_v<A, std::string_view>) {
        return size == 0 ? std::string_view() : std::string_view(static_cast<const char *>(data), size);
    } else {
        return Bytes(data, size).as<A>();
    }
}

template <class R> void store_result(cf_out *out, const R &r) {
    cf_status s = set_result(out, r);
    if (s != CF_OK) {
        throw_last(s, "cf_out_set");
    }
}

} // namespace detail

/// A cf_task_fn made from the function F: `R F(A)` or `R F()` (see "Tasks" above). The
/// argument bytes become an A (size checked), F's return value becomes the result, and an
/// exception from F fails the future: cf::TaskError with its code and message, any other
/// std::exception with code 0 and what(), anything else with code 0 and "unknown C++
/// exception". Use it as `pool.submit(cf::task<gcd>, pair)`.
template <auto F> int task(const void *arg, std::size_t arg_len, cf_out *out) noexcept {
    using traits = detail::fn_traits<decltype(F)>;
    using R = typename traits::result;
    try {
        if constexpr (traits::has_arg) {
            using A = typename traits::arg;
            if constexpr (!std::is_same_v<A, Bytes> && !std::is_same_v<A, std::string_view>) {
                detail::check_value_type<A>();
            }
            A a = detail::decode_arg<A>(arg, arg_len);
            if constexpr (std::is_void_v<R>) {
                F(a);
            } else {
                detail::store_result(out, F(a));
            }
        } else {
            (void)arg;
            (void)arg_len;
            if constexpr (std::is_void_v<R>) {
                F();
            } else {
                detail::store_result(out, F());
            }
        }
        return 0;
    } catch (const TaskError &e) {
        cf_out_fail(out, e.what());
        return e.code();
    } catch (const std::exception &e) {
        cf_out_fail(out, e.what());
        return 0;
    } catch (...) {
        cf_out_fail(out, "unknown C++ exception");
        return 0;
    }
}

// -------------------------------------------------------------------------------------------
// Future
// -------------------------------------------------------------------------------------------

class Future;

namespace detail {
template <class Fn> void invoke_done_callback(cf_future *f, void *user_data) noexcept;
} // namespace detail

/// A future (Python: concurrent.futures.Future), a counted reference to a cf_future. Copy =
/// cf_future_retain, move steals, destructor = cf_future_free (the task still runs).
/// A default-constructed Future holds nothing (calls on it throw cf::InvalidArgument or
/// return false/0).
class Future {
public:
    Future() noexcept = default;
    /// Takes ownership of one reference to `f` (e.g. the out-param of cf_submit).
    explicit Future(cf_future *f) noexcept : f_(f) {}
    /// A new reference to `f`, which stays the caller's (e.g. in a C done-callback).
    static Future retain(cf_future *f) noexcept { return Future(cf_future_retain(f)); }

    Future(const Future &other) noexcept : f_(cf_future_retain(other.f_)) {}
    Future(Future &&other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
    Future &operator=(const Future &other) noexcept {
        if (this != &other) {
            cf_future *old = std::exchange(f_, cf_future_retain(other.f_));
            cf_future_free(old);
        }
        return *this;
    }
    Future &operator=(Future &&other) noexcept {
        if (this != &other) {
            cf_future *old = std::exchange(f_, std::exchange(other.f_, nullptr));
            cf_future_free(old);
        }
        return *this;
    }
    ~Future() { cf_future_free(f_); }

    /// The C handle (borrowed).
    cf_future *get() const noexcept { return f_; }
    /// Gives up ownership: the caller must cf_future_free the result.
    [[nodiscard]] cf_future *release() noexcept { return std::exchange(f_, nullptr); }
    explicit operator bool() const noexcept { return f_ != nullptr; }

    /// Waits for the result (Python: result(timeout)): its bytes, valid while a Future
    /// referring to this future lives. Throws cf::Timeout, cf::Cancelled, or the failure
    /// (cf::TaskFailed with code() and message(), cf::WorkerDied, cf::TaskExpired,
    /// cf::Broken).
    Bytes result(WaitTime timeout = forever) const & {
        const void *data = nullptr;
        std::size_t len = 0;
        cf_status s = cf_future_result(f_, timeout.seconds(), &data, &len);
        if (s != CF_OK) {
            detail::throw_future(s, f_, "cf_future_result");
        }
        return Bytes(data, len);
    }
    /// Deleted: the bytes would die with the temporary; use result<T>() or keep the Future.
    Bytes result(WaitTime timeout = forever) const && = delete;

    /// The result as a T (copied): result(timeout).as<T>(). Throws as result(), and
    /// cf::InvalidArgument if the result is not sizeof(T) bytes.
    template <class T> T result(WaitTime timeout = forever) const {
        const void *data = nullptr;
        std::size_t len = 0;
        cf_status s = cf_future_result(f_, timeout.seconds(), &data, &len);
        if (s != CF_OK) {
            detail::throw_future(s, f_, "cf_future_result");
        }
        return Bytes(data, len).as<T>();
    }

    /// Waits for the future to finish (Python: exception(timeout)): nothing if it succeeded,
    /// else its failure as a cf::Error (not thrown; status(), code(), message()). Throws
    /// cf::Timeout if it is still not done, cf::Cancelled if it was cancelled (as Python).
    std::optional<Error> exception(WaitTime timeout = forever) const {
        cf_status s = cf_future_exception(f_, timeout.seconds());
        if (s == CF_OK) {
            return std::nullopt;
        }
        if (s == CF_TIMEOUT || s == CF_CANCELLED || s == CF_INVALID_ARGUMENT) {
            detail::throw_future(s, f_, "cf_future_exception");
        }
        std::pair<std::string, int> failure = detail::future_failure(s, f_);
        return Error(s, std::move(failure.first), failure.second, "cf_future_exception");
    }

    /// Waits until the future is done or the timeout passes; whether it is done (no
    /// exception for a failed or cancelled future). Throws cf::InvalidArgument for an empty
    /// Future or a NaN timeout.
    bool wait(WaitTime timeout = forever) const {
        if (f_ == nullptr) {
            detail::throw_error(CF_INVALID_ARGUMENT, "empty cf::Future", 0, "cf::Future::wait");
        }
        bool done = false;
        cf_status s = cf_wait(&f_, 1, timeout.seconds(), CF_ALL_COMPLETED, &done, nullptr);
        if (s != CF_OK && s != CF_TIMEOUT) {
            detail::throw_last(s, "cf_wait");
        }
        return done;
    }

    /// The failed task's code (0 unless it failed): cf_future_error_code.
    int error_code() const noexcept { return cf_future_error_code(f_); }
    /// The failure's message, or nullptr if it has not failed (borrowed: valid while a Future
    /// referring to this future lives).
    const char *error_message() const noexcept { return cf_future_error_message(f_); }

    /// Cancels it if still pending (Python: cancel()); whether it is now cancelled.
    bool cancel() noexcept { return cf_future_cancel(f_); }
    bool cancelled() const noexcept { return cf_future_cancelled(f_); }
    bool running() const noexcept { return cf_future_running(f_); }
    bool done() const noexcept { return cf_future_done(f_); }

    /// Adds a C done-callback (cf_future_add_done_callback): `fn(f, user_data)` runs once.
    void add_done_callback(cf_done_callback fn, void *user_data) {
        detail::check(cf_future_add_done_callback(f_, fn, user_data),
                      "cf_future_add_done_callback");
    }

    /// Adds a C++ done-callback: `fn(future)` is called exactly once with a Future referring
    /// to this future, on the thread that completes or cancels it, or before this returns if
    /// it is already done; the callable (a copy, or the moved original) is destroyed right
    /// after that call, on the same thread. If adding fails (empty Future), it throws and the
    /// callable is never called. An exception escaping `fn` calls std::terminate.
    template <class Fn, class = std::enable_if_t<std::is_invocable_v<std::decay_t<Fn> &, Future &>>>
    void add_done_callback(Fn &&fn) {
        using F = std::decay_t<Fn>;
        auto holder = std::make_unique<F>(std::forward<Fn>(fn));
        cf_status s = cf_future_add_done_callback(f_, &detail::invoke_done_callback<F>, holder.get());
        if (s != CF_OK) {
            detail::throw_last(s, "cf_future_add_done_callback"); // never called: holder frees it
        }
        (void)holder.release(); // owned by the callback now
    }

    friend bool operator==(const Future &a, const Future &b) noexcept { return a.f_ == b.f_; }
    friend bool operator!=(const Future &a, const Future &b) noexcept { return a.f_ != b.f_; }

private:
    cf_future *f_ = nullptr;
};

namespace detail {
template <class Fn> void invoke_done_callback(cf_future *f, void *user_data) noexcept {
    std::unique_ptr<Fn> fn(static_cast<Fn *>(user_data));
    Future future = Future::retain(f);
    (*fn)(future); // noexcept: an exception here is std::terminate, never unwinding into C
}
} // namespace detail

// -------------------------------------------------------------------------------------------
// Iteration helpers
// -------------------------------------------------------------------------------------------

namespace detail {

/// An input iterator over a source with `std::optional<Value> next_value<Value>()`; the
/// default-constructed iterator is the end. Each step may throw what the source throws.
template <class Source, class Value> class PullIterator {
public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    using pointer = Value *;
    using reference = Value &;

    PullIterator() = default;
    explicit PullIterator(Source *source) : source_(source) { pull(); }

    Value &operator*() { return *current_; }
    Value *operator->() { return &*current_; }
    PullIterator &operator++() {
        pull();
        return *this;
    }
    void operator++(int) { pull(); }
    friend bool operator==(const PullIterator &a, const PullIterator &b) noexcept {
        return a.source_ == b.source_;
    }
    friend bool operator!=(const PullIterator &a, const PullIterator &b) noexcept {
        return !(a == b);
    }

private:
    void pull() {
        current_.reset();
        current_ = source_->template next_value<Value>();
        if (!current_) {
            source_ = nullptr;
        }
    }
    Source *source_ = nullptr;
    std::optional<Value> current_;
};

/// `for (T x : source.as<T>())` on a named source: refers to it.
template <class Source, class Value> class PullRange {
public:
    explicit PullRange(Source &source) noexcept : source_(&source) {}
    PullIterator<Source, Value> begin() { return PullIterator<Source, Value>(source_); }
    PullIterator<Source, Value> end() noexcept { return PullIterator<Source, Value>(); }

private:
    Source *source_;
};

/// `for (T x : make_source().as<T>())` on a temporary: owns it (a range-for keeps only the
/// range object alive, not the temporary it was made from).
template <class Source, class Value> class OwningPullRange {
public:
    explicit OwningPullRange(Source &&source) noexcept : source_(std::move(source)) {}
    PullIterator<Source, Value> begin() { return PullIterator<Source, Value>(&source_); }
    PullIterator<Source, Value> end() noexcept { return PullIterator<Source, Value>(); }

private:
    Source source_;
};

} // namespace detail

// -------------------------------------------------------------------------------------------
// Map
// -------------------------------------------------------------------------------------------

/// The results of Executor::map, in input order (Python: the iterator map returns). Move-only
/// owner of a cf_map_iter; destroying it cancels every item that has not started. A step
/// throws the item's failure (cf::TaskFailed, cf::Cancelled, ...) or cf::Timeout once the
/// map's deadline has passed; after that the map is finished (and what had not started is
/// cancelled), as CPython 3.14.
///
///     for (cf::Bytes b : map) ...        // views valid until the next step
///     for (long x : map.as<long>()) ...  // copies
///     std::vector<long> v = map.collect<long>();
class Map {
public:
    Map() noexcept = default;
    /// Takes ownership of `it`.
    explicit Map(cf_map_iter *it) noexcept : it_(it) {}
    Map(Map &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    Map &operator=(Map &&other) noexcept {
        if (this != &other) {
            cf_map_free(std::exchange(it_, std::exchange(other.it_, nullptr)));
        }
        return *this;
    }
    Map(const Map &) = delete;
    Map &operator=(const Map &) = delete;
    ~Map() { cf_map_free(it_); }

    cf_map_iter *get() const noexcept { return it_; }
    [[nodiscard]] cf_map_iter *release() noexcept { return std::exchange(it_, nullptr); }
    explicit operator bool() const noexcept { return it_ != nullptr; }

    /// The next result's bytes (valid until the next step or the Map's end), or nothing
    /// after the last.
    std::optional<Bytes> next() {
        const void *data = nullptr;
        std::size_t len = 0;
        cf_status s = cf_map_next(it_, &data, &len);
        if (s == CF_DONE) {
            return std::nullopt;
        }
        if (s != CF_OK) {
            detail::throw_last(s, "cf_map_next");
        }
        return Bytes(data, len);
    }
    /// The next result as a T (copied; size checked), or nothing after the last.
    template <class T> std::optional<T> next() {
        std::optional<Bytes> b = next();
        if (!b) {
            return std::nullopt;
        }
        return b->as<T>();
    }
    /// Every remaining result as a T.
    template <class T> std::vector<T> collect() {
        std::vector<T> out;
        while (std::optional<T> x = next<T>()) {
            out.push_back(*x);
        }
        return out;
    }

    using iterator = detail::PullIterator<Map, Bytes>;
    iterator begin() { return iterator(this); }
    iterator end() noexcept { return iterator(); }
    /// A range of the remaining results as Ts (on a temporary Map, the range owns it).
    template <class T> detail::PullRange<Map, T> as() & noexcept {
        return detail::PullRange<Map, T>(*this);
    }
    template <class T> detail::OwningPullRange<Map, T> as() && noexcept {
        return detail::OwningPullRange<Map, T>(std::move(*this));
    }

    /// next() or next<T>() (for the iterators).
    template <class Value> std::optional<Value> next_value() {
        if constexpr (std::is_same_v<Value, Bytes>) {
            return next();
        } else {
            return next<Value>();
        }
    }

private:
    cf_map_iter *it_ = nullptr;
};

// -------------------------------------------------------------------------------------------
// Options and Executor
// -------------------------------------------------------------------------------------------

/// Options for an Executor (cf_executor_options; Python: the constructors' keyword
/// arguments). Move-only. Setters chain, on a named object or a temporary:
///
///     cf::Executor pool(CF_PROCESS_POOL, 4,
///                       cf::Options().start_method(CF_START_SPAWN).task_timeout(10s));
///
/// A setter given a bad value throws cf::InvalidArgument; an option the executor kind does not
/// take (e.g. start_method for a thread pool) makes the Executor constructor throw.
class Options {
public:
    Options() : o_(cf_executor_options_new()) {
        if (o_ == nullptr) {
            detail::throw_error(CF_NO_MEMORY, cf_last_error(), 0, "cf_executor_options_new");
        }
    }
    Options(Options &&other) noexcept : o_(std::exchange(other.o_, nullptr)) {}
    Options &operator=(Options &&other) noexcept {
        if (this != &other) {
            cf_executor_options_free(std::exchange(o_, std::exchange(other.o_, nullptr)));
        }
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;
    ~Options() { cf_executor_options_free(o_); }

    const cf_executor_options *get() const noexcept { return o_; }
    cf_executor_options *get() noexcept { return o_; }

    /// Thread pool: threads named "<prefix>_<n>" (nullptr or "" restores the default).
    Options &thread_name_prefix(const char *prefix) & {
        detail::check(cf_executor_options_set_thread_name_prefix(o_, prefix),
                      "cf_executor_options_set_thread_name_prefix");
        return *this;
    }
    Options &thread_name_prefix(const std::string &prefix) & {
        return thread_name_prefix(prefix.c_str());
    }
    /// Runs `fn(initargs)` once in each new worker; if it fails the executor is broken
    /// (cf::Broken). nullptr removes it.
    Options &initializer(cf_task_fn fn, const void *initargs, std::size_t len) & {
        detail::check(cf_executor_options_set_initializer(o_, fn, initargs, len),
                      "cf_executor_options_set_initializer");
        return *this;
    }
    Options &initializer(cf_task_fn fn) & { return initializer(fn, nullptr, 0); }
    Options &initializer(cf_task_fn fn, Bytes initargs) & {
        return initializer(fn, initargs.data(), initargs.size());
    }
    template <class T> Options &initializer(cf_task_fn fn, const T &initargs) & {
        detail::check_value_type<T>();
        return initializer(fn, &initargs, sizeof(T));
    }
    /// Process pool: how workers start (forkserver, the default; fork; spawn).
    Options &start_method(cf_start_method method) & {
        detail::check(cf_executor_options_set_start_method(o_, method),
                      "cf_executor_options_set_start_method");
        return *this;
    }
    /// Process pool: replace a worker after it ran `n` tasks (0: never).
    Options &max_tasks_per_child(std::uint64_t n) & {
        detail::check(cf_executor_options_set_max_tasks_per_child(o_, n),
                      "cf_executor_options_set_max_tasks_per_child");
        return *this;
    }
    /// Process pool: per-task time limit; a task still running after it has its worker
    /// killed and fails with cf::TaskExpired. Zero or negative removes the limit.
    template <class Rep, class Period>
    Options &task_timeout(const std::chrono::duration<Rep, Period> &limit) & {
        detail::check(cf_executor_options_set_task_timeout(
                          o_, std::chrono::duration<double>(limit).count()),
                      "cf_executor_options_set_task_timeout");
        return *this;
    }
    /// Process pool, spawn: the cf-worker program (nullptr: CF_WORKER_PATH, then beside the
    /// library, then beside the executable).
    Options &worker_path(const char *path) & {
        detail::check(cf_executor_options_set_worker_path(o_, path),
                      "cf_executor_options_set_worker_path");
        return *this;
    }
    Options &worker_path(const std::string &path) & { return worker_path(path.c_str()); }

    // The same setters on a temporary, returning it by value.
    Options thread_name_prefix(const char *prefix) && {
        thread_name_prefix(prefix);
        return std::move(*this);
    }
    Options thread_name_prefix(const std::string &prefix) && {
        thread_name_prefix(prefix.c_str());
        return std::move(*this);
    }
    Options initializer(cf_task_fn fn, const void *initargs, std::size_t len) && {
        initializer(fn, initargs, len);
        return std::move(*this);
    }
    Options initializer(cf_task_fn fn) && {
        initializer(fn, nullptr, 0);
        return std::move(*this);
    }
    Options initializer(cf_task_fn fn, Bytes initargs) && {
        initializer(fn, initargs.data(), initargs.size());
        return std::move(*this);
    }
    template <class T> Options initializer(cf_task_fn fn, const T &initargs) && {
        detail::check_value_type<T>();
        initializer(fn, &initargs, sizeof(T));
        return std::move(*this);
    }
    Options start_method(cf_start_method method) && {
        start_method(method);
        return std::move(*this);
    }
    Options max_tasks_per_child(std::uint64_t n) && {
        max_tasks_per_child(n);
        return std::move(*this);
    }
    template <class Rep, class Period>
    Options task_timeout(const std::chrono::duration<Rep, Period> &limit) && {
        task_timeout(limit);
        return std::move(*this);
    }
    Options worker_path(const char *path) && {
        worker_path(path);
        return std::move(*this);
    }
    Options worker_path(const std::string &path) && {
        worker_path(path.c_str());
        return std::move(*this);
    }

private:
    cf_executor_options *o_;
};

/// An executor (Python: ThreadPoolExecutor / ProcessPoolExecutor), the move-only owner of a
/// cf_executor. Its destructor is Python's `with` exit: cf_executor_free, i.e.
/// shutdown(wait=true) (queued work runs to the end), then release. Futures held elsewhere
/// stay valid. Move assignment frees (and so waits for) the executor it replaces.
class Executor {
public:
    /// An executor holding nothing (calls on it throw cf::InvalidArgument).
    Executor() noexcept = default;
    /// cf_executor_new(kind, max_workers (0: the default), options). Throws
    /// cf::InvalidArgument (the C call gives no status, only cf_last_error(), whose text the
    /// exception keeps) for an unknown kind, too many workers, an option the kind rejects, no
    /// cf-worker for spawn, ...
    explicit Executor(cf_executor_kind kind, std::uint32_t max_workers = 0)
        : Executor(kind, max_workers, nullptr) {}
    Executor(cf_executor_kind kind, std::uint32_t max_workers, const Options &options)
        : Executor(kind, max_workers, options.get()) {}
    /// Takes ownership of `ex`.
    explicit Executor(cf_executor *ex) noexcept : ex_(ex) {}

    Executor(Executor &&other) noexcept : ex_(std::exchange(other.ex_, nullptr)) {}
    Executor &operator=(Executor &&other) noexcept {
        if (this != &other) {
            cf_executor_free(std::exchange(ex_, std::exchange(other.ex_, nullptr)));
        }
        return *this;
    }
    Executor(const Executor &) = delete;
    Executor &operator=(const Executor &) = delete;
    ~Executor() { cf_executor_free(ex_); }

    cf_executor *get() const noexcept { return ex_; }
    [[nodiscard]] cf_executor *release() noexcept { return std::exchange(ex_, nullptr); }
    explicit operator bool() const noexcept { return ex_ != nullptr; }

    /// Schedules fn(arg bytes) (Python: submit). Throws cf::Shutdown after shutdown,
    /// cf::Broken on a broken executor, cf::InvalidArgument for a null task or an
    /// unresolvable one.
    [[nodiscard]] Future submit(cf_task_fn fn, const void *arg, std::size_t len) {
        cf_future *f = nullptr;
        detail::check(cf_submit(ex_, fn, arg, len, &f), "cf_submit");
        return Future(f);
    }
    /// fn with no argument bytes.
    [[nodiscard]] Future submit(cf_task_fn fn) { return submit(fn, nullptr, 0); }
    /// fn with the bytes `arg` views (copied now).
    [[nodiscard]] Future submit(cf_task_fn fn, Bytes arg) {
        return submit(fn, arg.data(), arg.size());
    }
    /// fn with the bytes of `arg` (a trivially copyable T; copied now).
    template <class T> [[nodiscard]] Future submit(cf_task_fn fn, const T &arg) {
        detail::check_value_type<T>();
        return submit(fn, &arg, sizeof(T));
    }

    /// Runs fn over `n` items of `item_len` bytes laid end to end at `items` (Python: map).
    /// The timeout counts from this call; chunksize batches items per process-pool message
    /// (0 throws cf::InvalidArgument).
    [[nodiscard]] Map map(cf_task_fn fn, const void *items, std::size_t item_len, std::size_t n,
                          WaitTime timeout = forever, std::size_t chunksize = 1) {
        cf_map_iter *it = nullptr;
        detail::check(cf_map(ex_, fn, items, item_len, n, timeout.seconds(), chunksize, &it),
                      "cf_map");
        return Map(it);
    }
    /// Runs fn over the `n` Ts at `items`.
    template <class T>
    [[nodiscard]] Map map(cf_task_fn fn, const T *items, std::size_t n, WaitTime timeout = forever,
                          std::size_t chunksize = 1) {
        detail::check_value_type<T>();
        return map(fn, static_cast<const void *>(items), sizeof(T), n, timeout, chunksize);
    }
    /// Runs fn over the elements of a contiguous container (std::vector, std::array, a C
    /// array, ...) of trivially copyable elements.
    template <class C, class T = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(
                           std::declval<const C &>()))>>,
              class = decltype(std::size(std::declval<const C &>()))>
    [[nodiscard]] Map map(cf_task_fn fn, const C &items, WaitTime timeout = forever,
                          std::size_t chunksize = 1) {
        detail::check_value_type<T>();
        return map(fn, static_cast<const void *>(std::data(items)), sizeof(T),
                   static_cast<std::size_t>(std::size(items)), timeout, chunksize);
    }

    /// Python: shutdown(wait, cancel_futures). Throws cf::InvalidArgument when asked to wait
    /// from inside one of its own tasks or callbacks (the shutdown has started; Python raises
    /// RuntimeError "cannot join current thread").
    void shutdown(bool wait = true, bool cancel_futures = false) {
        detail::check(cf_executor_shutdown(ex_, wait, cancel_futures), "cf_executor_shutdown");
    }
    /// Process pool (Python 3.14: terminate_workers()): shuts down, cancels what has not
    /// started and SIGTERMs every worker; running futures fail with cf::WorkerDied. Throws
    /// cf::InvalidArgument for a thread pool.
    void terminate_workers() {
        detail::check(cf_executor_terminate_workers(ex_), "cf_executor_terminate_workers");
    }
    /// Process pool (Python 3.14: kill_workers()): as terminate_workers, with SIGKILL.
    void kill_workers() {
        detail::check(cf_executor_kill_workers(ex_), "cf_executor_kill_workers");
    }

private:
    Executor(cf_executor_kind kind, std::uint32_t max_workers, const cf_executor_options *opts)
        : ex_(cf_executor_new(kind, max_workers, opts)) {
        if (ex_ == nullptr) {
            detail::throw_error(CF_INVALID_ARGUMENT, cf_last_error(), 0, "cf_executor_new");
        }
    }

    cf_executor *ex_ = nullptr;
};

// -------------------------------------------------------------------------------------------
// wait and as_completed
// -------------------------------------------------------------------------------------------

namespace detail {
template <class Range> std::vector<cf_future *> handles(const Range &futures) {
    std::vector<cf_future *> fs;
    for (const Future &f : futures) {
        fs.push_back(f.get());
    }
    return fs;
}
} // namespace detail

/// What cf::wait found (Python: the (done, not_done) pair), as positions in the futures given,
/// ascending; every position of a future given twice is listed.
struct WaitResult {
    std::vector<std::size_t> done;
    std::vector<std::size_t> not_done;
    /// How many distinct futures were done.
    std::size_t n_done = 0;
    /// True when the deadline came before the condition held.
    bool timed_out = false;
};

/// Waits for futures (Python: concurrent.futures.wait(fs, timeout, return_when)); `futures`
/// is any range of cf::Future (a std::vector, std::array, ...). Never throws cf::Timeout: a
/// timeout is WaitResult::timed_out, as Python returns its sets. Throws cf::InvalidArgument
/// for an empty Future or a NaN timeout.
template <class Range>
WaitResult wait(const Range &futures, WaitTime timeout = forever,
                cf_return_when return_when = CF_ALL_COMPLETED) {
    std::vector<cf_future *> fs = detail::handles(futures);
    std::unique_ptr<bool[]> done(new bool[fs.size() + 1]());
    WaitResult r;
    cf_status s = cf_wait(fs.data(), fs.size(), timeout.seconds(), return_when, done.get(), &r.n_done);
    if (s != CF_OK && s != CF_TIMEOUT) {
        detail::throw_last(s, "cf_wait");
    }
    r.timed_out = s == CF_TIMEOUT;
    for (std::size_t i = 0; i < fs.size(); i++) {
        (done[i] ? r.done : r.not_done).push_back(i);
    }
    return r;
}
inline WaitResult wait(std::initializer_list<Future> futures, WaitTime timeout = forever,
                       cf_return_when return_when = CF_ALL_COMPLETED) {
    return wait<std::initializer_list<Future>>(futures, timeout, return_when);
}

/// One step of cf::as_completed: the position of the future in the futures given (its first
/// one) and a Future referring to it.
struct Completed {
    std::size_t index;
    Future future;
};

/// The futures as they complete (Python: concurrent.futures.as_completed); move-only owner of
/// a cf_as_completed (which holds a reference to each future until destroyed). Each distinct
/// future comes once: those already done first, then in completion order. The deadline
/// counts from cf::as_completed(); once it has passed with futures still pending, the step
/// throws cf::Timeout ("N (of M) futures unfinished"), after handing out every future that
/// had finished.
///
///     for (auto [index, future] : cf::as_completed(futures, 1s)) ...
class AsCompleted {
public:
    AsCompleted() noexcept = default;
    explicit AsCompleted(cf_as_completed *it) noexcept : it_(it) {}
    AsCompleted(AsCompleted &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    AsCompleted &operator=(AsCompleted &&other) noexcept {
        if (this != &other) {
            cf_as_completed_free(std::exchange(it_, std::exchange(other.it_, nullptr)));
        }
        return *this;
    }
    AsCompleted(const AsCompleted &) = delete;
    AsCompleted &operator=(const AsCompleted &) = delete;
    ~AsCompleted() { cf_as_completed_free(it_); }

    cf_as_completed *get() const noexcept { return it_; }
    [[nodiscard]] cf_as_completed *release() noexcept { return std::exchange(it_, nullptr); }

    /// The next completed future, or nothing after the last; throws cf::Timeout.
    std::optional<Completed> next() {
        cf_future *f = nullptr;
        std::size_t index = 0;
        cf_status s = cf_as_completed_next(it_, &f, &index);
        if (s == CF_DONE) {
            return std::nullopt;
        }
        if (s != CF_OK) {
            detail::throw_last(s, "cf_as_completed_next");
        }
        return Completed{index, Future::retain(f)};
    }

    using iterator = detail::PullIterator<AsCompleted, Completed>;
    iterator begin() { return iterator(this); }
    iterator end() noexcept { return iterator(); }

    template <class Value> std::optional<Value> next_value() { return next(); }

private:
    cf_as_completed *it_ = nullptr;
};

/// Starts an as_completed iteration over a range of cf::Future (see AsCompleted).
template <class Range>
[[nodiscard]] AsCompleted as_completed(const Range &futures, WaitTime timeout = forever) {
    std::vector<cf_future *> fs = detail::handles(futures);
    cf_as_completed *it = nullptr;
    detail::check(cf_as_completed_new(fs.data(), fs.size(), timeout.seconds(), &it),
                  "cf_as_completed_new");
    return AsCompleted(it);
}
[[nodiscard]] inline AsCompleted as_completed(std::initializer_list<Future> futures,
                                              WaitTime timeout = forever) {
    return as_completed<std::initializer_list<Future>>(futures, timeout);
}

} // namespace cf

#endif // CFUTURES_HPP
