/*
 * measure.c — when this process's kernels ran, from events on its streams.
 *
 * Each stream the process launches on has a tracker.  A batch of work on a
 * stream begins with a start mark (an event recorded before the first
 * launch onto an idle stream) and is followed by its tail: one event that
 * is recorded again right after every launch, so that whenever the stream
 * runs dry the tail already holds the exact end of its last kernel.  While
 * launches keep coming, the tail is frozen into the ring every SAMPLE_NS and
 * a fresh one takes its place, so long batches are measured in pieces; a
 * launch that comes GAP_NS or more after the previous one first asks whether
 * the tail has completed (the stream ran dry), and if so the batch closes
 * there and the launch opens a new one.  Nothing is ever recorded by the
 * poller: it only freezes a tail that has completed and reads completed
 * pairs.
 *
 * A pair (a, b) of marks is one piece of busy time: cuEventElapsedTime(a, b)
 * long, ending where b is.  Where b is comes from a reference event on a
 * stream of our own, recorded when that stream is idle (so its GPU time is
 * the host time it was recorded at) and renewed every REF_NS: the piece then
 * lies on the controller's clock, and pieces of every stream can be merged,
 * here and with the other processes of the instance (launch.c).  The
 * reference's error is the latency of one record on an idle stream.
 *
 * Everything here is under one process-local mutex, held for a few loads,
 * stores and driver calls that do not wait.
 */
#include <string.h>

#include "internal.h"

#define NTRACK	      64
#define RING	      64
#define POOL	      256
#define SAMPLE_NS     1000000ull    /* a long batch is cut into pieces of at least 1 ms */
#define GAP_NS	      20000ull	    /* launches closer than this do not ask for the tail */
#define REF_NS	      1000000000ull /* a new reference event every second */
#define IDLE_EVICT_NS 2000000000ull

enum { MARK_START = 1, MARK_END = 2 };

struct mark {
	CUevent ev;
	uint8_t kind, gen; /* gen: the reference it is placed against */
	uint32_t launches; /* END: launches since the mark before */
	double est;	   /* END: what the launch path charged for them */
};

struct tracker {
	bool used, per_thread, open, tail_live;
	uintptr_t key;
	CUstream stream; /* where marks are recorded */
	uint32_t head, tail;
	CUevent tailev;
	uint64_t last_launch, last_freeze, last_use;
	uint32_t launches; /* since the last mark */
	double est;	   /* charged for them */
	double cost;	   /* what one launch here costs, learned (vmig__meas_learn) */
	struct mark ring[RING];
};

static struct {
	__typeof__(cuEventCreate) *create;
	__typeof__(cuEventRecord) *record;
	__typeof__(cuEventQuery) *query;
	__typeof__(cuEventElapsedTime) *elapsed;
	__typeof__(cuStreamIsCapturing) *capturing;
	__typeof__(cuStreamCreate) *stream_create;
} drv;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct tracker trackers[NTRACK];
static CUevent pool[POOL];
static unsigned npool;
struct ref {
	CUevent ev;
	uint64_t host; /* controller clock when it was recorded */
	bool ok;
};

static struct ref refs[2];
static uint8_t ref_gen;
static CUstream ref_stream;
static bool ref_broken; /* no stream of our own: pieces cannot be placed */
static _Thread_local char thread_tag;

bool vmig__meas_init(void)
{
	drv.create = (__typeof__(drv.create))vmig__real_sym("cuEventCreate");
	drv.record = (__typeof__(drv.record))vmig__real_sym("cuEventRecord");
	drv.query = (__typeof__(drv.query))vmig__real_sym("cuEventQuery");
	drv.elapsed = (__typeof__(drv.elapsed))vmig__real_sym("cuEventElapsedTime");
	drv.capturing = (__typeof__(drv.capturing))vmig__real_sym("cuStreamIsCapturing");
	drv.stream_create = (__typeof__(drv.stream_create))vmig__real_sym("cuStreamCreate");
	return drv.create && drv.record && drv.query && drv.elapsed;
}

void vmig__meas_atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	mu = fresh;
	/* The parent's events and streams mean nothing here. */
	memset(trackers, 0, sizeof(trackers));
	memset(refs, 0, sizeof(refs));
	npool = 0;
	ref_stream = NULL;
	ref_broken = false;
}

/* ---- Events (caller holds mu) ---------------------------------------------- */

static CUevent ev_get(void)
{
	if (npool)
		return pool[--npool];
	CUevent e = NULL;
	return drv.create(&e, 0) == CUDA_SUCCESS ? e : NULL;
}

static void ev_put(CUevent e)
{
	if (e && npool < POOL)
		pool[npool++] = e; /* beyond the pool the event is simply kept (never seen) */
}

/* A new reference when the current one is a second old; called where a stream is current. */
static void ref_renew(uint64_t now)
{
	if (ref_broken || (refs[ref_gen & 1].ok && now - refs[ref_gen & 1].host < REF_NS))
		return;
	if (!ref_stream &&
	    (!drv.stream_create ||
	     drv.stream_create(&ref_stream, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS)) {
		ref_broken = true;
		ref_stream = NULL;
		return;
	}
	uint8_t g = (uint8_t)(ref_gen + 1);
	if (!refs[g & 1].ev)
		refs[g & 1].ev = ev_get();
	if (!refs[g & 1].ev || drv.record(refs[g & 1].ev, ref_stream) != CUDA_SUCCESS)
		return;
	refs[g & 1].host = vmig__clock_now();
	refs[g & 1].ok = true;
	ref_gen = g;
}

/* ---- Trackers (caller holds mu) ---------------------------------------------- */

static struct tracker *tracker_get(uintptr_t key, CUstream stream, bool per_thread, uint64_t now)
{
	unsigned h = (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 58) % NTRACK;
	struct tracker *spare = NULL;
	for (unsigned i = 0; i < NTRACK; i++) {
		struct tracker *t = &trackers[(h + i) % NTRACK];
		if (t->used && t->key == key) {
			t->last_use = now;
			return t;
		}
		if (!t->used && !spare)
			spare = t;
	}
	if (!spare)
		return NULL; /* more live streams than trackers: this one goes unmeasured */
	CUevent tev = spare->tailev;
	memset(spare, 0, sizeof(*spare));
	spare->tailev = tev;
	spare->used = true;
	spare->key = key;
	spare->stream = stream;
	spare->per_thread = per_thread;
	spare->last_use = spare->last_freeze = now;
	return spare;
}

static bool ring_full(const struct tracker *t)
{
	return t->head - t->tail >= RING;
}

static void push(struct tracker *t, CUevent ev, uint8_t kind)
{
	t->ring[t->head % RING] = (struct mark){ev, kind, ref_gen, t->launches, t->est};
	t->head++;
	t->launches = 0;
	t->est = 0;
}

/* The tail becomes a mark; closing: the batch ends there. */
static void freeze(struct tracker *t, bool closing, uint64_t now)
{
	if (t->tail_live && !ring_full(t)) {
		push(t, t->tailev, MARK_END);
		t->tailev = ev_get();
		t->tail_live = false;
		t->last_freeze = now;
	}
	if (closing && !t->tail_live)
		t->open = false;
}

static bool capturing(CUstream s)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	return drv.capturing && drv.capturing(s, &st) == CUDA_SUCCESS &&
	       st != CU_STREAM_CAPTURE_STATUS_NONE;
}

/* Has the stream run dry since its last mark? (asked only after a gap) */
static bool drained(const struct tracker *t)
{
	CUevent last = t->tail_live	    ? t->tailev
		       : t->head != t->tail ? t->ring[(t->head - 1) % RING].ev
					    : NULL;
	return !last || drv.query(last) == CUDA_SUCCESS;
}

/* ---- The launch path ------------------------------------------------------------ */

/*
 * Before a launch onto s: close a batch whose stream ran dry, open one.
 * *tok is what vmig__meas_after needs (NULL: this launch is not measured),
 * *est what the launch is expected to cost (0 while nothing is known).
 * ptsz: the launch came through a per-thread-default-stream variant.
 */
void vmig__meas_before(CUstream s, bool ptsz, void **tok, double *est, uint64_t now)
{
	uintptr_t key = (uintptr_t)s;
	CUstream rec = s;
	bool per_thread = s == CU_STREAM_PER_THREAD || (ptsz && s == NULL);
	if (per_thread) {
		key = (uintptr_t)&thread_tag; /* one per thread */
		rec = CU_STREAM_PER_THREAD;
	} else if (s == NULL) {
		key = (uintptr_t)CU_STREAM_LEGACY;
	}
	*tok = NULL;
	*est = 0;
	pthread_mutex_lock(&mu);
	struct tracker *t = tracker_get(key, rec, per_thread, now);
	if (t && capturing(rec))
		t = NULL; /* work captured into a graph does not run now */
	if (t) {
		ref_renew(now);
		if (t->open && now - t->last_launch >= GAP_NS && drained(t))
			freeze(t, true, now);
		if (!t->open && !ring_full(t)) {
			CUevent ev = ev_get();
			if (ev && drv.record(ev, rec) == CUDA_SUCCESS) {
				push(t, ev, MARK_START);
				t->open = true;
			} else {
				ev_put(ev);
			}
		}
		if (t->open) {
			*tok = t;
			*est = t->cost;
		}
	}
	pthread_mutex_unlock(&mu);
}

/* Right after the launch, charged est: the tail moves behind it. */
void vmig__meas_after(void *tok, double est, uint64_t now)
{
	struct tracker *t = tok;
	pthread_mutex_lock(&mu);
	t->launches++;
	t->est += est;
	if (!t->tailev)
		t->tailev = ev_get();
	if (t->tailev && drv.record(t->tailev, t->stream) == CUDA_SUCCESS)
		t->tail_live = true;
	t->last_launch = now;
	if (now - t->last_freeze >= SAMPLE_NS)
		freeze(t, false, now);
	pthread_mutex_unlock(&mu);
}

/* ---- Collecting (the poller) ---------------------------------------------------------- */

/* Where mark m ends on the controller's clock; false when it cannot be placed. */
static bool place(const struct mark *m, uint64_t *at)
{
	uint8_t d = (uint8_t)(ref_gen - m->gen);
	const struct ref *r = &refs[m->gen & 1];
	float ms = 0;
	if (d > 1 || !r->ok || drv.elapsed(&ms, r->ev, m->ev) != CUDA_SUCCESS)
		return false;
	double t = (double)r->host + (double)ms * 1e6;
	*at = t > 0 ? (uint64_t)t : 0;
	return true;
}

/* Completed pieces of t into out (unplaced ones with s == e == 0, their length in len). */
static size_t consume(struct tracker *t, struct vmig__piece *out, size_t n, size_t max)
{
	while (t->head - t->tail >= 2 && n < max) {
		struct mark *a = &t->ring[t->tail % RING], *b = &t->ring[(t->tail + 1) % RING];
		if (b->kind == MARK_END) {
			CUresult q = drv.query(b->ev);
			if (q == CUDA_ERROR_NOT_READY)
				break;
			float ms = 0;
			uint64_t end = 0, len = 0;
			if (q == CUDA_SUCCESS && drv.elapsed(&ms, a->ev, b->ev) == CUDA_SUCCESS &&
			    ms > 0)
				len = (uint64_t)((double)ms * 1e6);
			struct vmig__piece *pc = &out[n++];
			*pc = (struct vmig__piece){.len = len,
						   .launches = b->launches,
						   .est = b->est,
						   .key = t->key,
						   .trk = t};
			if (len && place(b, &end) && end >= len) {
				pc->s = end - len;
				pc->e = end;
			}
		}
		ev_put(a->ev);
		t->tail++;
	}
	/* A closed batch's last mark begins nothing. */
	if (!t->open && t->head - t->tail == 1) {
		ev_put(t->ring[t->tail % RING].ev);
		t->tail++;
	}
	return n;
}

size_t vmig__meas_collect(struct vmig__piece *out, size_t max, uint64_t now)
{
	size_t n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < NTRACK; i++) {
		struct tracker *t = &trackers[i];
		if (!t->used)
			continue;
		/* A tail that has completed: the stream is idle, its batch ends there. */
		if (t->tail_live && drv.query(t->tailev) == CUDA_SUCCESS)
			freeze(t, true, now);
		n = consume(t, out, n, max);
		if (!t->open && t->head == t->tail && !t->tail_live &&
		    now - t->last_use > IDLE_EVICT_NS)
			t->used = false;
	}
	pthread_mutex_unlock(&mu);
	return n;
}

void vmig__meas_learn(const struct vmig__piece *p, double per_launch)
{
	struct tracker *t = p->trk;
	pthread_mutex_lock(&mu);
	if (t->used && t->key == p->key)
		t->cost = t->cost > 0 ? (3 * t->cost + per_launch) / 4 : per_launch;
	pthread_mutex_unlock(&mu);
}
