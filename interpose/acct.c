/*
 * acct.c — the accounting region shared by every process of an instance.
 *
 * The region is a file (VMIG_ACCOUNTING) mapped MAP_SHARED, which vmig made
 * with the instance (docs/tenancy.md); without one the interposer fails
 * closed rather than count a process alone.  It starts with magic,
 * version and size, and is created or checked under flock, so two builds
 * never read each other's layout wrongly.
 *
 * Each process owns one slot: (pid, start time) plus a byte counter that
 * only the owner adds to.  Charging an allocation is one atomic add on the
 * own counter followed by a sum over the used slots: because the add and the
 * loads are sequentially consistent, of two processes racing for the last
 * bytes at least one sees the other's add, so the instance never goes over
 * its quota, and a process that dies leaves exactly its own counter behind,
 * which the next process that needs the lock frees (no leak, no drift).
 * The robust, process-shared mutex is taken only to register a process or
 * reclaim dead ones; an owner dying while holding it is repaired on the next
 * lock (EOWNERDEAD -> pthread_mutex_consistent -> reclaim pass).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static struct vmig__region *region;
static bool region_shared; /* a file other processes (and vmig) may map */
/*
 * The region file, kept open for the life of the process: its open file
 * description holds this process's slot lock (region.h).  Reopened by a
 * forked child, which must hold a lock of its own; -1 for a private region.
 */
static int region_fd = -1;
static char region_path[VMIG_ACCT_PATH_LEN];
static _Atomic int my_slot = -1;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER; /* this process only */

static uint64_t creator_limit(const struct vmig__config *c)
{
	return c->mem_limited ? c->mem_limit : 0;
}

static struct vmig__region *open_file(const struct vmig__config *c, char *why, size_t len)
{
	const char *err = NULL;
	struct vmig__region *r = NULL;
	/* vmig made the file with the instance (never this process: it would own it). */
	int fd = open(c->acct_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		err = errno == ELOOP ? "a symbolic link" : strerror(errno);
	} else if ((err = vmig__limits_check_acct(fd, &c->limits_st, &c->limits))) {
		close(fd);
		fd = -1;
	} else if (!(r = vmig__region_map_ready(fd, c->partition))) {
		/* Not made yet (or wrong): create or check it under the file's lock. */
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
		r = vmig__region_map_fd(fd, c->partition, creator_limit(c), c->compute_pct,
					c->limits.compute_policy, &err);
		flock(fd, LOCK_UN);
		if (!r) {
			close(fd);
			fd = -1;
		}
	}
	if (!r)
		snprintf(why, len,
			 "accounting file %s: %s: failing closed (CUDA calls return "
			 "CUDA_ERROR_NOT_INITIALIZED)",
			 c->acct_path, err);
	region_fd = fd;
	/* Both VMIG_ACCT_PATH_LEN long, the source NUL-terminated (no printf on the start path). */
	size_t n = strnlen(c->acct_path, sizeof(region_path) - 1);
	memcpy(region_path, c->acct_path, n);
	region_path[n] = '\0';
	return r;
}

struct vmig__region *vmig__acct_open(const struct vmig__config *c, char *why, size_t whylen)
{
	if (region)
		return region;
	/*
	 * A file that cannot be used is never replaced by a private region:
	 * counting this process alone would let every process of the instance
	 * use the whole quota.  The caller fails closed instead.
	 */
	if (!c->acct_path[0]) {
		snprintf(why, whylen, "no " VMIG_ENV_ACCOUNTING ": failing closed");
		return NULL;
	}
	struct vmig__region *r = open_file(c, why, whylen);
	if (!r)
		return NULL;
	/*
	 * Register now, not at the first allocation: a process that only
	 * launches kernels still runs in the instance, and destroying the GI
	 * must see it.
	 */
	region = r;
	region_shared = true;
	vmig__acct_slot();
	return r;
}

struct vmig__region *vmig__acct(void)
{
	return region;
}

bool vmig__acct_shared(void)
{
	return region_shared;
}

/* Slots an incremental reclaim tests at most (each test is one fcntl). */
#define RECLAIM_STEP 8

/*
 * Free slot i if its process is dead (caller holds the lock); 1 if it did.
 * A free slot's counter is cleared too (late adds of an exiting process).
 */
static int reclaim_slot(struct vmig__region *r, uint32_t i)
{
	if (atomic_load(&r->slots[i].pid) == 0) {
		atomic_store(&r->bytes[i], 0);
		return 0;
	}
	/* Our own lock is invisible to us (region.h): our slot is alive. */
	if ((int)i == atomic_load(&my_slot) || vmig__slot_live(r, region_fd, i))
		return 0;
	atomic_store(&r->bytes[i], 0);
	atomic_store(&r->slots[i].pid, 0);
	atomic_store(&r->busy.free_hint, i);
	return 1;
}

/* Free every dead process's slot.  Caller holds the lock. */
static int reclaim_locked(struct vmig__region *r)
{
	int freed = 0;
	uint32_t hi = atomic_load(&r->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS; i++)
		freed += reclaim_slot(r, i);
	return freed;
}

/*
 * Free dead slots a few at a time (caller holds the lock): the next
 * RECLAIM_STEP used slots from where the last call stopped, or with
 * memory_only, of those that hold memory (which a reader of free memory
 * wants back; looking at the counters costs no system call).  The work of
 * one call is bounded, whatever the number of processes.
 */
static int reclaim_some(struct vmig__region *r, bool memory_only)
{
	uint32_t hi = atomic_load(&r->slot_hi), from = atomic_load(&r->busy.reclaim_at), next = 0;
	hi = hi < VMIG_ACCT_SLOTS ? hi : VMIG_ACCT_SLOTS;
	int freed = 0;
	unsigned tested = 0;
	for (uint32_t k = 0; k < hi && tested < RECLAIM_STEP; k++) {
		uint32_t i = (from + k) % hi;
		next = i + 1;
		if (atomic_load(&r->slots[i].pid) == 0 ||
		    (memory_only && atomic_load(&r->bytes[i]) == 0))
			continue;
		tested++;
		freed += reclaim_slot(r, i);
	}
	atomic_store(&r->busy.reclaim_at, hi ? next % hi : 0);
	return freed;
}

void vmig__acct_lock(struct vmig__region *r)
{
	int rc = pthread_mutex_lock(&r->lock.m);
	if (rc == EOWNERDEAD) {
		/* The holder died mid-update: the reclaim pass below repairs any slot. */
		pthread_mutex_consistent(&r->lock.m);
		reclaim_locked(r);
	}
}

void vmig__acct_unlock(struct vmig__region *r)
{
	pthread_mutex_unlock(&r->lock.m);
}

int vmig__acct_reclaim(void)
{
	struct vmig__region *r = region;
	if (!r)
		return 0;
	vmig__acct_lock(r);
	int n = reclaim_some(r, true);
	vmig__acct_unlock(r);
	return n;
}

/* Take slot i for this process if it is free and its lock can be had (caller holds the lock). */
static int take_slot(struct vmig__region *r, uint32_t i, int32_t pid)
{
	if (atomic_load(&r->slots[i].pid) != 0)
		return 0;
	bool locked = false;
	if (region_fd >= 0) {
		int rc = vmig__slot_lock(region_fd, i);
		if (rc == -EAGAIN || rc == -EACCES)
			return 0; /* a process that has not written its pid yet */
		if (rc < 0 && rc != -EINVAL)
			return -1; /* EINVAL: no OFD locks here, PIDs decide */
		locked = rc == 0;
	}
	if (i >= atomic_load(&r->slot_hi))
		atomic_store(&r->slot_hi, i + 1);
	atomic_store(&r->bytes[i], 0);
	/*
	 * The start time tells a reused PID from its first owner, which only
	 * matters where no lock says whether the slot lives: a held slot saves
	 * the read of /proc on every start.
	 */
	r->slots[i].start_time = locked ? 0 : vmig__proc_start_time(pid);
	atomic_store(&r->slots[i].pid, pid);
	atomic_store(&r->busy.free_hint, i + 1);
	return 1;
}

/*
 * A slot for this process, in constant time: the slot the region's hint
 * names (the one the last process that left gave back, or the one after
 * the last taken), else the first never used, after a bounded reclaim of
 * dead ones.  Only a table whose every slot has been used is searched.
 * A slot of a private region (no file) needs no lock.
 */
static int register_locked(struct vmig__region *r)
{
	int32_t pid = (int32_t)getpid();
	if (region_shared && region_fd < 0)
		return -1; /* the file could not be reopened after fork: no slot, no memory */
	reclaim_some(r, false);
	uint32_t hint = atomic_load(&r->busy.free_hint), hi = atomic_load(&r->slot_hi);
	uint32_t first[2] = {hint, hi};
	for (int k = 0; k < 2; k++) {
		int rc = first[k] < VMIG_ACCT_SLOTS ? take_slot(r, first[k], pid) : 0;
		if (rc)
			return rc < 0 ? -1 : (int)first[k];
	}
	for (uint32_t k = 0; k < VMIG_ACCT_SLOTS; k++) {
		uint32_t i = (hint + k) % VMIG_ACCT_SLOTS;
		int rc = take_slot(r, i, pid);
		if (rc)
			return rc < 0 ? -1 : (int)i;
	}
	return -1;
}

int vmig__acct_slot(void)
{
	int s = atomic_load_explicit(&my_slot, memory_order_acquire);
	if (VMIG_LIKELY(s >= 0) || !region)
		return s;
	pthread_mutex_lock(&reg_mu);
	s = atomic_load(&my_slot);
	if (s < 0) {
		vmig__acct_lock(region);
		s = register_locked(region);
		vmig__acct_unlock(region);
		if (s < 0)
			VMIG_LOG("accounting region full (%d processes)", VMIG_ACCT_SLOTS);
		atomic_store_explicit(&my_slot, s, memory_order_release);
	}
	pthread_mutex_unlock(&reg_mu);
	return s;
}

static uint64_t sum_slots(struct vmig__region *r)
{
	uint32_t hi = atomic_load(&r->slot_hi);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS; i++)
		sum += atomic_load(&r->bytes[i]);
	return sum;
}

static bool try_reserve(struct vmig__region *r, int s, uint64_t n, uint64_t limit)
{
	atomic_fetch_add(&r->bytes[s], n);
	if (sum_slots(r) <= limit)
		return true;
	atomic_fetch_sub(&r->bytes[s], n);
	return false;
}

bool vmig__acct_reserve(uint64_t n, uint64_t limit)
{
	if (n > limit)
		return false;
	int s = vmig__acct_slot();
	if (s < 0)
		return false;
	struct vmig__region *r = region;
	if (VMIG_LIKELY(try_reserve(r, s, n, limit)))
		return true;
	/*
	 * Near the quota: free what dead processes hold, and retry a few
	 * times, because a racing process's add may be one it is about to
	 * take back.
	 */
	vmig__acct_lock(r);
	reclaim_locked(r);
	bool ok = false;
	for (int i = 0; i < 4 && !ok; i++) {
		ok = try_reserve(r, s, n, limit);
		if (!ok)
			sched_yield();
	}
	vmig__acct_unlock(r);
	return ok;
}

void vmig__acct_unreserve(uint64_t n)
{
	int s = atomic_load(&my_slot);
	if (s < 0 || !region || n == 0)
		return;
	/* Saturate at zero: a counter that wraps would report exabytes in use. */
	_Atomic uint64_t *b = &region->bytes[s];
	uint64_t cur = atomic_load(b);
	while (!atomic_compare_exchange_weak(b, &cur, cur > n ? cur - n : 0))
		;
}

uint64_t vmig__acct_used(void)
{
	return region ? sum_slots(region) : 0;
}

/*
 * After fork, in the child: the slot and its lock are the parent's (the
 * child shares the parent's open file description, lock included).  The
 * child lets go of its copy and opens the file anew, so that it gets a lock
 * of its own when it registers, and the parent's slot dies with the parent.
 */
void vmig__acct_forget(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	reg_mu = fresh;
	atomic_store(&my_slot, -1);
	if (region_fd >= 0) {
		close(region_fd);
		region_fd = open(region_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	}
}

/* A normal exit gives the slot back at once; a crash leaves it to reclaim. */
__attribute__((destructor)) static void acct_exit(void)
{
	int s = atomic_load(&my_slot);
	if (s < 0 || !region)
		return;
	atomic_store(&region->bytes[s], 0);
	atomic_store(&region->slots[s].pid, 0);
	atomic_store(&region->busy.free_hint, (uint32_t)s); /* the next process takes it */
	/* The lock goes when the file is closed: at exit, with the process. */
}
