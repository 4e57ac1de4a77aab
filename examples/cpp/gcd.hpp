// gcd.hpp: what the C++ examples share: the six pairs and the brute-force gcd of the Python
// examples, as an ordinary C++ function that cf::task<gcd> turns into a task.
//
//     def gcd(pair):
//         a, b = pair
//         low = min(a, b)
//         for i in range(low, 0, -1):
//             if a % i == 0 and b % i == 0:
//                 return i
#ifndef EXAMPLES_GCD_HPP
#define EXAMPLES_GCD_HPP

#include <array>
#include <cstddef>

#ifndef POOL
#define POOL CF_THREAD_POOL /* or CF_PROCESS_POOL: the one line to change */
#endif

constexpr unsigned max_workers = 2;

using Pair = std::array<long, 2>;

constexpr std::array<Pair, 6> numbers{{
    {1963309, 2265973}, {1879675, 2493670}, {2030677, 3814172},
    {1551645, 2229620}, {1988912, 4736670}, {2198964, 7876293},
}};

inline long gcd(const Pair &pair) {
    long a = pair[0], b = pair[1];
    long low = a < b ? a : b;
    for (long i = low; i > 0; i--) {
        if (a % i == 0 && b % i == 0) {
            return i;
        }
    }
    return 0;
}

#endif
