/*
 * backend.h — the operations every backend provides (DESIGN §2).  A backend
 * is a const table of these; lib/ctx.c is the only caller and keeps the
 * checks that apply to all of them (MIG mode and compute share in range,
 * outputs written only on success) in one place.  The GPU index is each
 * backend's to check, against the GPU set it reads.
 */
#ifndef VMIG_BACKEND_H
#define VMIG_BACKEND_H

#include "vmig/vmig.h"

struct vmig_backend_ops {
	const char *name;
	/* Open the backend's private context; -VMIG_E_* with a message if unusable. */
	int (*open)(void **ret_priv, struct vmig_err *err);
	void (*close)(void *priv);
	int (*snapshot)(void *priv, struct vmig_state *ret, struct vmig_err *err);
	int (*set_mig_mode)(void *priv, unsigned gpu, unsigned mode, int *ret_activation,
			    struct vmig_err *err);
	int (*gpu_reset)(void *priv, unsigned gpu, struct vmig_err *err);
	int (*create_gi)(void *priv, unsigned gpu, unsigned profile_id, const unsigned *start,
			 unsigned *ret_gi_id, struct vmig_err *err);
	int (*destroy_gi)(void *priv, unsigned gpu, unsigned gi_id, struct vmig_err *err);
	int (*create_ci)(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_profile_id,
			 const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err);
	int (*destroy_ci)(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_id,
			  struct vmig_err *err);
	/* Compute share of a GI, 1-100 (software partitions); NULL = not supported. */
	int (*set_share)(void *priv, unsigned gpu, unsigned gi_id, unsigned pct,
			 struct vmig_err *err);
};

extern const struct vmig_backend_ops vmig__backend_sim;
extern const struct vmig_backend_ops vmig__backend_nvml;
extern const struct vmig_backend_ops vmig__backend_soft;
/* The devices the soft backend partitions (nvml; unit tests use the simulator). */
extern const struct vmig_backend_ops *vmig__soft_hw;

/* ---- lib/backend/txn.c: shared by the backends over a state store ---- */

enum vmig__op_kind {
	VMIG_OP_MODE,
	VMIG_OP_RESET,
	VMIG_OP_CREATE_GI,
	VMIG_OP_DESTROY_GI,
	VMIG_OP_CREATE_CI,
	VMIG_OP_DESTROY_CI,
	VMIG_OP_SHARE,
};

/* One operation on one GPU, with its arguments and results. */
struct vmig__op {
	enum vmig__op_kind kind;
	unsigned mode, profile_id, gi_id, ci_id, share;
	const unsigned *start;
	unsigned out_id;
	int activation;
};

/* A change to a whole state; a negative result aborts the transaction. */
typedef int (*vmig__txn_fn)(struct vmig_state *st, void *arg, struct vmig_err *err);
/* Lock, read, run fn, and commit what it changed (or abort when it fails). */
int vmig__store_transact(struct vmig_store *store, vmig__txn_fn fn, void *arg,
			 struct vmig_err *err);
/*
 * Apply a GI/CI operation (CREATE_GI ... SHARE) to one GPU record with the
 * driver's semantics: NOT_SUPPORTED while MIG is off, INVALID_ARGUMENT for
 * a profile the model lacks, and the placement engine's errors.  MODE and
 * RESET differ between backends and are theirs to apply.
 */
int vmig__op_apply(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err);

#endif
