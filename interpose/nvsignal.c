/*
 * nvsignal.c — what the driver's NVML says about the GPU: how busy it was
 * (nvmlDeviceGetUtilizationRates) and which processes used it for how long
 * (nvmlDeviceGetProcessUtilization).  The compute share uses it to see the
 * other tenants of the GPU and to correct its own measurement (launch.c;
 * docs/interpose.md, "Which signal is used when").
 *
 * NVML is loaded lazily by the poller thread, never on a launch or
 * allocation path, read-only: nothing here changes a setting.  The GPU is
 * the one named by the instance (its partition is "<GPU UUID>/gi<N>"),
 * else by CUDA_VISIBLE_DEVICES, else NVML's first.  Missing library,
 * symbol or device: no signal, said once under VMIG_DEBUG.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nvml_abi.h"

#define MAX_SAMPLES 256

static struct {
	bool tried, ok;
	nvmlDevice_t dev;
	__typeof__(nvmlDeviceGetUtilizationRates) *util;
	nvml_process_utilization_fn *procs;
	unsigned long long last_ts;
	nvmlProcessUtilizationSample_t buf[MAX_SAMPLES];
} nv;

static void *sym(void *lib, const char *name)
{
	vmig__dlsym_fn *ds = vmig__dlsym_loader();
	return ds ? ds(lib, name) : NULL;
}

/* The GPU of the instance: a UUID from the partition or CUDA_VISIBLE_DEVICES, or an index. */
static nvmlReturn_t find_device(void *lib, const char *partition, nvmlDevice_t *dev)
{
	__typeof__(nvmlDeviceGetHandleByUUID) *by_uuid =
	    (__typeof__(by_uuid))sym(lib, "nvmlDeviceGetHandleByUUID");
	__typeof__(nvmlDeviceGetHandleByIndex_v2) *by_index =
	    (__typeof__(by_index))sym(lib, "nvmlDeviceGetHandleByIndex_v2");
	char uuid[VMIG_PARTITION_LEN] = "";
	const char *cvd = secure_getenv("CUDA_VISIBLE_DEVICES");
	if (strncmp(partition, "GPU-", 4) == 0)
		snprintf(uuid, sizeof(uuid), "%.*s", (int)strcspn(partition, "/"), partition);
	else if (cvd && strncmp(cvd, "GPU-", 4) == 0)
		snprintf(uuid, sizeof(uuid), "%.*s", (int)strcspn(cvd, ","), cvd);
	if (uuid[0])
		return by_uuid ? by_uuid(uuid, dev) : NVML_ERROR_FUNCTION_NOT_FOUND;
	unsigned idx = cvd && *cvd >= '0' && *cvd <= '9' ? (unsigned)strtoul(cvd, NULL, 10) : 0;
	return by_index ? by_index(idx, dev) : NVML_ERROR_FUNCTION_NOT_FOUND;
}

bool vmig__nv_open(const char *partition)
{
	if (nv.tried)
		return nv.ok;
	nv.tried = true;
	void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		VMIG_LOG("no NVML (%s): compute share without it", dlerror());
		return false;
	}
	__typeof__(nvmlInit_v2) *init = (__typeof__(init))sym(lib, "nvmlInit_v2");
	nvmlReturn_t r = init ? init() : NVML_ERROR_FUNCTION_NOT_FOUND;
	if (r == NVML_SUCCESS)
		r = find_device(lib, partition, &nv.dev);
	nv.util = (__typeof__(nv.util))sym(lib, "nvmlDeviceGetUtilizationRates");
	nv.procs = (nvml_process_utilization_fn *)sym(lib, "nvmlDeviceGetProcessUtilization");
	if (r != NVML_SUCCESS || (!nv.util && !nv.procs)) {
		VMIG_LOG("NVML cannot describe this GPU (error %d): compute share without it", r);
		return false; /* the library stays loaded: NVML may keep state of its own */
	}
	nv.ok = true;
	return true;
}

static bool among(int32_t pid, const int32_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* The processes' samples newer than the last ones read. */
static void read_procs(int32_t self, const int32_t *mine, unsigned nmine, struct vmig__nv_view *v)
{
	unsigned n = MAX_SAMPLES;
	nvmlReturn_t r = nv.procs(nv.dev, nv.buf, &n, nv.last_ts);
	if (r == NVML_ERROR_NOT_FOUND) {
		v->procs_ok = true; /* nothing new since the last look */
		return;
	}
	if (r != NVML_SUCCESS || n > MAX_SAMPLES)
		return;
	unsigned long long ts = nv.last_ts;
	for (unsigned i = 0; i < n; i++) {
		const nvmlProcessUtilizationSample_t *s = &nv.buf[i];
		unsigned pm = (s->smUtil > 100 ? 100 : s->smUtil) * 10;
		ts = s->timeStamp > ts ? s->timeStamp : ts;
		if ((int32_t)s->pid == self) {
			v->have_self = true;
			v->self_pm += pm;
		} else if (among((int32_t)s->pid, mine, nmine)) {
			v->mine_pm += pm;
		} else {
			v->others_pm += pm;
		}
	}
	v->procs_ok = true;
	v->fresh = nv.last_ts != 0 && ts > nv.last_ts;
	v->len_us = v->fresh ? ts - nv.last_ts : 0;
	v->ts_us = ts;
	nv.last_ts = ts;
}

void vmig__nv_read(int32_t self, const int32_t *mine, unsigned nmine, struct vmig__nv_view *v)
{
	memset(v, 0, sizeof(*v));
	if (!nv.ok)
		return;
	nvmlUtilization_t u;
	if (nv.util && nv.util(nv.dev, &u) == NVML_SUCCESS && u.gpu <= 100) {
		v->gpu_ok = true;
		v->gpu_pm = u.gpu * 10;
	}
	if (nv.procs)
		read_procs(self, mine, nmine, v);
}
