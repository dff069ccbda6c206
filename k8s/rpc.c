/*
 * rpc.c — what vmig-device-plugin answers to each method of the
 * DevicePlugin service (docs/kubernetes.md, "What each method answers"),
 * and the messages it sends on its own (ListAndWatch, Register), built
 * and read with the protobuf-c code protoc-c generates from
 * k8s/deviceplugin.proto.
 *
 * Allocate and GetPreferredAllocation look at the node afresh (a snapshot
 * as every front end takes it, vmig_snapshot_devices), so a device
 * destroyed since the last ListAndWatch message is refused, never handed
 * out.  Each reply's message parts live in one arena, freed after packing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deviceplugin.pb-c.h"
#include "plugin.h"

/* ---- an arena for a reply's parts ---- */

struct arena {
	void **p;
	size_t n, cap;
	bool failed;
};

static void *arena_alloc(struct arena *a, size_t size)
{
	if (a->n == a->cap) {
		size_t c = a->cap ? a->cap * 2 : 32;
		void **v = realloc(a->p, c * sizeof(*v));
		if (!v) {
			a->failed = true;
			return NULL;
		}
		a->p = v;
		a->cap = c;
	}
	void *m = calloc(1, size ? size : 1);
	if (!m)
		a->failed = true;
	else
		a->p[a->n++] = m;
	return m;
}

static char *arena_str(struct arena *a, const char *s)
{
	char *d = arena_alloc(a, strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

/* Pack msg into a malloc'ed buffer (NULL when out of memory). */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *ret_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf)
		*ret_len = protobuf_c_message_pack(msg, buf);
	return buf;
}

static void fail(struct dp_reply *ret, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct dp_reply *ret, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ret->msg, sizeof(ret->msg), fmt, ap);
	va_end(ap);
	ret->code = code;
	free(ret->buf);
	ret->buf = NULL;
}

/* ---- the node ---- */

int dp_node(const struct dp_plugin *p, struct vmig_state *st, struct vmig_k8s_dev **ret,
	    size_t *ret_n, struct vmig_err *err)
{
	const struct vmig_k8s_opts o = {
	    .domain = p->o.domain, .mig_minors = p->o.mig_minors, .dev_root = p->o.dev_root};
	int r = vmig_snapshot_devices(p->o.backend, st, err);
	return r < 0 ? r : vmig_k8s_devices(st, &o, ret, ret_n, err);
}

static const struct vmig_k8s_dev *find(const struct vmig_k8s_dev *d, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].uuid, id) == 0)
			return &d[i];
	return NULL;
}

/* ---- messages the plugin sends ---- */

uint8_t *dp_list_message(const struct dp_resource *r, size_t *ret_len)
{
	V1beta1__ListAndWatchResponse msg = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
	V1beta1__Device *dev = calloc(r->ndev ? r->ndev : 1, sizeof(*dev));
	V1beta1__Device **ptr = calloc(r->ndev ? r->ndev : 1, sizeof(*ptr));
	uint8_t *buf = NULL;
	if (dev && ptr) {
		for (size_t i = 0; i < r->ndev; i++) {
			v1beta1__device__init(&dev[i]);
			dev[i].id = (char *)r->dev[i].id;
			dev[i].health = (char *)(r->dev[i].healthy ? DP_HEALTHY : DP_UNHEALTHY);
			ptr[i] = &dev[i];
		}
		msg.n_devices = r->ndev;
		msg.devices = ptr;
		buf = pack(&msg.base, ret_len);
	}
	free(dev);
	free(ptr);
	return buf;
}

uint8_t *dp_register_message(const struct dp_resource *r, size_t *ret_len)
{
	V1beta1__RegisterRequest msg = V1BETA1__REGISTER_REQUEST__INIT;
	V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	opts.pre_start_required = 0;
	opts.get_preferred_allocation_available = 1;
	msg.version = (char *)DP_API_VERSION;
	msg.endpoint = (char *)r->endpoint;
	msg.resource_name = (char *)r->name;
	msg.options = &opts;
	return pack(&msg.base, ret_len);
}

/* ---- GetDevicePluginOptions, PreStartContainer ---- */

static void options(struct dp_reply *ret)
{
	V1beta1__DevicePluginOptions msg = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	msg.pre_start_required = 0;
	msg.get_preferred_allocation_available = 1;
	if (!(ret->buf = pack(&msg.base, &ret->len)))
		fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

static void pre_start(const uint8_t *in, size_t len, struct dp_reply *ret)
{
	V1beta1__PreStartContainerRequest *req =
	    v1beta1__pre_start_container_request__unpack(NULL, len, in);
	V1beta1__PreStartContainerResponse msg = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
	if (!req) {
		fail(ret, GRPC_STATUS_INVALID_ARGUMENT,
		     "cannot decode the PreStartContainerRequest");
		return;
	}
	v1beta1__pre_start_container_request__free_unpacked(req, NULL);
	if (!(ret->buf = pack(&msg.base, &ret->len)))
		fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- Allocate ---- */

/* Check one container's IDs against the node: the devices, or a failure in ret. */
static bool check_ids(const struct dp_resource *r, const V1beta1__ContainerAllocateRequest *cr,
		      size_t k, const struct vmig_k8s_dev *d, size_t n,
		      const struct vmig_k8s_dev **sel, struct dp_reply *ret)
{
	if (cr->n_devices_ids == 0) {
		fail(ret, GRPC_STATUS_INVALID_ARGUMENT, "%s: container request %zu names no device",
		     r->name, k);
		return false;
	}
	for (size_t i = 0; i < cr->n_devices_ids; i++) {
		const char *id = cr->devices_ids[i];
		const struct vmig_k8s_dev *e = find(d, n, id);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cr->devices_ids[j], id) == 0) {
				fail(ret, GRPC_STATUS_INVALID_ARGUMENT,
				     "%s: device ID '%.64s' is named twice", r->name, id);
				return false;
			}
		if (!e) {
			fail(ret, GRPC_STATUS_NOT_FOUND,
			     "%s: unknown device ID '%.64s' (no GPU instance of this node has it)",
			     r->name, id);
			return false;
		}
		if (strcmp(e->resource, r->name) != 0) {
			fail(ret, GRPC_STATUS_INVALID_ARGUMENT,
			     "device %s is a %s, not a %s (unknown to this resource)", id,
			     e->resource, r->name);
			return false;
		}
		if (!e->healthy) {
			fail(ret, GRPC_STATUS_FAILED_PRECONDITION, "device %s is unhealthy: %s", id,
			     e->why);
			return false;
		}
		if (e->soft && cr->n_devices_ids > 1) {
			fail(ret, GRPC_STATUS_FAILED_PRECONDITION,
			     "%s: a container runs in one software partition alone (%zu devices "
			     "asked)",
			     r->name, cr->n_devices_ids);
			return false;
		}
		sel[i] = e;
	}
	return true;
}

static void add_env(struct arena *a, V1beta1__ContainerAllocateResponse *c, const char *name,
		    const char *value)
{
	V1beta1__ContainerAllocateResponse__EnvsEntry *e = arena_alloc(a, sizeof(*e));
	if (!e)
		return;
	v1beta1__container_allocate_response__envs_entry__init(e);
	e->key = arena_str(a, name);
	e->value = arena_str(a, value);
	c->envs[c->n_envs++] = e;
}

/*
 * The device nodes of several MIG devices, as the spec's edits give them,
 * in place of their CDI names: CDI replaces a variable instead of merging
 * it, so the names would leave the container the CUDA_VISIBLE_DEVICES of
 * the last device alone, not the list of them all.
 */
static int device_specs(struct dp_plugin *p, const struct vmig_state *st,
			const struct vmig_k8s_dev **sel, size_t n, struct arena *a,
			V1beta1__ContainerAllocateResponse *c, struct vmig_err *err)
{
	const struct vmig_cdi_opts o = {.mig_minors = p->o.mig_minors, .dev_root = p->o.dev_root};
	const char **uuids = arena_alloc(a, n * sizeof(*uuids));
	struct vmig_cdi_node *nodes = NULL;
	size_t nn = 0;
	if (!uuids)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	for (size_t i = 0; i < n; i++)
		uuids[i] = sel[i]->uuid;
	int r = vmig_cdi_nodes(st, &o, uuids, n, &nodes, &nn, err);
	if (r < 0)
		return r;
	c->devices = arena_alloc(a, nn * sizeof(*c->devices));
	for (size_t i = 0; c->devices && i < nn; i++) {
		V1beta1__DeviceSpec *d = arena_alloc(a, sizeof(*d));
		if (!d)
			break;
		v1beta1__device_spec__init(d);
		d->container_path = arena_str(a, nodes[i].path);
		d->host_path = arena_str(a, nodes[i].host);
		d->permissions = arena_str(a, "rw");
		c->devices[c->n_devices++] = d;
	}
	free(nodes);
	return a->failed || !c->devices ? vmig_err_set(err, VMIG_E_NO_MEMORY, NULL) : 0;
}

/*
 * One container's answer: its CDI names (or, for several MIG devices, their
 * device nodes), and the environment vmig's CDI edits give the same devices
 * (CUDA_VISIBLE_DEVICES of every MIG device; for a software partition the
 * variables of vmig run).
 */
static int container(struct dp_plugin *p, const struct vmig_state *st,
		     const struct vmig_k8s_dev **sel, size_t n, struct arena *a,
		     V1beta1__ContainerAllocateResponse *c, struct vmig_err *err)
{
	const char *kind = vmig_cdi_kind(p->o.kind);
	char name[VMIG_CDI_KIND_LEN + VMIG_UUID_LEN + 2];
	v1beta1__container_allocate_response__init(c);
	c->cdi_devices = arena_alloc(a, n * sizeof(*c->cdi_devices));
	c->envs = arena_alloc(a, (1 + VMIG_SOFT_ENV_MAX) * sizeof(*c->envs));
	char *cvd = arena_alloc(a, n * VMIG_UUID_LEN + 1);
	if (!c->cdi_devices || !c->envs || !cvd)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	bool by_nodes = n > 1 && !sel[0]->soft;
	for (size_t i = 0; i < n; i++) {
		strcat(strcat(cvd, i ? "," : ""), sel[i]->uuid);
		if (by_nodes)
			continue;
		V1beta1__CDIDevice *d = arena_alloc(a, sizeof(*d));
		if (!d)
			return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
		v1beta1__cdidevice__init(d);
		snprintf(name, sizeof(name), "%s=%s", kind, sel[i]->uuid);
		d->name = arena_str(a, name);
		c->cdi_devices[c->n_cdi_devices++] = d;
	}
	if (!sel[0]->soft) {
		int r = by_nodes ? device_specs(p, st, sel, n, a, c, err) : 0;
		if (r < 0)
			return r;
		add_env(a, c, VMIG_ENV_VISIBLE_DEVICES, cvd);
		return a->failed ? vmig_err_set(err, VMIG_E_NO_MEMORY, NULL) : 0;
	}
	struct vmig_soft_env *env = calloc(1, sizeof(*env));
	int r = env ? vmig_soft_env(&st->gpu[sel[0]->gpu], sel[0]->gi, VMIG_CDI_INTERPOSER_PATH,
				    env, err)
		    : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	for (unsigned i = 0; r >= 0 && i < env->n; i++)
		add_env(a, c, env->var[i].name, env->var[i].value);
	free(env);
	return r < 0 ? r : a->failed ? vmig_err_set(err, VMIG_E_NO_MEMORY, NULL) : 0;
}

static void allocate_reply(struct dp_plugin *p, struct dp_resource *r,
			   const V1beta1__AllocateRequest *req, const struct vmig_state *st,
			   const struct vmig_k8s_dev *d, size_t n, struct dp_reply *ret)
{
	V1beta1__AllocateResponse msg = V1BETA1__ALLOCATE_RESPONSE__INIT;
	struct arena a = {0};
	struct vmig_err err = {0};
	size_t k = req->n_container_requests;
	msg.container_responses = arena_alloc(&a, k * sizeof(*msg.container_responses));
	for (size_t i = 0; i < k && !a.failed && ret->code == GRPC_STATUS_OK; i++) {
		const V1beta1__ContainerAllocateRequest *cr = req->container_requests[i];
		const struct vmig_k8s_dev **sel =
		    arena_alloc(&a, (cr->n_devices_ids + 1) * sizeof(*sel));
		V1beta1__ContainerAllocateResponse *c = arena_alloc(&a, sizeof(*c));
		if (!sel || !c || !check_ids(r, cr, i, d, n, sel, ret))
			break;
		if (container(p, st, sel, cr->n_devices_ids, &a, c, &err) < 0) {
			fail(ret, GRPC_STATUS_INTERNAL, "%s: %s", r->name, err.msg);
			break;
		}
		msg.container_responses[msg.n_container_responses++] = c;
		for (size_t j = 0; j < cr->n_devices_ids; j++)
			if (c->n_cdi_devices)
				dp_log("%s: Allocate: container %zu gets %s=%s", r->name, i,
				       vmig_cdi_kind(p->o.kind), sel[j]->uuid);
			else
				dp_log("%s: Allocate: container %zu gets %s (%zu device nodes)",
				       r->name, i, sel[j]->uuid, c->n_devices);
	}
	if (a.failed && ret->code == GRPC_STATUS_OK)
		fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	if (ret->code == GRPC_STATUS_OK && !(ret->buf = pack(&msg.base, &ret->len)))
		fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	arena_free(&a);
}

/* The request decoded, with the node as it is now; false with the failure in ret. */
static bool fresh_node(struct dp_plugin *p, struct vmig_state **st, struct vmig_k8s_dev **d,
		       size_t *n, struct dp_reply *ret)
{
	struct vmig_err err = {0};
	*st = calloc(1, sizeof(**st));
	*d = NULL;
	*n = 0;
	if (!*st) {
		fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return false;
	}
	if (dp_node(p, *st, d, n, &err) < 0) {
		fail(ret, GRPC_STATUS_UNAVAILABLE, "cannot read the node's GPU instances: %s",
		     err.msg);
		return false;
	}
	return true;
}

static void allocate(struct dp_plugin *p, struct dp_resource *r, const uint8_t *in, size_t len,
		     struct dp_reply *ret)
{
	V1beta1__AllocateRequest *req = v1beta1__allocate_request__unpack(NULL, len, in);
	struct vmig_state *st = NULL;
	struct vmig_k8s_dev *d = NULL;
	size_t n = 0;
	if (!req)
		fail(ret, GRPC_STATUS_INVALID_ARGUMENT, "%s: cannot decode the AllocateRequest",
		     r->name);
	else if (req->n_container_requests == 0)
		fail(ret, GRPC_STATUS_INVALID_ARGUMENT,
		     "%s: the AllocateRequest names no container", r->name);
	else if (fresh_node(p, &st, &d, &n, ret))
		allocate_reply(p, r, req, st, d, n, ret);
	if (ret->code != GRPC_STATUS_OK)
		dp_log("Allocate refused: %s", ret->msg);
	if (req)
		v1beta1__allocate_request__free_unpacked(req, NULL);
	free(st);
	free(d);
}

/* ---- GetPreferredAllocation ---- */

/*
 * The preference: the IDs that must be included, then the other available
 * healthy devices of this resource, those on a GPU already chosen first,
 * then by GPU, GI and CI, so that a container's devices share a GPU where
 * they can; at most allocation_size of them.
 */
static void prefer(const V1beta1__ContainerPreferredAllocationRequest *cr,
		   const struct vmig_k8s_dev *d, size_t n, struct arena *a,
		   V1beta1__ContainerPreferredAllocationResponse *c)
{
	size_t want = cr->allocation_size > 0 ? (size_t)cr->allocation_size : 0;
	bool gpu_used[VMIG_MAX_GPUS] = {false};
	v1beta1__container_preferred_allocation_response__init(c);
	c->deviceids = arena_alloc(a, (cr->n_available_deviceids + cr->n_must_include_deviceids) *
					  sizeof(*c->deviceids));
	if (!c->deviceids)
		return;
	for (size_t i = 0; i < cr->n_must_include_deviceids && c->n_deviceids < want; i++) {
		const struct vmig_k8s_dev *e = find(d, n, cr->must_include_deviceids[i]);
		if (e)
			gpu_used[e->gpu] = true;
		c->deviceids[c->n_deviceids++] = cr->must_include_deviceids[i];
	}
	/* Two passes over the node's devices, in its order: chosen GPUs first, then any. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < n && c->n_deviceids < want; k++) {
			bool avail = false, taken = false;
			for (size_t i = 0; i < cr->n_available_deviceids; i++)
				avail |= strcmp(cr->available_deviceids[i], d[k].uuid) == 0;
			for (size_t i = 0; i < c->n_deviceids; i++)
				taken |= strcmp(c->deviceids[i], d[k].uuid) == 0;
			if (!avail || taken || !d[k].healthy || (pass == 0 && !gpu_used[d[k].gpu]))
				continue;
			gpu_used[d[k].gpu] = true;
			c->deviceids[c->n_deviceids++] = (char *)d[k].uuid;
		}
}

static void preferred(struct dp_plugin *p, struct dp_resource *r, const uint8_t *in, size_t len,
		      struct dp_reply *ret)
{
	V1beta1__PreferredAllocationRequest *req =
	    v1beta1__preferred_allocation_request__unpack(NULL, len, in);
	V1beta1__PreferredAllocationResponse msg = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
	struct vmig_state *st = NULL;
	struct vmig_k8s_dev *d = NULL;
	struct arena a = {0};
	size_t n = 0;
	if (!req) {
		fail(ret, GRPC_STATUS_INVALID_ARGUMENT,
		     "%s: cannot decode the PreferredAllocationRequest", r->name);
	} else if (fresh_node(p, &st, &d, &n, ret)) {
		size_t k = req->n_container_requests;
		msg.container_responses = arena_alloc(&a, k * sizeof(*msg.container_responses));
		for (size_t i = 0; i < k && msg.container_responses; i++) {
			V1beta1__ContainerPreferredAllocationResponse *c =
			    arena_alloc(&a, sizeof(*c));
			if (!c)
				break;
			prefer(req->container_requests[i], d, n, &a, c);
			msg.container_responses[msg.n_container_responses++] = c;
		}
		if (a.failed)
			fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		else if (!(ret->buf = pack(&msg.base, &ret->len)))
			fail(ret, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	}
	arena_free(&a);
	if (req)
		v1beta1__preferred_allocation_request__free_unpacked(req, NULL);
	free(st);
	free(d);
}

void dp_rpc(struct dp_plugin *p, struct dp_resource *r, enum dp_method m, const uint8_t *in,
	    size_t len, struct dp_reply *ret)
{
	ret->code = GRPC_STATUS_OK;
	ret->msg[0] = '\0';
	ret->buf = NULL;
	switch (m) {
	case DP_M_OPTIONS:
		options(ret);
		return;
	case DP_M_ALLOCATE:
		allocate(p, r, in, len, ret);
		return;
	case DP_M_PREFERRED:
		preferred(p, r, in, len, ret);
		return;
	case DP_M_PRE_START:
		pre_start(in, len, ret);
		return;
	case DP_M_LIST_AND_WATCH: /* a stream, served by server.c */
	case DP_M_UNKNOWN:
		break;
	}
	fail(ret, GRPC_STATUS_UNIMPLEMENTED, "not a unary method");
}
