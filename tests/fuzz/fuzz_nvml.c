/*
 * fuzz_nvml.c — random sequences of NVML calls against vmig's NVML library
 * (linked in), on a state of four simulated GPUs on tmpfs: init and
 * shutdown, GPU handles, MIG mode, GI and CI creation (with and without a
 * placement) and destruction, the queries over them, MIG device handles,
 * and calls on handles kept from before a destroy or a shutdown.  Each input
 * byte picks a call; the bytes after it are its arguments.
 *
 * After every call that can change the state (init, shutdown, mode, create,
 * destroy; queries cannot) and at the end, the state must still load and
 * validate, and while the library is initialised its GPU count must be the
 * state's.  An input makes at most 64 calls.  The state is
 * reset to the same four GPUs before every input, and the library is shut
 * down as often as it was initialised.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpus.h"
#include "nvml_abi.h"
#include "tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static struct vmig_store *store;
static const char *const models[] = {"a100-40gb", "h100-80gb", "a30", "rtx-pro-6000"};

static void cleanup(void)
{
	if (store)
		vmig_store_close(store);
	if (dir[0])
		test_rmtree(dir);
}

static void setup(void)
{
	/* State records of 64 KiB come and go with every call: keep them off mmap (fuzz_exec.c).
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	if (!test_mkdtemp(dir, sizeof(dir), "fuzz-nvml"))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	setenv("VMIG_LOCK_TIMEOUT", "1", 1);
	struct vmig_err e = {0};
	if (vmig_store_open(dir, &store, &e))
		abort();
	atexit(cleanup);
}

/* The input, read a byte at a time; zeroes once it is used up. */
struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned next(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

#define KEEP 8

struct held {
	int inits;
	nvmlDevice_t dev[KEEP], mig[KEEP];
	nvmlGpuInstance_t gi[KEEP];
	nvmlComputeInstance_t ci[KEEP];
};

static void check(const struct held *h)
{
	static struct vmig_state st;
	struct vmig_err e = {0};
	if (vmig_store_read(store, &st, &e) != 0)
		abort(); /* a state that does not load or validate */
	unsigned n = 0;
	if (h->inits > 0 && (nvmlDeviceGetCount_v2(&n) != NVML_SUCCESS || n != st.ngpu))
		abort();
}

/*
 * One call chosen by the next byte; handles it returns are kept for later
 * calls.  True when the call could change the state (or the library's
 * initialisation), which is when it is checked.
 */
static bool step(struct input *in, struct held *h)
{
	unsigned op = next(in) % 18, a = next(in), b = next(in);
	nvmlDevice_t d = h->dev[a % KEEP];
	nvmlGpuInstance_t gi = h->gi[b % KEEP];
	nvmlReturn_t act;
	unsigned cur, pend, count = 8;
	nvmlGpuInstanceProfileInfo_t gp;
	nvmlComputeInstanceProfileInfo_t cp;
	nvmlGpuInstancePlacement_t pl[16];
	nvmlGpuInstanceInfo_t gii;
	nvmlComputeInstanceInfo_t cii;
	nvmlMemory_t mem;
	nvmlGpuInstance_t gis[16];
	nvmlComputeInstance_t cis[16];
	char uuid[96];
	switch (op) {
	case 0:
		if (nvmlInit_v2() == NVML_SUCCESS)
			h->inits++;
		break;
	case 1:
		if (h->inits > 0 && nvmlShutdown() == NVML_SUCCESS)
			h->inits--;
		else
			nvmlShutdown(); /* not initialised: must say so, not crash */
		break;
	case 2:
		nvmlDeviceGetHandleByIndex_v2(a % 6, &h->dev[b % KEEP]);
		break;
	case 3:
		nvmlDeviceSetMigMode(d, b % 3, &act);
		break;
	case 4:
		nvmlDeviceGetMigMode(d, &cur, &pend);
		break;
	case 5:
		if (nvmlDeviceGetGpuInstanceProfileInfo(d, a % 16, &gp) == NVML_SUCCESS)
			nvmlDeviceCreateGpuInstance(d, gp.id, &h->gi[b % KEEP]);
		break;
	case 6:
		if (nvmlDeviceGetGpuInstanceProfileInfo(d, a % 16, &gp) == NVML_SUCCESS) {
			count = 16;
			if (nvmlDeviceGetGpuInstancePossiblePlacements_v2(d, gp.id, pl, &count) ==
				NVML_SUCCESS &&
			    count > 0)
				nvmlDeviceCreateGpuInstanceWithPlacement(d, gp.id, &pl[b % count],
									 &h->gi[b % KEEP]);
		}
		break;
	case 7:
		nvmlGpuInstanceDestroy(gi); /* maybe stale, maybe destroyed already */
		break;
	case 8:
		if (nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, a % 8, 0, &cp) == NVML_SUCCESS)
			nvmlGpuInstanceCreateComputeInstance(gi, cp.id, &h->ci[b % KEEP]);
		break;
	case 9:
		nvmlComputeInstanceDestroy(h->ci[a % KEEP]);
		break;
	case 10:
		count = 16;
		if (nvmlDeviceGetGpuInstanceProfileInfo(d, a % 16, &gp) == NVML_SUCCESS)
			nvmlDeviceGetGpuInstances(d, gp.id, gis, &count);
		break;
	case 11:
		nvmlGpuInstanceGetInfo(gi, &gii);
		break;
	case 12:
		count = a % 17;
		nvmlGpuInstanceGetComputeInstances(gi, b % 8, cis, &count);
		break;
	case 13:
		nvmlComputeInstanceGetInfo(h->ci[a % KEEP], &cii);
		break;
	case 14:
		nvmlDeviceGetMigDeviceHandleByIndex(d, b % 10, &h->mig[a % KEEP]);
		break;
	case 15:
		nvmlDeviceGetMemoryInfo(h->mig[a % KEEP], &mem);
		nvmlDeviceGetUUID(h->mig[b % KEEP], uuid, (unsigned)(a % sizeof(uuid)));
		break;
	case 16:
		nvmlDeviceGetGpuInstanceId(h->mig[a % KEEP], &cur);
		nvmlDeviceGetDeviceHandleFromMigDeviceHandle(h->mig[b % KEEP], &h->dev[a % KEEP]);
		break;
	default:
		nvmlDeviceGetGpuInstanceById(d, b % 16, &h->gi[a % KEEP]);
		break;
	}
	return op <= 1 || op == 3 || op == 5 || op == 6 || op == 7 || op == 8 || op == 9;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	/*
	 * Seeded through the one store this process keeps, not a fresh one
	 * per input: a store's records are allocated once (fuzz_exec.c).
	 */
	static struct vmig_state seed;
	struct vmig_err e = {0};
	if (vmig_store_begin(store, &seed, &e) != 0)
		abort();
	seed.ngpu = 0;
	for (unsigned i = 0; i < 4; i++)
		if (vmig_state_add_gpu(&seed, vmig_model_find(models[i]), &e) != 0)
			abort();
	if (vmig_store_commit(store, &seed, &e) != 0)
		abort();
	struct held h;
	memset(&h, 0, sizeof(h));
	struct input in = {data, size};
	for (int k = 0; in.n > 0 && k < 64; k++)
		if (step(&in, &h))
			check(&h);
	check(&h);
	while (h.inits-- > 0)
		nvmlShutdown();
	return 0;
}
