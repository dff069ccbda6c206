/*
 * txn.c — what the backends whose instances live in a state store (sim and
 * soft) share: a transaction that runs one change on the state under the
 * store's exclusive lock (either all of it is written or nothing), and the
 * GPU- and compute-instance operations on one GPU record with the driver's
 * semantics, so both backends behave alike by construction; and the one
 * check of a GPU index against the GPUs a backend has.
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

int vmig__store_transact(struct vmig_store *store, vmig__txn_fn fn, void *arg,
			 struct vmig_state *ret_committed, struct vmig_err *err)
{
	struct vmig_state *st = vmig__store_work(store);
	if (!st && !(st = malloc(sizeof(*st))))
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	struct vmig_state *held = vmig__store_held(store);
	if (held) {
		/* Under a hold: on a copy, kept only if the whole change worked. */
		memcpy(st, held, sizeof(*st));
		int r = fn(st, arg, err);
		if (r >= 0) {
			memcpy(held, st, sizeof(*st));
			vmig__store_touch(store);
		}
		if (r >= 0 && ret_committed)
			memcpy(ret_committed, st, sizeof(*st));
		vmig__store_work_done(store, st);
		return r;
	}
	int r = vmig_store_begin(store, st, err);
	if (r < 0)
		goto out;
	r = fn(st, arg, err);
	if (r < 0)
		vmig_store_abort(store);
	else
		r = vmig_store_commit(store, st, err);
	if (r >= 0 && ret_committed)
		memcpy(ret_committed, st, sizeof(*st));
out:
	vmig__store_work_done(store, st);
	return r;
}

int vmig__gpu_check(unsigned ngpu, unsigned gpu, struct vmig_err *err)
{
	return gpu < ngpu ? 0 : vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU %u not found", gpu);
}

int vmig__op_gpu(struct vmig_state *st, const struct vmig__op *op, struct vmig_gpu_state **ret_gpu,
		 struct vmig_err *err)
{
	int r = vmig__gpu_check(st->ngpu, op->gpu, err);
	if (r < 0)
		return r;
	*ret_gpu = &st->gpu[op->gpu];
	return 0;
}

static int create_gi(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, op->profile_id);
	if (!gp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	int r = vmig_gpu_create_gi(g, gp, op->start, &op->out_id, err);
	struct vmig_gi_state *gi = r < 0 ? NULL : vmig_gpu_find_gi(g, op->out_id);
	if (gi) {
		gi->owned = true;
		gi->owner_uid = op->owner_uid;
		gi->owner_gid = op->owner_gid;
	}
	return r;
}

static int create_ci(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, op->gi_id);
	if (!gi)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, NULL);
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, gi->profile_id);
	const struct vmig_ci_profile *cp = gp ? vmig_ci_profile_by_id(gp, op->profile_id) : NULL;
	if (!cp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	return vmig_gpu_create_ci(g, op->gi_id, cp, op->start, &op->out_id, err);
}

/*
 * A GI's compute share: 1-100 percent of the GPU, or 0 for its profile's SM
 * fraction (an op's 0 keeps it); and how it is kept (the policy).
 */
static int set_share(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, op->gi_id);
	if (!gi)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU instance %u not found", op->gi_id);
	if (op->share > 100)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "compute share %u%% is not 1-100",
				    op->share);
	if (op->policy != VMIG_SHARE_POLICY_KEEP && !vmig_share_policy_name(op->policy))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "unknown share policy %d",
				    op->policy);
	if (op->share)
		gi->share_pct = op->share;
	if (op->policy != VMIG_SHARE_POLICY_KEEP)
		gi->share_policy = (uint8_t)op->policy;
	return 0;
}

int vmig__op_apply(struct vmig_gpu_state *g, struct vmig__op *op, struct vmig_err *err)
{
	/* Every instance operation needs MIG mode on, as the driver does. */
	if (!g->mig_current)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	switch (op->kind) {
	case VMIG_OP_CREATE_GI:
		return create_gi(g, op, err);
	case VMIG_OP_DESTROY_GI:
		return vmig_gpu_destroy_gi(g, op->gi_id, err);
	case VMIG_OP_CREATE_CI:
		return create_ci(g, op, err);
	case VMIG_OP_DESTROY_CI:
		return vmig_gpu_destroy_ci(g, op->gi_id, op->ci_id, err);
	case VMIG_OP_SHARE:
		return set_share(g, op, err);
	case VMIG_OP_MODE:
	case VMIG_OP_RESET:
	case VMIG_OP_PERSISTENCE:
		break;
	}
	return vmig_err_set(err, VMIG_E_UNKNOWN, "operation %d is not an instance operation",
			    (int)op->kind);
}

int vmig__batch_check(const struct vmig_state *st, uint64_t generation, size_t i, unsigned fail_at,
		      struct vmig_err *err)
{
	if (i == 0 && st->generation != generation)
		return vmig_err_set(err, VMIG_E_INVALID_STATE,
				    "the GPUs changed while the layout was planned");
	if (fail_at && i + 1 == fail_at)
		return vmig_err_set(err, VMIG_E_UNKNOWN,
				    "operation %zu failed (injected by a test)", i + 1);
	return 0;
}

/*
 * A change needs write access to the state directory, or to the nearest
 * directory above it that exists (the store creates the rest).  Checked
 * with the effective IDs, as the store's own writes would be; root passes
 * whatever the mode bits say, as it does for the writes.
 */
int vmig__store_can_change(struct vmig_store *store, struct vmig_err *err)
{
	const char *dir = vmig_store_dir(store);
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return 0; /* the store refused such a path at open; nothing to add */
	for (;;) {
		if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0)
			return 0;
		if (errno != ENOENT)
			break;
		char *slash = strrchr(path, '/');
		if (!slash || slash == path)
			return 0;
		*slash = '\0';
	}
	if (errno == EACCES || errno == EPERM || errno == EROFS)
		return vmig_err_set(err, VMIG_E_NO_PERMISSION, "state directory %s is not writable",
				    dir);
	return 0;
}
