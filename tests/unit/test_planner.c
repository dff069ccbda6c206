/*
 * test_planner.c — the layout planner (lib/planner.c) on every MIG model of
 * the catalogue: hand-written cases (instances kept in place, CIs sharing a
 * GI, busy instances refused with their process, FORCE, the explanations,
 * mode changes, the equal split of `vmig -mig N`), then the property test:
 * random (current layout, busy set, target) triples, where every plan must
 * replay cleanly on the placement engine, never touch a busy instance, keep
 * every kept instance where it was, end exactly at the target, and where
 * the planner says no layout exists an exhaustive search of this file's own
 * (device by device, every start) must agree.
 *
 * VMIG_TEST_SEED replays a run; VMIG_TEST_ITERATIONS sets the triples per
 * model (default 1000).
 */
#include <stdint.h>

#include "harness.h"
#include "randseed.h"
#include "vmig/vmig.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return n ? (unsigned)(z % n) : 0;
}

static struct vmig_gpu_state gpu_of(const struct vmig_model *m)
{
	struct vmig_gpu_state g;
	memset(&g, 0, sizeof(g));
	g.model = m;
	g.mig_current = g.mig_pending = 1;
	return g;
}

static const struct vmig_gi_profile *gi_by_name(const struct vmig_model *m, const char *name)
{
	const struct vmig_gi_profile *gp = NULL;
	if (vmig_gi_profile_lookup(m, name, &gp) < 0) {
		fprintf(stderr, "  %s has no profile %s\n", m->key, name);
		exit(1);
	}
	return gp;
}

/* Create a GI by name (driver's placement) with n CIs of the CI profile named ci (NULL: default).
 */
static unsigned mk(struct vmig_gpu_state *g, const char *gi, const char *ci, unsigned n)
{
	const struct vmig_gi_profile *gp = gi_by_name(g->model, gi);
	const struct vmig_ci_profile *cp = vmig_ci_profile_default(gp);
	unsigned id = 0, cid;
	if (ci && vmig_ci_profile_lookup(gp, ci, &cp) < 0)
		exit(1);
	if (vmig_gpu_create_gi(g, gp, NULL, &id, NULL) < 0)
		HARNESS_FAIL("creating %s on %s", gi, g->model->key);
	for (unsigned i = 0; i < n; i++)
		if (vmig_gpu_create_ci(g, id, cp, NULL, &cid, NULL) < 0)
			HARNESS_FAIL("creating CI %s in %s", ci ? ci : "default", gi);
	return id;
}

static void want_add(struct vmig_layout_gpu *w, const struct vmig_model *m, const char *gi,
		     const char *ci, unsigned count)
{
	const struct vmig_gi_profile *gp = gi_by_name(m, gi);
	const struct vmig_ci_profile *cp = vmig_ci_profile_default(gp);
	if (ci && vmig_ci_profile_lookup(gp, ci, &cp) < 0)
		exit(1);
	w->mig_mode = 1;
	w->dev[w->ndev++] = (struct vmig_layout_dev){gp->id, cp->id, count};
}

/* Per (GI profile, CI profile) counts of a GPU record, for comparison with a target. */
static unsigned count_of(const struct vmig_gpu_state *g, unsigned gi_pid, unsigned ci_pid)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->ngi; i++)
		for (unsigned c = 0; c < g->gi[i].nci; c++)
			n += g->gi[i].profile_id == gi_pid && g->gi[i].ci[c].profile_id == ci_pid;
	return n;
}

static unsigned ci_total(const struct vmig_gpu_state *g)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->ngi; i++)
		n += g->gi[i].nci;
	return n;
}

/* Does g hold exactly the target (and no empty GI)? */
static bool at_target(const struct vmig_gpu_state *g, const struct vmig_layout_gpu *w)
{
	unsigned total = 0;
	for (unsigned d = 0; d < w->ndev; d++) {
		unsigned want = 0;
		for (unsigned e = 0; e < w->ndev; e++)
			if (w->dev[e].gi_profile_id == w->dev[d].gi_profile_id &&
			    w->dev[e].ci_profile_id == w->dev[d].ci_profile_id)
				want += w->dev[e].count;
		if (count_of(g, w->dev[d].gi_profile_id, w->dev[d].ci_profile_id) != want)
			return false;
		total += w->dev[d].count;
	}
	for (unsigned i = 0; i < g->ngi; i++)
		if (g->gi[i].nci == 0)
			return false;
	return ci_total(g) == total;
}

/* Replay a plan's steps on g with the placement engine; false on the first failure. */
static bool replay(struct vmig_gpu_state *g, const struct vmig_plan *p, struct vmig_err *e)
{
	for (size_t i = 0; i < p->nstep; i++) {
		const struct vmig_step *s = &p->step[i];
		const struct vmig_gi_profile *gp;
		struct vmig_gi_state *gi;
		unsigned id = 0;
		int r = 0;
		switch (s->kind) {
		case VMIG_STEP_DESTROY_CI:
			r = vmig_gpu_destroy_ci(g, s->gi_id, s->ci_id, e);
			break;
		case VMIG_STEP_DESTROY_GI:
			r = vmig_gpu_destroy_gi(g, s->gi_id, e);
			break;
		case VMIG_STEP_CREATE_GI:
			gp = vmig_gi_profile_by_id(g->model, s->profile_id);
			r = gp ? vmig_gpu_create_gi(g, gp, &s->start, &id, e) : -1;
			if (r >= 0 && id != s->gi_id)
				r = -1;
			break;
		case VMIG_STEP_CREATE_CI:
			gi = vmig_gpu_find_gi(g, s->gi_id);
			gp = gi ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
			r = gp && gp->id == s->gi_profile_id
				? vmig_gpu_create_ci(g, s->gi_id,
						     vmig_ci_profile_by_id(gp, s->profile_id),
						     &s->start, &id, e)
				: -1;
			break;
		case VMIG_STEP_MODE:
			g->mig_pending = s->mode;
			if (!(g->model->flags & VMIG_MF_MODE_NEEDS_RESET))
				g->mig_current = s->mode;
			break;
		case VMIG_STEP_RESET:
			g->mig_current = g->mig_pending;
			g->ngi = 0;
			break;
		}
		if (r < 0)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Hand-written cases                                                        */
/* ------------------------------------------------------------------------ */

TEST(keeps_what_is_wanted)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m), fin;
	unsigned a = mk(&g, "3g.40gb", NULL, 1);
	mk(&g, "1g.10gb", NULL, 1);
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "3g.40gb", NULL, 1);
	want_add(&w, m, "2g.20gb", NULL, 2);
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, &e), 0);
	CHECK(at_target(&fin, &w));
	/* The 3g GI and its CI stay; the 1g GI and its CI go; two GIs, two CIs are made. */
	CHECK_EQ_U(p.kept, 2);
	CHECK_EQ_U(p.destroyed, 2);
	CHECK_EQ_U(p.created, 4);
	CHECK(vmig_gpu_find_gi(&fin, a) &&
	      vmig_gpu_find_gi(&fin, a)->start == vmig_gpu_find_gi(&g, a)->start);
	struct vmig_gpu_state r = g;
	CHECK(replay(&r, &p, &e));
	CHECK(memcmp(&r, &fin, sizeof(r)) == 0);
	vmig_plan_free(&p);
}

TEST(cis_share_a_gi)
{
	const struct vmig_model *m = vmig_model_find("a100-40gb");
	struct vmig_gpu_state g = gpu_of(m), fin;
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "3g.20gb", "1c.3g.20gb", 3);
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, &e), 0);
	CHECK(at_target(&fin, &w));
	CHECK_EQ_U(fin.ngi, 1); /* one GI holds the three CIs, as mig-parted makes it */
	CHECK_EQ_U(p.created, 4);
	vmig_plan_free(&p);
}

TEST(nothing_to_do)
{
	const struct vmig_model *m = vmig_model_find("h200");
	struct vmig_gpu_state g = gpu_of(m), fin;
	mk(&g, "1g.18gb", NULL, 1);
	mk(&g, "1g.18gb", NULL, 1);
	mk(&g, "4g.71gb", NULL, 1);
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "4g.71gb", NULL, 1);
	want_add(&w, m, "1g.18gb", NULL, 2);
	struct vmig_plan p = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, NULL), 0);
	CHECK_EQ_U(p.nstep, 0);
	CHECK_EQ_U(p.kept, 6);
	vmig_plan_free(&p);
}

TEST(busy_instance_is_refused_with_its_process)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m);
	unsigned a = mk(&g, "3g.40gb", NULL, 1);
	struct vmig_proc pr = {.kind = VMIG_PROC_RUN, .pid = 4242, .gpu = 0, .gi = a, .ci = 0};
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "7g.80gb", NULL, 1);
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &w, VMIG_LAYOUT_FORCE, &p, NULL, &e), -VMIG_E_IN_USE);
	CHECK(strstr(e.msg, "process 4242") != NULL);
	CHECK(strstr(e.msg, "GPU instance 2") != NULL);
	CHECK_EQ_U(p.nstep, 0);
	/* Turning MIG off is refused the same way. */
	struct vmig_layout_gpu off = {.mig_mode = 0};
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &off, 0, &p, NULL, &e), -VMIG_E_IN_USE);
	/* A process on another GPU does not count. */
	pr.gpu = 1;
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &w, 0, &p, NULL, &e), 0);
	vmig_plan_free(&p);
}

TEST(busy_instance_in_the_way)
{
	/* A busy 1g in the middle of an H100 leaves no room for a 4g beside a 3g. */
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m);
	const struct vmig_gi_profile *one = gi_by_name(m, "1g.10gb");
	unsigned s = 2, id, cid;
	CHECK_EQ_I(vmig_gpu_create_gi(&g, one, &s, &id, NULL), 0);
	CHECK_EQ_I(vmig_gpu_create_ci(&g, id, vmig_ci_profile_default(one), NULL, &cid, NULL), 0);
	struct vmig_proc pr = {.kind = VMIG_PROC_RUN, .pid = 77, .gpu = 0, .gi = id, .ci = 0};
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "1g.10gb", NULL, 1);
	want_add(&w, m, "4g.40gb", NULL, 1);
	want_add(&w, m, "2g.20gb", NULL, 1);
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &w, VMIG_LAYOUT_FORCE, &p, NULL, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "busy") != NULL && strstr(e.msg, "process 77") != NULL);
	/* Idle, it may move (FORCE), and the layout fits. */
	struct vmig_gpu_state fin;
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, VMIG_LAYOUT_FORCE, &p, &fin, &e), 0);
	CHECK(at_target(&fin, &w));
	vmig_plan_free(&p);
	/* Without FORCE the idle 1g that the target keeps is not moved. */
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "force") != NULL);
	vmig_plan_free(&p);
}

TEST(too_big_names_what_does_not_fit)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m);
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "4g.40gb", NULL, 2);
	want_add(&w, m, "1g.10gb", NULL, 1);
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "1 of 2 4g.40gb") != NULL);
	CHECK_EQ_U(p.nstep, 0);
}

TEST(mode_changes)
{
	const struct vmig_model *m = vmig_model_find("a100-40gb");
	struct vmig_gpu_state g = gpu_of(m), fin;
	g.mig_current = g.mig_pending = 0;
	struct vmig_layout_gpu w = {0};
	want_add(&w, m, "7g.40gb", NULL, 1);
	struct vmig_plan p = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, NULL), 0);
	/* Ampere: mode, a reset of this GPU, then the instances. */
	CHECK_EQ_U(p.nstep, 4);
	CHECK_EQ_U(p.step[0].kind, VMIG_STEP_MODE);
	CHECK_EQ_U(p.step[1].kind, VMIG_STEP_RESET);
	CHECK(at_target(&fin, &w));
	vmig_plan_free(&p);
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, VMIG_LAYOUT_SKIP_RESET, &p, &fin, NULL), 0);
	CHECK_EQ_U(p.nstep, 1);
	CHECK_EQ_U(p.pending, 1);
	vmig_plan_free(&p);
	/* Soft partitions of an A100 need no reset. */
	g.flags = VMIG_GPU_SOFT;
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, NULL), 0);
	CHECK_EQ_U(p.nstep, 3);
	vmig_plan_free(&p);
	/* MIG off on a Hopper GPU: everything goes, then the mode. */
	const struct vmig_model *h = vmig_model_find("h100-80gb");
	struct vmig_gpu_state hg = gpu_of(h);
	mk(&hg, "3g.40gb", NULL, 1);
	struct vmig_layout_gpu off = {.mig_mode = 0};
	CHECK_EQ_I(vmig_plan_gpu(&hg, NULL, 0, &off, 0, &p, &fin, NULL), 0);
	CHECK_EQ_U(p.nstep, 3);
	CHECK_EQ_U(p.step[2].kind, VMIG_STEP_MODE);
	CHECK_EQ_U(fin.mig_current, 0);
	vmig_plan_free(&p);
}

TEST(bad_targets)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m);
	struct vmig_layout_gpu w = {.mig_mode = 1, .ndev = 1, .dev = {{999, 0, 1}}};
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	w.dev[0] = (struct vmig_layout_dev){19, 99, 1};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	w.dev[0] = (struct vmig_layout_dev){19, 0, 0};
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	w.mig_mode = 2;
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	struct vmig_gpu_state n = gpu_of(vmig_model_find("rtx-4090"));
	struct vmig_layout_gpu on = {.mig_mode = 1};
	CHECK_EQ_I(vmig_plan_gpu(&n, NULL, 0, &on, 0, &p, NULL, &e), -VMIG_E_NOT_SUPPORTED);
	w.dev[0] = (struct vmig_layout_dev){19, 0, 100000};
	w.mig_mode = 1;
	CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_U(p.nstep, 0);
}

/* The equal split: whole GPU, then the largest smallest GI, then the least spread. */
TEST(equal_split_every_model)
{
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		unsigned prev_min = ~0u;
		for (unsigned n = 2; n <= 8; n++) {
			struct vmig_layout_gpu w;
			struct vmig_err e = {0};
			int r = vmig_layout_equal_split(m, n, &w, &e);
			if (r < 0) {
				CHECK(n > m->compute_slices);
				continue;
			}
			CHECK(n <= m->compute_slices);
			unsigned slices = 0, lo = ~0u, gis = 0;
			for (unsigned d = 0; d < w.ndev; d++) {
				const struct vmig_gi_profile *gp =
				    vmig_gi_profile_by_id(m, w.dev[d].gi_profile_id);
				CHECK(gp && !(gp->flags & VMIG_PF_ATTRS));
				CHECK(w.dev[d].ci_profile_id == vmig_ci_profile_default(gp)->id);
				slices += gp->slices * w.dev[d].count;
				gis += w.dev[d].count;
				lo = gp->slices < lo ? gp->slices : lo;
			}
			CHECK_EQ_U(gis, n);
			/* Every compute slice is used whenever n GIs can use them all. */
			CHECK_EQ_U(slices, m->compute_slices);
			/* More GIs never make the smallest one larger. */
			CHECK(lo <= prev_min);
			prev_min = lo;
			struct vmig_gpu_state g = gpu_of(m), fin;
			struct vmig_plan p = {0};
			CHECK_EQ_I(vmig_plan_gpu(&g, NULL, 0, &w, 0, &p, &fin, &e), 0);
			CHECK(at_target(&fin, &w));
			vmig_plan_free(&p);
		}
	}
	/* The documented examples (docs/planner.md). */
	struct vmig_layout_gpu w;
	const struct vmig_model *h = vmig_model_find("h100-80gb");
	CHECK_EQ_I(vmig_layout_equal_split(h, 3, &w, NULL), 0);
	CHECK_EQ_U(w.ndev, 2);
	CHECK_EQ_U(w.dev[0].gi_profile_id, 14); /* 2g.20gb x2 */
	CHECK_EQ_U(w.dev[0].count, 2);
	CHECK_EQ_U(w.dev[1].gi_profile_id, 9); /* 3g.40gb */
	CHECK_EQ_I(vmig_layout_equal_split(h, 2, &w, NULL), 0);
	CHECK_EQ_U(w.ndev, 2);
	CHECK_EQ_I(vmig_layout_equal_split(h, 9, &w, NULL), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_layout_equal_split(h, 1, &w, NULL), -VMIG_E_INVALID_ARGUMENT);
}

/* -mig N through the planner: a busy instance the split can hold stays; one it cannot is named. */
TEST(split_keeps_busy_instances)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_gpu_state g = gpu_of(m), fin;
	const struct vmig_gi_profile *one = gi_by_name(m, "1g.10gb");
	unsigned s = 3, id, cid;
	CHECK_EQ_I(vmig_gpu_create_gi(&g, one, &s, &id, NULL), 0);
	CHECK_EQ_I(vmig_gpu_create_ci(&g, id, vmig_ci_profile_default(one), NULL, &cid, NULL), 0);
	mk(&g, "3g.40gb", NULL, 1);
	struct vmig_proc pr = {.kind = VMIG_PROC_RUN, .pid = 555, .gpu = 0, .gi = id, .ci = cid};
	struct vmig_layout_gpu w;
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_layout_equal_split(m, 7, &w, NULL), 0);
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &w, VMIG_LAYOUT_FORCE, &p, &fin, &e), 0);
	CHECK(at_target(&fin, &w));
	struct vmig_gi_state *kept = vmig_gpu_find_gi(&fin, id);
	CHECK(kept && kept->start == 3 && kept->nci == 1 && kept->ci[0].id == cid);
	vmig_plan_free(&p);
	CHECK_EQ_I(vmig_layout_equal_split(m, 2, &w, NULL), 0);
	CHECK_EQ_I(vmig_plan_gpu(&g, &pr, 1, &w, VMIG_LAYOUT_FORCE, &p, &fin, &e), -VMIG_E_IN_USE);
	CHECK(strstr(e.msg, "process 555") != NULL);
	CHECK_EQ_U(p.nstep, 0);
}

/* ------------------------------------------------------------------------ */
/* The exhaustive oracle                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Independent of the planner's search: put the wanted devices on the GPU
 * one at a time, each into any existing GI of its profile at any start, or
 * into a new GI at any start; states already seen are skipped (a set of
 * fingerprints of the canonical layout and what is left to place).
 */
#define SEEN_CAP (1u << 16)
struct oracle {
	const struct vmig_layout_gpu *w;
	unsigned left[VMIG_LAYOUT_MAX_DEVS];
	uint64_t *seen;
	unsigned nseen;
	bool overflow;
};

static uint64_t fp_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t fingerprint(const struct oracle *o, const struct vmig_gpu_state *g)
{
	/* GIs by start (unique), CIs by start within; order-free by sorting on start. */
	uint64_t h = 1469598103934665603ull;
	for (unsigned u = 0; u < VMIG_MAX_UNITS; u++)
		for (unsigned i = 0; i < g->ngi; i++) {
			if (g->gi[i].start != u)
				continue;
			h = fp_mix(h, g->gi[i].profile_id * 64u + u);
			for (unsigned s = 0; s < 16; s++)
				for (unsigned c = 0; c < g->gi[i].nci; c++)
					if (g->gi[i].ci[c].start == s)
						h = fp_mix(
						    h, 1000u + g->gi[i].ci[c].profile_id * 16u + s);
		}
	for (unsigned d = 0; d < o->w->ndev; d++)
		h = fp_mix(h, 5000u + o->left[d]);
	return h | 1;
}

static bool seen_add(struct oracle *o, uint64_t fp)
{
	unsigned i = (unsigned)(fp % SEEN_CAP);
	while (o->seen[i]) {
		if (o->seen[i] == fp)
			return false;
		i = (i + 1) % SEEN_CAP;
	}
	if (o->nseen + 1 >= SEEN_CAP / 2) {
		o->overflow = true;
		return false;
	}
	o->seen[i] = fp;
	o->nseen++;
	return true;
}

static bool oracle_rec(struct oracle *o, struct vmig_gpu_state *g)
{
	unsigned d = 0;
	while (d < o->w->ndev && !o->left[d])
		d++;
	if (d == o->w->ndev) {
		for (unsigned i = 0; i < g->ngi; i++)
			if (!g->gi[i].nci)
				return false;
		return true;
	}
	if (!seen_add(o, fingerprint(o, g)))
		return false;
	const struct vmig_gi_profile *gp =
	    vmig_gi_profile_by_id(g->model, o->w->dev[d].gi_profile_id);
	const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, o->w->dev[d].ci_profile_id);
	o->left[d]--;
	bool ok = false;
	for (unsigned i = 0; i < g->ngi && !ok; i++) {
		if (g->gi[i].profile_id != gp->id)
			continue;
		unsigned gid = g->gi[i].id;
		for (unsigned s = 0; s < gp->slices && !ok; s++) {
			unsigned cid;
			if (vmig_gpu_create_ci(g, gid, cp, &s, &cid, NULL) < 0)
				continue;
			ok = oracle_rec(o, g);
			vmig_gpu_destroy_ci(g, gid, cid, NULL);
		}
	}
	for (unsigned k = 0; k < gp->nstarts && !ok; k++) {
		unsigned st = gp->starts[k], gid, cid;
		if (vmig_gpu_create_gi(g, gp, &st, &gid, NULL) < 0)
			continue;
		for (unsigned s = 0; s < gp->slices && !ok; s++) {
			if (vmig_gpu_create_ci(g, gid, cp, &s, &cid, NULL) < 0)
				continue;
			ok = oracle_rec(o, g);
			vmig_gpu_destroy_ci(g, gid, cid, NULL);
		}
		vmig_gpu_destroy_gi(g, gid, NULL);
	}
	o->left[d]++;
	return ok;
}

/*
 * Does a layout exist that holds the target and keeps the busy CIs (and
 * their GIs) where they are?  Starts from the busy instances alone.
 */
static int oracle_exists(const struct vmig_gpu_state *cur, const bool busy[][VMIG_MAX_CIS],
			 const struct vmig_layout_gpu *w)
{
	struct oracle o = {.w = w};
	struct vmig_gpu_state g = *cur;
	g.ngi = 0;
	for (unsigned i = 0; i < cur->ngi; i++) {
		struct vmig_gi_state gi = cur->gi[i];
		gi.nci = 0;
		bool any = false;
		for (unsigned c = 0; c < cur->gi[i].nci; c++)
			if (busy[i][c]) {
				gi.ci[gi.nci++] = cur->gi[i].ci[c];
				any = true;
			}
		if (any)
			g.gi[g.ngi++] = gi;
	}
	for (unsigned d = 0; d < w->ndev; d++) {
		o.left[d] = w->dev[d].count;
		for (unsigned e = 0; e < d; e++)
			if (w->dev[e].gi_profile_id == w->dev[d].gi_profile_id &&
			    w->dev[e].ci_profile_id == w->dev[d].ci_profile_id)
				return -1; /* the generator never repeats a kind */
	}
	/* Busy CIs count toward the target; more busy than wanted: no layout. */
	for (unsigned i = 0; i < g.ngi; i++)
		for (unsigned c = 0; c < g.gi[i].nci; c++) {
			bool found = false;
			for (unsigned d = 0; d < w->ndev && !found; d++)
				if (w->dev[d].gi_profile_id == g.gi[i].profile_id &&
				    w->dev[d].ci_profile_id == g.gi[i].ci[c].profile_id &&
				    o.left[d]) {
					o.left[d]--;
					found = true;
				}
			if (!found)
				return 0;
		}
	o.seen = calloc(SEEN_CAP, sizeof(*o.seen));
	bool ok = oracle_rec(&o, &g);
	bool over = o.overflow;
	free(o.seen);
	return over ? -1 : ok;
}

/* ------------------------------------------------------------------------ */
/* Random triples                                                            */
/* ------------------------------------------------------------------------ */

/* A random layout made with the engine: GIs and CIs, automatic or explicit placements. */
static void random_layout(struct vmig_gpu_state *g, unsigned steps)
{
	const struct vmig_model *m = g->model;
	for (unsigned t = 0; t < steps; t++) {
		const struct vmig_gi_profile *gp = &m->gi[rnd(m->ngi)];
		unsigned id, cid;
		unsigned s = gp->nstarts ? gp->starts[rnd(gp->nstarts)] : 0;
		if (vmig_gpu_create_gi(g, gp, rnd(2) ? &s : NULL, &id, NULL) < 0)
			continue;
		unsigned nci = 1 + rnd(3);
		for (unsigned c = 0; c < nci; c++) {
			const struct vmig_ci_profile *cp = &gp->ci[rnd(gp->nci)];
			(void)vmig_gpu_create_ci(g, id, cp, NULL, &cid, NULL);
		}
	}
	/* An empty GI now and then, as a user may leave one. */
	for (unsigned i = 0; i < g->ngi; i++)
		if (g->gi[i].nci == 0 && rnd(3))
			vmig_gpu_destroy_gi(g, g->gi[i--].id, NULL);
}

static void target_of(const struct vmig_gpu_state *g, struct vmig_layout_gpu *w)
{
	memset(w, 0, sizeof(*w));
	w->mig_mode = 1;
	for (unsigned i = 0; i < g->ngi; i++)
		for (unsigned c = 0; c < g->gi[i].nci; c++) {
			unsigned d = 0;
			while (d < w->ndev &&
			       !(w->dev[d].gi_profile_id == g->gi[i].profile_id &&
				 w->dev[d].ci_profile_id == g->gi[i].ci[c].profile_id))
				d++;
			if (d == w->ndev)
				w->dev[w->ndev++] = (struct vmig_layout_dev){
				    g->gi[i].profile_id, g->gi[i].ci[c].profile_id, 0};
			w->dev[d].count++;
		}
}

static void random_target(const struct vmig_gpu_state *cur, struct vmig_layout_gpu *w)
{
	const struct vmig_model *m = cur->model;
	struct vmig_gpu_state g = gpu_of(m);
	switch (rnd(4)) {
	case 0: /* a layout that fits on an empty GPU */
		random_layout(&g, 1 + rnd(8));
		target_of(&g, w);
		break;
	case 1: /* the current one, one device more or less */
		target_of(cur, w);
		if (w->ndev && rnd(2)) {
			unsigned d = rnd(w->ndev);
			if (!--w->dev[d].count)
				w->dev[d] = w->dev[--w->ndev];
		} else if (w->ndev < VMIG_LAYOUT_MAX_DEVS) {
			const struct vmig_gi_profile *gp = &m->gi[rnd(m->ngi)];
			const struct vmig_ci_profile *cp = &gp->ci[rnd(gp->nci)];
			unsigned d = 0;
			while (d < w->ndev && !(w->dev[d].gi_profile_id == gp->id &&
						w->dev[d].ci_profile_id == cp->id))
				d++;
			if (d == w->ndev)
				w->dev[w->ndev++] = (struct vmig_layout_dev){gp->id, cp->id, 0};
			w->dev[d].count++;
		}
		break;
	default: /* random counts, which may not fit */
		memset(w, 0, sizeof(*w));
		w->mig_mode = 1;
		for (unsigned k = 1 + rnd(3); k > 0; k--) {
			const struct vmig_gi_profile *gp = &m->gi[rnd(m->ngi)];
			const struct vmig_ci_profile *cp = &gp->ci[rnd(gp->nci)];
			bool dup = false;
			for (unsigned d = 0; d < w->ndev; d++)
				dup |= w->dev[d].gi_profile_id == gp->id &&
				       w->dev[d].ci_profile_id == cp->id;
			if (!dup)
				w->dev[w->ndev++] =
				    (struct vmig_layout_dev){gp->id, cp->id, 1 + rnd(4)};
		}
		break;
	}
	if (w->ndev == 0)
		w->mig_mode = rnd(2);
}

struct stats {
	unsigned planned, in_use, no_room, moves, oracle_skipped;
};

/* Check one triple; the planner's answer against the replay and the oracle. */
static void check_triple(const struct vmig_gpu_state *cur, const struct vmig_proc *procs,
			 size_t nproc, const bool busy[][VMIG_MAX_CIS],
			 const struct vmig_layout_gpu *w, unsigned flags, struct stats *st)
{
	struct vmig_plan p = {0};
	struct vmig_err e = {0};
	struct vmig_gpu_state fin;
	int r = vmig_plan_gpu(cur, procs, nproc, w, flags, &p, &fin, &e);
	if (r == 0) {
		st->planned++;
		struct vmig_gpu_state g = *cur;
		struct vmig_err re = {0};
		if (!replay(&g, &p, &re)) {
			HARNESS_FAIL("%s: the plan does not replay: %s", cur->model->key, re.msg);
			vmig_plan_free(&p);
			return;
		}
		CHECK(memcmp(&g, &fin, sizeof(g)) == 0);
		if (w->mig_mode)
			CHECK(at_target(&g, w));
		else
			CHECK(g.ngi == 0);
		/* No busy instance destroyed; every CI not destroyed is where it was. */
		unsigned destroyed = 0, kept = 0;
		for (unsigned i = 0; i < cur->ngi; i++) {
			const struct vmig_gi_state *gi = &cur->gi[i];
			bool gi_gone = false;
			for (size_t s = 0; s < p.nstep; s++)
				gi_gone |= p.step[s].kind == VMIG_STEP_DESTROY_GI &&
					   p.step[s].gi_id == gi->id;
			struct vmig_gi_state *now = vmig_gpu_find_gi(&g, gi->id);
			destroyed += gi_gone;
			kept += !gi_gone;
			CHECK(gi_gone || (now && now->start == gi->start &&
					  now->profile_id == gi->profile_id));
			for (unsigned c = 0; c < gi->nci; c++) {
				bool gone = false;
				for (size_t s = 0; s < p.nstep; s++)
					gone |= p.step[s].kind == VMIG_STEP_DESTROY_CI &&
						p.step[s].gi_id == gi->id &&
						p.step[s].ci_id == gi->ci[c].id;
				CHECK(!(gone && busy[i][c]));
				destroyed += gone;
				kept += !gone;
				struct vmig_ci_state *ci =
				    now ? vmig_gi_find_ci(now, gi->ci[c].id) : NULL;
				CHECK(gone || (ci && ci->start == gi->ci[c].start &&
					       ci->profile_id == gi->ci[c].profile_id));
			}
		}
		if (w->mig_mode && cur->mig_current) {
			CHECK_EQ_U(p.destroyed, destroyed);
			CHECK_EQ_U(p.kept, kept);
		}
		/* Without FORCE only surplus CIs go: per kind, at most what exceeds the target. */
		if (!(flags & VMIG_LAYOUT_FORCE) && w->mig_mode)
			for (unsigned d = 0; d < w->ndev; d++) {
				unsigned had =
				    count_of(cur, w->dev[d].gi_profile_id, w->dev[d].ci_profile_id);
				unsigned want = w->dev[d].count;
				unsigned keep = had < want ? had : want;
				unsigned stay = 0;
				for (unsigned i = 0; i < cur->ngi; i++)
					for (unsigned c = 0; c < cur->gi[i].nci; c++) {
						const struct vmig_gi_state *gi = &cur->gi[i];
						struct vmig_gi_state *now =
						    vmig_gpu_find_gi(&g, gi->id);
						stay += gi->profile_id == w->dev[d].gi_profile_id &&
							gi->ci[c].profile_id ==
							    w->dev[d].ci_profile_id &&
							now && vmig_gi_find_ci(now, gi->ci[c].id) &&
							now->start == gi->start;
					}
				CHECK(stay >= keep);
			}
		vmig_plan_free(&p);
		return;
	}
	CHECK_EQ_U(p.nstep, 0);
	CHECK(e.msg[0] != '\0');
	if (r == -VMIG_E_IN_USE) {
		st->in_use++;
		CHECK(strstr(e.msg, "process") != NULL);
		/* Truly: some busy CI is not wanted (or too many are); the oracle agrees. */
		CHECK_EQ_I(oracle_exists(cur, busy, w), 0);
		return;
	}
	if (r != -VMIG_E_INSUFFICIENT_RESOURCES) {
		HARNESS_FAIL("%s: unexpected %s: %s", cur->model->key, vmig_errname(r), e.msg);
		return;
	}
	if (!(flags & VMIG_LAYOUT_FORCE) && strstr(e.msg, "force")) {
		/* A layout exists, but only by moving kept idle instances. */
		st->moves++;
		struct vmig_plan fp = {0};
		CHECK_EQ_I(
		    vmig_plan_gpu(cur, procs, nproc, w, flags | VMIG_LAYOUT_FORCE, &fp, NULL, &e),
		    0);
		vmig_plan_free(&fp);
		return;
	}
	st->no_room++;
	int o = oracle_exists(cur, busy, w);
	if (o < 0)
		st->oracle_skipped++;
	else if (o != 0)
		HARNESS_FAIL("%s: planner says no layout (%s), the exhaustive search found one",
			     cur->model->key, e.msg);
}

TEST(random_triples_every_model)
{
	rng_state = test_seed("random_triples_every_model", 0x91a77e2ull);
	unsigned iters = 1000;
	const char *it = getenv("VMIG_TEST_ITERATIONS");
	if (it && *it)
		iters = (unsigned)strtoul(it, NULL, 10);
	struct stats st = {0};
	for (size_t mi = 0; mi < vmig_model_count(); mi++) {
		const struct vmig_model *m = vmig_model_at(mi);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		for (unsigned t = 0; t < iters && !harness_child_failed; t++) {
			struct vmig_gpu_state cur = gpu_of(m);
			random_layout(&cur, rnd(9));
			struct vmig_proc procs[VMIG_MAX_GIS * VMIG_MAX_CIS];
			bool busy[VMIG_MAX_GIS][VMIG_MAX_CIS] = {{false}};
			size_t np = 0;
			unsigned odds = 2 + rnd(4);
			for (unsigned i = 0; i < cur.ngi; i++) {
				bool whole = rnd(8) == 0;
				for (unsigned c = 0; c < cur.gi[i].nci; c++)
					if (whole || rnd(odds) == 0)
						busy[i][c] = true;
				for (unsigned c = 0; c < cur.gi[i].nci; c++) {
					if (!busy[i][c] || (whole && c > 0))
						continue;
					struct vmig_proc pr = {VMIG_PROC_RUN,
							       (int32_t)(100 + np),
							       0,
							       cur.gi[i].id,
							       whole ? VMIG_PROC_WHOLE_GPU
								     : cur.gi[i].ci[c].id,
							       0};
					procs[np++] = pr;
				}
			}
			/* Processes on another GPU and on the whole GPU never make anything busy.
			 */
			procs[np++] = (struct vmig_proc){
			    VMIG_PROC_NVML, 9, 0, VMIG_PROC_WHOLE_GPU, VMIG_PROC_WHOLE_GPU, 0};
			procs[np++] = (struct vmig_proc){VMIG_PROC_RUN, 10, 1, 0, 0, 0};
			struct vmig_layout_gpu w;
			random_target(&cur, &w);
			unsigned flags = rnd(2) ? VMIG_LAYOUT_FORCE : 0;
			check_triple(&cur, procs, np, busy, &w, flags, &st);
		}
	}
	fprintf(stderr, "# %u planned, %u in use, %u no layout, %u need force, %u oracle skipped\n",
		st.planned, st.in_use, st.no_room, st.moves, st.oracle_skipped);
	CHECK(st.planned > 0 && st.no_room > 0 && st.in_use > 0 && st.moves > 0);
}

int main(void)
{
	RUN(keeps_what_is_wanted);
	RUN(cis_share_a_gi);
	RUN(nothing_to_do);
	RUN(busy_instance_is_refused_with_its_process);
	RUN(busy_instance_in_the_way);
	RUN(too_big_names_what_does_not_fit);
	RUN(mode_changes);
	RUN(bad_targets);
	RUN(equal_split_every_model);
	RUN(split_keeps_busy_instances);
	RUN(random_triples_every_model);
	return harness_done();
}
