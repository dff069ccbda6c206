/*
 * sim.c — `vmig sim`: the inventory of simulated GPUs.  These verbs work on
 * the state store directly (not through a backend): they decide which GPUs
 * exist, where the backends only act on GPUs that exist.  Every change is
 * one store transaction (begin, change the record, commit), so a refused or
 * failed command leaves the state as it was.
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
	printf("GPU  %-12s %-*s  %-40s  %-*s  GIs  CIs\n", "MODEL", wname, "NAME", "UUID", wmode,
	       "MIG");
	for (unsigned x = 0; x < st->ngpu; x++) {
		const struct vmig_gpu_state *g = &st->gpu[x];
		printf("%3u  %-12s %-*s  %-40s  %-*s  %3u  %3u%s\n", x,
		       g->model ? g->model->key : "?", wname, g->model ? g->model->name : "?",
		       g->uuid, wmode, mig_mode(g, mode, sizeof(mode)), g->ngi, ci_count(g),
		       (g->flags & VMIG_GPU_SIMULATED) ? "  [simulated]"
		       : (g->flags & VMIG_GPU_SOFT)    ? "  [soft]"
						       : "");
	}
}

/* Open the store and run change() inside one transaction; commit when it returns 0. */
static int transaction(const struct cli_cmd *cmd,
		       int (*change)(const struct cli_cmd *, struct vmig_state *))
{
	struct vmig_err err = {0};
	struct vmig_store *s = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	int status = 0;
	if (!st)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	if (vmig_store_open(NULL, &s, &err) < 0 || vmig_store_begin(s, st, &err) < 0) {
		status = cli_report(&err);
		goto out;
	}
	status = change(cmd, st);
	if (status != 0)
		vmig_store_abort(s);
	else if (vmig_store_commit(s, st, &err) < 0)
		status = cli_report(&err);
	else
		list_state(st);
out:
	vmig_store_close(s);
	free(st);
	return status;
}

static int add_models(const struct cli_list *keys, unsigned count, struct vmig_state *st)
{
	for (unsigned k = 0; k < keys->n; k++)
		for (unsigned c = 0; c < count; c++) {
			struct vmig_err err = {0};
			const struct vmig_model *m = vmig_model_find(keys->item[k]);
			if (!m)
				return cli_errorf(cli_status(VMIG_E_INVALID_ARGUMENT),
						  "unknown GPU model '%s'", keys->item[k]);
			if (vmig_state_add_gpu(st, m, &err) < 0)
				return cli_report(&err);
		}
	return 0;
}

static int change_add(const struct cli_cmd *cmd, struct vmig_state *st)
{
	if (st->ngpu + cmd->count > VMIG_MAX_GPUS)
		return cli_errorf(cli_status(VMIG_E_INSUFFICIENT_RESOURCES),
				  "cannot add %u GPU%s: %u of at most %u GPUs exist", cmd->count,
				  cmd->count == 1 ? "" : "s", st->ngpu, VMIG_MAX_GPUS);
	return add_models(&cmd->models, cmd->count, st);
}

static int change_remove(const struct cli_cmd *cmd, struct vmig_state *st)
{
	unsigned x = cmd->index;
	if (x >= st->ngpu)
		return cli_errorf(cli_status(VMIG_E_NOT_FOUND), "no GPU with index %u (%u GPU%s)",
				  x, st->ngpu, st->ngpu == 1 ? "" : "s");
	if (!(st->gpu[x].flags & VMIG_GPU_SIMULATED))
		return cli_errorf(cli_status(VMIG_E_INVALID_ARGUMENT),
				  "GPU %u is not a simulated GPU", x);
	if (st->gpu[x].ngi && !cmd->force)
		return cli_errorf(cli_status(VMIG_E_IN_USE),
				  "GPU %u has %u GPU instance%s; destroy them first or use --force",
				  x, st->gpu[x].ngi, st->gpu[x].ngi == 1 ? "" : "s");
	memmove(&st->gpu[x], &st->gpu[x + 1], (st->ngpu - x - 1) * sizeof(st->gpu[0]));
	st->ngpu--;
	memset(&st->gpu[st->ngpu], 0, sizeof(st->gpu[0]));
	return 0;
}

static int change_reset(const struct cli_cmd *cmd, struct vmig_state *st)
{
	static const struct cli_list default_keys = {1, {"h100-80gb"}};
	unsigned kept = 0;
	/* Simulated GPUs go; records of other kinds (software partitions) stay. */
	for (unsigned x = 0; x < st->ngpu; x++)
		if (!(st->gpu[x].flags & VMIG_GPU_SIMULATED))
			st->gpu[kept++] = st->gpu[x];
	st->ngpu = kept;
	const struct cli_list *keys = cmd->models.n ? &cmd->models : &default_keys;
	if (st->ngpu + keys->n > VMIG_MAX_GPUS)
		return cli_errorf(cli_status(VMIG_E_INSUFFICIENT_RESOURCES),
				  "at most %u GPUs can exist", VMIG_MAX_GPUS);
	return add_models(keys, 1, st);
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
		return transaction(cmd, change_add);
	case CLI_SIM_REMOVE:
		return transaction(cmd, change_remove);
	case CLI_SIM_RESET:
		return transaction(cmd, change_reset);
	default:
		cli_help_sim(stdout);
		return 0;
	}
}
