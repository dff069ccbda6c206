/*
 * test_softgeom.c — the geometry of software partitions (lib/softgeom.c):
 * MIG models keep their profiles, other GPUs get the derived A30-like
 * geometry with the numbers docs/soft.md states, keys resolve to the same
 * models, the registry is bounded and safe from several threads, and the
 * placement engine works on derived models.
 */
#include <pthread.h>
#include <stdio.h>

#include "harness.h"
#include "vmig/vmig.h"

static const struct vmig_gi_profile *by_name(const struct vmig_model *m, const char *name)
{
	const struct vmig_gi_profile *gp = NULL;
	return vmig_gi_profile_lookup(m, name, &gp) == 0 ? gp : NULL;
}

TEST(mig_models_keep_their_profiles)
{
	const struct vmig_model *h200 = vmig_model_find("h200");
	CHECK(vmig_soft_model(h200) == h200);
	const struct vmig_gi_profile *gp = by_name(h200, "3g.71gb");
	CHECK(gp != NULL);
	if (!gp)
		return;
	CHECK_EQ_U(gp->mem_mib, 71168);
	CHECK_EQ_U(gp->sm, 60);
	CHECK_EQ_U(vmig_profile_share_pct(h200, gp), 45); /* 60 of 132 SMs */
	CHECK_EQ_U(vmig_profile_share_pct(h200, by_name(h200, "7g.141gb")), 100);
	CHECK_EQ_U(vmig_profile_share_pct(h200, by_name(h200, "1g.18gb")), 12); /* 16/132 */
	/* No second key for a model that has MIG. */
	CHECK(vmig_model_resolve("soft-h200") == NULL);
	CHECK(vmig_model_resolve("h200") == h200);
}

/* Checks one derived profile: name, memory, SMs, share. */
static void check_gi(const struct vmig_model *m, unsigned id, const char *name, uint64_t mib,
		     unsigned sm, unsigned pct)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, id);
	CHECK(gp != NULL);
	if (!gp)
		return;
	CHECK_STR(gp->name, name);
	CHECK_EQ_U(gp->mem_mib, mib);
	CHECK_EQ_U(gp->sm, sm);
	CHECK_EQ_U(vmig_profile_share_pct(m, gp), pct);
	CHECK(gp->flags & VMIG_PF_DERIVED);
}

TEST(rtx_4090_derived)
{
	const struct vmig_model *hw = vmig_model_find("rtx-4090");
	const struct vmig_model *m = vmig_soft_model(hw);
	CHECK(m != NULL && m != hw);
	if (!m)
		return;
	CHECK_STR(m->key, "soft-rtx-4090");
	CHECK_STR(m->name, "NVIDIA GeForce RTX 4090");
	CHECK_EQ_U(m->pci_device_id, 0x268410DE);
	CHECK_EQ_U(m->mem_mib, 24564);
	CHECK_EQ_U(m->sm, 128);
	CHECK_EQ_U(m->compute_slices, 4);
	CHECK_EQ_U(m->mem_slices, 4);
	CHECK_EQ_U(m->units, 4);
	CHECK(m->flags & VMIG_MF_MIG);
	CHECK(!(m->flags & VMIG_MF_MODE_NEEDS_RESET));
	CHECK_EQ_U(m->ngi, 3);
	/* 24564 / 4 = 6141 MiB, rounded down to 128 MiB: 6016. */
	check_gi(m, 14, "1g.6gb", 6016, 32, 25);
	check_gi(m, 5, "2g.12gb", 12032, 64, 50);
	check_gi(m, 0, "4g.24gb", 24064, 128, 100);
	CHECK_STR(m->gi[0].name, "1g.6gb"); /* -lgip order: smallest first */
	CHECK_STR(m->gi[2].name, "4g.24gb");
}

TEST(other_catalogue_gpus_derived)
{
	const struct vmig_model *l40s = vmig_model_resolve("soft-l40s");
	CHECK(l40s != NULL);
	if (l40s) {
		/* 46068 / 4 = 11517 -> 11392; 142 SMs / 4 = 35 -> 34 (whole TPCs). */
		check_gi(l40s, 14, "1g.11gb", 11392, 34, 24);
		check_gi(l40s, 5, "2g.23gb", 22784, 68, 48);
		check_gi(l40s, 0, "4g.45gb", 45568, 142, 100);
	}
	const struct vmig_model *l4 = vmig_model_resolve("SOFT-L4");
	CHECK(l4 != NULL);
	if (l4) {
		CHECK_STR(l4->key, "soft-l4");
		check_gi(l4, 14, "1g.6gb", 5632, 14, 24);
		check_gi(l4, 0, "4g.23gb", 22528, 58, 100);
	}
	const struct vmig_model *a10 = vmig_model_resolve("soft-a10");
	CHECK(a10 != NULL);
	if (a10)
		check_gi(a10, 5, "2g.12gb", 11264, 36, 50);
}

TEST(ci_profiles_follow_the_catalogue_rules)
{
	const struct vmig_model *m = vmig_model_resolve("soft-rtx-4090");
	CHECK(m != NULL);
	if (!m)
		return;
	const struct vmig_gi_profile *g4 = vmig_gi_profile_by_id(m, 0);
	CHECK_EQ_U(g4->nci, 3);
	CHECK_EQ_U(g4->ci[0].id, 0);
	CHECK_EQ_U(g4->ci[0].instances, 4);
	CHECK_EQ_U(g4->ci[0].sm, 32);
	CHECK_EQ_U(g4->ci[0].nstarts, 4);
	CHECK_EQ_U(g4->ci[0].starts[3], 3);
	CHECK_EQ_U(g4->ci[1].id, 1);
	CHECK_EQ_U(g4->ci[1].instances, 2);
	CHECK_EQ_U(g4->ci[1].starts[1], 2);
	CHECK_EQ_U(g4->ci[2].id, 3);
	CHECK_EQ_U(g4->ci[2].sm, 128);
	CHECK(vmig_ci_profile_default(g4) == &g4->ci[2]);
	const struct vmig_gi_profile *g2 = vmig_gi_profile_by_id(m, 5);
	CHECK_EQ_U(g2->nci, 2);
	CHECK(vmig_ci_profile_default(g2) == &g2->ci[1]);
	char name[32];
	CHECK(vmig_ci_profile_name(g4, &g4->ci[0], name, sizeof(name)) > 0);
	CHECK_STR(name, "1c.4g.24gb");
	const struct vmig_ci_profile *cp = NULL;
	CHECK_EQ_I(vmig_ci_profile_lookup(g2, "1c.2g.12gb", &cp), 0);
	CHECK(cp == &g2->ci[0]);
}

TEST(keys_resolve_to_one_model)
{
	const struct vmig_model *a = vmig_soft_model(vmig_model_find("rtx-4090"));
	CHECK(a != NULL);
	CHECK(vmig_model_resolve("soft-rtx-4090") == a);
	CHECK(vmig_model_resolve("Soft-RTX-4090") == a);
	CHECK(vmig_model_known(a));
	CHECK(vmig_model_known(vmig_model_find("a100-40gb")));
	struct vmig_model stray = *a;
	CHECK(!vmig_model_known(&stray));
	CHECK(!vmig_model_known(NULL));
}

TEST(unknown_gpus_by_geometry)
{
	struct vmig_model hw = {.key = "x",
				.name = "NVIDIA Foo",
				.sm = 80,
				.mem_mib = 40000,
				.pci_device_id = 0x12345678,
				.arch = VMIG_ARCH_ADA};
	const struct vmig_model *m = vmig_soft_model(&hw);
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_STR(m->key, "soft-80sm-40000mib");
	CHECK_STR(m->name, "NVIDIA Foo");
	CHECK_EQ_U(m->pci_device_id, 0x12345678);
	CHECK(vmig_model_resolve("soft-80sm-40000mib") == m);
	CHECK(vmig_model_resolve("soft-80SM-40000MiB") == m);
	check_gi(m, 14, "1g.10gb", 9984, 20, 25);
	/* A MIG GPU the catalogue lacks cannot be named by its own profiles: derived. */
	struct vmig_model mig = hw;
	mig.flags = VMIG_MF_MIG;
	mig.ngi = 0;
	CHECK(vmig_soft_model(&mig) == m);
	CHECK(vmig_soft_model(m) == m); /* a derived model is its own soft model */
	/* Known only by key: a generic name until a device describes it. */
	const struct vmig_model *k = vmig_model_resolve("soft-96sm-81920mib");
	CHECK(k != NULL);
	if (k)
		CHECK_STR(k->name, "GPU (96 SMs, 81920 MiB)");
}

TEST(bad_keys_resolve_to_nothing)
{
	static const char *const bad[] = {
	    "soft-",
	    "soft-h100-80gb",
	    "soft-058sm-23034mib",
	    "soft-58sm-023034mib",
	    "soft-58sm-23034",
	    "soft-58sm-23034mibx",
	    "soft-sm-1mib",
	    "soft-4sm-4096mib",
	    "soft-58sm-1024mib",
	    "soft-99999999999sm-4096mib",
	    "soft-58sm-99999999999mib",
	    "soft-5000sm-4096mib",
	    "soft--58sm-4096mib",
	    "rtx-4090x",
	    "",
	    "soft-rtx-4090 ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vmig_model_resolve(bad[i]) != NULL)
			HARNESS_FAIL("'%s' resolved", bad[i]);
	CHECK(vmig_model_resolve(NULL) == NULL);
	struct vmig_model tiny = {.name = "tiny", .sm = 6, .mem_mib = 8192};
	CHECK(vmig_soft_model(&tiny) == NULL);
	CHECK(vmig_soft_model(NULL) == NULL);
}

/* Every derived model is one the placement engine and state checks can trust. */
static void check_invariants(const struct vmig_model *m)
{
	CHECK(m->ngi == 3);
	for (unsigned i = 0; i < m->ngi; i++) {
		const struct vmig_gi_profile *gp = &m->gi[i];
		CHECK(gp->mem_mib <= m->mem_mib && gp->mem_mib % 128 == 0 && gp->mem_mib > 0);
		CHECK(gp->sm <= m->sm && gp->sm > 0);
		CHECK(gp->instances * gp->size <= m->units);
		CHECK_EQ_U(gp->nstarts, gp->instances);
		for (unsigned s = 0; s < gp->nstarts; s++)
			CHECK(gp->starts[s] + gp->size <= m->units &&
			      gp->starts[s] % gp->size == 0);
		CHECK(vmig_ci_profile_default(gp) != NULL);
		for (unsigned c = 0; c < gp->nci; c++) {
			const struct vmig_ci_profile *cp = &gp->ci[c];
			CHECK(cp->sm <= gp->sm && cp->sm > 0);
			for (unsigned s = 0; s < cp->nstarts; s++)
				CHECK(cp->starts[s] + cp->slices <= gp->slices);
		}
		struct vmig_profile_name n;
		CHECK_EQ_I(vmig_profile_name_parse(gp->name, &n), 0);
		CHECK_EQ_U(n.g, gp->slices);
	}
}

TEST(derived_models_hold_their_invariants)
{
	/* Forked: this fills much of the registry. */
	static const unsigned sms[] = {8, 9, 58, 128, 4096};
	static const unsigned mibs[] = {2048, 2175, 23034, 1u << 24};
	for (size_t i = 0; i < 5; i++) {
		for (size_t j = 0; j < 4; j++) {
			char key[64];
			snprintf(key, sizeof(key), "soft-%usm-%umib", sms[i], mibs[j]);
			const struct vmig_model *m = vmig_model_resolve(key);
			CHECK(m != NULL);
			if (m)
				check_invariants(m);
		}
	}
}

TEST(placement_on_a_derived_model)
{
	struct vmig_gpu_state g = {
	    .model = vmig_model_resolve("soft-rtx-4090"), .mig_current = 1, .mig_pending = 1};
	unsigned id;
	const struct vmig_gi_profile *g1 = vmig_gi_profile_by_id(g.model, 14);
	const struct vmig_gi_profile *g2 = vmig_gi_profile_by_id(g.model, 5);
	CHECK_EQ_U(vmig_gi_remaining(&g, g1), 4);
	CHECK_EQ_U(vmig_gi_remaining(&g, g2), 2);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, g2, NULL, &id, NULL), 0);
	CHECK_EQ_U(g.gi[0].start + g.gi[0].size <= 4, 1);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, g1, NULL, &id, NULL), 0);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, g1, NULL, &id, NULL), 0);
	CHECK_EQ_U(vmig_gi_remaining(&g, g1), 0);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, g1, NULL, &id, NULL), -VMIG_E_INSUFFICIENT_RESOURCES);
	/* Heap IDs as on A30: halves are 1 and 2, quarters 3 to 6. */
	for (unsigned i = 0; i < g.ngi; i++) {
		unsigned want = g.gi[i].size == 2 ? 1 + g.gi[i].start / 2 : 3 + g.gi[i].start;
		CHECK_EQ_U(g.gi[i].id, want);
	}
}

TEST(registry_is_bounded)
{
	unsigned made = 0;
	for (unsigned sm = 100; sm < 200; sm++) {
		char key[64];
		snprintf(key, sizeof(key), "soft-%usm-65536mib", sm);
		if (vmig_model_resolve(key))
			made++;
	}
	CHECK(made > 0 && made <= 32);
	/* What was made stays resolvable and the same. */
	const struct vmig_model *a = vmig_model_resolve("soft-100sm-65536mib");
	CHECK(a != NULL && vmig_model_resolve("soft-100sm-65536mib") == a);
}

#define NTHREADS 8
static const struct vmig_model *seen[NTHREADS];

static void *resolve_many(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < 200; i++) {
		char key[64];
		snprintf(key, sizeof(key), "soft-%usm-32768mib", 64 + i % 8);
		const struct vmig_model *m = vmig_model_resolve(key);
		if (i % 8 == 0)
			seen[t] = m;
	}
	return NULL;
}

TEST(registry_is_thread_safe)
{
	pthread_t th[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_create(&th[t], NULL, resolve_many, (void *)(uintptr_t)t);
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (unsigned t = 0; t < NTHREADS; t++)
		CHECK(seen[t] != NULL && seen[t] == seen[0]);
	CHECK(vmig_model_resolve("soft-64sm-32768mib") == seen[0]);
}

int main(void)
{
	RUN(mig_models_keep_their_profiles);
	RUN(rtx_4090_derived);
	RUN(other_catalogue_gpus_derived);
	RUN(ci_profiles_follow_the_catalogue_rules);
	RUN(keys_resolve_to_one_model);
	RUN(unknown_gpus_by_geometry);
	RUN(bad_keys_resolve_to_nothing);
	RUN(derived_models_hold_their_invariants);
	RUN(placement_on_a_derived_model);
	RUN(registry_is_bounded);
	RUN(registry_is_thread_safe);
	return harness_done();
}
