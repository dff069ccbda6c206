/*
 * oci.c — the bundle's config.json: the devices it names (process.env's
 * VMIG_VISIBLE_DEVICES or NVIDIA_VISIBLE_DEVICES, and cdi.k8s.io/
 * annotations), resolved with libvmig's selector, and the CDI edits of
 * vmig's spec for them applied to the OCI spec as CDI runtimes apply them:
 * env entries replace the same name, device nodes join linux.devices and
 * the device cgroup's allow list, mounts and hooks are appended.  The spec
 * is the one `vmig cdi generate` writes, built in memory from the current
 * snapshot, so a container never gets a stale one.  Everything is done in
 * memory first; the file is replaced (temp file + rename) only when all of
 * it succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime.h"

#define CONFIG_MAX (64u << 20)

static int fail(struct vmig_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct vmig_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[sizeof(err->msg)];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vmig_err_set(err, code, "%s", msg);
}

/* The value of NAME in an OCI env array, or NULL. */
static const char *env_get(json_t *env, const char *name)
{
	size_t i, n = strlen(name);
	json_t *v;
	const char *found = NULL;
	json_array_foreach(env, i, v)
	{
		const char *s = json_string_value(v);
		if (s && strncmp(s, name, n) == 0 && s[n] == '=')
			found = s + n + 1;
	}
	return found;
}

/* Append "item" to the growing comma list *list. */
static int list_add(char **list, const char *item, size_t len, struct vmig_err *err)
{
	size_t old = *list ? strlen(*list) : 0;
	char *p = realloc(*list, old + len + 2);
	if (!p)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (old)
		p[old++] = ',';
	memcpy(p + old, item, len);
	p[old + len] = '\0';
	*list = p;
	return 0;
}

/*
 * The items of a comma list, a qualified "KIND=NAME" reduced to NAME when
 * KIND is ours; another kind is an error when strict (the variable), and
 * left to its own runtime otherwise (annotations).
 */
static int add_names(char **list, const char *text, const char *kind, bool strict,
		     const char *where, struct vmig_err *err)
{
	size_t klen = strlen(kind);
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		int r = 0;
		if (!eq)
			r = strict ? list_add(list, p, len, err) : 0;
		else if ((size_t)(eq - p) == klen && strncmp(p, kind, klen) == 0)
			r = list_add(list, eq + 1, len - klen - 1, err);
		else if (strict)
			r = fail(err, VMIG_E_INVALID_ARGUMENT,
				 "%s: device '%.*s' is not of kind %s", where, (int)len, p, kind);
		if (r < 0)
			return r;
		p += len;
		p += *p == ',';
	}
	return 0;
}

/* The selector text the container asks for; NULL when it names nothing. */
static int wanted(json_t *cfg, const char *kind, char **ret, struct vmig_err *err)
{
	json_t *env = json_object_get(json_object_get(cfg, "process"), "env");
	const char *which = RT_ENV_VISIBLE_VMIG, *v = env_get(env, which);
	char *list = NULL;
	int r = 0;
	if (!v)
		v = env_get(env, which = RT_ENV_VISIBLE_NVIDIA);
	/* void, empty or unset: as plain runc; none: no device either (no driver files are given).
	 */
	if (v && *v && strcmp(v, "void") != 0 && strcmp(v, "none") != 0)
		r = add_names(&list, v, kind, true, which, err);
	const char *key;
	json_t *val;
	json_object_foreach(json_object_get(cfg, "annotations"), key, val)
	{
		if (r < 0)
			break;
		if (strncmp(key, RT_CDI_ANNOTATION, strlen(RT_CDI_ANNOTATION)) == 0 &&
		    json_string_value(val))
			r = add_names(&list, json_string_value(val), kind, false, key, err);
	}
	if (r < 0) {
		free(list);
		return r;
	}
	*ret = list;
	return 0;
}

/* ---- applying CDI edits to the OCI spec ---- */

/* obj[key], created as an empty object or array (array true) when absent. */
static json_t *member(json_t *obj, const char *key, bool array)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		v = array ? json_array() : json_object();
		json_object_set_new(obj, key, v);
	}
	return v;
}

static int apply_env(json_t *cfg, json_t *edits, struct vmig_err *err)
{
	json_t *env = member(member(cfg, "process", false), "env", true), *e, *o;
	size_t i, k;
	json_array_foreach(json_object_get(edits, "env"), i, e)
	{
		const char *kv = json_string_value(e), *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv)
			return fail(err, VMIG_E_CORRUPT, "CDI env entry is not NAME=VALUE");
		bool replaced = false;
		json_array_foreach(env, k, o)
		{
			const char *s = json_string_value(o);
			if (s && strncmp(s, kv, (size_t)(eq - kv + 1)) == 0) {
				json_array_set_new(env, k, json_string(kv));
				replaced = true;
			}
		}
		if (!replaced)
			json_array_append_new(env, json_string(kv));
	}
	return 0;
}

static bool has_device(json_t *devices, const char *path)
{
	size_t i;
	json_t *d;
	json_array_foreach(devices, i, d)
	{
		const char *p = json_string_value(json_object_get(d, "path"));
		if (p && strcmp(p, path) == 0)
			return true;
	}
	return false;
}

/* One device node: its numbers from the host's node, as CDI runtimes fill them in. */
static int apply_node(json_t *linux_, json_t *n, struct vmig_err *err)
{
	const char *path = json_string_value(json_object_get(n, "path"));
	const char *host = json_string_value(json_object_get(n, "hostPath"));
	const char *perm = json_string_value(json_object_get(n, "permissions"));
	struct stat st;
	if (!path)
		return fail(err, VMIG_E_CORRUPT, "CDI device node without a path");
	host = host ? host : path;
	if (stat(host, &st) < 0)
		return fail(err, VMIG_E_NOT_FOUND, "device node %s: %s", host, strerror(errno));
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return fail(err, VMIG_E_INVALID_ARGUMENT, "%s is not a device node", host);
	const char *type = S_ISCHR(st.st_mode) ? "c" : "b";
	json_int_t maj = (json_int_t)major(st.st_rdev), min = (json_int_t)minor(st.st_rdev);
	json_t *devices = member(linux_, "devices", true);
	json_t *allow = member(member(linux_, "resources", false), "devices", true);
	if (!has_device(devices, path))
		json_array_append_new(devices, json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:i}", "path",
							 path, "type", type, "major", maj, "minor",
							 min, "fileMode", (int)(st.st_mode & 0777),
							 "uid", 0, "gid", 0));
	json_array_append_new(allow,
			      json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type", type, "major",
					maj, "minor", min, "access", perm && *perm ? perm : "rwm"));
	return 0;
}

static int apply_mounts(json_t *cfg, json_t *edits, struct vmig_err *err)
{
	json_t *mounts = member(cfg, "mounts", true), *m;
	size_t i;
	json_array_foreach(json_object_get(edits, "mounts"), i, m)
	{
		const char *src = json_string_value(json_object_get(m, "hostPath"));
		const char *dst = json_string_value(json_object_get(m, "containerPath"));
		const char *type = json_string_value(json_object_get(m, "type"));
		json_t *opts = json_object_get(m, "options");
		if (!src || !dst)
			return fail(err, VMIG_E_CORRUPT,
				    "CDI mount without hostPath or containerPath");
		json_array_append_new(mounts,
				      json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "source",
						src, "type", type ? type : "bind", "options",
						opts ? json_incref(opts) : json_array()));
	}
	return 0;
}

static int apply_hooks(json_t *cfg, json_t *edits, struct vmig_err *err)
{
	json_t *h;
	size_t i;
	json_array_foreach(json_object_get(edits, "hooks"), i, h)
	{
		const char *name = json_string_value(json_object_get(h, "hookName"));
		if (!name || !json_string_value(json_object_get(h, "path")))
			return fail(err, VMIG_E_CORRUPT, "CDI hook without hookName or path");
		json_t *oci = json_deep_copy(h);
		json_object_del(oci, "hookName");
		json_array_append_new(member(member(cfg, "hooks", false), name, true), oci);
	}
	return 0;
}

static int apply_edits(json_t *cfg, json_t *edits, struct vmig_err *err)
{
	json_t *n;
	size_t i;
	int r = apply_env(cfg, edits, err);
	json_array_foreach(json_object_get(edits, "deviceNodes"), i, n)
	{
		if (r >= 0)
			r = apply_node(member(cfg, "linux", false), n, err);
	}
	if (r >= 0)
		r = apply_mounts(cfg, edits, err);
	return r < 0 ? r : apply_hooks(cfg, edits, err);
}

static json_t *spec_device(json_t *spec, const char *name)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(spec, "devices"), i, d)
	{
		const char *n = json_string_value(json_object_get(d, "name"));
		if (n && strcmp(n, name) == 0)
			return json_object_get(d, "containerEdits");
	}
	return NULL;
}

/* The edits of the spec's common part and of each device selected. */
static int apply_selection(json_t *cfg, const char *text, const char *kind, struct vmig_err *err)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_selection sel = {0};
	const struct vmig_cdi_opts o = {.kind = kind};
	char *spec_text = NULL;
	json_t *spec = NULL;
	int r =
	    st ? vmig_snapshot_devices(NULL, st, err) : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = vmig_select(st, text, 0, &sel, err);
	if (r >= 0)
		r = vmig_cdi_spec(st, &o, &spec_text, err);
	if (r >= 0 && !(spec = json_loads(spec_text, 0, NULL)))
		r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = apply_edits(cfg, json_object_get(spec, "containerEdits"), err);
	for (size_t i = 0; r >= 0 && i < (sel.kind == VMIG_SEL_ALL ? 1 : sel.n); i++) {
		const char *name = sel.kind == VMIG_SEL_ALL ? "all" : sel.dev[i].uuid;
		json_t *e = spec_device(spec, name);
		r = e ? apply_edits(cfg, e, err)
		      : vmig_err_set(err, VMIG_E_NOT_FOUND, "no CDI device %s=%s", kind, name);
	}
	json_decref(spec);
	free(spec_text);
	vmig_selection_free(&sel);
	free(st);
	return r;
}

/* ---- the file ---- */

static int load(const char *path, json_t **ret, struct stat *st, struct vmig_err *err)
{
	json_error_t je;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, VMIG_E_NOT_FOUND, "%s: %s", path, strerror(errno));
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || (size_t)st->st_size > CONFIG_MAX) {
		close(fd);
		return fail(err, VMIG_E_INVALID_ARGUMENT,
			    "%s: not a regular file of at most %u MiB", path, CONFIG_MAX >> 20);
	}
	json_t *cfg = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
	close(fd);
	if (!cfg)
		return fail(err, VMIG_E_INVALID_ARGUMENT, "%s:%d:%d: %s", path, je.line, je.column,
			    je.text);
	if (!json_is_object(cfg) || !json_is_object(json_object_get(cfg, "process")) ||
	    !json_is_array(json_object_get(json_object_get(cfg, "process"), "env"))) {
		json_decref(cfg);
		return fail(err, VMIG_E_INVALID_ARGUMENT,
			    "%s: not an OCI runtime spec (no process.env array)", path);
	}
	*ret = cfg;
	return 0;
}

/* Replace path by cfg: a temp file beside it with the same mode, then rename. */
static int store(const char *path, json_t *cfg, mode_t mode, struct vmig_err *err)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.vmig-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail(err, VMIG_E_IO, "cannot write beside %s: %s", path, strerror(errno));
	int ok = fchmod(fd, mode & 07777) == 0 && json_dumpfd(cfg, fd, JSON_COMPACT) == 0 &&
		 fsync(fd) == 0;
	int e = errno;
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, path) == 0)
		return 0;
	e = errno ? errno : e;
	unlink(tmp);
	return fail(err, VMIG_E_IO, "cannot write %s: %s", path, strerror(e));
}

int rt_edit_bundle(const char *bundle, const char *kind, struct vmig_err *err)
{
	char path[4096];
	struct stat st;
	json_t *cfg = NULL;
	char *text = NULL;
	if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
		return fail(err, VMIG_E_INVALID_ARGUMENT, "bundle path too long");
	int r = load(path, &cfg, &st, err);
	if (r >= 0)
		r = wanted(cfg, kind, &text, err);
	if (r >= 0 && text) {
		r = apply_selection(cfg, text, kind, err);
		if (r >= 0)
			r = store(path, cfg, st.st_mode, err);
	}
	free(text);
	json_decref(cfg);
	return r < 0 ? r : 0;
}
