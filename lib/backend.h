/*
 * backend.h — the operations every backend provides (DESIGN §2).  A backend
 * is a const table of these; lib/ctx.c is the only caller and keeps the
 * checks that apply to all of them (GPU index in range, outputs written only
 * on success) in one place.
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
};

extern const struct vmig_backend_ops vmig__backend_sim;
extern const struct vmig_backend_ops vmig__backend_nvml;

#endif
