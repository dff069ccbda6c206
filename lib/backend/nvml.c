/*
 * nvml.c — the NVML backend: real MIG GPUs (or vmig's own simulated
 * libnvidia-ml.so.1) driven through whatever libnvidia-ml.so.1 the dynamic
 * loader finds ($VMIG_NVML_LIBRARY overrides the name).  Every function is
 * reached through one table whose types come from nvml/nvml_abi.h with
 * __typeof__, so a prototype change is a compile error here, not a crash.
 *
 * The GPU set is fixed when the backend opens (as NVML's is at init); each
 * GPU's model comes from the catalogue by PCI device id, or, for a GPU the
 * catalogue does not know, is built from NVML's own profile information and
 * owned by the backend's private context.  Snapshots read the MIG mode and
 * every GI and CI afresh; changes are single NVML calls.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml_abi.h"
#include "backend.h"
#include "internal.h"

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
	       strcmp(name, "nvmlDeviceGetArchitecture") == 0 ||
	       strcmp(name, "nvmlDeviceGetNumGpuCores") == 0;
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
		for (unsigned k = 0; k < n; k++)
			cp->starts[cp->nstarts++] = pl[k].start;
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

static void nvml_close(void *priv)
{
	struct nvml_priv *p = priv;
	if (!p)
		return;
	if (p->dl) {
		if (p->f.nvmlShutdown)
			p->f.nvmlShutdown();
		dlclose(p->dl);
	}
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++)
		free(p->synth[i]);
	free(p);
}

static int nvml_open(void **ret_priv, struct vmig_err *err)
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
			gi->ci[gi->nci++] = (struct vmig_ci_state){.id = info.id,
								   .profile_id = info.profileId,
								   .start = info.placement.start,
								   .size = info.placement.size};
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
	r = p->f.nvmlDeviceGetMigMode(d, &g->mig_current, &g->mig_pending);
	if (r == NVML_ERROR_NOT_SUPPORTED) {
		g->mig_current = g->mig_pending = 0;
		return 0;
	}
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the MIG mode");
	return g->mig_current ? read_gis(p, i, g, err) : 0;
}

/*
 * vmig's own libnvidia-ml.so.1 serves simulated GPUs whose records live in
 * the state store.  Two things NVML cannot carry are taken from there, for
 * those GPUs only (matched by UUID): the "simulated" mark, and the GPU reset
 * (NVML has none; nvidia-smi resets through the driver's private
 * interface).  A GPU the store does not know as simulated is a real one.
 */
static struct vmig_state *sim_records(struct vmig_ctx **ret_ctx)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_state *st = malloc(sizeof(*st));
	if (st && vmig_open("sim", &ctx, NULL) == 0 && vmig_snapshot(ctx, st, NULL) == 0) {
		*ret_ctx = ctx;
		return st;
	}
	vmig_close(ctx);
	free(st);
	return NULL;
}

static int simulated_index(const struct vmig_state *sim, const char *uuid)
{
	for (unsigned i = 0; sim && i < sim->ngpu; i++)
		if ((sim->gpu[i].flags & VMIG_GPU_SIMULATED) && strcmp(sim->gpu[i].uuid, uuid) == 0)
			return (int)i;
	return -1;
}

static int nvml_snapshot(void *priv, struct vmig_state *ret, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	st->ngpu = p->ngpu;
	struct vmig_ctx *sim_ctx = NULL;
	struct vmig_state *sim = sim_records(&sim_ctx);
	int r = 0;
	for (unsigned i = 0; i < p->ngpu && r >= 0; i++) {
		r = read_gpu(p, i, &st->gpu[i], err);
		if (r < 0)
			r = vmig_err_wrap(err, "GPU %u", i);
		else if (simulated_index(sim, st->gpu[i].uuid) >= 0)
			st->gpu[i].flags |= VMIG_GPU_SIMULATED;
	}
	vmig_close(sim_ctx);
	free(sim);
	if (r < 0) {
		free(st);
		return r;
	}
	memcpy(ret, st, sizeof(*st));
	free(st);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Changes                                                                   */
/* ------------------------------------------------------------------------ */

static int gpu_check(struct nvml_priv *p, unsigned gpu, struct vmig_err *err)
{
	return gpu < p->ngpu ? 0 : vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU %u not found", gpu);
}

static int nvml_set_mig_mode(void *priv, unsigned gpu, unsigned mode, int *ret_activation,
			     struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	int e = gpu_check(p, gpu, err);
	if (e < 0)
		return e;
	nvmlReturn_t activation = NVML_SUCCESS;
	nvmlReturn_t r = p->f.nvmlDeviceSetMigMode(p->dev[gpu], mode, &activation);
	if (r != NVML_SUCCESS)
		return nvml_fail(p, r, err, "setting the MIG mode");
	*ret_activation = activation == NVML_SUCCESS ? 0 : -vmig_from_nvml((int)activation);
	return 0;
}

static int nvml_gpu_reset(void *priv, unsigned gpu, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	int e = gpu_check(p, gpu, err);
	if (e < 0)
		return e;
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	struct vmig_ctx *ctx = NULL;
	struct vmig_state *sim = NULL;
	int index = -1;
	if (p->f.nvmlDeviceGetUUID(p->dev[gpu], uuid, sizeof(uuid)) == NVML_SUCCESS &&
	    (sim = sim_records(&ctx)) != NULL)
		index = simulated_index(sim, uuid);
	if (index < 0)
		e = vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				 "resetting a GPU is not supported through NVML");
	else
		e = vmig_gpu_reset(ctx, (unsigned)index, err);
	vmig_close(ctx);
	free(sim);
	return e;
}

static int nvml_create_gi(void *priv, unsigned gpu, unsigned profile_id, const unsigned *start,
			  unsigned *ret_gi_id, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	int e = gpu_check(p, gpu, err);
	if (e < 0)
		return e;
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(p->model[gpu], profile_id);
	nvmlGpuInstance_t gi;
	nvmlReturn_t r;
	if (start && gp && p->f.nvmlDeviceCreateGpuInstanceWithPlacement) {
		nvmlGpuInstancePlacement_t pl = {.start = *start, .size = gp->size};
		r = p->f.nvmlDeviceCreateGpuInstanceWithPlacement(p->dev[gpu], profile_id, &pl,
								  &gi);
	} else if (start) {
		return vmig_err_set(err, gp ? VMIG_E_NOT_SUPPORTED : VMIG_E_INVALID_ARGUMENT, NULL);
	} else {
		r = p->f.nvmlDeviceCreateGpuInstance(p->dev[gpu], profile_id, &gi);
	}
	if (r != NVML_SUCCESS)
		return vmig_err_set(err, vmig_from_nvml((int)r), NULL);
	nvmlGpuInstanceInfo_t info;
	if ((r = p->f.nvmlGpuInstanceGetInfo(gi, &info)) != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the new GPU instance");
	*ret_gi_id = info.id;
	return 0;
}

static int find_gi(struct nvml_priv *p, unsigned gpu, unsigned gi_id, nvmlGpuInstance_t *gi,
		   struct vmig_err *err)
{
	int e = gpu_check(p, gpu, err);
	if (e < 0)
		return e;
	nvmlReturn_t r = p->f.nvmlDeviceGetGpuInstanceById(p->dev[gpu], gi_id, gi);
	return r == NVML_SUCCESS ? 0 : vmig_err_set(err, vmig_from_nvml((int)r), NULL);
}

static int nvml_destroy_gi(void *priv, unsigned gpu, unsigned gi_id, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	nvmlGpuInstance_t gi;
	int e = find_gi(p, gpu, gi_id, &gi, err);
	if (e < 0)
		return e;
	nvmlReturn_t r = p->f.nvmlGpuInstanceDestroy(gi);
	return r == NVML_SUCCESS ? 0 : vmig_err_set(err, vmig_from_nvml((int)r), NULL);
}

static int nvml_create_ci(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_profile_id,
			  const unsigned *start, unsigned *ret_ci_id, struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	nvmlGpuInstance_t gi;
	int e = find_gi(p, gpu, gi_id, &gi, err);
	if (e < 0)
		return e;
	nvmlComputeInstance_t ci;
	nvmlReturn_t r;
	if (start) {
		nvmlGpuInstanceInfo_t info;
		if ((r = p->f.nvmlGpuInstanceGetInfo(gi, &info)) != NVML_SUCCESS)
			return nvml_fail(p, r, err, "reading the GPU instance");
		const struct vmig_gi_profile *gp =
		    vmig_gi_profile_by_id(p->model[gpu], info.profileId);
		const struct vmig_ci_profile *cp =
		    gp ? vmig_ci_profile_by_id(gp, ci_profile_id) : NULL;
		if (!cp)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, NULL);
		if (!p->f.nvmlGpuInstanceCreateComputeInstanceWithPlacement)
			return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
		nvmlComputeInstancePlacement_t pl = {.start = *start, .size = cp->slices};
		r = p->f.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gi, ci_profile_id, &pl,
									   &ci);
	} else {
		r = p->f.nvmlGpuInstanceCreateComputeInstance(gi, ci_profile_id, &ci);
	}
	if (r != NVML_SUCCESS)
		return vmig_err_set(err, vmig_from_nvml((int)r), NULL);
	nvmlComputeInstanceInfo_t info;
	if ((r = p->f.nvmlComputeInstanceGetInfo_v2(ci, &info)) != NVML_SUCCESS)
		return nvml_fail(p, r, err, "reading the new compute instance");
	*ret_ci_id = info.id;
	return 0;
}

static int nvml_destroy_ci(void *priv, unsigned gpu, unsigned gi_id, unsigned ci_id,
			   struct vmig_err *err)
{
	struct nvml_priv *p = priv;
	nvmlGpuInstance_t gi;
	nvmlComputeInstance_t ci;
	int e = find_gi(p, gpu, gi_id, &gi, err);
	if (e < 0)
		return e;
	nvmlReturn_t r = p->f.nvmlGpuInstanceGetComputeInstanceById(gi, ci_id, &ci);
	if (r == NVML_SUCCESS)
		r = p->f.nvmlComputeInstanceDestroy(ci);
	return r == NVML_SUCCESS ? 0 : vmig_err_set(err, vmig_from_nvml((int)r), NULL);
}

const struct vmig_backend_ops vmig__backend_nvml = {
    .name = "nvml",
    .open = nvml_open,
    .close = nvml_close,
    .snapshot = nvml_snapshot,
    .set_mig_mode = nvml_set_mig_mode,
    .gpu_reset = nvml_gpu_reset,
    .create_gi = nvml_create_gi,
    .destroy_gi = nvml_destroy_gi,
    .create_ci = nvml_create_ci,
    .destroy_ci = nvml_destroy_ci,
};
