/*
 * test_nvml_backend.c — libvmig's nvml backend against vmig's own
 * libnvidia-ml.so.1: its snapshots equal the sim backend's, changes made
 * through it land in the store, and the models it builds from NVML's profile
 * information (VMIG_NVML_NO_CATALOGUE=1) equal the catalogue's.  A copy of
 * the library without vmig's ELF note stands for NVIDIA's: the backend then
 * leaves the state store alone (no GPU marked simulated, no reset).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpus.h"
#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

/* Under the test's own TMPDIR, which the harness removes. */
static char dir[512];

/* Replace the GPUs of the store in dir with one of each model. */
static void write_gpus(const char *model0, const char *model1)
{
	const char *const models[] = {model0, model1};
	struct vmig_err err = {0};
	if (test_seed_gpus(dir, models, 2, false, NULL, &err) < 0)
		HARNESS_FAIL("seeding %s, %s: %s", model0, model1, err.msg);
}

/* A fresh store with an H100 and an A100, MIG on, one 3g GI (with a CI) and one 1g GI on each. */
static void setup(void)
{
	struct vmig_ctx *sim;
	unsigned id, ci;
	int act;
	if (!test_mkdtemp(dir, sizeof(dir), "nvmlbe"))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	write_gpus("h100-80gb", "a100-40gb");
	CHECK(vmig_open("sim", &sim, NULL) == 0);
	for (unsigned g = 0; g < 2; g++) {
		CHECK(vmig_set_mig_mode(sim, g, 1, &act, NULL) == 0);
		CHECK(vmig_gpu_reset(sim, g, NULL) == 0);
		CHECK(vmig_create_gi(sim, g, 9, NULL, &id, NULL) == 0);
		CHECK(vmig_create_ci(sim, g, id, 0, NULL, &ci, NULL) == 0);
		CHECK(vmig_create_gi(sim, g, 19, NULL, &id, NULL) == 0);
	}
	vmig_close(sim);
	const char *b = getenv("B") ? getenv("B") : "build";
	char lib[512];
	snprintf(lib, sizeof(lib), "%s/libnvidia-ml.so.1", b);
	setenv("VMIG_NVML_LIBRARY", lib, 1);
}

/* Snapshots through both backends; the nvml context stays open (it owns built models). */
static struct vmig_ctx *snapshots(struct vmig_state *a, struct vmig_state *b)
{
	struct vmig_ctx *sim, *nv;
	struct vmig_err err = {0};
	CHECK(vmig_open("sim", &sim, NULL) == 0);
	int r = vmig_open("nvml", &nv, &err);
	if (r < 0) {
		fprintf(stderr, "nvml backend: %s\n", err.msg);
		abort();
	}
	CHECK(vmig_snapshot(sim, a, NULL) == 0);
	CHECK(vmig_snapshot(nv, b, NULL) == 0);
	vmig_close(sim);
	return nv;
}

static void same_instances(const struct vmig_state *a, const struct vmig_state *b)
{
	CHECK_EQ_U(a->ngpu, b->ngpu);
	for (unsigned g = 0; g < a->ngpu && g < b->ngpu; g++) {
		const struct vmig_gpu_state *x = &a->gpu[g], *y = &b->gpu[g];
		CHECK_STR(x->uuid, y->uuid);
		CHECK_EQ_U(x->mig_current, y->mig_current);
		CHECK_EQ_U(x->flags, y->flags);
		CHECK_EQ_U(x->ngi, y->ngi);
		for (unsigned i = 0; i < x->ngi && i < y->ngi; i++) {
			CHECK(x->gi[i].id == y->gi[i].id &&
			      x->gi[i].profile_id == y->gi[i].profile_id &&
			      x->gi[i].start == y->gi[i].start && x->gi[i].nci == y->gi[i].nci);
			for (unsigned c = 0; c < x->gi[i].nci && c < y->gi[i].nci; c++)
				CHECK(memcmp(&x->gi[i].ci[c], &y->gi[i].ci[c],
					     sizeof(x->gi[i].ci[c])) == 0);
		}
	}
}

TEST(snapshot_equals_sim)
{
	setup();
	struct vmig_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	vmig_close(snapshots(a, b));
	same_instances(a, b);
	CHECK(b->gpu[0].model == vmig_model_find("h100-80gb"));
	free(a);
	free(b);
}

TEST(changes_through_nvml)
{
	setup();
	struct vmig_ctx *nv;
	unsigned id, ci, start = 0;
	int act = 1;
	struct vmig_err err = {0};
	CHECK(vmig_open("nvml", &nv, NULL) == 0);
	CHECK(vmig_create_gi(nv, 0, 14, NULL, &id, NULL) == 0);
	CHECK(vmig_create_ci(nv, 0, id, 0, &start, &ci, NULL) == 0);
	CHECK_EQ_I(vmig_destroy_gi(nv, 0, id, &err), -VMIG_E_IN_USE);
	CHECK(vmig_destroy_ci(nv, 0, id, ci, NULL) == 0);
	CHECK(vmig_destroy_gi(nv, 0, id, NULL) == 0);
	CHECK_EQ_I(vmig_create_gi(nv, 0, 0, NULL, &id, &err), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(vmig_destroy_gi(nv, 5, 1, &err), -VMIG_E_NOT_FOUND);
	/* Ampere: the mode is pending until the reset, which reaches the store. */
	CHECK_EQ_I(vmig_set_mig_mode(nv, 1, 1, &act, NULL), 0);
	CHECK_EQ_I(act, 0);
	vmig_close(nv);
	struct vmig_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	vmig_close(snapshots(a, b));
	same_instances(a, b);
	CHECK_EQ_U(b->gpu[0].ngi, 2);
	free(a);
	free(b);
}

static void same_ci_profiles(const struct vmig_gi_profile *x, const struct vmig_gi_profile *y)
{
	CHECK_EQ_U(x->nci, y->nci);
	for (unsigned c = 0; c < x->nci && c < y->nci; c++) {
		CHECK_EQ_U(x->ci[c].id, y->ci[c].id);
		CHECK_EQ_U(x->ci[c].slices, y->ci[c].slices);
		CHECK_EQ_U(x->ci[c].instances, y->ci[c].instances);
		CHECK_EQ_U(x->ci[c].sm, y->ci[c].sm);
		CHECK_EQ_U(x->ci[c].nstarts, y->ci[c].nstarts);
	}
}

TEST(models_built_from_nvml)
{
	setup();
	setenv("VMIG_NVML_NO_CATALOGUE", "1", 1);
	struct vmig_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct vmig_ctx *nv = snapshots(a, b);
	same_instances(a, b);
	for (unsigned g = 0; g < 2; g++) {
		const struct vmig_model *cat = a->gpu[g].model, *m = b->gpu[g].model;
		CHECK(m != cat);
		CHECK_STR(m->name, cat->name);
		CHECK_EQ_U(m->pci_device_id, cat->pci_device_id);
		CHECK_EQ_U(m->mem_mib, cat->mem_mib);
		CHECK_EQ_U(m->units, cat->units);
		CHECK_EQ_U(m->compute_slices, cat->compute_slices);
		CHECK_EQ_U(m->flags & (VMIG_MF_MIG | VMIG_MF_MODE_NEEDS_RESET),
			   cat->flags & (VMIG_MF_MIG | VMIG_MF_MODE_NEEDS_RESET));
		CHECK_EQ_U(m->ngi, cat->ngi);
		for (unsigned k = 0; k < m->ngi && k < cat->ngi; k++) {
			const struct vmig_gi_profile *x = &cat->gi[k];
			const struct vmig_gi_profile *y = vmig_gi_profile_by_id(m, x->id);
			CHECK(y != NULL);
			if (!y)
				continue;
			CHECK_STR(y->name, x->name);
			CHECK_EQ_U(y->index, x->index);
			CHECK(y->slices == x->slices && y->size == x->size &&
			      y->instances == x->instances);
			CHECK(y->mem_mib == x->mem_mib && y->sm == x->sm && y->ce == x->ce &&
			      y->dec == x->dec && y->jpeg == x->jpeg && y->ofa == x->ofa);
			CHECK_EQ_U(y->flags & VMIG_PF_ATTRS, x->flags & VMIG_PF_ATTRS);
			CHECK(y->nstarts == x->nstarts &&
			      memcmp(y->starts, x->starts, x->nstarts * sizeof(x->starts[0])) == 0);
			if (x->id == 9 || x->id == 19) /* a GI of these exists to ask */
				same_ci_profiles(x, y);
		}
	}
	vmig_close(nv);
	free(a);
	free(b);
}

/* A GPU without MIG: its SM count comes from NVML's CUDA core count. */
TEST(non_mig_sm_from_cores)
{
	setup();
	struct vmig_state *st = calloc(1, sizeof(*st));
	write_gpus("rtx-4090", "a10");
	setenv("VMIG_NVML_NO_CATALOGUE", "1", 1);
	struct vmig_ctx *nv;
	CHECK(vmig_open("nvml", &nv, NULL) == 0);
	CHECK(vmig_snapshot(nv, st, NULL) == 0);
	CHECK_EQ_U(st->ngpu, 2);
	CHECK(!(st->gpu[0].model->flags & VMIG_MF_MIG));
	CHECK_EQ_U(st->gpu[0].model->sm, 128);
	CHECK_EQ_U(st->gpu[1].model->sm, 72);
	CHECK_EQ_U(st->gpu[1].model->mem_mib, 23028);
	vmig_close(nv);
	free(st);
}

/* The library without its note (iface/nvml_note.h), as NVIDIA's would be. */
TEST(foreign_library_is_not_ours)
{
	setup();
	char lib[600], cmd[1400];
	snprintf(lib, sizeof(lib), "%s/libnvidia-ml-foreign.so.1", dir);
	snprintf(cmd, sizeof(cmd), "objcopy --remove-section=.note.vmig '%s' '%s'",
		 getenv("VMIG_NVML_LIBRARY"), lib);
	CHECK_EQ_I(system(cmd), 0);
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_ctx *nv;
	struct vmig_err err = {0};
	/* Ours: the GPUs are the store's simulated ones, and reset reaches the store. */
	CHECK(vmig_open("nvml", &nv, NULL) == 0);
	CHECK(vmig_snapshot(nv, st, NULL) == 0);
	CHECK(st->gpu[0].flags & VMIG_GPU_SIMULATED);
	CHECK_EQ_I(vmig_gpu_reset(nv, 0, &err), 0);
	vmig_close(nv);
	setenv("VMIG_NVML_LIBRARY", lib, 1);
	CHECK(vmig_open("nvml", &nv, NULL) == 0);
	CHECK(vmig_snapshot(nv, st, NULL) == 0);
	CHECK_EQ_U(st->ngpu, 2);
	CHECK_EQ_U(st->gpu[0].flags, 0);
	CHECK_EQ_U(st->gpu[1].flags, 0);
	CHECK_EQ_I(vmig_gpu_reset(nv, 0, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK_STR(err.msg, "resetting a GPU is not supported through NVML");
	vmig_close(nv);
	unlink(lib);
	free(st);
}

/*
 * vmig_procs of the nvml backend over our library: the compute processes
 * NVML reports per MIG device, which for simulated GPUs are the users of
 * their instances; the library's own record (an NVML client) is a user of
 * the GPUs for the sim backend but no compute process.
 */
TEST(procs_through_nvml)
{
	setup();
	struct vmig_ctx *nv = NULL, *sim = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_proc *p = NULL;
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	size_t n = 9;
	CHECK(vmig_open("nvml", &nv, &err) == 0);
	CHECK(vmig_procs(nv, &p, &n, &err) == 0);
	CHECK_EQ_U(n, 0);
	CHECK(vmig_snapshot(nv, st, &err) == 0);
	const struct vmig_gi_state *gi = &st->gpu[1].gi[0];
	CHECK(gi->nci == 1);
	CHECK(vmig_user_register(NULL, VMIG_PROC_RUN, st->gpu[1].uuid, gi->id, gi->ci[0].id, 0, &u,
				 &err) == 0);
	CHECK(vmig_procs(nv, &p, &n, &err) == 0);
	CHECK_EQ_U(n, 1);
	if (n == 1) {
		CHECK_EQ_U(p[0].kind, VMIG_PROC_CUDA);
		CHECK_EQ_I(p[0].pid, getpid());
		CHECK_EQ_U(p[0].gpu, 1);
		CHECK_EQ_U(p[0].gi, gi->id);
		CHECK_EQ_U(p[0].ci, gi->ci[0].id);
		CHECK_EQ_U(p[0].mem_bytes, 0); /* nothing held on a simulated GPU */
	}
	free(p);
	/* The sim backend sees the same program, and the library holding every GPU. */
	CHECK(vmig_open("sim", &sim, &err) == 0);
	CHECK(vmig_procs(sim, &p, &n, &err) == 0);
	unsigned run = 0, lib = 0;
	for (size_t i = 0; i < n; i++) {
		run += p[i].kind == VMIG_PROC_RUN && p[i].gpu == 1 && p[i].gi == gi->id;
		lib += p[i].kind == VMIG_PROC_NVML && p[i].gi == VMIG_PROC_WHOLE_GPU;
	}
	CHECK_EQ_U(run, 1);
	CHECK_EQ_U(lib, 2); /* one NVML session (this process's), on both GPUs */
	free(p);
	vmig_user_release(u);
	CHECK(vmig_procs(nv, &p, &n, &err) == 0);
	CHECK_EQ_U(n, 0);
	vmig_close(nv);
	/* Closing the nvml backend shuts NVML down: the library's record goes. */
	CHECK(vmig_procs(sim, &p, &n, &err) == 0);
	CHECK_EQ_U(n, 0);
	vmig_close(sim);
	free(st);
}

int main(void)
{
	RUN(snapshot_equals_sim);
	RUN(changes_through_nvml);
	RUN(models_built_from_nvml);
	RUN(non_mig_sm_from_cores);
	RUN(foreign_library_is_not_ours);
	RUN(procs_through_nvml);
	return harness_done();
}
