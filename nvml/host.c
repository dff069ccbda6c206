/*
 * host.c — what NVML tells about the machine around the GPUs: CPU and
 * memory affinity, the GPUs near a CPU, the host interface cards, S-class
 * units, and two versioned device queries (temperature, addressing mode).
 *
 * A simulated GPU has no PCIe slot and so no NUMA node of its own: it is
 * placed as a GPU that every CPU and every memory node of the machine is
 * equally close to, which is what the real library reports on a machine
 * with one NUMA node.  So its CPU affinity is every online CPU (at either
 * scope), its memory affinity every online node, and every GPU is near
 * every CPU.  The machine has no host interface card (a Quadro Plex part)
 * and no S-class unit, so those lists are empty, and every unit handle is
 * invalid, as on any data-centre server.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nv.h"

#define NV_MAX_CPUS 8192 /* bits of a CPU mask (the kernel's own NR_CPUS bound) */
#define LONG_BITS   (8 * sizeof(unsigned long))

/*
 * Parse a kernel list ("0-3,8,10-11") into bits of mask (NV_MAX_CPUS bits);
 * false if the file is missing or malformed.
 */
static bool read_list(const char *path, unsigned long *mask)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	memset(mask, 0, NV_MAX_CPUS / 8);
	for (char *p = buf; ok && *p && *p != '\n';) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			return false;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return false;
		}
		for (unsigned long i = a; i <= b && i < NV_MAX_CPUS; i++)
			mask[i / LONG_BITS] |= 1ul << (i % LONG_BITS);
		p = *end == ',' ? end + 1 : end;
		if (*p && *p != '\n' && (*p < '0' || *p > '9'))
			return false;
	}
	return ok;
}

/* The online CPUs of the machine (the affinity of every simulated GPU). */
static void online_cpus(unsigned long *mask)
{
	if (read_list("/sys/devices/system/cpu/online", mask))
		return;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	memset(mask, 0, NV_MAX_CPUS / 8);
	for (long i = 0; i < (n > 0 ? n : 1) && i < NV_MAX_CPUS; i++)
		mask[(size_t)i / LONG_BITS] |= 1ul << ((size_t)i % LONG_BITS);
}

/* The online memory nodes (node 0 alone on a kernel without NUMA). */
static void online_nodes(unsigned long *mask)
{
	if (read_list("/sys/devices/system/node/online", mask))
		return;
	memset(mask, 0, NV_MAX_CPUS / 8);
	mask[0] = 1;
}

/* Copy the first size words of a mask: the caller's array holds what fits. */
static nvmlReturn_t give_mask(nvmlDevice_t device, unsigned int size, unsigned long *out,
			      void (*fill)(unsigned long *))
{
	static unsigned long mask[NV_MAX_CPUS / LONG_BITS];
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, out, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (size == 0)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	fill(mask); /* under the lock: mask is shared */
	for (unsigned i = 0; i < size; i++)
		out[i] = i < NV_MAX_CPUS / LONG_BITS ? mask[i] : 0;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCpuAffinity(nvmlDevice_t device, unsigned int cpuSetSize,
						  unsigned long *cpuSet)
{
	return give_mask(device, cpuSetSize, cpuSet, online_cpus);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCpuAffinityWithinScope(nvmlDevice_t device,
							     unsigned int cpuSetSize,
							     unsigned long *cpuSet,
							     nvmlAffinityScope_t scope)
{
	if (scope != NVML_AFFINITY_SCOPE_NODE && scope != NVML_AFFINITY_SCOPE_SOCKET)
		return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);
	return give_mask(device, cpuSetSize, cpuSet, online_cpus);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryAffinity(nvmlDevice_t device, unsigned int nodeSetSize,
						     unsigned long *nodeSet,
						     nvmlAffinityScope_t scope)
{
	if (scope != NVML_AFFINITY_SCOPE_NODE && scope != NVML_AFFINITY_SCOPE_SOCKET)
		return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);
	return give_mask(device, nodeSetSize, nodeSet, online_nodes);
}

/*
 * Bind the calling thread to the GPU's CPUs (Set), or undo any binding
 * (Clear): both are every online CPU here.  A thread confined by a cpuset
 * keeps what the kernel allows of it.
 */
static nvmlReturn_t bind_all(nvmlDevice_t device)
{
	static unsigned long mask[NV_MAX_CPUS / LONG_BITS];
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	online_cpus(mask);
	cpu_set_t allowed, want;
	CPU_ZERO(&want);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		CPU_ZERO(&allowed);
	for (unsigned i = 0; i < CPU_SETSIZE && i < NV_MAX_CPUS; i++)
		if (mask[i / LONG_BITS] & (1ul << (i % LONG_BITS)))
			CPU_SET(i, &want);
	if (sched_setaffinity(0, sizeof(want), &want) < 0) {
		/* Outside the cpuset: the CPUs of the GPU that the thread may use. */
		CPU_AND(&want, &want, &allowed);
		if (CPU_COUNT(&want) == 0 || sched_setaffinity(0, sizeof(want), &want) < 0)
			r = NVML_ERROR_UNKNOWN;
	}
	return vmig__nv_leave(r);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceSetCpuAffinity(nvmlDevice_t device)
{
	return bind_all(device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceClearCpuAffinity(nvmlDevice_t device)
{
	return bind_all(device);
}

/*
 * The GPUs with affinity to a CPU: all of them for an online CPU, none for
 * another.  count 0 asks for the number; otherwise up to *count handles.
 */
NVML_EXPORT nvmlReturn_t nvmlSystemGetTopologyGpuSet(unsigned int cpuNumber, unsigned int *count,
						     nvmlDevice_t *deviceArray)
{
	static unsigned long mask[NV_MAX_CPUS / LONG_BITS];
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!count)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	online_cpus(mask);
	bool near = cpuNumber < NV_MAX_CPUS &&
		    (mask[cpuNumber / LONG_BITS] & (1ul << (cpuNumber % LONG_BITS)));
	unsigned n = near ? vmig__nv.st->ngpu : 0;
	if (*count == 0) {
		*count = n;
		return vmig__nv_leave(NVML_SUCCESS);
	}
	if (!deviceArray)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	unsigned k = n < *count ? n : *count;
	for (unsigned i = 0; i < k; i++)
		deviceArray[i] = nv_dev(i);
	*count = k;
	return vmig__nv_leave(NVML_SUCCESS);
}

/* No host interface card: an empty list. */
NVML_EXPORT nvmlReturn_t nvmlSystemGetHicVersion(unsigned int *hwbcCount,
						 nvmlHwbcEntry_t *hwbcEntries)
{
	(void)hwbcEntries;
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!hwbcCount)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*hwbcCount = 0;
	return vmig__nv_leave(NVML_SUCCESS);
}

/* ---- S-class units: there are none ---- */

NVML_EXPORT nvmlReturn_t nvmlUnitGetCount(unsigned int *unitCount)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!unitCount)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*unitCount = 0;
	return vmig__nv_leave(NVML_SUCCESS);
}

/* Every index is past the count, so every unit handle is invalid. */
NVML_EXPORT nvmlReturn_t nvmlUnitGetHandleByIndex(unsigned int index, nvmlUnit_t *unit)
{
	(void)index;
	(void)unit;
	return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);
}

/* The queries and the setter that take a unit handle (nv.h): no handle is valid. */
#define NO_UNIT(fn)                                                                                \
	NVML_EXPORT nvmlReturn_t fn(nvmlUnit_t unit)                                               \
	{                                                                                          \
		(void)unit;                                                                        \
		return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);                               \
	}
NV_UNIT_FNS(NO_UNIT)
#undef NO_UNIT

/* ---- versioned device queries ---- */

/* nvmlDeviceGetTemperature's reading in the versioned struct. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device,
						   nvmlTemperature_t *temperature)
{
	if (!temperature)
		return vmig__nv_refuse(NVML_ERROR_INVALID_ARGUMENT);
	if (temperature->version != nvmlTemperature_v1)
		return vmig__nv_refuse(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	unsigned t = 0;
	nvmlReturn_t r = nvmlDeviceGetTemperature(device, temperature->sensorType, &t);
	if (r == NVML_SUCCESS)
		temperature->temperature = (int)t;
	return r;
}

/*
 * How the GPU shares the CPU's address space: ATS on the Grace superchips
 * (GH200, GB200: the GPU walks the CPU's page tables over NVLink-C2C), HMM
 * on PCIe and SXM boards of an x86 host (the newest drivers' open kernel
 * modules mirror the CPU's page tables).  MIG devices answer as their GPU.
 */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetAddressingMode(nvmlDevice_t device,
						     nvmlDeviceAddressingMode_t *mode)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, mode, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (mode->version != nvmlDeviceAddressingMode_v1)
		return vmig__nv_leave(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	bool grace = strstr(ref.m->name, "GH200") || strstr(ref.m->name, "GB200");
	mode->value = grace ? NVML_DEVICE_ADDRESSING_MODE_ATS : NVML_DEVICE_ADDRESSING_MODE_HMM;
	return vmig__nv_leave(NVML_SUCCESS);
}
