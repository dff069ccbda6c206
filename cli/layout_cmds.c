/*
 * layout_cmds.c — the seed's commands that go through libvmig's layouts:
 * `vmig -i 0 -mig N` (N >= 2: MIG on if needed, then N GPU instances as
 * equal as the geometry allows, each with its default CI, applied by the
 * planner so that busy instances stay), and `vmig -i 0 -gi 1 -rg 70` at the
 * top level, which sets a compute share on the backend that owns the GPU
 * instance (software partitions first) and explains why a hardware MIG
 * instance has none.  The steps are printed in nvidia-smi's words.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *gi_name(const struct vmig_model *m, unsigned id)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, id);
	return gp ? gp->name : "?";
}

static void print_step(const struct vmig_state *st, const struct vmig_step *s)
{
	const struct vmig_gpu_state *g = &st->gpu[s->gpu];
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, s->gi_profile_id);
	const struct vmig_ci_profile *cp = gp ? vmig_ci_profile_by_id(gp, s->profile_id) : NULL;
	char bus[32], name[64];
	cli_bus_id(g, bus);
	switch (s->kind) {
	case VMIG_STEP_MODE:
		printf("%sd MIG Mode for GPU %s\n", s->mode ? "Enable" : "Disable", bus);
		break;
	case VMIG_STEP_RESET:
		printf("GPU %s was successfully reset.\n", bus);
		break;
	case VMIG_STEP_DESTROY_CI:
		printf(
		    "Successfully destroyed compute instance ID %2u from GPU %2u GPU instance ID "
		    "%2u\n",
		    s->ci_id, s->gpu, s->gi_id);
		break;
	case VMIG_STEP_DESTROY_GI:
		printf("Successfully destroyed GPU instance ID %2u from GPU %2u\n", s->gi_id,
		       s->gpu);
		break;
	case VMIG_STEP_CREATE_GI:
		printf(
		    "Successfully created GPU instance ID %2u on GPU %2u using profile MIG %s (ID "
		    "%2u)\n",
		    s->gi_id, s->gpu, gi_name(g->model, s->profile_id), s->profile_id);
		break;
	case VMIG_STEP_CREATE_CI:
		printf(
		    "Successfully created compute instance ID %2u on GPU %2u GPU instance ID %2u "
		    "using profile MIG %s (ID %2u)\n",
		    s->ci_id, s->gpu, s->gi_id, cli_ci_name(gp, cp, name, sizeof(name)),
		    s->profile_id);
		break;
	}
}

int cli_mig_split(const struct cli_cmd *cmd, struct cli_view *v)
{
	struct vmig_layout_gpu want[VMIG_MAX_GPUS];
	size_t n = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		struct vmig_err err = {0};
		char bus[32];
		if (!v->sel[x])
			continue;
		cli_bus_id(g, bus);
		if (!g->model || !(g->model->flags & VMIG_MF_MIG)) {
			printf("Unable to enable MIG Mode for GPU %s: %s\n", bus,
			       vmig_strerror(VMIG_E_NOT_SUPPORTED));
			printf("Treating as warning and moving on.\n");
			continue;
		}
		if (vmig_layout_equal_split(g->model, cmd->mig_mode, &want[n], &err) < 0)
			return cli_errorf(cli_status(err.code), "GPU %u: %s", x, err.msg);
		want[n++].gpu = x;
	}
	struct vmig_plan plan = {0};
	struct vmig_err err = {0};
	/* Idle instances may move to make room; busy ones never (docs/planner.md). */
	int r = vmig_layout_apply(v->ctx, want, n, VMIG_LAYOUT_FORCE, &plan, &err);
	if (r < 0) {
		vmig_plan_free(&plan);
		return cli_report(&err);
	}
	for (size_t i = 0; i < plan.nstep; i++)
		print_step(v->st, &plan.step[i]);
	vmig_plan_free(&plan);
	printf("All done.\n");
	return 0;
}

/* ---- -gi IDS -rg PERCENT at the top level ---- */

/* Does every -gi ID name a GI on the selected GPUs of st (with MIG on)? */
static bool owns_all(const struct cli_cmd *cmd, const struct vmig_state *st)
{
	bool sel[VMIG_MAX_GPUS];
	for (unsigned k = 0; k < VMIG_MAX_GPUS; k++)
		sel[k] = !cmd->has_gpus && k < st->ngpu;
	for (unsigned k = 0; cmd->has_gpus && k < cmd->gpus.n; k++) {
		int idx = cli_match_gpu(cmd->gpus.item[k], st);
		if (idx < 0)
			return false;
		sel[idx] = true;
	}
	for (unsigned i = 0; i < cmd->gi.n; i++) {
		bool found = false;
		for (unsigned x = 0; x < st->ngpu && !found; x++) {
			struct vmig_gpu_state g = st->gpu[x];
			found = sel[x] && g.mig_current && vmig_gpu_find_gi(&g, cmd->gi.v[i]);
		}
		if (!found)
			return false;
	}
	return true;
}

/* Software partitions own the instances? (Quietly no when the soft backend cannot open.) */
static bool soft_owns(const struct cli_cmd *cmd)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	bool owns = st && vmig_open("soft", &ctx, NULL) == 0 && vmig_snapshot(ctx, st, NULL) == 0 &&
		    owns_all(cmd, st);
	vmig_close(ctx);
	free(st);
	return owns;
}

/* A hardware MIG instance among the -gi IDs: say why it has no share, and what has one. */
static int hardware_share(const struct cli_cmd *cmd, struct cli_view *v)
{
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		struct vmig_gpu_state *g = &v->st->gpu[x];
		for (unsigned i = 0; v->sel[x] && g->mig_current && i < cmd->gi.n; i++) {
			const struct vmig_gi_state *gi = vmig_gpu_find_gi(g, cmd->gi.v[i]);
			const struct vmig_gi_profile *gp = gi ? cli_gi_profile(g, gi) : NULL;
			if (!gp)
				continue;
			return cli_errorf(
			    cli_status(VMIG_E_NOT_SUPPORTED),
			    "GPU instance %u on GPU %u is a hardware MIG instance: its compute "
			    "share "
			    "is fixed by its profile (%s, %u%% of the GPU's SMs). For a share of "
			    "your "
			    "choice, use a software partition on a GPU whose hardware MIG mode is "
			    "off: vmig -i %u -mig 1 --soft; vmig mig --soft -i %u -cgi PROFILE -C; "
			    "vmig -i %u -gi ID -rg %u",
			    gi->id, x, gp->name, vmig_profile_share_pct(g->model, gp), x, x, x,
			    cmd->share);
		}
	}
	return 0;
}

int cli_top_share(const struct cli_cmd *cmd)
{
	struct cli_cmd c = *cmd;
	c.verb = CLI_VERB_mig;
	bool any = !cmd->backend || strcasecmp(cmd->backend, "auto") == 0;
	if ((cmd->backend && strcasecmp(cmd->backend, "soft") == 0) || (any && soft_owns(cmd))) {
		c.backend = "soft";
		return cli_exec_mig(&c);
	}
	struct cli_view v;
	int status = 0;
	if (cli_view_open(cmd, &v, &status) < 0)
		return status;
	status = hardware_share(cmd, &v);
	cli_view_close(&v);
	return status ? status : cli_exec_mig(&c);
}
