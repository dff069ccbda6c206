/*
 * test_catalogue.c — the GPU catalogue.  The first half checks invariants
 * that every model must satisfy (placements, instance counts, names against
 * memory, the CI profile rules of docs/geometry.md, unique ids, lookups);
 * the second half spot-checks numbers against the tables of
 * docs/geometry.md, and the last tests compare those tables (and the model
 * table of docs/catalogue.md) with the catalogue row by row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"
#include "vmig/vmig.h"

#define FOR_MODELS(m)                                                                              \
	for (size_t i_ = 0; i_ < vmig_model_count(); i_++)                                         \
		for (const struct vmig_model *m = vmig_model_at(i_); m; m = NULL)

static const struct vmig_model *model(const char *key)
{
	const struct vmig_model *m = vmig_model_find(key);
	if (!m) {
		fprintf(stderr, "  no model %s\n", key);
		exit(1);
	}
	return m;
}

static const struct vmig_gi_profile *gi(const char *key, unsigned id)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(model(key), id);
	if (!gp) {
		fprintf(stderr, "  no GI profile %u on %s\n", id, key);
		exit(1);
	}
	return gp;
}

static bool starts_are(const unsigned *starts, unsigned n, const unsigned *want, unsigned nwant)
{
	if (n != nwant)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (starts[i] != want[i])
			return false;
	return true;
}
#define STARTS_ARE(p, ...)                                                                         \
	starts_are((p)->starts, (p)->nstarts, (const unsigned[]){__VA_ARGS__},                     \
		   sizeof((unsigned[]){__VA_ARGS__}) / sizeof(unsigned))

/* ---- models ------------------------------------------------------------ */

TEST(models_have_keys_names_and_unique_ids)
{
	CHECK(vmig_model_count() >= 14);
	CHECK(vmig_model_at(vmig_model_count()) == NULL);
	FOR_MODELS(m)
	{
		CHECK(m->key && m->key[0] && m->name && m->name[0]);
		CHECK(m->mem_mib > 0 && m->sm > 0);
		CHECK(m->arch >= VMIG_ARCH_AMPERE && m->arch <= VMIG_ARCH_BLACKWELL);
		CHECK((m->pci_device_id & 0xffff) == 0x10DE);
		for (size_t j = 0; j < vmig_model_count(); j++) {
			const struct vmig_model *o = vmig_model_at(j);
			if (o == m)
				continue;
			CHECK(strcasecmp(o->key, m->key) != 0);
			CHECK(o->pci_device_id != m->pci_device_id);
		}
	}
}

TEST(model_lookups)
{
	FOR_MODELS(m)
	{
		char upper[64];
		size_t k;
		for (k = 0; m->key[k] && k + 1 < sizeof(upper); k++)
			upper[k] = (char)(m->key[k] >= 'a' && m->key[k] <= 'z' ? m->key[k] - 32
									       : m->key[k]);
		upper[k] = '\0';
		CHECK(vmig_model_find(m->key) == m);
		CHECK(vmig_model_find(upper) == m);
		CHECK(vmig_model_by_pci(m->pci_device_id) == m);
	}
	CHECK(vmig_model_find(NULL) == NULL);
	CHECK(vmig_model_find("") == NULL);
	CHECK(vmig_model_find("h100") == NULL);
	CHECK(vmig_model_find("h100-80gb ") == NULL);
	CHECK(vmig_model_by_pci(0) == NULL);
	CHECK(vmig_model_by_pci(0x12345678) == NULL);
	CHECK(vmig_gi_profile_by_id(NULL, 0) == NULL);
	CHECK(vmig_gi_profile_by_index(NULL, 0) == NULL);
	CHECK(vmig_ci_profile_by_id(NULL, 0) == NULL);
	CHECK(vmig_ci_profile_default(NULL) == NULL);
}

TEST(mig_flags_and_geometry)
{
	FOR_MODELS(m)
	{
		bool mig = m->flags & VMIG_MF_MIG;
		CHECK(mig == (m->ngi > 0));
		CHECK(!!(m->flags & VMIG_MF_MODE_NEEDS_RESET) ==
		      (mig && m->arch == VMIG_ARCH_AMPERE));
		if (!mig) {
			CHECK(m->gi == NULL);
			continue;
		}
		CHECK(m->ngi <= VMIG_MAX_GI_PROFILES);
		CHECK(m->units >= 1 && m->units <= VMIG_MAX_UNITS);
		CHECK(m->compute_slices == 7 || m->compute_slices == 4);
		CHECK(m->mem_slices == 8 || m->mem_slices == 4);
		CHECK(m->units % m->mem_slices == 0);
	}
}

/* ---- GI profiles ------------------------------------------------------- */

/* Attribute flag a GI profile's NVML index implies (docs/geometry.md, "Index constants"). */
static unsigned index_attrs(unsigned index)
{
	switch (index) {
	case 0x7:
	case 0x8:
		return VMIG_PF_ME;
	case 0xA:
	case 0xB:
	case 0xC:
		return VMIG_PF_GFX;
	case 0xD:
	case 0xE:
		return VMIG_PF_NO_ME;
	case 0xF:
	case 0x10:
		return VMIG_PF_ME_ALL;
	default:
		return 0;
	}
}

/* Compute slices an NVML GI profile index stands for. */
static unsigned index_slices(unsigned index)
{
	static const unsigned s[] = {1, 2, 3, 4, 7, 8, 6, 1, 2, 1, 1, 2, 4, 1, 2, 1, 2, 3};
	return index < sizeof(s) / sizeof(s[0]) ? s[index] : 0;
}

TEST(gi_ids_and_indexes_are_unique_and_found)
{
	FOR_MODELS(m)
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		CHECK(vmig_gi_profile_by_id(m, gp->id) == gp);
		CHECK(vmig_gi_profile_by_index(m, gp->index) == gp);
		CHECK(index_slices(gp->index) == gp->slices);
		CHECK(index_attrs(gp->index) == (gp->flags & VMIG_PF_ATTRS));
		CHECK(!(gp->flags & (VMIG_PF_P2P | VMIG_PF_REV1)));
		for (unsigned j = i + 1; j < m->ngi; j++) {
			CHECK(m->gi[j].id != gp->id);
			CHECK(m->gi[j].index != gp->index);
			CHECK(strcmp(m->gi[j].name, gp->name) != 0);
		}
	}
}

TEST(gi_names_follow_the_naming_rule)
{
	FOR_MODELS(m)
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		struct vmig_profile_name n;
		char buf[64];
		CHECK_EQ_I(vmig_profile_name_parse(gp->name, &n), 0);
		CHECK_EQ_U(n.c, 0);
		CHECK_EQ_U(n.g, gp->slices);
		CHECK_EQ_U(n.attrs, gp->flags & VMIG_PF_ATTRS);
		/* The GB number is the one the memory gives by the naming rule. */
		if (vmig_profile_mem_gb(gp->mem_mib, m->mem_mib) != n.gb)
			HARNESS_FAIL("%s %s: %llu MiB of %llu names %u GB", m->key, gp->name,
				     (unsigned long long)gp->mem_mib,
				     (unsigned long long)m->mem_mib,
				     vmig_profile_mem_gb(gp->mem_mib, m->mem_mib));
		CHECK(vmig_profile_name_format(&n, buf, sizeof(buf)) > 0);
		CHECK_STR(buf, gp->name);
		CHECK(gp->mem_mib <= m->mem_mib && gp->mem_mib % 64 == 0);
		CHECK(gp->sm > 0 && gp->sm <= m->sm && gp->sm % 2 == 0);
		CHECK(gp->slices <= m->compute_slices);
	}
}

TEST(gi_placements_lie_on_the_grid)
{
	FOR_MODELS(m)
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		CHECK(gp->size >= 1 && gp->size <= m->units);
		CHECK(gp->nstarts >= 1 && gp->nstarts <= VMIG_MAX_STARTS);
		/* Memory follows the placement: size units of units hold mem_mib. */
		CHECK(gp->size * m->mem_slices % m->units == 0);
		for (unsigned k = 0; k < gp->nstarts; k++) {
			unsigned s = gp->starts[k];
			CHECK(s % gp->size == 0);
			CHECK(s + gp->size <= m->units);
			/* Sorted, and two placements of a profile never overlap. */
			if (k > 0)
				CHECK(gp->starts[k - 1] + gp->size <= s);
		}
	}
}

/* Most engines of each kind any profile holds: the whole GPU's engines. */
static void engine_totals(const struct vmig_model *m, unsigned tot[6])
{
	memset(tot, 0, 6 * sizeof(unsigned));
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *g = &m->gi[i];
		const unsigned e[6] = {g->ce, g->dec, g->enc, g->jpeg, g->ofa, g->sm};
		for (unsigned k = 0; k < 6; k++)
			if (e[k] > tot[k])
				tot[k] = e[k];
	}
}

/*
 * Instance count = the most non-overlapping placements, unless the GPU's
 * engines run out first: a "+me" GI takes the GPU's only OFA (and on A100
 * its only JPEG), a "+me.all" GI takes every decoder.  So the count must be
 * exactly min(placements, min over engines of total / per-instance).
 */
TEST(gi_instances_are_placements_or_engine_limited)
{
	FOR_MODELS(m)
	{
		unsigned tot[6];
		engine_totals(m, tot);
		for (unsigned i = 0; i < m->ngi; i++) {
			const struct vmig_gi_profile *g = &m->gi[i];
			const unsigned e[5] = {g->ce, g->dec, g->enc, g->jpeg, g->ofa};
			unsigned want = g->nstarts;
			for (unsigned k = 0; k < 5; k++)
				if (e[k] && tot[k] / e[k] < want)
					want = tot[k] / e[k];
			if (g->instances != want)
				HARNESS_FAIL("%s %s: %u instances, expected %u", m->key, g->name,
					     g->instances, want);
			if (g->instances < g->nstarts)
				CHECK(g->flags & (VMIG_PF_ME | VMIG_PF_ME_ALL));
		}
	}
}

/*
 * -lgip lists profiles by compute slices, then memory, then ID: the order
 * of every captured listing (A100 19,20,15,14,9,5,0; RTX PRO 6000
 * 14,21,47,65,67,5,35,64,66,0,32), so derived rows must keep it too.
 */
TEST(gi_profiles_in_lgip_order)
{
	FOR_MODELS(m)
	for (unsigned i = 1; i < m->ngi; i++) {
		const struct vmig_gi_profile *a = &m->gi[i - 1], *b = &m->gi[i];
		bool ordered =
		    a->slices < b->slices ||
		    (a->slices == b->slices &&
		     (a->mem_mib < b->mem_mib || (a->mem_mib == b->mem_mib && a->id < b->id)));
		if (!ordered)
			HARNESS_FAIL("%s: %s listed before %s", m->key, a->name, b->name);
	}
}

/* Memory derived by scaling with H100 80GB's fractions, in 128-MiB steps. */
static uint64_t scaled(uint64_t total, uint64_t num, uint64_t den)
{
	return total * num / den / 128 * 128;
}

/* The derived memory sizes follow the rules docs/catalogue.md gives. */
TEST(derived_memory_follows_its_rules)
{
	const uint64_t h100_total = 81559, h100_3g = 40448, h100_7g = 81152;
	/* GH200: the observed total scaled by H100's fractions (3g/4g 72704, 7g 146048). */
	CHECK_EQ_U(gi("gh200-144gb", 9)->mem_mib, 72704);
	CHECK_EQ_U(gi("gh200-144gb", 0)->mem_mib, 146048);
	static const char *const keys[] = {"gh200-144gb", "b200", "gb200"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const struct vmig_model *m = model(keys[k]);
		CHECK_EQ_U(gi(keys[k], 9)->mem_mib, scaled(m->mem_mib, h100_3g, h100_total));
		CHECK_EQ_U(gi(keys[k], 5)->mem_mib, gi(keys[k], 9)->mem_mib);
		CHECK_EQ_U(gi(keys[k], 0)->mem_mib, scaled(m->mem_mib, h100_7g, h100_total));
	}
	/* Derived SMs: 3g = 2g x 60/32 (H100) rounded down to even, 4g = 2 x 2g. */
	static const char *const bw[] = {"b200", "gb200"};
	for (size_t k = 0; k < 2; k++) {
		unsigned s2 = gi(bw[k], 14)->sm;
		CHECK_EQ_U(gi(bw[k], 9)->sm, (s2 * 60 / 32) & ~1u);
		CHECK_EQ_U(gi(bw[k], 5)->sm, 2 * s2);
		CHECK_EQ_U(gi(bw[k], 0)->sm, model(bw[k])->sm);
	}
}

/* ---- CI profiles ------------------------------------------------------- */

static unsigned ci_index(unsigned c)
{
	switch (c) {
	case 1:
		return 0;
	case 2:
		return 1;
	case 3:
		return 2;
	case 4:
		return 3;
	case 7:
		return 4;
	case 8:
		return 5;
	case 6:
		return 6;
	default:
		return 99;
	}
}

static bool combo_valid(unsigned c, unsigned g)
{
	return c >= 1 && c <= g && (c == g || 2 * c <= g + 1);
}

static unsigned pow2_at_least(unsigned c)
{
	unsigned p = 1;
	while (p < c)
		p *= 2;
	return p;
}

static void check_ci(const struct vmig_model *m, const struct vmig_gi_profile *gp,
		     const struct vmig_ci_profile *cp)
{
	unsigned c = cp->slices, g = gp->slices;
	bool rev1 = cp->flags & VMIG_PF_REV1;

	CHECK(combo_valid(c, g));
	CHECK(vmig_ci_profile_by_id(gp, cp->id) == cp);
	CHECK_EQ_U(cp->id, rev1 ? 7 : ci_index(c));
	CHECK_EQ_U(cp->instances, rev1 ? 1 : g / c);
	CHECK(cp->sm > 0 && cp->sm <= gp->sm);
	if (c == g && !rev1)
		CHECK_EQ_U(cp->sm, gp->sm);
	if ((cp->flags & VMIG_PF_DERIVED) && !rev1)
		CHECK_EQ_U(cp->sm, (gp->sm * c / g) & ~1u);
	/* REV1 CIs exist on Hopper 2g GIs only (docs/catalogue.md, "Hopper's REV1 CI"). */
	if (rev1)
		CHECK(m->arch == VMIG_ARCH_HOPPER && g == 2 && c == 1);
	/*
	 * Every aligned start that fits, and nothing else, except in a 3g GI
	 * (docs/placement.md, section 6): on Ampere a CI starts at any slice
	 * where it fits (2c at 0 or 1); on Hopper and later the CI space is 4
	 * units wide, 1c at 0, 1, 2, 2c at 0 or 2, the whole CI 0:4.
	 */
	if (g == 3) {
		bool wide = m->arch != VMIG_ARCH_AMPERE;
		CHECK_EQ_U(vmig_ci_units(gp), wide ? 4 : 3);
		CHECK_EQ_U(vmig_ci_placement_size(cp), c == 3 && wide ? 4 : c);
		if (c == 1)
			CHECK(STARTS_ARE(cp, 0, 1, 2));
		else if (c == 2 && wide)
			CHECK(STARTS_ARE(cp, 0, 2));
		else if (c == 2)
			CHECK(STARTS_ARE(cp, 0, 1));
		else
			CHECK(STARTS_ARE(cp, 0));
	} else {
		unsigned align = pow2_at_least(c), n = 0;
		CHECK_EQ_U(vmig_ci_units(gp), g);
		CHECK_EQ_U(vmig_ci_placement_size(cp), c);
		for (unsigned s = 0; s + c <= g; s += align) {
			CHECK(n < cp->nstarts && cp->starts[n] == s);
			n++;
		}
		CHECK_EQ_U(cp->nstarts, n);
	}
	CHECK(!(cp->flags & (VMIG_PF_ATTRS | VMIG_PF_P2P)));
}

TEST(ci_profiles_follow_the_rules)
{
	FOR_MODELS(m)
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		unsigned plain = 0, want = 0;
		CHECK(gp->nci >= 1 && gp->nci <= VMIG_MAX_CI_PROFILES);
		for (unsigned k = 0; k < gp->nci; k++) {
			check_ci(m, gp, &gp->ci[k]);
			if (!(gp->ci[k].flags & VMIG_PF_REV1))
				plain++;
			/* -lcip order: by slices. */
			if (k > 0)
				CHECK(gp->ci[k - 1].slices <= gp->ci[k].slices);
			for (unsigned j = k + 1; j < gp->nci; j++)
				CHECK(gp->ci[j].id != gp->ci[k].id);
		}
		/* Every valid (C, G) combination is offered. */
		for (unsigned c = 1; c <= gp->slices; c++)
			want += combo_valid(c, gp->slices);
		CHECK_EQ_U(plain, want);
		const struct vmig_ci_profile *d = vmig_ci_profile_default(gp);
		CHECK(d && d->slices == gp->slices && d->instances == 1);
		CHECK(d && d == &gp->ci[gp->nci - 1]);
	}
}

TEST(ci_names)
{
	FOR_MODELS(m)
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		for (unsigned k = 0; k < gp->nci; k++) {
			char buf[64];
			struct vmig_profile_name n;
			CHECK(vmig_ci_profile_name(gp, &gp->ci[k], buf, sizeof(buf)) > 0);
			CHECK_EQ_I(vmig_profile_name_parse(buf, &n), 0);
			CHECK_EQ_U(n.c ? n.c : n.g, gp->ci[k].slices);
			CHECK_EQ_U(n.g, gp->slices);
		}
	}
}

TEST(derived_flags_are_documented_where_expected)
{
	/* Observed models carry no derived GI numbers in their first rows. */
	CHECK(!(model("h100-80gb")->flags & VMIG_MF_DERIVED));
	CHECK(!(model("a100-40gb")->flags & VMIG_MF_DERIVED));
	CHECK(!(gi("h100-80gb", 9)->flags & VMIG_PF_DERIVED));
	CHECK(gi("b200", 0)->flags & VMIG_PF_DERIVED);
	/* H100 NVL's GI rows are all observed (real -lgip, two sources). */
	for (unsigned i = 0; i < model("h100-nvl")->ngi; i++)
		CHECK(!(model("h100-nvl")->gi[i].flags & VMIG_PF_DERIVED));
	CHECK(gi("gh200-144gb", 5)->flags & VMIG_PF_DERIVED);
	/* Every model total and SM count is now observed somewhere. */
	FOR_MODELS(m)
	CHECK(!(m->flags & VMIG_MF_DERIVED));
	/* A100-80GB: the 3g and 4g CI SMs are observed, the 2g and 7g ones derived. */
	CHECK(!(vmig_ci_profile_by_id(gi("a100-80gb", 9), 1)->flags & VMIG_PF_DERIVED));
	CHECK(!(vmig_ci_profile_by_id(gi("a100-80gb", 5), 0)->flags & VMIG_PF_DERIVED));
	CHECK(vmig_ci_profile_by_id(gi("a100-80gb", 14), 0)->flags & VMIG_PF_DERIVED);
	CHECK(vmig_ci_profile_by_id(gi("a100-80gb", 0), 3)->flags & VMIG_PF_DERIVED);
	/* A30: the 1c of the 2g GI is observed (14 SMs). */
	CHECK(!(vmig_ci_profile_by_id(gi("a30", 5), 0)->flags & VMIG_PF_DERIVED));
	CHECK_EQ_U(vmig_ci_profile_by_id(gi("a30", 5), 0)->sm, 14);
	/* A100-40GB CI SMs are observed (docs/geometry.md); H100 3g CIs are not. */
	CHECK(!(vmig_ci_profile_by_id(gi("a100-40gb", 0), 2)->flags & VMIG_PF_DERIVED));
	CHECK(vmig_ci_profile_by_id(gi("h100-80gb", 9), 0)->flags & VMIG_PF_DERIVED);
}

/* ---- spot checks against docs/geometry.md ------------------------------ */

TEST(spot_a100_40gb)
{
	const struct vmig_model *m = model("a100-40gb");
	CHECK_STR(m->name, "NVIDIA A100-SXM4-40GB");
	CHECK_EQ_U(m->pci_device_id, 0x20B010DE);
	CHECK_EQ_U(m->mem_mib, 40960);
	CHECK_EQ_U(m->ngi, 7);
	const unsigned order[] = {19, 20, 15, 14, 9, 5, 0};
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ_U(m->gi[i].id, order[i]);
	const struct vmig_gi_profile *p = gi("a100-40gb", 9);
	CHECK_STR(p->name, "3g.20gb");
	CHECK_EQ_U(p->mem_mib, 20096);
	CHECK_EQ_U(p->sm, 42);
	CHECK_EQ_U(p->size, 4);
	CHECK(STARTS_ARE(p, 0, 4));
	CHECK_EQ_U(p->index, 0x2);
	p = gi("a100-40gb", 0);
	CHECK_EQ_U(p->mem_mib, 40320);
	CHECK(p->sm == 98 && p->dec == 5 && p->ce == 7 && p->jpeg == 1 && p->ofa == 1);
	p = gi("a100-40gb", 20);
	CHECK_STR(p->name, "1g.5gb+me");
	CHECK(p->instances == 1 && p->dec == 1 && p->ofa == 1 && (p->flags & VMIG_PF_ME));
	CHECK(STARTS_ARE(p, 0, 1, 2, 3, 4, 5, 6));
	CHECK(STARTS_ARE(gi("a100-40gb", 15), 0, 2, 4, 6));
	CHECK(STARTS_ARE(gi("a100-40gb", 14), 0, 2, 4));
	/* CI profiles of the 7g GI (docs/geometry.md, "Observed CI profiles"). */
	p = gi("a100-40gb", 0);
	CHECK_EQ_U(p->nci, 5);
	const struct vmig_ci_profile *c = vmig_ci_profile_by_id(p, 2);
	CHECK(c && c->slices == 3 && c->sm == 42 && c->instances == 2);
	CHECK(c && STARTS_ARE(c, 0, 4));
	c = vmig_ci_profile_by_id(p, 1);
	CHECK(c && STARTS_ARE(c, 0, 2, 4));
	CHECK(vmig_ci_profile_default(p)->id == 4);
	/* A 4g GI has 1c, 2c and 4g, no 3c. */
	p = gi("a100-40gb", 5);
	CHECK(p->nci == 3 && vmig_ci_profile_by_id(p, 2) == NULL);
	CHECK_EQ_U(vmig_ci_profile_default(p)->id, 3);
}

TEST(spot_hopper)
{
	const struct vmig_model *m = model("h100-80gb");
	CHECK_STR(m->name, "NVIDIA H100 80GB HBM3");
	CHECK(m->mem_mib == 81559 && m->sm == 132 && m->cc_major == 9);
	CHECK(!(m->flags & VMIG_MF_MODE_NEEDS_RESET));
	const struct vmig_gi_profile *p = gi("h100-80gb", 15);
	CHECK(p->mem_mib == 20096 && p->sm == 26 && p->size == 2 && p->instances == 4);
	p = gi("h100-80gb", 0);
	CHECK(p->mem_mib == 81152 && p->ce == 8 && p->dec == 7 && p->jpeg == 7);
	p = gi("h100-80gb", 14);
	const struct vmig_ci_profile *c = vmig_ci_profile_by_id(p, 7);
	CHECK(c && c->sm == 26 && c->instances == 1 && (c->flags & VMIG_PF_REV1));
	CHECK(c && !(c->flags & VMIG_PF_DERIVED));
	c = vmig_ci_profile_by_id(p, 0);
	CHECK(c && c->sm == 16 && c->instances == 2);
	CHECK_EQ_U(vmig_ci_profile_default(p)->id, 1);
	CHECK_STR(gi("h200", 0)->name, "7g.141gb");
	CHECK_EQ_U(gi("h200", 9)->mem_mib, 71168);
	CHECK_EQ_U(model("h200")->mem_mib, 143771);
	CHECK_STR(gi("h100-nvl", 9)->name, "3g.47gb");
	CHECK_EQ_U(gi("h100-nvl", 9)->mem_mib, 47488);
	CHECK_STR(gi("gh200-144gb", 0)->name, "7g.144gb");
	CHECK_EQ_U(model("gh200-144gb")->mem_mib, 146831);
	CHECK_EQ_U(gi("h100-nvl", 0)->mem_mib, 95360);
	CHECK_EQ_U(gi("h200", 14)->mem_mib, 33280);
	CHECK_EQ_U(gi("h200", 15)->mem_mib, 33280);
	CHECK_EQ_U(gi("gh200-144gb", 15)->mem_mib, 36096);
	/* The REV1 CI is derived on the Hopper parts where it was not captured. */
	CHECK(vmig_ci_profile_by_id(gi("h200", 14), 7)->flags & VMIG_PF_DERIVED);
	CHECK(vmig_ci_profile_by_id(gi("b200", 14), 7) == NULL);
}

TEST(spot_blackwell_and_a30)
{
	CHECK_STR(gi("b200", 19)->name, "1g.23gb");
	CHECK(gi("b200", 19)->mem_mib == 20992 && gi("b200", 20)->mem_mib == 20992);
	CHECK(gi("b200", 19)->sm == 18 && gi("b200", 19)->ce == 2);
	CHECK(gi("b200", 14)->ce == 4 && gi("b200", 14)->dec == 2);
	CHECK_STR(gi("b200", 5)->name, "4g.90gb");
	CHECK_EQ_U(gi("b200", 0)->ce, 16);
	CHECK_STR(gi("gb200", 15)->name, "1g.47gb");
	CHECK_EQ_U(gi("gb200", 14)->sm, 38);
	const struct vmig_model *r = model("rtx-pro-6000");
	CHECK(r->units == 12 && r->mem_mib == 97887 && r->sm == 188 && r->ngi == 11);
	CHECK(r->cc_major == 12 && r->compute_slices == 4);
	const struct vmig_gi_profile *p = gi("rtx-pro-6000", 65);
	CHECK_STR(p->name, "1g.24gb+me.all");
	CHECK(p->dec == 4 && p->enc == 4 && p->instances == 1 && p->index == 0xF);
	CHECK(STARTS_ARE(gi("rtx-pro-6000", 47), 0, 3, 6, 9));
	CHECK(STARTS_ARE(gi("rtx-pro-6000", 35), 0, 6));
	CHECK(gi("rtx-pro-6000", 32)->size == 12 && (gi("rtx-pro-6000", 32)->flags & VMIG_PF_GFX));
	CHECK(gi("rtx-pro-6000", 67)->instances == 4 && gi("rtx-pro-6000", 67)->dec == 0);
	const struct vmig_model *a = model("a30");
	CHECK(a->units == 4 && a->compute_slices == 4 && (a->flags & VMIG_MF_MODE_NEEDS_RESET));
	CHECK_STR(gi("a30", 6)->name, "2g.12gb+me");
	CHECK(STARTS_ARE(gi("a30", 6), 0, 2));
	CHECK_EQ_U(gi("a30", 0)->mem_mib, 24000);
}

TEST(spot_non_mig)
{
	const struct vmig_model *m = model("rtx-4090");
	CHECK(m->ngi == 0 && !(m->flags & VMIG_MF_MIG));
	CHECK(m->mem_mib == 24564 && m->sm == 128 && m->cc_minor == 9);
	CHECK(vmig_model_by_pci(0x26B910DE) == model("l40s"));
	CHECK(model("a10")->arch == VMIG_ARCH_AMPERE && model("a10")->cc_minor == 6);
	CHECK(model("l4")->sm == 58);
	CHECK(vmig_gi_profile_by_id(m, 0) == NULL);
}

/*
 * The 1g REV2 (double-memory) GI has exactly the 2g GI's memory on every
 * part where both were captured; the catalogue applies it where the 1g
 * REV2 row was not captured (H200 1g.35gb), an inference docs/catalogue.md
 * names.
 */
TEST(rev2_1g_has_the_2g_memory)
{
	FOR_MODELS(m)
	{
		const struct vmig_gi_profile *r2 = vmig_gi_profile_by_index(m, 0x9);
		const struct vmig_gi_profile *g2 = vmig_gi_profile_by_index(m, 0x1);
		if (r2 && g2)
			CHECK_EQ_U(r2->mem_mib, g2->mem_mib);
	}
}

/* ---- the tables of docs/geometry.md and docs/catalogue.md --------------- */

/*
 * The docs' profile and model tables are checked row by row against the
 * catalogue, so that a number changed in one place and not the other fails
 * here.  The documents are found beside this source file (the build runs in
 * the repository root, so __FILE__ is tests/unit/test_catalogue.c).
 */
static char *read_doc(const char *name)
{
	char path[512];
	const char *here = __FILE__, *cut = strstr(here, "tests/unit/");
	int len = cut ? (int)(cut - here) : 0;
	snprintf(path, sizeof(path), "%.*sdocs/%s", len, here, name);
	FILE *f = fopen(path, "r");
	if (!f) {
		HARNESS_FAIL("cannot open %s", path);
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	if (buf)
		n = fread(buf, 1, cap - 1, f);
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static const char *index_name(unsigned index)
{
	static const char *const names[] = {
	    [0x0] = "1_SLICE",	     [0x1] = "2_SLICE",	       [0x2] = "3_SLICE",
	    [0x3] = "4_SLICE",	     [0x4] = "7_SLICE",	       [0x7] = "1_SLICE_REV1",
	    [0x8] = "2_SLICE_REV1",  [0x9] = "1_SLICE_REV2",   [0xA] = "1_SLICE_GFX",
	    [0xB] = "2_SLICE_GFX",   [0xC] = "4_SLICE_GFX",    [0xD] = "1_SLICE_NO_ME",
	    [0xE] = "2_SLICE_NO_ME", [0xF] = "1_SLICE_ALL_ME", [0x10] = "2_SLICE_ALL_ME",
	};
	return index < sizeof(names) / sizeof(names[0]) && names[index] ? names[index] : "?";
}

/* One row of a model's profile table in docs/geometry.md, as the catalogue gives it. */
static void gi_row(const struct vmig_gi_profile *gp, char *out, size_t size)
{
	char starts[96] = "";
	size_t n = 0;
	for (unsigned k = 0; k < gp->nstarts && n < sizeof(starts); k++)
		n += (size_t)snprintf(starts + n, sizeof(starts) - n, "%s%u", k ? "," : "",
				      gp->starts[k]);
	snprintf(out, size, "| `%s`%s | %u | `%s` | %u | %llu | %u | %u/%u/%u/%u/%u | {%s}:%u |",
		 gp->name, (gp->flags & VMIG_PF_DERIVED) ? " (D)" : "", gp->id,
		 index_name(gp->index), gp->instances, (unsigned long long)gp->mem_mib, gp->sm,
		 gp->dec, gp->enc, gp->ce, gp->jpeg, gp->ofa, starts, gp->size);
}

/* The next line of text after *pos (without its newline), or false at the end. */
static bool next_line(const char **pos, char *line, size_t size)
{
	const char *p = *pos;
	if (!*p)
		return false;
	const char *nl = strchr(p, '\n');
	size_t n = nl ? (size_t)(nl - p) : strlen(p);
	snprintf(line, size, "%.*s", (int)n, p);
	*pos = nl ? nl + 1 : p + n;
	return true;
}

TEST(geometry_doc_tables_match_the_catalogue)
{
	char *doc = read_doc("geometry.md");
	if (!doc)
		return;
	unsigned tables = 0;
	FOR_MODELS(m)
	{
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		/* The heading: "#### `key` (N MiB" with ", 12 placement units)" or ")". */
		char head[128], line[512], want[512];
		snprintf(head, sizeof(head), "#### `%s` (%llu MiB", m->key,
			 (unsigned long long)m->mem_mib);
		const char *at = strstr(doc, head);
		if (!at) {
			HARNESS_FAIL("docs/geometry.md: no heading '%s'", head);
			continue;
		}
		tables++;
		/* Skip to the table's separator row, then one row per profile in -lgip order. */
		const char *pos = at;
		while (next_line(&pos, line, sizeof(line)) && strncmp(line, "|---", 4) != 0)
			;
		for (unsigned i = 0; i < m->ngi; i++) {
			gi_row(&m->gi[i], want, sizeof(want));
			if (!next_line(&pos, line, sizeof(line)) || strcmp(line, want) != 0)
				HARNESS_FAIL(
				    "docs/geometry.md, %s row %u:\n    doc: %s\n    code: %s",
				    m->key, i + 1, line, want);
		}
		/* And no row more. */
		if (next_line(&pos, line, sizeof(line)) && line[0] == '|')
			HARNESS_FAIL("docs/geometry.md, %s: extra row %s", m->key, line);
	}
	CHECK_EQ_U(tables, 10);
	free(doc);
}

static const char *arch_name(unsigned arch)
{
	switch (arch) {
	case VMIG_ARCH_AMPERE:
		return "Ampere";
	case VMIG_ARCH_ADA:
		return "Ada";
	case VMIG_ARCH_HOPPER:
		return "Hopper";
	case VMIG_ARCH_BLACKWELL:
		return "Blackwell";
	default:
		return "?";
	}
}

/* docs/catalogue.md's model table: key, name, PCI id, memory, SMs, slices, units, arch and CC. */
TEST(catalogue_doc_model_table_matches)
{
	char *doc = read_doc("catalogue.md");
	if (!doc)
		return;
	FOR_MODELS(m)
	{
		char want[512];
		bool mig = m->flags & VMIG_MF_MIG;
		char slices[16], units[16];
		snprintf(slices, sizeof(slices), mig ? "%u/%u" : "–", m->compute_slices,
			 m->mem_slices);
		snprintf(units, sizeof(units), mig ? "%u" : "–", m->units);
		snprintf(want, sizeof(want),
			 "| `%s` | %s | 0x%08X | %llu | %u | %s | %s | %s %u.%u |", m->key, m->name,
			 m->pci_device_id, (unsigned long long)m->mem_mib, m->sm, slices, units,
			 arch_name(m->arch), m->cc_major, m->cc_minor);
		if (!strstr(doc, want))
			HARNESS_FAIL("docs/catalogue.md has no model row starting '%s'", want);
	}
	free(doc);
}

int main(void)
{
	RUN(models_have_keys_names_and_unique_ids);
	RUN(model_lookups);
	RUN(mig_flags_and_geometry);
	RUN(gi_ids_and_indexes_are_unique_and_found);
	RUN(gi_names_follow_the_naming_rule);
	RUN(gi_placements_lie_on_the_grid);
	RUN(gi_instances_are_placements_or_engine_limited);
	RUN(gi_profiles_in_lgip_order);
	RUN(derived_memory_follows_its_rules);
	RUN(ci_profiles_follow_the_rules);
	RUN(ci_names);
	RUN(derived_flags_are_documented_where_expected);
	RUN(spot_a100_40gb);
	RUN(spot_hopper);
	RUN(spot_blackwell_and_a30);
	RUN(spot_non_mig);
	RUN(rev2_1g_has_the_2g_memory);
	RUN(geometry_doc_tables_match_the_catalogue);
	RUN(catalogue_doc_model_table_matches);
	return harness_done();
}
