/*
 * sim.c — the simulator backend: GPUs and instances live in the state store,
 * and every operation is one transaction (exclusive lock, read, change with
 * the placement engine, write) so that parallel commands see the driver's
 * semantics: each operation is atomic and none is lost.  The last part
 * gives the nvml backend what NVML cannot carry for the simulated GPUs that
 * vmig's own libnvidia-ml.so.1 serves: their "simulated" mark and their
 * reset (docs/backends.md).
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

static int sim_open(void **ret_priv, const struct vmig__open_opts *opts, struct vmig_err *err)
{
	struct vmig_store *store;
	int r = vmig_store_open(NULL, &store, err);
	if (r < 0)
		return r;
	*ret_priv = store;
	return 0;
}

static void sim_close(void *priv)
{
	vmig_store_close(priv);
}

static int sim_snapshot(void *priv, struct vmig_state *ret, struct vmig_err *err)
{
	return vmig_store_read(priv, ret, err);
}

/*
 * Hopper and newer switch MIG mode at once; Ampere records the new mode as
 * pending until the GPU is reset.  Turning MIG off while GPU instances exist
 * is refused, as the driver holds them.
 */
static int sim_set_mode(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	if (!(g->model->flags & VMIG_MF_MIG))
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	if (op->mode == 0 && g->ngi > 0)
		return vmig_err_set(err, VMIG_E_IN_USE, NULL);
	g->mig_pending = op->mode;
	if (g->model->flags & VMIG_MF_MODE_NEEDS_RESET) {
		op->activation = g->mig_pending == g->mig_current ? 0 : -VMIG_E_RESET_REQUIRED;
		return 0;
	}
	g->mig_current = op->mode;
	op->activation = 0;
	return 0;
}

/* A reset applies a pending mode; instances do not survive it. */
static int sim_reset(struct vmig_gpu_state *g)
{
	g->mig_current = g->mig_pending;
	g->ngi = 0;
	return 0;
}

static int sim_txn_apply(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct vmig__op *op = arg;
	struct vmig_gpu_state *g;
	int r = vmig__op_gpu(st, op, &g, err);
	if (r < 0)
		return r;
	switch (op->kind) {
	case VMIG_OP_MODE:
		return sim_set_mode(g, op, err);
	case VMIG_OP_RESET:
		return sim_reset(g);
	case VMIG_OP_SHARE: /* ctx.c refuses it: the simulator has no shares */
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	default:
		return vmig__op_apply(g, op, err);
	}
}

/* Either all of the operation is written or nothing; results reach op only on success. */
static int sim_apply(void *priv, struct vmig__op *op, struct vmig_err *err)
{
	struct vmig__op work = *op;
	int r = vmig__store_transact(priv, sim_txn_apply, &work, NULL, err);
	if (r >= 0)
		*op = work;
	return r;
}

/* A layout's operations (lib/layout.c): one transaction for all of them. */
struct sim_batch {
	uint64_t generation;
	struct vmig__op *ops;
	size_t n;
	unsigned fail_at;
};

static int sim_txn_batch(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct sim_batch *b = arg;
	for (size_t i = 0; i < b->n; i++) {
		int r = vmig__batch_check(st, b->generation, i, b->fail_at, err);
		if (r >= 0)
			r = sim_txn_apply(st, &b->ops[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sim_apply_batch(void *priv, uint64_t generation, struct vmig__op *ops, size_t n,
			   unsigned fail_at, struct vmig_err *err)
{
	struct sim_batch b = {.generation = generation, .ops = ops, .n = n, .fail_at = fail_at};
	return vmig__store_transact(priv, sim_txn_batch, &b, NULL, err);
}

const struct vmig_backend_ops vmig__backend_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .snapshot = sim_snapshot,
    .apply = sim_apply,
    .apply_batch = sim_apply_batch,
};

/* ------------------------------------------------------------------------ */
/* Simulated GPUs seen through NVML                                         */
/* ------------------------------------------------------------------------ */

static int simulated_index(const struct vmig_state *sim, const char *uuid)
{
	for (unsigned i = 0; i < sim->ngpu; i++)
		if ((sim->gpu[i].flags & VMIG_GPU_SIMULATED) && strcmp(sim->gpu[i].uuid, uuid) == 0)
			return (int)i;
	return -1;
}

void vmig__sim_mark(struct vmig_store *store, struct vmig_state *st)
{
	_cleanup_free_ struct vmig_state *sim = malloc(sizeof(*sim));
	if (!sim || vmig_store_read(store, sim, NULL) < 0)
		return;
	for (unsigned i = 0; i < st->ngpu; i++)
		if (simulated_index(sim, st->gpu[i].uuid) >= 0)
			st->gpu[i].flags |= VMIG_GPU_SIMULATED;
}

static int reset_by_uuid(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	int i = simulated_index(st, arg);
	if (i < 0)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "resetting a GPU is not supported through NVML");
	return sim_reset(&st->gpu[i]);
}

int vmig__sim_reset(struct vmig_store *store, const char *uuid, struct vmig_err *err)
{
	return vmig__store_transact(store, reset_by_uuid, (void *)uuid, NULL, err);
}
