/*
 * probe.c — a CUDA "application" for the interposer tests.  It links
 * directly against the stand-in libcuda.so.1 and is started by
 * test_interpose with LD_PRELOAD and VMIG_* set as a launcher would.  Each
 * scenario checks what it sees and exits 0, or prints "probe: <what>" and
 * exits 1.  The quota it expects is VMIG_MEM_LIMIT (plain bytes).
 *
 *   passthrough | clamp | quota | paths | dlsym | gpa | race N | hold BYTES |
 *   fill | share API SECONDS [WARMUP] | work KIND WARMUP SECONDS | startup |
 *   instance MIB | child BYTES | rg-follow
 *
 * instance, child and rg-follow are what tests/soft/inside.sh runs under
 * `vmig run`: they check what the instance looks like from inside.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cuda_api.h"
#include "proc.h"
#include "region.h"

unsigned long vmigstub_calls(const char *name);
void *vmigstub_addr(const char *name);
uint64_t vmigstub_busy_ns(void);
uint64_t vmigstub_gpu_busy_ns(void);
uint64_t vmigstub_group_busy_ns(const char *group);
uint64_t vmigstub_now_ns(void);
void vmigstub_sleep_ns(uint64_t ns);
int vmigstub_barrier(unsigned n);
CUresult cuCtxSynchronize(void);
CUresult cuStreamSynchronize(CUstream s);

static int failures;
#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("probe: %s:%d: %s: ", __func__, __LINE__, #cond);                   \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static const char *const hooked[] = {
#define VMIG_HOOK(sym, base, since, ptsz, impl, sig) #sym,
#include "hooks.def"
#undef VMIG_HOOK
};

/* PROBE_QUOTA, when set, is the quota to expect instead of VMIG_MEM_LIMIT (a forged one). */
static uint64_t env_u64(const char *name)
{
	const char *q = getenv("PROBE_QUOTA");
	const char *s = q && strcmp(name, "VMIG_MEM_LIMIT") == 0 ? q : getenv(name);
	return s ? strtoull(s, NULL, 10) : 0;
}

static bool hooked_run(void)
{
	return getenv("VMIG_PARTITION") && getenv("LD_PRELOAD");
}

static uint64_t used_bytes(void)
{
	size_t f = 0, t = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS, "meminfo");
	return t - f;
}

/* ---- Memory ------------------------------------------------------------ */

static void sc_passthrough(void)
{
	uint64_t phys = env_u64("VMIGSTUB_TOTAL_MEM");
	CUdeviceptr p = 0;
	EXPECT(cuMemAlloc_v2(&p, phys - 4096) == CUDA_SUCCESS, "nearly all physical memory");
	size_t f = 0, t = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && t == phys && f == 4096,
	       "free %zu total %zu", f, t);
	EXPECT(cuMemFree_v2(p) == CUDA_SUCCESS, "free");
}

static void sc_clamp(void)
{
	uint64_t phys = env_u64("VMIGSTUB_TOTAL_MEM");
	size_t f = 0, t = 0, tm = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && t == phys && f == phys,
	       "a quota above the physical size reports the physical size: %zu", t);
	EXPECT(cuDeviceTotalMem_v2(&tm, 0) == CUDA_SUCCESS && tm == phys, "total %zu", tm);
}

static void sc_quota(void)
{
	uint64_t L = env_u64("VMIG_MEM_LIMIT");
	CUdeviceptr a = 0, b = 0, p = 0xdead;
	EXPECT(cuMemAlloc_v2(&a, L - 1000) == CUDA_SUCCESS, "L-1000");
	EXPECT(cuMemAlloc_v2(&p, 1001) == CUDA_ERROR_OUT_OF_MEMORY, "one byte over");
	EXPECT(p == 0xdead, "a refused allocation leaves *dptr alone");
	EXPECT(cuMemAlloc_v2(&b, 1000) == CUDA_SUCCESS, "exactly the quota");
	size_t f = 1, t = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && f == 0 && t == L, "f %zu t %zu", f, t);
	EXPECT(cuMemAlloc_v2(&p, 1) == CUDA_ERROR_OUT_OF_MEMORY, "full");
	CUdeviceptr_v1 p1 = 0;
	EXPECT(cuMemAlloc(&p1, 1) == CUDA_ERROR_OUT_OF_MEMORY, "full, 32-bit API");
	EXPECT(cuMemFree_v2(a) == CUDA_SUCCESS, "free");
	EXPECT(cuMemGetInfo_v2(&f, NULL) == CUDA_SUCCESS && f == L - 1000, "free %zu", f);
	EXPECT(cuMemGetInfo_v2(NULL, &t) == CUDA_SUCCESS && t == L, "NULL free is fine");
	unsigned int f1 = 0, t1 = 0;
	EXPECT(cuMemGetInfo(&f1, &t1) == CUDA_SUCCESS && f1 == L - 1000 && t1 == L, "v1 %u %u", f1,
	       t1);
	size_t tm = 0;
	unsigned int tm1 = 0;
	EXPECT(cuDeviceTotalMem_v2(&tm, 0) == CUDA_SUCCESS && tm == L, "total %zu", tm);
	EXPECT(cuDeviceTotalMem(&tm1, 0) == CUDA_SUCCESS && tm1 == L, "total v1 %u", tm1);
	EXPECT(cuMemFree_v2(b) == CUDA_SUCCESS, "free");
	EXPECT(used_bytes() == 0, "all given back: %" PRIu64, used_bytes());
	EXPECT(cuMemAlloc_v2(&a, L) == CUDA_SUCCESS, "the whole quota in one piece");
	EXPECT(cuMemFree_v2(a) == CUDA_SUCCESS, "free");
}

static void paths_linear(void)
{
	CUdeviceptr_v1 p1 = 0;
	CUdeviceptr p = 0, q = 0;
	EXPECT(cuMemAlloc(&p1, 4096) == CUDA_SUCCESS && used_bytes() == 4096, "v1 alloc");
	EXPECT(cuMemFree(p1) == CUDA_SUCCESS && used_bytes() == 0, "v1 free");
	size_t pitch = 0;
	EXPECT(cuMemAllocPitch_v2(&p, &pitch, 1000, 10, 4) == CUDA_SUCCESS && pitch == 1024 &&
		   used_bytes() == 10240,
	       "pitch x height as returned: pitch %zu used %" PRIu64, pitch, used_bytes());
	EXPECT(cuMemFree_v2(p) == CUDA_SUCCESS && used_bytes() == 0, "pitch free");
	unsigned int pitch1 = 0;
	EXPECT(cuMemAllocPitch(&p1, &pitch1, 1500, 3, 4) == CUDA_SUCCESS && pitch1 == 2048 &&
		   used_bytes() == 6144,
	       "v1 pitch %u used %" PRIu64, pitch1, used_bytes());
	EXPECT(cuMemFree(p1) == CUDA_SUCCESS && used_bytes() == 0, "v1 pitch free");
	EXPECT(cuMemAllocManaged(&p, 5000, 1) == CUDA_SUCCESS && used_bytes() == 5000, "managed");
	EXPECT(cuMemFree_v2(p) == CUDA_SUCCESS && used_bytes() == 0, "managed free");
	EXPECT(cuMemAllocAsync(&p, 3000, NULL) == CUDA_SUCCESS, "async");
	EXPECT(cuMemAllocAsync_ptsz(&q, 3000, NULL) == CUDA_SUCCESS && used_bytes() == 6000,
	       "ptsz");
	EXPECT(cuMemFreeAsync(p, NULL) == CUDA_SUCCESS && used_bytes() == 3000, "free async");
	EXPECT(cuMemFreeAsync_ptsz(q, NULL) == CUDA_SUCCESS && used_bytes() == 0, "free ptsz");
	CUmemoryPool pool = (CUmemoryPool)(uintptr_t)1;
	EXPECT(cuMemAllocFromPoolAsync(&p, 7000, pool, NULL) == CUDA_SUCCESS, "pool");
	EXPECT(cuMemAllocFromPoolAsync_ptsz(&q, 7000, pool, NULL) == CUDA_SUCCESS &&
		   used_bytes() == 14000,
	       "pool ptsz");
	EXPECT(cuMemFree_v2(p) == CUDA_SUCCESS && cuMemFreeAsync(q, NULL) == CUDA_SUCCESS &&
		   used_bytes() == 0,
	       "pool frees");
	EXPECT(cuMemFree_v2(0x1234) == CUDA_ERROR_INVALID_VALUE && used_bytes() == 0,
	       "unknown pointer: the driver's answer, nothing given back");
}

static void paths_vmm_arrays(void)
{
	CUmemGenericAllocationHandle h = 0, hh = 0;
	CUmemAllocationProp prop = {0};
	prop.type = 1;
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	EXPECT(cuMemCreate(&h, 2u << 20, &prop, 0) == CUDA_SUCCESS && used_bytes() == 2u << 20,
	       "VMM device");
	prop.location.type = 2; /* host */
	EXPECT(cuMemCreate(&hh, 1u << 20, &prop, 0) == CUDA_SUCCESS && used_bytes() == 2u << 20,
	       "VMM host memory is not device quota");
	EXPECT(cuMemRelease(h) == CUDA_SUCCESS && cuMemRelease(hh) == CUDA_SUCCESS &&
		   used_bytes() == 0,
	       "VMM release");
	CUarray a = NULL;
	CUDA_ARRAY_DESCRIPTOR d2 = {100, 50, CU_AD_FORMAT_FLOAT, 4};
	EXPECT(cuArrayCreate_v2(&a, &d2) == CUDA_SUCCESS && used_bytes() == 80000, "2D array");
	EXPECT(cuArrayDestroy(a) == CUDA_SUCCESS && used_bytes() == 0, "destroy");
	CUDA_ARRAY_DESCRIPTOR_v1 d1 = {100, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1};
	EXPECT(cuArrayCreate(&a, &d1) == CUDA_SUCCESS && used_bytes() == 100, "1D v1 array");
	EXPECT(cuArrayDestroy(a) == CUDA_SUCCESS && used_bytes() == 0, "destroy");
	CUDA_ARRAY3D_DESCRIPTOR d3 = {
	    16, 16, 12, CU_AD_FORMAT_HALF, 2, CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED};
	EXPECT(cuArray3DCreate_v2(&a, &d3) == CUDA_SUCCESS && used_bytes() == 16 * 16 * 12 * 4,
	       "layered cubemap %" PRIu64, used_bytes());
	EXPECT(cuArrayDestroy(a) == CUDA_SUCCESS && used_bytes() == 0, "destroy");
	CUDA_ARRAY3D_DESCRIPTOR_v1 d31 = {8, 8, 8, CU_AD_FORMAT_SIGNED_INT32, 1, 0};
	EXPECT(cuArray3DCreate(&a, &d31) == CUDA_SUCCESS && used_bytes() == 2048, "3D v1");
	EXPECT(cuArrayDestroy(a) == CUDA_SUCCESS && used_bytes() == 0, "destroy");
	CUmipmappedArray m = NULL;
	CUDA_ARRAY3D_DESCRIPTOR dm = {64, 64, 0, CU_AD_FORMAT_UNSIGNED_INT8, 4, 0};
	EXPECT(cuMipmappedArrayCreate(&m, &dm, 3) == CUDA_SUCCESS && used_bytes() == 21504,
	       "mipmap levels summed: %" PRIu64, used_bytes());
	EXPECT(cuMipmappedArrayDestroy(m) == CUDA_SUCCESS && used_bytes() == 0, "destroy");
}

/*
 * The VMM idiom of NVIDIA's guide and samples: create, reserve, map, release
 * the handle at once, unmap much later.  The memory lives until the unmap,
 * so the charge must too: chunks of a quarter of the quota fit four times,
 * never five, however early their handles are released.
 */
static void sc_vmm(void)
{
	uint64_t L = env_u64("VMIG_MEM_LIMIT"), chunk = L / 4;
	CUmemAllocationProp prop = {0};
	prop.type = 1;
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	CUdeviceptr va[5] = {0};
	CUmemGenericAllocationHandle h = 0, h2 = 0, r = 0;
	for (int i = 0; i < 4; i++) {
		EXPECT(cuMemCreate(&h, chunk, &prop, 0) == CUDA_SUCCESS, "chunk %d", i);
		EXPECT(cuMemAddressReserve(&va[i], chunk, 0, 0, 0) == CUDA_SUCCESS, "reserve");
		EXPECT(cuMemMap(va[i], chunk, 0, h, 0) == CUDA_SUCCESS, "map %d", i);
		EXPECT(cuMemRelease(h) == CUDA_SUCCESS, "release right after mapping");
	}
	EXPECT(used_bytes() == 4 * chunk, "mapped memory stays charged: %" PRIu64, used_bytes());
	EXPECT(cuMemCreate(&h, chunk, &prop, 0) == CUDA_ERROR_OUT_OF_MEMORY,
	       "a fifth chunk is over the quota");
	/* A retained handle keeps the memory after its last unmap, until released. */
	EXPECT(cuMemRetainAllocationHandle(&r, (void *)(uintptr_t)(va[0] + 4096)) == CUDA_SUCCESS,
	       "retain");
	EXPECT(cuMemUnmap(va[0], chunk) == CUDA_SUCCESS, "unmap 0");
	EXPECT(used_bytes() == 4 * chunk, "retained: still charged");
	EXPECT(cuMemCreate(&h, chunk, &prop, 0) == CUDA_ERROR_OUT_OF_MEMORY, "still full");
	EXPECT(cuMemRelease(r) == CUDA_SUCCESS && used_bytes() == 3 * chunk,
	       "released: given back");
	/* One allocation mapped twice, unmapped in one call covering both mappings. */
	EXPECT(cuMemCreate(&h2, chunk, &prop, 0) == CUDA_SUCCESS, "room again");
	EXPECT(cuMemAddressReserve(&va[4], 2 * chunk, 0, 0, 0) == CUDA_SUCCESS, "reserve two");
	EXPECT(cuMemMap(va[4], chunk, 0, h2, 0) == CUDA_SUCCESS &&
		   cuMemMap(va[4] + chunk, chunk, 0, h2, 0) == CUDA_SUCCESS,
	       "mapped twice");
	EXPECT(cuMemRelease(h2) == CUDA_SUCCESS && used_bytes() == 4 * chunk, "charged once");
	EXPECT(cuMemUnmap(va[4], 2 * chunk) == CUDA_SUCCESS && used_bytes() == 3 * chunk,
	       "both mappings gone: given back");
	EXPECT(cuMemRelease(h2) == CUDA_ERROR_INVALID_VALUE && used_bytes() == 3 * chunk,
	       "a second release is the driver's error and gives nothing back");
	for (int i = 1; i < 4; i++)
		EXPECT(cuMemUnmap(va[i], chunk) == CUDA_SUCCESS, "unmap %d", i);
	EXPECT(used_bytes() == 0, "all given back: %" PRIu64, used_bytes());
	printf("vmm ok\n");
}

/* The room the instance has left, as this process sees it. */
static void sc_room(void)
{
	size_t f = 0, t = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS, "meminfo");
	printf("room %zu\n", f);
}

/* With the instance's accounting file unusable, nothing runs at all. */
static void sc_closed(void)
{
	CUdeviceptr p = 0;
	size_t f = 0, t = 0;
	EXPECT(cuInit(0) == CUDA_ERROR_NOT_INITIALIZED, "cuInit fails closed");
	EXPECT(cuMemAlloc_v2(&p, 4096) == CUDA_ERROR_NOT_INITIALIZED, "no allocation");
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_ERROR_NOT_INITIALIZED, "no memory report");
	printf("closed\n");
}

/* Every path refuses what does not fit, without reaching the driver. */
static void paths_refused(uint64_t L)
{
	CUdeviceptr p = 0;
	CUmemGenericAllocationHandle h = 0;
	CUmemAllocationProp prop = {0};
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	CUarray a = NULL;
	CUDA_ARRAY_DESCRIPTOR d = {L, 1, CU_AD_FORMAT_UNSIGNED_INT16, 1};
	size_t pitch;
	unsigned long before =
	    vmigstub_calls("cuMemAlloc_v2") + vmigstub_calls("cuMemAllocManaged") +
	    vmigstub_calls("cuMemAllocAsync_ptsz") + vmigstub_calls("cuMemAllocFromPoolAsync") +
	    vmigstub_calls("cuMemCreate") + vmigstub_calls("cuArrayCreate_v2") +
	    vmigstub_calls("cuMemAllocPitch_v2");
	EXPECT(cuMemAlloc_v2(&p, L + 1) == CUDA_ERROR_OUT_OF_MEMORY, "alloc");
	EXPECT(cuMemAllocManaged(&p, L + 1, 1) == CUDA_ERROR_OUT_OF_MEMORY, "managed");
	EXPECT(cuMemAllocAsync_ptsz(&p, L + 1, NULL) == CUDA_ERROR_OUT_OF_MEMORY, "async");
	EXPECT(cuMemAllocFromPoolAsync(&p, L + 1, (CUmemoryPool)1, NULL) ==
		   CUDA_ERROR_OUT_OF_MEMORY,
	       "pool");
	EXPECT(cuMemCreate(&h, L + 1, &prop, 0) == CUDA_ERROR_OUT_OF_MEMORY, "VMM");
	EXPECT(cuArrayCreate_v2(&a, &d) == CUDA_ERROR_OUT_OF_MEMORY, "array");
	EXPECT(cuMemAllocPitch_v2(&p, &pitch, L / 2 + 1, 2, 4) == CUDA_ERROR_OUT_OF_MEMORY,
	       "pitch");
	unsigned long after =
	    vmigstub_calls("cuMemAlloc_v2") + vmigstub_calls("cuMemAllocManaged") +
	    vmigstub_calls("cuMemAllocAsync_ptsz") + vmigstub_calls("cuMemAllocFromPoolAsync") +
	    vmigstub_calls("cuMemCreate") + vmigstub_calls("cuArrayCreate_v2") +
	    vmigstub_calls("cuMemAllocPitch_v2");
	EXPECT(before == after, "refusals reached the driver %lu times", after - before);
	CUDA_MEM_ALLOC_NODE_PARAMS np;
	memset(&np, 0, sizeof(np));
	CUgraphNode node = NULL;
	np.bytesize = L + 1;
	EXPECT(cuGraphAddMemAllocNode(&node, NULL, NULL, 0, &np) == CUDA_ERROR_OUT_OF_MEMORY,
	       "a graph memory node larger than the room left");
	np.bytesize = 4096;
	EXPECT(cuGraphAddMemAllocNode(&node, NULL, NULL, 0, &np) == CUDA_SUCCESS, "fits");
	EXPECT(used_bytes() == 0, "nothing charged: %" PRIu64, used_bytes());
}

static void sc_paths(void)
{
	paths_linear();
	paths_vmm_arrays();
	paths_refused(env_u64("VMIG_MEM_LIMIT"));
}

/* ---- Lookup routes ------------------------------------------------------- */

static void sc_dlsym(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW);
	EXPECT(h != NULL, "dlopen: %s", dlerror());
	if (!h)
		return;
	bool on = getenv("LD_PRELOAD") != NULL;
	for (size_t i = 0; i < sizeof(hooked) / sizeof(hooked[0]); i++) {
		void *got = dlsym(h, hooked[i]), *stub = vmigstub_addr(hooked[i]);
		void *wrapper = dlsym(RTLD_DEFAULT, hooked[i]);
		EXPECT(stub != NULL, "%s missing from the stand-in", hooked[i]);
		if (on)
			EXPECT(got == wrapper && got != stub, "%s: not our wrapper", hooked[i]);
		else
			EXPECT(got == stub, "%s: not the driver's", hooked[i]);
	}
	EXPECT(dlsym(h, "cuEventRecord") == vmigstub_addr("cuEventRecord"), "unhooked name");
	EXPECT(dlsym(h, "cuNoSuchFunction") == NULL, "unknown name");
	EXPECT(dlsym(RTLD_NEXT, "malloc") == (void *)malloc, "RTLD_NEXT from the program");
	EXPECT(dlsym(RTLD_NEXT, "cuMemAlloc_v2") == dlsym(RTLD_DEFAULT, "cuMemAlloc_v2"),
	       "RTLD_NEXT finds the first definition after the program");
	__typeof__(cuMemAlloc_v2) *fn = (__typeof__(cuMemAlloc_v2) *)dlsym(h, "cuMemAlloc_v2");
	CUdeviceptr p = 0;
	if (on && getenv("VMIG_MEM_LIMIT"))
		EXPECT(fn(&p, env_u64("VMIG_MEM_LIMIT") + 1) == CUDA_ERROR_OUT_OF_MEMORY,
		       "the quota holds through dlsym");
	dlclose(h);
}

struct gpa_case {
	const char *name;
	int version;
	cuuint64_t flags;
	const char *variant; /* NULL: no address */
	CUdriverProcAddressQueryResult status;
	CUresult rc;
};

#define PT  CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
#define LEG CU_GET_PROC_ADDRESS_LEGACY_STREAM
static const struct gpa_case gpa_cases[] = {
    {"cuMemAlloc", 2000, 0, "cuMemAlloc", 0, 0},
    {"cuMemAlloc", 3020, 0, "cuMemAlloc_v2", 0, 0},
    {"cuMemAlloc", 12000, PT, "cuMemAlloc_v2", 0, 0},
    {"cuMemAllocPitch", 3010, 0, "cuMemAllocPitch", 0, 0},
    {"cuMemFree", 12080, 0, "cuMemFree_v2", 0, 0},
    {"cuMemGetInfo", 11000, PT, "cuMemGetInfo_v2", 0, 0},
    {"cuDeviceTotalMem", 2000, 0, "cuDeviceTotalMem", 0, 0},
    {"cuLaunchKernel", 4000, 0, "cuLaunchKernel", 0, 0},
    {"cuLaunchKernel", 7000, PT, "cuLaunchKernel_ptsz", 0, 0},
    {"cuLaunchKernel", 12000, PT | LEG, "cuLaunchKernel", 0, 0},
    {"cuLaunchKernel", 12000, LEG, "cuLaunchKernel", 0, 0},
    {"cuLaunchKernel", 3000, 0, NULL, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT, 0},
    {"cuLaunchKernelEx", 11080, PT, "cuLaunchKernelEx_ptsz", 0, 0},
    {"cuLaunchKernelEx", 11070, 0, NULL, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT, 0},
    {"cuLaunchCooperativeKernel", 12000, PT, "cuLaunchCooperativeKernel_ptsz", 0, 0},
    {"cuGraphLaunch", 12000, 0, "cuGraphLaunch", 0, 0},
    {"cuGraphLaunch", 12000, PT, "cuGraphLaunch_ptsz", 0, 0},
    {"cuMemAllocAsync", 11020, PT, "cuMemAllocAsync_ptsz", 0, 0},
    {"cuMemFreeAsync", 12000, 0, "cuMemFreeAsync", 0, 0},
    {"cuMemAllocFromPoolAsync", 12000, PT, "cuMemAllocFromPoolAsync_ptsz", 0, 0},
    {"cuMemCreate", 12000, 0, "cuMemCreate", 0, 0},
    {"cuArray3DCreate", 12000, 0, "cuArray3DCreate_v2", 0, 0},
    {"cuMipmappedArrayCreate", 5000, 0, "cuMipmappedArrayCreate", 0, 0},
    {"cuGraphAddMemAllocNode", 12000, 0, "cuGraphAddMemAllocNode", 0, 0},
    {"cuInit", 2000, 0, "cuInit", 0, 0},
    {"cuGetProcAddress", 11030, 0, "cuGetProcAddress", 0, 0},
    {"cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2", 0, 0},
    {"cuEventRecord", 12000, PT, "cuEventRecord_ptsz", 0, 0},
    {"cuNoSuchFunction", 12000, 0, NULL, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND, 0},
    {"cuMemAlloc", 99000, 0, NULL, 0, CUDA_ERROR_INVALID_VALUE},
};

static void gpa_check(__typeof__(cuGetProcAddress_v2) *gpa2, __typeof__(cuGetProcAddress) *gpa1)
{
	for (size_t i = 0; i < sizeof(gpa_cases) / sizeof(gpa_cases[0]); i++) {
		const struct gpa_case *c = &gpa_cases[i];
		void *want = c->variant ? dlsym(RTLD_DEFAULT, c->variant) : NULL;
		void *fn = (void *)1, *fn1 = (void *)1;
		CUdriverProcAddressQueryResult st = 99;
		CUresult rc = gpa2(c->name, &fn, c->version, c->flags, &st);
		EXPECT(rc == c->rc, "%s@%d/%llu: rc %d", c->name, c->version,
		       (unsigned long long)c->flags, rc);
		if (rc != CUDA_SUCCESS)
			continue;
		EXPECT(fn == want && st == c->status, "%s@%d/%llu: got %p (status %d), want %s",
		       c->name, c->version, (unsigned long long)c->flags, fn, st,
		       c->variant ? c->variant : "NULL");
		EXPECT(gpa1(c->name, &fn1, c->version, c->flags) == CUDA_SUCCESS && fn1 == want,
		       "v1 %s@%d", c->name, c->version);
	}
}

static void sc_gpa(void)
{
	bool on = hooked_run();
	gpa_check(cuGetProcAddress_v2, cuGetProcAddress);
	/* The lookup function found through itself is wrapped too, for both versions. */
	void *g2 = NULL, *g1 = NULL;
	EXPECT(cuGetProcAddress_v2("cuGetProcAddress", &g2, 12000, 0, NULL) == CUDA_SUCCESS,
	       "self");
	EXPECT(cuGetProcAddress("cuGetProcAddress", &g1, 11030, 0) == CUDA_SUCCESS, "self v1");
	if (on)
		EXPECT(g2 != vmigstub_addr("cuGetProcAddress_v2") &&
			   g1 != vmigstub_addr("cuGetProcAddress"),
		       "cuGetProcAddress handed out unwrapped");
	gpa_check((__typeof__(cuGetProcAddress_v2) *)g2, (__typeof__(cuGetProcAddress) *)g1);
	/* The wrapper of the exact variant forwards to that variant. */
	void *fa = NULL, *fl = NULL;
	cuGetProcAddress_v2("cuMemAllocAsync", &fa, 12000, PT, NULL);
	cuGetProcAddress_v2("cuLaunchKernel", &fl, 12000, PT, NULL);
	unsigned long a0 = vmigstub_calls("cuMemAllocAsync_ptsz"),
		      a1 = vmigstub_calls("cuMemAllocAsync");
	unsigned long l0 = vmigstub_calls("cuLaunchKernel_ptsz"),
		      l1 = vmigstub_calls("cuLaunchKernel");
	CUdeviceptr p = 0;
	EXPECT(fa && ((__typeof__(cuMemAllocAsync_ptsz) *)fa)(&p, 64, NULL) == CUDA_SUCCESS,
	       "async");
	EXPECT(fl && ((__typeof__(cuLaunchKernel_ptsz) *)fl)((CUfunction)1, 1, 1, 1, 1, 1, 1, 0,
							     NULL, NULL, NULL) == CUDA_SUCCESS,
	       "launch");
	EXPECT(vmigstub_calls("cuMemAllocAsync_ptsz") == a0 + 1 &&
		   vmigstub_calls("cuMemAllocAsync") == a1,
	       "cuMemAllocAsync_ptsz forwarded to another variant");
	EXPECT(vmigstub_calls("cuLaunchKernel_ptsz") == l0 + 1 &&
		   vmigstub_calls("cuLaunchKernel") == l1,
	       "cuLaunchKernel_ptsz forwarded to another variant");
	if (on && getenv("VMIG_MEM_LIMIT")) {
		void *fm = NULL;
		cuGetProcAddress_v2("cuMemAlloc", &fm, 12000, 0, NULL);
		EXPECT(((__typeof__(cuMemAlloc_v2) *)fm)(&p, env_u64("VMIG_MEM_LIMIT") + 1) ==
			   CUDA_ERROR_OUT_OF_MEMORY,
		       "the quota holds through cuGetProcAddress");
	}
}

/* ---- Several processes -------------------------------------------------------- */

/* Allocate pseudo-random chunks until nothing fits; returns the bytes held. */
static uint64_t fill_up(unsigned seed)
{
	uint64_t held = 0;
	unsigned fails = 0;
	while (fails < 3) {
		seed = seed * 1103515245u + 12345u;
		size_t n = fails ? 4096 : 4096 + (seed >> 8) % (1u << 20);
		CUdeviceptr p = 0;
		CUresult rc = cuMemAlloc_v2(&p, n);
		if (rc == CUDA_SUCCESS) {
			held += n;
			fails = 0;
		} else {
			EXPECT(rc == CUDA_ERROR_OUT_OF_MEMORY, "rc %d", rc);
			fails++;
		}
	}
	return held;
}

static void sc_race(int n)
{
	uint64_t L = env_u64("VMIG_MEM_LIMIT");
	int go[2], done[2], release[2];
	if (pipe(go) || pipe(done) || pipe(release)) {
		EXPECT(0, "pipe");
		return;
	}
	for (int i = 0; i < n; i++) {
		if (fork() != 0)
			continue;
		char c;
		close(go[1]);
		close(release[1]);
		if (read(go[0], &c, 1) < 0) /* EOF: everybody starts at once */
			_exit(2);
		uint64_t held = fill_up((unsigned)getpid());
		if (write(done[1], &held, sizeof(held)) != sizeof(held))
			_exit(2);
		if (read(release[0], &c, 1) < 0) /* hold until the parent has looked */
			_exit(2);
		_exit(failures ? 1 : 0);
	}
	close(go[1]);
	uint64_t sum = 0;
	for (int i = 0; i < n; i++) {
		uint64_t held = 0;
		EXPECT(read(done[0], &held, sizeof(held)) == sizeof(held), "child report");
		sum += held;
	}
	EXPECT(sum <= L, "%d processes hold %" PRIu64 " > quota %" PRIu64, n, sum, L);
	EXPECT(sum >= L / 2, "they should fill most of it: %" PRIu64, sum);
	EXPECT(used_bytes() == sum, "instance view %" PRIu64 " vs held %" PRIu64, used_bytes(),
	       sum);
	close(release[1]);
	for (int i = 0; i < n; i++) {
		int st = 0;
		wait(&st);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	}
	/*
	 * The children left with _exit, as a crash would: their slots are
	 * freed when a live process looks, at most every 100 ms.  Look until
	 * they are; the limit only turns a reclaim that never comes into a
	 * failure.
	 */
	double until = test_now() + 60;
	while (used_bytes() != 0 && test_now() < until)
		test_nap_ms(10);
	EXPECT(used_bytes() == 0, "exited children hold nothing: %" PRIu64, used_bytes());
	printf("race %d: %" PRIu64 " of %" PRIu64 " bytes\n", n, sum, L);
}

static void sc_hold(uint64_t n)
{
	CUdeviceptr p = 0;
	EXPECT(cuMemAlloc_v2(&p, n) == CUDA_SUCCESS, "hold %" PRIu64, n);
	printf("holding\n");
	fflush(stdout);
	alarm(120); /* killed by the test long before; never left behind for good */
	for (;;)
		pause();
}

static void sc_fill(void)
{
	uint64_t L = env_u64("VMIG_MEM_LIMIT");
	CUdeviceptr p = 0;
	size_t f = 0, t = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && f == L, "free %zu of %zu", f, t);
	EXPECT(cuMemAlloc_v2(&p, L) == CUDA_SUCCESS, "the whole quota");
}

/* ---- Compute ------------------------------------------------------------------ */

/* One 1 ms "kernel" (1000 blocks of 1 us) through the named API. */
static CUresult launch_one(const char *api, CUstream s, unsigned i)
{
	CUfunction f = (CUfunction)(uintptr_t)1000;
	static const char *const mix[] = {"kernel", "ptsz",  "ex",  "exptsz",
					  "coop",   "graph", "grid"};
	if (strcmp(api, "mixed") == 0)
		api = mix[i % 7];
	CUlaunchConfig cfg = {1000, 1, 1, 128, 1, 1, 0, s, NULL, 0};
	if (strcmp(api, "kernel") == 0)
		return cuLaunchKernel(f, 1000, 1, 1, 128, 1, 1, 0, s, NULL, NULL);
	if (strcmp(api, "ptsz") == 0)
		return cuLaunchKernel_ptsz(f, 10, 10, 10, 128, 1, 1, 0, NULL, NULL, NULL);
	if (strcmp(api, "ex") == 0)
		return cuLaunchKernelEx(&cfg, f, NULL, NULL);
	if (strcmp(api, "exptsz") == 0) {
		cfg.hStream = NULL;
		return cuLaunchKernelEx_ptsz(&cfg, f, NULL, NULL);
	}
	if (strcmp(api, "coop") == 0)
		return cuLaunchCooperativeKernel(f, 1000, 1, 1, 32, 1, 1, 0, s, NULL);
	if (strcmp(api, "graph") == 0)
		return cuGraphLaunch((CUgraphExec)(uintptr_t)1000000, s);
	if (strcmp(api, "grid") == 0)
		return cuLaunchGridAsync(f, 100, 10, s);
	return CUDA_ERROR_INVALID_VALUE;
}

/* The stand-in GPU's clock, in seconds: what every measurement here counts. */
static double sim_s(void)
{
	return (double)vmigstub_now_ns() / 1e9;
}

/*
 * Launches through one API for SECONDS of the GPU's time; prints this
 * process's GPU time as a percentage of the time after the first WARMUP
 * seconds.  PROBE_BARRIER=N starts N probes together.
 */
static void sc_share(const char *api, double seconds, double warmup)
{
	CUstream s = NULL;
	EXPECT(cuStreamCreate(&s, 0) == CUDA_SUCCESS, "stream");
	const char *bar = getenv("PROBE_BARRIER");
	if (bar)
		EXPECT(vmigstub_barrier((unsigned)atoi(bar)) == 0, "barrier");
	double t0 = sim_s(), tw = t0, b0 = 0;
	bool measuring = warmup <= 0;
	if (measuring)
		b0 = (double)vmigstub_busy_ns();
	for (unsigned i = 0; sim_s() - t0 < seconds; i++) {
		if (launch_one(api, s, i) != CUDA_SUCCESS) {
			EXPECT(0, "launch through %s", api);
			return;
		}
		if (!measuring && sim_s() - t0 >= warmup) {
			measuring = true;
			tw = sim_s();
			b0 = (double)vmigstub_busy_ns();
		}
	}
	double span = sim_s() - tw;
	printf("share %.1f\n", ((double)vmigstub_busy_ns() - b0) / 1e9 / span * 100.0);
	cuCtxSynchronize();
}

/*
 * Work of one kind for WARMUP + SECONDS of the stand-in GPU's time, measured
 * over the last SECONDS (every figure in simulated time):
 *
 *   kernel    continuous 1 ms kernels (1000 blocks of 1 us) on one stream
 *   streams4  continuous 1 ms one-block kernels on four streams (with
 *             VMIGSTUB_SMS=4 they run side by side)
 *   sync      a host-synchronising loop: one 1 ms kernel, wait for it, 1 ms
 *             of host work
 *   sparse    one 1 ms kernel every 10 ms, waited for
 *
 * Prints "work share S ofbusy B idle I rate R": the group's GPU time
 * (VMIGSTUB_GROUP, else the instance) as a percentage of the time, of the
 * GPU's busy time, the GPU's idle percentage, and iterations per second.
 * PROBE_BARRIER=N starts N probes together; PROBE_SET_PCT=P@T stores the
 * share P into the region at T seconds (what `vmig mig -rg` does), and then
 * every 100 ms window after it is printed as "window T S".
 */
struct work_snap {
	double t, group, gpu;
	unsigned long iters;
};

static void work_snap(struct work_snap *w, const char *group, unsigned long iters)
{
	w->t = sim_s();
	w->group = (double)vmigstub_group_busy_ns(group) / 1e9;
	w->gpu = (double)vmigstub_gpu_busy_ns() / 1e9;
	w->iters = iters;
}

static CUresult work_step(const char *kind, CUstream *s, unsigned long i)
{
	CUfunction us = (CUfunction)(uintptr_t)1000, ms = (CUfunction)(uintptr_t)1000000;
	if (strcmp(kind, "kernel") == 0)
		return cuLaunchKernel(us, 1000, 1, 1, 128, 1, 1, 0, s[0], NULL, NULL);
	if (strcmp(kind, "streams4") == 0)
		return cuLaunchKernel(ms, 1, 1, 1, 128, 1, 1, 0, s[i % 4], NULL, NULL);
	bool sync = strcmp(kind, "sync") == 0;
	if (!sync && strcmp(kind, "sparse") != 0)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = cuLaunchKernel(us, 1000, 1, 1, 128, 1, 1, 0, s[0], NULL, NULL);
	if (rc == CUDA_SUCCESS)
		rc = cuStreamSynchronize(s[0]);
	vmigstub_sleep_ns(sync ? 1000000 : 9000000);
	return rc;
}

/* The region, writable: the probe plays `vmig mig -rg`. */
static void set_region_pct(unsigned pct)
{
	const char *path = getenv("VMIG_ACCOUNTING");
	int fd = path ? open(path, O_RDWR) : -1;
	struct vmig__region *r =
	    fd < 0 ? MAP_FAILED : mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	EXPECT(r != MAP_FAILED, "map the region to change its share");
	if (r != MAP_FAILED) {
		atomic_store(&r->compute_pct, pct);
		munmap(r, sizeof(*r));
	}
}

static void sc_work(const char *kind, double warmup, double seconds)
{
	CUstream s[4];
	for (int i = 0; i < 4; i++)
		EXPECT(cuStreamCreate(&s[i], 0) == CUDA_SUCCESS, "stream");
	const char *group =
	    getenv("VMIGSTUB_GROUP") ? getenv("VMIGSTUB_GROUP") : getenv("VMIG_PARTITION");
	const char *bar = getenv("PROBE_BARRIER"), *set = getenv("PROBE_SET_PCT");
	if (bar)
		EXPECT(vmigstub_barrier((unsigned)atoi(bar)) == 0, "barrier");
	unsigned set_pct = 0;
	double set_at = 0, t0 = sim_s(), next = 0;
	if (set && sscanf(set, "%u@%lf", &set_pct, &set_at) != 2)
		set_pct = 0;
	struct work_snap a = {0}, b, w, w0 = {0};
	bool measuring = false;
	unsigned long i = 0;
	for (; sim_s() - t0 < warmup + seconds; i++) {
		if (work_step(kind, s, i) != CUDA_SUCCESS) {
			EXPECT(0, "launch (%s)", kind);
			return;
		}
		double now = sim_s() - t0;
		if (!measuring && now >= warmup) {
			work_snap(&a, group, i);
			measuring = true;
		}
		if (set_pct && now >= set_at) {
			set_region_pct(set_pct);
			set_pct = 0;
			work_snap(&w0, group, i);
			next = now + 0.1;
		}
		if (next > 0 && now >= next) {
			work_snap(&w, group, i);
			printf("window %.2f %.1f\n", now - set_at,
			       (w.group - w0.group) / (w.t - w0.t) * 100);
			w0 = w;
			next = now + 0.1;
		}
	}
	work_snap(&b, group, i);
	double dt = b.t - a.t, dg = b.gpu - a.gpu, db = b.group - a.group;
	printf("work share %.1f ofbusy %.1f idle %.1f rate %.1f\n", db / dt * 100,
	       dg > 0 ? db / dg * 100 : 0, (1 - dg / dt) * 100, (double)(b.iters - a.iters) / dt);
	cuCtxSynchronize();
}

/* ---- Inside an instance started by `vmig run` ---------------------------------- */

/*
 * A child started the way PyTorch starts workers (fork + exec, environment
 * inherited).  It fills the room the parent left, reports, and holds it
 * until the parent closes its stdin.
 */
static void sc_child(uint64_t room)
{
	size_t f = 0, t = 0;
	CUdeviceptr p = 0, q = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && f == room,
	       "child sees %zu free, "
	       "want %" PRIu64,
	       f, room);
	EXPECT(cuMemAlloc_v2(&p, room) == CUDA_SUCCESS, "child: the rest of the quota");
	EXPECT(cuMemAlloc_v2(&q, 1) == CUDA_ERROR_OUT_OF_MEMORY, "child: one byte more");
	printf("child %s\n", failures ? "failed" : "holds the rest");
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
}

/* Start `probe child ROOM` with pipes to its stdin and from its stdout. */
static pid_t start_child(uint64_t room, int *to, FILE **from)
{
	int in[2], out[2];
	char arg[32];
	snprintf(arg, sizeof(arg), "%" PRIu64, room);
	if (pipe(in) || pipe(out))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/proc/self/exe", "probe", "child", arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = fdopen(out[0], "r");
	return pid;
}

/*
 * The instance as its programs see it: capacity reports of MIB MiB, the
 * quota exact to the byte, and a child process (fork + exec) counted
 * against the same quota while it runs and no longer once it has exited.
 */
static void sc_instance(uint64_t mib)
{
	uint64_t L = mib << 20, half = L / 2;
	size_t f = 0, t = 0, tm = 0;
	EXPECT(cuMemGetInfo_v2(&f, &t) == CUDA_SUCCESS && t == L && f == L, "meminfo %zu/%zu", f,
	       t);
	EXPECT(cuDeviceTotalMem_v2(&tm, 0) == CUDA_SUCCESS && tm == L, "total mem %zu", tm);
	printf("total %zu MiB, free %zu MiB, device total %zu MiB\n", t >> 20, f >> 20, tm >> 20);
	CUdeviceptr a = 0, b = 0, p = 0;
	EXPECT(cuMemAlloc_v2(&a, half) == CUDA_SUCCESS, "half the quota");
	int to = -1;
	FILE *from = NULL;
	pid_t pid = start_child(L - half, &to, &from);
	char line[128] = "";
	EXPECT(pid > 0 && from && fgets(line, sizeof(line), from) &&
		   strcmp(line, "child holds the rest\n") == 0,
	       "child said \"%s\"", line);
	EXPECT(cuMemGetInfo_v2(&f, NULL) == CUDA_SUCCESS && f == 0, "free %zu with the child", f);
	EXPECT(cuMemAlloc_v2(&p, 1) == CUDA_ERROR_OUT_OF_MEMORY, "the child's bytes count here");
	close(to);
	int st = 0;
	EXPECT(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "child status %d", st);
	if (from)
		fclose(from);
	EXPECT(cuMemGetInfo_v2(&f, NULL) == CUDA_SUCCESS && f == L - half, "free %zu after", f);
	EXPECT(cuMemAlloc_v2(&b, L - half) == CUDA_SUCCESS, "up to the quota");
	EXPECT(cuMemAlloc_v2(&p, 1) == CUDA_ERROR_OUT_OF_MEMORY, "one byte more");
	printf("quota %" PRIu64 " bytes: exact, shared with a child\n", L);
}

/* The instance's share as the region holds it (what `vmig mig -rg` writes). */
static unsigned region_pct(void)
{
	static struct vmig__region *r;
	const char *path = getenv("VMIG_ACCOUNTING");
	if (!r && path) {
		int fd = open(path, O_RDONLY);
		void *p =
		    fd < 0 ? MAP_FAILED : mmap(NULL, sizeof(*r), PROT_READ, MAP_SHARED, fd, 0);
		if (fd >= 0)
			close(fd);
		r = p == MAP_FAILED ? NULL : p;
	}
	return r ? vmig__region_pct(r) : 0;
}

/*
 * Continuous kernels, with the share measured over 1 s windows (the stream
 * drained at each end).  When the region's share changes, two more windows
 * are run after a settling one; prints every window, then the mean of the
 * last two as "settled".  Gives up after 20 s without a change.
 */
static void sc_rg_follow(void)
{
	CUstream s = NULL;
	EXPECT(cuStreamCreate(&s, 0) == CUDA_SUCCESS, "stream");
	unsigned first = region_pct(), left = 0;
	double t0 = sim_s(), w0 = t0, b0 = (double)vmigstub_busy_ns(), last[2] = {0, 0};
	printf("share of the region at start %u\n", first);
	fflush(stdout);
	for (unsigned i = 0, n = 0; sim_s() - t0 < 20; i++) {
		if (launch_one("kernel", s, i) != CUDA_SUCCESS) {
			EXPECT(0, "launch");
			return;
		}
		if (sim_s() - w0 < 1.0)
			continue;
		cuCtxSynchronize();
		double t = sim_s(), b = (double)vmigstub_busy_ns(),
		       share = (b - b0) / 1e9 / (t - w0) * 100;
		unsigned pct = region_pct();
		printf("window %u share %.1f region %u\n", n++, share, pct);
		fflush(stdout);
		last[0] = last[1];
		last[1] = share;
		w0 = t;
		b0 = b;
		if (left == 0 && pct != first)
			left = 3; /* one to settle, two to measure */
		else if (left > 0 && --left == 0) {
			printf("settled %.1f\n", (last[0] + last[1]) / 2);
			return;
		}
	}
	EXPECT(0, "the region's share never changed");
}

static void sc_startup(void)
{
	CUdeviceptr p = 0;
	EXPECT(cuInit(0) == CUDA_SUCCESS, "init");
	EXPECT(cuMemAlloc_v2(&p, 1 << 20) == CUDA_SUCCESS, "alloc");
	EXPECT(cuMemFree_v2(p) == CUDA_SUCCESS, "free");
}

int main(int argc, char **argv)
{
	const char *sc = argc > 1 ? argv[1] : "";
	if (strcmp(sc, "passthrough") == 0)
		sc_passthrough();
	else if (strcmp(sc, "clamp") == 0)
		sc_clamp();
	else if (strcmp(sc, "quota") == 0)
		sc_quota();
	else if (strcmp(sc, "paths") == 0)
		sc_paths();
	else if (strcmp(sc, "dlsym") == 0)
		sc_dlsym();
	else if (strcmp(sc, "gpa") == 0)
		sc_gpa();
	else if (strcmp(sc, "race") == 0 && argc > 2)
		sc_race(atoi(argv[2]));
	else if (strcmp(sc, "hold") == 0 && argc > 2)
		sc_hold(strtoull(argv[2], NULL, 10));
	else if (strcmp(sc, "fill") == 0)
		sc_fill();
	else if (strcmp(sc, "share") == 0 && argc > 3)
		sc_share(argv[2], atof(argv[3]), argc > 4 ? atof(argv[4]) : 0);
	else if (strcmp(sc, "work") == 0 && argc > 4)
		sc_work(argv[2], atof(argv[3]), atof(argv[4]));
	else if (strcmp(sc, "startup") == 0)
		sc_startup();
	else if (strcmp(sc, "vmm") == 0)
		sc_vmm();
	else if (strcmp(sc, "closed") == 0)
		sc_closed();
	else if (strcmp(sc, "room") == 0)
		sc_room();
	else if (strcmp(sc, "instance") == 0 && argc > 2)
		sc_instance(strtoull(argv[2], NULL, 10));
	else if (strcmp(sc, "child") == 0 && argc > 2)
		sc_child(strtoull(argv[2], NULL, 10));
	else if (strcmp(sc, "rg-follow") == 0)
		sc_rg_follow();
	else {
		printf("probe: unknown scenario \"%s\"\n", sc);
		return 2;
	}
	return failures ? 1 : 0;
}
