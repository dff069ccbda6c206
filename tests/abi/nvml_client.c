/*
 * nvml_client.c — drives the simulated libnvidia-ml.so.1 as a real client
 * does: compiled against iface/nvml_abi.h only, the library found with
 * dlopen and every function with dlsym.  Each test runs in its own process
 * (tests/lib/harness.h) on a fresh state directory seeded by nvml_seed.
 *
 * Covered: init and its reference count, error strings and versions,
 * device queries and telemetry, the whole MIG API through success and
 * failure paths, MIG device handles, stale and foreign handles, NULL
 * outputs, short buffers, wrong struct versions, stubs, and other processes
 * and threads changing instances while a client holds NVML open.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tmpdir.h"
#include "nvml_abi.h"

static void *lib;
static char lib_path[512], seed_path[512];

static void *sym(const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "missing symbol %s\n", name);
		abort();
	}
	return p;
}
#define NV(name) ((__typeof__(&name))sym(#name))

/*
 * A fresh state directory (under the test's own TMPDIR, which the harness
 * removes) holding GPUs of the given models, then nvmlInit_v2.  This
 * program must not link libvmig, so nvml_seed writes the GPUs.
 */
static char state_dir[512];
static void setup(const char *models)
{
	if (!test_mkdtemp(state_dir, sizeof(state_dir), "abi"))
		abort();
	setenv("VMIG_STATE_DIR", state_dir, 1);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s %s %s", seed_path, state_dir, models);
	if (system(cmd) != 0)
		abort();
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS);
}

static void teardown(void)
{
	NV(nvmlShutdown)();
}

static nvmlDevice_t gpu(unsigned i)
{
	nvmlDevice_t d = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByIndex_v2)(i, &d), NVML_SUCCESS);
	return d;
}

static void enable_mig(nvmlDevice_t d)
{
	nvmlReturn_t act = NVML_ERROR_UNKNOWN;
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(d, NVML_DEVICE_MIG_ENABLE, &act), NVML_SUCCESS);
	CHECK_EQ_I(act, NVML_SUCCESS);
}

static nvmlGpuInstance_t make_gi(nvmlDevice_t d, unsigned profile_id)
{
	nvmlGpuInstance_t gi = NULL;
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, profile_id, &gi), NVML_SUCCESS);
	return gi;
}

static nvmlComputeInstance_t make_ci(nvmlGpuInstance_t gi, unsigned profile_id)
{
	nvmlComputeInstance_t ci = NULL;
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, profile_id, &ci), NVML_SUCCESS);
	return ci;
}

/* H100 80GB profile IDs (docs/geometry.md, `h100-80gb`). */
enum { P_1G10 = 19, P_1G10ME = 20, P_1G20 = 15, P_2G20 = 14, P_3G40 = 9, P_4G40 = 5, P_7G80 = 0 };

/* ------------------------------------------------------------------------ */

TEST(abi_layout)
{
	CHECK_EQ_U(sizeof(nvmlGpuInstanceProfileInfo_t), 48);
	CHECK_EQ_U(sizeof(nvmlGpuInstanceProfileInfo_v2_t), 152);
	CHECK_EQ_U(sizeof(nvmlGpuInstanceProfileInfo_v3_t), 152);
	CHECK_EQ_U(sizeof(nvmlComputeInstanceProfileInfo_t), 36);
	CHECK_EQ_U(sizeof(nvmlComputeInstanceProfileInfo_v2_t), 136);
	CHECK_EQ_U(sizeof(nvmlComputeInstanceProfileInfo_v3_t), 140);
	CHECK_EQ_U(sizeof(nvmlGpuInstanceInfo_t), 24);
	CHECK_EQ_U(sizeof(nvmlComputeInstanceInfo_t), 32);
	CHECK_EQ_U(sizeof(nvmlPciInfo_t), 68);
	CHECK_EQ_U(sizeof(nvmlMemory_v2_t), 40);
	CHECK_EQ_U(nvmlGpuInstanceProfileInfo_v2, 33554584u);
	CHECK_EQ_U(nvmlGpuInstanceProfileInfo_v3, 50331800u);
	CHECK_EQ_U(nvmlComputeInstanceProfileInfo_v2, 33554568u);
	CHECK_EQ_U(nvmlComputeInstanceProfileInfo_v3, 50331788u);
	CHECK_EQ_U(nvmlMemory_v2, 0x02000028u);
	CHECK_EQ_U(nvmlPciInfoExt_v1, 0x01000040u);
}

TEST(init_refcount)
{
	unsigned n = 7;
	CHECK_EQ_I(NV(nvmlDeviceGetCount_v2)(&n), NVML_ERROR_UNINITIALIZED);
	CHECK_EQ_U(n, 7);
	setup("h100-80gb");
	CHECK_EQ_I(NV(nvmlInitWithFlags)(0), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlInit)(), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlShutdown)(), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlShutdown)(), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetCount_v2)(&n), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	nvmlDevice_t d = gpu(0);
	CHECK_EQ_I(NV(nvmlShutdown)(), NVML_SUCCESS);
	char name[96];
	CHECK_EQ_I(NV(nvmlDeviceGetName)(d, name, sizeof(name)), NVML_ERROR_UNINITIALIZED);
	CHECK_EQ_I(NV(nvmlShutdown)(), NVML_SUCCESS); /* more shutdowns than inits: harmless */
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(d, name, sizeof(name)), NVML_SUCCESS);
	teardown();
}

TEST(error_strings)
{
	static const struct {
		int code;
		const char *text;
	} known[] = {{0, "Success"},
		     {1, "Uninitialized"},
		     {2, "Invalid Argument"},
		     {3, "Not Supported"},
		     {4, "Insufficient Permissions"},
		     {5, "Already Initialized"},
		     {6, "Not Found"},
		     {7, "Insufficient Size"},
		     {9, "Driver Not Loaded"},
		     {12, "NVML Shared Library Not Found"},
		     {16, "GPU requires restart"},
		     {19, "In use by another client"},
		     {20, "Insufficient Memory"},
		     {23, "Insufficient Resources"},
		     {25, "Argument version mismatch"},
		     {999, "Unknown Error"},
		     {4242, "Unknown Error"}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		CHECK_STR(NV(nvmlErrorString)((nvmlReturn_t)known[i].code), known[i].text);
	for (int c = 0; c <= 30; c++) {
		const char *s = NV(nvmlErrorString)((nvmlReturn_t)c);
		CHECK(s && *s && (c == 0 || strcmp(s, "Success") != 0));
		CHECK(c == 999 || strcmp(s, "Unknown Error") != 0);
	}
}

TEST(versions)
{
	setup("h100-80gb");
	char v[80];
	CHECK_EQ_I(NV(nvmlSystemGetDriverVersion)(v, sizeof(v)), NVML_SUCCESS);
	CHECK_STR(v, "580.82.07");
	CHECK_EQ_I(NV(nvmlSystemGetNVMLVersion)(v, sizeof(v)), NVML_SUCCESS);
	CHECK(atoi(v) >= 11);
	CHECK(strstr(v, "580.82.07") != NULL);
	CHECK_EQ_I(NV(nvmlSystemGetNVMLVersion)(v, 4), NVML_ERROR_INSUFFICIENT_SIZE);
	int cuda = 0;
	CHECK_EQ_I(NV(nvmlSystemGetCudaDriverVersion)(&cuda), NVML_SUCCESS);
	CHECK_EQ_I(NVML_CUDA_DRIVER_VERSION_MAJOR(cuda), atoi(v));
	CHECK_EQ_I(NV(nvmlSystemGetCudaDriverVersion_v2)(NULL), NVML_ERROR_INVALID_ARGUMENT);
	teardown();
}

TEST(device_identity)
{
	setup("a100-40gb h100-80gb a30");
	unsigned n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetCount_v2)(&n), NVML_SUCCESS);
	CHECK_EQ_U(n, 3);
	nvmlDevice_t d = NULL, e = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByIndex_v2)(3, &d), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByIndex_v2)(0, NULL), NVML_ERROR_INVALID_ARGUMENT);
	d = gpu(1);
	char name[96], uuid[96], serial[30];
	CHECK_EQ_I(NV(nvmlDeviceGetName)(d, name, sizeof(name)), NVML_SUCCESS);
	CHECK_STR(name, "NVIDIA H100 80GB HBM3");
	CHECK_EQ_I(NV(nvmlDeviceGetName)(d, name, 5), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(d, uuid, sizeof(uuid)), NVML_SUCCESS);
	CHECK(strncmp(uuid, "GPU-", 4) == 0);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByUUID)(uuid, &e), NVML_SUCCESS);
	CHECK(e == d);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByUUID)("GPU-nope", &e), NVML_ERROR_NOT_FOUND);
	CHECK_EQ_I(NV(nvmlDeviceGetSerial)(d, serial, sizeof(serial)), NVML_SUCCESS);
	e = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetHandleBySerial)(serial, &e), NVML_SUCCESS);
	CHECK(e == d);
	nvmlPciInfo_t pci;
	CHECK_EQ_I(NV(nvmlDeviceGetPciInfo_v3)(d, &pci), NVML_SUCCESS);
	CHECK_EQ_U(pci.pciDeviceId, 0x233010DEu);
	CHECK_EQ_U(strlen(pci.busId), 16);
	CHECK_EQ_U(strlen(pci.busIdLegacy), 12);
	e = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByPciBusId_v2)(pci.busId, &e), NVML_SUCCESS);
	CHECK(e == d);
	e = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByPciBusId_v2)(pci.busIdLegacy, &e), NVML_SUCCESS);
	CHECK(e == d);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByPciBusId_v2)("zz:00.0", &e),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByPciBusId_v2)("0000:ff:1f.0", &e), NVML_ERROR_NOT_FOUND);
	nvmlPciInfoExt_t ext = {.version = 7};
	CHECK_EQ_I(NV(nvmlDeviceGetPciInfoExt)(d, &ext), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	ext.version = nvmlPciInfoExt_v1;
	CHECK_EQ_I(NV(nvmlDeviceGetPciInfoExt)(d, &ext), NVML_SUCCESS);
	CHECK_STR(ext.busId, pci.busId);
	unsigned idx = 9, minor = 99;
	CHECK_EQ_I(NV(nvmlDeviceGetIndex)(d, &idx), NVML_SUCCESS);
	CHECK_EQ_U(idx, 1);
	CHECK_EQ_I(NV(nvmlDeviceGetMinorNumber)(d, &minor), NVML_SUCCESS);
	nvmlMemory_t mem;
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(d, &mem), NVML_SUCCESS);
	CHECK_EQ_U(mem.total, 81559ull << 20);
	CHECK_EQ_U(mem.free + mem.used, mem.total);
	nvmlMemory_v2_t m2 = {.version = 1};
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo_v2)(d, &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	m2.version = nvmlMemory_v2;
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo_v2)(d, &m2), NVML_SUCCESS);
	CHECK_EQ_U(m2.total, mem.total);
	CHECK_EQ_U(m2.free + m2.reserved + m2.used, m2.total);
	int major = 0, minr = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetCudaComputeCapability)(d, &major, &minr), NVML_SUCCESS);
	CHECK_EQ_I(major, 9);
	nvmlDeviceArchitecture_t arch = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetArchitecture)(gpu(0), &arch), NVML_SUCCESS);
	CHECK_EQ_U(arch, NVML_DEVICE_ARCH_AMPERE);
	nvmlBrandType_t brand;
	CHECK_EQ_I(NV(nvmlDeviceGetBrand)(d, &brand), NVML_SUCCESS);
	nvmlDeviceAttributes_t attr;
	CHECK_EQ_I(NV(nvmlDeviceGetAttributes_v2)(d, &attr), NVML_ERROR_NOT_SUPPORTED);
	teardown();
}

TEST(telemetry)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	unsigned v = 0, lo = 0, hi = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetTemperature)(d, NVML_TEMPERATURE_GPU, &v), NVML_SUCCESS);
	CHECK(v > 20 && v < 90);
	CHECK_EQ_I(NV(nvmlDeviceGetPowerUsage)(d, &v), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetPowerManagementLimitConstraints)(d, &lo, &hi), NVML_SUCCESS);
	CHECK(lo < hi && v < hi);
	CHECK_EQ_I(NV(nvmlDeviceGetEnforcedPowerLimit)(d, &v), NVML_SUCCESS);
	CHECK_EQ_U(v, hi);
	CHECK_EQ_I(NV(nvmlDeviceGetClockInfo)(d, NVML_CLOCK_SM, &lo), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMaxClockInfo)(d, NVML_CLOCK_SM, &hi), NVML_SUCCESS);
	CHECK(lo <= hi);
	/* Supported clocks: H100's one memory clock, graphics from the max down in 15 MHz steps. */
	unsigned clk[200], n = 0, mem = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedMemoryClocks)(d, &n, NULL),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedMemoryClocks)(d, &n, &mem), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMaxClockInfo)(d, NVML_CLOCK_MEM, &v), NVML_SUCCESS);
	CHECK_EQ_U(mem, v);
	n = 3;
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedGraphicsClocks)(d, mem, &n, clk),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, (hi - lo) / 15 + 1);
	n = 200;
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedGraphicsClocks)(d, mem, &n, clk), NVML_SUCCESS);
	CHECK_EQ_U(n, (hi - lo) / 15 + 1);
	CHECK(clk[0] == hi && clk[1] == hi - 15 && clk[n - 1] == lo);
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedGraphicsClocks)(d, mem + 1, &n, clk),
		   NVML_ERROR_NOT_FOUND);
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedMemoryClocks)(d, NULL, clk),
		   NVML_ERROR_INVALID_ARGUMENT);
	v = 1234;
	CHECK_EQ_I(NV(nvmlDeviceGetFanSpeed)(d, &v), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_U(v, 1234);
	nvmlUtilization_t u = {9, 9};
	CHECK_EQ_I(NV(nvmlDeviceGetUtilizationRates)(d, &u), NVML_SUCCESS);
	CHECK_EQ_U(u.gpu, 0);
	unsigned count = 5;
	nvmlProcessInfo_t procs[5];
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(d, &count, procs), NVML_SUCCESS);
	CHECK_EQ_U(count, 0);
	unsigned long long e1 = 0, e2 = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetTotalEnergyConsumption)(d, &e1), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetTotalEnergyConsumption)(d, &e2), NVML_SUCCESS);
	CHECK(e2 >= e1);
	nvmlEnableState_t cur, pend;
	CHECK_EQ_I(NV(nvmlDeviceGetEccMode)(d, &cur, &pend), NVML_SUCCESS);
	enable_mig(d);
	CHECK_EQ_I(NV(nvmlDeviceGetUtilizationRates)(d, &u), NVML_ERROR_NOT_SUPPORTED);
	teardown();
}

TEST(stubs_touch_nothing)
{
	setup("h100-80gb");
	unsigned v = 77;
	CHECK_EQ_I(
	    ((nvmlReturn_t(*)(nvmlDevice_t, unsigned *))sym("nvmlDeviceGetNumFans"))(gpu(0), &v),
	    NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_U(v, 77);
	CHECK_EQ_I(
	    ((nvmlReturn_t(*)(nvmlDevice_t, unsigned *))sym("nvmlDeviceGetNumaNodeId"))(gpu(0), &v),
	    NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_U(v, 77);
	CHECK_EQ_I(((nvmlReturn_t(*)(void *))sym("nvmlSystemEventSetCreate"))(&v),
		   NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_U(v, 77);
	teardown();
}

TEST(mig_mode)
{
	setup("h100-80gb a100-40gb rtx-4090");
	unsigned cur = 9, pend = 9;
	nvmlReturn_t act = NVML_ERROR_UNKNOWN;
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(gpu(0), &cur, &pend), NVML_SUCCESS);
	CHECK_EQ_U(cur, 0);
	enable_mig(gpu(0));
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(gpu(0), &cur, &pend), NVML_SUCCESS);
	CHECK(cur == 1 && pend == 1);
	/* Ampere on bare metal, held by no other process: at once too (the reset succeeds). */
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(1), 1, &act), NVML_SUCCESS);
	CHECK_EQ_I(act, NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(gpu(1), &cur, &pend), NVML_SUCCESS);
	CHECK(cur == 1 && pend == 1);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(1), 0, &act), NVML_SUCCESS);
	CHECK_EQ_I(act, NVML_SUCCESS);
	/* Not MIG capable. */
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(gpu(2), &cur, &pend), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(2), 1, &act), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(0), 2, &act), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(0), 1, NULL), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(gpu(0), NULL, &pend), NVML_ERROR_INVALID_ARGUMENT);
	unsigned max = 9;
	CHECK_EQ_I(NV(nvmlDeviceGetMaxMigDeviceCount)(gpu(1), &max), NVML_SUCCESS);
	CHECK_EQ_U(max, 0);
	CHECK_EQ_I(NV(nvmlDeviceGetMaxMigDeviceCount)(gpu(2), &max), NVML_SUCCESS);
	CHECK_EQ_U(max, 0);
	/* Disabling with instances present is refused. */
	make_gi(gpu(0), P_1G10);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(gpu(0), 0, &act), NVML_ERROR_IN_USE);
	teardown();
}

/* Persistence mode is kept per GPU and read back; BAR1 answers on MIG devices too (nvitop). */
TEST(settings_and_bar1)
{
	setup("h100-80gb a100-40gb");
	nvmlEnableState_t pm = NVML_FEATURE_DISABLED;
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(gpu(1), &pm), NVML_SUCCESS);
	CHECK_EQ_I(pm, NVML_FEATURE_ENABLED);
	CHECK_EQ_I(NV(nvmlDeviceSetPersistenceMode)(gpu(1), NVML_FEATURE_DISABLED), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(gpu(1), &pm), NVML_SUCCESS);
	CHECK_EQ_I(pm, NVML_FEATURE_DISABLED);
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(gpu(0), &pm), NVML_SUCCESS);
	CHECK_EQ_I(pm, NVML_FEATURE_ENABLED);
	CHECK_EQ_I(NV(nvmlDeviceSetPersistenceMode)(gpu(1), (nvmlEnableState_t)7),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(gpu(1), NULL), NVML_ERROR_INVALID_ARGUMENT);
	/* Another init (another process would do the same) reads the stored setting. */
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(gpu(1), &pm), NVML_SUCCESS);
	CHECK_EQ_I(pm, NVML_FEATURE_DISABLED);
	nvmlDevice_t d = gpu(0), mig = NULL;
	nvmlBAR1Memory_t bar1;
	CHECK_EQ_I(NV(nvmlDeviceGetBAR1MemoryInfo)(d, &bar1), NVML_SUCCESS);
	CHECK_EQ_U(bar1.bar1Total >> 20, 131072);
	CHECK_EQ_U(bar1.bar1Used >> 20, 1);
	enable_mig(d);
	make_ci(make_gi(d, P_3G40), 2);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &mig), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetBAR1MemoryInfo)(mig, &bar1), NVML_SUCCESS);
	CHECK_EQ_U(bar1.bar1Total >> 20, 4 * 16383); /* four memory slices (docs/layouts.md) */
	CHECK_EQ_U(bar1.bar1Free, bar1.bar1Total - bar1.bar1Used);
	nvmlMemory_t mem;
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(mig, &mem), NVML_SUCCESS);
	CHECK_EQ_U(mem.total >> 20, 40448);
	CHECK_EQ_U(mem.used >> 20, 40448 / 256 + 1);
	CHECK_EQ_I(NV(nvmlDeviceGetPersistenceMode)(mig, &pm), NVML_ERROR_NOT_SUPPORTED);
	teardown();
}

TEST(gi_profiles)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	nvmlGpuInstanceProfileInfo_t v1;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, 0, &v1), NVML_ERROR_NOT_SUPPORTED);
	enable_mig(d);
	unsigned found = 0;
	for (unsigned i = 0; i < NVML_GPU_INSTANCE_PROFILE_COUNT; i++) {
		nvmlReturn_t r = NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, i, &v1);
		CHECK(r == NVML_SUCCESS || r == NVML_ERROR_NOT_SUPPORTED);
		if (r != NVML_SUCCESS)
			continue;
		found++;
		CHECK(v1.instanceCount > 0);
		nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
		CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoV)(d, i, &v2), NVML_SUCCESS);
		CHECK_EQ_U(v2.id, v1.id);
		CHECK_EQ_U(v2.memorySizeMB, v1.memorySizeMB);
		CHECK(strncmp(v2.name, "MIG ", 4) == 0);
		nvmlGpuInstanceProfileInfo_v3_t v3 = {.version = nvmlGpuInstanceProfileInfo_v3};
		CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoV)(d, i, (void *)&v3),
			   NVML_SUCCESS);
		CHECK_EQ_U(v3.sliceCount, v1.sliceCount);
		CHECK_EQ_U(v3.ofaCount, v1.ofaCount);
		CHECK_STR(v3.name, v2.name);
		nvmlGpuInstanceProfileInfo_v3_t byid = {.version = nvmlGpuInstanceProfileInfo_v3};
		CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoByIdV)(d, v1.id, (void *)&byid),
			   NVML_SUCCESS);
		CHECK_STR(byid.name, v3.name);
	}
	CHECK_EQ_U(found, 7);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, NVML_GPU_INSTANCE_PROFILE_COUNT, &v1),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(
	    NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, NVML_GPU_INSTANCE_PROFILE_3_SLICE, &v1),
	    NVML_SUCCESS);
	CHECK_EQ_U(v1.id, P_3G40);
	CHECK_EQ_U(v1.memorySizeMB, 40448);
	nvmlGpuInstanceProfileInfo_v2_t bad = {.version = 0x01000098};
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoV)(d, 0, &bad),
		   NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoV)(d, 0, NULL),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoByIdV)(d, 77, &bad),
		   NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	bad.version = nvmlGpuInstanceProfileInfo_v2;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfoByIdV)(d, 77, &bad),
		   NVML_ERROR_INVALID_ARGUMENT);
	teardown();
}

TEST(gi_placements)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	unsigned n = 0;
	/* Regardless of MIG enablement and of occupancy. */
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, P_1G10, NULL, &n),
		   NVML_SUCCESS);
	CHECK_EQ_U(n, 7);
	nvmlGpuInstancePlacement_t pl[8];
	n = 3;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, P_1G10, pl, &n),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 7);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, P_3G40, pl, &n),
		   NVML_SUCCESS);
	CHECK_EQ_U(n, 2);
	CHECK(pl[0].start == 0 && pl[0].size == 4 && pl[1].start == 4);
	enable_mig(d);
	make_gi(d, P_3G40);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, P_3G40, pl, &n),
		   NVML_SUCCESS);
	CHECK_EQ_U(n, 2);
	n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements)(d, P_1G10, pl, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 7);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements)(d, P_1G10, NULL, &n),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, 77, NULL, &n),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstancePossiblePlacements_v2)(d, P_1G10, pl, NULL),
		   NVML_ERROR_INVALID_ARGUMENT);
	teardown();
}

TEST(gi_lifecycle)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	nvmlGpuInstance_t gi = NULL, gi2 = NULL, list[8];
	unsigned n = 0;
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, P_3G40, &gi), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_1G10, &n),
		   NVML_ERROR_NOT_SUPPORTED);
	enable_mig(d);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_1G10, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 7);
	nvmlGpuInstancePlacement_t pl = {.start = 0, .size = 4};
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_3G40, &pl, &gi), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_3G40, &pl, &gi2),
		   NVML_ERROR_INSUFFICIENT_RESOURCES);
	pl.start = 1;
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_3G40, &pl, &gi2),
		   NVML_ERROR_INVALID_ARGUMENT);
	pl = (nvmlGpuInstancePlacement_t){.start = 4, .size = 2};
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_3G40, &pl, &gi2),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_3G40, NULL, &gi2),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_1G10, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 3);
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, P_4G40, &gi2),
		   NVML_ERROR_INSUFFICIENT_RESOURCES);
	gi2 = make_gi(d, P_1G10);
	nvmlGpuInstanceInfo_t info;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_SUCCESS);
	CHECK(info.device == d && info.profileId == P_3G40 && info.placement.start == 0 &&
	      info.placement.size == 4);
	unsigned gi_id = info.id;
	nvmlGpuInstance_t byid = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceById)(d, gi_id, &byid), NVML_SUCCESS);
	CHECK(byid == gi);
	n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_1G10, list, &n),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 1);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_1G10, list, &n), NVML_SUCCESS);
	CHECK(n == 1 && list[0] == gi2);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_7G80, list, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceById)(d, gi_id, &byid), NVML_ERROR_NOT_FOUND);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi2), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_7G80, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	teardown();
}

TEST(ci_lifecycle)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstance_t gi = make_gi(d, P_3G40);
	nvmlComputeInstanceProfileInfo_t v1;
	unsigned found = 0;
	for (unsigned i = 0; i < NVML_COMPUTE_INSTANCE_PROFILE_COUNT; i++) {
		nvmlReturn_t r = NV(nvmlGpuInstanceGetComputeInstanceProfileInfo)(
		    gi, i, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &v1);
		CHECK(r == NVML_SUCCESS || r == NVML_ERROR_NOT_SUPPORTED);
		if (r != NVML_SUCCESS)
			continue;
		found++;
		nvmlComputeInstanceProfileInfo_v3_t v3 = {.version =
							      nvmlComputeInstanceProfileInfo_v3};
		CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfoV)(gi, i, 0, (void *)&v3),
			   NVML_SUCCESS);
		CHECK_EQ_U(v3.sliceCount, v1.sliceCount);
		nvmlComputeInstanceProfileInfo_v2_t v2 = {.version =
							      nvmlComputeInstanceProfileInfo_v2};
		CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfoV)(gi, i, 0, &v2),
			   NVML_SUCCESS);
		CHECK_STR(v2.name, v3.name);
	}
	CHECK_EQ_U(found, 3);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, 0, 1, &v1),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfo)(
		       gi, NVML_COMPUTE_INSTANCE_PROFILE_COUNT, 0, &v1),
		   NVML_ERROR_INVALID_ARGUMENT);
	nvmlComputeInstanceProfileInfo_v2_t bad = {.version = 5};
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfoV)(gi, 0, 0, &bad),
		   NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	nvmlComputeInstanceProfileInfo_v2_t full = {.version = nvmlComputeInstanceProfileInfo_v2};
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfoV)(
		       gi, NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, 0, &full),
		   NVML_SUCCESS);
	CHECK_STR(full.name, "MIG 3g.40gb");
	unsigned n = 0;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstancePossiblePlacements)(gi, 0, NULL, &n),
		   NVML_SUCCESS);
	CHECK_EQ_U(n, 3);
	nvmlComputeInstancePlacement_t cpl[4];
	n = 1;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstancePossiblePlacements)(gi, 0, cpl, &n),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 3);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceRemainingCapacity)(gi, 0, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 3);
	nvmlComputeInstance_t ci = make_ci(gi, 0), ci2 = NULL, list[4];
	nvmlComputeInstancePlacement_t at = {.start = 2, .size = 1};
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstanceWithPlacement)(gi, 0, &at, &ci2),
		   NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstanceWithPlacement)(gi, 0, &at, &list[0]),
		   NVML_ERROR_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, 2, &list[0]),
		   NVML_ERROR_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, 4, &list[0]),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceRemainingCapacity)(gi, 0, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	n = 4;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstances)(gi, 0, list, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 2);
	nvmlComputeInstanceInfo_t info;
	CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo_v2)(ci2, &info), NVML_SUCCESS);
	CHECK(info.device == d && info.gpuInstance == gi && info.profileId == 0 &&
	      info.placement.start == 2 && info.placement.size == 1);
	nvmlComputeInstance_t byid = NULL;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceById)(gi, info.id, &byid), NVML_SUCCESS);
	CHECK(byid == ci2);
	CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo)(ci, &info), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi), NVML_ERROR_IN_USE);
	CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(ci), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(ci2), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceById)(gi, info.id, &byid),
		   NVML_ERROR_NOT_FOUND);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi), NVML_SUCCESS);
	teardown();
}

TEST(mig_devices)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstance_t g3 = make_gi(d, P_3G40), g1 = make_gi(d, P_1G10);
	make_ci(g3, 1); /* 2c at 0, then 1c at 2 */
	make_ci(g3, 0);
	make_ci(g1, 0);
	unsigned max = 0, is = 9, id = 9;
	CHECK_EQ_I(NV(nvmlDeviceGetMaxMigDeviceCount)(d, &max), NVML_SUCCESS);
	CHECK_EQ_U(max, 7);
	nvmlDevice_t mig[7] = {0}, parent = NULL, e = NULL;
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, i, &mig[i]), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 3, &e), NVML_ERROR_NOT_FOUND);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 7, &e), NVML_ERROR_INVALID_ARGUMENT);
	nvmlGpuInstanceInfo_t gi3, gi1;
	NV(nvmlGpuInstanceGetInfo)(g3, &gi3);
	NV(nvmlGpuInstanceGetInfo)(g1, &gi1);
	/* Order: (GI ID, CI ID). */
	unsigned prev = 0;
	for (unsigned i = 0; i < 3; i++) {
		unsigned g = 0, c = 0, idx = 99;
		CHECK_EQ_I(NV(nvmlDeviceIsMigDeviceHandle)(mig[i], &is), NVML_SUCCESS);
		CHECK_EQ_U(is, 1);
		CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceId)(mig[i], &g), NVML_SUCCESS);
		CHECK_EQ_I(NV(nvmlDeviceGetComputeInstanceId)(mig[i], &c), NVML_SUCCESS);
		CHECK(i == 0 || g * 100 + c > prev);
		prev = g * 100 + c;
		CHECK_EQ_I(NV(nvmlDeviceGetIndex)(mig[i], &idx), NVML_SUCCESS);
		CHECK_EQ_U(idx, i);
		CHECK_EQ_I(NV(nvmlDeviceGetDeviceHandleFromMigDeviceHandle)(mig[i], &parent),
			   NVML_SUCCESS);
		CHECK(parent == d);
		char uuid[96];
		CHECK_EQ_I(NV(nvmlDeviceGetUUID)(mig[i], uuid, sizeof(uuid)), NVML_SUCCESS);
		CHECK(strncmp(uuid, "MIG-", 4) == 0);
		CHECK_EQ_I(NV(nvmlDeviceGetHandleByUUID)(uuid, &e), NVML_SUCCESS);
		CHECK(e == mig[i]);
		nvmlMemory_t mem;
		CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(mig[i], &mem), NVML_SUCCESS);
		CHECK_EQ_U(mem.total >> 20, g == gi3.id ? 40448 : 9984);
		nvmlDeviceAttributes_t a;
		CHECK_EQ_I(NV(nvmlDeviceGetAttributes_v2)(mig[i], &a), NVML_SUCCESS);
		CHECK_EQ_U(a.memorySizeMB, mem.total >> 20);
		CHECK_EQ_U(a.gpuInstanceSliceCount, g == gi3.id ? 3 : 1);
	}
	CHECK_EQ_I(NV(nvmlDeviceIsMigDeviceHandle)(d, &is), NVML_SUCCESS);
	CHECK_EQ_U(is, 0);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceId)(d, &id), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(NV(nvmlDeviceGetDeviceHandleFromMigDeviceHandle)(d, &parent),
		   NVML_ERROR_INVALID_ARGUMENT);
	char name[96];
	nvmlDevice_t last = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 2, &last), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(last, name, sizeof(name)), NVML_SUCCESS);
	CHECK(strncmp(name, "NVIDIA H100 80GB HBM3 MIG ", 26) == 0);
	teardown();
}

/*
 * A GPU with the swapped GI numbering (docs/placement.md, section 2): the
 * library reads GI IDs from the state, so GPU instances get the swapped IDs
 * and MIG devices come in GI ID order.  7x 1g on an empty GPU: placements
 * 6, 4, 5, 0, 1, 2, 3, IDs 9, 7, 8, 11, 12, 13, 14, and MIG device 0 is the
 * GI at 4:1 (ID 7), as an H100 PCIe with driver 570 lists them.
 */
TEST(mig_devices_swapped_numbering)
{
	setup("h100-80gb:swapped h100-80gb");
	static const unsigned ids[] = {9, 7, 8, 11, 12, 13, 14}, starts[] = {6, 4, 5, 0, 1, 2, 3};
	static const unsigned by_id[] = {7, 8, 9, 11, 12, 13, 14}, at[] = {4, 5, 6, 0, 1, 2, 3};
	for (unsigned x = 0; x < 2; x++) {
		nvmlDevice_t d = gpu(x);
		enable_mig(d);
		for (unsigned k = 0; k < 7; k++) {
			nvmlGpuInstance_t gi = make_gi(d, P_1G10);
			nvmlGpuInstanceInfo_t info;
			CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_SUCCESS);
			CHECK_EQ_U(info.placement.start, starts[k]);
			/* GPU 1 keeps the heap numbering: 13, 11, 12, 7, 8, 9, 10. */
			CHECK_EQ_U(info.id, x == 0 ? ids[k] : 7 + starts[k]);
			make_ci(gi, 0);
		}
		for (unsigned i = 0; i < 7; i++) {
			nvmlDevice_t m = NULL;
			unsigned g = 0;
			CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, i, &m), NVML_SUCCESS);
			CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceId)(m, &g), NVML_SUCCESS);
			CHECK_EQ_U(g, x == 0 ? by_id[i] : 7 + i);
			nvmlGpuInstance_t gi = NULL;
			nvmlGpuInstanceInfo_t info;
			CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceById)(d, g, &gi), NVML_SUCCESS);
			CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_SUCCESS);
			CHECK_EQ_U(info.placement.start, x == 0 ? at[i] : i);
		}
	}
	teardown();
}

TEST(mig_names_and_uuid_stability)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0), m = NULL;
	enable_mig(d);
	nvmlGpuInstance_t gi = make_gi(d, P_3G40);
	nvmlComputeInstance_t ci = make_ci(gi, NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE);
	char name[96], u1[96], u2[96];
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &m), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(m, name, sizeof(name)), NVML_SUCCESS);
	CHECK_STR(name, "NVIDIA H100 80GB HBM3 MIG 3g.40gb");
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(m, u1, sizeof(u1)), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(ci), NVML_SUCCESS);
	make_ci(gi, 0);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &m), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(m, name, sizeof(name)), NVML_SUCCESS);
	CHECK_STR(name, "NVIDIA H100 80GB HBM3 MIG 1c.3g.40gb");
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(m, u2, sizeof(u2)), NVML_SUCCESS);
	CHECK_STR(u1, u2); /* deterministic in (GPU, GI, CI) */
	teardown();
}

TEST(stale_handles)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0), mig = NULL;
	enable_mig(d);
	nvmlGpuInstance_t gi = make_gi(d, P_2G20);
	nvmlComputeInstance_t ci = make_ci(gi, 1);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &mig), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(ci), NVML_SUCCESS);
	nvmlComputeInstanceInfo_t cinfo;
	unsigned v;
	char name[96];
	CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo_v2)(ci, &cinfo), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(ci), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(mig, name, sizeof(name)), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceIsMigDeviceHandle)(mig, &v), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi), NVML_SUCCESS);
	nvmlGpuInstanceInfo_t info;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gi), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci),
		   NVML_ERROR_INVALID_ARGUMENT);
	/* The same profile at the same place again: old handles stay dead, new ones work. */
	nvmlGpuInstance_t gi2 = make_gi(d, P_2G20);
	CHECK(gi2 != gi);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi2, &info), NVML_SUCCESS);
	nvmlComputeInstance_t ci2 = make_ci(gi2, 1);
	CHECK(ci2 != ci);
	CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo_v2)(ci, &cinfo), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetName)(mig, name, sizeof(name)), NVML_ERROR_INVALID_ARGUMENT);
	teardown();
}

/*
 * An instance destroyed and created again, identically, many times (more
 * than any small ring of handle objects): every earlier handle stays
 * refused, and every new handle is new.
 */
TEST(stale_handles_never_wrap)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstancePlacement_t pl = {.start = 0, .size = 1};
	enum { ROUNDS = 40 };
	nvmlGpuInstance_t gis[ROUNDS];
	nvmlComputeInstance_t cis[ROUNDS];
	nvmlDevice_t migs[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_1G10, &pl, &gis[i]),
			   NVML_SUCCESS);
		cis[i] = make_ci(gis[i], 0);
		CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &migs[i]), NVML_SUCCESS);
		for (int k = 0; k < i; k++) {
			nvmlGpuInstanceInfo_t gii;
			nvmlComputeInstanceInfo_t cii;
			nvmlMemory_t mem;
			CHECK(gis[k] != gis[i] && cis[k] != cis[i] && migs[k] != migs[i]);
			CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gis[k], &gii),
				   NVML_ERROR_INVALID_ARGUMENT);
			CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo_v2)(cis[k], &cii),
				   NVML_ERROR_INVALID_ARGUMENT);
			CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(migs[k], &mem),
				   NVML_ERROR_INVALID_ARGUMENT);
		}
		nvmlMemory_t mem;
		CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(migs[i], &mem), NVML_SUCCESS);
		CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(cis[i]), NVML_SUCCESS);
		CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(gis[i]), NVML_SUCCESS);
	}
	teardown();
}

/* Pointers that are not handles: NULL, a stack address, small integers, misaligned table bytes. */
TEST(foreign_handles)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstance_t gi = make_gi(d, P_1G10);
	int local = 0;
	void *bad[] = {NULL,	      &local,	      (void *)1,	(void *)(uintptr_t)0x1000,
		       (char *)d + 1, (char *)gi + 2, (char *)gi + 4096};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[96];
		unsigned v = 5;
		nvmlGpuInstanceInfo_t gii;
		nvmlComputeInstance_t ci;
		CHECK_EQ_I(NV(nvmlDeviceGetName)(bad[i], buf, sizeof(buf)),
			   NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(bad[i], &v, &v), NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlDeviceGetMaxMigDeviceCount)(bad[i], &v),
			   NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(bad[i], &gii), NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(bad[i]), NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(bad[i], 0, &ci),
			   NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_I(NV(nvmlComputeInstanceDestroy)(bad[i]), NVML_ERROR_INVALID_ARGUMENT);
		CHECK_EQ_U(v, 5);
	}
	/* A GI handle is not a device handle, nor the other way round. */
	char buf[96];
	CHECK_EQ_I(NV(nvmlDeviceGetName)((nvmlDevice_t)(void *)gi, buf, sizeof(buf)),
		   NVML_ERROR_INVALID_ARGUMENT);
	nvmlGpuInstanceInfo_t gii;
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)((nvmlGpuInstance_t)(void *)d, &gii),
		   NVML_ERROR_INVALID_ARGUMENT);
	teardown();
}

/* Every MIG entry point with NULL outputs: INVALID_ARGUMENT, never a crash. */
TEST(null_outputs)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstance_t gi = make_gi(d, P_3G40);
	nvmlComputeInstance_t ci = make_ci(gi, 0);
	unsigned v = 0;
	const nvmlReturn_t E = NVML_ERROR_INVALID_ARGUMENT;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_1G10, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, P_1G10, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstanceWithPlacement)(d, P_1G10, NULL, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_3G40, NULL, NULL), E);
	v = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_3G40, NULL, &v), E);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceById)(d, 1, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, 0, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceProfileInfoV)(gi, 0, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceRemainingCapacity)(gi, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstancePossiblePlacements)(gi, 0, NULL, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstanceWithPlacement)(gi, 0, NULL, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstances)(gi, 0, NULL, NULL), E);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetComputeInstanceById)(gi, 0, NULL), E);
	CHECK_EQ_I(NV(nvmlComputeInstanceGetInfo_v2)(ci, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceIsMigDeviceHandle)(d, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetMaxMigDeviceCount)(d, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, NULL), E);
	nvmlDevice_t m = NULL;
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &m), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceId)(m, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetComputeInstanceId)(m, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetDeviceHandleFromMigDeviceHandle)(m, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetAttributes_v2)(m, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryInfo)(m, NULL), E);
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(m, NULL, 96), E);
	CHECK_EQ_I(NV(nvmlDeviceGetHandleByUUID)(NULL, &m), E);
	CHECK_EQ_I(NV(nvmlDeviceGetCount_v2)(NULL), E);
	teardown();
}

/* A client that keeps NVML open sees what another process changes. */
TEST(other_process_changes)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	unsigned n = 8;
	nvmlGpuInstance_t list[8];
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_1G10, list, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* A child is a new client: its own init on the same state. */
		NV(nvmlShutdown)();
		if (NV(nvmlInit_v2)() != NVML_SUCCESS)
			_exit(1);
		nvmlDevice_t cd;
		nvmlGpuInstance_t g;
		if (NV(nvmlDeviceGetHandleByIndex_v2)(0, &cd) != NVML_SUCCESS ||
		    NV(nvmlDeviceCreateGpuInstance)(cd, P_1G10, &g) != NVML_SUCCESS)
			_exit(2);
		_exit(0);
	}
	int status = test_wait(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstances)(d, P_1G10, list, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_I(NV(nvmlGpuInstanceDestroy)(list[0]), NVML_SUCCESS);
	teardown();
}

/* Create and destroy 1g GIs from several threads; each thread's work is atomic. */
static void *churn(void *arg)
{
	nvmlDevice_t d = arg;
	long ok = 0;
	for (int i = 0; i < 20; i++) {
		nvmlGpuInstance_t gi;
		nvmlReturn_t r = NV(nvmlDeviceCreateGpuInstance)(d, P_1G10, &gi);
		if (r == NVML_SUCCESS) {
			nvmlComputeInstance_t ci;
			if (NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS ||
			    NV(nvmlComputeInstanceDestroy)(ci) != NVML_SUCCESS ||
			    NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS)
				return (void *)-1L;
			ok++;
		} else if (r != NVML_ERROR_INSUFFICIENT_RESOURCES) {
			return (void *)-1L;
		}
	}
	return (void *)ok;
}

static void check_empty(nvmlDevice_t d)
{
	unsigned n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceRemainingCapacity)(d, P_7G80, &n), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	nvmlDevice_t m;
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &m), NVML_ERROR_NOT_FOUND);
}

TEST(threads)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, d);
	long total = 0;
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		CHECK((long)ret >= 0);
		total += (long)ret;
	}
	CHECK(total > 0);
	check_empty(d);
	teardown();
}

TEST(processes)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	pid_t pids[3];
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			nvmlDevice_t cd;
			NV(nvmlShutdown)();
			if (NV(nvmlInit_v2)() != NVML_SUCCESS ||
			    NV(nvmlDeviceGetHandleByIndex_v2)(0, &cd) != NVML_SUCCESS)
				_exit(1);
			_exit(churn(cd) == (void *)-1L ? 2 : 0);
		}
	}
	for (int i = 0; i < 3; i++) {
		int status = test_wait(pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	check_empty(d);
	teardown();
}

/*
 * Readers of the lock-free queries while a thread and another process
 * change instances.  Readers check that every answer is one a consistent
 * state could give: listed 1g GIs are 1g GIs (or already destroyed),
 * MIG devices answer the memory of a 1g GI (or are already destroyed),
 * counts never exceed what fits.
 */
static int stress_stop; /* atomic */
static unsigned long long mig_mem_bytes;

/*
 * Under valgrind every thread runs in turn and each commit is far slower,
 * so the stress runs fewer rounds there and readers yield between reads;
 * otherwise spinning readers can hold the writer past the test's time limit.
 */
static int under_valgrind(void)
{
	const char *v = getenv("VMIG_VALGRIND");
	return v && strcmp(v, "1") == 0;
}

static int stress_rounds(int rounds)
{
	return under_valgrind() ? rounds / 8 : rounds;
}

static void *stress_reader(void *arg)
{
	nvmlDevice_t d = arg, h = NULL;
	long reads = 0;
	while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED)) {
		nvmlGpuInstance_t list[8];
		unsigned n = 8;
		if (NV(nvmlDeviceGetHandleByIndex_v2)(0, &h) != NVML_SUCCESS || h != d)
			return (void *)-1L;
		if (NV(nvmlDeviceGetGpuInstances)(d, P_1G10, list, &n) != NVML_SUCCESS || n > 7)
			return (void *)-2L;
		for (unsigned k = 0; k < n; k++) {
			nvmlGpuInstanceInfo_t info;
			nvmlReturn_t r = NV(nvmlGpuInstanceGetInfo)(list[k], &info);
			if (r != NVML_ERROR_INVALID_ARGUMENT &&
			    (r != NVML_SUCCESS || info.profileId != P_1G10 || info.device != d))
				return (void *)-3L;
		}
		for (unsigned k = 0; k < 8; k++) {
			nvmlDevice_t m;
			nvmlMemory_t mem;
			nvmlReturn_t r = NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, k, &m);
			if (r == NVML_ERROR_NOT_FOUND ||
			    (k == 7 && r == NVML_ERROR_INVALID_ARGUMENT))
				continue;
			if (r != NVML_SUCCESS)
				return (void *)-4L;
			r = NV(nvmlDeviceGetMemoryInfo)(m, &mem);
			if (r != NVML_ERROR_INVALID_ARGUMENT &&
			    (r != NVML_SUCCESS || mem.total != mig_mem_bytes))
				return (void *)-5L;
		}
		reads++;
		if (under_valgrind())
			sched_yield();
	}
	return (void *)reads;
}

/* Create 1g GIs (with a CI) and a 2g one, destroy them, rounds times. */
static long stress_write(nvmlDevice_t d, int rounds)
{
	long changes = 0;
	for (int i = 0; i < rounds; i++) {
		nvmlGpuInstance_t gi, gi2 = NULL;
		nvmlComputeInstance_t ci;
		nvmlReturn_t r = NV(nvmlDeviceCreateGpuInstance)(d, P_1G10, &gi);
		if (r == NVML_ERROR_INSUFFICIENT_RESOURCES)
			continue;
		if (r != NVML_SUCCESS ||
		    NV(nvmlGpuInstanceCreateComputeInstance)(gi, 0, &ci) != NVML_SUCCESS)
			return -1;
		r = NV(nvmlDeviceCreateGpuInstance)(d, P_2G20, &gi2);
		if (r != NVML_SUCCESS && r != NVML_ERROR_INSUFFICIENT_RESOURCES)
			return -1;
		if (NV(nvmlComputeInstanceDestroy)(ci) != NVML_SUCCESS ||
		    NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS ||
		    (r == NVML_SUCCESS && NV(nvmlGpuInstanceDestroy)(gi2) != NVML_SUCCESS))
			return -1;
		changes++;
	}
	return changes;
}

static void *stress_writer(void *arg)
{
	return (void *)stress_write(arg, stress_rounds(60));
}

TEST(lock_free_readers_under_changes)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0);
	enable_mig(d);
	nvmlGpuInstanceProfileInfo_t pi;
	CHECK_EQ_I(
	    NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, NVML_GPU_INSTANCE_PROFILE_1_SLICE, &pi),
	    NVML_SUCCESS);
	mig_mem_bytes = pi.memorySizeMB << 20;
	pid_t pid = fork();
	if (pid == 0) {
		nvmlDevice_t cd;
		NV(nvmlShutdown)();
		if (NV(nvmlInit_v2)() != NVML_SUCCESS ||
		    NV(nvmlDeviceGetHandleByIndex_v2)(0, &cd) != NVML_SUCCESS)
			_exit(1);
		_exit(stress_write(cd, stress_rounds(40)) < 0 ? 2 : 0);
	}
	pthread_t readers[3], writer;
	for (int i = 0; i < 3; i++)
		pthread_create(&readers[i], NULL, stress_reader, d);
	pthread_create(&writer, NULL, stress_writer, d);
	void *ret;
	pthread_join(writer, &ret);
	CHECK((long)ret > 0);
	int status = test_wait(pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	__atomic_store_n(&stress_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++) {
		pthread_join(readers[i], &ret);
		if ((long)ret <= 0)
			fprintf(stderr, "  reader %d: %ld\n", i, (long)ret);
		CHECK((long)ret > 0);
	}
	check_empty(d);
	teardown();
}

int main(int argc, char **argv)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	snprintf(lib_path, sizeof(lib_path), "%s/libnvidia-ml.so.1", b);
	snprintf(seed_path, sizeof(seed_path), "%s/tests/abi/nvml_seed", b);
	lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("FAIL - dlopen: %s\n", dlerror());
		return 1;
	}
	RUN(abi_layout);
	RUN(init_refcount);
	RUN(error_strings);
	RUN(versions);
	RUN(device_identity);
	RUN(telemetry);
	RUN(stubs_touch_nothing);
	RUN(mig_mode);
	RUN(gi_profiles);
	RUN(gi_placements);
	RUN(gi_lifecycle);
	RUN(ci_lifecycle);
	RUN(mig_devices);
	RUN(mig_devices_swapped_numbering);
	RUN(mig_names_and_uuid_stability);
	RUN(stale_handles);
	RUN(stale_handles_never_wrap);
	RUN(foreign_handles);
	RUN(settings_and_bar1);
	RUN(null_outputs);
	RUN(other_process_changes);
	RUN(threads);
	RUN(processes);
	RUN(lock_free_readers_under_changes);
	return harness_done();
}
