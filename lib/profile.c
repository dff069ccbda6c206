/*
 * profile.c — profile names: the grammar "[<c>c.]<g>g.<gb>gb[attr]" that
 * nvidia-smi prints and mig-parted configs use, the rule that turns a
 * profile's memory into the GB number of its name, and the resolution of
 * what a user types ("9", "3g.40gb", "MIG 3g.40gb", "1c.3g.40gb", "9:4")
 * into catalogue profiles.  docs/profile-names.md describes the grammar.
 *
 * Parsing is strict: numbers are canonical decimals (no sign, no leading
 * zero, no overflow), nothing may be empty, and nothing may follow the
 * name.  A name that parses is therefore printed back byte for byte by
 * vmig_profile_name_format.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The attribute suffixes, longest first so "+me.all" is not read as "+me". */
static const struct {
	const char *text;
	unsigned flag;
} attr_names[] = {
    {"+me.all", VMIG_PF_ME_ALL},
    {"+me", VMIG_PF_ME},
    {"+gfx", VMIG_PF_GFX},
    {"-me", VMIG_PF_NO_ME},
};

#define MIG_PREFIX "MIG "

/* A whole string that is one canonical number. */
static bool parse_number(const char *s, unsigned *ret)
{
	unsigned v;
	if (!s || !vmig__read_dec(&s, UINT_MAX, &v) || *s != '\0')
		return false;
	*ret = v;
	return true;
}

/* Read a number followed by the literal unit text ("c.", "g.", "gb"). */
static int read_part(const char **p, const char *unit, unsigned *ret)
{
	size_t n = strlen(unit);
	if (!vmig__read_dec(p, UINT_MAX, ret) || strncmp(*p, unit, n) != 0)
		return -VMIG_E_INVALID_ARGUMENT;
	*p += n;
	return 0;
}

/* The attribute suffix at p, which must be all that is left. */
static int read_attrs(const char *p, unsigned *ret)
{
	if (*p == '\0') {
		*ret = 0;
		return 0;
	}
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(attr_names); i++) {
		if (strcmp(p, attr_names[i].text) == 0) {
			*ret = attr_names[i].flag;
			return 0;
		}
	}
	return -VMIG_E_INVALID_ARGUMENT;
}

int vmig_profile_name_parse(const char *s, struct vmig_profile_name *ret)
{
	struct vmig_profile_name n = {0};
	bool has_c = false;
	unsigned first;

	if (!s || !ret)
		return -VMIG_E_INVALID_ARGUMENT;
	if (strncmp(s, MIG_PREFIX, strlen(MIG_PREFIX)) == 0)
		s += strlen(MIG_PREFIX);
	/* The first number is C when a 'c' follows it, else G. */
	if (!vmig__read_dec(&s, UINT_MAX, &first))
		return -VMIG_E_INVALID_ARGUMENT;
	if (strncmp(s, "c.", 2) == 0) {
		n.c = first;
		has_c = true;
		s += 2;
		if (read_part(&s, "g.", &n.g) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else if (strncmp(s, "g.", 2) == 0) {
		n.g = first;
		s += 2;
	} else {
		return -VMIG_E_INVALID_ARGUMENT;
	}
	if (read_part(&s, "gb", &n.gb) < 0 || read_attrs(s, &n.attrs) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (n.g == 0 || (has_c && n.c == 0) || n.c > n.g)
		return -VMIG_E_INVALID_ARGUMENT;
	*ret = n;
	return 0;
}

static const char *attr_text(unsigned attrs)
{
	if (attrs == 0)
		return "";
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(attr_names); i++)
		if (attrs == attr_names[i].flag)
			return attr_names[i].text;
	return NULL;
}

int vmig_profile_name_format(const struct vmig_profile_name *n, char *buf, size_t size)
{
	const char *attr;
	int len;

	if (!n || n->g == 0 || n->c > n->g || !(attr = attr_text(n->attrs)))
		return -VMIG_E_INVALID_ARGUMENT;
	if (!buf && size)
		return -VMIG_E_INVALID_ARGUMENT;
	/* C == G names the whole GI, which nvidia-smi writes without "<c>c.". */
	if (n->c != 0 && n->c != n->g)
		len = snprintf(buf, size, "%uc.%ug.%ugb%s", n->c, n->g, n->gb, attr);
	else
		len = snprintf(buf, size, "%ug.%ugb%s", n->g, n->gb, attr);
	if (len < 0)
		return -VMIG_E_UNKNOWN;
	if ((size_t)len >= size)
		return -VMIG_E_INSUFFICIENT_SIZE;
	return len;
}

unsigned vmig_profile_mem_gb(uint64_t mem_mib, uint64_t total_mib)
{
	unsigned __int128 eighths, total_gib, gb;

	if (total_mib == 0)
		return 0;
	/* The memory as a fraction of the GPU, rounded up to eighths ... */
	eighths = ((unsigned __int128)mem_mib * 8 + total_mib - 1) / total_mib;
	/* ... times the GPU's size in whole GiB, rounded up ... */
	total_gib = ((unsigned __int128)total_mib + 1023) / 1024;
	/* ... rounded half away from zero (Go's math.Round) to whole GB. */
	gb = (eighths * total_gib + 4) / 8;
	return gb > UINT_MAX ? UINT_MAX : (unsigned)gb;
}

int vmig_ci_profile_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			 char *buf, size_t size)
{
	int len;

	if (!gp || !cp || !gp->name || (!buf && size))
		return -VMIG_E_INVALID_ARGUMENT;
	if (cp->slices == gp->slices)
		len = snprintf(buf, size, "%s", gp->name);
	else
		len = snprintf(buf, size, "%uc.%s", cp->slices, gp->name);
	if (len < 0)
		return -VMIG_E_UNKNOWN;
	if ((size_t)len >= size)
		return -VMIG_E_INSUFFICIENT_SIZE;
	return len;
}

/* Does the catalogue name of a GI profile match a parsed name's G part? */
static bool gi_name_matches(const struct vmig_gi_profile *gp, const struct vmig_profile_name *n)
{
	struct vmig_profile_name own;

	if (vmig_profile_name_parse(gp->name, &own) < 0)
		return false;
	return own.g == n->g && own.gb == n->gb && own.attrs == n->attrs;
}

int vmig_gi_profile_lookup(const struct vmig_model *m, const char *token,
			   const struct vmig_gi_profile **ret)
{
	struct vmig_profile_name n;
	unsigned id;

	if (!m || !token || !ret)
		return -VMIG_E_INVALID_ARGUMENT;
	if (parse_number(token, &id)) {
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, id);
		if (!gp)
			return -VMIG_E_INVALID_ARGUMENT;
		*ret = gp;
		return 0;
	}
	/* A GI profile's name has no "<c>c." part (or C == G, the same thing). */
	if (vmig_profile_name_parse(token, &n) < 0 || (n.c != 0 && n.c != n.g))
		return -VMIG_E_INVALID_ARGUMENT;
	for (unsigned i = 0; i < m->ngi; i++) {
		if (gi_name_matches(&m->gi[i], &n)) {
			*ret = &m->gi[i];
			return 0;
		}
	}
	return -VMIG_E_INVALID_ARGUMENT;
}

int vmig_ci_profile_lookup(const struct vmig_gi_profile *gp, const char *token,
			   const struct vmig_ci_profile **ret)
{
	struct vmig_profile_name n;
	unsigned id, c;

	if (!gp || !token || !ret)
		return -VMIG_E_INVALID_ARGUMENT;
	if (parse_number(token, &id)) {
		const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, id);
		if (!cp)
			return -VMIG_E_INVALID_ARGUMENT;
		*ret = cp;
		return 0;
	}
	if (vmig_profile_name_parse(token, &n) < 0 || !gi_name_matches(gp, &n))
		return -VMIG_E_INVALID_ARGUMENT;
	c = n.c ? n.c : n.g;
	/*
	 * The first profile in -lcip order with that many slices: a REV1 CI
	 * shares its name with the plain one listed before it, and is reached
	 * by its numeric ID.
	 */
	for (unsigned i = 0; i < gp->nci; i++) {
		if (gp->ci[i].slices == c) {
			*ret = &gp->ci[i];
			return 0;
		}
	}
	return -VMIG_E_INVALID_ARGUMENT;
}

int vmig_tuple_parse(const char *s, char *profile, size_t size, bool *ret_has_start,
		     unsigned *ret_start)
{
	const char *colon;
	size_t len;
	unsigned start = 0;

	if (!s || !profile || !ret_has_start || !ret_start)
		return -VMIG_E_INVALID_ARGUMENT;
	colon = strchr(s, ':');
	len = colon ? (size_t)(colon - s) : strlen(s);
	if (len == 0)
		return -VMIG_E_INVALID_ARGUMENT;
	/* The start is one canonical number; a second ':' is not part of one. */
	if (colon && !parse_number(colon + 1, &start))
		return -VMIG_E_INVALID_ARGUMENT;
	if (len >= size)
		return -VMIG_E_INSUFFICIENT_SIZE;
	memcpy(profile, s, len);
	profile[len] = '\0';
	*ret_has_start = colon != NULL;
	*ret_start = start;
	return 0;
}
