/*
 * ops.h — random GI/CI operations on a state, as the state-store system
 * tests and the store benchmark make them: choose one (mostly on instances
 * that exist), apply it to a GPU the way a backend does, and replay a log of
 * committed operations in generation order.  Needs libvmig.
 */
#ifndef VMIG_TESTS_OPS_H
#define VMIG_TESTS_OPS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "vmig/vmig.h"

enum { CREATE_GI, DESTROY_GI, CREATE_CI, DESTROY_CI };

struct op_entry {
	unsigned long long gen;
	unsigned op, gpu, a, b, has_start, start, result;
};

/* Random arguments, mostly for instances that exist, sometimes for ones that do not. */
static inline void op_choose(const struct vmig_state *st, uint64_t *rng, struct op_entry *x)
{
	memset(x, 0, sizeof(*x));
	x->gpu = gen_below(rng, st->ngpu);
	const struct vmig_gpu_state *g = &st->gpu[x->gpu];
	const struct vmig_model *m = g->model;
	unsigned r = gen_below(rng, 20);
	x->op = r < 7 ? CREATE_GI : r < 10 ? DESTROY_GI : r < 17 ? CREATE_CI : DESTROY_CI;
	x->has_start = gen_below(rng, 2);
	if (x->op == CREATE_GI || g->ngi == 0) {
		const struct vmig_gi_profile *gp = &m->gi[gen_below(rng, m->ngi)];
		x->a = gp->id;
		x->start = gp->starts[gen_below(rng, gp->nstarts)];
		if (x->op != CREATE_GI)
			x->a = gen_below(rng, 15); /* no GI: an ID that does not exist */
		return;
	}
	const struct vmig_gi_state *gi = &g->gi[gen_below(rng, g->ngi)];
	x->a = gi->id;
	if (x->op == DESTROY_GI)
		return;
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, gi->profile_id);
	if (x->op == CREATE_CI) {
		const struct vmig_ci_profile *cp = &gp->ci[gen_below(rng, gp->nci)];
		x->b = cp->id;
		x->start = cp->starts[gen_below(rng, cp->nstarts)];
	} else {
		x->b = gi->nci ? gi->ci[gen_below(rng, gi->nci)].id : gen_below(rng, 8);
	}
}

/* Apply an operation to a GPU the way a backend does; x->result gets a created ID. */
static inline int op_apply(struct vmig_gpu_state *g, struct op_entry *x, struct vmig_err *e)
{
	const unsigned *start = x->has_start ? &x->start : NULL;
	if (x->op == CREATE_GI)
		return vmig_gpu_create_gi(g, vmig_gi_profile_by_id(g->model, x->a), start,
					  &x->result, e);
	if (x->op == DESTROY_GI)
		return vmig_gpu_destroy_gi(g, x->a, e);
	if (x->op == DESTROY_CI)
		return vmig_gpu_destroy_ci(g, x->a, x->b, e);
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, x->a);
	const struct vmig_gi_profile *gp =
	    gi ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
	const struct vmig_ci_profile *cp = gp ? vmig_ci_profile_by_id(gp, x->b) : NULL;
	if (!cp)
		return vmig_err_set(e, VMIG_E_NOT_FOUND, "no such GI or CI profile");
	return vmig_gpu_create_ci(g, x->a, cp, start, &x->result, e);
}

static inline int op_by_gen(const void *a, const void *b)
{
	const struct op_entry *x = a, *y = b;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

static inline bool op_same_state(const struct vmig_state *a, const struct vmig_state *b)
{
	char *ta = NULL, *tb = NULL;
	if (vmig_state_format(a, &ta, NULL) || vmig_state_format(b, &tb, NULL))
		return false;
	bool same = strcmp(ta, tb) == 0;
	free(ta);
	free(tb);
	return same;
}

/*
 * Replay the n logged commits in generation order from initial into *r; the
 * log is sorted.  0, or -1 with why[] filled in: a generation that is not
 * the next one, an operation that fails, or an ID that differs from the log.
 */
static inline int op_replay(const struct vmig_state *initial, struct op_entry *log, unsigned n,
			    struct vmig_state *r, char *why, size_t whylen)
{
	memcpy(r, initial, sizeof(*r));
	qsort(log, n, sizeof(*log), op_by_gen);
	for (unsigned i = 0; i < n; i++) {
		struct vmig_err e = {0};
		struct op_entry x = log[i];
		if (x.gen != initial->generation + 1 + i) {
			snprintf(why, whylen, "commit %u has generation %llu, expected %llu", i,
				 x.gen, (unsigned long long)initial->generation + 1 + i);
			return -1;
		}
		if (op_apply(&r->gpu[x.gpu], &x, &e) < 0) {
			snprintf(why, whylen, "replay of generation %llu failed: %.300s", x.gen,
				 e.msg);
			return -1;
		}
		if ((x.op == CREATE_GI || x.op == CREATE_CI) && x.result != log[i].result) {
			snprintf(why, whylen, "replay of generation %llu gave ID %u, logged %u",
				 x.gen, x.result, log[i].result);
			return -1;
		}
	}
	r->generation = initial->generation + n;
	return 0;
}

#endif
