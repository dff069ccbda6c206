/*
 * kubelet.c — vmig-device-plugin and the kubelet (docs/kubernetes.md,
 * "Registration"): the Register call of each resource on kubelet.sock, and
 * the watch that notices a kubelet that restarted.
 *
 * A resource registers once its server listens (the kubelet dials back at
 * once).  Each Register call gets a channel of its own, so no reconnection
 * backoff of an old channel delays it after a kubelet restart, and a
 * deadline of DP_REGISTER_TIMEOUT.  A kubelet that does not answer is
 * asked again after DP_RETRY_MS; one that answers with an error refused
 * the registration (a version it does not take, a resource name another
 * plugin holds), and the plugin then exits, as the API expects.  A
 * restarting kubelet removes every socket of its directory and makes
 * kubelet.sock anew: a resource whose socket is gone or replaced serves
 * again on a new one and registers again, and so does every resource when
 * kubelet.sock is another file than the one it registered with.
 */
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin.h"

struct dp_register {
	struct dp_tag tag; /* first: the event's tag is the record */
	struct dp_resource *r;
	grpc_channel *ch;
	grpc_call *call;
	grpc_byte_buffer *out, *in;
	grpc_metadata_array md_initial, md_trailing;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	dev_t kubelet_dev; /* the kubelet.sock it was sent to */
	ino_t kubelet_ino;
};

bool dp_kubelet_socket(const struct dp_plugin *p, dev_t *ret_dev, ino_t *ret_ino)
{
	struct stat sb;
	if (lstat(p->kubelet, &sb) < 0 || !S_ISSOCK(sb.st_mode))
		return false;
	*ret_dev = sb.st_dev;
	*ret_ino = sb.st_ino;
	return true;
}

static void register_free(struct dp_register *reg)
{
	grpc_metadata_array_destroy(&reg->md_initial);
	grpc_metadata_array_destroy(&reg->md_trailing);
	grpc_slice_unref(reg->details);
	if (reg->out)
		grpc_byte_buffer_destroy(reg->out);
	if (reg->in)
		grpc_byte_buffer_destroy(reg->in);
	if (reg->error_string)
		gpr_free((void *)reg->error_string);
	if (reg->call)
		grpc_call_unref(reg->call);
	if (reg->ch)
		grpc_channel_destroy(reg->ch);
	free(reg);
}

static void register_start(struct dp_plugin *p, struct dp_resource *r, dev_t dev, ino_t ino)
{
	char target[PATH_MAX + 8];
	size_t len = 0;
	struct dp_register *reg = calloc(1, sizeof(*reg));
	uint8_t *msg = reg ? dp_register_message(r, &len) : NULL;
	if (!msg) {
		free(reg);
		r->retry_at = dp_now() + DP_RETRY_MS / 1000.0;
		return;
	}
	reg->tag.kind = DP_TAG_REGISTER;
	reg->r = r;
	reg->kubelet_dev = dev;
	reg->kubelet_ino = ino;
	grpc_metadata_array_init(&reg->md_initial);
	grpc_metadata_array_init(&reg->md_trailing);
	reg->details = grpc_empty_slice();
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)msg, len);
	reg->out = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	free(msg);
	snprintf(target, sizeof(target), "unix:%s", p->kubelet);
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	reg->ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	reg->call = grpc_channel_create_call(reg->ch, NULL, GRPC_PROPAGATE_DEFAULTS, p->cq,
					     grpc_slice_from_static_string(DP_REGISTER_PATH), NULL,
					     dp_deadline(DP_REGISTER_TIMEOUT), NULL);
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = reg->out;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &reg->md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &reg->in;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &reg->md_trailing;
	ops[5].data.recv_status_on_client.status = &reg->status;
	ops[5].data.recv_status_on_client.status_details = &reg->details;
	ops[5].data.recv_status_on_client.error_string = &reg->error_string;
	grpc_call_error e =
	    reg->call ? grpc_call_start_batch(reg->call, ops, 6, &reg->tag, NULL) : GRPC_CALL_ERROR;
	if (e != GRPC_CALL_OK) {
		dp_log("%s: cannot call the kubelet: %s", r->name, grpc_call_error_to_string(e));
		register_free(reg);
		r->retry_at = dp_now() + DP_RETRY_MS / 1000.0;
		return;
	}
	r->reg = reg;
}

void dp_register_done(struct dp_plugin *p, struct dp_register *reg, bool ok)
{
	struct dp_resource *r = reg->r;
	char details[512];
	size_t n = GRPC_SLICE_LENGTH(reg->details);
	snprintf(details, sizeof(details), "%.*s", (int)(n < 400 ? n : 400),
		 (const char *)GRPC_SLICE_START_PTR(reg->details));
	r->reg = NULL;
	if (ok && reg->status == GRPC_STATUS_OK) {
		/* A server restarted meanwhile registers again on its new socket. */
		if (r->server && !r->stopping && !p->stop) {
			r->registered = true;
			r->warned = false;
			r->kubelet_dev = reg->kubelet_dev;
			r->kubelet_ino = reg->kubelet_ino;
			dp_log("%s: registered with the kubelet (endpoint %s)", r->name,
			       r->endpoint);
		}
	} else if (!ok || reg->status == GRPC_STATUS_UNAVAILABLE ||
		   reg->status == GRPC_STATUS_DEADLINE_EXCEEDED ||
		   reg->status == GRPC_STATUS_CANCELLED) {
		if (!r->warned && !p->stop)
			dp_log("%s: the kubelet did not answer the registration (%s); asking again",
			       r->name, details[0] ? details : "no answer");
		r->warned = true;
		r->retry_at = dp_now() + DP_RETRY_MS / 1000.0;
	} else {
		dp_log("%s: the kubelet refused the registration: %s (gRPC status %d)", r->name,
		       details[0] ? details : "no reason given", (int)reg->status);
		p->status = 1;
		p->stop = 1;
	}
	register_free(reg);
}

/* Is the resource's socket still the one its server made? */
static bool socket_ours(const struct dp_resource *r)
{
	struct stat sb;
	return lstat(r->path, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_dev == r->sock_dev &&
	       sb.st_ino == r->sock_ino;
}

void dp_watch_kubelet(struct dp_plugin *p)
{
	dev_t dev = 0;
	ino_t ino = 0;
	bool up = dp_kubelet_socket(p, &dev, &ino);
	if (up != p->kubelet_up)
		dp_log(up ? "the kubelet's socket %s is there"
			  : "the kubelet's socket %s is gone: "
			    "waiting for the kubelet",
		       p->kubelet);
	p->kubelet_up = up;
	for (struct dp_resource *r = p->res; r; r = r->next) {
		/* A server that could not start is tried again, once a retry interval. */
		if (!r->server && !r->unservable && dp_now() >= r->retry_at && dp_serve(p, r) < 0)
			r->retry_at = dp_now() + DP_RETRY_MS / 1000.0;
		if (!r->server || r->stopping)
			continue;
		if (!socket_ours(r)) {
			dp_log("%s: its socket %s was removed (the kubelet restarted?): serving "
			       "again",
			       r->name, r->path);
			r->restart = true;
			if (r->reg)
				grpc_call_cancel(r->reg->call, NULL);
			dp_stop(p, r);
			continue;
		}
		if (r->registered && (!up || dev != r->kubelet_dev || ino != r->kubelet_ino)) {
			if (up)
				dp_log("%s: kubelet.sock was made anew (the kubelet restarted): "
				       "registering again",
				       r->name);
			r->registered = false;
		}
		if (up && !r->registered && !r->reg && dp_now() >= r->retry_at)
			register_start(p, r, dev, ino);
	}
}

void dp_cancel_registrations(struct dp_plugin *p)
{
	for (struct dp_resource *r = p->res; r; r = r->next)
		if (r->reg)
			grpc_call_cancel(r->reg->call, NULL);
}
