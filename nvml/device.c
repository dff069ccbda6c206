/*
 * device.c — enumeration and identity of devices: count, the four ways to
 * get a handle (index, UUID, PCI bus id, serial), name, UUID, serial, PCI
 * information, index, minor number, memory, attributes, compute
 * capability, architecture and brand.  MIG device handles answer these as a
 * MIG device does: their own name, UUID, memory and attributes, their
 * parent's PCI identity and architecture.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nv.h"

#define L   vmig__nv
#define H   vmig__nv_hot
#define MIB (1024ull * 1024ull)

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	uint64_t seq;
	if (deviceCount && nv_hot_enter(&seq)) {
		unsigned n = NV_LD(H.ngpu);
		if (nv_hot_valid(seq)) {
			*deviceCount = n;
			return NVML_SUCCESS;
		}
	}
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!deviceCount)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*deviceCount = L.st->ngpu;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
	return nvmlDeviceGetCount_v2(deviceCount);
}

static __attribute__((noinline)) nvmlReturn_t handle_by_index_locked(unsigned index,
								     nvmlDevice_t *device)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!device || index >= L.st->ngpu)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*device = nv_dev(index);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	uint64_t seq;
	if (device && nv_hot_enter(&seq) && index < NV_LD(H.ngpu) && nv_hot_valid(seq)) {
		*device = nv_dev(index);
		return NVML_SUCCESS;
	}
	return handle_by_index_locked(index, device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return nvmlDeviceGetHandleByIndex_v2(index, device);
}

/* A MIG device by its UUID: any live CI of any GPU. */
static nvmlDevice_t mig_by_uuid(const char *uuid)
{
	for (unsigned i = 0; i < L.st->ngpu; i++) {
		const struct nv_gpu_slot *s = &L.gpu[i];
		for (unsigned k = 0; k < s->nmig; k++) {
			const struct nv_ci_slot *c = &s->gi[s->mig_gi[k]].ci[s->mig_ci[k]];
			if (strcmp(c->uuid, uuid) == 0)
				return vmig__nv_mig_handle(i, s->mig_gi[k], s->mig_ci[k]);
		}
	}
	return NULL;
}

/* The GPU whose UUID (or serial) is s, or NULL. */
static nvmlDevice_t gpu_by_string(const char *s, bool serial)
{
	for (unsigned i = 0; i < L.st->ngpu; i++) {
		const struct vmig_gpu_state *g = &L.st->gpu[i];
		if (strcmp(serial ? g->serial : g->uuid, s) == 0)
			return nv_dev(i);
	}
	return NULL;
}

/* Leave with the handle a lookup found, or NOT_FOUND with *device untouched. */
static nvmlReturn_t leave_found(nvmlDevice_t h, nvmlDevice_t *device)
{
	if (!h)
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	*device = h;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!uuid || !device)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	nvmlDevice_t h = gpu_by_string(uuid, false);
	return leave_found(h ? h : mig_by_uuid(uuid), device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleBySerial(const char *serial, nvmlDevice_t *device)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!serial || !device)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	return leave_found(gpu_by_string(serial, true), device);
}

/* One hex field of a bus id, ended by stop; false if empty, too long or not hex. */
static bool hex_field(const char **s, char stop, unsigned maxdigits, unsigned *ret)
{
	unsigned v = 0, n = 0;
	const char *p = *s;
	for (; *p && *p != stop; p++, n++) {
		if (!isxdigit((unsigned char)*p) || n >= maxdigits)
			return false;
		v = v * 16 + (unsigned)(isdigit((unsigned char)*p)
					    ? *p - '0'
					    : tolower((unsigned char)*p) - 'a' + 10);
	}
	if (n == 0 || *p != stop)
		return false;
	*s = stop ? p + 1 : p;
	*ret = v;
	return true;
}

/*
 * "[domain:]bus:device.function" in hex, the domain with 4 or 8 digits
 * ("00000000:07:00.0", "0000:07:00.0") or absent ("07:00.0").
 */
static bool parse_bus_id(const char *s, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
	unsigned colons = 0;
	for (const char *p = s; *p; p++)
		colons += *p == ':';
	*dom = 0;
	if (colons == 2 && !hex_field(&s, ':', 8, dom))
		return false;
	if (colons < 1 || colons > 2)
		return false;
	return hex_field(&s, ':', 2, bus) && hex_field(&s, '.', 2, dev) &&
	       hex_field(&s, '\0', 1, fn);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId,
							  nvmlDevice_t *device)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	unsigned dom, bus, dev, fn;
	if (!pciBusId || !device || !parse_bus_id(pciBusId, &dom, &bus, &dev, &fn))
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	nvmlDevice_t h = NULL;
	for (unsigned i = 0; fn == 0 && !h && i < L.st->ngpu; i++) {
		const struct vmig_gpu_state *g = &L.st->gpu[i];
		if (g->pci_domain == dom && g->pci_bus == bus && g->pci_device == dev)
			h = nv_dev(i);
	}
	return leave_found(h, device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
	return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE], prof[64] = "";
	if (ref.ci)
		vmig__nv_ci_name(ref.gp, ref.cp, prof, sizeof(prof));
	snprintf(buf, sizeof(buf), "%s%s%s", ref.m->name, ref.ci ? " " : "", prof);
	return vmig__nv_leave(vmig__nv_copy(name, length, buf));
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	return vmig__nv_leave(vmig__nv_copy(uuid, length, ref.ci ? ref.cis->uuid : ref.g->uuid));
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref.ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	return vmig__nv_leave(vmig__nv_copy(serial, length, ref.g->serial));
}

/* The PCI identity (a MIG device has its parent's); legacy: only the fields every version had. */
static nvmlReturn_t pci_info(nvmlDevice_t device, nvmlPciInfo_t *pci, bool legacy)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, pci, &ref);
	if (r != NVML_SUCCESS)
		return r;
	nvmlPciInfo_t p;
	memset(&p, 0, sizeof(p));
	const struct vmig_gpu_state *g = ref.g;
	snprintf(p.busIdLegacy, sizeof(p.busIdLegacy), "%04X:%02X:%02X.0", g->pci_domain & 0xffff,
		 g->pci_bus & 0xff, g->pci_device & 0xff);
	snprintf(p.busId, sizeof(p.busId), "%08X:%02X:%02X.0", g->pci_domain, g->pci_bus & 0xff,
		 g->pci_device & 0xff);
	p.domain = g->pci_domain;
	p.bus = g->pci_bus;
	p.device = g->pci_device;
	p.pciDeviceId = ref.m->pci_device_id;
	p.pciSubSystemId = ref.m->pci_subsystem_id;
	memcpy(pci, &p, legacy ? offsetof(nvmlPciInfo_t, busId) : sizeof(p));
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return pci_info(device, pci, false);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return pci_info(device, pci, false);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
	return pci_info(device, pci, true);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfoExt(nvmlDevice_t device, nvmlPciInfoExt_t *pci)
{
	nvmlPciInfo_t p;
	if (pci && pci->version != nvmlPciInfoExt_v1)
		return vmig__nv_refuse(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	nvmlReturn_t r = pci_info(device, pci ? &p : NULL, false);
	if (r != NVML_SUCCESS)
		return r;
	pci->domain = p.domain;
	pci->bus = p.bus;
	pci->device = p.device;
	pci->pciDeviceId = p.pciDeviceId;
	pci->pciSubSystemId = p.pciSubSystemId;
	pci->baseClass = 0x03; /* display controller */
	pci->subClass = 0x02;  /* 3D controller */
	memcpy(pci->busId, p.busId, sizeof(pci->busId));
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, index, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*index = ref.ci ? vmig__nv_mig_index(&ref) : ref.index;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, minorNumber, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref.ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*minorNumber = ref.g->minor;
	return vmig__nv_leave(NVML_SUCCESS);
}

/*
 * Memory of a device: the GPU's, or the GPU instance's for a MIG device
 * (mib: its total), as libvmig gives it to the vmig command's table too.
 */
static void memory_of(const struct vmig_model *m, const struct vmig_gi_profile *gp,
		      unsigned long long *total, unsigned long long *reserved)
{
	struct vmig_mem mem;
	vmig_gpu_memory(m, gp, 0, &mem);
	*total = mem.total_mib * MIB;
	*reserved = mem.reserved_mib * MIB;
}

/* The same, for a device known only by its memory in MiB (the lock-free path). */
static void memory_of_mib(uint64_t mib, unsigned long long *total, unsigned long long *reserved)
{
	const struct vmig_gi_profile gp = {.mem_mib = mib};
	memory_of(NULL, &gp, total, reserved);
}

/* Lock-free: the memory in MiB of a valid GPU or MIG device handle; false: take the lock. */
static bool hot_memory(nvmlDevice_t device, uint64_t *ret_mib)
{
	uint64_t seq, mib;
	if (!nv_hot_enter(&seq))
		return false;
	int i = nv_gpu_index(device);
	if (i >= 0) {
		if ((unsigned)i >= NV_LD(H.ngpu))
			return false;
		mib = NV_LD(H.gpu[i].mem_mib);
	} else {
		uint64_t e = nv_lookup(device, NV_MIG);
		if (!e)
			return false;
		mib = NV_LD(H.gpu[nv_entry_gpu(e)].gi_mem[nv_entry_gi(e)]);
	}
	if (!nv_hot_valid(seq))
		return false;
	*ret_mib = mib;
	return true;
}

static __attribute__((noinline)) nvmlReturn_t memory_locked(nvmlDevice_t device, const void *out,
							    unsigned long long *total,
							    unsigned long long *reserved)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	memory_of(ref.m, ref.ci ? ref.gp : NULL, total, reserved);
	return vmig__nv_leave(out ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT);
}

/* The memory of a device, lock-free when it can be. */
static nvmlReturn_t device_memory(nvmlDevice_t device, const void *out, unsigned long long *total,
				  unsigned long long *reserved)
{
	uint64_t mib;
	if (out && hot_memory(device, &mib)) {
		memory_of_mib(mib, total, reserved);
		return NVML_SUCCESS;
	}
	return memory_locked(device, out, total, reserved);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	unsigned long long total, reserved;
	nvmlReturn_t r = device_memory(device, memory, &total, &reserved);
	if (r != NVML_SUCCESS)
		return r;
	memory->total = total;
	memory->used = reserved; /* v1: reserved + allocated */
	memory->free = total - reserved;
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
	unsigned long long total, reserved;
	nvmlReturn_t r = device_memory(device, memory, &total, &reserved);
	if (r != NVML_SUCCESS)
		return r;
	if (memory->version != nvmlMemory_v2)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	memory->total = total;
	memory->reserved = reserved;
	memory->used = 0;
	memory->free = total - reserved;
	return NVML_SUCCESS;
}

/* Only MIG device handles have attributes, as the header says. */
NVML_EXPORT nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device,
						    nvmlDeviceAttributes_t *attributes)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, attributes, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!ref.ci)
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*attributes = (nvmlDeviceAttributes_t){
	    .multiprocessorCount = ref.cp->sm,
	    .sharedCopyEngineCount = ref.gp->ce,
	    .sharedDecoderCount = ref.gp->dec,
	    .sharedEncoderCount = ref.gp->enc,
	    .sharedJpegCount = ref.gp->jpeg,
	    .sharedOfaCount = ref.gp->ofa,
	    .gpuInstanceSliceCount = ref.gp->slices,
	    .computeInstanceSliceCount = ref.cp->slices,
	    .memorySizeMB = ref.gp->mem_mib,
	};
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetAttributes(nvmlDevice_t device,
						 nvmlDeviceAttributes_t *attributes)
{
	return nvmlDeviceGetAttributes_v2(device, attributes);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major,
							    int *minor)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (!major || !minor)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*major = (int)ref.m->cc_major;
	*minor = (int)ref.m->cc_minor;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device,
						   nvmlDeviceArchitecture_t *arch)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, arch, &ref);
	if (r != NVML_SUCCESS)
		return r;
	*arch = ref.m->arch ? ref.m->arch : NVML_DEVICE_ARCH_UNKNOWN;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, type, &ref);
	if (r != NVML_SUCCESS)
		return r;
	const char *name = ref.m->name;
	if (strstr(name, "GeForce") || strstr(name, "RTX 40") || strstr(name, "RTX 50"))
		*type = NVML_BRAND_GEFORCE;
	else if (strstr(name, "RTX"))
		*type = NVML_BRAND_QUADRO;
	else
		*type = NVML_BRAND_TESLA;
	return vmig__nv_leave(NVML_SUCCESS);
}
