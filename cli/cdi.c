/*
 * cdi.c — `vmig cdi generate|enable|disable|status`: the Container Device
 * Interface spec of this node's GPUs and instances, for podman, containerd,
 * CRI-O and Docker's CDI support (docs/containers.md).  The parser is pure;
 * generate takes the snapshot a container runtime would see
 * (vmig_snapshot_devices), has libvmig build the spec (vmig_cdi_spec) and
 * prints it or writes it atomically into a spec directory; enable, disable
 * and status manage the specs that libvmig rewrites after every change
 * (lib/cdi_keep.c).
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
	DO_INTERVAL,
	DO_REMOVE
};

static const struct cli_opt cdi_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, DO_HELP},	    {NULL, "--backend", CLI_ARG_REQ, DO_BACKEND},
    {"-o", "--output", CLI_ARG_REQ, DO_OUTPUT},	    {NULL, "--kind", CLI_ARG_REQ, DO_KIND},
    {NULL, "--mig-minors", CLI_ARG_REQ, DO_MINORS}, {NULL, "--dev-root", CLI_ARG_REQ, DO_DEVROOT},
    {NULL, "--watch", CLI_ARG_NONE, DO_WATCH},	    {NULL, "--interval", CLI_ARG_REQ, DO_INTERVAL},
    {NULL, "--remove", CLI_ARG_NONE, DO_REMOVE},    {NULL, NULL, CLI_ARG_NONE, 0},
};

static int cdi_option(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	const char **slot = id == DO_OUTPUT   ? &cmd->cdi.output
			    : id == DO_KIND   ? &cmd->cdi.kind
			    : id == DO_MINORS ? &cmd->cdi.mig_minors
					      : &cmd->cdi.dev_root;
	cmd->cdi.given |= 1u << id;
	if (id == DO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if (id == DO_REMOVE) {
		cmd->cdi.remove = true;
		return 0;
	}
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

#define COMMANDS "generate, enable, disable or status"

static const struct cli_command commands[] = {
    {"generate", CLI_CDI_GENERATE,
     1u << DO_BACKEND | 1u << DO_OUTPUT | 1u << DO_KIND | 1u << DO_MINORS | 1u << DO_DEVROOT |
	 1u << DO_WATCH | 1u << DO_INTERVAL},
    {"enable", CLI_CDI_ENABLE,
     1u << DO_BACKEND | 1u << DO_OUTPUT | 1u << DO_KIND | 1u << DO_MINORS | 1u << DO_DEVROOT},
    {"disable", CLI_CDI_DISABLE, 1u << DO_OUTPUT | 1u << DO_KIND | 1u << DO_REMOVE},
    {"status", CLI_CDI_STATUS, 0},
};

int cli_parse_cdi(struct cli_parser *p, struct cli_cmd *cmd)
{
	static const struct cli_commands verb = {
	    .verb = "cdi",
	    .list = COMMANDS,
	    .cmd = commands,
	    .n = sizeof(commands) / sizeof(commands[0]),
	    .opts = cdi_opts,
	    .help_id = DO_HELP,
	    .help = CLI_CDI_HELP,
	    .option = cdi_option,
	};
	if (cli_parse_commands(p, cmd, &verb) < 0)
		return -1;
	if (cmd->action == CLI_CDI_HELP)
		return 0;
	if (cmd->action == CLI_CDI_ENABLE &&
	    (!cmd->cdi.output || strcmp(cmd->cdi.output, "-") == 0))
		return cli_fail(p, "cdi enable: keeps a spec directory current (--output DIR)");
	if (cmd->action == CLI_CDI_DISABLE && cmd->cdi.output && strcmp(cmd->cdi.output, "-") == 0)
		return cli_fail(p, "cdi disable: --output names a spec directory");
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
	      "       vmig cdi enable --output DIR [--kind VENDOR/CLASS] [--backend NAME]\n"
	      "                       [--mig-minors FILE] [--dev-root DIR]\n"
	      "       vmig cdi disable [--output DIR] [--kind VENDOR/CLASS] [--remove]\n"
	      "       vmig cdi status\n"
	      "\n"
	      "Write the CDI spec of this node's GPUs and GPU instances: one device per GPU\n"
	      "(by index and by GPU UUID), per MIG device (by MIG UUID, GPU:GI:CI and\n"
	      "GPU:MIG index) and 'all'.  Use them with podman run --device KIND=NAME.\n"
	      "enable writes the spec and records it in the state directory: from then on\n"
	      "every vmig command that changes GPUs or instances rewrites it before it\n"
	      "returns.  disable stops that (every spec, or those of --output and --kind;\n"
	      "--remove deletes their files too); status tells whether each kept spec is\n"
	      "current (exit status 1 when one is not).\n"
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
	      "      --remove           disable: delete the spec files too\n"
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

static int enable(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	struct vmig_cdi_keep *want = calloc(1, sizeof(*want));
	char path[4096];
	if (!want)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	const char *const from[] = {cmd->cdi.output, cmd->cdi.kind, cmd->backend,
				    cmd->cdi.mig_minors, cmd->cdi.dev_root};
	char *const to[] = {want->output, want->kind, want->backend, want->mig_minors,
			    want->dev_root};
	const size_t size[] = {sizeof(want->output), sizeof(want->kind), sizeof(want->backend),
			       sizeof(want->mig_minors), sizeof(want->dev_root)};
	int r = 0;
	for (size_t i = 0; i < sizeof(to) / sizeof(to[0]) && r >= 0; i++)
		if (from[i] && (size_t)snprintf(to[i], size[i], "%s", from[i]) >= size[i])
			r = vmig_err_set(&err, VMIG_E_INVALID_ARGUMENT, "'%.64s...' is too long",
					 from[i]);
	if (r >= 0)
		r = vmig_cdi_enable(want, path, sizeof(path), &err);
	free(want);
	if (r < 0)
		return cli_report(&err);
	printf("Wrote %s; every change of instances rewrites it\n", path);
	return 0;
}

static int disable(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	unsigned n = 0;
	if (vmig_cdi_disable(cmd->cdi.output, cmd->cdi.kind, cmd->cdi.remove, &n, &err) < 0)
		return cli_report(&err);
	if (n == 0)
		printf("No CDI spec was kept current\n");
	else
		printf("Stopped keeping %u CDI spec%s current%s\n", n, n == 1 ? "" : "s",
		       !cmd->cdi.remove ? ""
		       : n == 1		? " and removed its file"
					: " and removed their files");
	return 0;
}

/* Each kept spec and whether its file is what would be written now: 1 when one is not. */
static int status(void)
{
	static const char *const words[] = {"current", "stale", "missing"};
	struct vmig_err err = {0};
	struct vmig_cdi_keeps *k = calloc(1, sizeof(*k));
	int status = 0;
	if (!k)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	if (vmig_cdi_keeps_read(k, &err) < 0) {
		free(k);
		return cli_report(&err);
	}
	if (k->n == 0)
		printf("No CDI spec is kept current (vmig cdi enable --output DIR)\n");
	for (unsigned i = 0; i < k->n; i++) {
		const struct vmig_cdi_keep *s = &k->spec[i];
		char path[4096];
		enum vmig_cdi_freshness f = VMIG_CDI_STALE;
		struct vmig_err e = {0};
		int r = vmig_cdi_keep_path(s, path, sizeof(path), &e);
		if (r >= 0)
			r = vmig_cdi_keep_check(s, &f, &e);
		if (r < 0)
			printf("%s: cannot be built: %s\n", path[0] ? path : s->output, e.msg);
		else
			printf("%s: %s (kind %s, backend %s)\n", path, words[f], s->kind,
			       s->backend[0] ? s->backend : "as vmig picks it");
		if (r < 0 || f != VMIG_CDI_CURRENT)
			status = 1;
	}
	free(k);
	return status;
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
	if (cmd->action == CLI_CDI_ENABLE)
		return enable(cmd);
	if (cmd->action == CLI_CDI_DISABLE)
		return disable(cmd);
	if (cmd->action == CLI_CDI_STATUS)
		return status();
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
