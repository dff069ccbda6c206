/*
 * vmm.c — the memory quota for the virtual memory management API
 * (cuMemCreate, cuMemMap, cuMemUnmap, cuMemRelease,
 * cuMemRetainAllocationHandle), counted the way the driver frees.
 *
 * A physical allocation made by cuMemCreate lives as long as anything refers
 * to it: its handle (cuMemCreate gives one reference, each
 * cuMemRetainAllocationHandle one more, each cuMemRelease takes one away)
 * and every mapping of it (cuMemMap adds one, cuMemUnmap removes it).  The
 * idiom of NVIDIA's guide and samples releases the handle right after
 * mapping and unmaps much later; charging back at cuMemRelease would let a
 * process hold any amount of mapped memory.  So the charge made at
 * cuMemCreate is given back only when both counts reach zero.
 *
 * Two tables, under one mutex (these calls are rare next to launches and
 * plain allocations): allocations by handle {bytes, handle refs, mapping
 * refs}, and mappings by start address {size, handle}.  cuMemUnmap(ptr,
 * size) may cover several mappings back to back: they are found by walking
 * from ptr, one mapping's end to the next one's start.  Allocations that
 * were not charged (host memory) are not recorded, and calls on handles or
 * addresses that are not recorded pass straight through.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EMPTY 0ull
#define TOMB  (~0ull)

struct alloc_rec {
	uint64_t handle;
	uint64_t bytes;
	uint32_t hrefs, mrefs;
};

struct map_rec {
	uint64_t ptr;
	uint64_t size;
	uint64_t handle;
};

/* A small open-addressing table of records whose first field is the key. */
struct table {
	void *slots;
	size_t rec, cap, used; /* record size; slots; slots not EMPTY */
};

static pthread_mutex_t vmm_mu = PTHREAD_MUTEX_INITIALIZER;
static struct table allocs = {NULL, sizeof(struct alloc_rec), 0, 0};
static struct table maps = {NULL, sizeof(struct map_rec), 0, 0};

static uint64_t *key_at(const struct table *t, size_t i)
{
	return (uint64_t *)((char *)t->slots + i * t->rec);
}

static size_t hash(uint64_t k, size_t cap)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static void *find(const struct table *t, uint64_t k)
{
	if (!t->cap || k == EMPTY || k == TOMB)
		return NULL;
	for (size_t i = hash(k, t->cap), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
		uint64_t *p = key_at(t, i);
		if (*p == k)
			return p;
		if (*p == EMPTY)
			return NULL;
	}
	return NULL;
}

static bool grow(struct table *t);

/* Insert a record (its key first); false when out of memory. */
static bool insert(struct table *t, const void *rec)
{
	uint64_t k = *(const uint64_t *)rec;
	if (k == EMPTY || k == TOMB)
		return false;
	if ((t->used + 1) * 2 > t->cap && !grow(t))
		return false;
	for (size_t i = hash(k, t->cap);; i = (i + 1) & (t->cap - 1)) {
		uint64_t *p = key_at(t, i);
		if (*p == EMPTY || *p == TOMB) {
			t->used += *p == EMPTY;
			memcpy(p, rec, t->rec);
			return true;
		}
	}
}

static bool grow(struct table *t)
{
	struct table old = *t;
	size_t cap = old.cap ? old.cap * 2 : 64;
	void *slots = calloc(cap, old.rec);
	if (!slots)
		return false;
	t->slots = slots;
	t->cap = cap;
	t->used = 0;
	for (size_t i = 0; i < old.cap; i++) {
		uint64_t *p = key_at(&old, i);
		if (*p != EMPTY && *p != TOMB)
			insert(t, p);
	}
	free(old.slots);
	return true;
}

static void erase(void *rec)
{
	*(uint64_t *)rec = TOMB;
}

/* Drop a reference; when none is left, the allocation's charge goes back. */
static void unref(struct alloc_rec *a, bool handle_ref)
{
	if (handle_ref && a->hrefs)
		a->hrefs--;
	else if (!handle_ref && a->mrefs)
		a->mrefs--;
	if (a->hrefs == 0 && a->mrefs == 0) {
		vmig__acct_unreserve(a->bytes);
		erase(a);
	}
}

void vmig__vmm_atfork_child(void)
{
	/* The parent's allocations are not the child's (as mem.c's table). */
	free(allocs.slots);
	free(maps.slots);
	allocs.slots = maps.slots = NULL;
	allocs.cap = allocs.used = maps.cap = maps.used = 0;
	pthread_mutex_init(&vmm_mu, NULL);
}

/*
 * cuMemCreate: device memory is charged before the call (a refusal touches
 * nothing), and recorded with one handle reference once the driver made it.
 */
CUresult vmig__hook_create(__typeof__(cuMemCreate) *real, SIG_CREATE_P)
{
	if (!vmig__mem_enabled() || !handle || !prop || size == 0 ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return real(SIG_CREATE_A);
	if (!vmig__mem_charge(size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = real(SIG_CREATE_A);
	if (rc != CUDA_SUCCESS) {
		vmig__acct_unreserve(size);
		return rc;
	}
	struct alloc_rec a = {*handle, size, 1, 0};
	pthread_mutex_lock(&vmm_mu);
	bool ok = insert(&allocs, &a);
	pthread_mutex_unlock(&vmm_mu);
	/* Without a record the charge stays until exit: never under-counted. */
	if (!ok)
		VMIG_LOG("VMM table full: %zu bytes stay charged", size);
	return rc;
}

CUresult vmig__hook_release(__typeof__(cuMemRelease) *real, SIG_RELEASE_P)
{
	CUresult rc = real(SIG_RELEASE_A);
	if (rc != CUDA_SUCCESS || !vmig__mem_enabled())
		return rc;
	pthread_mutex_lock(&vmm_mu);
	struct alloc_rec *a = find(&allocs, handle);
	if (a)
		unref(a, true);
	pthread_mutex_unlock(&vmm_mu);
	return rc;
}

CUresult vmig__hook_retain(__typeof__(cuMemRetainAllocationHandle) *real, SIG_RETAIN_P)
{
	CUresult rc = real(SIG_RETAIN_A);
	if (rc != CUDA_SUCCESS || !vmig__mem_enabled() || !handle)
		return rc;
	pthread_mutex_lock(&vmm_mu);
	struct alloc_rec *a = find(&allocs, *handle);
	if (a)
		a->hrefs++;
	pthread_mutex_unlock(&vmm_mu);
	return rc;
}

CUresult vmig__hook_map(__typeof__(cuMemMap) *real, SIG_MAP_P)
{
	CUresult rc = real(SIG_MAP_A);
	if (rc != CUDA_SUCCESS || !vmig__mem_enabled())
		return rc;
	pthread_mutex_lock(&vmm_mu);
	struct alloc_rec *a = find(&allocs, handle);
	struct map_rec m = {ptr, size, handle};
	if (a && insert(&maps, &m))
		a->mrefs++;
	else if (a)
		VMIG_LOG("VMM mapping table full: the mapping at 0x%llx is not followed",
			 (unsigned long long)ptr);
	pthread_mutex_unlock(&vmm_mu);
	return rc;
}

/*
 * cuMemUnmap may cover several mappings back to back; each recorded one
 * in [ptr, ptr + size) drops its reference once the driver agreed.
 */
CUresult vmig__hook_unmap(__typeof__(cuMemUnmap) *real, SIG_UNMAP_P)
{
	CUresult rc = real(SIG_UNMAP_A);
	if (rc != CUDA_SUCCESS || !vmig__mem_enabled())
		return rc;
	pthread_mutex_lock(&vmm_mu);
	uint64_t at = ptr, end = ptr + size;
	while (at < end) {
		struct map_rec *m = find(&maps, at);
		if (!m || m->size == 0)
			break;
		uint64_t next = at + m->size, h = m->handle;
		erase(m);
		struct alloc_rec *a = find(&allocs, h);
		if (a)
			unref(a, false);
		if (next <= at)
			break;
		at = next;
	}
	pthread_mutex_unlock(&vmm_mu);
	return rc;
}
