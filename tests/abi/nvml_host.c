/*
 * nvml_host.c — the NVML calls that real clients make beyond the MIG API,
 * each against the simulated libnvidia-ml.so.1 as a client makes it
 * (compiled against iface/nvml_abi.h alone, dlopen and dlsym): the
 * running-process queries (every version and list, with `vmig run`
 * programs on their instances), the process name, CPU and memory affinity
 * and binding, the GPUs near a CPU, host interface cards, units,
 * nvmlDeviceGetTemperatureV, nvmlDeviceGetAddressingMode, event sets
 * (a MIG change by another process is delivered), and the library's own
 * record as a user of the simulated GPUs.  One process per test
 * (tests/lib/harness.h), each on a fresh state directory.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nvml_abi.h"
#include "tmpdir.h"

static void *lib;
static char lib_path[512], seed_path[512], vmig_path[512], state_dir[512];

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

static void setup(const char *models)
{
	char cmd[2048];
	if (!test_mkdtemp(state_dir, sizeof(state_dir), "host"))
		abort();
	setenv("VMIG_STATE_DIR", state_dir, 1);
	snprintf(cmd, sizeof(cmd), "%s %s %s", seed_path, state_dir, models);
	if (system(cmd) != 0)
		abort();
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS);
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
}

/* A GI of the profile with its default CI; its ID. */
static unsigned make_instance(nvmlDevice_t d, unsigned profile_id)
{
	nvmlGpuInstance_t gi = NULL;
	nvmlComputeInstance_t ci = NULL;
	nvmlGpuInstanceInfo_t info;
	nvmlGpuInstanceProfileInfo_t pinfo;
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, profile_id, &gi), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlGpuInstanceGetInfo)(gi, &info), NVML_SUCCESS);
	memset(&pinfo, 0, sizeof(pinfo));
	nvmlComputeInstanceProfileInfo_t cinfo;
	/* The whole-GI CI profile: its index is the GI's slice count's. */
	unsigned slices = 0;
	for (unsigned idx = 0; idx < 16; idx++)
		if (NV(nvmlDeviceGetGpuInstanceProfileInfo)(d, idx, &pinfo) == NVML_SUCCESS &&
		    pinfo.id == profile_id)
			slices = pinfo.sliceCount;
	static const unsigned ci_index[9] = {0, 0, 1, 2, 3, 0, 6, 4, 5};
	CHECK_EQ_I(
	    NV(nvmlGpuInstanceGetComputeInstanceProfileInfo)(gi, ci_index[slices], 0, &cinfo),
	    NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlGpuInstanceCreateComputeInstance)(gi, cinfo.id, &ci), NVML_SUCCESS);
	return info.id;
}

/* `vmig run -d GPU:GI -- cat`: a program on the instance until its input closes. */
static pid_t vmig_run(const char *device, int *ret_wfd)
{
	extern char **environ;
	int fds[2];
	pid_t pid;
	/* Close-on-exec: the next program must not hold this one's input open. */
	if (pipe2(fds, O_CLOEXEC) < 0)
		abort();
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	const char *argv[] = {vmig_path, "run", "-d", device, "--", "cat", NULL};
	if (posix_spawn(&pid, vmig_path, &fa, NULL, (char *const *)argv, environ) != 0)
		abort();
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	*ret_wfd = fds[1];
	return pid;
}

/* The compute processes of device d (v3), waiting up to 30 s for want of them. */
static unsigned wait_procs(nvmlDevice_t d, unsigned want, nvmlProcessInfo_t *out, unsigned cap)
{
	double limit = test_now() + 30;
	unsigned n;
	do {
		n = cap;
		if (NV(nvmlDeviceGetComputeRunningProcesses_v3)(d, &n, out) != NVML_SUCCESS)
			n = 0;
		if (n == want)
			break;
		test_nap_ms(5);
	} while (test_now() < limit);
	return n;
}

static void stop(pid_t pid, int wfd)
{
	close(wfd);
	CHECK_EQ_I(test_exit_code(test_wait(pid)), 0);
}

TEST(running_processes)
{
	setup("h100-80gb");
	nvmlDevice_t d = gpu(0), mig0 = NULL, mig1 = NULL;
	nvmlProcessInfo_t info[8];
	nvmlProcessInfo_v1_t info1[8];
	unsigned n = 8;
	/* MIG off, nothing running: an empty list, every version. */
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses)(d, &n, info1), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	enable_mig(d);
	unsigned gi_a = make_instance(d, 9), gi_b = make_instance(d, 19);
	char dev_a[32], dev_b[32];
	snprintf(dev_a, sizeof(dev_a), "0:%u", gi_a);
	snprintf(dev_b, sizeof(dev_b), "0:%u:0", gi_b);
	int wa, wb, wc;
	pid_t pa = vmig_run(dev_a, &wa), pb = vmig_run(dev_b, &wb), pc = vmig_run(dev_b, &wc);
	CHECK_EQ_U(wait_procs(d, 3, info, 8), 3);
	/* Sorted by GI: the 3g GI (ID 2) before the 1g one (7 on H100 after it). */
	unsigned lo = gi_a < gi_b ? gi_a : gi_b;
	CHECK_EQ_U(info[0].gpuInstanceId, lo);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(info[i].pid == (unsigned)pa || info[i].pid == (unsigned)pb ||
		      info[i].pid == (unsigned)pc);
		CHECK_EQ_U(info[i].computeInstanceId, 0);
		CHECK_EQ_U(info[i].usedGpuMemory, 0); /* nothing held on a simulated GPU */
	}
	/* A MIG device handle lists the processes of its own GI and CI only. */
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &mig0), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 1, &mig1), NVML_SUCCESS);
	unsigned id0 = 99;
	CHECK_EQ_I(NV(nvmlDeviceGetGpuInstanceId)(mig0, &id0), NVML_SUCCESS);
	nvmlDevice_t on_a = id0 == gi_a ? mig0 : mig1, on_b = id0 == gi_a ? mig1 : mig0;
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v2)(on_a, &n, info), NVML_SUCCESS);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_U(info[0].pid, (unsigned)pa);
	CHECK_EQ_U(info[0].gpuInstanceId, gi_a);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses)(on_b, &n, info1), NVML_SUCCESS);
	CHECK_EQ_U(n, 2);
	CHECK(info1[0].pid < info1[1].pid);
	CHECK_EQ_U(info1[1].usedGpuMemory, 0);
	/* Short arrays: INSUFFICIENT_SIZE and the count; a NULL array with 0 asks for it. */
	n = 1;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(d, &n, info),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 3);
	n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(on_b, &n, NULL),
		   NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ_U(n, 2);
	n = 4;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(on_b, &n, NULL),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(on_b, NULL, info),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)((nvmlDevice_t)info, &n, info),
		   NVML_ERROR_INVALID_ARGUMENT);
	/* Graphics and MPS lists: no `vmig run` program is one. */
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetGraphicsRunningProcesses_v3)(d, &n, info), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetMPSComputeRunningProcesses_v3)(on_a, &n, info), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	n = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetGraphicsRunningProcesses)(d, &n, NULL), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetMPSComputeRunningProcesses_v2)(d, &n, NULL), NVML_SUCCESS);
	/*
	 * The process name is the program's: `vmig run` records the process
	 * before it execs the program, so the name may still be vmig's for a
	 * moment (the real library reports what the process is now, too).
	 */
	char name[64] = "";
	double until = test_now() + 30;
	do {
		CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)pa, name, sizeof(name)),
			   NVML_SUCCESS);
		if (strcmp(name, "cat") != 0)
			test_nap_ms(10);
	} while (strcmp(name, "cat") != 0 && test_now() < until);
	CHECK_STR(name, "cat");
	/* Killed programs leave the lists at once. */
	kill(pa, SIGKILL);
	test_wait(pa);
	close(wa);
	CHECK_EQ_U(wait_procs(d, 2, info, 8), 2);
	n = 8;
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(on_a, &n, info), NVML_SUCCESS);
	CHECK_EQ_U(n, 0);
	stop(pb, wb);
	stop(pc, wc);
	CHECK_EQ_U(wait_procs(d, 0, info, 8), 0);
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlDeviceGetComputeRunningProcesses_v3)(d, &n, info),
		   NVML_ERROR_UNINITIALIZED);
}

TEST(process_name)
{
	setup("h100-80gb");
	char name[256] = "", small[4] = "zzz";
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)getpid(), name, sizeof(name)),
		   NVML_SUCCESS);
	CHECK(strstr(name, "nvml_host") != NULL);
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)getpid(), small, sizeof(small)),
		   NVML_SUCCESS);
	CHECK_EQ_U(strlen(small), 3);
	CHECK(strncmp(small, name, 3) == 0);
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)getpid(), NULL, 8),
		   NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)getpid(), name, 0),
		   NVML_ERROR_INVALID_ARGUMENT);
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	test_wait(gone);
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)gone, name, sizeof(name)),
		   NVML_ERROR_NOT_FOUND);
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlSystemGetProcessName)((unsigned)getpid(), name, sizeof(name)),
		   NVML_ERROR_UNINITIALIZED);
}

/* The online CPUs as sysconf counts them, for comparison. */
static unsigned bits(const unsigned long *m, unsigned words)
{
	unsigned n = 0;
	for (unsigned i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountl(m[i]);
	return n;
}

TEST(cpu_and_memory_affinity)
{
	setup("h100-80gb a100-40gb");
	unsigned long set[16], one[1];
	memset(set, 0xa5, sizeof(set));
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(gpu(0), 16, set), NVML_SUCCESS);
	CHECK_EQ_U(bits(set, 16), (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK(set[0] & 1);
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(gpu(1), 1, one), NVML_SUCCESS);
	CHECK_EQ_U(one[0], set[0]);
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(gpu(0), 0, set), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(gpu(0), 4, NULL), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)((nvmlDevice_t)set, 4, set),
		   NVML_ERROR_INVALID_ARGUMENT);
	unsigned long scoped[16];
	CHECK_EQ_I(
	    NV(nvmlDeviceGetCpuAffinityWithinScope)(gpu(0), 16, scoped, NVML_AFFINITY_SCOPE_SOCKET),
	    NVML_SUCCESS);
	CHECK(memcmp(scoped, set, sizeof(set)) == 0);
	CHECK_EQ_I(
	    NV(nvmlDeviceGetCpuAffinityWithinScope)(gpu(0), 16, scoped, (nvmlAffinityScope_t)7),
	    NVML_ERROR_INVALID_ARGUMENT);
	unsigned long nodes[2] = {0, 0};
	CHECK_EQ_I(NV(nvmlDeviceGetMemoryAffinity)(gpu(0), 2, nodes, NVML_AFFINITY_SCOPE_NODE),
		   NVML_SUCCESS);
	CHECK(nodes[0] & 1);
	/* A MIG device answers as its GPU. */
	nvmlDevice_t d = gpu(0), mig = NULL;
	enable_mig(d);
	make_instance(d, 19);
	CHECK_EQ_I(NV(nvmlDeviceGetMigDeviceHandleByIndex)(d, 0, &mig), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(mig, 1, one), NVML_SUCCESS);
	CHECK_EQ_U(one[0], set[0]);
	/* Binding: the thread may then run on the GPU's CPUs (here all of them). */
	cpu_set_t before, after;
	CHECK(sched_getaffinity(0, sizeof(before), &before) == 0);
	CHECK_EQ_I(NV(nvmlDeviceSetCpuAffinity)(d), NVML_SUCCESS);
	CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
	CHECK(CPU_COUNT(&after) >= 1 && CPU_COUNT(&after) <= (int)bits(set, 16));
	CHECK_EQ_I(NV(nvmlDeviceClearCpuAffinity)(d), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceSetCpuAffinity)((nvmlDevice_t)set), NVML_ERROR_INVALID_ARGUMENT);
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlDeviceGetCpuAffinity)(d, 1, one), NVML_ERROR_UNINITIALIZED);
}

TEST(topology_hic_units)
{
	setup("h100-80gb a100-40gb gh200-144gb");
	unsigned count = 0;
	nvmlDevice_t devs[4] = {NULL};
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(0, &count, NULL), NVML_SUCCESS);
	CHECK_EQ_U(count, 3);
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(0, &count, devs), NVML_SUCCESS);
	CHECK(devs[0] == gpu(0) && devs[1] == gpu(1) && devs[2] == gpu(2));
	count = 2;
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(0, &count, devs), NVML_SUCCESS);
	CHECK_EQ_U(count, 2);
	count = 0;
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(100000, &count, NULL), NVML_SUCCESS);
	CHECK_EQ_U(count, 0);
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(0, NULL, devs), NVML_ERROR_INVALID_ARGUMENT);
	count = 3;
	CHECK_EQ_I(NV(nvmlSystemGetTopologyGpuSet)(0, &count, NULL), NVML_ERROR_INVALID_ARGUMENT);
	unsigned hics = 5;
	nvmlHwbcEntry_t hic[2];
	CHECK_EQ_I(NV(nvmlSystemGetHicVersion)(&hics, hic), NVML_SUCCESS);
	CHECK_EQ_U(hics, 0);
	CHECK_EQ_I(NV(nvmlSystemGetHicVersion)(NULL, hic), NVML_ERROR_INVALID_ARGUMENT);
	unsigned units = 9;
	nvmlUnit_t unit = NULL;
	CHECK_EQ_I(NV(nvmlUnitGetCount)(&units), NVML_SUCCESS);
	CHECK_EQ_U(units, 0);
	CHECK_EQ_I(NV(nvmlUnitGetCount)(NULL), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlUnitGetHandleByIndex)(0, &unit), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(((nvmlReturn_t(*)(nvmlUnit_t, void *))sym("nvmlUnitGetUnitInfo"))(unit, hic),
		   NVML_ERROR_INVALID_ARGUMENT);
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlUnitGetCount)(&units), NVML_ERROR_UNINITIALIZED);
	CHECK_EQ_I(NV(nvmlSystemGetHicVersion)(&hics, hic), NVML_ERROR_UNINITIALIZED);
}

TEST(temperature_v_and_addressing_mode)
{
	setup("h100-80gb gh200-144gb");
	unsigned t = 0;
	nvmlTemperature_t tv = {.version = nvmlTemperature_v1, .sensorType = NVML_TEMPERATURE_GPU};
	CHECK_EQ_I(NV(nvmlDeviceGetTemperature)(gpu(0), NVML_TEMPERATURE_GPU, &t), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceGetTemperatureV)(gpu(0), &tv), NVML_SUCCESS);
	CHECK_EQ_I(tv.temperature, (int)t);
	tv.version = 0x02000010u;
	CHECK_EQ_I(NV(nvmlDeviceGetTemperatureV)(gpu(0), &tv),
		   NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	CHECK_EQ_I(NV(nvmlDeviceGetTemperatureV)(gpu(0), NULL), NVML_ERROR_INVALID_ARGUMENT);
	tv.version = nvmlTemperature_v1;
	tv.sensorType = (nvmlTemperatureSensors_t)5;
	CHECK_EQ_I(NV(nvmlDeviceGetTemperatureV)(gpu(0), &tv), NVML_ERROR_INVALID_ARGUMENT);
	nvmlDeviceAddressingMode_t am = {.version = nvmlDeviceAddressingMode_v1};
	CHECK_EQ_I(NV(nvmlDeviceGetAddressingMode)(gpu(0), &am), NVML_SUCCESS);
	CHECK_EQ_U(am.value, NVML_DEVICE_ADDRESSING_MODE_HMM);
	CHECK_EQ_I(NV(nvmlDeviceGetAddressingMode)(gpu(1), &am), NVML_SUCCESS);
	CHECK_EQ_U(am.value, NVML_DEVICE_ADDRESSING_MODE_ATS);
	am.version = 1;
	CHECK_EQ_I(NV(nvmlDeviceGetAddressingMode)(gpu(0), &am),
		   NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	CHECK_EQ_I(NV(nvmlDeviceGetAddressingMode)(gpu(0), NULL), NVML_ERROR_INVALID_ARGUMENT);
	nvmlDevice_t d = gpu(0);
	NV(nvmlShutdown)();
	am.version = nvmlDeviceAddressingMode_v1;
	CHECK_EQ_I(NV(nvmlDeviceGetAddressingMode)(d, &am), NVML_ERROR_UNINITIALIZED);
	tv.sensorType = NVML_TEMPERATURE_GPU;
	CHECK_EQ_I(NV(nvmlDeviceGetTemperatureV)(d, &tv), NVML_ERROR_UNINITIALIZED);
}

TEST(event_sets)
{
	setup("h100-80gb rtx-4090");
	nvmlDevice_t d = gpu(0);
	nvmlEventSet_t set = NULL, other = NULL;
	/*
	 * MIG on first, by this process: another process could not change the
	 * mode while this one holds the GPU (nvidia-smi's "In use by another
	 * client"), but it can create instances.
	 */
	nvmlReturn_t act = NVML_ERROR_UNKNOWN;
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(d, 1, &act), NVML_SUCCESS);
	CHECK_EQ_I(act, NVML_SUCCESS);
	unsigned long long types = 0;
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedEventTypes)(d, &types), NVML_SUCCESS);
	CHECK(types & nvmlEventMigConfigChange);
	CHECK(types & nvmlEventTypeXidCriticalError);
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedEventTypes)(gpu(1), &types), NVML_SUCCESS);
	CHECK(!(types & nvmlEventMigConfigChange)); /* no MIG on an RTX 4090 */
	CHECK_EQ_I(NV(nvmlDeviceGetSupportedEventTypes)(d, NULL), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlEventSetCreate)(&set), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlEventSetCreate)(&other), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlEventSetCreate)(NULL), NVML_ERROR_INVALID_ARGUMENT);
	CHECK(set && other && set != other);
	CHECK_EQ_I(NV(nvmlDeviceRegisterEvents)(
		       d, nvmlEventMigConfigChange | nvmlEventTypeXidCriticalError, set),
		   NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlDeviceRegisterEvents)(gpu(1), nvmlEventMigConfigChange, set),
		   NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(NV(nvmlDeviceRegisterEvents)(d, 1ULL << 40, set), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ_I(
	    NV(nvmlDeviceRegisterEvents)(d, nvmlEventMigConfigChange, (nvmlEventSet_t)&types),
	    NVML_ERROR_INVALID_ARGUMENT);
	/* Nothing happened yet: the wait times out. */
	nvmlEventData_t ev;
	memset(&ev, 0x5a, sizeof(ev));
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, &ev, 0), NVML_ERROR_TIMEOUT);
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, &ev, 20), NVML_ERROR_TIMEOUT);
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, NULL, 0), NVML_ERROR_INVALID_ARGUMENT);
	/* Another process changes the MIG configuration: one event, for GPU 0. */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "%s mig -i 0 -cgi 19 >/dev/null", vmig_path);
	CHECK(system(cmd) == 0);
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, &ev, 10000), NVML_SUCCESS);
	CHECK(ev.device == d);
	CHECK_EQ_U(ev.eventType, nvmlEventMigConfigChange);
	CHECK_EQ_U(ev.eventData, 0);
	CHECK_EQ_U(ev.gpuInstanceId, 0xFFFFFFFFu);
	CHECK_EQ_U(ev.computeInstanceId, 0xFFFFFFFFu);
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, &ev, 0), NVML_ERROR_TIMEOUT); /* delivered once */
	/* The other set was never registered: no event there. */
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(other, &ev, 0), NVML_ERROR_TIMEOUT);
	/* A change by this process counts too; the legacy wait stops before the IDs. */
	nvmlGpuInstance_t gi = NULL;
	CHECK_EQ_I(NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi), NVML_SUCCESS);
	memset(&ev, 0x5a, sizeof(ev));
	CHECK_EQ_I(NV(nvmlEventSetWait)(set, &ev, 1000), NVML_SUCCESS);
	CHECK_EQ_U(ev.eventType, nvmlEventMigConfigChange);
	CHECK_EQ_U(ev.gpuInstanceId, 0x5a5a5a5au);
	CHECK_EQ_I(NV(nvmlEventSetFree)(set), NVML_SUCCESS);
	CHECK_EQ_I(NV(nvmlEventSetFree)(set), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlEventSetWait_v2)(set, &ev, 0), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ_I(NV(nvmlEventSetFree)(other), NVML_SUCCESS);
	NV(nvmlShutdown)();
	CHECK_EQ_I(NV(nvmlEventSetCreate)(&set), NVML_ERROR_UNINITIALIZED);
}

/* Files in <state>/users that name this process as an NVML user. */
static unsigned my_nvml_records(void)
{
	char path[700], want[64], buf[256];
	unsigned n = 0;
	snprintf(path, sizeof(path), "%s/users", state_dir);
	snprintf(want, sizeof(want), "vmig-user 1 nvml %d all ", (int)getpid());
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		char file[1000];
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		FILE *f = e->d_name[0] == '.' ? NULL : fopen(file, "r");
		if (f && fgets(buf, sizeof(buf), f) && strncmp(buf, want, strlen(want)) == 0)
			n++;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

TEST(the_library_records_its_user)
{
	setup("h100-80gb");
	CHECK_EQ_U(my_nvml_records(), 1);
	CHECK_EQ_I(NV(nvmlInit_v2)(), NVML_SUCCESS); /* reference counted: still one */
	CHECK_EQ_U(my_nvml_records(), 1);
	NV(nvmlShutdown)();
	CHECK_EQ_U(my_nvml_records(), 1);
	NV(nvmlShutdown)();
	CHECK_EQ_U(my_nvml_records(), 0);
}

/*
 * A GPU handle stays bound to its GPU: after another process removes GPU 1,
 * the old handle of GPU 1 is lost (GPU_IS_LOST, for reads and changes
 * alike) and never answers for, or changes, the GPU that moved into index
 * 1; that GPU keeps its own handle.
 */
TEST(stale_device_handle_is_lost)
{
	setup("a100-40gb a100-40gb h100-80gb");
	nvmlDevice_t h0 = gpu(0), h1 = gpu(1), h2 = gpu(2);
	char u2[96] = "", u[96] = "";
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(h2, u2, sizeof(u2)), NVML_SUCCESS);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "%s sim remove 1 >/dev/null", vmig_path);
	CHECK(system(cmd) == 0);
	unsigned cur = 9, pend = 9, n = 0;
	nvmlReturn_t act;
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(h1, &cur, &pend), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ_I(NV(nvmlDeviceSetMigMode)(h1, 1, &act), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(h1, u, sizeof(u)), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ_I(NV(nvmlDeviceGetCount_v2)(&n), NVML_SUCCESS);
	CHECK_EQ_U(n, 2);
	/* The H100 moved to index 1 with its own handle, untouched by the lost one's change. */
	CHECK(gpu(1) == h2);
	CHECK_EQ_I(NV(nvmlDeviceGetUUID)(h2, u, sizeof(u)), NVML_SUCCESS);
	CHECK_STR(u, u2);
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(h2, &cur, &pend), NVML_SUCCESS);
	CHECK_EQ_U(cur, 0);
	unsigned idx = 9;
	CHECK_EQ_I(NV(nvmlDeviceGetIndex)(h2, &idx), NVML_SUCCESS);
	CHECK_EQ_U(idx, 1);
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(h0, &cur, &pend), NVML_SUCCESS);
	/* A GPU added later gets a handle of its own, not the lost one. */
	snprintf(cmd, sizeof(cmd), "%s sim add a30 >/dev/null", vmig_path);
	CHECK(system(cmd) == 0);
	CHECK(gpu(2) != h1);
	CHECK_EQ_I(NV(nvmlDeviceGetMigMode)(h1, &cur, &pend), NVML_ERROR_GPU_IS_LOST);
	NV(nvmlShutdown)();
}

int main(int argc, char **argv)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	snprintf(lib_path, sizeof(lib_path), "%s/libnvidia-ml.so.1", b);
	snprintf(seed_path, sizeof(seed_path), "%s/tests/abi/nvml_seed", b);
	snprintf(vmig_path, sizeof(vmig_path), "%s/vmig", b);
	lib = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("FAIL - dlopen: %s\n", dlerror());
		return 1;
	}
	/* The vmig commands the tests start work on the simulated GPUs directly. */
	setenv("VMIG_BACKEND", "sim", 1);
	RUN(running_processes);
	RUN(stale_device_handle_is_lost);
	RUN(process_name);
	RUN(cpu_and_memory_affinity);
	RUN(topology_hic_units);
	RUN(temperature_v_and_addressing_mode);
	RUN(event_sets);
	RUN(the_library_records_its_user);
	return harness_done();
}
