/*
 * nv.h — what the files of the simulated libnvidia-ml.so.1 share: the
 * cached view of the state store, the handles, the entry/exit discipline of
 * the locked path, and the lock-free read path of the hot queries.
 *
 * Two paths answer a call (docs/nvml.md, "Caching and concurrency"):
 *  - the locked path: one mutex guards the parsed state (vmig__nv.st) and
 *    the slot tables; it re-reads the state when the store's generation
 *    moved, and every change runs under it;
 *  - the hot path: the few queries monitoring tools repeat read a small
 *    table (vmig__nv_hot) published under a sequence counter (a seqlock):
 *    no lock, no system call, no allocation.  A reader that finds the
 *    counter odd or moved, the generation changed, or anything it cannot
 *    answer falls back to the locked path, which gives the exact answer.
 *
 * Handles.  A GPU handle points into the static table vmig__nv.dev (one per
 * index, valid across nvmlShutdown/nvmlInit).  A GI, CI or MIG-device handle
 * is a token: an address in a range reserved with PROT_NONE (never mapped,
 * never dereferenced), base + 8 * serial, where the serial is a 32-bit
 * number this process gives each new instance it sees.  The token table
 * (indexed by the serial's low bits, which the allocator keeps distinct
 * among live handles) maps a live serial to its kind and coordinates, so
 * validating a handle is arithmetic and one load, and a handle of a
 * destroyed instance stays refused until the serial space wraps (2^32 new
 * instances when the whole range could be reserved).
 */
#ifndef VMIG_NV_H
#define VMIG_NV_H

#include <stdbool.h>
#include <stdint.h>

#define NVML_EXPORT __attribute__((visibility("default")))
#include "nvml_abi.h"
#include "vmig/vmig.h"

#define NV_MAX_GI_ID 16 /* GI IDs are heap indexes: 0..14 on 8-unit GPUs */
#define NV_MAX_CI_ID 8	/* CI IDs within a GI */
#define NV_MAX_MIG   (NV_MAX_GI_ID * NV_MAX_CI_ID)

/* The token table: 2^NV_TAB_BITS entries, over twice the most live handles a state can hold. */
#define NV_TAB_BITS 16
#define NV_TAB_SIZE (1u << NV_TAB_BITS)
_Static_assert(NV_TAB_SIZE >= 2 * VMIG_MAX_GPUS * NV_MAX_GI_ID * (1 + 2 * NV_MAX_CI_ID),
	       "token table too small for every live handle");

/* Kinds of token. */
enum nv_kind { NV_GI = 1, NV_CI = 2, NV_MIG = 3 };

/*
 * A GPU handle, bound to one GPU (by UUID) for as long as the library is
 * loaded: index is that GPU's index now, or NV_LOST once it is gone
 * (NVML_ERROR_GPU_IS_LOST), so a handle never answers for another GPU that
 * moved into its index.  Written only under the lock, inside the hot
 * table's writer section (read with NV_LD).
 */
#define NV_LOST		   0xffffffffu
#define NV_MAX_DEV_HANDLES (4 * VMIG_MAX_GPUS)
struct nvmlDevice_st {
	uint32_t index;
	char uuid[VMIG_UUID_LEN]; /* "" = never bound */
};

/* Per-slot records of the locked path (indexed by GPU, GI ID, CI ID); serial 0 = empty. */
struct nv_ci_slot {
	uint32_t serial, mig_serial; /* the CI's token and its MIG device's */
	uint32_t gi_serial;	     /* the GI it was created in */
	unsigned profile_id, start, size;
	char uuid[VMIG_UUID_LEN]; /* MIG-... */
};

struct nv_gi_slot {
	uint32_t serial;
	unsigned profile_id, start, size;
	struct nv_ci_slot ci[NV_MAX_CI_ID];
};

struct nv_gpu_slot {
	char uuid[VMIG_UUID_LEN];
	unsigned nmig; /* MIG devices, in (GI ID, CI ID) order */
	uint8_t mig_gi[NV_MAX_MIG], mig_ci[NV_MAX_MIG];
	struct nv_gi_slot gi[NV_MAX_GI_ID];
};

/* What a validated handle refers to, in the cached state. */
struct nv_ref {
	unsigned index; /* GPU index */
	struct vmig_gpu_state *g;
	const struct vmig_model *m;
	struct nvmlDevice_st *dev; /* the GPU's handle */
	/* MIG devices, GIs and CIs: */
	struct vmig_gi_state *gi;
	const struct vmig_gi_profile *gp;
	struct vmig_ci_state *ci;
	const struct vmig_ci_profile *cp;
	struct nv_gi_slot *gis;
	struct nv_ci_slot *cis;
};

/* The library's state; everything below is guarded by the lock (core.c). */
struct nv_lib {
	unsigned refcount;
	struct vmig_store *store; /* reads, and the generation counter */
	struct vmig_store *probe; /* the same directory's, for lock-free readers (core.c) */
	struct vmig_ctx *ctx;	  /* changes go through the sim backend's transactions */
	struct vmig_state *st;	  /* cached; re-read when the generation moves */
	struct vmig_user *user;	  /* this process's record as a user of every GPU (NULL: none) */
	uint64_t generation;	  /* of the cached state; 0: re-read at every call */
	uint64_t reads;		  /* state reads so far (the benchmark shows it stays put) */
	uint32_t last_serial;	  /* the serial given last */
	struct nvmlDevice_st dev[NV_MAX_DEV_HANDLES]; /* GPU handles, bound to GPUs */
	uint16_t dev_of[VMIG_MAX_GPUS];		      /* the handle of each GPU index (NV_LD) */
	struct nv_gpu_slot gpu[VMIG_MAX_GPUS];
};

extern struct nv_lib vmig__nv;

/*
 * The hot table.  Written only under the lock, between vmig__nv_hot_begin
 * and vmig__nv_hot_end; read by anyone at any time with atomic loads, which
 * count only if the sequence counter was the same even number before and
 * after (nv_hot_enter, nv_hot_valid).  Every field is accessed
 * with __atomic builtins, so concurrent reads are not data races; a reader
 * must bound every index it reads before using it, since it may see a
 * half-written table before it notices and discards it.
 */
struct nv_hot_gpu {
	uint64_t mem_mib;  /* the model's memory */
	uint32_t mig_mode; /* NV_MODE_CAPABLE | current | pending << 8 */
	uint32_t max_mig;  /* nvmlDeviceGetMaxMigDeviceCount */
	uint32_t nmig;	   /* MIG devices, dense, in (GI ID, CI ID) order */
	uint32_t mig_serial[NV_MAX_MIG];
	/* GI handles sorted by (profile ID, GI ID); those of profile p are gi[first, first + n) */
	uintptr_t gi[NV_MAX_GI_ID];
	uint16_t gi_span[64];	       /* by profile ID: first | n << 8 | NV_SPAN_OK, or 0 */
	uint64_t gi_mem[NV_MAX_GI_ID]; /* by GI ID: the GI profile's memory (MIG devices) */
};
#define NV_MODE_CAPABLE 0x10000u /* in mig_mode: the model has MIG */
/* In a span: MIG is on and the model has the profile, so GetGpuInstances may answer. */
#define NV_SPAN_OK 0x8000u

struct nv_hot {
	uint64_t seq;		  /* odd while a writer is at work */
	uint64_t generation;	  /* of the data; 0 = do not answer from here (not initialised) */
	struct vmig_store *probe; /* whose counter readers compare; never closed */
	uint32_t ngpu;
	uint64_t tab[NV_TAB_SIZE]; /* token table: coords << 32 | serial, 0 = empty */
	struct nv_hot_gpu gpu[VMIG_MAX_GPUS];
};

extern struct nv_hot vmig__nv_hot;

/* The reserved token range (set once by a constructor, before any call). */
extern uintptr_t vmig__nv_token_base;
extern uint64_t vmig__nv_token_count; /* serials are 1 .. count - 1 */

/*
 * Loads of the hot table acquire and stores release.  That orders a
 * reader's loads before its closing look at the counter, and a writer's
 * odd counter before its data, without fences (which ThreadSanitizer does
 * not model); on x86 both compile to plain moves.
 */
#define NV_LD(x)    __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define NV_ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* Token table entries: serial in the low half, kind and coordinates above. */
static inline uint64_t nv_entry(uint32_t serial, unsigned kind, unsigned gpu, unsigned gi,
				unsigned ci)
{
	uint32_t coords = kind | gpu << 2 | gi << 8 | ci << 12;
	return (uint64_t)coords << 32 | serial;
}
static inline unsigned nv_entry_kind(uint64_t e)
{
	return (e >> 32) & 3;
}
static inline unsigned nv_entry_gpu(uint64_t e)
{
	return (e >> 34) & 63;
}
static inline unsigned nv_entry_gi(uint64_t e)
{
	return (e >> 40) & 15;
}
static inline unsigned nv_entry_ci(uint64_t e)
{
	return (e >> 44) & 7;
}

static inline void *nv_token(uint32_t serial)
{
	return (void *)(vmig__nv_token_base + 8 * (uintptr_t)serial);
}

/*
 * The live entry of token h of the given kind, or 0.  Pure arithmetic and
 * one load: h is never dereferenced.
 */
static inline uint64_t nv_lookup(const void *h, unsigned kind)
{
	uintptr_t off = (uintptr_t)h - vmig__nv_token_base;
	if (off % 8 || off / 8 >= vmig__nv_token_count)
		return 0;
	uint32_t serial = (uint32_t)(off / 8);
	uint64_t e = NV_LD(vmig__nv_hot.tab[serial & (NV_TAB_SIZE - 1)]);
	return serial != 0 && (uint32_t)e == serial && nv_entry_kind(e) == kind ? e : 0;
}

/* MIG is on: the model has it and it is enabled now (the hot table and the locked path agree). */
static inline bool nv_mig_on(const struct vmig_gpu_state *g)
{
	return (g->model->flags & VMIG_MF_MIG) && g->mig_current;
}

/* nvmlDeviceGetMaxMigDeviceCount: one MIG device per compute slice at most, 0 with MIG off. */
static inline unsigned nv_max_mig(const struct vmig_gpu_state *g)
{
	return nv_mig_on(g) ? g->model->compute_slices : 0;
}

/* The handle slot of a GPU handle, or -1 (the address alone decides). */
static inline int nv_dev_slot(const void *h)
{
	uintptr_t off = (uintptr_t)h - (uintptr_t)vmig__nv.dev;
	if (off % sizeof(struct nvmlDevice_st) ||
	    off / sizeof(struct nvmlDevice_st) >= NV_MAX_DEV_HANDLES)
		return -1;
	return (int)(off / sizeof(struct nvmlDevice_st));
}

/* GPU index of a GPU handle, or -1: not a GPU handle, or its GPU is gone. */
static inline int nv_gpu_index(const void *h)
{
	int k = nv_dev_slot(h);
	uint32_t i = k < 0 ? NV_LOST : NV_LD(vmig__nv.dev[k].index);
	return i == NV_LOST ? -1 : (int)i;
}

/* The handle of GPU index i (i below the number of GPUs). */
static inline nvmlDevice_t nv_dev(unsigned i)
{
	return &vmig__nv.dev[NV_LD(vmig__nv.dev_of[i])];
}

/*
 * Start a lock-free read: false (take the locked path) while a writer is at
 * work, before init, or when the store's generation is not the one the
 * table was built at, which also makes a change by another process visible
 * to the very next call.
 */
static inline bool nv_hot_enter(uint64_t *ret_seq)
{
	uint64_t seq = __atomic_load_n(&vmig__nv_hot.seq, __ATOMIC_ACQUIRE);
	uint64_t gen = NV_LD(vmig__nv_hot.generation);
	if (seq & 1 || gen == 0 || vmig_store_generation(NV_LD(vmig__nv_hot.probe)) != gen)
		return false;
	*ret_seq = seq;
	return true;
}

/*
 * End a lock-free read: true if nothing was written since nv_hot_enter.  A
 * reader that saw any store of a later writer (its release pairs with the
 * reader's acquire) also sees that writer's odd counter here.
 */
static inline bool nv_hot_valid(uint64_t seq)
{
	return __atomic_load_n(&vmig__nv_hot.seq, __ATOMIC_RELAXED) == seq;
}

/* Writers (lock held): bracket every change to the hot table. */
void vmig__nv_hot_begin(void);
void vmig__nv_hot_end(void);

/*
 * Enter an exported function: take the lock, check that NVML is
 * initialised, re-read the state if another commit landed.  Returns
 * NVML_SUCCESS with the lock held, or an error without it.
 */
nvmlReturn_t vmig__nv_enter(void);
/* Leave: drop the lock and pass r through. */
nvmlReturn_t vmig__nv_leave(nvmlReturn_t r);
/* Answer err, once the checks every call makes first (init, refresh) have passed. */
nvmlReturn_t vmig__nv_refuse(nvmlReturn_t err);
/* Enter and resolve a handle in one step; the lock is held only on success. */
nvmlReturn_t vmig__nv_enter_device(nvmlDevice_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_enter_gi(nvmlGpuInstance_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_enter_ci(nvmlComputeInstance_t h, struct nv_ref *ref);
/* vmig__nv_enter_device, then INVALID_ARGUMENT (lock dropped) if the output out is NULL. */
nvmlReturn_t vmig__nv_enter_device_out(nvmlDevice_t h, const void *out, struct nv_ref *ref);
/* Re-read the state now (after a change this process committed). */
nvmlReturn_t vmig__nv_refresh(void);
/*
 * Around a change of the state, called with the lock held: begin drops the
 * lock and takes the writers' lock (false: the library was shut down, do
 * nothing), end gives the writers' lock back and retakes the lock.
 */
bool vmig__nv_write_begin(void);
void vmig__nv_write_end(void);

/* handles.c (lock held): rebuild the slots, tokens and hot table from vmig__nv.st. */
void vmig__nv_sync(void);
/* Forget every instance (shutdown): their handles are refused from now on. */
void vmig__nv_forget(void);
/*
 * Resolve a handle of the kind (lock held): NV_GI, NV_CI, or NV_MIG for a
 * device handle (a GPU's, or a MIG device's token).  INVALID_ARGUMENT for
 * anything not valid now.
 */
nvmlReturn_t vmig__nv_resolve(const void *h, unsigned kind, struct nv_ref *ref);
/* Current handles of live slots (lock held). */
nvmlGpuInstance_t vmig__nv_gi_handle(unsigned gpu, unsigned gi_id);
nvmlComputeInstance_t vmig__nv_ci_handle(unsigned gpu, unsigned gi_id, unsigned ci_id);
nvmlDevice_t vmig__nv_mig_handle(unsigned gpu, unsigned gi_id, unsigned ci_id);
/* Dense index of a MIG device under its parent, in (GI ID, CI ID) order. */
unsigned vmig__nv_mig_index(const struct nv_ref *ref);

/* vmig error code (either sign) to nvmlReturn_t. */
nvmlReturn_t vmig__nv_code(int r);
/* Copy s into buf of length len; INSUFFICIENT_SIZE if it does not fit with its NUL. */
nvmlReturn_t vmig__nv_copy(char *buf, unsigned len, const char *s);
/* "MIG <CI profile name>": a CI profile's NVML name, and the tail of its MIG device's. */
void vmig__nv_ci_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp, char *buf,
		      size_t size);

/*
 * host.c: the functions that take an S-class unit's handle.  No unit
 * exists, so every handle is invalid; only the handle is declared (the
 * further arguments are never read or written).
 */
#define NV_UNIT_FNS(X)                                                                             \
	X(nvmlUnitGetDevices)                                                                      \
	X(nvmlUnitGetFanSpeedInfo)                                                                 \
	X(nvmlUnitGetLedState)                                                                     \
	X(nvmlUnitGetPsuInfo)                                                                      \
	X(nvmlUnitGetTemperature)                                                                  \
	X(nvmlUnitGetUnitInfo)                                                                     \
	X(nvmlUnitSetLedState)
#define NV_UNIT_DECL(fn) NVML_EXPORT nvmlReturn_t fn(nvmlUnit_t unit);
NV_UNIT_FNS(NV_UNIT_DECL)
#undef NV_UNIT_DECL

#endif
