/*
 * stub_nvml.c — a stand-in libnvidia-ml.so.1 for the interposer's tests: the
 * few queries the interposer makes, answered from the stand-in GPU that
 * stub_cuda.c simulates (sim.h), so that what NVML reports and what the
 * kernels did are the same GPU.
 *
 * One device.  nvmlDeviceGetUtilizationRates gives the percentage of the
 * last sample period (VMIGSTUB_NVML_PERIOD_MS of simulated time, default
 * 50) in which a kernel ran; nvmlDeviceGetProcessUtilization gives one
 * sample per process that ran kernels in that period, stamped with its end
 * in simulated microseconds, and NVML_ERROR_NOT_FOUND when that sample is not
 * newer than lastSeenTimeStamp, as the real library does.  Everything else
 * the interposer does not call is not here.
 *
 * vmig's own simulated NVML (nvml/) is not used for this: it describes the
 * GPUs of a state directory, which has no kernels, and the test of
 * programs under `vmig run` (tests/soft/inside.sh) keeps it as the hardware.
 */
#include <stdint.h>
#include <string.h>

#define NVML_EXPORT __attribute__((visibility("default")))
#include "nvml_abi.h"

int vmigstub_sample(int pid, unsigned *pct, unsigned long long *ts_us);
unsigned vmigstub_sample_pids(int *pids, unsigned max);

NVML_EXPORT nvml_process_utilization_fn nvmlDeviceGetProcessUtilization;

static int device_tag;
#define THE_DEVICE ((nvmlDevice_t)(void *)&device_tag)

NVML_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlInit(void)
{
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlShutdown(void)
{
	return NVML_SUCCESS;
}

NVML_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
	return result == NVML_SUCCESS ? "Success" : "Error";
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	if (!deviceCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	*deviceCount = 1;
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (!device || index != 0)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = THE_DEVICE;
	return NVML_SUCCESS;
}

/* Any GPU UUID names the one device: tests name their GPUs freely. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	if (!uuid || !device)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strncmp(uuid, "GPU-", 4) != 0)
		return NVML_ERROR_NOT_FOUND;
	*device = THE_DEVICE;
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
						       nvmlUtilization_t *utilization)
{
	if (device != THE_DEVICE || !utilization)
		return NVML_ERROR_INVALID_ARGUMENT;
	unsigned pct = 0;
	unsigned long long ts = 0;
	if (vmigstub_sample(0, &pct, &ts) < 0)
		pct = 0; /* no period has ended yet: an idle GPU */
	utilization->gpu = pct;
	utilization->memory = 0;
	return NVML_SUCCESS;
}

#define MAX_SAMPLES 128

NVML_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(
    nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
    unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
	if (device != THE_DEVICE || !processSamplesCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	int pids[MAX_SAMPLES];
	unsigned n = vmigstub_sample_pids(pids, MAX_SAMPLES), k = 0;
	nvmlProcessUtilizationSample_t s[MAX_SAMPLES];
	for (unsigned i = 0; i < n; i++) {
		unsigned pct = 0;
		unsigned long long ts = 0;
		if (vmigstub_sample(pids[i], &pct, &ts) < 0 || ts <= lastSeenTimeStamp)
			continue;
		s[k++] = (nvmlProcessUtilizationSample_t){
		    .pid = (unsigned)pids[i], .timeStamp = ts, .smUtil = pct};
	}
	if (k == 0)
		return NVML_ERROR_NOT_FOUND;
	if (!utilization || *processSamplesCount < k) {
		*processSamplesCount = k;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	memcpy(utilization, s, k * sizeof(s[0]));
	*processSamplesCount = k;
	return NVML_SUCCESS;
}
