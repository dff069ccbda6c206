/*
 * fuzz_selector.c — libFuzzer target over the device selector parser
 * (lib/selector.c) and the CDI kind check (lib/cdi.c): any input, with and
 * without VMIG_SEL_PAIR_IS_GI, against a fixed snapshot (an H100 with three
 * MIG devices, an A100 without MIG).  What must hold: a result names only
 * devices the snapshot has, with the UUIDs the snapshot gives them; an
 * error is one line; vmig_select_one agrees with vmig_select.  A broken
 * invariant traps, so the fuzzer reports it as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmig/vmig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static struct vmig_state st;

static void setup(void)
{
	const struct vmig_model *h = vmig_model_find("h100-80gb"),
				*a = vmig_model_find("a100-40gb");
	unsigned gi, ci;
	REQUIRE(vmig_state_add_gpu(&st, h, NULL) == 0 && vmig_state_add_gpu(&st, a, NULL) == 0);
	snprintf(st.gpu[0].uuid, VMIG_UUID_LEN, "GPU-aaaa1111-0000-0000-0000-000000000000");
	snprintf(st.gpu[1].uuid, VMIG_UUID_LEN, "GPU-aaaa2222-0000-0000-0000-000000000000");
	struct vmig_gpu_state *g = &st.gpu[0];
	g->mig_current = g->mig_pending = 1;
	const struct vmig_gi_profile *p3 = vmig_gi_profile_by_id(h, 9),
				     *p1 = vmig_gi_profile_by_id(h, 19);
	REQUIRE(vmig_gpu_create_gi(g, p3, NULL, &gi, NULL) == 0);
	REQUIRE(vmig_gpu_create_ci(g, gi, vmig_ci_profile_by_id(p3, 0), NULL, &ci, NULL) == 0);
	REQUIRE(vmig_gpu_create_ci(g, gi, vmig_ci_profile_by_id(p3, 0), NULL, &ci, NULL) == 0);
	REQUIRE(vmig_gpu_create_gi(g, p1, NULL, &gi, NULL) == 0);
	REQUIRE(vmig_gpu_create_ci(g, gi, vmig_ci_profile_default(p1), NULL, &ci, NULL) == 0);
}

static void check(const char *s, unsigned flags)
{
	struct vmig_selection sel;
	struct vmig_err err = {0};
	struct vmig_sel_dev one;
	int r = vmig_select(&st, s, flags, &sel, &err);
	if (r < 0) {
		REQUIRE(r == -VMIG_E_INVALID_ARGUMENT || r == -VMIG_E_NOT_FOUND);
		REQUIRE(err.msg[0] && !strchr(err.msg, '\n'));
		REQUIRE(vmig_select_one(&st, s, flags, &one, NULL) == r);
		return;
	}
	for (size_t i = 0; i < sel.n; i++) {
		const struct vmig_sel_dev *d = &sel.dev[i];
		REQUIRE(d->gpu < st.ngpu);
		if (!d->mig) {
			REQUIRE(strcmp(d->uuid, st.gpu[d->gpu].uuid) == 0);
			continue;
		}
		struct vmig_gi_state *gi = vmig_gpu_find_gi(&st.gpu[d->gpu], d->gi);
		REQUIRE(gi);
		if (d->ci == VMIG_SEL_NO_CI) {
			REQUIRE(flags & VMIG_SEL_PAIR_IS_GI);
			continue;
		}
		REQUIRE(vmig_gi_find_ci(gi, d->ci));
		char u[VMIG_UUID_LEN];
		vmig_mig_uuid(st.gpu[d->gpu].uuid, d->gi, d->ci, u);
		REQUIRE(strcmp(u, d->uuid) == 0);
		for (size_t k = 0; k < i; k++) /* no device twice */
			REQUIRE(!(sel.dev[k].mig && sel.dev[k].gpu == d->gpu &&
				  sel.dev[k].gi == d->gi && sel.dev[k].ci == d->ci));
	}
	bool single = sel.kind == VMIG_SEL_LIST && sel.n == 1 && sel.dev[0].mig;
	REQUIRE((vmig_select_one(&st, s, flags, &one, NULL) == 0) == single);
	vmig_selection_free(&sel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, 0);
	check(s, VMIG_SEL_PAIR_IS_GI);
	struct vmig_err err = {0};
	if (vmig_cdi_kind_check(s, &err) < 0)
		REQUIRE(!strchr(err.msg, '\n'));
	else
		REQUIRE(strchr(s, '/') && strlen(s) >= 5);
	free(s);
	return 0;
}
