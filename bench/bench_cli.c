/*
 * bench_cli.c — wall time of `vmig` commands as a ratio to starting
 * /bin/true, on a state of 8 simulated H100s of which 7 are fully
 * partitioned.
 *
 * The clock is this process's CLOCK_MONOTONIC around posix_spawn + waitpid:
 * nothing else is started per sample (a shell's `$(date)` would start a
 * process per reading, which adds the same constant to every sample and so
 * pulls every ratio towards 1).  Samples of the different commands are
 * interleaved, so a machine that gets busier moves all of them alike, and
 * each figure is a median.  A sequence of commands is compared with the
 * same number of /bin/true runs: a three-command create/destroy cycle
 * against three /bin/true.  Every command must succeed; a failure stops the
 * benchmark (a failed command is fast and would flatter the figure).
 *
 * Usage: bench_cli [REPS]   (default 200; B names the build directory)
 */
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

extern char **environ;

static char vmig[PATH_MAX];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Run argv (argv[0] a path) with stdout and stderr on /dev/null; 0 if it exited 0. */
static int run(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* posix_spawn does not write to argv; its prototype predates const. */
	int r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

#define MAX_SEQ 3

/* A measured item: up to MAX_SEQ commands run in a row per sample. */
struct item {
	const char *label;
	const char *const *cmd[MAX_SEQ];
	double *us; /* one per sample */
};

static const char *const true_cmd[] = {"/bin/true", NULL};
static const char *lgi_cmd[] = {vmig, "mig", "-lgi", NULL};
static const char *cgi_cmd[] = {vmig, "mig", "-i", "0", "-cgi", "9,14,19,19", "-C", NULL};
static const char *dci_cmd[] = {vmig, "mig", "-i", "0", "-dci", NULL};
static const char *dgi_cmd[] = {vmig, "mig", "-i", "0", "-dgi", NULL};

static int sample(struct item *it, int rep)
{
	double t0 = now_us();
	for (int k = 0; k < MAX_SEQ && it->cmd[k]; k++)
		if (run(it->cmd[k]) < 0) {
			fprintf(stderr, "bench_cli: '%s' failed (command %d of the item)\n",
				it->label, k + 1);
			return -1;
		}
	it->us[rep] = now_us() - t0;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int setup(void)
{
	const char *reset[] = {vmig,	    "sim",	 "reset",     "h100-80gb",
			       "h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb",
			       "h100-80gb", "h100-80gb", "h100-80gb", NULL};
	const char *mig[] = {vmig, "-mig", "1", NULL};
	const char *fill[] = {vmig, "mig", "-cgi", "19,19,19,19,19,19,19", "-C", NULL};
	return run(reset) || run(mig) || run(fill) || run(dci_cmd) || run(dgi_cmd) ? -1 : 0;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 200;
	const char *b = getenv("B") ? getenv("B") : "build";
	char dir[PATH_MAX], tmp[PATH_MAX];
	if (reps < 1 || reps > 100000) {
		fprintf(stderr, "bench_cli: REPS must be 1-100000\n");
		return 2;
	}
	if (!realpath(b, tmp) ||
	    snprintf(vmig, sizeof(vmig), "%s/vmig", tmp) >= (int)sizeof(vmig) ||
	    access(vmig, X_OK) != 0) {
		fprintf(stderr, "bench_cli: no vmig in the build directory %s\n", b);
		return 2;
	}
	if (!test_mkdtemp(dir, sizeof(dir), "bench-cli"))
		return 1;
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_BACKEND", "sim", 1);
	if (setup() < 0) {
		fprintf(stderr, "bench_cli: setting up the state failed\n");
		test_rmtree(dir);
		return 1;
	}
	struct item items[] = {
	    {"/bin/true", {true_cmd}, NULL},
	    {"vmig mig -lgi", {lgi_cmd}, NULL},
	    {"/bin/true x3", {true_cmd, true_cmd, true_cmd}, NULL},
	    {"vmig mig -i 0 -cgi 9,14,19,19 -C; -dci; -dgi", {cgi_cmd, dci_cmd, dgi_cmd}, NULL},
	};
	enum { N_ITEMS = sizeof(items) / sizeof(items[0]) };
	int rc = 0;
	for (int i = 0; i < N_ITEMS; i++)
		if (!(items[i].us = calloc((size_t)reps, sizeof(double))))
			return 1;
	/* Interleaved, with the order rotated each round. */
	for (int rep = 0; rep < reps && rc == 0; rep++)
		for (int k = 0; k < N_ITEMS && rc == 0; k++)
			rc = sample(&items[(k + rep) % N_ITEMS], rep);
	if (rc == 0) {
		double m[N_ITEMS];
		for (int i = 0; i < N_ITEMS; i++)
			m[i] = median(items[i].us, reps);
		printf(
		    "state: 8 simulated H100 80GB, 7 of them with 7 GIs and 7 CIs; %d interleaved "
		    "samples each, medians; clock: CLOCK_MONOTONIC around posix_spawn+waitpid\n",
		    reps);
		printf("%-46s %9.0f us   1.00x\n", items[0].label, m[0]);
		printf("%-46s %9.0f us  %5.2fx /bin/true  (+%.0f us)\n", items[1].label, m[1],
		       m[1] / m[0], m[1] - m[0]);
		printf("%-46s %9.0f us   1.00x\n", items[2].label, m[2]);
		printf("%-46s %9.0f us  %5.2fx 3x /bin/true  (+%.0f us per command)\n",
		       items[3].label, m[3], m[3] / m[2], (m[3] - m[2]) / 3);
	}
	for (int i = 0; i < N_ITEMS; i++)
		free(items[i].us);
	return test_rmtree(dir) != 0 || rc != 0;
}
