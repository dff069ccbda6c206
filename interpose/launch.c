/*
 * launch.c — the compute share, by time-slicing.
 *
 * The share lives in the instance's accounting region (compute_pct), where
 * `vmig mig -rg` may change it while programs run; every decision here
 * reads it with a relaxed load, so a new share takes effect at the next
 * launch and the next refill.  The gate is armed whenever the region can
 * change (a shared file) or the share starts below 100 %.  Armed but
 * uncapped, a launch costs one flag test, one relaxed load and a compare:
 * no lock, no system call.
 *
 * With a cap of p %, the instance owns a bucket of GPU time in the shared
 * region: it fills at p ns per ns of wall time (up to p % of a 100 ms
 * window, so short bursts run at full speed) and empties by the GPU time
 * the instance's work really took.  A launch passes while the bucket holds
 * time; otherwise it waits for the refill.  So, averaged over the window,
 * the instance's GPU busy time converges to p % of wall time, whatever the
 * kernels' sizes.  Under MPS the server already holds the process to m %
 * of the GPU's threads (m = the share when it started); a share p < m is
 * reached by also time-slicing to p/m of wall time.
 *
 * GPU time is measured with events on each stream the process launches on
 * (a tracker per stream): a "start" mark when work arrives on an idle
 * stream and a sample mark at most every 1 ms of launching, so the launch
 * path records an event about once per millisecond, not per launch.  A
 * poller thread, every 10 ms, pairs completed marks (elapsed time between a
 * mark and the next one that is not a start) and takes the sum out of the
 * bucket.  The capped launch path holds a process-local mutex for a few
 * loads and stores; the shared region is only read there.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define NTRACK	      64
#define RING	      128
#define SAMPLE_NS     1000000ull   /* a sample mark at most every 1 ms per stream */
#define PERIOD_NS     10000000ull  /* the poller's control period */
#define WINDOW_NS     100000000ull /* the bucket holds at most p % of this */
#define IDLE_EVICT_NS 2000000000ull
#define QUIET_NS      2000000ull /* no launch for this long: the poller closes the batch */

struct mark {
	CUevent ev;
	bool start; /* opens a batch: never paired with the mark before it */
};

struct tracker {
	bool used;
	uintptr_t key;
	CUstream stream; /* where marks are recorded */
	uint32_t head, tail;
	unsigned launches_since; /* launches since the last mark */
	bool per_thread;	 /* a thread's default stream: only that thread may mark it */
	uint64_t last_mark_ns, last_use_ns;
	struct mark ring[RING];
};

static bool cap_on;		/* the gate is armed: the share may be (or become) < 100 % */
static unsigned full_pct = 100; /* no time cap at or above this share (MPS: its percentage) */
static struct vmig__region *R;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tracker trackers[NTRACK];
static _Atomic int poller_state; /* 0 none, 1 starting/running */
static bool stopping;
static _Thread_local char thread_tag;

static struct {
	__typeof__(cuEventCreate) *create;
	__typeof__(cuEventRecord) *record;
	__typeof__(cuEventQuery) *query;
	__typeof__(cuEventElapsedTime) *elapsed;
	__typeof__(cuStreamIsCapturing) *capturing;
} drv;

void vmig__launch_init(const struct vmig__config *c)
{
	/* A private region's share never changes: arm only when it starts capped. */
	if (!c->active || !vmig__acct() ||
	    (!vmig__acct_shared() && c->compute_mode != VMIG_COMPUTE_TIMESLICE))
		return;
	drv.create = (__typeof__(drv.create))vmig__real_sym("cuEventCreate");
	drv.record = (__typeof__(drv.record))vmig__real_sym("cuEventRecord");
	drv.query = (__typeof__(drv.query))vmig__real_sym("cuEventQuery");
	drv.elapsed = (__typeof__(drv.elapsed))vmig__real_sym("cuEventElapsedTime");
	drv.capturing = (__typeof__(drv.capturing))vmig__real_sym("cuStreamIsCapturing");
	if (!drv.create || !drv.record || !drv.query || !drv.elapsed) {
		VMIG_LOG("driver lacks event functions: no compute cap");
		return;
	}
	R = vmig__acct();
	full_pct = c->compute_mode == VMIG_COMPUTE_MPS ? c->mps_pct : 100;
	cap_on = true;
	VMIG_LOG("compute gate armed: share %u%% now%s, %s", vmig__region_pct(R),
		 vmig__acct_shared() ? " (follows vmig mig -rg)" : "",
		 full_pct < 100 ? "time-slicing below the MPS percentage" : "time-slicing");
}

/* The launch path's test: is the instance's share below what runs uncapped? */
static inline bool capped(void)
{
	return vmig__region_pct(R) < full_pct;
}

/* The fraction of wall time the instance's work may take, in percent (1-100). */
static unsigned time_pct(void)
{
	unsigned p = vmig__region_pct(R);
	if (p >= full_pct)
		return 100;
	p = p * 100 / full_pct;
	return p ? p : 1;
}

void vmig__launch_atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	mu = fresh;
	memset(trackers, 0, sizeof(trackers)); /* the parent's events mean nothing here */
	atomic_store(&poller_state, 0);
}

/* ---- The bucket ---------------------------------------------------------- */

static void refill(void)
{
	uint64_t now = vmig__now_ns(), last = atomic_load(&R->refill_ns);
	if (now <= last || !atomic_compare_exchange_strong(&R->refill_ns, &last, now))
		return;
	unsigned pct = time_pct();
	uint64_t dt = now - last < WINDOW_NS ? now - last : WINDOW_NS;
	int64_t add = (int64_t)(dt * pct / 100), cap = (int64_t)(WINDOW_NS * pct / 100);
	int64_t cur = atomic_load(&R->budget_ns), nv;
	/* Clamped to the window, also when a lower share just shrank it. */
	do {
		nv = cur + add > cap ? cap : cur + add;
	} while (!atomic_compare_exchange_weak(&R->budget_ns, &cur, nv));
}

/* ---- Trackers (caller holds mu) -------------------------------------------- */

static struct tracker *tracker_get(uintptr_t key, CUstream stream, uint64_t now)
{
	struct tracker *victim = NULL;
	for (int i = 0; i < NTRACK; i++) {
		struct tracker *t = &trackers[i];
		if (t->used && t->key == key) {
			t->last_use_ns = now;
			return t;
		}
		if (!t->used && !victim)
			victim = t;
	}
	if (!victim)
		return NULL; /* more live streams than trackers: this one goes unmeasured */
	struct mark keep[RING];
	memcpy(keep, victim->ring, sizeof(keep)); /* events are reusable */
	memset(victim, 0, sizeof(*victim));
	for (int i = 0; i < RING; i++)
		victim->ring[i].ev = keep[i].ev;
	victim->used = true;
	victim->key = key;
	victim->stream = stream;
	victim->per_thread = key == (uintptr_t)&thread_tag;
	victim->last_use_ns = now;
	return victim;
}

static bool capturing(CUstream s)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	return drv.capturing && drv.capturing(s, &st) == CUDA_SUCCESS &&
	       st != CU_STREAM_CAPTURE_STATUS_NONE;
}

static void mark(struct tracker *t, bool start, uint64_t now)
{
	if (t->head - t->tail >= RING)
		return; /* the poller is behind: the batch simply grows */
	if (capturing(t->stream))
		return; /* work being captured into a graph does not run now */
	struct mark *m = &t->ring[t->head % RING];
	if (!m->ev && drv.create(&m->ev, 0) != CUDA_SUCCESS) {
		m->ev = NULL;
		return;
	}
	if (drv.record(m->ev, t->stream) != CUDA_SUCCESS)
		return;
	m->start = start;
	t->head++;
	t->launches_since = 0;
	t->last_mark_ns = now;
}

/* Before a launch on t: close a long batch, open one on an idle stream. */
static void before_launch(struct tracker *t, uint64_t now)
{
	if (t->launches_since > 0 && now - t->last_mark_ns >= SAMPLE_NS)
		mark(t, false, now);
	if (t->launches_since == 0) {
		bool idle = t->head == t->tail ||
			    drv.query(t->ring[(t->head - 1) % RING].ev) == CUDA_SUCCESS;
		if (idle)
			mark(t, true, now);
	}
	t->launches_since++;
}

/* Sum the GPU time of completed batches on t. */
static uint64_t consume(struct tracker *t)
{
	uint64_t busy = 0;
	while (t->head - t->tail >= 2) {
		struct mark *a = &t->ring[t->tail % RING], *b = &t->ring[(t->tail + 1) % RING];
		if (!b->start) {
			CUresult q = drv.query(b->ev);
			if (q == CUDA_ERROR_NOT_READY)
				break;
			float ms = 0;
			if (q == CUDA_SUCCESS && drv.elapsed(&ms, a->ev, b->ev) == CUDA_SUCCESS &&
			    ms > 0)
				busy += (uint64_t)((double)ms * 1e6);
		}
		t->tail++;
	}
	return busy;
}

/* ---- The poller thread ------------------------------------------------------ */

static void poll_once(void)
{
	uint64_t busy = 0, now = vmig__now_ns();
	pthread_mutex_lock(&mu);
	for (int i = 0; i < NTRACK && !stopping; i++) {
		struct tracker *t = &trackers[i];
		if (!t->used)
			continue;
		/*
		 * A batch left open after its last launch would later be paired
		 * across the idle time; close it once the stream has been quiet.
		 */
		if (t->launches_since > 0 && !t->per_thread && now - t->last_use_ns >= QUIET_NS)
			mark(t, false, now);
		busy += consume(t);
		if (t->head - t->tail <= 1 && t->launches_since == 0 &&
		    now - t->last_use_ns > IDLE_EVICT_NS)
			t->used = false;
	}
	pthread_mutex_unlock(&mu);
	if (busy) {
		atomic_fetch_sub(&R->budget_ns, (int64_t)busy);
		atomic_fetch_add(&R->busy_ns, busy);
	}
	refill();
}

static void *poller(void *arg)
{
	(void)arg;
	struct timespec ts = {0, (long)PERIOD_NS};
	for (;;) {
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&mu);
		bool stop = stopping;
		pthread_mutex_unlock(&mu);
		if (stop)
			return NULL;
		poll_once();
	}
}

/* At exit, before the driver tears down, keep the poller out of it. */
static void stop_poller(void)
{
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_mutex_unlock(&mu);
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
	if (pthread_create(&th, &a, poller, NULL) != 0)
		VMIG_LOG("cannot start the compute poller: compute cap measured at launch only");
	else
		atexit(stop_poller);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- The gate ------------------------------------------------------------ */

static void wait_for_budget(void)
{
	refill();
	if (atomic_load(&R->budget_ns) > 0)
		return;
	uint64_t t0 = vmig__now_ns();
	/* A share raised to "no cap" while we wait lets the launch go at once. */
	while (atomic_load(&R->budget_ns) <= 0 && capped()) {
		int64_t deficit = -atomic_load(&R->budget_ns);
		uint64_t ns = (uint64_t)deficit * 100 / time_pct();
		ns = ns < 100000 ? 100000 : ns > 5000000 ? 5000000 : ns;
		struct timespec ts = {0, (long)ns};
		nanosleep(&ts, NULL);
		refill();
	}
	atomic_fetch_add(&R->throttled_ns, vmig__now_ns() - t0);
}

/* Before a wait: close every open batch this thread may mark. */
static void close_batches(void)
{
	uint64_t now = vmig__now_ns();
	pthread_mutex_lock(&mu);
	for (int i = 0; i < NTRACK; i++) {
		struct tracker *t = &trackers[i];
		if (t->used && t->launches_since > 0 &&
		    (!t->per_thread || t->key == (uintptr_t)&thread_tag))
			mark(t, false, now);
	}
	pthread_mutex_unlock(&mu);
}

/*
 * Called before every launch while the share is capped.  ptsz: the launch
 * came through a per-thread-default-stream variant, so stream 0 is this
 * thread's stream.
 */
__attribute__((noinline)) static void gate_capped(CUstream s, bool ptsz)
{
	if (VMIG_UNLIKELY(atomic_load_explicit(&poller_state, memory_order_relaxed) == 0))
		start_poller();
	uintptr_t key = (uintptr_t)s;
	CUstream rec = s;
	if (s == CU_STREAM_PER_THREAD || (ptsz && s == NULL)) {
		key = (uintptr_t)&thread_tag; /* one per thread */
		rec = CU_STREAM_PER_THREAD;
	} else if (s == NULL) {
		key = (uintptr_t)CU_STREAM_LEGACY;
	}
	if (atomic_load_explicit(&R->budget_ns, memory_order_relaxed) <= 0) {
		/* Close the open batch first, so the wait is not counted as busy. */
		close_batches();
		wait_for_budget();
	}
	uint64_t now = vmig__now_ns();
	pthread_mutex_lock(&mu);
	struct tracker *t = tracker_get(key, rec, now);
	if (t)
		before_launch(t, now);
	pthread_mutex_unlock(&mu);
}

/* Armed but uncapped (the share at 100 %), a launch costs this test alone. */
static inline void gate(CUstream s, bool ptsz)
{
	if (VMIG_UNLIKELY(capped()))
		gate_capped(s, ptsz);
}

/* ---- The launch hooks ------------------------------------------------------ */

/*
 * Every launch hook is the same two steps: the gate (only when armed) for
 * the stream the work goes to, then the forwarded call.  ptsz: the entry
 * point is a per-thread-default-stream variant, where stream 0 means this
 * thread's stream.
 */
#define LAUNCH_HOOK(handler, fn, SIG, stream, ptsz)                                                \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		if (VMIG_UNLIKELY(cap_on))                                                         \
			gate(stream, ptsz);                                                        \
		return real(SIG##_A);                                                              \
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
