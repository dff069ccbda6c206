/*
 * slurm.c — vmig's instances as Slurm generic resources (docs/slurm.md).
 *
 * One list, vmig_slurm_devices, says what Slurm sees of each MIG device of
 * a snapshot (a CI of a GI): its gres Type and the device files of its
 * gres.conf line.  A hardware or simulated MIG device has its parent's
 * /dev/nvidia<minor> and the GI's and CI's capability nodes (minors from
 * the driver's mig-minors table, as Slurm reads it); a software partition
 * has its parent's node and a placeholder node of its own, with numbers
 * (VMIG_SLURM_PLACEHOLDER_MAJOR, a minor from GPU minor, GI and CI) that
 * no driver owns, so that Slurm's device cgroup tells the instances apart.
 * gres.conf, the slurm.conf NodeName line and the TaskProlog's search for
 * a task's instances (vmig_slurm_task_devices) are all read off that list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

/* Slurm 22.05's name of an autodetected MIG device: "<slices>g.<GiB rounded>gb". */
static void autodetect_type(const struct vmig_gi_profile *gp, char *buf, size_t size)
{
	snprintf(buf, size, "%ug.%llugb", gp->slices,
		 (unsigned long long)((gp->mem_mib + 512) / 1024));
}

static int add_dev(struct vmig_slurm_dev **v, size_t *n, size_t *cap, struct vmig_err *err)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct vmig_slurm_dev *p = realloc(*v, c * sizeof(*p));
		if (!p)
			return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		*v = p;
		*cap = c;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	(*n)++;
	return 0;
}

/* The numbers of a node, 0:0 when it is missing or no device. */
static void node_numbers(const char *path, unsigned *maj, unsigned *min)
{
	struct stat sb;
	*maj = *min = 0;
	if (stat(path, &sb) == 0 && (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode))) {
		*maj = major(sb.st_rdev);
		*min = minor(sb.st_rdev);
	}
}

static int fill(struct vmig_slurm_dev *d, const struct vmig_gpu_state *g, const char *dev_root,
		const char **minors, const char *minors_path, bool autodetect, struct vmig_err *err)
{
	const struct vmig_gi_state *gi = vmig_gpu_find_gi((struct vmig_gpu_state *)g, d->gi);
	const struct vmig_gi_profile *gp =
	    g->model && gi ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
	const struct vmig_ci_state *ci =
	    gi ? vmig_gi_find_ci((struct vmig_gi_state *)gi, d->ci) : NULL;
	const struct vmig_ci_profile *cp =
	    gp && ci ? vmig_ci_profile_by_id(gp, ci->profile_id) : NULL;
	if (!cp || vmig_ci_profile_name(gp, cp, d->type, sizeof(d->type)) < 0)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "GPU %u: GPU instance %u, compute instance %u: unknown profile",
				    d->gpu, d->gi, d->ci);
	/* AutoDetect: Slurm names the MIG devices it finds, by their GI. */
	if (autodetect && !d->soft)
		autodetect_type(gp, d->type, sizeof(d->type));
	vmig_mig_uuid(g->uuid, d->gi, d->ci, d->uuid);
	snprintf(d->file[d->nfiles++], sizeof(d->file[0]), "%s/nvidia%u", dev_root, g->minor);
	if (d->soft) {
		if (g->minor >= VMIG_SLURM_MAX_GPU_MINOR)
			return vmig_err_set(
			    err, VMIG_E_NOT_SUPPORTED,
			    "GPU %u: minor number %u is too large for a placeholder "
			    "node (at most %u)",
			    d->gpu, g->minor, VMIG_SLURM_MAX_GPU_MINOR - 1);
		d->major = VMIG_SLURM_PLACEHOLDER_MAJOR;
		d->minor = g->minor * 128 + d->gi * 8 + d->ci;
		snprintf(d->file[d->nfiles++], sizeof(d->file[0]), "%s/%s/nvidia%u-gi%u-ci%u",
			 dev_root, VMIG_SLURM_PLACEHOLDER_DIR, g->minor, d->gi, d->ci);
		return 0;
	}
	unsigned m[2];
	int r = 0;
	if (!*minors) {
		char *text = NULL;
		if ((r = vmig__minors_load(minors_path, &text, err)) < 0)
			return r;
		*minors = text;
	}
	if ((r = vmig__mig_cap_minors(*minors, minors_path, g->minor, d->gi, d->ci, m, err)) < 0)
		return r;
	for (int k = 0; k < 2; k++)
		snprintf(d->file[d->nfiles++], sizeof(d->file[0]), "%s/nvidia-caps/nvidia-cap%u",
			 dev_root, m[k]);
	node_numbers(d->file[2], &d->major, &d->minor);
	return 0;
}

int vmig_slurm_devices(const struct vmig_state *st, const struct vmig_slurm_opts *o,
		       struct vmig_slurm_dev **ret, size_t *ret_n, struct vmig_err *err)
{
	static const struct vmig_slurm_opts none;
	o = o ? o : &none;
	const char *dev_root = vmig__env_or(o->dev_root, VMIG_ENV_DEV_ROOT, "/dev");
	const char *minors_path =
	    vmig__env_or(o->mig_minors, VMIG_ENV_MIG_MINORS, VMIG_CDI_MIG_MINORS_DEFAULT);
	const char *minors = NULL;
	struct vmig_slurm_dev *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	for (unsigned x = 0; r >= 0 && x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		for (unsigned k = 0; r >= 0 && g->mig_current && k < g->ngi; k++)
			for (unsigned c = 0; r >= 0 && c < g->gi[k].nci; c++) {
				if ((r = add_dev(&v, &n, &cap, err)) < 0)
					break;
				struct vmig_slurm_dev *d = &v[n - 1];
				d->gpu = x;
				d->gi = g->gi[k].id;
				d->ci = g->gi[k].ci[c].id;
				d->soft = (g->flags & VMIG_GPU_SOFT) != 0;
				r = fill(d, g, dev_root, &minors, minors_path, o->autodetect, err);
			}
	}
	free((char *)minors);
	if (r >= 0 && n == 0)
		r = vmig_err_set(err, VMIG_E_NOT_FOUND,
				 "this node has no GPU instances for Slurm (create some: vmig mig "
				 "-cgi PROFILES -C, or vmig mig --soft ...)");
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int vmig_slurm_gres_conf(const struct vmig_slurm_dev *d, size_t n, bool autodetect, char **ret,
			 struct vmig_err *err)
{
	struct vmig__text t = {0};
	vmig__put(&t, "# gres.conf: this node's GPU instances, written by vmig slurm gres-conf\n");
	if (autodetect)
		vmig__put(&t, "# MIG devices: found by slurmd through NVML\nAutoDetect=nvml\n");
	for (size_t i = 0; i < n; i++) {
		if (autodetect && !d[i].soft)
			continue;
		vmig__put(&t, "# %s: GPU %u, GPU instance %u, compute instance %u%s\n", d[i].uuid,
			  d[i].gpu, d[i].gi, d[i].ci, d[i].soft ? " (software partition)" : "");
		vmig__put(&t, "Name=gpu Type=%s MultipleFiles=", d[i].type);
		for (unsigned f = 0; f < d[i].nfiles; f++)
			vmig__put(&t, "%s%s", f ? "," : "", d[i].file[f]);
		vmig__put(&t, "\n");
	}
	return vmig__text_done(&t, ret, err);
}

int vmig_slurm_node_line(const struct vmig_slurm_dev *d, size_t n, const char *node, char **ret,
			 struct vmig_err *err)
{
	struct vmig__text t = {0};
	vmig__put(&t, "NodeName=%s Gres=", node);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		size_t count = 0, j;
		for (j = 0; j < i && strcmp(d[j].type, d[i].type) != 0; j++)
			;
		if (j < i)
			continue; /* counted with its first instance */
		for (j = i; j < n; j++)
			count += strcmp(d[j].type, d[i].type) == 0;
		vmig__put(&t, "%sgpu:%s:%zu", first ? "" : ",", d[i].type, count);
		first = false;
	}
	return vmig__text_done(&t, ret, err);
}

/* ---- placeholder nodes ---- */

int vmig_slurm_make_placeholders(const struct vmig_slurm_dev *d, size_t n, struct vmig_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!d[i].soft)
			continue;
		const char *path = d[i].file[d[i].nfiles - 1];
		dev_t want = makedev(d[i].major, d[i].minor);
		struct stat sb;
		if (lstat(path, &sb) == 0) {
			if (S_ISCHR(sb.st_mode) && sb.st_rdev == want)
				continue;
			if (!S_ISCHR(sb.st_mode))
				return vmig_err_set(err, VMIG_E_IO,
						    "%s exists and is no character device: "
						    "remove it",
						    path);
			if (unlink(path) < 0)
				return vmig_err_set(err, VMIG_E_IO, "cannot replace %s: %s", path,
						    strerror(errno));
		}
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		int r = vmig__mkdirs(dir, err);
		if (r < 0)
			return r;
		if (mknod(path, S_IFCHR | 0666, want) < 0)
			return vmig_err_set(err, errno == EPERM ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
					    "cannot create the placeholder node %s: %s", path,
					    strerror(errno));
		chmod(path, 0666); /* not narrowed by the umask */
	}
	return 0;
}

/* ---- the TaskProlog: which instances a task was given ---- */

/* The next item of a comma list into buf; false at the end. */
static bool next_item(const char **p, char *buf, size_t size)
{
	while (**p == ',' || **p == ' ')
		(*p)++;
	if (!**p)
		return false;
	size_t k = strcspn(*p, ", ");
	snprintf(buf, size, "%.*s", (int)(k < size ? k : size - 1), *p);
	*p += k;
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((*s < '0' || *s > '9') && *s != ',')
			return false;
	return true;
}

/* CUDA_VISIBLE_DEVICES of MIG UUIDs (AutoDetect): each must be one of ours. */
static int by_uuid(const struct vmig_slurm_dev *d, size_t n, const char *list, bool *sel,
		   struct vmig_err *err)
{
	char item[128];
	int count = 0;
	while (next_item(&list, item, sizeof(item))) {
		size_t i;
		for (i = 0; i < n && strcasecmp(d[i].uuid, item) != 0; i++)
			;
		if (i == n)
			return vmig_err_set(err, VMIG_E_NOT_FOUND,
					    "%s=%s: no GPU instance of vmig on this node",
					    VMIG_ENV_VISIBLE_DEVICES, item);
		count += !sel[i];
		sel[i] = true;
	}
	return count;
}

/* The device cgroup's allow list: the instances whose own node it names. */
static int by_cgroup(const struct vmig_slurm_dev *d, size_t n, const char *list, bool *sel)
{
	int count = 0;
	for (const char *p = list; *p;) {
		const char *eol = p + strcspn(p, "\n");
		if (*p == 'a')
			return 0; /* "a *:* rwm": not constrained */
		unsigned maj, min;
		char type;
		if (sscanf(p, "%c %u:%u", &type, &maj, &min) == 3 && type == 'c')
			for (size_t i = 0; i < n; i++)
				if (d[i].major == maj && d[i].minor == min &&
				    (d[i].major || d[i].minor) && !sel[i]) {
					sel[i] = true;
					count++;
				}
		p = *eol ? eol + 1 : eol;
	}
	return count;
}

/* Line of gres.conf that holds gres index idx (its Name=gpu lines in order); NULL if none. */
static const char *gres_line(const char *conf, unsigned idx, unsigned *lineno)
{
	unsigned k = 0;
	*lineno = 0;
	for (const char *p = conf; *p;) {
		const char *eol = p + strcspn(p, "\n");
		const char *q = p + strspn(p, " \t");
		++*lineno;
		if (strncasecmp(q, "Name=gpu", 8) == 0 && (q[8] == ' ' || q[8] == '\t') &&
		    k++ == idx)
			return q;
		p = *eol ? eol + 1 : eol;
	}
	return NULL;
}

/* The last device file of a gres.conf line (File= or MultipleFiles=). */
static bool line_last_file(const char *line, char *buf, size_t size)
{
	size_t len = strcspn(line, "\n");
	for (const char *p = line; p < line + len;) {
		const char *w = p + strspn(p, " \t");
		size_t wl = strcspn(w, " \t\n");
		const char *eq = memchr(w, '=', wl);
		if (eq && ((eq - w == 4 && strncasecmp(w, "File", 4) == 0) ||
			   (eq - w == 13 && strncasecmp(w, "MultipleFiles", 13) == 0))) {
			const char *v = eq + 1, *end = w + wl, *last = v;
			for (const char *c = v; c < end; c++)
				if (*c == ',')
					last = c + 1;
			snprintf(buf, size, "%.*s", (int)(end - last), last);
			return end > last;
		}
		p = w + wl;
		if (wl == 0)
			break;
	}
	return false;
}

/* Does gres.conf turn autodetection on (an AutoDetect= line of another value than off)? */
static bool autodetects(const char *conf)
{
	for (const char *p = conf; *p;) {
		const char *eol = p + strcspn(p, "\n");
		const char *q = p + strspn(p, " \t");
		if (strncasecmp(q, "AutoDetect=", 11) == 0 && strncasecmp(q + 11, "off", 3) != 0)
			return true;
		p = *eol ? eol + 1 : eol;
	}
	return false;
}

/*
 * Gres indexes (SLURM_STEP_GPUS, or the indexes of CUDA_VISIBLE_DEVICES)
 * through gres.conf.  With a static gres.conf, index i is its i-th Name=gpu
 * line.  Under AutoDetect the detected devices come first and the
 * config-only lines follow in an order slurmd chooses (it sorts them with
 * the detected ones), so an index names a line only when there is one
 * config-only line; with more, the device cgroup must tell them apart.
 */
static int by_index(const struct vmig_slurm_dev *d, size_t n, const char *list,
		    const struct vmig_slurm_task *t, bool *sel, struct vmig_err *err)
{
	char item[32], file[4096];
	int count = 0;
	unsigned lineno_unused;
	const char *path = t->gres_conf_path ? t->gres_conf_path : "gres.conf";
	if (!t->gres_conf)
		return vmig_err_set(err, VMIG_E_NOT_FOUND,
				    "the task's gres indexes (%s) need gres.conf, which was not "
				    "found (--gres-conf FILE)",
				    list);
	bool autodetect = autodetects(t->gres_conf);
	unsigned nlines = 0, first = ~0u;
	for (const char *q = t->gres_conf; autodetect && gres_line(q, nlines, &lineno_unused);)
		nlines++;
	while (next_item(&list, item, sizeof(item))) {
		unsigned idx, lineno;
		const char *q = item;
		if (!vmig__read_dec(&q, 1u << 20, &idx) || *q)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "gres index '%.32s' is not a number", item);
		if (autodetect && (nlines != 1 || (first != ~0u && first != idx)))
			return vmig_err_set(
			    err, VMIG_E_NOT_SUPPORTED,
			    "gres index %u: %s has AutoDetect and %u config-only GPU "
			    "lines, which slurmd numbers in an order of its own; "
			    "tell them apart with ConstrainDevices=yes (the device "
			    "cgroup)",
			    idx, path, nlines);
		if (autodetect)
			first = idx;
		const char *line = gres_line(t->gres_conf, autodetect ? 0 : idx, &lineno);
		if (!line)
			return vmig_err_set(
			    err, VMIG_E_NOT_FOUND,
			    "gres index %u matches no instance: %s has no line for it", idx, path);
		size_t i = n;
		if (line_last_file(line, file, sizeof(file)))
			for (i = 0; i < n && strcmp(d[i].file[d[i].nfiles - 1], file) != 0; i++)
				;
		if (i == n)
			return vmig_err_set(err, VMIG_E_NOT_FOUND,
					    "gres index %u (%s line %u) matches no GPU instance of "
					    "vmig on this node",
					    idx, path, lineno);
		count += !sel[i];
		sel[i] = true;
	}
	return count;
}

int vmig_slurm_task_devices(const struct vmig_slurm_dev *d, size_t n,
			    const struct vmig_slurm_task *t, bool *sel, struct vmig_err *err)
{
	const char *cvd = t->visible && *t->visible ? t->visible : NULL;
	memset(sel, 0, n * sizeof(*sel));
	if (cvd && (strncasecmp(cvd, "MIG-", 4) == 0 || strncasecmp(cvd, "GPU-", 4) == 0))
		return by_uuid(d, n, cvd, sel, err);
	int k = t->devices_list ? by_cgroup(d, n, t->devices_list, sel) : 0;
	if (k > 0)
		return k;
	const char *idx = t->step_gpus && *t->step_gpus ? t->step_gpus : cvd;
	if (!idx)
		return 0;
	if (!all_digits(idx))
		return vmig_err_set(
		    err, VMIG_E_INVALID_ARGUMENT,
		    "the task's GPUs '%.64s' are neither MIG UUIDs nor gres indexes", idx);
	return by_index(d, n, idx, t, sel, err);
}
