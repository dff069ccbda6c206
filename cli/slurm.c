/*
 * slurm.c — `vmig slurm gres-conf` and `vmig slurm task-prolog`: this
 * node's GPU instances as Slurm generic resources (docs/slurm.md).
 *
 * The parser is pure.  gres-conf takes the snapshot a scheduler hands out
 * (vmig_snapshot_devices), has libvmig list the instances as gres lines
 * (vmig_slurm_devices), creates the placeholder nodes of software
 * partitions and prints or writes gres.conf and slurm.conf's NodeName line.
 * task-prolog runs as Slurm's TaskProlog: it finds the task's instances
 * (vmig_slurm_task_devices, from the task's environment, its device cgroup
 * and gres.conf) and prints the `export` lines that put the task inside
 * them; anything that is not one of vmig's instances is refused, on the
 * job's stderr, with a non-zero status.
 */
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

enum slurm_opt {
	SO_HELP,
	SO_BACKEND,
	SO_OUTPUT,
	SO_NODE,
	SO_AUTODETECT,
	SO_GRES,
	SO_MINORS,
	SO_DEVROOT
};

static const struct cli_opt slurm_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, SO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, SO_BACKEND},
    {"-o", "--output", CLI_ARG_REQ, SO_OUTPUT},
    {NULL, "--node", CLI_ARG_REQ, SO_NODE},
    {NULL, "--autodetect", CLI_ARG_NONE, SO_AUTODETECT},
    {NULL, "--gres-conf", CLI_ARG_REQ, SO_GRES},
    {NULL, "--mig-minors", CLI_ARG_REQ, SO_MINORS},
    {NULL, "--dev-root", CLI_ARG_REQ, SO_DEVROOT},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

/* A node name as slurm.conf takes it: letters, digits, '-', '_', '.'. */
static bool node_name_ok(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return *s && strlen(s) < 64;
}

static int slurm_option(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	bool gres = cmd->action == CLI_SLURM_GRES_CONF;
	struct cli_slurm_opts *o = &cmd->slurm;
	const char **slot = id == SO_OUTPUT   ? &o->output
			    : id == SO_NODE   ? &o->node
			    : id == SO_GRES   ? &o->gres_conf
			    : id == SO_MINORS ? &o->mig_minors
					      : &o->dev_root;
	if (id == SO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if ((id == SO_OUTPUT || id == SO_NODE || id == SO_AUTODETECT) && !gres)
		return cli_fail(p, "slurm task-prolog: option %s is used with gres-conf",
				p->opt_name);
	if (id == SO_GRES && gres)
		return cli_fail(p, "slurm gres-conf: option %s is used with task-prolog",
				p->opt_name);
	if (id == SO_AUTODETECT) {
		o->autodetect = true;
		return 0;
	}
	if (*slot)
		return cli_fail(p, "option %s given twice", p->opt_name);
	if (!*v)
		return cli_fail(p, "option %s: empty value", p->opt_name);
	if (id == SO_NODE && !node_name_ok(v))
		return cli_fail(p, "invalid node name '%.64s' (letters, digits, '-', '_', '.')", v);
	*slot = v;
	return 0;
}

static const struct cli_command commands[] = {
    {"gres-conf", CLI_SLURM_GRES_CONF, CLI_EVERY_OPTION},
    {"task-prolog", CLI_SLURM_TASK_PROLOG, CLI_EVERY_OPTION},
};

int cli_parse_slurm(struct cli_parser *p, struct cli_cmd *cmd)
{
	static const struct cli_commands verb = {
	    .verb = "slurm",
	    .list = "gres-conf, task-prolog",
	    .cmd = commands,
	    .n = sizeof(commands) / sizeof(commands[0]),
	    .opts = slurm_opts,
	    .help_id = SO_HELP,
	    .help = CLI_SLURM_HELP,
	    .option = slurm_option,
	};
	return cli_parse_commands(p, cmd, &verb);
}

static void slurm_help(FILE *f)
{
	/* clang-format off */
	fputs("Usage: vmig slurm gres-conf [--output FILE|-] [--node NAME] [--autodetect]\n"
	      "                            [--backend NAME] [--mig-minors FILE] [--dev-root DIR]\n"
	      "       vmig slurm task-prolog [--gres-conf FILE] [--backend NAME]\n"
	      "                              [--mig-minors FILE] [--dev-root DIR]\n"
	      "\n"
	      "gres-conf writes Slurm's gres.conf for this node's GPU instances: one line\n"
	      "Name=gpu Type=PROFILE MultipleFiles=... per MIG device (its GPU's node and\n"
	      "the GI's and CI's capability nodes; for a software partition its GPU's node\n"
	      "and a placeholder node, created under DIR/" VMIG_SLURM_PLACEHOLDER_DIR "/), and slurm.conf's\n"
	      "NodeName line: on stdout as a comment after gres.conf, or alone on stdout\n"
	      "when gres.conf goes to FILE.\n"
	      "\n"
	      "task-prolog runs as Slurm's TaskProlog: it finds the task's instances (MIG\n"
	      "UUIDs in CUDA_VISIBLE_DEVICES, else the device cgroup, else SLURM_STEP_GPUS\n"
	      "through gres.conf) and prints the export lines that put the task in them;\n"
	      "GPUs that are not vmig's instances are refused (stderr, non-zero status).\n"
	      "\n"
	      "Options:\n"
	      "  -o, --output=FILE|-    gres-conf: write gres.conf to FILE (atomically)\n"
	      "      --node=NAME        gres-conf: the NodeName (default: the host name)\n"
	      "      --autodetect       gres-conf: AutoDetect=nvml finds the MIG devices;\n"
	      "                         write only the software partitions' lines\n"
	      "      --gres-conf=FILE   task-prolog: the node's gres.conf (default: beside\n"
	      "                         $SLURM_CONF, else /etc/slurm/gres.conf)\n"
	      "      --backend=NAME     the GPUs of this backend (default: as vmig), with\n"
	      "                         software partitions merged in\n"
	      "      --mig-minors=FILE  the capability minors [" VMIG_ENV_MIG_MINORS ", default\n"
	      "                         " VMIG_CDI_MIG_MINORS_DEFAULT "]\n"
	      "      --dev-root=DIR     where the device nodes are [" VMIG_ENV_DEV_ROOT
	      ", default /dev]\n"
	      "  -h, --help             this help\n",
	      f);
	/* clang-format on */
}

/* The instances of snapshot *st (malloc'ed) as Slurm sees them (*ret malloc'ed). */
static int devices(const struct cli_cmd *cmd, struct vmig_state **st, struct vmig_slurm_dev **ret,
		   size_t *n, struct vmig_err *err)
{
	const struct vmig_slurm_opts o = {.mig_minors = cmd->slurm.mig_minors,
					  .dev_root = cmd->slurm.dev_root,
					  .autodetect = cmd->slurm.autodetect};
	if (!(*st = calloc(1, sizeof(**st))))
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_snapshot_devices(cmd->backend, *st, err);
	return r < 0 ? r : vmig_slurm_devices(*st, &o, ret, n, err);
}

static int gres_conf(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	struct vmig_slurm_dev *d = NULL;
	char host[256] = "", *conf = NULL, *line = NULL;
	size_t n = 0;
	const char *node = cmd->slurm.node, *out = cmd->slurm.output;
	bool to_file = out && strcmp(out, "-") != 0;
	if (!node) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			return cli_errorf(cli_status(VMIG_E_IO), "cannot read the host name: %s",
					  strerror(errno));
		host[strcspn(host, ".")] = '\0';
		node = host;
	}
	struct vmig_state *st = NULL;
	int r = devices(cmd, &st, &d, &n, &err);
	if (r >= 0)
		r = vmig_slurm_gres_conf(d, n, cmd->slurm.autodetect, &conf, &err);
	if (r >= 0)
		r = vmig_slurm_node_line(d, n, node, &line, &err);
	/* Everything is known: now the placeholders, then the file. */
	if (r >= 0)
		r = vmig_slurm_make_placeholders(d, n, &err);
	if (r >= 0 && to_file)
		r = vmig_cdi_write(out, conf, &err);
	if (r >= 0 && to_file)
		printf("%s\n", line);
	else if (r >= 0)
		printf("%s# slurm.conf: %s\n", conf, line);
	free(st);
	free(d);
	free(conf);
	free(line);
	return r < 0 ? cli_report(&err) : 0;
}

/* ---- task-prolog ---- */

/* A whole small file (malloc'ed), or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap) {
			char *p = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* The task's devices.list (cgroup v1's devices controller), or NULL. */
static char *devices_list(void)
{
	char *cg = slurp("/proc/self/cgroup"), path[PATH_MAX];
	char *list = NULL;
	for (char *p = cg, *eol; p && *p; p = *eol ? eol + 1 : eol) {
		eol = p + strcspn(p, "\n");
		char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || c2 > eol || (size_t)(c2 - c1 - 1) != 7 || strncmp(c1 + 1, "devices", 7))
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/devices%.*s/devices.list",
			 (int)(eol - c2 - 1), c2 + 1);
		list = slurp(path);
		break;
	}
	free(cg);
	return list;
}

/* gres.conf: --gres-conf, else beside $SLURM_CONF, else /etc/slurm/gres.conf. */
static void gres_conf_path(const struct cli_cmd *cmd, char *buf, size_t size)
{
	const char *conf = getenv("SLURM_CONF");
	char dir[PATH_MAX];
	if (cmd->slurm.gres_conf) {
		snprintf(buf, size, "%s", cmd->slurm.gres_conf);
	} else if (conf && *conf) {
		snprintf(dir, sizeof(dir), "%s", conf);
		snprintf(buf, size, "%s/gres.conf", dirname(dir));
	} else {
		snprintf(buf, size, "/etc/slurm/gres.conf");
	}
}

/*
 * A refusal: the line on stderr, and as a `print` line on stdout.  Slurm
 * 22.05 reads a TaskProlog's stdout and stderr through one pipe and acts
 * on its lines, so the `print` line is what reaches the job (its output);
 * the status fails the task, which srun reports on its stderr.
 */
static int refusef(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refusef(int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("print vmig: slurm task-prolog: %s\n", msg);
	fflush(stdout);
	return cli_errorf(status, "slurm task-prolog: %s", msg);
}

static int refuse(const struct vmig_err *err)
{
	return refusef(cli_status(err->code), "%s", err->msg);
}

/* A software partition: the environment of vmig run, as export lines. */
static int soft_exports(const struct vmig_state *st, const struct vmig_slurm_dev *d)
{
	struct vmig_err err = {0};
	struct vmig_soft_env *env = calloc(1, sizeof(*env));
	char lib[PATH_MAX], *preload = NULL;
	int r = env ? 0 : vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = vmig_interposer_find(lib, sizeof(lib), &err);
	if (r >= 0 && vmig_preload_join(lib, getenv(VMIG_ENV_PRELOAD), &preload) < 0)
		r = vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = vmig_soft_env(&st->gpu[d->gpu], d->gi, preload, env, &err);
	struct vmig_soft_limits l;
	if (r >= 0)
		r = vmig_soft_limits(&st->gpu[d->gpu], d->gi, &l, &err);
	if (r >= 0)
		r = cli_soft_check(d->gpu, d->gi, &l, &err);
	for (unsigned i = 0; r >= 0 && i < env->n; i++)
		printf("export %s=%s\n", env->var[i].name, env->var[i].value);
	free(preload);
	free(env);
	return r < 0 ? refuse(&err) : 0;
}

static int task_prolog(const struct cli_cmd *cmd)
{
	struct vmig_err err = {0};
	struct vmig_slurm_dev *d = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	const char *cvd = getenv(VMIG_ENV_VISIBLE_DEVICES), *step = getenv("SLURM_STEP_GPUS");
	/* A task given no GPU: nothing to do (on any node, instances or not). */
	if ((!cvd || !*cvd) && (!step || !*step))
		return 0;
	gres_conf_path(cmd, path, sizeof(path));
	char *conf = slurp(path), *list = devices_list();
	const struct vmig_slurm_task t = {.visible = cvd,
					  .step_gpus = step,
					  .devices_list = list,
					  .gres_conf = conf,
					  .gres_conf_path = path};
	bool *sel = NULL;
	struct vmig_state *st = NULL;
	int r = devices(cmd, &st, &d, &n, &err);
	if (r >= 0 && !(sel = calloc(n, sizeof(*sel))))
		r = vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	if (r >= 0)
		r = vmig_slurm_task_devices(d, n, &t, sel, &err);
	const struct vmig_slurm_dev *soft = NULL;
	size_t nsel = 0, nsoft = 0;
	for (size_t i = 0; r > 0 && i < n; i++) {
		nsel += sel[i];
		if (sel[i] && d[i].soft && !nsoft++)
			soft = &d[i];
	}
	int status = 0;
	if (r < 0)
		status = refuse(&err);
	else if (nsoft && nsel > 1)
		status = refusef(cli_status(VMIG_E_NOT_SUPPORTED),
				 "the task was given %zu instances, one of them a software "
				 "partition; a task runs in one software partition alone",
				 nsel);
	else if (soft)
		status = soft_exports(st, soft);
	else if (nsel) {
		fputs("export " VMIG_ENV_VISIBLE_DEVICES "=", stdout);
		for (size_t i = 0, k = 0; i < n; i++)
			if (sel[i])
				printf("%s%s", k++ ? "," : "", d[i].uuid);
		putchar('\n');
	}
	free(sel);
	free(st);
	free(d);
	free(conf);
	free(list);
	return status;
}

int cli_exec_slurm(const struct cli_cmd *cmd)
{
	if (cmd->action == CLI_SLURM_HELP) {
		slurm_help(stdout);
		return 0;
	}
	return cmd->action == CLI_SLURM_GRES_CONF ? gres_conf(cmd) : task_prolog(cmd);
}
