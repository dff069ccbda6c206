/*
 * cdi.c — `vmig cdi generate`: the Container Device Interface spec of this
 * node's GPUs and instances, for podman, containerd, CRI-O and Docker's CDI
 * support (docs/containers.md).  The parser is pure; the executor takes the
 * snapshot a container runtime would see (vmig_snapshot_devices), has
 * libvmig build the spec (vmig_cdi_spec) and prints it or writes it
 * atomically into a spec directory.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum cdi_opt { DO_HELP, DO_BACKEND, DO_OUTPUT, DO_KIND, DO_MINORS, DO_DEVROOT };

static const struct cli_opt cdi_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, DO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, DO_BACKEND},
    {"-o", "--output", CLI_ARG_REQ, DO_OUTPUT},
    {NULL, "--kind", CLI_ARG_REQ, DO_KIND},
    {NULL, "--mig-minors", CLI_ARG_REQ, DO_MINORS},
    {NULL, "--dev-root", CLI_ARG_REQ, DO_DEVROOT},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

static int cdi_option(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	const char **slot = id == DO_OUTPUT   ? &cmd->cdi.output
			    : id == DO_KIND   ? &cmd->cdi.kind
			    : id == DO_MINORS ? &cmd->cdi.mig_minors
					      : &cmd->cdi.dev_root;
	if (id == DO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if (*slot)
		return cli_fail(p, "option %s given twice", p->opt_name);
	if (!*v)
		return cli_fail(p, "option %s: empty value", p->opt_name);
	*slot = v;
	return 0;
}

int cli_parse_cdi(struct cli_parser *p, struct cli_cmd *cmd)
{
	const struct cli_opt *o;
	const char *v;
	int r;
	if (cmd->has_gpus)
		return cli_fail(p, "option -i is not used with the command 'cdi'");
	while ((r = cli_next(p, cdi_opts, &o, &v)) > 0) {
		if (!o) {
			if (cmd->action != CLI_NONE)
				return cli_fail(p, "cdi: unexpected argument '%.64s'", v);
			if (strcmp(v, "generate") != 0)
				return cli_fail(p, "cdi: unknown command '%.64s' (generate)", v);
			cmd->action = CLI_CDI_GENERATE;
			continue;
		}
		if (o->id == DO_HELP) {
			cmd->action = CLI_CDI_HELP;
			return 0;
		}
		if (cmd->action == CLI_NONE)
			return cli_fail(p, "cdi: the command (generate) comes before its options");
		if (cdi_option(p, cmd, o->id, v) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (cmd->action == CLI_NONE)
		return cli_fail(p, "cdi: no command given (generate)");
	return 0;
}

static void cdi_help(FILE *f)
{
	/* clang-format off */
	fputs("Usage: vmig cdi generate [--output DIR|-] [--kind VENDOR/CLASS] [--backend NAME]\n"
	      "                         [--mig-minors FILE] [--dev-root DIR]\n"
	      "\n"
	      "Write the CDI spec of this node's GPUs and GPU instances: one device per GPU\n"
	      "(by index and by GPU UUID), per MIG device (by MIG UUID, GPU:GI:CI and\n"
	      "GPU:MIG index) and 'all'.  Use them with podman run --device KIND=NAME.\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output=DIR|-     a spec directory (/etc/cdi, /var/run/cdi): writes\n"
	      "                         DIR/VENDOR-CLASS.json atomically; - or none: stdout\n"
	      "      --kind=VENDOR/CLASS  the spec's kind [" VMIG_ENV_CDI_KIND ", default\n"
	      "                         " VMIG_CDI_KIND_DEFAULT "]\n"
	      "      --backend=NAME     the GPUs of this backend (default: as vmig), with\n"
	      "                         software partitions merged in\n"
	      "      --mig-minors=FILE  the capability minors [" VMIG_ENV_MIG_MINORS ", default\n"
	      "                         " VMIG_CDI_MIG_MINORS_DEFAULT "]\n"
	      "      --dev-root=DIR     where the host's device nodes are [" VMIG_ENV_DEV_ROOT
	      ", default /dev]\n"
	      "  -h, --help             this help\n",
	      f);
	/* clang-format on */
}

int cli_exec_cdi(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	const struct vmig_cdi_opts o = {.kind = cmd->cdi.kind,
					.mig_minors = cmd->cdi.mig_minors,
					.dev_root = cmd->cdi.dev_root};
	const char *out = cmd->cdi.output;
	char path[4096], *text = NULL;
	if (cmd->action == CLI_CDI_HELP) {
		cdi_help(stdout);
		return 0;
	}
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	int r = vmig_snapshot_devices(cmd->backend, st, &err);
	if (r >= 0 && out && strcmp(out, "-") != 0)
		r = vmig_cdi_spec_path(out, vmig_cdi_kind(o.kind), path, sizeof(path), &err);
	if (r >= 0)
		r = vmig_cdi_spec(st, &o, &text, &err);
	free(st);
	if (r >= 0 && (!out || strcmp(out, "-") == 0)) {
		puts(text);
	} else if (r >= 0) {
		r = vmig_cdi_write(path, text, &err);
		if (r >= 0)
			printf("Wrote %s\n", path);
	}
	free(text);
	return r < 0 ? cli_report(&err) : 0;
}
