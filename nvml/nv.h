/*
 * nv.h — what the files of the simulated libnvidia-ml.so.1 share: the
 * cached view of the state store, the handle tables, and the entry/exit
 * discipline every exported function follows.
 *
 * Handles are pointers into static per-slot tables, never freed, so a stale
 * or foreign pointer can be checked without being trusted: a handle is valid
 * only if it lies inside its table, sits exactly where its recorded
 * coordinates say, and carries the serial its slot holds now.  Each GI and
 * CI slot (indexed by GPU, GI ID, CI ID) keeps a ring of NV_RING handle
 * objects; a new instance in a slot bumps the serial and takes the next
 * object of the ring, so handles of a destroyed instance stop validating
 * (until the ring wraps, NV_RING instances later).
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
#define NV_RING 8	/* handle objects per slot (see above) */
#define NV_MAX_MIG (NV_MAX_GI_ID * NV_MAX_CI_ID)

enum nv_kind { NV_GPU = 1, NV_MIG = 2 };
enum { NV_MAGIC_DEV = 0x564d4444, NV_MAGIC_GI = 0x564d4749, NV_MAGIC_CI = 0x564d4349 };

/* The opaque handle types of the ABI, defined here. */
struct nvmlDevice_st {
	uint32_t magic;
	uint8_t kind, gpu, gi, ci; /* gi, ci: MIG devices only */
	uint32_t ring, serial;
};
struct nvmlGpuInstance_st {
	uint32_t magic;
	uint8_t gpu, gi, pad[2];
	uint32_t ring, serial;
};
struct nvmlComputeInstance_st {
	uint32_t magic;
	uint8_t gpu, gi, ci, pad;
	uint32_t ring, serial;
};

struct nv_ci_slot {
	bool live;
	uint32_t serial, gi_serial;
	unsigned profile_id, start, size;
	char uuid[VMIG_UUID_LEN]; /* MIG-... */
	struct nvmlComputeInstance_st h[NV_RING];
	struct nvmlDevice_st mig[NV_RING];
};

struct nv_gi_slot {
	bool live;
	uint32_t serial;
	unsigned profile_id, start, size;
	struct nvmlGpuInstance_st h[NV_RING];
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

/* The library's state; everything below is guarded by vmig__nv.lock. */
struct nv_lib {
	unsigned refcount;
	struct vmig_store *store; /* reads, and the generation counter */
	struct vmig_ctx *ctx;	  /* changes go through the sim backend's transactions */
	struct vmig_state *st;	  /* cached; re-read when the generation moves */
	uint64_t generation;
	uint64_t reads; /* state reads so far (the benchmark shows it stays put) */
	struct nvmlDevice_st dev[VMIG_MAX_GPUS];
	struct nv_gpu_slot gpu[VMIG_MAX_GPUS];
};

extern struct nv_lib vmig__nv;

/*
 * Enter an exported function: take the lock, check that NVML is
 * initialised, re-read the state if another commit landed.  Returns
 * NVML_SUCCESS with the lock held, or an error without it.
 */
nvmlReturn_t vmig__nv_enter(void);
/* Leave: drop the lock and pass r through. */
nvmlReturn_t vmig__nv_leave(nvmlReturn_t r);
/* Enter and resolve a handle in one step; the lock is held only on success. */
nvmlReturn_t vmig__nv_enter_device(nvmlDevice_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_enter_gi(nvmlGpuInstance_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_enter_ci(nvmlComputeInstance_t h, struct nv_ref *ref);
/* Re-read the state now (after a change this process committed). */
nvmlReturn_t vmig__nv_refresh(void);

/* Resolve handles (lock held).  INVALID_ARGUMENT for anything not valid now. */
nvmlReturn_t vmig__nv_device(nvmlDevice_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_gpu_instance(nvmlGpuInstance_t h, struct nv_ref *ref);
nvmlReturn_t vmig__nv_compute_instance(nvmlComputeInstance_t h, struct nv_ref *ref);
/* Current handles of live slots. */
nvmlGpuInstance_t vmig__nv_gi_handle(unsigned gpu, unsigned gi_id);
nvmlComputeInstance_t vmig__nv_ci_handle(unsigned gpu, unsigned gi_id, unsigned ci_id);
nvmlDevice_t vmig__nv_mig_handle(unsigned gpu, unsigned gi_id, unsigned ci_id);
/* Dense index of a MIG device under its parent, in (GI ID, CI ID) order. */
unsigned vmig__nv_mig_index(const struct nv_ref *ref);

/* vmig error code (either sign) to nvmlReturn_t. */
nvmlReturn_t vmig__nv_code(int r);
/* Copy s into buf of length len; INSUFFICIENT_SIZE if it does not fit with its NUL. */
nvmlReturn_t vmig__nv_copy(char *buf, unsigned len, const char *s);
/* "<GPU name> MIG <CI profile name>" of a MIG device. */
void vmig__nv_mig_name(const struct nv_ref *ref, char *buf, size_t size);

#endif
