/*
 * stub_cuda.c — a stand-in libcuda.so.1 for testing the interposer on
 * machines without a GPU.  It behaves like the driver where the interposer
 * can tell the difference, and is otherwise as small as possible:
 *
 *  - device memory is a per-process counter against VMIGSTUB_TOTAL_MEM
 *    (bytes, default 80 GiB); addresses and handles come from counters;
 *    pitched allocations round rows up to VMIGSTUB_PITCH_ALIGN (default 512);
 *  - the GPU is one simulated GPU shared by every process of a test
 *    (sim.h: VMIGSTUB_TIMELINE names its file; without it the process and
 *    its forked children have one of their own), with VMIGSTUB_SMS SMs
 *    (default 1) and a simulated clock.  A kernel of B blocks needs
 *    min(B, SMs) SMs for ceil(B / that) x (uintptr_t)f ns, i.e. the
 *    CUfunction handle's value is the length of one block; a graph launch
 *    is one block of (uintptr_t)hGraphExec ns.  Kernels start in launch
 *    order once their stream is free and their SMs are.  A launch returns at
 *    once but waits while its stream is more than 20 ms ahead (a bounded
 *    queue);
 *  - events complete when the work before them has run; streams, legacy and
 *    per-thread default streams behave as in the driver;
 *  - cuGetProcAddress(_v2) picks the newest variant introduced at or before
 *    the requested version, honours the per-thread / legacy stream flags and
 *    reports symbolStatus, from its own table of versioned names.
 *
 * Test-only exports (names not starting with "cu"): vmigstub_calls(name),
 * the number of calls that reached the named symbol here; vmigstub_addr(name),
 * the stand-in's own address of a symbol; vmigstub_busy_ns(),
 * vmigstub_gpu_busy_ns() and vmigstub_group_busy_ns(group), GPU time used up
 * to now by this process, by the whole GPU and by a group of processes
 * (VMIGSTUB_GROUP, else VMIG_PARTITION); vmigstub_now_ns() and
 * vmigstub_sleep_ns(ns), the simulated clock (the interposer's control loop
 * runs on it, docs/interpose.md), vmigstub_barrier(n), to start n processes
 * together, and vmigstub_sample(pid, ...) / vmigstub_sample_pids(), the
 * utilisation samples the stand-in NVML (stub_nvml.c) reports.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_api.h"
#include "sim.h"

#define EXP		       __attribute__((visibility("default")))
#define DRIVER_VERSION_DEFAULT 12080

/* The stand-in's own table of exported names: (symbol, base, since, ptsz). */
#define STUB_SYMBOLS(X)                                                                            \
	X(cuInit, cuInit, 2000, 0)                                                                 \
	X(cuDriverGetVersion, cuDriverGetVersion, 2020, 0)                                         \
	X(cuGetProcAddress, cuGetProcAddress, 11030, 0)                                            \
	X(cuGetProcAddress_v2, cuGetProcAddress, 12000, 0)                                         \
	X(cuDeviceGet, cuDeviceGet, 2000, 0)                                                       \
	X(cuDeviceGetCount, cuDeviceGetCount, 2000, 0)                                             \
	X(cuDeviceTotalMem, cuDeviceTotalMem, 2000, 0)                                             \
	X(cuDeviceTotalMem_v2, cuDeviceTotalMem, 3020, 0)                                          \
	X(cuMemGetInfo, cuMemGetInfo, 2000, 0)                                                     \
	X(cuMemGetInfo_v2, cuMemGetInfo, 3020, 0)                                                  \
	X(cuMemAlloc, cuMemAlloc, 2000, 0)                                                         \
	X(cuMemAlloc_v2, cuMemAlloc, 3020, 0)                                                      \
	X(cuMemAllocPitch, cuMemAllocPitch, 2000, 0)                                               \
	X(cuMemAllocPitch_v2, cuMemAllocPitch, 3020, 0)                                            \
	X(cuMemAllocManaged, cuMemAllocManaged, 6000, 0)                                           \
	X(cuMemFree, cuMemFree, 2000, 0)                                                           \
	X(cuMemFree_v2, cuMemFree, 3020, 0)                                                        \
	X(cuMemAllocAsync, cuMemAllocAsync, 11020, 0)                                              \
	X(cuMemAllocAsync_ptsz, cuMemAllocAsync, 11020, 1)                                         \
	X(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync, 11020, 0)                              \
	X(cuMemAllocFromPoolAsync_ptsz, cuMemAllocFromPoolAsync, 11020, 1)                         \
	X(cuMemFreeAsync, cuMemFreeAsync, 11020, 0)                                                \
	X(cuMemFreeAsync_ptsz, cuMemFreeAsync, 11020, 1)                                           \
	X(cuMemCreate, cuMemCreate, 10020, 0)                                                      \
	X(cuMemRelease, cuMemRelease, 10020, 0)                                                    \
	X(cuMemMap, cuMemMap, 10020, 0)                                                            \
	X(cuMemUnmap, cuMemUnmap, 10020, 0)                                                        \
	X(cuMemRetainAllocationHandle, cuMemRetainAllocationHandle, 11000, 0)                      \
	X(cuMemAddressReserve, cuMemAddressReserve, 10020, 0)                                      \
	X(cuMemAddressFree, cuMemAddressFree, 10020, 0)                                            \
	X(cuArrayCreate, cuArrayCreate, 2000, 0)                                                   \
	X(cuArrayCreate_v2, cuArrayCreate, 3020, 0)                                                \
	X(cuArray3DCreate, cuArray3DCreate, 2000, 0)                                               \
	X(cuArray3DCreate_v2, cuArray3DCreate, 3020, 0)                                            \
	X(cuArrayDestroy, cuArrayDestroy, 2000, 0)                                                 \
	X(cuMipmappedArrayCreate, cuMipmappedArrayCreate, 5000, 0)                                 \
	X(cuMipmappedArrayDestroy, cuMipmappedArrayDestroy, 5000, 0)                               \
	X(cuGraphAddMemAllocNode, cuGraphAddMemAllocNode, 11040, 0)                                \
	X(cuLaunchKernel, cuLaunchKernel, 4000, 0)                                                 \
	X(cuLaunchKernel_ptsz, cuLaunchKernel, 7000, 1)                                            \
	X(cuLaunchKernelEx, cuLaunchKernelEx, 11080, 0)                                            \
	X(cuLaunchKernelEx_ptsz, cuLaunchKernelEx, 11080, 1)                                       \
	X(cuLaunchCooperativeKernel, cuLaunchCooperativeKernel, 9000, 0)                           \
	X(cuLaunchCooperativeKernel_ptsz, cuLaunchCooperativeKernel, 9000, 1)                      \
	X(cuGraphLaunch, cuGraphLaunch, 10000, 0)                                                  \
	X(cuGraphLaunch_ptsz, cuGraphLaunch, 10000, 1)                                             \
	X(cuLaunch, cuLaunch, 2000, 0)                                                             \
	X(cuLaunchGrid, cuLaunchGrid, 2000, 0)                                                     \
	X(cuLaunchGridAsync, cuLaunchGridAsync, 2000, 0)                                           \
	X(cuEventCreate, cuEventCreate, 2000, 0)                                                   \
	X(cuEventDestroy_v2, cuEventDestroy, 4000, 0)                                              \
	X(cuEventRecord, cuEventRecord, 2000, 0)                                                   \
	X(cuEventRecord_ptsz, cuEventRecord, 7000, 1)                                              \
	X(cuEventQuery, cuEventQuery, 2000, 0)                                                     \
	X(cuEventSynchronize, cuEventSynchronize, 2000, 0)                                         \
	X(cuEventElapsedTime, cuEventElapsedTime, 2000, 0)                                         \
	X(cuStreamCreate, cuStreamCreate, 2000, 0)                                                 \
	X(cuStreamDestroy_v2, cuStreamDestroy, 4000, 0)                                            \
	X(cuStreamSynchronize, cuStreamSynchronize, 2000, 0)                                       \
	X(cuStreamSynchronize_ptsz, cuStreamSynchronize, 7000, 1)                                  \
	X(cuStreamIsCapturing, cuStreamIsCapturing, 10000, 0)                                      \
	X(cuStreamIsCapturing_ptsz, cuStreamIsCapturing, 10000, 1)                                 \
	X(cuCtxSynchronize, cuCtxSynchronize, 2000, 0)

/* Prototypes of the unhooked functions the stand-in also provides. */
CUresult cuDriverGetVersion(int *v);
CUresult cuDeviceGet(CUdevice *d, int ordinal);
CUresult cuDeviceGetCount(int *n);
CUresult cuEventSynchronize(CUevent e);
CUresult cuStreamCreate(CUstream *ps, unsigned int flags);
CUresult cuStreamDestroy_v2(CUstream s);
CUresult cuStreamSynchronize(CUstream s);
CUresult cuStreamSynchronize_ptsz(CUstream s);
CUresult cuCtxSynchronize(void);
EXP unsigned long vmigstub_calls(const char *name);
EXP void *vmigstub_addr(const char *name);
EXP uint64_t vmigstub_busy_ns(void);
EXP uint64_t vmigstub_gpu_busy_ns(void);
EXP uint64_t vmigstub_group_busy_ns(const char *group);
EXP uint64_t vmigstub_now_ns(void);
EXP void vmigstub_sleep_ns(uint64_t ns);
EXP int vmigstub_barrier(unsigned n);
EXP int vmigstub_sample(int pid, unsigned *pct, unsigned long long *ts_us);
EXP unsigned vmigstub_sample_pids(int *pids, unsigned max);

enum {
#define X(sym, base, since, ptsz) STUB_##sym,
	STUB_SYMBOLS(X)
#undef X
	    STUB_N
};

static _Atomic unsigned long calls[STUB_N];
/* Count the call; the calling thread takes part in the GPU's clock (sim.h). */
#define CALLED(sym)                                                                                \
	(atomic_fetch_add_explicit(&calls[STUB_##sym], 1, memory_order_relaxed), sim_touch())

/*
 * Entry points whose body is one expression, each counting its own calls.
 * STUB_TWINS defines a name and its per-thread-default-stream twin (_ptsz)
 * from one body, in which ptsz tells them apart.
 */
#define STUB_FN(sym, params, ptsz_value, expr)                                                     \
	EXP CUresult sym params                                                                    \
	{                                                                                          \
		const bool ptsz = ptsz_value;                                                      \
		(void)ptsz;                                                                        \
		CALLED(sym);                                                                       \
		return (expr);                                                                     \
	}
#define STUB(sym, params, expr) STUB_FN(sym, params, false, expr)
#define STUB_TWINS(sym, params, expr)                                                              \
	STUB_FN(sym, params, false, expr) STUB_FN(sym##_ptsz, params, true, expr)

/* ---- Streams ------------------------------------------------------------- */

/* The GPU and its clock are the timeline's (sim.h); streams belong to their process. */
static struct sim_stream legacy;

/* An event: done once the clock reaches t (the end of the work before it). */
struct event {
	bool recorded;
	uint64_t t;
};
static _Thread_local struct sim_stream per_thread;

static struct sim_stream *stream_of(CUstream s, bool ptsz)
{
	if (s == CU_STREAM_PER_THREAD || (ptsz && s == NULL))
		return &per_thread;
	if (s == NULL || s == CU_STREAM_LEGACY)
		return &legacy;
	return (struct sim_stream *)s;
}

static CUresult enqueue(CUstream s, bool ptsz, uint64_t blocks, uint64_t block_ns)
{
	sim_kernel(stream_of(s, ptsz), blocks, block_ns);
	return CUDA_SUCCESS;
}

static uint64_t blocks(unsigned x, unsigned y, unsigned z)
{
	return (uint64_t)x * y * z;
}

/* ---- Memory ------------------------------------------------------------- */

#define MEM_SLOTS (1u << 16)
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t key;
	uint64_t size;
} mem_tab[MEM_SLOTS];
static uint64_t mem_used;
static uint64_t next_addr = 0x7f0000000000ull, next_addr32 = 0x10000000ull, next_handle = 1;

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static uint64_t mem_total(void)
{
	return env_u64("VMIGSTUB_TOTAL_MEM", 80ull << 30);
}

/* Take n bytes; the new key (address or handle) in *key.  kind: 0 addr, 1 addr32, 2 handle. */
static CUresult mem_take(uint64_t n, int kind, uint64_t *key)
{
	pthread_mutex_lock(&mem_mu);
	CUresult rc = CUDA_ERROR_OUT_OF_MEMORY;
	if (n <= mem_total() - mem_used) {
		uint64_t k = kind == 2 ? next_handle++ : kind == 1 ? next_addr32 : next_addr;
		if (kind == 0)
			next_addr += (n + 1023) & ~511ull;
		else if (kind == 1)
			next_addr32 += (n + 1023) & ~511ull;
		for (uint32_t i = 0; i < MEM_SLOTS; i++) {
			uint32_t j = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 48) + i;
			if (mem_tab[j % MEM_SLOTS].key == 0) {
				mem_tab[j % MEM_SLOTS].key = k;
				mem_tab[j % MEM_SLOTS].size = n;
				mem_used += n;
				*key = k;
				rc = CUDA_SUCCESS;
				break;
			}
		}
	}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

static CUresult mem_give(uint64_t k)
{
	pthread_mutex_lock(&mem_mu);
	CUresult rc = CUDA_ERROR_INVALID_VALUE;
	for (uint32_t i = 0; i < MEM_SLOTS; i++) {
		uint32_t j = ((uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 48) + i) % MEM_SLOTS;
		if (mem_tab[j].key == k) {
			mem_used -= mem_tab[j].size;
			mem_tab[j].key = 0;
			rc = CUDA_SUCCESS;
			break;
		}
	}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

EXP CUresult cuInit(unsigned int Flags)
{
	CALLED(cuInit);
	return Flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static int driver_version(void)
{
	return (int)env_u64("VMIGSTUB_DRIVER_VERSION", DRIVER_VERSION_DEFAULT);
}

EXP CUresult cuDriverGetVersion(int *v)
{
	CALLED(cuDriverGetVersion);
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	*v = driver_version();
	return CUDA_SUCCESS;
}

EXP CUresult cuDeviceGet(CUdevice *d, int ordinal)
{
	CALLED(cuDeviceGet);
	if (!d || ordinal != 0)
		return CUDA_ERROR_INVALID_VALUE;
	*d = 0;
	return CUDA_SUCCESS;
}

EXP CUresult cuDeviceGetCount(int *n)
{
	CALLED(cuDeviceGetCount);
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	*n = 1;
	return CUDA_SUCCESS;
}

EXP CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CALLED(cuDeviceTotalMem_v2);
	if (!bytes || dev != 0)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = mem_total();
	return CUDA_SUCCESS;
}

EXP CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	CALLED(cuDeviceTotalMem);
	if (!bytes || dev != 0)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t t = mem_total();
	*bytes = t > UINT_MAX ? UINT_MAX : (unsigned int)t;
	return CUDA_SUCCESS;
}

EXP CUresult cuMemGetInfo_v2(size_t *pfree, size_t *ptotal)
{
	CALLED(cuMemGetInfo_v2);
	if (!pfree || !ptotal)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mem_mu);
	*ptotal = mem_total();
	*pfree = mem_total() - mem_used;
	pthread_mutex_unlock(&mem_mu);
	return CUDA_SUCCESS;
}

EXP CUresult cuMemGetInfo(unsigned int *pfree, unsigned int *ptotal)
{
	CALLED(cuMemGetInfo);
	if (!pfree || !ptotal)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mem_mu);
	uint64_t t = mem_total(), f = t - mem_used;
	pthread_mutex_unlock(&mem_mu);
	*ptotal = t > UINT_MAX ? UINT_MAX : (unsigned int)t;
	*pfree = f > UINT_MAX ? UINT_MAX : (unsigned int)f;
	return CUDA_SUCCESS;
}

static CUresult alloc64(CUdeviceptr *dptr, size_t n)
{
	if (!dptr || n == 0)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t k;
	CUresult rc = mem_take(n, 0, &k);
	if (rc == CUDA_SUCCESS)
		*dptr = k;
	return rc;
}

EXP CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	CALLED(cuMemAlloc_v2);
	return alloc64(dptr, bytesize);
}

EXP CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	CALLED(cuMemAlloc);
	if (!dptr || bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t k;
	CUresult rc = mem_take(bytesize, 1, &k);
	if (rc == CUDA_SUCCESS)
		*dptr = (CUdeviceptr_v1)k;
	return rc;
}

static uint64_t pitch_of(uint64_t width)
{
	uint64_t a = env_u64("VMIGSTUB_PITCH_ALIGN", 512);
	return (width + a - 1) / a * a;
}

EXP CUresult cuMemAllocPitch_v2(SIG_PITCH_P)
{
	CALLED(cuMemAllocPitch_v2);
	if (!dptr || !pPitch || !WidthInBytes || !Height || ElementSizeBytes > 16)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t pitch = pitch_of(WidthInBytes), k;
	CUresult rc = mem_take(pitch * Height, 0, &k);
	if (rc == CUDA_SUCCESS) {
		*dptr = k;
		*pPitch = pitch;
	}
	return rc;
}

EXP CUresult cuMemAllocPitch(SIG_PITCH1_P)
{
	CALLED(cuMemAllocPitch);
	if (!dptr || !pPitch || !WidthInBytes || !Height || ElementSizeBytes > 16)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t pitch = pitch_of(WidthInBytes), k;
	CUresult rc = mem_take(pitch * Height, 1, &k);
	if (rc == CUDA_SUCCESS) {
		*dptr = (CUdeviceptr_v1)k;
		*pPitch = (unsigned int)pitch;
	}
	return rc;
}

EXP CUresult cuMemAllocManaged(SIG_MANAGED_P)
{
	CALLED(cuMemAllocManaged);
	return alloc64(dptr, bytesize);
}

STUB_TWINS(cuMemAllocAsync, (SIG_ASYNC_P), alloc64(dptr, bytesize))
STUB_TWINS(cuMemAllocFromPoolAsync, (SIG_POOLASYNC_P),
	   pool ? alloc64(dptr, bytesize) : CUDA_ERROR_INVALID_VALUE)

EXP CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	CALLED(cuMemFree_v2);
	return mem_give(dptr);
}

EXP CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	CALLED(cuMemFree);
	return mem_give(dptr);
}

STUB_TWINS(cuMemFreeAsync, (SIG_FREEASYNC_P), mem_give(dptr))

/*
 * The VMM API as the driver counts it: a physical allocation lives while its
 * handle has references (cuMemCreate one, each cuMemRetainAllocationHandle
 * one more, each cuMemRelease one less) or any mapping of it remains
 * (cuMemMap, cuMemUnmap of whole mappings, several back to back allowed).
 */
#define VMM_MAX 4096
static struct vmm_alloc {
	uint64_t handle; /* 0 = free slot */
	unsigned hrefs, mrefs;
} vmm_allocs[VMM_MAX];
static struct vmm_map {
	uint64_t ptr, size, handle; /* size 0 = free slot */
} vmm_maps[VMM_MAX];
static uint64_t next_va = 0x600000000000ull;

static struct vmm_alloc *vmm_find(uint64_t handle)
{
	for (int i = 0; i < VMM_MAX; i++)
		if (handle && vmm_allocs[i].handle == handle)
			return &vmm_allocs[i];
	return NULL;
}

/* Caller holds mem_mu; frees the allocation when nothing refers to it any more. */
static void vmm_settle(struct vmm_alloc *a)
{
	if (a->hrefs || a->mrefs)
		return;
	uint64_t h = a->handle;
	a->handle = 0;
	pthread_mutex_unlock(&mem_mu);
	mem_give(h);
	pthread_mutex_lock(&mem_mu);
}

EXP CUresult cuMemCreate(SIG_CREATE_P)
{
	CALLED(cuMemCreate);
	if (!handle || !prop || !size || flags)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t k;
	CUresult rc =
	    mem_take(prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE ? size : 0, 2, &k);
	if (rc != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&mem_mu);
	struct vmm_alloc *a = NULL;
	for (int i = 0; i < VMM_MAX && !a; i++)
		if (!vmm_allocs[i].handle)
			a = &vmm_allocs[i];
	if (a)
		*a = (struct vmm_alloc){k, 1, 0};
	pthread_mutex_unlock(&mem_mu);
	if (!a) {
		mem_give(k);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*handle = k;
	return CUDA_SUCCESS;
}

EXP CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	CALLED(cuMemRelease);
	pthread_mutex_lock(&mem_mu);
	struct vmm_alloc *a = vmm_find(handle);
	CUresult rc = a && a->hrefs ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
	if (rc == CUDA_SUCCESS) {
		a->hrefs--;
		vmm_settle(a);
	}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

EXP CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
				 unsigned long long flags)
{
	CALLED(cuMemAddressReserve);
	if (!ptr || !size || flags)
		return CUDA_ERROR_INVALID_VALUE;
	(void)alignment;
	(void)addr;
	pthread_mutex_lock(&mem_mu);
	*ptr = next_va;
	next_va += (size + 0xfffff) & ~0xfffffull;
	pthread_mutex_unlock(&mem_mu);
	return CUDA_SUCCESS;
}

EXP CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	CALLED(cuMemAddressFree);
	return ptr && size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EXP CUresult cuMemMap(SIG_MAP_P)
{
	CALLED(cuMemMap);
	if (!ptr || !size || offset || flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mem_mu);
	struct vmm_alloc *a = vmm_find(handle);
	CUresult rc = a && a->hrefs ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
	for (int i = 0; i < VMM_MAX && rc == CUDA_ERROR_OUT_OF_MEMORY; i++)
		if (!vmm_maps[i].size) {
			vmm_maps[i] = (struct vmm_map){ptr, size, handle};
			a->mrefs++;
			rc = CUDA_SUCCESS;
		}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

static struct vmm_map *map_at(uint64_t ptr)
{
	for (int i = 0; i < VMM_MAX; i++)
		if (vmm_maps[i].size && vmm_maps[i].ptr == ptr)
			return &vmm_maps[i];
	return NULL;
}

EXP CUresult cuMemUnmap(SIG_UNMAP_P)
{
	CALLED(cuMemUnmap);
	pthread_mutex_lock(&mem_mu);
	/* The range must be whole mappings, back to back. */
	uint64_t at = ptr, end = ptr + size;
	struct vmm_map *m;
	while (at < end && (m = map_at(at)) && at + m->size <= end)
		at += m->size;
	CUresult rc = size && at == end ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
	for (at = ptr; rc == CUDA_SUCCESS && at < end;) {
		m = map_at(at);
		struct vmm_alloc *a = vmm_find(m->handle);
		at += m->size;
		m->size = 0;
		if (a) {
			a->mrefs--;
			vmm_settle(a);
		}
	}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

EXP CUresult cuMemRetainAllocationHandle(SIG_RETAIN_P)
{
	CALLED(cuMemRetainAllocationHandle);
	if (!handle)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mem_mu);
	CUresult rc = CUDA_ERROR_INVALID_VALUE;
	for (int i = 0; i < VMM_MAX && rc != CUDA_SUCCESS; i++) {
		struct vmm_map *m = &vmm_maps[i];
		uint64_t a = (uint64_t)(uintptr_t)addr;
		if (m->size && a >= m->ptr && a < m->ptr + m->size) {
			struct vmm_alloc *va = vmm_find(m->handle);
			if (va) {
				va->hrefs++;
				*handle = m->handle;
				rc = CUDA_SUCCESS;
			}
		}
	}
	pthread_mutex_unlock(&mem_mu);
	return rc;
}

/* Arrays: the handle is a counter value; the stand-in's size is its own. */
static CUresult array_new(CUarray *p, uint64_t n)
{
	uint64_t k;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = mem_take(n, 2, &k);
	if (rc == CUDA_SUCCESS)
		*p = (CUarray)(uintptr_t)(k << 4);
	return rc;
}

/* Every array create: 4 bytes per element of width, whatever the descriptor's version. */
#define STUB_ARRAY(sym, SIG)                                                                       \
	STUB(sym, (SIG##_P),                                                                       \
	     pAllocateArray ? array_new(pHandle, pAllocateArray->Width * 4ull)                     \
			    : CUDA_ERROR_INVALID_VALUE)

STUB_ARRAY(cuArrayCreate_v2, SIG_ARRAY)
STUB_ARRAY(cuArrayCreate, SIG_ARRAY1)
STUB_ARRAY(cuArray3DCreate_v2, SIG_ARRAY3D)
STUB_ARRAY(cuArray3DCreate, SIG_ARRAY3D1)

EXP CUresult cuArrayDestroy(CUarray hArray)
{
	CALLED(cuArrayDestroy);
	return mem_give((uint64_t)(uintptr_t)hArray >> 4);
}

EXP CUresult cuMipmappedArrayCreate(SIG_MIPMAP_P)
{
	CALLED(cuMipmappedArrayCreate);
	if (!pMipmappedArrayDesc)
		return CUDA_ERROR_INVALID_VALUE;
	return array_new((CUarray *)(void *)pHandle, pMipmappedArrayDesc->Width * 8);
}

EXP CUresult cuMipmappedArrayDestroy(CUmipmappedArray h)
{
	CALLED(cuMipmappedArrayDestroy);
	return mem_give((uint64_t)(uintptr_t)h >> 4);
}

EXP CUresult cuGraphAddMemAllocNode(SIG_MEMNODE_P)
{
	CALLED(cuGraphAddMemAllocNode);
	if (!phGraphNode || !nodeParams)
		return CUDA_ERROR_INVALID_VALUE;
	*phGraphNode = (CUgraphNode)(uintptr_t)0x1000;
	nodeParams->dptr = 0x7e0000000000ull;
	return CUDA_SUCCESS;
}

/* ---- Launches ------------------------------------------------------------ */

/* A grid launch: the blocks, each as long as the CUfunction's value in ns. */
static CUresult launch_grid(CUstream s, bool ptsz, CUfunction f, unsigned x, unsigned y, unsigned z)
{
	return enqueue(s, ptsz, blocks(x, y, z), (uintptr_t)f);
}

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, bool ptsz)
{
	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	return launch_grid(c->hStream, ptsz, f, c->gridDimX, c->gridDimY, c->gridDimZ);
}

STUB_TWINS(cuLaunchKernel, (SIG_KERNEL_P),
	   launch_grid(hStream, ptsz, f, gridDimX, gridDimY, gridDimZ))
STUB_TWINS(cuLaunchKernelEx, (SIG_KERNELEX_P), launch_ex(config, f, ptsz))
STUB_TWINS(cuLaunchCooperativeKernel, (SIG_COOP_P),
	   launch_grid(hStream, ptsz, f, gridDimX, gridDimY, gridDimZ))
STUB_TWINS(cuGraphLaunch, (SIG_GRAPHLAUNCH_P), enqueue(hStream, ptsz, 1, (uintptr_t)hGraphExec))

EXP CUresult cuLaunch(CUfunction f)
{
	CALLED(cuLaunch);
	return enqueue(NULL, false, 1, (uintptr_t)f);
}

EXP CUresult cuLaunchGrid(CUfunction f, int w, int h)
{
	CALLED(cuLaunchGrid);
	if (w <= 0 || h <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	return enqueue(NULL, false, blocks((unsigned)w, (unsigned)h, 1), (uintptr_t)f);
}

EXP CUresult cuLaunchGridAsync(CUfunction f, int w, int h, CUstream hStream)
{
	CALLED(cuLaunchGridAsync);
	if (w <= 0 || h <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	return enqueue(hStream, false, blocks((unsigned)w, (unsigned)h, 1), (uintptr_t)f);
}

/* ---- Events and streams ------------------------------------------------------ */

EXP CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	CALLED(cuEventCreate);
	struct event *e = calloc(1, sizeof(*e));
	if (!phEvent || !e) {
		free(e);
		return CUDA_ERROR_INVALID_VALUE;
	}
	*phEvent = (CUevent)e;
	return CUDA_SUCCESS;
}

EXP CUresult cuEventDestroy_v2(CUevent hEvent)
{
	CALLED(cuEventDestroy_v2);
	free(hEvent);
	return CUDA_SUCCESS;
}

static CUresult record(CUevent hEvent, CUstream s, bool ptsz)
{
	struct event *e = (struct event *)hEvent;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	e->t = sim_mark(stream_of(s, ptsz));
	e->recorded = true;
	return CUDA_SUCCESS;
}

STUB_TWINS(cuEventRecord, (CUevent hEvent, CUstream hStream), record(hEvent, hStream, ptsz))

EXP CUresult cuEventQuery(CUevent hEvent)
{
	CALLED(cuEventQuery);
	struct event *e = (struct event *)hEvent;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	return !e->recorded || sim_now() >= e->t ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

EXP CUresult cuEventSynchronize(CUevent hEvent)
{
	CALLED(cuEventSynchronize);
	struct event *e = (struct event *)hEvent;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	if (e->recorded)
		sim_wait_until(e->t);
	return CUDA_SUCCESS;
}

EXP CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
	CALLED(cuEventElapsedTime);
	struct event *x = (struct event *)a, *y = (struct event *)b;
	if (!ms || !x || !y)
		return CUDA_ERROR_INVALID_HANDLE;
	uint64_t now = sim_now();
	if (!x->recorded || !y->recorded || now < x->t || now < y->t)
		return CUDA_ERROR_NOT_READY;
	*ms = (float)(((double)y->t - (double)x->t) / 1e6);
	return CUDA_SUCCESS;
}

EXP CUresult cuStreamCreate(CUstream *ps, unsigned int flags)
{
	CALLED(cuStreamCreate);
	struct sim_stream *s = calloc(1, sizeof(*s));
	if (!ps || !s) {
		free(s);
		return CUDA_ERROR_INVALID_VALUE;
	}
	*ps = (CUstream)s;
	return CUDA_SUCCESS;
}

EXP CUresult cuStreamDestroy_v2(CUstream s)
{
	CALLED(cuStreamDestroy_v2);
	struct sim_stream *st = stream_of(s, false);
	if (st == &legacy || st == &per_thread)
		return CUDA_ERROR_INVALID_HANDLE;
	free(st);
	return CUDA_SUCCESS;
}

static CUresult stream_sync(CUstream s, bool ptsz)
{
	sim_wait_until(sim_mark(stream_of(s, ptsz)));
	return CUDA_SUCCESS;
}

STUB_TWINS(cuStreamSynchronize, (CUstream s), stream_sync(s, ptsz))

/* Nothing is ever captured here. */
static CUresult not_capturing(CUstreamCaptureStatus *st)
{
	if (!st)
		return CUDA_ERROR_INVALID_VALUE;
	*st = CU_STREAM_CAPTURE_STATUS_NONE;
	return CUDA_SUCCESS;
}

STUB_TWINS(cuStreamIsCapturing, (CUstream s, CUstreamCaptureStatus *st), not_capturing(st))

EXP CUresult cuCtxSynchronize(void)
{
	CALLED(cuCtxSynchronize);
	sim_wait_until(sim_proc_ready());
	return CUDA_SUCCESS;
}

/* ---- cuGetProcAddress --------------------------------------------------------- */

static const struct {
	const char *name, *base;
	int since, ptsz;
	void *addr;
} symtab[STUB_N] = {
#define X(sym, base, since, ptsz) {#sym, #base, since, ptsz, (void *)sym},
    STUB_SYMBOLS(X)
#undef X
};

static CUresult lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
		       CUdriverProcAddressQueryResult *status)
{
	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	if (version > driver_version())
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = NULL;
	bool known = false;
	int pt = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) &&
		 !(flags & CU_GET_PROC_ADDRESS_LEGACY_STREAM);
	for (int pass = pt; pass >= 0 && !*pfn; pass--) {
		int best = -1;
		for (int i = 0; i < STUB_N; i++) {
			if (strcmp(symtab[i].base, symbol) != 0 || symtab[i].ptsz != pass)
				continue;
			known = true;
			if (symtab[i].since <= version &&
			    (best < 0 || symtab[i].since > symtab[best].since))
				best = i;
		}
		if (best >= 0)
			*pfn = symtab[best].addr;
	}
	if (status)
		*status = *pfn	  ? CU_GET_PROC_ADDRESS_SUCCESS
			  : known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
				  : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	return CUDA_SUCCESS;
}

EXP CUresult cuGetProcAddress(SIG_GPA1_P)
{
	CALLED(cuGetProcAddress);
	return lookup(symbol, pfn, cudaVersion, flags, NULL);
}

EXP CUresult cuGetProcAddress_v2(SIG_GPA2_P)
{
	CALLED(cuGetProcAddress_v2);
	return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* ---- Test-only exports ------------------------------------------------------------ */

EXP unsigned long vmigstub_calls(const char *name)
{
	for (int i = 0; i < STUB_N; i++)
		if (strcmp(symtab[i].name, name) == 0)
			return atomic_load(&calls[i]);
	return 0;
}

EXP void *vmigstub_addr(const char *name)
{
	for (int i = 0; i < STUB_N; i++)
		if (strcmp(symtab[i].name, name) == 0)
			return symtab[i].addr;
	return NULL;
}

EXP uint64_t vmigstub_busy_ns(void)
{
	return sim_busy_pid((int32_t)getpid());
}

EXP uint64_t vmigstub_gpu_busy_ns(void)
{
	return sim_busy_pid(0);
}

EXP uint64_t vmigstub_group_busy_ns(const char *group)
{
	return sim_busy_group(group);
}

EXP uint64_t vmigstub_now_ns(void)
{
	return sim_now();
}

EXP void vmigstub_sleep_ns(uint64_t ns)
{
	sim_wait_until(sim_now() + ns);
}

EXP int vmigstub_barrier(unsigned n)
{
	return sim_barrier(n, 60) ? 0 : -1;
}

EXP int vmigstub_sample(int pid, unsigned *pct, unsigned long long *ts_us)
{
	uint64_t ts = 0;
	if (!sim_sample((int32_t)pid, pct, &ts))
		return -1;
	*ts_us = ts;
	return 0;
}

EXP unsigned vmigstub_sample_pids(int *pids, unsigned max)
{
	return sim_sample_pids((int32_t *)pids, max);
}
