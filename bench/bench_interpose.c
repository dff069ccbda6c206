/*
 * bench_interpose.c — what libvmig-cuda.so adds, and how well it keeps a
 * compute share, measured in one run against the stand-in driver
 * (tests/interpose/stub_cuda.c) and its NVML:
 *
 *  - per call, in ns: the wrapper reached through the normal symbol lookup
 *    against the stand-in's own entry point, for a launch outside any
 *    instance, a launch at 100 % in an instance (the gate armed for a live
 *    `vmig mig -rg`, but uncapped), a launch at 50 % in cap and in share
 *    mode (zero-length kernels, so the gate never waits and only its
 *    bookkeeping is timed), an alloc/free pair under a quota, cuMemGetInfo
 *    under a quota;
 *  - the compute share, on one stand-in GPU shared by the probes of each
 *    scenario, in its simulated time: 30/70 competing (share error, GPU
 *    idle), the same with events alone (no NVML), 4 streams against 1, a
 *    host-synchronising loop alone at 30 % (speed against no interposer),
 *    cap mode alone, and how long a live share change takes to settle;
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
 * < 500 ns with one; shares within 3 points; start-up flat and under 1 ms
 * added per process.  The parent re-runs itself with each configuration.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cuda_api.h"
#include "limits_file.h"
#include "workout.h"

#ifndef VMIG_SAN_PRELOAD
#define VMIG_SAN_PRELOAD ""
#endif

void *vmigstub_addr(const char *name);

static char base[PATH_MAX - 64], self[PATH_MAX], dir[64];

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- Per call ------------------------------------------------------------ */

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
	printf("%-28s wrapped %8.1f ns  direct %8.1f ns  added %7.1f ns  ratio %5.2f", what, w, d,
	       w - d, w / d);
	if (goal > 0)
		printf("  (goal < %.0f ns: %s)", goal, w - d < goal ? "met" : "MISSED");
	printf("\n");
}

static int child(const char *mode)
{
	/* The first call initialises the interposer: not part of what is timed. */
	cuInit(0);
	if (strcmp(mode, "none") == 0)
		compare("launch, no instance", "cuLaunchKernel", time_launch, 100);
	else if (strcmp(mode, "armed") == 0)
		compare("launch, 100% (live -rg)", "cuLaunchKernel", time_launch, 100);
	else if (strcmp(mode, "cap") == 0)
		compare("launch, 50% cap", "cuLaunchKernel", time_launch, 500);
	else if (strcmp(mode, "share") == 0)
		compare("launch, 50% share", "cuLaunchKernel", time_launch, 500);
	else if (strcmp(mode, "mem") == 0) {
		compare("alloc+free, quota", "cuMemAlloc_v2", time_alloc_free, 0);
		compare("cuMemGetInfo, quota", "cuMemGetInfo_v2", time_meminfo, 0);
	}
	return 0;
}

/* ---- Instances and programs ------------------------------------------------ */

/*
 * An instance's files as vmig makes them (docs/tenancy.md) in the private
 * directory: its limits file and an empty accounting file of our group.
 * Returns the VMIG_ACCOUNTING=... setting (static: 8 live at a time).
 */
static const char *instance(const char *name, unsigned pct, unsigned policy)
{
	static char set[8][128];
	static int next;
	char *acct = set[next++ % 8], path[160], text[VMIG_LIMITS_MAX];
	snprintf(acct, 128, "VMIG_ACCOUNTING=%s/%s", dir, name);
	struct vmig__limits l = {.mem_limit = 64ull << 30,
				 .compute_pct = pct,
				 .compute_policy = policy,
				 .gid = (uint32_t)getegid()};
	snprintf(l.partition, sizeof(l.partition), "bench-%s", name);
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, VMIG_LIMITS_SUFFIX);
	int n = vmig__limits_format(&l, text, sizeof(text));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (n < 0 || fd < 0 || write(fd, text, (size_t)n) != n)
		fprintf(stderr, "bench: cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0 || fchmod(fd, 0660) < 0)
		fprintf(stderr, "bench: cannot make %s\n", path);
	if (fd >= 0)
		close(fd);
	return acct;
}

/*
 * The environment of a program: the stand-in driver (stub: its directory,
 * or another one), the interposer when preload, then extra settings
 * ("NAME=value", NULL-ended).  bufs holds the strings.
 */
struct env {
	const char *v[24];
	char bufs[3][2 * PATH_MAX];
};

static void env_make(struct env *e, const char *stub, bool preload, const char *const extra[])
{
	int n = 0;
	snprintf(e->bufs[0], sizeof(e->bufs[0]), "LD_LIBRARY_PATH=%s", stub ? stub : "");
	if (!stub)
		snprintf(e->bufs[0], sizeof(e->bufs[0]), "LD_LIBRARY_PATH=%s/tests/interpose/stub",
			 base);
	e->v[n++] = e->bufs[0];
	if (preload) {
		snprintf(e->bufs[1], sizeof(e->bufs[1]),
			 "LD_PRELOAD=%s%s%s/interpose/libvmig-cuda.so", VMIG_SAN_PRELOAD,
			 VMIG_SAN_PRELOAD[0] ? " " : "", base);
		e->v[n++] = e->bufs[1];
	}
	e->v[n++] = "ASAN_OPTIONS=detect_leaks=0";
	for (int i = 0; extra && extra[i] && n < 23; i++)
		e->v[n++] = extra[i];
	e->v[n] = NULL;
}

/*
 * Start argv with the environment env; *pid is the child, *out (when not
 * NULL) a pipe from its stdout.  execve takes char *const[] for historical
 * reasons only: it writes to neither array.
 */
static void spawn(const char *const argv[], const char *const env[], pid_t *pid, int *out)
{
	int p[2] = {-1, -1};
	if (out && pipe(p) < 0)
		p[0] = p[1] = -1;
	*pid = fork();
	if (*pid == 0) {
		if (p[1] >= 0) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
		}
		execve(argv[0], (char *const *)argv, (char *const *)env);
		_exit(127);
	}
	if (out) {
		close(p[1]);
		*out = p[0];
	}
}

static void run_mode(const char *mode, bool preload, const char *const extra[])
{
	const char *argv[] = {self, "child", mode, NULL};
	struct env e;
	env_make(&e, NULL, preload, extra);
	pid_t pid;
	spawn(argv, e.v, &pid, NULL);
	waitpid(pid, NULL, 0);
}

static void bench_calls(void)
{
	run_mode("none", true, NULL);
	run_mode(
	    "armed", true,
	    (const char *const[]){"VMIG_PARTITION=bench-armed", instance("armed", 100, 0), NULL});
	run_mode("cap", true,
		 (const char *const[]){"VMIG_PARTITION=bench-cap",
				       instance("cap", 50, VMIG_POLICY_CAP), NULL});
	run_mode(
	    "share", true,
	    (const char *const[]){"VMIG_PARTITION=bench-share", instance("share", 50, 0), NULL});
	run_mode("mem", true,
		 (const char *const[]){"VMIG_PARTITION=bench-mem", instance("mem", 100, 0), NULL});
}

/* ---- The compute share on one shared stand-in GPU ------------------------------ */

/* What one probe printed, read to the end (its stdout is small). */
struct out {
	char text[8192];
};

static void slurp(int fd, struct out *o)
{
	size_t n = 0;
	ssize_t k;
	while (fd >= 0 && n + 1 < sizeof(o->text) &&
	       (k = read(fd, o->text + n, sizeof(o->text) - 1 - n)) > 0)
		n += (size_t)k;
	o->text[n] = '\0';
	if (fd >= 0)
		close(fd);
}

static double figure(const struct out *o, const char *key)
{
	return workout_figure(o->text, key);
}

/* One probe of a scenario: "work KIND 1 3" in an instance (NULL: none). */
struct probe {
	const char *kind, *name, *extra;
	unsigned pct, policy;
};

/* Run n probes together on one stand-in GPU; stub: the driver's directory (NULL: with NVML). */
static void scenario(const struct probe *p, int n, const char *stub, const char *sms, struct out *o)
{
	static int seq;
	char tl[128], bar[32], probe[PATH_MAX];
	snprintf(tl, sizeof(tl), "VMIGSTUB_TIMELINE=%s/timeline-%d", dir, seq++);
	snprintf(bar, sizeof(bar), "PROBE_BARRIER=%d", n);
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", base);
	pid_t pids[4];
	int fds[4];
	for (int i = 0; i < n; i++) {
		char part[64];
		snprintf(part, sizeof(part), "VMIG_PARTITION=bench-%s", p[i].name ? p[i].name : "");
		const char *extra[] = {tl,
				       bar,
				       sms,
				       p[i].extra ? p[i].extra : "PROBE_X=0",
				       p[i].name ? part : "PROBE_Y=0",
				       p[i].name ? instance(p[i].name, p[i].pct, p[i].policy)
						 : "PROBE_Z=0",
				       NULL};
		const char *argv[] = {probe, "work", p[i].kind, "1", "3", NULL};
		struct env e;
		env_make(&e, stub, p[i].name != NULL, extra);
		spawn(argv, e.v, &pids[i], &fds[i]);
	}
	for (int i = 0; i < n; i++) {
		slurp(fds[i], &o[i]);
		waitpid(pids[i], NULL, 0);
	}
}

static void contended(const char *what, const char *kind, const char *stub, const char *sms)
{
	struct probe p[2] = {{kind, "a30", NULL, 30, VMIG_POLICY_SHARE},
			     {"kernel", "b70", NULL, 70, VMIG_POLICY_SHARE}};
	struct out o[2];
	scenario(p, 2, stub, sms, o);
	double a = figure(&o[0], "ofbusy"), b = figure(&o[1], "ofbusy");
	printf("%-44s 30%% got %5.1f  70%% got %5.1f  error %4.1f points  GPU idle %4.1f%%\n", what,
	       a, b, (a > 30 ? a - 30 : 30 - a), figure(&o[0], "idle"));
}

static void bench_shares(void)
{
	char nonvml[128];
	/* A directory with the driver alone: the interposer finds no NVML. */
	snprintf(nonvml, sizeof(nonvml), "%s/driver-only", dir);
	mkdir(nonvml, 0700);
	char link[PATH_MAX + 64], target[PATH_MAX];
	snprintf(link, sizeof(link), "%s/libcuda.so.1", nonvml);
	snprintf(target, sizeof(target), "%s/tests/interpose/stub/libcuda.so.1", base);
	if (symlink(target, link) < 0)
		fprintf(stderr, "bench: cannot link %s\n", link);
	printf("compute share on one stand-in GPU (simulated time, shares of its busy time):\n");
	contended("  30/70 competing, share mode", "kernel", NULL, "VMIGSTUB_SMS=1");
	contended("  30/70 competing, events alone (no NVML)", "kernel", nonvml, "VMIGSTUB_SMS=1");
	contended("  30% with 4 streams vs 70%", "streams4", NULL, "VMIGSTUB_SMS=4");
	contended("  30% with 1 stream vs 70% (same GPU)", "kernel", NULL, "VMIGSTUB_SMS=4");
	struct out o[2];
	static const char *const loops[][2] = {{"sync", "host-synchronising"},
					       {"sparse", "sparse"}};
	for (int i = 0; i < 2; i++) {
		struct probe plain = {loops[i][0], NULL, NULL, 0, 0},
			     inst = {loops[i][0], loops[i][0], NULL, 30, 0};
		scenario(&plain, 1, NULL, "VMIGSTUB_SMS=1", &o[0]);
		scenario(&inst, 1, NULL, "VMIGSTUB_SMS=1", &o[1]);
		double base_rate = figure(&o[0], "rate"), rate = figure(&o[1], "rate");
		printf("  %s loop alone at 30%%, share: %.0f iterations/s, %.0f without the "
		       "interposer (%.2fx)\n",
		       loops[i][1], rate, base_rate, base_rate > 0 ? rate / base_rate : 0);
	}
	struct probe cap = {"kernel", "cap", NULL, 30, VMIG_POLICY_CAP};
	scenario(&cap, 1, NULL, "VMIGSTUB_SMS=1", &o[0]);
	printf("  cap 30%% alone on an idle GPU: %.1f%% (error %.1f points)\n",
	       figure(&o[0], "share"),
	       figure(&o[0], "share") > 30 ? figure(&o[0], "share") - 30
					   : 30 - figure(&o[0], "share"));
	struct probe live[2] = {{"kernel", "live", "PROBE_SET_PCT=30@1", 70, 0},
				{"kernel", "near", NULL, 70, 0}};
	scenario(live, 2, NULL, "VMIGSTUB_SMS=1", o);
	double s1 = workout_settled(o[0].text, 30);
	struct probe livecap = {"kernel", "livecap", "PROBE_SET_PCT=30@1", 70, VMIG_POLICY_CAP};
	scenario(&livecap, 1, NULL, "VMIGSTUB_SMS=1", o);
	printf("  live share change 70%% -> 30%%: settled after %.2f s (share, next to a busy "
	       "70%%), %.2f s (cap, alone)\n",
	       s1, workout_settled(o[0].text, 30));
}

/* ---- Start-up and registration ------------------------------------------------- */

static double startup(int n, bool preload, const char *acct)
{
	char probe[PATH_MAX];
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", base);
	const char *argv[] = {probe, "startup", NULL};
	struct env e;
	env_make(&e, NULL, preload,
		 (const char *const[]){"VMIG_PARTITION=bench-start", acct, NULL});
	pid_t pids[64];
	double t0 = now_ns();
	for (int i = 0; i < n; i++)
		spawn(argv, e.v, &pids[i], NULL);
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
	const char *acct = instance("start", 100, 0);
	for (int n = 1; n <= 64; n *= 64) {
		double plain = 1e30, inter = 1e30;
		for (int r = 0; r < 3; r++) {
			double x = startup(n, false, acct), y = startup(n, true, acct);
			plain = x < plain ? x : plain;
			inter = y < inter ? y : inter;
		}
		printf("start-up, %2d process%s     plain %8.2f ms  interposed %8.2f ms  added "
		       "%6.3f ms per process  ratio %5.2f\n",
		       n, n == 1 ? "  " : "es", plain / 1e6, inter / 1e6, (inter - plain) / 1e6 / n,
		       inter / plain);
	}
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
	char probe[PATH_MAX];
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", base);
	const char *argv[] = {probe, "hold", "1048576", NULL};
	struct env e;
	env_make(&e, NULL, preload, (const char *const[]){"VMIG_PARTITION=bench-live", acct, NULL});
	pid_t pids[LIVE];
	int n = 0, rc = 0;
	for (; n < LIVE; n++) {
		int fd = -1;
		double t0 = now_ns();
		spawn(argv, e.v, &pids[n], &fd);
		char line[16] = {0};
		ssize_t k = pids[n] > 0 && fd >= 0 ? read(fd, line, sizeof(line) - 1) : -1;
		us[n] = (now_ns() - t0) / 1e3;
		if (fd >= 0)
			close(fd);
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
	double plain[LIVE], inter[LIVE];
	const char *acct = instance("live", 100, 0);
	if (live_starts(false, acct, plain) < 0 || live_starts(true, acct, inter) < 0)
		return;
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

/* Remove the private directory and what the scenarios left in it. */
static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
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
	/* The limits file's directory may be writable by its owner alone (docs/tenancy.md). */
	snprintf(dir, sizeof(dir), "/tmp/vmig-bench-XXXXXX");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench: no private directory under /tmp\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_calls();
	bench_shares();
	bench_startup();
	bench_live();
	cleanup();
	return 0;
}
