/*
 * nvml_concurrency.c — many writers on one state directory at once: threads
 * of this process and other processes through the simulated
 * libnvidia-ml.so.1, and processes running the vmig command (sim backend),
 * all creating and destroying GPU and compute instances for a bounded time.
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
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nvml_abi.h"
#include "harness.h"
#include "vmig/vmig.h"

extern char **environ;

#define NGPU	  2
#define SECONDS	  1.5 /* each actor stops starting operations after this */
#define MAX_OPS	  300 /* and after this many */
#define MAX_OWN	  2   /* GIs an actor holds at once */
#define NV_GI_IDS 16

static void *lib;
static char dir[] = "/tmp/vmig-conc-XXXXXX";
static char vmig_path[512], seed_path[512];
static double deadline;

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

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What an actor holds, and its log. */
struct own {
	unsigned gpu, gi, profile;
	bool has_ci;
	unsigned ci;
	nvmlGpuInstance_t gh; /* NVML actors */
	nvmlComputeInstance_t ch;
};

struct actor {
	int id;
	FILE *log;
	unsigned seed;
	struct own own[MAX_OWN];
	unsigned nown;
	double deadline;
	long ops, errors;
	char why[256];
};

static const unsigned profiles[] = {19, 14, 9}; /* 1g.10gb, 2g.20gb, 3g.40gb on an H100 80GB */

static void fail(struct actor *a, const char *what, int code)
{
	a->errors++;
	if (!a->why[0])
		snprintf(a->why, sizeof(a->why), "actor %d: %s: %d", a->id, what, code);
}

static bool keep_going(const struct actor *a)
{
	return a->ops < MAX_OPS && now() < a->deadline && !a->errors;
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

/* Run vmig with args; its exit status, and its stdout and stderr together in out. */
static int run_vmig(char *const argv[], char *out, size_t size)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	int rc = posix_spawn(&pid, vmig_path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while (rc == 0 && len + 1 < size && (n = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(fds[0]);
	int status = 0;
	if (rc != 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void cli_create(struct actor *a)
{
	struct own o = {.gpu = (unsigned)rand_r(&a->seed) % NGPU,
			.profile = profiles[rand_r(&a->seed) % 3]};
	char prof[16], gpu[16], out[1024];
	snprintf(prof, sizeof(prof), "%u", o.profile);
	snprintf(gpu, sizeof(gpu), "%u", o.gpu);
	char *argv[] = {"vmig", "mig", "-cgi", prof, "-i", gpu, NULL};
	int rc = run_vmig(argv, out, sizeof(out));
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
	char *argv[] = {"vmig", "mig", "-dgi", "-gi", id, "-i", gpu, NULL};
	int rc = run_vmig(argv, out, sizeof(out));
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

enum kind { NVML_THREAD, NVML_PROCESS, CLI_PROCESS };

static void actor_init(struct actor *a, int id)
{
	char path[512];
	memset(a, 0, sizeof(*a));
	a->id = id;
	a->seed = (unsigned)id * 7919u + (unsigned)time(NULL);
	a->deadline = deadline;
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
	struct actor a;
	actor_init(&a, id);
	if (kind == NVML_PROCESS) {
		if (NV(nvmlInit_v2)() != NVML_SUCCESS)
			_exit(3);
		nvml_actor(&a);
		NV(nvmlShutdown)();
	} else {
		cli_actor(&a);
	}
	fclose(a.log);
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
		char path[512], what[8];
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
	enum { N = 6 };
	static const enum kind kinds[N] = {NVML_THREAD,	 NVML_THREAD, NVML_PROCESS,
					   NVML_PROCESS, CLI_PROCESS, CLI_PROCESS};
	deadline = now() + SECONDS;
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
		actor_init(&actors[i], i);
		/*
		 * This process's threads stop first, so that the other processes' last commits
		 * land after its last call: the final check's lock-free queries must see them.
		 */
		actors[i].deadline = deadline - SECONDS / 3;
		pthread_create(&threads[i], NULL, thread_main, &actors[i]);
	}
	for (int i = 0; i < N; i++) {
		if (kinds[i] == NVML_THREAD) {
			pthread_join(threads[i], NULL);
			fclose(actors[i].log);
			if (actors[i].errors)
				HARNESS_FAIL("%s", actors[i].why);
		} else {
			int status = 0;
			waitpid(pids[i], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				HARNESS_FAIL("actor %d (process) ended with status %#x", i, status);
		}
	}
	struct tally *t = calloc(1, sizeof(*t));
	replay(N, kinds, t);
	check_final(t);
	fprintf(stderr,
		"  successful GI creates: %ld by NVML threads, %ld by NVML processes,"
		" %ld by vmig\n",
		t->creates[NVML_THREAD], t->creates[NVML_PROCESS], t->creates[CLI_PROCESS]);
	for (int k = 0; k < 3; k++)
		CHECK(t->creates[k] > 0);
	free(t);
	NV(nvmlShutdown)();
}

static void setup(void)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	char path[512], cmd[2048];
	if (!mkdtemp(dir))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_BACKEND", "sim", 1);
	snprintf(vmig_path, sizeof(vmig_path), "%s/vmig", b);
	snprintf(seed_path, sizeof(seed_path), "%s/tests/abi/nvml_seed", b);
	snprintf(cmd, sizeof(cmd), "%s %s h100-80gb h100-80gb && %s -mig 1 >/dev/null", seed_path,
		 dir, vmig_path);
	snprintf(path, sizeof(path), "%s/libnvidia-ml.so.1", b);
	if (system(cmd) != 0 || !(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		printf("FAIL - setup: %s\n", lib ? cmd : dlerror());
		exit(1);
	}
}

int main(void)
{
	setup();
	RUN(threads_processes_and_cli_at_once);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return harness_done();
}
