// wait.cpp: wait() for all the futures, then for the first of a new batch, as in Python:
//
//     with ThreadPoolExecutor(max_workers=2) as pool:
//         futures = [pool.submit(gcd, pair) for pair in numbers]
//         done, not_done = wait(futures, timeout=2, return_when=ALL_COMPLETED)
//         print(done, not_done)
//         futures = [pool.submit(gcd, pair) for pair in numbers]
//         done, not_done = wait(futures, timeout=2, return_when=FIRST_COMPLETED)
//         print(done, not_done)
//
// The done and not-done futures are printed by their index in `futures`, each done one with
// its result. Build with -DPOOL=CF_PROCESS_POOL to run the same program on the process pool.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cfutures.hpp"
#include "gcd.hpp"

namespace {

// futures = [pool.submit(gcd, pair) for pair in numbers]
std::vector<cf::Future> submit_all(cf::Executor &pool) {
    std::vector<cf::Future> futures;
    for (const Pair &pair : numbers) {
        futures.push_back(pool.submit(cf::task<gcd>, pair));
    }
    return futures;
}

// done, not_done = wait(futures, timeout=2, return_when=when); print(done, not_done)
void wait_and_print(const std::vector<cf::Future> &futures, cf_return_when when,
                    const char *name) {
    cf::WaitResult r = cf::wait(futures, std::chrono::seconds(2), when);
    std::printf("wait(futures, timeout=2, return_when=%s): %s, %zu (of %zu) done\n", name,
                r.timed_out ? "timed out" : "condition met", r.n_done, futures.size());
    std::printf("  done:     {");
    for (std::size_t k = 0; k < r.done.size(); k++) {
        std::size_t i = r.done[k];
        std::printf("%sfutures[%zu] = %ld", k == 0 ? "" : ", ", i,
                    futures[i].result<long>(std::chrono::seconds(0)));
    }
    std::printf("}\n");
    std::printf("  not done: {");
    for (std::size_t k = 0; k < r.not_done.size(); k++) {
        std::printf("%sfutures[%zu]", k == 0 ? "" : ", ", r.not_done[k]);
    }
    std::printf("}\n");
}

} // namespace

int main() try {
    cf::Executor pool(POOL, max_workers);
    wait_and_print(submit_all(pool), CF_ALL_COMPLETED, "ALL_COMPLETED");
    // The futures of the second batch are released at once; the tasks still run, and the
    // pool's destructor (the end of the with block) waits for them.
    wait_and_print(submit_all(pool), CF_FIRST_COMPLETED, "FIRST_COMPLETED");
    return EXIT_SUCCESS;
} catch (const cf::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return EXIT_FAILURE;
}
