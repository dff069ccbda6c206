/*
 * nvml.c — placeholder of the NVML backend until it lands: it reports that
 * the backend is not available, so automatic selection falls back to sim.
 */
#include "backend.h"

static int nvml_open(void **ret_priv, struct vmig_err *err)
{
	return vmig_err_set(err, VMIG_E_LIBRARY_NOT_FOUND, "the nvml backend is not built yet");
}

static void nvml_close(void *priv)
{
}

const struct vmig_backend_ops vmig__backend_nvml = {
	.name = "nvml",
	.open = nvml_open,
	.close = nvml_close,
};
