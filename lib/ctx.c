/*
 * ctx.c — the context the command line and other front ends work through.
 * It picks a backend (explicitly, from $VMIG_BACKEND, or NVML when a real
 * driver reports GPUs, else the simulator) and forwards each operation to its
 * ops table, so front ends are written once for every kind of device.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "internal.h"

struct vmig_ctx {
	const struct vmig_backend_ops *ops;
	void *priv;
};

static const struct vmig_backend_ops *const backends[] = {
    &vmig__backend_sim,
    &vmig__backend_nvml,
    &vmig__backend_soft,
};

static const struct vmig_backend_ops *backend_by_name(const char *name)
{
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(backends); i++)
		if (strcasecmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

static int open_with(const struct vmig_backend_ops *ops, struct vmig_ctx **ret,
		     struct vmig_err *err)
{
	struct vmig_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = ops->open(&ctx->priv, err);
	if (r < 0) {
		free(ctx);
		return r;
	}
	ctx->ops = ops;
	*ret = ctx;
	return 0;
}

/*
 * Without an explicit choice, real GPUs win: the NVML backend is used when
 * the library loads and reports at least one GPU.  Anything else (no
 * library, no driver, no GPU) quietly falls back to the simulator, which
 * works on every machine.
 */
static int open_auto(struct vmig_ctx **ret, struct vmig_err *err)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (open_with(&vmig__backend_nvml, &ctx, NULL) == 0) {
		if (vmig_snapshot(ctx, st, NULL) == 0 && st->ngpu > 0) {
			free(st);
			*ret = ctx;
			return 0;
		}
		vmig_close(ctx);
	}
	free(st);
	return open_with(&vmig__backend_sim, ret, err);
}

int vmig_open(const char *backend, struct vmig_ctx **ret, struct vmig_err *err)
{
	if (!backend || !*backend)
		backend = secure_getenv("VMIG_BACKEND");
	if (!backend || !*backend || strcasecmp(backend, "auto") == 0)
		return open_auto(ret, err);
	const struct vmig_backend_ops *ops = backend_by_name(backend);
	if (!ops)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "unknown backend '%s' (expected sim, nvml, soft or auto)",
				    backend);
	return open_with(ops, ret, err);
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

int vmig_set_mig_mode(struct vmig_ctx *ctx, unsigned gpu, unsigned mode, int *ret_activation,
		      struct vmig_err *err)
{
	if (mode > 1)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "MIG mode must be 0 or 1");
	int activation = 0;
	int r = ctx->ops->set_mig_mode(ctx->priv, gpu, mode, &activation, err);
	if (r >= 0 && ret_activation)
		*ret_activation = activation;
	return r;
}

int vmig_gpu_reset(struct vmig_ctx *ctx, unsigned gpu, struct vmig_err *err)
{
	return ctx->ops->gpu_reset(ctx->priv, gpu, err);
}

int vmig_create_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned profile_id, const unsigned *start,
		   unsigned *ret_gi_id, struct vmig_err *err)
{
	unsigned id;
	int r = ctx->ops->create_gi(ctx->priv, gpu, profile_id, start, &id, err);
	if (r >= 0 && ret_gi_id)
		*ret_gi_id = id;
	return r;
}

int vmig_destroy_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, struct vmig_err *err)
{
	return ctx->ops->destroy_gi(ctx->priv, gpu, gi_id, err);
}

int vmig_create_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned ci_profile_id,
		   const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err)
{
	unsigned id;
	int r = ctx->ops->create_ci(ctx->priv, gpu, gi_id, ci_profile_id, start, &id, err);
	if (r >= 0 && ret_ci_id)
		*ret_ci_id = id;
	return r;
}

int vmig_destroy_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned ci_id,
		    struct vmig_err *err)
{
	return ctx->ops->destroy_ci(ctx->priv, gpu, gi_id, ci_id, err);
}

int vmig_set_share(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned pct,
		   struct vmig_err *err)
{
	if (pct < 1 || pct > 100)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "compute share must be 1-100 percent, not %u", pct);
	if (!ctx->ops->set_share)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "the %s backend has no compute shares; they belong to software "
				    "partitions (--soft)",
				    ctx->ops->name);
	return ctx->ops->set_share(ctx->priv, gpu, gi_id, pct, err);
}
