/*
 * exec.c — carrying a parsed command out: the dispatch over verbs.def, the
 * view of the GPUs a command works on (backend context, snapshot, -i
 * selection), exit statuses and error reports, and small helpers over state
 * records that every listing needs.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

int cli_status(int code)
{
	int n = vmig_nvml_code(code);
	return n < 0 || n > 255 ? 255 : n;
}

int cli_report(const struct vmig_err *e)
{
	fprintf(stderr, "vmig: %s\n", e->msg[0] ? e->msg : vmig_strerror(e->code));
	return cli_status(e->code ? e->code : VMIG_E_UNKNOWN);
}

void cli_detail(int r, const struct vmig_err *err)
{
	int code = r < 0 ? -r : r;
	if (!err || !err->msg[0] || strcmp(err->msg, vmig_strerror(code)) == 0)
		return;
	if (vmig_nvml_code(r) == 999 || code == VMIG_E_TIMEOUT || code == VMIG_E_OTHER_OWNER)
		fprintf(stderr, "vmig: %s\n", err->msg);
}

int cli_errorf(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("vmig: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

void cli_bus_id(const struct vmig_gpu_state *g, char out[32])
{
	snprintf(out, 32, "%08X:%02X:%02X.0", g->pci_domain & 0xffffffffu, g->pci_bus & 0xffu,
		 g->pci_device & 0xffu);
}

const struct vmig_gi_profile *cli_gi_profile(const struct vmig_gpu_state *g,
					     const struct vmig_gi_state *gi)
{
	return g->model ? vmig_gi_profile_by_id(g->model, gi->profile_id) : NULL;
}

const char *cli_ci_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			char *buf, size_t size)
{
	if (!gp || !cp || vmig_ci_profile_name(gp, cp, buf, size) < 0)
		snprintf(buf, size, "?");
	return buf;
}

unsigned cli_gi_order(const struct vmig_gpu_state *g, const struct vmig_gi_state *out[VMIG_MAX_GIS])
{
	unsigned n = 0;
	bool taken[VMIG_MAX_GIS] = {false};
	for (unsigned p = 0; g->model && p < g->model->ngi; p++)
		for (unsigned k = 0; k < g->ngi && k < VMIG_MAX_GIS; k++)
			if (!taken[k] && g->gi[k].profile_id == g->model->gi[p].id) {
				taken[k] = true;
				out[n++] = &g->gi[k];
			}
	/* A GI whose profile the model lacks cannot pass validation; keep it visible anyway. */
	for (unsigned k = 0; k < g->ngi && k < VMIG_MAX_GIS; k++)
		if (!taken[k])
			out[n++] = &g->gi[k];
	return n;
}

/* ---- the view: context, snapshot, selection ---- */

int cli_match_gpu(const char *s, const struct vmig_state *st)
{
	unsigned idx, dom, bus, dev, fn;
	if (strncasecmp(s, "GPU-", 4) == 0) {
		for (unsigned k = 0; k < st->ngpu; k++)
			if (strcasecmp(st->gpu[k].uuid, s) == 0)
				return (int)k;
		return -1;
	}
	if (cli_parse_uint(s, 999999, &idx) == 0)
		return idx < st->ngpu ? (int)idx : -1;
	if (cli_parse_bus_id(s, &dom, &bus, &dev, &fn) < 0 || fn != 0)
		return -1;
	for (unsigned k = 0; k < st->ngpu; k++) {
		const struct vmig_gpu_state *g = &st->gpu[k];
		if (g->pci_domain == dom && g->pci_bus == bus && g->pci_device == dev)
			return (int)k;
	}
	return -1;
}

int cli_select(const struct cli_cmd *cmd, const struct vmig_state *st, bool sel[VMIG_MAX_GPUS],
	       int *ret_status)
{
	for (unsigned k = 0; k < VMIG_MAX_GPUS; k++)
		sel[k] = !cmd->has_gpus && k < st->ngpu;
	for (unsigned k = 0; cmd->has_gpus && k < cmd->gpus.n; k++) {
		int idx = cli_match_gpu(cmd->gpus.item[k], st);
		if (idx < 0) {
			*ret_status = cli_errorf(
			    cli_status(VMIG_E_NOT_FOUND), "no GPU matches '%s' (%u GPU%s found)",
			    cmd->gpus.item[k], st->ngpu, st->ngpu == 1 ? "" : "s");
			return -1;
		}
		sel[idx] = true;
	}
	return 0;
}

int cli_view_refresh(struct cli_view *v, int *ret_status)
{
	struct vmig_err err = {0};
	if (vmig_snapshot(v->ctx, v->st, &err) < 0) {
		*ret_status = cli_report(&err);
		return -1;
	}
	return 0;
}

int cli_view_open(const struct cli_cmd *cmd, struct cli_view *v, int *ret_status)
{
	struct vmig_err err = {0};
	memset(v, 0, sizeof(*v));
	v->st = calloc(1, sizeof(*v->st));
	if (!v->st) {
		*ret_status = cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
		return -1;
	}
	if (vmig_open(cmd->backend, &v->ctx, &err) < 0) {
		*ret_status = cli_report(&err);
		cli_view_close(v);
		return -1;
	}
	if (cli_view_refresh(v, ret_status) < 0 || cli_select(cmd, v->st, v->sel, ret_status) < 0) {
		cli_view_close(v);
		return -1;
	}
	return 0;
}

void cli_view_close(struct cli_view *v)
{
	vmig_close(v->ctx);
	free(v->st);
	v->ctx = NULL;
	v->st = NULL;
}

/* ---- dispatch ---- */

int cli_held(const struct cli_cmd *cmd, struct cli_view *v,
	     int (*change)(const struct cli_cmd *, struct cli_view *))
{
	/*
	 * Without the hold (the lock was not to be had) each change still
	 * tries, and fails with its own message.
	 */
	struct vmig_err err = {0};
	bool held = vmig_hold(v->ctx, NULL) == 0;
	int status = change(cmd, v);
	if (held && vmig_release(v->ctx, true, &err) < 0) {
		fprintf(stderr, "vmig: %s (the changes above were not kept)\n", err.msg);
		status = cli_status(-err.code);
	}
	return status;
}

int cli_exec_mig(const struct cli_cmd *cmd)
{
	if (cmd->action == CLI_MIG_HELP) {
		cli_help_mig(stdout);
		return 0;
	}
	struct cli_view v;
	int status = 0;
	if (cli_view_open(cmd, &v, &status) < 0)
		return status;
	switch (cmd->action) {
	case CLI_CGI:
	case CLI_DGI:
	case CLI_CCI:
	case CLI_DCI:
	case CLI_RG:
		status = cli_held(cmd, &v, cli_mig_change);
		break;
	default:
		status = cli_mig_list(cmd, &v);
		break;
	}
	cli_view_close(&v);
	return status;
}

int cli_exec(const struct cli_cmd *cmd)
{
	static int (*const execs[])(const struct cli_cmd *) = {
	    cli_exec_top,
#define VMIG_VERB(name, parse, exec, summary) exec,
#include "verbs.def"
#undef VMIG_VERB
	};
	int status = execs[cmd->verb](cmd);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_errorf(cli_status(VMIG_E_IO), "cannot write the output");
	return status;
}
