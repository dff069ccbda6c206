/*
 * mig.c — the MIG part of the NVML API over the simulated GPUs: MIG mode,
 * GPU-instance and compute-instance profiles (every struct version),
 * possible placements, remaining capacity, create (automatic or placed),
 * destroy, listing and lookup, and the MIG device handles.
 *
 * Reads come from the cached state and the catalogue; every change runs as
 * one transaction of the sim backend (the same code the vmig command runs),
 * then the cache is refreshed so that the new instance has its handle.
 */
#include <stdio.h>
#include <string.h>

#include "nv.h"

#define L vmig__nv
#define H vmig__nv_hot

/* Enter with a GPU handle (not a MIG device) of a MIG-capable model; lock held on success. */
static nvmlReturn_t enter_mig_gpu(nvmlDevice_t device, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter_device(device, ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref->ci)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	if (!(ref->m->flags & VMIG_MF_MIG))
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	return NVML_SUCCESS;
}

/* After a change this process committed: re-read, then r (or the refresh's failure). */
static nvmlReturn_t changed(int r)
{
	if (r < 0)
		return vmig__nv_code(r);
	if (!L.st)
		return NVML_ERROR_UNINITIALIZED; /* shut down while the change ran */
	return vmig__nv_refresh();
}

/*
 * A change of the state, made without the lock but under the writers' lock
 * (vmig__nv_write_begin): its commit fsyncs, and other threads' queries must
 * not wait for that.  expr may use only values copied out of the cache
 * before, never pointers into it.  Then the cache is refreshed, under the
 * lock again.
 */
#define CHANGE(expr)                                                                               \
	__extension__({                                                                            \
		int change_r_ = vmig__nv_write_begin() ? (expr) : -VMIG_E_UNINITIALIZED;           \
		vmig__nv_write_end();                                                              \
		changed(change_r_);                                                                \
	})

/* The hot table's record of a valid GPU handle (not a MIG device), or NULL. */
static const struct nv_hot_gpu *hot_gpu(nvmlDevice_t device)
{
	int i = nv_gpu_index(device);
	return i >= 0 && (unsigned)i < NV_LD(H.ngpu) ? &H.gpu[i] : NULL;
}

/* Lock-free: one word of a GPU's hot record (read whole), or false to take the locked path. */
static bool hot_gpu_word(nvmlDevice_t device, size_t offset, uint32_t *ret)
{
	uint64_t seq;
	if (!nv_hot_enter(&seq))
		return false;
	const struct nv_hot_gpu *h = hot_gpu(device);
	if (!h)
		return false;
	uint32_t v = __atomic_load_n((const uint32_t *)(const void *)((const char *)h + offset),
				     __ATOMIC_ACQUIRE);
	if (!nv_hot_valid(seq))
		return false;
	*ret = v;
	return true;
}

/* ------------------------------------------------------------------------ */
/* MIG mode                                                                  */
/* ------------------------------------------------------------------------ */

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
					      unsigned int *pendingMode)
{
	uint32_t mode;
	if (currentMode && pendingMode &&
	    hot_gpu_word(device, offsetof(struct nv_hot_gpu, mig_mode), &mode) &&
	    mode & NV_MODE_CAPABLE) {
		*currentMode = mode & 0xff;
		*pendingMode = (mode >> 8) & 0xff;
		return NVML_SUCCESS;
	}
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!currentMode || !pendingMode)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*currentMode = ref.g->mig_current;
	*pendingMode = ref.g->mig_pending;
	return vmig__nv_leave(NVML_SUCCESS);
}

/*
 * The call succeeds when the new mode is recorded; whether it took effect
 * is the activation status: SUCCESS when it took effect, else why an Ampere
 * GPU's mode stays pending (IN_USE: another process holds it; NOT_SUPPORTED:
 * a VM that may not reset it), by the sim backend's rules (docs/backends.md).
 */
NVML_EXPORT nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode,
					      nvmlReturn_t *activationStatus)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!activationStatus || mode > NVML_DEVICE_MIG_ENABLE)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	int activation = 0;
	unsigned gpu = ref.index;
	r = CHANGE(vmig_set_mig_mode(L.ctx, gpu, mode, &activation, NULL));
	if (r == NVML_SUCCESS)
		*activationStatus = vmig__nv_code(activation);
	return vmig__nv_leave(r);
}

/* ------------------------------------------------------------------------ */
/* GPU-instance profiles                                                     */
/* ------------------------------------------------------------------------ */

static void mig_name(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "MIG %s", name);
}

static void gi_info_v1(const struct vmig_gi_profile *gp, nvmlGpuInstanceProfileInfo_t *info)
{
	*info = (nvmlGpuInstanceProfileInfo_t){
	    .id = gp->id,
	    .isP2pSupported = !!(gp->flags & VMIG_PF_P2P),
	    .sliceCount = gp->slices,
	    .instanceCount = gp->instances,
	    .multiprocessorCount = gp->sm,
	    .copyEngineCount = gp->ce,
	    .decoderCount = gp->dec,
	    .encoderCount = gp->enc,
	    .jpegCount = gp->jpeg,
	    .ofaCount = gp->ofa,
	    .memorySizeMB = gp->mem_mib,
	};
}

/* v2 and v3 share the caller's buffer; which one it is was checked from info->version. */
static void gi_info_versioned(const struct vmig_gi_profile *gp,
			      nvmlGpuInstanceProfileInfo_v2_t *info)
{
	nvmlGpuInstanceProfileInfo_t v1;
	gi_info_v1(gp, &v1);
	if (info->version == nvmlGpuInstanceProfileInfo_v2) {
		nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = info->version};
		memcpy(&v2.id, &v1, offsetof(nvmlGpuInstanceProfileInfo_t, memorySizeMB));
		v2.memorySizeMB = v1.memorySizeMB;
		mig_name(v2.name, sizeof(v2.name), gp->name);
		*info = v2;
		return;
	}
	nvmlGpuInstanceProfileInfo_v3_t v3 = {
	    .version = info->version,
	    .id = v1.id,
	    .sliceCount = v1.sliceCount,
	    .instanceCount = v1.instanceCount,
	    .multiprocessorCount = v1.multiprocessorCount,
	    .copyEngineCount = v1.copyEngineCount,
	    .decoderCount = v1.decoderCount,
	    .encoderCount = v1.encoderCount,
	    .jpegCount = v1.jpegCount,
	    .ofaCount = v1.ofaCount,
	    .memorySizeMB = v1.memorySizeMB,
	    .capabilities = (gp->flags & VMIG_PF_P2P ? NVML_GPU_INSTANCE_PROFILE_CAPS_P2P : 0) |
			    (gp->flags & VMIG_PF_GFX ? NVML_GPU_INSTANCE_PROFILE_CAPS_GFX : 0),
	};
	mig_name(v3.name, sizeof(v3.name), gp->name);
	memcpy(info, &v3, sizeof(v3));
}

/*
 * Find a GI profile by index constant (by_id false) or by profile ID, the
 * way the profile-info calls do: INVALID_ARGUMENT past the last index the
 * header defines, NOT_SUPPORTED for an index this GPU lacks or while MIG is
 * disabled.  Lock held on success.
 */
static nvmlReturn_t enter_gi_profile(nvmlDevice_t device, unsigned key, bool by_id, const void *out,
				     const struct vmig_gi_profile **ret_gp)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!out || (!by_id && key >= NVML_GPU_INSTANCE_PROFILE_COUNT))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	const struct vmig_gi_profile *gp =
	    by_id ? vmig_gi_profile_by_id(ref.m, key) : vmig_gi_profile_by_index(ref.m, key);
	if (by_id && !gp)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	if (!gp || !ref.g->mig_current)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*ret_gp = gp;
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device,
							     unsigned int profile,
							     nvmlGpuInstanceProfileInfo_t *info)
{
	const struct vmig_gi_profile *gp;
	nvmlReturn_t r = enter_gi_profile(device, profile, false, info, &gp);
	if (r != NVML_SUCCESS)
		return r;
	gi_info_v1(gp, info);
	return vmig__nv_leave(NVML_SUCCESS);
}

static bool gi_info_version_ok(const nvmlGpuInstanceProfileInfo_v2_t *info)
{
	return !info || info->version == nvmlGpuInstanceProfileInfo_v2 ||
	       info->version == nvmlGpuInstanceProfileInfo_v3;
}

static nvmlReturn_t gi_info_v(nvmlDevice_t device, unsigned key, bool by_id,
			      nvmlGpuInstanceProfileInfo_v2_t *info)
{
	if (!gi_info_version_ok(info))
		return vmig__nv_refuse(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	const struct vmig_gi_profile *gp;
	nvmlReturn_t r = enter_gi_profile(device, key, by_id, info, &gp);
	if (r != NVML_SUCCESS)
		return r;
	gi_info_versioned(gp, info);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device,
							      unsigned int profile,
							      nvmlGpuInstanceProfileInfo_v2_t *info)
{
	return gi_info_v(device, profile, false, info);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoByIdV(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstanceProfileInfo_v2_t *info)
{
	return gi_info_v(device, profileId, true, info);
}

/* ------------------------------------------------------------------------ */
/* Placements (the same two-call pattern for GIs and CIs)                     */
/* ------------------------------------------------------------------------ */

/*
 * Write n placements {starts[i], size} into out (GI and CI placements have
 * the same layout).  out NULL asks for the count; a short *count gets
 * INSUFFICIENT_SIZE with the count needed.
 */
static nvmlReturn_t put_placements(const unsigned *starts, unsigned n, unsigned size,
				   nvmlGpuInstancePlacement_t *out, unsigned *count)
{
	if (out && *count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned i = 0; out && i < n; i++)
		out[i] = (nvmlGpuInstancePlacement_t){.start = starts[i], .size = size};
	*count = n;
	return NVML_SUCCESS;
}

/*
 * The rule of the calls that list instances of a profile: a short *count
 * gets INSUFFICIENT_SIZE with the count needed, a missing buffer for a
 * non-empty list INVALID_ARGUMENT.
 */
static nvmlReturn_t list_fits(unsigned n, const void *out, unsigned *count)
{
	if (*count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	return n && !out ? NVML_ERROR_INVALID_ARGUMENT : NVML_SUCCESS;
}

/*
 * All placements of a profile, whatever is occupied and whether or not MIG
 * is enabled.  The first version had no count on input: its buffer was
 * sized by the profile's instance count, so it gets no more than that.
 */
static nvmlReturn_t gi_placements(nvmlDevice_t device, unsigned profileId,
				  nvmlGpuInstancePlacement_t *placements, unsigned *count, bool v1)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(ref.m, profileId);
	if (!count || !gp || (v1 && !placements))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	unsigned n = gp->nstarts;
	if (v1) {
		n = n < gp->instances ? n : gp->instances;
		*count = n;
	}
	return vmig__nv_leave(put_placements(gp->starts, n, gp->size, placements, count));
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,
    unsigned int *count)
{
	return gi_placements(device, profileId, placements, count, false);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,
    unsigned int *count)
{
	return gi_placements(device, profileId, placements, count, true);
}

/* ------------------------------------------------------------------------ */
/* GPU instances                                                             */
/* ------------------------------------------------------------------------ */

/* A GPU with MIG enabled and a GI profile by ID; lock held on success. */
static nvmlReturn_t enter_gi_op(nvmlDevice_t device, unsigned profileId, const void *out,
				struct nv_ref *ref, const struct vmig_gi_profile **ret_gp)
{
	nvmlReturn_t r = enter_mig_gpu(device, ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!out)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	if (!ref->g->mig_current)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*ret_gp = vmig_gi_profile_by_id(ref->m, profileId);
	if (!*ret_gp)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device,
								   unsigned int profileId,
								   unsigned int *count)
{
	struct nv_ref ref;
	const struct vmig_gi_profile *gp;
	nvmlReturn_t r = enter_gi_op(device, profileId, count, &ref, &gp);
	if (r != NVML_SUCCESS)
		return r;
	*count = vmig_gi_remaining(ref.g, gp);
	return vmig__nv_leave(NVML_SUCCESS);
}

static nvmlReturn_t create_gi(nvmlDevice_t device, unsigned profileId,
			      const nvmlGpuInstancePlacement_t *placement, bool placed,
			      nvmlGpuInstance_t *gpuInstance)
{
	struct nv_ref ref;
	const struct vmig_gi_profile *gp;
	nvmlReturn_t r = enter_gi_op(device, profileId, gpuInstance, &ref, &gp);
	if (r != NVML_SUCCESS)
		return r;
	if (placed && (!placement || placement->size != gp->size))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	unsigned start = placed ? placement->start : 0, id = 0;
	unsigned gpu = ref.index;
	r = CHANGE(vmig_create_gi(L.ctx, gpu, profileId, placed ? &start : NULL, &id, NULL));
	if (r != NVML_SUCCESS)
		return vmig__nv_leave(r);
	nvmlGpuInstance_t h = vmig__nv_gi_handle(gpu, id);
	if (!h)
		return vmig__nv_leave(NVML_ERROR_UNKNOWN);
	*gpuInstance = h;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
						     nvmlGpuInstance_t *gpuInstance)
{
	return create_gi(device, profileId, NULL, false, gpuInstance);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(
    nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,
    nvmlGpuInstance_t *gpuInstance)
{
	return create_gi(device, profileId, placement, true, gpuInstance);
}

/* IN_USE while compute instances exist in it (the placement engine's rule). */
NVML_EXPORT nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_gi(gpuInstance, &ref);
	if (r != NVML_SUCCESS)
		return r;
	unsigned gpu = ref.index, gi = ref.gi->id;
	return vmig__nv_leave(CHANGE(vmig_destroy_gi(L.ctx, gpu, gi, NULL)));
}

/*
 * Lock-free GetGpuInstances for a MIG-enabled GPU and a profile it has:
 * SUCCESS or INSUFFICIENT_SIZE, or -1 to take the locked path (which also
 * gives every error).  The handles are gathered first and handed out only
 * once the read is known to be whole.
 */
static int hot_gpu_instances(nvmlDevice_t device, unsigned profileId,
			     nvmlGpuInstance_t *gpuInstances, unsigned *count)
{
	uint64_t seq;
	if (!count || profileId >= 64 || !nv_hot_enter(&seq))
		return -1;
	const struct nv_hot_gpu *h = hot_gpu(device);
	if (!h)
		return -1;
	uint16_t span = NV_LD(h->gi_span[profileId]);
	unsigned first = span & 0xff, n = (span >> 8) & 0x7f;
	uintptr_t found[NV_MAX_GI_ID];
	if (!(span & NV_SPAN_OK) || first + n > NV_MAX_GI_ID)
		return -1;
	for (unsigned k = 0; k < n; k++)
		found[k] = NV_LD(h->gi[first + k]);
	if (!nv_hot_valid(seq) || (n && *count >= n && !gpuInstances))
		return -1;
	if (*count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned k = 0; k < n; k++)
		gpuInstances[k] = (nvmlGpuInstance_t)found[k];
	*count = n;
	return NVML_SUCCESS;
}

/* The GPU's live GIs of a profile: their count, and (out not NULL) their handles in state order. */
static unsigned gis_of(const struct nv_ref *ref, unsigned profileId, nvmlGpuInstance_t *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ref->g->ngi; i++) {
		nvmlGpuInstance_t h = vmig__nv_gi_handle(ref->index, ref->g->gi[i].id);
		if (ref->g->gi[i].profile_id != profileId || !h)
			continue;
		if (out)
			out[n] = h;
		n++;
	}
	return n;
}

/* Kept out of line, so that the lock-free path pays for none of its frame. */
static __attribute__((noinline)) nvmlReturn_t gpu_instances_locked(nvmlDevice_t device,
								   unsigned profileId,
								   nvmlGpuInstance_t *gpuInstances,
								   unsigned *count)
{
	struct nv_ref ref;
	const struct vmig_gi_profile *gp;
	nvmlReturn_t r = enter_gi_op(device, profileId, count, &ref, &gp);
	if (r != NVML_SUCCESS)
		return r;
	unsigned n = gis_of(&ref, profileId, NULL);
	r = list_fits(n, gpuInstances, count);
	if (r != NVML_SUCCESS)
		return vmig__nv_leave(r);
	*count = gis_of(&ref, profileId, gpuInstances);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
						   nvmlGpuInstance_t *gpuInstances,
						   unsigned int *count)
{
	int hot = hot_gpu_instances(device, profileId, gpuInstances, count);
	return hot >= 0 ? (nvmlReturn_t)hot
			: gpu_instances_locked(device, profileId, gpuInstances, count);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
						      nvmlGpuInstance_t *gpuInstance)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!gpuInstance)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	if (!ref.g->mig_current)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	nvmlGpuInstance_t h = vmig__nv_gi_handle(ref.index, id);
	if (!h)
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	*gpuInstance = h;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance,
						nvmlGpuInstanceInfo_t *info)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_gi(gpuInstance, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!info)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*info = (nvmlGpuInstanceInfo_t){
	    .device = ref.dev,
	    .id = ref.gi->id,
	    .profileId = ref.gi->profile_id,
	    .placement = {.start = ref.gi->start, .size = ref.gi->size},
	};
	return vmig__nv_leave(NVML_SUCCESS);
}

/* ------------------------------------------------------------------------ */
/* Compute-instance profiles                                                 */
/* ------------------------------------------------------------------------ */

static void ci_info_v1(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
		       nvmlComputeInstanceProfileInfo_t *info)
{
	*info = (nvmlComputeInstanceProfileInfo_t){
	    .id = cp->id,
	    .sliceCount = cp->slices,
	    .instanceCount = cp->instances,
	    .multiprocessorCount = cp->sm,
	    .sharedCopyEngineCount = gp->ce,
	    .sharedDecoderCount = gp->dec,
	    .sharedEncoderCount = gp->enc,
	    .sharedJpegCount = gp->jpeg,
	    .sharedOfaCount = gp->ofa,
	};
}

static void ci_info_versioned(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp,
			      nvmlComputeInstanceProfileInfo_v2_t *info)
{
	nvmlComputeInstanceProfileInfo_v3_t v3 = {.version = info->version};
	nvmlComputeInstanceProfileInfo_t v1;
	ci_info_v1(gp, cp, &v1);
	memcpy(&v3.id, &v1, sizeof(v1));
	vmig__nv_ci_name(gp, cp, v3.name, sizeof(v3.name));
	v3.capabilities = cp->flags & VMIG_PF_GFX ? NVML_COMPUTE_INSTANCE_PROFILE_CAPS_GFX : 0;
	/* v2 is v3 without its last field. */
	memcpy(info, &v3,
	       info->version == nvmlComputeInstanceProfileInfo_v2
		   ? sizeof(nvmlComputeInstanceProfileInfo_v2_t)
		   : sizeof(v3));
}

/* A CI profile of the GI by index constant, as the profile-info calls look it up. */
static nvmlReturn_t enter_ci_profile(nvmlGpuInstance_t gpuInstance, unsigned profile,
				     unsigned engProfile, const void *out, struct nv_ref *ref,
				     const struct vmig_ci_profile **ret_cp)
{
	nvmlReturn_t r = vmig__nv_enter_gi(gpuInstance, ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!out || profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT ||
	    engProfile >= NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*ret_cp = vmig_ci_profile_by_id(ref->gp, profile);
	if (!*ret_cp)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(
    nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
    nvmlComputeInstanceProfileInfo_t *info)
{
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_profile(gpuInstance, profile, engProfile, info, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	ci_info_v1(ref.gp, cp, info);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(
    nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
    nvmlComputeInstanceProfileInfo_v2_t *info)
{
	if (info && info->version != nvmlComputeInstanceProfileInfo_v2 &&
	    info->version != nvmlComputeInstanceProfileInfo_v3)
		return vmig__nv_refuse(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_profile(gpuInstance, profile, engProfile, info, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	ci_info_versioned(ref.gp, cp, info);
	return vmig__nv_leave(NVML_SUCCESS);
}

/* ------------------------------------------------------------------------ */
/* Compute instances                                                         */
/* ------------------------------------------------------------------------ */

/* A GI and a CI profile of it by ID; lock held on success. */
static nvmlReturn_t enter_ci_op(nvmlGpuInstance_t gpuInstance, unsigned profileId, const void *out,
				struct nv_ref *ref, const struct vmig_ci_profile **ret_cp)
{
	nvmlReturn_t r = vmig__nv_enter_gi(gpuInstance, ref);
	if (r != NVML_SUCCESS)
		return r;
	*ret_cp = vmig_ci_profile_by_id(ref->gp, profileId);
	if (!out || !*ret_cp)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstancePossiblePlacements(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    nvmlComputeInstancePlacement_t *placements, unsigned int *count)
{
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_op(gpuInstance, profileId, count, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	_Static_assert(sizeof(nvmlComputeInstancePlacement_t) == sizeof(nvmlGpuInstancePlacement_t),
		       "placements share a layout");
	return vmig__nv_leave(put_placements(cp->starts, cp->nstarts, vmig_ci_placement_size(cp),
					     (nvmlGpuInstancePlacement_t *)(void *)placements,
					     count));
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId, unsigned int *count)
{
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_op(gpuInstance, profileId, count, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	*count = vmig_ci_remaining(ref.gi, ref.gp, cp);
	return vmig__nv_leave(NVML_SUCCESS);
}

static nvmlReturn_t create_ci(nvmlGpuInstance_t gpuInstance, unsigned profileId,
			      const nvmlComputeInstancePlacement_t *placement, bool placed,
			      nvmlComputeInstance_t *computeInstance)
{
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_op(gpuInstance, profileId, computeInstance, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	if (placed && (!placement || placement->size != vmig_ci_placement_size(cp)))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	unsigned start = placed ? placement->start : 0, id = 0;
	unsigned gpu = ref.index, gi = ref.gi->id;
	r = CHANGE(vmig_create_ci(L.ctx, gpu, gi, profileId, placed ? &start : NULL, &id, NULL));
	if (r != NVML_SUCCESS)
		return vmig__nv_leave(r);
	nvmlComputeInstance_t h = vmig__nv_ci_handle(gpu, gi, id);
	if (!h)
		return vmig__nv_leave(NVML_ERROR_UNKNOWN);
	*computeInstance = h;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId, nvmlComputeInstance_t *computeInstance)
{
	return create_ci(gpuInstance, profileId, NULL, false, computeInstance);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstanceWithPlacement(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    const nvmlComputeInstancePlacement_t *placement, nvmlComputeInstance_t *computeInstance)
{
	return create_ci(gpuInstance, profileId, placement, true, computeInstance);
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_ci(computeInstance, &ref);
	if (r != NVML_SUCCESS)
		return r;
	unsigned gpu = ref.index, gi = ref.gi->id, ci = ref.ci->id;
	return vmig__nv_leave(CHANGE(vmig_destroy_ci(L.ctx, gpu, gi, ci, NULL)));
}

/* The GI's live CIs of a profile, as gis_of does for GIs. */
static unsigned cis_of(const struct nv_ref *ref, unsigned profileId, nvmlComputeInstance_t *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ref->gi->nci; i++) {
		nvmlComputeInstance_t h =
		    vmig__nv_ci_handle(ref->index, ref->gi->id, ref->gi->ci[i].id);
		if (ref->gi->ci[i].profile_id != profileId || !h)
			continue;
		if (out)
			out[n] = h;
		n++;
	}
	return n;
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance,
							    unsigned int profileId,
							    nvmlComputeInstance_t *computeInstances,
							    unsigned int *count)
{
	struct nv_ref ref;
	const struct vmig_ci_profile *cp;
	nvmlReturn_t r = enter_ci_op(gpuInstance, profileId, count, &ref, &cp);
	if (r != NVML_SUCCESS)
		return r;
	unsigned n = cis_of(&ref, profileId, NULL);
	r = list_fits(n, computeInstances, count);
	if (r != NVML_SUCCESS)
		return vmig__nv_leave(r);
	*count = cis_of(&ref, profileId, computeInstances);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(
    nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t *computeInstance)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_gi(gpuInstance, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!computeInstance)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	nvmlComputeInstance_t h = vmig__nv_ci_handle(ref.index, ref.gi->id, id);
	if (!h)
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	*computeInstance = h;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
						       nvmlComputeInstanceInfo_t *info)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_ci(computeInstance, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!info)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*info = (nvmlComputeInstanceInfo_t){
	    .device = ref.dev,
	    .gpuInstance = vmig__nv_gi_handle(ref.index, ref.gi->id),
	    .id = ref.ci->id,
	    .profileId = ref.ci->profile_id,
	    .placement = {.start = ref.ci->start, .size = ref.ci->size},
	};
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo(nvmlComputeInstance_t computeInstance,
						    nvmlComputeInstanceInfo_t *info)
{
	return nvmlComputeInstanceGetInfo_v2(computeInstance, info);
}

/* ------------------------------------------------------------------------ */
/* MIG device handles                                                        */
/* ------------------------------------------------------------------------ */

NVML_EXPORT nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
	uint64_t seq;
	if (isMigDevice && nv_hot_enter(&seq)) {
		bool gpu = hot_gpu(device) != NULL, mig = !gpu && nv_lookup(device, NV_MIG);
		if ((gpu || mig) && nv_hot_valid(seq)) {
			*isMigDevice = mig;
			return NVML_SUCCESS;
		}
	}
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, isMigDevice, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*isMigDevice = ref.ci != NULL;
	return vmig__nv_leave(NVML_SUCCESS);
}

static nvmlReturn_t mig_id(nvmlDevice_t device, unsigned int *id, bool ci)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, id, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!ref.ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*id = ci ? ref.ci->id : ref.gi->id;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
	return mig_id(device, id, false);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
	return mig_id(device, id, true);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
	uint32_t max;
	if (count && hot_gpu_word(device, offsetof(struct nv_hot_gpu, max_mig), &max)) {
		*count = max;
		return NVML_SUCCESS;
	}
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!count || ref.ci)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*count = nv_max_mig(ref.g);
	return vmig__nv_leave(NVML_SUCCESS);
}

/* Lock-free GetMigDeviceHandleByIndex: SUCCESS, NOT_FOUND, or -1 to take the locked path. */
static int hot_mig_handle(nvmlDevice_t device, unsigned index, nvmlDevice_t *migDevice)
{
	uint64_t seq;
	if (!migDevice || !nv_hot_enter(&seq))
		return -1;
	const struct nv_hot_gpu *h = hot_gpu(device);
	if (!h || index >= NV_LD(h->max_mig) || index >= NV_MAX_MIG)
		return -1;
	bool found = index < NV_LD(h->nmig);
	uint32_t serial = found ? NV_LD(h->mig_serial[index]) : 0;
	if (!nv_hot_valid(seq))
		return -1;
	if (!found)
		return NVML_ERROR_NOT_FOUND;
	*migDevice = nv_token(serial);
	return NVML_SUCCESS;
}

static __attribute__((noinline)) nvmlReturn_t mig_handle_locked(nvmlDevice_t device, unsigned index,
								nvmlDevice_t *migDevice)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_mig_gpu(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!migDevice || index >= nv_max_mig(ref.g))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	const struct nv_gpu_slot *s = &L.gpu[ref.index];
	if (index >= s->nmig)
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	*migDevice = vmig__nv_mig_handle(ref.index, s->mig_gi[index], s->mig_ci[index]);
	return vmig__nv_leave(NVML_SUCCESS);
}

/* Indexes are dense, in (GI ID, CI ID) order; slots past the last MIG device are NOT_FOUND. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device,
							     unsigned int index,
							     nvmlDevice_t *migDevice)
{
	int hot = hot_mig_handle(device, index, migDevice);
	return hot >= 0 ? (nvmlReturn_t)hot : mig_handle_locked(device, index, migDevice);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
								      nvmlDevice_t *device)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(migDevice, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!device || !ref.ci)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*device = ref.dev;
	return vmig__nv_leave(NVML_SUCCESS);
}
