/*
 * bench_store.c — the state store under load (the machinery of
 * tests/lib/load.h, the same as the load test's): 2 writers alone, then the
 * same 2 writers with 4 reader processes and 4 NVML threads reading in tight
 * loops, then with the readers pausing 1 ms between reads (a monitor far
 * busier than any real one), each run SECONDS long (default 5) on 8
 * partitioned H100s.  It prints writer
 * throughput in both runs and its ratio (goal: readers cost a writer under
 * 20%), and latency percentiles of writers (goal: p99 under 50 ms), readers
 * and NVML query rounds (goal: p99 under 1 ms), all measured in this run.
 * A state read alone is timed too (64 partitioned GPUs, warm).
 *
 * Usage: bench_store [SECONDS]   (B names the build directory)
 */
#include <limits.h>

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

/* Full partitioned state of 64 GPUs: one read, warm, in µs (median of many). */
static double read_64(const char *dir)
{
	static const char *m64[64];
	static struct vmig_state st;
	struct vmig_err e = {0};
	struct vmig_store *s = NULL;
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
	static struct load_actor a;
	a.nsamples = 0;
	for (int i = 0; i < 2000; i++) {
		double t0 = test_now();
		if (vmig_store_read(s, &st, &e))
			return -1;
		load_sample(&a, load_us_since(t0));
	}
	vmig_store_close(s);
	struct load_actor *p = &a;
	return load_quantile(&p, 1, 0.5);
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

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	const char *b = getenv("B") ? getenv("B") : "build";
	char base[512], dirs[4][600], lib[PATH_MAX + 32];
	if (secs <= 0 || secs > 600 || !test_mkdtemp(base, sizeof(base), "bench-store") ||
	    !realpath(b, lib)) {
		fprintf(stderr, "bench_store: SECONDS must be 0-600, and B a build directory\n");
		return 2;
	}
	strncat(lib, "/libnvidia-ml.so.1", sizeof(lib) - strlen(lib) - 1);
	for (int i = 0; i < 4; i++)
		snprintf(dirs[i], sizeof(dirs[i]), "%s/run%d", base, i);
	struct load_shared *sh = load_shared_new();
	if (!sh || seed_dir(dirs[0]) || seed_dir(dirs[1]) || seed_dir(dirs[2]))
		return 1;
	struct load_spec alone = {dirs[0], lib, secs, 2, 0, 0, 0x5107e000u, 0};
	struct load_spec tight = {dirs[1], lib, secs, 2, 4, 4, 0x5107e000u, 0};
	struct load_spec paced = {dirs[2], lib, secs, 2, 4, 4, 0x5107e000u, 1000};
	setenv("VMIG_STATE_DIR", dirs[0], 1);
	if (load_run(&alone, sh) < 0 || sh->w[0].a.error[0] || sh->w[1].a.error[0]) {
		fprintf(stderr, "bench_store: writers alone failed: %s%s\n", sh->w[0].a.error,
			sh->w[1].a.error);
		return 1;
	}
	double w_alone = (double)(sh->w[0].a.ops + sh->w[1].a.ops) / secs;
	struct load_actor *wa[] = {&sh->w[0].a, &sh->w[1].a};
	printf("store under load: 8 partitioned H100s, %.0f s per run, 2 writers making random "
	       "GI/CI changes\n",
	       secs);
	printf("-- writers alone\nwriters                %9.1f commits/s\n", w_alone);
	pct_line("writer commit", wa, 2);
	setenv("VMIG_STATE_DIR", dirs[1], 1);
	if (loaded_run("with 4 readers and 4 NVML threads in tight loops (on 2 cores they "
		       "also take the writers' CPU)",
		       &tight, sh, w_alone) < 0)
		return 1;
	setenv("VMIG_STATE_DIR", dirs[2], 1);
	if (loaded_run("with the same readers pausing 1 ms after each read", &paced, sh, w_alone) <
	    0)
		return 1;
	double r64 = read_64(dirs[3]);
	printf("one state read of 64 partitioned GPUs (7 GIs each), warm: %.1f us (median)\n", r64);
	munmap(sh, sizeof(*sh));
	return test_rmtree(base) != 0 || r64 < 0;
}
