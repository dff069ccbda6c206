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
 * The helpers live in iface/region.c, which is compiled into both users
 * (libvmig-cuda.so and libvmig), so there is one copy of the protocol.
 */
#ifndef VMIG_IFACE_REGION_H
#define VMIG_IFACE_REGION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run_env.h"

#define VMIG_ACCT_MAGIC 0x3154434341474d56ULL /* "VMGACCT1" little-endian */
/* 2: liveness by open-file-description locks on the slots; 3: the compute policy and busy time */
#define VMIG_ACCT_VERSION 3u
#define VMIG_ACCT_SLOTS	  1024

/*
 * One process of the instance.  Written under the lock, except bytes.  The
 * process holds an open-file-description lock (F_OFD_SETLK, write) on the
 * slot's first byte of the file for as long as it lives: that lock, not the
 * PID, says whether the slot is live, so it holds across PID namespaces
 * (containers) and is gone the moment the process dies, however it dies.
 */
struct vmig__slot {
	_Atomic int32_t pid; /* 0 = free; else the PID in the registrant's own namespace */
	uint32_t reserved;
	uint64_t start_time; /* /proc/<pid>/stat field 22 where no slot lock is held, else 0 */
};

/* How a compute share is enforced (the region's policy; docs/soft.md, "What percent means"). */
enum vmig__policy {
	VMIG_POLICY_SHARE = 0, /* work-conserving: at least the share under contention */
	VMIG_POLICY_CAP = 1,   /* never more than the share */
};

#define VMIG_BUSY_IVS 64 /* recent busy intervals of the instance, merged */

/*
 * What the processes of an instance measure and decide together (layout 3,
 * after the slots): the instance's recent GPU busy time as a union of
 * intervals on the controller's clock (every process adds its own, under
 * the lock; overlaps count once), and the share mode's control state.
 */
struct vmig__busy {
	_Atomic uint32_t policy;     /* enum vmig__policy, live like compute_pct */
	_Atomic uint32_t allowed_pm; /* share mode: per mille of the GPU the instance may use now */
	_Atomic uint64_t ctrl_ns;    /* controller clock of the last control step */
	_Atomic uint64_t ctrl_busy;  /* busy_ns at that step */
	_Atomic uint32_t signal;     /* what the last step measured with (launch.c) */
	_Atomic uint32_t free_hint;  /* a slot that is probably free: registration starts there */
	_Atomic uint32_t reclaim_at; /* where the next incremental reclaim looks */
	uint32_t niv;		     /* entries of iv in use, oldest first */
	struct {
		uint64_t s, e;
	} iv[VMIG_BUSY_IVS];
	_Atomic uint32_t others_pm; /* the other tenants' busy time at the last step (per mille) */
	uint32_t reserved0;
	uint64_t reserved[15];
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
	_Atomic uint64_t refill_ns;    /* controller clock of the last refill (0: none yet) */
	_Atomic uint64_t busy_ns;      /* measured GPU time of the instance, total */
	_Atomic uint64_t throttled_ns; /* time launches spent waiting, total */
	uint64_t reserved1[8];
	struct vmig__slot slots[VMIG_ACCT_SLOTS];
	_Atomic uint64_t bytes[VMIG_ACCT_SLOTS]; /* device bytes charged per slot */
	struct vmig__busy busy;			 /* layout 3 */
};

/* Layouts 1-3, pinned (x86-64 and aarch64 glibc: a 40- or 48-byte mutex). */
_Static_assert(sizeof(pthread_mutex_t) <= 64, "the mutex must fit its 64-byte cell");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && sizeof(_Atomic uint64_t) == 8,
	       "atomics must not change field sizes");
/* Offsets pinned since layout 1 (layout 2 changed what a slot's liveness means, not where). */
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
_Static_assert(offsetof(struct vmig__region, busy) == 328 + 24 * VMIG_ACCT_SLOTS, "layout v3");
_Static_assert(sizeof(struct vmig__busy) == 40 + 16 * VMIG_BUSY_IVS + 128, "layout v3");
_Static_assert(sizeof(struct vmig__region) ==
		   328 + 24 * VMIG_ACCT_SLOTS + 40 + 16 * VMIG_BUSY_IVS + 128,
	       "layout v3");
/* The field holds any id VMIG_PARTITION may carry (run_env.h), and no more. */
_Static_assert(sizeof(((struct vmig__region *)0)->partition) == VMIG_PARTITION_LEN,
	       "the region's partition field is VMIG_PARTITION_LEN bytes");

uint64_t vmig__now_ns(void);
/* A share as the time-slicer uses it: anything outside 1-100 means no cap. */
unsigned vmig__region_pct(struct vmig__region *r);
/* The region's policy (enum vmig__policy); anything unknown is the default, share. */
unsigned vmig__region_policy(struct vmig__region *r);
void vmig__region_init(struct vmig__region *r, const char *partition, uint64_t mem_limit,
		       unsigned compute_pct, unsigned policy);
/*
 * Add [s, e) to the instance's busy intervals (caller holds the lock):
 * returns the time it adds that no interval covered yet.  Intervals ending
 * before `horizon` are forgotten.
 */
uint64_t vmig__busy_add(struct vmig__busy *b, uint64_t s, uint64_t e, uint64_t horizon);
/* NULL if r is a region of this layout for partition, else why not. */
const char *vmig__region_check(const struct vmig__region *r, const char *partition);
/*
 * Map the region file open on fd when it already is a whole region of this
 * layout for partition (its creator writes the magic last), with no lock;
 * NULL otherwise, and the caller takes flock for vmig__region_map_fd.
 */
struct vmig__region *vmig__region_map_ready(int fd, const char *partition);
/*
 * Map the region file open on fd, creating it when the file is empty; the
 * caller holds flock(LOCK_EX) on fd.  NULL with *err set on failure.
 */
struct vmig__region *vmig__region_map_fd(int fd, const char *partition, uint64_t mem_limit,
					 unsigned compute_pct, unsigned policy, const char **err);
/*
 * Read /proc/<pid>/stat: 1 = the process is gone or a zombie, 0 = alive
 * (start time in *st), -1 = cannot tell (no /proc).
 */
int vmig__proc_state(int32_t pid, uint64_t *st);
uint64_t vmig__proc_start_time(int32_t pid);
/* Is the process that registered a slot as (pid, start_time) gone? */
bool vmig__proc_gone(int32_t pid, uint64_t start_time);
/* The byte of the region file that slot i's lock covers. */
#define VMIG__SLOT_LOCK_OFFSET(i) ((long)offsetof(struct vmig__region, slots) + 16L * (long)(i))
/* Take slot i's lock on the file open on fd: 0, or -errno (EAGAIN: another process holds it). */
int vmig__slot_lock(int fd, unsigned i);
/*
 * Does another open file description hold slot i's lock?  1 yes, 0 no, -1
 * cannot tell (no OFD locks: then the PID is asked, vmig__proc_gone).  A
 * process's own lock is never reported: it must skip its own slot.
 */
int vmig__slot_held(int fd, unsigned i);
/* Is slot i of r, open on fd, a live process (its lock held; the PID where locks cannot tell)? */
bool vmig__slot_live(struct vmig__region *r, int fd, unsigned i);
/* Live processes registered in r, open on fd (dead ones' slots do not count); no lock needed. */
unsigned vmig__region_live(struct vmig__region *r, int fd);

#endif
