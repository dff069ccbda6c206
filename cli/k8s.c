/*
 * k8s.c — `vmig k8s labels`: this node's GPU instances as node labels in
 * GPU Feature Discovery's names, written as a Node Feature Discovery local
 * feature file (docs/kubernetes.md).  The device plugin itself is a
 * program of its own, vmig-device-plugin (k8s/).
 *
 * The parser is pure.  labels takes the snapshot a scheduler hands out
 * (vmig_snapshot_devices), has libvmig write the labels (vmig_k8s_labels)
 * and prints them, or writes them to a file atomically: nfd-worker reads
 * every file of its directory whose name does not start with a dot, and
 * the temporary file does.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum k8s_opt { KO_HELP, KO_BACKEND, KO_OUTPUT, KO_DOMAIN };

static const struct cli_opt k8s_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, KO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, KO_BACKEND},
    {"-o", "--output", CLI_ARG_REQ, KO_OUTPUT},
    {NULL, "--domain", CLI_ARG_REQ, KO_DOMAIN},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

static int k8s_option(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	const char **slot = id == KO_OUTPUT ? &cmd->k8s.output : &cmd->k8s.domain;
	if (id == KO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if (*slot)
		return cli_fail(p, "option %s given twice", p->opt_name);
	if (!*v)
		return cli_fail(p, "option %s: empty value", p->opt_name);
	struct vmig_err e = {0};
	if (id == KO_DOMAIN && vmig_k8s_domain_check(v, &e) < 0)
		return cli_fail(p, "%s", e.msg);
	*slot = v;
	return 0;
}

static const struct cli_command commands[] = {
    {"labels", CLI_K8S_LABELS, CLI_EVERY_OPTION},
};

int cli_parse_k8s(struct cli_parser *p, struct cli_cmd *cmd)
{
	static const struct cli_commands verb = {
	    .verb = "k8s",
	    .list = "labels",
	    .cmd = commands,
	    .n = sizeof(commands) / sizeof(commands[0]),
	    .opts = k8s_opts,
	    .help_id = KO_HELP,
	    .help = CLI_K8S_HELP,
	    .option = k8s_option,
	};
	return cli_parse_commands(p, cmd, &verb);
}

static void k8s_help(FILE *f)
{
	/* clang-format off */
	fputs("Usage: vmig k8s labels [--output FILE|-] [--domain DOMAIN] [--backend NAME]\n"
	      "\n"
	      "labels writes this node's GPU instances as node labels in GPU Feature\n"
	      "Discovery's names (mixed strategy: DOMAIN/mig.capable, mig.strategy,\n"
	      "gpu.product, and per profile DOMAIN/mig-PROFILE.count, .product, .memory,\n"
	      "  .multiprocessors, .slices.gi, .slices.ci, .engines.*, .replicas,\n"
	      "  .sharing-strategy), one NAME=VALUE a line: a local feature file of Node\n"
	      "Feature Discovery, whose nfd-worker reads the files of\n"
	      "/etc/kubernetes/node-feature-discovery/features.d/.  The device plugin is\n"
	      "the program vmig-device-plugin (docs/kubernetes.md).\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output=FILE|-    write the labels to FILE (atomically), not stdout\n"
	      "      --domain=DOMAIN    the labels' domain (default " VMIG_K8S_LABEL_DOMAIN_DEFAULT ", GPU Feature\n"
	      "                         Discovery's; another where GFD labels the node too)\n"
	      "      --backend=NAME     the GPUs of this backend (default: as vmig), with\n"
	      "                         software partitions merged in\n"
	      "  -h, --help             this help\n",
	      f);
	/* clang-format on */
}

static int labels(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	struct vmig_state *st = calloc(1, sizeof(*st));
	char *text = NULL;
	const char *out = cmd->k8s.output;
	int r = st ? vmig_snapshot_devices(cmd->backend, st, &err)
		   : vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = vmig_k8s_labels(st, cmd->k8s.domain, &text, &err);
	/* The file gets its last newline from vmig_cdi_write. */
	if (r >= 0 && out && strcmp(out, "-") != 0) {
		text[strlen(text) - 1] = '\0';
		r = vmig_cdi_write(out, text, &err);
	} else if (r >= 0) {
		fputs(text, stdout);
	}
	free(st);
	free(text);
	return r < 0 ? cli_report(&err) : 0;
}

int cli_exec_k8s(const struct cli_cmd *cmd)
{
	if (cmd->action == CLI_K8S_HELP) {
		k8s_help(stdout);
		return 0;
	}
	return labels(cmd);
}
