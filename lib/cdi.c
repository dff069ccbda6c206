/*
 * cdi.c — Container Device Interface specs of the GPUs and instances of a
 * snapshot (docs/containers.md), built with jansson (Debian libjansson-dev).
 *
 * One spec names every device several ways: a GPU by index and by UUID, a
 * MIG device by MIG UUID, GPU:GI:CI and GPU:MIG index, and "all".  Each
 * device's edits are built once (struct edits) and attached under each of
 * its names.  A hardware or simulated MIG device gets its parent's node and
 * the two capability nodes of its GI and CI, whose minors come from the
 * driver's mig-minors table; a software partition gets its parent's node,
 * the interposer and its accounting directory mounted, and the environment
 * `vmig run` sets.  The last part writes a spec file atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "limits_file.h"

/* ---- names (docs/containers.md, "Names") ---- */

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Vendor or class: a letter, then [A-Za-z0-9_.-] (no dot in a class), ending alphanumeric. */
static const char *kind_part_error(const char *s, size_t n, bool is_class)
{
	/* podman 4.3 panics on a one-character vendor or class. */
	if (n < 2)
		return "needs at least 2 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return "must start with a letter";
	if (!alnum(s[n - 1]))
		return "must end with a letter or digit";
	for (size_t i = 1; i < n; i++)
		if (!alnum(s[i]) && s[i] != '_' && s[i] != '-' && (is_class || s[i] != '.'))
			return is_class ? "may hold only letters, digits, '_' and '-'"
					: "may hold only letters, digits, '_', '-' and '.'";
	return NULL;
}

int vmig_cdi_kind_check(const char *kind, struct vmig_err *err)
{
	const char *slash = strchr(kind, '/');
	const char *why;
	if (!slash || strchr(slash + 1, '/'))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "invalid CDI kind '%.64s': VENDOR/CLASS, one slash", kind);
	size_t nv = (size_t)(slash - kind);
	if (nv > 253 || strlen(slash + 1) > 63)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "invalid CDI kind '%.64s': too long", kind);
	if ((why = kind_part_error(kind, nv, false)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "invalid CDI kind '%.64s': the vendor %s", kind, why);
	if ((why = kind_part_error(slash + 1, strlen(slash + 1), true)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "invalid CDI kind '%.64s': the class %s", kind, why);
	if (nv == 10 && strncasecmp(kind, "nvidia.com", nv) == 0)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "CDI kind '%.64s': the vendor nvidia.com belongs to NVIDIA's "
				    "toolkit, whose specs vmig must not replace",
				    kind);
	return 0;
}

/* A device name: alphanumeric at both ends, [A-Za-z0-9_.:-] inside. */
static bool device_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && !strchr("_.:-", s[i]))
			return false;
	return true;
}

/* ---- the mig-minors table ---- */

int vmig__minors_load(const char *path, char **ret_text, struct vmig_err *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return vmig_err_set(err, VMIG_E_NOT_FOUND,
				    "cannot read the MIG capability minors %s: %s (set %s or "
				    "--mig-minors)",
				    path, strerror(errno), VMIG_ENV_MIG_MINORS);
	size_t cap = 0, n = 0;
	char *buf = NULL, chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (n + got + 1 > cap) {
			cap = (n + got + 1) * 2;
			char *p = realloc(buf, cap);
			if (!p) {
				free(buf);
				fclose(f);
				return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
			}
			buf = p;
		}
		memcpy(buf + n, chunk, got);
		n += got;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad || !buf) {
		free(buf);
		return vmig_err_set(err, VMIG_E_IO, "cannot read %s%s", path,
				    bad ? "" : ": the file is empty");
	}
	buf[n] = '\0';
	*ret_text = buf;
	return 0;
}

/*
 * The minor of capability name ("gpu0/gi3/access"), as the driver's
 * consumers read the table: whitespace-separated name and number per line,
 * lines of another shape skipped.
 */
static int minors_find(const char *text, const char *path, const char *name, unsigned *ret,
		       struct vmig_err *err)
{
	size_t n = strlen(name);
	for (const char *p = text; *p;) {
		const char *eol = p + strcspn(p, "\n");
		const char *q = p + n;
		unsigned v;
		if ((size_t)(eol - p) > n && strncmp(p, name, n) == 0 &&
		    (*q == ' ' || *q == '\t')) {
			while (*q == ' ' || *q == '\t')
				q++;
			if (vmig__read_dec(&q, 1u << 20, &v) &&
			    (q == eol || *q == ' ' || *q == '\r')) {
				*ret = v;
				return 0;
			}
		}
		p = *eol ? eol + 1 : eol;
	}
	return vmig_err_set(err, VMIG_E_NOT_FOUND, "%s has no line for %s", path, name);
}

int vmig__mig_cap_minors(const char *text, const char *path, unsigned gpu_minor, unsigned gi,
			 unsigned ci, unsigned ret[2], struct vmig_err *err)
{
	char name[64];
	snprintf(name, sizeof(name), "gpu%u/gi%u/access", gpu_minor, gi);
	int r = minors_find(text, path, name, &ret[0], err);
	snprintf(name, sizeof(name), "gpu%u/gi%u/ci%u/access", gpu_minor, gi, ci);
	return r < 0 ? r : minors_find(text, path, name, &ret[1], err);
}

/* ---- building ---- */

struct build {
	const struct vmig_state *st;
	const char *dev_root;
	const char *minors_path;
	char *minors; /* the mig-minors table, loaded on first use */
	char interposer[PATH_MAX];
	const char *interposer_opt;
	bool host_paths;   /* some node has a hostPath */
	bool digit_name;   /* some device name starts with a digit */
	json_t *all_nodes; /* the "all" device's nodes, by container path */
	struct vmig_err *err;
};

static int oom(struct build *b)
{
	return vmig_err_set(b->err, VMIG_E_NO_MEMORY, NULL);
}

/* A build of st with the options o (NULL: all defaults); 0, or NO_MEMORY. */
static int build_init(struct build *b, const struct vmig_state *st, const struct vmig_cdi_opts *o,
		      struct vmig_err *err)
{
	static const struct vmig_cdi_opts none;
	o = o ? o : &none;
	*b = (struct build){.st = st, .err = err, .interposer_opt = o->interposer};
	b->dev_root = vmig__env_or(o->dev_root, VMIG_ENV_DEV_ROOT, "/dev");
	b->minors_path =
	    vmig__env_or(o->mig_minors, VMIG_ENV_MIG_MINORS, VMIG_CDI_MIG_MINORS_DEFAULT);
	b->all_nodes = json_object();
	return b->all_nodes ? 0 : oom(b);
}

static void build_free(struct build *b)
{
	json_decref(b->all_nodes);
	free(b->minors);
}

/* A node /dev/<rel>, taken from <dev root>/<rel> on the host. */
static json_t *node(struct build *b, const char *rel)
{
	char path[PATH_MAX], host[PATH_MAX];
	snprintf(path, sizeof(path), "/dev/%s", rel);
	snprintf(host, sizeof(host), "%s/%s", b->dev_root, rel);
	json_t *n = json_pack("{ss}", "path", path);
	if (n && strcmp(path, host) != 0) {
		json_object_set_new(n, "hostPath", json_string(host));
		b->host_paths = true;
	}
	if (n && !json_object_get(b->all_nodes, path))
		json_object_set(b->all_nodes, path, n);
	return n;
}

static bool host_node_exists(const struct build *b, const char *rel)
{
	char host[PATH_MAX];
	snprintf(host, sizeof(host), "%s/%s", b->dev_root, rel);
	return access(host, F_OK) == 0;
}

/* The edits of one device: nodes, env, mounts. */
struct edits {
	json_t *nodes, *env, *mounts;
};

static int edits_new(struct build *b, struct edits *e)
{
	e->nodes = json_array();
	e->env = json_array();
	e->mounts = json_array();
	return e->nodes && e->env && e->mounts ? 0 : oom(b);
}

static void edits_free(struct edits *e)
{
	json_decref(e->nodes);
	json_decref(e->env);
	json_decref(e->mounts);
}

static json_t *edits_json(const struct edits *e)
{
	json_t *o = json_object();
	if (o && json_array_size(e->nodes))
		json_object_set(o, "deviceNodes", e->nodes);
	if (o && json_array_size(e->env))
		json_object_set(o, "env", e->env);
	if (o && json_array_size(e->mounts))
		json_object_set(o, "mounts", e->mounts);
	return o;
}

static int add_env(struct build *b, struct edits *e, const char *name, const char *value)
{
	char *kv;
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return oom(b);
	int r = json_array_append_new(e->env, json_string(kv));
	free(kv);
	return r < 0 ? oom(b) : 0;
}

/* A device under each of its names (NULL-terminated). */
static int add_device(struct build *b, json_t *devices, const char *const *names,
		      const struct edits *e)
{
	for (size_t i = 0; names[i]; i++) {
		if (!device_name_ok(names[i]))
			return vmig_err_set(b->err, VMIG_E_INVALID_ARGUMENT,
					    "CDI device name '%.64s' is not valid", names[i]);
		if (names[i][0] >= '0' && names[i][0] <= '9')
			b->digit_name = true;
		json_t *d =
		    json_pack("{s:s,s:o}", "name", names[i], "containerEdits", edits_json(e));
		if (!d || json_array_append_new(devices, d) < 0)
			return oom(b);
	}
	return 0;
}

static int add_gpu_node(struct build *b, struct edits *e, const struct vmig_gpu_state *g)
{
	char rel[32];
	snprintf(rel, sizeof(rel), "nvidia%u", g->minor);
	return json_array_append_new(e->nodes, node(b, rel)) < 0 ? oom(b) : 0;
}

/* The GI's and CI's capability nodes, numbered by the mig-minors table. */
static int add_cap_nodes(struct build *b, struct edits *e, const struct vmig_gpu_state *g,
			 unsigned gi, unsigned ci)
{
	char rel[64];
	unsigned minor[2];
	int r = 0;
	if (!b->minors && (r = vmig__minors_load(b->minors_path, &b->minors, b->err)) < 0)
		return r;
	if ((r = vmig__mig_cap_minors(b->minors, b->minors_path, g->minor, gi, ci, minor, b->err)) <
	    0)
		return r;
	for (int k = 0; k < 2; k++) {
		snprintf(rel, sizeof(rel), "nvidia-caps/nvidia-cap%u", minor[k]);
		if (json_array_append_new(e->nodes, node(b, rel)) < 0)
			return oom(b);
	}
	return 0;
}

int vmig__mkdirs(const char *dir, struct vmig_err *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return vmig_err_set(err, VMIG_E_IO, "cannot create %s: %s", p,
					    strerror(errno));
		if (!(*s = c))
			return 0;
	}
}

int vmig_soft_env(const struct vmig_gpu_state *g, unsigned gi_id, const char *preload,
		  struct vmig_soft_env *ret, struct vmig_err *err)
{
	struct vmig_soft_limits l;
	int r = vmig_soft_limits(g, gi_id, &l, err);
	if (r < 0)
		return r;
	struct vmig_soft_env e = {0};
#define SOFT_VAR(nm, ...)                                                                          \
	(e.var[e.n].name = (nm), snprintf(e.var[e.n++].value, VMIG_ACCT_PATH_LEN, __VA_ARGS__))
	SOFT_VAR(VMIG_ENV_PRELOAD, "%s", preload);
	SOFT_VAR(VMIG_ENV_PARTITION, "%s", l.partition);
	SOFT_VAR(VMIG_ENV_MEM_LIMIT, "%" PRIu64, l.mem_bytes);
	SOFT_VAR(VMIG_ENV_COMPUTE_PCT, "%u", l.compute_pct);
	SOFT_VAR(VMIG_ENV_ACCOUNTING, "%s", l.acct_path);
	SOFT_VAR(VMIG_ENV_COMPUTE_MODE, "%s", VMIG_COMPUTE_MODE_TIMESLICE);
	SOFT_VAR(VMIG_ENV_VISIBLE_DEVICES, "%s", g->uuid);
#undef SOFT_VAR
	*ret = e;
	return 0;
}

int vmig_preload_join(const char *lib, const char *old, char **ret)
{
	size_t head = old ? strcspn(old, ": ") : 0;
	const char *base = old;
	if (!old || !*old || strstr(old, lib))
		return (*ret = strdup(old && *old ? old : lib)) ? 0 : -VMIG_E_NO_MEMORY;
	for (const char *p = old; p < old + head; p++)
		if (*p == '/')
			base = p + 1;
	bool san = strncmp(base, "libasan", 7) == 0 || strncmp(base, "libclang_rt.asan", 16) == 0;
	int n = san ? asprintf(ret, "%.*s:%s%s", (int)head, old, lib, old + head)
		    : asprintf(ret, "%s:%s", lib, old);
	return n < 0 ? -VMIG_E_NO_MEMORY : 0;
}

/* A software partition: what `vmig run` sets, with the files it names mounted. */
static int add_soft(struct build *b, struct edits *e, const struct vmig_gpu_state *g, unsigned gi)
{
	struct vmig_soft_env *env = malloc(sizeof(*env));
	char dir[VMIG_ACCT_PATH_LEN], limits[VMIG_ACCT_PATH_LEN + sizeof(VMIG_LIMITS_SUFFIX)];
	if (!env)
		return oom(b);
	int r = vmig_soft_env(g, gi, VMIG_CDI_INTERPOSER_PATH, env, b->err);
	if (r >= 0 && !b->interposer[0]) {
		if (b->interposer_opt)
			snprintf(b->interposer, sizeof(b->interposer), "%s", b->interposer_opt);
		else
			r = vmig_interposer_find(b->interposer, sizeof(b->interposer), b->err);
	}
	/* The accounting file's directory: VMIG_ACCOUNTING's value. */
	for (unsigned i = 0; r >= 0 && i < env->n; i++)
		if (strcmp(env->var[i].name, VMIG_ENV_ACCOUNTING) == 0) {
			snprintf(dir, sizeof(dir), "%s", env->var[i].value);
			snprintf(limits, sizeof(limits), "%s%s", env->var[i].value,
				 VMIG_LIMITS_SUFFIX);
		}
	if (r >= 0)
		r = vmig__mkdirs(dirname(dir), b->err);
	json_t *lib =
	    r < 0 ? NULL
		  : json_pack("{s:s,s:s,s:[ssss]}", "hostPath", b->interposer, "containerPath",
			      VMIG_CDI_INTERPOSER_PATH, "options", "ro", "nosuid", "nodev", "bind");
	json_t *acct = r < 0 ? NULL
			     : json_pack("{s:s,s:s,s:[sss]}", "hostPath", dir, "containerPath", dir,
					 "options", "nosuid", "nodev", "rbind");
	/*
	 * The limits file, read-only over its place in the directory mounted
	 * above (mounts are made in order), so that not even root in the
	 * container can raise the instance's limits (docs/tenancy.md).
	 */
	json_t *lim = r < 0 ? NULL
			    : json_pack("{s:s,s:s,s:[ssss]}", "hostPath", limits, "containerPath",
					limits, "options", "ro", "nosuid", "nodev", "bind");
	if (r >= 0 && (json_array_append_new(e->mounts, lib) < 0 ||
		       json_array_append_new(e->mounts, acct) < 0 ||
		       json_array_append_new(e->mounts, lim) < 0))
		r = oom(b);
	for (unsigned i = 0; r >= 0 && i < env->n; i++)
		r = add_env(b, e, env->var[i].name, env->var[i].value);
	free(env);
	return r;
}

/* One MIG device (a CI of a GI) under its three names. */
static int add_mig(struct build *b, json_t *devices, unsigned gx, unsigned k, unsigned c,
		   unsigned idx)
{
	const struct vmig_gpu_state *g = &b->st->gpu[gx];
	unsigned gi = g->gi[k].id, ci = g->gi[k].ci[c].id;
	char uuid[VMIG_UUID_LEN], ids[48], byidx[32];
	struct edits e;
	int r = edits_new(b, &e);
	vmig_mig_uuid(g->uuid, gi, ci, uuid);
	if (r >= 0)
		r = add_gpu_node(b, &e, g);
	if (r >= 0 && (g->flags & VMIG_GPU_SOFT))
		r = add_soft(b, &e, g, gi);
	else if (r >= 0 && (r = add_cap_nodes(b, &e, g, gi, ci)) >= 0)
		r = add_env(b, &e, VMIG_ENV_VISIBLE_DEVICES, uuid);
	snprintf(ids, sizeof(ids), "%u:%u:%u", gx, gi, ci);
	snprintf(byidx, sizeof(byidx), "%u:%u", gx, idx);
	const char *const names[] = {uuid, ids, byidx, NULL};
	if (r >= 0)
		r = add_device(b, devices, names, &e);
	edits_free(&e);
	return r;
}

static int add_gpu(struct build *b, json_t *devices, unsigned gx)
{
	const struct vmig_gpu_state *g = &b->st->gpu[gx];
	char idx[16];
	struct edits e;
	int r = edits_new(b, &e);
	if (r >= 0)
		r = add_gpu_node(b, &e, g);
	snprintf(idx, sizeof(idx), "%u", gx);
	const char *const names[] = {idx, g->uuid, NULL};
	if (r >= 0)
		r = add_device(b, devices, names, &e);
	edits_free(&e);
	for (unsigned k = 0, n = 0; r >= 0 && g->mig_current && k < g->ngi; k++)
		for (unsigned c = 0; r >= 0 && c < g->gi[k].nci; c++, n++)
			r = add_mig(b, devices, gx, k, c, n);
	return r;
}

/* The control nodes every device needs: nvidiactl, and the UVM ones present on the host. */
static json_t *control_nodes(struct build *b)
{
	static const char *const optional[] = {"nvidia-uvm", "nvidia-uvm-tools"};
	json_t *nodes = json_array();
	json_array_append_new(nodes, node(b, "nvidiactl"));
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(optional); i++)
		if (host_node_exists(b, optional[i]))
			json_array_append_new(nodes, node(b, optional[i]));
	return nodes;
}

/* The edits of every device: the control nodes. */
static json_t *common_edits(struct build *b)
{
	/* As NVIDIA's specs do: the legacy runtime hook, if any, then adds nothing. */
	return json_pack("{s:o,s:[s]}", "deviceNodes", control_nodes(b), "env",
			 "NVIDIA_VISIBLE_DEVICES=void");
}

/* The lowest version that has every feature used (docs/containers.md, "Versions"). */
static const char *version(const struct build *b)
{
	return b->host_paths || b->digit_name ? "0.5.0" : "0.3.0";
}

static int all_device(struct build *b, json_t *devices)
{
	json_t *nodes = json_array(), *n;
	const char *path;
	json_object_foreach(b->all_nodes, path, n)
	{
		if (strcmp(path, "/dev/nvidiactl") != 0 &&
		    strncmp(path, "/dev/nvidia-uvm", 15) != 0)
			json_array_append(nodes, n);
	}
	json_t *d =
	    json_pack("{s:s,s:{s:o}}", "name", "all", "containerEdits", "deviceNodes", nodes);
	return d && json_array_append_new(devices, d) == 0 ? 0 : oom(b);
}

const char *vmig_cdi_kind(const char *kind)
{
	return vmig__env_or(kind, VMIG_ENV_CDI_KIND, VMIG_CDI_KIND_DEFAULT);
}

int vmig_cdi_spec(const struct vmig_state *st, const struct vmig_cdi_opts *o, char **ret,
		  struct vmig_err *err)
{
	const char *kind = vmig_cdi_kind(o ? o->kind : NULL);
	int r = vmig_cdi_kind_check(kind, err);
	if (r < 0)
		return r;
	if (st->ngpu == 0)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "no GPU to describe");
	struct build b;
	json_t *devices = json_array();
	r = build_init(&b, st, o, err);
	if (r >= 0 && !devices)
		r = oom(&b);
	for (unsigned g = 0; r >= 0 && g < st->ngpu; g++)
		r = add_gpu(&b, devices, g);
	if (r >= 0)
		r = all_device(&b, devices);
	json_t *common = r >= 0 ? common_edits(&b) : NULL;
	json_t *spec = common ? json_pack("{s:s,s:s,s:O,s:o}", "cdiVersion", version(&b), "kind",
					  kind, "devices", devices, "containerEdits", common)
			      : NULL;
	char *text = spec ? json_dumps(spec, JSON_INDENT(2)) : NULL;
	if (r >= 0 && !text)
		r = oom(&b);
	json_decref(spec);
	json_decref(devices);
	build_free(&b);
	if (r < 0) {
		free(text);
		return r;
	}
	*ret = text;
	return 0;
}

/* The snapshot index, GI slot and CI slot of the MIG device uuid; false if none has it. */
static bool find_mig(const struct vmig_state *st, const char *uuid, unsigned *gx, unsigned *k,
		     unsigned *c)
{
	char u[VMIG_UUID_LEN];
	for (*gx = 0; *gx < st->ngpu; (*gx)++) {
		const struct vmig_gpu_state *g = &st->gpu[*gx];
		for (*k = 0; g->mig_current && *k < g->ngi; (*k)++)
			for (*c = 0; *c < g->gi[*k].nci; (*c)++) {
				vmig_mig_uuid(g->uuid, g->gi[*k].id, g->gi[*k].ci[*c].id, u);
				if (strcmp(u, uuid) == 0)
					return true;
			}
	}
	return false;
}

int vmig_cdi_nodes(const struct vmig_state *st, const struct vmig_cdi_opts *o,
		   const char *const *uuids, size_t n, struct vmig_cdi_node **ret, size_t *ret_n,
		   struct vmig_err *err)
{
	*ret = NULL;
	*ret_n = 0;
	struct build b;
	struct edits e = {0};
	int r = build_init(&b, st, o, err);
	if (r >= 0)
		r = edits_new(&b, &e);
	json_t *control = r >= 0 ? control_nodes(&b) : NULL;
	if (r >= 0 && !control)
		r = oom(&b);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		unsigned gx, k, c;
		if (!find_mig(st, uuids[i], &gx, &k, &c)) {
			r = vmig_err_set(err, VMIG_E_NOT_FOUND, "no MIG device has the UUID %.64s",
					 uuids[i]);
			break;
		}
		const struct vmig_gpu_state *g = &st->gpu[gx];
		if (g->flags & VMIG_GPU_SOFT) {
			r = vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					 "%.64s is a software partition: its device is more than "
					 "nodes (use its CDI edits)",
					 uuids[i]);
			break;
		}
		if ((r = add_gpu_node(&b, &e, g)) >= 0)
			r = add_cap_nodes(&b, &e, g, g->gi[k].id, g->gi[k].ci[c].id);
	}
	/* Every node once (all_nodes holds them by container path), in the order made. */
	size_t total = r >= 0 ? json_object_size(b.all_nodes) : 0;
	struct vmig_cdi_node *out = total ? calloc(total, sizeof(*out)) : NULL;
	if (r >= 0 && !out)
		r = oom(&b);
	const char *path;
	json_t *nd;
	size_t m = 0;
	if (r >= 0)
		json_object_foreach(b.all_nodes, path, nd)
		{
			const char *host = json_string_value(json_object_get(nd, "hostPath"));
			snprintf(out[m].path, sizeof(out[m].path), "%s", path);
			snprintf(out[m].host, sizeof(out[m].host), "%s", host ? host : path);
			m++;
		}
	json_decref(control);
	edits_free(&e);
	build_free(&b);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_n = m;
	return 0;
}

/* ---- files ---- */

int vmig_cdi_spec_path(const char *dir, const char *kind, char *buf, size_t size,
		       struct vmig_err *err)
{
	int r = vmig_cdi_kind_check(kind, err);
	if (r < 0)
		return r;
	const char *slash = strchr(kind, '/');
	int n = snprintf(buf, size, "%s/%.*s-%s.json", dir, (int)(slash - kind), kind, slash + 1);
	if (n < 0 || (size_t)n >= size)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "spec path too long");
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int vmig_cdi_write(const char *path, const char *text, struct vmig_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	const char *d = dirname(dir);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	/* No .json or .yaml suffix: a runtime scanning the directory never reads it. */
	int n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-XXXXXX", d, base);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "spec path too long");
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return vmig_err_set(err, VMIG_E_IO, "cannot write a file in %s: %s", d,
				    strerror(errno));
	int ok = fchmod(fd, 0644) == 0 && write_all(fd, text, strlen(text)) == 0 &&
		 write_all(fd, "\n", 1) == 0 && fsync(fd) == 0;
	int e = errno;
	if (close(fd) < 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (ok && rename(tmp, path) < 0) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		unlink(tmp);
		return vmig_err_set(err, VMIG_E_IO, "cannot write %s: %s", path, strerror(e));
	}
	int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* dir/rel when it is a readable file. */
static bool try_path(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", dir, rel);
	return n > 0 && (size_t)n < size && access(buf, R_OK) == 0;
}

int vmig_interposer_find(char *buf, size_t size, struct vmig_err *err)
{
	const char *env = getenv(VMIG_ENV_INTERPOSER);
	char exe[PATH_MAX];
	if (env && *env) {
		if (access(env, R_OK) < 0)
			return vmig_err_set(err, VMIG_E_NOT_FOUND, "%s=%s: %s", VMIG_ENV_INTERPOSER,
					    env, strerror(errno));
		snprintf(buf, size, "%s", env);
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		const char *dir = dirname(exe);
		if (try_path(buf, size, dir, VMIG_INTERPOSER_NAME) ||
		    try_path(buf, size, dir, "interpose/" VMIG_INTERPOSER_NAME) ||
		    try_path(buf, size, dir, "../lib/vmig/" VMIG_INTERPOSER_NAME))
			return 0;
	}
	return vmig_err_set(err, VMIG_E_NOT_FOUND,
			    "cannot find %s beside the program or in <prefix>/lib/vmig (set %s)",
			    VMIG_INTERPOSER_NAME, VMIG_ENV_INTERPOSER);
}
