/* What every C test shares: a CHECK that counts and reports (the first 40 failures are printed) and a
 * seeded splitmix64 generator, so failures reproduce. Define TEST_SEED before including. */
#ifndef BITCONV_TEST_CHECK_H
#define BITCONV_TEST_CHECK_H
#include <stdint.h>
#include <stdio.h>

#ifndef TEST_SEED
#error "define TEST_SEED before including check.h"
#endif

static int failures = 0, checks = 0;
#define CHECK(cond, ...)                                      \
    do {                                                      \
        checks++;                                             \
        if (!(cond)) {                                        \
            failures++;                                       \
            if (failures <= 40) {                             \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
                fprintf(stderr, __VA_ARGS__);                 \
                fputc('\n', stderr);                          \
            }                                                 \
        }                                                     \
    } while (0)

static uint64_t rng_state = TEST_SEED;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
#endif
