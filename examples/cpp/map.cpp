// map.cpp: the built-in serial map versus Executor::map on a pool, as in Python:
//
//     start = time.time()
//     results = list(map(gcd, numbers))
//     print('serial:', results, 'in %.3f s' % (time.time() - start))
//
//     start = time.time()
//     with ThreadPoolExecutor(max_workers=2) as pool:
//         results = list(pool.map(gcd, numbers))
//     print('thread pool:', results, 'in %.3f s' % (time.time() - start))
//
// Build with -DPOOL=CF_PROCESS_POOL to run the same program on the process pool.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cfutures.hpp"
#include "gcd.hpp"

namespace {

double since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print_results(const char *label, const std::vector<long> &results, double seconds) {
    std::printf("%-13s [", label);
    for (std::size_t i = 0; i < results.size(); i++) {
        std::printf(i == 0 ? "%ld" : ", %ld", results[i]);
    }
    std::printf("] in %.3f s\n", seconds);
}

} // namespace

int main() try {
    const char *pool_name = POOL == CF_THREAD_POOL ? "thread pool:" : "process pool:";

    // results = list(map(gcd, numbers))
    auto start = std::chrono::steady_clock::now();
    std::vector<long> results;
    for (const Pair &pair : numbers) {
        results.push_back(gcd(pair));
    }
    print_results("serial:", results, since(start));

    // with ThreadPoolExecutor(max_workers=2) as pool: results = list(pool.map(gcd, numbers))
    start = std::chrono::steady_clock::now();
    {
        cf::Executor pool(POOL, max_workers);
        results = pool.map(cf::task<gcd>, numbers).collect<long>();
    } // the end of the with block: shutdown(wait=True)
    print_results(pool_name, results, since(start));
    return EXIT_SUCCESS;
} catch (const cf::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return EXIT_FAILURE;
}
