/*
 * bench_interpose.c — what libvmig-cuda.so adds, measured in one run
 * against the stand-in driver (tests/interpose/stub_cuda.c):
 *
 *  - per call, in ns: the wrapper reached through the normal symbol
 *    lookup against the stand-in's own entry point, for a launch without a
 *    cap, a launch at 100 % in a shared region (the gate armed for a live
 *    `vmig mig -rg`, but uncapped), a launch with a cap (zero-length kernels, so the gate never has
 * to wait and only its bookkeeping is timed), an alloc/free pair under a quota, and cuMemGetInfo
 * under a quota;
 *  - start-up per process: a small CUDA program (probe startup: cuInit,
 *    one allocation, one free) started 1 and 64 at a time, with and without
 *    the interposer, wall time per batch;
 *  - registration with long-lived processes: 64 processes of one instance
 *    started one after another, each staying alive (allocated and asleep),
 *    so the k-th one registers among k-1 live ones; the time from its start
 *    to its "holding" line, with and without the interposer, first, median,
 *    worst, and the last eight against the first eight (flat = 1.0).
 *
 * Goals (docs/interpose.md): < 100 ns added per launch without a cap,
 * < 1 us with one.  The parent re-runs itself with each configuration.
 */
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cuda_api.h"

#ifndef VMIG_SAN_PRELOAD
#define VMIG_SAN_PRELOAD ""
#endif

void *vmigstub_addr(const char *name);

static char base[PATH_MAX - 64], self[PATH_MAX];

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define ITERS 200000

typedef double bench_fn(void *fn);

static double time_launch(void *p)
{
	__typeof__(cuLaunchKernel) *fn = (__typeof__(cuLaunchKernel) *)p;
	double t0 = now_ns();
	for (int i = 0; i < ITERS; i++)
		fn((CUfunction)0, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
	return (now_ns() - t0) / ITERS;
}

static double time_alloc_free(void *p)
{
	__typeof__(cuMemAlloc_v2) *al = (__typeof__(cuMemAlloc_v2) *)p;
	__typeof__(cuMemFree_v2) *fr =
	    (__typeof__(cuMemFree_v2) *)(al == cuMemAlloc_v2 ? (void *)cuMemFree_v2
							     : vmigstub_addr("cuMemFree_v2"));
	double t0 = now_ns();
	for (int i = 0; i < ITERS; i++) {
		CUdeviceptr d = 0;
		al(&d, 4096);
		fr(d);
	}
	return (now_ns() - t0) / ITERS;
}

static double time_meminfo(void *p)
{
	__typeof__(cuMemGetInfo_v2) *fn = (__typeof__(cuMemGetInfo_v2) *)p;
	double t0 = now_ns();
	for (int i = 0; i < ITERS; i++) {
		size_t f, t;
		fn(&f, &t);
	}
	return (now_ns() - t0) / ITERS;
}

/* Best of 5 alternating runs, so both sides see the same machine. */
static void compare(const char *what, const char *sym, bench_fn *fn, double goal)
{
	void *wrapped = dlsym(RTLD_DEFAULT, sym), *direct = vmigstub_addr(sym);
	double w = 1e30, d = 1e30;
	for (int r = 0; r < 5; r++) {
		double x = fn(wrapped), y = fn(direct);
		w = x < w ? x : w;
		d = y < d ? y : d;
	}
	printf("%-26s wrapped %8.1f ns  direct %8.1f ns  added %7.1f ns  ratio %5.2f", what, w, d,
	       w - d, w / d);
	if (goal > 0)
		printf("  (goal < %.0f ns: %s)", goal, w - d < goal ? "met" : "MISSED");
	printf("\n");
}

static int child(const char *mode)
{
	if (strcmp(mode, "nocap") == 0)
		compare("launch, no cap", "cuLaunchKernel", time_launch, 100);
	else if (strcmp(mode, "armed") == 0)
		compare("launch, 100% (live -rg)", "cuLaunchKernel", time_launch, 100);
	else if (strcmp(mode, "cap") == 0)
		compare("launch, 50% cap", "cuLaunchKernel", time_launch, 1000);
	else if (strcmp(mode, "mem") == 0) {
		compare("alloc+free, quota", "cuMemAlloc_v2", time_alloc_free, 0);
		compare("cuMemGetInfo, quota", "cuMemGetInfo_v2", time_meminfo, 0);
	}
	return 0;
}

/*
 * Start argv with the environment env; *pid is the child.  execve takes
 * char *const[] for historical reasons only: it writes to neither array.
 */
static void spawn(const char *const argv[], const char *const env[], pid_t *pid)
{
	*pid = fork();
	if (*pid == 0) {
		execve(argv[0], (char *const *)argv, (char *const *)env);
		_exit(127);
	}
}

static void child_env(const char **env, const char *acct, bool preload, char *bufs, size_t len)
{
	int n = 0;
	char *b = bufs;
	snprintf(b, len, "LD_LIBRARY_PATH=%s/tests/interpose/stub", base);
	env[n++] = b;
	b += strlen(b) + 1;
	if (preload) {
		snprintf(b, len - (size_t)(b - bufs), "LD_PRELOAD=%s%s%s/interpose/libvmig-cuda.so",
			 VMIG_SAN_PRELOAD, VMIG_SAN_PRELOAD[0] ? " " : "", base);
		env[n++] = b;
		b += strlen(b) + 1;
		snprintf(b, len - (size_t)(b - bufs), "VMIG_ACCOUNTING=%s", acct);
		env[n++] = b;
		env[n++] = "VMIG_PARTITION=bench";
		env[n++] = "VMIG_MEM_LIMIT=68719476736";
		env[n++] = "VMIG_COMPUTE_PCT=50";
	}
	env[n] = NULL;
}

static double startup(int n, bool preload, const char *acct)
{
	char probe[PATH_MAX], bufs[3 * PATH_MAX];
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", base);
	const char *argv[] = {probe, "startup", NULL}, *env[12];
	child_env(env, acct, preload, bufs, sizeof(bufs));
	pid_t pids[64];
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		spawn(argv, env, &pids[i]);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int st = 0;
		waitpid(pids[i], &st, 0);
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	if (bad)
		fprintf(stderr, "bench: %d start-up probes failed\n", bad);
	return now_ns() - t0;
}

static void bench_startup(void)
{
	char acct[64];
	snprintf(acct, sizeof(acct), "/tmp/vmig-bench-acct-%d", (int)getpid());
	for (int n = 1; n <= 64; n *= 64) {
		double plain = 1e30, inter = 1e30;
		for (int r = 0; r < 3; r++) {
			double x = startup(n, false, acct), y = startup(n, true, acct);
			plain = x < plain ? x : plain;
			inter = y < inter ? y : inter;
		}
		printf("start-up, %2d process%s     plain %8.2f ms  interposed %8.2f ms  added "
		       "%6.3f ms "
		       "per process  ratio %5.2f\n",
		       n, n == 1 ? "  " : "es", plain / 1e6, inter / 1e6, (inter - plain) / 1e6 / n,
		       inter / plain);
	}
	unlink(acct);
}

#define LIVE 64

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * Start LIVE `probe hold` processes one at a time, each left alive; us[k]
 * gets the microseconds from the k-th fork to its "holding" line.  All are
 * killed at the end.  0 when every one of them came up.
 */
static int live_starts(bool preload, const char *acct, double us[LIVE])
{
	char probe[PATH_MAX], bufs[3 * PATH_MAX];
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", base);
	const char *argv[] = {probe, "hold", "1048576", NULL}, *env[12];
	child_env(env, acct, preload, bufs, sizeof(bufs));
	pid_t pids[LIVE];
	int n = 0, rc = 0;
	for (; n < LIVE; n++) {
		int p[2];
		if (pipe(p) < 0) {
			rc = -1;
			break;
		}
		double t0 = now_ns();
		pids[n] = fork();
		if (pids[n] == 0) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
			execve(argv[0], (char *const *)argv, (char *const *)env);
			_exit(127);
		}
		close(p[1]);
		char line[16] = {0};
		ssize_t k = pids[n] > 0 ? read(p[0], line, sizeof(line) - 1) : -1;
		us[n] = (now_ns() - t0) / 1e3;
		close(p[0]);
		if (pids[n] < 0 || k < 7 || strncmp(line, "holding", 7) != 0) {
			fprintf(stderr, "bench: long-lived probe %d did not come up\n", n);
			rc = -1;
			n += pids[n] > 0;
			break;
		}
	}
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	return rc;
}

static void bench_live(void)
{
	char acct[64];
	double plain[LIVE], inter[LIVE];
	snprintf(acct, sizeof(acct), "/tmp/vmig-bench-live-%d", (int)getpid());
	if (live_starts(false, acct, plain) < 0 || live_starts(true, acct, inter) < 0) {
		unlink(acct);
		return;
	}
	unlink(acct);
	printf("registration among long-lived processes: %d started one at a time, each left "
	       "alive (us from start to ready)\n",
	       LIVE);
	const char *names[] = {"plain", "interposed"};
	double *v[] = {plain, inter};
	for (int w = 0; w < 2; w++) {
		double first8 = 0, last8 = 0, sorted[LIVE];
		for (int i = 0; i < 8; i++) {
			first8 += v[w][i] / 8;
			last8 += v[w][LIVE - 8 + i] / 8;
		}
		memcpy(sorted, v[w], sizeof(sorted));
		qsort(sorted, LIVE, sizeof(double), cmp_double);
		printf("  %-10s first %8.0f  median %8.0f  worst %8.0f  last 8 / first 8 %5.2f\n",
		       names[w], v[w][0], sorted[LIVE / 2], sorted[LIVE - 1], last8 / first8);
	}
	double mp = 0, mi = 0;
	for (int i = 0; i < LIVE; i++) {
		mp += plain[i] / LIVE;
		mi += inter[i] / LIVE;
	}
	printf("  added by the interposer: %.3f ms per process on average (ratio %.2f)\n",
	       (mi - mp) / 1e3, mi / mp);
}

static void run_mode(const char *mode, const char *const env_extra[])
{
	char bufs[3 * PATH_MAX], acct[64];
	const char *env[16], *argv[] = {self, "child", mode, NULL};
	snprintf(acct, sizeof(acct), "/tmp/vmig-bench-acct-%d", (int)getpid());
	child_env(env, acct, false, bufs, sizeof(bufs));
	/* Preload, but with this mode's own settings. */
	char pre[2 * PATH_MAX];
	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s%s%s/interpose/libvmig-cuda.so", VMIG_SAN_PRELOAD,
		 VMIG_SAN_PRELOAD[0] ? " " : "", base);
	int n = 1;
	env[n++] = pre;
	for (int i = 0; env_extra[i]; i++)
		env[n++] = env_extra[i];
	env[n] = NULL;
	pid_t pid;
	spawn(argv, env, &pid);
	int st = 0;
	waitpid(pid, &st, 0);
	unlink(acct);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "child") == 0)
		return child(argv[2]);
	const char *b = getenv("B") ? getenv("B") : "build";
	char tmp[PATH_MAX];
	if (!realpath(b, tmp) || strlen(tmp) >= sizeof(base) || !realpath("/proc/self/exe", self)) {
		fprintf(stderr, "bench: no build directory %s\n", b);
		return 2;
	}
	memcpy(base, tmp, strlen(tmp) + 1);
	char so[PATH_MAX + 32];
	snprintf(so, sizeof(so), "%s/interpose/libvmig-cuda.so", base);
	if (access(so, R_OK) != 0) {
		/* Without it every "interposed" figure would silently be a plain one. */
		fprintf(stderr, "bench: %s is not built (make all)\n", so);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	run_mode("nocap", (const char *const[]){"VMIG_PARTITION=bench", NULL});
	/* A shared region at 100 %: the gate is armed for a later -rg, but uncapped. */
	char armed[96];
	snprintf(armed, sizeof(armed), "VMIG_ACCOUNTING=/tmp/vmig-bench-armed-%d", (int)getpid());
	run_mode("armed", (const char *const[]){"VMIG_PARTITION=bench", armed, NULL});
	unlink(armed + strlen("VMIG_ACCOUNTING="));
	run_mode("cap", (const char *const[]){"VMIG_PARTITION=bench", "VMIG_COMPUTE_PCT=50", NULL});
	run_mode("mem",
		 (const char *const[]){"VMIG_PARTITION=bench", "VMIG_MEM_LIMIT=68719476736", NULL});
	bench_startup();
	bench_live();
	return 0;
}
