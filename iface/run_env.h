/*
 * run_env.h — the environment contract between `vmig run` (cli/run.c), which
 * starts a program inside a GPU instance, and the CUDA interposer
 * (interpose/config.c, libvmig-cuda.so), which enforces the instance's
 * limits in that program and in its children, which inherit the
 * environment.  The two sides may come from different builds, so a name,
 * value format or length here changes only with both in mind.
 * docs/soft.md and docs/interpose.md describe the mechanism.
 *
 * Names are VMIG_ENV_*, fixed values and lengths VMIG_*.  Lengths are buffer
 * sizes, NUL included.  libvmig's struct vmig_soft_limits (vmig.h), which
 * holds what `vmig run` sets, and the accounting region's partition field
 * (region.h) use the lengths from here.
 */
#ifndef VMIG_IFACE_RUN_ENV_H
#define VMIG_IFACE_RUN_ENV_H

/* ---- set by vmig run in a software partition, read by the interposer ---- */

/*
 * The instance: "<GPU UUID>/gi<N>" ("GPU-1b2c...-9f/gi3"), printable ASCII
 * without spaces.  Its presence turns the interposer on; it must equal the
 * partition id stored in the accounting region.  At most
 * VMIG_PARTITION_LEN - 1 bytes: vmig's own ids have at most 60 (a UUID of
 * at most 47, "/gi", 10 digits), and the interposer refuses a longer one
 * (passthrough).  The region's on-disk field has exactly this size.
 */
#define VMIG_ENV_PARTITION "VMIG_PARTITION"
#define VMIG_PARTITION_LEN 128

/*
 * The instance's device-memory quota in bytes: decimal, 1 or more, with an
 * optional binary suffix K, M, G or T, itself optionally followed by "iB"
 * ("71168MiB").  vmig run writes plain decimal bytes.
 */
#define VMIG_ENV_MEM_LIMIT "VMIG_MEM_LIMIT"

/* The instance's compute share, percent of the GPU: decimal 1-100; 100 is no cap. */
#define VMIG_ENV_COMPUTE_PCT "VMIG_COMPUTE_PCT"

/*
 * How the share is enforced: VMIG_COMPUTE_MODE_TIMESLICE (the interposer
 * throttles kernel launches) or VMIG_COMPUTE_MODE_MPS (the MPS server caps
 * the threads at VMIG_ENV_MPS_THREAD_PCT).  vmig run also reads it from its
 * own environment, where it forces one of the two.
 */
#define VMIG_ENV_COMPUTE_MODE	    "VMIG_COMPUTE_MODE"
#define VMIG_COMPUTE_MODE_TIMESLICE "timeslice"
#define VMIG_COMPUTE_MODE_MPS	    "mps"

/*
 * CUDA MPS's per-client thread percentage, decimal 1-100: set to the share
 * with VMIG_COMPUTE_MODE_MPS, and read back by the interposer to know the cap
 * the server applies.
 */
#define VMIG_ENV_MPS_THREAD_PCT "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"

/*
 * The path of the instance's accounting region (iface/region.h), a file
 * every process of the instance maps: "<soft dir>/acct/<GPU UUID>-gi<N>".
 * At most VMIG_ACCT_PATH_LEN - 1 bytes (PATH_MAX on Linux); the interposer
 * ignores a longer one (accounting private to the process).
 */
#define VMIG_ENV_ACCOUNTING "VMIG_ACCOUNTING"
#define VMIG_ACCT_PATH_LEN  4096

/*
 * CUDA's list of visible devices: in a software partition the parent GPU's
 * UUID ("GPU-..."); on a real MIG instance its MIG UUID or
 * "MIG-<GPU UUID>/<GI>/<CI>".  The only variable vmig run sets on real MIG.
 */
#define VMIG_ENV_VISIBLE_DEVICES "CUDA_VISIBLE_DEVICES"

/* The dynamic loader's preload list: the interposer, first (after a sanitizer runtime). */
#define VMIG_ENV_PRELOAD "LD_PRELOAD"

/* ---- read by the interposer, set by people and tests ---- */

/* The real CUDA driver to load: a file name or a path; default VMIG_CUDA_LIBRARY_DEFAULT. */
#define VMIG_ENV_CUDA_LIBRARY	  "VMIG_CUDA_LIBRARY"
#define VMIG_CUDA_LIBRARY_DEFAULT "libcuda.so.1"

/* Debug lines on stderr, and why a limit fell back: on when set, not empty and not "0". */
#define VMIG_ENV_DEBUG "VMIG_DEBUG"

/* ---- read by vmig run ---- */

/* The interposer's file name: built in interpose/, installed in <prefix>/lib/vmig/. */
#define VMIG_INTERPOSER_NAME "libvmig-cuda.so"

/* A path to preload instead of the VMIG_INTERPOSER_NAME found beside vmig. */
#define VMIG_ENV_INTERPOSER "VMIG_INTERPOSER"

/* CUDA MPS's pipe directory, where its control socket is; default VMIG_MPS_PIPE_DIR_DEFAULT. */
#define VMIG_ENV_MPS_PIPE_DIR	  "CUDA_MPS_PIPE_DIRECTORY"
#define VMIG_MPS_PIPE_DIR_DEFAULT "/tmp/nvidia-mps"

#endif
