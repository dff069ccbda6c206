/*
 * k8s.c — vmig's instances as Kubernetes sees them (docs/kubernetes.md):
 * extended resources for the device plugin, and node labels for Node
 * Feature Discovery.
 *
 * One list, vmig_k8s_devices, says what the kubelet is told of each MIG
 * device of a snapshot (a CI of a GI): its resource, one per CI profile
 * ("<domain>/mig-<profile>", '+' written as '.'), its device ID (the MIG
 * UUID) and its health, which is whether the device nodes that vmig's CDI
 * edits give a container are on the host: the parent's /dev/nvidia<minor>,
 * and for hardware or simulated MIG the GI's and CI's capability nodes
 * (minors from the driver's mig-minors table).  The labels follow GPU
 * Feature Discovery's "mixed" strategy, one group per profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* ---- names ---- */

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int vmig_k8s_domain_check(const char *domain, struct vmig_err *err)
{
	size_t n = strlen(domain);
	if (n == 0 || n > 253)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "invalid domain '%.64s': 1 to 253 characters", domain);
	for (const char *p = domain; *p;) {
		size_t k = strcspn(p, ".");
		if (k == 0 || k > 63 || !alnum(p[0]) || !alnum(p[k - 1]))
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "invalid domain '%.64s': each part between dots has 1 "
					    "to 63 characters and starts and ends with a letter or "
					    "digit",
					    domain);
		for (size_t i = 0; i < k; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '-'))
				return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
						    "invalid domain '%.64s': lower-case letters, "
						    "digits, '-' and '.' only (a DNS subdomain)",
						    domain);
		p += k;
		if (*p == '.' && !*++p)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "invalid domain '%.64s': ends with a dot", domain);
	}
	const char *tail = n > 14 ? domain + n - 14 : NULL;
	if (strcmp(domain, "kubernetes.io") == 0 || (tail && strcmp(tail, ".kubernetes.io") == 0))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "domain '%.64s': kubernetes.io is Kubernetes' own, not for "
				    "extended resources",
				    domain);
	return 0;
}

int vmig_k8s_profile_name(const char *profile, char *buf, size_t size, struct vmig_err *err)
{
	int n = snprintf(buf, size, "mig-%s", profile);
	if (n < 0 || (size_t)n >= size || n > 63)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "profile '%.64s': the resource name would pass 63 characters",
				    profile);
	for (char *p = buf; *p; p++) {
		if (*p == '+')
			*p = '.';
		else if (!alnum(*p) && *p != '.' && *p != '-' && *p != '_')
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "profile '%.64s' makes no resource name", profile);
	}
	if (!alnum(buf[n - 1]))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "profile '%.64s' makes no resource name", profile);
	return 0;
}

/* ---- the devices ---- */

/* The profiles of a CI of a snapshot; false for a state the library would reject. */
static bool ci_profiles(const struct vmig_gpu_state *g, const struct vmig_gi_state *gi,
			const struct vmig_ci_state *ci, const struct vmig_gi_profile **ret_gp,
			const struct vmig_ci_profile **ret_cp)
{
	*ret_gp = g->model ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
	*ret_cp = *ret_gp ? vmig_ci_profile_by_id(*ret_gp, ci->profile_id) : NULL;
	return *ret_cp != NULL;
}

/* path is a character device, else the reason in d->why. */
static bool node_ok(struct vmig_k8s_dev *d, const char *path)
{
	struct stat sb;
	if (stat(path, &sb) == 0 && S_ISCHR(sb.st_mode))
		return true;
	snprintf(d->why, sizeof(d->why), "device node %.400s is %s", path,
		 stat(path, &sb) == 0 ? "not a character device" : "missing");
	return false;
}

struct scan {
	const char *dev_root, *minors_path;
	char *minors; /* the table, loaded on first use */
	int minors_r; /* its load's result */
	struct vmig_err minors_err;
};

static void health(struct vmig_k8s_dev *d, const struct vmig_gpu_state *g, struct scan *s)
{
	char path[4096];
	unsigned m[2];
	struct vmig_err e = {0};
	snprintf(path, sizeof(path), "%s/nvidia%u", s->dev_root, g->minor);
	d->healthy = node_ok(d, path);
	if (!d->healthy || d->soft)
		return;
	if (!s->minors && s->minors_r == 0)
		s->minors_r = vmig__minors_load(s->minors_path, &s->minors, &s->minors_err);
	if (s->minors_r < 0) {
		snprintf(d->why, sizeof(d->why), "%s", s->minors_err.msg);
		d->healthy = false;
		return;
	}
	if (vmig__mig_cap_minors(s->minors, s->minors_path, g->minor, d->gi, d->ci, m, &e) < 0) {
		snprintf(d->why, sizeof(d->why), "%s", e.msg);
		d->healthy = false;
		return;
	}
	for (int k = 0; k < 2 && d->healthy; k++) {
		snprintf(path, sizeof(path), "%s/nvidia-caps/nvidia-cap%u", s->dev_root, m[k]);
		d->healthy = node_ok(d, path);
	}
}

static int fill(struct vmig_k8s_dev *d, const struct vmig_gpu_state *g,
		const struct vmig_gi_state *gi, const struct vmig_ci_state *ci, const char *domain,
		struct scan *s, struct vmig_err *err)
{
	const struct vmig_gi_profile *gp;
	const struct vmig_ci_profile *cp;
	char name[64];
	d->gi = gi->id;
	d->ci = ci->id;
	d->soft = (g->flags & VMIG_GPU_SOFT) != 0;
	if (!ci_profiles(g, gi, ci, &gp, &cp) ||
	    vmig_ci_profile_name(gp, cp, d->profile, sizeof(d->profile)) < 0)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "GPU %u: GPU instance %u, compute instance %u: unknown profile",
				    d->gpu, d->gi, d->ci);
	int r = vmig_k8s_profile_name(d->profile, name, sizeof(name), err);
	if (r < 0)
		return r;
	snprintf(d->resource, sizeof(d->resource), "%s/%s", domain, name);
	vmig_mig_uuid(g->uuid, d->gi, d->ci, d->uuid);
	health(d, g, s);
	return 0;
}

int vmig_k8s_devices(const struct vmig_state *st, const struct vmig_k8s_opts *o,
		     struct vmig_k8s_dev **ret, size_t *ret_n, struct vmig_err *err)
{
	static const struct vmig_k8s_opts none;
	o = o ? o : &none;
	const char *domain = o->domain ? o->domain : VMIG_K8S_DOMAIN_DEFAULT;
	struct scan s = {
	    .dev_root = vmig__env_or(o->dev_root, VMIG_ENV_DEV_ROOT, "/dev"),
	    .minors_path =
		vmig__env_or(o->mig_minors, VMIG_ENV_MIG_MINORS, VMIG_CDI_MIG_MINORS_DEFAULT),
	};
	size_t n = 0;
	for (unsigned x = 0; x < st->ngpu; x++)
		for (unsigned k = 0; st->gpu[x].mig_current && k < st->gpu[x].ngi; k++)
			n += st->gpu[x].gi[k].nci;
	struct vmig_k8s_dev *v = n ? calloc(n, sizeof(*v)) : NULL;
	int r = vmig_k8s_domain_check(domain, err);
	if (r >= 0 && n && !v)
		r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	size_t i = 0;
	for (unsigned x = 0; r >= 0 && x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		for (unsigned k = 0; r >= 0 && g->mig_current && k < g->ngi; k++)
			for (unsigned c = 0; r >= 0 && c < g->gi[k].nci; c++) {
				v[i].gpu = x;
				r = fill(&v[i++], g, &g->gi[k], &g->gi[k].ci[c], domain, &s, err);
			}
	}
	free(s.minors);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- labels ---- */

/* A label value from a product name: spaces as '-', only [A-Za-z0-9-_.], at most 63. */
static void label_value(const char *s, char *buf, size_t size)
{
	size_t n = 0;
	for (; *s && n + 1 < size && n < 63; s++)
		if (*s == ' ')
			buf[n++] = '-';
		else if (alnum(*s) || *s == '-' || *s == '_' || *s == '.')
			buf[n++] = *s;
	while (n && !alnum(buf[n - 1]))
		n--;
	buf[n] = '\0';
}

/* One profile of the node: its first instance, and how many there are. */
struct group {
	const struct vmig_gpu_state *g;
	const struct vmig_gi_profile *gp;
	const struct vmig_ci_profile *cp;
	char profile[48];
	unsigned count;
};

static int by_profile(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->profile, ((const struct group *)b)->profile);
}

/*
 * The node's profiles, sorted by name (*ret malloc'ed), and its product
 * label; NOT_FOUND when it has no instance.
 */
static int groups(const struct vmig_state *st, struct group **ret, size_t *ret_n, char *product,
		  size_t size, struct vmig_err *err)
{
	size_t n = 0;
	for (unsigned x = 0; x < st->ngpu; x++)
		for (unsigned k = 0; st->gpu[x].mig_current && k < st->gpu[x].ngi; k++)
			n += st->gpu[x].gi[k].nci;
	struct group *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	n = 0;
	for (unsigned x = 0; x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		for (unsigned k = 0; g->mig_current && k < g->ngi; k++)
			for (unsigned c = 0; c < g->gi[k].nci; c++) {
				struct group e = {.g = g, .count = 1};
				if (!ci_profiles(g, &g->gi[k], &g->gi[k].ci[c], &e.gp, &e.cp) ||
				    vmig_ci_profile_name(e.gp, e.cp, e.profile, sizeof(e.profile)) <
					0)
					continue;
				size_t j = 0;
				while (j < n && strcmp(v[j].profile, e.profile) != 0)
					j++;
				if (j < n)
					v[j].count++;
				else
					v[n++] = e;
			}
	}
	if (n == 0) {
		free(v);
		return vmig_err_set(
		    err, VMIG_E_NOT_FOUND,
		    "this node has no GPU instances to label (create some: vmig mig "
		    "-cgi PROFILES -C, or vmig mig --soft ...)");
	}
	/* The node's product: its first GPU with instances, before the sort. */
	label_value(v[0].g->model->name, product, size);
	qsort(v, n, sizeof(*v), by_profile);
	*ret = v;
	*ret_n = n;
	return 0;
}

static void profile_labels(struct vmig__text *t, const char *domain, const struct group *e)
{
	char stem[64], product[128], model[64];
	if (vmig_k8s_profile_name(e->profile, stem, sizeof(stem), NULL) < 0)
		return;
	snprintf(product, sizeof(product), "%s-MIG-%s", e->g->model->name, e->profile);
	label_value(product, model, sizeof(model));
	const char *p = domain;
	vmig__put(t, "%s/%s.count=%u\n", p, stem, e->count);
	vmig__put(t, "%s/%s.product=%s\n", p, stem, model);
	vmig__put(t, "%s/%s.replicas=1\n", p, stem);
	vmig__put(t, "%s/%s.sharing-strategy=none\n", p, stem);
	vmig__put(t, "%s/%s.memory=%llu\n", p, stem, (unsigned long long)e->gp->mem_mib);
	vmig__put(t, "%s/%s.multiprocessors=%u\n", p, stem, e->cp->sm);
	vmig__put(t, "%s/%s.slices.gi=%u\n", p, stem, e->gp->slices);
	vmig__put(t, "%s/%s.slices.ci=%u\n", p, stem, e->cp->slices);
	vmig__put(t, "%s/%s.engines.copy=%u\n", p, stem, e->gp->ce);
	vmig__put(t, "%s/%s.engines.decoder=%u\n", p, stem, e->gp->dec);
	vmig__put(t, "%s/%s.engines.encoder=%u\n", p, stem, e->gp->enc);
	vmig__put(t, "%s/%s.engines.jpeg=%u\n", p, stem, e->gp->jpeg);
	vmig__put(t, "%s/%s.engines.ofa=%u\n", p, stem, e->gp->ofa);
}

int vmig_k8s_labels(const struct vmig_state *st, const char *domain, char **ret,
		    struct vmig_err *err)
{
	domain = domain ? domain : VMIG_K8S_LABEL_DOMAIN_DEFAULT;
	struct group *v = NULL;
	size_t n = 0;
	char product[64];
	int r = vmig_k8s_domain_check(domain, err);
	if (r >= 0)
		r = groups(st, &v, &n, product, sizeof(product), err);
	if (r < 0)
		return r;
	struct vmig__text t = {0};
	vmig__put(&t, "%s/mig.capable=true\n", domain);
	vmig__put(&t, "%s/mig.strategy=mixed\n", domain);
	vmig__put(&t, "%s/gpu.product=%s\n", domain, product);
	for (size_t i = 0; i < n; i++)
		profile_labels(&t, domain, &v[i]);
	free(v);
	return vmig__text_done(&t, ret, err);
}
