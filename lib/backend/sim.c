/*
 * sim.c — the simulator backend: GPUs and instances live in the state store,
 * and every operation is one transaction (exclusive lock, read, change with
 * the placement engine, write) so that parallel commands see the driver's
 * semantics: each operation is atomic and none is lost.  The last part
 * gives the nvml backend what NVML cannot carry for the simulated GPUs that
 * vmig's own libnvidia-ml.so.1 serves: their "simulated" mark and their
 * reset (docs/backends.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
 * Another process holds GPU gpu: an NVML client (it holds the whole GPU) or
 * a program started with `vmig run` in one of its instances.  The caller's
 * own hold (self) does not count: a process that has vmig's NVML library
 * initialised changes the mode through it.
 */
static const struct vmig_proc *held_by_other(const struct vmig_proc *procs, size_t n, unsigned gpu,
					     int32_t self)
{
	for (size_t i = 0; i < n; i++)
		if (procs[i].gpu == gpu && procs[i].pid != self &&
		    (procs[i].kind == VMIG_PROC_NVML || procs[i].kind == VMIG_PROC_RUN))
			return &procs[i];
	return NULL;
}

/*
 * The driver's rules (docs/backends.md, "MIG mode changes"): a mode that is
 * already current needs nothing (a pending change is dropped).  Ampere needs
 * a GPU reset, which the driver does at once unless another process holds
 * the GPU (pending, IN_USE) or the GPU sits in a VM that may not reset it
 * (pending, NOT_SUPPORTED).  Hopper and later need no reset, so another
 * process on the GPU makes the change fail.  Turning MIG off while GPU
 * instances exist is refused, as the driver holds them.
 */
int vmig__sim_mode_change(struct vmig_gpu_state *g, struct vmig__op *op,
			  const struct vmig_proc *procs, size_t n, int32_t self,
			  struct vmig_err *err)
{
	if (!g->model || !(g->model->flags & VMIG_MF_MIG))
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, "GPU %u has no MIG: %m", op->gpu);
	if (op->mode == 0 && g->ngi > 0)
		return vmig_err_set(err, VMIG_E_IN_USE, "GPU %u holds %u GPU instance%s: %m",
				    op->gpu, g->ngi, g->ngi == 1 ? "" : "s");
	op->activation = 0;
	if (op->mode == g->mig_current) {
		g->mig_pending = op->mode;
		return 0;
	}
	const struct vmig_proc *holder = held_by_other(procs, n, op->gpu, self);
	if (g->model->flags & VMIG_MF_MODE_NEEDS_RESET) {
		if (holder || (g->flags & VMIG_GPU_VM)) {
			g->mig_pending = op->mode;
			op->activation = holder ? -VMIG_E_IN_USE : -VMIG_E_NOT_SUPPORTED;
			return 0;
		}
	} else if (holder) {
		return vmig_err_set(err, VMIG_E_IN_USE, "GPU %u is used by process %d: %m", op->gpu,
				    (int)holder->pid);
	}
	g->mig_current = g->mig_pending = op->mode;
	return 0;
}

/*
 * A reset applies a pending mode; instances do not survive it.  A GPU in a
 * VM without the right to reset it, or one that another process holds,
 * cannot be reset.
 */
static int sim_reset(struct vmig_gpu_state *g, unsigned gpu, const struct vmig_proc *procs,
		     size_t n, struct vmig_err *err)
{
	const struct vmig_proc *holder = held_by_other(procs, n, gpu, (int32_t)getpid());
	if (g->flags & VMIG_GPU_VM)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "GPU %u is in a VM that may not reset it: %m", gpu);
	if (holder)
		return vmig_err_set(err, VMIG_E_IN_USE, "GPU %u is used by process %d: %m", gpu,
				    (int)holder->pid);
	g->mig_current = g->mig_pending;
	g->ngi = 0;
	return 0;
}

static int set_persistence(struct vmig_gpu_state *g, unsigned enabled)
{
	if (enabled)
		g->flags &= ~(unsigned)VMIG_GPU_NO_PERSISTENCE;
	else
		g->flags |= VMIG_GPU_NO_PERSISTENCE;
	return 0;
}

/* What a transaction of the simulator works with: the operation and the store it runs on. */
struct sim_txn {
	struct vmig__op *op;
	struct vmig_store *store;
};

/* The processes on the GPUs of st (the registry of lib/users.c), for MODE and RESET. */
static int sim_procs_of(struct vmig_store *store, const struct vmig_state *st,
			struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err)
{
	*ret = NULL;
	*ret_n = 0;
	return vmig__sim_procs(store, st, ret, ret_n, err);
}

/*
 * The driver refuses to destroy a GI or CI that processes run on ("In use
 * by another client"): so do we, for the programs `vmig run` started in a
 * simulated instance (the registry).  A CI is busy when a process runs on
 * it, a GI when a process runs on any of its CIs.
 */
static int refuse_busy(const struct vmig__op *op, const struct vmig_proc *procs, size_t n,
		       struct vmig_err *err)
{
	bool ci = op->kind == VMIG_OP_DESTROY_CI;
	for (size_t i = 0; i < n; i++) {
		const struct vmig_proc *p = &procs[i];
		if (p->kind != VMIG_PROC_RUN || p->gpu != op->gpu || p->gi != op->gi_id ||
		    p->pid == (int32_t)getpid() || (ci && p->ci != op->ci_id))
			continue;
		if (ci)
			return vmig_err_set(
			    err, VMIG_E_IN_USE,
			    "compute instance %u of GPU instance %u: process %d runs "
			    "on it",
			    op->ci_id, op->gi_id, (int)p->pid);
		return vmig_err_set(err, VMIG_E_IN_USE,
				    "GPU instance %u: process %d runs on compute instance %u of it",
				    op->gi_id, (int)p->pid, p->ci);
	}
	return 0;
}

static int sim_txn_apply(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct sim_txn *t = arg;
	struct vmig__op *op = t->op;
	struct vmig_gpu_state *g;
	_cleanup_free_ struct vmig_proc *procs = NULL;
	size_t n = 0;
	int r = vmig__op_gpu(st, op, &g, err);
	if (r < 0)
		return r;
	switch (op->kind) {
	case VMIG_OP_MODE:
		if (op->mode == 1 && !g->mig_current && (r = vmig__soft_owns(g, op->gpu, err)) < 0)
			return r;
		if ((r = sim_procs_of(t->store, st, &procs, &n, err)) < 0)
			return r;
		return vmig__sim_mode_change(g, op, procs, n, (int32_t)getpid(), err);
	case VMIG_OP_RESET:
		if ((r = sim_procs_of(t->store, st, &procs, &n, err)) < 0)
			return r;
		return sim_reset(g, op->gpu, procs, n, err);
	case VMIG_OP_PERSISTENCE:
		return set_persistence(g, op->mode);
	case VMIG_OP_SHARE: /* ctx.c refuses it: the simulator has no shares */
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	case VMIG_OP_DESTROY_GI:
	case VMIG_OP_DESTROY_CI:
		if ((r = sim_procs_of(t->store, st, &procs, &n, err)) < 0 ||
		    (r = refuse_busy(op, procs, n, err)) < 0)
			return r;
		return vmig__op_apply(g, op, err);
	default:
		return vmig__op_apply(g, op, err);
	}
}

/* Either all of the operation is written or nothing; results reach op only on success. */
static int sim_apply(void *priv, struct vmig__op *op, struct vmig_err *err)
{
	struct vmig__op work = *op;
	struct sim_txn t = {.op = &work, .store = priv};
	int r = vmig__store_transact(priv, sim_txn_apply, &t, NULL, err);
	if (r >= 0)
		*op = work;
	return r;
}

/* A change needs write access to the state directory (vmig__store_can_change). */
static int sim_can_change(void *priv, struct vmig_err *err)
{
	return vmig__store_can_change(priv, err);
}

/* The registry of users of the simulated GPUs (lib/users.c), against the GPUs of now. */
static int sim_procs(void *priv, struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err)
{
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_store_read(priv, st, err);
	return r < 0 ? r : vmig__sim_procs(priv, st, ret, ret_n, err);
}

/* A layout's operations (lib/layout.c): one transaction for all of them. */
struct sim_batch {
	struct vmig_store *store;
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
		struct sim_txn t = {.op = &b->ops[i], .store = b->store};
		if (r >= 0)
			r = sim_txn_apply(st, &t, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sim_apply_batch(void *priv, uint64_t generation, struct vmig__op *ops, size_t n,
			   unsigned fail_at, struct vmig_err *err)
{
	struct sim_batch b = {
	    .store = priv, .generation = generation, .ops = ops, .n = n, .fail_at = fail_at};
	return vmig__store_transact(priv, sim_txn_batch, &b, NULL, err);
}

static int sim_hold(void *priv, bool on, bool commit, struct vmig_err *err)
{
	return on ? vmig__store_hold(priv, err) : vmig__store_release(priv, commit, err);
}

const struct vmig_backend_ops vmig__backend_sim = {
    .name = "sim",
    .caps = VMIG__CAP_OWNER,
    .can_change = sim_can_change,
    .open = sim_open,
    .close = sim_close,
    .snapshot = sim_snapshot,
    .apply = sim_apply,
    .procs = sim_procs,
    .apply_batch = sim_apply_batch,
    .hold = sim_hold,
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

struct reset_txn {
	struct vmig_store *store;
	const char *uuid;
};

static int reset_by_uuid(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	const struct reset_txn *t = arg;
	_cleanup_free_ struct vmig_proc *procs = NULL;
	size_t n = 0;
	int i = simulated_index(st, t->uuid), r;
	if (i < 0)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "resetting a GPU is not supported through NVML");
	if ((r = sim_procs_of(t->store, st, &procs, &n, err)) < 0)
		return r;
	return sim_reset(&st->gpu[i], (unsigned)i, procs, n, err);
}

int vmig__sim_reset(struct vmig_store *store, const char *uuid, struct vmig_err *err)
{
	struct reset_txn t = {.store = store, .uuid = uuid};
	return vmig__store_transact(store, reset_by_uuid, &t, NULL, err);
}
