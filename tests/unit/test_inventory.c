/*
 * test_inventory.c — the simulated inventory (lib/inventory.c): reset with
 * and without models, add with its capacity check, remove with its refusals
 * and --force, the options argument, and that a refused call changes
 * nothing (neither the store nor *ret).  Each test gets a fresh state
 * directory of its own under $TMPDIR.
 */
#include <stdint.h>

#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static struct vmig_state *new_state(void)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	return st;
}

/* A fresh directory under the test's own TMPDIR (tests/lib/tmpdir.h). */
static const char *tmp_dir(void)
{
	static char dir[256];
	if (!test_mkdtemp(dir, sizeof(dir), "inventory"))
		abort();
	return dir;
}

static void read_state(const char *dir, struct vmig_state *st)
{
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	vmig_store_close(s);
}

/* Put one 1g GPU instance on GPU x (MIG on), as a backend would. */
static void give_gi(const char *dir, unsigned x)
{
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	struct vmig_gpu_state *g = &st->gpu[x];
	g->mig_current = g->mig_pending = 1;
	CHECK_EQ_I(vmig_gpu_create_gi(g, &g->model->gi[g->model->ngi - 1], NULL, NULL, &e), 0);
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	vmig_store_close(s);
	free(st);
}

/* Bytes of a state that a refused call must leave as they were. */
static bool untouched(const struct vmig_state *st)
{
	const unsigned char *b = (const unsigned char *)st;
	for (size_t i = 0; i < sizeof(*st); i++)
		if (b[i] != 0xa5)
			return false;
	return true;
}

TEST(reset_without_models_gives_the_default_gpu)
{
	const char *dir = tmp_dir();
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_sim_reset(dir, NULL, 0, NULL, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 1);
	CHECK(st->gpu[0].model == vmig_model_find(VMIG_SIM_DEFAULT_MODEL));
	CHECK_EQ_U(st->gpu[0].flags, VMIG_GPU_SIMULATED);
	CHECK_EQ_U(st->generation, 1);
	/* *ret is what was committed. */
	read_state(dir, back);
	CHECK_STR(back->gpu[0].uuid, st->gpu[0].uuid);
	CHECK_EQ_U(back->generation, 1);
	free(st);
	free(back);
	test_rmtree(dir);
}

TEST(reset_replaces_the_simulated_gpus_in_order)
{
	const char *dir = tmp_dir();
	const char *const models[] = {"a30", "a100-40gb", "a30"};
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_sim_add(dir, "h200", 2, NULL, NULL, &e), 0);
	give_gi(dir, 1);
	CHECK_EQ_I(vmig_sim_reset(dir, models, 3, NULL, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 3);
	for (unsigned k = 0; k < 3; k++) {
		CHECK(st->gpu[k].model == vmig_model_find(models[k]));
		CHECK_EQ_U(st->gpu[k].ngi, 0);
		CHECK_EQ_U(st->gpu[k].mig_current, 0);
	}
	free(st);
	test_rmtree(dir);
}

TEST(reset_keeps_software_partitions)
{
	const char *dir = tmp_dir();
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	/* A record of the soft backend beside the simulated GPU. */
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_I(vmig_state_add_gpu(st, vmig_model_find("a30"), &e), 0);
	st->gpu[1].flags = VMIG_GPU_SOFT;
	char soft_uuid[VMIG_UUID_LEN];
	memcpy(soft_uuid, st->gpu[1].uuid, sizeof(soft_uuid));
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	vmig_store_close(s);
	/* It cannot be removed as a simulated GPU... */
	CHECK_EQ_I(vmig_sim_remove(dir, 1, true, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_STR(e.msg, "GPU 1 is not a simulated GPU");
	/* ...and a reset keeps it, first, with the new GPUs after it. */
	const char *const models[] = {"h200"};
	CHECK_EQ_I(vmig_sim_reset(dir, models, 1, NULL, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 2);
	CHECK_STR(st->gpu[0].uuid, soft_uuid);
	CHECK_EQ_U(st->gpu[0].flags, VMIG_GPU_SOFT);
	CHECK(st->gpu[1].model == vmig_model_find("h200"));
	free(st);
	test_rmtree(dir);
}

TEST(reset_refuses_more_than_the_store_holds)
{
	const char *dir = tmp_dir();
	const char *models[VMIG_MAX_GPUS + 1];
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	for (unsigned k = 0; k <= VMIG_MAX_GPUS; k++)
		models[k] = "a30";
	CHECK_EQ_I(vmig_sim_reset(dir, models, VMIG_MAX_GPUS, NULL, st, &e), 0);
	CHECK_EQ_U(st->ngpu, VMIG_MAX_GPUS);
	CHECK_EQ_I(vmig_sim_reset(dir, models, VMIG_MAX_GPUS + 1, NULL, NULL, &e),
		   -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(e.code, VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_STR(e.msg, "at most 64 GPUs can exist");
	free(st);
	test_rmtree(dir);
}

TEST(add_appends_and_checks_capacity)
{
	const char *dir = tmp_dir();
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_sim_add(dir, "h200", 3, NULL, st, &e), 0);
	/* The default GPU of a fresh directory, then the new ones. */
	CHECK_EQ_U(st->ngpu, 4);
	CHECK(st->gpu[0].model == vmig_model_find(VMIG_SIM_DEFAULT_MODEL));
	for (unsigned k = 1; k < 4; k++)
		CHECK(st->gpu[k].model == vmig_model_find("h200"));
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 61, NULL, NULL, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_STR(e.msg, "cannot add 61 GPUs: 4 of at most 64 GPUs exist");
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 60, NULL, NULL, &e), 0);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, NULL, NULL, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_STR(e.msg, "cannot add 1 GPU: 64 of at most 64 GPUs exist");
	read_state(dir, back);
	CHECK_EQ_U(back->ngpu, 64);
	CHECK_EQ_U(back->generation, 2);
	free(st);
	free(back);
	test_rmtree(dir);
}

TEST(refusals_change_nothing)
{
	const char *dir = tmp_dir();
	const char *const bad[] = {"a30", "nope"};
	struct vmig_state *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, NULL, NULL, &e), 0);
	memset(st, 0xa5, sizeof(*st));
	CHECK_EQ_I(vmig_sim_add(dir, "nope", 1, NULL, st, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_STR(e.msg, "unknown GPU model 'nope'");
	CHECK_EQ_I(vmig_sim_reset(dir, bad, 2, NULL, st, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_STR(e.msg, "unknown GPU model 'nope'");
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 0, NULL, st, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_sim_remove(dir, 7, false, st, &e), -VMIG_E_NOT_FOUND);
	CHECK_STR(e.msg, "no GPU with index 7 (2 GPUs)");
	CHECK(untouched(st));
	read_state(dir, back);
	CHECK_EQ_U(back->ngpu, 2);
	CHECK_EQ_U(back->generation, 1);
	/* Without an error object the codes are the same. */
	CHECK_EQ_I(vmig_sim_add(dir, "nope", 1, NULL, NULL, NULL), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_sim_remove(dir, 7, false, NULL, NULL), -VMIG_E_NOT_FOUND);
	free(st);
	free(back);
	test_rmtree(dir);
}

TEST(remove_refuses_a_gpu_with_instances_unless_forced)
{
	const char *dir = tmp_dir();
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	const char *const models[] = {"a30", "h200", "a100-40gb"};
	CHECK_EQ_I(vmig_sim_reset(dir, models, 3, NULL, st, &e), 0);
	char last[VMIG_UUID_LEN];
	memcpy(last, st->gpu[2].uuid, sizeof(last));
	give_gi(dir, 1);
	CHECK_EQ_I(vmig_sim_remove(dir, 1, false, NULL, &e), -VMIG_E_IN_USE);
	CHECK_STR(e.msg, "GPU 1 has 1 GPU instance; destroy them first or use --force");
	CHECK_EQ_I(vmig_sim_remove(dir, 1, true, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 2);
	/* Later GPUs move down one index. */
	CHECK_STR(st->gpu[1].uuid, last);
	CHECK_EQ_I(vmig_sim_remove(dir, 0, false, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 1);
	CHECK_STR(st->gpu[0].uuid, last);
	free(st);
	test_rmtree(dir);
}

TEST(options_zero_or_null_are_the_defaults)
{
	const char *dir = tmp_dir();
	const struct vmig_sim_gpu_opts zero = {0}, unknown = {.flags = 1u << 31};
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, &zero, NULL, &e), 0);
	CHECK_EQ_I(vmig_sim_reset(dir, NULL, 0, &zero, NULL, &e), 0);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, &unknown, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_sim_reset(dir, NULL, 0, &unknown, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	test_rmtree(dir);
}

/* The GI numbering option: new GPUs get it, it is kept in the state, bad values are refused. */
TEST(gi_numbering_of_new_gpus)
{
	const char *dir = tmp_dir();
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	const struct vmig_sim_gpu_opts sw = {.gi_numbering = VMIG_GI_NUMBERING_SWAPPED},
				       bad = {.gi_numbering = 2};
	const char *const keys[] = {"a100-40gb", "h100-80gb"};
	CHECK_EQ_I(vmig_sim_reset(dir, keys, 2, &sw, st, &e), 0);
	CHECK(st->gpu[0].gi_numbering == VMIG_GI_NUMBERING_SWAPPED &&
	      st->gpu[1].gi_numbering == VMIG_GI_NUMBERING_SWAPPED);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, NULL, st, &e), 0);
	CHECK_EQ_U(st->gpu[2].gi_numbering, VMIG_GI_NUMBERING_HEAP);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, &sw, st, &e), 0);
	read_state(dir, st);
	CHECK_EQ_U(st->ngpu, 4);
	CHECK_EQ_U(st->gpu[0].gi_numbering, VMIG_GI_NUMBERING_SWAPPED);
	CHECK_EQ_U(st->gpu[2].gi_numbering, VMIG_GI_NUMBERING_HEAP);
	CHECK_EQ_U(st->gpu[3].gi_numbering, VMIG_GI_NUMBERING_SWAPPED);
	/* A GI created on a swapped GPU: the whole GPU (the 7g) is 0 under both numberings. */
	give_gi(dir, 0);
	read_state(dir, st);
	CHECK(st->gpu[0].ngi == 1 && st->gpu[0].gi[0].start == 0 && st->gpu[0].gi[0].id == 0);
	CHECK_EQ_I(vmig_sim_add(dir, "a30", 1, &bad, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "unknown GI numbering 2") != NULL);
	CHECK_EQ_I(vmig_sim_reset(dir, NULL, 0, &bad, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	read_state(dir, st);
	CHECK_EQ_U(st->ngpu, 4);
	free(st);
	test_rmtree(dir);
}

TEST(dir_null_is_the_state_directory_of_the_environment)
{
	const char *dir = tmp_dir();
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	setenv("VMIG_STATE_DIR", dir, 1);
	CHECK_EQ_I(vmig_sim_add(NULL, "a30", 2, NULL, NULL, &e), 0);
	read_state(dir, st);
	CHECK_EQ_U(st->ngpu, 3);
	/* A directory that cannot be made is the store's error, passed on. */
	char file[300], under[320];
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(under, sizeof(under), "%s/sub", file);
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK_EQ_I(vmig_sim_reset(under, NULL, 0, NULL, NULL, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "is not a directory") != NULL);
	free(st);
	test_rmtree(dir);
}

int main(void)
{
	RUN(reset_without_models_gives_the_default_gpu);
	RUN(reset_replaces_the_simulated_gpus_in_order);
	RUN(reset_keeps_software_partitions);
	RUN(reset_refuses_more_than_the_store_holds);
	RUN(add_appends_and_checks_capacity);
	RUN(refusals_change_nothing);
	RUN(remove_refuses_a_gpu_with_instances_unless_forced);
	RUN(options_zero_or_null_are_the_defaults);
	RUN(gi_numbering_of_new_gpus);
	RUN(dir_null_is_the_state_directory_of_the_environment);
	return harness_done();
}
