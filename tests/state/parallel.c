/*
 * parallel.c — sixteen processes change one state directory at once and no
 * operation is lost, doubled or half-applied.
 *
 * Part 1 (store): each process runs random GI/CI creates and destroys as
 * transactions (vmig_store_begin, the placement engine's vmig_gpu_* calls,
 * vmig_store_commit) and logs each committed operation with the generation
 * its commit got.  A reader process meanwhile checks that every snapshot
 * validates and that generations never go back.  Afterwards the generations
 * logged must be exactly the consecutive numbers after the initial state's,
 * one per commit, and replaying the operations in that order from the
 * initial state must give the same IDs and exactly the final state.
 *
 * Part 2 (ctx): the same through the library's front door, vmig_open("sim")
 * and vmig_create_gi/..., which gives no generation; there the final state
 * must validate and the instances must add up: per GPU, GIs created minus
 * GIs destroyed is the number of GIs left, and the same for CIs.
 *
 * Each process draws its operations from a fixed seed of its own (the
 * interleaving is what varies between runs); VMIG_TEST_SEED moves them all,
 * to explore other sequences or replay one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen.h"
#include "ops.h"
#include "gpus.h"
#include "proc.h"
#include "randseed.h"
#include "tmpdir.h"

#define PROCS	    16
#define OPS	    25
#define MAX_ENTRIES (PROCS * OPS)

/* The workers' seeds: store worker i draws from seed + i, ctx worker i from seed + CTX_SEEDS + i.
 */
#define DEFAULT_SEED 0x5eed0000u
#define CTX_SEEDS    (0xc7a00000u - DEFAULT_SEED)

static char base[512];
static int failures;
static uint64_t seed;

static __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL - ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static void log_entry(FILE *f, const struct op_entry *x)
{
	fprintf(f, "%llu %u %u %u %u %u %u %u\n", x->gen, x->op, x->gpu, x->a, x->b, x->has_start,
		x->start, x->result);
}

static void store_worker(const char *dir, unsigned i, FILE *log)
{
	static struct vmig_state st;
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	uint64_t rng = seed + i;
	if (vmig_store_open(dir, &s, &e))
		_exit(2);
	for (unsigned k = 0; k < OPS; k++) {
		struct op_entry x;
		if (vmig_store_begin(s, &st, &e)) {
			fprintf(stderr, "worker %u: %s\n", i, e.msg);
			_exit(3);
		}
		op_choose(&st, &rng, &x);
		if (op_apply(&st.gpu[x.gpu], &x, &e) < 0) {
			vmig_store_abort(s);
			continue;
		}
		if (vmig_store_commit(s, &st, &e)) {
			fprintf(stderr, "worker %u: commit: %s\n", i, e.msg);
			_exit(4);
		}
		x.gen = st.generation;
		log_entry(log, &x);
	}
	vmig_store_close(s);
	fclose(log);
	_exit(0);
}

static void ctx_worker(unsigned i, FILE *log)
{
	static struct vmig_state st;
	struct vmig_ctx *ctx = NULL;
	struct vmig_err e = {0};
	uint64_t rng = seed + CTX_SEEDS + i;
	if (vmig_open("sim", &ctx, &e)) {
		fprintf(stderr, "worker %u: %s\n", i, e.msg);
		_exit(2);
	}
	for (unsigned k = 0; k < OPS; k++) {
		struct op_entry x;
		if (vmig_snapshot(ctx, &st, &e))
			_exit(3);
		op_choose(&st, &rng, &x); /* from a snapshot that may be stale by now */
		const unsigned *start = x.has_start ? &x.start : NULL;
		int rc = x.op == CREATE_GI ? vmig_create_gi(ctx, x.gpu, x.a, start, &x.result, &e)
			 : x.op == DESTROY_GI ? vmig_destroy_gi(ctx, x.gpu, x.a, &e)
			 : x.op == CREATE_CI
			     ? vmig_create_ci(ctx, x.gpu, x.a, x.b, start, &x.result, &e)
			     : vmig_destroy_ci(ctx, x.gpu, x.a, x.b, &e);
		if (rc == 0)
			log_entry(log, &x);
		else if (e.code == VMIG_E_CORRUPT || e.code == VMIG_E_IO) {
			fprintf(stderr, "worker %u: %s\n", i, e.msg);
			_exit(4);
		}
	}
	vmig_close(ctx);
	fclose(log);
	_exit(0);
}

/* Reads while the workers write: each snapshot valid, generations never going back, the counter
 * and the file in step. */
static void reader(const char *dir)
{
	static struct vmig_state st;
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	uint64_t last = 0, last_counter = 0;
	if (vmig_store_open(dir, &s, &e))
		_exit(2);
	for (int k = 0; k < 300; k++) {
		/*
		 * Readers take no lock, and a commit moves the counter after its
		 * rename: the file is at least as new as the counter read before
		 * it, and at most one commit newer than the counter read after.
		 */
		uint64_t before = vmig_store_generation(s);
		if (vmig_store_read(s, &st, &e) || vmig_state_validate(&st, &e)) {
			fprintf(stderr, "reader: %s\n", e.msg);
			_exit(5);
		}
		uint64_t after = vmig_store_generation(s);
		if (st.generation < last || after < last_counter || st.generation < before ||
		    st.generation > after + 1) {
			fprintf(stderr, "reader: generation %llu after %llu, counter %llu..%llu\n",
				(unsigned long long)st.generation, (unsigned long long)last,
				(unsigned long long)before, (unsigned long long)after);
			_exit(6);
		}
		last = st.generation;
		last_counter = after;
	}
	vmig_store_close(s);
	_exit(0);
}

/* A directory with an H100 and an A100, MIG enabled on both; *ret is its state. */
static int setup(const char *dir, struct vmig_state *ret)
{
	static const char *const models[] = {"h100-80gb", "a100-40gb"};
	struct vmig_err e = {0};
	int rc = test_seed_gpus(dir, models, 2, true, ret, &e);
	if (rc)
		fail("parallel: setup: %s", e.msg);
	return rc;
}

/* Run PROCS workers (and maybe the reader); 0 when every one exited cleanly. */
static int run_workers(const char *dir, bool ctx, bool with_reader)
{
	pid_t pids[PROCS + 1];
	int n = 0;
	for (unsigned i = 0; i < PROCS; i++) {
		char path[700];
		snprintf(path, sizeof(path), "%s/log.%u", dir, i);
		FILE *log = fopen(path, "w");
		if (!log)
			return -1;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			ctx ? ctx_worker(i, log) : store_worker(dir, i, log);
		fclose(log);
		pids[n++] = pid;
	}
	if (with_reader) {
		pid_t pid = fork();
		if (pid == 0)
			reader(dir);
		pids[n++] = pid;
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int status = test_wait(pids[i]);
		if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fail("parallel: process %d ended with status 0x%x", i, (unsigned)status);
			bad = -1;
		}
	}
	return bad;
}

static unsigned read_logs(const char *dir, struct op_entry *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < PROCS; i++) {
		char path[700];
		snprintf(path, sizeof(path), "%s/log.%u", dir, i);
		FILE *f = fopen(path, "r");
		struct op_entry x;
		while (f && n < MAX_ENTRIES &&
		       fscanf(f, "%llu %u %u %u %u %u %u %u", &x.gen, &x.op, &x.gpu, &x.a, &x.b,
			      &x.has_start, &x.start, &x.result) == 8)
			out[n++] = x;
		if (f)
			fclose(f);
	}
	return n;
}

static int read_final(const char *dir, struct vmig_state *ret)
{
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	int rc = vmig_store_open(dir, &s, &e);
	if (rc == 0)
		rc = vmig_store_read(s, ret, &e);
	if (rc == 0)
		rc = vmig_state_validate(ret, &e);
	if (rc)
		fail("parallel: final state: %s", e.msg);
	vmig_store_close(s);
	return rc;
}

/* Replay the logged commits in generation order from the initial state. */
static void check_replay(const struct vmig_state *initial, const struct vmig_state *final,
			 struct op_entry *log, unsigned n)
{
	static struct vmig_state r;
	char why[600];
	if (op_replay(initial, log, n, &r, why, sizeof(why)) < 0)
		fail("parallel store: %s", why);
	else if (final->generation != initial->generation + n)
		fail("parallel store: %u commits logged, the generation moved by %llu", n,
		     (unsigned long long)(final->generation - initial->generation));
	else if (!op_same_state(&r, final))
		fail("parallel store: the replay differs from the final state");
	else
		printf("ok - parallel store: %d processes, %u commits replayed in generation order "
		       "give the final state\n",
		       PROCS, n);
}

/* Through vmig_open: instances created minus destroyed are the instances left. */
static void check_counts(const struct vmig_state *final, const struct op_entry *log, unsigned n)
{
	for (unsigned g = 0; g < final->ngpu; g++) {
		long gis = 0, cis = 0, left_cis = 0;
		for (unsigned i = 0; i < n; i++) {
			if (log[i].gpu != g)
				continue;
			gis += log[i].op == CREATE_GI ? 1 : log[i].op == DESTROY_GI ? -1 : 0;
			cis += log[i].op == CREATE_CI ? 1 : log[i].op == DESTROY_CI ? -1 : 0;
		}
		for (unsigned j = 0; j < final->gpu[g].ngi; j++)
			left_cis += final->gpu[g].gi[j].nci;
		if (gis != (long) final->gpu[g].ngi || cis != left_cis) {
			fail("parallel ctx: GPU %u: %ld GIs and %ld CIs by the logs, %u and %ld "
			     "left",
			     g, gis, cis, final->gpu[g].ngi, left_cis);
			return;
		}
	}
	printf("ok - parallel ctx: %d processes, %u operations through vmig_open add up\n", PROCS,
	       n);
}

static void part(bool ctx)
{
	static struct vmig_state initial, final;
	static struct op_entry log[MAX_ENTRIES];
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/%s", base, ctx ? "ctx" : "store");
	if (ctx)
		setenv("VMIG_STATE_DIR", dir, 1);
	if (setup(dir, &initial) || run_workers(dir, ctx, !ctx) || read_final(dir, &final))
		return;
	printf("ok - parallel %s: final state valid (no overlaps, unique IDs)\n",
	       ctx ? "ctx" : "store");
	unsigned n = read_logs(dir, log);
	if (n < PROCS * OPS / 10)
		fail("parallel %s: only %u operations succeeded", ctx ? "ctx" : "store", n);
	if (ctx)
		check_counts(&final, log, n);
	else
		check_replay(&initial, &final, log, n);
}

int main(void)
{
	if (!test_mkdtemp(base, sizeof(base), "parallel")) {
		fail("parallel: mkdtemp: %s", strerror(errno));
		return 1;
	}
	seed = test_seed("parallel", DEFAULT_SEED);
	part(false);
	part(true);
	/* Leave the directory for inspection on failure. */
	if (failures == 0 && test_rmtree(base) != 0)
		return 1;
	return failures ? 1 : 0;
}
