/*
 * config_select.c — what a parsed mig-parted config asks of a node's GPUs
 * (docs/config.md, "Selection"): the labels, each GPU's layout from the
 * entries that match it, the checks of its counts against the GPU's own
 * limits, and the multiset comparison assert makes.  Pure: records and a
 * state in, targets or one error line out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"

int vmig__config_scrub(struct vmig_err *err, int r)
{
	for (char *c = err ? err->msg : NULL; c && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return r;
}

size_t vmig_config_nlabels(const struct vmig_config *c)
{
	return c ? c->nlabel : 0;
}

const char *vmig_config_label(const struct vmig_config *c, size_t i)
{
	return c && i < c->nlabel ? c->label[i].name : NULL;
}

int vmig_config_find(const struct vmig_config *c, const char *label, size_t *ret,
		     struct vmig_err *err)
{
	if (!c || !ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!label) {
		if (c->nlabel != 1)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "%s: %zu mig-configs: select one with -c", c->file,
					    c->nlabel);
		*ret = 0;
		return 0;
	}
	for (size_t i = 0; i < c->nlabel; i++)
		if (strcmp(c->label[i].name, label) == 0) {
			*ret = i;
			return 0;
		}
	return vmig__config_scrub(err, vmig_err_set(err, VMIG_E_NOT_FOUND,
						    "%s: selected mig-config not present: %.64s",
						    c->file, label));
}

static bool filter_matches(const struct cfg_entry *e, const struct vmig_model *m)
{
	if (e->nfilter == 0)
		return true;
	for (unsigned i = 0; i < e->nfilter; i++)
		if (m && e->filter[i].id == m->pci_device_id &&
		    (!e->filter[i].has_sub || e->filter[i].sub == m->pci_subsystem_id))
			return true;
	return false;
}

/* "FILE:LINE:COL: mig-configs.LABEL[I]KEY: " in front of a resolution error. */
static int resolve_fail(const struct vmig_config *c, size_t label, size_t entry, unsigned line,
			unsigned col, const char *key, struct vmig_err *err, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static int resolve_fail(const struct vmig_config *c, size_t label, size_t entry, unsigned line,
			unsigned col, const char *key, struct vmig_err *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vmig__config_scrub(err,
				  vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					       "%s:%u:%u: mig-configs.%.64s[%zu]%s: %s", c->file,
					       line, col, c->label[label].name, entry, key, what));
}

/* The GI and CI profiles a parsed name denotes on a model; false if it has none. */
static bool resolve_name(const struct vmig_model *m, const struct vmig_profile_name *n,
			 const struct vmig_gi_profile **ret_gp,
			 const struct vmig_ci_profile **ret_cp)
{
	struct vmig_profile_name gi = *n;
	char buf[48];
	gi.c = 0;
	if (vmig_profile_name_format(&gi, buf, sizeof(buf)) < 0 ||
	    vmig_gi_profile_lookup(m, buf, ret_gp) < 0)
		return false;
	if (n->c == 0 || n->c == n->g) {
		*ret_cp = vmig_ci_profile_default(*ret_gp);
		return *ret_cp != NULL;
	}
	return vmig_profile_name_format(n, buf, sizeof(buf)) >= 0 &&
	       vmig_ci_profile_lookup(*ret_gp, buf, ret_cp) == 0;
}

/*
 * The counts of one entry on one GPU: each profile within its own instance
 * limit, and the GPU instances they need at least (whole-GI devices one
 * each, CIs packed by slices) within each GI profile's limit and, together,
 * within the GPU's placement units.  Whether they fit exactly is the
 * planner's question.
 */
static int check_fit(const struct vmig_config *c, size_t label, size_t ei, unsigned gpu,
		     const struct vmig_model *m, const struct vmig_layout_gpu *want,
		     struct vmig_err *err)
{
	const struct cfg_entry *e = &c->label[label].e[ei];
	unsigned units = 0;
	for (unsigned p = 0; p < m->ngi; p++) {
		const struct vmig_gi_profile *gp = &m->gi[p];
		unsigned whole = 0, slices = 0;
		for (unsigned d = 0; d < want->ndev; d++) {
			if (want->dev[d].gi_profile_id != gp->id)
				continue;
			const struct vmig_ci_profile *cp =
			    vmig_ci_profile_by_id(gp, want->dev[d].ci_profile_id);
			if (cp && cp->slices == gp->slices)
				whole += want->dev[d].count;
			else if (cp)
				slices += cp->slices * want->dev[d].count;
		}
		unsigned need = whole + (slices + gp->slices - 1) / gp->slices;
		if (need > gp->instances)
			return resolve_fail(c, label, ei, e->migd_line, e->migd_col, ".mig-devices",
					    err,
					    "the devices need %u GPU instances of profile %s, GPU "
					    "%u (%s) has at most %u",
					    need, gp->name, gpu, m->name, gp->instances);
		units += need * gp->size;
	}
	if (units > m->units)
		return resolve_fail(c, label, ei, e->migd_line, e->migd_col, ".mig-devices", err,
				    "the devices need %u of the %u memory slices of GPU %u (%s)",
				    units, m->units, gpu, m->name);
	return 0;
}

/* What entry ei asks of GPU gpu (model m, MIG capable). */
static int resolve_entry(const struct vmig_config *c, size_t label, size_t ei, unsigned gpu,
			 const struct vmig_model *m, struct vmig_layout_gpu *ret,
			 struct vmig_err *err)
{
	const struct cfg_entry *e = &c->label[label].e[ei];
	struct vmig_layout_gpu want = {.gpu = gpu, .mig_mode = e->enabled ? 1 : 0};
	for (unsigned d = 0; d < e->ndev; d++) {
		const struct cfg_dev *dv = &e->dev[d];
		const struct vmig_gi_profile *gp = NULL;
		const struct vmig_ci_profile *cp = NULL;
		char key[64];
		snprintf(key, sizeof(key), ".mig-devices.%s", dv->text);
		if (!resolve_name(m, &dv->name, &gp, &cp))
			return resolve_fail(c, label, ei, dv->line, dv->col, key, err,
					    "MIG profile '%s' not found on GPU %u (%s)", dv->text,
					    gpu, m->name);
		unsigned max =
		    cp->slices == gp->slices ? gp->instances : gp->instances * cp->instances;
		if (dv->count > max)
			return resolve_fail(c, label, ei, dv->line, dv->col, key, err,
					    "count %u is above the %u that GPU %u (%s) can hold",
					    dv->count, max, gpu, m->name);
		if (dv->count == 0)
			continue;
		want.dev[want.ndev++] = (struct vmig_layout_dev){gp->id, cp->id, dv->count};
	}
	if (check_fit(c, label, ei, gpu, m, &want, err) < 0)
		return -VMIG_E_INVALID_ARGUMENT;
	*ret = want;
	return 0;
}

int vmig_config_resolve(const struct vmig_config *c, size_t label, const struct vmig_state *st,
			struct vmig_config_target *ret, struct vmig_err *err)
{
	if (!c || !st || !ret || label >= c->nlabel || st->ngpu > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	struct vmig_config_target *t = calloc(st->ngpu ? st->ngpu : 1, sizeof(*t));
	if (!t)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, "resolving %s: %m", c->file);
	const struct cfg_label *l = &c->label[label];
	for (size_t i = 0; i < l->n; i++) {
		const struct cfg_entry *e = &l->e[i];
		for (unsigned k = 0; k < st->ngpu; k++) {
			const struct vmig_model *m = st->gpu[k].model;
			if (!filter_matches(e, m) || (!e->all && !(e->mask >> k & 1)))
				continue;
			t[k].covered = true;
			if (!m || !(m->flags & VMIG_MF_MIG)) {
				/* Not MIG capable: skipped, unless named by index and asked for
				 * MIG. */
				if (e->all || !e->enabled) {
					t[k].skip = true;
					continue;
				}
				free(t);
				return resolve_fail(c, label, i, e->devs_line, e->devs_col,
						    ".devices", err,
						    "GPU %u (%s) is not MIG capable", k,
						    m ? m->name : "unknown model");
			}
			t[k].skip = false;
			if (resolve_entry(c, label, i, k, m, &t[k].want, err) < 0) {
				free(t);
				return -VMIG_E_INVALID_ARGUMENT;
			}
		}
	}
	memcpy(ret, t, st->ngpu * sizeof(*t));
	free(t);
	return 0;
}

/* Count of devices named (gi profile, CI slices) on a GPU. */
static unsigned held(const struct vmig_gpu_state *g, unsigned gi_profile, unsigned ci_slices)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->ngi; i++) {
		const struct vmig_gi_state *gi = &g->gi[i];
		const struct vmig_gi_profile *gp =
		    g->model ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
		if (!gp || gp->id != gi_profile)
			continue;
		for (unsigned j = 0; j < gi->nci; j++) {
			const struct vmig_ci_profile *cp =
			    vmig_ci_profile_by_id(gp, gi->ci[j].profile_id);
			if (cp && cp->slices == ci_slices)
				n++;
		}
	}
	return n;
}

bool vmig_config_holds(const struct vmig_gpu_state *g, const struct vmig_layout_gpu *want,
		       bool mode_only)
{
	if (!g || !want || g->mig_current != want->mig_mode || g->mig_pending != want->mig_mode)
		return false;
	if (mode_only)
		return true;
	/* A CI's name is its slices and its GI's name: compare counts per (GI profile, slices). */
	unsigned total = 0, wanted = 0;
	for (unsigned i = 0; i < g->ngi; i++)
		total += g->gi[i].nci;
	for (unsigned d = 0; d < want->ndev; d++) {
		const struct vmig_gi_profile *gp =
		    g->model ? vmig_gi_profile_by_id(g->model, want->dev[d].gi_profile_id) : NULL;
		const struct vmig_ci_profile *cp =
		    gp ? vmig_ci_profile_by_id(gp, want->dev[d].ci_profile_id) : NULL;
		if (!cp)
			return false;
		unsigned same = 0;
		for (unsigned e = 0; e < want->ndev; e++) {
			const struct vmig_ci_profile *cq =
			    want->dev[e].gi_profile_id == gp->id
				? vmig_ci_profile_by_id(gp, want->dev[e].ci_profile_id)
				: NULL;
			if (cq && cq->slices == cp->slices)
				same += want->dev[e].count;
		}
		if (held(g, gp->id, cp->slices) != same)
			return false;
		wanted += want->dev[d].count;
	}
	return total == wanted;
}
