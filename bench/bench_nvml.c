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
 *
 * Last, reads under writes: the same queries, each call timed on its own,
 * for a fixed time with no other process and then while another process
 * creates and destroys a GI through the library as fast as it can; it
 * prints calls per second and latency percentiles of both runs, and their
 * ratios (the writer's commits invalidate the cache, so readers re-read).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/*
 * Another process changes the state: it destroys GI 7 of GPU 0 (its CI
 * first: two commits) and exits 0 only if both succeeded.
 */
static int other_process_change(void)
{
	int st = 0;
	pid_t pid = fork();
	if (pid == 0) {
		nvmlDevice_t d;
		nvmlGpuInstance_t gi;
		nvmlComputeInstance_t ci;
		NV(nvmlShutdown)();
		_exit(NV(nvmlInit_v2)() != NVML_SUCCESS ||
		      NV(nvmlDeviceGetHandleByIndex_v2)(0, &d) != NVML_SUCCESS ||
		      NV(nvmlDeviceGetGpuInstanceById)(d, 7, &gi) != NVML_SUCCESS ||
		      NV(nvmlGpuInstanceGetComputeInstanceById)(gi, 0, &ci) != NVML_SUCCESS ||
		      NV(nvmlComputeInstanceDestroy)(ci) != NVML_SUCCESS ||
		      NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS);
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- reads while another process writes ---- */

#define LAT_MAX 4000000u /* calls recorded per window */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct window {
	double calls_per_s, p50, p99, p999, max; /* latencies in ns */
	unsigned long bad;
};

/*
 * Each call timed alone for secs seconds, cycling through the four queries
 * (the MIG ones on GPUs 1-6, which nobody changes).
 */
static void read_window(double secs, double *lat, struct window *w)
{
	__typeof__(&nvmlDeviceGetHandleByIndex_v2) by_index = NV(nvmlDeviceGetHandleByIndex_v2);
	__typeof__(&nvmlDeviceGetMemoryInfo) mem_info = NV(nvmlDeviceGetMemoryInfo);
	__typeof__(&nvmlDeviceGetMigDeviceHandleByIndex) mig =
	    NV(nvmlDeviceGetMigDeviceHandleByIndex);
	__typeof__(&nvmlDeviceGetGpuInstances) gis = NV(nvmlDeviceGetGpuInstances);
	nvmlDevice_t d;
	nvmlMemory_t m;
	nvmlGpuInstance_t list[8];
	unsigned n, i = 0;
	w->bad = 0;
	double start = now(), end = start + secs, t = start;
	while (t < end && i < LAT_MAX) {
		double t0 = now();
		nvmlReturn_t r;
		switch (i & 3) {
		case 0:
			r = by_index(i & 7, &d);
			break;
		case 1:
			r = mem_info(devs[(i >> 2) & 7], &m);
			break;
		case 2:
			r = mig(devs[1 + (i >> 2) % 6], (i >> 2) % 7, &d);
			break;
		default:
			n = 8;
			r = gis(devs[1 + (i >> 2) % 6], 19, list, &n);
			break;
		}
		t = now();
		w->bad += r != NVML_SUCCESS;
		lat[i++] = (t - t0) * 1e9;
	}
	w->calls_per_s = i / (t - start);
	qsort(lat, i, sizeof(*lat), cmp_double);
	w->p50 = lat[i / 2];
	w->p99 = lat[(size_t)(i * 0.99)];
	w->p999 = lat[(size_t)(i * 0.999)];
	w->max = lat[i - 1];
}

/*
 * A process that destroys GI 7 of GPU 7 (its CI first) and creates it again
 * with its CI, until killed: four commits per cycle; its pipe gets a byte
 * per cycle.
 */
static pid_t start_writer(int *rfd)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		nvmlDevice_t d;
		nvmlGpuInstance_t gi;
		nvmlComputeInstance_t ci;
		NV(nvmlShutdown)();
		if (NV(nvmlInit_v2)() != NVML_SUCCESS ||
		    NV(nvmlDeviceGetHandleByIndex_v2)(7, &d) != NVML_SUCCESS)
			_exit(1);
		for (;;) {
			unsigned id = 0;
			nvmlGpuInstanceInfo_t info;
			if (NV(nvmlDeviceGetGpuInstanceById)(d, 7, &gi) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceGetComputeInstanceById)(gi, 0, &ci) != NVML_SUCCESS ||
			    NV(nvmlComputeInstanceDestroy)(ci) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS ||
			    NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceGetInfo)(gi, &info) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS)
				_exit(2);
			id = info.id;
			if (id != 7 || write(p[1], "x", 1) != 1)
				_exit(3);
		}
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

/* A thread of this process destroying and re-creating GI 7 of GPU 7 until told to stop. */
static atomic_bool writer_stop;
static atomic_long writer_cycles;

static void *thread_writer(void *arg)
{
	(void)arg;
	nvmlDevice_t d;
	if (NV(nvmlDeviceGetHandleByIndex_v2)(7, &d) != NVML_SUCCESS)
		return NULL;
	nvmlGpuInstance_t gi;
	nvmlComputeInstance_t ci;
	/* The other process was killed mid-cycle: GI 7 or its CI may be gone; make them again. */
	if (NV(nvmlDeviceGetGpuInstanceById)(d, 7, &gi) != NVML_SUCCESS &&
	    NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi) != NVML_SUCCESS)
		return NULL;
	if (NV(nvmlGpuInstanceGetComputeInstanceById)(gi, 0, &ci) != NVML_SUCCESS &&
	    NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS)
		return NULL;
	while (!atomic_load(&writer_stop)) {
		if (NV(nvmlDeviceGetGpuInstanceById)(d, 7, &gi) != NVML_SUCCESS ||
		    NV(nvmlGpuInstanceGetComputeInstanceById)(gi, 0, &ci) != NVML_SUCCESS ||
		    NV(nvmlComputeInstanceDestroy)(ci) != NVML_SUCCESS ||
		    NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS ||
		    NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi) != NVML_SUCCESS ||
		    NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS)
			break;
		atomic_fetch_add(&writer_cycles, 1);
	}
	return NULL;
}

static int reads_under_writes(void)
{
	const double secs = 2.0;
	double *lat = malloc(LAT_MAX * sizeof(*lat));
	struct window quiet, loaded;
	int rfd = -1, st = 0;
	if (!lat)
		return -1;
	read_window(secs, lat, &quiet);
	pid_t w = start_writer(&rfd);
	if (w < 0) {
		free(lat);
		return -1;
	}
	read_window(secs, lat, &loaded);
	kill(w, SIGKILL);
	waitpid(w, &st, 0);
	char buf[4096];
	long cycles = 0;
	ssize_t k;
	while ((k = read(rfd, buf, sizeof(buf))) > 0)
		cycles += k;
	close(rfd);
	free(lat);
	if (WIFEXITED(st)) {
		fprintf(stderr, "bench_nvml: the writer failed (status %d)\n", WEXITSTATUS(st));
		return -1;
	}
	printf("reads while another process writes (each call timed alone, %.0f s per run; "
	       "the writer destroyed and re-created a GI %ld times = %.0f commits/s):\n",
	       secs, cycles, 4.0 * (double)cycles / secs);
	printf("%-14s %12s %9s %9s %10s %11s %7s\n", "run", "calls/s", "p50 ns", "p99 ns",
	       "p99.9 ns", "max ns", "failed");
	printf("%-14s %12.0f %9.0f %9.0f %10.0f %11.0f %7lu\n", "no writer", quiet.calls_per_s,
	       quiet.p50, quiet.p99, quiet.p999, quiet.max, quiet.bad);
	printf("%-14s %12.0f %9.0f %9.0f %10.0f %11.0f %7lu\n", "one writer", loaded.calls_per_s,
	       loaded.p50, loaded.p99, loaded.p999, loaded.max, loaded.bad);
	printf("with the writer: %.2fx the calls per second, p99 %.1fx, max %.1fx\n",
	       loaded.calls_per_s / quiet.calls_per_s, loaded.p99 / quiet.p99,
	       loaded.max / quiet.max);
	/* The same with the writer a thread of this process (its commits' fsyncs run without the
	 * library's lock). */
	struct window same;
	pthread_t wt;
	double *lat2 = malloc(LAT_MAX * sizeof(*lat2));
	if (!lat2 || pthread_create(&wt, NULL, thread_writer, NULL) != 0) {
		free(lat2);
		return -1;
	}
	read_window(secs, lat2, &same);
	atomic_store(&writer_stop, true);
	pthread_join(wt, NULL);
	free(lat2);
	printf("%-14s %12.0f %9.0f %9.0f %10.0f %11.0f %7lu   (%ld cycles = %.0f commits/s)\n",
	       "writer thread", same.calls_per_s, same.p50, same.p99, same.p999, same.max, same.bad,
	       atomic_load(&writer_cycles), 4.0 * (double)atomic_load(&writer_cycles) / secs);
	return quiet.bad || loaded.bad || same.bad ? -1 : 0;
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
	if (other_process_change() < 0) {
		fprintf(stderr, "bench_nvml: the other process's change failed\n");
		return 1;
	}
	long long r2 = read_syscalls();
	nvmlDevice_t d;
	NV(nvmlDeviceGetHandleByIndex_v2)(0, &d);
	long long r3 = read_syscalls();
	NV(nvmlDeviceGetHandleByIndex_v2)(1, &d);
	long long r4 = read_syscalls();
	/* Each reading of /proc/self/io is one read call itself: not counted. */
	printf("read system calls for the first query after another process's two commits: %lld"
	       " (the state is re-read), for the next query: %lld\n",
	       r3 - r2 - 1, r4 - r3 - 1);
	int rc = reads_under_writes();
	NV(nvmlShutdown)();
	return test_rmtree(dir) != 0 || rc != 0;
}
