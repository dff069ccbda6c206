/*
 * cdi_keep.c — CDI specs that never go stale (docs/containers.md, "Keeping
 * specs current").
 *
 * The setting is one file of the state directory, cdi.json (JSON through
 * jansson): the specs to keep, each with the options it is generated with,
 * resolved once when it was enabled, so that every command writes the same
 * spec whatever its working directory or environment.  vmig_cdi_keep_install
 * hooks the refresh into libvmig's commit path (vmig__changed, lib/ctx.c):
 * after every committed change the process rebuilds each kept spec from a
 * fresh snapshot and rewrites it atomically (lib/cdi.c) when it differs.
 *
 * One lock (cdi.lock, beside the setting) orders the writers of kept specs:
 * the refresh of every change, enable and disable.  A refresh takes its
 * snapshot after taking the lock, which is after its own commit, so the last
 * refresh to run has seen every change committed before it: the spec left in
 * place is never older than the last change.  The wait is bounded by
 * $VMIG_LOCK_TIMEOUT, as the state's.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "os.h"

#define KEEP_LOCK      "cdi.lock"
#define KEEP_VERSION   1
#define KEEP_MAX_BYTES (256u << 10)
#define SPEC_MAX_BYTES (64u << 20)
#define VERSION_KEY    "vmig-cdi-keep"
#define KEEP_PATH_ROOM (PATH_MAX + 64)

static vmig_cdi_report_fn *report_fn;
static void *report_arg;

/* ---- the setting's file ---- */

struct place {
	char dir[PATH_MAX];	  /* the state directory */
	char file[PATH_MAX + 32]; /* its cdi.json */
	char lock[PATH_MAX + 32]; /* its cdi.lock */
};

static int place_of(const char *dir, struct place *p, struct vmig_err *err)
{
	char *d = NULL;
	int r = dir ? 0 : vmig__state_dir(&d, err);
	if (r < 0)
		return r;
	int n = snprintf(p->dir, sizeof(p->dir), "%s", dir ? dir : d);
	free(d);
	if (n < 0 || (size_t)n + sizeof(VMIG_CDI_KEEP_FILE) + 1 >= sizeof(p->dir))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "state directory path too long");
	snprintf(p->file, sizeof(p->file), "%s/%s", p->dir, VMIG_CDI_KEEP_FILE);
	snprintf(p->lock, sizeof(p->lock), "%s/%s", p->dir, KEEP_LOCK);
	return 0;
}

static int corrupt(struct vmig_err *err, const char *file, const char *what, unsigned i)
{
	if (i == 0)
		return vmig_err_set(err, VMIG_E_CORRUPT, "%s: %s", file, what);
	return vmig_err_set(err, VMIG_E_CORRUPT, "%s: spec %u: %s", file, i, what);
}

/* A string member into dst: required ones must be there; paths absolute. */
static int member(json_t *o, const char *key, char *dst, size_t size, bool required, bool path,
		  const char *file, unsigned i, struct vmig_err *err)
{
	char what[128];
	json_t *v = json_object_get(o, key);
	dst[0] = '\0';
	if (!v && !required)
		return 0;
	const char *s = json_string_value(v);
	snprintf(what, sizeof(what), "'%s' %s", key,
		 !v		     ? "is missing"
		 : !s		     ? "is not a string"
		 : !*s		     ? "is empty"
		 : strlen(s) >= size ? "is too long"
		 : path && *s != '/' ? "is not an absolute path"
				     : "");
	if (!s || !*s || strlen(s) >= size || (path && *s != '/'))
		return corrupt(err, file, what, i);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int parse_spec(json_t *o, struct vmig_cdi_keep *k, const char *file, unsigned i,
		      struct vmig_err *err)
{
	static const char *const keys[] = {"output",	 "kind",     "backend",
					   "mig-minors", "dev-root", "interposer"};
	const char *key;
	json_t *v;
	char what[96];
	if (!json_is_object(o))
		return corrupt(err, file, "not an object", i);
	json_object_foreach(o, key, v)
	{
		size_t j = 0;
		while (j < VMIG_ARRAY_SIZE(keys) && strcmp(key, keys[j]) != 0)
			j++;
		if (j == VMIG_ARRAY_SIZE(keys)) {
			snprintf(what, sizeof(what), "unknown key '%.48s'", key);
			return corrupt(err, file, what, i);
		}
	}
	int r;
	if ((r = member(o, "output", k->output, sizeof(k->output), true, true, file, i, err)) < 0 ||
	    (r = member(o, "kind", k->kind, sizeof(k->kind), true, false, file, i, err)) < 0 ||
	    (r = member(o, "backend", k->backend, sizeof(k->backend), false, false, file, i, err)) <
		0 ||
	    (r = member(o, "mig-minors", k->mig_minors, sizeof(k->mig_minors), true, true, file, i,
			err)) < 0 ||
	    (r = member(o, "dev-root", k->dev_root, sizeof(k->dev_root), true, true, file, i,
			err)) < 0 ||
	    (r = member(o, "interposer", k->interposer, sizeof(k->interposer), false, true, file, i,
			err)) < 0)
		return r;
	struct vmig_err kerr = {0};
	if (vmig_cdi_kind_check(k->kind, &kerr) < 0)
		return corrupt(err, file, kerr.msg, i);
	if (k->backend[0] && !vmig_backend_known(k->backend)) {
		snprintf(what, sizeof(what), "unknown backend '%.16s'", k->backend);
		return corrupt(err, file, what, i);
	}
	return 0;
}

static int parse(const char *file, const char *text, size_t len, struct vmig_cdi_keeps *ret,
		 struct vmig_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	char what[256];
	int r = 0;
	if (!root) {
		snprintf(what, sizeof(what), "line %d: %s", je.line, je.text);
		return corrupt(err, file, what, 0);
	}
	json_t *ver = json_object_get(root, VERSION_KEY), *specs = json_object_get(root, "specs");
	const char *key;
	json_t *v;
	if (!json_is_object(root))
		r = corrupt(err, file, "not a JSON object", 0);
	else if (!json_is_integer(ver))
		r = corrupt(err, file, "no '" VERSION_KEY "' version number", 0);
	else if (json_integer_value(ver) > KEEP_VERSION)
		r = vmig_err_set(err, VMIG_E_NEWER_VERSION,
				 "%s: version %lld was written by a newer vmig (this one reads "
				 "version %d)",
				 file, (long long)json_integer_value(ver), KEEP_VERSION);
	else if (json_integer_value(ver) != KEEP_VERSION)
		r = corrupt(err, file, "bad version", 0);
	else if (!json_is_array(specs))
		r = corrupt(err, file, "'specs' is not a list", 0);
	else if (json_array_size(specs) > VMIG_CDI_KEEP_MAX)
		r = corrupt(err, file, "more specs than vmig keeps", 0);
	if (r >= 0)
		json_object_foreach(root, key, v)
		{
			if (strcmp(key, VERSION_KEY) != 0 && strcmp(key, "specs") != 0) {
				snprintf(what, sizeof(what), "unknown key '%.48s'", key);
				r = corrupt(err, file, what, 0);
				break;
			}
		}
	ret->n = 0;
	for (size_t i = 0; r >= 0 && i < json_array_size(specs); i++) {
		r = parse_spec(json_array_get(specs, i), &ret->spec[i], file, (unsigned)i + 1, err);
		for (size_t j = 0; r >= 0 && j < i; j++)
			if (strcmp(ret->spec[i].output, ret->spec[j].output) == 0 &&
			    strcmp(ret->spec[i].kind, ret->spec[j].kind) == 0)
				r = corrupt(err, file, "the same spec twice", (unsigned)i + 1);
		ret->n = (unsigned)i + 1;
	}
	json_decref(root);
	if (r < 0)
		ret->n = 0;
	return r;
}

/* Read a regular file whole (no links, no FIFOs); 1 when there is none. */
static int slurp(const char *path, size_t max, char **ret, size_t *ret_len, struct vmig_err *err)
{
	int fd = vmig__os_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	struct stat st;
	if (fd == -ENOENT)
		return 1;
	if (fd == -ELOOP)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "%s is a symbolic link: refusing to follow it", path);
	if (fd < 0)
		return vmig_err_set(err, fd == -EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
				    "cannot read %s: %s", path, strerror(-fd));
	int r = vmig__os_fstat(fd, &st);
	if (r < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		vmig__os_close(fd);
		return vmig_err_set(err, VMIG_E_CORRUPT, "%s: %s", path,
				    r < 0		   ? strerror(-r)
				    : !S_ISREG(st.st_mode) ? "not a regular file"
							   : "too big");
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t got = 1;
	while (buf && n < cap && (got = vmig__os_read(fd, buf + n, cap - n)) > 0)
		n += (size_t)got;
	vmig__os_close(fd);
	if (!buf)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (got < 0 || n == cap) { /* an error, or the file grew under us */
		free(buf);
		return vmig_err_set(err, VMIG_E_IO, "cannot read %s: %s", path,
				    got < 0 ? strerror((int)-got) : "it changed while read");
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}

static int read_at(const struct place *p, struct vmig_cdi_keeps *ret, struct vmig_err *err)
{
	char *text = NULL;
	size_t len = 0;
	ret->n = 0;
	int r = slurp(p->file, KEEP_MAX_BYTES, &text, &len, err);
	if (r != 0)
		return r > 0 ? 0 : r;
	/* Anybody could have planted it in a directory others may write. */
	r = vmig__dir_trust(p->dir, err);
	if (r >= 0)
		r = parse(p->file, text, len, ret, err);
	free(text);
	return r;
}

static int write_at(const struct place *p, const struct vmig_cdi_keeps *k, struct vmig_err *err)
{
	if (k->n == 0) {
		if (unlink(p->file) < 0 && errno != ENOENT)
			return vmig_err_set(err, VMIG_E_IO, "cannot remove %s: %s", p->file,
					    strerror(errno));
		return 0;
	}
	json_t *specs = json_array();
	for (unsigned i = 0; specs && i < k->n; i++) {
		const struct vmig_cdi_keep *s = &k->spec[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "output", s->output, "kind", s->kind,
				      "mig-minors", s->mig_minors, "dev-root", s->dev_root);
		if (o && s->backend[0])
			json_object_set_new(o, "backend", json_string(s->backend));
		if (o && s->interposer[0])
			json_object_set_new(o, "interposer", json_string(s->interposer));
		if (!o || json_array_append_new(specs, o) < 0) {
			json_decref(specs);
			specs = NULL;
		}
	}
	json_t *root =
	    specs ? json_pack("{s:i,s:o}", VERSION_KEY, KEEP_VERSION, "specs", specs) : NULL;
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (!text)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_cdi_write(p->file, text, err);
	free(text);
	return r;
}

int vmig_cdi_keeps_read(struct vmig_cdi_keeps *ret, struct vmig_err *err)
{
	struct place p;
	int r = place_of(NULL, &p, err);
	return r < 0 ? r : read_at(&p, ret, err);
}

/* ---- the lock ---- */

static int lock_at(const struct place *p, bool create_dir, int *ret_fd, struct vmig_err *err)
{
	double timeout;
	int r = vmig__lock_timeout(&timeout, err);
	if (r < 0)
		return r;
	if (create_dir) {
		char d[PATH_MAX];
		snprintf(d, sizeof(d), "%s", p->dir);
		for (char *s = d + 1;; s++) {
			if (*s != '/' && *s != '\0')
				continue;
			char c = *s;
			*s = '\0';
			if (mkdir(d, 0755) < 0 && errno != EEXIST)
				return vmig_err_set(
				    err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
				    "cannot create %s: %s", d, strerror(errno));
			if (!(*s = c))
				break;
		}
	}
	int fd =
	    vmig__os_open(p->lock, O_RDWR | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0644);
	struct stat st;
	if (fd < 0)
		return vmig_err_set(err,
				    fd == -EACCES || fd == -EPERM || fd == -EROFS
					? VMIG_E_NO_PERMISSION
					: VMIG_E_IO,
				    "cannot lock %s: %s", p->lock, strerror(-fd));
	if (vmig__os_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		vmig__os_close(fd);
		return vmig_err_set(err, VMIG_E_IO, "%s is not a regular file", p->lock);
	}
	r = vmig__os_flock_wait(fd, LOCK_EX, timeout);
	if (r != 0) {
		bool excl = true;
		pid_t who = r > 0 ? vmig__os_lock_holder(fd, &excl) : 0;
		vmig__os_close(fd);
		if (r < 0)
			return vmig_err_set(err, VMIG_E_IO, "locking %s: %s", p->lock,
					    strerror(-r));
		if (who > 0)
			return vmig_err_set(err, VMIG_E_TIMEOUT,
					    "%s stayed locked for %.1f s (process %d holds it; "
					    "VMIG_LOCK_TIMEOUT sets how long to wait)",
					    p->lock, timeout, (int)who);
		return vmig_err_set(err, VMIG_E_TIMEOUT,
				    "%s stayed locked for %.1f s (VMIG_LOCK_TIMEOUT sets how long "
				    "to wait)",
				    p->lock, timeout);
	}
	*ret_fd = fd;
	return 0;
}

static void unlock_fd(int fd)
{
	if (fd >= 0) {
		vmig__os_flock(fd, LOCK_UN);
		vmig__os_close(fd);
	}
}

/* ---- building and writing one kept spec ---- */

int vmig_cdi_keep_path(const struct vmig_cdi_keep *k, char *buf, size_t size, struct vmig_err *err)
{
	return vmig_cdi_spec_path(k->output, k->kind, buf, size, err);
}

/* The spec of the node now, as the setting k generates it. */
static int build(const struct vmig_cdi_keep *k, char **ret, struct vmig_err *err)
{
	const struct vmig_cdi_opts o = {.kind = k->kind,
					.mig_minors = k->mig_minors,
					.dev_root = k->dev_root,
					.interposer = k->interposer[0] ? k->interposer : NULL};
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_snapshot_devices(k->backend[0] ? k->backend : NULL, st, err);
	if (r >= 0)
		r = vmig_cdi_spec(st, &o, ret, err);
	free(st);
	return r;
}

/*
 * Compare the file at path with text as vmig_cdi_write writes it (text,
 * newline).  A file that cannot be read (something else in its place) is
 * stale: writing the spec replaces it, or says why it cannot.
 */
static void freshness(const char *path, const char *text, enum vmig_cdi_freshness *ret)
{
	char *have = NULL;
	size_t len = 0, n = strlen(text);
	int r = slurp(path, SPEC_MAX_BYTES, &have, &len, NULL);
	if (r < 0)
		*ret = VMIG_CDI_STALE;
	else if (r > 0)
		*ret = VMIG_CDI_MISSING;
	else
		*ret = len == n + 1 && memcmp(have, text, n) == 0 && have[n] == '\n'
			   ? VMIG_CDI_CURRENT
			   : VMIG_CDI_STALE;
	free(have);
}

int vmig_cdi_keep_check(const struct vmig_cdi_keep *k, enum vmig_cdi_freshness *ret,
			struct vmig_err *err)
{
	char path[KEEP_PATH_ROOM], *text = NULL;
	int r = vmig_cdi_keep_path(k, path, sizeof(path), err);
	if (r >= 0)
		r = build(k, &text, err);
	if (r >= 0)
		freshness(path, text, ret);
	free(text);
	return r;
}

/* Rebuild k and write it when the file differs (always with force). */
static int rewrite(const struct vmig_cdi_keep *k, bool force, struct vmig_err *err)
{
	char path[KEEP_PATH_ROOM], *text = NULL;
	enum vmig_cdi_freshness f = VMIG_CDI_STALE;
	int r = vmig_cdi_keep_path(k, path, sizeof(path), err);
	if (r >= 0)
		r = build(k, &text, err);
	if (r >= 0 && !force)
		freshness(path, text, &f);
	if (r >= 0 && f != VMIG_CDI_CURRENT)
		r = vmig_cdi_write(path, text, err);
	free(text);
	return r;
}

/* ---- after every change ---- */

static __attribute__((format(printf, 1, 2))) void report(const char *fmt, ...)
{
	char msg[sizeof(((struct vmig_err *)0)->msg) + KEEP_PATH_ROOM + 96];
	va_list ap;
	if (!report_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_fn(msg, report_arg);
}

/*
 * The hook of vmig__changed: rewrite every kept spec of the state
 * directory.  Nothing here undoes or fails the change; each failure is one
 * line to the front end's report function.
 */
static void refresh(const char *dir)
{
	struct vmig_cdi_keeps *k = calloc(1, sizeof(*k));
	struct vmig_err err = {0};
	struct place p;
	int fd = -1, r = k ? place_of(dir, &p, &err) : vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	/* The common case, no setting, costs one open. */
	if (r >= 0 && (r = read_at(&p, k, &err)) >= 0 && k->n > 0 &&
	    (r = lock_at(&p, false, &fd, &err)) >= 0)
		r = read_at(&p, k, &err); /* what it holds now, under the lock */
	for (unsigned i = 0; r >= 0 && i < k->n; i++) {
		char path[KEEP_PATH_ROOM] = "";
		struct vmig_err e = {0};
		if (vmig_cdi_keep_path(&k->spec[i], path, sizeof(path), &e) < 0 ||
		    rewrite(&k->spec[i], false, &e) < 0)
			report("the CDI spec %s was not updated: %s (the change was kept; vmig cdi "
			       "status shows the specs)",
			       path[0] ? path : k->spec[i].output, e.msg);
	}
	unlock_fd(fd);
	if (r < 0)
		report("the CDI specs were not updated: %s (the change was kept)", err.msg);
	free(k);
}

void vmig_cdi_keep_install(vmig_cdi_report_fn *fn, void *arg)
{
	report_fn = fn;
	report_arg = arg;
	vmig__on_change = refresh;
}

/* ---- enable, disable ---- */

/* An absolute form of path (relative to the working directory). */
static int absolute(const char *what, const char *path, char *dst, size_t size,
		    struct vmig_err *err)
{
	char cwd[PATH_MAX];
	int n;
	if (path[0] == '/')
		n = snprintf(dst, size, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(dst, size, "%s/%s", cwd, path);
	else
		return vmig_err_set(err, VMIG_E_IO, "%s %s: cannot tell the working directory: %s",
				    what, path, strerror(errno));
	if (n < 0 || (size_t)n >= size)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "%s %.64s...: too long", what,
				    path);
	return 0;
}

static const char *env_or(const char *v, const char *name, const char *dflt)
{
	const char *e = getenv(name);
	return v && *v ? v : e && *e ? e : dflt;
}

/* want, with every default and variable resolved as vmig cdi generate would. */
static int resolve(const struct vmig_cdi_keep *want, struct vmig_cdi_keep *k, struct vmig_err *err)
{
	char real[PATH_MAX];
	struct stat st;
	int r;
	memset(k, 0, sizeof(*k));
	if (!want->output[0])
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "no spec directory given");
	if (stat(want->output, &st) < 0 || !realpath(want->output, real))
		return vmig_err_set(err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_NOT_FOUND,
				    "spec directory %.256s: %s", want->output, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "spec directory %.256s: not a directory", want->output);
	if (strlen(real) >= sizeof(k->output))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "spec directory path too long");
	memcpy(k->output, real, strlen(real) + 1); /* the length was checked */
	const char *kind = vmig_cdi_kind(want->kind[0] ? want->kind : NULL);
	if ((r = vmig_cdi_kind_check(kind, err)) < 0)
		return r;
	snprintf(k->kind, sizeof(k->kind), "%s", kind);
	const char *backend = env_or(want->backend, "VMIG_BACKEND", "");
	if (*backend && !vmig_backend_known(backend))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "unknown backend '%.16s' (expected %s)", backend,
				    vmig_backend_names());
	snprintf(k->backend, sizeof(k->backend), "%s", backend);
	if ((r = absolute(
		 "the capability minors",
		 env_or(want->mig_minors, VMIG_ENV_MIG_MINORS, VMIG_CDI_MIG_MINORS_DEFAULT),
		 k->mig_minors, sizeof(k->mig_minors), err)) < 0 ||
	    (r = absolute("the device root", env_or(want->dev_root, VMIG_ENV_DEV_ROOT, "/dev"),
			  k->dev_root, sizeof(k->dev_root), err)) < 0)
		return r;
	/* Found now when it can be, so every command mounts the same one. */
	if (vmig_interposer_find(real, sizeof(real), NULL) == 0)
		absolute("the interposer", real, k->interposer, sizeof(k->interposer), NULL);
	return 0;
}

int vmig_cdi_enable(const struct vmig_cdi_keep *want, char *ret_path, size_t size,
		    struct vmig_err *err)
{
	struct vmig_cdi_keeps *k = calloc(1, sizeof(*k));
	struct vmig_cdi_keep spec;
	struct place p;
	int fd = -1, r = k ? resolve(want, &spec, err) : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0 && (r = vmig_cdi_keep_path(&spec, ret_path, size, err)) >= 0 &&
	    (r = place_of(NULL, &p, err)) >= 0 && (r = lock_at(&p, true, &fd, err)) >= 0)
		r = read_at(&p, k, err);
	unsigned at = k ? k->n : 0;
	for (unsigned i = 0; r >= 0 && i < k->n; i++)
		if (strcmp(k->spec[i].output, spec.output) == 0 &&
		    strcmp(k->spec[i].kind, spec.kind) == 0)
			at = i;
	if (r >= 0 && at == VMIG_CDI_KEEP_MAX)
		r = vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				 "%u CDI specs are kept current already (the most vmig keeps)",
				 VMIG_CDI_KEEP_MAX);
	/* The spec first: a setting is recorded only for a spec that can be written. */
	if (r >= 0 && (r = rewrite(&spec, true, err)) >= 0) {
		k->spec[at] = spec;
		k->n += at == k->n;
		r = write_at(&p, k, err);
	}
	unlock_fd(fd);
	free(k);
	return r;
}

int vmig_cdi_disable(const char *output, const char *kind, bool remove, unsigned *ret_n,
		     struct vmig_err *err)
{
	struct vmig_cdi_keeps *k = calloc(1, sizeof(*k));
	struct place p;
	char real[PATH_MAX];
	int fd = -1, r = k ? place_of(NULL, &p, err) : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	unsigned kept = 0, dropped = 0;
	/* A directory that is gone is matched as given. */
	if (output && !realpath(output, real))
		snprintf(real, sizeof(real), "%s", output);
	/* Nothing kept (no state directory even): nothing to lock. */
	if (r >= 0 && (r = read_at(&p, k, err)) >= 0 && k->n > 0 &&
	    (r = lock_at(&p, false, &fd, err)) >= 0)
		r = read_at(&p, k, err);
	for (unsigned i = 0; r >= 0 && i < k->n; i++) {
		bool match = (!output || strcmp(k->spec[i].output, real) == 0) &&
			     (!kind || strcmp(k->spec[i].kind, kind) == 0);
		char path[KEEP_PATH_ROOM];
		if (!match) {
			k->spec[kept++] = k->spec[i];
			continue;
		}
		dropped++;
		if (remove && vmig_cdi_keep_path(&k->spec[i], path, sizeof(path), NULL) == 0 &&
		    unlink(path) < 0 && errno != ENOENT)
			r = vmig_err_set(err, VMIG_E_IO, "cannot remove %s: %s", path,
					 strerror(errno));
	}
	if (r >= 0 && output && dropped == 0)
		r = vmig_err_set(err, VMIG_E_NOT_FOUND, "no CDI spec%s%s is kept current in %s",
				 kind ? " of kind " : "", kind ? kind : "", output);
	if (r >= 0 && dropped) {
		k->n = kept;
		r = write_at(&p, k, err);
	}
	unlock_fd(fd);
	free(k);
	if (r >= 0 && ret_n)
		*ret_n = dropped;
	return r;
}
