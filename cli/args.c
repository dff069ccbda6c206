/*
 * args.c — the command line parser's machinery and the top level.
 *
 * cli_next() walks argv against a table of options (short "-gi" and long
 * "--gpu-instance-id[=V]" forms); cli_parse() reads the options that come
 * before a verb (nvidia-smi's main command line: -L, -mig, -r, --query-gpu)
 * and hands the rest to the verb's parser from verbs.def.  Everything here
 * is pure: it reads argv and writes only the struct and the error buffer.
 */
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *const query_names[] = {
#define CLI_QF_NAME(e, name, header) name,
    CLI_QUERY_FIELDS(CLI_QF_NAME)
#undef CLI_QF_NAME
};

int cli_fail(struct cli_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errsize, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct cli_opt *find_opt(const struct cli_opt *t, const char *word, size_t len,
				      bool is_long)
{
	for (; t->s || t->l; t++) {
		const char *name = is_long ? t->l : t->s;
		if (name && strlen(name) == len && strncmp(name, word, len) == 0)
			return t;
	}
	return NULL;
}

/* An option word that the table knows, so it cannot be taken as a value. */
static bool is_known_option(const struct cli_opt *t, const char *w)
{
	if (w[0] != '-' || w[1] == '\0')
		return false;
	bool is_long = w[1] == '-';
	size_t len = is_long ? strcspn(w, "=") : strlen(w);
	return find_opt(t, w, len, is_long) != NULL;
}

int cli_next(struct cli_parser *p, const struct cli_opt *table, const struct cli_opt **ret_opt,
	     const char **ret_val)
{
	if (p->i >= p->argc)
		return 0;
	const char *w = p->argv[p->i++];
	*ret_opt = NULL;
	*ret_val = NULL;
	if (w[0] != '-' || w[1] == '\0' || strcmp(w, "--") == 0) {
		*ret_val = w;
		return 1;
	}
	bool is_long = w[1] == '-';
	const char *eq = is_long ? strchr(w, '=') : NULL;
	size_t len = eq ? (size_t)(eq - w) : strlen(w);
	const struct cli_opt *o = find_opt(table, w, len, is_long);
	if (!o)
		return cli_fail(p, "unknown option '%.*s' (see --help)", (int)(len > 64 ? 64 : len),
				w);
	*ret_opt = o;
	p->opt_name = is_long ? o->l : o->s;
	if (eq) {
		if (o->arg == CLI_ARG_NONE)
			return cli_fail(p, "option %s takes no value", o->l);
		*ret_val = eq + 1;
		return 1;
	}
	if (o->arg == CLI_ARG_NONE)
		return 1;
	const char *next = p->i < p->argc ? p->argv[p->i] : NULL;
	if (o->arg == CLI_ARG_OPT) {
		if (next && next[0] != '-') {
			*ret_val = next;
			p->i++;
		}
		return 1;
	}
	if (!next || is_known_option(table, next))
		return cli_fail(p, "option %.*s needs a value", (int)len, w);
	*ret_val = next;
	p->i++;
	return 1;
}

int cli_parse_commands(struct cli_parser *p, struct cli_cmd *cmd, const struct cli_commands *c)
{
	const struct cli_opt *o;
	const char *v;
	const struct cli_command *sel = NULL;
	int r;
	if (cmd->has_gpus)
		return cli_fail(p, "option -i is not used with the command '%s'", c->verb);
	while ((r = cli_next(p, c->opts, &o, &v)) > 0) {
		if (!o) {
			if (sel)
				return cli_fail(p, "%s: unexpected argument '%.64s'", c->verb, v);
			for (size_t i = 0; i < c->n && !sel; i++)
				if (strcmp(v, c->cmd[i].name) == 0)
					sel = &c->cmd[i];
			if (!sel)
				return cli_fail(p, "%s: unknown command '%.64s' (%s)", c->verb, v,
						c->list);
			cmd->action = sel->action;
			continue;
		}
		if (o->id == c->help_id) {
			cmd->action = c->help;
			return 0;
		}
		if (!sel)
			return cli_fail(p, "%s: the command (%s) comes before its options", c->verb,
					c->list);
		if (!(sel->opts & (1u << o->id)))
			return cli_fail(p, "%s %s: option %s is not used here", c->verb, sel->name,
					p->opt_name);
		if (c->option(p, cmd, o->id, v) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	return sel ? 0 : cli_fail(p, "%s: no command given (%s)", c->verb, c->list);
}

int cli_set_action(struct cli_parser *p, struct cli_cmd *cmd, enum cli_action a, const char *opt)
{
	if (cmd->action != CLI_NONE && cmd->action != a)
		return cli_fail(p, "options %s and %s cannot be used together", cmd->action_opt,
				opt);
	if (cmd->action == a && strcmp(cmd->action_opt, opt) != 0)
		return cli_fail(p, "option %s given twice (as %s)", opt, cmd->action_opt);
	if (cmd->action == a)
		return cli_fail(p, "option %s given twice", opt);
	cmd->action = a;
	cmd->action_opt = opt;
	return 0;
}

/* ---- top level ---- */

enum top_opt {
	TOP_HELP,
	TOP_VERSION,
	TOP_BACKEND,
	TOP_SOFT,
	TOP_ID,
	TOP_LIST,
	TOP_MIG,
	TOP_RESET,
	TOP_QUERY,
	TOP_FORMAT,
	TOP_PM,
	TOP_SUMMARY,
	TOP_GI,
	TOP_RG,
	TOP_POLICY,
};

static const struct cli_opt top_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, TOP_HELP},
    {NULL, "--version", CLI_ARG_NONE, TOP_VERSION},
    {NULL, "--backend", CLI_ARG_REQ, TOP_BACKEND},
    {NULL, "--soft", CLI_ARG_NONE, TOP_SOFT},
    {"-i", "--id", CLI_ARG_REQ, TOP_ID},
    {"-L", "--list-gpus", CLI_ARG_NONE, TOP_LIST},
    {"-mig", "--multi-instance-gpu", CLI_ARG_REQ, TOP_MIG},
    {NULL, "--mig", CLI_ARG_REQ, TOP_MIG},
    {"-gi", "--gpu-instance-id", CLI_ARG_REQ, TOP_GI},
    {"-rg", "--compute-share", CLI_ARG_REQ, TOP_RG},
    {NULL, "--share-policy", CLI_ARG_REQ, TOP_POLICY},
    {"-r", "--gpu-reset", CLI_ARG_NONE, TOP_RESET},
    {NULL, "--query-gpu", CLI_ARG_REQ, TOP_QUERY},
    {NULL, "--format", CLI_ARG_REQ, TOP_FORMAT},
    {"-pm", "--persistence-mode", CLI_ARG_REQ, TOP_PM},
    {NULL, "--summary", CLI_ARG_NONE, TOP_SUMMARY},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

int cli_parse_backend(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cmd->backend)
		return cli_fail(p, "option --backend given twice");
	if (!vmig_backend_known(v))
		return cli_fail(p, "unknown backend '%.32s' (%s)", v, vmig_backend_names());
	cmd->backend = v;
	return 0;
}

int cli_parse_soft(struct cli_parser *p, struct cli_cmd *cmd)
{
	if (cmd->backend && strcmp(cmd->backend, "soft") != 0)
		return cli_fail(p, "options --soft and --backend %s cannot be used together",
				cmd->backend);
	cmd->backend = "soft";
	return 0;
}

int cli_parse_gpu_ids(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cmd->has_gpus)
		return cli_fail(p, "option -i given twice");
	if (cli_parse_words(v, "GPU id", &cmd->gpus, p->err, p->errsize) < 0)
		return -1;
	for (unsigned k = 0; k < cmd->gpus.n; k++)
		if (cli_check_gpu_selector(cmd->gpus.item[k]) < 0)
			return cli_fail(p,
					"invalid GPU id '%.64s' (an index, a PCI bus id or a UUID)",
					cmd->gpus.item[k]);
	cmd->has_gpus = true;
	return 0;
}

/* 0/DISABLED/off or 1/ENABLED/on (any case), as nvidia-smi's -mig and -pm take them; -1 else. */
static int parse_on_off(const char *v)
{
	if (strcmp(v, "0") == 0 || strcasecmp(v, "DISABLED") == 0 || strcasecmp(v, "off") == 0)
		return 0;
	if (strcmp(v, "1") == 0 || strcasecmp(v, "ENABLED") == 0 || strcasecmp(v, "on") == 0)
		return 1;
	return -1;
}

/* -mig 0|1 (DISABLED/ENABLED, off/on in any case), or N >= 2: split into N GIs. */
static int parse_mig_mode(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	unsigned n;
	int m = parse_on_off(v);
	if (m >= 0)
		cmd->mig_mode = (unsigned)m;
	else if (cli_parse_uint(v, VMIG_MAX_GIS, &n) == 0 && n >= 2)
		cmd->mig_mode = n;
	else
		return cli_fail(p,
				"invalid MIG mode '%.32s' (0/DISABLED/off, 1/ENABLED/on, or a "
				"number of GPU instances, 2-%d)",
				v, VMIG_MAX_GIS);
	return 0;
}

static int parse_pm_mode(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	int m = parse_on_off(v);
	if (m < 0)
		return cli_fail(p, "invalid persistence mode '%.32s' (0/DISABLED or 1/ENABLED)", v);
	cmd->pm_mode = (unsigned)m;
	return 0;
}

static int parse_query(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	struct cli_list names;
	if (cli_parse_words(v, "query field", &names, p->err, p->errsize) < 0)
		return -1;
	for (unsigned k = 0; k < names.n; k++) {
		unsigned f = 0;
		while (f < CLI_QF__COUNT && strcmp(query_names[f], names.item[k]) != 0)
			f++;
		if (f == CLI_QF__COUNT)
			return cli_fail(p, "field \"%.64s\" is not a valid field to query",
					names.item[k]);
		cmd->fields[k] = (enum cli_query_field)f;
	}
	cmd->nfields = names.n;
	return 0;
}

static int parse_format(struct cli_parser *p, struct cli_cmd *cmd, const char *v, bool *seen)
{
	struct cli_list words;
	if (*seen)
		return cli_fail(p, "option --format given twice");
	if (cli_parse_words(v, "format", &words, p->err, p->errsize) < 0)
		return -1;
	bool csv = false;
	for (unsigned k = 0; k < words.n; k++) {
		if (strcmp(words.item[k], "csv") == 0)
			csv = true;
		else if (strcmp(words.item[k], "noheader") == 0)
			cmd->csv_header = false;
		else if (strcmp(words.item[k], "nounits") == 0)
			cmd->csv_units = false;
		else
			return cli_fail(p, "unknown format '%.32s' (csv, noheader, nounits)",
					words.item[k]);
	}
	if (!csv)
		return cli_fail(p, "--format must include csv");
	*seen = true;
	return 0;
}

static int top_option(struct cli_parser *p, struct cli_cmd *cmd, const struct cli_opt *o,
		      const char *v, const char *word, bool *format_seen)
{
	switch (o->id) {
	case TOP_VERSION:
		return cli_set_action(p, cmd, CLI_VERSION, word);
	case TOP_BACKEND:
		return cli_parse_backend(p, cmd, v);
	case TOP_SOFT:
		return cli_parse_soft(p, cmd);
	case TOP_ID:
		return cli_parse_gpu_ids(p, cmd, v);
	case TOP_LIST:
		return cli_set_action(p, cmd, CLI_LIST_GPUS, word);
	case TOP_MIG:
		if (cli_set_action(p, cmd, CLI_SET_MIG, word) < 0)
			return -1;
		return parse_mig_mode(p, cmd, v);
	case TOP_RESET:
		return cli_set_action(p, cmd, CLI_RESET, word);
	case TOP_QUERY:
		if (cli_set_action(p, cmd, CLI_QUERY, word) < 0)
			return -1;
		return parse_query(p, cmd, v);
	case TOP_FORMAT:
		return parse_format(p, cmd, v, format_seen);
	case TOP_PM:
		if (cli_set_action(p, cmd, CLI_SET_PM, word) < 0)
			return -1;
		return parse_pm_mode(p, cmd, v);
	case TOP_SUMMARY:
		return cli_set_action(p, cmd, CLI_SUMMARY, word);
	case TOP_GI:
		/* -i 0 -gi 1 -rg 70 at the top level, as `vmig mig` takes it. */
		if (cmd->has_gi)
			return cli_fail(p, "option -gi given twice");
		cmd->has_gi = true;
		return cli_parse_ids(v, "GPU instance ID", &cmd->gi, p->err, p->errsize);
	case TOP_RG:
		if (cli_set_action(p, cmd, CLI_RG, word) < 0)
			return -1;
		return cli_parse_share(p, cmd, v);
	case TOP_POLICY:
		return cli_parse_policy(p, cmd, v);
	}
	return cli_fail(p, "internal error: option %d", o->id);
}

static int find_verb(const char *w)
{
	static const char *const names[] = {
	    NULL,
#define VMIG_VERB(name, parse, exec, summary) #name,
#include "verbs.def"
#undef VMIG_VERB
	};
	for (int v = 1; v < CLI_VERB__COUNT; v++)
		if (strcmp(names[v], w) == 0)
			return v;
	return -1;
}

static int parse_verb(struct cli_parser *p, struct cli_cmd *cmd, const char *w)
{
	static int (*const parsers[])(struct cli_parser *, struct cli_cmd *) = {
	    NULL,
#define VMIG_VERB(name, parse, exec, summary) parse,
#include "verbs.def"
#undef VMIG_VERB
	};
	int v = find_verb(w);
	if (v < 0)
		return cli_fail(p, "unknown command '%.32s' (see vmig --help)", w);
	if (cmd->action != CLI_NONE)
		return cli_fail(p, "option %s cannot be used with the command '%s'",
				cmd->action_opt, w);
	if (cmd->has_gi)
		return cli_fail(p, "option -gi cannot be used before the command '%s'", w);
	cmd->verb = (enum cli_verb)v;
	return parsers[v](p, cmd);
}

/* Options of the main command line that only make sense together. */
static int check_top(struct cli_parser *p, struct cli_cmd *cmd, bool format_seen)
{
	if (cmd->action == CLI_NONE &&
	    cmd->has_policy) { /* the policy alone: -rg keeping the share */
		cmd->action = CLI_RG;
		cmd->action_opt = "--share-policy";
	}
	if (cmd->has_policy && cmd->action != CLI_RG)
		return cli_fail(p, "option --share-policy is only used with -rg");
	if (cmd->action == CLI_NONE)
		cmd->action = CLI_TABLE;
	if (cmd->action == CLI_QUERY && !format_seen)
		return cli_fail(p, "--query-gpu needs --format=csv");
	if (format_seen && cmd->action != CLI_QUERY)
		return cli_fail(p, "--format is only used with --query-gpu");
	if (cmd->action == CLI_RG && !cmd->has_gi)
		return cli_fail(p, "option %s needs -gi (the GPU instances to set)",
				cmd->action_opt);
	if (cmd->has_gi && cmd->action != CLI_RG)
		return cli_fail(p, "option -gi is only used with -rg here (see vmig mig --help)");
	return 0;
}

/* Messages quote what was typed; keep them one printable line whatever it held. */
static int scrub(char *err)
{
	for (; *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
	return -1;
}

static int parse(int argc, char *const argv[], struct cli_cmd *cmd, char *err, size_t errsize)
{
	struct cli_parser p = {.argc = argc, .i = 1, .argv = argv, .err = err, .errsize = errsize};
	memset(cmd, 0, sizeof(*cmd));
	cmd->csv_header = true;
	cmd->csv_units = true;
	if (errsize)
		err[0] = '\0';
	bool format_seen = false;
	const struct cli_opt *o;
	const char *v;
	int r;
	while ((r = cli_next(&p, top_opts, &o, &v)) > 0) {
		if (!o)
			return parse_verb(&p, cmd, v);
		if (o->id == TOP_HELP) {
			/* Help wins over everything else on the line. */
			cmd->action = CLI_HELP;
			return 0;
		}
		if (top_option(&p, cmd, o, v, p.opt_name, &format_seen) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	return check_top(&p, cmd, format_seen);
}

int cli_parse(int argc, char *const argv[], struct cli_cmd *cmd, char *err, size_t errsize)
{
	if (parse(argc, argv, cmd, err, errsize) == 0)
		return 0;
	if (errsize && !err[0])
		snprintf(err, errsize, "invalid command line");
	return errsize ? scrub(err) : -1;
}
