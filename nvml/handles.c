/*
 * handles.c — the handles of the simulated libnvidia-ml.so.1 and the tables
 * behind them: the reserved token range and the serials that name
 * instances, the slot tables that follow the cached state, the hot table
 * the lock-free queries read, and the validation of every handle a client
 * passes in.
 *
 * Everything here that writes runs under the library's lock; the writes to
 * the token and hot tables happen between vmig__nv_hot_begin and
 * vmig__nv_hot_end, so that a lock-free reader either sees a table that
 * was whole at some instant or notices that it changed (nv.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "nv.h"

#define L vmig__nv
#define H vmig__nv_hot

struct nv_hot vmig__nv_hot;
uintptr_t vmig__nv_token_base;
uint64_t vmig__nv_token_count;

/*
 * Reserve the token range once, when the library is loaded: 32 GiB of
 * address space that is never mapped (PROT_NONE, no memory is committed),
 * so that no other object of the process can ever lie there and a token can
 * never be mistaken for anything else.  Where the address space is limited
 * (ulimit -v) a smaller range is taken, and serials wrap sooner.
 */
__attribute__((constructor)) static void reserve_tokens(void)
{
	for (unsigned bits = 35; bits >= 16; bits--) {
		size_t size = (size_t)1 << bits;
		void *p =
		    mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED) {
			vmig__nv_token_base = (uintptr_t)p;
			vmig__nv_token_count = size / 8;
			return;
		}
	}
}

/*
 * Give the range back when the library is unloaded (dlclose, as the nvml
 * backend does), so that loading it again and again does not use up the
 * address space.  Tokens are never dereferenced, so this is safe even if a
 * thread of an exiting process is still inside a call.
 */
__attribute__((destructor)) static void release_tokens(void)
{
	if (vmig__nv_token_base)
		munmap((void *)vmig__nv_token_base, vmig__nv_token_count * 8);
}

/* ------------------------------------------------------------------------ */
/* The hot table's sequence counter                                          */
/* ------------------------------------------------------------------------ */

/* Every store that follows releases, so a reader that sees one of them sees the odd counter. */
void vmig__nv_hot_begin(void)
{
	__atomic_store_n(&H.seq, H.seq + 1, __ATOMIC_RELAXED);
}

void vmig__nv_hot_end(void)
{
	__atomic_store_n(&H.seq, H.seq + 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------------ */
/* Serials                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The next serial whose table entry is free.  Live handles fill under half
 * the table, so the search is short; skipping live entries also keeps a
 * wrapped serial from ever naming two live instances.
 */
static uint32_t new_serial(unsigned kind, unsigned gpu, unsigned gi, unsigned ci)
{
	uint32_t s = L.last_serial;
	do {
		s = (uint64_t)s + 1 >= vmig__nv_token_count ? 1 : s + 1;
	} while (NV_LD(H.tab[s & (NV_TAB_SIZE - 1)]) != 0);
	L.last_serial = s;
	NV_ST(H.tab[s & (NV_TAB_SIZE - 1)], nv_entry(s, kind, gpu, gi, ci));
	return s;
}

static void drop_serial(uint32_t *serial)
{
	if (*serial) {
		NV_ST(H.tab[*serial & (NV_TAB_SIZE - 1)], 0);
		*serial = 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Slots: the handle tables follow the cached state                          */
/* ------------------------------------------------------------------------ */

static void kill_ci(struct nv_ci_slot *s)
{
	drop_serial(&s->serial);
	drop_serial(&s->mig_serial);
}

/* Writes only what is live, so the untouched parts of the tables stay zero pages. */
static void kill_gi(struct nv_gi_slot *s)
{
	drop_serial(&s->serial);
	for (unsigned c = 0; c < NV_MAX_CI_ID; c++)
		kill_ci(&s->ci[c]);
}

static void sync_ci(const struct vmig_gpu_state *g, unsigned gpu, unsigned gi_id,
		    struct nv_gi_slot *gs, unsigned ci_id, const struct vmig_ci_state *c)
{
	struct nv_ci_slot *s = &gs->ci[ci_id];
	if (!c) {
		kill_ci(s);
		return;
	}
	if (s->serial && s->gi_serial == gs->serial && s->profile_id == c->profile_id &&
	    s->start == c->start && s->size == c->size)
		return;
	/* A new instance in this slot: new serials, so that old handles stay refused. */
	kill_ci(s);
	s->serial = new_serial(NV_CI, gpu, gi_id, ci_id);
	s->mig_serial = new_serial(NV_MIG, gpu, gi_id, ci_id);
	s->gi_serial = gs->serial;
	s->profile_id = c->profile_id;
	s->start = c->start;
	s->size = c->size;
	vmig_mig_uuid(g->uuid, gi_id, ci_id, s->uuid);
}

static void sync_gi(struct vmig_gpu_state *g, unsigned gpu, unsigned gi_id)
{
	struct nv_gi_slot *s = &L.gpu[gpu].gi[gi_id];
	struct vmig_gi_state *gi = vmig_gpu_find_gi(g, gi_id);
	if (!gi) {
		kill_gi(s);
		return;
	}
	if (!s->serial || s->profile_id != gi->profile_id || s->start != gi->start ||
	    s->size != gi->size) {
		drop_serial(&s->serial);
		s->serial = new_serial(NV_GI, gpu, gi_id, 0);
		s->profile_id = gi->profile_id;
		s->start = gi->start;
		s->size = gi->size;
	}
	for (unsigned c = 0; c < NV_MAX_CI_ID; c++)
		sync_ci(g, gpu, gi_id, s, c, vmig_gi_find_ci(gi, c));
}

static void forget_gpu(struct nv_gpu_slot *s)
{
	for (unsigned gi = 0; gi < NV_MAX_GI_ID; gi++)
		kill_gi(&s->gi[gi]);
	s->nmig = 0;
	s->uuid[0] = 0;
}

static void sync_gpu(unsigned i)
{
	struct nv_gpu_slot *s = &L.gpu[i];
	struct vmig_gpu_state *g = i < L.st->ngpu ? &L.st->gpu[i] : NULL;
	if (!g) {
		if (s->uuid[0] || s->nmig)
			forget_gpu(s);
		return;
	}
	if (strcmp(s->uuid, g->uuid) != 0) {
		/* Another GPU at this index: nothing of the old one survives. */
		forget_gpu(s);
		snprintf(s->uuid, sizeof(s->uuid), "%s", g->uuid);
	}
	s->nmig = 0;
	for (unsigned gi = 0; gi < NV_MAX_GI_ID; gi++) {
		sync_gi(g, i, gi);
		for (unsigned c = 0; c < NV_MAX_CI_ID; c++) {
			if (!s->gi[gi].ci[c].serial)
				continue;
			/* The loop bounds keep both IDs within a byte. */
			_Static_assert(NV_MAX_GI_ID <= 256 && NV_MAX_CI_ID <= 256,
				       "IDs fit uint8_t");
			s->mig_gi[s->nmig] = (uint8_t)gi;
			s->mig_ci[s->nmig] = (uint8_t)c;
			s->nmig++;
		}
	}
}

/*
 * The GI handles of a GPU grouped by profile: for each profile ID (the
 * state lists GIs by ID) its handles in GI ID order, as GetGpuInstances
 * answers, so that the lock-free reader copies one run.
 */
static void publish_gis(const struct vmig_gpu_state *g, const struct nv_gpu_slot *s,
			struct nv_hot_gpu *h)
{
	bool on = nv_mig_on(g);
	unsigned n = 0;
	for (unsigned p = 0; p < 64; p++) {
		unsigned first = n;
		for (unsigned k = 0; k < g->ngi; k++) {
			const struct vmig_gi_state *gi = &g->gi[k];
			if (gi->profile_id != p)
				continue;
			const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, p);
			if (gi->id >= NV_MAX_GI_ID || !gp || n >= NV_MAX_GI_ID)
				continue;
			NV_ST(h->gi[n], (uintptr_t)nv_token(s->gi[gi->id].serial));
			NV_ST(h->gi_mem[gi->id], gp->mem_mib);
			n++;
		}
		bool ok = on && vmig_gi_profile_by_id(g->model, p);
		NV_ST(h->gi_span[p], (uint16_t)(ok ? first | (n - first) << 8 | NV_SPAN_OK : 0));
	}
}

/* The hot table's view of one GPU, from the cached state and the slots. */
static void publish_gpu(unsigned i)
{
	const struct vmig_gpu_state *g = &L.st->gpu[i];
	const struct vmig_model *m = g->model;
	const struct nv_gpu_slot *s = &L.gpu[i];
	struct nv_hot_gpu *h = &H.gpu[i];
	bool capable = m->flags & VMIG_MF_MIG;
	NV_ST(h->mem_mib, m->mem_mib);
	NV_ST(h->mig_mode, (capable ? NV_MODE_CAPABLE : 0u) | (g->mig_current & 0xff) |
			       (g->mig_pending & 0xff) << 8);
	NV_ST(h->max_mig, nv_max_mig(g));
	for (unsigned k = 0; k < s->nmig; k++)
		NV_ST(h->mig_serial[k], s->gi[s->mig_gi[k]].ci[s->mig_ci[k]].mig_serial);
	NV_ST(h->nmig, s->nmig);
	publish_gis(g, s, h);
}

/*
 * Bind a handle to every GPU of the state: the one bound to its UUID
 * before, else a new one (a slot never bound, else the first whose GPU is
 * gone: after NV_MAX_DEV_HANDLES GPUs have come and gone, an old handle can
 * name a new GPU again).  Handles whose GPU is not in the state are lost.
 */
static void bind_handles(void)
{
	bool used[NV_MAX_DEV_HANDLES] = {false};
	int slot[VMIG_MAX_GPUS];
	for (unsigned k = 0; k < NV_MAX_DEV_HANDLES; k++)
		NV_ST(L.dev[k].index, NV_LOST);
	/* First the GPUs that have a handle already, so that none of theirs is taken. */
	for (unsigned i = 0; i < L.st->ngpu; i++) {
		slot[i] = -1;
		for (unsigned k = 0; k < NV_MAX_DEV_HANDLES && slot[i] < 0; k++)
			if (!used[k] && L.dev[k].uuid[0] &&
			    strcmp(L.dev[k].uuid, L.st->gpu[i].uuid) == 0) {
				slot[i] = (int)k;
				used[k] = true;
			}
	}
	/* Then the new ones: a slot never bound, else one whose GPU is gone. */
	for (unsigned i = 0; i < L.st->ngpu; i++) {
		for (int pass = 0; pass < 2 && slot[i] < 0; pass++)
			for (unsigned k = 0; k < NV_MAX_DEV_HANDLES && slot[i] < 0; k++)
				if (!used[k] && (pass == 1 || !L.dev[k].uuid[0])) {
					slot[i] = (int)k;
					used[k] = true;
					snprintf(L.dev[k].uuid, sizeof(L.dev[k].uuid), "%s",
						 L.st->gpu[i].uuid);
				}
		NV_ST(L.dev[slot[i]].index, i);
		NV_ST(L.dev_of[i], (uint16_t)slot[i]);
	}
}

void vmig__nv_sync(void)
{
	vmig__nv_hot_begin();
	bind_handles();
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++)
		sync_gpu(i);
	for (unsigned i = 0; i < L.st->ngpu; i++)
		publish_gpu(i);
	NV_ST(H.ngpu, L.st->ngpu);
	NV_ST(H.probe, L.probe);
	NV_ST(H.generation, L.probe ? L.generation : 0);
	vmig__nv_hot_end();
}

void vmig__nv_forget(void)
{
	vmig__nv_hot_begin();
	NV_ST(H.generation, 0);
	NV_ST(H.ngpu, 0u);
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++)
		forget_gpu(&L.gpu[i]);
	vmig__nv_hot_end();
}

/* ------------------------------------------------------------------------ */
/* Validation (lock held)                                                    */
/* ------------------------------------------------------------------------ */

static nvmlReturn_t fill_gpu(unsigned i, struct nv_ref *ref)
{
	if (i >= L.st->ngpu)
		return NVML_ERROR_INVALID_ARGUMENT;
	ref->index = i;
	ref->g = &L.st->gpu[i];
	ref->m = ref->g->model;
	ref->dev = nv_dev(i);
	return NVML_SUCCESS;
}

/* Fill the GI part of ref; the cached state must hold the GI. */
static nvmlReturn_t fill_gi(unsigned gi_id, struct nv_ref *ref)
{
	ref->gis = &L.gpu[ref->index].gi[gi_id];
	ref->gi = vmig_gpu_find_gi(ref->g, gi_id);
	ref->gp = ref->gi ? vmig_gi_profile_by_id(ref->m, ref->gi->profile_id) : NULL;
	return ref->gp ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

static nvmlReturn_t fill_ci(unsigned ci_id, struct nv_ref *ref)
{
	ref->cis = &ref->gis->ci[ci_id];
	ref->ci = vmig_gi_find_ci(ref->gi, ci_id);
	ref->cp = ref->ci ? vmig_ci_profile_by_id(ref->gp, ref->ci->profile_id) : NULL;
	return ref->cp ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

/* A live token of the kind: fill ref down to its GI, and its CI unless it is a GI. */
static nvmlReturn_t fill_token(const void *h, unsigned kind, struct nv_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	uint64_t e = nv_lookup(h, kind);
	if (!e || fill_gpu(nv_entry_gpu(e), ref) != NVML_SUCCESS ||
	    fill_gi(nv_entry_gi(e), ref) != NVML_SUCCESS)
		return NVML_ERROR_INVALID_ARGUMENT;
	return kind == NV_GI ? NVML_SUCCESS : fill_ci(nv_entry_ci(e), ref);
}

nvmlReturn_t vmig__nv_resolve(const void *h, unsigned kind, struct nv_ref *ref)
{
	int k = kind == NV_MIG ? nv_dev_slot(h) : -1;
	if (k >= 0) {
		memset(ref, 0, sizeof(*ref));
		int i = nv_gpu_index(h);
		/* One of our handles whose GPU has gone: lost, never another GPU's. */
		if (i < 0)
			return L.dev[k].uuid[0] ? NVML_ERROR_GPU_IS_LOST
						: NVML_ERROR_INVALID_ARGUMENT;
		return fill_gpu((unsigned)i, ref);
	}
	return fill_token(h, kind, ref);
}

static struct nv_ci_slot *ci_slot(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	if (gpu >= VMIG_MAX_GPUS || gi_id >= NV_MAX_GI_ID || ci_id >= NV_MAX_CI_ID)
		return NULL;
	struct nv_ci_slot *s = &L.gpu[gpu].gi[gi_id].ci[ci_id];
	return s->serial ? s : NULL;
}

nvmlGpuInstance_t vmig__nv_gi_handle(unsigned gpu, unsigned gi_id)
{
	if (gpu >= VMIG_MAX_GPUS || gi_id >= NV_MAX_GI_ID)
		return NULL;
	uint32_t serial = L.gpu[gpu].gi[gi_id].serial;
	return serial ? nv_token(serial) : NULL;
}

nvmlComputeInstance_t vmig__nv_ci_handle(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	struct nv_ci_slot *s = ci_slot(gpu, gi_id, ci_id);
	return s ? nv_token(s->serial) : NULL;
}

nvmlDevice_t vmig__nv_mig_handle(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	struct nv_ci_slot *s = ci_slot(gpu, gi_id, ci_id);
	return s ? nv_token(s->mig_serial) : NULL;
}

unsigned vmig__nv_mig_index(const struct nv_ref *ref)
{
	const struct nv_gpu_slot *s = &L.gpu[ref->index];
	for (unsigned k = 0; k < s->nmig; k++)
		if (s->mig_gi[k] == ref->gi->id && s->mig_ci[k] == ref->ci->id)
			return k;
	return 0;
}
