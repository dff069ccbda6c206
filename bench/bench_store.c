/*
 * bench_store.c — the state store under load (the machinery of
 * tests/lib/load.h, the same as the load test's): 2 writers alone, then the
 * same 2 writers with 4 reader processes and 4 NVML threads reading in tight
 * loops, then with the readers pausing 1 ms between reads (a monitor far
 * busier than any real one), each run SECONDS long (default 5) on 8
 * partitioned H100s.  The three runs are made twice: with every process free
 * to run on any CPU, and pinned, writers on CPU 0 and readers on CPU 1.  On a
 * machine of two cores, unpinned readers in tight loops take CPU time the
 * writers would have had, as any program would; pinned, the ratio shows what
 * readers cost a writer through the store itself.  It prints writer
 * throughput and its ratio to the writers alone of the same pinning (goal:
 * readers cost a writer under 20%), and latency percentiles of writers (goal:
 * p99 under 50 ms), readers and NVML query rounds (goal: p99 under 1 ms),
 * all measured in this run.  A state read of 64 partitioned GPUs is timed
 * too, of an unchanged file and after a change.
 *
 * Usage: bench_store [SECONDS]   (B names the build directory)
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

#include "gpus.h"
#include "load.h"
#include "tmpdir.h"

static const char *const h100x8[] = {"h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb",
				     "h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb"};

static int seed_dir(const char *dir)
{
	struct vmig_err e = {0};
	if (test_seed_gpus(dir, h100x8, 8, true, NULL, &e) != 0) {
		fprintf(stderr, "bench_store: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void pct_line(const char *what, struct load_actor *const *a, unsigned n)
{
	printf("%-22s p50 %9.1f us   p99 %9.1f us   max %9.1f us\n", what, load_quantile(a, n, 0.5),
	       load_quantile(a, n, 0.99), load_quantile(a, n, 1.0));
}

/*
 * Full partitioned state of 64 GPUs, warm, in µs (median of many): a read of
 * an unchanged file (the store copies what it parsed last time), and a read
 * after the file changed (its modification time moved: read and parsed).
 */
static int read_64(const char *dir, double *ret_same, double *ret_changed)
{
	static const char *m64[64];
	static struct vmig_state st;
	struct vmig_err e = {0};
	struct vmig_store *s = NULL;
	char path[700];
	for (int i = 0; i < 64; i++)
		m64[i] = "h100-80gb";
	if (test_seed_gpus(dir, m64, 64, true, &st, &e) != 0 || vmig_store_open(dir, &s, &e))
		return -1;
	/* Fill each GPU with seven 1g GIs, one commit. */
	if (vmig_store_begin(s, &st, &e))
		return -1;
	for (unsigned g = 0; g < st.ngpu; g++)
		for (int k = 0; k < 7; k++)
			vmig_gpu_create_gi(&st.gpu[g], vmig_gi_profile_by_id(st.gpu[g].model, 19),
					   NULL, NULL, NULL);
	if (vmig_store_commit(s, &st, &e))
		return -1;
	snprintf(path, sizeof(path), "%s/state", dir);
	static struct load_actor same, changed;
	for (int i = 0; i < 2000; i++) {
		double t0 = test_now();
		if (vmig_store_read(s, &st, &e))
			return -1;
		load_sample(&same, load_us_since(t0));
		struct timespec t[2] = {{0, UTIME_OMIT}, {i + 1, 0}};
		if (utimensat(AT_FDCWD, path, t, 0) != 0)
			return -1;
		t0 = test_now();
		if (vmig_store_read(s, &st, &e))
			return -1;
		load_sample(&changed, load_us_since(t0));
	}
	vmig_store_close(s);
	struct load_actor *p1 = &same, *p2 = &changed;
	*ret_same = load_quantile(&p1, 1, 0.5);
	*ret_changed = load_quantile(&p2, 1, 0.5);
	return 0;
}

/* One loaded run (after the writers-alone one): throughput ratio and percentiles. */
static int loaded_run(const char *label, const struct load_spec *sp, struct load_shared *sh,
		      double w_alone)
{
	if (load_run(sp, sh) < 0) {
		fprintf(stderr, "bench_store: the loaded run failed\n");
		return -1;
	}
	for (unsigned i = 0; i < 4; i++)
		if (sh->r[i].error[0] || sh->t[i].error[0] || (i < 2 && sh->w[i].a.error[0])) {
			fprintf(stderr, "bench_store: %s%s%s\n", sh->r[i].error, sh->t[i].error,
				i < 2 ? sh->w[i].a.error : "");
			return -1;
		}
	double w = (double)(sh->w[0].a.ops + sh->w[1].a.ops) / sp->seconds;
	unsigned long reads = 0, rounds = 0;
	for (unsigned i = 0; i < 4; i++) {
		reads += sh->r[i].ops;
		rounds += sh->t[i].ops;
	}
	struct load_actor *wa[] = {&sh->w[0].a, &sh->w[1].a};
	struct load_actor *ra[] = {&sh->r[0], &sh->r[1], &sh->r[2], &sh->r[3]};
	struct load_actor *ta[] = {&sh->t[0], &sh->t[1], &sh->t[2], &sh->t[3]};
	printf("-- %s: %lu state reads/s, %lu NVML query rounds/s (4 calls each)\n", label,
	       (unsigned long)((double)reads / sp->seconds),
	       (unsigned long)((double)rounds / sp->seconds));
	printf("writers                %9.1f commits/s  %.2fx alone  (goal: readers cost under "
	       "20%%: %s)\n",
	       w, w / w_alone, w >= 0.8 * w_alone ? "met" : "MISSED");
	pct_line("writer commit", wa, 2);
	pct_line("state read", ra, 4);
	pct_line("NVML query round", ta, 4);
	double wp99 = load_quantile(wa, 2, 0.99), np99 = load_quantile(ta, 4, 0.99);
	printf("goals: writer p99 under 50 ms: %s; NVML p99 under 1 ms: %s\n",
	       wp99 < 50000 ? "met" : "MISSED", np99 < 1000 ? "met" : "MISSED");
	return 0;
}

/* Writers alone on sp's directory: commits per second, and its percentiles printed. */
static double alone_run(const char *label, const struct load_spec *sp, struct load_shared *sh)
{
	setenv("VMIG_STATE_DIR", sp->dir, 1);
	if (load_run(sp, sh) < 0 || sh->w[0].a.error[0] || sh->w[1].a.error[0]) {
		fprintf(stderr, "bench_store: writers alone failed: %s%s\n", sh->w[0].a.error,
			sh->w[1].a.error);
		return -1;
	}
	double w = (double)(sh->w[0].a.ops + sh->w[1].a.ops) / sp->seconds;
	struct load_actor *wa[] = {&sh->w[0].a, &sh->w[1].a};
	printf("-- %s\nwriters                %9.1f commits/s\n", label, w);
	pct_line("writer commit", wa, 2);
	return w;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	const char *b = getenv("B") ? getenv("B") : "build";
	char base[512], dirs[8][600], lib[PATH_MAX + 32];
	if (secs <= 0 || secs > 600 || !test_mkdtemp(base, sizeof(base), "bench-store") ||
	    !realpath(b, lib)) {
		fprintf(stderr, "bench_store: SECONDS must be 0-600, and B a build directory\n");
		return 2;
	}
	strncat(lib, "/libnvidia-ml.so.1", sizeof(lib) - strlen(lib) - 1);
	for (int i = 0; i < 8; i++)
		snprintf(dirs[i], sizeof(dirs[i]), "%s/run%d", base, i);
	struct load_shared *sh = load_shared_new();
	if (!sh)
		return 1;
	for (int i = 0; i < 7; i++)
		if (seed_dir(dirs[i]))
			return 1;
	const uint64_t seed = 0x5107e000u;
	struct load_spec alone = {dirs[0], lib, secs, 2, 0, 0, seed, 0, 0, 0};
	struct load_spec tight = {dirs[1], lib, secs, 2, 4, 4, seed, 0, 0, 0};
	struct load_spec paced = {dirs[2], lib, secs, 2, 4, 4, seed, 1000, 0, 0};
	/* The same three, writers on CPU 0, readers on CPU 1. */
	struct load_spec alone_p = {dirs[3], lib, secs, 2, 0, 0, seed, 0, 1, 2};
	struct load_spec tight_p = {dirs[4], lib, secs, 2, 4, 4, seed, 0, 1, 2};
	struct load_spec paced_p = {dirs[5], lib, secs, 2, 4, 4, seed, 1000, 1, 2};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("store under load: 8 partitioned H100s, %.0f s per run, 2 writers making random "
	       "GI/CI changes\n",
	       secs);
	double w_alone = alone_run("writers alone", &alone, sh);
	if (w_alone < 0)
		return 1;
	setenv("VMIG_STATE_DIR", dirs[1], 1);
	if (loaded_run("with 4 readers and 4 NVML threads in tight loops (all share the CPUs)",
		       &tight, sh, w_alone) < 0)
		return 1;
	setenv("VMIG_STATE_DIR", dirs[2], 1);
	if (loaded_run("with the same readers pausing 1 ms after each read", &paced, sh, w_alone) <
	    0)
		return 1;
	if (ncpu >= 2) {
		printf("pinned: writers on CPU 0, readers and NVML threads on CPU 1 (what readers "
		       "cost a writer through the store, not through CPU time)\n");
		double wp = alone_run("writers alone, pinned", &alone_p, sh);
		if (wp < 0)
			return 1;
		/* The control: a loop that touches no file, where the readers would run. */
		pid_t burn = fork();
		if (burn == 0) {
			load_pin(2);
			for (volatile unsigned long n = 0;; n++)
				;
		}
		struct load_spec alone_b = alone_p;
		alone_b.dir = dirs[6];
		double wb = burn > 0 ? alone_run("writers, pinned, a busy loop that touches no "
						 "file on CPU 1",
						 &alone_b, sh)
				     : -1;
		if (burn > 0) {
			kill(burn, SIGKILL);
			waitpid(burn, NULL, 0);
		}
		if (wb < 0)
			return 1;
		printf("writers                                       %.2fx alone (what any busy "
		       "neighbour costs)\n",
		       wb / wp);
		setenv("VMIG_STATE_DIR", dirs[4], 1);
		if (loaded_run("pinned, readers in tight loops", &tight_p, sh, wp) < 0)
			return 1;
		setenv("VMIG_STATE_DIR", dirs[5], 1);
		if (loaded_run("pinned, readers pausing 1 ms", &paced_p, sh, wp) < 0)
			return 1;
	} else {
		printf("pinned runs skipped: one CPU online\n");
	}
	double same = 0, changed = 0;
	int r64 = read_64(dirs[7], &same, &changed);
	printf("one state read of 64 partitioned GPUs (7 GIs each), warm, median: %.1f us "
	       "unchanged (copied), %.1f us after a change (read and parsed)\n",
	       same, changed);
	munmap(sh, sizeof(*sh));
	return test_rmtree(base) != 0 || r64 < 0;
}
