/*
 * split.c — the equal split of `vmig -mig N`: which N GPU instances, each
 * with its default CI, divide a GPU of a model as equally as its geometry
 * allows (docs/planner.md, "The equal split").  Every multiset of N plain
 * GI profiles is scored (whole GPU first, then the largest smallest GI,
 * the least spread, the most memory), and the best one that the planner
 * can place on the empty GPU wins: the planner, and through it the
 * placement engine, is the one judge of what fits.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Can the planner bring an empty, MIG-enabled GPU of model m to w? */
static bool fits(const struct vmig_model *m, const struct vmig_layout_gpu *w)
{
	struct vmig_gpu_state *g = calloc(1, sizeof(*g));
	struct vmig_plan p = {0};
	if (!g)
		return false;
	g->model = m;
	g->mig_current = g->mig_pending = 1;
	bool ok = vmig_plan_gpu(g, NULL, 0, w, 0, &p, NULL, NULL) == 0;
	vmig_plan_free(&p);
	free(g);
	return ok;
}

struct split {
	const struct vmig_model *m;
	unsigned n;
	const struct vmig_gi_profile *plain[VMIG_MAX_GI_PROFILES];
	unsigned nplain;
	unsigned pick[VMIG_MAX_GIS], best[VMIG_MAX_GIS];
	bool found;
	unsigned b_slices, b_min, b_spread;
	uint64_t b_mem;
};

/* Whole GPU first, then the largest smallest GI, the least spread, the most memory. */
static void split_try(struct split *s)
{
	unsigned slices = 0, lo = ~0u, hi = 0, units = 0;
	uint64_t mem = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct vmig_gi_profile *gp = s->plain[s->pick[i]];
		slices += gp->slices;
		units += gp->size;
		mem += gp->mem_mib;
		lo = gp->slices < lo ? gp->slices : lo;
		hi = gp->slices > hi ? gp->slices : hi;
	}
	if (units > s->m->units)
		return;
	if (s->found) {
		if (slices != s->b_slices) {
			if (slices < s->b_slices)
				return;
		} else if (lo != s->b_min) {
			if (lo < s->b_min)
				return;
		} else if (hi - lo != s->b_spread) {
			if (hi - lo > s->b_spread)
				return;
		} else if (mem <= s->b_mem) {
			return;
		}
	}
	struct vmig_layout_gpu w = {.mig_mode = 1};
	for (unsigned i = 0; i < s->n; i++) {
		const struct vmig_gi_profile *gp = s->plain[s->pick[i]];
		const struct vmig_ci_profile *cp = vmig_ci_profile_default(gp);
		if (!cp)
			return;
		if (w.ndev && w.dev[w.ndev - 1].gi_profile_id == gp->id) {
			w.dev[w.ndev - 1].count++;
			continue;
		}
		w.dev[w.ndev++] = (struct vmig_layout_dev){gp->id, cp->id, 1};
	}
	if (!fits(s->m, &w))
		return;
	s->found = true;
	s->b_slices = slices;
	s->b_min = lo;
	s->b_spread = hi - lo;
	s->b_mem = mem;
	memcpy(s->best, s->pick, sizeof(s->best));
}

/* Every multiset of n plain profiles, as non-decreasing index sequences. */
static void split_walk(struct split *s, unsigned i, unsigned from, unsigned slices)
{
	if (i == s->n) {
		split_try(s);
		return;
	}
	for (unsigned k = from; k < s->nplain; k++) {
		if (slices + s->plain[k]->slices > s->m->compute_slices)
			continue;
		s->pick[i] = k;
		split_walk(s, i + 1, k, slices + s->plain[k]->slices);
	}
}

int vmig_layout_equal_split(const struct vmig_model *m, unsigned n, struct vmig_layout_gpu *ret,
			    struct vmig_err *err)
{
	if (!m || !ret || !(m->flags & VMIG_MF_MIG))
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, "%s has no MIG mode",
				    m ? m->key : "this GPU");
	if (n < 2 || n > VMIG_MAX_GIS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "cannot split a GPU into %u GPU instances (2-%d)", n,
				    VMIG_MAX_GIS);
	struct split *s = calloc(1, sizeof(*s));
	if (!s)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	s->m = m;
	s->n = n;
	for (unsigned k = 0; k < m->ngi; k++)
		if (!(m->gi[k].flags & VMIG_PF_ATTRS))
			s->plain[s->nplain++] = &m->gi[k];
	split_walk(s, 0, 0, 0);
	int r = 0;
	if (!s->found) {
		r = vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				 "a %s cannot be split into %u GPU instances", m->key, n);
	} else {
		struct vmig_layout_gpu w = {.mig_mode = 1};
		for (unsigned i = 0; i < n; i++) {
			const struct vmig_gi_profile *gp = s->plain[s->best[i]];
			if (w.ndev && w.dev[w.ndev - 1].gi_profile_id == gp->id) {
				w.dev[w.ndev - 1].count++;
				continue;
			}
			w.dev[w.ndev++] = (struct vmig_layout_dev){
			    .gi_profile_id = gp->id,
			    .ci_profile_id = vmig_ci_profile_default(gp)->id,
			    .count = 1};
		}
		*ret = w;
	}
	free(s);
	return r;
}
