/*
 * config.c — `vmig config validate|apply|assert|export|generate`: NVIDIA
 * mig-parted's config files, with its flags and MIG_PARTED_* variables
 * (docs/config.md).
 *
 * The parser (pure, like args.c) reads the subcommand and its flags; the
 * variables are read when the command runs, where a bad value is one error
 * line.  The format itself, the choice of each GPU's layout and the files
 * written are libvmig's (lib/config.c, lib/config_export.c); the layouts
 * are carried out by vmig_layout_apply.  What lives here is what touches
 * the outside: reading files, running hooks as mig-parted runs them, and
 * the messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define CONFIG_MAX_BYTES (16u << 20)
#define LABEL_MAX	 100

/* ---- parsing (pure) ---- */

enum cfg_opt {
	CO_HELP,
	CO_FILE,
	CO_LABEL,
	CO_HOOKS,
	CO_MODE_ONLY,
	CO_SKIP_RESET,
	CO_FORMAT,
	CO_OUT_LABEL,
	CO_VALID,
	CO_OUTPUT_FILE,
	CO_DEBUG,
	CO_DRY_RUN,
	CO_FORCE,
	CO_SOFT,
	CO_BACKEND,
};

static const struct cli_opt config_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, CO_HELP},
    {"-f", "--config-file", CLI_ARG_REQ, CO_FILE},
    {"-c", "--selected-config", CLI_ARG_REQ, CO_LABEL},
    {"-k", "--hooks-config-file", CLI_ARG_REQ, CO_HOOKS},
    {NULL, "--hooks-file", CLI_ARG_REQ, CO_HOOKS},
    {"-m", "--mode-only", CLI_ARG_NONE, CO_MODE_ONLY},
    {"-s", "--skip-reset", CLI_ARG_NONE, CO_SKIP_RESET},
    {"-o", "--output-format", CLI_ARG_REQ, CO_FORMAT},
    {"-l", "--config-label", CLI_ARG_REQ, CO_OUT_LABEL},
    {"-a", "--valid-config", CLI_ARG_NONE, CO_VALID},
    {NULL, "--output-file", CLI_ARG_REQ, CO_OUTPUT_FILE},
    {"-d", "--debug", CLI_ARG_NONE, CO_DEBUG},
    {NULL, "--dry-run", CLI_ARG_NONE, CO_DRY_RUN},
    {NULL, "--force", CLI_ARG_NONE, CO_FORCE},
    {NULL, "--soft", CLI_ARG_NONE, CO_SOFT},
    {NULL, "--backend", CLI_ARG_REQ, CO_BACKEND},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

/* The subcommands, and the options each takes (bits of 1u << enum cfg_opt). */
#define B(o)   (1u << CO_##o)
#define COMMON (B(HELP) | B(SOFT) | B(BACKEND) | B(DEBUG))
static const struct {
	const char *name;
	enum cli_action action;
	unsigned opts;
} config_subs[] = {
    {"validate", CLI_CONFIG_VALIDATE, COMMON | B(FILE) | B(LABEL)},
    {"apply", CLI_CONFIG_APPLY,
     COMMON | B(FILE) | B(LABEL) | B(HOOKS) | B(MODE_ONLY) | B(SKIP_RESET) | B(DRY_RUN) | B(FORCE)},
    {"assert", CLI_CONFIG_ASSERT, COMMON | B(FILE) | B(LABEL) | B(MODE_ONLY) | B(VALID)},
    {"export", CLI_CONFIG_EXPORT, COMMON | B(FORMAT) | B(OUT_LABEL)},
    {"generate", CLI_CONFIG_GENERATE, COMMON | B(FORMAT) | B(OUTPUT_FILE) | B(FILE)},
};
#undef B

static int set_once(struct cli_parser *p, const char **field, const char *v)
{
	if (*field)
		return cli_fail(p, "option %s given twice", p->opt_name);
	if (!*v)
		return cli_fail(p, "option %s needs a value", p->opt_name);
	*field = v;
	return 0;
}

static int set_flag(struct cli_parser *p, bool *field)
{
	if (*field)
		return cli_fail(p, "option %s given twice", p->opt_name);
	*field = true;
	return 0;
}

static int check_label(struct cli_parser *p, const char *v)
{
	if (strlen(v) > LABEL_MAX)
		return cli_fail(p, "config label too long (at most %d bytes)", LABEL_MAX);
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return cli_fail(p, "config label with a control character");
	return 0;
}

static int config_option(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	struct cli_config_opts *c = &cmd->config;
	switch (id) {
	case CO_FILE:
		/* generate writes its output where mig-parted's -f says. */
		if (cmd->action == CLI_CONFIG_GENERATE)
			return set_once(p, &c->output_file, v);
		return set_once(p, &c->file, v);
	case CO_LABEL:
		return set_once(p, &c->label, v) < 0 ? -1 : check_label(p, v);
	case CO_HOOKS:
		return set_once(p, &c->hooks, v);
	case CO_MODE_ONLY:
		return set_flag(p, &c->mode_only);
	case CO_SKIP_RESET:
		return set_flag(p, &c->skip_reset);
	case CO_FORMAT:
		if (set_once(p, &c->format, v) < 0)
			return -1;
		if (strcmp(v, "yaml") != 0 && strcmp(v, "json") != 0)
			return cli_fail(p, "invalid output format '%.32s' (yaml or json)", v);
		return 0;
	case CO_OUT_LABEL:
		return set_once(p, &c->out_label, v) < 0 ? -1 : check_label(p, v);
	case CO_VALID:
		return set_flag(p, &c->valid_config);
	case CO_OUTPUT_FILE:
		return set_once(p, &c->output_file, v);
	case CO_DEBUG:
		return set_flag(p, &c->debug);
	case CO_DRY_RUN:
		return set_flag(p, &c->dry_run);
	case CO_FORCE:
		return set_flag(p, &cmd->force);
	case CO_SOFT:
		return cli_parse_soft(p, cmd);
	case CO_BACKEND:
		return cli_parse_backend(p, cmd, v);
	}
	return cli_fail(p, "internal error: option %d", id);
}

static int config_sub(struct cli_parser *p, struct cli_cmd *cmd, const char *w, unsigned *opts)
{
	if (cmd->action != CLI_NONE)
		return cli_fail(p, "config: unexpected argument '%.64s'", w);
	for (size_t k = 0; k < sizeof(config_subs) / sizeof(config_subs[0]); k++)
		if (strcmp(config_subs[k].name, w) == 0) {
			cmd->action = config_subs[k].action;
			cmd->action_opt = config_subs[k].name;
			*opts = config_subs[k].opts;
			return 0;
		}
	return cli_fail(
	    p, "config: unknown command '%.32s' (validate, apply, assert, export, generate)", w);
}

int cli_parse_config(struct cli_parser *p, struct cli_cmd *cmd)
{
	const struct cli_opt *o;
	const char *v;
	unsigned allowed = 0;
	int r;
	if (cmd->has_gpus)
		return cli_fail(p, "option -i is not used with the command 'config'");
	while ((r = cli_next(p, config_opts, &o, &v)) > 0) {
		if (!o) {
			if (config_sub(p, cmd, v, &allowed) < 0)
				return -1;
			continue;
		}
		if (o->id == CO_HELP) {
			cmd->action = CLI_CONFIG_HELP;
			return 0;
		}
		if (cmd->action == CLI_NONE)
			return cli_fail(p, "config: the command (validate, apply, assert, export, "
					   "generate) comes before its options");
		if (!(allowed & 1u << o->id))
			return cli_fail(p, "option %s is not used with config %s", p->opt_name,
					cmd->action_opt);
		if (config_option(p, cmd, o->id, v) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (cmd->action == CLI_NONE)
		return cli_fail(p, "config: no command given (validate, apply, assert, export, "
				   "generate)");
	if (cmd->config.valid_config && cmd->config.mode_only)
		return cli_fail(p,
				"options --valid-config and --mode-only cannot be used together");
	return 0;
}

/* ---- the MIG_PARTED_* variables ---- */

/* Go's strconv.ParseBool, which mig-parted's flags use for their variables. */
static int env_bool(const char *name, bool *field)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	const char *v = getenv(name);
	if (*field || !v || !*v)
		return 0;
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0)
			return 0;
	}
	return cli_errorf(2, "invalid %s '%.32s' (true or false)", name, v);
}

static void env_str(const char *name, const char **field)
{
	const char *v = getenv(name);
	if (!*field && v && *v)
		*field = v;
}

/* The options as given, completed from the variables of the options the command takes. */
static int config_env(const struct cli_cmd *cmd, struct cli_config_opts *c)
{
	*c = cmd->config;
	switch (cmd->action) {
	case CLI_CONFIG_APPLY:
		env_str("MIG_PARTED_HOOKS_FILE", &c->hooks);
		if (env_bool("MIG_PARTED_SKIP_RESET", &c->skip_reset) ||
		    env_bool("MIG_PARTED_MODE_CHANGE_ONLY", &c->mode_only))
			return -1;
		/* fall through */
	case CLI_CONFIG_VALIDATE:
	case CLI_CONFIG_ASSERT:
		env_str("MIG_PARTED_CONFIG_FILE", &c->file);
		env_str("MIG_PARTED_SELECTED_CONFIG", &c->label);
		if (cmd->action == CLI_CONFIG_ASSERT &&
		    (env_bool("MIG_PARTED_MODE_CHANGE_ONLY", &c->mode_only) ||
		     env_bool("MIG_PARTED_VALID_CONFIG", &c->valid_config)))
			return -1;
		if (!c->file)
			return -cli_errorf(2,
					   "config %s: no config file (-f FILE, or "
					   "MIG_PARTED_CONFIG_FILE)",
					   cmd->action_opt);
		break;
	case CLI_CONFIG_EXPORT:
		env_str("MIG_PARTED_CONFIG_LABEL", &c->out_label);
		/* fall through */
	case CLI_CONFIG_GENERATE:
		env_str("MIG_PARTED_OUTPUT_FORMAT", &c->format);
		if (c->format && strcmp(c->format, "yaml") != 0 && strcmp(c->format, "json") != 0)
			return -cli_errorf(2, "invalid output format '%.32s' (yaml or json)",
					   c->format);
		break;
	default:
		break;
	}
	if (env_bool("MIG_PARTED_DEBUG", &c->debug))
		return -1;
	if (c->label && strlen(c->label) > LABEL_MAX)
		return -cli_errorf(2, "config label too long (at most %d bytes)", LABEL_MAX);
	return 0;
}

/* ---- files ---- */

/* A whole file (or stdin for "-"), NUL-terminated; the error is printed. */
static char *read_text(const char *path, size_t *ret_len)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf = fd < 0 ? NULL : malloc(cap);
	int saved = errno;
	while (buf) {
		if (len + 1 >= cap) {
			char *nb = cap >= CONFIG_MAX_BYTES ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				saved = cap >= CONFIG_MAX_BYTES ? EFBIG : ENOMEM;
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			free(buf);
			buf = NULL;
		} else if (n == 0) {
			break;
		} else {
			len += (size_t)n;
		}
	}
	if (fd > STDIN_FILENO)
		close(fd);
	if (!buf) {
		cli_errorf(2, "cannot read %s: %s", strcmp(path, "-") == 0 ? "stdin" : path,
			   strerror(saved));
		return NULL;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static struct vmig_config *load_config(const char *path, int *ret_status)
{
	struct vmig_err err = {0};
	struct vmig_config *c = NULL;
	size_t len;
	char *text = read_text(path, &len);
	if (!text) {
		*ret_status = 2;
		return NULL;
	}
	if (vmig_config_parse(path, text, len, &c, &err) < 0) {
		cli_report(&err);
		*ret_status = 2;
		c = NULL;
	}
	free(text);
	return c;
}

static struct vmig_hooks *load_hooks(const char *path, int *ret_status)
{
	struct vmig_err err = {0};
	struct vmig_hooks *h = NULL;
	size_t len;
	char *text = read_text(path, &len);
	if (!text) {
		*ret_status = 2;
		return NULL;
	}
	if (vmig_hooks_parse(path, text, len, &h, &err) < 0) {
		cli_report(&err);
		*ret_status = 2;
		h = NULL;
	}
	free(text);
	return h;
}

/* ---- what a label asks of this node ---- */

struct selection {
	struct vmig_config *cfg;
	size_t label;
	struct cli_view view;
	bool have_view;
	struct vmig_config_target t[VMIG_MAX_GPUS];
	struct vmig_layout_gpu want[VMIG_MAX_GPUS];
	size_t nwant;
};

static void selection_close(struct selection *s)
{
	if (s->have_view)
		cli_view_close(&s->view);
	vmig_config_free(s->cfg);
	free(s);
}

/* The targets of label against a fresh snapshot (s->view). */
static int resolve(struct selection *s, int *ret_status)
{
	struct vmig_err err = {0};
	if (vmig_config_resolve(s->cfg, s->label, s->view.st, s->t, &err) < 0) {
		*ret_status = cli_report(&err);
		return -1;
	}
	s->nwant = 0;
	for (unsigned k = 0; k < s->view.st->ngpu; k++)
		if (s->t[k].covered && !s->t[k].skip)
			s->want[s->nwant++] = s->t[k].want;
	return 0;
}

/* Parse the file, find the label, take a snapshot and resolve; NULL with the error printed. */
static struct selection *select_config(const struct cli_cmd *cmd, const struct cli_config_opts *c,
				       int *ret_status)
{
	struct vmig_err err = {0};
	struct selection *s = calloc(1, sizeof(*s));
	if (!s) {
		*ret_status = cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
		return NULL;
	}
	if (!(s->cfg = load_config(c->file, ret_status)))
		goto fail;
	/* validate without -c checks every label: the first is resolved here. */
	bool every = cmd->action == CLI_CONFIG_VALIDATE && !c->label;
	if (!every && vmig_config_find(s->cfg, c->label, &s->label, &err) < 0) {
		cli_report(&err);
		*ret_status = 2;
		goto fail;
	}
	if (cli_view_open(cmd, &s->view, ret_status) < 0)
		goto fail;
	s->have_view = true;
	if (resolve(s, ret_status) < 0) {
		*ret_status = 2;
		goto fail;
	}
	return s;
fail:
	selection_close(s);
	return NULL;
}

/* Does every covered GPU hold its target (mode_only: its mode)? */
static bool holds_all(const struct selection *s, bool mode_only)
{
	const struct vmig_state *st = s->view.st;
	for (size_t i = 0; i < s->nwant; i++)
		if (!vmig_config_holds(&st->gpu[s->want[i].gpu], &s->want[i], mode_only))
			return false;
	return true;
}

/* ---- validate, assert ---- */

static int do_validate(const struct cli_cmd *cmd, const struct cli_config_opts *c)
{
	int status = 0;
	struct selection *s = select_config(cmd, c, &status);
	if (!s)
		return status;
	size_t n = 1;
	/* Without -c, every label must fit this node. */
	if (!c->label) {
		n = vmig_config_nlabels(s->cfg);
		for (s->label = 0; s->label < n; s->label++)
			if (resolve(s, &status) < 0) {
				selection_close(s);
				return 2;
			}
	}
	printf("%s: valid for the %u GPU%s of this node (%zu mig-config%s checked)\n", c->file,
	       s->view.st->ngpu, s->view.st->ngpu == 1 ? "" : "s", n, n == 1 ? "" : "s");
	selection_close(s);
	return 0;
}

static int do_assert(const struct cli_cmd *cmd, const struct cli_config_opts *c)
{
	int status = 0;
	struct selection *s = select_config(cmd, c, &status);
	if (!s)
		return status;
	if (c->valid_config) {
		selection_close(s);
		printf("Selected MIG configuration is valid\n");
		return 0;
	}
	/* Every MIG-capable GPU must be covered, and hold what its entries ask. */
	bool ok = holds_all(s, c->mode_only);
	for (unsigned k = 0; k < s->view.st->ngpu; k++) {
		const struct vmig_model *m = s->view.st->gpu[k].model;
		if (m && (m->flags & VMIG_MF_MIG) && !s->t[k].covered)
			ok = false;
	}
	selection_close(s);
	if (!ok)
		return cli_errorf(1, "Assertion failure: selected configuration not currently "
				     "applied");
	printf("Selected MIG configuration currently applied\n");
	return 0;
}

/* ---- export, generate ---- */

static int write_output(const char *text, const char *path)
{
	FILE *f = path ? fopen(path, "w") : stdout;
	if (!f)
		return cli_errorf(2, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	if (path && fclose(f) != 0)
		return cli_errorf(cli_status(VMIG_E_IO), "cannot write %s: %s", path,
				  strerror(errno));
	return 0;
}

static int do_export(const struct cli_cmd *cmd, const struct cli_config_opts *c)
{
	struct vmig_err err = {0};
	struct cli_view v;
	int status = 0;
	char *text = NULL;
	enum vmig_config_format fmt =
	    c->format && strcmp(c->format, "json") == 0 ? VMIG_CONFIG_JSON : VMIG_CONFIG_YAML;
	if (cli_view_open(cmd, &v, &status) < 0)
		return status;
	int r = cmd->action == CLI_CONFIG_EXPORT
		    ? vmig_config_export(v.st, c->out_label ? c->out_label : "current", fmt, &text,
					 &err)
		    : vmig_config_generate(v.st, fmt, &text, &err);
	cli_view_close(&v);
	if (r < 0)
		return cli_report(&err);
	status = write_output(text, cmd->action == CLI_CONFIG_GENERATE ? c->output_file : NULL);
	free(text);
	return status;
}

/* ---- hooks ---- */

struct hook_run {
	const struct vmig_hooks *hooks;
	char *env[8]; /* the MIG_PARTED_* variables every hook gets */
	bool debug;
};

static void hook_env_init(struct hook_run *h, const struct cli_config_opts *c)
{
	const char *vals[][2] = {
	    {"MIG_PARTED_CONFIG_FILE", c->file},
	    {"MIG_PARTED_SELECTED_CONFIG", c->label ? c->label : ""},
	    {"MIG_PARTED_HOOKS_FILE", c->hooks ? c->hooks : ""},
	    {"MIG_PARTED_SKIP_RESET", c->skip_reset ? "true" : "false"},
	    {"MIG_PARTED_MODE_CHANGE_ONLY", c->mode_only ? "true" : "false"},
	};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		if (asprintf(&h->env[i], "%s=%s", vals[i][0], vals[i][1]) < 0)
			h->env[i] = NULL;
}

static void hook_env_free(struct hook_run *h)
{
	for (size_t i = 0; i < sizeof(h->env) / sizeof(h->env[0]); i++)
		free(h->env[i]);
}

/* The hook's envs, then the MIG_PARTED_* variables over them. */
static char **hook_envp(const struct hook_run *h, const struct vmig_hook *hk)
{
	size_t n = 0, k = 0;
	while (hk->envp[n])
		n++;
	char **envp = calloc(n + 8, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t name = strcspn(hk->envp[i], "=");
		bool overlaid = false;
		for (size_t j = 0; h->env[j]; j++)
			overlaid = overlaid || (strncmp(h->env[j], hk->envp[i], name + 1) == 0);
		if (!overlaid)
			envp[k++] = hk->envp[i];
	}
	for (size_t j = 0; h->env[j]; j++)
		envp[k++] = h->env[j];
	return envp;
}

/* In the child: set it up and exec; a failure goes up the pipe as (stage, errno). */
static void hook_child(const struct hook_run *h, const struct vmig_hook *hk, char **envp, int wfd)
{
	int why[2] = {0, 0};
	if (!h->debug) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
	}
	if (hk->workdir && chdir(hk->workdir) < 0) {
		why[0] = 1;
		why[1] = errno;
	} else {
		/* The command is looked up in vmig's own PATH, and runs with envp alone. */
		execvpe(hk->argv[0], hk->argv, envp);
		why[0] = 2;
		why[1] = errno;
	}
	ssize_t n = write(wfd, why, sizeof(why));
	_exit(n < 0 ? 126 : 127);
}

/* Run one hook; 0, or -1 with why in msg. */
static int run_hook(const struct hook_run *h, const struct vmig_hook *hk, char *msg, size_t size)
{
	int pfd[2], why[2] = {0, 0}, st = 0;
	char **envp = hook_envp(h, hk);
	if (!envp || pipe2(pfd, O_CLOEXEC) < 0) {
		free(envp);
		snprintf(msg, size, "%s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0)
		hook_child(h, hk, envp, pfd[1]);
	close(pfd[1]);
	free(envp);
	if (pid < 0) {
		snprintf(msg, size, "fork: %s", strerror(errno));
		close(pfd[0]);
		return -1;
	}
	ssize_t n;
	while ((n = read(pfd[0], why, sizeof(why))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(why)) {
		if (why[0] == 1)
			snprintf(msg, size, "chdir %s: %s", hk->workdir, strerror(why[1]));
		else
			snprintf(msg, size, "exec: \"%s\": %s", hk->argv[0], strerror(why[1]));
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		snprintf(msg, size, "exit status %d", WEXITSTATUS(st));
	else
		snprintf(msg, size, "signal: %s", strsignal(WTERMSIG(st)));
	return -1;
}

/* Run the hooks of a point in order; the first failure stops them (printed). */
static int run_point(const struct hook_run *h, enum vmig_hook_point p, bool report)
{
	char why[256];
	if (!h->hooks)
		return 0;
	for (size_t i = 0; i < h->hooks->n[p]; i++) {
		if (run_hook(h, &h->hooks->hook[p][i], why, sizeof(why)) == 0)
			continue;
		if (report)
			cli_errorf(1,
				   "Error applying MIG configuration with hooks: error running %s "
				   "hook: %s",
				   vmig_hook_name(p), why);
		return -1;
	}
	return 0;
}

/* ---- apply ---- */

static const char *gi_name(const struct vmig_gpu_state *g, unsigned profile)
{
	const struct vmig_gi_profile *gp =
	    g->model ? vmig_gi_profile_by_id(g->model, profile) : NULL;
	return gp ? gp->name : "?";
}

/* The GI profile of GI gi_id: in the snapshot, else created by an earlier step. */
static const struct vmig_gi_profile *step_gi(const struct vmig_gpu_state *g,
					     const struct vmig_plan *plan, size_t upto,
					     unsigned gpu, unsigned gi_id)
{
	unsigned profile = ~0u;
	for (unsigned i = 0; i < g->ngi; i++)
		if (g->gi[i].id == gi_id)
			profile = g->gi[i].profile_id;
	for (size_t i = 0; i < upto; i++)
		if (plan->step[i].kind == VMIG_STEP_CREATE_GI && plan->step[i].gpu == gpu &&
		    plan->step[i].gi_id == gi_id)
			profile = plan->step[i].profile_id;
	return g->model ? vmig_gi_profile_by_id(g->model, profile) : NULL;
}

static void print_plan(const struct vmig_state *st, const struct vmig_plan *plan)
{
	char name[64];
	for (size_t i = 0; i < plan->nstep; i++) {
		const struct vmig_step *s = &plan->step[i];
		const struct vmig_gpu_state *g = s->gpu < st->ngpu ? &st->gpu[s->gpu] : NULL;
		if (!g) {
			printf("GPU %u: step %d\n", s->gpu, (int)s->kind);
			continue;
		}
		const struct vmig_gi_profile *gp = step_gi(g, plan, i, s->gpu, s->gi_id);
		switch (s->kind) {
		case VMIG_STEP_MODE:
			printf("GPU %u: %s MIG mode\n", s->gpu, s->mode ? "enable" : "disable");
			break;
		case VMIG_STEP_RESET:
			printf("GPU %u: reset\n", s->gpu);
			break;
		case VMIG_STEP_DESTROY_CI:
			printf("GPU %u: destroy compute instance %u of GPU instance %u\n", s->gpu,
			       s->ci_id, s->gi_id);
			break;
		case VMIG_STEP_DESTROY_GI:
			printf("GPU %u: destroy GPU instance %u\n", s->gpu, s->gi_id);
			break;
		case VMIG_STEP_CREATE_GI:
			printf("GPU %u: create GPU instance %s (profile %u) at placement %u: GPU "
			       "instance %u\n",
			       s->gpu, gi_name(g, s->profile_id), s->profile_id, s->start,
			       s->gi_id);
			break;
		case VMIG_STEP_CREATE_CI:
			printf("GPU %u: create compute instance %s (profile %u) in GPU instance %u "
			       "at placement %u: compute instance %u\n",
			       s->gpu,
			       cli_ci_name(gp, gp ? vmig_ci_profile_by_id(gp, s->profile_id) : NULL,
					   name, sizeof(name)),
			       s->profile_id, s->gi_id, s->start, s->ci_id);
			break;
		}
	}
	printf("Plan: %u kept, %u destroyed, %u created\n", plan->kept, plan->destroyed,
	       plan->created);
}

static unsigned layout_flags(const struct cli_cmd *cmd, const struct cli_config_opts *c)
{
	return (cmd->force ? VMIG_LAYOUT_FORCE : 0u) |
	       (c->skip_reset ? VMIG_LAYOUT_SKIP_RESET : 0u);
}

static int layout_fail(struct vmig_err *err, bool hooks)
{
	vmig_err_wrap(err, "Error applying MIG configuration%s", hooks ? " with hooks" : "");
	return cli_report(err);
}

/* --dry-run: the plan of the whole layout (modes included), nothing changed, no hook run. */
static int dry_run(const struct cli_cmd *cmd, const struct cli_config_opts *c, struct selection *s)
{
	struct vmig_err err = {0};
	struct vmig_plan plan = {0};
	unsigned flags = layout_flags(cmd, c) | VMIG_LAYOUT_DRY_RUN |
			 (c->mode_only ? VMIG_LAYOUT_MODE_ONLY : 0u);
	int r = vmig_layout_apply(s->view.ctx, s->want, s->nwant, flags, &plan, &err);
	int status = r < 0 ? layout_fail(&err, false) : 0;
	if (r >= 0)
		print_plan(s->view.st, &plan);
	vmig_plan_free(&plan);
	return status;
}

/* Mode phase, then device phase (mig-parted's order); hooks before each change. */
static int apply_phases(const struct cli_cmd *cmd, const struct cli_config_opts *c,
			struct selection *s, const struct hook_run *h, int *ret_status)
{
	struct vmig_err err = {0};
	unsigned flags = layout_flags(cmd, c);
	if (!holds_all(s, true)) {
		if (run_point(h, VMIG_HOOK_PRE_APPLY_MODE, true) < 0)
			return *ret_status = 1, -1;
		if (vmig_layout_apply(s->view.ctx, s->want, s->nwant, flags | VMIG_LAYOUT_MODE_ONLY,
				      NULL, &err) < 0)
			return *ret_status = layout_fail(&err, h->hooks), -1;
		if (cli_view_refresh(&s->view, ret_status) < 0)
			return -1;
	}
	if (c->mode_only || holds_all(s, false))
		return 0;
	for (size_t i = 0; i < s->nwant; i++) {
		const struct vmig_gpu_state *g = &s->view.st->gpu[s->want[i].gpu];
		if (g->mig_current != s->want[i].mig_mode) {
			*ret_status =
			    cli_errorf(cli_status(VMIG_E_RESET_REQUIRED),
				       "GPU %u: unable to apply MIG config with MIG mode "
				       "%s (a mode change is pending: reset the GPU)",
				       s->want[i].gpu, g->mig_current ? "enabled" : "disabled");
			return -1;
		}
	}
	if (run_point(h, VMIG_HOOK_PRE_APPLY_CONFIG, true) < 0)
		return *ret_status = 1, -1;
	if (vmig_layout_apply(s->view.ctx, s->want, s->nwant, flags, NULL, &err) < 0)
		return *ret_status = layout_fail(&err, h->hooks), -1;
	return 0;
}

static int do_apply(const struct cli_cmd *cmd, const struct cli_config_opts *c)
{
	struct hook_run h = {.debug = c->debug};
	struct vmig_hooks *hooks = NULL;
	int status = 0;
	if (c->hooks && !(hooks = load_hooks(c->hooks, &status)))
		return status;
	struct selection *s = select_config(cmd, c, &status);
	if (!s) {
		vmig_hooks_free(hooks);
		return status;
	}
	if (c->dry_run) {
		status = dry_run(cmd, c, s);
		goto done;
	}
	h.hooks = hooks;
	hook_env_init(&h, c);
	if (run_point(&h, VMIG_HOOK_APPLY_START, true) < 0)
		status = 1;
	else
		apply_phases(cmd, c, s, &h, &status);
	/* apply-exit always runs; its failure is the result only when nothing else failed. */
	if (run_point(&h, VMIG_HOOK_APPLY_EXIT, status == 0) < 0 && status == 0)
		status = 1;
	if (status == 0)
		printf("MIG configuration applied successfully\n");
	hook_env_free(&h);
done:
	selection_close(s);
	vmig_hooks_free(hooks);
	return status;
}

int cli_exec_config(const struct cli_cmd *cmd)
{
	struct cli_config_opts c;
	if (cmd->action == CLI_CONFIG_HELP) {
		cli_help_config(stdout);
		return 0;
	}
	if (config_env(cmd, &c) < 0)
		return 2;
	switch (cmd->action) {
	case CLI_CONFIG_VALIDATE:
		return do_validate(cmd, &c);
	case CLI_CONFIG_APPLY:
		return do_apply(cmd, &c);
	case CLI_CONFIG_ASSERT:
		return do_assert(cmd, &c);
	default:
		return do_export(cmd, &c);
	}
}
