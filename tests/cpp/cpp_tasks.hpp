// cpp_tasks.hpp: the process-pool tasks of the C++ tests, built by tests/cpp_api.rs from
// tests/cpp/cpp_tasks.cpp into libcpptasks.so. They live in a shared library because the
// spawn start method loads tasks by path and symbol in the cf-worker program.
#ifndef CPP_TASKS_HPP
#define CPP_TASKS_HPP

#include <cstddef>
#include <cstdint>

#include "cfutures.h"

// A path (FIFO) passed by value.
struct CptPath {
    char path[240];
};

// The argument of cpt_fail: cf_out_fail(msg) if msg is not empty, then return code.
struct CptFail {
    int code;
    char msg[64];
};

extern "C" {
// int64 -> its square, through cf::task<F>; a negative input throws cf::TaskError(3,
// "negative input").
int cpt_square(const void *arg, std::size_t len, cf_out *out);
// -> the worker's pid (int32).
int cpt_pid(const void *arg, std::size_t len, cf_out *out);
// CptFail -> fails.
int cpt_fail(const void *arg, std::size_t len, cf_out *out);
// abort()s its worker.
int cpt_abort(const void *arg, std::size_t len, cf_out *out);
// CptPath: writes the worker's pid (int32) to the FIFO (if the path is not empty), then
// blocks until killed.
int cpt_block(const void *arg, std::size_t len, cf_out *out);
// Initializer: keeps its int64 argument in the worker; fails for a negative one.
int cpt_init(const void *arg, std::size_t len, cf_out *out);
// -> the int64 the initializer kept (or -1 if none ran).
int cpt_init_value(const void *arg, std::size_t len, cf_out *out);
// The address of cf::task<cube> instantiated inside the library (a C++ template instance,
// found by the spawn worker through its mangled symbol): int64 -> its cube; throws
// std::runtime_error("cube overflow") above 2097151.
cf_task_fn cpt_cube_task(void);
}

#endif // CPP_TASKS_HPP
