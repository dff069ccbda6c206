/*
 * test_placement.c — the placement engine against the real catalogue: every
 * observation listed in docs/placement.md (auto-placement order, GI IDs,
 * Free counts, the A100 ordering issue), its CI rules, the errors of each
 * mutation, and randomized properties over every MIG model.
 */
#include <stdint.h>

#include "harness.h"
#include "randseed.h"
#include "vmig/vmig.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static struct vmig_gpu_state gpu_of(const char *key)
{
	struct vmig_gpu_state g;
	memset(&g, 0, sizeof(g));
	g.model = vmig_model_find(key);
	if (!g.model) {
		fprintf(stderr, "  no catalogue model %s\n", key);
		exit(1);
	}
	g.mig_current = g.mig_pending = 1;
	snprintf(g.uuid, sizeof(g.uuid), "GPU-00000000-0000-0000-0000-000000000000");
	return g;
}

static const struct vmig_gi_profile *gip(const struct vmig_gpu_state *g, unsigned id)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, id);
	if (!gp) {
		fprintf(stderr, "  %s has no GI profile %u\n", g->model->key, id);
		exit(1);
	}
	return gp;
}

/* Create a GI of profile id with the driver's placement; returns its index in gi[]. */
static struct vmig_gi_state *create_auto(struct vmig_gpu_state *g, unsigned id)
{
	struct vmig_err e = {0};
	unsigned gi_id = 999;
	int rc = vmig_gpu_create_gi(g, gip(g, id), NULL, &gi_id, &e);
	if (rc != 0) {
		HARNESS_FAIL("creating profile %u on %s: %s", id, g->model->key, e.msg);
		return NULL;
	}
	return vmig_gpu_find_gi(g, gi_id);
}

static struct vmig_gi_state *create_at(struct vmig_gpu_state *g, unsigned id, unsigned start)
{
	struct vmig_err e = {0};
	unsigned gi_id = 999;
	int rc = vmig_gpu_create_gi(g, gip(g, id), &start, &gi_id, &e);
	if (rc != 0) {
		HARNESS_FAIL("creating profile %u at %u on %s: %s", id, start, g->model->key,
			     e.msg);
		return NULL;
	}
	return vmig_gpu_find_gi(g, gi_id);
}

/*
 * One observed auto-placement sequence (docs/placement.md, section 5):
 * profiles created in order on an empty GPU, the starts the driver chose
 * and (where observed with swizzle 0, or implied by the heap numbering of
 * section 2) the GI IDs.
 */
struct step {
	unsigned profile, start, gi_id;
};

static void expect_sequence_n(const char *key, unsigned numbering, const struct step *steps,
			      unsigned n)
{
	struct vmig_gpu_state g = gpu_of(key);
	g.gi_numbering = numbering;
	for (unsigned i = 0; i < n; i++) {
		struct vmig_gi_state *gi = create_auto(&g, steps[i].profile);
		if (!gi)
			return;
		if (gi->start != steps[i].start || gi->id != steps[i].gi_id)
			HARNESS_FAIL(
			    "%s step %u (profile %u): got %u:%u ID %u, want start %u ID %u", key, i,
			    steps[i].profile, gi->start, gi->size, gi->id, steps[i].start,
			    steps[i].gi_id);
	}
}

#define SEQ_N(key, numbering, ...)                                                                 \
	do {                                                                                       \
		static const struct step s_[] = {__VA_ARGS__};                                     \
		expect_sequence_n(key, numbering, s_, sizeof(s_) / sizeof(s_[0]));                 \
	} while (0)
#define SEQ(key, ...) SEQ_N(key, VMIG_GI_NUMBERING_HEAP, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* GI IDs (docs/placement.md, section 2)                                     */
/* ------------------------------------------------------------------------ */

TEST(gi_ids_heap_8_units)
{
	const struct vmig_model *m = vmig_model_find("a100-40gb");
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 0, 8), 0);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 0, 4), 1);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 4, 4), 2);
	for (unsigned s = 0; s < 8; s += 2)
		CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, s, 2), 3 + s / 2);
	for (unsigned s = 0; s < 8; s++)
		CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, s, 1), 7 + s);
	/* H100, the third-party walkthrough: 0:1 -> 7 ... 6:1 -> 13. */
	const struct vmig_model *h = vmig_model_find("h100-80gb");
	for (unsigned s = 0; s < 7; s++)
		CHECK_EQ_U(vmig_gi_id_for(h, VMIG_GI_NUMBERING_HEAP, s, 1), 7 + s);
	/* A100, the User Guide's examples 1/2/3. */
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 6, 1), 13);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 4, 2), 5);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 0, 4), 1);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 0, 1), 7);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 1, 1), 8);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 2, 2), 4);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 4, 4), 2);
	CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, 3, 1), 10);
	/* DCGM #138 GPU 0 (A100-80GB or H100) and go-nvml #146 (H100). */
	const struct vmig_model *m80 = vmig_model_find("a100-80gb");
	CHECK_EQ_U(vmig_gi_id_for(m80, VMIG_GI_NUMBERING_HEAP, 2, 1), 9);
	CHECK_EQ_U(vmig_gi_id_for(m80, VMIG_GI_NUMBERING_HEAP, 3, 1), 10);
	CHECK_EQ_U(vmig_gi_id_for(m80, VMIG_GI_NUMBERING_HEAP, 0, 2), 3);
	CHECK_EQ_U(vmig_gi_id_for(m80, VMIG_GI_NUMBERING_HEAP, 4, 4), 2);
	CHECK_EQ_U(vmig_gi_id_for(h, VMIG_GI_NUMBERING_HEAP, 0, 2), 3);
	CHECK_EQ_U(vmig_gi_id_for(h, VMIG_GI_NUMBERING_HEAP, 2, 2), 4);
	CHECK_EQ_U(vmig_gi_id_for(h, VMIG_GI_NUMBERING_HEAP, 4, 4), 2);
}

TEST(gi_ids_heap_a30_and_rtx)
{
	const struct vmig_model *a30 = vmig_model_find("a30");
	CHECK_EQ_U(vmig_gi_id_for(a30, VMIG_GI_NUMBERING_HEAP, 0, 4), 0);
	CHECK_EQ_U(vmig_gi_id_for(a30, VMIG_GI_NUMBERING_HEAP, 0, 2), 1);
	CHECK_EQ_U(vmig_gi_id_for(a30, VMIG_GI_NUMBERING_HEAP, 2, 2), 2);
	for (unsigned s = 0; s < 4; s++) /* the A30 walkthrough */
		CHECK_EQ_U(vmig_gi_id_for(a30, VMIG_GI_NUMBERING_HEAP, s, 1), 3 + s);
	const struct vmig_model *rtx = vmig_model_find("rtx-pro-6000");
	CHECK_EQ_U(vmig_gi_id_for(rtx, VMIG_GI_NUMBERING_HEAP, 0, 12), 0);
	CHECK_EQ_U(vmig_gi_id_for(rtx, VMIG_GI_NUMBERING_HEAP, 0, 6),
		   1); /* the RTX PRO 6000 walkthrough */
	CHECK_EQ_U(vmig_gi_id_for(rtx, VMIG_GI_NUMBERING_HEAP, 6, 6), 2);
	for (unsigned s = 0; s < 12; s += 3) /* the same: 0:3 -> 3 ... 9:3 -> 6 */
		CHECK_EQ_U(vmig_gi_id_for(rtx, VMIG_GI_NUMBERING_HEAP, s, 3), 3 + s / 3);
}

#define SW VMIG_GI_NUMBERING_SWAPPED

/* Swapped numbering: the table of docs/placement.md, section 2. */
TEST(gi_ids_swapped_8_units)
{
	const struct vmig_model *m = vmig_model_find("a100-40gb");
	static const unsigned start[] = {0, 4, 0, 2, 4, 6, 0, 1, 2, 3, 4, 5, 6, 7};
	static const unsigned size[] = {4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1};
	static const unsigned heap[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
	static const unsigned swapped[] = {2, 1, 5, 6, 3, 4, 11, 12, 13, 14, 7, 8, 9, 10};
	for (unsigned k = 0; k < sizeof(start) / sizeof(start[0]); k++) {
		CHECK_EQ_U(vmig_gi_id_for(m, VMIG_GI_NUMBERING_HEAP, start[k], size[k]), heap[k]);
		CHECK_EQ_U(vmig_gi_id_for(m, SW, start[k], size[k]), swapped[k]);
	}
	/* The whole GPU is 0 under both. */
	CHECK_EQ_U(vmig_gi_id_for(m, SW, 0, 8), 0);
	/* Under both numberings, distinct blocks of any MIG model get distinct IDs. */
	for (size_t mi = 0; mi < vmig_model_count(); mi++) {
		const struct vmig_model *mm = vmig_model_at(mi);
		for (unsigned n = 0; n < 2 && (mm->flags & VMIG_MF_MIG); n++) {
			unsigned owner[64];
			memset(owner, 0xff, sizeof(owner));
			for (unsigned p = 0; p < mm->ngi; p++)
				for (unsigned k = 0; k < mm->gi[p].nstarts; k++) {
					unsigned st = mm->gi[p].starts[k], sz = mm->gi[p].size;
					unsigned id = vmig_gi_id_for(mm, n, st, sz);
					unsigned key = st << 8 | sz;
					CHECK(id < 64);
					if (id < 64 && owner[id] != 0xffffffffu && owner[id] != key)
						HARNESS_FAIL(
						    "%s numbering %u: ID %u for %u:%u and %u:%u",
						    mm->key, n, id, owner[id] >> 8,
						    owner[id] & 0xff, st, sz);
					if (id < 64)
						owner[id] = key;
				}
		}
	}
}

/*
 * The A30 (4 units) and the RTX PRO 6000 (12 units, leaf 3) under the
 * swapped numbering: the same formula on their trees (no capture shows it
 * on these parts; docs/placement.md, section 2).
 */
TEST(gi_ids_swapped_a30_and_rtx)
{
	const struct vmig_model *a30 = vmig_model_find("a30"),
				*rtx = vmig_model_find("rtx-pro-6000");
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 0, 4), 0);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 0, 2), 2);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 2, 2), 1);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 0, 1), 5);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 1, 1), 6);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 2, 1), 3);
	CHECK_EQ_U(vmig_gi_id_for(a30, SW, 3, 1), 4);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 0, 12), 0);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 0, 6), 2);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 6, 6), 1);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 0, 3), 5);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 3, 3), 6);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 6, 3), 3);
	CHECK_EQ_U(vmig_gi_id_for(rtx, SW, 9, 3), 4);
}

/*
 * Captured sequences under the swapped numbering (docs/placement.md,
 * section 2): the placements are the heap GPUs', only the IDs differ.
 */
TEST(gi_ids_swapped_captures)
{
	/* 7x 1g on an empty GPU: 9, 7, 8, 11, 12, 13, 14 (dask-cuda #583, an H100 PCIe). */
	SEQ_N("a100-40gb", SW, {19, 6, 9}, {19, 4, 7}, {19, 5, 8}, {19, 0, 11}, {19, 1, 12},
	      {19, 2, 13}, {19, 3, 14});
	SEQ_N("h100-80gb", SW, {19, 6, 9}, {19, 4, 7}, {19, 5, 8}, {19, 0, 11}, {19, 1, 12},
	      {19, 2, 13}, {19, 3, 14});
	/* An A100-SXM4-40GB with driver 580: 4g, 2g, 1g -> 0:4 ID 2, 4:2 ID 3, 6:1 ID 9. */
	SEQ_N("a100-40gb", SW, {5, 0, 2}, {14, 4, 3}, {19, 6, 9});
	/* An A100-PCIE-40GB with driver 510: 3g, 1g, 2g, 1g -> 4:4 ID 1, 0:1 ID 11, 2:2 ID 6, 1:1
	 * ID 12. */
	SEQ_N("a100-40gb", SW, {9, 4, 1}, {19, 0, 11}, {14, 2, 6}, {19, 1, 12});
	/* Two 3g (A100-SXM4-80GB, driver 515 and 550): 4:4 ID 1, 0:4 ID 2. */
	SEQ_N("a100-80gb", SW, {9, 4, 1}, {9, 0, 2});
}

/* ------------------------------------------------------------------------ */
/* Auto-placement (docs/placement.md, section 5)                            */
/* ------------------------------------------------------------------------ */

TEST(auto_h100_seven_1g)
{
	/* The H100 walkthrough: -cgi 19 x7 -> 6, 4, 5, 0, 1, 2, 3. */
	SEQ("h100-80gb", {19, 6, 13}, {19, 4, 11}, {19, 5, 12}, {19, 0, 7}, {19, 1, 8}, {19, 2, 9},
	    {19, 3, 10});
	/* The same order on A100 (dask-cuda #583) and the other 8-slice parts. */
	const char *keys[] = {"a100-40gb", "a100-80gb", "h200", "b200"};
	for (unsigned i = 0; i < 4; i++)
		SEQ(keys[i], {19, 6, 13}, {19, 4, 11}, {19, 5, 12}, {19, 0, 7}, {19, 1, 8},
		    {19, 2, 9}, {19, 3, 10});
}

TEST(auto_a100_user_guide_examples)
{
	/* User Guide example 1: 1g, 2g, 4g -> 6:1 (ID 13), 4:2 (ID 5), 0:4 (ID 1). */
	SEQ("a100-40gb", {19, 6, 13}, {14, 4, 5}, {5, 0, 1});
	/* User Guide example 2: 3g, 1g, 2g, 1g -> 4:4 (2), 0:1 (7), 2:2 (4), 1:1 (8). */
	SEQ("a100-40gb", {9, 4, 2}, {19, 0, 7}, {14, 2, 4}, {19, 1, 8});
	/* User Guide example 3: 2g then 5x 1g -> 4:2, then 6, 0, 1, 2, 3. */
	SEQ("a100-40gb", {14, 4, 5}, {19, 6, 13}, {19, 0, 7}, {19, 1, 8}, {19, 2, 9}, {19, 3, 10});
	/* An A100 with driver 580: 4g, 2g, 1g -> 0:4, 4:2, 6:1 (IDs observed with swizzle 4). */
	SEQ("a100-40gb", {5, 0, 1}, {14, 4, 5}, {19, 6, 13});
	/* The User Guide: 2x 3g -> 4:4 then 0:4. */
	SEQ("a100-40gb", {9, 4, 2}, {9, 0, 1});
	SEQ("a100-80gb", {9, 4, 2}, {9, 0, 1});
}

TEST(auto_rtx_pro_6000)
{
	/* The RTX PRO 6000 walkthrough: 4x 1g -> 0, 3, 6, 9; 2g, 1g, 1g -> 0:6, 6:3, 9:3. */
	SEQ("rtx-pro-6000", {14, 0, 3}, {14, 3, 4}, {14, 6, 5}, {14, 9, 6});
	SEQ("rtx-pro-6000", {5, 0, 1}, {14, 6, 5}, {14, 9, 6});
}

TEST(auto_a100_known_ordering_issue)
{
	/* The User Guide: -cgi 19,19,14,9 fails on 9 with Insufficient Resources ... */
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	CHECK(create_auto(&g, 19) != NULL);
	CHECK(create_auto(&g, 19) != NULL);
	CHECK(create_auto(&g, 14) != NULL);
	struct vmig_gpu_state before = g;
	struct vmig_err e = {0};
	unsigned id = 77, start;
	CHECK_EQ_I(vmig_gi_remaining(&g, gip(&g, 9)), 0);
	CHECK_EQ_I(vmig_gi_choose(&g, gip(&g, 9), &start), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 9), NULL, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(e.code, VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "creating GPU instance 3g.20gb") != NULL);
	CHECK(strstr(e.msg, "Insufficient Resources") != NULL);
	CHECK_EQ_U(id, 77);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	/* ... while 9,19,14,19 succeeds. */
	SEQ("a100-40gb", {9, 4, 2}, {19, 0, 7}, {14, 2, 4}, {19, 1, 8});
}

/*
 * Consequences of the rule where no trace exists (docs/placement.md, section 5):
 * they pin the rule so that a change to it is deliberate, not observations.
 */
TEST(auto_rule_consequences)
{
	/* 1g.20gb (size 2) on an empty 8-slice GPU: the pair holding slice 7. */
	SEQ("h100-80gb", {15, 6, 6}, {15, 4, 5}, {15, 0, 3}, {15, 2, 4});
	/* A30: no dead units, so the lowest start, then the partly full half. */
	SEQ("a30", {14, 0, 3}, {5, 2, 2}, {14, 1, 4});
	/* A 2g placed by hand at 0:2: the next 1g goes to 6, not 2. */
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	CHECK(create_at(&g, 14, 0) != NULL);
	struct vmig_gi_state *gi = create_auto(&g, 19);
	CHECK(gi && gi->start == 6);
	/* A 1g placed by hand at 0: the next 1g completes its pair. */
	struct vmig_gpu_state h = gpu_of("h100-80gb");
	CHECK(create_at(&h, 19, 0) != NULL);
	gi = create_auto(&h, 19);
	CHECK(gi && gi->start == 1);
}

TEST(auto_choose_matches_create)
{
	struct vmig_gpu_state g = gpu_of("h100-80gb");
	unsigned start = 99;
	CHECK_EQ_I(vmig_gi_choose(&g, gip(&g, 9), &start), 0);
	CHECK_EQ_U(start, 4);
	CHECK_EQ_I(vmig_gi_choose(&g, gip(&g, 0), &start), 0);
	CHECK_EQ_U(start, 0);
	/* Choosing changes nothing. */
	CHECK_EQ_U(g.ngi, 0);
	g.mig_current = 0;
	CHECK_EQ_I(vmig_gi_choose(&g, gip(&g, 9), &start), -VMIG_E_NOT_SUPPORTED);
}

/* ------------------------------------------------------------------------ */
/* Free counts (docs/placement.md, sections 3 and 4)                        */
/* ------------------------------------------------------------------------ */

TEST(remaining_empty_equals_instances)
{
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		struct vmig_gpu_state g = gpu_of(m->key);
		for (unsigned p = 0; p < m->ngi; p++)
			if (vmig_gi_remaining(&g, &m->gi[p]) != m->gi[p].instances)
				HARNESS_FAIL("%s %s: Free %u on an empty GPU, Total %u", m->key,
					     m->gi[p].name, vmig_gi_remaining(&g, &m->gi[p]),
					     m->gi[p].instances);
		g.mig_current = 0;
		for (unsigned p = 0; p < m->ngi; p++)
			CHECK_EQ_U(vmig_gi_remaining(&g, &m->gi[p]), 0);
	}
}

TEST(remaining_a100_with_3g_upper_half)
{
	/* docs/placement.md, section 4: one 3g at 4:4 -> 1g 4, 2g 2, 3g 1, 4g 1, 7g 0. */
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	CHECK(create_at(&g, 9, 4) != NULL);
	CHECK_EQ_U(vmig_gpu_occupied(&g), 0xf0);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 19)), 4);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 20)), 1);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 15)), 2);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 14)), 2);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 9)), 1);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 5)), 1);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 0)), 0);
	/* Full of 1g: every Free is 0 (-lgip shows 0/7). */
	struct vmig_gpu_state f = gpu_of("h100-80gb");
	for (int i = 0; i < 7; i++)
		CHECK(create_auto(&f, 19) != NULL);
	CHECK_EQ_U(vmig_gpu_occupied(&f), 0x7f);
	for (unsigned p = 0; p < f.model->ngi; p++)
		CHECK_EQ_U(vmig_gi_remaining(&f, &f.model->gi[p]), 0);
}

TEST(remaining_instance_count_caps)
{
	/* "+me" has one instance although seven placements are free. */
	struct vmig_gpu_state g = gpu_of("h100-80gb");
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 20)), 1);
	CHECK(create_auto(&g, 20) != NULL);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 20)), 0);
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 19)), 6);
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 20), NULL, NULL, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "instance count") != NULL);
	unsigned s = 0;
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 20), &s, NULL, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
}

TEST(media_engine_exclusivity_rtx)
{
	/* docs/placement.md, section 3: a +me.all GI shuts out every profile but the -me ones. */
	struct vmig_gpu_state g = gpu_of("rtx-pro-6000");
	CHECK(create_auto(&g, 65) != NULL); /* 1g.24gb+me.all */
	const unsigned shut[] = {14, 21, 47, 65, 5, 35, 64, 0, 32};
	for (unsigned i = 0; i < sizeof(shut) / sizeof(shut[0]); i++) {
		CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, shut[i])), 0);
		struct vmig_err e = {0};
		struct vmig_gpu_state before = g;
		CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, shut[i]), NULL, NULL, &e),
			   -VMIG_E_INSUFFICIENT_RESOURCES);
		CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	}
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 67)), 3); /* 1g.24gb-me */
	CHECK_EQ_U(vmig_gi_remaining(&g, gip(&g, 66)), 1); /* 2g.48gb-me */
	CHECK(create_auto(&g, 66) != NULL);
	CHECK(create_auto(&g, 67) != NULL);
	CHECK_EQ_U(vmig_gpu_occupied(&g), 0xfff);

	/* The other way round: +me.all needs every other GI to be -me. */
	struct vmig_gpu_state h = gpu_of("rtx-pro-6000");
	CHECK(create_auto(&h, 67) != NULL);
	CHECK_EQ_U(vmig_gi_remaining(&h, gip(&h, 64)), 1);
	CHECK(create_auto(&h, 14) != NULL);
	CHECK_EQ_U(vmig_gi_remaining(&h, gip(&h, 65)), 0);
	CHECK_EQ_U(vmig_gi_remaining(&h, gip(&h, 64)), 0);
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_gpu_create_gi(&h, gip(&h, 64), NULL, NULL, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "media engines") != NULL);
}

/* ------------------------------------------------------------------------ */
/* GI creation and destruction: explicit placements and errors              */
/* ------------------------------------------------------------------------ */

TEST(create_gi_errors_leave_state_alone)
{
	struct vmig_gpu_state g = gpu_of("a100-80gb");
	struct vmig_err e = {0};
	unsigned id = 55, s;

	CHECK(create_at(&g, 9, 0) != NULL);
	struct vmig_gpu_state before = g;
	s = 1; /* not a possible placement of 3g */
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 9), &s, &id, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "3g.40gb at placement 1:4") != NULL);
	s = 2; /* 2g at 2:2 overlaps the 3g at 0:4 */
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 14), &s, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "2g.20gb at placement 2:2") != NULL);
	CHECK(strstr(e.msg, "overlaps GPU instance 1") != NULL);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 5), NULL, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 0), NULL, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	/* A profile ID the model does not have (RTX PRO 6000's 47). */
	const struct vmig_model *rtx = vmig_model_find("rtx-pro-6000");
	CHECK_EQ_I(vmig_gpu_create_gi(&g, vmig_gi_profile_by_id(rtx, 47), NULL, &id, &e),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_U(id, 55);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);

	g.mig_current = 0;
	before = g;
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 19), NULL, &id, &e), -VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_I(e.code, VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_I(vmig_gpu_destroy_gi(&g, 1, &e), -VMIG_E_NOT_SUPPORTED);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	/* A NULL error object is fine. */
	CHECK_EQ_I(vmig_gpu_create_gi(&g, gip(&g, 19), NULL, NULL, NULL), -VMIG_E_NOT_SUPPORTED);
}

TEST(create_gi_explicit_and_sorted)
{
	struct vmig_gpu_state g = gpu_of("h100-80gb");
	CHECK(create_at(&g, 19, 3) != NULL); /* ID 10 */
	CHECK(create_at(&g, 14, 4) != NULL); /* ID 5 */
	CHECK(create_at(&g, 15, 0) != NULL); /* ID 3 */
	CHECK(create_at(&g, 19, 6) != NULL); /* ID 13 */
	CHECK(create_at(&g, 19, 2) != NULL); /* ID 9 */
	CHECK_EQ_U(g.ngi, 5);
	const unsigned ids[] = {3, 5, 9, 10, 13};
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ_U(g.gi[i].id, ids[i]);
	CHECK_EQ_U(vmig_gpu_occupied(&g), 0x7f);
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_gpu_destroy_gi(&g, 9, &e), 0);
	CHECK_EQ_I(vmig_gpu_destroy_gi(&g, 9, &e), -VMIG_E_NOT_FOUND);
	CHECK(strstr(e.msg, "destroying GPU instance 9") != NULL);
	CHECK_EQ_U(g.ngi, 4);
	CHECK_EQ_U(g.gi[2].id, 10);
	CHECK_EQ_U(vmig_gpu_occupied(&g), 0x7b);
	/* The freed slice is the only room left for a 1g. */
	struct vmig_gi_state *gi = create_auto(&g, 19);
	CHECK(gi && gi->start == 2 && gi->id == 9);
}

TEST(destroy_gi_in_use)
{
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	struct vmig_gi_state *gi = create_auto(&g, 9);
	CHECK(gi != NULL);
	unsigned gi_id = gi->id, ci_id = 9;
	struct vmig_err e = {0};
	const struct vmig_ci_profile *cp = vmig_ci_profile_default(gip(&g, 9));
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gi_id, cp, NULL, &ci_id, &e), 0);
	struct vmig_gpu_state before = g;
	CHECK_EQ_I(vmig_gpu_destroy_gi(&g, gi_id, &e), -VMIG_E_IN_USE);
	CHECK(strstr(e.msg, "In use by another client") != NULL);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, gi_id, ci_id, &e), 0);
	CHECK_EQ_I(vmig_gpu_destroy_gi(&g, gi_id, &e), 0);
	CHECK_EQ_U(g.ngi, 0);
	CHECK_EQ_U(vmig_gpu_occupied(&g), 0);
}

/* ------------------------------------------------------------------------ */
/* Compute instances (docs/placement.md, section 6)                         */
/* ------------------------------------------------------------------------ */

static const struct vmig_ci_profile *cip(const struct vmig_gi_profile *gp, unsigned id)
{
	const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, id);
	if (!cp) {
		fprintf(stderr, "  %s has no CI profile %u\n", gp->name, id);
		exit(1);
	}
	return cp;
}

TEST(ci_lowest_start_and_id)
{
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	struct vmig_gi_state *gi = create_auto(&g, 9);
	CHECK(gi != NULL);
	const struct vmig_gi_profile *gp = gip(&g, 9);
	unsigned gid = gi->id, id;
	struct vmig_err e = {0};
	/* Three 1c.3g.20gb: IDs 0, 1, 2 at 0:1, 1:1, 2:1. */
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ_I(vmig_gpu_create_ci(&g, gid, cip(gp, 0), NULL, &id, &e), 0);
		CHECK_EQ_U(id, i);
		gi = vmig_gpu_find_gi(&g, gid);
		CHECK_EQ_U(gi->ci[i].start, i);
		CHECK_EQ_U(gi->ci[i].size, 1);
	}
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 0);
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gid, cip(gp, 0), NULL, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	/* Free CI 1: the next one takes ID 1 and start 1 again. */
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, gid, 1, &e), 0);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, gid, 1, &e), -VMIG_E_NOT_FOUND);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 1);
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gid, cip(gp, 0), NULL, &id, &e), 0);
	CHECK_EQ_U(id, 1);
	CHECK_EQ_U(gi->ci[1].start, 1);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ_I(vmig_gpu_destroy_ci(&g, gid, i, &e), 0);
	/* The full 3g.20gb CI: ID 0 at 0:3; then 1c shows 0/3, as a real -lcip does. */
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gid, cip(gp, 2), NULL, &id, &e), 0);
	CHECK_EQ_U(id, 0);
	CHECK_EQ_U(gi->ci[0].start, 0);
	CHECK_EQ_U(gi->ci[0].size, 3);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 2)), 0);
}

TEST(ci_free_counts_2g)
{
	/* An A100 with driver 580: after one 1c.2g.10gb, -lcip shows 1c 1/2 and 2g 0/1. */
	struct vmig_gpu_state g = gpu_of("a100-40gb");
	struct vmig_gi_state *gi = create_auto(&g, 14);
	CHECK(gi != NULL);
	const struct vmig_gi_profile *gp = gip(&g, 14);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 2);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 1);
	unsigned id;
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gi->id, cip(gp, 0), NULL, &id, NULL), 0);
	CHECK_EQ_U(id, 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 1);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 0);
	CHECK_EQ_I(vmig_gpu_create_ci(&g, gi->id, cip(gp, 0), NULL, &id, NULL), 0);
	CHECK_EQ_U(id, 1);
	CHECK_EQ_U(gi->ci[1].start, 1);
	/* 4g GI: 4g (ID 3) default CI at 0:4, ID 0, as observed. */
	struct vmig_gpu_state h = gpu_of("a100-40gb");
	gi = create_auto(&h, 5);
	CHECK(gi != NULL);
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gi->id, cip(gip(&h, 5), 3), NULL, &id, NULL), 0);
	CHECK_EQ_U(id, 0);
	CHECK_EQ_U(gi->ci[0].start, 0);
	CHECK_EQ_U(gi->ci[0].size, 4);
}

TEST(ci_errors)
{
	struct vmig_gpu_state g = gpu_of("h100-80gb");
	struct vmig_gi_state *gi = create_auto(&g, 0); /* 7g.80gb */
	CHECK(gi != NULL);
	const struct vmig_gi_profile *gp = gip(&g, 0);
	struct vmig_err e = {0};
	unsigned id = 42, s;
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 5, cip(gp, 0), NULL, &id, &e), -VMIG_E_NOT_FOUND);
	s = 1; /* 3c starts at 0 or 4 */
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gp, 2), &s, &id, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "3c.7g.80gb at placement 1:3") != NULL);
	s = 4;
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gp, 2), &s, &id, &e), 0);
	CHECK_EQ_U(id, 0);
	s = 5; /* 1c at 5 overlaps the 3c at 4:3 */
	struct vmig_gpu_state before = g;
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gp, 0), &s, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	/* A CI profile of another GI profile (2g's REV1 1c, ID 7) is not in 7g. */
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gip(&g, 14), 7), NULL, &id, &e),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, 0, 3, &e), -VMIG_E_NOT_FOUND);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, 7, 0, &e), -VMIG_E_NOT_FOUND);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	/* The 1c then fills from the lowest start, 0 .. 3. */
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gp, 0), NULL, &id, &e), 0);
		CHECK_EQ_U(id, i + 1);
		CHECK_EQ_U(vmig_gi_find_ci(&g.gi[0], id)->start, i);
	}
	CHECK_EQ_U(vmig_ci_remaining(&g.gi[0], gp, cip(gp, 0)), 0);
	g.mig_current = 0;
	CHECK_EQ_I(vmig_gpu_create_ci(&g, 0, cip(gp, 0), NULL, &id, &e), -VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&g, 0, 0, &e), -VMIG_E_NOT_SUPPORTED);
}

/* ------------------------------------------------------------------------ */
/* Randomized properties over every MIG model                               */
/* ------------------------------------------------------------------------ */

/*
 * Create CIs of the listed profiles one after another without placements
 * in a new GI of profile gi_profile and check that CI k got ID k at
 * starts[k]:sizes[k] (docs/placement.md, section 6: every capture).
 */
static void expect_cis(const char *key, unsigned gi_profile, const unsigned *profiles,
		       const unsigned *starts, const unsigned *sizes, unsigned n)
{
	struct vmig_gpu_state g = gpu_of(key);
	struct vmig_gi_state *gi = create_auto(&g, gi_profile);
	CHECK(gi != NULL);
	if (!gi)
		return;
	const struct vmig_gi_profile *gp = gip(&g, gi_profile);
	unsigned gid = gi->id;
	for (unsigned k = 0; k < n; k++) {
		unsigned id = 99;
		struct vmig_err e = {0};
		int rc = vmig_gpu_create_ci(&g, gid, cip(gp, profiles[k]), NULL, &id, &e);
		if (rc != 0) {
			HARNESS_FAIL("%s GI profile %u: CI %u (profile %u) refused: %s", key,
				     gi_profile, k, profiles[k], e.msg);
			return;
		}
		gi = vmig_gpu_find_gi(&g, gid);
		const struct vmig_ci_state *ci = vmig_gi_find_ci(gi, id);
		CHECK_EQ_U(id, k);
		if (ci && (ci->start != starts[k] || ci->size != sizes[k]))
			HARNESS_FAIL("%s GI profile %u: CI %u at %u:%u, want %u:%u", key,
				     gi_profile, k, ci->start, ci->size, starts[k], sizes[k]);
	}
}

#define EXPECT_CIS(key, gi_profile, profiles, starts, sizes)                                       \
	expect_cis(key, gi_profile, (const unsigned[])profiles, (const unsigned[])starts,          \
		   (const unsigned[])sizes, sizeof((unsigned[])profiles) / sizeof(unsigned))
#define L(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

/* Section 6's table of captures, one line each. */
TEST(ci_captures)
{
	/* 1g GIs: CI 0 at 0:1 (A100-PCIE-40GB, H100, A100-SXM4-40GB 580, RTX PRO 6000 R610). */
	EXPECT_CIS("a100-40gb", 19, L(0), L(0), L(1));
	EXPECT_CIS("h100-80gb", 19, L(0), L(0), L(1));
	EXPECT_CIS("rtx-pro-6000", 14, L(0), L(0), L(1));
	/* 2g GI: two 1c at 0:1, 1:1 (A100 580); the whole CI at 0:2 (H100 R570+). */
	EXPECT_CIS("a100-40gb", 14, L(0, 0), L(0, 1), L(1, 1));
	EXPECT_CIS("h100-80gb", 14, L(1), L(0), L(2));
	/* 3g GI: three 1c at 0, 1, 2 (A100-PCIE-40GB); two 1c (A100 80GB PCIe, 515). */
	EXPECT_CIS("a100-40gb", 9, L(0, 0, 0), L(0, 1, 2), L(1, 1, 1));
	EXPECT_CIS("a100-80gb", 9, L(0, 0), L(0, 1), L(1, 1));
	EXPECT_CIS("h100-80gb", 9, L(0, 0, 0), L(0, 1, 2), L(1, 1, 1));
	/* The whole 3g CI: 0:3 on Ampere (A100-PCIE-40GB), 0:4 on Hopper (H100 R570+). */
	EXPECT_CIS("a100-40gb", 9, L(2), L(0), L(3));
	EXPECT_CIS("h100-80gb", 9, L(2), L(0), L(4));
	/* A 4g GI's whole CI at 0:4 (A100-SXM4-40GB, 580). */
	EXPECT_CIS("a100-40gb", 5, L(3), L(0), L(4));
	/*
	 * A 1c and then a 2c in a 3g GI and in a 4g GI (A100-SXM4-80GB, 550):
	 * accepted, IDs 0 and 1.  Ampere puts the 2c at 1:2 in the 3g GI, the
	 * later parts at 2:2 (their 3g CI space is 4 units wide).
	 */
	EXPECT_CIS("a100-80gb", 9, L(0, 1), L(0, 1), L(1, 2));
	EXPECT_CIS("a100-80gb", 5, L(0, 1), L(0, 2), L(1, 2));
	static const char *const later[] = {"h100-80gb",   "h100-nvl", "h200",
					    "gh200-144gb", "b200",     "gb200"};
	for (size_t k = 0; k < sizeof(later) / sizeof(later[0]); k++) {
		EXPECT_CIS(later[k], 9, L(0, 1), L(0, 2), L(1, 2));
		EXPECT_CIS(later[k], 9, L(2), L(0), L(4));
	}
}

/* Free counts and explicit starts in a 3g GI under both rules. */
TEST(ci_3g_rules)
{
	struct vmig_err e = {0};
	unsigned id, s;
	/* Hopper: 4 units, 3 slices. */
	struct vmig_gpu_state h = gpu_of("h100-80gb");
	struct vmig_gi_state *gi = create_auto(&h, 9);
	const struct vmig_gi_profile *gp = gip(&h, 9);
	unsigned gid = gi->id;
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 3);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 1);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 2)), 1);
	s = 1; /* a 2c at an odd start is not a placement */
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 1), &s, &id, &e), -VMIG_E_INVALID_ARGUMENT);
	s = 3; /* nor is a 1c at 3 */
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 0), &s, &id, &e), -VMIG_E_INVALID_ARGUMENT);
	s = 2; /* a 2c at 2:2, then the 1c goes to 0 and the GI is full */
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 1), &s, &id, &e), 0);
	gi = vmig_gpu_find_gi(&h, gid);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 1);
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 0), NULL, &id, &e), 0);
	CHECK(gi->ci[1].start == 0 && gi->ci[1].size == 1);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 0);
	s = 1; /* unit 1 is free, but all 3 slices are in use */
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 0), &s, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "compute slices") != NULL);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&h, gid, 0, &e), 0);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&h, gid, 1, &e), 0);
	/* Two 1c at 0 and 1 leave unit 2:2 free but one slice: no 2c. */
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 0), NULL, &id, &e), 0);
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 0), NULL, &id, &e), 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 0);
	s = 2;
	CHECK_EQ_I(vmig_gpu_create_ci(&h, gid, cip(gp, 1), &s, &id, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 1);

	/* Ampere: 3 slices, a 2c at 0 or 1. */
	struct vmig_gpu_state a = gpu_of("a100-40gb");
	gi = create_auto(&a, 9);
	gp = gip(&a, 9);
	gid = gi->id;
	s = 1;
	CHECK_EQ_I(vmig_gpu_create_ci(&a, gid, cip(gp, 1), &s, &id, &e), 0);
	gi = vmig_gpu_find_gi(&a, gid);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 1);
	CHECK_EQ_I(vmig_gpu_create_ci(&a, gid, cip(gp, 0), NULL, &id, &e), 0);
	CHECK(gi->ci[1].start == 0);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&a, gid, 0, &e), 0);
	/* A 1c at 0 leaves room for a 2c at 1, but a 1c at 1 leaves none. */
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 1);
	CHECK_EQ_I(vmig_gpu_destroy_ci(&a, gid, 1, &e), 0);
	s = 1;
	CHECK_EQ_I(vmig_gpu_create_ci(&a, gid, cip(gp, 0), &s, &id, &e), 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 1)), 0);
	CHECK_EQ_U(vmig_ci_remaining(gi, gp, cip(gp, 0)), 2);
}

/*
 * Free agrees with what an explicit create accepts: on random CI layouts of
 * every GI profile of every model, Free > 0 exactly when some possible start
 * is accepted, and every accepted create keeps the CIs apart and within the
 * GI's slices.
 */
TEST(ci_free_matches_explicit_creates)
{
	uint64_t x = 0x5eed;
	for (size_t mi = 0; mi < vmig_model_count(); mi++) {
		const struct vmig_model *m = vmig_model_at(mi);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		for (unsigned p = 0; p < m->ngi; p++) {
			for (unsigned round = 0; round < 20; round++) {
				struct vmig_gpu_state g = gpu_of(m->key);
				struct vmig_gi_state *gi = create_auto(&g, m->gi[p].id);
				const struct vmig_gi_profile *gp = &m->gi[p];
				if (!gi)
					continue;
				unsigned gid = gi->id;
				for (unsigned step = 0; step < 6; step++) {
					x = x * 6364136223846793005ull + 1442695040888963407ull;
					const struct vmig_ci_profile *cp =
					    &gp->ci[(x >> 33) % gp->nci];
					gi = vmig_gpu_find_gi(&g, gid);
					unsigned free_ = vmig_ci_remaining(gi, gp, cp), ok = 0;
					unsigned pick = (unsigned)(x >> 40) % cp->nstarts;
					struct vmig_gpu_state keep = g;
					for (unsigned k = 0; k < cp->nstarts; k++) {
						struct vmig_gpu_state c = g;
						unsigned s = cp->starts[k];
						int rc =
						    vmig_gpu_create_ci(&c, gid, cp, &s, NULL, NULL);
						ok += rc == 0;
						if (rc == 0 && k == pick)
							keep = c;
					}
					if ((free_ > 0) != (ok > 0))
						HARNESS_FAIL(
						    "%s %s CI %u: Free %u, %u starts accepted",
						    m->key, gp->name, cp->id, free_, ok);
					g = keep;
					gi = vmig_gpu_find_gi(&g, gid);
					uint32_t occ = 0;
					unsigned used = 0;
					for (unsigned j = 0; j < gi->nci; j++) {
						uint32_t sp = ((1u << gi->ci[j].size) - 1u)
							      << gi->ci[j].start;
						CHECK(!(occ & sp));
						CHECK(gi->ci[j].start + gi->ci[j].size <=
						      vmig_ci_units(gp));
						occ |= sp;
						used +=
						    vmig_ci_profile_by_id(gp, gi->ci[j].profile_id)
							->slices;
					}
					CHECK(used <= gp->slices);
				}
			}
		}
	}
}

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (unsigned)(rng_state % n) : 0;
}

/* Successive automatic creations of a GI profile that succeed on a copy. */
static unsigned gi_auto_count(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp)
{
	struct vmig_gpu_state c = *g;
	unsigned n = 0;
	while (n < 64 && vmig_gpu_create_gi(&c, gp, NULL, NULL, NULL) == 0)
		n++;
	return n;
}

static unsigned ci_auto_count(const struct vmig_gpu_state *g, unsigned gi_id,
			      const struct vmig_ci_profile *cp)
{
	struct vmig_gpu_state c = *g;
	unsigned n = 0;
	while (n < 64 && vmig_gpu_create_ci(&c, gi_id, cp, NULL, NULL, NULL) == 0)
		n++;
	return n;
}

static uint32_t span(unsigned start, unsigned size)
{
	return ((1u << size) - 1u) << start;
}

/* Check one GI's CIs: sorted unique IDs, inside the GI, no overlap. */
static void check_cis(const struct vmig_gpu_state *g, const struct vmig_gi_state *gi,
		      const struct vmig_gi_profile *gp, const char *ctx)
{
	uint32_t occ = 0;
	unsigned used = 0;
	for (unsigned j = 0; j < gi->nci; j++) {
		const struct vmig_ci_state *ci = &gi->ci[j];
		if (j && gi->ci[j - 1].id >= ci->id)
			HARNESS_FAIL("%s: GI %u CI IDs not sorted/unique", ctx, gi->id);
		if (ci->start + ci->size > vmig_ci_units(gp) || (occ & span(ci->start, ci->size)))
			HARNESS_FAIL("%s: GI %u CI %u at %u:%u overlaps or leaves the GI", ctx,
				     gi->id, ci->id, ci->start, ci->size);
		occ |= span(ci->start, ci->size);
		const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, ci->profile_id);
		used += cp ? cp->slices : 99;
	}
	if (used > gp->slices)
		HARNESS_FAIL("%s: GI %u's CIs hold %u of %u compute slices", ctx, gi->id, used,
			     gp->slices);
	for (unsigned k = 0; k < gp->nci; k++) {
		unsigned r = vmig_ci_remaining(gi, gp, &gp->ci[k]);
		unsigned a = ci_auto_count(g, gi->id, &gp->ci[k]);
		if (r != a)
			HARNESS_FAIL("%s: GI %u CI profile %u: remaining %u, creations %u", ctx,
				     gi->id, gp->ci[k].id, r, a);
	}
}

static void check_invariants(const struct vmig_gpu_state *g, const char *ctx)
{
	const struct vmig_model *m = g->model;
	uint32_t occ = 0;
	for (unsigned i = 0; i < g->ngi; i++) {
		const struct vmig_gi_state *gi = &g->gi[i];
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, gi->profile_id);
		if (i && g->gi[i - 1].id >= gi->id)
			HARNESS_FAIL("%s: GI IDs not sorted/unique", ctx);
		if (!gp || gi->size != gp->size || gi->start + gi->size > m->units ||
		    (occ & span(gi->start, gi->size))) {
			HARNESS_FAIL("%s: GI %u at %u:%u is bad or overlaps", ctx, gi->id,
				     gi->start, gi->size);
			continue;
		}
		if (gi->id != vmig_gi_id_for(m, g->gi_numbering, gi->start, gi->size))
			HARNESS_FAIL("%s: GI %u is not the heap ID of %u:%u", ctx, gi->id,
				     gi->start, gi->size);
		occ |= span(gi->start, gi->size);
		check_cis(g, gi, gp, ctx);
	}
	if (occ != vmig_gpu_occupied(g))
		HARNESS_FAIL("%s: occupied mask %#x, want %#x", ctx, vmig_gpu_occupied(g), occ);
	for (unsigned p = 0; p < m->ngi; p++) {
		unsigned r = vmig_gi_remaining(g, &m->gi[p]);
		unsigned a = gi_auto_count(g, &m->gi[p]);
		if (r != a)
			HARNESS_FAIL("%s: %s remaining %u, successive creations %u", ctx,
				     m->gi[p].name, r, a);
	}
}

/* One random mutation; a failing one must leave the state as it was. */
static void random_step(struct vmig_gpu_state *g)
{
	const struct vmig_model *m = g->model;
	struct vmig_gpu_state before = *g;
	struct vmig_err e = {0};
	unsigned start, action = rnd(10);
	int rc;

	if (action < 4) {
		const struct vmig_gi_profile *gp = &m->gi[rnd(m->ngi)];
		bool autop = rnd(2);
		start = rnd(3) ? gp->starts[rnd(gp->nstarts)] : rnd(m->units + 1);
		unsigned r = vmig_gi_remaining(g, gp);
		rc = vmig_gpu_create_gi(g, gp, autop ? NULL : &start, NULL, &e);
		if (autop && (rc == 0) != (r > 0))
			HARNESS_FAIL("%s: auto create of %s gave %d with remaining %u", m->key,
				     gp->name, rc, r);
	} else if (action < 6) {
		unsigned id = g->ngi && rnd(4) ? g->gi[rnd(g->ngi)].id : rnd(16);
		rc = vmig_gpu_destroy_gi(g, id, &e);
	} else if (action < 9 && g->ngi) {
		struct vmig_gi_state *gi = &g->gi[rnd(g->ngi)];
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, gi->profile_id);
		const struct vmig_ci_profile *cp = &gp->ci[rnd(gp->nci)];
		start = rnd(gp->slices + 1);
		rc = vmig_gpu_create_ci(g, gi->id, cp, rnd(2) ? NULL : &start, NULL, &e);
	} else if (g->ngi) {
		struct vmig_gi_state *gi = &g->gi[rnd(g->ngi)];
		unsigned id = gi->nci && rnd(4) ? gi->ci[rnd(gi->nci)].id : rnd(8);
		rc = vmig_gpu_destroy_ci(g, gi->id, id, &e);
	} else {
		return;
	}
	if (rc < 0 && memcmp(g, &before, sizeof(*g)) != 0)
		HARNESS_FAIL("%s: a failed operation (%s) changed the state", m->key, e.msg);
	if (rc < 0 && (e.code != -rc || !e.msg[0]))
		HARNESS_FAIL("%s: error %d without its message", m->key, rc);
}

static void destroy_everything(struct vmig_gpu_state *g)
{
	while (g->ngi) {
		struct vmig_gi_state *gi = &g->gi[rnd(g->ngi)];
		while (gi->nci)
			CHECK_EQ_I(vmig_gpu_destroy_ci(g, gi->id, gi->ci[rnd(gi->nci)].id, NULL),
				   0);
		CHECK_EQ_I(vmig_gpu_destroy_gi(g, gi->id, NULL), 0);
	}
	CHECK_EQ_U(vmig_gpu_occupied(g), 0);
	for (unsigned p = 0; p < g->model->ngi; p++)
		CHECK_EQ_U(vmig_gi_remaining(g, &g->model->gi[p]), g->model->gi[p].instances);
}

TEST(random_sequences_all_models)
{
	const char *iters = getenv("VMIG_TEST_ITERATIONS");
	unsigned sequences = iters && *iters ? (unsigned)strtoul(iters, NULL, 0) : 1000;
	unsigned models = 0;
	uint64_t seed = test_seed("random_sequences_all_models", 0x9e3779b97f4a7c15ull);
	rng_state = seed;
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		models++;
		for (unsigned s = 0; s < sequences && !harness_child_failed; s++) {
			struct vmig_gpu_state g = gpu_of(m->key);
			g.gi_numbering = rnd(2); /* heap or swapped */
			unsigned steps = 1 + rnd(40);
			for (unsigned k = 0; k < steps && !harness_child_failed; k++) {
				random_step(&g);
				check_invariants(&g, m->key);
			}
			destroy_everything(&g);
		}
	}
	CHECK(models >= 7);
	if (harness_child_failed)
		fprintf(stderr, "  seed %#llx\n", (unsigned long long)seed);
}

int main(void)
{
	RUN(gi_ids_heap_8_units);
	RUN(gi_ids_heap_a30_and_rtx);
	RUN(gi_ids_swapped_8_units);
	RUN(gi_ids_swapped_a30_and_rtx);
	RUN(gi_ids_swapped_captures);
	RUN(auto_h100_seven_1g);
	RUN(auto_a100_user_guide_examples);
	RUN(auto_rtx_pro_6000);
	RUN(auto_a100_known_ordering_issue);
	RUN(auto_rule_consequences);
	RUN(auto_choose_matches_create);
	RUN(remaining_empty_equals_instances);
	RUN(remaining_a100_with_3g_upper_half);
	RUN(remaining_instance_count_caps);
	RUN(media_engine_exclusivity_rtx);
	RUN(create_gi_errors_leave_state_alone);
	RUN(create_gi_explicit_and_sorted);
	RUN(destroy_gi_in_use);
	RUN(ci_lowest_start_and_id);
	RUN(ci_free_counts_2g);
	RUN(ci_errors);
	RUN(ci_captures);
	RUN(ci_3g_rules);
	RUN(ci_free_matches_explicit_creates);
	RUN(random_sequences_all_models);
	return harness_done();
}
