/*
 * args_verbs.c — the parsers of the verbs in verbs.def: `vmig mig` (every
 * option of nvidia-smi mig, short and long, from the list in mig_opts.def)
 * and `vmig sim`.  Like args.c, pure: argv in, struct cli_cmd or one
 * message out.
 */
#include <string.h>

#include "cli.h"

#define MAX_SIM_COUNT VMIG_MAX_GPUS

/* ---- vmig mig ---- */

const struct cli_mig_opt cli_mig_opts[CLI_MO__COUNT] = {
#define VMIG_MIG_OPT(id, s, l, arg, metavar, action, gi, ci, section, help)                        \
	[CLI_MO_##id] = {s,                                                                        \
			 l,                                                                        \
			 CLI_ARG_##arg,                                                            \
			 metavar,                                                                  \
			 CLI_##action,                                                             \
			 CLI_MIG_USE_##gi,                                                         \
			 CLI_MIG_USE_##ci,                                                         \
			 CLI_MIG_SEC_##section,                                                    \
			 help},
#include "mig_opts.def"
#undef VMIG_MIG_OPT
};

/* The same list as cli_next reads it: the id is the index into cli_mig_opts. */
static const struct cli_opt mig_opts[] = {
#define VMIG_MIG_OPT(id, s, l, arg, metavar, action, gi, ci, section, help)                        \
	{s, l, CLI_ARG_##arg, CLI_MO_##id},
#include "mig_opts.def"
#undef VMIG_MIG_OPT
    {NULL, NULL, CLI_ARG_NONE, 0},
};

/* mig -rg: a percentage of the GPU's compute time, 1 to 100. */
int cli_parse_share(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cli_parse_uint(v, 100, &cmd->share) < 0 || cmd->share == 0)
		return cli_fail(p, "invalid compute share '%.32s' (a percentage, 1 to 100)", v);
	return 0;
}

/* --share-policy: share or cap (it implies -rg, which may then leave the share out). */
int cli_parse_policy(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cmd->has_policy)
		return cli_fail(p, "option --share-policy given twice");
	if (vmig_share_policy_parse(v, &cmd->share_policy) < 0)
		return cli_fail(p, "invalid share policy '%.32s' (share or cap)", v);
	cmd->has_policy = true;
	return 0;
}

/* Options that select no operation: they set what an operation works on. */
static int mig_selector(struct cli_parser *p, struct cli_cmd *cmd, int id, const char *v)
{
	switch (id) {
	case CLI_MO_BACKEND:
		return cli_parse_backend(p, cmd, v);
	case CLI_MO_SOFT:
		return cli_parse_soft(p, cmd);
	case CLI_MO_ID:
		return cli_parse_gpu_ids(p, cmd, v);
	case CLI_MO_GI:
		if (cmd->has_gi)
			return cli_fail(p, "option -gi given twice");
		cmd->has_gi = true;
		return cli_parse_ids(v, "GPU instance ID", &cmd->gi, p->err, p->errsize);
	case CLI_MO_CI:
		if (cmd->has_ci)
			return cli_fail(p, "option -ci given twice");
		cmd->has_ci = true;
		return cli_parse_ids(v, "compute instance ID", &cmd->ci, p->err, p->errsize);
	case CLI_MO_C:
		if (cmd->default_ci)
			return cli_fail(p, "option -C given twice");
		cmd->default_ci = true;
		return 0;
	case CLI_MO_OWNER:
		if (cmd->owner)
			return cli_fail(p, "option --owner given twice");
		if (!*v || strlen(v) > 256)
			return cli_fail(p, "invalid owner '%.64s' (USER[:GROUP])", v);
		cmd->owner = v;
		return 0;
	case CLI_MO_OWNERS:
		cmd->show_owners = true;
		return 0;
	case CLI_MO_POLICY:
		return cli_parse_policy(p, cmd, v);
	}
	return cli_fail(p, "internal error: option %d", id);
}

/* The entry of the option that selects operation a; NULL for none. */
static const struct cli_mig_opt *mig_operation(enum cli_action a)
{
	for (unsigned k = 0; a != CLI_NONE && k < CLI_MO__COUNT; k++)
		if (cli_mig_opts[k].action == a)
			return &cli_mig_opts[k];
	return NULL;
}

/* "no operation given", naming every operation of the list. */
static int no_operation(struct cli_parser *p)
{
	char ops[CLI_ERR_LEN] = "";
	size_t n = 0;
	for (unsigned k = 0; k < CLI_MO__COUNT && n < sizeof(ops); k++) {
		const struct cli_mig_opt *o = &cli_mig_opts[k];
		if (o->section == CLI_MIG_SEC_OP && o->action != CLI_NONE)
			n += (size_t)snprintf(ops + n, sizeof(ops) - n, "%s%s", n ? ", " : "",
					      o->s ? o->s : o->l);
	}
	return cli_fail(p, "mig: no operation given (%s; see vmig mig --help)", ops);
}

/* Which selectors the operation takes (mig_opts.def, as nvidia-smi documents them). */
static int mig_check(struct cli_parser *p, struct cli_cmd *cmd)
{
	if (cmd->action == CLI_NONE &&
	    cmd->has_policy) { /* the policy alone: -rg keeping the share */
		cmd->action = CLI_RG;
		cmd->action_opt = "--share-policy";
	}
	const struct cli_mig_opt *op = mig_operation(cmd->action);
	if (!op)
		return no_operation(p);
	if (cmd->default_ci && cmd->action != CLI_CGI)
		return cli_fail(p, "option -C is only used with -cgi");
	if (cmd->owner && cmd->action != CLI_CGI)
		return cli_fail(p, "option --owner is only used with -cgi");
	if (cmd->show_owners && cmd->action != CLI_LGI)
		return cli_fail(p, "option --owners is only used with -lgi");
	if (cmd->has_policy && cmd->action != CLI_RG)
		return cli_fail(p, "option --share-policy is only used with -rg");
	if (cmd->has_gi && op->gi == CLI_MIG_USE_NO)
		return cli_fail(p, "option -gi cannot be used with %s", cmd->action_opt);
	if (cmd->has_ci && op->ci == CLI_MIG_USE_NO)
		return cli_fail(p, "option -ci cannot be used with %s", cmd->action_opt);
	if (op->gi == CLI_MIG_USE_NEED && !cmd->has_gi)
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
		enum cli_action a = cli_mig_opts[o->id].action;
		if (a == CLI_MIG_HELP) {
			cmd->action = CLI_MIG_HELP;
			return 0;
		}
		if (a == CLI_NONE) {
			if (mig_selector(p, cmd, o->id, v) < 0)
				return -1;
			continue;
		}
		if (cli_set_action(p, cmd, a, p->opt_name) < 0)
			return -1;
		if (a == CLI_RG) {
			if (cli_parse_share(p, cmd, v) < 0)
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

enum sim_opt { SO_HELP, SO_COUNT, SO_FORCE, SO_GI_NUMBERING, SO_VM };

static const struct cli_opt sim_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, SO_HELP},
    {"-n", "--count", CLI_ARG_REQ, SO_COUNT},
    {"-f", "--force", CLI_ARG_NONE, SO_FORCE},
    {NULL, "--gi-numbering", CLI_ARG_REQ, SO_GI_NUMBERING},
    {NULL, "--vm", CLI_ARG_NONE, SO_VM},
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
	if (cmd->force && cmd->action != CLI_SIM_REMOVE && cmd->action != CLI_SIM_RESET)
		return cli_fail(p, "option --force is only used with sim remove and sim reset");
	if (cmd->gi_numbering_seen && cmd->action != CLI_SIM_ADD && cmd->action != CLI_SIM_RESET)
		return cli_fail(p, "option --gi-numbering is only used with sim add and sim reset");
	if (cmd->sim_vm && cmd->action != CLI_SIM_ADD && cmd->action != CLI_SIM_RESET)
		return cli_fail(p, "option --vm is only used with sim add and sim reset");
	if (!count_seen)
		cmd->count = 1;
	return 0;
}

/* --gi-numbering=heap|swapped: how the new GPUs of sim add / sim reset number their GIs. */
static int sim_gi_numbering(struct cli_parser *p, struct cli_cmd *cmd, const char *v)
{
	if (cmd->gi_numbering_seen)
		return cli_fail(p, "option --gi-numbering given twice");
	if (vmig_gi_numbering_parse(v, &cmd->gi_numbering) < 0)
		return cli_fail(p, "invalid GI numbering '%.32s' (heap or swapped)", v);
	cmd->gi_numbering_seen = true;
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
		} else if (o->id == SO_GI_NUMBERING) {
			if (sim_gi_numbering(p, cmd, v) < 0)
				return -1;
		} else if (o->id == SO_VM) {
			if (cmd->sim_vm)
				return cli_fail(p, "option --vm given twice");
			cmd->sim_vm = true;
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
