/*
 * hooks.c — how the driver API is reached, and what we hand back.
 *
 * Three ways into the driver are covered: direct links (the wrappers below
 * are exported under the driver's own names, so a preloaded
 * libvmig-cuda.so wins symbol resolution), dlsym on a handle of libcuda (our
 * dlsym asks the real one, then swaps the driver's address for our
 * wrapper), and cuGetProcAddress[_v2] (we call the real one with the
 * caller's exact arguments, so the driver picks the variant for the
 * caller's cudaVersion and stream flags, then swap the address it returned
 * for the wrapper of that very variant).  The wrappers, the table of real
 * addresses and the name table are all generated from hooks.def.
 *
 * (dlsym itself is a trampoline in dlsym.c.)
 *
 * Initialisation happens once (pthread_once) on the first hooked call:
 * configuration, the real driver (dlopen + the real dlsym), the accounting
 * region, the launch gate.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define VMIG_EXPORT __attribute__((visibility("default")))
/* For code that may run before a sanitizer runtime is ready (see dlsym_next). */
#define VMIG_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

enum {
#define VMIG_HOOK(sym, base, since, ptsz, impl, sig) VMIG_IDX_##sym,
#include "hooks.def"
#undef VMIG_HOOK
	VMIG_NHOOKS
};

struct hook {
	const char *name;
	const char *base;
	int since;
	int ptsz;
	void *wrapper;
};

/* Written once inside init_once, read-only afterwards. */
static void *real_addr[VMIG_NHOOKS];
/*
 * Set when the instance's limits or accounting file cannot be used, or the
 * instance does not admit this process (config.c): every
 * hooked call then fails as an uninitialised driver would, instead of
 * running without the instance's limits.
 */
static bool closed;
static void *real_lib;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* glibc's dlsym (dlsym.c reads it from its trampoline, hence not static). */
vmig__dlsym_fn *vmig__real_dlsym;
#define real_dlsym vmig__real_dlsym
static pthread_once_t dlsym_once = PTHREAD_ONCE_INIT;

static void init_all(void);

/* The wrappers: make sure we are initialised, then hand over to the handler. */
#define VMIG_HOOK(sym, base, since, ptsz, impl, sig)                                               \
	VMIG_EXPORT CUresult sym(sig##_P)                                                          \
	{                                                                                          \
		pthread_once(&init_once, init_all);                                                \
		if (VMIG_UNLIKELY(closed))                                                         \
			return CUDA_ERROR_NOT_INITIALIZED;                                         \
		__typeof__(sym) *real = (__typeof__(sym) *)real_addr[VMIG_IDX_##sym];              \
		if (VMIG_UNLIKELY(!real))                                                          \
			return CUDA_ERROR_NOT_FOUND;                                               \
		return vmig__hook_##impl(real, sig##_A);                                           \
	}
#include "hooks.def"
#undef VMIG_HOOK

static const struct hook hooks[VMIG_NHOOKS] = {
#define VMIG_HOOK(sym, base, since, ptsz, impl, sig) {#sym, #base, since, ptsz, (void *)sym},
#include "hooks.def"
#undef VMIG_HOOK
};

/*
 * glibc's dlsym, not ours.  dlvsym is not interposed, so ask it for the
 * versions dlsym has had: GLIBC_2.34 (libdl merged into libc), then the
 * first versions of x86-64 and aarch64.
 */
VMIG_NO_SANITIZE static void load_real_dlsym(void)
{
	static const char *const versions[] = {"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17"};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]) && !real_dlsym; i++)
		real_dlsym = (vmig__dlsym_fn *)dlvsym(RTLD_NEXT, "dlsym", versions[i]);
}

/*
 * The real dlsym, loaded on first use.  It may run inside a sanitizer
 * runtime's start-up (it resolves its interceptors with dlsym), before the
 * sanitizer is ready, so it and its callees are built uninstrumented.
 */
VMIG_NO_SANITIZE vmig__dlsym_fn *vmig__dlsym_loader(void)
{
	pthread_once(&dlsym_once, load_real_dlsym);
	return real_dlsym;
}

static void atfork_child(void)
{
	vmig__acct_forget();
	vmig__mem_atfork_child();
	vmig__vmm_atfork_child();
	vmig__launch_atfork_child();
}

static void resolve_all(const struct vmig__config *c)
{
	real_lib = dlopen(c->cuda_lib, RTLD_NOW | RTLD_LOCAL);
	if (!real_lib) {
		VMIG_LOG("cannot load the driver %s: %s", c->cuda_lib, dlerror());
		return;
	}
	for (int i = 0; i < VMIG_NHOOKS; i++) {
		void *a = real_dlsym(real_lib, hooks[i].name);
		/* Pointing VMIG_CUDA_LIBRARY at ourselves must not make wrappers loop. */
		real_addr[i] = a == hooks[i].wrapper ? NULL : a;
	}
}

static void init_all(void)
{
	const struct vmig__config *c = vmig__config();
	if (vmig__dlsym_loader())
		resolve_all(c);
	if (c->active) {
		VMIG_LOG("instance %s: memory limit %llu%s, compute %u%% (%s), accounting %s",
			 c->partition, (unsigned long long)c->mem_limit,
			 c->mem_limited ? "" : " (none)", c->compute_pct,
			 c->compute_mode == VMIG_COMPUTE_MPS	     ? "mps"
			 : c->compute_mode == VMIG_COMPUTE_TIMESLICE ? "time-slicing"
								     : "no cap",
			 c->acct_path[0] ? c->acct_path : "(private)");
		char why[VMIG_ACCT_PATH_LEN + 160] = "";
		if (c->closed) {
			closed = true;
			VMIG_LOG("%s", c->closed_why);
		} else if (!vmig__acct_open(c, why, sizeof(why))) {
			closed = true;
			VMIG_LOG("%s", why[0] ? why : "no accounting region: failing closed");
		}
	}
	if (c->why[0])
		VMIG_LOG("%s", c->why);
	vmig__mem_init(c);
	vmig__launch_init(c);
	pthread_atfork(NULL, NULL, atfork_child);
}

void vmig__init(void)
{
	pthread_once(&init_once, init_all);
}

/* Used during and after initialisation (never before). */
void *vmig__real_sym(const char *name)
{
	return real_lib && real_dlsym ? real_dlsym(real_lib, name) : NULL;
}

VMIG_NO_SANITIZE static int find_name(const char *name)
{
	for (int i = 0; i < VMIG_NHOOKS; i++)
		if (strcmp(hooks[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * The variant cuGetProcAddress would return for (base, version, flags),
 * from hooks.def's facts: the newest variant introduced at or before the
 * version, per-thread only when asked for and not overridden by LEGACY.
 */
static int find_variant(const char *base, int version, cuuint64_t flags)
{
	int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) &&
			 !(flags & CU_GET_PROC_ADDRESS_LEGACY_STREAM);
	for (int pass = per_thread; pass >= 0; pass--) {
		int best = -1;
		for (int i = 0; i < VMIG_NHOOKS; i++)
			if (hooks[i].ptsz == pass && hooks[i].since <= version &&
			    strcmp(hooks[i].base, base) == 0 &&
			    (best < 0 || hooks[i].since > hooks[best].since))
				best = i;
		if (best >= 0)
			return best;
	}
	return -1;
}

void *vmig__wrap_addr(void *addr, const char *name, int cuda_version, cuuint64_t flags)
{
	vmig__init();
	for (int i = 0; i < VMIG_NHOOKS; i++)
		if (real_addr[i] == addr)
			return hooks[i].wrapper;
	if (cuda_version < 0 || !name)
		return addr; /* dlsym of a name we hook, in some other library */
	/*
	 * A driver may hand out an address that is none of its exports.  Then
	 * the variant is known only from the facts in hooks.def; we use it
	 * only when that variant is exported, so the wrapper forwards to the
	 * same entry point under its public name.
	 */
	int i = find_variant(name, cuda_version, flags);
	if (i < 0 || !real_addr[i]) {
		VMIG_LOG("cuGetProcAddress(%s, %d, %llu): unknown address, not hooked", name,
			 cuda_version, (unsigned long long)flags);
		return addr;
	}
	VMIG_LOG("cuGetProcAddress(%s, %d, %llu): unexported address, using %s", name, cuda_version,
		 (unsigned long long)flags, hooks[i].name);
	return hooks[i].wrapper;
}

CUresult vmig__hook_init(__typeof__(cuInit) *real, SIG_INIT_P)
{
	return real(Flags);
}

CUresult vmig__hook_gpa1(__typeof__(cuGetProcAddress) *real, SIG_GPA1_P)
{
	CUresult rc = real(symbol, pfn, cudaVersion, flags);
	if (rc == CUDA_SUCCESS && pfn && *pfn)
		*pfn = vmig__wrap_addr(*pfn, symbol, cudaVersion, flags);
	return rc;
}

CUresult vmig__hook_gpa2(__typeof__(cuGetProcAddress_v2) *real, SIG_GPA2_P)
{
	CUresult rc = real(symbol, pfn, cudaVersion, flags, symbolStatus);
	if (rc == CUDA_SUCCESS && pfn && *pfn)
		*pfn = vmig__wrap_addr(*pfn, symbol, cudaVersion, flags);
	return rc;
}

/* dlsym(handle, name) for every handle but RTLD_NEXT (see dlsym.c). */
VMIG_NO_SANITIZE void *vmig__dlsym_any(void *handle, const char *name)
{
	vmig__dlsym_fn *real = vmig__dlsym_loader();
	void *addr = real ? real(handle, name) : NULL;
	/* Only names we hook are looked at further: "cu" + a hooks.def entry. */
	if (!addr || name[0] != 'c' || name[1] != 'u' || find_name(name) < 0)
		return addr;
	return vmig__wrap_addr(addr, name, -1, 0);
}
