/*
 * config.c — mig-parted's config format (v1) and hooks format (v1), read
 * strictly (docs/config.md); what a config asks of each GPU is
 * config_select.c's.
 *
 * Pure: text in, parsed records or one error line out; no file is opened
 * here.  libyaml composes the document (JSON is read as the YAML it is);
 * this file walks the node tree against the schema, so that every
 * unknown key, wrong type, duplicate key, bad profile name or impossible
 * count is refused with the file, line, column and key path.  Plain
 * scalars are typed as Go's YAML decoder types them (null, booleans,
 * integers, floats, strings), because mig-parted decodes them that way: a
 * device-filter written 0x233010DE unquoted is an integer there, so it is
 * refused here rather than read as a string mig-parted would never see.
 *
 * The file is divided in: scalar typing and the walk's helpers; the
 * config schema; the hooks schema.  The records are in config.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "internal.h"

/* ---- the walk ---- */

struct walk {
	const char *file;
	yaml_document_t *doc;
	struct vmig_err *err;
	unsigned long budget;
	char path[256];
};

enum sc_type { SC_NULL, SC_BOOL, SC_BOOL11, SC_INT, SC_FLOAT, SC_STR };

static const char *const sc_names[] = {"null",	     "a boolean", "a YAML 1.1 boolean",
				       "an integer", "a number",  "a string"};

static int fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	unsigned long line = n ? (unsigned long)n->start_mark.line + 1 : 1;
	unsigned long col = n ? (unsigned long)n->start_mark.column + 1 : 1;
	if (w->path[0])
		return vmig__config_scrub(w->err, vmig_err_set(w->err, VMIG_E_INVALID_ARGUMENT,
							       "%s:%lu:%lu: %s: %s", w->file, line,
							       col, w->path, what));
	return vmig__config_scrub(w->err, vmig_err_set(w->err, VMIG_E_INVALID_ARGUMENT,
						       "%s:%lu:%lu: %s", w->file, line, col, what));
}

/* Append to the key path; returns the length to restore with path_pop. */
static size_t path_push(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(struct walk *w, const char *fmt, ...)
{
	size_t len = strlen(w->path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->path + len, sizeof(w->path) - len, fmt, ap);
	va_end(ap);
	return len;
}

static void path_pop(struct walk *w, size_t len)
{
	w->path[len] = '\0';
}

static bool in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool all_of(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

/* A float as YAML's core schema writes one: [-+](.N|N[.N])[e[-+]N], or .inf/.nan. */
static bool is_float(const char *s)
{
	static const char *const special[] = {".inf",  ".Inf",	".INF",	 "+.inf", "+.Inf",
					      "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					      ".NaN",  ".NAN",	NULL};
	if (in(s, special))
		return true;
	if (*s == '-' || *s == '+')
		s++;
	size_t intd = strspn(s, "0123456789");
	s += intd;
	size_t frac = 0;
	if (*s == '.') {
		frac = strspn(++s, "0123456789");
		s += frac;
	}
	if (intd + frac == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!all_of(s, "0123456789"))
			return false;
		return true;
	}
	return *s == '\0';
}

/* The type Go's YAML decoder gives a scalar. */
static enum sc_type sc_type(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true",  "True",  "TRUE", "false",
					    "False", "FALSE", NULL};
	static const char *const bools11[] = {"yes", "Yes", "YES", "no",  "No",	 "NO",
					      "on",  "On",  "ON",  "off", "Off", "OFF",
					      "y",   "Y",   "n",   "N",	  NULL};
	const char *s = (const char *)n->data.scalar.value;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return SC_STR;
	if (in(s, nulls))
		return SC_NULL;
	if (in(s, bools))
		return SC_BOOL;
	if (in(s, bools11))
		return SC_BOOL11;
	const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
	if (all_of(d, "0123456789_") && *d != '_')
		return SC_INT;
	if ((strncmp(d, "0x", 2) == 0 && all_of(d + 2, "0123456789abcdefABCDEF_")) ||
	    (strncmp(d, "0o", 2) == 0 && all_of(d + 2, "01234567_")) ||
	    (strncmp(d, "0b", 2) == 0 && all_of(d + 2, "01_")))
		return SC_INT;
	if (is_float(s))
		return SC_FLOAT;
	return SC_STR;
}

static const char *node_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return sc_names[sc_type(n)];
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Count a visit; the budget bounds the work of documents that share nodes through aliases. */
static int visit(struct walk *w, const yaml_node_t *n)
{
	static const char *const plain_tags[] = {YAML_DEFAULT_SCALAR_TAG, YAML_DEFAULT_SEQUENCE_TAG,
						 YAML_DEFAULT_MAPPING_TAG, NULL};
	if (++w->budget > CFG_BUDGET)
		return fail(w, n, "document too large (aliases expand past %lu nodes)", CFG_BUDGET);
	if (n->tag && !in((const char *)n->tag, plain_tags))
		return fail(w, n, "explicit tags are not allowed (%.64s)", (const char *)n->tag);
	return 0;
}

static int want_type(struct walk *w, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
	if (visit(w, n) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (n->type != type)
		return fail(w, n, "expected %s, found %s", what, node_kind(n));
	return 0;
}

static int want_string(struct walk *w, const yaml_node_t *n, const char *what)
{
	if (want_type(w, n, YAML_SCALAR_NODE, what) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	enum sc_type t = sc_type(n);
	if (t != SC_STR)
		return fail(w, n, "expected %s, found %s (quote it to make it a string)", what,
			    sc_names[t]);
	if (strlen(scalar(n)) != n->data.scalar.length)
		return fail(w, n, "a NUL character in %s", what);
	return 0;
}

static int want_bool(struct walk *w, const yaml_node_t *n, bool *ret)
{
	if (want_type(w, n, YAML_SCALAR_NODE, "true or false") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	enum sc_type t = sc_type(n);
	if (t == SC_BOOL11)
		return fail(w, n,
			    "expected true or false, found '%.32s' (YAML 1.1 booleans are "
			    "not accepted)",
			    scalar(n));
	if (t != SC_BOOL)
		return fail(w, n, "expected true or false, found %s", sc_names[t]);
	*ret = scalar(n)[0] == 't' || scalar(n)[0] == 'T';
	return 0;
}

/* A non-negative integer in canonical decimal, at most max. */
static int want_uint(struct walk *w, const yaml_node_t *n, unsigned max, const char *what,
		     unsigned *ret)
{
	if (want_type(w, n, YAML_SCALAR_NODE, what) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	enum sc_type t = sc_type(n);
	const char *s = scalar(n);
	if (t != SC_INT)
		return fail(w, n, "expected %s, found %s", what, sc_names[t]);
	if (s[0] == '-')
		return fail(w, n, "%s must not be negative (%.32s)", what, s);
	if (!vmig__read_dec(&s, max, ret) || *s)
		return fail(w, n, "expected %s as a decimal number up to %u, found '%.32s'", what,
			    max, scalar(n));
	return 0;
}

static yaml_node_t *node(struct walk *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

/*
 * The pairs of a mapping, with duplicate keys refused (libyaml keeps them)
 * and keys required to be strings.  fn is called for each pair.
 */
typedef int (*pair_fn)(struct walk *w, void *ctx, const yaml_node_t *key, const yaml_node_t *val);

static int each_pair(struct walk *w, const yaml_node_t *map, const char *what, void *ctx,
		     pair_fn fn)
{
	if (want_type(w, map, YAML_MAPPING_NODE, what) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	/* Duplicates are found pair by pair: bound the quadratic search. */
	if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > CFG_MAX_PAIRS)
		return fail(w, map, "more than %d keys in one mapping", CFG_MAX_PAIRS);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = node(w, p->key), *v = node(w, p->value);
		if (!k || !v)
			return fail(w, map, "malformed mapping");
		if (want_string(w, k, "a key") < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			const yaml_node_t *k2 = node(w, q->key);
			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    strcmp(scalar(k2), scalar(k)) == 0)
				return fail(w, k, "duplicate key '%.64s' (first at line %lu)",
					    scalar(k), (unsigned long)k2->start_mark.line + 1);
		}
		if (fn(w, ctx, k, v) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	}
	return 0;
}

/* The "version" key of both formats: the string v1. */
static int want_version(struct walk *w, const yaml_node_t *v)
{
	if (want_string(w, v, "a string") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (strcmp(scalar(v), "v1") != 0)
		return fail(w, v, "unknown version '%.32s' (only v1 exists)", scalar(v));
	return 0;
}

/* Load the one document of text; its root, or NULL after an error. */
static yaml_node_t *load(struct walk *w, yaml_parser_t *parser, const char *text, size_t len)
{
	yaml_node_t *root;
	yaml_parser_set_input_string(parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(parser, w->doc)) {
		yaml_node_t at = {.start_mark = parser->problem_mark};
		fail(w, &at, "YAML syntax error: %s", parser->problem ? parser->problem : "?");
		return NULL;
	}
	root = yaml_document_get_root_node(w->doc);
	if (!root) {
		fail(w, NULL, "the file is empty");
		return NULL;
	}
	/* A second document would be ignored by mig-parted's decoder: refuse it instead. */
	yaml_document_t next;
	if (!yaml_parser_load(parser, &next)) {
		yaml_node_t at = {.start_mark = parser->problem_mark};
		fail(w, &at, "YAML syntax error: %s", parser->problem ? parser->problem : "?");
		return NULL;
	}
	yaml_node_t *second = yaml_document_get_root_node(&next);
	yaml_mark_t mark = next.start_mark;
	yaml_document_delete(&next);
	if (second) {
		yaml_node_t at = {.start_mark = mark};
		fail(w, &at, "more than one YAML document");
		return NULL;
	}
	return root;
}

/* ---- the config schema ---- */

struct entry_seen {
	struct cfg_entry *e;
	bool devices, enabled, migd, filter;
	const yaml_node_t *migd_node;
};

/* "0xDDDDVVVV" or "0xDDDDVVVV:0xSSSSssss", hex digits of either case. */
static bool parse_hex32(const char *s, uint32_t *ret)
{
	if ((s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) || strlen(s) < 10)
		return false;
	uint32_t v = 0;
	for (int i = 2; i < 10; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*ret = v;
	return true;
}

static int one_filter(struct walk *w, struct cfg_entry *e, const yaml_node_t *n)
{
	if (want_string(w, n, "a PCI ID string \"0xDDDDVVVV\"") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	const char *s = scalar(n);
	struct cfg_filter f = {0};
	bool ok = parse_hex32(s, &f.id);
	if (ok && s[10] == ':') {
		f.has_sub = true;
		ok = parse_hex32(s + 11, &f.sub) && s[21] == '\0';
	} else if (ok) {
		ok = s[10] == '\0';
	}
	if (!ok)
		return fail(w, n,
			    "invalid device filter '%.40s' (0xDDDDVVVV: device and vendor ID, "
			    "optionally :0xSSSSssss)",
			    s);
	if (e->nfilter == CFG_MAX_FILTERS)
		return fail(w, n, "more than %d device filters", CFG_MAX_FILTERS);
	e->filter[e->nfilter++] = f;
	return 0;
}

static int parse_filter(struct walk *w, struct cfg_entry *e, const yaml_node_t *v)
{
	if (visit(w, v) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (v->type == YAML_SCALAR_NODE)
		return one_filter(w, e, v);
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(w, v, "expected a string or a list of strings, found %s", node_kind(v));
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		size_t len = path_push(w, "[%td]", i - v->data.sequence.items.start);
		const yaml_node_t *item = node(w, *i);
		if (!item || one_filter(w, e, item) < 0)
			return item ? -VMIG_E_INVALID_ARGUMENT : fail(w, v, "malformed list");
		path_pop(w, len);
	}
	return 0;
}

static int parse_devices(struct walk *w, struct cfg_entry *e, const yaml_node_t *v)
{
	if (visit(w, v) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	e->devs_line = (unsigned)v->start_mark.line + 1;
	e->devs_col = (unsigned)v->start_mark.column + 1;
	if (v->type == YAML_SCALAR_NODE) {
		if (sc_type(v) != SC_STR || strcmp(scalar(v), "all") != 0)
			return fail(w, v, "expected all or a list of GPU indexes, found '%.32s'",
				    scalar(v));
		e->all = true;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(w, v, "expected all or a list of GPU indexes, found %s", node_kind(v));
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		size_t len = path_push(w, "[%td]", i - v->data.sequence.items.start);
		const yaml_node_t *item = node(w, *i);
		unsigned idx;
		if (!item)
			return fail(w, v, "malformed list");
		if (want_uint(w, item, CFG_MAX_INDEX, "a GPU index", &idx) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		if (idx < VMIG_MAX_GPUS)
			e->mask |= 1ull << idx;
		path_pop(w, len);
	}
	return 0;
}

static int mig_device(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct cfg_entry *e = ctx;
	const char *name = scalar(k);
	size_t len = path_push(w, ".%.48s", name);
	struct cfg_dev d = {0};
	if (strncmp(name, "MIG ", 4) == 0 || vmig_profile_name_parse(name, &d.name) < 0 ||
	    strlen(name) >= sizeof(d.text))
		return fail(w, k,
			    "invalid MIG profile name '%.48s' ([<C>c.]<G>g.<GB>gb with "
			    "+me, +me.all, +gfx or -me)",
			    name);
	for (unsigned i = 0; i < e->ndev; i++) {
		const struct vmig_profile_name *o = &e->dev[i].name;
		unsigned oc = o->c ? o->c : o->g, nc = d.name.c ? d.name.c : d.name.g;
		if (oc == nc && o->g == d.name.g && o->gb == d.name.gb && o->attrs == d.name.attrs)
			return fail(w, k, "'%s' names the same profile as '%s'", name,
				    e->dev[i].text);
	}
	if (e->ndev == VMIG_LAYOUT_MAX_DEVS)
		return fail(w, k, "more than %d profiles", VMIG_LAYOUT_MAX_DEVS);
	if (want_uint(w, v, 4096, "a count", &d.count) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	strcpy(d.text, name);
	d.line = (unsigned)k->start_mark.line + 1;
	d.col = (unsigned)k->start_mark.column + 1;
	e->dev[e->ndev++] = d;
	path_pop(w, len);
	return 0;
}

static int entry_key(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct entry_seen *s = ctx;
	const char *key = scalar(k);
	size_t len = path_push(w, ".%.32s", key);
	int r;
	if (strcmp(key, "device-filter") == 0) {
		s->filter = true;
		r = parse_filter(w, s->e, v);
	} else if (strcmp(key, "devices") == 0) {
		s->devices = true;
		r = parse_devices(w, s->e, v);
	} else if (strcmp(key, "mig-enabled") == 0) {
		s->enabled = true;
		r = want_bool(w, v, &s->e->enabled);
	} else if (strcmp(key, "mig-devices") == 0) {
		s->migd = true;
		s->migd_node = v;
		s->e->migd_line = (unsigned)v->start_mark.line + 1;
		s->e->migd_col = (unsigned)v->start_mark.column + 1;
		r = each_pair(w, v, "a mapping of profile names to counts", s->e, mig_device);
	} else {
		path_pop(w, len);
		return fail(w, k,
			    "unknown key '%.32s' (device-filter, devices, mig-enabled, "
			    "mig-devices)",
			    key);
	}
	if (r < 0)
		return r;
	path_pop(w, len);
	return 0;
}

static int parse_entry(struct walk *w, const yaml_node_t *n, struct cfg_entry *e)
{
	struct entry_seen s = {.e = e};
	memset(e, 0, sizeof(*e));
	e->line = (unsigned)n->start_mark.line + 1;
	e->col = (unsigned)n->start_mark.column + 1;
	if (each_pair(w, n, "a mapping (devices, mig-enabled, ...)", &s, entry_key) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (!s.devices)
		return fail(w, n, "missing key 'devices'");
	if (!s.enabled)
		return fail(w, n, "missing key 'mig-enabled'");
	if (e->enabled && !s.migd)
		return fail(w, n, "missing key 'mig-devices' (required with mig-enabled: true)");
	size_t len = path_push(w, ".mig-devices");
	if (!e->enabled && e->ndev > 0)
		return fail(w, s.migd_node, "MIG devices included when 'mig-enabled' is false");
	bool any = false;
	for (unsigned i = 0; i < e->ndev; i++)
		any = any || e->dev[i].count > 0;
	if (e->ndev > 0 && !any)
		return fail(w, s.migd_node, "every count is 0 (write {} for no devices)");
	path_pop(w, len);
	return 0;
}

static int config_label(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct vmig_config *c = ctx;
	size_t len = path_push(w, ".%.64s", scalar(k));
	if (scalar(k)[0] == '\0')
		return fail(w, k, "empty label");
	if (want_type(w, v, YAML_SEQUENCE_NODE, "a list of entries") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n == 0)
		return fail(w, v, "the label has no entries");
	struct cfg_label *l = &c->label[c->nlabel];
	l->name = strdup(scalar(k));
	l->e = calloc(n, sizeof(*l->e));
	if (!l->name || !l->e) {
		free(l->name);
		free(l->e);
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	}
	c->nlabel++;
	for (size_t i = 0; i < n; i++) {
		size_t plen = path_push(w, "[%zu]", i);
		const yaml_node_t *item = node(w, v->data.sequence.items.start[i]);
		if (!item)
			return fail(w, v, "malformed list");
		if (parse_entry(w, item, &l->e[i]) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		l->n++;
		path_pop(w, plen);
	}
	path_pop(w, len);
	return 0;
}

struct top_seen {
	struct vmig_config *c;
	bool version, configs;
};

static int config_top(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct top_seen *s = ctx;
	const char *key = scalar(k);
	size_t len = path_push(w, "%.32s", key);
	if (strcmp(key, "version") == 0) {
		s->version = true;
		if (want_version(w, v) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else if (strcmp(key, "mig-configs") == 0) {
		s->configs = true;
		if (want_type(w, v, YAML_MAPPING_NODE, "a mapping of labels") < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
		if (n == 0)
			return fail(w, v, "no labels");
		s->c->label = calloc(n, sizeof(*s->c->label));
		if (!s->c->label)
			return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
		if (each_pair(w, v, "a mapping of labels", s->c, config_label) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else {
		path_pop(w, len);
		return fail(w, k, "unknown key '%.32s' (version, mig-configs)", key);
	}
	path_pop(w, len);
	return 0;
}

void vmig_config_free(struct vmig_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlabel; i++) {
		free(c->label[i].name);
		free(c->label[i].e);
	}
	free(c->label);
	free(c->file);
	free(c);
}

/* Set up the walk and load the document; calls body on its root. */
static int with_document(const char *file, const char *text, size_t len, struct vmig_err *err,
			 int (*body)(struct walk *, const yaml_node_t *, void *), void *ctx)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct walk w = {.file = file ? file : "-", .doc = &doc, .err = err};
	int r;
	if (!text)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "no config text");
	if (!yaml_parser_initialize(&parser))
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "reading %s: %m", w.file);
	memset(&doc, 0, sizeof(doc));
	yaml_node_t *root = load(&w, &parser, text, len);
	r = root ? body(&w, root, ctx) : -VMIG_E_INVALID_ARGUMENT;
	if (root || doc.nodes.start)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

static int config_body(struct walk *w, const yaml_node_t *root, void *ctx)
{
	struct top_seen s = {.c = ctx};
	if (each_pair(w, root, "a mapping (version, mig-configs)", &s, config_top) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (!s.version)
		return fail(w, root, "missing key 'version'");
	if (!s.configs)
		return fail(w, root, "missing key 'mig-configs'");
	return 0;
}

int vmig_config_parse(const char *file, const char *text, size_t len, struct vmig_config **ret,
		      struct vmig_err *err)
{
	struct vmig_config *c = calloc(1, sizeof(*c));
	if (!ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!c || !(c->file = strdup(file ? file : "-"))) {
		free(c);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "reading a config: %m");
	}
	int r = with_document(c->file, text, len, err, config_body, c);
	if (r < 0) {
		vmig_config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* ---- the hooks schema ---- */

const char *vmig_hook_name(enum vmig_hook_point p)
{
	static const char *const names[] = {
#define VMIG_HOOK_NAME(e, name) name,
	    VMIG_HOOK_POINTS(VMIG_HOOK_NAME)
#undef VMIG_HOOK_NAME
	};
	return (unsigned)p < VMIG_HOOK__COUNT ? names[p] : "?";
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void vmig_hooks_free(struct vmig_hooks *h)
{
	if (!h)
		return;
	for (unsigned p = 0; p < VMIG_HOOK__COUNT; p++) {
		for (size_t i = 0; i < h->n[p]; i++) {
			strv_free(h->hook[p][i].argv);
			strv_free(h->hook[p][i].envp);
			free(h->hook[p][i].workdir);
		}
		free(h->hook[p]);
	}
	free(h);
}

/* Append a copy of s to a NULL-terminated vector of n strings. */
static int strv_add(struct walk *w, char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv)
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	nv[++*n] = NULL;
	return 0;
}

/* Hook fields take any scalar as its text, as a string field of Go's decoder does. */
static int want_text(struct walk *w, const yaml_node_t *n, const char *what)
{
	if (want_type(w, n, YAML_SCALAR_NODE, what) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (strlen(scalar(n)) != n->data.scalar.length)
		return fail(w, n, "a NUL character in %s", what);
	return 0;
}

struct hook_seen {
	struct vmig_hook *h;
	size_t nargv, nenv;
	const yaml_node_t *command, *args;
};

static int hook_env(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct hook_seen *s = ctx;
	size_t len = path_push(w, ".%.32s", scalar(k));
	const char *name = scalar(k);
	if (!*name || strchr(name, '='))
		return fail(w, k, "invalid environment variable name '%.32s'", name);
	if (want_text(w, v, "a value") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	char *kv = NULL;
	if (asprintf(&kv, "%s=%s", name, scalar(v)) < 0)
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	int r = strv_add(w, &s->h->envp, &s->nenv, kv);
	free(kv);
	if (r < 0)
		return r;
	path_pop(w, len);
	return 0;
}

static int hook_key(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct hook_seen *s = ctx;
	const char *key = scalar(k);
	size_t len = path_push(w, ".%.32s", key);
	if (strcmp(key, "command") == 0) {
		if (want_text(w, v, "a command") < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		if (!scalar(v)[0])
			return fail(w, v, "empty command");
		s->command = v;
	} else if (strcmp(key, "args") == 0) {
		if (want_type(w, v, YAML_SEQUENCE_NODE, "a list of arguments") < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		for (yaml_node_item_t *i = v->data.sequence.items.start;
		     i < v->data.sequence.items.top; i++) {
			const yaml_node_t *a = node(w, *i);
			if (!a)
				return fail(w, v, "malformed list");
			if (want_text(w, a, "an argument") < 0)
				return -VMIG_E_INVALID_ARGUMENT;
		}
		s->args = v;
	} else if (strcmp(key, "envs") == 0) {
		if (each_pair(w, v, "a mapping of names to values", s, hook_env) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else if (strcmp(key, "workdir") == 0) {
		if (want_text(w, v, "a directory") < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		if (!(s->h->workdir = strdup(scalar(v))))
			return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	} else {
		path_pop(w, len);
		return fail(w, k, "unknown key '%.32s' (command, args, envs, workdir)", key);
	}
	path_pop(w, len);
	return 0;
}

static int parse_hook(struct walk *w, const yaml_node_t *n, struct vmig_hook *h)
{
	struct hook_seen s = {.h = h};
	if (each_pair(w, n, "a mapping (command, args, envs, workdir)", &s, hook_key) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (!s.command)
		return fail(w, n, "missing key 'command'");
	if (strv_add(w, &h->argv, &s.nargv, scalar(s.command)) < 0)
		return -VMIG_E_NO_MEMORY;
	for (yaml_node_item_t *i = s.args ? s.args->data.sequence.items.start : NULL;
	     s.args && i < s.args->data.sequence.items.top; i++)
		if (strv_add(w, &h->argv, &s.nargv, scalar(node(w, *i))) < 0)
			return -VMIG_E_NO_MEMORY;
	if (!h->envp && !(h->envp = calloc(1, sizeof(*h->envp))))
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	return 0;
}

static int hook_point(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct vmig_hooks *hs = ctx;
	const char *name = scalar(k);
	size_t len = path_push(w, ".%.32s", name);
	unsigned p = 0;
	while (p < VMIG_HOOK__COUNT && strcmp(vmig_hook_name((enum vmig_hook_point)p), name) != 0)
		p++;
	if (p == VMIG_HOOK__COUNT)
		return fail(w, k,
			    "unknown hook '%.32s' (apply-start, pre-apply-mode, "
			    "pre-apply-config, apply-exit)",
			    name);
	if (want_type(w, v, YAML_SEQUENCE_NODE, "a list of hooks") < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n && !(hs->hook[p] = calloc(n, sizeof(*hs->hook[p]))))
		return vmig_err_set(w->err, VMIG_E_NO_MEMORY, "reading %s: %m", w->file);
	for (size_t i = 0; i < n; i++) {
		size_t plen = path_push(w, "[%zu]", i);
		const yaml_node_t *item = node(w, v->data.sequence.items.start[i]);
		hs->n[p]++;
		if (!item)
			return fail(w, v, "malformed list");
		if (parse_hook(w, item, &hs->hook[p][i]) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
		path_pop(w, plen);
	}
	path_pop(w, len);
	return 0;
}

struct hooks_seen {
	struct vmig_hooks *h;
	bool version, hooks;
};

static int hooks_top(struct walk *w, void *ctx, const yaml_node_t *k, const yaml_node_t *v)
{
	struct hooks_seen *s = ctx;
	const char *key = scalar(k);
	size_t len = path_push(w, "%.32s", key);
	if (strcmp(key, "version") == 0) {
		s->version = true;
		if (want_version(w, v) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else if (strcmp(key, "hooks") == 0) {
		s->hooks = true;
		if (each_pair(w, v, "a mapping of hook names", s->h, hook_point) < 0)
			return -VMIG_E_INVALID_ARGUMENT;
	} else {
		path_pop(w, len);
		return fail(w, k, "unknown key '%.32s' (version, hooks)", key);
	}
	path_pop(w, len);
	return 0;
}

static int hooks_body(struct walk *w, const yaml_node_t *root, void *ctx)
{
	struct hooks_seen s = {.h = ctx};
	if (each_pair(w, root, "a mapping (version, hooks)", &s, hooks_top) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	if (!s.version)
		return fail(w, root, "missing key 'version'");
	if (!s.hooks)
		return fail(w, root, "missing key 'hooks'");
	return 0;
}

int vmig_hooks_parse(const char *file, const char *text, size_t len, struct vmig_hooks **ret,
		     struct vmig_err *err)
{
	struct vmig_hooks *h = calloc(1, sizeof(*h));
	if (!ret) {
		free(h);
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	}
	if (!h)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "reading hooks: %m");
	int r = with_document(file, text, len, err, hooks_body, h);
	if (r < 0) {
		vmig_hooks_free(h);
		return r;
	}
	*ret = h;
	return 0;
}
