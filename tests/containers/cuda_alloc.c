/*
 * cuda_alloc.c — the program tests/containers/podman.sh runs inside a
 * software partition, in a container and on the host: it allocates device
 * memory through the CUDA driver API (the stand-in libcuda.so.1 of
 * tests/interpose, under the interposer that the partition preloads) and
 * says what it got, one line each:
 *   free F              cuMemGetInfo's free bytes, first and last
 *   alloc N ok|oom|err  each allocation of N bytes, in order
 *   holding             with "hold": everything allocated, now waiting to be killed
 * Usage: cuda_alloc [hold] [BYTES...].  Exit 0 unless a call failed in a
 * way no quota explains (an error other than out of memory).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_api.h"

static int print_free(void)
{
	size_t f = 0, t = 0;
	CUresult r = cuMemGetInfo_v2(&f, &t);
	if (r != CUDA_SUCCESS) {
		printf("meminfo err %d\n", (int)r);
		return 1;
	}
	printf("free %zu\n", f);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1, bad = 0;
	bool hold = argc > 1 && strcmp(argv[1], "hold") == 0;
	if (hold)
		i++;
	if (cuInit(0) != CUDA_SUCCESS) {
		printf("cuInit failed\n");
		return 1;
	}
	bad |= print_free();
	for (; i < argc; i++) {
		char *end = NULL;
		unsigned long long n = strtoull(argv[i], &end, 10);
		CUdeviceptr p = 0;
		if (!*argv[i] || *end) {
			fprintf(stderr, "cuda_alloc: '%s' is not a number of bytes\n", argv[i]);
			return 2;
		}
		CUresult r = cuMemAlloc_v2(&p, (size_t)n);
		printf("alloc %llu %s\n", n,
		       r == CUDA_SUCCESS	       ? "ok"
		       : r == CUDA_ERROR_OUT_OF_MEMORY ? "oom"
						       : "err");
		bad |= r != CUDA_SUCCESS && r != CUDA_ERROR_OUT_OF_MEMORY;
	}
	bad |= print_free();
	if (hold) {
		printf("holding\n");
		fflush(stdout);
		alarm(120); /* killed by the test long before; never left behind for good */
		for (;;)
			pause();
	}
	return bad;
}
