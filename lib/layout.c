/*
 * layout.c — vmig_layout_apply: bring GPUs to wanted layouts through the
 * planner (lib/planner.c), all GPUs or none (docs/planner.md).
 *
 * One snapshot and one list of processes are taken, every GPU is planned
 * from them, and the steps are carried out.  A backend with a transaction
 * (sim, soft: apply_batch) gets every step of every GPU at once, checked
 * against the snapshot's generation, so the plan either lands whole on the
 * state it was made for or not at all (a concurrent change makes it plan
 * again).  Without one (nvml), each step is checked as it is done, and a
 * failure undoes the steps already done, newest first, back to the same
 * profiles at the same placements, before the failure is reported.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

#define PLAN_TRIES 3 /* plans made again when the GPUs change meanwhile */

void vmig_plan_free(struct vmig_plan *p)
{
	if (!p)
		return;
	free(p->step);
	*p = (struct vmig_plan){0};
}

static int check_want(const struct vmig_state *st, const struct vmig_layout_gpu *want, size_t n,
		      struct vmig_err *err)
{
	bool seen[VMIG_MAX_GPUS] = {false};
	if (n && !want)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned g = want[i].gpu;
		if (g >= st->ngpu)
			return vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU %u not found", g);
		if (seen[g])
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "GPU %u is given two layouts", g);
		seen[g] = true;
	}
	return 0;
}

static struct vmig__op op_of(const struct vmig_step *s)
{
	static const enum vmig__op_kind kinds[] = {
	    [VMIG_STEP_MODE] = VMIG_OP_MODE,
	    [VMIG_STEP_RESET] = VMIG_OP_RESET,
	    [VMIG_STEP_DESTROY_CI] = VMIG_OP_DESTROY_CI,
	    [VMIG_STEP_DESTROY_GI] = VMIG_OP_DESTROY_GI,
	    [VMIG_STEP_CREATE_GI] = VMIG_OP_CREATE_GI,
	    [VMIG_STEP_CREATE_CI] = VMIG_OP_CREATE_CI,
	};
	struct vmig__op op = {.kind = kinds[s->kind],
			      .gpu = s->gpu,
			      .mode = s->mode,
			      .profile_id = s->profile_id,
			      .gi_id = s->gi_id,
			      .ci_id = s->ci_id};
	if (s->kind == VMIG_STEP_CREATE_GI || s->kind == VMIG_STEP_CREATE_CI)
		op.start = &s->start;
	return op;
}

/* ---- one operation at a time, with undo ---- */

/* GI IDs as planned (or as they were) and as the driver gave them. */
struct id_map {
	size_t n;
	struct {
		unsigned gpu, from, to;
	} v[VMIG_MAX_GPUS * VMIG_MAX_GIS * 2];
};

static unsigned map_id(const struct id_map *m, unsigned gpu, unsigned id)
{
	for (size_t i = m->n; i > 0; i--)
		if (m->v[i - 1].gpu == gpu && m->v[i - 1].from == id)
			return m->v[i - 1].to;
	return id;
}

static void map_put(struct id_map *m, unsigned gpu, unsigned from, unsigned to)
{
	if (m->n < VMIG_ARRAY_SIZE(m->v))
		m->v[m->n++] = (typeof(m->v[0])){gpu, from, to};
}

/* Undo one done step (its IDs are the driver's); 0 or a set error. */
static int undo_one(struct vmig_ctx *ctx, const struct vmig_state *before,
		    const struct vmig_step *s, bool reset_after, struct id_map *ids,
		    struct vmig_err *err)
{
	struct vmig__op op = {.gpu = s->gpu};
	unsigned start = s->start;
	int r;
	switch (s->kind) {
	case VMIG_STEP_CREATE_CI:
		op.kind = VMIG_OP_DESTROY_CI;
		op.gi_id = s->gi_id;
		op.ci_id = s->ci_id;
		return vmig__ctx_apply(ctx, &op, err);
	case VMIG_STEP_CREATE_GI:
		op.kind = VMIG_OP_DESTROY_GI;
		op.gi_id = s->gi_id;
		return vmig__ctx_apply(ctx, &op, err);
	case VMIG_STEP_DESTROY_CI:
		op.kind = VMIG_OP_CREATE_CI;
		op.gi_id = map_id(ids, s->gpu, s->gi_id);
		op.profile_id = s->profile_id;
		op.start = &start;
		return vmig__ctx_apply(ctx, &op, err);
	case VMIG_STEP_DESTROY_GI:
		op.kind = VMIG_OP_CREATE_GI;
		op.profile_id = s->profile_id;
		op.start = &start;
		if ((r = vmig__ctx_apply(ctx, &op, err)) >= 0)
			map_put(ids, s->gpu, s->gi_id, op.out_id);
		return r;
	case VMIG_STEP_MODE:
		op.kind = VMIG_OP_MODE;
		op.mode = before->gpu[s->gpu].mig_pending;
		if ((r = vmig__ctx_apply(ctx, &op, err)) < 0 || !reset_after)
			return r;
		op.kind = VMIG_OP_RESET;
		return vmig__ctx_apply(ctx, &op, err);
	case VMIG_STEP_RESET:
		return 0; /* made again after the mode is restored (reset_after) */
	}
	return 0;
}

/* Undo steps [0, n) newest first; the first failure is reported, the rest still tried. */
static int undo_all(struct vmig_ctx *ctx, const struct vmig_state *before,
		    const struct vmig_step *done, size_t n, struct vmig_err *err)
{
	struct id_map *ids = calloc(1, sizeof(*ids));
	bool reset_done[VMIG_MAX_GPUS] = {false};
	int first = 0;
	if (!ids)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	for (size_t i = n; i > 0; i--) {
		const struct vmig_step *s = &done[i - 1];
		struct vmig_err e = {0};
		if (s->kind == VMIG_STEP_RESET)
			reset_done[s->gpu] = true;
		int r = undo_one(ctx, before, s, reset_done[s->gpu], ids, &e);
		if (s->kind == VMIG_STEP_MODE)
			reset_done[s->gpu] = false;
		if (r < 0 && first == 0) {
			first = r;
			if (err)
				*err = e;
		}
	}
	free(ids);
	return first;
}

/* Do the steps one by one; on a failure undo the done ones and report. */
static int apply_steps(struct vmig_ctx *ctx, const struct vmig_state *before,
		       struct vmig_plan *plan, struct vmig_err *err)
{
	struct id_map *ids = calloc(1, sizeof(*ids));
	if (!ids)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = 0;
	size_t i;
	for (i = 0; i < plan->nstep; i++) {
		struct vmig_step *s = &plan->step[i];
		struct vmig__op op = op_of(s);
		if (s->kind == VMIG_STEP_CREATE_CI)
			op.gi_id = map_id(ids, s->gpu, s->gi_id);
		if ((r = vmig__ctx_apply(ctx, &op, err)) < 0)
			break;
		if (s->kind == VMIG_STEP_CREATE_GI) {
			map_put(ids, s->gpu, s->gi_id, op.out_id);
			s->gi_id = op.out_id;
		} else if (s->kind == VMIG_STEP_CREATE_CI) {
			s->gi_id = op.gi_id;
			s->ci_id = op.out_id;
		}
	}
	free(ids);
	if (r >= 0)
		return 0;
	struct vmig_err fe = {0}, ue = {0};
	if (err)
		fe = *err;
	vmig_err_wrap(&fe, "GPU %u", plan->step[i].gpu);
	if (undo_all(ctx, before, plan->step, i, &ue) < 0)
		return vmig_err_set(err, r, "%s; undoing the %zu steps done failed too: %s", fe.msg,
				    i, ue.msg);
	return vmig_err_set(err, r, "%s%s", fe.msg,
			    i ? "; the steps done before it were undone" : "");
}

/* ---- the whole plan ---- */

static int plan_all(const struct vmig_state *st, const struct vmig_proc *procs, size_t nproc,
		    const struct vmig_layout_gpu *want, size_t n, unsigned flags,
		    struct vmig_plan *plan, struct vmig_err *err)
{
	int r = check_want(st, want, n, err);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = vmig_plan_gpu(&st->gpu[want[i].gpu], procs, nproc, &want[i], flags, plan, NULL,
				  err);
	return r;
}

/* Carry a plan out: one batch where the backend has one, else one step at a time. */
static int carry_out(struct vmig_ctx *ctx, const struct vmig_state *st, struct vmig_plan *plan,
		     struct vmig_err *err)
{
	struct vmig__op *ops = calloc(plan->nstep, sizeof(*ops));
	if (!ops)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	for (size_t i = 0; i < plan->nstep; i++)
		ops[i] = op_of(&plan->step[i]);
	int r = vmig__ctx_apply_batch(ctx, st->generation, ops, plan->nstep, err);
	free(ops);
	return r == 1 ? apply_steps(ctx, st, plan, err) : r;
}

int vmig_layout_apply(struct vmig_ctx *ctx, const struct vmig_layout_gpu *want, size_t n,
		      unsigned flags, struct vmig_plan *ret_plan, struct vmig_err *err)
{
	struct vmig_state *st = malloc(sizeof(*st));
	struct vmig_plan plan = {0};
	int r = st ? 0 : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	for (unsigned t = 0; t < PLAN_TRIES && r >= 0; t++) {
		struct vmig_proc *procs = NULL;
		size_t nproc = 0;
		vmig_plan_free(&plan);
		if ((r = vmig_snapshot(ctx, st, err)) < 0 ||
		    (r = vmig_procs(ctx, &procs, &nproc, err)) < 0)
			break;
		r = plan_all(st, procs, nproc, want, n, flags, &plan, err);
		free(procs);
		if (r < 0 || (flags & VMIG_LAYOUT_DRY_RUN) || plan.nstep == 0)
			break;
		r = carry_out(ctx, st, &plan, err);
		if (r != -VMIG_E_INVALID_STATE || t + 1 == PLAN_TRIES)
			break;
		r = 0; /* another process changed the GPUs: plan again */
	}
	free(st);
	if (ret_plan)
		*ret_plan = plan;
	else
		vmig_plan_free(&plan);
	return r;
}
