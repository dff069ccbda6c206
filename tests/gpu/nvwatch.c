/*
 * nvwatch.c — what the driver's NVML says about a GPU while tests/gpu/share.sh
 * runs its workloads: read-only queries, nothing is ever set.
 *
 *   nvwatch INDEX WARMUP SECONDS [PID...]
 *
 * After WARMUP seconds, samples GPU INDEX every 100 ms for SECONDS:
 * nvmlDeviceGetUtilizationRates (the percentage of time a kernel ran) and
 * nvmlDeviceGetProcessUtilization (each process's).  Prints "gpu busy B"
 * (the mean of the device's figure) and, per PID given, "pid P busy X",
 * the percentage of the time its kernels ran (sum of its samples, each
 * weighted by the time since the previous sample's stamp).  The types are
 * iface/nvml_abi.h's; the library is loaded with dlopen, so no toolkit
 * header is needed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nvml_abi.h"

#define MAXPID 16

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: nvwatch INDEX WARMUP SECONDS [PID...]\n");
		return 2;
	}
	unsigned index = (unsigned)strtoul(argv[1], NULL, 10);
	double warm = atof(argv[2]), secs = atof(argv[3]);
	int npid = argc - 4 < MAXPID ? argc - 4 : MAXPID;
	unsigned pids[MAXPID];
	double busy[MAXPID] = {0};
	for (int i = 0; i < npid; i++)
		pids[i] = (unsigned)strtoul(argv[4 + i], NULL, 10);
	void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW);
	__typeof__(nvmlInit_v2) *init = lib ? (__typeof__(init))dlsym(lib, "nvmlInit_v2") : NULL;
	__typeof__(nvmlDeviceGetHandleByIndex_v2) *by_index =
	    lib ? (__typeof__(by_index))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2") : NULL;
	__typeof__(nvmlDeviceGetUtilizationRates) *util =
	    lib ? (__typeof__(util))dlsym(lib, "nvmlDeviceGetUtilizationRates") : NULL;
	nvml_process_utilization_fn *procs =
	    lib ? (nvml_process_utilization_fn *)dlsym(lib, "nvmlDeviceGetProcessUtilization")
		: NULL;
	nvmlDevice_t dev;
	if (!init || !by_index || !util || init() != NVML_SUCCESS ||
	    by_index(index, &dev) != NVML_SUCCESS) {
		fprintf(stderr, "nvwatch: NVML cannot describe GPU %u\n", index);
		return 1;
	}
	nap(warm);
	static nvmlProcessUtilizationSample_t s[256];
	unsigned long long last = 0;
	double gpu = 0, t0 = now();
	int n = 0;
	/* The first look only fixes where the samples start. */
	unsigned k = 256;
	if (procs && procs(dev, s, &k, 0) == NVML_SUCCESS)
		for (unsigned j = 0; j < k; j++)
			last = s[j].timeStamp > last ? s[j].timeStamp : last;
	unsigned long long first = last;
	while (now() - t0 < secs) {
		nap(0.1);
		nvmlUtilization_t u;
		if (util(dev, &u) == NVML_SUCCESS) {
			gpu += u.gpu;
			n++;
		}
		k = 256;
		if (!procs || procs(dev, s, &k, last) != NVML_SUCCESS)
			continue;
		unsigned long long top = last;
		for (unsigned j = 0; j < k; j++)
			top = s[j].timeStamp > top ? s[j].timeStamp : top;
		for (unsigned j = 0; j < k; j++)
			for (int i = 0; i < npid; i++)
				if (s[j].pid == pids[i])
					busy[i] += s[j].smUtil / 100.0 * (double)(top - last);
		last = top;
	}
	printf("gpu busy %.1f\n", n ? gpu / n : -1);
	for (int i = 0; i < npid; i++)
		printf("pid %u busy %.1f\n", pids[i],
		       last > first ? busy[i] * 100.0 / (double)(last - first) : -1);
	return 0;
}
