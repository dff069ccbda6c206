/*
 * sim.c — the simulator backend: GPUs and instances live in the state store,
 * and every change is one transaction (exclusive lock, read, change with the
 * placement engine, write) so that parallel commands see the driver's
 * semantics: each operation is atomic and none is lost.
 */
#include "backend.h"
#include "internal.h"

static int sim_open(void **ret_priv, struct vmig_err *err)
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

static int sim_apply(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	switch (op->kind) {
	case VMIG_OP_MODE:
		return sim_set_mode(g, op, err);
	case VMIG_OP_RESET:
		return sim_reset(g);
	default:
		return vmig__op_apply(g, op, err);
	}
}

/* One operation on GPU gpu of the state, for vmig__store_transact. */
struct sim_txn {
	unsigned gpu;
	struct vmig__op *op;
};

static int sim_txn_apply(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct sim_txn *t = arg;
	if (t->gpu >= st->ngpu)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU %u not found", t->gpu);
	return sim_apply(&st->gpu[t->gpu], t->op, err);
}

/* Run one operation on one GPU as a transaction: either all of it is written or nothing. */
static int sim_transact(void *priv, unsigned gpu, struct vmig__op *op, struct vmig_err *err)
{
	struct sim_txn t = {.gpu = gpu, .op = op};
	return vmig__store_transact(priv, sim_txn_apply, &t, err);
}

static int sim_set_mig_mode(void *priv, unsigned gpu, unsigned mode, int *ret_activation,
			    struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_MODE, .mode = mode};
	int r = sim_transact(priv, gpu, &op, err);
	if (r >= 0)
		*ret_activation = op.activation;
	return r;
}

static int sim_gpu_reset(void *priv, unsigned gpu, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_RESET};
	return sim_transact(priv, gpu, &op, err);
}

static int sim_create_gi_op(void *priv, unsigned gpu, unsigned profile_id, const unsigned *start,
			    unsigned *ret_gi_id, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_CREATE_GI, .profile_id = profile_id, .start = start};
	int r = sim_transact(priv, gpu, &op, err);
	if (r >= 0)
		*ret_gi_id = op.out_id;
	return r;
}

static int sim_destroy_gi_op(void *priv, unsigned gpu, unsigned gi_id, struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_DESTROY_GI, .gi_id = gi_id};
	return sim_transact(priv, gpu, &op, err);
}

static int sim_create_ci_op(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_profile_id,
			    const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err)
{
	struct vmig__op op = {
	    .kind = VMIG_OP_CREATE_CI, .gi_id = gi_id, .profile_id = ci_profile_id, .start = start};
	int r = sim_transact(priv, gpu, &op, err);
	if (r >= 0)
		*ret_ci_id = op.out_id;
	return r;
}

static int sim_destroy_ci_op(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_id,
			     struct vmig_err *err)
{
	struct vmig__op op = {.kind = VMIG_OP_DESTROY_CI, .gi_id = gi_id, .ci_id = ci_id};
	return sim_transact(priv, gpu, &op, err);
}

const struct vmig_backend_ops vmig__backend_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .snapshot = sim_snapshot,
    .set_mig_mode = sim_set_mig_mode,
    .gpu_reset = sim_gpu_reset,
    .create_gi = sim_create_gi_op,
    .destroy_gi = sim_destroy_gi_op,
    .create_ci = sim_create_ci_op,
    .destroy_ci = sim_destroy_ci_op,
};
