// as_completed.cpp: futures' states, then as_completed with a deadline too short and one long
// enough, as in Python:
//
//     with ThreadPoolExecutor(max_workers=2) as pool:
//         futures = [pool.submit(gcd, pair) for pair in numbers]
//         for future in futures:
//             print(future.running(), future.done())
//         try:
//             for future in as_completed(futures, timeout=0.0001):
//                 print(future.running(), future.done())
//         except TimeoutError as e:
//             print('TimeoutError:', e)          # "6 (of 6) futures unfinished"
//         for future in as_completed(futures, timeout=1):
//             print(future.running(), future.done())
//
// Unlike CPython, the deadline counts from cf::as_completed(), not from the first step.
// Build with -DPOOL=CF_PROCESS_POOL to run the same program on the process pool.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cfutures.hpp"
#include "gcd.hpp"

namespace {

const char *py_bool(bool b) { return b ? "True" : "False"; }

// print(future.running(), future.done()), with the index and, once done, the result.
void print_state(const cf::Future &f, std::size_t index) {
    bool running = f.running();
    bool done = f.done();
    std::printf("  futures[%zu]: %-5s %-5s", index, py_bool(running), py_bool(done));
    if (done) {
        std::printf("  gcd(%ld, %ld) = %ld", numbers[index][0], numbers[index][1],
                    f.result<long>(std::chrono::seconds(0)));
    }
    std::printf("\n");
}

// for future in as_completed(futures, timeout): print(future.running(), future.done())
template <class Rep, class Period>
void run_as_completed(const std::vector<cf::Future> &futures,
                      std::chrono::duration<Rep, Period> timeout) {
    std::printf("as_completed(futures, timeout=%g):\n",
                std::chrono::duration<double>(timeout).count());
    try {
        for (auto &[index, future] : cf::as_completed(futures, timeout)) {
            print_state(future, index);
        }
        std::printf("  all %zu futures completed\n", futures.size());
    } catch (const cf::Timeout &e) {
        // Python raises TimeoutError("N (of 6) futures unfinished").
        std::printf("  TimeoutError: %s\n", e.message().c_str());
    }
}

} // namespace

int main() try {
    cf::Executor pool(POOL, max_workers);

    // futures = [pool.submit(gcd, pair) for pair in numbers]
    std::vector<cf::Future> futures;
    for (const Pair &pair : numbers) {
        futures.push_back(pool.submit(cf::task<gcd>, pair));
    }

    std::printf("after submit (running, done):\n");
    for (std::size_t i = 0; i < futures.size(); i++) {
        print_state(futures[i], i);
    }

    run_as_completed(futures, std::chrono::microseconds(100)); // too short: times out
    run_as_completed(futures, std::chrono::seconds(1));        // long enough
    return EXIT_SUCCESS; // pool's destructor: the end of the with block, shutdown(wait=True)
} catch (const cf::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return EXIT_FAILURE;
}
