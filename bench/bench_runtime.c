/*
 * bench_runtime.c — the time vmig-container-runtime adds to a container
 * start, as a ratio to runc alone: `runc run` of a busybox container that
 * runs /bin/true, against the same through vmig-container-runtime, once
 * with a MIG device named (NVIDIA_VISIBLE_DEVICES=0:0: snapshot, selector,
 * spec, edits, config.json rewritten) and once with none (pass-through).
 *
 * The node is a simulated H100 with one 1g.10gb instance, stand-in device
 * nodes and a mig-minors table in a temporary directory.  The clock is this
 * process's CLOCK_MONOTONIC around posix_spawn + waitpid; the samples of
 * the three are interleaved and each figure is a median.  config.json is
 * restored before every sample, outside the clock.  Needs root, runc and
 * busybox-static; without them it says so and exits 0.
 *
 * Usage: bench_runtime [REPS]   (default 20; B names the build directory)
 */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"

extern char **environ;

static char vmig[PATH_MAX], rt[PATH_MAX], runc[PATH_MAX], dir[PATH_MAX], bundle[PATH_MAX + 16];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int run(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static bool find_in_path(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");
		snprintf(buf, size, "%.*s/%s", (int)len, p, name);
		if (access(buf, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
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

/* The simulated node: one H100, MIG on, one 1g.10gb instance; the table and stand-in nodes. */
static int make_node(void)
{
	const char *reset[] = {vmig, "sim", "reset", "h100-80gb", NULL};
	const char *mig[] = {vmig, "-i", "0", "-mig", "1", NULL};
	const char *cgi[] = {vmig, "mig", "-i", "0", "-cgi", "19", "-C", NULL};
	char p[PATH_MAX + 64];
	if (run(reset) || run(mig) || run(cgi))
		return -1;
	snprintf(p, sizeof(p), "%s/mig-minors", dir);
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	fprintf(f, "config 1\nmonitor 2\n");
	for (unsigned gi = 0; gi < 15; gi++) {
		fprintf(f, "gpu0/gi%u/access %u\n", gi, 3 + 9 * gi);
		for (unsigned ci = 0; ci < 8; ci++)
			fprintf(f, "gpu0/gi%u/ci%u/access %u\n", gi, ci, 4 + 9 * gi + ci);
	}
	fclose(f);
	setenv("VMIG_MIG_MINORS", p, 1);
	snprintf(p, sizeof(p), "%s/dev", dir);
	setenv("VMIG_DEV_ROOT", p, 1);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/dev/nvidia-caps", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/dev/nvidia0", dir);
	int r = mknod(p, S_IFCHR | 0666, makedev(195, 0));
	snprintf(p, sizeof(p), "%s/dev/nvidiactl", dir);
	r |= mknod(p, S_IFCHR | 0666, makedev(195, 255));
	for (unsigned m = 3; m < 3 + 135 && r == 0; m++) {
		snprintf(p, sizeof(p), "%s/dev/nvidia-caps/nvidia-cap%u", dir, m);
		r = mknod(p, S_IFCHR | 0444, makedev(511, m));
	}
	return r;
}

/* The bundle: `runc spec`, made to run /bin/true (busybox) without a terminal. */
static int make_bundle(const char *env_item)
{
	const char *spec[] = {runc, "spec", "--bundle", bundle, NULL};
	char p[PATH_MAX + 64];
	if (mkdir(bundle, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/rootfs", bundle);
	mkdir(p, 0755);
	char bin[PATH_MAX + 64];
	snprintf(bin, sizeof(bin), "%s/rootfs/bin", bundle);
	mkdir(bin, 0755);
	const char *cp[] = {"/bin/cp", "/bin/busybox", bin, NULL};
	snprintf(p, sizeof(p), "%s/config.json", bundle);
	unlink(p);
	if (run(spec) || run(cp))
		return -1;
	char from[PATH_MAX + 64], to[PATH_MAX + 64];
	snprintf(from, sizeof(from), "%s/rootfs/bin/busybox", bundle);
	snprintf(to, sizeof(to), "%s/rootfs/bin/true", bundle);
	if (link(from, to) < 0)
		return -1;
	json_t *cfg = json_load_file(p, 0, NULL);
	json_t *proc = json_object_get(cfg, "process");
	if (!proc)
		return -1;
	json_object_set_new(proc, "terminal", json_false());
	json_object_set_new(proc, "args", json_pack("[s]", "/bin/true"));
	json_array_append_new(json_object_get(proc, "env"), json_string(env_item));
	json_object_del(proc, "rlimits");
	int r = json_dump_file(cfg, p, JSON_COMPACT);
	json_decref(cfg);
	return r;
}

struct item {
	const char *label;
	const char *prog;
	const char *config; /* the config.json to start from */
	double *us;
};

static int copy_file(const char *from, const char *to)
{
	const char *cp[] = {"/bin/cp", from, to, NULL};
	return run(cp);
}

static int sample(struct item *it, int rep, int n)
{
	char id[64], cfg[PATH_MAX + 64];
	snprintf(id, sizeof(id), "vmig-bench-%d-%d", (int)getpid(), n);
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	if (copy_file(it->config, cfg) < 0)
		return -1;
	const char *argv[] = {it->prog, "run", "--bundle", bundle, id, NULL};
	double t0 = now_us();
	int r = run(argv);
	it->us[rep] = now_us() - t0;
	if (r < 0)
		fprintf(stderr, "bench_runtime: '%s' failed\n", it->label);
	return r;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 20;
	const char *b = getenv("B") ? getenv("B") : "build";
	char tmp[PATH_MAX], with_dev[PATH_MAX + 64], none[PATH_MAX + 64];
	if (reps < 1 || reps > 10000)
		return fprintf(stderr, "bench_runtime: REPS must be 1-10000\n"), 2;
	if (geteuid() != 0 || !find_in_path("runc", runc, sizeof(runc)) ||
	    access("/bin/busybox", X_OK) != 0) {
		printf("bench_runtime: skipped (needs root, runc and busybox-static)\n");
		return 0;
	}
	if (!realpath(b, tmp) ||
	    snprintf(vmig, sizeof(vmig), "%s/vmig", tmp) >= (int)sizeof(vmig) ||
	    snprintf(rt, sizeof(rt), "%s/vmig-container-runtime", tmp) >= (int)sizeof(rt) ||
	    access(rt, X_OK) != 0)
		return fprintf(stderr, "bench_runtime: no vmig-container-runtime in %s\n", b), 2;
	if (!test_mkdtemp(dir, sizeof(dir), "bench-runtime"))
		return 1;
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	snprintf(with_dev, sizeof(with_dev), "%s/with-device.json", dir);
	snprintf(none, sizeof(none), "%s/no-device.json", dir);
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_BACKEND", "sim", 1);
	setenv("VMIG_RUNTIME", runc, 1);
	int rc = make_node() || make_bundle("NVIDIA_VISIBLE_DEVICES=0:0") ? 1 : 0;
	char cfg[PATH_MAX + 64];
	snprintf(cfg, sizeof(cfg), "%s/config.json", bundle);
	rc = rc || copy_file(cfg, with_dev) || copy_file(cfg, none);
	if (!rc) { /* the no-device copy: the variable made void */
		json_t *c = json_load_file(none, 0, NULL);
		json_t *env = json_object_get(json_object_get(c, "process"), "env");
		json_array_set_new(env, json_array_size(env) - 1,
				   json_string("NVIDIA_VISIBLE_DEVICES=void"));
		rc = !c || json_dump_file(c, none, JSON_COMPACT);
		json_decref(c);
	}
	if (rc) {
		fprintf(stderr, "bench_runtime: setting up the node or the bundle failed\n");
		test_rmtree(dir);
		return 1;
	}
	struct item items[] = {
	    {"runc run", runc, with_dev, NULL},
	    {"vmig-container-runtime run, MIG device 0:0", rt, with_dev, NULL},
	    {"vmig-container-runtime run, no device", rt, none, NULL},
	};
	enum { N = sizeof(items) / sizeof(items[0]) };
	for (int i = 0; i < N; i++)
		items[i].us = calloc((size_t)reps, sizeof(double));
	for (int rep = 0, n = 0; rep < reps && rc == 0; rep++)
		for (int k = 0; k < N && rc == 0; k++)
			rc = sample(&items[(k + rep) % N], rep, n++);
	if (rc == 0) {
		double base = median(items[0].us, reps);
		printf("bench_runtime: container start (runc run of /bin/true), medians of %d\n",
		       reps);
		for (int i = 0; i < N; i++) {
			double m = i ? median(items[i].us, reps) : base;
			printf("  %-46s %8.1f ms  %.3fx  (%+.1f ms)\n", items[i].label, m / 1e3,
			       m / base, (m - base) / 1e3);
		}
	}
	for (int i = 0; i < N; i++)
		free(items[i].us);
	test_rmtree(dir);
	return rc ? 1 : 0;
}
