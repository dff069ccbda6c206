/*
 * gpus.h — seeding a state directory with simulated GPUs of given catalogue
 * models, in order, through the state store like every other writer (lock,
 * commit).  The unit, state and ABI tests each wrote their own copy; the
 * nvml_seed program (tests/abi/nvml_seed.c) is this function for the tests
 * that cannot link libvmig.  Needs libvmig.
 */
#ifndef VMIG_TESTS_GPUS_H
#define VMIG_TESTS_GPUS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmig/vmig.h"

/*
 * Replace the state in dir by GPUs of the n models (with MIG mode enabled,
 * current and pending, when mig is set); 0, or -1 with err filled in.  When
 * st is not NULL it receives the committed state.
 */
static inline int test_seed_gpus(const char *dir, const char *const *models, unsigned n, bool mig,
				 struct vmig_state *st, struct vmig_err *err)
{
	struct vmig_store *s = NULL;
	struct vmig_state *tmp = st ? st : calloc(1, sizeof(*tmp));
	int rc = tmp ? vmig_store_open(dir, &s, err) : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	if (rc == 0 && (rc = vmig_store_begin(s, tmp, err)) == 0) {
		tmp->ngpu = 0;
		for (unsigned i = 0; rc == 0 && i < n; i++) {
			const struct vmig_model *m = vmig_model_find(models[i]);
			rc = m ? vmig_state_add_gpu(tmp, m, err)
			       : vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "no such model: %s",
					      models[i]);
		}
		for (unsigned i = 0; rc == 0 && mig && i < tmp->ngpu; i++)
			tmp->gpu[i].mig_current = tmp->gpu[i].mig_pending = 1;
		if (rc == 0)
			rc = vmig_store_commit(s, tmp, err);
		else
			vmig_store_abort(s);
	}
	if (s)
		vmig_store_close(s);
	if (tmp != st)
		free(tmp);
	return rc < 0 ? -1 : rc;
}

/*
 * A GI of profile gp at the driver's placement, with its default CI, in g
 * (MIG mode on); *ret_gi its ID.  0, or -1 with err filled in.
 */
static inline int test_gi_with_ci(struct vmig_gpu_state *g, const struct vmig_gi_profile *gp,
				  unsigned *ret_gi, struct vmig_err *err)
{
	unsigned ci;
	g->mig_current = g->mig_pending = 1;
	if (vmig_gpu_create_gi(g, gp, NULL, ret_gi, err) < 0 ||
	    vmig_gpu_create_ci(g, *ret_gi, vmig_ci_profile_default(gp), NULL, &ci, err) < 0)
		return -1;
	return 0;
}

/*
 * The driver's mig-minors table at path for GPU minors 0 to ngpu - 1, every
 * GI 0-14 and CI 0-7, numbered as the driver hands them out
 * (docs/containers.md, "Capability minors"); 0, or -1.
 */
static inline int test_write_minors(const char *path, unsigned ngpu)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "config 1\nmonitor 2\n");
	for (unsigned gm = 0; gm < ngpu; gm++)
		for (unsigned i = 0; i < 15; i++) {
			unsigned b = 3 + 135 * gm + 9 * i;
			fprintf(f, "gpu%u/gi%u/access %u\n", gm, i, b);
			for (unsigned c = 0; c < 8; c++)
				fprintf(f, "gpu%u/gi%u/ci%u/access %u\n", gm, i, c, b + 1 + c);
		}
	return fclose(f) == 0 ? 0 : -1;
}

/*
 * The node the Kubernetes and Slurm views are tested on, made in st (the
 * files in dir): ngpu H100s with minors 0 to ngpu - 1; GPU 0 in MIG mode
 * with a 3g.40gb GI (*gi_a) and a GI of profile b_profile (*gi_b), each
 * with its whole CI; GPU 1 in soft MIG mode with a 2g.20gb GI (*gi_s) of
 * one CI; any other GPU with MIG off.  minors gets the path of the driver's
 * mig-minors table for GPUs 0 and 1 (written), dev that of a device
 * directory (not made).  0, or -1 with err filled in.
 */
struct test_node {
	char minors[300], dev[300];
	unsigned gi_a, gi_b, gi_s;
};

static inline int test_make_node(struct vmig_state *st, const char *dir, unsigned ngpu,
				 unsigned b_profile, struct test_node *n, struct vmig_err *err)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < ngpu; i++) {
		if (vmig_state_add_gpu(st, m, err) < 0)
			return -1;
		st->gpu[i].minor = i;
	}
	st->gpu[1].flags |= VMIG_GPU_SOFT;
	snprintf(n->minors, sizeof(n->minors), "%s/mig-minors", dir);
	snprintf(n->dev, sizeof(n->dev), "%s/dev", dir);
	if (test_gi_with_ci(&st->gpu[0], vmig_gi_profile_by_id(m, 9), &n->gi_a, err) < 0 ||
	    test_gi_with_ci(&st->gpu[0], vmig_gi_profile_by_id(m, b_profile), &n->gi_b, err) < 0 ||
	    test_gi_with_ci(&st->gpu[1], vmig_gi_profile_by_id(m, 14), &n->gi_s, err) < 0)
		return -1;
	if (test_write_minors(n->minors, 2) < 0)
		return vmig_err_set(err, VMIG_E_IO, "cannot write %s", n->minors);
	return 0;
}

#endif
