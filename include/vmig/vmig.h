/*
 * vmig.h — the public interface of libvmig.
 *
 * libvmig holds the model of Multi-Instance GPU partitioning: the catalogue of
 * GPU models and their MIG profiles (immutable data), the profile-name
 * grammar, the placement engine (pure functions over a GPU's occupancy), the
 * state store (simulated and software-partitioned GPUs and their instances,
 * kept in a directory), and the backends that apply operations to simulated
 * GPUs or to real ones through NVML.
 *
 * Conventions: functions that can fail return an int, >= 0 on success and a
 * negated VMIG_E_* code on failure.  Where a person will read the failure,
 * they also fill an optional struct vmig_err with a message that carries
 * context.  Output parameters are named ret_* and are written only on
 * success.  Value records (profiles, state) are plain structs; objects with
 * resources (store, context) are opaque handles with _open/_close.
 */
#ifndef VMIG_VMIG_H
#define VMIG_VMIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The environment of `vmig run` and its lengths (struct vmig_soft_limits). */
#include "run_env.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMIG_API __attribute__((visibility("default")))

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

enum vmig_errno {
	VMIG_OK = 0,
#define VMIG_ERR(name, nvml, text) VMIG_E_##name,
#include "vmig/errors.def"
#undef VMIG_ERR
	VMIG_E__COUNT
};

/* An error with a message for people.  code is the positive VMIG_E_* value. */
struct vmig_err {
	int code;
	char msg[512];
};

/* Text of an error code (either sign); "Unknown Error" for codes out of range. */
VMIG_API const char *vmig_strerror(int code);
/* Symbolic name ("INVALID_ARGUMENT") of an error code (either sign). */
VMIG_API const char *vmig_errname(int code);
/* NVML return code (nvmlReturn_t value) of a vmig error code (either sign); 0 for 0. */
VMIG_API int vmig_nvml_code(int code);
/* vmig error code (positive) for an NVML return code; 0 for 0. */
VMIG_API int vmig_from_nvml(int nvml_code);
/*
 * Set *e (which may be NULL) to code and the formatted message, and return
 * -code (code may be given with either sign).  With fmt NULL the message is
 * vmig_strerror(code).  In fmt, "%m" stands for vmig_strerror(code) and takes
 * no argument, as glibc's %m stands for strerror(errno): write
 * vmig_err_set(err, VMIG_E_NOT_FOUND, "destroying GPU instance %u: %m", id)
 * for "destroying GPU instance 3: Not Found"; "%%m" is a literal "%m".  A
 * format that would expand past twice the size of msg gets the bare text.
 */
VMIG_API int vmig_err_set(struct vmig_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix e->msg with "<context>: "; returns -e->code. */
VMIG_API int vmig_err_wrap(struct vmig_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Catalogue: GPU models and their MIG geometry (lib/catalogue.c)            */
/* ------------------------------------------------------------------------ */

#define VMIG_MAX_STARTS	     8	/* possible placements of one profile */
#define VMIG_MAX_CI_PROFILES 8	/* CI profiles of one GI profile */
#define VMIG_MAX_GI_PROFILES 16 /* GI profiles of one model */
#define VMIG_MAX_UNITS	     16 /* placement units of one GPU (8, 4 or 12) */

/* Flags on GI and CI profiles. */
enum vmig_profile_flags {
	VMIG_PF_DERIVED = 1u << 0, /* some number was derived by rule, not observed */
	VMIG_PF_ME = 1u << 1,	   /* "+me": media extensions (NVML REV1) */
	VMIG_PF_ME_ALL = 1u << 2,  /* "+me.all": all media engines */
	VMIG_PF_NO_ME = 1u << 3,   /* "-me": no media engines */
	VMIG_PF_GFX = 1u << 4,	   /* "+gfx": graphics capable */
	VMIG_PF_P2P = 1u << 5,	   /* isP2pSupported */
	VMIG_PF_REV1 = 1u << 6,	   /* CI profile: NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 */
};
#define VMIG_PF_ATTRS (VMIG_PF_ME | VMIG_PF_ME_ALL | VMIG_PF_NO_ME | VMIG_PF_GFX)

struct vmig_ci_profile {
	unsigned id;	    /* NVML_COMPUTE_INSTANCE_PROFILE_* value = nvidia-smi CI profile ID */
	unsigned slices;    /* compute slices of the CI ("1c" = 1) */
	unsigned instances; /* most CIs of this profile in one GI (Total of Free/Total) */
	unsigned sm;	    /* multiprocessors */
	unsigned flags;	    /* VMIG_PF_* */
	unsigned nstarts;   /* possible placements, in the GI's CI placement units */
	unsigned starts[VMIG_MAX_STARTS];
	unsigned size; /* placement width in those units; 0 = slices (vmig_ci_placement_size) */
};

struct vmig_gi_profile {
	unsigned id;	    /* nvidia-smi profile ID = nvmlGpuInstanceProfileInfo.id */
	unsigned index;	    /* NVML_GPU_INSTANCE_PROFILE_* constant */
	const char *name;   /* "3g.40gb", "1g.24gb+me.all" (no "MIG " prefix) */
	unsigned slices;    /* compute slices ("3g" = 3) = sliceCount */
	unsigned size;	    /* placement size, in placement units of the model */
	unsigned instances; /* instanceCount (Total of Free/Total) */
	uint64_t mem_mib;   /* memorySizeMB */
	unsigned sm, ce, dec, enc, jpeg, ofa;
	unsigned flags; /* VMIG_PF_* */
	unsigned nstarts;
	unsigned starts[VMIG_MAX_STARTS]; /* possible placement starts (units) */
	unsigned nci;			  /* CI profiles, in -lcip order */
	const struct vmig_ci_profile *ci;
};

enum vmig_model_flags {
	VMIG_MF_MIG = 1u << 0,		    /* MIG capable */
	VMIG_MF_MODE_NEEDS_RESET = 1u << 1, /* Ampere: a mode change is pending until GPU reset */
	VMIG_MF_DERIVED = 1u << 2,	    /* some number of the model is derived */
};

/* NVML architecture numbers (nvmlDeviceArchitecture_t). */
enum vmig_arch {
	VMIG_ARCH_AMPERE = 7,
	VMIG_ARCH_ADA = 8,
	VMIG_ARCH_HOPPER = 9,
	VMIG_ARCH_BLACKWELL = 10,
};

struct vmig_model {
	const char *key;	/* catalogue key: "a100-40gb", "h100-80gb", "h200", ... */
	const char *name;	/* product name as NVML gives it: "NVIDIA H100 80GB HBM3" */
	uint32_t pci_device_id; /* nvmlPciInfo.pciDeviceId, e.g. 0x233010DE */
	uint32_t pci_subsystem_id;
	uint64_t mem_mib;	 /* total memory, as nvidia-smi / nvmlDeviceGetMemoryInfo show */
	unsigned sm;		 /* SMs of the whole GPU outside MIG mode */
	unsigned compute_slices; /* 7, or 4 */
	unsigned mem_slices;	 /* 8, or 4 */
	unsigned units;		 /* placement units: 8, 4, or 12 (RTX PRO 6000) */
	unsigned arch;		 /* enum vmig_arch */
	unsigned cc_major, cc_minor;
	unsigned flags; /* VMIG_MF_* */
	unsigned ngi;	/* GI profiles, in -lgip order */
	const struct vmig_gi_profile *gi;
};

VMIG_API size_t vmig_model_count(void);
VMIG_API const struct vmig_model *vmig_model_at(size_t i);
/* By catalogue key (case-insensitive); NULL if unknown. */
VMIG_API const struct vmig_model *vmig_model_find(const char *key);
/* By PCI device id (0x233010DE); NULL if unknown. */
VMIG_API const struct vmig_model *vmig_model_by_pci(uint32_t pci_device_id);
VMIG_API const struct vmig_gi_profile *vmig_gi_profile_by_id(const struct vmig_model *m,
							     unsigned id);
VMIG_API const struct vmig_gi_profile *vmig_gi_profile_by_index(const struct vmig_model *m,
								unsigned index);
VMIG_API const struct vmig_ci_profile *vmig_ci_profile_by_id(const struct vmig_gi_profile *gp,
							     unsigned id);
/* CUDA cores per SM of a compute capability (what nvmlDeviceGetNumGpuCores counts). */
VMIG_API unsigned vmig_cores_per_sm(unsigned cc_major, unsigned cc_minor);
/* The default CI profile (the one covering the whole GI, marked '*' in -lcip). */
VMIG_API const struct vmig_ci_profile *vmig_ci_profile_default(const struct vmig_gi_profile *gp);
/*
 * The width of a CI placement (nvmlComputeInstancePlacement_t.size): the
 * profile's size, or its slices where it sets none.  A Hopper or later 3g
 * GI's whole CI is 4 wide over 3 slices (docs/placement.md, section 6).
 */
VMIG_API unsigned vmig_ci_placement_size(const struct vmig_ci_profile *cp);
/* How many CI placement units a GI profile has: the furthest end of any CI placement. */
VMIG_API unsigned vmig_ci_units(const struct vmig_gi_profile *gp);

/* ------------------------------------------------------------------------ */
/* What a simulated GPU reports (lib/devinfo.c): the CLI and NVML share it   */
/* ------------------------------------------------------------------------ */

/* The driver the simulated GPUs run: nvidia-smi's banner, --query-gpu, NVML. */
#define VMIG_SIM_DRIVER_VERSION "580.82.07"
#define VMIG_SIM_NVML_VERSION	"13.580.82.07" /* first field: the CUDA major of the driver */
#define VMIG_SIM_CUDA_VERSION	13000	       /* 1000 * major + 10 * minor: "13.0" */

/* Idle readings and limits of one kind of board. */
struct vmig_board {
	unsigned tdp_w, idle_w, min_w;
	unsigned gfx_max, mem_max, gfx_idle, mem_idle; /* MHz */
	unsigned pcie_gen, bus_width;
	unsigned temp_idle, temp_slowdown, temp_shutdown, temp_gpu_max, temp_mem_max;
	const char *vbios;
};
VMIG_API const struct vmig_board *vmig_gpu_board(const struct vmig_model *m);
/* The idle temperature (C) and power draw (W) of GPU index of a model. */
VMIG_API unsigned vmig_gpu_temp_c(const struct vmig_model *m, unsigned index);
VMIG_API unsigned vmig_gpu_power_w(const struct vmig_model *m, unsigned index);

/* Device memory or BAR1, in MiB (used includes what the driver reserves). */
struct vmig_mem {
	uint64_t total_mib, reserved_mib, used_mib, free_mib;
};
/*
 * Memory of a GPU (gp NULL) or of a GPU instance of profile gp, with
 * allocated_mib in use by processes.
 */
VMIG_API void vmig_gpu_memory(const struct vmig_model *m, const struct vmig_gi_profile *gp,
			      uint64_t allocated_mib, struct vmig_mem *ret);
/* BAR1 of a GPU (gp NULL) or of a GPU instance (docs/layouts.md, "BAR1"). */
VMIG_API void vmig_bar1(const struct vmig_model *m, const struct vmig_gi_profile *gp,
			struct vmig_mem *ret);

/* ------------------------------------------------------------------------ */
/* Software partitions: geometry (lib/softgeom.c, docs/soft.md)              */
/* ------------------------------------------------------------------------ */

/*
 * A model by key: the catalogue's (vmig_model_find), else a model derived
 * for software partitions, synthesized on first use: "soft-<catalogue key>"
 * for catalogue GPUs without MIG ("soft-rtx-4090"), "soft-<sm>sm-<mib>mib"
 * for GPUs the catalogue does not know.  NULL if the key names neither.
 * State files name models by these keys, so parsers resolve through this.
 */
VMIG_API const struct vmig_model *vmig_model_resolve(const char *key);
/*
 * The model a GPU of model hw is partitioned with in software: hw itself
 * when it has MIG, else the derived model (4 slices, profiles 1g/2g/4g with
 * IDs 14/5/0).  NULL when hw is too small for the rule (under 8 SMs or
 * 2 GiB) or too many distinct geometries were derived in this process.
 */
VMIG_API const struct vmig_model *vmig_soft_model(const struct vmig_model *hw);
/* True for a catalogue model and for a model vmig_model_resolve or vmig_soft_model gave. */
VMIG_API bool vmig_model_known(const struct vmig_model *m);
/* A GI profile's SMs as a percentage of the GPU's, rounded to nearest, in 1..100. */
VMIG_API unsigned vmig_profile_share_pct(const struct vmig_model *m,
					 const struct vmig_gi_profile *gp);

/* ------------------------------------------------------------------------ */
/* Profile names (lib/profile.c)                                             */
/* ------------------------------------------------------------------------ */

/* A parsed profile name: "[<c>c.]<g>g.<gb>gb[+me|+me.all|+gfx|-me]". */
struct vmig_profile_name {
	unsigned c;	/* compute slices of a CI profile; 0 when the "<c>c." part is absent */
	unsigned g;	/* GPU-instance compute slices */
	unsigned gb;	/* memory in the name, GB */
	unsigned attrs; /* VMIG_PF_ME | VMIG_PF_ME_ALL | VMIG_PF_GFX | VMIG_PF_NO_ME */
};

/* Parse a name; an optional leading "MIG " is accepted.  -VMIG_E_INVALID_ARGUMENT if malformed. */
VMIG_API int vmig_profile_name_parse(const char *s, struct vmig_profile_name *ret);
/* Format a name (without "MIG "); returns its length, or -VMIG_E_INSUFFICIENT_SIZE. */
VMIG_API int vmig_profile_name_format(const struct vmig_profile_name *n, char *buf, size_t size);
/* The GB number of a profile's name from its memory and the GPU's total (docs/profile-names.md). */
VMIG_API unsigned vmig_profile_mem_gb(uint64_t mem_mib, uint64_t total_mib);
/* Name of a CI profile: "1c.3g.40gb", or the GI's name when it covers the whole GI. */
VMIG_API int vmig_ci_profile_name(const struct vmig_gi_profile *gp,
				  const struct vmig_ci_profile *cp, char *buf, size_t size);
/*
 * Resolve a GI profile as typed by a user: numeric ID ("9"), name ("3g.40gb")
 * or full name ("MIG 3g.40gb").  -VMIG_E_INVALID_ARGUMENT if the model has no
 * such profile (what nvidia-smi reports for an unknown profile).
 */
VMIG_API int vmig_gi_profile_lookup(const struct vmig_model *m, const char *token,
				    const struct vmig_gi_profile **ret);
/* Same for a CI profile of a GI profile: "0", "1c.3g.40gb", "MIG 3g.40gb". */
VMIG_API int vmig_ci_profile_lookup(const struct vmig_gi_profile *gp, const char *token,
				    const struct vmig_ci_profile **ret);
/*
 * Split a "-cgi"/"-cci" tuple "PROFILE[:START]" into the profile token (copied
 * into profile, NUL-terminated) and the start.  *ret_has_start says whether a
 * start was given.  -VMIG_E_INVALID_ARGUMENT if malformed.
 */
VMIG_API int vmig_tuple_parse(const char *s, char *profile, size_t size, bool *ret_has_start,
			      unsigned *ret_start);

/* ------------------------------------------------------------------------ */
/* State: GPUs and their instances (value records)                           */
/* ------------------------------------------------------------------------ */

#define VMIG_MAX_GPUS 64
#define VMIG_MAX_GIS  16
#define VMIG_MAX_CIS  8
#define VMIG_UUID_LEN 48 /* buffer for "GPU-..." / "MIG-..." with NUL */
/* The largest user or group ID an owner may have ((uid_t)-1 means "none" to the kernel). */
#define VMIG_OWNER_ID_MAX 4294967294u

/*
 * One byte per field: every value is far below 256 (IDs under 8, profile
 * IDs under 16, placements in at most 16 units), and the state record (64
 * GPUs of 16 GIs of 8 CIs) is copied whole by every read, so its size
 * matters: 64 KiB with these, 160 KiB with unsigned fields.  Parsers check
 * the range before they store (lib/state.c, the nvml backend).
 */
struct vmig_ci_state {
	uint8_t id;	     /* CI ID, unique in its GI */
	uint8_t profile_id;  /* CI profile ID */
	uint8_t start, size; /* placement in compute slices of the GI */
};

struct vmig_gi_state {
	unsigned id;	      /* GI ID (heap numbering, lib/placement.c) */
	unsigned profile_id;  /* GI profile ID */
	unsigned start, size; /* placement in placement units */
	unsigned share_pct;   /* software partitions: compute share, 0 = by profile */
	/*
	 * The owner (docs/tenancy.md): a user and a group, numeric.  Unowned
	 * (owned false: a GI recorded by a vmig from before owners) counts as
	 * owned by the state directory's owner (vmig_gi_owner).
	 */
	bool owned;
	uint8_t share_policy; /* software partitions: enum vmig_share_policy (in owned's padding) */
	unsigned owner_uid, owner_gid;
	unsigned nci; /* CIs, sorted by id */
	struct vmig_ci_state ci[VMIG_MAX_CIS];
};

enum vmig_gpu_flags {
	VMIG_GPU_SIMULATED = 1u << 0, /* a simulated GPU of the sim backend */
	VMIG_GPU_SOFT = 1u << 1,      /* software MIG mode (soft backend) */
	/* A GPU passed through to a VM without the right to reset it (sim: vmig sim add --vm). */
	VMIG_GPU_VM = 1u << 2,
	/* Persistence mode is disabled (vmig -pm 0); without the flag it is enabled. */
	VMIG_GPU_NO_PERSISTENCE = 1u << 3,
};

/*
 * How a GPU numbers its GIs (docs/placement.md, section 2): a property of
 * each board, not of a model or driver.  HEAP: the ID is the heap index of
 * the placement's block.  SWAPPED: the same with the two halves of the GPU
 * swapped (the ID of the block at start XOR half); the whole GPU is 0.
 */
enum vmig_gi_numbering {
	VMIG_GI_NUMBERING_HEAP = 0,
	VMIG_GI_NUMBERING_SWAPPED = 1,
};
/* "heap" / "swapped"; NULL for a value that is neither. */
VMIG_API const char *vmig_gi_numbering_name(unsigned numbering);
/* The numbering a name gives ("heap", "swapped"); -VMIG_E_INVALID_ARGUMENT otherwise. */
VMIG_API int vmig_gi_numbering_parse(const char *name, unsigned *ret_numbering);

struct vmig_gpu_state {
	const struct vmig_model *model;
	char uuid[VMIG_UUID_LEN]; /* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
	char serial[32];
	unsigned pci_domain, pci_bus, pci_device;
	unsigned minor;	      /* /dev/nvidia<minor> */
	unsigned mig_current; /* 0 disabled, 1 enabled */
	unsigned mig_pending; /* mode after the next reset (== current when nothing is pending) */
	unsigned flags;	      /* VMIG_GPU_* */
	unsigned ngi;	      /* GIs, sorted by id */
	struct vmig_gi_state gi[VMIG_MAX_GIS];
	/* enum vmig_gi_numbering: how GI IDs follow placements */
	unsigned gi_numbering;
};

struct vmig_state {
	uint64_t generation; /* incremented by every committed change */
	unsigned ngpu;
	struct vmig_gpu_state gpu[VMIG_MAX_GPUS];
};

/* Find a GI / CI by id; NULL if absent. */
VMIG_API struct vmig_gi_state *vmig_gpu_find_gi(struct vmig_gpu_state *g, unsigned gi_id);
VMIG_API struct vmig_ci_state *vmig_gi_find_ci(struct vmig_gi_state *gi, unsigned ci_id);
/* MIG device UUID of (GPU, GI, CI): deterministic, "MIG-xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx". */
VMIG_API void vmig_mig_uuid(const char *gpu_uuid, unsigned gi_id, unsigned ci_id,
			    char out[VMIG_UUID_LEN]);

/* ------------------------------------------------------------------------ */
/* Placement engine: pure functions, no I/O (lib/placement.c)                */
/* ------------------------------------------------------------------------ */

/* Bit i set = placement unit i of the GPU is taken by a GI. */
VMIG_API uint32_t vmig_gpu_occupied(const struct vmig_gpu_state *g);
/* How many more GIs of the profile can be created now (Free in -lgip); 0 with MIG disabled. */
VMIG_API unsigned vmig_gi_remaining(const struct vmig_gpu_state *g,
				    const struct vmig_gi_profile *gp);
/*
 * The start the driver picks for a new GI of the profile.
 * -VMIG_E_INSUFFICIENT_RESOURCES when nothing fits.
 */
VMIG_API int vmig_gi_choose(const struct vmig_gpu_state *g, const struct vmig_gi_profile *gp,
			    unsigned *ret_start);
/*
 * GI ID of a placement under a numbering (enum vmig_gi_numbering): the heap
 * index of its block, or of the block with the GPU's halves swapped
 * (docs/placement.md, section 2).  Every GI ID vmig computes comes from here.
 */
VMIG_API unsigned vmig_gi_id_for(const struct vmig_model *m, unsigned numbering, unsigned start,
				 unsigned size);
/* How many more CIs of the profile fit in the GI (Free in -lcip). */
VMIG_API unsigned vmig_ci_remaining(const struct vmig_gi_state *gi,
				    const struct vmig_gi_profile *gp,
				    const struct vmig_ci_profile *cp);
VMIG_API int vmig_ci_choose(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			    const struct vmig_ci_profile *cp, unsigned *ret_start);

/*
 * Mutations of one GPU's state, as the driver does them.  start NULL = the
 * driver's choice.  Errors: NOT_SUPPORTED (MIG disabled), INVALID_ARGUMENT
 * (bad start for the profile), INSUFFICIENT_RESOURCES (no room, or the
 * profile's instance count is reached), NOT_FOUND (no such GI/CI), IN_USE
 * (destroying a GI that holds CIs).
 */
VMIG_API int vmig_gpu_create_gi(struct vmig_gpu_state *g, const struct vmig_gi_profile *gp,
				const unsigned *start, unsigned *ret_gi_id, struct vmig_err *err);
VMIG_API int vmig_gpu_destroy_gi(struct vmig_gpu_state *g, unsigned gi_id, struct vmig_err *err);
VMIG_API int vmig_gpu_create_ci(struct vmig_gpu_state *g, unsigned gi_id,
				const struct vmig_ci_profile *cp, const unsigned *start,
				unsigned *ret_ci_id, struct vmig_err *err);
VMIG_API int vmig_gpu_destroy_ci(struct vmig_gpu_state *g, unsigned gi_id, unsigned ci_id,
				 struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* State store (lib/state.c, lib/store.c)                                    */
/* ------------------------------------------------------------------------ */

#define VMIG_STATE_VERSION 1
/* The model of the one GPU of a state never written, and of vmig_sim_reset without models. */
#define VMIG_SIM_DEFAULT_MODEL "h100-80gb"

/* A state never written: one simulated VMIG_SIM_DEFAULT_MODEL. */
VMIG_API void vmig_state_init_default(struct vmig_state *st);
/* Append a simulated GPU of the model (new random UUID, serial, bus id). */
VMIG_API int vmig_state_add_gpu(struct vmig_state *st, const struct vmig_model *m,
				struct vmig_err *err);
/* Parse a state file's text; CORRUPT / NEWER_VERSION with a message on bad input. */
VMIG_API int vmig_state_parse(const char *buf, size_t len, struct vmig_state *ret,
			      struct vmig_err *err);
/* Serialise; *ret_buf is malloc'ed, the caller frees it. */
VMIG_API int vmig_state_format(const struct vmig_state *st, char **ret_buf, size_t *ret_len);
/* Check invariants (no overlap, unique IDs, profiles exist); CORRUPT with a message. */
VMIG_API int vmig_state_validate(const struct vmig_state *st, struct vmig_err *err);

struct vmig_store;
/* The state directory: dir, else $VMIG_STATE_DIR, else the default (docs/state.md). */
VMIG_API int vmig_store_open(const char *dir, struct vmig_store **ret, struct vmig_err *err);
VMIG_API void vmig_store_close(struct vmig_store *s);
VMIG_API const char *vmig_store_dir(const struct vmig_store *s);
/*
 * A consistent snapshot, without a lock (docs/state.md).  A directory never
 * written gives the default state.  Only the GPUs below ret->ngpu are
 * written: the entries past them keep what they held (a read copies no more
 * than the GPUs there are).
 */
VMIG_API int vmig_store_read(struct vmig_store *s, struct vmig_state *ret, struct vmig_err *err);
/* Take the exclusive lock and read; follow with commit or abort. */
VMIG_API int vmig_store_begin(struct vmig_store *s, struct vmig_state *ret, struct vmig_err *err);
/* Write st (generation incremented) by temp + fsync + rename, then unlock. */
VMIG_API int vmig_store_commit(struct vmig_store *s, struct vmig_state *st, struct vmig_err *err);
VMIG_API void vmig_store_abort(struct vmig_store *s);
/*
 * A number that changes whenever another commit lands, read without a system
 * call (a shared mapping), so that caches can tell cheaply that nothing changed.
 */
VMIG_API uint64_t vmig_store_generation(const struct vmig_store *s);

/* ------------------------------------------------------------------------ */
/* The simulated inventory: which simulated GPUs exist (lib/inventory.c)     */
/* ------------------------------------------------------------------------ */

/*
 * How vmig_sim_add and vmig_sim_reset make the simulated GPUs they create.
 * A NULL pointer means the defaults, and so does a struct of zeroes: fields
 * are only ever added, each with a zero value that keeps the behaviour of
 * before, so initialise one with {0} or designated initializers.
 */
struct vmig_sim_gpu_opts {
	unsigned flags; /* enum vmig_sim_gpu_flags (others are INVALID_ARGUMENT) */
	/* enum vmig_gi_numbering of the new GPUs; 0 = heap */
	unsigned gi_numbering;
};
enum vmig_sim_gpu_flags {
	/* The new GPUs sit in a VM that may not reset them (VMIG_GPU_VM): see vmig_set_mig_mode. */
	VMIG_SIM_GPU_VM = 1u << 0,
	/* vmig_sim_reset: drop the software partitions of the GPUs that go (else IN_USE). */
	VMIG_SIM_GPU_FORCE = 1u << 1,
};

/*
 * Each call opens the state directory dir (NULL: as vmig_store_open) and
 * makes its change in one transaction: a refused or failed call leaves the
 * state as it was.  *ret (may be NULL) gets the state as committed.
 * Unknown model keys are INVALID_ARGUMENT.
 *
 * vmig_sim_add appends count (>= 1) GPUs of a model; INSUFFICIENT_RESOURCES
 * when that would pass VMIG_MAX_GPUS.
 */
VMIG_API int vmig_sim_add(const char *dir, const char *model, unsigned count,
			  const struct vmig_sim_gpu_opts *opts, struct vmig_state *ret,
			  struct vmig_err *err);
/*
 * Remove GPU index; later GPUs move down one.  NOT_FOUND for no such GPU,
 * INVALID_ARGUMENT for one that is not simulated, IN_USE for one that holds
 * GPU instances or software partitions unless force (they go with it).
 */
VMIG_API int vmig_sim_remove(const char *dir, unsigned index, bool force, struct vmig_state *ret,
			     struct vmig_err *err);
/*
 * Replace every simulated GPU by one new GPU per model key, in order, without
 * instances (n 0: one VMIG_SIM_DEFAULT_MODEL).  IN_USE when a GPU that goes
 * has software partitions, unless opts has VMIG_SIM_GPU_FORCE (they go too). INSUFFICIENT_RESOURCES
 * when they would pass VMIG_MAX_GPUS.
 */
VMIG_API int vmig_sim_reset(const char *dir, const char *const *models, size_t n,
			    const struct vmig_sim_gpu_opts *opts, struct vmig_state *ret,
			    struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* Backends and the context the CLI works through (lib/ctx.c, lib/backend/) */
/* ------------------------------------------------------------------------ */

struct vmig_ctx;
/*
 * Open a context on a backend: "sim", "nvml" or "soft"; NULL = $VMIG_BACKEND,
 * else NVML when the library loads and reports devices, else sim.
 */
VMIG_API int vmig_open(const char *backend, struct vmig_ctx **ret, struct vmig_err *err);
VMIG_API void vmig_close(struct vmig_ctx *ctx);
VMIG_API const char *vmig_backend_name(const struct vmig_ctx *ctx);
/* Is name one vmig_open takes ("sim", "nvml", "soft", "auto"; any case)? */
VMIG_API bool vmig_backend_known(const char *name);
/* The names vmig_open takes, for messages: "sim, nvml, soft or auto". */
VMIG_API const char *vmig_backend_names(void);
/*
 * 0 when this process may change the backend's GPUs; NO_PERMISSION when it
 * may not (sim: the state directory is not writable for it), which is what
 * nvidia-smi reports to a user without the right to manage MIG.  Backends
 * that cannot tell in advance answer 0 and let each change decide.
 */
VMIG_API int vmig_can_change(struct vmig_ctx *ctx, struct vmig_err *err);
/* The driver's versions, as nvidia-smi's banner and --query-gpu=driver_version give them. */
struct vmig_versions {
	char driver[32]; /* "580.82.07" */
	unsigned cuda;	 /* 1000 * major + 10 * minor (13000 = "13.0"); 0 when unknown */
};
/* The simulator's (VMIG_SIM_DRIVER_VERSION) unless the backend asks a real driver. */
VMIG_API int vmig_versions(struct vmig_ctx *ctx, struct vmig_versions *ret, struct vmig_err *err);
/* Everything the backend knows now: GPUs, modes, GIs, CIs. */
VMIG_API int vmig_snapshot(struct vmig_ctx *ctx, struct vmig_state *ret, struct vmig_err *err);
/*
 * Set the MIG mode.  *ret_activation gets 0 when it took effect at once, or
 * the reason it is pending (Ampere, which needs a GPU reset): -VMIG_E_IN_USE
 * when another process holds the GPU, -VMIG_E_NOT_SUPPORTED when the GPU may
 * not be reset (a VM), -VMIG_E_RESET_REQUIRED from drivers that say only
 * that.  Hopper and later need no reset: another process on the GPU makes
 * the call fail with IN_USE.  Turning MIG off while GPU instances exist is
 * IN_USE too.
 */
VMIG_API int vmig_set_mig_mode(struct vmig_ctx *ctx, unsigned gpu, unsigned mode,
			       int *ret_activation, struct vmig_err *err);
/* Reset a GPU: a pending MIG mode takes effect; instances are gone.  NOT_SUPPORTED in a VM. */
VMIG_API int vmig_gpu_reset(struct vmig_ctx *ctx, unsigned gpu, struct vmig_err *err);
/* Persistence mode (0 disabled, 1 enabled), kept per GPU (VMIG_GPU_NO_PERSISTENCE). */
VMIG_API int vmig_set_persistence_mode(struct vmig_ctx *ctx, unsigned gpu, unsigned enabled,
				       struct vmig_err *err);
/*
 * The owner (user and group IDs) of the GPU instances this context creates
 * from now on (docs/tenancy.md); without a call, the calling process's real
 * user and group.  Recorded by the backends that keep a state (sim, soft);
 * the nvml backend answers NOT_SUPPORTED (on real MIG the device nodes'
 * permissions decide who may use an instance).  IDs above
 * VMIG_OWNER_ID_MAX are INVALID_ARGUMENT.
 */
VMIG_API int vmig_set_owner(struct vmig_ctx *ctx, unsigned uid, unsigned gid, struct vmig_err *err);
VMIG_API int vmig_create_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned profile_id,
			    const unsigned *start, unsigned *ret_gi_id, struct vmig_err *err);
VMIG_API int vmig_destroy_gi(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id,
			     struct vmig_err *err);
VMIG_API int vmig_create_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id,
			    unsigned ci_profile_id, const unsigned *start, unsigned *ret_ci_id,
			    struct vmig_err *err);
VMIG_API int vmig_destroy_ci(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned ci_id,
			     struct vmig_err *err);

/*
 * One commit for many changes: after vmig_hold, the backend keeps its state
 * locked and in memory, each change is applied to it (still all or nothing
 * on its own: a refused one changes nothing), and reads through ctx see
 * them; vmig_release writes them once (commit) or drops them.  What
 * `vmig mig -cgi 19,19,19 -C` does, so that a command is one commit however
 * many instances it makes, with nvidia-smi's per-instance messages and
 * partial success.  Backends without a store of their own (nvml) make each
 * change at once and ignore both calls.  A hold waits for the lock as a
 * change does (VMIG_LOCK_TIMEOUT).
 */
VMIG_API int vmig_hold(struct vmig_ctx *ctx, struct vmig_err *err);
VMIG_API int vmig_release(struct vmig_ctx *ctx, bool commit, struct vmig_err *err);

/*
 * Processes using the backend's GPUs and instances, as the backend knows
 * them: sim, programs started by `vmig run` in a simulated instance and
 * processes that have vmig's NVML library initialised (they hold every
 * simulated GPU); soft, the processes registered in each GI's accounting
 * region; nvml, the compute processes NVML reports on each MIG device.  A
 * backend that cannot tell returns an empty list.  The planner calls an
 * instance with a process on it busy; `-mig` calls a GPU with another
 * process on it in use (docs/backends.md, "Processes").
 */
#define VMIG_PROC_WHOLE_GPU 0xffffffffu /* gi/ci of a process that holds the whole GPU */

enum vmig_proc_kind {
	VMIG_PROC_RUN = 1,  /* started with `vmig run` in an instance (sim, soft) */
	VMIG_PROC_NVML = 2, /* an NVML client holding the whole GPU (sim) */
	VMIG_PROC_CUDA = 3, /* a compute process that the driver reports (nvml) */
};

struct vmig_proc {
	enum vmig_proc_kind kind;
	int32_t pid;  /* in the PID namespace of the process that recorded it */
	unsigned gpu; /* index in the snapshot's order */
	unsigned gi,
	    ci; /* VMIG_PROC_WHOLE_GPU when not in an instance; ci too for a GI as a whole */
	uint64_t mem_bytes; /* device memory it uses, where known, else 0 */
};

/* *ret is malloc'ed (NULL when *ret_n is 0); the caller frees it. */
VMIG_API int vmig_procs(struct vmig_ctx *ctx, struct vmig_proc **ret, size_t *ret_n,
			struct vmig_err *err);

/*
 * The registry of users of simulated GPUs (lib/users.c, docs/backends.md):
 * what the sim backend's vmig_procs reads.  vmig_user_register records the
 * calling process in the state directory dir (NULL: as vmig_store_open) as
 * a user of kind VMIG_PROC_RUN of the instance (gpu_uuid, gi, ci), or of
 * kind VMIG_PROC_NVML of every simulated GPU (gpu_uuid NULL, gi = ci =
 * VMIG_PROC_WHOLE_GPU).  The record lives as long as the open file
 * description of *ret does: in every process that shares it (forked
 * children; with VMIG_USER_INHERIT also across exec) and not a moment after
 * the last one exits or is killed.  Only a VMIG_PROC_RUN record creates a
 * missing state directory.  vmig_user_release closes this process's
 * share (NULL is accepted).  The record names the registering process's pid;
 * that process finds itself in vmig_procs too.
 */
#define VMIG_USER_INHERIT 1u /* keep the record's descriptor open across exec */
struct vmig_user;
VMIG_API int vmig_user_register(const char *dir, enum vmig_proc_kind kind, const char *gpu_uuid,
				unsigned gi, unsigned ci, unsigned flags, struct vmig_user **ret,
				struct vmig_err *err);
VMIG_API void vmig_user_release(struct vmig_user *u);

/*
 * Set the compute share of GI gi_id to pct percent of the GPU (1-100).
 * Software partitions only (the soft backend): the share is stored with the
 * instance and handed to programs already running in it (docs/soft.md);
 * NOT_SUPPORTED on other backends.
 */
VMIG_API int vmig_set_share(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned pct,
			    struct vmig_err *err);

/*
 * How a software partition's share is kept (docs/soft.md, "What percent
 * means"); the numbers are those of the state file and of the region.
 */
enum vmig_share_policy {
	VMIG_SHARE_POLICY_SHARE = 0, /* at least the share under contention, idle time lent */
	VMIG_SHARE_POLICY_CAP = 1,   /* never more than the share */
};
#define VMIG_SHARE_POLICY_KEEP (-1) /* vmig_set_compute: leave the policy as it is */

/* The policy's name ("share", "cap"), or NULL; and back: 0, or -1 for an unknown name. */
VMIG_API const char *vmig_share_policy_name(int policy);
VMIG_API int vmig_share_policy_parse(const char *name, int *ret);

/*
 * vmig_set_share, with the policy: pct 0 keeps the share, policy
 * VMIG_SHARE_POLICY_KEEP keeps the policy (not both).
 */
VMIG_API int vmig_set_compute(struct vmig_ctx *ctx, unsigned gpu, unsigned gi_id, unsigned pct,
			      int policy, struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* Layouts: what GPUs should hold, and the planner that gets them there      */
/* (lib/planner.c, lib/layout.c, lib/split.c, docs/planner.md)               */
/* ------------------------------------------------------------------------ */

/* One kind of MIG device wanted on a GPU: a CI profile in a GI profile, and how many. */
struct vmig_layout_dev {
	unsigned gi_profile_id; /* a GI profile ID of the GPU's model */
	unsigned ci_profile_id; /* a CI profile ID of that GI profile ("3g.40gb": the whole GI) */
	unsigned count;
};

#define VMIG_LAYOUT_MAX_DEVS 32

/* What one GPU should hold. */
struct vmig_layout_gpu {
	unsigned gpu;	   /* index in the snapshot's order */
	unsigned mig_mode; /* 0 or 1 */
	unsigned ndev;	   /* kinds of device (0 with MIG disabled) */
	struct vmig_layout_dev dev[VMIG_LAYOUT_MAX_DEVS];
};

enum vmig_layout_flags {
	VMIG_LAYOUT_DRY_RUN = 1u << 0, /* plan only, change nothing */
	VMIG_LAYOUT_FORCE = 1u << 1, /* idle instances may be destroyed and re-created elsewhere */
	VMIG_LAYOUT_MODE_ONLY = 1u << 2,  /* only the MIG modes */
	VMIG_LAYOUT_SKIP_RESET = 1u << 3, /* leave a pending mode change pending */
};

enum vmig_step_kind {
	VMIG_STEP_MODE = 1,   /* gpu, mode */
	VMIG_STEP_RESET,      /* gpu: a pending mode takes effect */
	VMIG_STEP_DESTROY_CI, /* gpu, gi_id, ci_id */
	VMIG_STEP_DESTROY_GI, /* gpu, gi_id */
	VMIG_STEP_CREATE_GI,  /* gpu, profile_id, start; gi_id: the ID it gets */
	VMIG_STEP_CREATE_CI,  /* gpu, gi_id, profile_id, start; ci_id: the ID it gets */
};

struct vmig_step {
	enum vmig_step_kind kind;
	unsigned gpu, mode, gi_id, ci_id, profile_id, start;
	/*
	 * CI steps: the GI's profile ID.  Destroy steps also carry the
	 * destroyed instance's profile_id and start, so that it can be made
	 * again at the same placement (the undo of docs/planner.md).
	 */
	unsigned gi_profile_id;
};

struct vmig_plan {
	size_t nstep;
	struct vmig_step *step; /* malloc'ed; vmig_plan_free */
	unsigned kept;		/* GIs and CIs left in place */
	unsigned destroyed;	/* GIs and CIs destroyed */
	unsigned created;	/* GIs and CIs created */
	unsigned pending;	/* GPUs left with a pending mode change (VMIG_LAYOUT_SKIP_RESET) */
};

/*
 * Bring the GPUs named in want (n entries; GPUs not named are untouched)
 * to their layouts: plan the steps and, unless VMIG_LAYOUT_DRY_RUN, carry
 * them out, all of them or none (docs/planner.md).  IN_USE names the busy
 * instance and its process when the target needs it gone; INSUFFICIENT_-
 * RESOURCES says why no layout fits.  *ret_plan (may be NULL) gets the
 * plan, also on a refusal where one was made.
 */
VMIG_API int vmig_layout_apply(struct vmig_ctx *ctx, const struct vmig_layout_gpu *want, size_t n,
			       unsigned flags, struct vmig_plan *ret_plan, struct vmig_err *err);
VMIG_API void vmig_plan_free(struct vmig_plan *p);

/*
 * The planner (lib/planner.c, pure): the steps that bring one GPU from its
 * state cur to want, given the processes of the whole node (those of other
 * GPUs are ignored; a process on an instance makes it busy).  Steps are
 * appended to *plan (its counts added to); *ret_final (may be NULL) gets
 * the GPU as the steps leave it.  On a refusal (IN_USE, INSUFFICIENT_-
 * RESOURCES, INVALID_ARGUMENT, NOT_SUPPORTED) *plan is left as it was.
 */
VMIG_API int vmig_plan_gpu(const struct vmig_gpu_state *cur, const struct vmig_proc *procs,
			   size_t nproc, const struct vmig_layout_gpu *want, unsigned flags,
			   struct vmig_plan *plan, struct vmig_gpu_state *ret_final,
			   struct vmig_err *err);
/*
 * The layout of `vmig -mig N`: n (>= 2) GPU instances, each with its default
 * CI, as equal as the model's geometry allows (docs/planner.md, "The equal
 * split").  ret->gpu is left 0.  INVALID_ARGUMENT when n GIs never fit.
 */
VMIG_API int vmig_layout_equal_split(const struct vmig_model *m, unsigned n,
				     struct vmig_layout_gpu *ret, struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* mig-parted configs: the v1 format, read strictly, and the files written   */
/* from a node (lib/config*.c, docs/config.md)                              */
/* ------------------------------------------------------------------------ */

/*
 * A parsed config file: its labels, each a list of entries (which GPUs,
 * which MIG mode, which devices).  Profile names are checked against the
 * grammar here, and against each GPU's own profiles by vmig_config_resolve.
 * Every error is INVALID_ARGUMENT with one line "FILE:LINE:COLUMN: KEY:
 * what is wrong" (KEY the path of the key, "mig-configs.L[0].devices").
 */
struct vmig_config;

/* Parse a config's text (YAML; JSON is read as the YAML it is).  file names it in messages. */
VMIG_API int vmig_config_parse(const char *file, const char *text, size_t len,
			       struct vmig_config **ret, struct vmig_err *err);
VMIG_API void vmig_config_free(struct vmig_config *c);
/* The labels of mig-configs, in file order. */
VMIG_API size_t vmig_config_nlabels(const struct vmig_config *c);
VMIG_API const char *vmig_config_label(const struct vmig_config *c, size_t i);
/*
 * The label named label, or with label NULL the file's only one.  NOT_FOUND
 * for a label the file lacks, INVALID_ARGUMENT when NULL and there are several.
 */
VMIG_API int vmig_config_find(const struct vmig_config *c, const char *label, size_t *ret,
			      struct vmig_err *err);

/* What a label asks of one GPU. */
struct vmig_config_target {
	bool covered;		     /* an entry of the label names the GPU */
	bool skip;		     /* covered, but not MIG capable and not asked for MIG */
	struct vmig_layout_gpu want; /* covered and not skip: the layout (the last entry wins) */
};

/*
 * Resolve label against the GPUs of st into ret[0 .. st->ngpu): each entry
 * in file order, later ones winning, profile names resolved against each
 * GPU's own profiles, counts checked against the GPU's instance limits.
 */
VMIG_API int vmig_config_resolve(const struct vmig_config *c, size_t label,
				 const struct vmig_state *st, struct vmig_config_target *ret,
				 struct vmig_err *err);
/*
 * Does g hold want: its MIG mode (current and pending) and, unless
 * mode_only, the same multiset of MIG devices by profile name (placements
 * and GI IDs ignored), as mig-parted's assert compares them.
 */
VMIG_API bool vmig_config_holds(const struct vmig_gpu_state *g, const struct vmig_layout_gpu *want,
				bool mode_only);

/* Hooks files (mig-parted's hooks v1): the points, in the order apply reaches them. */
#define VMIG_HOOK_POINTS(X)                                                                        \
	X(APPLY_START, "apply-start")                                                              \
	X(PRE_APPLY_MODE, "pre-apply-mode")                                                        \
	X(PRE_APPLY_CONFIG, "pre-apply-config")                                                    \
	X(APPLY_EXIT, "apply-exit")

enum vmig_hook_point {
#define VMIG_HOOK_ENUM(e, name) VMIG_HOOK_##e,
	VMIG_HOOK_POINTS(VMIG_HOOK_ENUM)
#undef VMIG_HOOK_ENUM
	    VMIG_HOOK__COUNT
};

/* One hook: a program run by exec, never by a shell. */
struct vmig_hook {
	char **argv;   /* command, then args; NULL-terminated */
	char **envp;   /* the hook's envs, "NAME=value", NULL-terminated */
	char *workdir; /* NULL: the caller's working directory */
};

struct vmig_hooks {
	size_t n[VMIG_HOOK__COUNT];
	struct vmig_hook *hook[VMIG_HOOK__COUNT];
};

VMIG_API const char *vmig_hook_name(enum vmig_hook_point p);
/* Parse a hooks file; errors as vmig_config_parse's. */
VMIG_API int vmig_hooks_parse(const char *file, const char *text, size_t len,
			      struct vmig_hooks **ret, struct vmig_err *err);
VMIG_API void vmig_hooks_free(struct vmig_hooks *h);

enum vmig_config_format { VMIG_CONFIG_YAML, VMIG_CONFIG_JSON };

/*
 * A config describing the MIG-capable GPUs of st as mig-parted's export
 * writes it: one label (label), entries merged by layout, device-filters
 * per board in the shortest form.  *ret is malloc'ed, NUL-terminated.
 */
VMIG_API int vmig_config_export(const struct vmig_state *st, const char *label,
				enum vmig_config_format fmt, char **ret, struct vmig_err *err);
/*
 * mig-parted's generated config for the GPU models of st: all-disabled,
 * all-enabled, all-<profile> per GI profile, all-balanced.
 */
VMIG_API int vmig_config_generate(const struct vmig_state *st, enum vmig_config_format fmt,
				  char **ret, struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* Software partitions: where they live, what a program in one gets          */
/* (lib/backend/soft.c, docs/soft.md)                                        */
/* ------------------------------------------------------------------------ */

/* The soft state directory: $VMIG_SOFT_STATE_DIR, else <state dir>/soft. */
VMIG_API int vmig_soft_dir(char *buf, size_t size, struct vmig_err *err);

/*
 * The limits the interposer enforces for one software GPU instance: what
 * `vmig run` puts in the program's environment (run_env.h).
 */
struct vmig_soft_limits {
	char partition[VMIG_PARTITION_LEN]; /* VMIG_ENV_PARTITION: "<GPU UUID>/gi<N>" */
	uint64_t mem_bytes;		    /* VMIG_ENV_MEM_LIMIT: the GI profile's memory */
	unsigned compute_pct;		    /* VMIG_ENV_COMPUTE_PCT: share_pct, else by SMs */
	unsigned compute_policy;	    /* enum vmig_share_policy of the GI */
	char acct_path[VMIG_ACCT_PATH_LEN]; /* VMIG_ENV_ACCOUNTING: <soft dir>/acct/<uuid>-gi<N> */
};

/* Limits of GI gi_id of a GPU from a soft snapshot; NOT_FOUND if it has no such GI. */
VMIG_API int vmig_soft_limits(const struct vmig_gpu_state *g, unsigned gi_id,
			      struct vmig_soft_limits *ret, struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* Device selectors: what users type to name GPUs and MIG devices            */
/* (lib/selector.c, docs/containers.md)                                      */
/* ------------------------------------------------------------------------ */

/*
 * A selector is a comma list of items, each one of: a GPU index ("0"); a
 * GPU UUID or a unique prefix of one ("GPU-1b2c", any case); a MIG UUID or
 * a unique prefix ("MIG-7089"); GPU:MIG, the GPU (index or GPU UUID) and
 * the MIG device's index in that GPU's -L list (nvidia-ctk's "0:1");
 * GPU:GI:CI; the legacy "MIG-GPU-<uuid>/<gi>/<ci>".  Alone, "all", "none"
 * or "void" (and the empty string, which is "void", as NVIDIA's runtime
 * reads it).  Spaces around items are ignored; a device named twice counts once.
 */
enum vmig_sel_kind {
	VMIG_SEL_LIST = 0, /* the devices listed */
	VMIG_SEL_ALL,	   /* "all": every GPU, then every MIG device */
	VMIG_SEL_NONE,	   /* "none": no device */
	VMIG_SEL_VOID,	   /* "void" or "": no device, nothing at all */
};

/* ci of a GI named as a whole (GPU:GI with VMIG_SEL_PAIR_IS_GI). */
#define VMIG_SEL_NO_CI 0xffffffffu

struct vmig_sel_dev {
	unsigned gpu;		  /* index in the snapshot */
	bool mig;		  /* a MIG device (a CI of a GI), not the whole GPU */
	unsigned gi, ci;	  /* mig: GI ID and CI ID (ci may be VMIG_SEL_NO_CI) */
	unsigned mig_index;	  /* mig: its index in the GPU's -L list (of its first CI) */
	char uuid[VMIG_UUID_LEN]; /* "GPU-..." or "MIG-..." ("" for a GI as a whole) */
};

struct vmig_selection {
	enum vmig_sel_kind kind;
	size_t n;
	struct vmig_sel_dev *dev; /* malloc'ed, n entries (NULL when 0); vmig_selection_free */
};

enum vmig_sel_flags {
	/* "A:B" is GPU:GI (vmig run's form, the GI as a whole), not GPU:MIG index. */
	VMIG_SEL_PAIR_IS_GI = 1u << 0,
};

/*
 * Resolve text against the GPUs of st.  INVALID_ARGUMENT for an item of no
 * form above, NOT_FOUND for one that names nothing in st, both with one line
 * naming the item; *ret is written only on success.
 */
VMIG_API int vmig_select(const struct vmig_state *st, const char *text, unsigned flags,
			 struct vmig_selection *ret, struct vmig_err *err);
VMIG_API void vmig_selection_free(struct vmig_selection *s);
/*
 * Exactly one MIG device (what `vmig run -d` needs): as vmig_select, and
 * INVALID_ARGUMENT for a list, all/none/void or a whole GPU.
 */
VMIG_API int vmig_select_one(const struct vmig_state *st, const char *text, unsigned flags,
			     struct vmig_sel_dev *ret, struct vmig_err *err);
/*
 * The GPUs every front end that hands out devices sees: the default backend's
 * snapshot (backend NULL: as vmig_open), with each GPU in soft MIG mode taken
 * from the soft backend's snapshot instead (flagged VMIG_GPU_SOFT).
 */
VMIG_API int vmig_snapshot_devices(const char *backend, struct vmig_state *ret,
				   struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* CDI specs: GPUs and instances for containers (lib/cdi.c,                  */
/* docs/containers.md)                                                       */
/* ------------------------------------------------------------------------ */

/* vmig's own kind: never nvidia.com/gpu, whose specs belong to NVIDIA's toolkit. */
#define VMIG_CDI_KIND_DEFAULT "vmig.dev/gpu"
/* The variable that changes the default kind, for vmig cdi and the container runtime. */
#define VMIG_ENV_CDI_KIND "VMIG_CDI_KIND"
/* The driver's table of capability minors, and the variable that replaces it (tests). */
#define VMIG_CDI_MIG_MINORS_DEFAULT "/proc/driver/nvidia-caps/mig-minors"
#define VMIG_ENV_MIG_MINORS	    "VMIG_MIG_MINORS"
/* Where the host's device nodes are (default /dev); stand-in nodes for tests. */
#define VMIG_ENV_DEV_ROOT "VMIG_DEV_ROOT"
/* Where a software partition's container finds the interposer. */
#define VMIG_CDI_INTERPOSER_PATH "/usr/lib/vmig/" VMIG_INTERPOSER_NAME

struct vmig_cdi_opts {
	const char *kind;	/* NULL: vmig_cdi_kind(NULL) */
	const char *mig_minors; /* NULL: $VMIG_MIG_MINORS, else VMIG_CDI_MIG_MINORS_DEFAULT */
	const char *dev_root;	/* NULL: $VMIG_DEV_ROOT, else "/dev" */
	const char *interposer; /* host path of the interposer; NULL: vmig_interposer_find */
};

/*
 * Is kind "VENDOR/CLASS" one that the CDI rules and podman 4.3 accept
 * (docs/containers.md, "Names")?  INVALID_ARGUMENT naming the rule broken.
 */
VMIG_API int vmig_cdi_kind_check(const char *kind, struct vmig_err *err);
/* The kind to use: kind when not NULL, else $VMIG_CDI_KIND when set, else VMIG_CDI_KIND_DEFAULT. */
VMIG_API const char *vmig_cdi_kind(const char *kind);
/*
 * The spec of every GPU and MIG device of st (JSON, malloc'ed into *ret):
 * devices by index, GPU UUID, MIG UUID, GPU:GI:CI, GPU:MIG and "all",
 * cdiVersion the lowest its features need.  Creates the accounting
 * directories of software partitions, which the spec mounts.
 */
VMIG_API int vmig_cdi_spec(const struct vmig_state *st, const struct vmig_cdi_opts *o, char **ret,
			   struct vmig_err *err);
/* One device node as a container gets it: its path there, and the host's node. */
struct vmig_cdi_node {
	char path[64];	 /* "/dev/nvidia-caps/nvidia-cap30" */
	char host[4096]; /* the same under the device root ($VMIG_DEV_ROOT) */
};
/*
 * The device nodes the spec's edits give a container that gets the n MIG
 * devices uuids of st (hardware or simulated, not software partitions):
 * the common control nodes, each parent GPU's node and each device's GI
 * and CI capability nodes, every one once (*ret malloc'ed, *ret_n of
 * them).  For an answer that cannot name CDI devices: the spec's edits
 * would give the container the CUDA_VISIBLE_DEVICES of one device alone.
 * NOT_FOUND for a UUID no MIG device has, INVALID_ARGUMENT for a software
 * partition.
 */
VMIG_API int vmig_cdi_nodes(const struct vmig_state *st, const struct vmig_cdi_opts *o,
			    const char *const *uuids, size_t n, struct vmig_cdi_node **ret,
			    size_t *ret_n, struct vmig_err *err);
/* "<dir>/<vendor>-<class>.json", the spec's conventional file name. */
VMIG_API int vmig_cdi_spec_path(const char *dir, const char *kind, char *buf, size_t size,
				struct vmig_err *err);
/* Write text to path atomically (temp file in the same directory, fsync, rename). */
VMIG_API int vmig_cdi_write(const char *path, const char *text, struct vmig_err *err);
/*
 * The environment of a program in software GI gi_id of g, in this order:
 * LD_PRELOAD (preload, the interposer's path as the program sees it),
 * VMIG_PARTITION, VMIG_MEM_LIMIT, VMIG_COMPUTE_PCT, VMIG_ACCOUNTING,
 * VMIG_COMPUTE_MODE (timeslice) and CUDA_VISIBLE_DEVICES (the GPU's UUID):
 * what `vmig run` sets from vmig_soft_limits, for CDI specs and Slurm's
 * TaskProlog.  NOT_FOUND if g has no such GI.
 */
#define VMIG_SOFT_ENV_MAX 7
struct vmig_soft_env {
	unsigned n;
	struct {
		const char *name;
		char value[VMIG_ACCT_PATH_LEN];
	} var[VMIG_SOFT_ENV_MAX];
};
VMIG_API int vmig_soft_env(const struct vmig_gpu_state *g, unsigned gi_id, const char *preload,
			   struct vmig_soft_env *ret, struct vmig_err *err);
/*
 * LD_PRELOAD with lib first, keeping what old (NULL: none) preloads already;
 * a sanitizer runtime at old's head keeps its place (it must be loaded
 * first) and lib comes second.  *ret malloc'ed; -VMIG_E_NO_MEMORY.
 */
VMIG_API int vmig_preload_join(const char *lib, const char *old, char **ret);
/*
 * The interposer (VMIG_INTERPOSER_NAME): $VMIG_INTERPOSER, else beside the
 * running program, in interpose/ beside it (the build tree), or in
 * ../lib/vmig/ (an installed <prefix>/bin).
 */
VMIG_API int vmig_interposer_find(char *buf, size_t size, struct vmig_err *err);

/*
 * CDI specs kept current by every change (lib/cdi_keep.c, docs/containers.md,
 * "Keeping specs current").  The setting is a small file of the state
 * directory (cdi.json): the specs to rewrite, each with the options it is
 * generated with, resolved when it was enabled.
 */
#define VMIG_CDI_KEEP_MAX  16	/* specs kept current at once */
#define VMIG_CDI_PATH_LEN  1024 /* longest path in the setting, with its NUL */
#define VMIG_CDI_KIND_LEN  320	/* longest kind, with its NUL */
#define VMIG_CDI_KEEP_FILE "cdi.json"

struct vmig_cdi_keep {
	char output[VMIG_CDI_PATH_LEN];	    /* the spec directory (absolute) */
	char kind[VMIG_CDI_KIND_LEN];	    /* VENDOR/CLASS */
	char backend[16];		    /* "": as vmig_open(NULL) picks it then */
	char mig_minors[VMIG_CDI_PATH_LEN]; /* the capability minors table (absolute) */
	char dev_root[VMIG_CDI_PATH_LEN];   /* the host's device nodes (absolute) */
	char interposer[VMIG_CDI_PATH_LEN]; /* "": vmig_interposer_find at each write */
};

struct vmig_cdi_keeps {
	unsigned n;
	struct vmig_cdi_keep spec[VMIG_CDI_KEEP_MAX];
};

/* The specs kept current in the state directory ($VMIG_STATE_DIR, as vmig_store_open(NULL)). */
VMIG_API int vmig_cdi_keeps_read(struct vmig_cdi_keeps *ret, struct vmig_err *err);
/* "<output>/<vendor>-<class>.json" of a kept spec. */
VMIG_API int vmig_cdi_keep_path(const struct vmig_cdi_keep *k, char *buf, size_t size,
				struct vmig_err *err);
/*
 * Keep a spec current: resolve want (output an existing directory; empty
 * kind, mig_minors, dev_root and backend take the defaults and variables
 * vmig cdi generate would; interposer is found now when it can be), write
 * the spec now, then record it (replacing a record of the same file).
 * Nothing is recorded when the spec cannot be written.  The spec's path
 * goes to ret_path.
 */
VMIG_API int vmig_cdi_enable(const struct vmig_cdi_keep *want, char *ret_path, size_t size,
			     struct vmig_err *err);
/*
 * Stop keeping specs current: those in output (NULL: every one) of kind
 * (NULL: any); with remove their files are deleted too.  NOT_FOUND when
 * output is given and nothing matches.  *ret_n: how many were dropped.
 */
VMIG_API int vmig_cdi_disable(const char *output, const char *kind, bool remove, unsigned *ret_n,
			      struct vmig_err *err);

enum vmig_cdi_freshness {
	VMIG_CDI_CURRENT = 0, /* the file holds the spec of the node now */
	VMIG_CDI_STALE,	      /* it holds another */
	VMIG_CDI_MISSING,     /* there is no file */
};
/* Is a kept spec's file the spec that would be written now? */
VMIG_API int vmig_cdi_keep_check(const struct vmig_cdi_keep *k, enum vmig_cdi_freshness *ret,
				 struct vmig_err *err);
/*
 * Make every change of this process (through a context, or vmig_sim_*)
 * rewrite the kept specs before the call returns.  A spec that cannot be
 * rewritten does not undo the change: report (when not NULL) gets one line
 * per failure.  Front ends that change instances call it once (the vmig
 * command does); the simulated NVML library does not (docs/containers.md).
 */
typedef void vmig_cdi_report_fn(const char *msg, void *arg);
VMIG_API void vmig_cdi_keep_install(vmig_cdi_report_fn *report, void *arg);

/* ------------------------------------------------------------------------ */
/* Slurm: the instances as generic resources (lib/slurm.c, docs/slurm.md)     */
/* ------------------------------------------------------------------------ */

/* Placeholder nodes of software partitions: a local/experimental char major (LANANA). */
#define VMIG_SLURM_PLACEHOLDER_MAJOR 120
/* Their folder, under the device root. */
#define VMIG_SLURM_PLACEHOLDER_DIR "vmig"
/* Placeholder minor = GPU minor * 128 + GI * 8 + CI, below 2^20. */
#define VMIG_SLURM_MAX_GPU_MINOR 8192

/* One MIG device (a CI of a GI) as one gres.conf line. */
struct vmig_slurm_dev {
	unsigned gpu, gi, ci;	  /* snapshot index, GI ID, CI ID */
	bool soft;		  /* a software partition */
	char type[48];		  /* gres Type: the CI's profile name ("3g.40gb", "1c.3g.40gb") */
	char uuid[VMIG_UUID_LEN]; /* its MIG UUID */
	unsigned nfiles;	  /* 3 (parent, GI cap, CI cap), or 2 (parent, placeholder) */
	char file[3][256];
	/* The numbers of the last file, the instance's own (0:0: a cap node that is missing). */
	unsigned major, minor;
};

struct vmig_slurm_opts {
	const char *mig_minors; /* NULL: $VMIG_MIG_MINORS, else VMIG_CDI_MIG_MINORS_DEFAULT */
	const char *dev_root;	/* NULL: $VMIG_DEV_ROOT, else "/dev" */
	/* AutoDetect=nvml: MIG devices typed as Slurm 22.05 names what it detects ("3g.39gb"). */
	bool autodetect;
};

/*
 * Every MIG device of st (GPUs in snapshot order, GIs and CIs in ID order),
 * *ret malloc'ed; NOT_FOUND when there is none, errors of the mig-minors
 * table as vmig_cdi_spec's.
 */
VMIG_API int vmig_slurm_devices(const struct vmig_state *st, const struct vmig_slurm_opts *o,
				struct vmig_slurm_dev **ret, size_t *ret_n, struct vmig_err *err);
/* gres.conf (malloc'ed): one line per device, or AutoDetect=nvml and the soft ones. */
VMIG_API int vmig_slurm_gres_conf(const struct vmig_slurm_dev *d, size_t n, bool autodetect,
				  char **ret, struct vmig_err *err);
/* slurm.conf's "NodeName=<node> Gres=gpu:<type>:<count>,..." (malloc'ed, no newline). */
VMIG_API int vmig_slurm_node_line(const struct vmig_slurm_dev *d, size_t n, const char *node,
				  char **ret, struct vmig_err *err);
/* Create (or correct) the placeholder node of every software partition. */
VMIG_API int vmig_slurm_make_placeholders(const struct vmig_slurm_dev *d, size_t n,
					  struct vmig_err *err);

/* What a TaskProlog knows of its task; NULL: absent. */
struct vmig_slurm_task {
	const char *visible;	    /* CUDA_VISIBLE_DEVICES */
	const char *step_gpus;	    /* SLURM_STEP_GPUS: gres indexes */
	const char *devices_list;   /* the task's devices.list (cgroup v1) */
	const char *gres_conf;	    /* the text of gres.conf */
	const char *gres_conf_path; /* its name, for messages */
};
/*
 * The task's instances: sel[i] for d[i].  From MIG UUIDs in
 * CUDA_VISIBLE_DEVICES, else the instances whose own node the device cgroup
 * allows, else the gres indexes through the lines of gres.conf.  Returns
 * how many (0: the task has no GPU); NOT_FOUND for a GPU that is not one of
 * d, INVALID_ARGUMENT for a list of another shape.
 */
VMIG_API int vmig_slurm_task_devices(const struct vmig_slurm_dev *d, size_t n,
				     const struct vmig_slurm_task *t, bool *sel,
				     struct vmig_err *err);

/* ------------------------------------------------------------------------ */
/* Kubernetes: the instances as extended resources and node labels           */
/* (lib/k8s.c, docs/kubernetes.md)                                           */
/* ------------------------------------------------------------------------ */

/* vmig's own resource domain: never nvidia.com, whose resources NVIDIA's plugin announces. */
#define VMIG_K8S_DOMAIN_DEFAULT "vmig.dev"
/* The labels' domain: GPU Feature Discovery's names. */
#define VMIG_K8S_LABEL_DOMAIN_DEFAULT "nvidia.com"
/* "<domain>/<name>": a DNS subdomain of at most 253 characters, a name of at most 63. */
#define VMIG_K8S_RESOURCE_LEN 320

/* One MIG device (a CI of a GI) as the kubelet sees it. */
struct vmig_k8s_dev {
	unsigned gpu, gi, ci;		      /* snapshot index, GI ID, CI ID */
	bool soft;			      /* a software partition */
	bool healthy;			      /* every device node its CDI edits name is there */
	char profile[48];		      /* its CI profile's name: "3g.40gb", "1c.3g.40gb" */
	char resource[VMIG_K8S_RESOURCE_LEN]; /* "vmig.dev/mig-3g.40gb" */
	char uuid[VMIG_UUID_LEN];	      /* its MIG UUID, the device ID */
	char why[512];			      /* not healthy: why, one line */
};

struct vmig_k8s_opts {
	const char *domain;	/* NULL: VMIG_K8S_DOMAIN_DEFAULT */
	const char *mig_minors; /* NULL: $VMIG_MIG_MINORS, else VMIG_CDI_MIG_MINORS_DEFAULT */
	const char *dev_root;	/* NULL: $VMIG_DEV_ROOT, else "/dev" */
};

/*
 * Is domain a resource or label domain Kubernetes takes for an extended
 * resource (a DNS subdomain outside kubernetes.io)?  INVALID_ARGUMENT naming
 * the rule broken.
 */
VMIG_API int vmig_k8s_domain_check(const char *domain, struct vmig_err *err);
/*
 * "mig-<profile>" with '+' written as '.' ("1g.10gb+me": "mig-1g.10gb.me"),
 * the name part of a resource and the stem of the per-profile labels.
 */
VMIG_API int vmig_k8s_profile_name(const char *profile, char *buf, size_t size,
				   struct vmig_err *err);
/*
 * Every MIG device of st (GPUs in snapshot order, GIs and CIs in ID order)
 * with its resource name and health; *ret malloc'ed (NULL when *ret_n is
 * 0, which is no error).  A device node that is missing, or a mig-minors
 * table that cannot be read, makes a device unhealthy, never an error.
 */
VMIG_API int vmig_k8s_devices(const struct vmig_state *st, const struct vmig_k8s_opts *o,
			      struct vmig_k8s_dev **ret, size_t *ret_n, struct vmig_err *err);
/*
 * Node Feature Discovery's local feature file for the instances of st
 * (malloc'ed): GPU Feature Discovery's labels under domain (NULL:
 * VMIG_K8S_LABEL_DOMAIN_DEFAULT), mig.capable, mig.strategy=mixed,
 * gpu.product and per profile count, product, memory, multiprocessors,
 * slices.gi, slices.ci, engines.*, replicas and sharing-strategy.
 * NOT_FOUND when st has no instance.
 */
VMIG_API int vmig_k8s_labels(const struct vmig_state *st, const char *domain, char **ret,
			     struct vmig_err *err);

#ifdef __cplusplus
}
#endif
#endif /* VMIG_VMIG_H */
