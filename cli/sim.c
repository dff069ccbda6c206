/*
 * sim.c — `vmig sim`: the inventory of simulated GPUs.  The changes (add,
 * remove, reset) are libvmig's vmig_sim_* functions, each one store
 * transaction; this file prints the catalogue, the inventory, and the state
 * a change committed.  `sim list` reads the store directly: the inventory is
 * the store's, not a backend's.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *mig_mode(const struct vmig_gpu_state *g, char *buf, size_t size)
{
	if (!g->model || !(g->model->flags & VMIG_MF_MIG))
		snprintf(buf, size, "N/A");
	else if (g->mig_current == g->mig_pending)
		snprintf(buf, size, "%s", g->mig_current ? "Enabled" : "Disabled");
	else
		snprintf(buf, size, "%s (pending %s)", g->mig_current ? "Enabled" : "Disabled",
			 g->mig_pending ? "Enabled" : "Disabled");
	return buf;
}

static int models(void)
{
	printf("%-16s %-46s %10s  %s\n", "MODEL", "NAME", "MEMORY", "MIG");
	for (size_t k = 0; k < vmig_model_count(); k++) {
		const struct vmig_model *m = vmig_model_at(k);
		char mem[32], mig[48];
		snprintf(mem, sizeof(mem), "%llu MiB", (unsigned long long)m->mem_mib);
		if (m->flags & VMIG_MF_MIG)
			snprintf(mig, sizeof(mig), "yes, %u GPU instance profiles", m->ngi);
		else
			snprintf(mig, sizeof(mig), "no");
		printf("%-16s %-46s %10s  %s\n", m->key, m->name, mem, mig);
	}
	return 0;
}

static unsigned ci_count(const struct vmig_gpu_state *g)
{
	unsigned n = 0;
	for (unsigned k = 0; k < g->ngi; k++)
		n += g->gi[k].nci;
	return n;
}

static void list_state(const struct vmig_state *st)
{
	int wname = 4, wmode = 3;
	char mode[48];
	for (unsigned x = 0; x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		int n = g->model ? (int)strlen(g->model->name) : 1;
		int m = (int)strlen(mig_mode(g, mode, sizeof(mode)));
		wname = n > wname ? n : wname;
		wmode = m > wmode ? m : wmode;
	}
	printf("GPU  %-12s %-*s  %-40s  %-*s  GIs  CIs  %s\n", "MODEL", wname, "NAME", "UUID",
	       wmode, "MIG", "NUMBERING");
	for (unsigned x = 0; x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		const char *tag = (g->flags & VMIG_GPU_SIMULATED) ? "  [simulated]"
				  : (g->flags & VMIG_GPU_SOFT)	  ? "  [soft]"
								  : "";
		/* passed through to a VM without the right to reset it */
		const char *vm = (g->flags & VMIG_GPU_VM) ? " [vm]" : "";
		const char *numbering = vmig_gi_numbering_name(g->gi_numbering);
		/* The GI numbering column is padded only when a tag follows it. */
		printf("%3u  %-12s %-*s  %-40s  %-*s  %3u  %3u  %-*s%s%s\n", x,
		       g->model ? g->model->key : "?", wname, g->model ? g->model->name : "?",
		       g->uuid, wmode, mig_mode(g, mode, sizeof(mode)), g->ngi, ci_count(g),
		       *tag || *vm ? 9 : 0, numbering ? numbering : "?", tag, vm);
	}
}

/*
 * One change through libvmig (vmig_sim_*); on success the committed state
 * is listed.  The command only parses and prints: the rules are the library's.
 */
static int change(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	struct vmig_state *st = calloc(1, sizeof(*st));
	const char *keys[CLI_MAX_ITEMS];
	const struct vmig_sim_gpu_opts opts = {.flags = (cmd->sim_vm ? VMIG_SIM_GPU_VM : 0) |
							(cmd->force ? VMIG_SIM_GPU_FORCE : 0),
					       .gi_numbering = cmd->gi_numbering};
	int r;
	if (!st)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	for (unsigned k = 0; k < cmd->models.n; k++)
		keys[k] = cmd->models.item[k];
	if (cmd->action == CLI_SIM_ADD)
		r = vmig_sim_add(NULL, keys[0], cmd->count, &opts, st, &err);
	else if (cmd->action == CLI_SIM_REMOVE)
		r = vmig_sim_remove(NULL, cmd->index, cmd->force, st, &err);
	else
		r = vmig_sim_reset(NULL, keys, cmd->models.n, &opts, st, &err);
	int status = r < 0 ? cli_report(&err) : 0;
	if (r >= 0)
		list_state(st);
	free(st);
	return status;
}

static int list(void)
{
	struct vmig_err err = {0};
	struct vmig_store *s = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	int status = 0;
	if (!st)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	if (vmig_store_open(NULL, &s, &err) < 0 || vmig_store_read(s, st, &err) < 0)
		status = cli_report(&err);
	else
		list_state(st);
	vmig_store_close(s);
	free(st);
	return status;
}

int cli_exec_sim(const struct cli_cmd *cmd)
{
	switch (cmd->action) {
	case CLI_SIM_MODELS:
		return models();
	case CLI_SIM_LIST:
		return list();
	case CLI_SIM_ADD:
	case CLI_SIM_REMOVE:
	case CLI_SIM_RESET:
		return change(cmd);
	default:
		cli_help_sim(stdout);
		return 0;
	}
}
