/*
 * test_profile.c — profile names: every form the grammar accepts, every way
 * it rejects, formatting, the memory-to-GB naming rule, CI names, the
 * resolution of typed profiles against the catalogue, and "-cgi" tuples.
 */
#include "harness.h"
#include "vmig/vmig.h"

#define INVAL (-VMIG_E_INVALID_ARGUMENT)

static void check_parse(const char *s, unsigned c, unsigned g, unsigned gb, unsigned attrs)
{
	struct vmig_profile_name n = {99, 99, 99, 99};
	int rc = vmig_profile_name_parse(s, &n);
	if (rc != 0 || n.c != c || n.g != g || n.gb != gb || n.attrs != attrs)
		HARNESS_FAIL("parse \"%s\": rc %d c %u g %u gb %u attrs %#x", s, rc, n.c, n.g, n.gb,
			     n.attrs);
}

static void check_reject(const char *s)
{
	struct vmig_profile_name n = {99, 99, 99, 99};
	int rc = vmig_profile_name_parse(s, &n);
	if (rc != INVAL)
		HARNESS_FAIL("parse \"%s\" gave %d, expected INVALID_ARGUMENT", s, rc);
	/* Outputs are written only on success. */
	if (n.c != 99 || n.g != 99 || n.gb != 99 || n.attrs != 99)
		HARNESS_FAIL("parse \"%s\" wrote its output on failure", s);
}

TEST(parse_every_form)
{
	check_parse("1g.5gb", 0, 1, 5, 0);
	check_parse("7g.141gb", 0, 7, 141, 0);
	check_parse("MIG 3g.40gb", 0, 3, 40, 0);
	check_parse("1c.3g.20gb", 1, 3, 20, 0);
	check_parse("MIG 4c.7g.40gb", 4, 7, 40, 0);
	check_parse("3c.3g.40gb", 3, 3, 40, 0);
	check_parse("1g.10gb+me", 0, 1, 10, VMIG_PF_ME);
	check_parse("1g.24gb+me.all", 0, 1, 24, VMIG_PF_ME_ALL);
	check_parse("2g.48gb+gfx", 0, 2, 48, VMIG_PF_GFX);
	check_parse("MIG 2g.48gb-me", 0, 2, 48, VMIG_PF_NO_ME);
	check_parse("1c.2g.12gb+me", 1, 2, 12, VMIG_PF_ME);
	check_parse("1g.0gb+me", 0, 1, 0, VMIG_PF_ME);
	check_parse("10g.100gb", 0, 10, 100, 0);
	check_parse("1g.4294967295gb", 0, 1, 4294967295u, 0);
}

TEST(parse_rejects_junk)
{
	static const char *const bad[] = {
	    "",
	    "MIG",
	    "MIG ",
	    "MIG  1g.5gb",
	    "mig 1g.5gb",
	    "MIG1g.5gb",
	    " 1g.5gb",
	    "1g.5gb ",
	    "1g.5gb\n",
	    "g.5gb",
	    "1g.gb",
	    "1g.",
	    "1g",
	    "1g5gb",
	    "1g.5",
	    "1g.5g",
	    "1g.5GB",
	    "1G.5gb",
	    "1g.5gb+",
	    "1g.5gb-",
	    "1g.5gb+foo",
	    "1g.5gb+ME",
	    "1g.5gb+me+me",
	    "1g.5gb+me,gfx",
	    "1g.5gb+me.al",
	    "1g.5gb+me.allx",
	    "1g.5gb-gfx",
	    "1g.5gb-me.all",
	    "1g.5gbx",
	    "1g..5gb",
	    "1c.g.5gb",
	    "1c..1g.5gb",
	    "1c.1c.1g.5gb",
	    "c.1g.5gb",
	    "1x.1g.5gb",
	    "1c1g.5gb",
	    "1c.1g.5gb.",
	    "-1g.5gb",
	    "+1g.5gb",
	    "0g.5gb",
	    "0c.1g.5gb",
	    "01g.5gb",
	    "1g.05gb",
	    "01c.1g.5gb",
	    "3c.2g.10gb",
	    "8c.7g.80gb",
	    "4294967296g.1gb",
	    "1g.4294967296gb",
	    "99999999999999999999g.1gb",
	    "1c.4294967296g.1gb",
	    "1g.5gb\t",
	    ".3g.40gb",
	    "1c..3g.40gb",
	    "1g.5gb:0",
	    "１g.5gb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_reject(bad[i]);
	struct vmig_profile_name n;
	CHECK_EQ_I(vmig_profile_name_parse(NULL, &n), INVAL);
	CHECK_EQ_I(vmig_profile_name_parse("1g.5gb", NULL), INVAL);
	/* An embedded NUL ends the string: what follows is not seen. */
	CHECK_EQ_I(vmig_profile_name_parse("1g.5gb\0junk", &n), 0);
}

TEST(format_round_trips)
{
	static const char *const names[] = {
	    "1g.5gb",	      "7g.141gb",    "1c.3g.20gb", "4c.7g.40gb",    "1g.10gb+me",
	    "1g.24gb+me.all", "2g.48gb+gfx", "2g.48gb-me", "1c.2g.12gb+me", "1g.0gb",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct vmig_profile_name n;
		char buf[32];
		CHECK_EQ_I(vmig_profile_name_parse(names[i], &n), 0);
		CHECK_EQ_I(vmig_profile_name_format(&n, buf, sizeof(buf)), (int)strlen(names[i]));
		CHECK_STR(buf, names[i]);
	}
	/* "MIG " is not printed back, and C == G drops the "<c>c." part. */
	struct vmig_profile_name n = {3, 3, 40, 0};
	char buf[16];
	CHECK_EQ_I(vmig_profile_name_format(&n, buf, sizeof(buf)), 7);
	CHECK_STR(buf, "3g.40gb");
}

TEST(format_errors)
{
	char buf[16];
	struct vmig_profile_name n = {1, 3, 20, 0};
	/* "1c.3g.20gb" needs 11 bytes with its NUL. */
	CHECK_EQ_I(vmig_profile_name_format(&n, buf, 11), 10);
	CHECK_EQ_I(vmig_profile_name_format(&n, buf, 10), -VMIG_E_INSUFFICIENT_SIZE);
	CHECK_EQ_I(vmig_profile_name_format(&n, NULL, 0), -VMIG_E_INSUFFICIENT_SIZE);
	CHECK_EQ_I(vmig_profile_name_format(&n, NULL, 8), INVAL);
	CHECK_EQ_I(vmig_profile_name_format(NULL, buf, sizeof(buf)), INVAL);
	struct vmig_profile_name bad_g = {0, 0, 5, 0};
	CHECK_EQ_I(vmig_profile_name_format(&bad_g, buf, sizeof(buf)), INVAL);
	struct vmig_profile_name bad_c = {4, 3, 5, 0};
	CHECK_EQ_I(vmig_profile_name_format(&bad_c, buf, sizeof(buf)), INVAL);
	struct vmig_profile_name two = {0, 1, 5, VMIG_PF_ME | VMIG_PF_GFX};
	CHECK_EQ_I(vmig_profile_name_format(&two, buf, sizeof(buf)), INVAL);
	struct vmig_profile_name odd = {0, 1, 5, VMIG_PF_DERIVED};
	CHECK_EQ_I(vmig_profile_name_format(&odd, buf, sizeof(buf)), INVAL);
	struct vmig_profile_name big = {4294967295u, 4294967295u, 4294967295u, VMIG_PF_ME_ALL};
	char wide[64];
	CHECK_EQ_I(vmig_profile_name_format(&big, wide, sizeof(wide)), 31);
	CHECK_STR(wide, "4294967295g.4294967295gb+me.all");
}

TEST(mem_gb_rule)
{
	/* The check values of docs/profile-names.md, "The GB number". */
	CHECK_EQ_U(vmig_profile_mem_gb(4864, 40960), 5);
	CHECK_EQ_U(vmig_profile_mem_gb(9856, 40960), 10);
	CHECK_EQ_U(vmig_profile_mem_gb(19968, 40960), 20);
	CHECK_EQ_U(vmig_profile_mem_gb(40192, 40960), 40);
	CHECK_EQ_U(vmig_profile_mem_gb(9984, 81559), 10);
	CHECK_EQ_U(vmig_profile_mem_gb(20096, 81559), 20);
	CHECK_EQ_U(vmig_profile_mem_gb(40448, 81559), 40);
	CHECK_EQ_U(vmig_profile_mem_gb(81152, 81559), 80);
	CHECK_EQ_U(vmig_profile_mem_gb(16384, 143771), 18);
	CHECK_EQ_U(vmig_profile_mem_gb(33280, 143771), 35);
	/* 4/8 of 141 GiB is 70.5: half rounds away from zero. */
	CHECK_EQ_U(vmig_profile_mem_gb(71168, 143771), 71);
	CHECK_EQ_U(vmig_profile_mem_gb(24192, 97887), 24);
	/* Exactly one eighth stays one eighth; one MiB more is two. */
	CHECK_EQ_U(vmig_profile_mem_gb(5120, 40960), 5);
	CHECK_EQ_U(vmig_profile_mem_gb(5121, 40960), 10);
	CHECK_EQ_U(vmig_profile_mem_gb(0, 40960), 0);
	CHECK_EQ_U(vmig_profile_mem_gb(1, 1), 1);
	CHECK_EQ_U(vmig_profile_mem_gb(100, 0), 0);
	/* Huge values saturate rather than wrap. */
	CHECK_EQ_U(vmig_profile_mem_gb(UINT64_MAX, UINT64_MAX), 0xffffffffu);
	CHECK_EQ_U(vmig_profile_mem_gb(UINT64_MAX, 1), 0xffffffffu);
}

TEST(ci_profile_names)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, 9);
	char buf[32];
	CHECK_EQ_I(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 0), buf, sizeof(buf)), 10);
	CHECK_STR(buf, "1c.3g.40gb");
	CHECK_EQ_I(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 2), buf, sizeof(buf)), 7);
	CHECK_STR(buf, "3g.40gb");
	CHECK_EQ_I(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 0), buf, 10),
		   -VMIG_E_INSUFFICIENT_SIZE);
	CHECK_EQ_I(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 0), NULL, 0),
		   -VMIG_E_INSUFFICIENT_SIZE);
	CHECK_EQ_I(vmig_ci_profile_name(NULL, gp->ci, buf, sizeof(buf)), INVAL);
	CHECK_EQ_I(vmig_ci_profile_name(gp, NULL, buf, sizeof(buf)), INVAL);
	gp = vmig_gi_profile_by_id(m, 14);
	CHECK_EQ_I(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 7), buf, sizeof(buf)), 10);
	CHECK_STR(buf, "1c.2g.20gb");
	gp = vmig_gi_profile_by_id(vmig_model_find("a30"), 6);
	CHECK(vmig_ci_profile_name(gp, vmig_ci_profile_by_id(gp, 0), buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "1c.2g.12gb+me");
}

TEST(gi_lookup)
{
	const struct vmig_model *m = vmig_model_find("a100-40gb");
	const struct vmig_gi_profile *gp = NULL, *sentinel = (const void *)&gp;
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "9", &gp), 0);
	CHECK(gp && gp->id == 9);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "0", &gp), 0);
	CHECK(gp && gp->id == 0);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "3g.20gb", &gp), 0);
	CHECK(gp && gp->id == 9);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "MIG 1g.5gb+me", &gp), 0);
	CHECK(gp && gp->id == 20);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "1g.10gb", &gp), 0);
	CHECK(gp && gp->id == 15);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "3c.3g.20gb", &gp), 0);
	CHECK(gp && gp->id == 9);
	static const char *const bad[] = {
	    "1",	  "21",	   "09",      "-9",	    "+9",	  " 9",
	    "9 ",	  "",	   "3g.40gb", "1c.3g.20gb", "1g.5gb+gfx", "3g.20gb+me",
	    "4294967296", "MIG 9", "3g.20GB", "MIG3g.20gb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gp = sentinel;
		int rc = vmig_gi_profile_lookup(m, bad[i], &gp);
		if (rc != INVAL || gp != sentinel)
			HARNESS_FAIL("lookup \"%s\": %d", bad[i], rc);
	}
	CHECK_EQ_I(vmig_gi_profile_lookup(NULL, "9", &gp), INVAL);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, NULL, &gp), INVAL);
	CHECK_EQ_I(vmig_gi_profile_lookup(m, "9", NULL), INVAL);
	/* Non-MIG models have no profiles. */
	CHECK_EQ_I(vmig_gi_profile_lookup(vmig_model_find("l4"), "0", &gp), INVAL);
	/* Every catalogue profile is found by its ID, its name and "MIG name". */
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *mm = vmig_model_at(i);
		for (unsigned k = 0; k < mm->ngi; k++) {
			char tok[64];
			const struct vmig_gi_profile *want = &mm->gi[k];
			snprintf(tok, sizeof(tok), "%u", want->id);
			CHECK(vmig_gi_profile_lookup(mm, tok, &gp) == 0 && gp == want);
			CHECK(vmig_gi_profile_lookup(mm, want->name, &gp) == 0 && gp == want);
			snprintf(tok, sizeof(tok), "MIG %s", want->name);
			CHECK(vmig_gi_profile_lookup(mm, tok, &gp) == 0 && gp == want);
		}
	}
}

TEST(ci_lookup)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	const struct vmig_gi_profile *g7 = vmig_gi_profile_by_id(m, 0);
	const struct vmig_gi_profile *g2 = vmig_gi_profile_by_id(m, 14);
	const struct vmig_ci_profile *cp = NULL, *sentinel = (const void *)&cp;
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "2", &cp), 0);
	CHECK(cp && cp->slices == 3);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "3c.7g.80gb", &cp), 0);
	CHECK(cp && cp->id == 2);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "MIG 1c.7g.80gb", &cp), 0);
	CHECK(cp && cp->id == 0);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "7g.80gb", &cp), 0);
	CHECK(cp && cp->id == 4);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "MIG 7g.80gb", &cp), 0);
	CHECK(cp && cp->id == 4);
	/* The REV1 CI shares its name with ID 0: the name finds ID 0, "7" finds it. */
	CHECK_EQ_I(vmig_ci_profile_lookup(g2, "1c.2g.20gb", &cp), 0);
	CHECK(cp && cp->id == 0);
	CHECK_EQ_I(vmig_ci_profile_lookup(g2, "7", &cp), 0);
	CHECK(cp && (cp->flags & VMIG_PF_REV1));
	static const char *const bad[] = {
	    "5",	  "7",		"6",	      "99", "",	 "01", "5c.7g.80gb", "6c.7g.80gb",
	    "1c.3g.40gb", "1c.7g.40gb", "7g.80gb+me", "1c", "x", "2 ", "8c.7g.80gb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp = sentinel;
		int rc = vmig_ci_profile_lookup(g7, bad[i], &cp);
		if (rc != INVAL || cp != sentinel)
			HARNESS_FAIL("CI lookup \"%s\": %d", bad[i], rc);
	}
	CHECK_EQ_I(vmig_ci_profile_lookup(NULL, "0", &cp), INVAL);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, NULL, &cp), INVAL);
	CHECK_EQ_I(vmig_ci_profile_lookup(g7, "0", NULL), INVAL);
	/* Every CI profile of every GI profile is found by ID and by name. */
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *mm = vmig_model_at(i);
		for (unsigned k = 0; k < mm->ngi; k++) {
			const struct vmig_gi_profile *gp = &mm->gi[k];
			for (unsigned j = 0; j < gp->nci; j++) {
				const struct vmig_ci_profile *want = &gp->ci[j];
				char tok[64];
				snprintf(tok, sizeof(tok), "%u", want->id);
				CHECK(vmig_ci_profile_lookup(gp, tok, &cp) == 0 && cp == want);
				if (want->flags & VMIG_PF_REV1)
					continue;
				CHECK(vmig_ci_profile_name(gp, want, tok, sizeof(tok)) > 0);
				CHECK(vmig_ci_profile_lookup(gp, tok, &cp) == 0 && cp == want);
			}
		}
	}
}

static void check_tuple(const char *s, const char *profile, bool has, unsigned start)
{
	char buf[32] = "unset";
	bool h = !has;
	unsigned st = 12345;
	int rc = vmig_tuple_parse(s, buf, sizeof(buf), &h, &st);
	if (rc != 0 || strcmp(buf, profile) != 0 || h != has || (has && st != start))
		HARNESS_FAIL("tuple \"%s\": rc %d profile \"%s\" has %d start %u", s, rc, buf, h,
			     st);
}

TEST(tuples)
{
	check_tuple("9", "9", false, 0);
	check_tuple("9:4", "9", true, 4);
	check_tuple("9:0", "9", true, 0);
	check_tuple("3g.40gb:4", "3g.40gb", true, 4);
	check_tuple("MIG 1g.10gb+me:6", "MIG 1g.10gb+me", true, 6);
	check_tuple("1c.7g.80gb:4294967295", "1c.7g.80gb", true, 4294967295u);
	static const char *const bad[] = {
	    "",	     ":",    ":4",   "9:",	     "9:x",
	    "9:4:5", "9::4", "9:-1", "9:+1",	     "9: 4",
	    "9:4 ",  "9:04", "9:00", "9:4294967296", "9:99999999999999999999",
	    "9:0x4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[32] = "unset";
		bool h = true;
		unsigned st = 12345;
		int rc = vmig_tuple_parse(bad[i], buf, sizeof(buf), &h, &st);
		if (rc != INVAL || strcmp(buf, "unset") != 0 || !h || st != 12345)
			HARNESS_FAIL("tuple \"%s\": %d", bad[i], rc);
	}
	char small[4];
	bool h;
	unsigned st;
	CHECK_EQ_I(vmig_tuple_parse("abc:1", small, sizeof(small), &h, &st), 0);
	CHECK_STR(small, "abc");
	CHECK_EQ_I(vmig_tuple_parse("abcd:1", small, sizeof(small), &h, &st),
		   -VMIG_E_INSUFFICIENT_SIZE);
	CHECK_EQ_I(vmig_tuple_parse(NULL, small, sizeof(small), &h, &st), INVAL);
	CHECK_EQ_I(vmig_tuple_parse("9", NULL, 4, &h, &st), INVAL);
	CHECK_EQ_I(vmig_tuple_parse("9", small, sizeof(small), NULL, &st), INVAL);
	CHECK_EQ_I(vmig_tuple_parse("9", small, sizeof(small), &h, NULL), INVAL);
	CHECK_EQ_I(vmig_tuple_parse("9", small, 0, &h, &st), -VMIG_E_INSUFFICIENT_SIZE);
}

int main(void)
{
	RUN(parse_every_form);
	RUN(parse_rejects_junk);
	RUN(format_round_trips);
	RUN(format_errors);
	RUN(mem_gb_rule);
	RUN(ci_profile_names);
	RUN(gi_lookup);
	RUN(ci_lookup);
	RUN(tuples);
	return harness_done();
}
