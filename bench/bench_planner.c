/*
 * bench_planner.c — what vmig's layout planner saves over mig-parted's
 * destroy-all-and-recreate, and what it costs.  On a simulated node of
 * eight H100s it follows a trace of 200 random transitions between labels
 * (a label gives each GPU a layout), with some instances marked busy at
 * random after every transition, and counts per transition the instances
 * each approach destroys and creates, and the busy instances each would
 * destroy (the planner refuses instead: it never does).  It then times a
 * whole apply (vmig_layout_apply on the sim backend: snapshot, plan, one
 * store transaction) against a process start (/bin/true, posix_spawn and
 * wait, no shell), and the planner's worst case per GPU: the slowest plan
 * of the trace and of fragmented layouts on every catalogue model, each
 * timed as the least of PLAN_REPEATS runs.  It
 * prints ratios measured in this one run.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmig/vmig.h"

#define NGPU	     8
#define NLABEL	     8
#define TRANSITIONS  200
#define APPLY_RUNS   40
#define SPAWN_RUNS   200
#define BUSY_PERCENT 5
#define PLAN_REPEATS 5

extern char **environ;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng = 0x5eed1234abcdull;
static unsigned rnd(unsigned n)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (unsigned)(z % n);
}

/* The layouts a label can give a GPU: GI profile name, CI profile name (NULL: default), count. */
struct dev {
	const char *gi, *ci;
	unsigned count;
};
static const struct dev layouts[][4] = {
    {{"1g.10gb", NULL, 7}},
    {{"3g.40gb", NULL, 1}, {"2g.20gb", NULL, 2}},
    {{"4g.40gb", NULL, 1}, {"3g.40gb", NULL, 1}},
    {{"7g.80gb", NULL, 1}},
    {{"3g.40gb", "1c.3g.40gb", 3}, {"2g.20gb", NULL, 2}},
    {{"1g.10gb", NULL, 2}, {"2g.20gb", NULL, 1}, {"3g.40gb", NULL, 1}},
    {{"1g.20gb", NULL, 4}},
    {{"4g.40gb", NULL, 1}, {"1g.10gb", NULL, 3}},
};
#define NLAYOUT (sizeof(layouts) / sizeof(layouts[0]))

static void want_of(const struct vmig_model *m, unsigned layout, unsigned gpu,
		    struct vmig_layout_gpu *w)
{
	memset(w, 0, sizeof(*w));
	w->gpu = gpu;
	w->mig_mode = 1;
	for (unsigned d = 0; d < 4 && layouts[layout][d].gi; d++) {
		const struct vmig_gi_profile *gp = NULL;
		const struct vmig_ci_profile *cp = NULL;
		if (vmig_gi_profile_lookup(m, layouts[layout][d].gi, &gp) < 0)
			exit(2);
		cp = vmig_ci_profile_default(gp);
		if (layouts[layout][d].ci &&
		    vmig_ci_profile_lookup(gp, layouts[layout][d].ci, &cp) < 0)
			exit(2);
		w->dev[w->ndev++] =
		    (struct vmig_layout_dev){gp->id, cp->id, layouts[layout][d].count};
	}
}

static unsigned instances(const struct vmig_gpu_state *g)
{
	unsigned n = g->ngi;
	for (unsigned i = 0; i < g->ngi; i++)
		n += g->gi[i].nci;
	return n;
}

/* Same devices (GI profile, CI profile) in the same numbers? */
static bool same_devices(const struct vmig_gpu_state *a, const struct vmig_gpu_state *b)
{
	if (instances(a) != instances(b) || a->ngi != b->ngi)
		return false;
	for (unsigned i = 0; i < a->ngi; i++)
		for (unsigned c = 0; c < a->gi[i].nci; c++) {
			unsigned na = 0, nb = 0;
			for (unsigned j = 0; j < a->ngi; j++)
				for (unsigned d = 0; d < a->gi[j].nci; d++)
					na +=
					    a->gi[j].profile_id == a->gi[i].profile_id &&
					    a->gi[j].ci[d].profile_id == a->gi[i].ci[c].profile_id;
			for (unsigned j = 0; j < b->ngi; j++)
				for (unsigned d = 0; d < b->gi[j].nci; d++)
					nb +=
					    b->gi[j].profile_id == a->gi[i].profile_id &&
					    b->gi[j].ci[d].profile_id == a->gi[i].ci[c].profile_id;
			if (na != nb)
				return false;
		}
	return true;
}

struct totals {
	unsigned long destroyed, created, busy_destroyed, refused;
};

/* Mark some CIs busy: one process each. */
static size_t mark_busy(const struct vmig_gpu_state *g, unsigned gpu, struct vmig_proc *out)
{
	size_t n = 0;
	for (unsigned i = 0; i < g->ngi; i++)
		for (unsigned c = 0; c < g->gi[i].nci; c++)
			if (rnd(100) < BUSY_PERCENT) {
				struct vmig_proc pr = {VMIG_PROC_RUN, (int32_t)(1000 + n), gpu,
						       g->gi[i].id,   g->gi[i].ci[c].id,   0};
				out[n++] = pr;
			}
	return n;
}

/* Busy instances (CIs and the GIs holding them) that clearing the GPU would destroy. */
static unsigned busy_instances(const struct vmig_gpu_state *g, const struct vmig_proc *p, size_t n)
{
	unsigned busy = 0;
	for (unsigned i = 0; i < g->ngi; i++) {
		unsigned cis = 0;
		for (size_t k = 0; k < n; k++)
			cis += p[k].gi == g->gi[i].id;
		busy += cis + (cis > 0);
	}
	return busy;
}

static double worst_plan_ns;

/*
 * The time of one plan: the least of a few runs, since on a shared machine
 * a single run also measures whatever else got the CPU meanwhile.
 */
static double plan_ns(const struct vmig_gpu_state *g, const struct vmig_proc *procs, size_t n,
		      const struct vmig_layout_gpu *w)
{
	double best = 0;
	for (unsigned k = 0; k < PLAN_REPEATS; k++) {
		struct vmig_plan p = {0};
		double t0 = now_ns();
		(void)vmig_plan_gpu(g, procs, n, w, VMIG_LAYOUT_FORCE, &p, NULL, NULL);
		double dt = now_ns() - t0;
		vmig_plan_free(&p);
		best = k == 0 || dt < best ? dt : best;
	}
	return best;
}

static void trace(const struct vmig_model *m, struct totals *vm, struct totals *mp)
{
	static struct vmig_gpu_state gpus[NGPU];
	unsigned label[NLABEL][NGPU];
	for (unsigned l = 0; l < NLABEL; l++)
		for (unsigned g = 0; g < NGPU; g++)
			label[l][g] = rnd(NLAYOUT);
	for (unsigned g = 0; g < NGPU; g++) {
		memset(&gpus[g], 0, sizeof(gpus[g]));
		gpus[g].model = m;
		gpus[g].mig_current = gpus[g].mig_pending = 1;
	}
	struct vmig_proc procs[NGPU][VMIG_MAX_GIS * VMIG_MAX_CIS];
	size_t nproc[NGPU] = {0};
	for (unsigned t = 0; t < TRANSITIONS; t++) {
		unsigned l = rnd(NLABEL);
		for (unsigned g = 0; g < NGPU; g++) {
			struct vmig_layout_gpu w;
			struct vmig_plan p = {0};
			struct vmig_gpu_state fin;
			want_of(m, label[l][g], g, &w);
			double dt = plan_ns(&gpus[g], procs[g], nproc[g], &w);
			worst_plan_ns = dt > worst_plan_ns ? dt : worst_plan_ns;
			int r = vmig_plan_gpu(&gpus[g], procs[g], nproc[g], &w, VMIG_LAYOUT_FORCE,
					      &p, &fin, NULL);
			if (r < 0) {
				vm->refused++;
				/* mig-parted would clear the GPU anyway, busy instances included.
				 */
				struct vmig_gpu_state empty = gpus[g];
				empty.ngi = 0;
				struct vmig_plan q = {0};
				if (vmig_plan_gpu(&empty, NULL, 0, &w, 0, &q, &fin, NULL) == 0) {
					mp->destroyed += instances(&gpus[g]);
					mp->created += q.created;
					mp->busy_destroyed +=
					    busy_instances(&gpus[g], procs[g], nproc[g]);
				}
				vmig_plan_free(&q);
				continue;
			}
			vm->destroyed += p.destroyed;
			vm->created += p.created;
			if (!same_devices(&gpus[g], &fin)) {
				mp->destroyed += instances(&gpus[g]);
				mp->created += instances(&fin);
				mp->busy_destroyed += busy_instances(&gpus[g], procs[g], nproc[g]);
			}
			vmig_plan_free(&p);
			gpus[g] = fin;
			nproc[g] = mark_busy(&gpus[g], g, procs[g]);
		}
	}
}

/* Fragmented layouts: every model, 1-slice GIs everywhere, each target a full re-split. */
static double worst_case_per_gpu(void)
{
	double worst = 0;
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		struct vmig_gpu_state g;
		memset(&g, 0, sizeof(g));
		g.model = m;
		g.mig_current = g.mig_pending = 1;
		const struct vmig_gi_profile *small = &m->gi[0];
		for (unsigned k = 0; k < m->ngi; k++)
			if (m->gi[k].size < small->size && !(m->gi[k].flags & VMIG_PF_ATTRS))
				small = &m->gi[k];
		unsigned id, cid;
		while (vmig_gpu_create_gi(&g, small, NULL, &id, NULL) == 0)
			(void)vmig_gpu_create_ci(&g, id, vmig_ci_profile_default(small), NULL, &cid,
						 NULL);
		for (unsigned n = 2; n <= 8; n++) {
			struct vmig_layout_gpu w;
			if (vmig_layout_equal_split(m, n, &w, NULL) < 0)
				continue;
			double dt = plan_ns(&g, NULL, 0, &w);
			worst = dt > worst ? dt : worst;
		}
	}
	return worst;
}

static double spawn_ns(void)
{
	char *const argv[] = {(char *)"/bin/true", NULL};
	double t0 = now_ns();
	for (unsigned i = 0; i < SPAWN_RUNS; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0 ||
		    waitpid(pid, &st, 0) < 0)
			return -1;
	}
	return (now_ns() - t0) / SPAWN_RUNS;
}

/* Whole applies on the sim backend of a fresh state directory, alternating labels. */
static double apply_ns(const struct vmig_model *m)
{
	char dir[] = "/tmp/vmig-bench-planner-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	setenv("VMIG_STATE_DIR", dir, 1);
	const char *models[NGPU];
	for (unsigned g = 0; g < NGPU; g++)
		models[g] = m->key;
	struct vmig_ctx *ctx = NULL;
	struct vmig_err e = {0};
	double total = -1;
	if (vmig_sim_reset(dir, models, NGPU, NULL, NULL, &e) < 0 ||
	    vmig_open("sim", &ctx, &e) < 0) {
		fprintf(stderr, "bench_planner: %s\n", e.msg);
		goto out;
	}
	struct vmig_layout_gpu w[NGPU];
	double t0 = now_ns();
	for (unsigned r = 0; r < APPLY_RUNS; r++) {
		for (unsigned g = 0; g < NGPU; g++)
			want_of(m, (r + g) % NLAYOUT, g, &w[g]);
		if (vmig_layout_apply(ctx, w, NGPU, 0, NULL, &e) < 0) {
			fprintf(stderr, "bench_planner: apply: %s\n", e.msg);
			goto out;
		}
	}
	total = (now_ns() - t0) / APPLY_RUNS;
out:
	vmig_close(ctx);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_planner: could not remove %s\n", dir);
	return total;
}

int main(void)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct totals vm = {0}, mp = {0};
	trace(m, &vm, &mp);
	double worst = worst_case_per_gpu();
	worst = worst > worst_plan_ns ? worst : worst_plan_ns;
	double spawn = spawn_ns(), apply = apply_ns(m);
	printf("trace: %d transitions between %d labels on %d simulated %s, %d%% of CIs busy\n",
	       TRANSITIONS, NLABEL, NGPU, m->key, BUSY_PERCENT);
	printf("%-28s %10s %10s %14s\n", "", "destroyed", "created", "busy destroyed");
	printf("%-28s %10lu %10lu %14lu\n", "vmig planner", vm.destroyed, vm.created,
	       vm.busy_destroyed);
	printf("%-28s %10lu %10lu %14lu\n", "destroy-all (mig-parted)", mp.destroyed, mp.created,
	       mp.busy_destroyed);
	printf("GPU transitions the planner refused (busy instance in the way): %lu\n", vm.refused);
	printf("ratio destroyed (mig-parted / vmig): %.2f\n",
	       vm.destroyed ? (double)mp.destroyed / (double)vm.destroyed : 0.0);
	printf("ratio created   (mig-parted / vmig): %.2f\n",
	       vm.created ? (double)mp.created / (double)vm.created : 0.0);
	printf("planner worst case per GPU: %.1f us (ratio to a process start: %.3f)\n",
	       worst / 1e3, spawn > 0 ? worst / spawn : 0.0);
	printf("process start (/bin/true): %.1f us; apply of 8 GPUs (sim): %.1f us; ratio "
	       "apply / process start: %.2f\n",
	       spawn / 1e3, apply / 1e3, spawn > 0 ? apply / spawn : 0.0);
	return vm.busy_destroyed == 0 && spawn > 0 && apply > 0 ? 0 : 1;
}
