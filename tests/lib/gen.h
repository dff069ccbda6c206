/*
 * gen.h — builds random valid states without the placement engine, for the
 * state-store tests (unit tests, crash test, fuzz seeds).  A GPU gets MIG
 * enabled and a random set of GIs and CIs placed at allowed starts without
 * overlap and within the profiles' instance counts; a GI's ID is the one its
 * placement has under the GPU's (random) GI numbering, CI IDs count up from
 * 0, and both stay sorted.  Everything comes from one 64-bit
 * seed, so a state can be rebuilt from its seed to compare with.
 */
#ifndef VMIG_TESTS_STATE_GEN_H
#define VMIG_TESTS_STATE_GEN_H

#include <stdio.h>
#include <string.h>

#include "vmig/vmig.h"

static inline uint64_t gen_next(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline unsigned gen_below(uint64_t *x, unsigned n)
{
	return n ? (unsigned)(gen_next(x) % n) : 0;
}

static inline void gen_cis(struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			   uint64_t *rng)
{
	unsigned count[VMIG_MAX_CI_PROFILES] = {0};
	uint32_t taken = 0;
	unsigned tries = gen_below(rng, 6), slices = 0;
	for (unsigned t = 0; t < tries && gi->nci < VMIG_MAX_CIS && gp->nci; t++) {
		unsigned k = gen_below(rng, gp->nci);
		const struct vmig_ci_profile *cp = &gp->ci[k];
		unsigned start = cp->starts[gen_below(rng, cp->nstarts)];
		/* Placements are vmig_ci_placement_size wide; the slices are a budget. */
		unsigned w = vmig_ci_placement_size(cp);
		uint32_t mask = ((1u << w) - 1) << start;
		if ((taken & mask) || count[k] >= cp->instances || start + w > vmig_ci_units(gp) ||
		    slices + cp->slices > gp->slices)
			continue;
		taken |= mask;
		slices += cp->slices;
		count[k]++;
		unsigned id =
		    gi->nci ? gi->ci[gi->nci - 1].id + 1 + gen_below(rng, 2) : gen_below(rng, 2);
		gi->ci[gi->nci] = (struct vmig_ci_state){.id = (uint8_t)id,
							 .profile_id = (uint8_t)cp->id,
							 .start = (uint8_t)start,
							 .size = (uint8_t)w};
		gi->nci++;
	}
}

static inline void gen_gis(struct vmig_gpu_state *g, uint64_t *rng)
{
	const struct vmig_model *m = g->model;
	unsigned count[VMIG_MAX_GI_PROFILES] = {0};
	uint32_t taken = 0;
	if (!(m->flags & VMIG_MF_MIG) || m->ngi == 0)
		return;
	g->mig_current = g->mig_pending = 1;
	g->gi_numbering = gen_below(rng, 2); /* heap or swapped */
	unsigned tries = gen_below(rng, 12);
	for (unsigned t = 0; t < tries && g->ngi < VMIG_MAX_GIS; t++) {
		unsigned k = gen_below(rng, m->ngi);
		const struct vmig_gi_profile *gp = &m->gi[k];
		unsigned start = gp->starts[gen_below(rng, gp->nstarts)];
		uint32_t mask = ((1u << gp->size) - 1) << start;
		if ((taken & mask) || count[k] >= gp->instances || start + gp->size > m->units)
			continue;
		taken |= mask;
		count[k]++;
		/* The GI's ID follows from its placement; gi[] stays sorted by ID. */
		unsigned id = vmig_gi_id_for(m, g->gi_numbering, start, gp->size);
		unsigned pos = g->ngi;
		while (pos > 0 && g->gi[pos - 1].id > id) {
			g->gi[pos] = g->gi[pos - 1];
			pos--;
		}
		struct vmig_gi_state *gi = &g->gi[pos];
		memset(gi, 0, sizeof(*gi));
		gi->id = id;
		gi->profile_id = gp->id;
		gi->start = start;
		gi->size = gp->size;
		gi->share_pct = gen_below(rng, 4) == 0 ? gen_below(rng, 101) : 0;
		/* Owners from the placement, not the generator, so every seed's sequence stays. */
		gi->owned = id % 3 != 0;
		gi->owner_uid = gi->owned ? 1000u * id + start : 0;
		gi->owner_gid = gi->owned ? (id % 2 ? 4294967294u : start) : 0;
		g->ngi++;
		gen_cis(gi, gp, rng);
	}
}

/*
 * A random valid state of ngpu GPUs of random catalogue models with fixed
 * identities (so that two seeds differ only in their instances and serials).
 */
static inline void gen_state(struct vmig_state *st, uint64_t seed, unsigned ngpu)
{
	uint64_t rng = seed;
	memset(st, 0, sizeof(*st));
	st->generation = gen_next(&rng) % 1000;
	for (unsigned i = 0; i < ngpu && i < VMIG_MAX_GPUS; i++) {
		struct vmig_gpu_state *g = &st->gpu[i];
		g->model = vmig_model_at(gen_below(&rng, (unsigned)vmig_model_count()));
		snprintf(g->uuid, sizeof(g->uuid), "GPU-%08x-0000-4000-8000-%012llx", i,
			 (unsigned long long)(seed & 0xffffffffffffull));
		snprintf(g->serial, sizeof(g->serial), "1%03u%09llu", i,
			 (unsigned long long)(seed % 1000000000ull));
		g->pci_domain = i / 8;
		g->pci_bus = 0x10 + i;
		g->minor = i;
		g->flags = gen_below(&rng, 3) ? VMIG_GPU_SIMULATED : VMIG_GPU_SOFT;
		if (gen_below(&rng, 4))
			gen_gis(g, &rng);
		else if ((unsigned)gen_below(&rng, 2) &&
			 ((g->model->flags & VMIG_MF_MIG) || (g->flags & VMIG_GPU_SOFT)))
			g->mig_pending =
			    1; /* only models with MIG, or soft partitions, have a mode */
		st->ngpu++;
	}
}

#endif
