/*
 * nvml_concurrency.c — many writers on one state directory at once: threads
 * of this process and other processes through the simulated
 * libnvidia-ml.so.1, and processes running the vmig command (sim backend),
 * all creating and destroying GPU and compute instances at once.
 *
 * Every actor owns what it creates, logs each create and destroy that
 * reported success ("gi <gpu> <gi id> <profile> +1", "ci <gpu> <gi> <ci> -1"),
 * and treats the failure of destroying its own instance as an error (someone
 * else's success was lost, or a phantom took its place).  Afterwards the
 * state must validate, and the replay of every log (creates minus destroys
 * per instance) must equal the final set of GIs and CIs exactly: an
 * operation that reported success and was lost, or one that happened
 * without being reported, shows up as a difference.  The NVML session
 * kept open meanwhile must also see exactly the final GIs.
 *
 * The run is bounded by operations, not by time, so a slow machine (or
 * valgrind) makes it longer, never different: every actor makes at least
 * MIN_OPS operations, and all go on until every one of them has had a create
 * succeed (each kind of writer must get GIs created alongside the others; as
 * long as nobody stops, the others keep destroying what they hold, so a
 * late one is not starved), each giving up after MAX_OPS.  The actors draw
 * their choices from a seed printed at the start (VMIG_TEST_SEED replays
 * one); the harness's time limit is only a guard against hangs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Against hangs only: under valgrind on a loaded machine a run takes minutes. */
#define HARNESS_TIMEOUT 900

#include "nvml_abi.h"
#include "gpus.h"
#include "harness.h"
#include "randseed.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

#define NGPU	  2
#define MIN_OPS	  16   /* operations every actor makes at least */
#define MAX_OPS	  3000 /* at most: without a successful create by then it gives up */
#define POST_OPS  4    /* operations of each process after this process's threads stopped */
#define MAX_OWN	  2    /* GIs an actor holds at once */
#define NV_GI_IDS 16
#define NACTORS	  6 /* two of each kind */

static void *lib;
static char dir[512];
static char vmig_path[512];
static uint64_t seed;

/* Shared with the child processes (an anonymous shared mapping). */
struct shared {
	_Atomic int threads_done; /* every thread of this process has stopped */
	_Atomic int settled;	  /* actors that have had a create succeed, or gave up */
	_Atomic int failed;	  /* an actor found an error: everybody stops */
};
static struct shared *shared;

static void *sym(const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "missing symbol %s\n", name);
		abort();
	}
	return p;
}
#define NV(name) ((__typeof__(&name))sym(#name))

/* What an actor holds, and its log. */
struct own {
	unsigned gpu, gi, profile;
	bool has_ci;
	unsigned ci;
	nvmlGpuInstance_t gh; /* NVML actors */
	nvmlComputeInstance_t ch;
};

enum kind { NVML_THREAD, NVML_PROCESS, CLI_PROCESS };

struct actor {
	int id;
	enum kind kind;
	FILE *log;
	unsigned seed;
	struct own own[MAX_OWN];
	unsigned nown;
	long ops, creates, errors;
	long post_from; /* a process: its operation count when the threads were seen stopped */
	char why[256];
};

static const unsigned profiles[] = {19, 14, 9}; /* 1g.10gb, 2g.20gb, 3g.40gb on an H100 80GB */

static void fail(struct actor *a, const char *what, long code)
{
	a->errors++;
	atomic_store(&shared->failed, 1);
	if (!a->why[0])
		snprintf(a->why, sizeof(a->why), "actor %d: %s: %ld", a->id, what, code);
}

/* A create of a's succeeded. */
static void created(struct actor *a)
{
	if (a->creates++ == 0)
		atomic_fetch_add(&shared->settled, 1);
}

static bool keep_going(struct actor *a)
{
	if (a->errors || atomic_load(&shared->failed))
		return false;
	if (a->ops >= MAX_OPS) {
		if (a->creates == 0)
			atomic_fetch_add(&shared->settled, 1); /* the check of its kind will tell */
		return false;
	}
	if (a->ops < MIN_OPS || atomic_load(&shared->settled) < NACTORS)
		return true;
	if (a->kind == NVML_THREAD)
		return false;
	/*
	 * This process's threads stop first, so that the other processes' last commits
	 * land after its last call: the final check's lock-free queries must see them.
	 */
	if (a->post_from < 0) {
		if (!atomic_load(&shared->threads_done))
			return true;
		a->post_from = a->ops;
	}
	return a->ops < a->post_from + POST_OPS;
}

/* ------------------------------------------------------------------------ */
/* Actors through NVML                                                       */
/* ------------------------------------------------------------------------ */

static void nvml_create(struct actor *a, nvmlDevice_t *devs)
{
	struct own o = {.gpu = (unsigned)rand_r(&a->seed) % NGPU,
			.profile = profiles[rand_r(&a->seed) % 3]};
	nvmlReturn_t r = NV(nvmlDeviceCreateGpuInstance)(devs[o.gpu], o.profile, &o.gh);
	if (r == NVML_ERROR_INSUFFICIENT_RESOURCES)
		return;
	nvmlGpuInstanceInfo_t info;
	if (r != NVML_SUCCESS || (r = NV(nvmlGpuInstanceGetInfo)(o.gh, &info)) != NVML_SUCCESS) {
		fail(a, "create GI", r);
		return;
	}
	o.gi = info.id;
	created(a);
	fprintf(a->log, "gi %u %u %u +1\n", o.gpu, o.gi, o.profile);
	if (rand_r(&a->seed) % 2) {
		nvmlComputeInstanceInfo_t ci;
		r = NV(nvmlGpuInstanceCreateComputeInstance)(o.gh, 0, &o.ch);
		if (r == NVML_SUCCESS)
			r = NV(nvmlComputeInstanceGetInfo_v2)(o.ch, &ci);
		if (r != NVML_SUCCESS) {
			fail(a, "create CI", r);
			return;
		}
		o.has_ci = true;
		o.ci = ci.id;
		fprintf(a->log, "ci %u %u %u +1\n", o.gpu, o.gi, o.ci);
	}
	a->own[a->nown++] = o;
}

static void nvml_destroy(struct actor *a, unsigned k)
{
	struct own o = a->own[k];
	nvmlReturn_t r;
	a->own[k] = a->own[--a->nown];
	if (o.has_ci) {
		if ((r = NV(nvmlComputeInstanceDestroy)(o.ch)) != NVML_SUCCESS) {
			fail(a, "destroy own CI", r);
			return;
		}
		fprintf(a->log, "ci %u %u %u -1\n", o.gpu, o.gi, o.ci);
	}
	if ((r = NV(nvmlGpuInstanceDestroy)(o.gh)) != NVML_SUCCESS) {
		fail(a, "destroy own GI", r);
		return;
	}
	fprintf(a->log, "gi %u %u %u -1\n", o.gpu, o.gi, o.profile);
}

static void nvml_actor(struct actor *a)
{
	nvmlDevice_t devs[NGPU];
	for (unsigned g = 0; g < NGPU; g++)
		if (NV(nvmlDeviceGetHandleByIndex_v2)(g, &devs[g]) != NVML_SUCCESS)
			fail(a, "handle", g);
	while (keep_going(a)) {
		a->ops++;
		if (a->nown < MAX_OWN && (a->nown == 0 || rand_r(&a->seed) % 2))
			nvml_create(a, devs);
		else
			nvml_destroy(a, (unsigned)rand_r(&a->seed) % a->nown);
	}
}

/* ------------------------------------------------------------------------ */
/* Actors through the vmig command                                           */
/* ------------------------------------------------------------------------ */

static void cli_create(struct actor *a)
{
	struct own o = {.gpu = (unsigned)rand_r(&a->seed) % NGPU,
			.profile = profiles[rand_r(&a->seed) % 3]};
	char prof[16], gpu[16], out[1024];
	snprintf(prof, sizeof(prof), "%u", o.profile);
	snprintf(gpu, sizeof(gpu), "%u", o.gpu);
	const char *argv[] = {"vmig", "mig", "-cgi", prof, "-i", gpu, NULL};
	int rc = test_run(vmig_path, argv, out, sizeof(out));
	if (rc != 0 && strstr(out, "Insufficient Resources"))
		return;
	unsigned id, g, p;
	if (rc != 0 ||
	    sscanf(
		out,
		"Successfully created GPU instance ID %u on GPU %u using profile MIG %*s (ID %u)",
		&id, &g, &p) != 3 ||
	    g != o.gpu || p != o.profile) {
		fprintf(stderr, "  vmig -cgi: %s", out);
		fail(a, "vmig -cgi", rc);
		return;
	}
	o.gi = id;
	created(a);
	fprintf(a->log, "gi %u %u %u +1\n", o.gpu, o.gi, o.profile);
	a->own[a->nown++] = o;
}

static void cli_destroy(struct actor *a, unsigned k)
{
	struct own o = a->own[k];
	a->own[k] = a->own[--a->nown];
	char id[16], gpu[16], out[1024];
	snprintf(id, sizeof(id), "%u", o.gi);
	snprintf(gpu, sizeof(gpu), "%u", o.gpu);
	const char *argv[] = {"vmig", "mig", "-dgi", "-gi", id, "-i", gpu, NULL};
	int rc = test_run(vmig_path, argv, out, sizeof(out));
	if (rc != 0 || !strstr(out, "Successfully destroyed GPU instance")) {
		fprintf(stderr, "  vmig -dgi: %s", out);
		fail(a, "vmig -dgi of own GI", rc);
		return;
	}
	fprintf(a->log, "gi %u %u %u -1\n", o.gpu, o.gi, o.profile);
}

static void cli_actor(struct actor *a)
{
	while (keep_going(a)) {
		a->ops++;
		if (a->nown < MAX_OWN && (a->nown == 0 || rand_r(&a->seed) % 2))
			cli_create(a);
		else
			cli_destroy(a, (unsigned)rand_r(&a->seed) % a->nown);
	}
}

/* ------------------------------------------------------------------------ */
/* Running them                                                              */
/* ------------------------------------------------------------------------ */

static void actor_init(struct actor *a, int id, enum kind kind)
{
	char path[600];
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->kind = kind;
	a->seed = (unsigned)id * 7919u + (unsigned)seed;
	a->post_from = -1;
	snprintf(path, sizeof(path), "%s/log.%d", dir, id);
	a->log = fopen(path, "w");
	if (!a->log)
		abort();
}

static void *thread_main(void *arg)
{
	nvml_actor(arg);
	return NULL;
}

/* A child process: NVML (its own session) or the command; exits 0 when all went well. */
static pid_t start_process(int id, enum kind kind)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* Never outlive the test, even when its time limit kills it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct actor a;
	actor_init(&a, id, kind);
	if (kind == NVML_PROCESS) {
		if (NV(nvmlInit_v2)() != NVML_SUCCESS)
			_exit(3);
		nvml_actor(&a);
		NV(nvmlShutdown)();
	} else {
		cli_actor(&a);
	}
	fclose(a.log);
	fprintf(stderr, "  actor %d (%s process): %ld operations, %ld GIs created\n", id,
		kind == NVML_PROCESS ? "NVML" : "vmig", a.ops, a.creates);
	if (a.errors)
		fprintf(stderr, "  %s\n", a.why);
	_exit(a.errors ? 1 : 0);
}

/* Replay every log into counts per instance. */
struct tally {
	int gi[NGPU][NV_GI_IDS][64]; /* by GPU, GI ID, profile ID */
	int ci[NGPU][NV_GI_IDS][8];  /* by GPU, GI ID, CI ID */
	long creates[3];	     /* by kind of actor */
};

static void replay(int nactors, const enum kind *kinds, struct tally *t)
{
	for (int id = 0; id < nactors; id++) {
		char path[600], what[8];
		unsigned g, gi, x;
		int delta;
		snprintf(path, sizeof(path), "%s/log.%d", dir, id);
		FILE *f = fopen(path, "r");
		CHECK(f != NULL);
		while (f && fscanf(f, "%7s %u %u %u %d", what, &g, &gi, &x, &delta) == 5) {
			CHECK(g < NGPU && gi < NV_GI_IDS && x < 64 && (delta == 1 || delta == -1));
			if (g >= NGPU || gi >= NV_GI_IDS || x >= 64)
				continue;
			if (strcmp(what, "gi") == 0) {
				t->gi[g][gi][x] += delta;
				t->creates[kinds[id]] += delta > 0;
			} else if (x < 8) {
				t->ci[g][gi][x] += delta;
			}
		}
		if (f)
			fclose(f);
	}
}

/* The final state holds exactly what the replay says, and the open NVML session sees it. */
static void check_final(const struct tally *t)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_store *s = NULL;
	struct vmig_err err = {0};
	CHECK(st && vmig_store_open(dir, &s, NULL) == 0);
	CHECK(vmig_store_read(s, st, &err) == 0);
	if (vmig_state_validate(st, &err) != 0)
		HARNESS_FAIL("final state: %s", err.msg);
	CHECK_EQ_U(st->ngpu, NGPU);
	for (unsigned g = 0; g < NGPU && g < st->ngpu; g++) {
		struct vmig_gpu_state *gs = &st->gpu[g];
		for (unsigned id = 0; id < NV_GI_IDS; id++) {
			struct vmig_gi_state *gi = vmig_gpu_find_gi(gs, id);
			for (unsigned p = 0; p < 64; p++)
				if (t->gi[g][id][p] != (gi && gi->profile_id == p))
					HARNESS_FAIL("GPU %u GI %u profile %u: replay %d, state %s",
						     g, id, p, t->gi[g][id][p],
						     gi ? "has it" : "has none");
			for (unsigned c = 0; c < 8; c++)
				if (t->ci[g][id][c] != (gi && vmig_gi_find_ci(gi, c)))
					HARNESS_FAIL("GPU %u GI %u CI %u: replay %d, state differs",
						     g, id, c, t->ci[g][id][c]);
		}
	}
	/*
	 * The session kept open: list every GPU's GIs first (lock-free queries, which must
	 * notice the other processes' commits themselves), then look at each.
	 */
	nvmlGpuInstance_t list[NGPU][3][8];
	unsigned n[NGPU][3];
	for (unsigned g = 0; g < NGPU; g++) {
		nvmlDevice_t d;
		CHECK_EQ_I(NV(nvmlDeviceGetHandleByIndex_v2)(g, &d), NVML_SUCCESS);
		for (unsigned k = 0; k < 3; k++) {
			n[g][k] = 8;
			CHECK_EQ_I(
			    NV(nvmlDeviceGetGpuInstances)(d, profiles[k], list[g][k], &n[g][k]),
			    NVML_SUCCESS);
		}
	}
	for (unsigned g = 0; g < NGPU && g < st->ngpu; g++) {
		struct vmig_gpu_state *gs = &st->gpu[g];
		for (unsigned k = 0; k < 3; k++) {
			unsigned want = 0;
			for (unsigned i = 0; i < gs->ngi; i++)
				want += gs->gi[i].profile_id == profiles[k];
			CHECK_EQ_U(n[g][k], want);
			for (unsigned i = 0; i < n[g][k] && i < 8; i++) {
				nvmlGpuInstanceInfo_t info;
				CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(list[g][k][i], &info),
					   NVML_SUCCESS);
				struct vmig_gi_state *gi = vmig_gpu_find_gi(gs, info.id);
				CHECK(gi && gi->profile_id == profiles[k]);
			}
		}
	}
	vmig_store_close(s);
	free(st);
}

TEST(threads_processes_and_cli_at_once)
{
	enum { N = NACTORS };
	static const enum kind kinds[N] = {NVML_THREAD,	 NVML_THREAD, NVML_PROCESS,
					   NVML_PROCESS, CLI_PROCESS, CLI_PROCESS};
	pid_t pids[N] = {0};
	for (int i = 0; i < N; i++)
		if (kinds[i] != NVML_THREAD)
			pids[i] = start_process(i, kinds[i]);
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS);
	struct actor actors[N];
	pthread_t threads[N];
	for (int i = 0; i < N; i++) {
		if (kinds[i] != NVML_THREAD)
			continue;
		actor_init(&actors[i], i, NVML_THREAD);
		pthread_create(&threads[i], NULL, thread_main, &actors[i]);
	}
	long thread_ops = 0;
	for (int i = 0; i < N; i++) {
		if (kinds[i] != NVML_THREAD)
			continue;
		pthread_join(threads[i], NULL);
		fclose(actors[i].log);
		thread_ops += actors[i].ops;
		if (actors[i].errors)
			HARNESS_FAIL("%s", actors[i].why);
	}
	atomic_store(&shared->threads_done, 1);
	for (int i = 0; i < N; i++) {
		if (kinds[i] == NVML_THREAD)
			continue;
		int status = test_wait(pids[i]);
		if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			HARNESS_FAIL("actor %d (process) ended with status %#x", i, status);
	}
	struct tally *t = calloc(1, sizeof(*t));
	replay(N, kinds, t);
	check_final(t);
	fprintf(stderr,
		"  successful GI creates: %ld by NVML threads (%ld operations), %ld by NVML "
		"processes, %ld by vmig\n",
		t->creates[NVML_THREAD], thread_ops, t->creates[NVML_PROCESS],
		t->creates[CLI_PROCESS]);
	for (int k = 0; k < 3; k++)
		CHECK(t->creates[k] > 0);
	free(t);
	NV(nvmlShutdown)();
}

/* Two H100s with MIG enabled in a fresh state directory, and the library loaded. */
static void setup(void)
{
	static const char *const models[] = {"h100-80gb", "h100-80gb"};
	const char *b = getenv("B") ? getenv("B") : "build";
	char path[512];
	struct vmig_err err = {0};
	if (!test_mkdtemp(dir, sizeof(dir), "conc"))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_BACKEND", "sim", 1);
	snprintf(vmig_path, sizeof(vmig_path), "%s/vmig", b);
	snprintf(path, sizeof(path), "%s/libnvidia-ml.so.1", b);
	if (test_seed_gpus(dir, models, NGPU, true, NULL, &err) < 0) {
		printf("FAIL - setup: %s\n", err.msg);
		exit(1);
	}
	if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		printf("FAIL - setup: %s\n", dlerror());
		exit(1);
	}
	shared =
	    mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		abort();
	seed = test_seed("nvml_concurrency", TEST_SEED_DRAWN);
}

int main(void)
{
	setup();
	RUN(threads_processes_and_cli_at_once);
	if (test_rmtree(dir) != 0)
		fprintf(stderr, "cleanup failed\n");
	return harness_done();
}
