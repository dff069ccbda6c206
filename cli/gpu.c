/*
 * gpu.c — nvidia-smi's main command line: -L, -mig 0|1 with its pending-state
 * warnings, -pm 0|1, -r (GPU reset), --query-gpu ... --format=csv, and
 * vmig's own --summary (the default table is table.c's).  Everything goes through the backend
 * context so it behaves alike on simulated and real GPUs.
 */
#include <string.h>

#include "cli.h"

static const char *const query_headers[] = {
#define CLI_QF_HEADER(e, name, header) header,
    CLI_QUERY_FIELDS(CLI_QF_HEADER)
#undef CLI_QF_HEADER
};

static bool mig_capable(const struct vmig_gpu_state *g)
{
	return g->model && (g->model->flags & VMIG_MF_MIG);
}

static unsigned ci_count(const struct vmig_gpu_state *g)
{
	unsigned n = 0;
	for (unsigned k = 0; k < g->ngi; k++)
		n += g->gi[k].nci;
	return n;
}

static const char *mode_name(unsigned mode)
{
	return mode ? "Enabled" : "Disabled";
}

static const char *kind(const struct vmig_gpu_state *g)
{
	if (g->flags & VMIG_GPU_SIMULATED)
		return " [simulated]";
	if (g->flags & VMIG_GPU_SOFT)
		return " [soft]";
	return "";
}

/* ---- vmig --summary ---- */

static int summary(struct cli_view *v)
{
	printf("Backend: %s\n", vmig_backend_name(v->ctx));
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		if (!v->sel[x])
			continue;
		printf("GPU %u: %s (UUID: %s)%s\n", x, g->model ? g->model->name : "?", g->uuid,
		       kind(g));
		if (!mig_capable(g)) {
			printf("    MIG: Not Supported\n");
			continue;
		}
		printf("    MIG: %s", mode_name(g->mig_current));
		if (g->mig_pending != g->mig_current && (g->flags & VMIG_GPU_VM))
			printf(" (%s pending: the GPU may not be reset in its VM)",
			       mode_name(g->mig_pending));
		else if (g->mig_pending != g->mig_current)
			printf(" (%s after a GPU reset: vmig -i %u -r)", mode_name(g->mig_pending),
			       x);
		printf(", %u GPU instance%s, %u compute instance%s\n", g->ngi,
		       g->ngi == 1 ? "" : "s", ci_count(g), ci_count(g) == 1 ? "" : "s");
	}
	return 0;
}

/* ---- -L ---- */

static void list_mig_devices(const struct vmig_gpu_state *g)
{
	unsigned dev = 0;
	/* GIs and CIs are sorted by ID in the state: (GI ID, CI ID) order. */
	for (unsigned k = 0; k < g->ngi; k++) {
		const struct vmig_gi_state *gi = &g->gi[k];
		const struct vmig_gi_profile *gp = cli_gi_profile(g, gi);
		for (unsigned c = 0; c < gi->nci; c++) {
			char name[64], uuid[VMIG_UUID_LEN];
			const struct vmig_ci_profile *cp =
			    gp ? vmig_ci_profile_by_id(gp, gi->ci[c].profile_id) : NULL;
			vmig_mig_uuid(g->uuid, gi->id, gi->ci[c].id, uuid);
			printf("  MIG %-11s Device %2u: (UUID: %s)\n",
			       cli_ci_name(gp, cp, name, sizeof(name)), dev++, uuid);
		}
	}
}

static int list_gpus(struct cli_view *v)
{
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		if (!v->sel[x])
			continue;
		printf("GPU %u: %s (UUID: %s)\n", x, g->model ? g->model->name : "?", g->uuid);
		if (g->mig_current)
			list_mig_devices(g);
	}
	return 0;
}

/* ---- -mig 0|1, -pm 0|1 ---- */

static const char *const terminating = "Terminating early due to previous errors.";

/*
 * A user who may not change the GPUs is told before anything is tried,
 * with nvidia-smi's words, which name no GPU; nothing changes.
 */
static int refused_access(struct cli_view *v, const char *what)
{
	struct vmig_err err = {0};
	int r = vmig_can_change(v->ctx, &err);
	if (r >= 0)
		return 0;
	printf("%s: %s\n", what, vmig_strerror(r));
	return cli_status(r);
}

/* After a change that took effect, when persistence mode is off (R515 and later). */
static void persistence_warning(const struct vmig_gpu_state *g, const char *bus)
{
	if (g->flags & VMIG_GPU_NO_PERSISTENCE)
		printf("\nWarning: persistence mode is disabled on device %s. See the Known Issues "
		       "section of the nvidia-smi(1) man page for more information. Run with "
		       "[--help | -h] switch to get more information on how to enable persistence "
		       "mode.\n",
		       bus);
}

/* An Ampere change left pending: why (activation), and what would make it take effect. */
static void pending_warning(const char *bus, unsigned mode, int activation)
{
	printf("Warning: MIG mode is in pending %s state for GPU %s:%s\n",
	       mode ? "enable" : "disable", bus, vmig_strerror(activation));
	if (activation == -VMIG_E_IN_USE)
		printf(
		    "%s is currently being used by one or more other processes (e.g. CUDA "
		    "application or a monitoring application such as another instance of "
		    "nvidia-smi). Please first kill all processes using the device and retry the "
		    "command or reboot the system to make MIG mode effective.\n",
		    bus);
	else
		printf(
		    "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on "
		    "GPU %s\n",
		    bus);
}

static int set_mig(const struct cli_cmd *cmd, struct cli_view *v)
{
	const char *verb = cmd->mig_mode ? "enable" : "disable";
	char what[48];
	snprintf(what, sizeof(what), "Unable to %s MIG Mode", verb);
	int status = refused_access(v, what);
	if (status)
		return status;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		struct vmig_err err = {0};
		char bus[32];
		int activation = 0, r;
		if (!v->sel[x])
			continue;
		cli_bus_id(g, bus);
		r = mig_capable(g) ? vmig_set_mig_mode(v->ctx, x, cmd->mig_mode, &activation, &err)
				   : -VMIG_E_NOT_SUPPORTED;
		if (r == -VMIG_E_NOT_SUPPORTED) {
			printf("%s for GPU %s: %s\n", what, bus, vmig_strerror(r));
			printf("Treating as warning and moving on.\n");
		} else if (r < 0) {
			printf("%s for GPU %s: %s\n%s\n", what, bus, vmig_strerror(r), terminating);
			cli_detail(r, &err);
			return cli_status(r);
		} else if (activation < 0) {
			pending_warning(bus, cmd->mig_mode, activation);
		} else {
			printf("%sd MIG Mode for GPU %s\n", cmd->mig_mode ? "Enable" : "Disable",
			       bus);
			persistence_warning(g, bus);
		}
	}
	printf("All done.\n");
	return 0;
}

static int set_pm(const struct cli_cmd *cmd, struct cli_view *v)
{
	const char *mode = cmd->pm_mode ? "Enabled" : "Disabled";
	int status = refused_access(v, "Unable to set persistence mode");
	if (status)
		return status;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		const struct vmig_gpu_state *g = &v->st->gpu[x];
		struct vmig_err err = {0};
		char bus[32];
		if (!v->sel[x])
			continue;
		cli_bus_id(g, bus);
		bool on = !(g->flags & VMIG_GPU_NO_PERSISTENCE);
		if (on == (cmd->pm_mode == 1)) {
			printf("Persistence mode is already %s for GPU %s.\n", mode, bus);
			continue;
		}
		int r = vmig_set_persistence_mode(v->ctx, x, cmd->pm_mode, &err);
		if (r < 0) {
			printf("Unable to set persistence mode for GPU %s: %s\n%s\n", bus,
			       vmig_strerror(r), terminating);
			cli_detail(r, &err);
			return cli_status(r);
		}
		printf("%s persistence mode for GPU %s.\n", mode, bus);
	}
	printf("All done.\n");
	return 0;
}

/* ---- -r ---- */

static int reset(struct cli_view *v)
{
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		struct vmig_err err = {0};
		char bus[32];
		if (!v->sel[x])
			continue;
		cli_bus_id(&v->st->gpu[x], bus);
		int r = vmig_gpu_reset(v->ctx, x, &err);
		if (r == -VMIG_E_NOT_SUPPORTED) {
			printf("Resetting GPU %s is not supported.\n", bus);
			return cli_status(r);
		}
		if (r < 0) {
			printf("The following GPUs could not be reset:\n  GPU %s: %s\n", bus,
			       vmig_strerror(r));
			cli_detail(r, &err);
			return cli_status(r);
		}
		printf("GPU %s was successfully reset.\n", bus);
	}
	printf("All done.\n");
	return 0;
}

/* ---- --query-gpu ---- */

/* What --query-gpu needs besides the GPU records. */
struct query_ctx {
	const struct cli_cmd *cmd;
	const struct vmig_versions *ver;
	unsigned ngpu;
};

static void print_mib(const struct query_ctx *q, uint64_t mib)
{
	printf("%llu%s", (unsigned long long)mib, q->cmd->csv_units ? " MiB" : "");
}

static void query_value(const struct query_ctx *q, unsigned x, const struct vmig_gpu_state *g,
			enum cli_query_field f)
{
	char bus[32];
	struct vmig_mem mem = {0};
	if (g->model)
		vmig_gpu_memory(g->model, NULL, 0, &mem);
	switch (f) {
	case CLI_QF_INDEX:
		printf("%u", x);
		break;
	case CLI_QF_NAME:
		printf("%s", g->model ? g->model->name : "[N/A]");
		break;
	case CLI_QF_UUID:
		printf("%s", g->uuid);
		break;
	case CLI_QF_PCI_BUS_ID:
		cli_bus_id(g, bus);
		printf("%s", bus);
		break;
	case CLI_QF_MEMORY_TOTAL:
		print_mib(q, mem.total_mib);
		break;
	case CLI_QF_MEMORY_USED:
		print_mib(q, mem.used_mib);
		break;
	case CLI_QF_MEMORY_FREE:
		print_mib(q, mem.free_mib);
		break;
	case CLI_QF_MIG_CURRENT:
	case CLI_QF_MIG_PENDING:
		if (!mig_capable(g))
			printf("[N/A]");
		else
			printf("%s", mode_name(f == CLI_QF_MIG_CURRENT ? g->mig_current
								       : g->mig_pending));
		break;
	case CLI_QF_DRIVER_VERSION:
		printf("%s", q->ver->driver);
		break;
	case CLI_QF_COMPUTE_CAP:
		if (g->model && g->model->cc_major)
			printf("%u.%u", g->model->cc_major, g->model->cc_minor);
		else
			printf("[N/A]");
		break;
	case CLI_QF_PERSISTENCE_MODE:
		printf("%s", mode_name(!(g->flags & VMIG_GPU_NO_PERSISTENCE)));
		break;
	case CLI_QF_PCI_DEVICE_ID:
		if (g->model && g->model->pci_device_id)
			printf("0x%08X", (unsigned)g->model->pci_device_id);
		else
			printf("[N/A]");
		break;
	case CLI_QF_SERIAL:
		printf("%s", g->serial[0] ? g->serial : "[N/A]");
		break;
	case CLI_QF_COUNT:
		printf("%u", q->ngpu);
		break;
	case CLI_QF__COUNT:
		break;
	}
}

static int query(const struct cli_cmd *cmd, struct cli_view *v)
{
	struct vmig_versions ver;
	struct vmig_err err = {0};
	if (vmig_versions(v->ctx, &ver, &err) < 0)
		return cli_report(&err);
	const struct query_ctx q = {.cmd = cmd, .ver = &ver, .ngpu = v->st->ngpu};
	if (cmd->csv_header)
		for (unsigned k = 0; k < cmd->nfields; k++)
			printf("%s%s", k ? ", " : "", query_headers[cmd->fields[k]]);
	if (cmd->csv_header)
		printf("\n");
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		if (!v->sel[x])
			continue;
		for (unsigned k = 0; k < cmd->nfields; k++) {
			printf("%s", k ? ", " : "");
			query_value(&q, x, &v->st->gpu[x], cmd->fields[k]);
		}
		printf("\n");
	}
	return 0;
}

int cli_exec_top(const struct cli_cmd *cmd)
{
	if (cmd->action == CLI_HELP) {
		cli_help_top(stdout);
		return 0;
	}
	if (cmd->action == CLI_VERSION) {
		printf("vmig %s\n", VMIG_VERSION);
		return 0;
	}
	if (cmd->action == CLI_RG)
		return cli_top_share(cmd);
	struct cli_view v;
	int status = 0;
	if (cli_view_open(cmd, &v, &status) < 0)
		return status;
	if (v.st->ngpu == 0) {
		printf("No devices were found\n");
		status = cli_status(VMIG_E_NOT_FOUND);
	} else if (cmd->action == CLI_LIST_GPUS) {
		status = list_gpus(&v);
	} else if (cmd->action == CLI_SET_MIG && cmd->mig_mode >= 2) {
		status = cli_mig_split(cmd, &v);
	} else if (cmd->action == CLI_SET_MIG) {
		status = cli_held(cmd, &v, set_mig);
	} else if (cmd->action == CLI_RESET) {
		status = reset(&v);
	} else if (cmd->action == CLI_SET_PM) {
		status = cli_held(cmd, &v, set_pm);
	} else if (cmd->action == CLI_QUERY) {
		status = query(cmd, &v);
	} else if (cmd->action == CLI_SUMMARY) {
		status = summary(&v);
	} else {
		status = cli_table(&v);
	}
	cli_view_close(&v);
	return status;
}
