/*
 * mig_ops.c — the changes of `vmig mig`: -cgi [-C], -dgi, -cci, -dci, with
 * nvidia-smi's messages, and -rg (the compute share of software GPU
 * instances) in the same style.  Each operation goes through the backend
 * (vmig_ctx) one instance at a time, in listing order, and stops at the
 * first failure: "Unable to ..." names the instance and the NVML error,
 * "Failed to ..." closes, and the exit status is the NVML error number.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The closing line of a failed operation; detail for errors NVML has no word for. */
static int failed(const char *what, int r, const struct vmig_err *err)
{
	printf("Failed to %s: %s\n", what, vmig_strerror(r));
	cli_detail(r, err);
	return cli_status(r);
}

static int create_default_ci(struct cli_view *v, unsigned x, unsigned gi_id,
			     const struct vmig_gi_profile *gp)
{
	struct vmig_err err = {0};
	const struct vmig_ci_profile *cp = vmig_ci_profile_default(gp);
	char name[64];
	unsigned ci_id = 0;
	int r = cp ? vmig_create_ci(v->ctx, x, gi_id, cp->id, NULL, &ci_id, &err)
		   : -VMIG_E_NOT_SUPPORTED;
	if (r < 0) {
		printf("Unable to create a compute instance on GPU %2u GPU instance ID %2u using "
		       "profile MIG %s: %s\n",
		       x, gi_id, cli_ci_name(gp, cp, name, sizeof(name)), vmig_strerror(r));
		return failed("create compute instances", r, &err);
	}
	printf("Successfully created compute instance ID %2u on GPU %2u GPU instance ID %2u using "
	       "profile MIG %s (ID %2u)\n",
	       ci_id, x, gi_id, cli_ci_name(gp, cp, name, sizeof(name)), cp->id);
	return 0;
}

static int create_gi(const struct cli_cmd *cmd, struct cli_view *v, unsigned x, const char *tok)
{
	struct vmig_err err = {0};
	const struct vmig_gi_profile *gp = NULL;
	char prof[CLI_ITEM_LEN];
	bool has_start = false;
	unsigned start = 0, gi_id = 0;
	int r = vmig_tuple_parse(tok, prof, sizeof(prof), &has_start, &start);
	if (r >= 0)
		r = vmig_gi_profile_lookup(v->st->gpu[x].model, prof, &gp);
	if (r >= 0)
		r = vmig_create_gi(v->ctx, x, gp->id, has_start ? &start : NULL, &gi_id, &err);
	if (r < 0) {
		printf("Unable to create a GPU instance on GPU %2u using profile %s: %s\n", x, tok,
		       vmig_strerror(r));
		return failed("create GPU instances", r, &err);
	}
	printf(
	    "Successfully created GPU instance ID %2u on GPU %2u using profile MIG %s (ID %2u)\n",
	    gi_id, x, gp->name, gp->id);
	return cmd->default_ci ? create_default_ci(v, x, gi_id, gp) : 0;
}

/* A decimal ID (0 .. VMIG_OWNER_ID_MAX) without sign or leading zeros. */
static bool owner_number(const char *s, unsigned *ret)
{
	unsigned v;
	if (cli_parse_uint(s, VMIG_OWNER_ID_MAX, &v) < 0)
		return false;
	*ret = v;
	return true;
}

/*
 * --owner USER[:GROUP]: names (the system's user and group databases) or
 * numbers.  Without GROUP, the user's primary group, which a number without
 * a passwd entry does not have.  One error line, status 2, for anything else.
 */
static int resolve_owner(const char *text, unsigned *uid, unsigned *gid)
{
	char user[257];
	snprintf(user, sizeof(user), "%s", text);
	char *group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (!*user || (group && !*group))
		return cli_errorf(2, "invalid owner '%s' (USER[:GROUP])", text);
	errno = 0;
	const struct passwd *pw = owner_number(user, uid) ? getpwuid(*uid) : getpwnam(user);
	if (pw)
		*uid = pw->pw_uid;
	else if (!owner_number(user, uid))
		return cli_errorf(2, "invalid owner '%s': no user '%s'", text, user);
	if (!group) {
		if (!pw)
			return cli_errorf(2,
					  "invalid owner '%s': user %s has no entry to take its "
					  "group from (give one: --owner %s:GROUP)",
					  text, user, user);
		*gid = pw->pw_gid;
		return 0;
	}
	if (owner_number(group, gid))
		return 0;
	const struct group *gr = getgrnam(group);
	if (!gr)
		return cli_errorf(2, "invalid owner '%s': no group '%s'", text, group);
	*gid = gr->gr_gid;
	return 0;
}

static int op_cgi(const struct cli_cmd *cmd, struct cli_view *v, const bool tgt[])
{
	if (cmd->owner) {
		unsigned uid = 0, gid = 0;
		struct vmig_err err = {0};
		int status = resolve_owner(cmd->owner, &uid, &gid);
		if (status)
			return status;
		if (vmig_set_owner(v->ctx, uid, gid, &err) < 0)
			return cli_report(&err);
	}
	for (unsigned x = 0; x < v->st->ngpu; x++)
		for (unsigned k = 0; tgt[x] && k < cmd->profiles.n; k++) {
			int status = create_gi(cmd, v, x, cmd->profiles.item[k]);
			if (status)
				return status;
		}
	return 0;
}

static int create_ci(struct cli_view *v, unsigned x, const struct vmig_gi_state *gi,
		     const char *tok)
{
	struct vmig_err err = {0};
	const struct vmig_gi_profile *gp = cli_gi_profile(&v->st->gpu[x], gi);
	const struct vmig_ci_profile *cp = NULL;
	char prof[CLI_ITEM_LEN], name[64];
	bool has_start = false;
	unsigned start = 0, ci_id = 0;
	int r = vmig_tuple_parse(tok, prof, sizeof(prof), &has_start, &start);
	if (r >= 0)
		r = gp ? vmig_ci_profile_lookup(gp, prof, &cp) : -VMIG_E_INVALID_ARGUMENT;
	if (r >= 0)
		r = vmig_create_ci(v->ctx, x, gi->id, cp->id, has_start ? &start : NULL, &ci_id,
				   &err);
	if (r < 0) {
		printf("Unable to create a compute instance on GPU %2u GPU instance ID %2u using "
		       "profile %s: %s\n",
		       x, gi->id, tok, vmig_strerror(r));
		return failed("create compute instances", r, &err);
	}
	printf("Successfully created compute instance ID %2u on GPU %2u GPU instance ID %2u using "
	       "profile MIG %s (ID %2u)\n",
	       ci_id, x, gi->id, cli_ci_name(gp, cp, name, sizeof(name)), cp->id);
	return 0;
}

static int op_cci(const struct cli_cmd *cmd, struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GIS];
	unsigned total = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		unsigned n = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis) : 0;
		for (unsigned k = 0; k < n; k++, total++) {
			int status = 0;
			if (!cmd->has_profiles)
				status = create_default_ci(v, x, gis[k]->id,
							   cli_gi_profile(&v->st->gpu[x], gis[k]));
			for (unsigned t = 0; !status && cmd->has_profiles && t < cmd->profiles.n;
			     t++)
				status = create_ci(v, x, gis[k], cmd->profiles.item[t]);
			if (status)
				return status;
		}
	}
	if (!total) {
		printf("No GPU instances found: %s\n", vmig_strerror(VMIG_E_NOT_FOUND));
		return cli_status(VMIG_E_NOT_FOUND);
	}
	return 0;
}

static int op_dgi(const struct cli_cmd *cmd, struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GIS];
	unsigned total = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		unsigned n = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis) : 0;
		for (unsigned k = 0; k < n; k++, total++) {
			struct vmig_err err = {0};
			int r = vmig_destroy_gi(v->ctx, x, gis[k]->id, &err);
			if (r < 0) {
				printf("Unable to destroy GPU instance ID %2u from GPU %2u: %s\n",
				       gis[k]->id, x, vmig_strerror(r));
				return failed("destroy GPU instances", r, &err);
			}
			printf("Successfully destroyed GPU instance ID %2u from GPU %2u\n",
			       gis[k]->id, x);
		}
	}
	if (!total) {
		printf("No GPU instances found: %s\n", vmig_strerror(VMIG_E_NOT_FOUND));
		return cli_status(VMIG_E_NOT_FOUND);
	}
	return 0;
}

static int destroy_cis(const struct cli_cmd *cmd, struct cli_view *v, unsigned x,
		       const struct vmig_gi_state *gi, unsigned *total)
{
	for (unsigned c = 0; c < gi->nci; c++) {
		struct vmig_err err = {0};
		const struct vmig_ci_state *ci = &gi->ci[c];
		if (!cli_ci_wanted(cmd, ci))
			continue;
		(*total)++;
		int r = vmig_destroy_ci(v->ctx, x, gi->id, ci->id, &err);
		if (r < 0) {
			printf(
			    "Unable to destroy compute instance ID %2u from GPU %2u GPU instance "
			    "ID %2u: %s\n",
			    ci->id, x, gi->id, vmig_strerror(r));
			return failed("destroy compute instances", r, &err);
		}
		printf(
		    "Successfully destroyed compute instance ID %2u from GPU %2u GPU instance ID "
		    "%2u\n",
		    ci->id, x, gi->id);
	}
	return 0;
}

static int op_dci(const struct cli_cmd *cmd, struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GIS];
	unsigned total = 0;
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		unsigned n = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis) : 0;
		for (unsigned k = 0; k < n; k++) {
			int status = destroy_cis(cmd, v, x, gis[k], &total);
			if (status)
				return status;
		}
	}
	if (!total) {
		printf("No compute instances found: %s\n", vmig_strerror(VMIG_E_NOT_FOUND));
		return cli_status(VMIG_E_NOT_FOUND);
	}
	return 0;
}

/* -rg: software partitions only; the backend refuses it elsewhere (Not Supported). */
static int op_rg(const struct cli_cmd *cmd, struct cli_view *v, const bool tgt[])
{
	const struct vmig_gi_state *gis[VMIG_MAX_GIS];
	for (unsigned x = 0; x < v->st->ngpu; x++) {
		unsigned n = tgt[x] ? cli_mig_gis(cmd, &v->st->gpu[x], gis) : 0;
		for (unsigned k = 0; k < n; k++) {
			struct vmig_err err = {0};
			int policy = cmd->has_policy ? cmd->share_policy : VMIG_SHARE_POLICY_KEEP;
			int r = vmig_set_compute(v->ctx, x, gis[k]->id, cmd->share, policy, &err);
			if (r < 0) {
				printf(
				    "Unable to set the compute share of GPU instance ID %2u on GPU "
				    "%2u: %s\n",
				    gis[k]->id, x, vmig_strerror(r));
				printf("Failed to set compute shares: %s\n", vmig_strerror(r));
				if (err.msg[0])
					fprintf(stderr, "vmig: %s\n", err.msg);
				return cli_status(r);
			}
			if (!cmd->share)
				printf(
				    "Successfully set the share policy of GPU instance ID %2u on "
				    "GPU %2u to %s\n",
				    gis[k]->id, x, vmig_share_policy_name(policy));
			else if (cmd->has_policy)
				printf(
				    "Successfully set the compute share of GPU instance ID %2u on "
				    "GPU %2u to %u%% (%s)\n",
				    gis[k]->id, x, cmd->share, vmig_share_policy_name(policy));
			else
				printf(
				    "Successfully set the compute share of GPU instance ID %2u on "
				    "GPU %2u to %u%%\n",
				    gis[k]->id, x, cmd->share);
		}
	}
	return 0;
}

int cli_mig_change(const struct cli_cmd *cmd, struct cli_view *v)
{
	bool tgt[VMIG_MAX_GPUS];
	int status = 0;
	if (cli_mig_targets(cmd, v, true, tgt, &status) < 0 ||
	    cli_check_instances(cmd, v, tgt, &status) < 0)
		return status;
	switch (cmd->action) {
	case CLI_CGI:
		return op_cgi(cmd, v, tgt);
	case CLI_DGI:
		return op_dgi(cmd, v, tgt);
	case CLI_CCI:
		return op_cci(cmd, v, tgt);
	case CLI_DCI:
		return op_dci(cmd, v, tgt);
	case CLI_RG:
		return op_rg(cmd, v, tgt);
	default:
		return cli_errorf(255, "internal error: action %d", (int)cmd->action);
	}
}
