/*
 * region.h — the accounting region of a software GPU instance: the one
 * definition of a cross-process ABI shared by the interposer
 * (interpose/acct.c maps it in every process of the instance) and the soft
 * backend (lib/backend/soft.c writes a new compute share into it while
 * programs run, and refuses to destroy a GI whose region has live
 * processes).  docs/interpose.md describes the protocol.
 *
 * The region is a file mapped MAP_SHARED.  Processes of one instance may run
 * different builds, so the layout is fixed-width, every offset is pinned by
 * a static assertion below, and any change to it needs a new magic/version.
 * The file is created and checked under flock(LOCK_EX) on it (map_fd below),
 * so a half-initialised region is never seen.
 *
 * The helpers are static inline because the two users are built into
 * different objects (libvmig-cuda.so and libvmig) that share no sources.
 */
#ifndef VMIG_INTERPOSE_REGION_H
#define VMIG_INTERPOSE_REGION_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VMIG_ACCT_MAGIC	  0x3154434341474d56ULL /* "VMGACCT1" little-endian */
#define VMIG_ACCT_VERSION 1u
#define VMIG_ACCT_SLOTS	  1024

/* One process of the instance.  Written under the lock, except bytes. */
struct vmig__slot {
	_Atomic int32_t pid; /* 0 = free */
	uint32_t reserved;
	uint64_t start_time; /* /proc/<pid>/stat field 22: tells PID reuse apart */
};

struct vmig__region {
	uint64_t magic;
	uint32_t version;
	uint32_t size;	    /* sizeof(struct vmig__region) of the writer */
	uint64_t mem_limit; /* as the creator was told (informational) */
	/*
	 * The instance's compute share, 1-100 (100 = no cap).  Live: the
	 * creator writes its VMIG_COMPUTE_PCT, `vmig mig -rg` stores a new
	 * one at any time, and every process's time-slicer reads it with a
	 * relaxed load on each launch and refill.
	 */
	_Atomic uint32_t compute_pct;
	uint32_t nslots; /* VMIG_ACCT_SLOTS */
	char partition[128];
	union {
		char pad[64];
		pthread_mutex_t m; /* robust, process-shared */
	} lock;
	_Atomic uint32_t slot_hi; /* slots [0, slot_hi) have ever been used */
	uint32_t reserved0;
	/* Compute share: a bucket of GPU time, in ns, shared by the instance. */
	_Atomic int64_t budget_ns;
	_Atomic uint64_t refill_ns;    /* CLOCK_MONOTONIC of the last refill */
	_Atomic uint64_t busy_ns;      /* measured GPU time of the instance, total */
	_Atomic uint64_t throttled_ns; /* time launches spent waiting, total */
	uint64_t reserved1[8];
	struct vmig__slot slots[VMIG_ACCT_SLOTS];
	_Atomic uint64_t bytes[VMIG_ACCT_SLOTS]; /* device bytes charged per slot */
};

/* Layout version 1, pinned (x86-64 and aarch64 glibc: a 40- or 48-byte mutex). */
_Static_assert(sizeof(pthread_mutex_t) <= 64, "the mutex must fit its 64-byte cell");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && sizeof(_Atomic uint64_t) == 8,
	       "atomics must not change field sizes");
_Static_assert(offsetof(struct vmig__region, version) == 8, "layout v1");
_Static_assert(offsetof(struct vmig__region, size) == 12, "layout v1");
_Static_assert(offsetof(struct vmig__region, mem_limit) == 16, "layout v1");
_Static_assert(offsetof(struct vmig__region, compute_pct) == 24, "layout v1");
_Static_assert(offsetof(struct vmig__region, nslots) == 28, "layout v1");
_Static_assert(offsetof(struct vmig__region, partition) == 32, "layout v1");
_Static_assert(offsetof(struct vmig__region, lock) == 160, "layout v1");
_Static_assert(offsetof(struct vmig__region, slot_hi) == 224, "layout v1");
_Static_assert(offsetof(struct vmig__region, budget_ns) == 232, "layout v1");
_Static_assert(offsetof(struct vmig__region, refill_ns) == 240, "layout v1");
_Static_assert(offsetof(struct vmig__region, busy_ns) == 248, "layout v1");
_Static_assert(offsetof(struct vmig__region, throttled_ns) == 256, "layout v1");
_Static_assert(offsetof(struct vmig__region, slots) == 328, "layout v1");
_Static_assert(sizeof(struct vmig__slot) == 16, "layout v1");
_Static_assert(offsetof(struct vmig__region, bytes) == 328 + 16 * VMIG_ACCT_SLOTS, "layout v1");
_Static_assert(sizeof(struct vmig__region) == 328 + 24 * VMIG_ACCT_SLOTS, "layout v1");

static inline uint64_t vmig__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A share as the time-slicer uses it: anything outside 1-100 means no cap. */
static inline unsigned vmig__region_pct(struct vmig__region *r)
{
	uint32_t p = atomic_load_explicit(&r->compute_pct, memory_order_relaxed);
	return p >= 1 && p <= 100 ? p : 100;
}

static inline void vmig__region_init(struct vmig__region *r, const char *partition,
				     uint64_t mem_limit, unsigned compute_pct)
{
	memset(r, 0, sizeof(*r));
	r->version = VMIG_ACCT_VERSION;
	r->size = (uint32_t)sizeof(*r);
	r->mem_limit = mem_limit;
	atomic_store(&r->compute_pct, compute_pct);
	r->nslots = VMIG_ACCT_SLOTS;
	snprintf(r->partition, sizeof(r->partition), "%s", partition);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&r->lock.m, &a);
	pthread_mutexattr_destroy(&a);
	atomic_store(&r->refill_ns, vmig__now_ns());
	__atomic_store_n(&r->magic, VMIG_ACCT_MAGIC, __ATOMIC_RELEASE);
}

/* NULL if r is a region of this layout for partition, else why not. */
static inline const char *vmig__region_check(const struct vmig__region *r, const char *partition)
{
	if (r->magic != VMIG_ACCT_MAGIC)
		return "bad magic";
	if (r->version != VMIG_ACCT_VERSION || r->size != sizeof(*r) ||
	    r->nslots != VMIG_ACCT_SLOTS)
		return "another layout version";
	if (strncmp(r->partition, partition, sizeof(r->partition)) != 0)
		return "it belongs to another instance";
	return NULL;
}

/*
 * Map the region file open on fd, creating it when the file is empty; the
 * caller holds flock(LOCK_EX) on fd.  NULL with *err set on failure.
 */
static inline struct vmig__region *vmig__region_map_fd(int fd, const char *partition,
						       uint64_t mem_limit, unsigned compute_pct,
						       const char **err)
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
	void *p =
	    mmap(NULL, sizeof(struct vmig__region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err = "cannot map it";
		return NULL;
	}
	struct vmig__region *r = p;
	if (fresh)
		vmig__region_init(r, partition, mem_limit, compute_pct);
	else if ((*err = vmig__region_check(r, partition)) != NULL) {
		munmap(p, sizeof(*r));
		return NULL;
	}
	return r;
}

/*
 * Read /proc/<pid>/stat: 1 = the process is gone or a zombie, 0 = alive
 * (start time in *st), -1 = cannot tell (no /proc).
 */
static inline int vmig__proc_state(int32_t pid, uint64_t *st)
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

static inline uint64_t vmig__proc_start_time(int32_t pid)
{
	uint64_t st = 0;
	return vmig__proc_state(pid, &st) == 0 ? st : 0;
}

/* Is the process that registered a slot as (pid, start_time) gone? */
static inline bool vmig__proc_gone(int32_t pid, uint64_t start_time)
{
	if (pid <= 0)
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	uint64_t st = 0;
	int state = vmig__proc_state(pid, &st);
	if (state != 0)
		return state == 1;
	/* Same pid, other start time: the pid was reused by a stranger. */
	return start_time != 0 && st != start_time;
}

/* Live processes registered in r (dead ones' slots do not count); no lock needed. */
static inline unsigned vmig__region_live(struct vmig__region *r)
{
	unsigned n = 0;
	uint32_t hi = atomic_load(&r->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS; i++) {
		int32_t pid = atomic_load(&r->slots[i].pid);
		if (pid != 0 && !vmig__proc_gone(pid, r->slots[i].start_time))
			n++;
	}
	return n;
}

#endif
