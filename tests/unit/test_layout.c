/*
 * test_layout.c — vmig_layout_apply on the three backends: a layout change
 * over two GPUs lands whole, and a failure injected at every one of its
 * operations (the fail_op hook of struct vmig__open_opts) leaves the
 * previous layout exactly: on sim and soft the one store transaction
 * aborts; on nvml, against vmig's own libnvidia-ml.so.1 over simulated
 * GPUs, the operations already done are undone (same profiles, same
 * placements).  Also: dry runs change nothing, busy instances through
 * vmig_procs are refused, and a plan made on a state that changed meanwhile
 * is made again.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>

#include "backend.h"
#include "gpus.h"
#include "harness.h"
#include "region.h"
#include "vmig/vmig.h"

static char dir[512], softdir[600];

static void fresh_state(const char *const *models, unsigned n, bool mig)
{
	struct vmig_err e = {0};
	if (!test_mkdtemp(dir, sizeof(dir), "layout")) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(softdir, sizeof(softdir), "%s/soft", dir);
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_SOFT_STATE_DIR", softdir, 1);
	if (test_seed_gpus(dir, models, n, mig, NULL, &e) < 0) {
		fprintf(stderr, "  seeding: %s\n", e.msg);
		exit(1);
	}
}

static struct vmig_ctx *open_ctx(const char *backend, unsigned fail_op)
{
	struct vmig__open_opts o = {.fail_op = fail_op};
	if (strcmp(backend, "soft") == 0)
		o.hw = &vmig__backend_sim;
	struct vmig_ctx *ctx = NULL;
	struct vmig_err e = {0};
	if (vmig__open(backend, &o, &ctx, &e) < 0) {
		HARNESS_FAIL("opening %s: %s", backend, e.msg);
		return NULL;
	}
	return ctx;
}

static unsigned gi_profile(const struct vmig_state *st, unsigned gpu, const char *name)
{
	const struct vmig_gi_profile *gp = NULL;
	if (vmig_gi_profile_lookup(st->gpu[gpu].model, name, &gp) < 0) {
		fprintf(stderr, "  no profile %s\n", name);
		exit(1);
	}
	return gp->id;
}

/* A GI of the named profile with its default CI, through the context. */
static void make(struct vmig_ctx *ctx, const struct vmig_state *st, unsigned gpu, const char *name)
{
	unsigned pid = gi_profile(st, gpu, name), gi, ci;
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(st->gpu[gpu].model, pid);
	struct vmig_err e = {0};
	if (vmig_create_gi(ctx, gpu, pid, NULL, &gi, &e) < 0 ||
	    vmig_create_ci(ctx, gpu, gi, vmig_ci_profile_default(gp)->id, NULL, &ci, &e) < 0)
		HARNESS_FAIL("making %s on GPU %u: %s", name, gpu, e.msg);
}

static void want_dev(struct vmig_layout_gpu *w, const struct vmig_state *st, const char *name,
		     unsigned count)
{
	unsigned pid = gi_profile(st, w->gpu, name);
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(st->gpu[w->gpu].model, pid);
	w->mig_mode = 1;
	w->dev[w->ndev++] = (struct vmig_layout_dev){pid, vmig_ci_profile_default(gp)->id, count};
}

/* Same MIG modes, same GI profiles at the same placements holding the same CIs. */
static bool same_layout(const struct vmig_state *a, const struct vmig_state *b)
{
	if (a->ngpu != b->ngpu)
		return false;
	for (unsigned g = 0; g < a->ngpu; g++) {
		const struct vmig_gpu_state *x = &a->gpu[g], *y = &b->gpu[g];
		if (x->mig_current != y->mig_current || x->mig_pending != y->mig_pending ||
		    x->ngi != y->ngi)
			return false;
		for (unsigned i = 0; i < x->ngi; i++) {
			const struct vmig_gi_state *p = &x->gi[i], *q = NULL;
			for (unsigned j = 0; j < y->ngi; j++)
				if (y->gi[j].start == p->start)
					q = &y->gi[j];
			if (!q || q->profile_id != p->profile_id || q->size != p->size ||
			    q->nci != p->nci)
				return false;
			for (unsigned c = 0; c < p->nci; c++) {
				bool found = false;
				for (unsigned d = 0; d < q->nci; d++)
					found |= q->ci[d].start == p->ci[c].start &&
						 q->ci[d].profile_id == p->ci[c].profile_id;
				if (!found)
					return false;
			}
		}
	}
	return true;
}

static void snap(struct vmig_ctx *ctx, struct vmig_state *st)
{
	struct vmig_err e = {0};
	if (vmig_snapshot(ctx, st, &e) < 0)
		HARNESS_FAIL("snapshot: %s", e.msg);
}

/*
 * Build the starting layout, then apply the target with a failure at every
 * operation in turn (each run starting from the same layout, which the
 * failed run must have left), and finally without one.
 */
static void every_step_fails(const char *backend, bool mode_on)
{
	struct vmig_state *before = calloc(1, sizeof(*before));
	struct vmig_state *now = calloc(1, sizeof(*now));
	struct vmig_ctx *ctx = open_ctx(backend, 0);
	struct vmig_err e = {0};
	if (!ctx)
		return;
	snap(ctx, now);
	for (unsigned g = 0; mode_on && g < now->ngpu; g++) {
		int act;
		CHECK_EQ_I(vmig_set_mig_mode(ctx, g, 1, &act, &e), 0);
	}
	snap(ctx, now);
	make(ctx, now, 0, "3g.40gb");
	make(ctx, now, 0, "1g.10gb");
	make(ctx, now, 0, "1g.10gb");
	make(ctx, now, 1, "2g.20gb");
	snap(ctx, before);
	struct vmig_layout_gpu w[2] = {{.gpu = 0}, {.gpu = 1}};
	want_dev(&w[0], before, "3g.40gb", 1);
	want_dev(&w[0], before, "2g.20gb", 2);
	want_dev(&w[1], before, "4g.40gb", 1);
	want_dev(&w[1], before, "1g.10gb", 2);
	struct vmig_plan p = {0};
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 2, VMIG_LAYOUT_DRY_RUN, &p, &e), 0);
	size_t n = p.nstep;
	CHECK(n >= 8);
	vmig_plan_free(&p);
	snap(ctx, now);
	CHECK(same_layout(before, now)); /* a dry run changes nothing */
	vmig_close(ctx);
	for (unsigned k = 1; k <= n && !harness_child_failed; k++) {
		ctx = open_ctx(backend, k);
		int r = vmig_layout_apply(ctx, w, 2, 0, &p, &e);
		if (r == 0)
			HARNESS_FAIL("%s: operation %u of %zu was to fail", backend, k, n);
		CHECK(strstr(e.msg, "injected") != NULL);
		vmig_plan_free(&p);
		snap(ctx, now);
		if (!same_layout(before, now))
			HARNESS_FAIL("%s: failing operation %u of %zu changed the layout (%s)",
				     backend, k, n, e.msg);
		vmig_close(ctx);
	}
	ctx = open_ctx(backend, 0);
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 2, 0, &p, &e), 0);
	snap(ctx, now);
	/* The 3g GI stayed where it was, with its CI. */
	CHECK_EQ_U(p.kept, 2);
	CHECK_EQ_U(p.nstep, n);
	for (unsigned i = 0; i < before->gpu[0].ngi; i++)
		if (before->gpu[0].gi[i].profile_id == gi_profile(before, 0, "3g.40gb"))
			CHECK(vmig_gpu_find_gi(&now->gpu[0], before->gpu[0].gi[i].id) != NULL);
	CHECK_EQ_U(now->gpu[0].ngi, 3);
	CHECK_EQ_U(now->gpu[1].ngi, 3);
	/* Applied again: nothing to do. */
	vmig_plan_free(&p);
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 2, 0, &p, &e), 0);
	CHECK_EQ_U(p.nstep, 0);
	vmig_plan_free(&p);
	vmig_close(ctx);
	free(before);
	free(now);
}

TEST(sim_every_step_fails)
{
	const char *models[] = {"h100-80gb", "h100-80gb"};
	fresh_state(models, 2, true);
	every_step_fails("sim", false);
}

TEST(soft_every_step_fails)
{
	const char *models[] = {"h100-80gb", "h100-80gb"};
	fresh_state(models, 2, false);
	every_step_fails("soft", true);
}

TEST(nvml_every_step_fails_and_is_undone)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	char lib[1024];
	snprintf(lib, sizeof(lib), "%s/libnvidia-ml.so.1", b);
	if (access(lib, R_OK) != 0)
		SKIP("%s not built", lib);
	char abs[PATH_MAX];
	if (!realpath(lib, abs))
		SKIP("%s: no path", lib);
	setenv("VMIG_NVML_LIBRARY", abs, 1);
	const char *models[] = {"h100-80gb", "h100-80gb"};
	fresh_state(models, 2, true);
	every_step_fails("nvml", false);
}

/*
 * Ampere: MIG on stays pending while another process holds the GPU (an NVML
 * client, here a child with a registry record); once it has gone, the
 * layout resets only the GPU that needs it.
 */
TEST(sim_mode_change_resets_one_gpu)
{
	const char *models[] = {"a100-40gb", "a100-40gb"};
	fresh_state(models, 2, false);
	struct vmig_ctx *ctx = open_ctx("sim", 0);
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err e = {0};
	snap(ctx, st);
	struct vmig_layout_gpu w = {.gpu = 1};
	want_dev(&w, st, "3g.20gb", 2);
	struct vmig_plan p = {0};
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t holder = fork();
	if (holder == 0) {
		struct vmig_user *u = NULL;
		if (vmig_user_register(NULL, VMIG_PROC_NVML, NULL, VMIG_PROC_WHOLE_GPU,
				       VMIG_PROC_WHOLE_GPU, 0, &u, NULL) < 0 ||
		    write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	CHECK_EQ_I(vmig_layout_apply(ctx, &w, 1, VMIG_LAYOUT_SKIP_RESET, &p, &e), 0);
	CHECK_EQ_U(p.pending, 1);
	snap(ctx, st);
	CHECK(st->gpu[1].mig_pending == 1 && st->gpu[1].mig_current == 0);
	vmig_plan_free(&p);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	CHECK_EQ_I(vmig_layout_apply(ctx, &w, 1, 0, &p, &e), 0);
	snap(ctx, st);
	CHECK(st->gpu[1].mig_current == 1 && st->gpu[1].ngi == 2);
	CHECK(st->gpu[0].mig_current == 0 && st->gpu[0].mig_pending == 0);
	unsigned resets = 0;
	for (size_t i = 0; i < p.nstep; i++)
		resets += p.step[i].kind == VMIG_STEP_RESET;
	CHECK_EQ_U(resets, 1);
	vmig_plan_free(&p);
	/* Off again, as one transaction. */
	struct vmig_layout_gpu off = {.gpu = 1, .mig_mode = 0};
	CHECK_EQ_I(vmig_layout_apply(ctx, &off, 1, 0, &p, &e), 0);
	snap(ctx, st);
	CHECK(st->gpu[1].mig_current == 0 && st->gpu[1].ngi == 0);
	vmig_plan_free(&p);
	vmig_close(ctx);
	free(st);
}

TEST(bad_requests_change_nothing)
{
	const char *models[] = {"h100-80gb"};
	fresh_state(models, 1, true);
	struct vmig_ctx *ctx = open_ctx("sim", 0);
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err e = {0};
	snap(ctx, st);
	uint64_t gen = st->generation;
	struct vmig_layout_gpu w[2] = {{.gpu = 0}, {.gpu = 0}};
	want_dev(&w[0], st, "7g.80gb", 1);
	want_dev(&w[1], st, "1g.10gb", 1);
	struct vmig_plan p = {0};
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 2, 0, &p, &e), -VMIG_E_INVALID_ARGUMENT);
	w[1].gpu = 5;
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 2, 0, &p, &e), -VMIG_E_NOT_FOUND);
	want_dev(&w[0], st, "1g.10gb", 1);
	CHECK_EQ_I(vmig_layout_apply(ctx, w, 1, 0, &p, &e), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK(strstr(e.msg, "GPU 0") != NULL);
	vmig_plan_free(&p);
	snap(ctx, st);
	CHECK_EQ_U(st->generation, gen);
	vmig_close(ctx);
	free(st);
}

/* A batch made for an older generation is refused inside the transaction. */
TEST(stale_batch_is_refused)
{
	const char *models[] = {"h100-80gb"};
	fresh_state(models, 1, true);
	struct vmig_ctx *ctx = open_ctx("sim", 0);
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err e = {0};
	snap(ctx, st);
	unsigned start = 0;
	struct vmig__op op = {
	    .kind = VMIG_OP_CREATE_GI, .gpu = 0, .profile_id = 19, .start = &start};
	CHECK_EQ_I(vmig__ctx_apply_batch(ctx, st->generation + 1, &op, 1, &e),
		   -VMIG_E_INVALID_STATE);
	CHECK_EQ_I(vmig__ctx_apply_batch(ctx, st->generation, &op, 1, &e), 0);
	vmig_close(ctx);
	free(st);
}

/* An accounting region of a soft GI, as the interposer makes it; with this process in it if me. */
static void region_of(const struct vmig_gpu_state *g, unsigned gi_id, bool me, char *path,
		      size_t size)
{
	struct vmig_soft_limits l;
	const char *why = NULL;
	char acct[700];
	if (vmig_soft_limits(g, gi_id, &l, NULL) < 0)
		abort();
	snprintf(acct, sizeof(acct), "%s/acct", softdir);
	mkdir(acct, 0755);
	int fd = open(l.acct_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	struct vmig__region *r =
	    fd < 0 ? NULL : vmig__region_map_fd(fd, l.partition, 1 << 20, 50, 0, &why);
	if (!r)
		abort();
	if (me) {
		/* Live: the slot's lock held, through a descriptor kept open (region.h). */
		uint32_t i = atomic_fetch_add(&r->slot_hi, 1);
		if (vmig__slot_lock(fd, i) != 0)
			abort();
		r->slots[i].start_time = vmig__proc_start_time(getpid());
		atomic_store(&r->slots[i].pid, (int32_t)getpid());
	}
	munmap(r, sizeof(*r));
	if (!me)
		close(fd);
	snprintf(path, size, "%s", l.acct_path);
}

/*
 * Soft: a GI with a live process is refused in the middle of the batch
 * (whether the planner or the backend's own check finds it): nothing of the
 * batch lands, and the regions of GIs destroyed earlier in it are kept.
 */
TEST(soft_busy_gi_aborts_the_whole_batch)
{
	const char *models[] = {"h100-80gb"};
	fresh_state(models, 1, false);
	struct vmig_ctx *ctx = open_ctx("soft", 0);
	struct vmig_state *before = calloc(1, sizeof(*before)), *now = calloc(1, sizeof(*now));
	struct vmig_err e = {0};
	int act;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, &act, &e), 0);
	snap(ctx, now);
	make(ctx, now, 0, "3g.40gb"); /* the lower ID: idle, destroyed first */
	make(ctx, now, 0, "1g.10gb"); /* this process runs in it */
	snap(ctx, before);
	char idle[PATH_MAX], busy[PATH_MAX];
	CHECK_EQ_U(before->gpu[0].ngi, 2);
	const struct vmig_gi_state *first = &before->gpu[0].gi[0], *second = &before->gpu[0].gi[1];
	CHECK_EQ_U(first->profile_id, gi_profile(before, 0, "3g.40gb"));
	region_of(&before->gpu[0], first->id, false, idle, sizeof(idle));
	region_of(&before->gpu[0], second->id, true, busy, sizeof(busy));
	struct vmig_layout_gpu w = {.gpu = 0};
	want_dev(&w, before, "7g.80gb", 1);
	struct vmig_plan p = {0};
	CHECK_EQ_I(vmig_layout_apply(ctx, &w, 1, 0, &p, &e), -VMIG_E_IN_USE);
	vmig_plan_free(&p);
	snap(ctx, now);
	CHECK(same_layout(before, now));
	CHECK(access(idle, F_OK) == 0);
	CHECK(access(busy, F_OK) == 0);
	vmig_close(ctx);
	free(before);
	free(now);
}

int main(void)
{
	RUN(sim_every_step_fails);
	RUN(soft_every_step_fails);
	RUN(nvml_every_step_fails_and_is_undone);
	RUN(sim_mode_change_resets_one_gpu);
	RUN(bad_requests_change_nothing);
	RUN(stale_batch_is_refused);
	RUN(soft_busy_gi_aborts_the_whole_batch);
	return harness_done();
}
