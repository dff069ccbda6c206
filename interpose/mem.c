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
 * VMM allocations count their size when located on a device, until their
 * last handle and mapping are gone (vmm.c); arrays count an
 * estimate from their descriptor (array_bytes); graph memory nodes are
 * checked against the room left but not counted (docs/interpose.md).
 *
 * The hooks are written as a few sequences, each once: ALLOC_HOOK (charge,
 * forward, remember or give back), FREE_HOOK, PITCH_HOOK and MEMINFO_HOOK,
 * each expanded into vmig__hook_<handler> for every entry point it serves.
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

enum kind { KIND_DEV = 1, KIND_ARRAY = 3, KIND_MIPMAP = 4 };

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

bool vmig__mem_enabled(void)
{
	return mem_on;
}

bool vmig__mem_charge(uint64_t n)
{
	return charge(n);
}

/*
 * The sequence every allocation hook runs, written once: when the quota has
 * no say (pass), the call goes straight through; otherwise the bytes are
 * charged first (a refusal touches nothing and never reaches the driver),
 * the call is forwarded, and then what the new allocation (key, read only
 * after the driver succeeded) was charged is remembered, or the charge is
 * given back if the driver failed.
 */
#define ALLOC_HOOK(handler, fn, SIG, pass, bytes_expr, k, key)                                     \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		if (!mem_on || (pass))                                                             \
			return real(SIG##_A);                                                      \
		uint64_t n = (bytes_expr);                                                         \
		if (!charge(n))                                                                    \
			return CUDA_ERROR_OUT_OF_MEMORY;                                           \
		CUresult rc = real(SIG##_A);                                                       \
		if (rc != CUDA_SUCCESS)                                                            \
			vmig__acct_unreserve(n);                                                   \
		else                                                                               \
			remember((uint64_t)(key), k, n);                                           \
		return rc;                                                                         \
	}

/*
 * The sequence every free runs: forget the allocation first (once the driver
 * frees it, another thread may be handed the same address or handle), then
 * give its charge back if the driver agrees, or put it back if not.
 */
#define FREE_HOOK(handler, fn, SIG, key_expr, k)                                                   \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		uint64_t key = (uint64_t)(key_expr);                                               \
		if (!mem_on || key == 0)                                                           \
			return real(SIG##_A);                                                      \
		uint64_t n = table_take(key, k);                                                   \
		return give_back(key, k, real(SIG##_A), n);                                        \
	}

/* Device memory, plain, managed and stream-ordered: the requested bytes. */
#define DEV_ALLOC_HOOK(handler, fn, SIG)                                                           \
	ALLOC_HOOK(handler, fn, SIG, !dptr || bytesize == 0, bytesize, KIND_DEV, *dptr)

DEV_ALLOC_HOOK(alloc, cuMemAlloc_v2, SIG_ALLOC)
DEV_ALLOC_HOOK(alloc1, cuMemAlloc, SIG_ALLOC1)
DEV_ALLOC_HOOK(managed, cuMemAllocManaged, SIG_MANAGED)
DEV_ALLOC_HOOK(async, cuMemAllocAsync, SIG_ASYNC)
DEV_ALLOC_HOOK(poolasync, cuMemAllocFromPoolAsync, SIG_POOLASYNC)

FREE_HOOK(free, cuMemFree_v2, SIG_FREE, dptr, KIND_DEV)
FREE_HOOK(free1, cuMemFree, SIG_FREE1, dptr, KIND_DEV)
FREE_HOOK(freeasync, cuMemFreeAsync, SIG_FREEASYNC, dptr, KIND_DEV)

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

/*
 * The two pitched entry points differ only in the widths of the address and
 * the pitch, and in the free that undoes an allocation refused after the
 * fact (free_fn, looked up in the real driver).
 */
#define PITCH_HOOK(handler, fn, SIG, ptr_t, pitch_t, free_fn)                                      \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		if (!mem_on || !dptr || !pPitch || WidthInBytes == 0 || Height == 0)               \
			return real(SIG##_A);                                                      \
		uint64_t est = pitch_estimate(WidthInBytes, Height);                               \
		if (!charge(est))                                                                  \
			return CUDA_ERROR_OUT_OF_MEMORY;                                           \
		ptr_t p = 0;                                                                       \
		pitch_t pitch = 0;                                                                 \
		CUresult rc = real(&p, &pitch, WidthInBytes, Height, ElementSizeBytes);            \
		if (rc != CUDA_SUCCESS) {                                                          \
			vmig__acct_unreserve(est);                                                 \
			return rc;                                                                 \
		}                                                                                  \
		uint64_t bytes = (uint64_t)pitch * Height;                                         \
		if (!settle(est, bytes)) {                                                         \
			__typeof__(free_fn) *fr = (__typeof__(free_fn) *)vmig__real_sym(#free_fn); \
			if (fr)                                                                    \
				fr(p);                                                             \
			return CUDA_ERROR_OUT_OF_MEMORY;                                           \
		}                                                                                  \
		remember(p, KIND_DEV, bytes);                                                      \
		*dptr = p;                                                                         \
		*pPitch = pitch;                                                                   \
		return rc;                                                                         \
	}

PITCH_HOOK(pitch, cuMemAllocPitch_v2, SIG_PITCH, CUdeviceptr, size_t, cuMemFree_v2)
PITCH_HOOK(pitch1, cuMemAllocPitch, SIG_PITCH1, CUdeviceptr_v1, unsigned int, cuMemFree)

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

/* Arrays and mipmapped arrays: the estimate from the descriptor. */
#define ARRAY_HOOK(handler, fn, SIG, depth)                                                        \
	ALLOC_HOOK(handler, fn, SIG, !pHandle || !pAllocateArray,                                  \
		   array_bytes(pAllocateArray->Width, pAllocateArray->Height, depth,               \
			       pAllocateArray->Format, pAllocateArray->NumChannels),               \
		   KIND_ARRAY, (uintptr_t)*pHandle)

ARRAY_HOOK(array, cuArrayCreate_v2, SIG_ARRAY, 0)
ARRAY_HOOK(array1, cuArrayCreate, SIG_ARRAY1, 0)
ARRAY_HOOK(array3d, cuArray3DCreate_v2, SIG_ARRAY3D, pAllocateArray->Depth)
ARRAY_HOOK(array3d1, cuArray3DCreate, SIG_ARRAY3D1, pAllocateArray->Depth)
FREE_HOOK(arraydestroy, cuArrayDestroy, SIG_ARRAYDESTROY, (uintptr_t)hArray, KIND_ARRAY)

ALLOC_HOOK(mipmap, cuMipmappedArrayCreate, SIG_MIPMAP, !pHandle || !pMipmappedArrayDesc,
	   mipmap_bytes(pMipmappedArrayDesc, numMipmapLevels), KIND_MIPMAP, (uintptr_t)*pHandle)
FREE_HOOK(mipmapdestroy, cuMipmappedArrayDestroy, SIG_MIPMAPDESTROY, (uintptr_t)hMipmappedArray,
	  KIND_MIPMAP)

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

/* cuMemGetInfo(_v2): the instance's view, in the entry point's width (T). */
#define MEMINFO_HOOK(handler, fn, SIG, T)                                                          \
	CUresult vmig__hook_##handler(__typeof__(fn) *real, SIG##_P)                               \
	{                                                                                          \
		if (!mem_on)                                                                       \
			return real(SIG##_A);                                                      \
		T f = 0, t = 0;                                                                    \
		CUresult rc = real(&f, &t);                                                        \
		if (rc != CUDA_SUCCESS)                                                            \
			return rc;                                                                 \
		uint64_t f64 = f, t64 = t;                                                         \
		instance_view(&f64, &t64);                                                         \
		if (pfree)                                                                         \
			*pfree = (T)f64;                                                           \
		if (ptotal)                                                                        \
			*ptotal = (T)t64;                                                          \
		return CUDA_SUCCESS;                                                               \
	}

MEMINFO_HOOK(meminfo, cuMemGetInfo_v2, SIG_MEMINFO, size_t)
MEMINFO_HOOK(meminfo1, cuMemGetInfo, SIG_MEMINFO1, unsigned int)

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
