/*
 * users.c — who uses the simulated GPUs: the registry of `vmig run`
 * programs in simulated instances and of the processes that hold vmig's
 * NVML library (docs/backends.md, "Processes").
 *
 * Placeholder of the interface only: nothing is recorded yet, so every
 * simulated GPU has no users.  The registry replaces it.
 */
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

int vmig__sim_procs(struct vmig_store *store, const struct vmig_state *st, struct vmig_proc **ret,
		    size_t *ret_n, struct vmig_err *err)
{
	(void)store;
	(void)st;
	(void)err;
	*ret = NULL;
	*ret_n = 0;
	return 0;
}
