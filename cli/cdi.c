/*
 * cdi.c — `vmig cdi generate`: the Container Device Interface spec of this
 * node's GPUs and instances, for podman, containerd, CRI-O and Docker's CDI
 * support (docs/containers.md).  The parser is pure; the executor takes the
 * snapshot a container runtime would see (vmig_snapshot_devices), has
 * libvmig build the spec (vmig_cdi_spec) and prints it or writes it
 * atomically into a spec directory.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum cdi_opt {
	DO_HELP,
	DO_BACKEND,
	DO_OUTPUT,
	DO_KIND,
	DO_MINORS,
	DO_DEVROOT,
	DO_WATCH,
	DO_INTERVAL
};

static const struct cli_opt cdi_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, DO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, DO_BACKEND},
    {"-o", "--output", CLI_ARG_REQ, DO_OUTPUT},
    {NULL, "--kind", CLI_ARG_REQ, DO_KIND},
    {NULL, "--mig-minors", CLI_ARG_REQ, DO_MINORS},
    {NULL, "--dev-root", CLI_ARG_REQ, DO_DEVROOT},
    {NULL, "--watch", CLI_ARG_NONE, DO_WATCH},
    {NULL, "--interval", CLI_ARG_REQ, DO_INTERVAL},
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
	if (id == DO_WATCH) {
		cmd->cdi.watch = true;
		return 0;
	}
	if (id == DO_INTERVAL) {
		if (cli_parse_uint(v, 3600000, &cmd->cdi.interval_ms) < 0 ||
		    cmd->cdi.interval_ms < 10)
			return cli_fail(
			    p, "invalid --interval '%.32s' (milliseconds, 10 to 3600000)", v);
		return 0;
	}
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
	if (cmd->cdi.watch && (!cmd->cdi.output || strcmp(cmd->cdi.output, "-") == 0))
		return cli_fail(p, "cdi generate: --watch writes a spec directory (--output DIR)");
	if (cmd->cdi.interval_ms && !cmd->cdi.watch)
		return cli_fail(p, "cdi generate: --interval is used with --watch");
	if (!cmd->cdi.interval_ms)
		cmd->cdi.interval_ms = 500;
	return 0;
}

static void cdi_help(FILE *f)
{
	/* clang-format off */
	fputs("Usage: vmig cdi generate [--output DIR|-] [--kind VENDOR/CLASS] [--backend NAME]\n"
	      "                         [--mig-minors FILE] [--dev-root DIR]\n"
	      "                         [--watch [--interval MS]]\n"
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
	      "      --watch            keep the spec current: rebuild it every interval and\n"
	      "                         rewrite it when it changed, until SIGINT or SIGTERM\n"
	      "      --interval=MS      --watch's period in milliseconds (default 500)\n"
	      "  -h, --help             this help\n",
	      f);
	/* clang-format on */
}

/* The spec of the node now, as text (malloc'ed into *ret). */
static int build(const struct cli_cmd *cmd, const struct vmig_cdi_opts *o, char **ret,
		 struct vmig_err *err)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_snapshot_devices(cmd->backend, st, err);
	if (r >= 0)
		r = vmig_cdi_spec(st, o, ret, err);
	free(st);
	return r;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * --watch: rebuild the spec every interval and write it whenever it
 * differs from the one last written, until SIGINT or SIGTERM.  A failure
 * after the first write is reported once (until it changes) and the last
 * good spec stays in place.
 */
static int watch(const struct cli_cmd *cmd, const struct vmig_cdi_opts *o, const char *path)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	char *last = NULL, last_err[sizeof(((struct vmig_err *)0)->msg)] = "";
	const struct timespec nap = {.tv_sec = cmd->cdi.interval_ms / 1000,
				     .tv_nsec = (long)(cmd->cdi.interval_ms % 1000) * 1000000L};
	while (!stop) {
		struct vmig_err err = {0};
		char *text = NULL;
		int r = build(cmd, o, &text, &err);
		if (r >= 0 && (!last || strcmp(text, last) != 0))
			r = vmig_cdi_write(path, text, &err);
		if (r >= 0 && (!last || strcmp(text, last) != 0)) {
			free(last);
			last = text;
			last_err[0] = '\0';
			printf("Wrote %s\n", path);
			fflush(stdout);
		} else {
			free(text);
		}
		if (r < 0 && !last) /* nothing written yet: a wrong setting, not a passing fault */
			return cli_report(&err);
		if (r < 0 && strcmp(err.msg, last_err) != 0) {
			snprintf(last_err, sizeof(last_err), "%s", err.msg);
			cli_errorf(0, "%s (the last spec stays)", err.msg);
		}
		nanosleep(&nap, NULL);
	}
	free(last);
	return 0;
}

int cli_exec_cdi(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	const struct vmig_cdi_opts o = {.kind = cmd->cdi.kind,
					.mig_minors = cmd->cdi.mig_minors,
					.dev_root = cmd->cdi.dev_root};
	const char *out = cmd->cdi.output;
	char path[4096], *text = NULL;
	int r = 0;
	if (cmd->action == CLI_CDI_HELP) {
		cdi_help(stdout);
		return 0;
	}
	bool to_file = out && strcmp(out, "-") != 0;
	if (to_file)
		r = vmig_cdi_spec_path(out, vmig_cdi_kind(o.kind), path, sizeof(path), &err);
	if (r >= 0 && cmd->cdi.watch)
		return watch(cmd, &o, path);
	if (r >= 0)
		r = build(cmd, &o, &text, &err);
	if (r >= 0 && !to_file) {
		puts(text);
	} else if (r >= 0) {
		r = vmig_cdi_write(path, text, &err);
		if (r >= 0)
			printf("Wrote %s\n", path);
	}
	free(text);
	return r < 0 ? cli_report(&err) : 0;
}
