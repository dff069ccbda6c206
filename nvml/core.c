/*
 * core.c — the spine of the simulated libnvidia-ml.so.1: reference-counted
 * init and shutdown, the lock, the cached state and its refresh, the probe
 * stores the lock-free readers compare generations through, and the error
 * strings and versions.  handles.c owns the handles and the tables.
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
#include "nvml_note.h"

/* Tells vmig's nvml backend that this library is vmig's own (iface/nvml_note.h). */
VMIG_NVML_NOTE_DEFINE(VMIG_STATE_VERSION);

/* The versions vmig's command reports too (include/vmig/vmig.h). */
#define NV_DRIVER_VERSION VMIG_SIM_DRIVER_VERSION
#define NV_NVML_VERSION	  VMIG_SIM_NVML_VERSION
#define NV_CUDA_VERSION	  VMIG_SIM_CUDA_VERSION

struct nv_lib vmig__nv;
#define L vmig__nv
static pthread_mutex_t nv_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The writers' lock: changes run under it without nv_lock (a commit
 * fsyncs; queries of other threads must not wait for that), and init and
 * shutdown take it first, so the context a change uses stays open.  Order:
 * nv_write_lock, then nv_lock.
 */
static pthread_mutex_t nv_write_lock = PTHREAD_MUTEX_INITIALIZER;

bool vmig__nv_write_begin(void)
{
	pthread_mutex_unlock(&nv_lock);
	pthread_mutex_lock(&nv_write_lock);
	return L.ctx != NULL;
}

void vmig__nv_write_end(void)
{
	pthread_mutex_unlock(&nv_write_lock);
	pthread_mutex_lock(&nv_lock);
}

/*
 * fork() while another thread holds a lock would leave the child with a
 * lock nobody can release (a monitoring thread plus Python multiprocessing
 * is enough).  The forking thread takes both locks around fork, so the
 * child gets them free and the cache consistent (no refresh half done).
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&nv_write_lock);
	pthread_mutex_lock(&nv_lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&nv_lock);
	pthread_mutex_unlock(&nv_write_lock);
}

__attribute__((constructor)) static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

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
/* Probe stores and refresh                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Lock-free readers call vmig_store_generation on a probe: a store of the
 * same directory that is used for nothing else, so that its mapping of the
 * generation page never changes under them (vmig_store_read may remap the
 * page of the store it reads through), and that is never closed, so that a
 * reader can never touch a closed one.  Probes are kept for the life of
 * the library and reused across nvmlShutdown/nvmlInit, one per state
 * directory (and one more where the directory had no generation page yet
 * when its first probe was opened); the destructor closes them.
 */
struct nv_probe {
	struct nv_probe *next;
	struct vmig_store *store;
};
static struct nv_probe *probes;

static struct vmig_store *probe_for(const char *dir)
{
	bool paged = vmig_store_generation(L.store) != 0;
	for (struct nv_probe *p = probes; p; p = p->next)
		if (strcmp(vmig_store_dir(p->store), dir) == 0 &&
		    (vmig_store_generation(p->store) != 0 || !paged))
			return p->store;
	struct nv_probe *p = malloc(sizeof(*p));
	if (!p || vmig_store_open(dir, &p->store, NULL) < 0) {
		free(p);
		return NULL;
	}
	p->next = probes;
	probes = p;
	return p->store;
}

/* The probe of the cached state's directory; NULL (no lock-free reads) if none can be opened. */
static struct vmig_store *current_probe(void)
{
	struct vmig_store *p = L.probe;
	const char *dir = vmig_store_dir(L.store);
	if (p && strcmp(vmig_store_dir(p), dir) == 0 &&
	    (vmig_store_generation(p) != 0 || L.generation == 0))
		return p;
	return probe_for(dir);
}

__attribute__((destructor)) static void close_probes(void)
{
	/* At exit with NVML still in use, other threads may be reading: leave them be. */
	if (L.refcount)
		return;
	while (probes) {
		struct nv_probe *p = probes;
		probes = p->next;
		vmig_store_close(p->store);
		free(p);
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
	L.probe = current_probe();
	vmig__nv_sync();
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
	/* Generation 0: the directory has no generation page yet, so nothing tells us; re-read. */
	uint64_t gen = vmig_store_generation(L.store);
	if (gen == 0 || gen != L.generation) {
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

nvmlReturn_t vmig__nv_refuse(nvmlReturn_t err)
{
	nvmlReturn_t r = vmig__nv_enter();
	return r != NVML_SUCCESS ? r : vmig__nv_leave(err);
}

static nvmlReturn_t enter_handle(const void *h, unsigned kind, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r == NVML_SUCCESS && (r = vmig__nv_resolve(h, kind, ref)) != NVML_SUCCESS)
		vmig__nv_leave(r);
	return r;
}

nvmlReturn_t vmig__nv_enter_device(nvmlDevice_t h, struct nv_ref *ref)
{
	return enter_handle(h, NV_MIG, ref);
}

nvmlReturn_t vmig__nv_enter_gi(nvmlGpuInstance_t h, struct nv_ref *ref)
{
	return enter_handle(h, NV_GI, ref);
}

nvmlReturn_t vmig__nv_enter_ci(nvmlComputeInstance_t h, struct nv_ref *ref)
{
	return enter_handle(h, NV_CI, ref);
}

nvmlReturn_t vmig__nv_enter_device_out(nvmlDevice_t h, const void *out, struct nv_ref *ref)
{
	nvmlReturn_t r = vmig__nv_enter_device(h, ref);
	if (r == NVML_SUCCESS && !out)
		r = vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	return r;
}

static void lib_close(void)
{
	vmig_user_release(L.user);
	L.user = NULL;
	vmig__nv_forget();
	vmig_close(L.ctx);
	vmig_store_close(L.store);
	free(L.st);
	L.ctx = NULL;
	L.store = NULL;
	L.st = NULL;
}

static nvmlReturn_t lib_open(void)
{
	if (!vmig__nv_token_base)
		return NVML_ERROR_MEMORY; /* no address space for handles at load time */
	int r = vmig_store_open(NULL, &L.store, NULL);
	if (r >= 0)
		r = vmig_open("sim", &L.ctx, NULL);
	if (r >= 0 && !(L.st = malloc(sizeof(*L.st))))
		r = -VMIG_E_NO_MEMORY;
	nvmlReturn_t ret = r < 0 ? vmig__nv_code(r) : vmig__nv_refresh();
	if (ret != NVML_SUCCESS) {
		lib_close();
		return ret;
	}
	/*
	 * From now until the matching shutdown this process holds every
	 * simulated GPU, as a client holds the driver's device files: a user
	 * in the registry (lib/users.c).  A state directory we may not write
	 * (another user's) leaves us unrecorded rather than failing init.
	 */
	vmig_user_register(vmig_store_dir(L.store), VMIG_PROC_NVML, NULL, VMIG_PROC_WHOLE_GPU,
			   VMIG_PROC_WHOLE_GPU, 0, &L.user, NULL);
	return NVML_SUCCESS;
}

NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	nvmlReturn_t r = NVML_SUCCESS;
	pthread_mutex_lock(&nv_write_lock);
	pthread_mutex_lock(&nv_lock);
	if (L.refcount == 0)
		r = lib_open();
	if (r == NVML_SUCCESS)
		L.refcount++;
	pthread_mutex_unlock(&nv_lock);
	pthread_mutex_unlock(&nv_write_lock);
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
	pthread_mutex_lock(&nv_write_lock);
	pthread_mutex_lock(&nv_lock);
	if (L.refcount > 0 && --L.refcount == 0)
		lib_close();
	pthread_mutex_unlock(&nv_lock);
	pthread_mutex_unlock(&nv_write_lock);
	return NVML_SUCCESS;
}

void vmig__nv_ci_name(const struct vmig_gi_profile *gp, const struct vmig_ci_profile *cp, char *buf,
		      size_t size)
{
	char prof[64];
	if (vmig_ci_profile_name(gp, cp, prof, sizeof(prof)) < 0)
		snprintf(prof, sizeof(prof), "%s", gp->name);
	snprintf(buf, size, "MIG %s", prof);
}

/* ------------------------------------------------------------------------ */
/* Error strings and versions                                                */
/* ------------------------------------------------------------------------ */

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
	/* 999 is also the number of vmig's codes that NVML lacks (I/O, corrupt state). */
	if (code == NVML_ERROR_UNKNOWN)
		return vmig_strerror(VMIG_E_UNKNOWN);
	return vmig_strerror(vmig_from_nvml((int)code));
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
