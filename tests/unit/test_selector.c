/*
 * test_selector.c — the device selector parser (lib/selector.c): every form
 * (all, none, void, indexes, GPU and MIG UUIDs and their unique prefixes,
 * GPU:MIG, GPU:GI:CI, GPU:GI for vmig run, the legacy MIG-GPU form, comma
 * lists) against an in-memory snapshot, and every error with its message.
 */
#include <strings.h>

#include "harness.h"
#include "vmig/vmig.h"

/*
 * GPU 0: H100 80GB, MIG on, GI A (3g.40gb) with two 1c CIs, GI B (1g.10gb)
 * with its whole-GI CI: MIG devices 0, 1 (in A) and 2 (in B).
 * GPU 1: H100 80GB, MIG off.  Known UUIDs so that prefixes are deterministic.
 */
static struct vmig_state st;
static unsigned gi_a, gi_b, ci_a0, ci_a1, ci_b;

static void setup(void)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_err err = {0};
	memset(&st, 0, sizeof(st));
	if (vmig_state_add_gpu(&st, m, &err) < 0 || vmig_state_add_gpu(&st, m, &err) < 0)
		abort();
	snprintf(st.gpu[0].uuid, sizeof(st.gpu[0].uuid),
		 "GPU-aaaa1111-0000-0000-0000-000000000000");
	snprintf(st.gpu[1].uuid, sizeof(st.gpu[1].uuid),
		 "GPU-aaaa2222-0000-0000-0000-000000000000");
	struct vmig_gpu_state *g = &st.gpu[0];
	g->mig_current = g->mig_pending = 1;
	const struct vmig_gi_profile *p3 = vmig_gi_profile_by_id(m, 9),
				     *p1 = vmig_gi_profile_by_id(m, 19);
	if (!p3 || !p1 || vmig_gpu_create_gi(g, p3, NULL, &gi_a, &err) < 0 ||
	    vmig_gpu_create_gi(g, p1, NULL, &gi_b, &err) < 0 ||
	    vmig_gpu_create_ci(g, gi_a, vmig_ci_profile_by_id(p3, 0), NULL, &ci_a0, &err) < 0 ||
	    vmig_gpu_create_ci(g, gi_a, vmig_ci_profile_by_id(p3, 0), NULL, &ci_a1, &err) < 0 ||
	    vmig_gpu_create_ci(g, gi_b, vmig_ci_profile_default(p1), NULL, &ci_b, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
	if (gi_a > gi_b) /* -L order is by GI ID; the checks below assume A first */
		abort();
}

static char uuid_of(unsigned gi, unsigned ci, char out[VMIG_UUID_LEN])
{
	vmig_mig_uuid(st.gpu[0].uuid, gi, ci, out);
	return out[4];
}

/* Select and expect success. */
static struct vmig_selection sel(const char *text, unsigned flags)
{
	struct vmig_selection s = {0};
	struct vmig_err err = {0};
	if (vmig_select(&st, text, flags, &s, &err) < 0)
		HARNESS_FAIL("vmig_select('%s'): %s", text, err.msg);
	return s;
}

/* Select and expect an error of code, its message containing want. */
static void sel_fails(const char *text, int code, const char *want)
{
	struct vmig_selection s = {.kind = VMIG_SEL_LIST, .n = 99};
	struct vmig_err err = {0};
	int r = vmig_select(&st, text, 0, &s, &err);
	CHECK_EQ_I(r, -code);
	CHECK_EQ_U(s.n, 99); /* untouched */
	if (!strstr(err.msg, want))
		HARNESS_FAIL("'%s': message '%s' lacks '%s'", text, err.msg, want);
	CHECK(!strchr(err.msg, '\n'));
}

TEST(keywords)
{
	setup();
	struct vmig_selection s = sel("none", 0);
	CHECK_EQ_U(s.kind, VMIG_SEL_NONE);
	CHECK_EQ_U(s.n, 0);
	s = sel("void", 0);
	CHECK_EQ_U(s.kind, VMIG_SEL_VOID);
	s = sel("", 0);
	CHECK_EQ_U(s.kind, VMIG_SEL_VOID);
	s = sel("all", 0);
	CHECK_EQ_U(s.kind, VMIG_SEL_ALL);
	/* two whole GPUs, then GPU 0's three MIG devices */
	CHECK_EQ_U(s.n, 5);
	CHECK(!s.dev[0].mig && !s.dev[1].mig && s.dev[2].mig && s.dev[4].mig);
	CHECK_EQ_U(s.dev[4].mig_index, 2);
	vmig_selection_free(&s);
	vmig_selection_free(NULL);
	sel_fails("all,0", VMIG_E_INVALID_ARGUMENT, "'all' stands alone");
	sel_fails("0,none", VMIG_E_INVALID_ARGUMENT, "'none' stands alone");
	sel_fails("ALL", VMIG_E_INVALID_ARGUMENT, "invalid device 'ALL'");
}

TEST(indexes_and_lists)
{
	setup();
	struct vmig_selection s = sel("1", 0);
	CHECK_EQ_U(s.n, 1);
	CHECK_EQ_U(s.dev[0].gpu, 1);
	CHECK(!s.dev[0].mig);
	CHECK_STR(s.dev[0].uuid, st.gpu[1].uuid);
	vmig_selection_free(&s);
	s = sel(" 1 , 0,1", 0); /* spaces around items; the repeat counts once */
	CHECK_EQ_U(s.n, 2);
	CHECK_EQ_U(s.dev[0].gpu, 1);
	CHECK_EQ_U(s.dev[1].gpu, 0);
	vmig_selection_free(&s);
	sel_fails("2", VMIG_E_NOT_FOUND, "there is no GPU 2 (2 GPUs)");
	sel_fails("0,,1", VMIG_E_INVALID_ARGUMENT, "an empty item");
	sel_fails("0,", VMIG_E_INVALID_ARGUMENT, "an empty item");
	sel_fails(",0", VMIG_E_INVALID_ARGUMENT, "an empty item");
	sel_fails("01", VMIG_E_INVALID_ARGUMENT, "invalid device '01'");
	sel_fails("-1", VMIG_E_INVALID_ARGUMENT, "invalid device '-1'");
	sel_fails("0 1", VMIG_E_INVALID_ARGUMENT, "space or control character");
	sel_fails("gpu0", VMIG_E_INVALID_ARGUMENT, "a GPU is an index or a GPU UUID");
	sel_fails("0,x", VMIG_E_INVALID_ARGUMENT, "invalid device 'x' in '0,x'");
	sel_fails("99999999999", VMIG_E_INVALID_ARGUMENT, "invalid device");
	char longitem[200];
	memset(longitem, '1', sizeof(longitem) - 1);
	longitem[sizeof(longitem) - 1] = '\0';
	sel_fails(longitem, VMIG_E_INVALID_ARGUMENT, "too long");
}

TEST(gpu_uuids_and_prefixes)
{
	setup();
	struct vmig_selection s = sel("GPU-aaaa2222-0000-0000-0000-000000000000", 0);
	CHECK_EQ_U(s.n, 1);
	CHECK_EQ_U(s.dev[0].gpu, 1);
	vmig_selection_free(&s);
	s = sel("gpu-AAAA1", 0); /* a unique prefix, any case */
	CHECK_EQ_U(s.dev[0].gpu, 0);
	vmig_selection_free(&s);
	sel_fails("GPU-aaaa", VMIG_E_INVALID_ARGUMENT, "prefix of several GPU UUIDs");
	sel_fails("GPU-bbbb", VMIG_E_NOT_FOUND, "no GPU has this UUID");
	sel_fails("GPU-", VMIG_E_INVALID_ARGUMENT, "a GPU UUID is GPU-");
	sel_fails("GPU-xyz", VMIG_E_INVALID_ARGUMENT, "a GPU UUID is GPU-");
	sel_fails("GPU-aaaa1111-0000-0000-0000-0000000000000", VMIG_E_INVALID_ARGUMENT,
		  "a GPU UUID is GPU-");
}

TEST(mig_uuids_and_prefixes)
{
	setup();
	char u[VMIG_UUID_LEN], pfx[16];
	uuid_of(gi_b, ci_b, u);
	struct vmig_selection s = sel(u, 0);
	CHECK_EQ_U(s.n, 1);
	CHECK(s.dev[0].mig);
	CHECK_EQ_U(s.dev[0].gpu, 0);
	CHECK_EQ_U(s.dev[0].gi, gi_b);
	CHECK_EQ_U(s.dev[0].ci, ci_b);
	CHECK_EQ_U(s.dev[0].mig_index, 2);
	CHECK_STR(s.dev[0].uuid, u);
	vmig_selection_free(&s);
	/* the shortest prefix that is unique among the three: 4..12 characters after MIG- */
	char a0[VMIG_UUID_LEN], a1[VMIG_UUID_LEN];
	uuid_of(gi_a, ci_a0, a0);
	uuid_of(gi_a, ci_a1, a1);
	size_t n = 5;
	while (n < 40 && (strncasecmp(u, a0, n) == 0 || strncasecmp(u, a1, n) == 0))
		n++;
	snprintf(pfx, sizeof(pfx), "%.*s", (int)n, u);
	for (char *p = pfx; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	s = sel(pfx, 0);
	CHECK_EQ_U(s.n, 1);
	CHECK_STR(s.dev[0].uuid, u);
	vmig_selection_free(&s);
	sel_fails("MIG-", VMIG_E_INVALID_ARGUMENT, "a MIG UUID is MIG-");
	sel_fails("MIG-q", VMIG_E_INVALID_ARGUMENT, "a MIG UUID is MIG-");
	sel_fails("MIG-ffffffff-ffff-ffff-ffff-ffffffffffff", VMIG_E_NOT_FOUND,
		  "no MIG device has this UUID");
	/* "MIG-" and one hex digit: several MIG devices, one, or none; each answered */
	char one[6] = "MIG-0";
	for (const char *c = "0123456789abcdef"; *c; c++) {
		struct vmig_selection t;
		struct vmig_err err = {0};
		one[4] = *c;
		int r = vmig_select(&st, one, 0, &t, &err);
		if (r == 0) {
			CHECK_EQ_U(t.n, 1);
			vmig_selection_free(&t);
		} else if (r == -VMIG_E_INVALID_ARGUMENT) {
			CHECK(strstr(err.msg, "prefix of several MIG UUIDs") != NULL);
		} else {
			CHECK_EQ_I(r, -VMIG_E_NOT_FOUND);
		}
	}
}

TEST(colon_forms)
{
	setup();
	struct vmig_selection s = sel("0:1", 0); /* GPU:MIG index */
	CHECK_EQ_U(s.n, 1);
	CHECK_EQ_U(s.dev[0].gi, gi_a);
	CHECK_EQ_U(s.dev[0].ci, ci_a1);
	CHECK_EQ_U(s.dev[0].mig_index, 1);
	vmig_selection_free(&s);
	char text[96];
	snprintf(text, sizeof(text), "0:%u:%u", gi_b, ci_b);
	s = sel(text, 0);
	CHECK_EQ_U(s.dev[0].mig_index, 2);
	vmig_selection_free(&s);
	snprintf(text, sizeof(text), "GPU-aaaa1:%u:%u,0:2", gi_b, ci_b); /* same device twice */
	s = sel(text, 0);
	CHECK_EQ_U(s.n, 1);
	vmig_selection_free(&s);
	snprintf(text, sizeof(text), "0:%u", gi_a); /* vmig run's GPU:GI */
	s = sel(text, VMIG_SEL_PAIR_IS_GI);
	CHECK_EQ_U(s.n, 1);
	CHECK_EQ_U(s.dev[0].gi, gi_a);
	CHECK_EQ_U(s.dev[0].ci, VMIG_SEL_NO_CI);
	CHECK_STR(s.dev[0].uuid, "");
	vmig_selection_free(&s);
	sel_fails("0:3", VMIG_E_NOT_FOUND, "GPU 0 has no MIG device 3");
	sel_fails("1:0", VMIG_E_NOT_FOUND, "GPU 1 has no MIG device 0");
	sel_fails("0:99:0", VMIG_E_NOT_FOUND, "no such GPU instance and compute instance");
	sel_fails("0:", VMIG_E_INVALID_ARGUMENT, "the MIG index is a decimal number");
	sel_fails(":0", VMIG_E_INVALID_ARGUMENT, "a GPU is an index or a GPU UUID");
	sel_fails("0:a:0", VMIG_E_INVALID_ARGUMENT, "GI and CI are decimal numbers");
	sel_fails("0:1:2:3", VMIG_E_INVALID_ARGUMENT, "at most GPU:GI:CI");
	sel_fails("5:0", VMIG_E_NOT_FOUND, "there is no GPU 5");
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_select(&st, "0:99", VMIG_SEL_PAIR_IS_GI, &s, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "no such GPU instance") != NULL);
	CHECK_EQ_I(vmig_select(&st, "0:x", VMIG_SEL_PAIR_IS_GI, &s, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(err.msg, "the GI is a decimal number") != NULL);
	CHECK_EQ_I(vmig_select(&st, "0", 0x80, &s, &err), -VMIG_E_INVALID_ARGUMENT);
}

TEST(legacy_form)
{
	setup();
	char text[96], u[VMIG_UUID_LEN];
	snprintf(text, sizeof(text), "MIG-%s/%u/%u", st.gpu[0].uuid, gi_a, ci_a0);
	struct vmig_selection s = sel(text, 0);
	CHECK_EQ_U(s.n, 1);
	CHECK_EQ_U(s.dev[0].mig_index, 0);
	CHECK_STR(s.dev[0].uuid, (uuid_of(gi_a, ci_a0, u), u));
	vmig_selection_free(&s);
	snprintf(text, sizeof(text), "mig-GPU-aaaa1/%u/%u", gi_b, ci_b);
	s = sel(text, 0);
	CHECK_EQ_U(s.dev[0].mig_index, 2);
	vmig_selection_free(&s);
	sel_fails("MIG-GPU-aaaa1/1", VMIG_E_INVALID_ARGUMENT, "MIG-GPU-<uuid>/<GI>/<CI>");
	sel_fails("MIG-GPU-aaaa1/x/0", VMIG_E_INVALID_ARGUMENT, "GI and CI are decimal");
	sel_fails("MIG-GPU-aaaa2/0/0", VMIG_E_NOT_FOUND, "no such GPU instance");
	sel_fails("MIG-GPU-zz/0/0", VMIG_E_INVALID_ARGUMENT, "a GPU UUID is GPU-");
}

TEST(select_one)
{
	setup();
	struct vmig_sel_dev d = {.gpu = 77};
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_select_one(&st, "0:2", 0, &d, &err), 0);
	CHECK_EQ_U(d.gi, gi_b);
	d.gpu = 77;
	static const char *const refused[] = {"0", "all", "none", "", "0:0,0:1"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CHECK_EQ_I(vmig_select_one(&st, refused[i], 0, &d, &err), -VMIG_E_INVALID_ARGUMENT);
		CHECK_EQ_U(d.gpu, 77);
	}
	CHECK(strstr(err.msg, "exactly one GPU instance") != NULL);
	vmig_select_one(&st, "1", 0, &d, &err);
	CHECK(strstr(err.msg, "is a whole GPU") != NULL);
	CHECK(strstr(err.msg, "GPU:MIG)") != NULL);
	vmig_select_one(&st, "1", VMIG_SEL_PAIR_IS_GI, &d, &err);
	CHECK(strstr(err.msg, "GPU:GI)") != NULL);
	CHECK_EQ_I(vmig_select_one(&st, "9", 0, &d, &err), -VMIG_E_NOT_FOUND);
}

int main(void)
{
	RUN(keywords);
	RUN(indexes_and_lists);
	RUN(gpu_uuids_and_prefixes);
	RUN(mig_uuids_and_prefixes);
	RUN(colon_forms);
	RUN(legacy_form);
	RUN(select_one);
	return harness_done();
}
