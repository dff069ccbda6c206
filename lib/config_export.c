/*
 * config_export.c — the mig-parted configs vmig writes (docs/config.md):
 * `export`, the layout of a node as one label, and `generate`, the labels
 * mig-parted generates from a node's GPU models.
 *
 * Pure: a state in, text out.  Both build the same records (labels of
 * entries: device-filters, devices, MIG mode, devices by profile name),
 * merge entries that ask for the same layout, shorten the device-filters
 * as mig-parted does, and write them in the layout of mig-parted's own
 * encoders: Go's YAML encoder (two-space indent, list items at the indent
 * of their key, map keys in its natural order, where runs of digits
 * compare by value) or its JSON encoder (two-space indent, map keys in
 * byte order, no newline at the end).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OUT_MAX_DEVS (VMIG_MAX_GIS * VMIG_MAX_CIS)

struct out_dev {
	char name[48];
	unsigned count;
};

struct out_entry {
	unsigned nfilter;
	uint32_t filter[VMIG_MAX_GPUS];
	bool all;
	unsigned nidx;
	unsigned idx[VMIG_MAX_GPUS];
	bool enabled;
	unsigned ndev;
	struct out_dev dev[OUT_MAX_DEVS];
};

struct out_label {
	char name[112];
	unsigned n;
	struct out_entry e[VMIG_MAX_GPUS];
};

struct out {
	size_t n, cap;
	struct out_label **l;
};

/* ---- building ---- */

static void out_free(struct out *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->l[i]);
	free(o->l);
}

static struct out_label *out_label(struct out *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->l[i]->name, name) == 0)
			return o->l[i];
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct out_label **nl = realloc(o->l, cap * sizeof(*nl));
		if (!nl)
			return NULL;
		o->l = nl;
		o->cap = cap;
	}
	struct out_label *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->name, sizeof(l->name), "%s", name);
	o->l[o->n++] = l;
	return l;
}

static bool has_filter(const struct out_entry *e, uint32_t id)
{
	for (unsigned i = 0; i < e->nfilter; i++)
		if (e->filter[i] == id)
			return true;
	return false;
}

static bool same_layout(const struct out_entry *a, const struct out_entry *b)
{
	if (a->enabled != b->enabled || a->ndev != b->ndev)
		return false;
	for (unsigned i = 0; i < a->ndev; i++)
		if (strcmp(a->dev[i].name, b->dev[i].name) != 0 ||
		    a->dev[i].count != b->dev[i].count)
			return false;
	return true;
}

/* Add e to the label: into an entry with the same layout, else as a new one. */
static void add_entry(struct out_label *l, const struct out_entry *e)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct out_entry *x = &l->e[i];
		if (!same_layout(x, e))
			continue;
		for (unsigned f = 0; f < e->nfilter; f++)
			if (!has_filter(x, e->filter[f]) && x->nfilter < VMIG_MAX_GPUS)
				x->filter[x->nfilter++] = e->filter[f];
		for (unsigned k = 0; k < e->nidx && x->nidx < VMIG_MAX_GPUS; k++)
			x->idx[x->nidx++] = e->idx[k];
		x->all = x->all && e->all;
		return;
	}
	if (l->n < VMIG_MAX_GPUS)
		l->e[l->n++] = *e;
}

static bool mig_capable(const struct vmig_gpu_state *g)
{
	return g->model && (g->model->flags & VMIG_MF_MIG);
}

/* The board types (PCI device IDs) of the MIG-capable GPUs, in index order. */
static unsigned board_types(const struct vmig_state *st, uint32_t ids[VMIG_MAX_GPUS],
			    const struct vmig_model *models[VMIG_MAX_GPUS])
{
	unsigned n = 0;
	for (unsigned k = 0; k < st->ngpu && k < VMIG_MAX_GPUS; k++) {
		const struct vmig_gpu_state *g = &st->gpu[k];
		bool seen = !mig_capable(g);
		for (unsigned i = 0; !seen && i < n; i++)
			seen = ids[i] == g->model->pci_device_id;
		if (!seen) {
			models[n] = g->model;
			ids[n++] = g->model->pci_device_id;
		}
	}
	return n;
}

/*
 * The shortest device-filters: none on a node of one board type, none for
 * the only entry of a label when it covers every type; else the entry's.
 */
static void shorten_filters(struct out *o, unsigned ntypes)
{
	for (size_t i = 0; i < o->n; i++) {
		struct out_label *l = o->l[i];
		for (unsigned j = 0; j < l->n; j++)
			if (ntypes == 1 || (l->n == 1 && l->e[j].nfilter == ntypes))
				l->e[j].nfilter = 0;
	}
}

/* Go's YAML encoder's key order: runs of digits compare by value, letters before others. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int natural_cmp(const char *a, const char *b)
{
	size_t i = 0;
	for (; a[i] && b[i]; i++) {
		if (a[i] == b[i])
			continue;
		bool al = is_letter(a[i]), bl = is_letter(b[i]);
		if (al && bl)
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
		if (al || bl)
			return bl ? -1 : 1;
		/* The digits from here on compare by value (the earlier ones are equal). */
		unsigned long long an = 0, bn = 0;
		if (a[i] == '0' || b[i] == '0')
			for (size_t j = i; j-- > 0 && is_digit(a[j]);)
				if (a[j] != '0') {
					an = bn = 1;
					break;
				}
		size_t ai = i, bi = i;
		for (; is_digit(a[ai]); ai++)
			an = an * 10 + (unsigned)(a[ai] - '0');
		for (; is_digit(b[bi]); bi++)
			bn = bn * 10 + (unsigned)(b[bi] - '0');
		if (an != bn)
			return an < bn ? -1 : 1;
		if (ai != bi)
			return ai < bi ? -1 : 1;
		return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
	}
	return a[i] ? 1 : b[i] ? -1 : 0;
}

static int key_cmp(const char *a, const char *b, enum vmig_config_format fmt)
{
	return fmt == VMIG_CONFIG_YAML ? natural_cmp(a, b) : strcmp(a, b);
}

static int dev_cmp(const void *x, const void *y, void *fmt)
{
	return key_cmp(((const struct out_dev *)x)->name, ((const struct out_dev *)y)->name,
		       *(enum vmig_config_format *)fmt);
}

static int label_cmp(const void *x, const void *y, void *fmt)
{
	return key_cmp((*(struct out_label *const *)x)->name, (*(struct out_label *const *)y)->name,
		       *(enum vmig_config_format *)fmt);
}

static void sort_devs(struct out_entry *e, enum vmig_config_format fmt)
{
	qsort_r(e->dev, e->ndev, sizeof(e->dev[0]), dev_cmp, &fmt);
}

/* Add count devices named name to e. */
static void add_dev(struct out_entry *e, const char *name, unsigned count)
{
	for (unsigned i = 0; i < e->ndev; i++)
		if (strcmp(e->dev[i].name, name) == 0) {
			e->dev[i].count += count;
			return;
		}
	if (e->ndev < OUT_MAX_DEVS) {
		snprintf(e->dev[e->ndev].name, sizeof(e->dev[0].name), "%s", name);
		e->dev[e->ndev++].count = count;
	}
}

/* ---- writing ---- */

struct buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap : 4096);
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->failed = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
}

/* A JSON string as Go's encoder writes it (HTML characters escaped too). */
static void put_json_str(struct buf *b, const char *s)
{
	put(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(b, "\\%c", c);
		else if (c == '\n')
			put(b, "\\n");
		else if (c == '\t')
			put(b, "\\t");
		else if (c == '\r')
			put(b, "\\r");
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			put(b, "\\u%04x", c);
		else
			put(b, "%c", c);
	}
	put(b, "\"");
}

/*
 * Does a YAML key need quotes to stay a string?  Go's encoder quotes what
 * would read back as another type (null, booleans, numbers) or needs it.
 */
static bool yaml_needs_quotes(const char *s)
{
	static const char *const words[] = {
	    "",	     "~",   "null", "Null", "NULL", "true", "True", "TRUE", "false", "False",
	    "FALSE", "yes", "Yes",  "YES",  "no",   "No",   "NO",   "on",   "On",    "ON",
	    "off",   "Off", "OFF",  "y",    "Y",    "n",    "N",    NULL};
	for (const char *const *w = words; *w; w++)
		if (strcmp(s, *w) == 0)
			return true;
	if (strspn(s, "0123456789.+-_eExXoObB") == strlen(s))
		return true;
	if (!is_letter(s[0]) && !is_digit(s[0]) && s[0] != '_')
		return true;
	for (const char *p = s; *p; p++)
		if (!is_letter(*p) && !is_digit(*p) && !strchr("._-+", *p))
			return true;
	return false;
}

static void put_yaml_key(struct buf *b, const char *s)
{
	if (yaml_needs_quotes(s))
		put_json_str(b, s);
	else
		put(b, "%s", s);
}

static void yaml_entry(struct buf *b, const struct out_entry *e)
{
	const char *lead = "  - ";
	if (e->nfilter == 1) {
		put(b, "%sdevice-filter: \"0x%08X\"\n", lead, e->filter[0]);
		lead = "    ";
	} else if (e->nfilter > 1) {
		put(b, "%sdevice-filter:\n", lead);
		for (unsigned i = 0; i < e->nfilter; i++)
			put(b, "    - \"0x%08X\"\n", e->filter[i]);
		lead = "    ";
	}
	if (e->all) {
		put(b, "%sdevices: all\n", lead);
	} else {
		put(b, "%sdevices:\n", lead);
		for (unsigned i = 0; i < e->nidx; i++)
			put(b, "    - %u\n", e->idx[i]);
	}
	put(b, "    mig-enabled: %s\n", e->enabled ? "true" : "false");
	if (e->ndev == 0) {
		put(b, "    mig-devices: {}\n");
		return;
	}
	put(b, "    mig-devices:\n");
	for (unsigned i = 0; i < e->ndev; i++) {
		put(b, "      ");
		put_yaml_key(b, e->dev[i].name);
		put(b, ": %u\n", e->dev[i].count);
	}
}

static void json_entry(struct buf *b, const struct out_entry *e)
{
	put(b, "      {\n");
	if (e->nfilter == 1) {
		put(b, "        \"device-filter\": \"0x%08X\",\n", e->filter[0]);
	} else if (e->nfilter > 1) {
		put(b, "        \"device-filter\": [\n");
		for (unsigned i = 0; i < e->nfilter; i++)
			put(b, "          \"0x%08X\"%s\n", e->filter[i],
			    i + 1 < e->nfilter ? "," : "");
		put(b, "        ],\n");
	}
	if (e->all) {
		put(b, "        \"devices\": \"all\",\n");
	} else if (e->nidx == 0) {
		put(b, "        \"devices\": [],\n");
	} else {
		put(b, "        \"devices\": [\n");
		for (unsigned i = 0; i < e->nidx; i++)
			put(b, "          %u%s\n", e->idx[i], i + 1 < e->nidx ? "," : "");
		put(b, "        ],\n");
	}
	put(b, "        \"mig-enabled\": %s,\n", e->enabled ? "true" : "false");
	if (e->ndev == 0) {
		put(b, "        \"mig-devices\": {}\n");
	} else {
		put(b, "        \"mig-devices\": {\n");
		for (unsigned i = 0; i < e->ndev; i++) {
			put(b, "          ");
			put_json_str(b, e->dev[i].name);
			put(b, ": %u%s\n", e->dev[i].count, i + 1 < e->ndev ? "," : "");
		}
		put(b, "        }\n");
	}
	put(b, "      }");
}

static int write_out(struct out *o, enum vmig_config_format fmt, char **ret, struct vmig_err *err)
{
	struct buf b = {0};
	qsort_r(o->l, o->n, sizeof(*o->l), label_cmp, &fmt);
	for (size_t i = 0; i < o->n; i++)
		for (unsigned j = 0; j < o->l[i]->n; j++)
			sort_devs(&o->l[i]->e[j], fmt);
	if (fmt == VMIG_CONFIG_YAML) {
		put(&b, "version: v1\nmig-configs:\n");
		for (size_t i = 0; i < o->n; i++) {
			put(&b, "  ");
			put_yaml_key(&b, o->l[i]->name);
			put(&b, ":\n");
			for (unsigned j = 0; j < o->l[i]->n; j++)
				yaml_entry(&b, &o->l[i]->e[j]);
		}
	} else {
		put(&b, "{\n  \"version\": \"v1\",\n  \"mig-configs\": {\n");
		for (size_t i = 0; i < o->n; i++) {
			put(&b, "    ");
			put_json_str(&b, o->l[i]->name);
			put(&b, ": [\n");
			for (unsigned j = 0; j < o->l[i]->n; j++) {
				json_entry(&b, &o->l[i]->e[j]);
				put(&b, "%s\n", j + 1 < o->l[i]->n ? "," : "");
			}
			put(&b, "    ]%s\n", i + 1 < o->n ? "," : "");
		}
		put(&b, "  }\n}");
	}
	if (b.failed || !b.s) {
		free(b.s);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "writing a config: %m");
	}
	*ret = b.s;
	return 0;
}

/* ---- export ---- */

/* The MIG devices of a GPU as an entry of its own. */
static void gpu_entry(const struct vmig_gpu_state *g, unsigned k, struct out_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->nfilter = 1;
	e->filter[0] = g->model->pci_device_id;
	e->nidx = 1;
	e->idx[0] = k;
	e->enabled = g->mig_current != 0;
	for (unsigned i = 0; e->enabled && i < g->ngi; i++) {
		const struct vmig_gi_profile *gp =
		    vmig_gi_profile_by_id(g->model, g->gi[i].profile_id);
		for (unsigned j = 0; gp && j < g->gi[i].nci; j++) {
			const struct vmig_ci_profile *cp =
			    vmig_ci_profile_by_id(gp, g->gi[i].ci[j].profile_id);
			char name[48];
			if (cp && vmig_ci_profile_name(gp, cp, name, sizeof(name)) > 0)
				add_dev(e, name, 1);
		}
	}
	sort_devs(e, VMIG_CONFIG_JSON);
}

int vmig_config_export(const struct vmig_state *st, const char *label, enum vmig_config_format fmt,
		       char **ret, struct vmig_err *err)
{
	uint32_t ids[VMIG_MAX_GPUS];
	const struct vmig_model *models[VMIG_MAX_GPUS];
	struct out o = {0};
	if (!st || !label || !ret || st->ngpu > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	unsigned ntypes = board_types(st, ids, models);
	if (ntypes == 0)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "no MIG-capable GPU to export");
	struct out_label *l = out_label(&o, label);
	struct out_entry *e = malloc(sizeof(*e));
	if (!l || !e) {
		free(e);
		out_free(&o);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "exporting: %m");
	}
	for (unsigned k = 0; k < st->ngpu; k++) {
		if (!mig_capable(&st->gpu[k]))
			continue;
		gpu_entry(&st->gpu[k], k, e);
		add_entry(l, e);
	}
	free(e);
	/* devices: all when an entry holds every GPU of its board types. */
	for (unsigned j = 0; j < l->n; j++) {
		struct out_entry *x = &l->e[j];
		unsigned of_types = 0;
		for (unsigned k = 0; k < st->ngpu; k++)
			of_types += mig_capable(&st->gpu[k]) &&
				    has_filter(x, st->gpu[k].model->pci_device_id);
		x->all = of_types == x->nidx;
	}
	shorten_filters(&o, ntypes);
	int r = write_out(&o, fmt, ret, err);
	out_free(&o);
	return r;
}

/* ---- generate ---- */

/* The base profile (no attribute) of g slices with the most instances; NULL if none. */
static const struct vmig_gi_profile *balanced_pick(const struct vmig_model *m, unsigned g)
{
	const struct vmig_gi_profile *best = NULL;
	for (unsigned p = 0; p < m->ngi; p++) {
		const struct vmig_gi_profile *gp = &m->gi[p];
		if (gp->slices == g && !(gp->flags & VMIG_PF_ATTRS) &&
		    (!best || gp->instances > best->instances))
			best = gp;
	}
	return best;
}

/* all-balanced: 2 of 1g, 1 of 2g and (7-slice GPUs) 1 of 3g. */
static bool balanced(const struct vmig_model *m, struct out_entry *e)
{
	static const unsigned seven[][2] = {{1, 2}, {2, 1}, {3, 1}};
	unsigned n = m->compute_slices == 7 ? 3 : m->compute_slices == 4 ? 2 : 0;
	for (unsigned i = 0; i < n; i++) {
		const struct vmig_gi_profile *gp = balanced_pick(m, seven[i][0]);
		if (!gp)
			return false;
		add_dev(e, gp->name, seven[i][1]);
	}
	return n > 0;
}

static int generate_model(struct out *o, const struct vmig_model *m, struct out_entry *e)
{
	struct out_label *l;
	*e = (struct out_entry){.nfilter = 1, .filter = {m->pci_device_id}, .all = true};
	if (!(l = out_label(o, "all-disabled")))
		return -1;
	add_entry(l, e);
	e->enabled = true;
	if (!(l = out_label(o, "all-enabled")))
		return -1;
	add_entry(l, e);
	for (unsigned p = 0; p < m->ngi; p++) {
		char name[112];
		snprintf(name, sizeof(name), "all-%s", m->gi[p].name);
		for (char *c = name; *c; c++)
			*c = *c == '+' ? '.' : *c;
		e->ndev = 0;
		add_dev(e, m->gi[p].name, m->gi[p].instances);
		if (!(l = out_label(o, name)))
			return -1;
		add_entry(l, e);
	}
	e->ndev = 0;
	if (balanced(m, e)) {
		sort_devs(e, VMIG_CONFIG_JSON);
		if (!(l = out_label(o, "all-balanced")))
			return -1;
		add_entry(l, e);
	}
	return 0;
}

int vmig_config_generate(const struct vmig_state *st, enum vmig_config_format fmt, char **ret,
			 struct vmig_err *err)
{
	uint32_t ids[VMIG_MAX_GPUS];
	const struct vmig_model *models[VMIG_MAX_GPUS];
	struct out o = {0};
	if (!st || !ret || st->ngpu > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	unsigned ntypes = board_types(st, ids, models);
	if (ntypes == 0)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "no MIG-capable GPU to generate for");
	struct out_entry *e = malloc(sizeof(*e));
	int r = e ? 0 : -1;
	for (unsigned t = 0; r == 0 && t < ntypes; t++)
		r = generate_model(&o, models[t], e);
	free(e);
	if (r < 0) {
		out_free(&o);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "generating: %m");
	}
	shorten_filters(&o, ntypes);
	r = write_out(&o, fmt, ret, err);
	out_free(&o);
	return r;
}
