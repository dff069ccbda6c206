/*
 * args_verbs.c — the parsers of the verbs in verbs.def: `vmig mig` (every
 * option of nvidia-smi mig, short and long) and `vmig sim`.  Like args.c,
 * pure: argv in, struct cli_cmd or one message out.
 */
#include <string.h>

#include "cli.h"

#define MAX_SIM_COUNT VMIG_MAX_GPUS

/* ---- vmig mig ---- */

enum mig_opt {
	MO_HELP,
	MO_BACKEND,
	MO_SOFT,
	MO_RG,
	MO_ID,
	MO_GI,
	MO_CI,
	MO_LGIP,
	MO_LGIPP,
	MO_C,
	MO_CGI,
	MO_DGI,
	MO_LGI,
	MO_LCIP,
	MO_LCIPP,
	MO_CCI,
	MO_DCI,
	MO_LCI,
};

static const struct cli_opt mig_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, MO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, MO_BACKEND},
    {NULL, "--soft", CLI_ARG_NONE, MO_SOFT},
    {"-rg", "--compute-share", CLI_ARG_REQ, MO_RG},
    {"-i", "--id", CLI_ARG_REQ, MO_ID},
    {"-gi", "--gpu-instance-id", CLI_ARG_REQ, MO_GI},
    {"-ci", "--compute-instance-id", CLI_ARG_REQ, MO_CI},
    {"-lgip", "--list-gpu-instance-profiles", CLI_ARG_NONE, MO_LGIP},
    {"-lgipp", "--list-gpu-instance-possible-placements", CLI_ARG_NONE, MO_LGIPP},
    {"-C", "--default-compute-instance", CLI_ARG_NONE, MO_C},
    {"-cgi", "--create-gpu-instance", CLI_ARG_REQ, MO_CGI},
    {"-dgi", "--destroy-gpu-instance", CLI_ARG_NONE, MO_DGI},
    {"-lgi", "--list-gpu-instances", CLI_ARG_NONE, MO_LGI},
    {"-lcip", "--list-compute-instance-profiles", CLI_ARG_NONE, MO_LCIP},
    {"-lcipp", "--list-compute-instance-possible-placements", CLI_ARG_NONE, MO_LCIPP},
    {"-cci", "--create-compute-instance", CLI_ARG_OPT, MO_CCI},
    {"-dci", "--destroy-compute-instance", CLI_ARG_NONE, MO_DCI},
    {"-lci", "--list-compute-instances", CLI_ARG_NONE, MO_LCI},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

/* mig -rg: a percentage of the GPU's compute time, 1 to 100. */
static int parse_share(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cli_parse_uint(v, 100, &cmd->share) < 0 || cmd->share == 0)
		return cli_fail(p, "invalid compute share '%.32s' (a percentage, 1 to 100)", v);
	return 0;
}

/* The action each action option selects (CLI_NONE: not an action). */
static enum cli_action mig_action(int id)
{
	switch (id) {
	case MO_LGIP:
		return CLI_LGIP;
	case MO_LGIPP:
		return CLI_LGIPP;
	case MO_CGI:
		return CLI_CGI;
	case MO_DGI:
		return CLI_DGI;
	case MO_LGI:
		return CLI_LGI;
	case MO_LCIP:
		return CLI_LCIP;
	case MO_LCIPP:
		return CLI_LCIPP;
	case MO_CCI:
		return CLI_CCI;
	case MO_DCI:
		return CLI_DCI;
	case MO_LCI:
		return CLI_LCI;
	case MO_RG:
		return CLI_RG;
	}
	return CLI_NONE;
}

static int mig_selector(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	switch (id) {
	case MO_BACKEND:
		return cli_parse_backend(p, cmd, v);
	case MO_SOFT:
		return cli_parse_soft(p, cmd);
	case MO_ID:
		return cli_parse_gpu_ids(p, cmd, v);
	case MO_GI:
		if (cmd->has_gi)
			return cli_fail(p, "option -gi given twice");
		cmd->has_gi = true;
		return cli_parse_ids(v, "GPU instance ID", &cmd->gi, p->err, p->errsize);
	case MO_CI:
		if (cmd->has_ci)
			return cli_fail(p, "option -ci given twice");
		cmd->has_ci = true;
		return cli_parse_ids(v, "compute instance ID", &cmd->ci, p->err, p->errsize);
	case MO_C:
		if (cmd->default_ci)
			return cli_fail(p, "option -C given twice");
		cmd->default_ci = true;
		return 0;
	}
	return cli_fail(p, "internal error: option %d", id);
}

/* Which selectors each operation takes, as nvidia-smi documents them. */
static int mig_check(struct cli_parser *p, struct cli_cmd *cmd)
{
	enum cli_action a = cmd->action;
	if (a == CLI_NONE)
		return cli_fail(p, "mig: no operation given (-lgip, -lgipp, -lgi, -cgi, -dgi, "
				   "-lcip, -lcipp, -lci, -cci, -dci; see vmig mig --help)");
	if (cmd->default_ci && a != CLI_CGI)
		return cli_fail(p, "option -C is only used with -cgi");
	bool gi_ok = a == CLI_LGI || a == CLI_DGI || a == CLI_LCIP || a == CLI_LCIPP ||
		     a == CLI_LCI || a == CLI_CCI || a == CLI_DCI || a == CLI_RG;
	if (cmd->has_gi && !gi_ok)
		return cli_fail(p, "option -gi cannot be used with %s", cmd->action_opt);
	if (cmd->has_ci && a != CLI_LCI && a != CLI_DCI)
		return cli_fail(p, "option -ci cannot be used with %s", cmd->action_opt);
	if (a == CLI_RG && !cmd->has_gi)
		return cli_fail(p, "option %s needs -gi (the GPU instances to set)",
				cmd->action_opt);
	return 0;
}

int cli_parse_mig(struct cli_parser *p, struct cli_cmd *cmd)
{
	const struct cli_opt *o;
	const char *v;
	int r;
	while ((r = cli_next(p, mig_opts, &o, &v)) > 0) {
		if (!o)
			return cli_fail(p, "mig: unexpected argument '%.64s'", v);
		if (o->id == MO_HELP) {
			cmd->action = CLI_MIG_HELP;
			return 0;
		}
		enum cli_action a = mig_action(o->id);
		if (a == CLI_NONE) {
			if (mig_selector(p, cmd, o->id, v) < 0)
				return -1;
			continue;
		}
		if (cli_set_action(p, cmd, a, p->opt_name) < 0)
			return -1;
		if (a == CLI_RG) {
			if (parse_share(p, cmd, v) < 0)
				return -1;
		} else if (v) {
			if (cli_parse_words(v, "profile", &cmd->profiles, p->err, p->errsize) < 0)
				return -1;
			cmd->has_profiles = true;
		}
	}
	if (r < 0)
		return -1;
	return mig_check(p, cmd);
}

/* ---- vmig sim ---- */

enum sim_opt { SO_HELP, SO_COUNT, SO_FORCE };

static const struct cli_opt sim_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, SO_HELP},
    {"-n", "--count", CLI_ARG_REQ, SO_COUNT},
    {"-f", "--force", CLI_ARG_NONE, SO_FORCE},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

static const struct {
	const char *name;
	enum cli_action action;
	unsigned min_args, max_args;
} sim_subs[] = {
    {"models", CLI_SIM_MODELS, 0, 0},
    {"list", CLI_SIM_LIST, 0, 0},
    {"add", CLI_SIM_ADD, 1, 1},
    {"remove", CLI_SIM_REMOVE, 1, 1},
    {"reset", CLI_SIM_RESET, 0, CLI_MAX_ITEMS},
};

static int sim_positional(struct cli_parser *p, struct cli_cmd *cmd, const char *w, unsigned *nargs)
{
	if (cmd->action == CLI_NONE) {
		for (size_t k = 0; k < sizeof(sim_subs) / sizeof(sim_subs[0]); k++)
			if (strcmp(sim_subs[k].name, w) == 0) {
				cmd->action = sim_subs[k].action;
				cmd->action_opt = sim_subs[k].name;
				return 0;
			}
		return cli_fail(
		    p, "sim: unknown command '%.32s' (models, list, add, remove, reset)", w);
	}
	if (cmd->action == CLI_SIM_REMOVE) {
		if (cli_parse_uint(w, 999999, &cmd->index) < 0)
			return cli_fail(p, "sim remove: invalid GPU index '%.32s'", w);
	} else if (cmd->action == CLI_SIM_ADD || cmd->action == CLI_SIM_RESET) {
		if (!vmig_model_find(w))
			return cli_fail(p, "unknown GPU model '%.32s' (see vmig sim models)", w);
		if (cmd->models.n == CLI_MAX_ITEMS)
			return cli_fail(p, "sim: too many models (at most %d)", CLI_MAX_ITEMS);
		if (strlen(w) >= CLI_ITEM_LEN)
			return cli_fail(p, "sim: model name too long");
		strcpy(cmd->models.item[cmd->models.n++], w);
	}
	(*nargs)++;
	return 0;
}

static int sim_check(struct cli_parser *p, struct cli_cmd *cmd, unsigned nargs, bool count_seen)
{
	if (cmd->action == CLI_NONE)
		return cli_fail(p, "sim: no command given (models, list, add, remove, reset)");
	for (size_t k = 0; k < sizeof(sim_subs) / sizeof(sim_subs[0]); k++) {
		if (sim_subs[k].action != cmd->action)
			continue;
		if (nargs < sim_subs[k].min_args)
			return cli_fail(p, "sim %s: missing %s", sim_subs[k].name,
					cmd->action == CLI_SIM_ADD ? "MODEL" : "GPU index");
		if (nargs > sim_subs[k].max_args)
			return cli_fail(p, "sim %s: too many arguments", sim_subs[k].name);
	}
	if (count_seen && cmd->action != CLI_SIM_ADD)
		return cli_fail(p, "option --count is only used with sim add");
	if (cmd->force && cmd->action != CLI_SIM_REMOVE)
		return cli_fail(p, "option --force is only used with sim remove");
	if (!count_seen)
		cmd->count = 1;
	return 0;
}

int cli_parse_sim(struct cli_parser *p, struct cli_cmd *cmd)
{
	const struct cli_opt *o;
	const char *v;
	unsigned nargs = 0;
	bool count_seen = false;
	int r;
	if (cmd->has_gpus)
		return cli_fail(p, "option -i is not used with the command 'sim'");
	while ((r = cli_next(p, sim_opts, &o, &v)) > 0) {
		if (!o) {
			if (sim_positional(p, cmd, v, &nargs) < 0)
				return -1;
		} else if (o->id == SO_HELP) {
			cmd->action = CLI_SIM_HELP;
			return 0;
		} else if (o->id == SO_COUNT) {
			if (count_seen)
				return cli_fail(p, "option --count given twice");
			if (cli_parse_uint(v, MAX_SIM_COUNT, &cmd->count) < 0 || cmd->count == 0)
				return cli_fail(p, "invalid count '%.32s' (1 to %d)", v,
						MAX_SIM_COUNT);
			count_seen = true;
		} else {
			if (cmd->force)
				return cli_fail(p, "option --force given twice");
			cmd->force = true;
		}
	}
	if (r < 0)
		return -1;
	return sim_check(p, cmd, nargs, count_seen);
}
