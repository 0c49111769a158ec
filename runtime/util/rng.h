/*
 * rng.h: the runtime's random numbers: xoshiro256** seeded through
 * splitmix64, as recommended by their authors. Small, fast, and its whole
 * state is four words, so a checkpoint stores it and a resumed run draws
 * exactly the numbers an uninterrupted one would.
 */
#ifndef GPTC_RNG_H
#define GPTC_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(Rng *r);
/* Standard normal, by Box-Muller (one draw per call, the pair's twin is
 * discarded so the stream does not depend on call parity). */
double rng_normal(Rng *r);

#endif
