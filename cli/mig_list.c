/*
 * mig_list.c — the listings of `vmig mig` in nvidia-smi's newest layouts:
 * -lgip (layout W, 81 columns), -lgipp, -lgi (layout L3, 59 columns), -lcip
 * (88 columns), -lcipp (vmig's own line format, by analogy with -lgipp) and
 * -lci (layout C2, 70 columns); see docs/cli.md.  Also the choice of the
 * GPUs and instances a mig operation targets, shared with mig_ops.c.
 */
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "cli.h"

/* ---- targets ---- */

int cli_mig_targets(const struct cli_cmd *cmd, const struct cli_view *v, bool need_enabled,
		    bool out[VMIG_MAX_GPUS], int *ret_status)
{
	unsigned n = 0;
	for (unsigned k = 0; k < VMIG_MAX_GPUS; k++) {
		const struct vmig_gpu_state *g = &v->st->gpu[k];
		out[k] = v->sel[k] && k < v->st->ngpu && g->model &&
			 (g->model->flags & VMIG_MF_MIG) && (!need_enabled || g->mig_current);
		n += out[k];
	}
	if (n)
		return 0;
	printf(need_enabled ? "No MIG-enabled devices found.\n"
			    : "No MIG-supported devices found.\n");
	*ret_status = cli_status(VMIG_E_NOT_FOUND);
	return -1;
}

static bool gi_wanted(const struct cli_cmd *cmd, const struct vmig_gi_state *gi)
{
	return !cmd->has_gi || cli_ids_has(&cmd->gi, gi->id);
}

bool cli_ci_wanted(const struct cli_cmd *cmd, const struct vmig_ci_state *ci)
{
	return !cmd->has_ci || cli_ids_has(&cmd->ci, ci->id);
}

/* Targeted GIs of a GPU in listing order; -gi filters. */
unsigned cli_mig_gis(const struct cli_cmd *cmd, const struct vmig_gpu_state *g,
		     const struct vmig_gi_state *out[VMIG_MAX_GIS])
{
	const struct vmig_gi_state *all[VMIG_MAX_GIS];
	unsigned n = cli_gi_order(g, all), m = 0;
	for (unsigned k = 0; k < n; k++)
		if (gi_wanted(cmd, all[k]))
			out[m++] = all[k];
	return m;
}

/* Every ID given to -gi and -ci must name an instance on a targeted GPU. */
int cli_check_instances(const struct cli_cmd *cmd, const struct cli_view *v,
			const bool tgt[VMIG_MAX_GPUS], int *ret_status)
{
	for (unsigned k = 0; k < cmd->gi.n; k++) {
		bool found = false;
		for (unsigned x = 0; x < v->st->ngpu && !found; x++)
			found = tgt[x] && vmig_gpu_find_gi(&v->st->gpu[x], cmd->gi.v[k]);
		if (!found) {
			*ret_status = cli_errorf(cli_status(VMIG_E_NOT_FOUND),
						 "no GPU instance with ID %u on the selected GPUs",
						 cmd->gi.v[k]);
			return -1;
		}
	}
	for (unsigned k = 0; k < cmd->ci.n; k++) {
		bool found = false;
		for (unsigned x = 0; x < v->st->ngpu && !found; x++) {
			struct vmig_gpu_state *g = &v->st->gpu[x];
			for (unsigned j = 0; tgt[x] && j < g->ngi && !found; j++)
				found = gi_wanted(cmd, &g->gi[j]) &&
					vmig_gi_find_ci(&g->gi[j], cmd->ci.v[k]);
		}
		if (!found) {
			*ret_status = cli_errorf(
			    cli_status(VMIG_E_NOT_FOUND),
			    "no compute instance with ID %u in the selected GPU instances",
			    cmd->ci.v[k]);
			return -1;
		}
	}
	return 0;
}

/* ---- table pieces ---- */

/* "+----+" or "|====|": inner characters between two edge characters. */
static void rule(unsigned inner, char fill, char edge)
{
	putchar(edge);
	for (unsigned k = 0; k < inner; k++)
		putchar(fill);
	putchar(edge);
	putchar('\n');
}

/* "| text      |" of a table whose lines are inner + 2 wide. */
static void title(unsigned inner, const char *text)
{
	printf("|%-*s|\n", (int)inner, text);
}

static void not_found(const char *what)
{
	printf("No %s found: %s\n", what, vmig_strerror(VMIG_E_NOT_FOUND));
}

/* ---- -lgip, -lgipp ---- */

#define LGIP_W 79

static void lgip_row(unsigned idx, const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp)
{
	char ft[24], mem[24];
	snprintf(ft, sizeof(ft), "%u/%u", vmig_gi_remaining(g, gp), gp->instances);
	snprintf(mem, sizeof(mem), "%.2f", (double)gp->mem_mib / 1024.0);
	printf("|%4u  MIG %-14s %3u     %-11s%-11s%-7s%-7u%-6u%-4u|\n", idx, gp->name, gp->id, ft,
	       mem, (gp->flags & VMIG_PF_P2P) ? "Yes" : "No", gp->sm, gp->dec, gp->enc);
	printf("|%62s%2u     %-6u%-4u|\n", "", gp->ce, gp->jpeg, gp->ofa);
	rule(LGIP_W, '-', '+');
}

static int list_lgip(const struct cli_view *v, const bool tgt[])
{
	/* Header lines stay whole, as nvidia-smi prints them. */
	/* clang-format off */
	rule(LGIP_W, '-', '+');
	title(LGIP_W, " GPU instance profiles:");
	title(LGIP_W, " GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  ");
	title(LGIP_W, "                                Free/Total   GiB              CE    JPEG  OFA  ");
	rule(LGIP_W, '=', '|');
	/* clang-format on */
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (unsigned p = 0; tgt[x] && p < v->st->gpu[x].model->ngi; p++)
			lgip_row(x, &v->st->gpu[x], &v->st->gpu[x].model->gi[p]);
	return 0;
}

/* "{0,2,4}:2", or the singular form when there is one start. */
static void placements(const unsigned *starts, unsigned n, unsigned size)
{
	printf(n == 1 ? "Placement : {" : "Placements: {");
	for (unsigned k = 0; k < n; k++)
		printf("%s%u", k ? "," : "", starts[k]);
	printf("}:%u\n", size);
}

static int list_lgipp(const struct cli_view *v, const bool tgt[])
{
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_model *m = v->st->gpu[x].model;
		for (unsigned p = 0; tgt[x] && p < m->ngi; p++) {
			printf("GPU %2u Profile ID %2u ", x, m->gi[p].id);
			placements(m->gi[p].starts, m->gi[p].nstarts, m->gi[p].size);
		}
	}
	return 0;
}

/* ---- -lgi ---- */

#define LGI_W 57

/* "user:group" by name where the system knows them, else by number; "-" for unowned. */
static void owner_text(const struct vmig_gi_state *gi, char *buf, size_t size)
{
	if (!gi->owned) {
		snprintf(buf, size, "-");
		return;
	}
	const struct passwd *pw = getpwuid(gi->owner_uid);
	char user[64];
	if (pw)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	else
		snprintf(user, sizeof(user), "%u", gi->owner_uid);
	const struct group *gr = getgrgid(gi->owner_gid);
	if (gr)
		snprintf(buf, size, "%s:%s", user, gr->gr_name);
	else
		snprintf(buf, size, "%s:%u", user, gi->owner_gid);
}

/* --owners (vmig's own): nvidia-smi's table with an Owner column on the right. */
#define LGI_OWNER_W 26

static int list_lgi(const struct cli_cmd *cmd, const struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GPUS][VMIG_MAX_GIS];
	unsigned n[VMIG_MAX_GPUS] = {0}, total = 0;
	bool own = cmd->show_owners;
	unsigned w = LGI_W + (own ? LGI_OWNER_W : 0);
	for (unsigned x = 0; x < v->st->ngpu; x++)
		total += n[x] = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis[x]) : 0;
	if (!total) {
		not_found("GPU instances");
		return cli_status(VMIG_E_NOT_FOUND);
	}
	/* clang-format off */
	rule(w, '-', '+');
	title(w, " GPU instances:");
	title(w, own ? " GPU   Name               Profile  Instance   Placement   Owner                    "
		     : " GPU   Name               Profile  Instance   Placement  ");
	title(w, "                            ID       ID       Start:Size ");
	rule(w, '=', '|');
	/* clang-format on */
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (unsigned k = 0; k < n[x]; k++) {
			const struct vmig_gi_state *gi = gis[x][k];
			const struct vmig_gi_profile *gp = cli_gi_profile(&v->st->gpu[x], gi);
			char pl[24], owner[160];
			snprintf(pl, sizeof(pl), "%u:%u", gi->start, gi->size);
			printf("|%4u  MIG %-17s%3u   %6u          %-8s", x, gp ? gp->name : "?",
			       gi->profile_id, gi->id, pl);
			if (own) {
				owner_text(gi, owner, sizeof(owner));
				printf(" %-*s", LGI_OWNER_W - 1, owner);
			}
			printf("|\n");
			rule(w, '-', '+');
		}
	return 0;
}

/* ---- -lcip, -lcipp ---- */

#define LCIP_W 86

static void lcip_cell(unsigned x, const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
		      const struct vmig_ci_profile *cp)
{
	char name[64], ft[24];
	const struct vmig_ci_profile *def = vmig_ci_profile_default(gp);
	snprintf(ft, sizeof(ft), "%u/%u", vmig_ci_remaining(gi, gp, cp), cp->instances);
	printf("|%4u  %5u       MIG %-16s%2u%c     %-14s%-10u%-6u%-6u%-4u|\n", x, gi->id,
	       cli_ci_name(gp, cp, name, sizeof(name)), cp->id, cp == def ? '*' : ' ', ft, cp->sm,
	       gp->dec, gp->enc, gp->ofa);
	printf("|%70s%-6u%-10u|\n", "", gp->ce, gp->jpeg);
	rule(LCIP_W, '-', '+');
}

static int list_lcip(const struct cli_cmd *cmd, const struct cli_view *v, const bool tgt[],
		     bool possible)
{
	const struct vmig_gi_state *gis[VMIG_MAX_GPUS][VMIG_MAX_GIS];
	unsigned n[VMIG_MAX_GPUS] = {0}, total = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++)
		total += n[x] = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis[x]) : 0;
	if (!total) {
		not_found("GPU instances");
		return cli_status(VMIG_E_NOT_FOUND);
	}
	if (!possible) {
		/* clang-format off */
		rule(LCIP_W, '-', '+');
		title(LCIP_W, " Compute instance profiles:");
		title(LCIP_W, " GPU     GPU       Name             Profile  Instances   Exclusive       Shared       ");
		title(LCIP_W, "       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  ");
		title(LCIP_W, "         ID                                                          CE    JPEG       ");
		rule(LCIP_W, '=', '|');
		/* clang-format on */
	}
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (unsigned k = 0; k < n[x]; k++) {
			const struct vmig_gi_profile *gp =
			    cli_gi_profile(&v->st->gpu[x], gis[x][k]);
			for (unsigned c = 0; gp && c < gp->nci; c++) {
				const struct vmig_ci_profile *cp = &gp->ci[c];
				if (!possible) {
					lcip_cell(x, gis[x][k], gp, cp);
					continue;
				}
				printf("GPU %2u GPU instance ID %2u Profile ID %2u ", x,
				       gis[x][k]->id, cp->id);
				placements(cp->starts, cp->nstarts, vmig_ci_placement_size(cp));
			}
		}
	return 0;
}

/* ---- -lci ---- */

#define LCI_W 68

static unsigned lci_count(const struct cli_cmd *cmd, const struct vmig_gi_state *gi)
{
	unsigned n = 0;
	for (unsigned c = 0; c < gi->nci; c++)
		n += cli_ci_wanted(cmd, &gi->ci[c]);
	return n;
}

static void lci_rows(const struct cli_cmd *cmd, unsigned x, const struct vmig_gpu_state *g,
		     const struct vmig_gi_state *gi)
{
	const struct vmig_gi_profile *gp = cli_gi_profile(g, gi);
	for (unsigned c = 0; c < gi->nci; c++) {
		const struct vmig_ci_state *ci = &gi->ci[c];
		char name[64], pl[24];
		if (!cli_ci_wanted(cmd, ci))
			continue;
		snprintf(pl, sizeof(pl), "%u:%u", ci->start, ci->size);
		cli_ci_name(gp, gp ? vmig_ci_profile_by_id(gp, ci->profile_id) : NULL, name,
			    sizeof(name));
		printf("|%4u  %5u       MIG %-16s%2u  %8u          %-8s|\n", x, gi->id, name,
		       ci->profile_id, ci->id, pl);
		rule(LCI_W, '-', '+');
	}
}

static int list_lci(const struct cli_cmd *cmd, const struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GPUS][VMIG_MAX_GIS];
	unsigned n[VMIG_MAX_GPUS] = {0}, total = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		n[x] = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis[x]) : 0;
		for (unsigned k = 0; k < n[x]; k++)
			total += lci_count(cmd, gis[x][k]);
	}
	if (!total) {
		not_found("compute instances");
		return cli_status(VMIG_E_NOT_FOUND);
	}
	/* clang-format off */
	rule(LCI_W, '-', '+');
	title(LCI_W, " Compute instances:");
	title(LCI_W, " GPU     GPU       Name             Profile   Instance   Placement  ");
	title(LCI_W, "       Instance                       ID        ID       Start:Size ");
	title(LCI_W, "         ID                                                         ");
	rule(LCI_W, '=', '|');
	/* clang-format on */
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (unsigned k = 0; k < n[x]; k++)
			lci_rows(cmd, x, &v->st->gpu[x], gis[x][k]);
	return 0;
}

int cli_mig_list(const struct cli_cmd *cmd, struct cli_view *v)
{
	bool tgt[VMIG_MAX_GPUS];
	int status = 0;
	bool any_mode = cmd->action == CLI_LGIP || cmd->action == CLI_LGIPP;
	if (cli_mig_targets(cmd, v, !any_mode, tgt, &status) < 0 ||
	    cli_check_instances(cmd, v, tgt, &status) < 0)
		return status;
	/*
	 * Listing instances needs the right to manage them, as on real GPUs
	 * (a user without it reads "Failed to display GPU instances:
	 * Insufficient Permissions"); profiles are open to everyone.
	 */
	if (cmd->action == CLI_LGI || cmd->action == CLI_LCI) {
		struct vmig_err err = {0};
		int r = vmig_can_change(v->ctx, &err);
		if (r < 0) {
			printf("Failed to display %s instances: %s\n",
			       cmd->action == CLI_LGI ? "GPU" : "compute", vmig_strerror(r));
			return cli_status(r);
		}
	}
	switch (cmd->action) {
	case CLI_LGIP:
		return list_lgip(v, tgt);
	case CLI_LGIPP:
		return list_lgipp(v, tgt);
	case CLI_LGI:
		return list_lgi(cmd, v, tgt);
	case CLI_LCIP:
		return list_lcip(cmd, v, tgt, false);
	case CLI_LCIPP:
		return list_lcip(cmd, v, tgt, true);
	case CLI_LCI:
		return list_lci(cmd, v, tgt);
	default:
		return cli_errorf(255, "internal error: action %d", (int)cmd->action);
	}
}
