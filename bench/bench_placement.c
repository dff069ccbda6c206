/*
 * bench_placement.c — how fast the placement engine decides.  The goal is a
 * placement decision under 1 µs.  For every MIG model of the catalogue it
 * fills an in-memory GPU with a mix of GI profiles using the driver's
 * automatic placement, empties it, and repeats; then it times the decision
 * alone (vmig_gi_choose on a half-full GPU) and the Free count
 * (vmig_gi_remaining).  It prints successful operations per second, nanoseconds per
 * successful operation and per decision, and the ratio of the goal to the measurement
 * (above 1 = faster than the goal), all measured in this one run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmig/vmig.h"

#define GOAL_NS 1000.0

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned sink;

/*
 * One round: create GIs of the model's profiles, starting at a rotating
 * offset in -lgip order, until a whole pass over the profiles creates
 * nothing; then destroy them all, newest first.  Returns the successful
 * operations (creates that placed a GI, destroys); the refused create
 * attempts that end each pass are counted in *refused, not as operations,
 * so a refusal (cheaper than a placement) cannot flatter the figure.
 */
static unsigned fill_and_empty(struct vmig_gpu_state *g, unsigned offset, unsigned long *refused)
{
	const struct vmig_model *m = g->model;
	unsigned ops = 0, created[VMIG_MAX_GIS], n = 0;
	for (int progress = 1; progress;) {
		progress = 0;
		for (unsigned k = 0; k < m->ngi; k++) {
			unsigned id;
			if (vmig_gpu_create_gi(g, &m->gi[(k + offset) % m->ngi], NULL, &id, NULL) ==
			    0) {
				created[n++] = id;
				ops++;
				progress = 1;
			} else {
				(*refused)++;
			}
		}
	}
	while (n)
		if (vmig_gpu_destroy_gi(g, created[--n], NULL) == 0)
			ops++;
	return ops;
}

static void bench_model(const struct vmig_model *m, double budget_ns, double *worst)
{
	struct vmig_gpu_state g;
	memset(&g, 0, sizeof(g));
	g.model = m;
	g.mig_current = g.mig_pending = 1;

	unsigned long ops = 0, rounds = 0, refused = 0;
	double t0 = now_ns(), t;
	do {
		for (int i = 0; i < 64; i++)
			ops += fill_and_empty(&g, (unsigned)(rounds++ % m->ngi), &refused);
		t = now_ns();
	} while (t - t0 < budget_ns);
	/* All the time, refused attempts included, over the successful operations only. */
	double ns_op = (t - t0) / (double)ops;

	/* The decision alone: a GPU with its lower half taken by one GI. */
	unsigned half = m->gi[0].starts[0];
	for (unsigned p = 0; p < m->ngi; p++)
		if (m->gi[p].size * 2 == m->units)
			(void)vmig_gpu_create_gi(&g, &m->gi[p], &half, NULL, NULL);
	unsigned long decisions = 0;
	t0 = now_ns();
	do {
		for (int i = 0; i < 1024; i++) {
			unsigned s = 0;
			(void)vmig_gi_choose(&g, &m->gi[decisions++ % m->ngi], &s);
			sink += s;
		}
		t = now_ns();
	} while (t - t0 < budget_ns / 2);
	double ns_choose = (t - t0) / (double)decisions;

	unsigned long counts = 0;
	t0 = now_ns();
	do {
		for (int i = 0; i < 1024; i++)
			sink += vmig_gi_remaining(&g, &m->gi[counts++ % m->ngi]);
		t = now_ns();
	} while (t - t0 < budget_ns / 2);
	double ns_remaining = (t - t0) / (double)counts;

	double slowest = ns_op > ns_choose ? ns_op : ns_choose;
	if (slowest > *worst)
		*worst = slowest;
	printf("%-14s %12.0f %9.1f %11.1f %12.1f %9.1fx %8.2f\n", m->key, 1e9 / ns_op, ns_op,
	       ns_choose, ns_remaining, GOAL_NS / slowest, (double)refused / (double)ops);
}

int main(int argc, char **argv)
{
	double budget_ms = argc > 1 ? atof(argv[1]) : 200.0;
	double worst = 0;
	printf("placement decision goal: %.0f ns; ratio = goal / max(ns/op, ns/choose)\n", GOAL_NS);
	printf("ns/op: all the time of the fill/empty loop over its successful creates and "
	       "destroys; refused/op: refused create attempts in the loop per successful op\n");
	printf("%-14s %12s %9s %11s %12s %10s %8s\n", "model", "create+dest/s", "ns/op",
	       "ns/choose", "ns/remaining", "ratio", "refused/op");
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (m->flags & VMIG_MF_MIG)
			bench_model(m, budget_ms * 1e6, &worst);
	}
	printf("worst: %.1f ns per decision, %.1fx faster than the 1 us goal\n", worst,
	       GOAL_NS / worst);
	return worst > 0 && worst < GOAL_NS ? 0 : 1;
}
