/*
 * events.c — NVML's event sets: create, register a GPU's event types, wait,
 * free.  One event can happen to a simulated GPU: its MIG configuration
 * changes (a GPU or compute instance is created or destroyed, or the MIG
 * mode switches), by this process or any other, and that is delivered as
 * nvmlEventMigConfigChange, as the driver delivers it.  The other types a
 * data-centre GPU supports (double-bit ECC errors, Xid errors, P-state and
 * clock changes) may be registered, as on such a GPU, but never fire: an
 * idle simulated GPU has no errors and never leaves P0.
 *
 * A set remembers, for each GPU registered in it, the event types and a
 * signature of the GPU's MIG configuration as of the registration or the
 * last event delivered; a wait compares the signature of the state now
 * (the library's cached state, re-read whenever the store's generation
 * moved) and sleeps a few milliseconds between looks, without the lock.
 * Set handles are checked against the list of live sets before use, so a
 * freed or invented handle is INVALID_ARGUMENT, never a crash.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nv.h"

#define NV_MAX_SETS	 256
#define NV_EVENT_POLL_MS 5
#define NV_EVENT_NO_ID	 0xFFFFFFFFu
#define NV_EVENTS_QUIET                                                                            \
	(nvmlEventTypeDoubleBitEccError | nvmlEventTypePState | nvmlEventTypeXidCriticalError |    \
	 nvmlEventTypeClock)

struct nv_event_reg {
	unsigned long long types; /* 0: the GPU is not registered */
	uint64_t sig;		  /* its MIG configuration when last looked at */
};

struct nvmlEventSet_st {
	struct nv_event_reg reg[VMIG_MAX_GPUS];
};

/* Live sets (lock held). */
static struct nvmlEventSet_st *sets[NV_MAX_SETS];

static int set_slot(nvmlEventSet_t set)
{
	for (int i = 0; set && i < NV_MAX_SETS; i++)
		if (sets[i] == set)
			return i;
	return -1;
}

/* What a GPU supports: the quiet types, and MIG configuration changes where it has MIG. */
static unsigned long long supported(const struct vmig_gpu_state *g)
{
	return NV_EVENTS_QUIET | (g->model->flags & VMIG_MF_MIG ? nvmlEventMigConfigChange : 0);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

/* A signature of GPU i's MIG configuration in the cached state (0: no such GPU). */
static uint64_t mig_signature(unsigned i)
{
	const struct vmig_state *st = vmig__nv.st;
	if (i >= st->ngpu)
		return 0;
	const struct vmig_gpu_state *g = &st->gpu[i];
	uint64_t h = mix(0xcbf29ce484222325ULL, (uint64_t)g->mig_current << 1 | 1);
	for (unsigned k = 0; k < g->ngi; k++) {
		const struct vmig_gi_state *gi = &g->gi[k];
		h = mix(h, (uint64_t)gi->id << 40 | (uint64_t)gi->profile_id << 20 | gi->start);
		for (unsigned c = 0; c < gi->nci; c++)
			h = mix(h, (uint64_t)gi->ci[c].id << 40 |
				       (uint64_t)gi->ci[c].profile_id << 20 | gi->ci[c].start);
	}
	return h;
}

NVML_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!set)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	int slot = set_slot(NULL);
	for (int i = 0; i < NV_MAX_SETS && slot < 0; i++)
		if (!sets[i])
			slot = i;
	struct nvmlEventSet_st *s = slot < 0 ? NULL : calloc(1, sizeof(*s));
	if (!s)
		return vmig__nv_leave(NVML_ERROR_MEMORY);
	sets[slot] = s;
	*set = s;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	int slot = set_slot(set);
	if (slot < 0)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	free(sets[slot]);
	sets[slot] = NULL;
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
							  unsigned long long *eventTypes)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, eventTypes, &ref);
	if (r != NVML_SUCCESS)
		return r;
	if (ref.ci) /* events are registered on the parent GPU */
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	*eventTypes = supported(ref.g);
	return vmig__nv_leave(NVML_SUCCESS);
}

NVML_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device,
						  unsigned long long eventTypes, nvmlEventSet_t set)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device(device, &ref);
	if (r != NVML_SUCCESS)
		return r;
	int slot = set_slot(set);
	if (slot < 0)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	if (ref.ci || (eventTypes & ~supported(ref.g)))
		return vmig__nv_leave(NVML_ERROR_NOT_SUPPORTED);
	struct nv_event_reg *e = &sets[slot]->reg[ref.index];
	if (!(e->types & nvmlEventMigConfigChange))
		e->sig = mig_signature(ref.index);
	e->types |= eventTypes;
	return vmig__nv_leave(NVML_SUCCESS);
}

/* One look (lock held): true with *data filled when a registered GPU's MIG configuration moved. */
static bool take_event(struct nvmlEventSet_st *s, nvmlEventData_t *data)
{
	for (unsigned i = 0; i < VMIG_MAX_GPUS; i++) {
		struct nv_event_reg *e = &s->reg[i];
		if (!(e->types & nvmlEventMigConfigChange))
			continue;
		uint64_t sig = mig_signature(i);
		if (sig == e->sig)
			continue;
		e->sig = sig;
		memset(data, 0, sizeof(*data));
		data->device = nv_dev(i);
		data->eventType = nvmlEventMigConfigChange;
		data->gpuInstanceId = NV_EVENT_NO_ID;
		data->computeInstanceId = NV_EVENT_NO_ID;
		return true;
	}
	return false;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wait up to timeoutms for an event of the set; TIMEOUT when none came. */
static nvmlReturn_t wait_event(nvmlEventSet_t set, nvmlEventData_t *data, unsigned timeoutms)
{
	double end = now_ms() + timeoutms;
	for (;;) {
		nvmlReturn_t r = vmig__nv_enter();
		if (r != NVML_SUCCESS)
			return r;
		int slot = set_slot(set);
		if (slot < 0 || !data)
			return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
		if (take_event(sets[slot], data))
			return vmig__nv_leave(NVML_SUCCESS);
		vmig__nv_leave(NVML_SUCCESS);
		double left = end - now_ms();
		if (left <= 0)
			return NVML_ERROR_TIMEOUT;
		double nap = left < NV_EVENT_POLL_MS ? left : NV_EVENT_POLL_MS;
		struct timespec ts = {0, (long)(nap * 1e6)};
		nanosleep(&ts, NULL);
	}
}

NVML_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
					     unsigned int timeoutms)
{
	return wait_event(set, data, timeoutms);
}

/* The legacy wait: its record ends before the GI and CI IDs. */
NVML_EXPORT nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data,
					  unsigned int timeoutms)
{
	nvmlEventData_t full;
	nvmlReturn_t r = wait_event(set, data ? &full : NULL, timeoutms);
	if (r == NVML_SUCCESS)
		memcpy(data, &full, offsetof(nvmlEventData_t, gpuInstanceId));
	return r;
}
