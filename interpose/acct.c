/*
 * acct.c — the accounting region shared by every process of an instance.
 *
 * The region is a file (VMIG_ACCOUNTING) mapped MAP_SHARED; without one, an
 * anonymous shared mapping stands in, so the code paths are the same and a
 * forked child still shares its parent's counters.  It starts with magic,
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

_Static_assert(sizeof(pthread_mutex_t) <= 64, "mutex must fit the region's slot");

static struct vmig__region *region;
static _Atomic int my_slot = -1;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER; /* this process only */

uint64_t vmig__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void init_region(struct vmig__region *r, const struct vmig__config *c)
{
	memset(r, 0, sizeof(*r));
	r->version = VMIG_ACCT_VERSION;
	r->size = (uint32_t)sizeof(*r);
	r->mem_limit = c->mem_limited ? c->mem_limit : 0;
	r->compute_pct = c->compute_pct;
	r->nslots = VMIG_ACCT_SLOTS;
	snprintf(r->partition, sizeof(r->partition), "%s", c->partition);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&r->lock.m, &a);
	pthread_mutexattr_destroy(&a);
	atomic_store(&r->refill_ns, vmig__now_ns());
	__atomic_store_n(&r->magic, VMIG_ACCT_MAGIC, __ATOMIC_RELEASE);
}

static const char *check_region(const struct vmig__region *r, const struct vmig__config *c)
{
	if (r->magic != VMIG_ACCT_MAGIC)
		return "bad magic";
	if (r->version != VMIG_ACCT_VERSION || r->size != sizeof(*r) ||
	    r->nslots != VMIG_ACCT_SLOTS)
		return "another layout version";
	if (strncmp(r->partition, c->partition, sizeof(r->partition)) != 0)
		return "it belongs to another instance";
	return NULL;
}

/* Map the file; the caller holds flock on fd.  NULL with *err set on failure. */
static struct vmig__region *map_file(int fd, const struct vmig__config *c, const char **err)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*err = "not a regular file";
		return NULL;
	}
	bool fresh = st.st_size == 0;
	if (!fresh && st.st_size != (off_t)sizeof(struct vmig__region)) {
		*err = "size differs from this build's layout";
		return NULL;
	}
	if (fresh && ftruncate(fd, (off_t)sizeof(struct vmig__region)) < 0) {
		*err = "cannot size it";
		return NULL;
	}
	void *p = mmap(NULL, sizeof(struct vmig__region), PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (p == MAP_FAILED) {
		*err = "cannot map it";
		return NULL;
	}
	struct vmig__region *r = p;
	if (fresh)
		init_region(r, c);
	else if ((*err = check_region(r, c)) != NULL) {
		munmap(p, sizeof(*r));
		return NULL;
	}
	return r;
}

static struct vmig__region *open_file(const struct vmig__config *c, char *why, size_t len)
{
	const char *err = NULL;
	int fd = open(c->acct_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, len, "accounting file %s: %s: counting this process alone",
			 c->acct_path, strerror(errno));
		return NULL;
	}
	struct vmig__region *r = NULL;
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	r = map_file(fd, c, &err);
	flock(fd, LOCK_UN);
	close(fd);
	if (!r)
		snprintf(why, len, "accounting file %s: %s: counting this process alone",
			 c->acct_path, err);
	return r;
}

struct vmig__region *vmig__acct_open(const struct vmig__config *c, char *why, size_t whylen)
{
	if (region)
		return region;
	struct vmig__region *r = c->acct_path[0] ? open_file(c, why, whylen) : NULL;
	if (!r) {
		void *p = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		r = p;
		init_region(r, c);
	}
	region = r;
	return r;
}

struct vmig__region *vmig__acct(void)
{
	return region;
}

/*
 * Read /proc/<pid>/stat: 1 = the process is gone or a zombie, 0 = alive
 * (start time in *st), -1 = cannot tell (no /proc).
 */
static int proc_state(int32_t pid, uint64_t *st)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && access("/proc/self/stat", R_OK) == 0 ? 1 : -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold anything; fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	if (p[2] == 'Z' || p[2] == 'X')
		return 1; /* a zombie holds no GPU memory any more */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	*st = strtoull(p, NULL, 10);
	return 0;
}

uint64_t vmig__proc_start_time(int32_t pid)
{
	uint64_t st = 0;
	return proc_state(pid, &st) == 0 ? st : 0;
}

bool vmig__proc_gone(int32_t pid, uint64_t start_time)
{
	if (pid <= 0)
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	uint64_t st = 0;
	int state = proc_state(pid, &st);
	if (state != 0)
		return state == 1;
	/* Same pid, other start time: the pid was reused by a stranger. */
	return start_time != 0 && st != start_time;
}

/* Free dead processes' slots.  Caller holds the lock. */
static int reclaim_locked(struct vmig__region *r)
{
	int freed = 0;
	uint32_t hi = atomic_load(&r->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS; i++) {
		int32_t pid = atomic_load(&r->slots[i].pid);
		if (pid == 0) {
			atomic_store(&r->bytes[i], 0); /* late adds of an exiting process */
			continue;
		}
		if (!vmig__proc_gone(pid, r->slots[i].start_time))
			continue;
		atomic_store(&r->bytes[i], 0);
		atomic_store(&r->slots[i].pid, 0);
		freed++;
	}
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
	int n = reclaim_locked(r);
	vmig__acct_unlock(r);
	return n;
}

static int register_locked(struct vmig__region *r)
{
	int32_t pid = (int32_t)getpid();
	uint64_t st = vmig__proc_start_time(pid);
	reclaim_locked(r);
	for (int i = 0; i < VMIG_ACCT_SLOTS; i++) {
		if (atomic_load(&r->slots[i].pid) != 0)
			continue;
		uint32_t hi = atomic_load(&r->slot_hi);
		if ((uint32_t)i >= hi)
			atomic_store(&r->slot_hi, (uint32_t)i + 1);
		atomic_store(&r->bytes[i], 0);
		r->slots[i].start_time = st;
		atomic_store(&r->slots[i].pid, pid);
		return i;
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

void vmig__acct_forget(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	reg_mu = fresh;
	atomic_store(&my_slot, -1);
}

/* A normal exit gives the slot back at once; a crash leaves it to reclaim. */
__attribute__((destructor)) static void acct_exit(void)
{
	int s = atomic_load(&my_slot);
	if (s < 0 || !region)
		return;
	atomic_store(&region->bytes[s], 0);
	atomic_store(&region->slots[s].pid, 0);
}
