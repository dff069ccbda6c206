/*
 * mem.c — the memory quota.  Every allocation path charges its real size to
 * the instance before the forwarded call (acct.c: one atomic add and a sum)
 * and takes it back if the driver fails; a refusal is
 * CUDA_ERROR_OUT_OF_MEMORY with nothing else touched.  What was charged for
 * each live allocation sits in a process-local lock-free hash table keyed by
 * (address or handle, kind), so frees give back exactly what was charged.
 * cuMemGetInfo and cuDeviceTotalMem report the instance.
 *
 * Sizes: cuMemAlloc*, managed and stream-ordered allocations count the
 * requested bytes; pitched allocations count pitch x height as returned;
 * VMM handles count their size when located on a device; arrays count an
 * estimate from their descriptor (array_bytes); graph memory nodes are
 * checked against the room left but not counted (docs/interpose.md).
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

enum kind { KIND_DEV = 1, KIND_VMM = 2, KIND_ARRAY = 3, KIND_MIPMAP = 4 };

#define TABLE_BITS 20
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBE  4096
#define KEY_EMPTY  0ull
#define KEY_TOMB   (~0ull)

struct entry {
	_Atomic uint64_t key;
	_Atomic uint64_t val; /* bytes << 3 | kind */
};

static bool mem_on;
static uint64_t mem_limit;
static struct entry *table;
static _Atomic uint64_t last_reclaim_ns;

void vmig__mem_init(const struct vmig__config *c)
{
	if (!c->active || !c->mem_limited || !vmig__acct())
		return;
	/* 16 MiB of address space; pages appear only as entries are written. */
	void *p = mmap(NULL, sizeof(struct entry) * TABLE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		VMIG_LOG("no memory for the allocation table: no memory limit");
		return;
	}
	table = p;
	mem_limit = c->mem_limit;
	mem_on = true;
}

void vmig__mem_atfork_child(void)
{
	/* The parent's allocations are not the child's: start empty. */
	if (table)
		madvise(table, sizeof(struct entry) * TABLE_SIZE, MADV_DONTNEED);
}

static uint32_t slot_of(uint64_t key)
{
	return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS));
}

static bool table_put(uint64_t key, enum kind k, uint64_t bytes)
{
	if (key == KEY_EMPTY || key == KEY_TOMB)
		return false;
	uint32_t h = slot_of(key);
	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct entry *e = &table[(h + i) & (TABLE_SIZE - 1)];
		uint64_t cur = atomic_load(&e->key);
		if (cur != KEY_EMPTY && cur != KEY_TOMB)
			continue;
		if (atomic_compare_exchange_strong(&e->key, &cur, key)) {
			atomic_store(&e->val, bytes << 3 | (uint64_t)k);
			return true;
		}
	}
	return false;
}

/* Remove (key, kind); returns the bytes it was charged, 0 if unknown. */
static uint64_t table_take(uint64_t key, enum kind k)
{
	uint32_t h = slot_of(key);
	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct entry *e = &table[(h + i) & (TABLE_SIZE - 1)];
		uint64_t cur = atomic_load(&e->key);
		if (cur == KEY_EMPTY)
			return 0;
		uint64_t v = atomic_load(&e->val);
		if (cur != key || (v & 7) != (uint64_t)k)
			continue;
		if (atomic_compare_exchange_strong(&e->key, &cur, KEY_TOMB))
			return v >> 3;
	}
	return 0;
}

/* After a successful allocation: remember what it was charged. */
static void remember(uint64_t key, enum kind k, uint64_t bytes)
{
	/* A full table keeps the charge (never under-counts) until exit. */
	if (!table_put(key, k, bytes))
		VMIG_LOG("allocation table full: %llu bytes stay charged",
			 (unsigned long long)bytes);
}

/* Before a free: forget the allocation; give the bytes back once the driver agrees. */
static CUresult give_back(uint64_t key, enum kind k, CUresult rc, uint64_t bytes)
{
	if (rc == CUDA_SUCCESS)
		vmig__acct_unreserve(bytes);
	else if (bytes)
		table_put(key, k, bytes);
	return rc;
}

static bool charge(uint64_t n)
{
	return vmig__acct_reserve(n, mem_limit);
}

CUresult vmig__hook_alloc(__typeof__(cuMemAlloc_v2) *real, SIG_ALLOC_P)
{
	if (!mem_on || !dptr || bytesize == 0)
		return real(dptr, bytesize);
	if (!charge(bytesize))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(dptr, bytesize);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(bytesize);
	else
		remember(*dptr, KIND_DEV, bytesize);
	return rc;
}

CUresult vmig__hook_alloc1(__typeof__(cuMemAlloc) *real, SIG_ALLOC1_P)
{
	if (!mem_on || !dptr || bytesize == 0)
		return real(dptr, bytesize);
	if (!charge(bytesize))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(dptr, bytesize);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(bytesize);
	else
		remember(*dptr, KIND_DEV, bytesize);
	return rc;
}

CUresult vmig__hook_managed(__typeof__(cuMemAllocManaged) *real, SIG_MANAGED_P)
{
	if (!mem_on || !dptr || bytesize == 0)
		return real(dptr, bytesize, flags);
	if (!charge(bytesize))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(dptr, bytesize, flags);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(bytesize);
	else
		remember(*dptr, KIND_DEV, bytesize);
	return rc;
}

CUresult vmig__hook_async(__typeof__(cuMemAllocAsync) *real, SIG_ASYNC_P)
{
	if (!mem_on || !dptr || bytesize == 0)
		return real(dptr, bytesize, hStream);
	if (!charge(bytesize))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(dptr, bytesize, hStream);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(bytesize);
	else
		remember(*dptr, KIND_DEV, bytesize);
	return rc;
}

CUresult vmig__hook_poolasync(__typeof__(cuMemAllocFromPoolAsync) *real, SIG_POOLASYNC_P)
{
	if (!mem_on || !dptr || bytesize == 0)
		return real(dptr, bytesize, pool, hStream);
	if (!charge(bytesize))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(dptr, bytesize, pool, hStream);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(bytesize);
	else
		remember(*dptr, KIND_DEV, bytesize);
	return rc;
}

/*
 * Pitched allocations: the driver picks the pitch, so charge a worst case
 * first (rows rounded up to 512 bytes), then settle on pitch x height.
 */
static uint64_t pitch_estimate(uint64_t width, uint64_t height)
{
	uint64_t row = (width + 511) & ~511ull;
	if (row < width || (height && row > UINT64_MAX / height))
		return UINT64_MAX;
	return row * height;
}

/* Settle a pitched charge from est to real; false: over quota (caller frees). */
static bool settle(uint64_t est, uint64_t real_bytes)
{
	if (real_bytes <= est) {
		vmig__acct_unreserve(est - real_bytes);
		return true;
	}
	if (charge(real_bytes - est))
		return true;
	vmig__acct_unreserve(est);
	return false;
}

CUresult vmig__hook_pitch(__typeof__(cuMemAllocPitch_v2) *real, SIG_PITCH_P)
{
	if (!mem_on || !dptr || !pPitch || WidthInBytes == 0 || Height == 0)
		return real(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
	uint64_t est = pitch_estimate(WidthInBytes, Height);
	if (!charge(est))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUdeviceptr p = 0;
	size_t pitch = 0;
	CUresult rc = real(&p, &pitch, WidthInBytes, Height, ElementSizeBytes);
	if (rc != CUDA_SUCCESS) {
		vmig__acct_unreserve(est);
		return rc;
	}
	uint64_t bytes = (uint64_t)pitch * Height;
	if (!settle(est, bytes)) {
		__typeof__(cuMemFree_v2) *fr =
		    (__typeof__(cuMemFree_v2) *)vmig__real_sym("cuMemFree_v2");
		if (fr)
			fr(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	remember(p, KIND_DEV, bytes);
	*dptr = p;
	*pPitch = pitch;
	return rc;
}

CUresult vmig__hook_pitch1(__typeof__(cuMemAllocPitch) *real, SIG_PITCH1_P)
{
	if (!mem_on || !dptr || !pPitch || WidthInBytes == 0 || Height == 0)
		return real(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes);
	uint64_t est = pitch_estimate(WidthInBytes, Height);
	if (!charge(est))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUdeviceptr_v1 p = 0;
	unsigned int pitch = 0;
	CUresult rc = real(&p, &pitch, WidthInBytes, Height, ElementSizeBytes);
	if (rc != CUDA_SUCCESS) {
		vmig__acct_unreserve(est);
		return rc;
	}
	uint64_t bytes = (uint64_t)pitch * Height;
	if (!settle(est, bytes)) {
		__typeof__(cuMemFree) *fr = (__typeof__(cuMemFree) *)vmig__real_sym("cuMemFree");
		if (fr)
			fr(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	remember(p, KIND_DEV, bytes);
	*dptr = p;
	*pPitch = pitch;
	return rc;
}

CUresult vmig__hook_free(__typeof__(cuMemFree_v2) *real, SIG_FREE_P)
{
	if (!mem_on || dptr == 0)
		return real(dptr);
	/* Forget first: once the driver frees, another thread may get this address. */
	uint64_t n = table_take(dptr, KIND_DEV);
	return give_back(dptr, KIND_DEV, real(dptr), n);
}

CUresult vmig__hook_free1(__typeof__(cuMemFree) *real, SIG_FREE1_P)
{
	if (!mem_on || dptr == 0)
		return real(dptr);
	uint64_t n = table_take(dptr, KIND_DEV);
	return give_back(dptr, KIND_DEV, real(dptr), n);
}

CUresult vmig__hook_freeasync(__typeof__(cuMemFreeAsync) *real, SIG_FREEASYNC_P)
{
	if (!mem_on || dptr == 0)
		return real(dptr, hStream);
	uint64_t n = table_take(dptr, KIND_DEV);
	return give_back(dptr, KIND_DEV, real(dptr, hStream), n);
}

CUresult vmig__hook_create(__typeof__(cuMemCreate) *real, SIG_CREATE_P)
{
	if (!mem_on || !handle || !prop || size == 0 ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return real(handle, size, prop, flags);
	if (!charge(size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(handle, size, prop, flags);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(size);
	else
		remember(*handle, KIND_VMM, size);
	return rc;
}

CUresult vmig__hook_release(__typeof__(cuMemRelease) *real, SIG_RELEASE_P)
{
	if (!mem_on)
		return real(handle);
	uint64_t n = table_take(handle, KIND_VMM);
	return give_back(handle, KIND_VMM, real(handle), n);
}

/* ---- Arrays --------------------------------------------------------------- */

static uint64_t format_bytes(CUarray_format f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
	case CU_AD_FORMAT_SIGNED_INT8:
		return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2;
	default:
		return 4; /* 32-bit formats; also the bound used for newer formats */
	}
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

/*
 * An array's footprint from its descriptor: width x height x depth x
 * channels x element size.  Zero height or depth means that dimension is
 * absent; for layered arrays depth counts layers, and for cubemaps it
 * already counts the 6 faces (depth is 6, or 6 x layers).
 */
static uint64_t array_bytes(uint64_t w, uint64_t h, uint64_t d, CUarray_format f, unsigned channels)
{
	uint64_t n = mul_sat(format_bytes(f), channels ? channels : 1);
	n = mul_sat(n, w ? w : 1);
	n = mul_sat(n, h ? h : 1);
	return mul_sat(n, d ? d : 1);
}

/* Mipmap levels halve each dimension down to 1; sum the levels. */
static uint64_t mipmap_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels)
{
	uint64_t w = d->Width, h = d->Height, dep = d->Depth, sum = 0;
	bool layered = d->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP);
	for (unsigned i = 0; i < (levels ? levels : 1); i++) {
		uint64_t b = array_bytes(w, h, dep, d->Format, d->NumChannels);
		sum = sum + b < sum ? UINT64_MAX : sum + b;
		w = w > 1 ? w / 2 : 1;
		h = h > 1 ? h / 2 : h;
		if (!layered)
			dep = dep > 1 ? dep / 2 : dep;
	}
	return sum;
}

#define ARRAY_HOOK(handler, fn, DESC, SIGP, bytes_expr)                                            \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIGP)                                  \
	{                                                                                          \
		if (!mem_on || !pHandle || !pAllocateArray)                                        \
			return real(pHandle, pAllocateArray);                                      \
		const DESC *d = pAllocateArray;                                                    \
		uint64_t n = (bytes_expr);                                                         \
		if (!charge(n))                                                                    \
			return CUDA_ERROR_OUT_OF_MEMORY;                                           \
		CUresult rc = real(pHandle, pAllocateArray);                                       \
		if (rc != CUDA_SUCCESS)                                                            \
			vmig__acct_unreserve(n);                                                   \
		else                                                                               \
			remember((uint64_t)(uintptr_t)*pHandle, KIND_ARRAY, n);                    \
		return rc;                                                                         \
	}

ARRAY_HOOK(array, cuArrayCreate_v2, CUDA_ARRAY_DESCRIPTOR, SIG_ARRAY_P,
	   array_bytes(d->Width, d->Height, 0, d->Format, d->NumChannels))
ARRAY_HOOK(array1, cuArrayCreate, CUDA_ARRAY_DESCRIPTOR_v1, SIG_ARRAY1_P,
	   array_bytes(d->Width, d->Height, 0, d->Format, d->NumChannels))
ARRAY_HOOK(array3d, cuArray3DCreate_v2, CUDA_ARRAY3D_DESCRIPTOR, SIG_ARRAY3D_P,
	   array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels))
ARRAY_HOOK(array3d1, cuArray3DCreate, CUDA_ARRAY3D_DESCRIPTOR_v1, SIG_ARRAY3D1_P,
	   array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels))

CUresult vmig__hook_arraydestroy(__typeof__(cuArrayDestroy) *real, SIG_ARRAYDESTROY_P)
{
	if (!mem_on || !hArray)
		return real(hArray);
	uint64_t key = (uint64_t)(uintptr_t)hArray;
	uint64_t n = table_take(key, KIND_ARRAY);
	return give_back(key, KIND_ARRAY, real(hArray), n);
}

CUresult vmig__hook_mipmap(__typeof__(cuMipmappedArrayCreate) *real, SIG_MIPMAP_P)
{
	if (!mem_on || !pHandle || !pMipmappedArrayDesc)
		return real(pHandle, pMipmappedArrayDesc, numMipmapLevels);
	uint64_t n = mipmap_bytes(pMipmappedArrayDesc, numMipmapLevels);
	if (!charge(n))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(pHandle, pMipmappedArrayDesc, numMipmapLevels);
	if (rc != CUDA_SUCCESS)
		vmig__acct_unreserve(n);
	else
		remember((uint64_t)(uintptr_t)*pHandle, KIND_MIPMAP, n);
	return rc;
}

CUresult vmig__hook_mipmapdestroy(__typeof__(cuMipmappedArrayDestroy) *real, SIG_MIPMAPDESTROY_P)
{
	if (!mem_on || !hMipmappedArray)
		return real(hMipmappedArray);
	uint64_t key = (uint64_t)(uintptr_t)hMipmappedArray;
	uint64_t n = table_take(key, KIND_MIPMAP);
	return give_back(key, KIND_MIPMAP, real(hMipmappedArray), n);
}

/*
 * Graph memory nodes become memory only when the graph runs, inside the
 * driver, where we cannot see them.  What we can do: refuse a node that
 * could never fit in the room the instance has left.
 */
CUresult vmig__hook_memnode(__typeof__(cuGraphAddMemAllocNode) *real, SIG_MEMNODE_P)
{
	if (mem_on && nodeParams) {
		uint64_t used = vmig__acct_used();
		uint64_t room = used >= mem_limit ? 0 : mem_limit - used;
		if (nodeParams->bytesize > room)
			return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return real(phGraphNode, hGraph, dependencies, numDependencies, nodeParams);
}

/* ---- Capacity reports ------------------------------------------------------ */

/* Clamp the driver's numbers to the instance: total = quota, free = quota - used. */
static void instance_view(uint64_t *free_b, uint64_t *total_b)
{
	uint64_t now = vmig__now_ns(), last = atomic_load(&last_reclaim_ns);
	/* Let freed memory of dead processes show, at most every 100 ms. */
	if (now - last > 100000000ull &&
	    atomic_compare_exchange_strong(&last_reclaim_ns, &last, now))
		vmig__acct_reclaim();
	uint64_t used = vmig__acct_used();
	uint64_t total = *total_b < mem_limit ? *total_b : mem_limit;
	uint64_t room = used >= total ? 0 : total - used;
	*total_b = total;
	*free_b = *free_b < room ? *free_b : room;
}

CUresult vmig__hook_meminfo(__typeof__(cuMemGetInfo_v2) *real, SIG_MEMINFO_P)
{
	if (!mem_on)
		return real(pfree, ptotal);
	size_t f = 0, t = 0;
	CUresult rc = real(&f, &t);
	if (rc != CUDA_SUCCESS)
		return rc;
	uint64_t f64 = f, t64 = t;
	instance_view(&f64, &t64);
	if (pfree)
		*pfree = (size_t)f64;
	if (ptotal)
		*ptotal = (size_t)t64;
	return CUDA_SUCCESS;
}

CUresult vmig__hook_meminfo1(__typeof__(cuMemGetInfo) *real, SIG_MEMINFO1_P)
{
	if (!mem_on)
		return real(pfree, ptotal);
	unsigned int f = 0, t = 0;
	CUresult rc = real(&f, &t);
	if (rc != CUDA_SUCCESS)
		return rc;
	uint64_t f64 = f, t64 = t;
	instance_view(&f64, &t64);
	if (pfree)
		*pfree = (unsigned int)f64;
	if (ptotal)
		*ptotal = (unsigned int)t64;
	return CUDA_SUCCESS;
}

CUresult vmig__hook_totalmem(__typeof__(cuDeviceTotalMem_v2) *real, SIG_TOTALMEM_P)
{
	CUresult rc = real(bytes, dev);
	if (mem_on && rc == CUDA_SUCCESS && bytes && *bytes > mem_limit)
		*bytes = (size_t)mem_limit;
	return rc;
}

CUresult vmig__hook_totalmem1(__typeof__(cuDeviceTotalMem) *real, SIG_TOTALMEM1_P)
{
	CUresult rc = real(bytes, dev);
	if (mem_on && rc == CUDA_SUCCESS && bytes && *bytes > mem_limit)
		*bytes = (unsigned int)mem_limit;
	return rc;
}
