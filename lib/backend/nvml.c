/*
 * nvml.c — the NVML backend: real MIG GPUs (or vmig's own simulated
 * libnvidia-ml.so.1) driven through whatever libnvidia-ml.so.1 the dynamic
 * loader finds ($VMIG_NVML_LIBRARY overrides the name).  Every function is
 * reached through one table whose types come from iface/nvml_abi.h with
 * __typeof__, so a prototype change is a compile error here, not a crash.
 *
 * The GPU set is fixed when the backend opens (as NVML's is at init); each
 * GPU's model comes from the catalogue by PCI device id, or, for a GPU the
 * catalogue does not know, is built from NVML's own profile information and
 * owned by the backend's private context.  Snapshots read the MIG mode and
 * every GI and CI afresh; changes are single NVML calls.
 *
 * When the library is vmig's own (it carries the note of iface/nvml_note.h)
 * its GPUs may be simulated ones, whose records live in the state store;
 * the backend then opens the store once, at open, to mark those GPUs and to
 * reset them (NVML has no reset).  With NVIDIA's library it never touches
 * the store.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "nvml_abi.h"
#include "nvml_note.h"

/* The functions the backend calls, in one list: the table and its loader come from it. */
#define NVML_BACKEND_FNS(X)                                                                        \
	X(nvmlInit_v2)                                                                             \
	X(nvmlShutdown)                                                                            \
	X(nvmlErrorString)                                                                         \
	X(nvmlDeviceGetCount_v2)                                                                   \
	X(nvmlDeviceGetHandleByIndex_v2)                                                           \
	X(nvmlDeviceGetName)                                                                       \
	X(nvmlDeviceGetUUID)                                                                       \
	X(nvmlDeviceGetSerial)                                                                     \
	X(nvmlDeviceGetPciInfo_v3)                                                                 \
	X(nvmlDeviceGetMinorNumber)                                                                \
	X(nvmlDeviceGetMemoryInfo)                                                                 \
	X(nvmlDeviceGetCudaComputeCapability)                                                      \
	X(nvmlDeviceGetArchitecture)                                                               \
	X(nvmlDeviceGetNumGpuCores)                                                                \
	X(nvmlDeviceGetMigMode)                                                                    \
	X(nvmlDeviceSetMigMode)                                                                    \
	X(nvmlDeviceGetPersistenceMode)                                                            \
	X(nvmlSystemGetDriverVersion)                                                              \
	X(nvmlSystemGetCudaDriverVersion)                                                          \
	X(nvmlDeviceSetPersistenceMode)                                                            \
	X(nvmlDeviceGetGpuInstanceProfileInfo)                                                     \
	X(nvmlDeviceGetGpuInstanceProfileInfoV)                                                    \
	X(nvmlDeviceGetGpuInstancePossiblePlacements_v2)                                           \
	X(nvmlDeviceCreateGpuInstance)                                                             \
	X(nvmlDeviceCreateGpuInstanceWithPlacement)                                                \
	X(nvmlGpuInstanceDestroy)                                                                  \
	X(nvmlDeviceGetGpuInstances)                                                               \
	X(nvmlDeviceGetGpuInstanceById)                                                            \
	X(nvmlGpuInstanceGetInfo)                                                                  \
	X(nvmlGpuInstanceGetComputeInstanceProfileInfo)                                            \
	X(nvmlGpuInstanceGetComputeInstanceProfileInfoV)                                           \
	X(nvmlGpuInstanceCreateComputeInstance)                                                    \
	X(nvmlGpuInstanceCreateComputeInstanceWithPlacement)                                       \
	X(nvmlComputeInstanceDestroy)                                                              \
	X(nvmlGpuInstanceGetComputeInstances)                                                      \
	X(nvmlGpuInstanceGetComputeInstanceById)                                                   \
	X(nvmlGpuInstanceGetComputeInstancePossiblePlacements)                                     \
	X(nvmlComputeInstanceGetInfo_v2)

struct vmig__nvml_fns {
#define X(name) __typeof__(name) *name;
	NVML_BACKEND_FNS(X)
#undef X
};

/* Functions a driver older than the MIG era may lack; the rest are required. */
static bool optional_fn(const char *name)
{
	return strstr(name, "ProfileInfoV") || strstr(name, "WithPlacement") ||
	       strcmp(name, "nvmlDeviceGetArchitecture") == 0 || strstr(name, "PersistenceMode") ||
	       strstr(name, "DriverVersion") || strcmp(name, "nvmlDeviceGetNumGpuCores") == 0;
}

/* A model built from NVML's profile information, for a GPU the catalogue lacks. */
struct synth {
	struct vmig_model model;
	char key[32], name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	struct vmig_gi_profile gi[VMIG_MAX_GI_PROFILES];
	char gi_name[VMIG_MAX_GI_PROFILES][NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	struct vmig_ci_profile ci[VMIG_MAX_GI_PROFILES][VMIG_MAX_CI_PROFILES];
};

struct nvml_priv {
	void *dl;
	struct vmig__nvml_fns f;
	unsigned ngpu;
	nvmlDevice_t dev[VMIG_MAX_GPUS];
	const struct vmig_model *model[VMIG_MAX_GPUS];
	struct synth *synth[VMIG_MAX_GPUS]; /* models built from NVML, owned here */
	struct vmig_store *sim;		    /* vmig's own library only: its state store */
	bool simulated[VMIG_MAX_GPUS];	    /* GPU i is a simulated GPU of that store */
};

/* An NVML failure as a vmig error, with what was being done and NVML's own words. */
static int nvml_fail(struct nvml_priv *p, nvmlReturn_t r, struct vmig_err *err, const char *what)
{
	int code = vmig_from_nvml((int)r);
	if (!err)
		return -code;
	return vmig_err_set(err, code, "%s: %s", what, p->f.nvmlErrorString(r));
}

static int load(struct nvml_priv *p, struct vmig_err *err)
{
	const char *path = secure_getenv("VMIG_NVML_LIBRARY");
	if (!path || !*path)
		path = "libnvidia-ml.so.1";
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl)
		return vmig_err_set(err, VMIG_E_LIBRARY_NOT_FOUND, "cannot load %s: %s", path,
				    dlerror());
#define X(name)                                                                                    \
	*(void **)&p->f.name = dlsym(p->dl, #name);                                                \
	if (!p->f.name && !optional_fn(#name))                                                     \
		return vmig_err_set(err, VMIG_E_FUNCTION_NOT_FOUND, "%s has no %s", path, #name);
	NVML_BACKEND_FNS(X)
#undef X
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Models built from NVML (GPUs the catalogue does not know)                 */
/* ------------------------------------------------------------------------ */

/* Media and graphics attributes that the index constant of a GI profile implies. */
static unsigned index_flags(unsigned idx)
{
	switch (idx) {
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1:
		return VMIG_PF_ME;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME:
		return VMIG_PF_ME_ALL;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME:
		return VMIG_PF_NO_ME;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX:
		return VMIG_PF_GFX;
	}
	return 0;
}

/* Copy a string NVML gave into a fixed field; false (and truncated) if it did not fit. */
static bool put_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size);
	bool fits = n < size;
	if (!fits)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return fits;
}

static const char *strip_mig(const char *name)
{
	return strncmp(name, "MIG ", 4) == 0 ? name + 4 : name;
}

/* One GI profile by index: the versioned call with v3, then v2, then the first version. */
static nvmlReturn_t gi_profile_info(struct nvml_priv *p, nvmlDevice_t d, unsigned idx,
				    nvmlGpuInstanceProfileInfo_v3_t *out)
{
	nvmlReturn_t r = NVML_ERROR_FUNCTION_NOT_FOUND;
	if (p->f.nvmlDeviceGetGpuInstanceProfileInfoV) {
		out->version = nvmlGpuInstanceProfileInfo_v3;
		r = p->f.nvmlDeviceGetGpuInstanceProfileInfoV(d, idx, (void *)out);
		if (r != NVML_ERROR_ARGUMENT_VERSION_MISMATCH && r != NVML_ERROR_INVALID_ARGUMENT)
			return r;
		nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
		r = p->f.nvmlDeviceGetGpuInstanceProfileInfoV(d, idx, &v2);
		if (r == NVML_SUCCESS) {
			/* sliceCount..ofaCount: the same eight fields in v1, v2 and v3. */
			out->id = v2.id;
			memcpy(&out->sliceCount, &v2.sliceCount, 8 * sizeof(unsigned));
			out->memorySizeMB = v2.memorySizeMB;
			memcpy(out->name, v2.name, sizeof(out->name));
			out->capabilities =
			    v2.isP2pSupported ? NVML_GPU_INSTANCE_PROFILE_CAPS_P2P : 0;
		}
		if (r != NVML_ERROR_ARGUMENT_VERSION_MISMATCH && r != NVML_ERROR_INVALID_ARGUMENT)
			return r;
	}
	nvmlGpuInstanceProfileInfo_t v1;
	r = p->f.nvmlDeviceGetGpuInstanceProfileInfo(d, idx, &v1);
	if (r == NVML_SUCCESS) {
		out->id = v1.id;
		memcpy(&out->sliceCount, &v1.sliceCount, 8 * sizeof(unsigned));
		out->memorySizeMB = v1.memorySizeMB;
		out->name[0] = '\0';
		out->capabilities = v1.isP2pSupported ? NVML_GPU_INSTANCE_PROFILE_CAPS_P2P : 0;
	}
	return r;
}

/* Placements of a GI profile: starts, and the size they share. */
static void gi_starts(struct nvml_priv *p, nvmlDevice_t d, struct vmig_gi_profile *gp)
{
	nvmlGpuInstancePlacement_t pl[VMIG_MAX_STARTS * 2];
	unsigned n = VMIG_MAX_STARTS * 2;
	if (p->f.nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, gp->id, pl, &n) != NVML_SUCCESS)
		n = 0;
	for (unsigned k = 0; k < n && gp->nstarts < VMIG_MAX_STARTS; k++) {
		gp->starts[gp->nstarts++] = pl[k].start;
		gp->size = pl[k].size;
	}
}

/* CI profiles of a GI profile, read through an existing GI of it. */
static void ci_profiles(struct nvml_priv *p, nvmlGpuInstance_t gi, struct vmig_gi_profile *gp,
			struct vmig_ci_profile *ci)
{
	gp->nci = 0;
	for (unsigned idx = 0; idx < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; idx++) {
		nvmlComputeInstanceProfileInfo_t info;
		if (p->f.nvmlGpuInstanceGetComputeInstanceProfileInfo(
			gi, idx, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info) !=
			NVML_SUCCESS ||
		    gp->nci >= VMIG_MAX_CI_PROFILES)
			continue;
		struct vmig_ci_profile *cp = &ci[gp->nci++];
		*cp = (struct vmig_ci_profile){.id = info.id,
					       .slices = info.sliceCount,
					       .instances = info.instanceCount,
					       .sm = info.multiprocessorCount};
		if (idx == NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1)
			cp->flags |= VMIG_PF_REV1;
		nvmlComputeInstancePlacement_t pl[VMIG_MAX_STARTS];
		unsigned n = VMIG_MAX_STARTS;
		if (p->f.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, info.id, pl, &n) !=
		    NVML_SUCCESS)
			n = 0;
		for (unsigned k = 0; k < n; k++) {
			cp->starts[cp->nstarts++] = pl[k].start;
			if (pl[k].size != cp->slices)
				cp->size = pl[k].size;
		}
	}
}

/*
 * Without a GI of the profile there is nothing to ask: the one CI profile
 * every GI profile has (the whole GI) stands in, marked derived.
 */
static void ci_default(struct vmig_gi_profile *gp, struct vmig_ci_profile *ci)
{
	static const unsigned ci_index_of_slices[9] = {0, 0, 1, 2, 3, 0, 6, 4, 5};
	unsigned s = gp->slices < 9 ? gp->slices : 1;
	ci[0] = (struct vmig_ci_profile){.id = ci_index_of_slices[s],
					 .slices = gp->slices,
					 .instances = 1,
					 .sm = gp->sm,
					 .flags = VMIG_PF_DERIVED,
					 .nstarts = 1};
	gp->nci = 1;
}

static void synth_gi(struct nvml_priv *p, nvmlDevice_t d, struct synth *s, unsigned idx,
		     const nvmlGpuInstanceProfileInfo_v3_t *info)
{
	unsigned k = s->model.ngi++;
	struct vmig_gi_profile *gp = &s->gi[k];
	put_str(s->gi_name[k], sizeof(s->gi_name[k]), strip_mig(info->name));
	*gp = (struct vmig_gi_profile){
	    .id = info->id,
	    .index = idx,
	    .name = s->gi_name[k],
	    .slices = info->sliceCount,
	    .instances = info->instanceCount,
	    .mem_mib = info->memorySizeMB,
	    .sm = info->multiprocessorCount,
	    .ce = info->copyEngineCount,
	    .dec = info->decoderCount,
	    .enc = info->encoderCount,
	    .jpeg = info->jpegCount,
	    .ofa = info->ofaCount,
	    .ci = s->ci[k],
	    .flags = index_flags(idx) |
		     (info->capabilities & NVML_GPU_INSTANCE_PROFILE_CAPS_P2P ? VMIG_PF_P2P : 0) |
		     (info->capabilities & NVML_GPU_INSTANCE_PROFILE_CAPS_GFX ? VMIG_PF_GFX : 0)};
	if (!s->gi_name[k][0]) {
		struct vmig_profile_name n = {
		    .g = gp->slices,
		    .gb = vmig_profile_mem_gb(gp->mem_mib, s->model.mem_mib),
		    .attrs = gp->flags & VMIG_PF_ATTRS};
		vmig_profile_name_format(&n, s->gi_name[k], sizeof(s->gi_name[k]));
	}
	gi_starts(p, d, gp);
	/* NVML fills up to the profile's instance count whatever *count says: room for all. */
	nvmlGpuInstance_t gis[VMIG_MAX_GIS];
	unsigned n = VMIG_MAX_GIS;
	if (p->f.nvmlDeviceGetGpuInstances(d, gp->id, gis, &n) == NVML_SUCCESS && n > 0)
		ci_profiles(p, gis[0], gp, s->ci[k]);
	if (gp->nci == 0)
		ci_default(gp, s->ci[k]);
	struct vmig_model *m = &s->model;
	for (unsigned j = 0; j < gp->nstarts; j++)
		if (gp->starts[j] + gp->size > m->units)
			m->units = gp->starts[j] + gp->size;
	if (gp->slices > m->compute_slices)
		m->compute_slices = gp->slices;
	if (gp->sm > m->sm)
		m->sm = gp->sm;
}

static void synth_identity(struct nvml_priv *p, nvmlDevice_t d, const nvmlPciInfo_t *pci,
			   struct synth *s)
{
	struct vmig_model *m = &s->model;
	snprintf(s->key, sizeof(s->key), "nvml-%08x", pci->pciDeviceId);
	if (p->f.nvmlDeviceGetName(d, s->name, sizeof(s->name)) != NVML_SUCCESS)
		snprintf(s->name, sizeof(s->name), "GPU %08X", pci->pciDeviceId);
	m->key = s->key;
	m->name = s->name;
	m->pci_device_id = pci->pciDeviceId;
	m->pci_subsystem_id = pci->pciSubSystemId;
	nvmlMemory_t mem;
	if (p->f.nvmlDeviceGetMemoryInfo(d, &mem) == NVML_SUCCESS)
		m->mem_mib = mem.total >> 20;
	int major = 0, minor = 0;
	if (p->f.nvmlDeviceGetCudaComputeCapability(d, &major, &minor) == NVML_SUCCESS) {
		m->cc_major = (unsigned)major;
		m->cc_minor = (unsigned)minor;
	}
	nvmlDeviceArchitecture_t arch = 0;
	if (p->f.nvmlDeviceGetArchitecture &&
	    p->f.nvmlDeviceGetArchitecture(d, &arch) == NVML_SUCCESS)
		m->arch = arch;
	m->flags = VMIG_MF_DERIVED;
}

/*
 * SMs of a GPU without MIG profiles, from its CUDA core count (NVML has no
 * direct SM query for a whole GPU); left 0 when unknown.
 */
static void synth_sm_from_cores(struct nvml_priv *p, nvmlDevice_t d, struct vmig_model *m)
{
	unsigned cores = 0;
	if (m->sm || !m->cc_major || !p->f.nvmlDeviceGetNumGpuCores ||
	    p->f.nvmlDeviceGetNumGpuCores(d, &cores) != NVML_SUCCESS)
		return;
	m->sm = cores / vmig_cores_per_sm(m->cc_major, m->cc_minor);
}

static int synth_model(struct nvml_priv *p, nvmlDevice_t d, const nvmlPciInfo_t *pci,
		       struct synth **ret, struct vmig_err *err)
{
	struct synth *s = calloc(1, sizeof(*s));
	if (!s)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	synth_identity(p, d, pci, s);
	struct vmig_model *m = &s->model;
	unsigned cur = 0, pend = 0;
	if (p->f.nvmlDeviceGetMigMode(d, &cur, &pend) == NVML_SUCCESS) {
		m->flags |= VMIG_MF_MIG;
		if (m->arch == VMIG_ARCH_AMPERE)
			m->flags |= VMIG_MF_MODE_NEEDS_RESET;
	}
	for (unsigned idx = 0; (m->flags & VMIG_MF_MIG) && idx < NVML_GPU_INSTANCE_PROFILE_COUNT &&
			       m->ngi < VMIG_MAX_GI_PROFILES;
	     idx++) {
		nvmlGpuInstanceProfileInfo_v3_t info;
		memset(&info, 0, sizeof(info));
		if (gi_profile_info(p, d, idx, &info) == NVML_SUCCESS)
			synth_gi(p, d, s, idx, &info);
	}
	m->mem_slices = m->units == 12 ? 4 : m->units;
	synth_sm_from_cores(p, d, m);
	m->gi = s->gi;
	*ret = s;
	return 0;
}

/*
 * $VMIG_NVML_NO_CATALOGUE=1 builds every model from NVML even when the
 * catalogue knows it: a diagnostic for a driver whose geometry differs from
 * the catalogue's, and how the tests check the builder against the catalogue.
 */
static int enumerate(struct nvml_priv *p, struct vmig_err *err)
{
	const char *nc = secure_getenv("VMIG_NVML_NO_CATALOGUE");
	bool no_catalogue = nc && strcmp(nc, "1") == 0;
	unsigned n = 0;
	nvmlReturn_t r = p->f.nvmlDeviceGetCount_v2(&n);
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "counting GPUs");
	p->ngpu = n < VMIG_MAX_GPUS ? n : VMIG_MAX_GPUS;
	for (unsigned i = 0; i < p->ngpu; i++) {
		r = p->f.nvmlDeviceGetHandleByIndex_v2(i, &p->dev[i]);
		if (r != NVML_SUCCESS)
			return nvml_fail(p, r, err, "getting GPU handle");
		nvmlPciInfo_t pci;
		r = p->f.nvmlDeviceGetPciInfo_v3(p->dev[i], &pci);
		if (r != NVML_SUCCESS)
			return nvml_fail(p, r, err, "reading PCI information");
		p->model[i] = no_catalogue ? NULL : vmig_model_by_pci(pci.pciDeviceId);
		if (p->model[i])
			continue;
		int e = synth_model(p, p->dev[i], &pci, &p->synth[i], err);
		if (e < 0)
			return e;
		p->model[i] = &p->synth[i]->model;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* vmig's own library                                                        */
/* ------------------------------------------------------------------------ */

/* Does a PT_NOTE segment of a loaded object hold vmig's note? */
static bool note_in(const struct dl_phdr_info *info, const ElfW(Phdr) * ph)
{
	const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
	const char *end = p + ph->p_memsz;
	while ((size_t)(end - p) >= 12) {
		const uint32_t *h = (const uint32_t *)(const void *)p;
		size_t name = (h[0] + 3u) & ~3u, desc = (h[1] + 3u) & ~3u;
		if (name > (size_t)(end - p) - 12 || desc > (size_t)(end - p) - 12 - name)
			return false;
		if (h[2] == VMIG_NVML_NOTE_TYPE && h[0] == sizeof(VMIG_NVML_NOTE_OWNER) &&
		    memcmp(p + 12, VMIG_NVML_NOTE_OWNER, sizeof(VMIG_NVML_NOTE_OWNER)) == 0)
			return true;
		p += 12 + name + desc;
	}
	return false;
}

struct note_search {
	ElfW(Addr) base; /* the library's load address */
	bool found;
};

static int note_of_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct note_search *q = arg;
	if (info->dlpi_addr != q->base)
		return 0;
	for (ElfW(Half) k = 0; k < info->dlpi_phnum && !q->found; k++)
		if (info->dlpi_phdr[k].p_type == PT_NOTE)
			q->found = note_in(info, &info->dlpi_phdr[k]);
	return 1;
}

/* Is the loaded library vmig's simulated libnvidia-ml.so.1? */
static bool own_library(void *dl)
{
	struct link_map *lm = NULL;
	if (dlinfo(dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		return false;
	struct note_search q = {.base = lm->l_addr};
	dl_iterate_phdr(note_of_object, &q);
	return q.found;
}

/*
 * With vmig's own library, mark which GPUs are simulated ones of the state
 * store (matched by UUID) and keep the store for their reset.  A store that
 * cannot be opened leaves every GPU unmarked, as real ones.
 */
static void mark_simulated(struct nvml_priv *p)
{
	_cleanup_free_ struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st || !own_library(p->dl) || vmig_store_open(NULL, &p->sim, NULL) < 0)
		return;
	char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	for (unsigned i = 0; i < p->ngpu; i++)
		if (p->f.nvmlDeviceGetUUID(p->dev[i], buf, sizeof(buf)) == NVML_SUCCESS)
			put_str(st->gpu[st->ngpu++].uuid, VMIG_UUID_LEN, buf);
	vmig__sim_mark(p->sim, st);
	for (unsigned i = 0; i < st->ngpu; i++)
		p->simulated[i] = st->gpu[i].flags & VMIG_GPU_SIMULATED;
}

static void nvml_close(void *priv)
{
	struct nvml_priv *p = priv;
	if (!p)
		return;
	vmig_store_close(p->sim);
	if (p->dl) {
		if (p->f.nvmlShutdown)
			p->f.nvmlShutdown();
		dlclose(p->dl);
	}
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++)
		free(p->synth[i]);
	free(p);
}

static int nvml_open(void **ret_priv, const struct vmig__open_opts *opts, struct vmig_err *err)
{
	struct nvml_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = load(p, err);
	if (r >= 0) {
		nvmlReturn_t nr = p->f.nvmlInit_v2();
		if (nr != NVML_SUCCESS) {
			p->f.nvmlShutdown = NULL; /* nothing to shut down */
			r = nvml_fail(p, nr, err, "initialising NVML");
		}
	}
	if (r >= 0)
		r = enumerate(p, err);
	if (r >= 0)
		mark_simulated(p);
	if (r < 0) {
		nvml_close(p);
		return r;
	}
	*ret_priv = p;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                  */
/* ------------------------------------------------------------------------ */

static int cmp_gi(const void *a, const void *b)
{
	const struct vmig_gi_state *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_ci(const void *a, const void *b)
{
	const struct vmig_ci_state *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static int read_cis(struct nvml_priv *p, nvmlGpuInstance_t h, const struct vmig_gi_profile *gp,
		    struct vmig_gi_state *gi, struct vmig_err *err)
{
	for (unsigned k = 0; k < gp->nci; k++) {
		nvmlComputeInstance_t cis[VMIG_MAX_CIS];
		unsigned n = VMIG_MAX_CIS;
		nvmlReturn_t r = p->f.nvmlGpuInstanceGetComputeInstances(h, gp->ci[k].id, cis, &n);
		if (r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_INVALID_ARGUMENT)
			continue;
		if (r != NVML_SUCCESS)
			return nvml_fail(p, r, err, "listing compute instances");
		for (unsigned j = 0; j < n && gi->nci < VMIG_MAX_CIS; j++) {
			nvmlComputeInstanceInfo_t info;
			r = p->f.nvmlComputeInstanceGetInfo_v2(cis[j], &info);
			if (r != NVML_SUCCESS)
				return nvml_fail(p, r, err, "reading a compute instance");
			if (info.id > UINT8_MAX || info.profileId > UINT8_MAX ||
			    info.placement.start > UINT8_MAX || info.placement.size > UINT8_MAX)
				return vmig_err_set(err, VMIG_E_UNKNOWN,
						    "NVML reported compute instance %u of GPU "
						    "instance %u with values out of range",
						    info.id, gi->id);
			gi->ci[gi->nci++] =
			    (struct vmig_ci_state){.id = (uint8_t)info.id,
						   .profile_id = (uint8_t)info.profileId,
						   .start = (uint8_t)info.placement.start,
						   .size = (uint8_t)info.placement.size};
		}
	}
	qsort(gi->ci, gi->nci, sizeof(gi->ci[0]), cmp_ci);
	return 0;
}

static int read_gis(struct nvml_priv *p, unsigned i, struct vmig_gpu_state *g, struct vmig_err *err)
{
	for (unsigned k = 0; k < g->model->ngi; k++) {
		const struct vmig_gi_profile *gp = &g->model->gi[k];
		nvmlGpuInstance_t gis[VMIG_MAX_GIS];
		unsigned n = VMIG_MAX_GIS;
		nvmlReturn_t r = p->f.nvmlDeviceGetGpuInstances(p->dev[i], gp->id, gis, &n);
		if (r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_INVALID_ARGUMENT)
			continue;
		if (r != NVML_SUCCESS)
			return nvml_fail(p, r, err, "listing GPU instances");
		for (unsigned j = 0; j < n && g->ngi < VMIG_MAX_GIS; j++) {
			nvmlGpuInstanceInfo_t info;
			r = p->f.nvmlGpuInstanceGetInfo(gis[j], &info);
			if (r != NVML_SUCCESS)
				return nvml_fail(p, r, err, "reading a GPU instance");
			struct vmig_gi_state *gi = &g->gi[g->ngi++];
			*gi = (struct vmig_gi_state){.id = info.id,
						     .profile_id = info.profileId,
						     .start = info.placement.start,
						     .size = info.placement.size};
			int e = read_cis(p, gis[j], gp, gi, err);
			if (e < 0)
				return e;
		}
	}
	qsort(g->gi, g->ngi, sizeof(g->gi[0]), cmp_gi);
	return 0;
}

static int read_gpu(struct nvml_priv *p, unsigned i, struct vmig_gpu_state *g, struct vmig_err *err)
{
	char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	nvmlDevice_t d = p->dev[i];
	g->model = p->model[i];
	nvmlReturn_t r = p->f.nvmlDeviceGetUUID(d, buf, sizeof(buf));
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the GPU UUID");
	if (!put_str(g->uuid, sizeof(g->uuid), buf))
		return vmig_err_set(err, VMIG_E_INVALID_STATE, "GPU UUID too long: %s", buf);
	if (p->f.nvmlDeviceGetSerial(d, buf, sizeof(buf)) == NVML_SUCCESS)
		put_str(g->serial, sizeof(g->serial), buf);
	nvmlPciInfo_t pci;
	if ((r = p->f.nvmlDeviceGetPciInfo_v3(d, &pci)) != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading PCI information");
	g->pci_domain = pci.domain;
	g->pci_bus = pci.bus;
	g->pci_device = pci.device;
	if (p->f.nvmlDeviceGetMinorNumber(d, &g->minor) != NVML_SUCCESS)
		g->minor = i;
	nvmlEnableState_t pm = NVML_FEATURE_ENABLED;
	if (p->f.nvmlDeviceGetPersistenceMode &&
	    p->f.nvmlDeviceGetPersistenceMode(d, &pm) == NVML_SUCCESS &&
	    pm == NVML_FEATURE_DISABLED)
		g->flags |= VMIG_GPU_NO_PERSISTENCE;
	r = p->f.nvmlDeviceGetMigMode(d, &g->mig_current, &g->mig_pending);
	if (r == NVML_ERROR_NOT_SUPPORTED) {
		g->mig_current = g->mig_pending = 0;
		return 0;
	}
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the MIG mode");
	return g->mig_current ? read_gis(p, i, g, err) : 0;
}

static int nvml_snapshot(void *priv, struct vmig_state *ret, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	_cleanup_free_ struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	st->ngpu = p->ngpu;
	for (unsigned i = 0; i < p->ngpu; i++) {
		int r = read_gpu(p, i, &st->gpu[i], err);
		if (r < 0)
			return vmig_err_wrap(err, "GPU %u", i);
		if (p->simulated[i])
			st->gpu[i].flags |= VMIG_GPU_SIMULATED;
	}
	memcpy(ret, st, sizeof(*st));
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Changes                                                                   */
/* ------------------------------------------------------------------------ */

/* NVML's answer to a change: nothing more to say than the code's own text. */
static int nvml_code(nvmlReturn_t r, struct vmig_err *err)
{
	return r == NVML_SUCCESS ? 0 : vmig_err_set(err, vmig_from_nvml((int)r), NULL);
}

static int set_mode(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	/* Not under software partitions (docs/backends.md, "One owner per GPU"). */
	if (op->mode == 1) {
		struct vmig_gpu_state g = {0};
		char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
		if (p->f.nvmlDeviceGetUUID(p->dev[op->gpu], uuid, sizeof(uuid)) == NVML_SUCCESS &&
		    put_str(g.uuid, sizeof(g.uuid), uuid)) {
			int r = vmig__soft_owns(&g, op->gpu, err);
			if (r < 0)
				return r;
		}
	}
	nvmlReturn_t activation = NVML_SUCCESS;
	nvmlReturn_t r = p->f.nvmlDeviceSetMigMode(p->dev[op->gpu], op->mode, &activation);
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "setting the MIG mode");
	op->activation = activation == NVML_SUCCESS ? 0 : -vmig_from_nvml((int)activation);
	return 0;
}

/* Persistence mode is a driver setting; a library without it cannot set it. */
static int set_persistence(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	if (!p->f.nvmlDeviceSetPersistenceMode)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	return nvml_code(
	    p->f.nvmlDeviceSetPersistenceMode(p->dev[op->gpu], op->mode ? NVML_FEATURE_ENABLED
									: NVML_FEATURE_DISABLED),
	    err);
}

/* Only a simulated GPU of vmig's own library can be reset here (mark_simulated). */
static int gpu_reset(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	if (!p->simulated[op->gpu] ||
	    p->f.nvmlDeviceGetUUID(p->dev[op->gpu], uuid, sizeof(uuid)) != NVML_SUCCESS)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "resetting a GPU is not supported through NVML");
	return vmig__sim_reset(p->sim, uuid, err);
}

static int create_gi(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->model[op->gpu], op->profile_id);
	nvmlDevice_t d = p->dev[op->gpu];
	nvmlGpuInstance_t gi;
	nvmlReturn_t r;
	if (op->start && gp && p->f.nvmlDeviceCreateGpuInstanceWithPlacement) {
		nvmlGpuInstancePlacement_t pl = {.start = *op->start, .size = gp->size};
		r = p->f.nvmlDeviceCreateGpuInstanceWithPlacement(d, op->profile_id, &pl, &gi);
	} else if (op->start) {
		return vmig_err_set(err, gp ? VMIG_E_NOT_SUPPORTED : VMIG_E_INVALID_ARGUMENT, NULL);
	} else {
		r = p->f.nvmlDeviceCreateGpuInstance(d, op->profile_id, &gi);
	}
	if (r != NVML_SUCCESS)
		return nvml_code(r, err);
	nvmlGpuInstanceInfo_t info;
	if ((r = p->f.nvmlGpuInstanceGetInfo(gi, &info)) != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the new GPU instance");
	op->out_id = info.id;
	return 0;
}

static int find_gi(struct nvml_priv *p, const struct vmig__op *op, nvmlGpuInstance_t *gi,
		   struct vmig_err *err)
{
	return nvml_code(p->f.nvmlDeviceGetGpuInstanceById(p->dev[op->gpu], op->gi_id, gi), err);
}

static int destroy_gi(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	nvmlGpuInstance_t gi;
	int e = find_gi(p, op, &gi, err);
	return e < 0 ? e : nvml_code(p->f.nvmlGpuInstanceDestroy(gi), err);
}

/* A CI at a given start: NVML wants the placement's size, the CI profile's slices. */
static int create_ci_at(struct nvml_priv *p, const struct vmig__op *op, nvmlGpuInstance_t gi,
			nvmlComputeInstance_t *ci, struct vmig_err *err)
{
	nvmlGpuInstanceInfo_t info;
	nvmlReturn_t r = p->f.nvmlGpuInstanceGetInfo(gi, &info);
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the GPU instance");
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->model[op->gpu], info.profileId);
	const struct vmig_ci_profile *cp = gp ? vmig_ci_profile_by_id(gp, op->profile_id) : NULL;
	if (!cp)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
	if (!p->f.nvmlGpuInstanceCreateComputeInstanceWithPlacement)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	nvmlComputeInstancePlacement_t pl = {.start = *op->start,
					     .size = vmig_ci_placement_size(cp)};
	return nvml_code(
	    p->f.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gi, op->profile_id, &pl, ci),
	    err);
}

static int create_ci(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	nvmlGpuInstance_t gi;
	nvmlComputeInstance_t ci;
	int e = find_gi(p, op, &gi, err);
	if (e >= 0 && op->start)
		e = create_ci_at(p, op, gi, &ci, err);
	else if (e >= 0)
		e = nvml_code(p->f.nvmlGpuInstanceCreateComputeInstance(gi, op->profile_id, &ci),
			      err);
	if (e < 0)
		return e;
	nvmlComputeInstanceInfo_t info;
	nvmlReturn_t r = p->f.nvmlComputeInstanceGetInfo_v2(ci, &info);
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the new compute instance");
	op->out_id = info.id;
	return 0;
}

static int destroy_ci(struct nvml_priv *p, struct vmig__op *op, struct vmig_err *err)
{
	nvmlGpuInstance_t gi;
	nvmlComputeInstance_t ci;
	int e = find_gi(p, op, &gi, err);
	if (e < 0)
		return e;
	nvmlReturn_t r = p->f.nvmlGpuInstanceGetComputeInstanceById(gi, op->ci_id, &ci);
	if (r == NVML_SUCCESS)
		r = p->f.nvmlComputeInstanceDestroy(ci);
	return nvml_code(r, err);
}

/* Each change is one NVML call (after the lookups it needs); the GPU set is fixed at open. */
static int nvml_apply(void *priv, struct vmig__op *op, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	int e = vmig__gpu_check(p->ngpu, op->gpu, err);
	if (e < 0)
		return e;
	switch (op->kind) {
	case VMIG_OP_MODE:
		return set_mode(p, op, err);
	case VMIG_OP_RESET:
		return gpu_reset(p, op, err);
	case VMIG_OP_PERSISTENCE:
		return set_persistence(p, op, err);
	case VMIG_OP_CREATE_GI:
		return create_gi(p, op, err);
	case VMIG_OP_DESTROY_GI:
		return destroy_gi(p, op, err);
	case VMIG_OP_CREATE_CI:
		return create_ci(p, op, err);
	case VMIG_OP_DESTROY_CI:
		return destroy_ci(p, op, err);
	case VMIG_OP_SHARE: /* ctx.c refuses it: NVML has no shares */
		break;
	}
	return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
}

/* What the driver's library says of itself; the CUDA version may be unknown (0). */
static int nvml_versions(void *priv, struct vmig_versions *ret, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
	int cuda = 0;
	nvmlReturn_t r = p->f.nvmlSystemGetDriverVersion
			     ? p->f.nvmlSystemGetDriverVersion(buf, sizeof(buf))
			     : NVML_ERROR_FUNCTION_NOT_FOUND;
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the driver version");
	if (!p->f.nvmlSystemGetCudaDriverVersion ||
	    p->f.nvmlSystemGetCudaDriverVersion(&cuda) != NVML_SUCCESS || cuda < 0)
		cuda = 0;
	struct vmig_versions v = {.cuda = (unsigned)cuda};
	if (!put_str(v.driver, sizeof(v.driver), buf))
		return vmig_err_set(err, VMIG_E_INVALID_STATE, "driver version too long: %s", buf);
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The functions the process list needs, looked up when it is asked for (a
 * driver without one of them answers an empty list rather than failing to
 * open the backend for everything else).
 */
struct nvml_proc_fns {
	__typeof__(nvmlDeviceGetComputeRunningProcesses_v3) *running;
	__typeof__(nvmlDeviceGetMaxMigDeviceCount) *max_mig;
	__typeof__(nvmlDeviceGetMigDeviceHandleByIndex) *mig_by_index;
	__typeof__(nvmlDeviceGetGpuInstanceId) *gi_id;
	__typeof__(nvmlDeviceGetComputeInstanceId) *ci_id;
};

static bool proc_fns(void *dl, struct nvml_proc_fns *f)
{
	*(void **)&f->running = dlsym(dl, "nvmlDeviceGetComputeRunningProcesses_v3");
	if (!f->running)
		*(void **)&f->running = dlsym(dl, "nvmlDeviceGetComputeRunningProcesses_v2");
	*(void **)&f->max_mig = dlsym(dl, "nvmlDeviceGetMaxMigDeviceCount");
	*(void **)&f->mig_by_index = dlsym(dl, "nvmlDeviceGetMigDeviceHandleByIndex");
	*(void **)&f->gi_id = dlsym(dl, "nvmlDeviceGetGpuInstanceId");
	*(void **)&f->ci_id = dlsym(dl, "nvmlDeviceGetComputeInstanceId");
	return f->running && f->max_mig && f->mig_by_index && f->gi_id && f->ci_id;
}

struct proc_list {
	struct vmig_proc *v;
	size_t n, cap;
};

/* The compute processes NVML reports on one device (a GPU or a MIG device). */
static int device_procs(struct nvml_priv *p, const struct nvml_proc_fns *f, nvmlDevice_t d,
			const struct vmig_proc *proto, struct proc_list *l, struct vmig_err *err)
{
	unsigned count = 16;
	nvmlReturn_t r = NVML_ERROR_INSUFFICIENT_SIZE;
	_cleanup_free_ nvmlProcessInfo_t *info = NULL;
	/* The list may grow between the calls: ask again, a few times, with room to spare. */
	for (int tries = 0; r == NVML_ERROR_INSUFFICIENT_SIZE && tries < 4; tries++) {
		unsigned want = count + 16;
		free(info);
		if (!(info = calloc(want, sizeof(*info))))
			return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		count = want;
		r = f->running(d, &count, info);
	}
	if (r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_NO_PERMISSION)
		return 0; /* the driver will not tell: no process we can name */
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "listing the running compute processes");
	for (unsigned i = 0; i < count; i++) {
		if (l->n == l->cap) {
			size_t c = l->cap ? 2 * l->cap : 16;
			struct vmig_proc *v = realloc(l->v, c * sizeof(*v));
			if (!v)
				return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
			l->v = v;
			l->cap = c;
		}
		struct vmig_proc *e = &l->v[l->n++];
		*e = *proto;
		e->pid = (int32_t)info[i].pid;
		e->mem_bytes = info[i].usedGpuMemory == (unsigned long long)NVML_VALUE_NOT_AVAILABLE
				   ? 0
				   : info[i].usedGpuMemory;
	}
	return 0;
}

/* Every MIG device of a MIG-enabled GPU, with its GI and CI. */
static int mig_procs(struct nvml_priv *p, const struct nvml_proc_fns *f, unsigned gpu,
		     struct proc_list *l, struct vmig_err *err)
{
	unsigned max = 0;
	if (f->max_mig(p->dev[gpu], &max) != NVML_SUCCESS)
		return 0;
	for (unsigned i = 0; i < max; i++) {
		nvmlDevice_t m;
		struct vmig_proc proto = {.kind = VMIG_PROC_CUDA, .gpu = gpu};
		if (f->mig_by_index(p->dev[gpu], i, &m) != NVML_SUCCESS ||
		    f->gi_id(m, &proto.gi) != NVML_SUCCESS ||
		    f->ci_id(m, &proto.ci) != NVML_SUCCESS)
			continue; /* an empty index: NOT_FOUND */
		int r = device_procs(p, f, m, &proto, l, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The compute processes of each GPU, as the driver reports them: per MIG
 * device with MIG on (the GI and CI of the device they run on), per GPU
 * with MIG off (gi = ci = VMIG_PROC_WHOLE_GPU).
 */
static int nvml_procs(void *priv, struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	struct nvml_proc_fns f;
	struct proc_list l = {0};
	int r = 0;
	if (!proc_fns(p->dl, &f)) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	for (unsigned g = 0; g < p->ngpu && r >= 0; g++) {
		unsigned cur = 0, pend = 0;
		struct vmig_proc whole = {.kind = VMIG_PROC_CUDA,
					  .gpu = g,
					  .gi = VMIG_PROC_WHOLE_GPU,
					  .ci = VMIG_PROC_WHOLE_GPU};
		if (p->f.nvmlDeviceGetMigMode(p->dev[g], &cur, &pend) == NVML_SUCCESS && cur)
			r = mig_procs(p, &f, g, &l, err);
		else
			r = device_procs(p, &f, p->dev[g], &whole, &l, err);
	}
	if (r < 0 || l.n == 0) {
		free(l.v);
		l.v = NULL;
		l.n = 0;
	}
	if (r < 0)
		return r;
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

const struct vmig_backend_ops vmig__backend_nvml = {
    .name = "nvml",
    .versions = nvml_versions,
    .open = nvml_open,
    .close = nvml_close,
    .snapshot = nvml_snapshot,
    .apply = nvml_apply,
    .procs = nvml_procs,
};
