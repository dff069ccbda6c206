/*
 * bench_nvml.c — calls per second of the queries monitoring tools repeat
 * (handle by index, memory info, MIG device handle by index, GI list) on 8
 * partitioned simulated H100s (7 GIs with one CI each), loaded with dlopen
 * like any client, each as a ratio to a plain non-inlined function call
 * measured in the same run (goal: within 10x for cached queries), each the
 * fastest of a few rounds so that a busy machine disturbs it less.  It also
 * counts the process's read system calls (/proc/self/io) around the cached
 * loops, to show the state file is not re-read while nothing changes, and
 * after another process's change, to show it is re-read then.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nvml_abi.h"
#include "tmpdir.h"

static void *lib;
#define NV(name) ((__typeof__(&name))dlsym(lib, #name))

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* read() and friends so far, from the kernel's accounting. */
static long long read_syscalls(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "syscr: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* The baseline: a call the compiler may not inline or elide, doing similar bookkeeping. */
static nvmlDevice_t devs[8];
__attribute__((noinline)) static nvmlReturn_t plain(unsigned i, nvmlDevice_t *out)
{
	__asm__ volatile("" ::: "memory");
	if (!out || i >= 8)
		return NVML_ERROR_INVALID_ARGUMENT;
	*out = devs[i];
	return NVML_SUCCESS;
}

/* Calls per measurement: ROUNDS rounds of N calls, the fastest round counts (noisy machine). */
#define N      1000000u
#define ROUNDS 5

static double time_plain(void)
{
	nvmlReturn_t (*volatile fn)(unsigned, nvmlDevice_t *) = plain;
	nvmlDevice_t d;
	double best = 1e9;
	for (int round = 0; round < ROUNDS; round++) {
		double t = now();
		for (unsigned i = 0; i < N; i++)
			fn(i & 7, &d);
		t = (now() - t) / N;
		best = t < best ? t : best;
	}
	return best;
}

static double time_query_round(int which)
{
	__typeof__(&nvmlDeviceGetHandleByIndex_v2) by_index = NV(nvmlDeviceGetHandleByIndex_v2);
	__typeof__(&nvmlDeviceGetMemoryInfo) mem_info = NV(nvmlDeviceGetMemoryInfo);
	__typeof__(&nvmlDeviceGetMigDeviceHandleByIndex) mig =
	    NV(nvmlDeviceGetMigDeviceHandleByIndex);
	__typeof__(&nvmlDeviceGetGpuInstances) gis = NV(nvmlDeviceGetGpuInstances);
	nvmlDevice_t d;
	nvmlMemory_t m;
	nvmlGpuInstance_t list[8];
	unsigned n, bad = 0;
	double t = now();
	for (unsigned i = 0; i < N; i++) {
		switch (which) {
		case 0:
			bad += by_index(i & 7, &d) != NVML_SUCCESS;
			break;
		case 1:
			bad += mem_info(devs[i & 7], &m) != NVML_SUCCESS;
			break;
		case 2:
			bad += mig(devs[i & 7], i % 7, &d) != NVML_SUCCESS;
			break;
		default:
			n = 8;
			bad += gis(devs[i & 7], 19, list, &n) != NVML_SUCCESS || n != 7;
			break;
		}
	}
	double per = (now() - t) / N;
	if (bad)
		fprintf(stderr, "bench_nvml: %u failed calls\n", bad);
	return per;
}

static double time_query(int which)
{
	double best = 1e9;
	for (int round = 0; round < ROUNDS; round++) {
		double t = time_query_round(which);
		best = t < best ? t : best;
	}
	return best;
}

static int partition(void)
{
	for (unsigned g = 0; g < 8; g++) {
		nvmlReturn_t act;
		if (NV(nvmlDeviceGetHandleByIndex_v2)(g, &devs[g]) != NVML_SUCCESS ||
		    NV(nvmlDeviceSetMigMode)(devs[g], 1, &act) != NVML_SUCCESS)
			return -1;
		for (int k = 0; k < 7; k++) {
			nvmlGpuInstance_t gi;
			nvmlComputeInstance_t ci;
			if (NV(nvmlDeviceCreateGpuInstance)(devs[g], 19, &gi) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS)
				return -1;
		}
	}
	return 0;
}

/* Another process changes the state (one GI created and destroyed). */
static void other_process_change(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		nvmlDevice_t d;
		nvmlGpuInstance_t gi;
		NV(nvmlShutdown)();
		NV(nvmlInit_v2)();
		NV(nvmlDeviceGetHandleByIndex_v2)(0, &d);
		NV(nvmlGpuInstanceDestroy)((NV(nvmlDeviceGetGpuInstanceById)(d, 7, &gi), gi));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

int main(void)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	char path[512], dir[512], cmd[1024];
	if (!test_mkdtemp(dir, sizeof(dir), "bench"))
		return 1;
	setenv("VMIG_STATE_DIR", dir, 1);
	snprintf(cmd, sizeof(cmd), "%s/tests/abi/nvml_seed %s %s", b, dir,
		 "h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb h100-80gb");
	snprintf(path, sizeof(path), "%s/libnvidia-ml.so.1", b);
	if (system(cmd) != 0 || !(lib = dlopen(path, RTLD_NOW)) ||
	    NV(nvmlInit_v2)() != NVML_SUCCESS || partition() < 0) {
		fprintf(stderr, "bench_nvml: setup failed\n");
		return 1;
	}
	static const char *const names[] = {
	    "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetMemoryInfo",
	    "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetGpuInstances (7 GIs)"};
	double base = time_plain();
	printf("plain function call: %.1f ns (%.0f M/s)\n", base * 1e9, 1e-6 / base);
	long long r0 = read_syscalls();
	int worst = 0;
	for (int q = 0; q < 4; q++) {
		double t = time_query(q);
		double ratio = t / base;
		worst = ratio > 10.0 ? 1 : worst;
		printf("%-40s %7.1f ns  %6.2f M/s  %5.1fx plain  %s\n", names[q], t * 1e9, 1e-6 / t,
		       ratio, ratio <= 10.0 ? "(goal 10x: met)" : "(goal 10x: MISSED)");
	}
	long long r1 = read_syscalls();
	printf("read system calls during %u cached queries: %lld\n", 4 * N * ROUNDS, r1 - r0);
	other_process_change();
	long long r2 = read_syscalls();
	nvmlDevice_t d;
	NV(nvmlDeviceGetHandleByIndex_v2)(0, &d);
	long long r3 = read_syscalls();
	printf("read system calls for the first query after another process's commit: %lld"
	       " (the state file is re-read once)\n",
	       r3 - r2);
	NV(nvmlShutdown)();
	return test_rmtree(dir) != 0;
}
