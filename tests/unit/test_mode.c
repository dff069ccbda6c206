/*
 * test_mode.c — the rules of a MIG mode change on a simulated GPU
 * (vmig__sim_mode_change, lib/backend/sim.c) with process lists given
 * directly: Ampere takes effect at once unless another process holds the
 * GPU or the GPU is in a VM; Hopper refuses while another process holds it;
 * the caller's own hold never counts.  Also the per-GPU settings kept in
 * the state file (VM, persistence mode; an old file reads as persistence
 * enabled), `vmig sim add` with the VM option, and the memory and BAR1
 * figures of lib/devinfo.c where a real driver was seen.
 */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

#define SELF  4242
#define OTHER 4343

static struct vmig_gpu_state gpu_of(const char *key, unsigned current)
{
	struct vmig_gpu_state g;
	memset(&g, 0, sizeof(g));
	g.model = vmig_model_find(key);
	g.mig_current = g.mig_pending = current;
	g.flags = VMIG_GPU_SIMULATED;
	return g;
}

/* Set mode on GPU 1 (record g) with procs; returns the result, *activation the status. */
static int change(struct vmig_gpu_state *g, unsigned mode, const struct vmig_proc *procs, size_t n,
		  int *activation)
{
	struct vmig__op op = {.kind = VMIG_OP_MODE, .gpu = 1, .mode = mode, .activation = 99};
	int r = vmig__sim_mode_change(g, &op, procs, n, SELF, NULL);
	*activation = op.activation;
	return r;
}

TEST(ampere_takes_effect_at_once_when_nothing_holds_it)
{
	struct vmig_gpu_state g = gpu_of("a100-40gb", 0);
	int act;
	/* Our own NVML hold and processes on other GPUs do not count. */
	const struct vmig_proc procs[] = {
	    {.kind = VMIG_PROC_NVML, .pid = SELF, .gpu = 1, .gi = VMIG_PROC_WHOLE_GPU},
	    {.kind = VMIG_PROC_RUN, .pid = OTHER, .gpu = 0, .gi = 1, .ci = 0},
	};
	CHECK_EQ_I(change(&g, 1, procs, 2, &act), 0);
	CHECK_EQ_I(act, 0);
	CHECK_EQ_U(g.mig_current, 1);
	CHECK_EQ_U(g.mig_pending, 1);
	CHECK_EQ_I(change(&g, 0, NULL, 0, &act), 0);
	CHECK_EQ_I(act, 0);
	CHECK_EQ_U(g.mig_current, 0);
}

TEST(ampere_held_by_another_process_stays_pending)
{
	struct vmig_gpu_state g = gpu_of("a30", 0);
	int act;
	const struct vmig_proc nvml = {
	    .kind = VMIG_PROC_NVML, .pid = OTHER, .gpu = 1, .gi = VMIG_PROC_WHOLE_GPU};
	CHECK_EQ_I(change(&g, 1, &nvml, 1, &act), 0);
	CHECK_EQ_I(act, -VMIG_E_IN_USE);
	CHECK_EQ_U(g.mig_current, 0);
	CHECK_EQ_U(g.mig_pending, 1);
	/* Asking for the current mode again drops the pending change, with no reset. */
	CHECK_EQ_I(change(&g, 0, &nvml, 1, &act), 0);
	CHECK_EQ_I(act, 0);
	CHECK_EQ_U(g.mig_pending, 0);
	/* A vmig run program in one of the GPU's instances holds it too. */
	g = gpu_of("a100-80gb", 1);
	const struct vmig_proc run = {.kind = VMIG_PROC_RUN, .pid = OTHER, .gpu = 1, .gi = 3};
	CHECK_EQ_I(change(&g, 0, &run, 1, &act), 0);
	CHECK_EQ_I(act, -VMIG_E_IN_USE);
	CHECK_EQ_U(g.mig_current, 1);
	CHECK_EQ_U(g.mig_pending, 0);
}

TEST(ampere_in_a_vm_stays_pending_not_supported)
{
	struct vmig_gpu_state g = gpu_of("a100-40gb", 0);
	int act;
	g.flags |= VMIG_GPU_VM;
	CHECK_EQ_I(change(&g, 1, NULL, 0, &act), 0);
	CHECK_EQ_I(act, -VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_U(g.mig_current, 0);
	CHECK_EQ_U(g.mig_pending, 1);
	/* Held and in a VM: the hold is what the driver reports. */
	g = gpu_of("a100-40gb", 0);
	g.flags |= VMIG_GPU_VM;
	const struct vmig_proc nvml = {
	    .kind = VMIG_PROC_NVML, .pid = OTHER, .gpu = 1, .gi = VMIG_PROC_WHOLE_GPU};
	CHECK_EQ_I(change(&g, 1, &nvml, 1, &act), 0);
	CHECK_EQ_I(act, -VMIG_E_IN_USE);
}

TEST(hopper_needs_no_reset_and_refuses_while_held)
{
	struct vmig_gpu_state g = gpu_of("h100-80gb", 0);
	int act;
	g.flags |= VMIG_GPU_VM; /* no reset needed: a VM makes no difference */
	CHECK_EQ_I(change(&g, 1, NULL, 0, &act), 0);
	CHECK_EQ_I(act, 0);
	CHECK_EQ_U(g.mig_current, 1);
	const struct vmig_proc nvml = {
	    .kind = VMIG_PROC_NVML, .pid = OTHER, .gpu = 1, .gi = VMIG_PROC_WHOLE_GPU};
	CHECK_EQ_I(change(&g, 0, &nvml, 1, &act), -VMIG_E_IN_USE);
	CHECK_EQ_U(g.mig_current, 1);
	CHECK_EQ_U(g.mig_pending, 1);
	/* A process of a kind that holds nothing (a CUDA process seen through NVML) does not. */
	const struct vmig_proc cuda = {.kind = VMIG_PROC_CUDA, .pid = OTHER, .gpu = 1};
	CHECK_EQ_I(change(&g, 0, &cuda, 1, &act), 0);
	CHECK_EQ_U(g.mig_current, 0);
}

TEST(refusals_change_nothing)
{
	struct vmig_gpu_state g = gpu_of("h100-80gb", 1), before;
	int act;
	g.ngi = 1;
	g.gi[0] = (struct vmig_gi_state){.id = 9, .profile_id = 19, .start = 6, .size = 1};
	before = g;
	CHECK_EQ_I(change(&g, 0, NULL, 0, &act), -VMIG_E_IN_USE);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
	g = gpu_of("rtx-4090", 0);
	before = g;
	CHECK_EQ_I(change(&g, 1, NULL, 0, &act), -VMIG_E_NOT_SUPPORTED);
	CHECK(memcmp(&g, &before, sizeof(g)) == 0);
}

TEST(settings_survive_the_state_file)
{
	struct vmig_state *st = calloc(1, sizeof(*st)), *back = calloc(1, sizeof(*back));
	char *buf = NULL;
	size_t len = 0;
	struct vmig_err e = {0};
	CHECK(st && back);
	if (!st || !back)
		return;
	vmig_state_init_default(st);
	st->gpu[0].flags |= VMIG_GPU_VM | VMIG_GPU_NO_PERSISTENCE;
	CHECK_EQ_I(vmig_state_format(st, &buf, &len), 0);
	CHECK(strstr(buf, "flags=simulated,vm,persistence-off\n") != NULL);
	CHECK_EQ_I(vmig_state_parse(buf, len, back, &e), 0);
	CHECK_EQ_U(back->gpu[0].flags, VMIG_GPU_SIMULATED | VMIG_GPU_VM | VMIG_GPU_NO_PERSISTENCE);
	free(buf);
	/* A file written before these settings existed: persistence enabled, no VM. */
	static const char old[] =
	    "vmig-state 1\ngeneration 3\ngpu index=0 model=a100-40gb "
	    "uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1650924060123 "
	    "pci=00000000:07:00.0 minor=0 mig=0 mig_pending=0 flags=simulated\nend\n";
	CHECK_EQ_I(vmig_state_parse(old, sizeof(old) - 1, back, &e), 0);
	CHECK_EQ_U(back->gpu[0].flags, VMIG_GPU_SIMULATED);
	free(st);
	free(back);
}

TEST(sim_add_vm_marks_the_new_gpus)
{
	static char dir[256];
	CHECK(test_mkdtemp(dir, sizeof(dir), "mode") != NULL);
	struct vmig_state *st = calloc(1, sizeof(*st));
	const struct vmig_sim_gpu_opts vm = {.flags = VMIG_SIM_GPU_VM};
	struct vmig_err e = {0};
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ_I(vmig_sim_reset(dir, NULL, 0, NULL, NULL, &e), 0);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 2, &vm, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 3);
	CHECK_EQ_U(st->gpu[0].flags, VMIG_GPU_SIMULATED);
	CHECK_EQ_U(st->gpu[1].flags, VMIG_GPU_SIMULATED | VMIG_GPU_VM);
	CHECK_EQ_U(st->gpu[2].flags, VMIG_GPU_SIMULATED | VMIG_GPU_VM);
	const char *keys[] = {"a100-40gb"};
	CHECK_EQ_I(vmig_sim_reset(dir, keys, 1, &vm, st, &e), 0);
	CHECK_EQ_U(st->gpu[0].flags, VMIG_GPU_SIMULATED | VMIG_GPU_VM);
	free(st);
	test_rmtree(dir);
}

/* BAR1 of GIs where an R580+ driver was seen (docs/layouts.md, "BAR1"), and the derived rule. */
TEST(bar1_of_gpu_instances)
{
	static const struct {
		const char *model;
		unsigned profile_id;
		uint64_t mib;
	} want[] = {
	    {"a100-40gb", 19, 3052},  {"a100-40gb", 14, 6105},	{"a100-40gb", 5, 12211},
	    {"b200", 19, 9875},	      {"b200", 14, 19750},	{"rtx-pro-6000", 14, 8317},
	    {"h100-80gb", 19, 16383}, {"h100-80gb", 0, 131064},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct vmig_model *m = vmig_model_find(want[i].model);
		const struct vmig_gi_profile *gp =
		    m ? vmig_gi_profile_by_id(m, want[i].profile_id) : NULL;
		struct vmig_mem bar1;
		CHECK(gp != NULL);
		if (!gp)
			continue;
		vmig_bar1(m, gp, &bar1);
		CHECK_EQ_U(bar1.total_mib, want[i].mib);
		CHECK_EQ_U(bar1.used_mib, 0);
	}
	struct vmig_mem g;
	vmig_bar1(vmig_model_find("h100-80gb"), NULL, &g);
	CHECK_EQ_U(g.total_mib, 131072);
	CHECK_EQ_U(g.used_mib, 1);
}

TEST(memory_counts_reserved_and_allocated)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_mem mem;
	vmig_gpu_memory(m, NULL, 0, &mem);
	CHECK_EQ_U(mem.total_mib, 81559);
	CHECK_EQ_U(mem.reserved_mib, 81559 / 256 + 1);
	CHECK_EQ_U(mem.used_mib, mem.reserved_mib);
	CHECK_EQ_U(mem.free_mib, mem.total_mib - mem.used_mib);
	vmig_gpu_memory(m, vmig_gi_profile_by_id(m, 19), 1000, &mem);
	CHECK_EQ_U(mem.used_mib, mem.reserved_mib + 1000);
	vmig_gpu_memory(m, vmig_gi_profile_by_id(m, 19), 1u << 30, &mem);
	CHECK_EQ_U(mem.free_mib, 0);
}

int main(void)
{
	RUN(ampere_takes_effect_at_once_when_nothing_holds_it);
	RUN(ampere_held_by_another_process_stays_pending);
	RUN(ampere_in_a_vm_stays_pending_not_supported);
	RUN(hopper_needs_no_reset_and_refuses_while_held);
	RUN(refusals_change_nothing);
	RUN(settings_survive_the_state_file);
	RUN(sim_add_vm_marks_the_new_gpus);
	RUN(bar1_of_gpu_instances);
	RUN(memory_counts_reserved_and_allocated);
	return harness_done();
}
