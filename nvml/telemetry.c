/*
 * telemetry.c — the readings monitoring tools poll (temperature, power,
 * energy, clocks, utilisation, ECC, PCIe link, settings), with
 * plausible and stable values for an idle GPU of each architecture.  A
 * simulated GPU does no work, so the values do not move, except the energy
 * counter, which grows with time at the idle power as a real one does.
 *
 * What a real GPU of the model would refuse, this refuses too: fans on
 * passively cooled boards, utilisation on a MIG-enabled GPU, and any of
 * these readings on a MIG device handle.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "nv.h"

#define L vmig__nv

/* The board's idle readings and limits: libvmig's, which the vmig command's table shows too. */
static const struct vmig_board *board_of(const struct vmig_model *m)
{
	return vmig_gpu_board(m);
}

/*
 * Enter for a reading of the whole GPU: MIG device handles answer
 * NOT_SUPPORTED, and a NULL output INVALID_ARGUMENT.  Holds the lock only
 * on success.
 */
static nvmlReturn_t enter_gpu(nvmlDevice_t device, const void *out, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter_device_out(device, out, ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref->ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	return NVML_SUCCESS;
}

/* One unsigned reading computed from the board (and the GPU's index for a little spread). */
#define READING(fn, type, expr)                                                                    \
	NVML_EXPORT nvmlReturn_t fn(nvmlDevice_t device, type *out)                                \
	{                                                                                          \
		struct nv_ref ref;                                                                 \
		nvmlReturn_t r = enter_gpu(device, out, &ref);                                     \
		if (r != NVML_SUCCESS)                                                             \
			return r;                                                                  \
		const struct vmig_board *b = board_of(ref.m);                                      \
		(void)b;                                                                           \
		*out = (type)(expr);                                                               \
		return vmig__nv_leave(NVML_SUCCESS);                                               \
	}

READING(nvmlDeviceGetPowerUsage, unsigned int, vmig_gpu_power_w(ref.m, ref.index) * 1000u)
READING(nvmlDeviceGetPowerManagementLimit, unsigned int, b->tdp_w * 1000u)
READING(nvmlDeviceGetPowerManagementDefaultLimit, unsigned int, b->tdp_w * 1000u)
READING(nvmlDeviceGetEnforcedPowerLimit, unsigned int, b->tdp_w * 1000u)
READING(nvmlDeviceGetPowerManagementMode, nvmlEnableState_t, NVML_FEATURE_ENABLED)
READING(nvmlDeviceGetPerformanceState, nvmlPstates_t, NVML_PSTATE_0)
READING(nvmlDeviceGetPowerState, nvmlPstates_t, NVML_PSTATE_0)
READING(nvmlDeviceGetComputeMode, nvmlComputeMode_t, NVML_COMPUTEMODE_DEFAULT)
READING(nvmlDeviceGetDisplayMode, nvmlEnableState_t, NVML_FEATURE_DISABLED)
READING(nvmlDeviceGetDisplayActive, nvmlEnableState_t, NVML_FEATURE_DISABLED)
READING(nvmlDeviceGetDefaultEccMode, nvmlEnableState_t, NVML_FEATURE_ENABLED)
READING(nvmlDeviceGetCurrPcieLinkGeneration, unsigned int, b->pcie_gen)
READING(nvmlDeviceGetMaxPcieLinkGeneration, unsigned int, b->pcie_gen)
READING(nvmlDeviceGetGpuMaxPcieLinkGeneration, unsigned int, b->pcie_gen)
READING(nvmlDeviceGetCurrPcieLinkWidth, unsigned int, 16)
READING(nvmlDeviceGetMaxPcieLinkWidth, unsigned int, 16)
READING(nvmlDeviceGetMemoryBusWidth, unsigned int, b->bus_width)
READING(nvmlDeviceGetCurrentClocksThrottleReasons, unsigned long long,
	nvmlClocksThrottleReasonGpuIdle)
READING(nvmlDeviceGetCurrentClocksEventReasons, unsigned long long, nvmlClocksThrottleReasonGpuIdle)
READING(nvmlDeviceGetSupportedClocksThrottleReasons, unsigned long long, 0x1ffull)
READING(nvmlDeviceGetSupportedClocksEventReasons, unsigned long long, 0x1ffull)

/* Energy since the (simulated) boot: idle power integrated over CLOCK_BOOTTIME, in mJ. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
							     unsigned long long *energy)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, energy, &ref);
	if (r != NVML_SUCCESS)
		return r;
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	unsigned long long ms =
	    (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
	*energy = ms * vmig_gpu_power_w(ref.m, ref.index);
	return vmig__nv_leave(NVML_SUCCESS);
}

/* Passively cooled boards have no fan for NVML to report. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, speed, &ref);
	return r != NVML_SUCCESS ? r : vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device,
						  nvmlTemperatureSensors_t sensorType,
						  unsigned int *temp)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, temp, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (sensorType != NVML_TEMPERATURE_GPU)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*temp = vmig_gpu_temp_c(ref.m, ref.index);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureThreshold(
    nvmlDevice_t device, nvmlTemperatureThresholds_t thresholdType, unsigned int *temp)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, temp, &ref);
	if (r != NVML_SUCCESS)
		return r;
	const struct vmig_board *b = board_of(ref.m);
	switch (thresholdType) {
	case NVML_TEMPERATURE_THRESHOLD_SHUTDOWN:
		*temp = b->temp_shutdown;
		break;
	case NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
		*temp = b->temp_slowdown;
		break;
	case NVML_TEMPERATURE_THRESHOLD_MEM_MAX:
		*temp = b->temp_mem_max;
		break;
	case NVML_TEMPERATURE_THRESHOLD_GPU_MAX:
		*temp = b->temp_gpu_max;
		break;
	default:
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	}
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device,
								      unsigned int *minLimit,
								      unsigned int *maxLimit)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, minLimit && maxLimit ? minLimit : NULL, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*minLimit = board_of(ref.m)->min_w * 1000u;
	*maxLimit = board_of(ref.m)->tdp_w * 1000u;
	return vmig__nv_leave(NVML_SUCCESS);
}

/* Clock of a domain: max, or what an idle GPU runs at. */
static nvmlReturn_t clock_of(const struct vmig_board *b, nvmlClockType_t type, bool max,
			     unsigned *mhz)
{
	switch (type) {
	case NVML_CLOCK_GRAPHICS:
	case NVML_CLOCK_SM:
		*mhz = max ? b->gfx_max : b->gfx_idle;
		return NVML_SUCCESS;
	case NVML_CLOCK_MEM:
		*mhz = max ? b->mem_max : b->mem_idle;
		return NVML_SUCCESS;
	case NVML_CLOCK_VIDEO:
		*mhz = max ? b->gfx_max * 9 / 10 : b->gfx_idle * 3 / 2;
		return NVML_SUCCESS;
	}
	return NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t clock_query(nvmlDevice_t device, nvmlClockType_t type, bool max,
				unsigned int *clock)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, clock, &ref);
	if (r != NVML_SUCCESS)
		return r;
	unsigned mhz;
	r = clock_of(board_of(ref.m), type, max, &mhz);
	if (r == NVML_SUCCESS)
		*clock = mhz;
	return vmig__nv_leave(r);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type,
						unsigned int *clock)
{
	return clock_query(device, type, false, clock);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type,
						   unsigned int *clock)
{
	return clock_query(device, type, true, clock);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t device,
							nvmlClockType_t clockType,
							unsigned int *clockMHz)
{
	return clock_query(device, clockType, true, clockMHz);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t device,
							       nvmlClockType_t clockType,
							       unsigned int *clockMHz)
{
	return clock_query(device, clockType, true, clockMHz);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMaxCustomerBoostClock(nvmlDevice_t device,
							    nvmlClockType_t clockType,
							    unsigned int *clockMHz)
{
	return clock_query(device, clockType, true, clockMHz);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t device, nvmlClockType_t clockType,
					    nvmlClockId_t clockId, unsigned int *clockMHz)
{
	if (clockId > NVML_CLOCK_ID_CUSTOMER_BOOST_MAX)
		return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);
	return clock_query(device, clockType, clockId != NVML_CLOCK_ID_CURRENT, clockMHz);
}

/*
 * The clocks a GPU supports, as NVIDIA's data-centre boards list them: the
 * memory clocks the board runs at (its maximum, and the idle one where it
 * differs: one clock on HBM boards), and for each of them every graphics
 * clock from the maximum down to the idle one in 15 MHz steps.  A count too
 * small is INSUFFICIENT_SIZE with the count needed.
 */
#define CLOCK_STEP_MHZ 15

static nvmlReturn_t clock_list(const unsigned *v, unsigned n, unsigned int *count,
			       unsigned int *clocks)
{
	if (*count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (!clocks)
		return NVML_ERROR_INVALID_ARGUMENT;
	memcpy(clocks, v, n * sizeof(*v));
	*count = n;
	return NVML_SUCCESS;
}

static unsigned mem_clocks(const struct vmig_board *b, unsigned v[2])
{
	v[0] = b->mem_max;
	if (b->mem_idle == b->mem_max)
		return 1;
	v[1] = b->mem_idle;
	return 2;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t device,
							    unsigned int *count,
							    unsigned int *clocksMHz)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, count, &ref);
	if (r != NVML_SUCCESS)
		return r;
	unsigned v[2], n = mem_clocks(board_of(ref.m), v);
	return vmig__nv_leave(clock_list(v, n, count, clocksMHz));
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t device,
							      unsigned int memoryClockMHz,
							      unsigned int *count,
							      unsigned int *clocksMHz)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, count, &ref);
	if (r != NVML_SUCCESS)
		return r;
	const struct vmig_board *b = board_of(ref.m);
	unsigned mem[2], nmem = mem_clocks(b, mem), v[512], n = 0;
	bool known = false;
	for (unsigned i = 0; i < nmem; i++)
		known = known || mem[i] == memoryClockMHz;
	if (!known)
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	for (unsigned c = b->gfx_max; c > b->gfx_idle && n < 511; c -= CLOCK_STEP_MHZ)
		v[n++] = c;
	v[n++] = b->gfx_idle;
	return vmig__nv_leave(clock_list(v, n, count, clocksMHz));
}

/* Utilisation is not attributed on a MIG-enabled GPU; an idle one reads zero. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
						       nvmlUtilization_t *utilization)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, utilization, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref.g->mig_current)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	utilization->gpu = 0;
	utilization->memory = 0;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
					      nvmlEnableState_t *pending)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, current && pending ? current : NULL, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*current = NVML_FEATURE_ENABLED;
	*pending = NVML_FEATURE_ENABLED;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device,
						     nvmlMemoryErrorType_t errorType,
						     nvmlEccCounterType_t counterType,
						     unsigned long long *eccCounts)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, eccCounts, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if ((unsigned)errorType > NVML_MEMORY_ERROR_TYPE_UNCORRECTED ||
	    (unsigned)counterType > NVML_AGGREGATE_ECC)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*eccCounts = 0;
	return vmig__nv_leave(NVML_SUCCESS);
}

/*
 * BAR1 of a GPU, or of a MIG device's GPU instance (its share of the GPU's,
 * which every MIG device of the GI reports), as libvmig gives it.
 */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device,
						     nvmlBAR1Memory_t *bar1Memory)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, bar1Memory, &ref);
	if (r != NVML_SUCCESS)
		return r;
	struct vmig_mem bar1;
	vmig_bar1(ref.m, ref.ci ? ref.gp : NULL, &bar1);
	bar1Memory->bar1Total = bar1.total_mib << 20;
	bar1Memory->bar1Used = bar1.used_mib << 20;
	bar1Memory->bar1Free = bar1.free_mib << 20;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char *version,
						   unsigned int length)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, version, &ref);
	if (r != NVML_SUCCESS)
		return r;
	return vmig__nv_leave(vmig__nv_copy(version, length, board_of(ref.m)->vbios));
}

/* Cores are not a meaningful count once the GPU is partitioned. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t device, unsigned int *numCores)
{
	struct nv_ref ref;
	nvmlReturn_t r = enter_gpu(device, numCores, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref.g->mig_current)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*numCores = ref.m->sm * vmig_cores_per_sm(ref.m->cc_major, ref.m->cc_minor);
	return vmig__nv_leave(NVML_SUCCESS);
}
