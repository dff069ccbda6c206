/*
 * region.c — the helpers of the accounting region (region.h): creating,
 * checking and mapping a region file, and telling live processes from dead
 * ones.  Compiled into both libvmig-cuda.so and libvmig, so the two sides of
 * the protocol are one source.  docs/interpose.md describes the protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "region.h"

uint64_t vmig__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A share as the time-slicer uses it: anything outside 1-100 means no cap. */
unsigned vmig__region_pct(struct vmig__region *r)
{
	uint32_t p = atomic_load_explicit(&r->compute_pct, memory_order_relaxed);
	return p >= 1 && p <= 100 ? p : 100;
}

unsigned vmig__region_policy(struct vmig__region *r)
{
	uint32_t p = atomic_load_explicit(&r->busy.policy, memory_order_relaxed);
	return p == VMIG_POLICY_CAP ? VMIG_POLICY_CAP : VMIG_POLICY_SHARE;
}

void vmig__region_init(struct vmig__region *r, const char *partition, uint64_t mem_limit,
		       unsigned compute_pct, unsigned policy)
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
	atomic_store(&r->busy.policy,
		     policy == VMIG_POLICY_CAP ? VMIG_POLICY_CAP : VMIG_POLICY_SHARE);
	atomic_store(&r->busy.allowed_pm, compute_pct * 10);
	/* refill_ns stays 0: the first process's controller starts the bucket on its own clock. */
	__atomic_store_n(&r->magic, VMIG_ACCT_MAGIC, __ATOMIC_RELEASE);
}

/* NULL if r is a region of this layout for partition, else why not. */
const char *vmig__region_check(const struct vmig__region *r, const char *partition)
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
 * Map the region file open on fd if it is already a whole region of this
 * layout for partition, taking no lock: its creator wrote the magic last
 * (release), so a region whose magic reads right (acquire) is complete.
 * NULL when it is not (empty, being created, or wrong): the caller then
 * takes flock and calls vmig__region_map_fd, which says why.
 */
struct vmig__region *vmig__region_map_ready(int fd, const char *partition)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != (off_t)sizeof(struct vmig__region))
		return NULL;
	void *p =
	    mmap(NULL, sizeof(struct vmig__region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct vmig__region *r = p;
	if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != VMIG_ACCT_MAGIC ||
	    vmig__region_check(r, partition) != NULL) {
		munmap(p, sizeof(*r));
		return NULL;
	}
	return r;
}

/*
 * Map the region file open on fd, creating it when the file is empty; the
 * caller holds flock(LOCK_EX) on fd.  NULL with *err set on failure.
 */
struct vmig__region *vmig__region_map_fd(int fd, const char *partition, uint64_t mem_limit,
					 unsigned compute_pct, unsigned policy, const char **err)
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
		vmig__region_init(r, partition, mem_limit, compute_pct, policy);
	else if ((*err = vmig__region_check(r, partition)) != NULL) {
		munmap(p, sizeof(*r));
		return NULL;
	}
	return r;
}

uint64_t vmig__busy_add(struct vmig__busy *b, uint64_t s, uint64_t e, uint64_t horizon)
{
	if (e <= s)
		return 0;
	uint32_t n = b->niv < VMIG_BUSY_IVS ? b->niv : VMIG_BUSY_IVS, k = 0;
	while (k < n && b->iv[k].e < horizon)
		k++;
	/* Intervals [first, last) touch [s, e); they are disjoint and in order. */
	uint32_t first = k, last;
	while (first < n && b->iv[first].e < s)
		first++;
	bool touches = first < n && b->iv[first].s <= e;
	if (k == 0 && n == VMIG_BUSY_IVS && !touches) {
		/* Full: the oldest goes (a late neighbour of it would count twice)... */
		if (first == 0)
			return e - s; /* ...unless that is this one: counted, not kept */
		k = 1;
	}
	memmove(b->iv, b->iv + k, (n - k) * sizeof(b->iv[0]));
	n -= k;
	first -= k;
	uint64_t added = e - s, ns = s, ne = e;
	for (last = first; last < n && b->iv[last].s <= e; last++) {
		uint64_t lo = b->iv[last].s > s ? b->iv[last].s : s;
		uint64_t hi = b->iv[last].e < e ? b->iv[last].e : e;
		added -= hi > lo ? hi - lo : 0;
		ns = b->iv[last].s < ns ? b->iv[last].s : ns;
		ne = b->iv[last].e > ne ? b->iv[last].e : ne;
	}
	if (last == first) { /* nothing touched: make room at first */
		memmove(b->iv + first + 1, b->iv + first, (n - first) * sizeof(b->iv[0]));
		n++;
	} else if (last > first + 1) {
		memmove(b->iv + first + 1, b->iv + last, (n - last) * sizeof(b->iv[0]));
		n -= last - first - 1;
	}
	b->iv[first].s = ns;
	b->iv[first].e = ne;
	b->niv = n;
	return added;
}

/*
 * Read /proc/<pid>/stat: 1 = the process is gone or a zombie, 0 = alive
 * (start time in *st), -1 = cannot tell (no /proc).
 */
int vmig__proc_state(int32_t pid, uint64_t *st)
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
	return vmig__proc_state(pid, &st) == 0 ? st : 0;
}

/* Is the process that registered a slot as (pid, start_time) gone? */
bool vmig__proc_gone(int32_t pid, uint64_t start_time)
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

static int slot_fcntl(int fd, unsigned i, int cmd, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = F_WRLCK;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)VMIG__SLOT_LOCK_OFFSET(i);
	fl->l_len = 1;
	fl->l_pid = 0; /* required for OFD locks */
	return fcntl(fd, cmd, fl);
}

int vmig__slot_lock(int fd, unsigned i)
{
	struct flock fl;
	return slot_fcntl(fd, i, F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
}

int vmig__slot_held(int fd, unsigned i)
{
	struct flock fl;
	if (fd < 0 || slot_fcntl(fd, i, F_OFD_GETLK, &fl) < 0)
		return -1;
	return fl.l_type != F_UNLCK;
}

bool vmig__slot_live(struct vmig__region *r, int fd, unsigned i)
{
	int32_t pid = atomic_load(&r->slots[i].pid);
	if (pid == 0)
		return false;
	int held = vmig__slot_held(fd, i);
	return held >= 0 ? held == 1 : !vmig__proc_gone(pid, r->slots[i].start_time);
}

/* Live processes registered in r (dead ones' slots do not count); no lock needed. */
unsigned vmig__region_live(struct vmig__region *r, int fd)
{
	unsigned n = 0;
	uint32_t hi = atomic_load(&r->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS; i++)
		n += vmig__slot_live(r, fd, i);
	return n;
}
