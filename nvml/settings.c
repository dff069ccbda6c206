/*
 * settings.c — the GPU settings a client can change and read back: today
 * persistence mode.  It is kept per GPU in the state store (the record's
 * VMIG_GPU_NO_PERSISTENCE flag, default enabled), read from the cached state
 * and changed through the sim backend's transaction, so `vmig -pm`,
 * `vmig --query-gpu=persistence_mode` and NVML clients see one setting.
 */
#include "nv.h"

#define L vmig__nv

/* A setting of the whole GPU: MIG device handles have none (NOT_SUPPORTED), as on real GPUs. */
static nvmlReturn_t enter_setting(nvmlDevice_t device, const void *out, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter_device_out(device, out, ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref->ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_setting(device, mode, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*mode =
	    (ref.g->flags & VMIG_GPU_NO_PERSISTENCE) ? NVML_FEATURE_DISABLED : NVML_FEATURE_ENABLED;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceSetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t mode)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_setting(device, &mode, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (mode != NVML_FEATURE_ENABLED && mode != NVML_FEATURE_DISABLED)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	int e = vmig_set_persistence_mode(L.ctx, ref.index, mode == NVML_FEATURE_ENABLED, NULL);
	r = e < 0 ? vmig__nv_code(e) : vmig__nv_refresh();
	return vmig__nv_leave(r);
}
