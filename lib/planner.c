/*
 * planner.c — the layout planner: the steps that bring one GPU from the
 * instances it has to the devices wanted, never touching a busy instance,
 * keeping every instance the target still wants where it is, and exact
 * (when it says no layout exists, none does).  Pure code: no I/O, no
 * globals; every geometric question is asked of the placement engine by
 * creating and destroying instances on scratch copies of the GPU record.
 *
 * The file is divided into the target (the wanted devices grouped by GI
 * profile), the ways one GI can end (which of its CIs stay, which are
 * added), the search (which existing GIs stay, how many new GIs of each
 * profile, where they go), the steps, the explanations of a refusal, and
 * the mode changes around all of it.  The equal split of `vmig -mig N` is
 * lib/split.c.
 * docs/planner.md states the algorithm and its guarantees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PL_MAX_KINDS  VMIG_LAYOUT_MAX_DEVS
#define PL_MAX_GROUPS VMIG_MAX_GI_PROFILES
#define PL_MAX_LAYERS (VMIG_MAX_GIS + VMIG_MAX_GIS)
#define PL_DP_MAX     (1u << 16) /* partial sums of one GI profile's devices */

/* ------------------------------------------------------------------------ */
/* The target                                                               */
/* ------------------------------------------------------------------------ */

/* A wanted kind of device: a CI profile in a GI profile, and how many. */
struct pl_kind {
	const struct vmig_gi_profile *gp;
	const struct vmig_ci_profile *cp;
	unsigned want;
};

/* One way a GI can end: the CIs of it that stay, the CIs added. */
struct pl_opt {
	unsigned code; /* final counts of the group's kinds, mixed radix */
	unsigned kept; /* existing CIs kept */
	unsigned mask; /* which existing CIs (by index) stay */
	unsigned nadd; /* CIs created */
	uint8_t cnt[VMIG_MAX_CI_PROFILES];
	struct vmig_ci_state add[VMIG_MAX_CIS]; /* profile_id, start of each */
};

struct pl_opts {
	struct pl_opt *v;
	unsigned n, cap;
	bool oom;
};

/* The wanted devices of one GI profile. */
struct pl_group {
	const struct vmig_gi_profile *gp;
	unsigned nk;
	unsigned kind[VMIG_MAX_CI_PROFILES]; /* indexes into pl.kind */
	unsigned radix[VMIG_MAX_CI_PROFILES], stride[VMIG_MAX_CI_PROFILES];
	unsigned size, target; /* codes below size; target = every count reached */
	unsigned ndev;	       /* CIs wanted: the most new GIs that can be non-empty */
	struct pl_opts fresh;  /* how a new, empty GI can end */
};

/* An existing GI: whether it is busy, and how it can end if it stays. */
struct pl_exist {
	const struct vmig_gi_state *gi;
	int group; /* -1: the target has no device of its profile */
	bool busy;
	unsigned busy_ci; /* mask of busy CIs */
	int32_t pid;	  /* a process that makes it busy */
	int32_t ci_pid[VMIG_MAX_CIS];
	struct pl_opts opts;
	unsigned max_kept;
};

/* The best layout found so far. */
struct pl_best {
	bool found;
	unsigned kept_ci, kept_gi, nnew;
	uint32_t keep; /* existing GIs (by index) that stay */
	unsigned m[PL_MAX_GROUPS];
	/* chosen option per existing GI (index into its opts), and per new GI */
	unsigned opt_exist[VMIG_MAX_GIS];
	unsigned nfresh_opt;
	unsigned fresh_group[PL_MAX_LAYERS], fresh_opt[PL_MAX_LAYERS];
	unsigned fresh_start[PL_MAX_LAYERS];
};

struct pl {
	const struct vmig_model *m;
	const struct vmig_gpu_state *cur; /* MIG on; what the instance steps start from */
	unsigned gpu;
	unsigned flags;
	bool honour_busy;
	unsigned nkind;
	struct pl_kind kind[PL_MAX_KINDS];
	unsigned ngroup;
	struct pl_group group[PL_MAX_GROUPS];
	unsigned nexist;
	struct pl_exist ex[VMIG_MAX_GIS];
	unsigned sum_keepable; /* CIs the target still wants among the existing ones */
	struct pl_best best;
	/* dynamic-programming tables, sized for the largest group */
	int *dp;
	uint16_t *choice;
	size_t dp_cap;
};

static int group_of(const struct pl *p, unsigned gi_profile_id)
{
	for (unsigned g = 0; g < p->ngroup; g++)
		if (p->group[g].gp->id == gi_profile_id)
			return (int)g;
	return -1;
}

/* The kind index of a CI profile within a group; -1 when not wanted. */
static int kind_in_group(const struct pl *p, const struct pl_group *grp, unsigned ci_profile_id)
{
	for (unsigned j = 0; j < grp->nk; j++)
		if (p->kind[grp->kind[j]].cp->id == ci_profile_id)
			return (int)j;
	return -1;
}

static const char *ci_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			   char *buf, size_t size)
{
	if (!gp || !cp || vmig_ci_profile_name(gp, cp, buf, size) < 0)
		snprintf(buf, size, "?");
	return buf;
}

/* Add a device to the target, merging repeats of one kind. */
static int target_add(struct pl *p, const struct vmig_layout_dev *d, struct vmig_err *err)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->m, d->gi_profile_id);
	if (!gp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "GPU %u: %s has no GPU instance profile ID %u", p->gpu,
				    p->m->key, d->gi_profile_id);
	const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, d->ci_profile_id);
	if (!cp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "GPU %u: GPU instance profile %s has no compute instance "
				    "profile ID %u",
				    p->gpu, gp->name, d->ci_profile_id);
	if (d->count == 0 || d->count > VMIG_MAX_GIS * VMIG_MAX_CIS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "GPU %u: a count of %u %s devices is not 1-%u", p->gpu,
				    d->count, gp->name, VMIG_MAX_GIS * VMIG_MAX_CIS);
	for (unsigned k = 0; k < p->nkind; k++)
		if (p->kind[k].gp == gp && p->kind[k].cp == cp) {
			p->kind[k].want += d->count;
			return 0;
		}
	p->kind[p->nkind++] = (struct pl_kind){.gp = gp, .cp = cp, .want = d->count};
	return 0;
}

/* Group the kinds by GI profile; each group's counts form a mixed-radix code. */
static int target_groups(struct pl *p, struct vmig_err *err)
{
	for (unsigned k = 0; k < p->nkind; k++) {
		int g = group_of(p, p->kind[k].gp->id);
		if (g < 0) {
			g = (int)p->ngroup++;
			p->group[g] = (struct pl_group){.gp = p->kind[k].gp};
		}
		struct pl_group *grp = &p->group[g];
		grp->kind[grp->nk++] = k;
		grp->ndev += p->kind[k].want;
	}
	for (unsigned g = 0; g < p->ngroup; g++) {
		struct pl_group *grp = &p->group[g];
		unsigned size = 1;
		for (unsigned j = 0; j < grp->nk; j++) {
			grp->radix[j] = p->kind[grp->kind[j]].want + 1;
			grp->stride[j] = size;
			grp->target += (grp->radix[j] - 1) * size;
			if (size > PL_DP_MAX / grp->radix[j])
				return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
						    "GPU %u: %u %s devices can never fit", p->gpu,
						    grp->ndev, grp->gp->name);
			size *= grp->radix[j];
		}
		grp->size = size;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* How one GI can end                                                        */
/* ------------------------------------------------------------------------ */

static void opts_free(struct pl_opts *o)
{
	free(o->v);
	*o = (struct pl_opts){0};
}

static unsigned code_of(const struct pl_group *grp, const uint8_t cnt[])
{
	unsigned c = 0;
	for (unsigned j = 0; j < grp->nk; j++)
		c += cnt[j] * grp->stride[j];
	return c;
}

/* Record an ending; of two with the same counts the one keeping more wins. */
static void opts_put(struct pl_opts *o, const struct pl_opt *x)
{
	for (unsigned i = 0; i < o->n; i++)
		if (o->v[i].code == x->code) {
			if (x->kept > o->v[i].kept)
				o->v[i] = *x;
			return;
		}
	if (o->n == o->cap) {
		unsigned cap = o->cap ? o->cap * 2 : 16;
		struct pl_opt *v = realloc(o->v, cap * sizeof(*v));
		if (!v) {
			o->oom = true;
			return;
		}
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = *x;
}

/*
 * Every set of CIs that can be added to GI gi_id of g (one GI on a scratch
 * record), in increasing start order so that each set is made once: the
 * engine says which starts are possible and what fits together.
 */
static void opts_grow(const struct pl *p, const struct pl_group *grp, struct vmig_gpu_state *g,
		      unsigned gi_id, unsigned from, struct pl_opt *cur, struct pl_opts *out)
{
	unsigned total = 0;
	for (unsigned j = 0; j < grp->nk; j++)
		total += cur->cnt[j];
	if (total)
		opts_put(out, cur);
	if (cur->nadd >= VMIG_MAX_CIS)
		return;
	for (unsigned s = from; s < grp->gp->slices; s++)
		for (unsigned j = 0; j < grp->nk; j++) {
			const struct pl_kind *k = &p->kind[grp->kind[j]];
			unsigned ci_id;
			if (cur->cnt[j] >= k->want ||
			    vmig_gpu_create_ci(g, gi_id, k->cp, &s, &ci_id, NULL) < 0)
				continue;
			cur->cnt[j]++;
			cur->code += grp->stride[j];
			cur->add[cur->nadd++] =
			    (struct vmig_ci_state){.id = (uint8_t)ci_id,
						   .profile_id = (uint8_t)k->cp->id,
						   .start = (uint8_t)s,
						   .size = (uint8_t)k->cp->slices};
			opts_grow(p, grp, g, gi_id, s + 1, cur, out);
			cur->nadd--;
			cur->code -= grp->stride[j];
			cur->cnt[j]--;
			(void)vmig_gpu_destroy_ci(g, gi_id, ci_id, NULL);
		}
}

/* A scratch record holding one GI (with the CIs of mask) on an otherwise empty GPU. */
static void scratch_one(const struct pl *p, const struct vmig_gi_state *gi, unsigned mask,
			struct vmig_gpu_state *g)
{
	memset(g, 0, sizeof(*g));
	g->model = p->m;
	g->mig_current = g->mig_pending = 1;
	g->ngi = 1;
	g->gi[0] = *gi;
	g->gi[0].nci = 0;
	for (unsigned c = 0; c < gi->nci; c++)
		if (mask & (1u << c))
			g->gi[0].ci[g->gi[0].nci++] = gi->ci[c];
}

/* The endings of an existing GI: every subset of its CIs that may stay, then additions. */
static void exist_opts(const struct pl *p, struct pl_exist *e)
{
	const struct vmig_gi_state *gi = e->gi;
	const struct pl_group *grp = &p->group[e->group];
	struct vmig_gpu_state g;
	for (unsigned mask = 0; mask < (1u << gi->nci); mask++) {
		if ((mask & e->busy_ci) != e->busy_ci)
			continue;
		struct pl_opt o = {.mask = mask};
		bool ok = true;
		for (unsigned c = 0; c < gi->nci && ok; c++) {
			if (!(mask & (1u << c)))
				continue;
			int j = kind_in_group(p, grp, gi->ci[c].profile_id);
			ok = j >= 0 && o.cnt[j] < p->kind[grp->kind[j]].want;
			if (ok) {
				o.cnt[j]++;
				o.kept++;
			}
		}
		if (!ok)
			continue;
		o.code = code_of(grp, o.cnt);
		scratch_one(p, gi, mask, &g);
		opts_grow(p, grp, &g, gi->id, 0, &o, &e->opts);
	}
	for (unsigned i = 0; i < e->opts.n; i++)
		if (e->opts.v[i].kept > e->max_kept)
			e->max_kept = e->opts.v[i].kept;
}

static void fresh_opts(const struct pl *p, struct pl_group *grp)
{
	struct vmig_gpu_state g;
	memset(&g, 0, sizeof(g));
	g.model = p->m;
	g.mig_current = g.mig_pending = 1;
	unsigned gi_id;
	if (vmig_gpu_create_gi(&g, grp->gp, NULL, &gi_id, NULL) < 0)
		return; /* the profile cannot be created at all: no fresh GI */
	struct pl_opt o = {0};
	opts_grow(p, grp, &g, gi_id, 0, &o, &grp->fresh);
}

/* ------------------------------------------------------------------------ */
/* The search                                                                */
/* ------------------------------------------------------------------------ */

/* Does option o fit on partial sum state s (no count beyond the target)? */
static bool fits_on(const struct pl_group *grp, unsigned s, const struct pl_opt *o)
{
	for (unsigned j = 0; j < grp->nk; j++)
		if ((s / grp->stride[j]) % grp->radix[j] + o->cnt[j] >= grp->radix[j])
			return false;
	return true;
}

/*
 * The most existing CIs that can stay when the group's devices are spread
 * over the given layers (option sets, one per GI), each GI ending non-empty
 * and the counts exactly the target; -1 when no spread exists.  With
 * ret_choice, the option of each layer.
 */
static int group_dp(struct pl *p, const struct pl_group *grp, const struct pl_opts *const layer[],
		    unsigned nl, unsigned ret_choice[])
{
	size_t need = (size_t)grp->size * (nl + 1);
	if (need > p->dp_cap) {
		int *dp = realloc(p->dp, need * sizeof(*dp));
		uint16_t *ch = dp ? realloc(p->choice, need * sizeof(*ch)) : NULL;
		if (dp)
			p->dp = dp;
		if (!dp || !ch)
			return -1;
		p->choice = ch;
		p->dp_cap = need;
	}
	int *dp = p->dp;
	for (unsigned s = 0; s < grp->size; s++)
		dp[s] = -1;
	dp[0] = 0;
	for (unsigned l = 0; l < nl; l++) {
		int *from = dp + (size_t)l * grp->size, *to = from + grp->size;
		uint16_t *ch = p->choice + (size_t)(l + 1) * grp->size;
		for (unsigned s = 0; s < grp->size; s++)
			to[s] = -1;
		for (unsigned s = 0; s < grp->size; s++) {
			if (from[s] < 0)
				continue;
			for (unsigned i = 0; i < layer[l]->n; i++) {
				const struct pl_opt *o = &layer[l]->v[i];
				if (!fits_on(grp, s, o))
					continue;
				unsigned t = s + o->code;
				int v = from[s] + (int)o->kept;
				if (v > to[t]) {
					to[t] = v;
					ch[t] = (uint16_t)i;
				}
			}
		}
	}
	int best = dp[(size_t)nl * grp->size + grp->target];
	if (best < 0 || !ret_choice)
		return best;
	unsigned s = grp->target;
	for (unsigned l = nl; l > 0; l--) {
		unsigned i = p->choice[(size_t)l * grp->size + s];
		ret_choice[l - 1] = i;
		s -= layer[l - 1]->v[i].code;
	}
	return best;
}

/* The layers of group g: the staying GIs of its profile, then m new ones. */
static unsigned group_layers(const struct pl *p, unsigned g, uint32_t keep, unsigned m,
			     const struct pl_opts *layer[], unsigned which[])
{
	unsigned nl = 0;
	for (unsigned e = 0; e < p->nexist; e++)
		if ((keep & (1u << e)) && p->ex[e].group == (int)g) {
			which[nl] = e;
			layer[nl++] = &p->ex[e].opts;
		}
	for (unsigned i = 0; i < m && nl < PL_MAX_LAYERS; i++) {
		which[nl] = VMIG_MAX_GIS; /* a new GI */
		layer[nl++] = &p->group[g].fresh;
	}
	return nl;
}

/* The GPU record with only the GIs of keep, and no CIs (GI geometry only). */
static void base_of(const struct pl *p, uint32_t keep, struct vmig_gpu_state *g)
{
	*g = *p->cur;
	g->ngi = 0;
	for (unsigned e = 0; e < p->nexist; e++)
		if (keep & (1u << e)) {
			g->gi[g->ngi] = *p->ex[e].gi;
			g->gi[g->ngi++].nci = 0;
		}
}

/*
 * Place new GIs of the profiles list[0..n) (largest first) on g: the
 * driver's own choices when they all fit, else a search over every
 * possible start.  Starts go to ret_start; g is left as it was.
 */
static bool place_dfs(struct vmig_gpu_state *g, const struct vmig_gi_profile *const list[],
		      unsigned n, unsigned i, unsigned ret_start[])
{
	if (i == n)
		return true;
	const struct vmig_gi_profile *gp = list[i];
	for (unsigned k = 0; k < gp->nstarts && k < VMIG_MAX_STARTS; k++) {
		unsigned s = gp->starts[k], id;
		/* Equal profiles in increasing start order: each set is tried once. */
		if (i > 0 && list[i - 1] == gp && s <= ret_start[i - 1])
			continue;
		if (vmig_gpu_create_gi(g, gp, &s, &id, NULL) < 0)
			continue;
		ret_start[i] = s;
		bool ok = place_dfs(g, list, n, i + 1, ret_start);
		(void)vmig_gpu_destroy_gi(g, id, NULL);
		if (ok)
			return true;
	}
	return false;
}

static int by_size_desc(const void *a, const void *b)
{
	const struct vmig_gi_profile *x = *(const struct vmig_gi_profile *const *)a;
	const struct vmig_gi_profile *y = *(const struct vmig_gi_profile *const *)b;
	if (x->slices != y->slices)
		return x->slices < y->slices ? 1 : -1;
	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

static bool place(const struct vmig_gpu_state *base, const struct vmig_gi_profile *list[],
		  unsigned n, unsigned ret_start[])
{
	struct vmig_gpu_state g = *base;
	qsort(list, n, sizeof(list[0]), by_size_desc);
	bool automatic = true;
	for (unsigned i = 0; i < n && automatic; i++)
		automatic = vmig_gpu_create_gi(&g, list[i], NULL, NULL, NULL) == 0;
	if (automatic) {
		/* The driver's choices, read back in creation order. */
		struct vmig_gpu_state h = *base;
		for (unsigned i = 0; i < n; i++) {
			unsigned id;
			(void)vmig_gpu_create_gi(&h, list[i], NULL, &id, NULL);
			ret_start[i] = vmig_gpu_find_gi(&h, id)->start;
		}
		return true;
	}
	g = *base;
	return place_dfs(&g, list, n, 0, ret_start);
}

/* Is (kept CIs, kept GIs, -new GIs) better than the best so far? */
static bool better(const struct pl_best *b, unsigned kept_ci, unsigned kept_gi, unsigned nnew)
{
	if (!b->found)
		return true;
	if (kept_ci != b->kept_ci)
		return kept_ci > b->kept_ci;
	if (kept_gi != b->kept_gi)
		return kept_gi > b->kept_gi;
	return nnew < b->nnew;
}

/* Evaluate one choice of staying GIs and new-GI counts; record it when it is the best. */
static void try_layout(struct pl *p, uint32_t keep, const unsigned m[])
{
	unsigned kept_ci = 0, kept_gi = (unsigned)__builtin_popcount(keep), nnew = 0;
	for (unsigned g = 0; g < p->ngroup; g++)
		nnew += m[g];
	/* Every staying GI must end in some group's spread (checked per group below). */
	for (unsigned g = 0; g < p->ngroup; g++) {
		const struct pl_opts *layer[PL_MAX_LAYERS];
		unsigned which[PL_MAX_LAYERS];
		unsigned nl = group_layers(p, g, keep, m[g], layer, which);
		int v = group_dp(p, &p->group[g], layer, nl, NULL);
		if (v < 0)
			return;
		kept_ci += (unsigned)v;
	}
	if (!better(&p->best, kept_ci, kept_gi, nnew))
		return;
	struct vmig_gpu_state base;
	const struct vmig_gi_profile *list[PL_MAX_LAYERS];
	unsigned starts[PL_MAX_LAYERS], n = 0;
	base_of(p, keep, &base);
	for (unsigned g = 0; g < p->ngroup; g++)
		for (unsigned i = 0; i < m[g] && n < PL_MAX_LAYERS; i++)
			list[n++] = p->group[g].gp;
	if (base.ngi + n > VMIG_MAX_GIS)
		return;
	/* Cheap necessary test first: each profile alone must have room for its count. */
	for (unsigned g = 0; g < p->ngroup; g++)
		if (m[g] && vmig_gi_remaining(&base, p->group[g].gp) < m[g])
			return;
	if (!place(&base, list, n, starts))
		return;
	struct pl_best *b = &p->best;
	*b = (struct pl_best){
	    .found = true, .kept_ci = kept_ci, .kept_gi = kept_gi, .nnew = nnew, .keep = keep};
	memcpy(b->m, m, sizeof(b->m));
	/* The chosen endings; new GIs in the order they are placed (largest first). */
	unsigned fresh_choice[PL_MAX_GROUPS][PL_MAX_LAYERS], nfresh[PL_MAX_GROUPS] = {0};
	for (unsigned g = 0; g < p->ngroup; g++) {
		const struct pl_opts *layer[PL_MAX_LAYERS];
		unsigned which[PL_MAX_LAYERS], choice[PL_MAX_LAYERS];
		unsigned nl = group_layers(p, g, keep, m[g], layer, which);
		(void)group_dp(p, &p->group[g], layer, nl, choice);
		for (unsigned l = 0; l < nl; l++) {
			if (which[l] < VMIG_MAX_GIS)
				b->opt_exist[which[l]] = choice[l];
			else
				fresh_choice[g][nfresh[g]++] = choice[l];
		}
	}
	unsigned taken[PL_MAX_GROUPS] = {0};
	for (unsigned i = 0; i < n; i++) {
		int g = group_of(p, list[i]->id);
		b->fresh_group[b->nfresh_opt] = (unsigned)g;
		b->fresh_opt[b->nfresh_opt] = fresh_choice[g][taken[g]++];
		b->fresh_start[b->nfresh_opt++] = starts[i];
	}
}

/* Every count of new GIs per group, up to what the group's devices can fill. */
static void try_counts(struct pl *p, uint32_t keep, unsigned g, unsigned m[], unsigned room)
{
	if (g == p->ngroup) {
		try_layout(p, keep, m);
		return;
	}
	const struct pl_group *grp = &p->group[g];
	unsigned most = grp->fresh.n ? grp->ndev : 0;
	if (most > grp->gp->instances)
		most = grp->gp->instances;
	for (m[g] = 0; m[g] <= most && m[g] <= room; m[g]++)
		try_counts(p, keep, g + 1, m, room - m[g]);
	m[g] = 0;
}

/*
 * Over every set of staying GIs (the busy ones always among them, when
 * busy counts), from the most that can stay: the best layout, if any.
 */
static void search(struct pl *p)
{
	uint32_t must = 0, may = 0;
	p->best.found = false;
	for (unsigned e = 0; e < p->nexist; e++) {
		const struct pl_exist *x = &p->ex[e];
		if (p->honour_busy && x->busy)
			must |= 1u << e;
		else if (x->group >= 0 && x->opts.n)
			may |= 1u << e;
	}
	for (unsigned e = 0; e < p->nexist; e++)
		if ((must & (1u << e)) && (p->ex[e].group < 0 || !p->ex[e].opts.n))
			return; /* a busy GI that cannot end in the layout */
	/*
	 * Subsets of may, the largest first (so that the bound below soon cuts
	 * the rest), each level by the standard walk of submasks.
	 */
	for (int level = __builtin_popcount(may); level >= 0; level--) {
		uint32_t sub = may;
		for (;;) {
			uint32_t keep = must | sub;
			unsigned ub = 0, nkeep = (unsigned)__builtin_popcount(keep);
			for (unsigned e = 0; e < p->nexist; e++)
				if (keep & (1u << e))
					ub += p->ex[e].max_kept;
			if (ub > p->sum_keepable)
				ub = p->sum_keepable;
			if (__builtin_popcount(sub) == level && better(&p->best, ub, nkeep, 0)) {
				unsigned m[PL_MAX_GROUPS] = {0};
				try_counts(p, keep, 0, m, VMIG_MAX_GIS - nkeep);
			}
			if (sub == 0)
				break;
			sub = (sub - 1) & may;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                     */
/* ------------------------------------------------------------------------ */

struct pl_steps {
	struct vmig_step *v;
	size_t n, cap;
};

static int step_put(struct pl_steps *s, const struct vmig_step *x, struct vmig_err *err)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct vmig_step *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *x;
	return 0;
}

/*
 * Carry a step out on the record g with the placement engine (planner's
 * own replay, and the check of every plan it returns); CREATE steps learn
 * their ID.
 */
static int step_replay(struct vmig_gpu_state *g, struct vmig_step *s, struct vmig_err *err)
{
	const struct vmig_gi_profile *gp;
	struct vmig_gi_state *gi;
	switch (s->kind) {
	case VMIG_STEP_DESTROY_CI:
		return vmig_gpu_destroy_ci(g, s->gi_id, s->ci_id, err);
	case VMIG_STEP_DESTROY_GI:
		return vmig_gpu_destroy_gi(g, s->gi_id, err);
	case VMIG_STEP_CREATE_GI:
		gp = vmig_gi_profile_by_id(g->model, s->profile_id);
		return gp ? vmig_gpu_create_gi(g, gp, &s->start, &s->gi_id, err)
			  : vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	case VMIG_STEP_CREATE_CI:
		gi = vmig_gpu_find_gi(g, s->gi_id);
		gp = gi ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
		const struct vmig_ci_profile *cp =
		    gp ? vmig_ci_profile_by_id(gp, s->profile_id) : NULL;
		return cp ? vmig_gpu_create_ci(g, s->gi_id, cp, &s->start, &s->ci_id, err)
			  : vmig_err_set(err, VMIG_E_NOT_FOUND, NULL);
	case VMIG_STEP_MODE:
	case VMIG_STEP_RESET:
		break;
	}
	return 0;
}

static int destroy_ci_step(struct pl *p, struct pl_steps *out, const struct vmig_gi_state *gi,
			   const struct vmig_ci_state *ci, struct vmig_err *err)
{
	struct vmig_step s = {.kind = VMIG_STEP_DESTROY_CI,
			      .gpu = p->gpu,
			      .gi_id = gi->id,
			      .ci_id = ci->id,
			      .profile_id = ci->profile_id,
			      .start = ci->start,
			      .gi_profile_id = gi->profile_id};
	return step_put(out, &s, err);
}

static int create_ci_steps(struct pl *p, struct pl_steps *out, unsigned gi_id, unsigned gi_pid,
			   const struct pl_opt *o, struct vmig_err *err)
{
	for (unsigned a = 0; a < o->nadd; a++) {
		struct vmig_step s = {.kind = VMIG_STEP_CREATE_CI,
				      .gpu = p->gpu,
				      .gi_id = gi_id,
				      .profile_id = o->add[a].profile_id,
				      .start = o->add[a].start,
				      .gi_profile_id = gi_pid};
		int r = step_put(out, &s, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The steps of the best layout, replayed on g as they are made: CIs that
 * go, GIs that go, CIs added to staying GIs, then each new GI and its CIs.
 */
static int best_steps(struct pl *p, struct vmig_gpu_state *g, struct pl_steps *out,
		      struct vmig_err *err)
{
	const struct pl_best *b = &p->best;
	size_t first = out->n;
	int r = 0;
	for (unsigned e = 0; e < p->nexist && r >= 0; e++) {
		const struct vmig_gi_state *gi = p->ex[e].gi;
		bool stays = b->keep & (1u << e);
		unsigned mask = stays ? p->ex[e].opts.v[b->opt_exist[e]].mask : 0;
		for (unsigned c = 0; c < gi->nci && r >= 0; c++)
			if (!(mask & (1u << c)))
				r = destroy_ci_step(p, out, gi, &gi->ci[c], err);
	}
	for (unsigned e = 0; e < p->nexist && r >= 0; e++) {
		const struct vmig_gi_state *gi = p->ex[e].gi;
		struct vmig_step s = {.kind = VMIG_STEP_DESTROY_GI,
				      .gpu = p->gpu,
				      .gi_id = gi->id,
				      .profile_id = gi->profile_id,
				      .start = gi->start};
		if (!(b->keep & (1u << e)))
			r = step_put(out, &s, err);
	}
	for (unsigned e = 0; e < p->nexist && r >= 0; e++)
		if (b->keep & (1u << e))
			r = create_ci_steps(p, out, p->ex[e].gi->id, p->ex[e].gi->profile_id,
					    &p->ex[e].opts.v[b->opt_exist[e]], err);
	for (size_t i = first; i < out->n && r >= 0; i++)
		r = step_replay(g, &out->v[i], err);
	for (unsigned f = 0; f < b->nfresh_opt && r >= 0; f++) {
		const struct pl_group *grp = &p->group[b->fresh_group[f]];
		struct vmig_step s = {.kind = VMIG_STEP_CREATE_GI,
				      .gpu = p->gpu,
				      .profile_id = grp->gp->id,
				      .start = b->fresh_start[f]};
		if ((r = step_replay(g, &s, err)) < 0 || (r = step_put(out, &s, err)) < 0)
			break;
		size_t ci_first = out->n;
		r = create_ci_steps(p, out, s.gi_id, grp->gp->id, &grp->fresh.v[b->fresh_opt[f]],
				    err);
		for (size_t i = ci_first; i < out->n && r >= 0; i++)
			r = step_replay(g, &out->v[i], err);
	}
	if (r < 0)
		return vmig_err_wrap(err, "GPU %u: internal error: the plan does not replay",
				     p->gpu);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Busy instances and the explanations of a refusal                          */
/* ------------------------------------------------------------------------ */

static void mark_busy(struct pl *p, const struct vmig_proc *procs, size_t nproc)
{
	for (size_t i = 0; i < nproc; i++) {
		const struct vmig_proc *pr = &procs[i];
		if (pr->gpu != p->gpu || pr->gi == VMIG_PROC_WHOLE_GPU)
			continue;
		for (unsigned e = 0; e < p->nexist; e++) {
			struct pl_exist *x = &p->ex[e];
			if (x->gi->id != pr->gi)
				continue;
			if (!x->busy)
				x->pid = pr->pid;
			x->busy = true;
			for (unsigned c = 0; c < x->gi->nci; c++)
				if (pr->ci == VMIG_PROC_WHOLE_GPU || x->gi->ci[c].id == pr->ci) {
					if (!(x->busy_ci & (1u << c)))
						x->ci_pid[c] = pr->pid;
					x->busy_ci |= 1u << c;
				}
		}
	}
}

/* IN_USE when a busy instance has no place in the target whatever the geometry. */
static int check_busy(struct pl *p, struct vmig_err *err)
{
	unsigned busy_of[PL_MAX_KINDS] = {0};
	char name[64];
	for (unsigned e = 0; e < p->nexist; e++) {
		const struct pl_exist *x = &p->ex[e];
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->m, x->gi->profile_id);
		if (!x->busy)
			continue;
		if (x->group < 0 || !x->busy_ci)
			return vmig_err_set(
			    err, VMIG_E_IN_USE,
			    "GPU %u: GPU instance %u (%s) is in use by process %d, "
			    "and the layout has no %s device%s",
			    p->gpu, x->gi->id, gp ? gp->name : "?", (int)x->pid,
			    gp ? gp->name : "?",
			    x->group < 0 ? "" : " for it (it holds no compute instance)");
		for (unsigned c = 0; c < x->gi->nci; c++) {
			if (!(x->busy_ci & (1u << c)))
				continue;
			const struct vmig_ci_profile *cp =
			    vmig_ci_profile_by_id(gp, x->gi->ci[c].profile_id);
			int j = kind_in_group(p, &p->group[x->group], x->gi->ci[c].profile_id);
			unsigned k = j >= 0 ? p->group[x->group].kind[j] : 0;
			if (j < 0 || ++busy_of[k] > p->kind[k].want)
				return vmig_err_set(
				    err, VMIG_E_IN_USE,
				    "GPU %u: compute instance %u of GPU instance %u (%s) is in use "
				    "by process %d, and the layout has %s %s device%s",
				    p->gpu, x->gi->ci[c].id, x->gi->id,
				    ci_name(gp, cp, name, sizeof(name)), (int)x->ci_pid[c],
				    j < 0 ? "no" : "fewer busy", name, j < 0 ? "" : "s than that");
		}
	}
	return 0;
}

static void pl_done(struct pl *p)
{
	for (unsigned g = 0; g < p->ngroup; g++)
		opts_free(&p->group[g].fresh);
	for (unsigned e = 0; e < p->nexist; e++)
		opts_free(&p->ex[e].opts);
	free(p->dp);
	free(p->choice);
	p->dp = NULL;
	p->choice = NULL;
	p->dp_cap = 0;
}

/* Group the kinds and work out how new GIs of each profile can end. */
static int pl_prepare_target(struct pl *p, struct vmig_err *err)
{
	int r = target_groups(p, err);
	for (unsigned g = 0; g < p->ngroup && r >= 0; g++) {
		fresh_opts(p, &p->group[g]);
		if (p->group[g].fresh.oom)
			r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	}
	return r;
}

/* Do these devices fit on an empty GPU of model m? */
static bool kinds_fit(const struct vmig_model *m, const struct pl_kind *kinds, unsigned nk)
{
	struct vmig_gpu_state empty;
	memset(&empty, 0, sizeof(empty));
	empty.model = m;
	empty.mig_current = empty.mig_pending = 1;
	struct pl *t = calloc(1, sizeof(*t));
	if (!t)
		return false;
	t->m = m;
	t->cur = &empty;
	for (unsigned k = 0; k < nk; k++)
		if (kinds[k].want)
			t->kind[t->nkind++] = kinds[k];
	bool ok = pl_prepare_target(t, NULL) == 0;
	if (ok)
		search(t);
	ok = ok && t->best.found;
	pl_done(t);
	free(t);
	return ok;
}

/* mig-parted's order: larger GIs first, then larger CIs. */
static int kind_order(const void *a, const void *b)
{
	const struct pl_kind *x = a, *y = b;
	if (x->gp->slices != y->gp->slices)
		return x->gp->slices < y->gp->slices ? 1 : -1;
	if (x->cp->slices != y->cp->slices)
		return x->cp->slices < y->cp->slices ? 1 : -1;
	return (x->gp->id > y->gp->id) - (x->gp->id < y->gp->id);
}

/*
 * The target does not fit even on an empty GPU: say which devices are too
 * many, by taking them one at a time, largest first, while they still fit.
 */
static int explain_too_big(const struct pl *p, struct vmig_err *err)
{
	struct pl_kind all[PL_MAX_KINDS], trial[PL_MAX_KINDS];
	unsigned nk = p->nkind;
	memcpy(all, p->kind, nk * sizeof(all[0]));
	qsort(all, nk, sizeof(all[0]), kind_order);
	char list[300] = "";
	size_t n = 0;
	for (unsigned k = 0; k < nk; k++) {
		trial[k] = all[k];
		unsigned fit = 0;
		for (trial[k].want = 1; trial[k].want <= all[k].want; trial[k].want++) {
			if (!kinds_fit(p->m, trial, k + 1))
				break;
			fit = trial[k].want;
		}
		trial[k].want = fit;
		if (fit < all[k].want && n < sizeof(list)) {
			char name[64];
			int w = snprintf(list + n, sizeof(list) - n, "%s%u of %u %s", n ? ", " : "",
					 all[k].want - fit, all[k].want,
					 ci_name(all[k].gp, all[k].cp, name, sizeof(name)));
			n = w > 0 ? n + (size_t)w : n;
		}
	}
	return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
			    "GPU %u: the layout does not fit on a %s even with nothing on it: %s "
			    "cannot be placed beside the rest",
			    p->gpu, p->m->key, list);
}

/* Name up to a few instances of a mask, for messages. */
static void name_gis(const struct pl *p, uint32_t mask, bool with_pid, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned e = 0; e < p->nexist && n < size; e++) {
		if (!(mask & (1u << e)))
			continue;
		const struct vmig_gi_state *gi = p->ex[e].gi;
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->m, gi->profile_id);
		int w = with_pid ? snprintf(buf + n, size - n,
					    "%sGPU instance %u (%s at %u:%u, "
					    "process %d)",
					    n ? ", " : "", gi->id, gp ? gp->name : "?", gi->start,
					    gi->size, (int)p->ex[e].pid)
				 : snprintf(buf + n, size - n, "%sGPU instance %u (%s at %u:%u)",
					    n ? ", " : "", gi->id, gp ? gp->name : "?", gi->start,
					    gi->size);
		n = w > 0 ? n + (size_t)w : n;
	}
}

/* No layout keeps the busy instances: say whether they or the target itself is why. */
static int explain_none(struct pl *p, struct vmig_err *err)
{
	uint32_t busy = 0;
	for (unsigned e = 0; e < p->nexist; e++)
		if (p->ex[e].busy)
			busy |= 1u << e;
	if (!kinds_fit(p->m, p->kind, p->nkind))
		return explain_too_big(p, err);
	char names[400];
	name_gis(p, busy, true, names, sizeof(names));
	return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
			    "GPU %u: the layout fits on an empty %s, but not beside the busy "
			    "instances, which are never destroyed: %s",
			    p->gpu, p->m->key, names);
}

/*
 * Without FORCE every CI the target still wants must stay; when the best
 * layout moves some, name the GIs that would go.
 */
static int explain_moves(const struct pl *p, struct vmig_err *err)
{
	uint32_t moved = 0;
	for (unsigned e = 0; e < p->nexist; e++) {
		const struct pl_exist *x = &p->ex[e];
		bool stays = p->best.keep & (1u << e);
		unsigned mask = stays ? x->opts.v[p->best.opt_exist[e]].mask : 0;
		const struct pl_group *grp = x->group >= 0 ? &p->group[x->group] : NULL;
		for (unsigned c = 0; grp && c < x->gi->nci; c++)
			if (!(mask & (1u << c)) &&
			    kind_in_group(p, grp, x->gi->ci[c].profile_id) >= 0)
				moved |= 1u << e;
	}
	char names[400];
	name_gis(p, moved, false, names, sizeof(names));
	return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
			    "GPU %u: the layout fits only if idle instances that it keeps are "
			    "destroyed and made again elsewhere: %s (force allows it)",
			    p->gpu, names);
}

/* ------------------------------------------------------------------------ */
/* One GPU: mode changes, then the instances                                */
/* ------------------------------------------------------------------------ */

/* The instance steps on g (MIG on), appended to out; g becomes the final record. */
static int plan_instances(struct pl *p, struct vmig_gpu_state *g, const struct vmig_proc *procs,
			  size_t nproc, unsigned *ret_kept, struct pl_steps *out,
			  struct vmig_err *err)
{
	p->cur = g;
	p->nexist = g->ngi;
	for (unsigned e = 0; e < g->ngi; e++)
		p->ex[e] =
		    (struct pl_exist){.gi = &g->gi[e], .group = group_of(p, g->gi[e].profile_id)};
	mark_busy(p, procs, nproc);
	int r = check_busy(p, err);
	if (r < 0)
		return r;
	/* What could stay at best: per kind, what exists and is wanted. */
	unsigned have[PL_MAX_KINDS] = {0};
	for (unsigned e = 0; e < p->nexist; e++) {
		struct pl_exist *x = &p->ex[e];
		if (x->group < 0)
			continue;
		exist_opts(p, x);
		if (x->opts.oom)
			return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		for (unsigned c = 0; c < x->gi->nci; c++) {
			int j = kind_in_group(p, &p->group[x->group], x->gi->ci[c].profile_id);
			if (j >= 0)
				have[p->group[x->group].kind[j]]++;
		}
	}
	p->sum_keepable = 0;
	for (unsigned k = 0; k < p->nkind; k++)
		p->sum_keepable += have[k] < p->kind[k].want ? have[k] : p->kind[k].want;
	p->honour_busy = true;
	search(p);
	if (!p->best.found)
		return explain_none(p, err);
	if (!(p->flags & VMIG_LAYOUT_FORCE) && p->best.kept_ci < p->sum_keepable)
		return explain_moves(p, err);
	*ret_kept = p->best.kept_ci + p->best.kept_gi;
	struct vmig_gpu_state *fin = malloc(sizeof(*fin));
	if (!fin)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	*fin = *g;
	r = best_steps(p, fin, out, err);
	if (r >= 0)
		*g = *fin;
	free(fin);
	return r;
}

static int mode_step(struct pl_steps *out, enum vmig_step_kind kind, unsigned gpu, unsigned mode,
		     struct vmig_err *err)
{
	struct vmig_step s = {.kind = kind, .gpu = gpu, .mode = mode};
	return step_put(out, &s, err);
}

/* Every instance goes (MIG off): IN_USE for a busy one. */
static int plan_clear(struct pl *p, struct vmig_gpu_state *g, const struct vmig_proc *procs,
		      size_t nproc, struct pl_steps *out, struct vmig_err *err)
{
	p->nkind = 0;
	p->ngroup = 0;
	unsigned kept = 0;
	return plan_instances(p, g, procs, nproc, &kept, out, err);
}

/*
 * Mode changes around the instance steps.  Turning MIG off destroys every
 * instance first; a mode change that stays pending until a reset (Ampere,
 * outside software partitions) is followed by a reset of this GPU alone,
 * unless SKIP_RESET leaves it pending (and the instances unplanned).
 */
static int plan_mode(struct pl *p, struct vmig_gpu_state *g, const struct vmig_layout_gpu *want,
		     const struct vmig_proc *procs, size_t nproc, bool *ret_go_on,
		     unsigned *ret_pending, struct pl_steps *out, struct vmig_err *err)
{
	bool needs_reset =
	    (g->model->flags & VMIG_MF_MODE_NEEDS_RESET) && !(g->flags & VMIG_GPU_SOFT);
	bool skip = p->flags & VMIG_LAYOUT_SKIP_RESET;
	int r = 0;
	*ret_go_on = false;
	if (want->mig_mode == 0) {
		if (g->mig_current && (r = plan_clear(p, g, procs, nproc, out, err)) < 0)
			return r;
		if (g->mig_current || g->mig_pending) {
			if ((r = mode_step(out, VMIG_STEP_MODE, p->gpu, 0, err)) < 0)
				return r;
			g->mig_pending = 0;
			if (!needs_reset || !g->mig_current)
				g->mig_current = 0;
		}
		if (g->mig_current && skip)
			(*ret_pending)++;
		else if (g->mig_current) {
			r = mode_step(out, VMIG_STEP_RESET, p->gpu, 0, err);
			g->mig_current = 0;
		}
		return r;
	}
	if (!g->mig_current) {
		if (!g->mig_pending && (r = mode_step(out, VMIG_STEP_MODE, p->gpu, 1, err)) < 0)
			return r;
		g->mig_pending = 1;
		g->ngi = 0;
		if (needs_reset && skip) {
			(*ret_pending)++;
			return 0;
		}
		if (needs_reset && (r = mode_step(out, VMIG_STEP_RESET, p->gpu, 0, err)) < 0)
			return r;
		g->mig_current = 1;
	} else if (!g->mig_pending) {
		/* A pending disable is taken back. */
		if ((r = mode_step(out, VMIG_STEP_MODE, p->gpu, 1, err)) < 0)
			return r;
		g->mig_pending = 1;
	}
	*ret_go_on = !(p->flags & VMIG_LAYOUT_MODE_ONLY);
	return 0;
}

static int want_check(const struct vmig_gpu_state *cur, const struct vmig_layout_gpu *want,
		      struct vmig_err *err)
{
	if (!cur || !cur->model || !want)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (want->mig_mode > 1)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "GPU %u: MIG mode must be 0 or 1",
				    want->gpu);
	if (want->ndev > VMIG_LAYOUT_MAX_DEVS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "GPU %u: more than %d kinds of device", want->gpu,
				    VMIG_LAYOUT_MAX_DEVS);
	if (want->mig_mode == 0 && want->ndev)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "GPU %u: MIG devices are wanted with MIG mode disabled",
				    want->gpu);
	if (want->mig_mode && !(cur->model->flags & VMIG_MF_MIG))
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, "GPU %u: a %s has no MIG mode",
				    want->gpu, cur->model->key);
	return 0;
}

static void count_plan(const struct vmig_step *v, size_t n, struct vmig_plan *plan)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].kind == VMIG_STEP_DESTROY_CI || v[i].kind == VMIG_STEP_DESTROY_GI)
			plan->destroyed++;
		if (v[i].kind == VMIG_STEP_CREATE_CI || v[i].kind == VMIG_STEP_CREATE_GI)
			plan->created++;
	}
}

int vmig_plan_gpu(const struct vmig_gpu_state *cur, const struct vmig_proc *procs, size_t nproc,
		  const struct vmig_layout_gpu *want, unsigned flags, struct vmig_plan *plan,
		  struct vmig_gpu_state *ret_final, struct vmig_err *err)
{
	int r = want_check(cur, want, err);
	if (r < 0 || !plan)
		return r < 0 ? r : vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	struct pl *p = calloc(1, sizeof(*p));
	struct vmig_gpu_state *g = malloc(sizeof(*g));
	struct pl_steps out = {0};
	unsigned kept = 0, pending = 0;
	bool go_on = false;
	if (!p || !g) {
		r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		goto done;
	}
	*g = *cur;
	p->m = cur->model;
	p->gpu = want->gpu;
	p->flags = flags;
	if (!(cur->model->flags & VMIG_MF_MIG))
		goto finish; /* MIG off is wanted (want_check): nothing to do */
	for (unsigned d = 0; d < want->ndev && r >= 0; d++)
		r = target_add(p, &want->dev[d], err);
	if (r >= 0)
		r = pl_prepare_target(p, err);
	/* A target that can never fit is refused before anything is planned. */
	if (r >= 0 && want->mig_mode && !kinds_fit(p->m, p->kind, p->nkind))
		r = explain_too_big(p, err);
	if (r >= 0) {
		struct pl_kind saved[PL_MAX_KINDS];
		struct pl_group saved_groups[PL_MAX_GROUPS];
		unsigned nk = p->nkind, ng = p->ngroup;
		memcpy(saved, p->kind, sizeof(saved));
		memcpy(saved_groups, p->group, sizeof(saved_groups));
		r = plan_mode(p, g, want, procs, nproc, &go_on, &pending, &out, err);
		/* plan_clear empties the target; the prepared one comes back. */
		memcpy(p->kind, saved, sizeof(saved));
		memcpy(p->group, saved_groups, sizeof(saved_groups));
		p->nkind = nk;
		p->ngroup = ng;
		for (unsigned e = 0; e < p->nexist; e++)
			opts_free(&p->ex[e].opts);
		p->nexist = 0;
	}
	if (r >= 0 && go_on)
		r = plan_instances(p, g, procs, nproc, &kept, &out, err);
finish:
	if (r >= 0) {
		size_t total = plan->nstep + out.n;
		struct vmig_step *v = out.n ? realloc(plan->step, total * sizeof(*v)) : plan->step;
		if (out.n && !v) {
			r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
			goto done;
		}
		if (out.n)
			memcpy(v + plan->nstep, out.v, out.n * sizeof(*v));
		plan->step = v;
		plan->nstep = total;
		plan->kept += kept;
		plan->pending += pending;
		count_plan(out.v, out.n, plan);
		if (ret_final)
			*ret_final = *g;
	}
done:
	if (p)
		pl_done(p);
	free(p);
	free(g);
	free(out.v);
	return r;
}
