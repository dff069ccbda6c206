/*
 * core.c — the spine of the simulated libnvidia-ml.so.1: reference-counted
 * init and shutdown, the one lock, the cached state and its refresh, the
 * handle tables and the validation of every handle a client passes in, and
 * the error strings and versions.
 *
 * Caching: the parsed state stays in memory; each call compares the store's
 * generation (a shared counter read without a system call) with the one the
 * cache was read at, and re-reads the state file only when another commit
 * landed.  Mutations go through a sim-backend context (the same transaction
 * the vmig command uses) and refresh the cache at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nv.h"

#define NV_DRIVER_VERSION "580.82.07"
#define NV_NVML_VERSION "13.580.82.07" /* first field: the CUDA major of the driver */
#define NV_CUDA_VERSION 13000

struct nv_lib vmig__nv;
#define L vmig__nv
static pthread_mutex_t nv_lock = PTHREAD_MUTEX_INITIALIZER;

nvmlReturn_t vmig__nv_code(int r)
{
	return r >= 0 ? NVML_SUCCESS : (nvmlReturn_t)vmig_nvml_code(r);
}

nvmlReturn_t vmig__nv_copy(char *buf, unsigned len, const char *s)
{
	if (!buf)
		return NVML_ERROR_INVALID_ARGUMENT;
	size_t n = strlen(s);
	if (n + 1 > len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, n + 1);
	return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Slots: the handle tables follow the cached state                          */
/* ------------------------------------------------------------------------ */

/* Writes only what is live, so the untouched parts of the tables stay zero pages. */
static void kill_gi(struct nv_gi_slot *s)
{
	if (s->live)
		s->live = false;
	for (unsigned c = 0; c < NV_MAX_CI_ID; c++)
		if (s->ci[c].live)
			s->ci[c].live = false;
}

static void sync_ci(const struct vmig_gpu_state *g, unsigned gpu, unsigned gi_id,
		    struct nv_gi_slot *gs, unsigned ci_id, const struct vmig_ci_state *c)
{
	struct nv_ci_slot *s = &gs->ci[ci_id];
	if (!c) {
		if (s->live)
			s->live = false;
		return;
	}
	if (s->live && s->gi_serial == gs->serial && s->profile_id == c->profile_id &&
	    s->start == c->start && s->size == c->size)
		return;
	/* A new instance in this slot: a new serial and the next handle objects of the ring. */
	s->serial++;
	s->live = true;
	s->gi_serial = gs->serial;
	s->profile_id = c->profile_id;
	s->start = c->start;
	s->size = c->size;
	vmig_mig_uuid(g->uuid, gi_id, ci_id, s->uuid);
	uint32_t ring = s->serial % NV_RING;
	s->h[ring] = (struct nvmlComputeInstance_st){
		.magic = NV_MAGIC_CI, .gpu = gpu, .gi = gi_id, .ci = ci_id, .ring = ring,
		.serial = s->serial};
	s->mig[ring] = (struct nvmlDevice_st){.magic = NV_MAGIC_DEV, .kind = NV_MIG, .gpu = gpu,
					      .gi = gi_id, .ci = ci_id, .ring = ring,
					      .serial = s->serial};
}

static void sync_gi(struct vmig_gpu_state *g, unsigned gpu, unsigned gi_id)
{
	struct nv_gi_slot *s = &L.gpu[gpu].gi[gi_id];
	struct vmig_gi_state *gi = g ? vmig_gpu_find_gi(g, gi_id) : NULL;
	if (!gi) {
		kill_gi(s);
		return;
	}
	if (!s->live || s->profile_id != gi->profile_id || s->start != gi->start ||
	    s->size != gi->size) {
		s->serial++;
		s->live = true;
		s->profile_id = gi->profile_id;
		s->start = gi->start;
		s->size = gi->size;
		uint32_t ring = s->serial % NV_RING;
		s->h[ring] = (struct nvmlGpuInstance_st){
			.magic = NV_MAGIC_GI, .gpu = gpu, .gi = gi_id, .ring = ring, .serial = s->serial};
	}
	for (unsigned c = 0; c < NV_MAX_CI_ID; c++)
		sync_ci(g, gpu, gi_id, s, c, vmig_gi_find_ci(gi, c));
}

static void sync_gpu(unsigned i)
{
	struct nv_gpu_slot *s = &L.gpu[i];
	struct vmig_gpu_state *g = i < L.st->ngpu ? &L.st->gpu[i] : NULL;

	if (g)
		L.dev[i] = (struct nvmlDevice_st){.magic = NV_MAGIC_DEV, .kind = NV_GPU, .gpu = i};
	if (!g || strcmp(s->uuid, g->uuid) != 0) {
		/* Another GPU at this index (or none): nothing of the old one survives. */
		for (unsigned gi = 0; gi < NV_MAX_GI_ID; gi++)
			kill_gi(&s->gi[gi]);
		if (g || s->uuid[0])
			snprintf(s->uuid, sizeof(s->uuid), "%s", g ? g->uuid : "");
	}
	if (!g) {
		if (s->nmig)
			s->nmig = 0;
		for (unsigned gi = 0; gi < NV_MAX_GI_ID; gi++)
			kill_gi(&s->gi[gi]);
		return;
	}
	s->nmig = 0;
	for (unsigned gi = 0; gi < NV_MAX_GI_ID; gi++) {
		sync_gi(g, i, gi);
		for (unsigned c = 0; c < NV_MAX_CI_ID; c++) {
			if (!s->gi[gi].ci[c].live)
				continue;
			s->mig_gi[s->nmig] = gi;
			s->mig_ci[s->nmig] = c;
			s->nmig++;
		}
	}
}

nvmlReturn_t vmig__nv_refresh(void)
{
	/* Read the counter before the file: a commit in between makes the next call re-read. */
	uint64_t gen = vmig_store_generation(L.store);
	int r = vmig_store_read(L.store, L.st, NULL);
	if (r < 0)
		return vmig__nv_code(r);
	L.generation = gen;
	L.reads++;
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++)
		sync_gpu(i);
	return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Entry and exit                                                            */
/* ------------------------------------------------------------------------ */

nvmlReturn_t vmig__nv_enter(void)
{
	pthread_mutex_lock(&nv_lock);
	if (L.refcount == 0) {
		pthread_mutex_unlock(&nv_lock);
		return NVML_ERROR_UNINITIALIZED;
	}
	if (vmig_store_generation(L.store) != L.generation) {
		nvmlReturn_t r = vmig__nv_refresh();
		if (r != NVML_SUCCESS) {
			pthread_mutex_unlock(&nv_lock);
			return r;
		}
	}
	return NVML_SUCCESS;
}

nvmlReturn_t vmig__nv_leave(nvmlReturn_t r)
{
	pthread_mutex_unlock(&nv_lock);
	return r;
}

nvmlReturn_t vmig__nv_enter_device(nvmlDevice_t h, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r == NVML_SUCCESS && (r = vmig__nv_device(h, ref)) != NVML_SUCCESS)
		vmig__nv_leave(r);
	return r;
}

nvmlReturn_t vmig__nv_enter_gi(nvmlGpuInstance_t h, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r == NVML_SUCCESS && (r = vmig__nv_gpu_instance(h, ref)) != NVML_SUCCESS)
		vmig__nv_leave(r);
	return r;
}

nvmlReturn_t vmig__nv_enter_ci(nvmlComputeInstance_t h, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r == NVML_SUCCESS && (r = vmig__nv_compute_instance(h, ref)) != NVML_SUCCESS)
		vmig__nv_leave(r);
	return r;
}

static void lib_close(void)
{
	vmig_close(L.ctx);
	vmig_store_close(L.store);
	free(L.st);
	L.ctx = NULL;
	L.store = NULL;
	L.st = NULL;
}

static nvmlReturn_t lib_open(void)
{
	int r = vmig_store_open(NULL, &L.store, NULL);
	if (r >= 0)
		r = vmig_open("sim", &L.ctx, NULL);
	if (r >= 0 && !(L.st = malloc(sizeof(*L.st))))
		r = -VMIG_E_NO_MEMORY;
	nvmlReturn_t ret = r < 0 ? vmig__nv_code(r) : vmig__nv_refresh();
	if (ret != NVML_SUCCESS)
		lib_close();
	return ret;
}

NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	nvmlReturn_t r = NVML_SUCCESS;
	pthread_mutex_lock(&nv_lock);
	if (L.refcount == 0)
		r = lib_open();
	if (r == NVML_SUCCESS)
		L.refcount++;
	pthread_mutex_unlock(&nv_lock);
	return r;
}

NVML_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	return nvmlInitWithFlags(0);
}

NVML_EXPORT nvmlReturn_t nvmlInit(void)
{
	return nvmlInitWithFlags(0);
}

/* Extra shutdowns are harmless, as the header promises for backwards compatibility. */
NVML_EXPORT nvmlReturn_t nvmlShutdown(void)
{
	pthread_mutex_lock(&nv_lock);
	if (L.refcount > 0 && --L.refcount == 0)
		lib_close();
	pthread_mutex_unlock(&nv_lock);
	return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Handles                                                                   */
/* ------------------------------------------------------------------------ */

/* p lies inside [base, base + size) with room for an object of obj bytes, aligned. */
static bool inside(const void *p, const void *base, size_t size, size_t obj, size_t align)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
	return a >= b && a - b <= size - obj && a % align == 0;
}

static nvmlReturn_t fill_gpu(unsigned i, struct nv_ref *ref)
{
	if (i >= L.st->ngpu)
		return NVML_ERROR_INVALID_ARGUMENT;
	ref->index = i;
	ref->g = &L.st->gpu[i];
	ref->m = ref->g->model;
	ref->dev = &L.dev[i];
	return NVML_SUCCESS;
}

/* Fill the GI part of ref from a live slot; the cached state must hold the GI. */
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

/* Common check of a handle object's coordinates; the ring object must be this very one. */
static bool coords_ok(unsigned gpu, unsigned gi, unsigned ci, unsigned ring)
{
	return gpu < VMIG_MAX_GPUS && gi < NV_MAX_GI_ID && ci < NV_MAX_CI_ID && ring < NV_RING;
}

nvmlReturn_t vmig__nv_device(nvmlDevice_t h, struct nv_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (!h)
		return NVML_ERROR_INVALID_ARGUMENT;
	const size_t sz = sizeof(*h), al = _Alignof(struct nvmlDevice_st);
	if (inside(h, L.dev, sizeof(L.dev), sz, al)) {
		size_t i = (size_t)(h - L.dev);
		return h->magic == NV_MAGIC_DEV ? fill_gpu((unsigned)i, ref)
						: NVML_ERROR_INVALID_ARGUMENT;
	}
	if (!inside(h, L.gpu, sizeof(L.gpu), sz, al) || h->magic != NV_MAGIC_DEV ||
	    h->kind != NV_MIG || !coords_ok(h->gpu, h->gi, h->ci, h->ring))
		return NVML_ERROR_INVALID_ARGUMENT;
	struct nv_ci_slot *cs = &L.gpu[h->gpu].gi[h->gi].ci[h->ci];
	if (&cs->mig[h->ring] != h || !cs->live || cs->serial != h->serial ||
	    fill_gpu(h->gpu, ref) != NVML_SUCCESS || fill_gi(h->gi, ref) != NVML_SUCCESS)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fill_ci(h->ci, ref);
}

nvmlReturn_t vmig__nv_gpu_instance(nvmlGpuInstance_t h, struct nv_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (!h || !inside(h, L.gpu, sizeof(L.gpu), sizeof(*h), _Alignof(struct nvmlGpuInstance_st)) ||
	    h->magic != NV_MAGIC_GI || !coords_ok(h->gpu, h->gi, 0, h->ring))
		return NVML_ERROR_INVALID_ARGUMENT;
	struct nv_gi_slot *gs = &L.gpu[h->gpu].gi[h->gi];
	if (&gs->h[h->ring] != h || !gs->live || gs->serial != h->serial ||
	    fill_gpu(h->gpu, ref) != NVML_SUCCESS)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fill_gi(h->gi, ref);
}

nvmlReturn_t vmig__nv_compute_instance(nvmlComputeInstance_t h, struct nv_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (!h ||
	    !inside(h, L.gpu, sizeof(L.gpu), sizeof(*h), _Alignof(struct nvmlComputeInstance_st)) ||
	    h->magic != NV_MAGIC_CI || !coords_ok(h->gpu, h->gi, h->ci, h->ring))
		return NVML_ERROR_INVALID_ARGUMENT;
	struct nv_ci_slot *cs = &L.gpu[h->gpu].gi[h->gi].ci[h->ci];
	if (&cs->h[h->ring] != h || !cs->live || cs->serial != h->serial ||
	    fill_gpu(h->gpu, ref) != NVML_SUCCESS || fill_gi(h->gi, ref) != NVML_SUCCESS)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fill_ci(h->ci, ref);
}

nvmlGpuInstance_t vmig__nv_gi_handle(unsigned gpu, unsigned gi_id)
{
	if (gpu >= VMIG_MAX_GPUS || gi_id >= NV_MAX_GI_ID)
		return NULL;
	struct nv_gi_slot *s = &L.gpu[gpu].gi[gi_id];
	return s->live ? &s->h[s->serial % NV_RING] : NULL;
}

static struct nv_ci_slot *ci_slot(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	if (gpu >= VMIG_MAX_GPUS || gi_id >= NV_MAX_GI_ID || ci_id >= NV_MAX_CI_ID)
		return NULL;
	struct nv_ci_slot *s = &L.gpu[gpu].gi[gi_id].ci[ci_id];
	return s->live ? s : NULL;
}

nvmlComputeInstance_t vmig__nv_ci_handle(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	struct nv_ci_slot *s = ci_slot(gpu, gi_id, ci_id);
	return s ? &s->h[s->serial % NV_RING] : NULL;
}

nvmlDevice_t vmig__nv_mig_handle(unsigned gpu, unsigned gi_id, unsigned ci_id)
{
	struct nv_ci_slot *s = ci_slot(gpu, gi_id, ci_id);
	return s ? &s->mig[s->serial % NV_RING] : NULL;
}

unsigned vmig__nv_mig_index(const struct nv_ref *ref)
{
	const struct nv_gpu_slot *s = &L.gpu[ref->index];
	for (unsigned k = 0; k < s->nmig; k++)
		if (s->mig_gi[k] == ref->gi->id && s->mig_ci[k] == ref->ci->id)
			return k;
	return 0;
}

void vmig__nv_mig_name(const struct nv_ref *ref, char *buf, size_t size)
{
	char prof[64];
	if (vmig_ci_profile_name(ref->gp, ref->cp, prof, sizeof(prof)) < 0)
		snprintf(prof, sizeof(prof), "%s", ref->gp->name);
	snprintf(buf, size, "%s MIG %s", ref->m->name, prof);
}

/* ------------------------------------------------------------------------ */
/* Error strings and versions                                                */
/* ------------------------------------------------------------------------ */

/* vmig's error table carries the text of every NVML code it maps to. */
static const struct {
	int code;
	const char *text;
} vmig_texts[] = {
#define VMIG_ERR(name, nvml, text) {nvml, text},
#include "vmig/errors.def"
#undef VMIG_ERR
};

/* The codes vmig's table has no entry of its own for. */
static const char *const other_texts[] = {
	[NVML_SUCCESS] = "Success",
	[NVML_ERROR_ALREADY_INITIALIZED] = "Already Initialized",
	[NVML_ERROR_INSUFFICIENT_POWER] = "Insufficient External Power",
	[NVML_ERROR_IRQ_ISSUE] = "Interrupt Request Issue",
	[NVML_ERROR_CORRUPTED_INFOROM] = "Corrupted infoROM",
	[NVML_ERROR_GPU_IS_LOST] = "GPU is lost",
	[NVML_ERROR_OPERATING_SYSTEM] = "The operating system has blocked the request.",
	[NVML_ERROR_LIB_RM_VERSION_MISMATCH] = "RM has detected an NVML/RM version mismatch.",
	[NVML_ERROR_NO_DATA] = "No data",
	[NVML_ERROR_VGPU_ECC_NOT_SUPPORTED] = "vGPU operation not available with ECC enabled",
	[NVML_ERROR_FREQ_NOT_SUPPORTED] = "Frequency not supported",
	[NVML_ERROR_DEPRECATED] = "Deprecated",
	[NVML_ERROR_NOT_READY] = "Not Ready",
	[NVML_ERROR_GPU_NOT_FOUND] = "GPU not found",
	[NVML_ERROR_RESET_TYPE_NOT_SUPPORTED] = "Reset type not supported",
};

NVML_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
	unsigned code = (unsigned)result;
	if (code < sizeof(other_texts) / sizeof(other_texts[0]) && other_texts[code])
		return other_texts[code];
	if (code != NVML_ERROR_UNKNOWN)
		for (size_t i = 0; i < sizeof(vmig_texts) / sizeof(vmig_texts[0]); i++)
			if ((unsigned)vmig_texts[i].code == code)
				return vmig_texts[i].text;
	return "Unknown Error";
}

/* System queries need init, as NVML's do; they read nothing else. */
static nvmlReturn_t system_string(char *buf, unsigned len, const char *s)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	return vmig__nv_leave(vmig__nv_copy(buf, len, s));
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	return system_string(version, length, NV_DRIVER_VERSION);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
	return system_string(version, length, NV_NVML_VERSION);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!cudaDriverVersion)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	*cudaDriverVersion = NV_CUDA_VERSION;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
	return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}
