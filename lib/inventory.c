/*
 * inventory.c — the simulated inventory: which simulated GPUs exist.
 *
 * These functions work on the state store directly, not through a backend:
 * they decide which GPUs exist, where the backends only act on GPUs that
 * exist.  Each call is one store transaction (begin, change the record,
 * commit), so a refused or failed call leaves the state as it was.  The
 * file holds the rules of `vmig sim add/remove/reset` (the capacity checks,
 * the default model, removal of a GPU with instances only when forced); the
 * command only parses and prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

/* What one call changes; each change function reads the fields it needs. */
struct change {
	int (*apply)(struct vmig_state *st, const struct change *c, struct vmig_err *err);
	const char *const *models; /* add: one key; reset: n keys */
	size_t n;
	unsigned count;	    /* add */
	unsigned gpu_flags; /* add, reset: VMIG_GPU_* flags of the new GPUs (from the options) */
	unsigned index;	    /* remove */
	bool force;	    /* remove */
	/* add, reset: the GI numbering of the new GPUs */
	unsigned gi_numbering;
	/* remove, reset: the UUIDs of the GPUs that go (their soft records, with --force) */
	struct gone *gone;
};

/* Every key names a catalogue model (checked before the store is locked). */
static int check_models(const char *const *keys, size_t n, struct vmig_err *err)
{
	if (n && !keys)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "no GPU models given");
	for (size_t k = 0; k < n; k++)
		if (!keys[k] || !vmig_model_find(keys[k]))
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "unknown GPU model '%s'",
					    keys[k] ? keys[k] : "(null)");
	return 0;
}

/* Only the flags of enum vmig_sim_gpu_flags are known; the GI numbering must be one vmig knows. */
static int check_opts(const struct vmig_sim_gpu_opts *opts, struct vmig_err *err)
{
	if (opts && (opts->flags & ~(unsigned)(VMIG_SIM_GPU_VM | VMIG_SIM_GPU_FORCE)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "unknown simulated GPU option flags 0x%x", opts->flags);
	if (opts && !vmig_gi_numbering_name(opts->gi_numbering))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "unknown GI numbering %u",
				    opts->gi_numbering);
	return 0;
}

static unsigned vm_flag(const struct vmig_sim_gpu_opts *opts)
{
	return opts && (opts->flags & VMIG_SIM_GPU_VM) ? VMIG_GPU_VM : 0;
}

/* Append count GPUs of each key, in order, with the change's flags and GI numbering. */
static int add_models(struct vmig_state *st, const struct change *c, const char *const *keys,
		      size_t n, unsigned count, struct vmig_err *err)
{
	for (size_t k = 0; k < n; k++)
		for (unsigned i = 0; i < count; i++) {
			int r = vmig_state_add_gpu(st, vmig_model_find(keys[k]), err);
			if (r < 0)
				return r;
			st->gpu[st->ngpu - 1].gi_numbering = c->gi_numbering;
			st->gpu[st->ngpu - 1].flags |= c->gpu_flags;
		}
	return 0;
}

static int apply_add(struct vmig_state *st, const struct change *c, struct vmig_err *err)
{
	if (st->ngpu + c->count > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
				    "cannot add %u GPU%s: %u of at most %u GPUs exist", c->count,
				    c->count == 1 ? "" : "s", st->ngpu, VMIG_MAX_GPUS);
	return add_models(st, c, c->models, 1, c->count, err);
}

struct gone {
	char uuid[VMIG_MAX_GPUS][VMIG_UUID_LEN];
	const char *list[VMIG_MAX_GPUS + 1];
	unsigned n;
};

/*
 * A GPU that goes must not leave software partitions behind (their records
 * would collide with the GPU that takes its PCI address): refused unless
 * --force, which drops them after the commit.
 */
static int going(const struct vmig_gpu_state *g, unsigned x, const struct change *c,
		 struct vmig_err *err)
{
	if (!c->force) {
		int r = vmig__soft_check_gone(g->uuid, x, err);
		if (r < 0)
			return r;
	}
	if (c->gone && c->gone->n < VMIG_MAX_GPUS) {
		snprintf(c->gone->uuid[c->gone->n], VMIG_UUID_LEN, "%s", g->uuid);
		c->gone->list[c->gone->n] = c->gone->uuid[c->gone->n];
		c->gone->n++;
		c->gone->list[c->gone->n] = NULL;
	}
	return 0;
}

static int apply_remove(struct vmig_state *st, const struct change *c, struct vmig_err *err)
{
	unsigned x = c->index;
	if (x >= st->ngpu)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "no GPU with index %u (%u GPU%s)", x,
				    st->ngpu, st->ngpu == 1 ? "" : "s");
	if (!(st->gpu[x].flags & VMIG_GPU_SIMULATED))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "GPU %u is not a simulated GPU",
				    x);
	/* The message names the command's option: the command is who reads it. */
	if (st->gpu[x].ngi && !c->force)
		return vmig_err_set(
		    err, VMIG_E_IN_USE,
		    "GPU %u has %u GPU instance%s; destroy them first or use --force", x,
		    st->gpu[x].ngi, st->gpu[x].ngi == 1 ? "" : "s");
	int r = going(&st->gpu[x], x, c, err);
	if (r < 0)
		return r;
	memmove(&st->gpu[x], &st->gpu[x + 1], (st->ngpu - x - 1) * sizeof(st->gpu[0]));
	st->ngpu--;
	memset(&st->gpu[st->ngpu], 0, sizeof(st->gpu[0]));
	return 0;
}

static int apply_reset(struct vmig_state *st, const struct change *c, struct vmig_err *err)
{
	unsigned kept = 0;
	/* Simulated GPUs go; records of other kinds stay. */
	for (unsigned x = 0; x < st->ngpu; x++) {
		if (!(st->gpu[x].flags & VMIG_GPU_SIMULATED)) {
			st->gpu[kept++] = st->gpu[x];
			continue;
		}
		int r = going(&st->gpu[x], x, c, err);
		if (r < 0)
			return r;
	}
	st->ngpu = kept;
	if (st->ngpu + c->n > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES, "at most %u GPUs can exist",
				    VMIG_MAX_GPUS);
	return add_models(st, c, c->models, c->n, 1, err);
}

static int run_change(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	const struct change *c = arg;
	return c->apply(st, c, err);
}

/* Open the store at dir and apply the change as one store transaction (lib/backend/txn.c). */
static int transact(const char *dir, const struct change *c, struct vmig_state *ret,
		    struct vmig_err *err)
{
	struct vmig_store *s = NULL;
	int r = vmig_store_open(dir, &s, err);
	if (r >= 0)
		r = vmig__store_transact(s, run_change, (void *)c, ret, err);
	vmig_store_close(s);
	return r < 0 ? r : 0;
}

/*
 * The kept CDI specs follow a change that was committed (lib/ctx.c), also
 * when the software partitions of the GPUs that went could not be dropped.
 */
static int changed(const char *dir, int committed, int r)
{
	if (committed >= 0)
		vmig__changed(dir);
	return r;
}

int vmig_sim_add(const char *dir, const char *model, unsigned count,
		 const struct vmig_sim_gpu_opts *opts, struct vmig_state *ret, struct vmig_err *err)
{
	const struct change c = {.apply = apply_add,
				 .models = &model,
				 .count = count,
				 .gpu_flags = vm_flag(opts),
				 .gi_numbering = opts ? opts->gi_numbering : 0};
	int r;
	if (count == 0)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "adding GPUs: a count of 0");
	if ((r = check_opts(opts, err)) < 0 || (r = check_models(&model, 1, err)) < 0)
		return r;
	r = transact(dir, &c, ret, err);
	return changed(dir, r, r);
}

/* After the GPUs went, with --force: their software partitions go too. */
static int forget_soft(int r, const struct change *c, struct vmig_err *err)
{
	if (r < 0 || !c->force || c->gone->n == 0)
		return r;
	return vmig__soft_forget(c->gone->list, err);
}

int vmig_sim_remove(const char *dir, unsigned index, bool force, struct vmig_state *ret,
		    struct vmig_err *err)
{
	struct gone gone = {.n = 0};
	const struct change c = {
	    .apply = apply_remove, .index = index, .force = force, .gone = &gone};
	int t = transact(dir, &c, ret, err);
	return changed(dir, t, forget_soft(t, &c, err));
}

int vmig_sim_reset(const char *dir, const char *const *models, size_t n,
		   const struct vmig_sim_gpu_opts *opts, struct vmig_state *ret,
		   struct vmig_err *err)
{
	static const char *const default_models[] = {VMIG_SIM_DEFAULT_MODEL};
	struct gone gone = {.n = 0};
	struct change c = {.apply = apply_reset,
			   .models = models,
			   .n = n,
			   .gpu_flags = vm_flag(opts),
			   .gi_numbering = opts ? opts->gi_numbering : 0,
			   .force = opts && (opts->flags & VMIG_SIM_GPU_FORCE),
			   .gone = &gone};
	int r;
	if (n == 0) {
		c.models = default_models;
		c.n = VMIG_ARRAY_SIZE(default_models);
	}
	if ((r = check_opts(opts, err)) < 0 || (r = check_models(c.models, c.n, err)) < 0)
		return r;
	int t = transact(dir, &c, ret, err);
	return changed(dir, t, forget_soft(t, &c, err));
}
