/*
 * sim.c — the stand-in's GPU (sim.h): a timeline in shared memory, its
 * simulated clock, the kernels queued on it and what they used.
 *
 * One robust, process-shared mutex guards everything in the timeline.
 * Waiting is a futex on a sequence number bumped whenever the clock moves
 * or a participant leaves; waits are cut into short host-time slices so a
 * waiter also notices participants that died.
 *
 * Participants are the threads that queued work or waited here.  The clock
 * moves only when all of them wait: then it jumps to the earliest time one
 * of them waits for (with VMIGSTUB_REALTIME=1 never ahead of the host time
 * since the timeline was made, for tests that change things from outside
 * while a program runs).  A participant that has not been seen for
 * IDLE_WALL_NS of host time (blocked on something else than the GPU) no
 * longer holds the clock, so a test can never hang on one.
 *
 * Accounting: every kernel adds its interval to three unions (the GPU's,
 * its process's, its group's); as kernels start in launch order, a union is
 * a short list of future segments plus the length already past.  At each
 * NVML sample period boundary the unions are sampled, which is what
 * stub_nvml.c reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define SIM_MAGIC      0x31454e494c4d4953ull /* "SIMLINE1" */
#define MAXRUN	       4096
#define MAXPART	       256
#define MAXPROC	       128
#define MAXGROUP       32
#define NSEG	       64
#define QUEUE_AHEAD_NS 20000000ull
#define IDLE_WALL_NS   2000000000ull
#define STALE_WALL_NS  50000000ull
#define SLICE_WALL_NS  20000000ull
#define PERIOD_DEFAULT 50 /* ms: the NVML sample period */

struct seg {
	uint64_t s, e;
};

/* A union of kernel intervals: `past` ns before the segments, which are in order. */
struct acc {
	uint64_t past;
	uint32_t nseg, pad;
	struct seg seg[NSEG];
	uint64_t snap_t, snap, prev_t, prev; /* the last two samples: (time, busy then) */
};

/* A kernel that may still run: when it ends, and how many SMs it holds until then. */
struct run {
	uint64_t end, width;
};

struct part {
	int32_t pid, tid;
	uint32_t waiting, pad;
	uint64_t wake, seen_wall;
};

struct proc {
	int32_t pid;
	uint32_t group; /* index + 1; 0: none */
	struct acc acc;
};

struct group {
	char name[128];
	struct acc acc;
};

struct timeline {
	uint64_t magic;
	uint32_t size, sms;
	union {
		pthread_mutex_t m;
		char pad[64];
	} lock;
	_Atomic uint32_t seq;
	uint32_t arrived; /* sim_barrier */
	uint64_t now, wall0, period;
	uint32_t realtime, nrun;
	uint64_t last_start;
	struct run run[MAXRUN];
	struct part parts[MAXPART];
	struct acc gpu;
	struct proc procs[MAXPROC];
	struct group groups[MAXGROUP];
};

static struct timeline *T;
static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static pthread_key_t part_key;
static int my_proc = -1;	       /* index into procs, this process */
static int32_t my_pid;		       /* getpid() is a system call: asked once, and after fork */
static uint64_t my_ready;	       /* when this process's work ends */
static _Thread_local int my_part = -1; /* index into parts, this thread */
static _Thread_local int32_t my_tid;

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* ---- Locking and waking ------------------------------------------------- */

static void lock(void)
{
	if (pthread_mutex_lock(&T->lock.m) == EOWNERDEAD)
		pthread_mutex_consistent(&T->lock.m); /* a holder died: the fields stay usable */
}

static void unlock(void)
{
	pthread_mutex_unlock(&T->lock.m);
}

static void wake_all(void)
{
	atomic_fetch_add(&T->seq, 1);
	syscall(SYS_futex, (uint32_t *)&T->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Drop the lock, wait for a wake-up (at most ns of host time), take it again. */
static void nap_locked(uint64_t ns)
{
	uint32_t seen = atomic_load(&T->seq);
	unlock();
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	syscall(SYS_futex, (uint32_t *)&T->seq, FUTEX_WAIT, seen, &ts, NULL, 0);
	lock();
}

/* ---- Unions of intervals ---------------------------------------------------- */

static void acc_fold(struct acc *a, uint64_t upto)
{
	uint32_t k = 0;
	while (k < a->nseg && a->seg[k].e <= upto) {
		a->past += a->seg[k].e - a->seg[k].s;
		k++;
	}
	if (k) {
		memmove(a->seg, a->seg + k, (a->nseg - k) * sizeof(a->seg[0]));
		a->nseg -= k;
	}
}

/* Add [s, e); no interval added before started later than s. */
static void acc_add(struct acc *a, uint64_t s, uint64_t e)
{
	if (e <= s)
		return;
	acc_fold(a, T->now);
	struct seg *last = a->nseg ? &a->seg[a->nseg - 1] : NULL;
	if (last && s <= last->e) {
		if (e > last->e)
			last->e = e;
	} else if (a->nseg < NSEG) {
		a->seg[a->nseg++] = (struct seg){s, e};
	} else {
		last->e = e; /* out of segments: the gap counts as busy (never seen in tests) */
	}
}

/* The union's length before t (t not before the last fold). */
static uint64_t acc_busy(const struct acc *a, uint64_t t)
{
	uint64_t b = a->past;
	for (uint32_t i = 0; i < a->nseg && a->seg[i].s < t; i++)
		b += (a->seg[i].e < t ? a->seg[i].e : t) - a->seg[i].s;
	return b;
}

static void acc_start(struct acc *a, uint64_t sample_t)
{
	memset(a, 0, sizeof(*a));
	a->snap_t = a->prev_t = sample_t;
}

static void acc_sample(struct acc *a, uint64_t t)
{
	a->prev_t = a->snap_t;
	a->prev = a->snap;
	a->snap_t = t;
	a->snap = acc_busy(a, t);
}

/* ---- Processes, groups and participants --------------------------------------- */

static bool pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static bool thread_alive(int32_t pid, int32_t tid)
{
	return syscall(SYS_tgkill, pid, tid, 0) == 0 || errno == EPERM;
}

static unsigned group_of(const char *name)
{
	if (!name || !*name)
		return 0;
	for (unsigned i = 0; i < MAXGROUP; i++)
		if (strcmp(T->groups[i].name, name) == 0)
			return i + 1;
	for (unsigned i = 0; i < MAXGROUP; i++)
		if (!T->groups[i].name[0]) {
			snprintf(T->groups[i].name, sizeof(T->groups[i].name), "%s", name);
			acc_start(&T->groups[i].acc, T->now / T->period * T->period);
			return i + 1;
		}
	return 0;
}

static const char *my_group(void)
{
	const char *g = getenv("VMIGSTUB_GROUP");
	return g && *g ? g : getenv("VMIG_PARTITION");
}

/* This process's entry (caller holds the lock); -1 if the table is full of live ones. */
static int proc_self(void)
{
	int32_t pid = my_pid;
	if (my_proc >= 0 && T->procs[my_proc].pid == pid)
		return my_proc;
	int spare = -1;
	for (int i = 0; i < MAXPROC; i++) {
		if (T->procs[i].pid == pid)
			return my_proc = i;
		if (spare < 0 && (T->procs[i].pid == 0 || !pid_alive(T->procs[i].pid)))
			spare = i;
	}
	if (spare < 0)
		return -1;
	struct proc *p = &T->procs[spare];
	p->pid = pid;
	acc_start(&p->acc, T->now / T->period * T->period);
	p->group = group_of(my_group());
	return my_proc = spare;
}

static void part_free(int i)
{
	memset(&T->parts[i], 0, sizeof(T->parts[i]));
}

/* This thread's participant entry (caller holds the lock), seen now. */
static struct part *part_self(void)
{
	if (!my_tid)
		my_tid = (int32_t)syscall(SYS_gettid);
	int32_t pid = my_pid, tid = my_tid;
	struct part *p = my_part >= 0 ? &T->parts[my_part] : NULL;
	if (!p || p->pid != pid || p->tid != tid) {
		p = NULL;
		for (int i = 0; i < MAXPART && !p; i++)
			if (T->parts[i].pid == 0 ||
			    !thread_alive(T->parts[i].pid, T->parts[i].tid)) {
				p = &T->parts[i];
				my_part = i;
			}
		if (!p)
			return NULL; /* more threads than entries: this one never holds the clock */
		*p = (struct part){.pid = pid, .tid = tid};
		pthread_setspecific(part_key, (void *)1);
	}
	p->seen_wall = coarse_ns();
	return p;
}

/* A thread that took part ends: it no longer holds the clock. */
static void part_gone(void *arg)
{
	(void)arg;
	if (my_part < 0 || !T)
		return;
	lock();
	if (T->parts[my_part].tid == (int32_t)syscall(SYS_gettid))
		part_free(my_part);
	my_part = -1;
	wake_all();
	unlock();
}

static void proc_gone(void)
{
	int32_t pid = my_pid;
	lock();
	for (int i = 0; i < MAXPART; i++)
		if (T->parts[i].pid == pid)
			part_free(i);
	wake_all();
	unlock();
}

static void atfork_child(void)
{
	my_proc = -1;
	my_part = -1;
	my_tid = 0;
	my_ready = 0;
	my_pid = (int32_t)getpid();
}

/* ---- The clock ---------------------------------------------------------------- */

static void set_now(uint64_t t)
{
	uint64_t b = t / T->period * T->period;
	if (b > T->gpu.snap_t) {
		acc_sample(&T->gpu, b);
		for (int i = 0; i < MAXPROC; i++)
			if (T->procs[i].pid)
				acc_sample(&T->procs[i].acc, b);
		for (int i = 0; i < MAXGROUP; i++)
			if (T->groups[i].name[0])
				acc_sample(&T->groups[i].acc, b);
	}
	T->now = t;
	wake_all();
}

/*
 * Move the clock if every participant waits (caller holds the lock).
 * Participants that died are dropped on the way.
 */
static void advance(void)
{
	uint64_t wall = wall_ns(), wake = UINT64_MAX;
	for (int i = 0; i < MAXPART; i++) {
		struct part *p = &T->parts[i];
		if (p->pid == 0)
			continue;
		if (!p->waiting) {
			uint64_t quiet = wall > p->seen_wall ? wall - p->seen_wall : 0;
			if (quiet >= STALE_WALL_NS && !thread_alive(p->pid, p->tid)) {
				part_free(i);
				continue;
			}
			if (quiet < IDLE_WALL_NS)
				return; /* it runs host code: the clock waits for it */
			continue;
		}
		if (p->wake < wake)
			wake = p->wake;
	}
	if (wake == UINT64_MAX)
		return;
	if (wake <= T->now) {
		wake_all(); /* someone is due already */
		return;
	}
	uint64_t to = wake;
	if (T->realtime && wall - T->wall0 < to)
		to = wall - T->wall0;
	if (to > T->now)
		set_now(to);
}

/* Wait with the lock held until the clock reads t. */
static void wait_locked(uint64_t t)
{
	struct part *p = part_self();
	if (!p) {
		/* Not a participant: follow the clock from outside. */
		while (T->now < t)
			nap_locked(SLICE_WALL_NS);
		return;
	}
	p->waiting = 1;
	p->wake = t;
	while (T->now < t) {
		advance();
		if (T->now >= t)
			break;
		uint64_t slice = SLICE_WALL_NS;
		if (T->realtime) {
			uint64_t due = T->wall0 + t, w = wall_ns();
			if (due > w && due - w < slice)
				slice = due - w;
		}
		nap_locked(slice ? slice : 1);
		p = &T->parts[my_part];
	}
	p->waiting = 0;
	p->seen_wall = wall_ns();
}

/* ---- Opening --------------------------------------------------------------------- */

static void init(struct timeline *t)
{
	memset(t, 0, sizeof(*t));
	t->size = (uint32_t)sizeof(*t);
	uint64_t sms = env_u64("VMIGSTUB_SMS", 1);
	t->sms = (uint32_t)(sms ? sms : 1);
	t->realtime = env_u64("VMIGSTUB_REALTIME", 0) != 0;
	uint64_t ms = env_u64("VMIGSTUB_NVML_PERIOD_MS", PERIOD_DEFAULT);
	t->period = (ms ? ms : 1) * 1000000ull;
	t->wall0 = wall_ns();
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&t->lock.m, &a);
	pthread_mutexattr_destroy(&a);
	__atomic_store_n(&t->magic, SIM_MAGIC, __ATOMIC_RELEASE);
}

static struct timeline *map_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	struct timeline *t = MAP_FAILED;
	struct stat st;
	flock(fd, LOCK_EX);
	bool fresh = fstat(fd, &st) == 0 && st.st_size == 0;
	if ((fresh && ftruncate(fd, sizeof(*t)) == 0) ||
	    (!fresh && st.st_size == (off_t)sizeof(*t)))
		t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t != MAP_FAILED && fresh)
		init(t);
	else if (t != MAP_FAILED && (t->magic != SIM_MAGIC || t->size != sizeof(*t))) {
		munmap(t, sizeof(*t));
		t = MAP_FAILED;
	}
	flock(fd, LOCK_UN);
	close(fd);
	return t == MAP_FAILED ? NULL : t;
}

static void open_timeline(void)
{
	const char *path = getenv("VMIGSTUB_TIMELINE");
	if (path && *path && !(T = map_file(path)))
		fprintf(stderr,
			"vmigstub: timeline %s unusable: this process has a GPU of its own\n",
			path);
	if (!T) {
		void *p = mmap(NULL, sizeof(*T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED)
			abort(); /* a test tool without memory has nothing left to test */
		T = p;
		init(T);
	}
	my_pid = (int32_t)getpid();
	pthread_key_create(&part_key, part_gone);
	pthread_atfork(NULL, NULL, atfork_child);
	atexit(proc_gone);
}

void sim_open(void)
{
	pthread_once(&open_once, open_timeline);
}

/* ---- The interface ---------------------------------------------------------------- */

uint64_t sim_now(void)
{
	sim_touch();
	return __atomic_load_n(&T->now, __ATOMIC_ACQUIRE);
}

void sim_touch(void)
{
	sim_open();
	int32_t pid = my_pid;
	struct part *p = my_part >= 0 ? &T->parts[my_part] : NULL;
	if (p && my_tid && __atomic_load_n(&p->pid, __ATOMIC_RELAXED) == pid &&
	    __atomic_load_n(&p->tid, __ATOMIC_RELAXED) == my_tid) {
		/* Seen: the host time only matters at 2 s, so it is read every 64 calls. */
		static _Thread_local unsigned calls;
		if (calls++ % 64 == 0)
			__atomic_store_n(&p->seen_wall, coarse_ns(), __ATOMIC_RELAXED);
		return;
	}
	lock();
	part_self();
	unlock();
}

void sim_wait_until(uint64_t t)
{
	sim_open();
	lock();
	wait_locked(t);
	unlock();
}

/* The earliest start at or after t0 with w SMs free (caller holds the lock). */
static uint64_t fit(uint64_t t0, uint64_t w)
{
	uint64_t used = 0;
	for (uint32_t i = 0; i < T->nrun;) {
		if (T->run[i].end <= t0) {
			T->run[i] = T->run[--T->nrun];
			continue;
		}
		used += T->run[i].width;
		i++;
	}
	uint64_t at = t0;
	/* Every kernel queued so far started by t0: only ends free SMs from there on. */
	while (used + w > T->sms) {
		uint64_t next = UINT64_MAX, width = 0;
		for (uint32_t i = 0; i < T->nrun; i++)
			if (T->run[i].end > at && T->run[i].end < next)
				next = T->run[i].end;
		for (uint32_t i = 0; i < T->nrun; i++)
			if (T->run[i].end == next)
				width += T->run[i].width;
		if (next == UINT64_MAX)
			break;
		used -= width;
		at = next;
	}
	return at;
}

void sim_kernel(struct sim_stream *s, uint64_t blocks, uint64_t block_ns)
{
	sim_open();
	lock();
	part_self();
	while (T->nrun == MAXRUN) {
		uint64_t first = UINT64_MAX;
		for (uint32_t i = 0; i < T->nrun; i++)
			first = T->run[i].end < first ? T->run[i].end : first;
		wait_locked(first);
		fit(T->now, 0);
	}
	uint64_t w = blocks < T->sms ? blocks : T->sms;
	uint64_t d = blocks ? (blocks + w - 1) / w * block_ns : 0;
	uint64_t t0 = T->now > s->ready ? T->now : s->ready;
	t0 = t0 > T->last_start ? t0 : T->last_start;
	uint64_t start = d ? fit(t0, w) : t0, end = start + d;
	if (d)
		T->run[T->nrun++] = (struct run){end, w};
	if (d)
		T->last_start = start;
	s->ready = end;
	my_ready = end > my_ready ? end : my_ready;
	int me = proc_self();
	acc_add(&T->gpu, start, end);
	if (me >= 0) {
		acc_add(&T->procs[me].acc, start, end);
		if (T->procs[me].group)
			acc_add(&T->groups[T->procs[me].group - 1].acc, start, end);
	}
	if (end > T->now + QUEUE_AHEAD_NS)
		wait_locked(end - QUEUE_AHEAD_NS);
	unlock();
}

uint64_t sim_mark(struct sim_stream *s)
{
	sim_open();
	lock();
	part_self();
	uint64_t t = s->ready > T->now ? s->ready : T->now;
	unlock();
	return t;
}

uint64_t sim_proc_ready(void)
{
	sim_open();
	lock();
	uint64_t t = my_ready;
	unlock();
	return t;
}

uint64_t sim_busy_pid(int32_t pid)
{
	sim_open();
	lock();
	uint64_t b = 0;
	if (pid == 0)
		b = acc_busy(&T->gpu, T->now);
	for (int i = 0; i < MAXPROC && pid; i++)
		if (T->procs[i].pid == pid)
			b = acc_busy(&T->procs[i].acc, T->now);
	unlock();
	return b;
}

uint64_t sim_busy_group(const char *group)
{
	sim_open();
	uint64_t b = 0;
	lock();
	for (int i = 0; i < MAXGROUP && group; i++)
		if (T->groups[i].name[0] && strcmp(T->groups[i].name, group) == 0)
			b = acc_busy(&T->groups[i].acc, T->now);
	unlock();
	return b;
}

bool sim_barrier(unsigned n, double seconds)
{
	sim_open();
	uint64_t until = wall_ns() + (uint64_t)(seconds * 1e9);
	lock();
	T->arrived++;
	wake_all();
	while (T->arrived < n && wall_ns() < until) {
		part_self(); /* holds the clock still until everybody is there */
		nap_locked(SLICE_WALL_NS);
	}
	bool ok = T->arrived >= n;
	part_self();
	unlock();
	return ok;
}

static const struct acc *acc_of(int32_t pid)
{
	if (pid == 0)
		return &T->gpu;
	for (int i = 0; i < MAXPROC; i++)
		if (T->procs[i].pid == pid)
			return &T->procs[i].acc;
	return NULL;
}

static unsigned pct_of(const struct acc *a)
{
	uint64_t dt = a->snap_t - a->prev_t;
	return dt ? (unsigned)(((a->snap - a->prev) * 100 + dt / 2) / dt) : 0;
}

bool sim_sample(int32_t pid, unsigned *pct, uint64_t *ts_us)
{
	sim_open();
	lock();
	const struct acc *a = acc_of(pid);
	bool ok = a && a->snap_t > a->prev_t;
	if (ok) {
		*pct = pct_of(a);
		*ts_us = a->snap_t / 1000;
	}
	unlock();
	return ok;
}

unsigned sim_sample_pids(int32_t *pids, unsigned max)
{
	sim_open();
	unsigned n = 0;
	lock();
	for (int i = 0; i < MAXPROC && n < max; i++) {
		const struct acc *a = &T->procs[i].acc;
		if (T->procs[i].pid && a->snap_t > a->prev_t && a->snap > a->prev)
			pids[n++] = T->procs[i].pid;
	}
	unlock();
	return n;
}
