/*
 * fuzz_profile.c — libFuzzer target over the profile-name grammar: the
 * parser (and, for every name it accepts, the formatter, which must print
 * the name back byte for byte without "MIG "), the GI and CI lookups on a
 * catalogue model chosen by the input's length, and the "-cgi" tuple
 * parser.  A broken invariant traps, so the fuzzer reports it as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmig/vmig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static void fuzz_name(const char *s)
{
	struct vmig_profile_name n;
	char buf[64];

	if (vmig_profile_name_parse(s, &n) < 0)
		return;
	REQUIRE(n.g > 0 && n.c <= n.g);
	int len = vmig_profile_name_format(&n, buf, sizeof(buf));
	REQUIRE(len > 0 && (size_t)len < sizeof(buf));
	/* The canonical form drops "MIG " and a "<c>c." equal to G. */
	struct vmig_profile_name back;
	REQUIRE(vmig_profile_name_parse(buf, &back) == 0);
	REQUIRE(back.g == n.g && back.gb == n.gb && back.attrs == n.attrs);
	REQUIRE(back.c == (n.c == n.g ? 0 : n.c));
	const char *plain = strncmp(s, "MIG ", 4) == 0 ? s + 4 : s;
	if (n.c == 0 || n.c != n.g)
		REQUIRE(strcmp(buf, plain) == 0);
}

static void fuzz_lookup(const char *s, size_t size)
{
	const struct vmig_model *m = vmig_model_at(size % vmig_model_count());
	const struct vmig_gi_profile *gp = NULL;

	if (vmig_gi_profile_lookup(m, s, &gp) < 0)
		return;
	REQUIRE(gp >= m->gi && gp < m->gi + m->ngi);
	const struct vmig_ci_profile *cp = NULL;
	if (vmig_ci_profile_lookup(gp, s, &cp) == 0)
		REQUIRE(cp >= gp->ci && cp < gp->ci + gp->nci);
}

static void fuzz_tuple(const char *s, size_t size)
{
	char profile[32];
	bool has_start = false;
	unsigned start = 0;

	if (vmig_tuple_parse(s, profile, sizeof(profile), &has_start, &start) < 0)
		return;
	REQUIRE(profile[0] != '\0' && strlen(profile) < sizeof(profile));
	REQUIRE(strncmp(s, profile, strlen(profile)) == 0);
	REQUIRE(s[strlen(profile)] == (has_start ? ':' : '\0'));
	fuzz_lookup(profile, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_name(s);
	fuzz_lookup(s, size);
	fuzz_tuple(s, size);
	/* The naming rule over the first 16 bytes taken as two numbers. */
	if (size >= 16) {
		uint64_t mem, total;
		memcpy(&mem, data, 8);
		memcpy(&total, data + 8, 8);
		unsigned gb = vmig_profile_mem_gb(mem, total);
		if (total != 0 && mem <= total && total < (1ull << 50))
			REQUIRE(gb <= (total + 1023) / 1024);
	}
	free(s);
	return 0;
}
