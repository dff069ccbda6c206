/*
 * randseed.h — the seed of a randomised test, so that a failure can be
 * replayed: VMIG_TEST_SEED (decimal, or hex with 0x) when it is set, else the
 * test's fixed default, or for tests meant to draw a new one each run, one
 * from the clock and the PID.  The seed is printed on stderr either way, as
 * "# NAME: seed 0x... (replay: VMIG_TEST_SEED=0x...)".  C library only.
 */
#ifndef VMIG_TESTS_RANDSEED_H
#define VMIG_TESTS_RANDSEED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The default of a test that draws a new seed on every run. */
#define TEST_SEED_DRAWN 0

static inline uint64_t test_seed(const char *name, uint64_t fixed)
{
	const char *s = getenv("VMIG_TEST_SEED");
	uint64_t seed = fixed;
	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else if (fixed == TEST_SEED_DRAWN) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed =
		    ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
	}
	fprintf(stderr, "# %s: seed %#llx (replay: VMIG_TEST_SEED=%#llx)\n", name,
		(unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

#endif
