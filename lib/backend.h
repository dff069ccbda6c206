/*
 * backend.h — the contract between libvmig's context (lib/ctx.c) and its
 * backends (lib/backend/), described in docs/backends.md.
 *
 * A backend is a const table of four operations: open, close, snapshot and
 * apply.  Every change a front end asks for becomes one struct vmig__op,
 * built by lib/ctx.c, which also makes the checks that hold for every
 * backend (the MIG mode is 0 or 1, the GPU index is below VMIG_MAX_GPUS, a
 * compute share is 1-100 and only offered by a backend that has shares)
 * before any backend sees the operation.  Each backend then switches on the
 * operation's kind.  Whether the GPU index names a GPU is checked by the
 * backend, against the GPU set it reads inside the same lock as the change
 * (vmig__gpu_check), since another process may add or remove simulated GPUs
 * between any earlier check and the change.
 *
 * The second half declares what the backends share: the store transaction
 * and the instance operations on one GPU record (lib/backend/txn.c), and the
 * two store functions the nvml backend uses for simulated GPUs
 * (lib/backend/sim.c).
 */
#ifndef VMIG_BACKEND_H
#define VMIG_BACKEND_H

#include "vmig/vmig.h"

enum vmig__op_kind {
	VMIG_OP_MODE,	     /* set the MIG mode to op->mode; op->activation out */
	VMIG_OP_RESET,	     /* reset the GPU: a pending mode takes effect */
	VMIG_OP_CREATE_GI,   /* profile_id, start (NULL = the driver's choice); out_id */
	VMIG_OP_DESTROY_GI,  /* gi_id */
	VMIG_OP_CREATE_CI,   /* gi_id, profile_id (a CI profile), start; out_id */
	VMIG_OP_DESTROY_CI,  /* gi_id, ci_id */
	VMIG_OP_SHARE,	     /* gi_id, share (1-100; 0 keeps it), policy (-1 keeps it) */
	VMIG_OP_PERSISTENCE, /* persistence mode to op->mode (0 or 1) */
};

/* One operation on one GPU, with its arguments and results. */
struct vmig__op {
	enum vmig__op_kind kind;
	unsigned gpu; /* index in the backend's snapshot order */
	unsigned mode, profile_id, gi_id, ci_id, share;
	int policy; /* SHARE: enum vmig_share_policy, or VMIG_SHARE_POLICY_KEEP */
	const unsigned *start;
	unsigned out_id; /* the new GI or CI ID */
	/* CREATE_GI: the new GI's owner (vmig_set_owner; lib/ctx.c fills it in) */
	unsigned owner_uid, owner_gid;
	int activation; /* MODE: 0 at once, or why it is pending (vmig_set_mig_mode) */
};

struct vmig_backend_ops;

/* What a backend may be given when it opens; every field may be left zero. */
struct vmig__open_opts {
	/*
	 * soft: the backend whose GPUs it partitions.  NULL means the real
	 * GPUs (the nvml backend); the unit tests give it the simulator.
	 */
	const struct vmig_backend_ops *hw;
	/*
	 * Tests: the fail_op-th change made through the context (1-based,
	 * counting each operation of a batch) fails with UNKNOWN, inside the
	 * batch's transaction or before the backend sees it (lib/ctx.c); 0:
	 * never.  How the transaction tests inject a failure at every step.
	 */
	unsigned fail_op;
};

enum vmig__backend_caps {
	VMIG__CAP_SHARE = 1u << 0, /* compute shares of GIs (VMIG_OP_SHARE) */
	VMIG__CAP_OWNER = 1u << 1, /* GI owners are recorded (vmig_set_owner) */
};

struct vmig_backend_ops {
	const char *name;
	unsigned caps; /* enum vmig__backend_caps */
	/* Open the backend's private context; -VMIG_E_* with a message if unusable. */
	int (*open)(void **ret_priv, const struct vmig__open_opts *opts, struct vmig_err *err);
	/* Release it; accepts NULL. */
	void (*close)(void *priv);
	/* Everything the backend knows now: GPUs, modes, GIs, CIs. */
	int (*snapshot)(void *priv, struct vmig_state *ret, struct vmig_err *err);
	/* Carry out one operation; results go into *op only on success. */
	int (*apply)(void *priv, struct vmig__op *op, struct vmig_err *err);
	/* Processes on the GPUs (vmig_procs); NULL: the backend cannot tell (an empty list). */
	int (*procs)(void *priv, struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err);
	/* May this process change the GPUs (vmig_can_change)?  NULL: each change decides. */
	int (*can_change)(void *priv, struct vmig_err *err);
	/* The driver's versions (vmig_versions); NULL: the simulator's. */
	int (*versions)(void *priv, struct vmig_versions *ret, struct vmig_err *err);
	/*
	 * Carry out ops[0..n) as one change, all of them or none, on a state
	 * whose generation is still `generation` (else INVALID_STATE, nothing
	 * done).  fail_at (1-based; 0 none) makes that operation fail: the
	 * test hook of fail_op.  NULL: the backend has no transaction, and
	 * layouts are applied one operation at a time with undo (lib/layout.c).
	 */
	int (*apply_batch)(void *priv, uint64_t generation, struct vmig__op *ops, size_t n,
			   unsigned fail_at, struct vmig_err *err);
	/*
	 * vmig_hold / vmig_release: on, keep the backend's state locked and in
	 * memory so that the operations that follow commit once; off, write
	 * them (commit) or drop them.  NULL: every operation is its own change.
	 */
	int (*hold)(void *priv, bool on, bool commit, struct vmig_err *err);
};

extern const struct vmig_backend_ops vmig__backend_sim;
extern const struct vmig_backend_ops vmig__backend_nvml;
extern const struct vmig_backend_ops vmig__backend_soft;

/*
 * vmig_open with options for the backend: how tests layer the soft backend
 * on the simulator.  opts may be NULL.
 */
int vmig__open(const char *backend, const struct vmig__open_opts *opts, struct vmig_ctx **ret,
	       struct vmig_err *err);

/*
 * lib/ctx.c, for lib/layout.c: one change through the context's checks
 * (and the fail_op hook); a batch, or 1 when the backend has none.
 */
int vmig__ctx_apply(struct vmig_ctx *ctx, struct vmig__op *op, struct vmig_err *err);
int vmig__ctx_apply_batch(struct vmig_ctx *ctx, uint64_t generation, struct vmig__op *ops, size_t n,
			  struct vmig_err *err);

/* ---- lib/backend/txn.c: shared by the backends over a state store ---- */

/* A change to a whole state; a negative result aborts the transaction. */
typedef int (*vmig__txn_fn)(struct vmig_state *st, void *arg, struct vmig_err *err);
/*
 * Lock, read, run fn, and commit what it changed (or abort when it fails).
 * *ret_committed (may be NULL) gets the state as committed, on success only.
 */
int vmig__store_transact(struct vmig_store *store, vmig__txn_fn fn, void *arg,
			 struct vmig_state *ret_committed, struct vmig_err *err);
/*
 * May this process change the store (vmig_can_change)?  Write access to its
 * directory, or to the nearest one above it that exists; else NO_PERMISSION.
 */
int vmig__store_can_change(struct vmig_store *store, struct vmig_err *err);
/* NOT_FOUND ("GPU N not found") unless gpu < ngpu: the one check of a GPU index. */
int vmig__gpu_check(unsigned ngpu, unsigned gpu, struct vmig_err *err);
/* The GPU record op->gpu names in st (vmig__gpu_check). */
int vmig__op_gpu(struct vmig_state *st, const struct vmig__op *op, struct vmig_gpu_state **ret_gpu,
		 struct vmig_err *err);
/*
 * Apply a GI/CI operation (CREATE_GI ... SHARE) to one GPU record with the
 * driver's semantics: NOT_SUPPORTED while MIG is off, INVALID_ARGUMENT for
 * a profile the model lacks, and the placement engine's errors.  MODE and
 * RESET differ between backends and are theirs to apply.
 */
int vmig__op_apply(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err);
/*
 * A batch's checks inside its transaction: st is still at generation, and
 * operation i (0-based) is not the one fail_at names; 0 or a set error.
 */
int vmig__batch_check(const struct vmig_state *st, uint64_t generation, size_t i, unsigned fail_at,
		      struct vmig_err *err);

/* ---- lib/backend/sim.c: simulated GPUs for the nvml backend ---- */

/*
 * Mark the GPUs of st (as NVML reports them) that are simulated GPUs of the
 * store: their records carry VMIG_GPU_SIMULATED and the same UUID.  Reads
 * the store once; a store that cannot be read marks nothing.
 */
void vmig__sim_mark(struct vmig_store *store, struct vmig_state *st);
/*
 * Reset the simulated GPU whose UUID is uuid, as the simulator does
 * (NVML has no reset).  NOT_SUPPORTED when the store has no such GPU.
 */
int vmig__sim_reset(struct vmig_store *store, const char *uuid, struct vmig_err *err);

/*
 * The MIG mode change of MODE on one simulated GPU record g (index gpu),
 * given the processes on the GPUs (procs, n) and the caller's own pid
 * (self), whose own hold never counts: the rules of docs/backends.md
 * ("MIG mode changes").  Pure: it changes only *g and *op (activation).
 */
int vmig__sim_mode_change(struct vmig_gpu_state *g, struct vmig__op *op,
			  const struct vmig_proc *procs, size_t n, int32_t self,
			  struct vmig_err *err);

/* ---- lib/backend/soft.c: what the hardware backends ask of it ---- */

/*
 * Each GPU is owned by one kind of MIG at a time: OTHER_OWNER, with the way
 * out, when the soft store has software partitions (soft MIG on) for GPU g
 * (index gpu, for the message); 0 otherwise, also when there is no soft
 * store to read.
 */
int vmig__soft_owns(const struct vmig_gpu_state *g, unsigned gpu, struct vmig_err *err);
/*
 * Before a simulated GPU goes (sim remove, sim reset): IN_USE, naming the
 * way out, when the soft store has a record for it; vmig__soft_forget then
 * drops the records of the uuids (a NULL-terminated list) and their
 * accounting files, for --force.
 */
int vmig__soft_check_gone(const char *gpu_uuid, unsigned gpu, struct vmig_err *err);
int vmig__soft_forget(const char *const *uuids, struct vmig_err *err);

/* ---- lib/users.c: who uses the simulated GPUs ---- */

/*
 * The processes on the simulated GPUs of st whose users are recorded in the
 * store's directory (vmig_procs of the sim backend); *ret malloc'ed.
 */
int vmig__sim_procs(struct vmig_store *store, const struct vmig_state *st, struct vmig_proc **ret,
		    size_t *ret_n, struct vmig_err *err);

#endif
