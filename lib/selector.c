/*
 * selector.c — the one parser of device selectors (vmig.h, docs/containers.md):
 * every form a user types to name GPUs and MIG devices, in NVIDIA_VISIBLE_DEVICES,
 * a CDI device name or `vmig run -d`, resolved against a snapshot.
 *
 * The list is split into items; each item is classified by its shape (a
 * keyword, a UUID or a prefix of one, the legacy MIG-GPU form, colon forms,
 * an index) and resolved into devices, which are appended without
 * duplicates.  The MIG devices of a GPU are its CIs in (GI ID, CI ID)
 * order, the order of `vmig -L`, whose position is the MIG index.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define ITEM_MAX 128 /* longest item: "MIG-GPU-<36>/<gi>/<ci>" is 58 */
#define NUM_MAX	 999999u

struct sel_build {
	const struct vmig_state *st;
	unsigned flags;
	const char *text; /* the whole selector, for messages */
	struct vmig_selection out;
	size_t cap;
	struct vmig_err *err;
};

static int bad(struct sel_build *b, const char *item, const char *why)
{
	return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT, "invalid device '%.64s'%s%.64s%s: %s",
			    item, strcmp(item, b->text) ? " in '" : "",
			    strcmp(item, b->text) ? b->text : "", strcmp(item, b->text) ? "'" : "",
			    why);
}

static int missing(struct sel_build *b, const char *item, const char *what)
{
	return vmig_err_set(b->err, VMIG_E_NOT_FOUND, "device '%.64s': %s", item, what);
}

/* A decimal number without a sign or leading zeros; false if none or too big. */
static bool number(const char *s, unsigned *ret)
{
	const char *p = s;
	return vmig__read_dec(&p, NUM_MAX, ret) && *p == '\0';
}

/* After the prefix: 1-36 characters, hex digits and dashes only. */
static bool uuid_tail_ok(const char *t)
{
	size_t n = strlen(t);
	return n >= 1 && n <= 36 && strspn(t, "0123456789abcdefABCDEF-") == n;
}

static int add(struct sel_build *b, const struct vmig_sel_dev *d)
{
	for (size_t i = 0; i < b->out.n; i++) {
		const struct vmig_sel_dev *o = &b->out.dev[i];
		if (o->gpu == d->gpu && o->mig == d->mig &&
		    (!d->mig || (o->gi == d->gi && o->ci == d->ci)))
			return 0;
	}
	if (b->out.n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct vmig_sel_dev *p = realloc(b->out.dev, cap * sizeof(*p));
		if (!p)
			return vmig_err_set(b->err, VMIG_E_NO_MEMORY, NULL);
		b->out.dev = p;
		b->cap = cap;
	}
	b->out.dev[b->out.n++] = *d;
	return 0;
}

static void whole_gpu(const struct vmig_state *st, unsigned g, struct vmig_sel_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->gpu = g;
	snprintf(d->uuid, sizeof(d->uuid), "%s", st->gpu[g].uuid);
}

/*
 * The MIG device of GPU g at MIG index want (want_gi/want_ci unused), or
 * with by_ids the one with GI and CI IDs want_gi/want_ci.  MIG devices exist
 * only while the GPU's MIG mode is on, as -L lists them.
 */
static bool mig_device(const struct vmig_state *st, unsigned g, bool by_ids, unsigned want,
		       unsigned want_gi, unsigned want_ci, struct vmig_sel_dev *d)
{
	const struct vmig_gpu_state *gpu = &st->gpu[g];
	unsigned idx = 0;
	if (!gpu->mig_current)
		return false;
	for (unsigned k = 0; k < gpu->ngi; k++)
		for (unsigned c = 0; c < gpu->gi[k].nci; c++, idx++) {
			unsigned gi = gpu->gi[k].id, ci = gpu->gi[k].ci[c].id;
			if (by_ids ? gi != want_gi || ci != want_ci : idx != want)
				continue;
			memset(d, 0, sizeof(*d));
			d->gpu = g;
			d->mig = true;
			d->gi = gi;
			d->ci = ci;
			d->mig_index = idx;
			vmig_mig_uuid(gpu->uuid, gi, ci, d->uuid);
			return true;
		}
	return false;
}

/* The GPU whose UUID has the prefix (case-insensitive): index, or -1 none, -2 several. */
static int gpu_by_uuid(const struct vmig_state *st, const char *prefix)
{
	int found = -1;
	size_t n = strlen(prefix);
	for (unsigned g = 0; g < st->ngpu; g++)
		if (strncasecmp(st->gpu[g].uuid, prefix, n) == 0) {
			if (found >= 0)
				return -2;
			found = (int)g;
		}
	return found;
}

/* A GPU named by index or GPU UUID prefix; its index, or a negated error. */
static int gpu_ref(struct sel_build *b, const char *item, const char *ref)
{
	unsigned idx;
	if (strncasecmp(ref, "GPU-", 4) == 0) {
		if (!uuid_tail_ok(ref + 4))
			return bad(b, item,
				   "a GPU UUID is GPU- and up to 36 hex digits and dashes");
		int g = gpu_by_uuid(b->st, ref);
		if (g == -2)
			return vmig_err_set(
			    b->err, VMIG_E_INVALID_ARGUMENT,
			    "device '%.64s': '%.48s' is a prefix of several GPU UUIDs", item, ref);
		return g < 0 ? missing(b, item, "no GPU has this UUID") : g;
	}
	if (!number(ref, &idx))
		return bad(b, item, "a GPU is an index or a GPU UUID");
	if (idx >= b->st->ngpu)
		return vmig_err_set(b->err, VMIG_E_NOT_FOUND,
				    "device '%.64s': there is no GPU %u (%u GPU%s)", item, idx,
				    b->st->ngpu, b->st->ngpu == 1 ? "" : "s");
	return (int)idx;
}

/* "MIG-<prefix>": the MIG device whose UUID has the prefix. */
static int by_mig_uuid(struct sel_build *b, const char *item)
{
	struct vmig_sel_dev d, hit = {0};
	size_t n = strlen(item), hits = 0;
	if (!uuid_tail_ok(item + 4))
		return bad(b, item, "a MIG UUID is MIG- and up to 36 hex digits and dashes");
	for (unsigned g = 0; g < b->st->ngpu; g++)
		for (unsigned i = 0; mig_device(b->st, g, false, i, 0, 0, &d); i++)
			if (strncasecmp(d.uuid, item, n) == 0 && hits++ == 0)
				hit = d;
	if (hits > 1)
		return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
				    "device '%.64s' is a prefix of several MIG UUIDs", item);
	return hits ? add(b, &hit) : missing(b, item, "no MIG device has this UUID");
}

/* The GI (and CI) of GPU g by IDs, or with VMIG_SEL_NO_CI the GI as a whole. */
static int by_ids(struct sel_build *b, const char *item, unsigned g, unsigned gi, unsigned ci)
{
	struct vmig_sel_dev d;
	const struct vmig_gpu_state *gpu = &b->st->gpu[g];
	if (ci != VMIG_SEL_NO_CI) {
		if (!mig_device(b->st, g, true, 0, gi, ci, &d))
			return missing(b, item, "no such GPU instance and compute instance");
		return add(b, &d);
	}
	for (unsigned k = 0; gpu->mig_current && k < gpu->ngi; k++) {
		if (gpu->gi[k].id != gi)
			continue;
		memset(&d, 0, sizeof(d));
		d.gpu = g;
		d.mig = true;
		d.gi = gi;
		d.ci = VMIG_SEL_NO_CI;
		for (unsigned j = 0; j < k; j++)
			d.mig_index += gpu->gi[j].nci;
		return add(b, &d);
	}
	return missing(b, item, "no such GPU instance");
}

/* "MIG-GPU-<uuid>/<gi>/<ci>", CUDA's form from before driver R470. */
static int by_legacy(struct sel_build *b, const char *item)
{
	char ref[ITEM_MAX];
	unsigned gi, ci;
	snprintf(ref, sizeof(ref), "%s", item + 4);
	char *s1 = strchr(ref, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	if (!s2)
		return bad(b, item, "the legacy form is MIG-GPU-<uuid>/<GI>/<CI>");
	*s1 = *s2 = '\0';
	if (!number(s1 + 1, &gi) || !number(s2 + 1, &ci))
		return bad(b, item, "GI and CI are decimal numbers");
	int g = gpu_ref(b, item, ref);
	return g < 0 ? g : by_ids(b, item, (unsigned)g, gi, ci);
}

/* "GPU:MIG", "GPU:GI" (VMIG_SEL_PAIR_IS_GI) or "GPU:GI:CI". */
static int by_colons(struct sel_build *b, const char *item)
{
	char ref[ITEM_MAX];
	unsigned x, y;
	struct vmig_sel_dev d;
	snprintf(ref, sizeof(ref), "%s", item);
	char *c1 = strchr(ref, ':'), *c2 = strchr(c1 + 1, ':');
	*c1 = '\0';
	if (c2)
		*c2 = '\0';
	if (c2 && strchr(c2 + 1, ':'))
		return bad(b, item, "at most GPU:GI:CI");
	if (!number(c1 + 1, &x) || (c2 && !number(c2 + 1, &y)))
		return bad(b, item,
			   c2 ? "GI and CI are decimal numbers"
			   : (b->flags & VMIG_SEL_PAIR_IS_GI)
			       ? "the GI is a decimal number"
			       : "the MIG index is a decimal number");
	int g = gpu_ref(b, item, ref);
	if (g < 0)
		return g;
	if (c2)
		return by_ids(b, item, (unsigned)g, x, y);
	if (b->flags & VMIG_SEL_PAIR_IS_GI)
		return by_ids(b, item, (unsigned)g, x, VMIG_SEL_NO_CI);
	if (!mig_device(b->st, (unsigned)g, false, x, 0, 0, &d))
		return vmig_err_set(b->err, VMIG_E_NOT_FOUND,
				    "device '%.64s': GPU %d has no MIG device %u", item, g, x);
	return add(b, &d);
}

static int one_item(struct sel_build *b, const char *item)
{
	struct vmig_sel_dev d;
	if (strncasecmp(item, "MIG-GPU-", 8) == 0)
		return by_legacy(b, item);
	if (strncasecmp(item, "MIG-", 4) == 0)
		return by_mig_uuid(b, item);
	if (strchr(item, ':'))
		return by_colons(b, item);
	int g = gpu_ref(b, item, item);
	if (g < 0)
		return g;
	whole_gpu(b->st, (unsigned)g, &d);
	return add(b, &d);
}

static int keyword(struct sel_build *b, const char *item, size_t nitems)
{
	static const struct {
		const char *word;
		enum vmig_sel_kind kind;
	} words[] = {{"all", VMIG_SEL_ALL}, {"none", VMIG_SEL_NONE}, {"void", VMIG_SEL_VOID}};
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(words); i++) {
		if (strcmp(item, words[i].word) != 0)
			continue;
		if (nitems > 1)
			return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
					    "invalid device list '%.64s': '%s' stands alone",
					    b->text, item);
		b->out.kind = words[i].kind;
		return 1;
	}
	return 0;
}

static int expand_all(struct sel_build *b)
{
	struct vmig_sel_dev d;
	int r = 0;
	for (unsigned g = 0; g < b->st->ngpu && r >= 0; g++) {
		whole_gpu(b->st, g, &d);
		r = add(b, &d);
	}
	for (unsigned g = 0; g < b->st->ngpu; g++)
		for (unsigned i = 0; r >= 0 && mig_device(b->st, g, false, i, 0, 0, &d); i++)
			r = add(b, &d);
	return r;
}

/* Item k of the list, spaces around it removed, into buf. */
static int item_at(struct sel_build *b, const char **p, char *buf)
{
	const char *s = *p, *end = s + strcspn(s, ",");
	*p = *end ? end + 1 : end;
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (end == s)
		return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
				    "invalid device list '%.64s': an empty item", b->text);
	if ((size_t)(end - s) >= ITEM_MAX)
		return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
				    "invalid device '%.32s...': too long", s);
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	for (char *q = buf; *q; q++)
		if (!isgraph((unsigned char)*q))
			return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
					    "invalid device list: a space or control character "
					    "inside an item");
	return 0;
}

static int select_all_items(struct sel_build *b)
{
	char item[ITEM_MAX];
	size_t nitems = 1;
	int r = 0;
	for (const char *q = b->text; *q; q++)
		nitems += *q == ',';
	for (const char *p = b->text; *p && r >= 0;) {
		if ((r = item_at(b, &p, item)) < 0)
			break;
		r = keyword(b, item, nitems);
		if (r == 0)
			r = one_item(b, item);
	}
	if (r >= 0 && *b->text && b->text[strlen(b->text) - 1] == ',')
		r = vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
				 "invalid device list '%.64s': an empty item", b->text);
	if (r >= 0 && b->out.kind == VMIG_SEL_ALL)
		r = expand_all(b);
	return r;
}

int vmig_select(const struct vmig_state *st, const char *text, unsigned flags,
		struct vmig_selection *ret, struct vmig_err *err)
{
	struct sel_build b = {.st = st, .flags = flags, .text = text, .err = err};
	int r = 0;
	if (flags & ~(unsigned)VMIG_SEL_PAIR_IS_GI)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "vmig_select: unknown flags");
	size_t len = strspn(text, " \t");
	if (text[len] == '\0')
		b.out.kind = VMIG_SEL_VOID;
	else
		r = select_all_items(&b);
	if (r < 0) {
		free(b.out.dev);
		return r;
	}
	*ret = b.out;
	return 0;
}

void vmig_selection_free(struct vmig_selection *s)
{
	if (!s)
		return;
	free(s->dev);
	s->dev = NULL;
	s->n = 0;
}

int vmig_select_one(const struct vmig_state *st, const char *text, unsigned flags,
		    struct vmig_sel_dev *ret, struct vmig_err *err)
{
	struct vmig_selection s;
	int r = vmig_select(st, text, flags, &s, err);
	if (r < 0)
		return r;
	if (s.kind != VMIG_SEL_LIST || s.n != 1)
		r = vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				 "device '%.64s': name exactly one GPU instance", text);
	else if (!s.dev[0].mig)
		r = vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				 "device '%.64s' is a whole GPU, not a GPU instance (a MIG UUID, "
				 "GPU:GI:CI or %s)",
				 text, (flags & VMIG_SEL_PAIR_IS_GI) ? "GPU:GI" : "GPU:MIG");
	else
		*ret = s.dev[0];
	vmig_selection_free(&s);
	return r;
}

/* Replace each GPU of st that is in soft MIG mode in soft by soft's record of it. */
static void merge_soft(struct vmig_state *st, const struct vmig_state *soft)
{
	for (unsigned s = 0; s < soft->ngpu; s++) {
		if (!(soft->gpu[s].flags & VMIG_GPU_SOFT) || !soft->gpu[s].mig_current)
			continue;
		for (unsigned g = 0; g < st->ngpu; g++)
			if (strcasecmp(st->gpu[g].uuid, soft->gpu[s].uuid) == 0)
				st->gpu[g] = soft->gpu[s];
	}
}

int vmig_snapshot_devices(const char *backend, struct vmig_state *ret, struct vmig_err *err)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st)), *soft = calloc(1, sizeof(*soft));
	int r =
	    st && soft ? vmig_open(backend, &ctx, err) : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0) {
		r = vmig_snapshot(ctx, st, err);
		bool is_soft = strcmp(vmig_backend_name(ctx), "soft") == 0;
		vmig_close(ctx);
		ctx = NULL;
		/* The soft backend is optional: no soft store or no hardware is no soft GPU. */
		if (r >= 0 && !is_soft && vmig_open("soft", &ctx, NULL) >= 0) {
			if (vmig_snapshot(ctx, soft, NULL) >= 0)
				merge_soft(st, soft);
			vmig_close(ctx);
		}
	}
	if (r >= 0)
		*ret = *st;
	free(st);
	free(soft);
	return r < 0 ? r : 0;
}
