/*
 * internal.h — what the files of libvmig-cuda.so share, under the vmig__
 * prefix.  Nothing here is exported (the version script exports only the
 * hooked CUDA names and dlsym).
 *
 *   config.c   the instance's limits, read once from the environment
 *   hooks.c    loading the real driver, the generated wrappers and name
 *              table, dlsym's lookups and cuGetProcAddress
 *   dlsym.c    the exported dlsym (a trampoline that keeps RTLD_NEXT right)
 *   acct.c     the accounting region shared by the instance's processes
 *   mem.c      memory hooks: quota, per-allocation table, capacity reports
 *   vmm.c      the VMM API's allocations, charged until their last reference
 *   launch.c   launch hooks: the compute-share gate, its controller and poller
 *   measure.c  when this process's kernels ran, from events on its streams
 *   nvsignal.c what NVML says about the GPU's tenants (read-only)
 */
#ifndef VMIG_INTERPOSE_INTERNAL_H
#define VMIG_INTERPOSE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cuda_api.h"
#include "limits_file.h"
#include "region.h"
#include "run_env.h"

#define VMIG_HIDDEN	 __attribute__((visibility("hidden")))
#define VMIG_LIKELY(x)	 __builtin_expect(!!(x), 1)
#define VMIG_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- config.c ------------------------------------------------------------ */

enum vmig__compute_mode {
	VMIG_COMPUTE_NONE = 0,	    /* no cap (until -rg sets one in a shared region) */
	VMIG_COMPUTE_TIMESLICE = 1, /* the interposer throttles launches */
	VMIG_COMPUTE_MPS = 2,	    /* the MPS server caps threads; we throttle only below that */
};

struct vmig__config {
	bool active; /* an instance is named: enforce what is valid below */
	char partition[VMIG_PARTITION_LEN];
	bool mem_limited;
	uint64_t mem_limit;   /* bytes */
	unsigned compute_pct; /* 1..100; 100 = no cap */
	int compute_mode;     /* enum vmig__compute_mode */
	unsigned mps_pct;     /* under MPS: the server's thread percentage for us, else 0 */
	char acct_path[VMIG_ACCT_PATH_LEN]; /* "" = accounting private to this process */
	char cuda_lib[PATH_MAX];	    /* the real driver to load */
	bool debug;
	char why[1024]; /* why something fell back to passthrough ("" = nothing did) */
	/*
	 * The instance's limits file (limits_file.h) could not be used, or does not
	 * admit this process: every CUDA call fails (hooks.c), and closed_why
	 * says why.
	 */
	bool closed;
	char closed_why[VMIG_ACCT_PATH_LEN + 160];
	struct vmig__limits limits; /* as read, when active and not closed */
	struct stat limits_st;	    /* the limits file's owner, for the accounting file's check */
};

/* Largest accepted VMIG_MEM_LIMIT: sums of many slots must not overflow. */
#define VMIG_MEM_LIMIT_MAX VMIG_LIMITS_MEM_MAX

typedef const char *(*vmig__getenv_fn)(const char *name);
/* Fill *c from the environment as seen through get (never fails). */
void vmig__config_parse(struct vmig__config *c, vmig__getenv_fn get);
/*
 * Then, for an active instance, take its limits from its limits file
 * (VMIG_ACCOUNTING + VMIG_LIMITS_SUFFIX): the quota and share are the file's
 * (VMIG_MEM_LIMIT may only lower the quota; VMIG_COMPUTE_PCT counts for
 * nothing), and a file that is missing or untrustworthy, or an instance
 * whose group this process is not in, sets closed.
 */
void vmig__config_limits(struct vmig__config *c, vmig__getenv_fn get);
/* The process's configuration, parsed on first use (pthread_once). */
const struct vmig__config *vmig__config(void);
void vmig__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define VMIG_LOG(...)                                                                              \
	do {                                                                                       \
		if (VMIG_UNLIKELY(vmig__config()->debug))                                          \
			vmig__log(__VA_ARGS__);                                                    \
	} while (0)

/* ---- hooks.c ------------------------------------------------------------- */

typedef void *vmig__dlsym_fn(void *handle, const char *name);
extern vmig__dlsym_fn *vmig__real_dlsym;
/* glibc's dlsym, found on first use (safe before sanitizers are ready). */
vmig__dlsym_fn *vmig__dlsym_loader(void);
/* Our dlsym for any handle but RTLD_NEXT: the real answer, wrapped if hooked. */
void *vmig__dlsym_any(void *handle, const char *name);

/* Load the real driver and resolve every hooked symbol (once). */
void vmig__init(void);
/* Address of an unhooked symbol in the real driver, or NULL. */
void *vmig__real_sym(const char *name);
/* Our wrapper for an address the real driver handed out, else addr itself. */
void *vmig__wrap_addr(void *addr, const char *name, int cuda_version, cuuint64_t flags);

/* Handler prototypes: one per handler named in hooks.def. */
#define VMIG_HOOK(sym, base, since, ptsz, impl, sig)                                               \
	CUresult vmig__hook_##impl(__typeof__(sym) *real, sig##_P);
#include "hooks.def"
#undef VMIG_HOOK

/* ---- acct.c -------------------------------------------------------------- */

/* The region's layout and its helpers (shared with the soft backend): region.h. */

/*
 * Map the region named by the configuration (without one, a private one),
 * checking magic, version and size.  NULL, with the reason in why[], when
 * the named file cannot be used: the caller then fails closed.
 */
struct vmig__region *vmig__acct_open(const struct vmig__config *c, char *why, size_t whylen);
struct vmig__region *vmig__acct(void);
/* Is the region a file that other processes and `vmig mig -rg` can reach? */
bool vmig__acct_shared(void);
/* Lock the region, repairing it when the previous holder died. */
void vmig__acct_lock(struct vmig__region *r);
void vmig__acct_unlock(struct vmig__region *r);
/* This process's slot, registering it on first use; -1 when the table is full. */
int vmig__acct_slot(void);
/* Charge n bytes to this process if the instance stays within limit. */
bool vmig__acct_reserve(uint64_t n, uint64_t limit);
void vmig__acct_unreserve(uint64_t n);
/* Bytes charged to the instance (all live processes). */
uint64_t vmig__acct_used(void);
/* Free the slots of dead processes (takes the lock).  Returns slots freed. */
int vmig__acct_reclaim(void);
/* Forget this process's slot (after fork, in the child). */
void vmig__acct_forget(void);

/* ---- mem.c / launch.c ---------------------------------------------------- */

void vmig__mem_init(const struct vmig__config *c);
void vmig__mem_atfork_child(void);
/* Is the memory quota enforced?  Charge n bytes against it (false: over quota). */
bool vmig__mem_enabled(void);
bool vmig__mem_charge(uint64_t n);
/* vmm.c: start with no VMM allocations after fork, in the child. */
void vmig__vmm_atfork_child(void);
void vmig__launch_init(const struct vmig__config *c);
void vmig__launch_atfork_child(void);
/* The compute share's clock (the host's, or the stand-in driver's simulated one). */
uint64_t vmig__clock_now(void);

/* ---- measure.c ----------------------------------------------------------- */

/* A piece of GPU busy time [s, e) on the compute share's clock. */
struct vmig__iv {
	uint64_t s, e;
};

/* Resolve the event functions; false when the driver lacks them. */
bool vmig__meas_init(void);
void vmig__meas_atfork_child(void);
/*
 * Around a launch onto stream s (ptsz: a per-thread-default-stream entry
 * point): before it, *tok (NULL: not measured) and *est, what the launch is
 * expected to cost; after it, with what was charged for it.
 */
void vmig__meas_before(CUstream s, bool ptsz, void **tok, double *est, uint64_t now);
void vmig__meas_after(void *tok, double est, uint64_t now);

/* A completed piece of one stream's work; s == e == 0 when it could not be placed. */
struct vmig__piece {
	uint64_t s, e, len;
	uint32_t launches; /* launches it covers */
	double est;	   /* charged for them when they were launched */
	uintptr_t key;	   /* the stream, for vmig__meas_learn */
	void *trk;
};

/* The pieces completed since the last call (at most max), in no order. */
size_t vmig__meas_collect(struct vmig__piece *out, size_t max, uint64_t now);
/* What one launch of the piece's stream cost, for the estimates of its next launches. */
void vmig__meas_learn(const struct vmig__piece *p, double per_launch);

/* ---- nvsignal.c ---------------------------------------------------------- */

/* One look at NVML: per mille of the GPU. */
struct vmig__nv_view {
	bool gpu_ok;	    /* gpu_pm: the device's utilisation over its last period */
	bool procs_ok;	    /* per-process samples can be read */
	bool fresh;	    /* new per-process samples since the last look */
	bool have_self;	    /* this process is among them */
	unsigned gpu_pm;    /* time a kernel ran, of the last period */
	unsigned self_pm;   /* this process's kernels */
	unsigned mine_pm;   /* the instance's other processes' */
	unsigned others_pm; /* processes outside the instance, summed */
	unsigned long long ts_us, len_us; /* the samples' end (NVML's CPU time) and period */
};

/* Load NVML and find the instance's GPU (once); false without it. */
bool vmig__nv_open(const char *partition);
/* Read it; mine: the PIDs of the instance, self: this process. */
void vmig__nv_read(int32_t self, const int32_t *mine, unsigned nmine, struct vmig__nv_view *v);

#endif
