/*
 * load.h — the state store under load, as the load test (tests/state/load.c)
 * checks it and the store benchmark (bench/bench_store.c) measures it:
 * writer processes making random GI/CI changes as transactions, reader
 * processes reading the state in a loop, and one process whose threads
 * query vmig's NVML library in a loop, all for a fixed time on one state
 * directory.
 *
 * Everything the processes report goes into one shared anonymous mapping
 * made before they fork: per writer, its commits (for the replay) and the
 * latency of each; per reader and NVML thread, latencies and the first
 * inconsistency it saw.  Needs libvmig (writers, readers) and dlopen of the
 * NVML library (NVML readers).
 */
#ifndef VMIG_TESTS_LOAD_H
#define VMIG_TESTS_LOAD_H

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvml_abi.h"
#include "ops.h"
#include "proc.h"
#include "vmig/vmig.h"

#define LOAD_MAX_WRITERS 4
#define LOAD_MAX_READERS 8
#define LOAD_MAX_THREADS 8
#define LOAD_MAX_COMMITS 40000	/* per writer */
#define LOAD_MAX_SAMPLES 200000 /* per reader or thread: later reads are counted, not kept */

struct load_actor {
	unsigned long ops;	/* commits (writers) or reads (readers, threads) */
	unsigned long refused;	/* writers: operations the placement engine refused */
	unsigned long nsamples; /* latencies kept */
	char error[256];	/* the first thing that went wrong, "" if nothing */
	float us[LOAD_MAX_SAMPLES];
};

struct load_writer {
	struct load_actor a;
	unsigned ncommits;
	struct op_entry commits[LOAD_MAX_COMMITS];
};

struct load_shared {
	struct load_writer w[LOAD_MAX_WRITERS];
	struct load_actor r[LOAD_MAX_READERS];
	struct load_actor t[LOAD_MAX_THREADS];
};

struct load_spec {
	const char *dir;      /* the state directory */
	const char *nvml_lib; /* path of libnvidia-ml.so.1 for the NVML threads */
	double seconds;
	unsigned writers, readers, threads;
	uint64_t seed;
	unsigned pause_us; /* readers and threads nap this long between reads (0: a tight loop) */
	/*
	 * CPU + 1 to pin the writers, and the readers and NVML threads, to (0: not
	 * pinned): on a machine of two cores, writers on one and readers on the
	 * other measure what readers cost a writer through the store (locks,
	 * caches, the disk) apart from the CPU time they would otherwise share.
	 */
	unsigned writer_cpu, reader_cpu;
};

static inline void load_pin(unsigned cpu_plus_1)
{
	if (!cpu_plus_1)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu_plus_1 - 1, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("load: sched_setaffinity");
		_exit(1);
	}
}

static inline double load_us_since(double t0)
{
	return (test_now() - t0) * 1e6;
}

static inline void load_sample(struct load_actor *a, double us)
{
	if (a->nsamples < LOAD_MAX_SAMPLES)
		a->us[a->nsamples++] = (float)us;
}

static inline void load_writer(const struct load_spec *sp, struct load_writer *w, unsigned i)
{
	static struct vmig_state st;
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	uint64_t rng = sp->seed + i;
	if (vmig_store_open(sp->dir, &s, &e)) {
		snprintf(w->a.error, sizeof(w->a.error), "open: %.200s", e.msg);
		return;
	}
	double end = test_now() + sp->seconds;
	while (test_now() < end && w->ncommits < LOAD_MAX_COMMITS) {
		struct op_entry x;
		double t0 = test_now();
		if (vmig_store_begin(s, &st, &e)) {
			snprintf(w->a.error, sizeof(w->a.error), "begin: %.200s", e.msg);
			break;
		}
		op_choose(&st, &rng, &x);
		if (op_apply(&st.gpu[x.gpu], &x, &e) < 0) {
			vmig_store_abort(s);
			w->a.refused++;
			continue;
		}
		if (vmig_store_commit(s, &st, &e)) {
			snprintf(w->a.error, sizeof(w->a.error), "commit: %.200s", e.msg);
			break;
		}
		load_sample(&w->a, load_us_since(t0));
		x.gen = st.generation;
		w->commits[w->ncommits++] = x;
		w->a.ops++;
	}
	vmig_store_close(s);
}

/* Reads in a loop: each state valid, generations never back, the counter and the file in step. */
static inline void load_reader(const struct load_spec *sp, struct load_actor *a)
{
	static struct vmig_state st;
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	uint64_t last = 0;
	if (vmig_store_open(sp->dir, &s, &e)) {
		snprintf(a->error, sizeof(a->error), "open: %.200s", e.msg);
		return;
	}
	double end = test_now() + sp->seconds;
	while (test_now() < end) {
		uint64_t before = vmig_store_generation(s);
		double t0 = test_now();
		if (vmig_store_read(s, &st, &e) || vmig_state_validate(&st, &e)) {
			snprintf(a->error, sizeof(a->error), "read: %.200s", e.msg);
			break;
		}
		load_sample(a, load_us_since(t0));
		uint64_t after = vmig_store_generation(s);
		if (st.generation < last || st.generation < before || st.generation > after + 1) {
			snprintf(a->error, sizeof(a->error),
				 "generation %llu after %llu, counter %llu..%llu",
				 (unsigned long long)st.generation, (unsigned long long)last,
				 (unsigned long long)before, (unsigned long long)after);
			break;
		}
		last = st.generation;
		a->ops++;
		if (sp->pause_us)
			usleep(sp->pause_us);
	}
	vmig_store_close(s);
}

struct load_thread {
	const struct load_spec *sp;
	struct load_actor *a;
	void *lib;
	unsigned index;
};

#define LOAD_NV(lib, name) ((__typeof__(&name))dlsym(lib, #name))

/*
 * NVML queries in a loop: a GPU handle, its MIG mode, its GI list (every GI
 * must be a GI of the GPU's own profiles), its memory.  Any failure counts.
 */
static inline void *load_nvml_thread(void *arg)
{
	struct load_thread *t = arg;
	void *lib = t->lib;
	__typeof__(&nvmlDeviceGetHandleByIndex_v2) by_index =
	    LOAD_NV(lib, nvmlDeviceGetHandleByIndex_v2);
	__typeof__(&nvmlDeviceGetMigMode) mig_mode = LOAD_NV(lib, nvmlDeviceGetMigMode);
	__typeof__(&nvmlDeviceGetGpuInstances) gis = LOAD_NV(lib, nvmlDeviceGetGpuInstances);
	__typeof__(&nvmlDeviceGetMemoryInfo) mem = LOAD_NV(lib, nvmlDeviceGetMemoryInfo);
	__typeof__(&nvmlDeviceGetCount_v2) count = LOAD_NV(lib, nvmlDeviceGetCount_v2);
	unsigned ngpu = 0;
	if (!by_index || !mig_mode || !gis || !mem || !count || count(&ngpu) != NVML_SUCCESS ||
	    ngpu == 0) {
		snprintf(t->a->error, sizeof(t->a->error), "NVML set-up failed");
		return NULL;
	}
	double end = test_now() + t->sp->seconds;
	for (unsigned k = t->index; test_now() < end; k++) {
		nvmlDevice_t d;
		nvmlGpuInstance_t list[16];
		nvmlMemory_t m;
		unsigned cur = 0, pend = 0, n = 16;
		double t0 = test_now();
		nvmlReturn_t r = by_index(k % ngpu, &d);
		if (r == NVML_SUCCESS)
			r = mig_mode(d, &cur, &pend);
		if (r == NVML_SUCCESS)
			r = gis(d, 19, list, &n); /* 1g.10gb on the H100s of the load */
		if (r == NVML_SUCCESS)
			r = mem(d, &m);
		load_sample(t->a, load_us_since(t0));
		if (r != NVML_SUCCESS || cur != 1 || n > 7 || m.total == 0) {
			snprintf(t->a->error, sizeof(t->a->error),
				 "GPU %u: code %d, MIG mode %u, %u 1g GIs, %llu bytes", k % ngpu,
				 (int)r, cur, n, (unsigned long long)m.total);
			break;
		}
		t->a->ops++;
		if (t->sp->pause_us)
			usleep(t->sp->pause_us);
	}
	return NULL;
}

static inline void load_nvml(const struct load_spec *sp, struct load_shared *sh)
{
	void *lib = dlopen(sp->nvml_lib, RTLD_NOW | RTLD_LOCAL);
	__typeof__(&nvmlInit_v2) init = lib ? LOAD_NV(lib, nvmlInit_v2) : NULL;
	if (!init || init() != NVML_SUCCESS) {
		snprintf(sh->t[0].error, sizeof(sh->t[0].error), "cannot load %.200s",
			 sp->nvml_lib);
		return;
	}
	pthread_t th[LOAD_MAX_THREADS];
	struct load_thread a[LOAD_MAX_THREADS];
	for (unsigned i = 0; i < sp->threads; i++) {
		a[i] = (struct load_thread){sp, &sh->t[i], lib, i};
		pthread_create(&th[i], NULL, load_nvml_thread, &a[i]);
	}
	for (unsigned i = 0; i < sp->threads; i++)
		pthread_join(th[i], NULL);
	LOAD_NV(lib, nvmlShutdown)();
}

/*
 * Run the load; 0 when every process ended cleanly (what each saw is in
 * *sh).  The processes stop by themselves after sp->seconds; the bound of
 * test_wait turns one that hangs into a failure.
 */
static inline int load_run(const struct load_spec *sp, struct load_shared *sh)
{
	pid_t pids[LOAD_MAX_WRITERS + LOAD_MAX_READERS + 1];
	int n = 0, bad = 0;
	memset(sh, 0, sizeof(*sh));
	fflush(stdout);
	for (unsigned i = 0; i < sp->writers; i++)
		if ((pids[n++] = fork()) == 0) {
			load_pin(sp->writer_cpu);
			load_writer(sp, &sh->w[i], i);
			_exit(0);
		}
	for (unsigned i = 0; i < sp->readers; i++)
		if ((pids[n++] = fork()) == 0) {
			load_pin(sp->reader_cpu);
			load_reader(sp, &sh->r[i]);
			_exit(0);
		}
	if (sp->threads && (pids[n++] = fork()) == 0) {
		load_pin(sp->reader_cpu);
		load_nvml(sp, sh);
		_exit(0);
	}
	for (int i = 0; i < n; i++) {
		int status = pids[i] < 0 ? -1 : test_wait(pids[i]);
		bad |= status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	return bad ? -1 : 0;
}

static inline struct load_shared *load_shared_new(void)
{
	void *p = mmap(NULL, sizeof(struct load_shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static inline int load_cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of the latencies of n actors together, in µs; 0 without samples. */
static inline double load_quantile(struct load_actor *const *acts, unsigned n, double q)
{
	size_t total = 0, k = 0;
	for (unsigned i = 0; i < n; i++)
		total += acts[i]->nsamples;
	float *all = total ? malloc(total * sizeof(*all)) : NULL;
	if (!all)
		return 0;
	for (unsigned i = 0; i < n; i++)
		for (unsigned long j = 0; j < acts[i]->nsamples; j++)
			all[k++] = acts[i]->us[j];
	qsort(all, total, sizeof(*all), load_cmp_float);
	size_t at = (size_t)(q * (double)(total - 1));
	double v = all[at];
	free(all);
	return v;
}

#endif
