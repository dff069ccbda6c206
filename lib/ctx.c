/*
 * ctx.c — the context the command line and other front ends work through
 * (docs/backends.md).  It picks a backend (explicitly, from $VMIG_BACKEND,
 * or NVML when a real driver reports GPUs, else the simulator), turns each
 * call of the public API into one struct vmig__op, makes the checks that
 * hold for every backend once, and hands the operation to the backend's
 * apply.  Results reach the caller only on success.  After every change
 * that was committed (at once, or at the release of a hold) it tells
 * vmig__changed, so the kept CDI specs follow in the same call.  The table
 * of backends below is the one list of their names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

struct vmig_ctx {
	const struct vmig_backend_ops *ops;
	void *priv;
	unsigned fail_op, nchanges; /* the test hook of vmig__open_opts */
	bool held;		    /* vmig_hold took the backend's store */
	bool changed;		    /* a change landed in the held state */
	bool owner_set;		    /* vmig_set_owner was called; else the real IDs */
	unsigned owner_uid, owner_gid;
};

void (*vmig__on_change)(const char *dir);

void vmig__changed(const char *dir)
{
	if (vmig__on_change)
		vmig__on_change(dir);
}

/* A change succeeded: committed now, or at the release of the hold. */
static void done(struct vmig_ctx *ctx)
{
	if (ctx->held)
		ctx->changed = true;
	else
		vmig__changed(NULL);
}

static const struct vmig_backend_ops *const backends[] = {
    &vmig__backend_sim,
    &vmig__backend_nvml,
    &vmig__backend_soft,
};

#define AUTO_NAME "auto"

static const struct vmig_backend_ops *backend_by_name(const char *name)
{
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(backends); i++)
		if (strcasecmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

bool vmig_backend_known(const char *name)
{
	return name && (backend_by_name(name) || strcasecmp(name, AUTO_NAME) == 0);
}

/* "sim, nvml, soft or auto", built once from the table. */
const char *vmig_backend_names(void)
{
	static char names[64];
	if (names[0])
		return names;
	size_t n = 0;
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(backends); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s, ", backends[i]->name);
	snprintf(names + n - 2, sizeof(names) - n + 2, " or %s", AUTO_NAME);
	return names;
}

static int open_with(const struct vmig_backend_ops *ops, const struct vmig__open_opts *opts,
		     struct vmig_ctx **ret, struct vmig_err *err)
{
	static const struct vmig__open_opts none;
	struct vmig_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = ops->open(&ctx->priv, opts ? opts : &none, err);
	if (r < 0) {
		free(ctx);
		return r;
	}
	ctx->ops = ops;
	ctx->fail_op = opts ? opts->fail_op : 0;
	*ret = ctx;
	return 0;
}

/*
 * Without an explicit choice, real GPUs win: the NVML backend is used when
 * the library loads and reports at least one GPU.  Anything else (no
 * library, no driver, no GPU) quietly falls back to the simulator, which
 * works on every machine.
 */
static int open_auto(const struct vmig__open_opts *opts, struct vmig_ctx **ret,
		     struct vmig_err *err)
{
	struct vmig_ctx *ctx = NULL;
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (open_with(&vmig__backend_nvml, opts, &ctx, NULL) == 0) {
		if (vmig_snapshot(ctx, st, NULL) == 0 && st->ngpu > 0) {
			*ret = ctx;
			return 0;
		}
		vmig_close(ctx);
	}
	return open_with(&vmig__backend_sim, opts, ret, err);
}

int vmig__open(const char *backend, const struct vmig__open_opts *opts, struct vmig_ctx **ret,
	       struct vmig_err *err)
{
	if (!backend || !*backend)
		backend = secure_getenv("VMIG_BACKEND");
	if (!backend || !*backend || strcasecmp(backend, AUTO_NAME) == 0)
		return open_auto(opts, ret, err);
	const struct vmig_backend_ops *ops = backend_by_name(backend);
	if (!ops)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "unknown backend '%s' (expected %s)", backend,
				    vmig_backend_names());
	return open_with(ops, opts, ret, err);
}

int vmig_open(const char *backend, struct vmig_ctx **ret, struct vmig_err *err)
{
	return vmig__open(backend, NULL, ret, err);
}

void vmig_close(struct vmig_ctx *ctx)
{
	if (!ctx)
		return;
	ctx->ops->close(ctx->priv);
	free(ctx);
}

const char *vmig_backend_name(const struct vmig_ctx *ctx)
{
	return ctx->ops->name;
}

int vmig_snapshot(struct vmig_ctx *ctx, struct vmig_state *ret, struct vmig_err *err)
{
	return ctx->ops->snapshot(ctx->priv, ret, err);
}

int vmig_can_change(struct vmig_ctx *ctx, struct vmig_err *err)
{
	return ctx->ops->can_change ? ctx->ops->can_change(ctx->priv, err) : 0;
}

int vmig_versions(struct vmig_ctx *ctx, struct vmig_versions *ret, struct vmig_err *err)
{
	if (ctx->ops->versions)
		return ctx->ops->versions(ctx->priv, ret, err);
	*ret = (struct vmig_versions){.driver = VMIG_SIM_DRIVER_VERSION,
				      .cuda = VMIG_SIM_CUDA_VERSION};
	return 0;
}

int vmig_hold(struct vmig_ctx *ctx, struct vmig_err *err)
{
	int r = ctx->ops->hold ? ctx->ops->hold(ctx->priv, true, false, err) : 0;
	if (r >= 0 && ctx->ops->hold)
		ctx->held = true;
	return r;
}

int vmig_release(struct vmig_ctx *ctx, bool commit, struct vmig_err *err)
{
	int r = ctx->ops->hold ? ctx->ops->hold(ctx->priv, false, commit, err) : 0;
	bool changed = ctx->held && ctx->changed;
	ctx->held = ctx->changed = false;
	if (r >= 0 && commit && changed)
		vmig__changed(NULL);
	return r;
}

int vmig_procs(struct vmig_ctx *ctx, struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err)
{
	*ret = NULL;
	*ret_n = 0;
	return ctx->ops->procs ? ctx->ops->procs(ctx->priv, ret, ret_n, err) : 0;
}

int vmig_set_owner(struct vmig_ctx *ctx, unsigned uid, unsigned gid, struct vmig_err *err)
{
	if (uid > VMIG_OWNER_ID_MAX || gid > VMIG_OWNER_ID_MAX)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "owner %u:%u: user and group IDs go up to %u", uid, gid,
				    VMIG_OWNER_ID_MAX);
	if (!(ctx->ops->caps & VMIG__CAP_OWNER))
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "the %s backend records no owners of GPU instances (on real "
				    "MIG the device nodes' permissions decide who may use one)",
				    ctx->ops->name);
	ctx->owner_set = true;
	ctx->owner_uid = uid;
	ctx->owner_gid = gid;
	return 0;
}

/* A new GI's owner: vmig_set_owner's, else the creating process's real user and group. */
static void fill_owner(const struct vmig_ctx *ctx, struct vmig__op *op)
{
	if (op->kind != VMIG_OP_CREATE_GI)
		return;
	op->owner_uid = ctx->owner_set ? ctx->owner_uid : (unsigned)getuid();
	op->owner_gid = ctx->owner_set ? ctx->owner_gid : (unsigned)getgid();
}

/* The checks every backend would make, then the backend's own apply. */
static int apply(struct vmig_ctx *ctx, struct vmig__op *op, struct vmig_err *err)
{
	if (op->gpu >= VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU %u not found", op->gpu);
	if (op->kind == VMIG_OP_MODE && op->mode > 1)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "MIG mode must be 0 or 1");
	if (op->kind == VMIG_OP_PERSISTENCE && op->mode > 1)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "persistence mode must be 0 or 1");
	if (op->kind == VMIG_OP_SHARE) {
		bool keep = op->policy == VMIG_SHARE_POLICY_KEEP;
		if ((op->share < 1 && keep) || op->share > 100)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "compute share must be 1-100 percent, not %u",
					    op->share);
		if (!keep && !vmig_share_policy_name(op->policy))
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "unknown share policy %d",
					    op->policy);
		if (!(ctx->ops->caps & VMIG__CAP_SHARE))
			return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
					    "the %s backend has no compute shares; they belong "
					    "to software partitions (--soft)",
					    ctx->ops->name);
	}
	if (ctx->fail_op && ++ctx->nchanges == ctx->fail_op)
		return vmig_err_set(err, VMIG_E_UNKNOWN, "operation %u failed (injected by a test)",
				    ctx->nchanges);
	fill_owner(ctx, op);
	int r = ctx->ops->apply(ctx->priv, op, err);
	if (r >= 0)
		done(ctx);
	return r;
}

int vmig__ctx_apply(struct vmig_ctx *ctx, struct vmig__op *op, struct vmig_err *err)
{
	return apply(ctx, op, err);
}

int vmig__ctx_apply_batch(struct vmig_ctx *ctx, uint64_t generation, struct vmig__op *ops, size_t n,
			  struct vmig_err *err)
{
	if (!ctx->ops->apply_batch)
		return 1;
	unsigned fail_at = 0;
	if (ctx->fail_op > ctx->nchanges && ctx->fail_op - ctx->nchanges <= n)
		fail_at = ctx->fail_op - ctx->nchanges;
	ctx->nchanges += (unsigned)n;
	for (size_t i = 0; i < n; i++)
		fill_owner(ctx, &ops[i]);
	int r = ctx->ops->apply_batch(ctx->priv, generation, ops, n, fail_at, err);
	if (r == 0)
		done(ctx);
	return r;
}

int vmig_set_mig_mode(struct vmig_ctx *ctx, unsigned gpu, unsigned mode, int *ret_activation,
		      struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_MODE, .gpu = gpu, .mode = mode};
	int r = apply(ctx, &op, err);
	if (r >= 0 && ret_activation)
		*ret_activation = op.activation;
	return r;
}

int vmig_set_persistence_mode(struct vmig_ctx *ctx, unsigned gpu, unsigned enabled,
			      struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_PERSISTENCE, .gpu = gpu, .mode = enabled};
	return apply(ctx, &op, err);
}

int vmig_gpu_reset(struct vmig_ctx *ctx, unsigned gpu, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_RESET, .gpu = gpu};
	return apply(ctx, &op, err);
}

int vmig_create_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned profile_id, const unsigned *start,
		   unsigned *ret_gi_id, struct vmig_err *err)
{
	struct vmig__op op = {
	    .kind = VMIG_OP_CREATE_GI, .gpu = gpu, .profile_id = profile_id, .start = start};
	int r = apply(ctx, &op, err);
	if (r >= 0 && ret_gi_id)
		*ret_gi_id = op.out_id;
	return r;
}

int vmig_destroy_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_DESTROY_GI, .gpu = gpu, .gi_id = gi_id};
	return apply(ctx, &op, err);
}

int vmig_create_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned ci_profile_id,
		   const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_CREATE_CI,
			      .gpu = gpu,
			      .gi_id = gi_id,
			      .profile_id = ci_profile_id,
			      .start = start};
	int r = apply(ctx, &op, err);
	if (r >= 0 && ret_ci_id)
		*ret_ci_id = op.out_id;
	return r;
}

int vmig_destroy_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned ci_id,
		    struct vmig_err *err)
{
	struct vmig__op op = {
	    .kind = VMIG_OP_DESTROY_CI, .gpu = gpu, .gi_id = gi_id, .ci_id = ci_id};
	return apply(ctx, &op, err);
}

int vmig_set_share(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned pct,
		   struct vmig_err *err)
{
	return vmig_set_compute(ctx, gpu, gi_id, pct, VMIG_SHARE_POLICY_KEEP, err);
}

int vmig_set_compute(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned pct, int policy,
		     struct vmig_err *err)
{
	struct vmig__op op = {
	    .kind = VMIG_OP_SHARE, .gpu = gpu, .gi_id = gi_id, .share = pct, .policy = policy};
	return apply(ctx, &op, err);
}
