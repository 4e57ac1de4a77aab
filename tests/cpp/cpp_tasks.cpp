// cpp_tasks.cpp: the process-pool tasks of the C++ tests (see cpp_tasks.hpp), built into
// libcpptasks.so by tests/cpp_api.rs.
#include "cpp_tasks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "cfutures.hpp"

namespace {

std::int64_t square(std::int64_t x) {
    if (x < 0) {
        throw cf::TaskError(3, "negative input");
    }
    return x * x;
}

std::int64_t init_value = -1;

} // namespace

// External linkage (not in the anonymous namespace): then cf::task<cube> is an exported
// (weak) symbol of the library, which a spawned worker can find by its mangled name.
namespace cpt {
std::int64_t cube(const std::int64_t &x);
std::int64_t cube(const std::int64_t &x) {
    if (x > 2097151) {
        throw std::runtime_error("cube overflow");
    }
    return x * x * x;
}
} // namespace cpt

extern "C" {

int cpt_square(const void *arg, std::size_t len, cf_out *out) {
    return cf::task<square>(arg, len, out);
}

int cpt_pid(const void *, std::size_t, cf_out *out) {
    std::int32_t pid = static_cast<std::int32_t>(getpid());
    return cf::set_result(out, pid) == CF_OK ? 0 : 90;
}

int cpt_fail(const void *arg, std::size_t len, cf_out *out) {
    std::optional<CptFail> a = cf::arg<CptFail>(arg, len);
    if (!a) return 91;
    a->msg[sizeof a->msg - 1] = 0;
    if (a->msg[0] != 0) cf::fail(out, a->msg);
    return a->code;
}

int cpt_abort(const void *, std::size_t, cf_out *) { std::abort(); }

int cpt_block(const void *arg, std::size_t len, cf_out *out) {
    std::optional<CptPath> a = cf::arg<CptPath>(arg, len);
    if (!a) return 92;
    a->path[sizeof a->path - 1] = 0;
    if (a->path[0] == 0) {
        for (;;) {
            pause(); // no FIFO: just block until the pool kills the worker
        }
    }
    // The test holds the FIFO open for reading: this open does not block.
    int fd = open(a->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        cf::fail(out, "cpt_block: cannot open the FIFO");
        return 93;
    }
    std::int32_t pid = static_cast<std::int32_t>(getpid());
    ssize_t n;
    do {
        n = write(fd, &pid, sizeof pid);
    } while (n < 0 && errno == EINTR);
    close(fd);
    for (;;) {
        pause(); // until the pool kills the worker
    }
}

int cpt_init(const void *arg, std::size_t len, cf_out *out) {
    std::optional<std::int64_t> v = cf::arg<std::int64_t>(arg, len);
    if (!v) return 94;
    if (*v < 0) {
        cf::fail(out, "init refused");
        return 5;
    }
    init_value = *v;
    return 0;
}

int cpt_init_value(const void *, std::size_t, cf_out *out) {
    return cf::set_result(out, init_value) == CF_OK ? 0 : 95;
}

cf_task_fn cpt_cube_task(void) { return &cf::task<cpt::cube>; }

} // extern "C"
