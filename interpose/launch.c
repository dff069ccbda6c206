/*
 * launch.c — the compute share: the launch gate, the instance's GPU time,
 * and the controller that turns a share into a rate.
 *
 * The share (compute_pct) and its policy live in the instance's accounting
 * region, where `vmig mig -rg` changes them while programs run; every
 * decision reads them with a relaxed load.  The gate is armed whenever the
 * region can change (a shared file) or the share starts below 100 %.
 * Armed but at 100 %, a launch costs one flag test, one relaxed load and a
 * compare: no lock, no system call.
 *
 * Below 100 %, the instance owns a bucket of GPU time in the region: it
 * fills at the instance's rate (ns of GPU time per ns, up to a 50 ms window
 * of it); each launch takes out what one launch of its stream is expected
 * to cost, and once its kernels have run the difference to what they really
 * took is settled.  A launch passes while the bucket holds time, otherwise
 * it waits for the refill.  What the rate is, is the policy (docs/soft.md):
 *
 *  - cap: the share, always;
 *  - share: the share, plus whatever the GPU's other tenants leave unused.
 *    Every CTRL_NS one process of the instance looks at its own busy time
 *    and the others' (from NVML) and either takes what the others leave,
 *    less a margin, or, above its share on a saturated GPU, gives up half
 *    of what it holds beyond the share (share_rate()).  An instance alone
 *    gets the whole GPU, saturated ones settle at their shares.  Without
 *    NVML the other tenants cannot be seen, and the share is a cap.
 *
 * GPU time is measured by measure.c (events around this process's batches
 * of work, placed on the controller's clock), merged with the other
 * processes of the instance in the region's busy intervals, so time during
 * which two streams or two processes of the instance ran counts once.
 * Where NVML's per-process samples list this process they settle its time
 * instead: a batch spans the time its stream waited for other tenants'
 * kernels too, which NVML does not charge.  docs/interpose.md, "Compute
 * share", says which signal is used when.
 *
 * A poller thread does all of this every PERIOD_NS; the launch path only
 * marks streams and reads the bucket.
 */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PERIOD_NS  10000000ull	 /* the poller's period */
#define WINDOW_NS  50000000ull	 /* the bucket holds at most the rate's share of this */
#define CTRL_NS	   50000000ull	 /* the controller's step */
#define HORIZON_NS 2000000000ull /* busy intervals remembered */
#define MARGIN_PM  20		 /* share mode: left for a neighbour below its share */
#define NV_NS	   25000000ull	 /* how often NVML is asked */
#define HIST	   256
#define MAX_IVS	   512

enum { SIGNAL_NONE = 0, SIGNAL_PROCS = 1, SIGNAL_GPU = 2 };

static bool cap_on;		/* the gate is armed: the share may be (or become) < 100 % */
static unsigned full_pct = 100; /* no time cap at or above this share (MPS: its percentage) */
static struct vmig__region *R;
static const char *partition;
static _Atomic int poller_state; /* 0 none, 1 starting/running */
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static bool stopping;

/* ---- The control loop's clock ------------------------------------------------ */

/*
 * The host's monotonic clock, unless the driver brings its own: the
 * stand-in driver of the tests simulates its GPU's time and exports it
 * (vmigstub_now_ns, vmigstub_sleep_ns), and a control loop on the host's
 * clock would then measure a GPU that runs at another speed.
 */
static void host_sleep(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

static struct {
	uint64_t (*now)(void);
	void (*sleep)(uint64_t ns);
} clk = {vmig__now_ns, host_sleep};

uint64_t vmig__clock_now(void)
{
	return clk.now();
}

void vmig__launch_init(const struct vmig__config *c)
{
	/* A private region's share never changes: arm only when it starts capped. */
	if (!c->active || !vmig__acct() ||
	    (!vmig__acct_shared() && c->compute_mode != VMIG_COMPUTE_TIMESLICE))
		return;
	if (!vmig__meas_init()) {
		VMIG_LOG("driver lacks event functions: no compute cap");
		return;
	}
	uint64_t (*now)(void) = (uint64_t(*)(void))vmig__real_sym("vmigstub_now_ns");
	void (*sleep)(uint64_t) = (void (*)(uint64_t))vmig__real_sym("vmigstub_sleep_ns");
	if (now && sleep) {
		clk.now = now;
		clk.sleep = sleep;
	}
	R = vmig__acct();
	partition = c->partition;
	full_pct = c->compute_mode == VMIG_COMPUTE_MPS ? c->mps_pct : 100;
	cap_on = true;
	VMIG_LOG("compute gate armed: share %u%% (%s) now%s, %s", vmig__region_pct(R),
		 vmig__region_policy(R) == VMIG_POLICY_CAP ? "cap" : "share",
		 vmig__acct_shared() ? " (follows vmig mig -rg)" : "",
		 full_pct < 100 ? "time-slicing below the MPS percentage" : "time-slicing");
}

/* The launch path's test: is the instance's share below what runs uncapped? */
static inline bool capped(void)
{
	return vmig__region_pct(R) < full_pct;
}

/* The rate the bucket fills at, in per mille of the controller's clock. */
static unsigned rate_pm(void)
{
	unsigned p = vmig__region_pct(R) * 10;
	if (vmig__region_policy(R) == VMIG_POLICY_SHARE) {
		unsigned a = atomic_load_explicit(&R->busy.allowed_pm, memory_order_relaxed);
		p = a > p ? (a > 1000 ? 1000 : a) : p;
	}
	if (full_pct < 100)
		p = p * 100 / full_pct; /* MPS holds us to full_pct of the threads already */
	return p > 1000 ? 1000 : p ? p : 1;
}

/* ---- The bucket ---------------------------------------------------------- */

static void refill(void)
{
	uint64_t now = clk.now(), last = atomic_load(&R->refill_ns);
	if (last == 0 || now < last) {
		/* A new region, or one stamped by another clock: start from ours. */
		atomic_compare_exchange_strong(&R->refill_ns, &last, now);
		return;
	}
	if (now == last || !atomic_compare_exchange_strong(&R->refill_ns, &last, now))
		return;
	unsigned pm = rate_pm();
	uint64_t dt = now - last < WINDOW_NS ? now - last : WINDOW_NS;
	int64_t add = (int64_t)(dt * pm / 1000), cap = (int64_t)(WINDOW_NS * pm / 1000);
	int64_t cur = atomic_load(&R->budget_ns), nv;
	/*
	 * Filled up to the window; time given back by a settlement may stand
	 * above it until used (a lower share clears it, control()).  A debt is
	 * kept to two windows: what lies further back no longer limits now.
	 */
	do {
		nv = cur >= cap ? cur : cur + add > cap ? cap : cur + add;
		nv = nv < -2 * cap ? -2 * cap : nv;
	} while (!atomic_compare_exchange_weak(&R->budget_ns, &cur, nv));
}

/* ---- This process's measurement, corrected ---------------------------------------- */

/* Pieces that completed, by when: which of NVML's sample periods their launches fall in. */
struct done {
	uint64_t end;
	uint32_t launches;
	double est; /* charged for them at launch */
};

/* The poller's own state: only the poller thread touches it. */
static struct {
	struct vmig__iv hist[HIST]; /* this process's recent busy time, merged, in order */
	unsigned nhist;
	struct done done[HIST]; /* completed pieces not yet settled against NVML */
	unsigned ndone;
	unsigned misses;	   /* fresh NVML samples in a row that did not list us while busy */
	bool seen_self;		   /* NVML's per-process samples have listed this process */
	bool procs_usable;	   /* they see this process (no other PID namespace) */
	bool gpu_usable;	   /* NVML's device utilisation may describe our GPU */
	bool gpu_valid;		   /* it has been seen to cover our own work */
	unsigned gpu_low;	   /* steps in a row it read below our own work */
	uint64_t next_nv;	   /* when to look at NVML again */
	struct vmig__nv_view last; /* the last fresh per-process view */
	uint64_t last_at;	   /* when it was read */
	unsigned seq, used_seq;	   /* views read, and the last one a step used */
	struct {
		bool ok;
		uint64_t s, e, truth; /* NVML's sample, waiting for our pieces of it */
	} pending;
	double cost_time, cost_launches; /* what launches cost, in NVML's samples */
} me = {.procs_usable = true, .gpu_usable = true};

/* NVML's per-process samples settle this process's GPU time (nvml mode)? */
static _Atomic bool nv_mode;
/* In nvml mode, what one launch of this process costs (ns of GPU time), learned. */
static _Atomic uint64_t nv_cost;

static void hist_add(const struct vmig__iv *iv)
{
	if (me.nhist == HIST) {
		memmove(me.hist, me.hist + 1, (HIST - 1) * sizeof(me.hist[0]));
		me.nhist--;
	}
	me.hist[me.nhist++] = *iv;
}

/* This process's busy time within [s, e), as events measured it. */
static uint64_t hist_busy(uint64_t s, uint64_t e)
{
	uint64_t b = 0;
	for (unsigned i = 0; i < me.nhist; i++) {
		uint64_t lo = me.hist[i].s > s ? me.hist[i].s : s;
		uint64_t hi = me.hist[i].e < e ? me.hist[i].e : e;
		b += hi > lo ? hi - lo : 0;
	}
	return b;
}

static void done_add(uint64_t end, uint32_t launches, double est)
{
	if (me.ndone == HIST) {
		/* NVML is not keeping up: the oldest stays charged as launched. */
		memmove(me.done, me.done + 1, (HIST - 1) * sizeof(me.done[0]));
		me.ndone--;
	}
	me.done[me.ndone++] = (struct done){end, launches, est};
}

/*
 * The instance's GPU time grows by busy, and its bucket empties by
 * budget (negative: gives back what launches were charged too much).
 */
static void charge(double busy, double budget)
{
	if ((int64_t)budget)
		atomic_fetch_sub(&R->budget_ns, (int64_t)budget);
	if (busy >= 1)
		atomic_fetch_add(&R->busy_ns, (uint64_t)busy);
}

/* Where NVML's sample [ts - len, ts] lies on our clock (its stamps are CPU time). */
static void nv_window(const struct vmig__nv_view *v, uint64_t now, uint64_t *s, uint64_t *e)
{
	const uint64_t near = 10000000000ull;
	uint64_t t = v->ts_us * 1000, len = v->len_us * 1000;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	if (t + near >= now && t <= now + near)
		*e = t; /* our own clock */
	else if (t + near >= real && t <= real + near && now + t >= real)
		*e = now + t - real; /* wall-clock stamps */
	else
		*e = now; /* unknown: assume the sample just ended */
	*s = *e > len ? *e - len : 0;
}

/*
 * Settle NVML's last sample: the launches whose pieces ended in it were
 * charged their estimate; the sample says what they (and whatever ran of
 * earlier ones) really used.  It is settled one sample late, when every
 * piece that ended in it has been collected (work queued ahead of the GPU
 * completes after the sample is taken).  What one launch costs follows from
 * the same sample: a property of the program's kernels, not of the
 * contention, so the estimates of the next launches are close.
 */
static void settle(void)
{
	if (!me.pending.ok)
		return;
	me.pending.ok = false;
	uint32_t launches = 0;
	double est = 0;
	unsigned k = 0;
	for (; k < me.ndone && me.done[k].end <= me.pending.e; k++) {
		launches += me.done[k].launches;
		est += me.done[k].est;
	}
	memmove(me.done, me.done + k, (me.ndone - k) * sizeof(me.done[0]));
	me.ndone -= k;
	double truth = (double)me.pending.truth;
	charge(truth, truth - est);
	/* Sums that decay over a few samples: a ratio of sums, not a mean of ratios. */
	me.cost_time = me.cost_time * 0.5 + truth;
	me.cost_launches = me.cost_launches * 0.5 + launches;
	if (me.cost_launches >= 1)
		atomic_store(&nv_cost, (uint64_t)(me.cost_time / me.cost_launches));
}

/* A fresh sample: does it see us, and what did we use in it? */
static void correct(const struct vmig__nv_view *v, uint64_t now)
{
	uint64_t s, e;
	nv_window(v, now, &s, &e);
	uint64_t len = e - s;
	if (!v->have_self && hist_busy(s, e) > len / 5) {
		/* Busy but not listed: NVML's PIDs are not ours (another PID namespace). */
		if (++me.misses >= 3 && me.procs_usable) {
			me.procs_usable = false;
			atomic_store(&nv_mode, false);
			VMIG_LOG(
			    "NVML lists other PIDs than ours: GPU time measured by events alone");
		}
		return;
	}
	if (v->have_self) {
		me.misses = 0;
		me.seen_self = true;
	}
	if (!me.procs_usable || !me.seen_self)
		return;
	if (!atomic_load(&nv_mode)) {
		/* From here on NVML's samples settle our time; events only pace launches. */
		atomic_store(&nv_mode, true);
		me.ndone = 0;
	}
	settle();
	me.pending.ok = true;
	me.pending.s = s;
	me.pending.e = e;
	me.pending.truth = v->have_self ? v->self_pm * len / 1000 : 0;
}

/* The PIDs registered in the instance (region slots), for NVML's samples. */
static unsigned instance_pids(int32_t *pids, unsigned max)
{
	unsigned n = 0;
	uint32_t hi = atomic_load(&R->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS && n < max; i++) {
		int32_t pid = atomic_load(&R->slots[i].pid);
		if (pid > 0)
			pids[n++] = pid;
	}
	return n;
}

static void look_at_nvml(uint64_t now)
{
	if (now < me.next_nv)
		return;
	me.next_nv = now + NV_NS;
	if (!vmig__nv_open(partition))
		return;
	static int32_t pids[VMIG_ACCT_SLOTS];
	unsigned n = instance_pids(pids, VMIG_ACCT_SLOTS);
	struct vmig__nv_view v;
	vmig__nv_read((int32_t)getpid(), pids, n, &v);
	if (v.fresh) {
		correct(&v, now);
		me.last = v;
		me.last_at = now;
		me.seq++;
	}
	if (v.gpu_ok) {
		me.last.gpu_ok = true;
		me.last.gpu_pm = v.gpu_pm;
	}
}

/* ---- The controller -------------------------------------------------------------------- */

/* What one step sees, in per mille of the GPU's time: us, the others, and from which signal. */
struct seen {
	unsigned u, o, signal;
};

/*
 * From NVML's per-process samples where they list us (u and o from the same
 * sample), else from its device utilisation (o = the GPU's busy time - ours,
 * b_pm, measured here over the last step); SIGNAL_NONE when nothing
 * trustworthy tells the others' time.  A new view is used once.
 */
static bool see(unsigned b_pm, uint64_t now, struct seen *s)
{
	const struct vmig__nv_view *v = &me.last;
	*s = (struct seen){b_pm, 0, SIGNAL_NONE};
	if (me.procs_usable && me.seen_self && v->procs_ok && now - me.last_at <= 4 * CTRL_NS) {
		if (me.used_seq == me.seq)
			return false; /* nothing new since the last step */
		me.used_seq = me.seq;
		unsigned u = v->self_pm + v->mine_pm;
		*s = (struct seen){u > 1000 ? 1000 : u, v->others_pm > 1000 ? 1000 : v->others_pm,
				   SIGNAL_PROCS};
		return true;
	}
	if (!me.gpu_usable || !v->gpu_ok)
		return true;
	if (b_pm > v->gpu_pm + 200) {
		/* Twice busier than NVML says the whole GPU was: it is not our GPU. */
		if (++me.gpu_low >= 2) {
			me.gpu_usable = false;
			VMIG_LOG("NVML's utilisation (%u per mille) is below ours (%u): not used",
				 v->gpu_pm, b_pm);
		}
		return true;
	}
	me.gpu_low = 0;
	/* Trusted once it has shown our own work (an idle instance proves nothing). */
	me.gpu_valid = me.gpu_valid || b_pm >= 100;
	if (me.gpu_valid)
		*s = (struct seen){b_pm, v->gpu_pm > b_pm ? v->gpu_pm - b_pm : 0, SIGNAL_GPU};
	return true;
}

/*
 * The rate of share mode, from one step's view (per mille, p the share, m
 * the margin): below the share, or with the GPU not saturated (at least
 * m / 2 idle), take what the others leave, 1000 - o - m.  Above the share on
 * a saturated GPU the others may want what we hold beyond it: give half of
 * that up, u - (u - p) / 2.  If they did not want it, the GPU is idle at the
 * next step and we take it again; if they did, they grew into it and we
 * give up half of the rest, so an instance competing with a busy neighbour
 * converges to its share within a few steps.
 */
static unsigned share_rate(const struct seen *s, unsigned p)
{
	unsigned m = s->o > 5 ? MARGIN_PM : 0;
	unsigned take = s->o + m < 1000 ? 1000 - s->o - m : 0;
	bool saturated = s->o > 5 && s->u + s->o + m / 2 >= 1000;
	unsigned r = s->u <= p || !saturated ? take : s->u - (s->u - p) / 2;
	return r > p ? r : p;
}

/* One step of the instance's controller, taken by whichever process comes first. */
static void control(uint64_t now)
{
	uint64_t last = atomic_load(&R->busy.ctrl_ns);
	if (last && now < last + CTRL_NS)
		return;
	if (!atomic_compare_exchange_strong(&R->busy.ctrl_ns, &last, now))
		return;
	uint64_t busy = atomic_load(&R->busy_ns), was = atomic_exchange(&R->busy.ctrl_busy, busy);
	unsigned b = 0;
	if (last && now > last && busy >= was)
		b = (unsigned)((busy - was) * 1000 / (now - last));
	unsigned p = vmig__region_pct(R) * 10, allowed = p;
	struct seen s;
	if (!see(b > 1000 ? 1000 : b, now, &s))
		return;
	if (vmig__region_policy(R) == VMIG_POLICY_SHARE && s.signal != SIGNAL_NONE)
		allowed = share_rate(&s, p);
	unsigned before = atomic_exchange(&R->busy.allowed_pm, allowed);
	atomic_store(&R->busy.signal, s.signal);
	atomic_store(&R->busy.others_pm, s.o);
	if (allowed < before) {
		/* A lower rate binds now, not once the credit saved at the old one is spent. */
		int64_t cur = atomic_load(&R->budget_ns);
		while (cur > 0 && !atomic_compare_exchange_weak(&R->budget_ns, &cur, 0))
			;
	}
}

/* After fork, in the child: no poller, and nothing measured yet (its events are the parent's). */
void vmig__launch_atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	stop_mu = fresh;
	vmig__meas_atfork_child();
	memset(&me, 0, sizeof(me));
	me.procs_usable = me.gpu_usable = true;
	atomic_store(&nv_mode, false);
	atomic_store(&nv_cost, 0);
	atomic_store(&poller_state, 0);
}

/* ---- The poller thread ------------------------------------------------------------------ */

static int iv_cmp(const void *a, const void *b)
{
	const struct vmig__iv *x = a, *y = b;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* The placed pieces as intervals, sorted and merged: concurrent streams count once. */
static size_t merged(const struct vmig__piece *pc, size_t n, struct vmig__iv *iv)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (pc[i].e > pc[i].s)
			iv[k++] = (struct vmig__iv){pc[i].s, pc[i].e};
	if (k == 0)
		return 0;
	qsort(iv, k, sizeof(iv[0]), iv_cmp);
	size_t m = 0;
	for (size_t i = 1; i < k; i++) {
		if (iv[i].s <= iv[m].e) {
			if (iv[i].e > iv[m].e)
				iv[m].e = iv[i].e;
		} else {
			iv[++m] = iv[i];
		}
	}
	return m + 1;
}

/*
 * The pieces that completed.  Their busy time, merged across this process's
 * streams and with the instance's other processes (what the instance had
 * covered already counts once), is the instance's GPU time as events see
 * it.  In nvml mode NVML's samples settle the time (settle()); the pieces
 * only say when their launches ran.  Otherwise the events' time is charged,
 * less what the launches were charged already, and each stream learns what
 * its launches cost.
 */
static void account(const struct vmig__piece *pc, size_t n, uint64_t now)
{
	static struct vmig__iv iv[MAX_IVS];
	size_t m = merged(pc, n, iv);
	uint64_t added = 0, placed = 0;
	if (m) {
		uint64_t horizon = now > HORIZON_NS ? now - HORIZON_NS : 0;
		vmig__acct_lock(R);
		for (size_t i = 0; i < m; i++)
			added += vmig__busy_add(&R->busy, iv[i].s, iv[i].e, horizon);
		vmig__acct_unlock(R);
	}
	for (size_t i = 0; i < m; i++)
		hist_add(&iv[i]);
	if (atomic_load(&nv_mode)) {
		for (size_t i = 0; i < n; i++)
			done_add(pc[i].e > pc[i].s ? pc[i].e : now, pc[i].launches, pc[i].est);
		return;
	}
	for (size_t i = 0; i < n; i++)
		placed += pc[i].e > pc[i].s ? pc[i].len : 0;
	double f = placed ? (double)added / (double)placed : 1, busy = 0, budget = 0;
	for (size_t i = 0; i < n; i++) {
		double cost = (double)pc[i].len * (pc[i].e > pc[i].s ? f : 1);
		busy += cost;
		budget += cost - pc[i].est;
		if (pc[i].launches)
			vmig__meas_learn(&pc[i], cost / pc[i].launches);
	}
	charge(busy, budget);
}

static void poll_once(void)
{
	static struct vmig__piece pc[MAX_IVS];
	uint64_t now = clk.now();
	size_t n = vmig__meas_collect(pc, MAX_IVS, now);
	if (n)
		account(pc, n, now);
	look_at_nvml(now);
	control(now);
	refill();
}

static bool stop_asked(void)
{
	pthread_mutex_lock(&stop_mu);
	bool stop = stopping;
	pthread_mutex_unlock(&stop_mu);
	return stop;
}

static void *poller(void *arg)
{
	/*
	 * Seen by the clock before the launch that started us goes on: a
	 * simulated clock counts only the threads it knows of.
	 */
	clk.now();
	sem_post(arg);
	while (!stop_asked()) {
		clk.sleep(PERIOD_NS);
		if (!stop_asked())
			poll_once();
	}
	return NULL;
}

/* At exit, before the driver tears down, keep the poller out of it. */
static void stop_poller(void)
{
	pthread_mutex_lock(&stop_mu);
	stopping = true;
	pthread_mutex_unlock(&stop_mu);
}

static void start_poller(void)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&poller_state, &expect, 1))
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the host's signals are not ours */
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	sem_t started;
	sem_init(&started, 0, 0);
	if (pthread_create(&th, &a, poller, &started) != 0) {
		VMIG_LOG("cannot start the compute poller: GPU time goes unmeasured");
	} else {
		atexit(stop_poller);
		while (sem_wait(&started) < 0 && errno == EINTR)
			;
	}
	sem_destroy(&started);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- The gate ------------------------------------------------------------ */

static void wait_for_budget(void)
{
	refill();
	if (atomic_load(&R->budget_ns) > 0)
		return;
	uint64_t t0 = clk.now();
	/* A share raised to "no cap" while we wait lets the launch go at once. */
	while (atomic_load(&R->budget_ns) <= 0 && capped()) {
		int64_t deficit = -atomic_load(&R->budget_ns);
		uint64_t ns = (uint64_t)deficit * 1000 / rate_pm();
		ns = ns < 100000 ? 100000 : ns > 5000000 ? 5000000 : ns;
		clk.sleep(ns);
		refill();
	}
	atomic_fetch_add(&R->throttled_ns, clk.now() - t0);
}

/*
 * Called before every launch while the share is capped: wait for the
 * bucket, mark the stream.  Returns what the mark after the launch needs.
 */
__attribute__((noinline)) static void *gate_capped(CUstream s, bool ptsz, uint64_t *now,
						   double *est)
{
	if (VMIG_UNLIKELY(atomic_load_explicit(&poller_state, memory_order_relaxed) == 0))
		start_poller();
	if (atomic_load_explicit(&R->budget_ns, memory_order_relaxed) <= 0)
		wait_for_budget();
	void *tok;
	*now = clk.now();
	vmig__meas_before(s, ptsz, &tok, est, *now);
	uint64_t learned = atomic_load_explicit(&nv_cost, memory_order_relaxed);
	if (tok && learned && atomic_load_explicit(&nv_mode, memory_order_relaxed))
		*est = (double)learned;
	/* Charged now, so the bucket sees work queued ahead of the GPU; settled when it ran. */
	if (tok && *est > 0)
		atomic_fetch_sub_explicit(&R->budget_ns, (int64_t)*est, memory_order_relaxed);
	return tok;
}

/* ---- The launch hooks ------------------------------------------------------ */

/*
 * Every launch hook is the same three steps: the gate (only when armed and
 * capped) for the stream the work goes to, the forwarded call, and the mark
 * after it.  ptsz: the entry point is a per-thread-default-stream variant,
 * where stream 0 means this thread's stream.
 */
#define LAUNCH_HOOK(handler, fn, SIG, stream, ptsz)                                                \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		if (VMIG_LIKELY(!cap_on) || VMIG_LIKELY(!capped()))                                \
			return real(SIG##_A);                                                      \
		uint64_t now;                                                                      \
		double est;                                                                        \
		void *tok = gate_capped(stream, ptsz, &now, &est);                                 \
		CUresult rc = real(SIG##_A);                                                       \
		if (tok)                                                                           \
			vmig__meas_after(tok, est, now);                                           \
		return rc;                                                                         \
	}

LAUNCH_HOOK(kernel, cuLaunchKernel, SIG_KERNEL, hStream, false)
LAUNCH_HOOK(kernel_ptsz, cuLaunchKernel_ptsz, SIG_KERNEL, hStream, true)
LAUNCH_HOOK(kernelex, cuLaunchKernelEx, SIG_KERNELEX, config ? config->hStream : NULL, false)
LAUNCH_HOOK(kernelex_ptsz, cuLaunchKernelEx_ptsz, SIG_KERNELEX, config ? config->hStream : NULL,
	    true)
LAUNCH_HOOK(coop, cuLaunchCooperativeKernel, SIG_COOP, hStream, false)
LAUNCH_HOOK(coop_ptsz, cuLaunchCooperativeKernel_ptsz, SIG_COOP, hStream, true)
LAUNCH_HOOK(graphlaunch, cuGraphLaunch, SIG_GRAPHLAUNCH, hStream, false)
LAUNCH_HOOK(graphlaunch_ptsz, cuGraphLaunch_ptsz, SIG_GRAPHLAUNCH, hStream, true)
LAUNCH_HOOK(launch, cuLaunch, SIG_LAUNCH, NULL, false)
LAUNCH_HOOK(grid, cuLaunchGrid, SIG_GRID, NULL, false)
LAUNCH_HOOK(gridasync, cuLaunchGridAsync, SIG_GRIDASYNC, hStream, false)
