// submit_result.cpp: submit every pair, then wait for each result in turn, as in Python:
//
//     start = time.time()
//     with ThreadPoolExecutor(max_workers=2) as pool:
//         futures = [pool.submit(gcd, pair) for pair in numbers]
//         results = [future.result() for future in futures]
//     print('thread pool:', results, 'in %.3f s' % (time.time() - start))
//
// Build with -DPOOL=CF_PROCESS_POOL to run the same program on the process pool.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cfutures.hpp"
#include "gcd.hpp"

int main() try {
    const char *pool_name = POOL == CF_THREAD_POOL ? "thread pool:" : "process pool:";
    auto start = std::chrono::steady_clock::now();
    std::vector<long> results;
    {
        cf::Executor pool(POOL, max_workers);

        // futures = [pool.submit(gcd, pair) for pair in numbers]
        std::vector<cf::Future> futures;
        for (const Pair &pair : numbers) {
            futures.push_back(pool.submit(cf::task<gcd>, pair));
        }

        // results = [future.result() for future in futures]
        for (const cf::Future &future : futures) {
            results.push_back(future.result<long>());
        }
    } // the end of the with block: shutdown(wait=True)

    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-13s [", pool_name);
    for (std::size_t i = 0; i < results.size(); i++) {
        std::printf(i == 0 ? "%ld" : ", %ld", results[i]);
    }
    std::printf("] in %.3f s\n", seconds);
    return EXIT_SUCCESS;
} catch (const cf::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return EXIT_FAILURE;
}
