/*
 * layout.c — vmig_layout_apply: bring GPUs to wanted layouts through the
 * planner (docs/planner.md).
 *
 * Placeholder of the interface only: the planner replaces it.
 */
#include <stdlib.h>

#include "internal.h"

int vmig_layout_apply(struct vmig_ctx *ctx, const struct vmig_layout_gpu *want, size_t n,
		      unsigned flags, struct vmig_plan *ret_plan, struct vmig_err *err)
{
	(void)ctx;
	(void)want;
	(void)n;
	(void)flags;
	if (ret_plan)
		*ret_plan = (struct vmig_plan){0};
	return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, "layouts are not implemented yet");
}

void vmig_plan_free(struct vmig_plan *p)
{
	if (!p)
		return;
	free(p->step);
	*p = (struct vmig_plan){0};
}
