/*
 * placement.c — the placement engine: pure functions over one GPU's geometry
 * (its catalogue model) and what is taken on it, with no I/O.
 *
 * It is divided into four parts: geometry helpers (unit masks, the block tree
 * of a model and its heap numbering), GPU instances (what is free, how many
 * more fit, where the driver puts a new one), compute instances (the same
 * inside one GI, in compute slices), and the mutations of a struct
 * vmig_gpu_state that create and destroy instances as the driver does.
 * docs/placement.md states the rules and the evidence behind each of them.
 */
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Geometry helpers                                                          */
/* ------------------------------------------------------------------------ */

/* Bits start .. start+size-1; empty when the span leaves the 32-bit mask. */
static uint32_t span_mask(unsigned start, unsigned size)
{
	if (size == 0 || start >= 32 || size > 32 - start)
		return 0;
	uint32_t bits = size == 32 ? 0xffffffffu : ((1u << size) - 1u);
	return bits << start;
}

static unsigned popcount32(uint32_t x)
{
	return (unsigned)__builtin_popcount(x);
}

static uint32_t model_units_mask(const struct vmig_model *m)
{
	unsigned units = m->units <= VMIG_MAX_UNITS ? m->units : VMIG_MAX_UNITS;
	return span_mask(0, units);
}

/*
 * The leaf of the block tree, in placement units: the smallest placement
 * size of any profile (1 on 8- and 4-unit GPUs, 3 on the 12-unit RTX PRO
 * grid, where one memory slice is three units).
 */
static unsigned model_leaf(const struct vmig_model *m)
{
	unsigned leaf = m->units ? m->units : 1;
	for (unsigned i = 0; i < m->ngi; i++)
		if (m->gi[i].size && m->gi[i].size < leaf)
			leaf = m->gi[i].size;
	return leaf;
}

/* True when n is a power of two (n > 0). */
static bool pow2(unsigned n)
{
	return n && !(n & (n - 1));
}

const char *vmig_gi_numbering_name(unsigned numbering)
{
	switch (numbering) {
	case VMIG_GI_NUMBERING_HEAP:
		return "heap";
	case VMIG_GI_NUMBERING_SWAPPED:
		return "swapped";
	default:
		return NULL;
	}
}

int vmig_gi_numbering_parse(const char *name, unsigned *ret_numbering)
{
	for (unsigned n = VMIG_GI_NUMBERING_HEAP; name && n <= VMIG_GI_NUMBERING_SWAPPED; n++)
		if (strcmp(name, vmig_gi_numbering_name(n)) == 0) {
			if (ret_numbering)
				*ret_numbering = n;
			return 0;
		}
	return -VMIG_E_INVALID_ARGUMENT;
}

unsigned vmig_gi_id_for(const struct vmig_model *m, unsigned numbering, unsigned start,
			unsigned size)
{
	unsigned leaf = model_leaf(m);
	unsigned leaves = m->units / leaf;

	if (size == 0 || !pow2(leaves))
		return start;
	/*
	 * Round the placement up to the aligned block of the tree that holds it:
	 * block sizes are leaf * 2^k.  The heap index of a block of b leaves at
	 * leaf position p is (leaves / b - 1) + p / b.
	 */
	unsigned b = 1;
	while (b < leaves &&
	       (b * leaf < size || (start / leaf) / b != (start + size - 1) / leaf / b))
		b *= 2;
	unsigned p = start / leaf;
	/*
	 * Swapped numbering: a block within one half takes the ID of the block
	 * at the same place in the other half (leaf position XOR half); the
	 * whole GPU has no other half and stays 0.
	 */
	if (numbering == VMIG_GI_NUMBERING_SWAPPED && b < leaves)
		p ^= leaves / 2;
	return (leaves / b - 1) + p / b;
}

uint32_t vmig_gpu_occupied(const struct vmig_gpu_state *g)
{
	uint32_t occ = 0;
	for (unsigned i = 0; i < g->ngi && i < VMIG_MAX_GIS; i++)
		occ |= span_mask(g->gi[i].start, g->gi[i].size);
	return occ;
}

/* ------------------------------------------------------------------------ */
/* GPU instances                                                             */
/* ------------------------------------------------------------------------ */

/* Why a profile cannot be created now whatever the placement (0 = it can). */
enum gi_gate {
	GATE_OK = 0,
	GATE_COUNT,	     /* the profile's instance count is reached */
	GATE_ME_ALL_PRESENT, /* a "+me.all" GI holds every media engine */
	GATE_ME_IN_USE,	     /* "+me.all" wanted, but another GI holds media engines */
	GATE_TOO_MANY,	     /* the state has no room for another GI record */
};

static unsigned gi_count_of(const struct vmig_gpu_state *g, unsigned profile_id)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->ngi; i++)
		n += g->gi[i].profile_id == profile_id;
	return n;
}

/*
 * Media-engine exclusivity (docs/placement.md, section 3): a "+me.all" GI
 * takes every media engine, so while one exists only "-me" profiles can be
 * created, and a "+me.all" GI can only be created while every existing GI
 * is "-me".  A GI whose profile the model does not know is assumed to hold
 * media engines.
 */
static enum gi_gate gi_gate(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp)
{
	if (g->ngi >= VMIG_MAX_GIS)
		return GATE_TOO_MANY;
	if (gi_count_of(g, gp->id) >= gp->instances)
		return GATE_COUNT;
	for (unsigned i = 0; i < g->ngi; i++) {
		const struct vmig_gi_profile *other =
		    vmig_gi_profile_by_id(g->model, g->gi[i].profile_id);
		unsigned of = other ? other->flags : 0;
		if ((of & VMIG_PF_ME_ALL) && !(gp->flags & VMIG_PF_NO_ME))
			return GATE_ME_ALL_PRESENT;
		if ((gp->flags & VMIG_PF_ME_ALL) && !(of & VMIG_PF_NO_ME))
			return GATE_ME_IN_USE;
	}
	return GATE_OK;
}

static const char *gate_text(enum gi_gate gate)
{
	switch (gate) {
	case GATE_COUNT:
		return "the profile's instance count is reached";
	case GATE_ME_ALL_PRESENT:
		return "a +me.all GPU instance holds all media engines";
	case GATE_ME_IN_USE:
		return "other GPU instances hold media engines";
	case GATE_TOO_MANY:
		return "too many GPU instances";
	case GATE_OK:
		break;
	}
	return "";
}

/*
 * The units that count as taken when scoring a placement of gp (beyond what
 * is really taken): units that no placement of gp can cover, and units with
 * no compute slice behind them (memory slice 7 of an 8-slice GPU with 7
 * compute slices).  A block holding such units has less room for gp, so
 * best fit fills it first; docs/placement.md gives the evidence.
 */
static uint32_t gi_dead_units(const struct vmig_model *m, const struct vmig_gi_profile *gp)
{
	uint32_t reach = 0;
	for (unsigned i = 0; i < gp->nstarts && i < VMIG_MAX_STARTS; i++)
		reach |= span_mask(gp->starts[i], gp->size);
	uint32_t all = model_units_mask(m);
	uint32_t compute = span_mask(0, m->compute_slices * model_leaf(m)) & all;
	if (!compute)
		compute = all;
	return all & ~(reach & compute);
}

/*
 * Score of a free candidate placement: the occupancy (taken + dead units) of
 * each aligned block of the tree that encloses it, smallest block first, so
 * that comparing scores as integers compares the blocks in that order.
 * Five bits per level hold counts up to 31 units; a tree has at most five
 * levels of 16 units.
 */
static unsigned gi_score(const struct vmig_model *m, unsigned leaf, uint32_t busy, unsigned start,
			 unsigned size)
{
	unsigned leaves = m->units / leaf;
	unsigned score = 0;
	for (unsigned b = 1; b <= leaves; b *= 2) {
		unsigned bu = b * leaf;
		unsigned bstart = start / bu * bu;
		if (bu < size)
			continue; /* the same levels are skipped for every candidate */
		/* A block that does not hold the whole candidate scores nothing. */
		unsigned n =
		    bstart + bu < start + size ? 0 : popcount32(busy & span_mask(bstart, bu));
		score = (score << 5) | n;
	}
	return score;
}

/* Best-fit choice among the free placements of gp given the taken units. */
static int gi_pick(const struct vmig_model *m, const struct vmig_gi_profile *gp, uint32_t occ,
		   unsigned *ret_start)
{
	unsigned leaf = model_leaf(m);
	uint32_t busy = occ | gi_dead_units(m, gp);
	uint32_t all = model_units_mask(m);
	bool found = false;
	unsigned best = 0, best_score = 0;

	for (unsigned i = 0; i < gp->nstarts && i < VMIG_MAX_STARTS; i++) {
		unsigned s = gp->starts[i];
		uint32_t span = span_mask(s, gp->size);
		if (!span || (span & ~all) || (span & occ))
			continue;
		unsigned score = gi_score(m, leaf, busy, s, gp->size);
		if (!found || score > best_score || (score == best_score && s < best)) {
			found = true;
			best = s;
			best_score = score;
		}
	}
	if (!found)
		return -VMIG_E_INSUFFICIENT_RESOURCES;
	*ret_start = best;
	return 0;
}

int vmig_gi_choose(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp,
		   unsigned *ret_start)
{
	if (!g || !gp || !g->model)
		return -VMIG_E_INVALID_ARGUMENT;
	if (!g->mig_current)
		return -VMIG_E_NOT_SUPPORTED;
	if (gi_gate(g, gp) != GATE_OK)
		return -VMIG_E_INSUFFICIENT_RESOURCES;
	return gi_pick(g->model, gp, vmig_gpu_occupied(g), ret_start);
}

/* The lowest of the starts whose placement lies inside all and clear of occ. */
static bool lowest_free(const unsigned *starts, unsigned n, unsigned size, uint32_t occ,
			uint32_t all, unsigned *ret_start)
{
	bool found = false;
	unsigned first = 0;
	for (unsigned i = 0; i < n && i < VMIG_MAX_STARTS; i++) {
		uint32_t span = span_mask(starts[i], size);
		if (span && !(span & ~all) && !(span & occ) && (!found || starts[i] < first)) {
			found = true;
			first = starts[i];
		}
	}
	if (found)
		*ret_start = first;
	return found;
}

/*
 * The most placements of one size that can be taken together among the
 * free ones: interval scheduling, where taking the free placement that ends
 * first and repeating is optimal.
 */
static unsigned max_disjoint(const unsigned *starts, unsigned n, unsigned size, uint32_t occ,
			     uint32_t all)
{
	unsigned count = 0, first;
	while (lowest_free(starts, n, size, occ, all, &first)) {
		occ |= span_mask(first, size);
		count++;
	}
	return count;
}

unsigned vmig_gi_remaining(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp)
{
	if (!g || !gp || !g->model || !g->mig_current)
		return 0;
	enum gi_gate gate = gi_gate(g, gp);
	if (gate != GATE_OK)
		return 0;
	unsigned room = max_disjoint(gp->starts, gp->nstarts, gp->size, vmig_gpu_occupied(g),
				     model_units_mask(g->model));
	unsigned cap = gp->instances - gi_count_of(g, gp->id);
	if (cap > VMIG_MAX_GIS - g->ngi)
		cap = VMIG_MAX_GIS - g->ngi;
	/* A "+me.all" GI shuts out every profile but "-me", itself included. */
	if ((gp->flags & VMIG_PF_ME_ALL) && !(gp->flags & VMIG_PF_NO_ME) && cap > 1)
		cap = 1;
	return room < cap ? room : cap;
}

/* ------------------------------------------------------------------------ */
/* Compute instances                                                         */
/* ------------------------------------------------------------------------ */

/*
 * The possible starts of a CI profile inside a GI, in the GI's CI placement
 * units (docs/placement.md, section 6).  The catalogue gives them; where it
 * gives none, the placement-size-aligned starts that fit are used.
 */
static unsigned ci_starts(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			  unsigned out[VMIG_MAX_STARTS])
{
	unsigned n = 0, w = vmig_ci_placement_size(cp), units = vmig_ci_units(gp);
	if (cp->nstarts) {
		for (unsigned i = 0; i < cp->nstarts && i < VMIG_MAX_STARTS; i++)
			out[n++] = cp->starts[i];
		return n;
	}
	for (unsigned s = 0; w && s + w <= units && n < VMIG_MAX_STARTS; s += w)
		out[n++] = s;
	return n;
}

/* The GI's CI placement units as a mask. */
static uint32_t ci_space(const struct vmig_gi_profile *gp)
{
	return span_mask(0, vmig_ci_units(gp));
}

static uint32_t gi_ci_occupied(const struct vmig_gi_state *gi)
{
	uint32_t occ = 0;
	for (unsigned i = 0; i < gi->nci && i < VMIG_MAX_CIS; i++)
		occ |= span_mask(gi->ci[i].start, gi->ci[i].size);
	return occ;
}

/*
 * Compute slices the GI's CIs hold.  Where the CI space is wider than the
 * slices (a Hopper 3g GI: 4 units, 3 slices), placements that do not
 * overlap can still ask for more slices than the GI has, so the slices are
 * a budget of their own.  A CI whose profile the GI lacks counts its size.
 */
static unsigned ci_slices_used(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp)
{
	unsigned used = 0;
	for (unsigned i = 0; i < gi->nci && i < VMIG_MAX_CIS; i++) {
		const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, gi->ci[i].profile_id);
		used += cp ? cp->slices : gi->ci[i].size;
	}
	return used;
}

/* How many more CIs of cp the GI's free compute slices allow. */
static unsigned ci_budget(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			  const struct vmig_ci_profile *cp)
{
	unsigned used = ci_slices_used(gi, gp);
	if (!cp->slices || used >= gp->slices)
		return 0;
	return (gp->slices - used) / cp->slices;
}

static unsigned ci_count_of(const struct vmig_gi_state *gi, unsigned profile_id)
{
	unsigned n = 0;
	for (unsigned i = 0; i < gi->nci; i++)
		n += gi->ci[i].profile_id == profile_id;
	return n;
}

/* How many more CIs of cp the instance counts allow (geometry aside). */
static unsigned ci_cap(const struct vmig_gi_state *gi, const struct vmig_ci_profile *cp)
{
	unsigned have = ci_count_of(gi, cp->id);
	unsigned cap = cp->instances > have ? cp->instances - have : 0;
	unsigned slots = gi->nci < VMIG_MAX_CIS ? VMIG_MAX_CIS - gi->nci : 0;
	return cap < slots ? cap : slots;
}

/*
 * Free = the most free starts that can be taken together, capped by the
 * instance count and by the free compute slices.  Every placement of one
 * profile has the same width and the same slices, so any k of the disjoint
 * free placements can be taken while k fits the slice budget: the minimum
 * of the three is exact.
 */
unsigned vmig_ci_remaining(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			   const struct vmig_ci_profile *cp)
{
	unsigned starts[VMIG_MAX_STARTS];
	if (!gi || !gp || !cp)
		return 0;
	unsigned n = ci_starts(gp, cp, starts);
	unsigned room =
	    max_disjoint(starts, n, vmig_ci_placement_size(cp), gi_ci_occupied(gi), ci_space(gp));
	unsigned cap = ci_cap(gi, cp), budget = ci_budget(gi, gp, cp);
	if (budget < cap)
		cap = budget;
	return room < cap ? room : cap;
}

/* CIs go to the lowest free start (docs/placement.md, "Compute instances"). */
int vmig_ci_choose(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
		   const struct vmig_ci_profile *cp, unsigned *ret_start)
{
	unsigned starts[VMIG_MAX_STARTS];
	if (!gi || !gp || !cp)
		return -VMIG_E_INVALID_ARGUMENT;
	if (ci_cap(gi, cp) == 0 || ci_budget(gi, gp, cp) == 0)
		return -VMIG_E_INSUFFICIENT_RESOURCES;
	unsigned n = ci_starts(gp, cp, starts);
	if (!lowest_free(starts, n, vmig_ci_placement_size(cp), gi_ci_occupied(gi), ci_space(gp),
			 ret_start))
		return -VMIG_E_INSUFFICIENT_RESOURCES;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Mutations                                                                 */
/* ------------------------------------------------------------------------ */

/* The lowest GI ID not in use (only when the heap ID is taken, which a
 * consistent state never causes). */
static unsigned gi_free_id(const struct vmig_gpu_state *g)
{
	for (unsigned id = 0;; id++) {
		bool used = false;
		for (unsigned i = 0; i < g->ngi && !used; i++)
			used = g->gi[i].id == id;
		if (!used)
			return id;
	}
}

/* Insert a GI record keeping gi[] sorted by id; the caller checked room. */
static void gi_insert(struct vmig_gpu_state *g, const struct vmig_gi_state *rec)
{
	unsigned pos = 0;
	while (pos < g->ngi && g->gi[pos].id < rec->id)
		pos++;
	memmove(&g->gi[pos + 1], &g->gi[pos], (g->ngi - pos) * sizeof(g->gi[0]));
	g->gi[pos] = *rec;
	g->ngi++;
}

/* The GI whose placement overlaps a span, for messages; NULL if none. */
static const struct vmig_gi_state *gi_overlapping(const struct vmig_gpu_state *g, uint32_t span)
{
	for (unsigned i = 0; i < g->ngi; i++)
		if (span_mask(g->gi[i].start, g->gi[i].size) & span)
			return &g->gi[i];
	return NULL;
}

/* Check a start given by the caller; 0 when it can be used. */
static int gi_check_start(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp,
			  unsigned start, struct vmig_err *err)
{
	if (!vmig__starts_contain(gp->starts, gp->nstarts, start) ||
	    (span_mask(start, gp->size) & ~model_units_mask(g->model)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "creating GPU instance %s at placement %u:%u: %m "
				    "(not a possible placement of the profile)",
				    gp->name, start, gp->size);
	const struct vmig_gi_state *o = gi_overlapping(g, span_mask(start, gp->size));
	if (o)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating GPU instance %s at placement %u:%u: %m "
				    "(overlaps GPU instance %u at %u:%u)",
				    gp->name, start, gp->size, o->id, o->start, o->size);
	return 0;
}

int vmig_gpu_create_gi(struct vmig_gpu_state *g, const struct vmig_gi_profile *want,
		       const unsigned *start, unsigned *ret_gi_id, struct vmig_err *err)
{
	const char *name = want && want->name ? want->name : "?";
	if (!g || !want || !g->model)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "creating GPU instance %s: %m",
				    name);
	if (!g->mig_current)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "creating GPU instance %s: %m (MIG mode is disabled)", name);
	/* The model's own entry, so a profile of another model is never mixed in. */
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, want->id);
	if (!gp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "creating GPU instance %s: %m (%s has no profile ID %u)", name,
				    g->model->key, want->id);
	unsigned s = 0;
	if (start) {
		int rc = gi_check_start(g, gp, *start, err);
		if (rc < 0)
			return rc;
		s = *start;
	}
	enum gi_gate gate = gi_gate(g, gp);
	if (gate != GATE_OK)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating GPU instance %s: %m (%s)", gp->name, gate_text(gate));
	if (!start && gi_pick(g->model, gp, vmig_gpu_occupied(g), &s) < 0)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating GPU instance %s: %m (no free placement)", gp->name);

	struct vmig_gi_state rec = {.profile_id = gp->id, .start = s, .size = gp->size};
	rec.id = vmig_gi_id_for(g->model, g->gi_numbering, s, gp->size);
	if (vmig_gpu_find_gi(g, rec.id))
		rec.id = gi_free_id(g);
	gi_insert(g, &rec);
	if (ret_gi_id)
		*ret_gi_id = rec.id;
	return 0;
}

int vmig_gpu_destroy_gi(struct vmig_gpu_state *g, unsigned gi_id, struct vmig_err *err)
{
	if (!g)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!g->mig_current)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "destroying GPU instance %u: %m (MIG mode is disabled)", gi_id);
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, gi_id);
	if (!gi)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "destroying GPU instance %u: %m", gi_id);
	if (gi->nci)
		return vmig_err_set(
		    err, VMIG_E_IN_USE,
		    "destroying GPU instance %u: %m (it holds %u compute instance%s)", gi_id,
		    gi->nci, gi->nci == 1 ? "" : "s");
	unsigned pos = (unsigned)(gi - g->gi);
	memmove(&g->gi[pos], &g->gi[pos + 1], (g->ngi - pos - 1) * sizeof(g->gi[0]));
	g->ngi--;
	memset(&g->gi[g->ngi], 0, sizeof(g->gi[0]));
	return 0;
}

/* Resolve the GI and CI profile of a CI operation; 0 or a set error. */
static int ci_resolve(struct vmig_gpu_state *g, unsigned gi_id, const struct vmig_ci_profile *want,
		      struct vmig_gi_state **ret_gi, const struct vmig_gi_profile **ret_gp,
		      const struct vmig_ci_profile **ret_cp, struct vmig_err *err)
{
	if (!g || !g->model || !want)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!g->mig_current)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "creating a compute instance in GPU instance %u: %m "
				    "(MIG mode is disabled)",
				    gi_id);
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, gi_id);
	if (!gi)
		return vmig_err_set(err, VMIG_E_NOT_FOUND,
				    "creating a compute instance in GPU instance %u: %m", gi_id);
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, gi->profile_id);
	const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, want->id);
	if (!gp || !cp || cp->slices != want->slices)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "creating a compute instance in GPU instance %u: %m "
				    "(its profile has no compute instance profile ID %u)",
				    gi_id, want->id);
	*ret_gi = gi;
	*ret_gp = gp;
	*ret_cp = cp;
	return 0;
}

static unsigned ci_free_id(const struct vmig_gi_state *gi)
{
	unsigned id = 0;
	/* ci[] is sorted by id, so the first gap is the lowest free ID. */
	for (unsigned i = 0; i < gi->nci && gi->ci[i].id == id; i++)
		id++;
	return id;
}

static void ci_insert(struct vmig_gi_state *gi, const struct vmig_ci_state *rec)
{
	unsigned pos = 0;
	while (pos < gi->nci && gi->ci[pos].id < rec->id)
		pos++;
	memmove(&gi->ci[pos + 1], &gi->ci[pos], (gi->nci - pos) * sizeof(gi->ci[0]));
	gi->ci[pos] = *rec;
	gi->nci++;
}

/* Check a CI start given by the caller; 0 when it can be used. */
static int ci_check_start(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			  const struct vmig_ci_profile *cp, const char *name, unsigned start,
			  struct vmig_err *err)
{
	unsigned starts[VMIG_MAX_STARTS];
	unsigned n = ci_starts(gp, cp, starts), w = vmig_ci_placement_size(cp);
	uint32_t span = span_mask(start, w);
	if (!vmig__starts_contain(starts, n, start) || !span || (span & ~ci_space(gp)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "creating compute instance %s at placement %u:%u in GPU "
				    "instance %u: %m (not a possible placement of the profile)",
				    name, start, w, gi->id);
	if (span & gi_ci_occupied(gi))
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating compute instance %s at placement %u:%u in GPU "
				    "instance %u: %m (overlaps another compute instance)",
				    name, start, w, gi->id);
	if (ci_budget(gi, gp, cp) == 0)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating compute instance %s at placement %u:%u in GPU "
				    "instance %u: %m (the GPU instance has %u compute slices, "
				    "%u of them in use)",
				    name, start, w, gi->id, gp->slices, ci_slices_used(gi, gp));
	return 0;
}

int vmig_gpu_create_ci(struct vmig_gpu_state *g, unsigned gi_id, const struct vmig_ci_profile *want,
		       const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err)
{
	struct vmig_gi_state *gi = NULL;
	const struct vmig_gi_profile *gp = NULL;
	const struct vmig_ci_profile *cp = NULL;
	char name[64] = "?";

	int rc = ci_resolve(g, gi_id, want, &gi, &gp, &cp, err);
	if (rc < 0)
		return rc;
	/* The -lcip name, for messages: one too long for the buffer is cut short. */
	(void)vmig_ci_profile_name(gp, cp, name, sizeof(name));
	unsigned s = 0;
	if (start) {
		rc = ci_check_start(gi, gp, cp, name, *start, err);
		if (rc < 0)
			return rc;
		s = *start;
	}
	if (ci_cap(gi, cp) == 0 || ci_budget(gi, gp, cp) == 0 ||
	    (!start && vmig_ci_choose(gi, gp, cp, &s) < 0))
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "creating compute instance %s in GPU instance %u: %m", name,
				    gi_id);
	/* Every value is below 16 (a GI has at most 16 CI units and 8 CIs). */
	struct vmig_ci_state rec = {.id = (uint8_t)ci_free_id(gi),
				    .profile_id = (uint8_t)cp->id,
				    .start = (uint8_t)s,
				    .size = (uint8_t)vmig_ci_placement_size(cp)};
	ci_insert(gi, &rec);
	if (ret_ci_id)
		*ret_ci_id = rec.id;
	return 0;
}

int vmig_gpu_destroy_ci(struct vmig_gpu_state *g, unsigned gi_id, unsigned ci_id,
			struct vmig_err *err)
{
	if (!g)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!g->mig_current)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "destroying compute instance %u in GPU instance %u: %m "
				    "(MIG mode is disabled)",
				    ci_id, gi_id);
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, gi_id);
	struct vmig_ci_state *ci = gi ? vmig_gi_find_ci(gi, ci_id) : NULL;
	if (!ci)
		return vmig_err_set(err, VMIG_E_NOT_FOUND,
				    "destroying compute instance %u in GPU instance %u: %m", ci_id,
				    gi_id);
	unsigned pos = (unsigned)(ci - gi->ci);
	memmove(&gi->ci[pos], &gi->ci[pos + 1], (gi->nci - pos - 1) * sizeof(gi->ci[0]));
	gi->nci--;
	memset(&gi->ci[gi->nci], 0, sizeof(gi->ci[0]));
	return 0;
}
