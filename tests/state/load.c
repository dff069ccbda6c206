/*
 * load.c — the state store under sustained load: 2 writer processes making
 * random GI/CI changes as transactions, 4 reader processes and 4 NVML
 * threads reading in loops, for VMIG_LOAD_SECONDS (default 10) on 8
 * partitioned H100s.
 *
 * Checked: no reader ever sees a state that does not validate, a
 * generation that goes back or a file out of step with the counter; no NVML
 * call fails or answers something impossible; no writer fails (in
 * particular none times out for the lock); and replaying the logged commits
 * in generation order from the initial state gives exactly the final state.
 * Timing is not checked here (bench/bench_store.c measures it).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>

#include "gpus.h"
#include "load.h"
#include "randseed.h"
#include "tmpdir.h"

static int failures;

static __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL - load: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static void check_actor(const char *what, unsigned i, const struct load_actor *a)
{
	if (a->error[0])
		fail("%s %u: %s", what, i, a->error);
	else if (a->ops == 0)
		fail("%s %u did nothing", what, i);
}

int main(void)
{
	static const char *const models[] = {"h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb",
					     "h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb"};
	static struct vmig_state initial, final, replayed;
	char base[512], lib[PATH_MAX + 32], why[600];
	const char *b = getenv("B") ? getenv("B") : "build";
	const char *secs = getenv("VMIG_LOAD_SECONDS");
	struct vmig_err e = {0};
	if (!test_mkdtemp(base, sizeof(base), "load") || !realpath(b, lib)) {
		fail("set-up: %s", strerror(errno));
		return 1;
	}
	strncat(lib, "/libnvidia-ml.so.1", sizeof(lib) - strlen(lib) - 1);
	setenv("VMIG_STATE_DIR", base, 1);
	struct load_spec sp = {base, lib, secs ? atof(secs) : 10.0, 2, 4, 4, 0, 0, 0, 0};
	sp.seed = test_seed("load", 0x10ad0000u);
	struct load_shared *sh = load_shared_new();
	if (!sh || test_seed_gpus(base, models, 8, true, &initial, &e) != 0) {
		fail("set-up: %s", e.msg);
		return 1;
	}
	if (load_run(&sp, sh) < 0)
		fail("a process did not end cleanly");
	unsigned long reads = 0, nv = 0, n = 0;
	for (unsigned i = 0; i < sp.writers; i++)
		check_actor("writer", i, &sh->w[i].a);
	for (unsigned i = 0; i < sp.readers; i++) {
		check_actor("reader", i, &sh->r[i]);
		reads += sh->r[i].ops;
	}
	for (unsigned i = 0; i < sp.threads; i++) {
		check_actor("NVML thread", i, &sh->t[i]);
		nv += sh->t[i].ops;
	}
	static struct op_entry log[LOAD_MAX_WRITERS * LOAD_MAX_COMMITS];
	for (unsigned i = 0; i < sp.writers; i++)
		for (unsigned k = 0; k < sh->w[i].ncommits; k++)
			log[n++] = sh->w[i].commits[k];
	struct vmig_store *s = NULL;
	if (vmig_store_open(base, &s, &e) || vmig_store_read(s, &final, &e))
		fail("final state: %s", e.msg);
	vmig_store_close(s);
	if (op_replay(&initial, log, (unsigned)n, &replayed, why, sizeof(why)) < 0)
		fail("%s", why);
	else if (final.generation != initial.generation + n)
		fail("%lu commits logged, the generation moved by %llu", n,
		     (unsigned long long)(final.generation - initial.generation));
	else if (!op_same_state(&replayed, &final))
		fail("the replay of the logged commits differs from the final state");
	if (failures == 0)
		printf(
		    "ok - load: %.0f s, %lu commits by %u writers replayed exactly, %lu reads by "
		    "%u readers and %lu NVML query rounds by %u threads all consistent\n",
		    sp.seconds, n, sp.writers, reads, sp.readers, nv, sp.threads);
	munmap(sh, sizeof(*sh));
	if (failures == 0)
		test_rmtree(base);
	else
		printf("  its files are kept in %s\n", base);
	return failures != 0;
}
