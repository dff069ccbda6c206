/*
 * nvml_seed.c — writes a state directory holding simulated GPUs of the given
 * catalogue models, in order, for the ABI tests that cannot link libvmig
 * (the client, pynvml.sh, the NVML benchmark):
 *	nvml_seed DIR MODEL...
 * It is test_seed_gpus (tests/lib/gpus.h) as a program.
 */
#include <stdio.h>

#include "gpus.h"

int main(int argc, char **argv)
{
	struct vmig_err err = {0};
	if (argc < 3) {
		fprintf(stderr, "usage: nvml_seed DIR MODEL...\n");
		return 2;
	}
	if (test_seed_gpus(argv[1], (const char *const *)argv + 2, (unsigned)argc - 2, false, NULL,
			   &err) < 0) {
		fprintf(stderr, "nvml_seed: %s\n", err.msg);
		return 1;
	}
	return 0;
}
