/*
 * server.c — the gRPC server of one resource (docs/kubernetes.md, "How the
 * plugin serves"), on gRPC's C core.
 *
 * A server listens on the resource's socket with the DevicePlugin methods
 * registered, and keeps one request posted per method (and one for any
 * other path, answered UNIMPLEMENTED): when a call arrives, its request is
 * posted again before the call is handled.  A unary call is answered in
 * one batch (initial metadata, the message or nothing, the status, and the
 * close), whose completion frees it.  A ListAndWatch call stays open: a
 * batch waits for the client to close it, and the device list is sent in
 * batches of one message, one at a time; a list that changed while one was
 * sending goes out when that send is done, so the last message a stream
 * carries is always the current list.  A call is freed when it is closed
 * and nothing is sending.  Stopping a server shuts it down, cancels its
 * calls, and destroys it once the shutdown tag and every request and call
 * have come back; a restart then serves again on a fresh socket.
 */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

static const char *const method_paths[DP_M__COUNT] = {
#define DP_METHOD_PATH(e, path) [DP_M_##e] = path,
    DP_METHODS(DP_METHOD_PATH)
#undef DP_METHOD_PATH
};

/* A call of a server, from its request to its end. */
struct dp_call {
	struct dp_tag request, replied, sent, closed;
	struct dp_resource *r;
	enum dp_method m;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details; /* DP_M_UNKNOWN */
	grpc_byte_buffer *payload; /* the request message */
	grpc_byte_buffer *out;	   /* the message being sent */
	int cancelled;
	/* ListAndWatch: a send in flight; the stream is over; its close tag came back */
	bool sending, is_closed, close_seen;
	uint64_t sent_version;
	struct dp_call *next;
};

#define CALL_OF(tag, member) ((struct dp_call *)((char *)(tag)-offsetof(struct dp_call, member)))

static void call_free(struct dp_call *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	if (c->m == DP_M_UNKNOWN)
		grpc_call_details_destroy(&c->details);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	c->r->inflight--;
	free(c);
}

/* Post the request for the next call of method m (DP_M_UNKNOWN: any other path). */
static void post_request(struct dp_plugin *p, struct dp_resource *r, enum dp_method m)
{
	struct dp_call *c = calloc(1, sizeof(*c));
	grpc_call_error e;
	if (!c) {
		dp_log("%s: out of memory: no more calls of %s are taken", r->name,
		       m == DP_M_UNKNOWN ? "unknown methods" : method_paths[m]);
		return;
	}
	c->request.kind = DP_TAG_REQUEST;
	c->replied.kind = DP_TAG_REPLIED;
	c->sent.kind = DP_TAG_SENT;
	c->closed.kind = DP_TAG_CLOSED;
	c->r = r;
	c->m = m;
	grpc_metadata_array_init(&c->md);
	if (m == DP_M_UNKNOWN) {
		grpc_call_details_init(&c->details);
		e = grpc_server_request_call(r->server, &c->call, &c->details, &c->md, p->cq, p->cq,
					     &c->request);
	} else {
		e = grpc_server_request_registered_call(r->server, r->method[m], &c->call,
							&c->deadline, &c->md, &c->payload, p->cq,
							p->cq, &c->request);
	}
	r->inflight++;
	if (e != GRPC_CALL_OK) {
		dp_log("%s: cannot take calls: %s", r->name, grpc_call_error_to_string(e));
		call_free(c);
	}
}

static void unlink_socket(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);
}

int dp_serve(struct dp_plugin *p, struct dp_resource *r)
{
	char addr[PATH_MAX + 8];
	struct stat sb;
	snprintf(addr, sizeof(addr), "unix:%s", r->path);
	unlink_socket(r->path);
	r->server = grpc_server_create(NULL, NULL);
	for (int m = 0; m < DP_M__COUNT; m++)
		r->method[m] = grpc_server_register_method(
		    r->server, method_paths[m], NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	grpc_server_register_completion_queue(r->server, p->cq, NULL);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(r->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0 || lstat(r->path, &sb) < 0) {
		grpc_server_destroy(r->server);
		r->server = NULL;
		dp_log("%s: cannot listen on %s", r->name, r->path);
		return -1;
	}
	grpc_server_start(r->server);
	/* A socket never written yet exists once the port is added. */
	r->sock_dev = sb.st_dev;
	r->sock_ino = sb.st_ino;
	r->stopping = r->restart = r->shutdown_done = false;
	for (int m = 0; m <= DP_M_UNKNOWN; m++)
		post_request(p, r, (enum dp_method)m);
	dp_log("%s: serving on %s", r->name, r->path);
	return 0;
}

void dp_stop(struct dp_plugin *p, struct dp_resource *r)
{
	if (!r->server || r->stopping)
		return;
	r->stopping = true;
	r->registered = false;
	r->shutdown_tag.kind = DP_TAG_SHUTDOWN;
	grpc_server_shutdown_and_notify(r->server, p->cq, &r->shutdown_tag);
	grpc_server_cancel_all_calls(r->server);
}

/* The server is gone once its shutdown and every request and call have come back. */
static void maybe_destroyed(struct dp_plugin *p, struct dp_resource *r)
{
	if (!r->stopping || !r->shutdown_done || r->inflight)
		return;
	grpc_server_destroy(r->server);
	r->server = NULL;
	r->stopping = false;
	/* Our socket, unless another is in its place already. */
	struct stat sb;
	if (lstat(r->path, &sb) == 0 && sb.st_dev == r->sock_dev && sb.st_ino == r->sock_ino)
		unlink(r->path);
	if (r->restart && !p->stop)
		dp_serve(p, r);
}

/* ---- unary calls ---- */

/* The request's bytes (malloc'ed, *len), or NULL when it carried no message. */
static uint8_t *payload_bytes(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader rd;
	if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	*len = GRPC_SLICE_LENGTH(s);
	uint8_t *v = malloc(*len ? *len : 1);
	if (v)
		memcpy(v, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return v;
}

static grpc_byte_buffer *buffer_of(uint8_t *buf, size_t len)
{
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static void reply(struct dp_plugin *p, struct dp_call *c)
{
	struct dp_reply rep = {.code = GRPC_STATUS_OK};
	size_t len = 0;
	uint8_t *in = c->m == DP_M_UNKNOWN ? NULL : payload_bytes(c->payload, &len);
	if (c->m == DP_M_UNKNOWN) {
		rep.code = GRPC_STATUS_UNIMPLEMENTED;
		snprintf(rep.msg, sizeof(rep.msg), "%s serves the DevicePlugin service only",
			 DP_NAME);
	} else if (!in) {
		rep.code = GRPC_STATUS_INVALID_ARGUMENT;
		snprintf(rep.msg, sizeof(rep.msg), "%s: no request message", method_paths[c->m]);
	} else {
		dp_rpc(p, c->r, c->m, in, len, &rep);
	}
	free(in);
	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	size_t n = 0;
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (rep.code == GRPC_STATUS_OK && (c->out = buffer_of(rep.buf, rep.len))) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->out;
	}
	grpc_slice details = grpc_slice_from_copied_string(rep.msg);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = rep.code;
	ops[n++].data.send_status_from_server.status_details = rep.msg[0] ? &details : NULL;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	free(rep.buf);
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->replied, NULL);
	grpc_slice_unref(details);
	if (e != GRPC_CALL_OK) {
		dp_log("%s: cannot answer a call: %s", c->r->name, grpc_call_error_to_string(e));
		call_free(c);
	}
}

/* ---- ListAndWatch ---- */

static void stream_send(struct dp_call *c)
{
	size_t len = 0;
	uint8_t *msg = dp_list_message(c->r, &len);
	grpc_op ops[2];
	memset(ops, 0, sizeof(ops));
	size_t n = 0;
	if (!msg)
		return;
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	c->out = buffer_of(msg, len);
	free(msg);
	/* The first batch carries the initial metadata too. */
	if (!c->sent_version)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->out;
	c->sent_version = c->r->version;
	c->sending = grpc_call_start_batch(c->call, ops, n, &c->sent, NULL) == GRPC_CALL_OK;
}

static void stream_open(struct dp_call *c)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (grpc_call_start_batch(c->call, &op, 1, &c->closed, NULL) != GRPC_CALL_OK) {
		call_free(c);
		return;
	}
	c->next = c->r->streams;
	c->r->streams = c;
	stream_send(c);
	dp_log("%s: ListAndWatch opened", c->r->name);
}

static void stream_done(struct dp_call *c)
{
	struct dp_call **pp = &c->r->streams;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	call_free(c);
}

void dp_announce(struct dp_plugin *p, struct dp_resource *r)
{
	for (struct dp_call *c = r->streams; c; c = c->next)
		if (!c->sending && !c->is_closed && c->sent_version != r->version)
			stream_send(c);
}

/* ---- events ---- */

static void arrived(struct dp_plugin *p, struct dp_call *c, bool ok)
{
	struct dp_resource *r = c->r;
	if (!ok) { /* the server is shutting down: the request comes back unused */
		call_free(c);
		maybe_destroyed(p, r);
		return;
	}
	if (!r->stopping)
		post_request(p, r, c->m);
	if (c->m == DP_M_LIST_AND_WATCH)
		stream_open(c);
	else
		reply(p, c);
}

void dp_event(struct dp_plugin *p, struct dp_tag *tag, bool ok)
{
	struct dp_call *c;
	struct dp_resource *r;
	switch (tag->kind) {
	case DP_TAG_REQUEST:
		arrived(p, CALL_OF(tag, request), ok);
		return;
	case DP_TAG_REPLIED:
		c = CALL_OF(tag, replied);
		r = c->r;
		call_free(c);
		maybe_destroyed(p, r);
		return;
	case DP_TAG_SENT:
		c = CALL_OF(tag, sent);
		c->sending = false;
		if (!ok)
			c->is_closed = true; /* the transport is gone; the close follows */
		if (!c->is_closed && c->sent_version != c->r->version)
			stream_send(c);
		if (c->close_seen && !c->sending) {
			r = c->r;
			stream_done(c);
			maybe_destroyed(p, r);
		}
		return;
	case DP_TAG_CLOSED:
		c = CALL_OF(tag, closed);
		c->is_closed = c->close_seen = true;
		dp_log("%s: a ListAndWatch stream ended", c->r->name);
		if (!c->sending) {
			r = c->r;
			stream_done(c);
			maybe_destroyed(p, r);
		}
		return;
	case DP_TAG_SHUTDOWN:
		r = (struct dp_resource *)((char *)tag -
					   offsetof(struct dp_resource, shutdown_tag));
		r->shutdown_done = true;
		maybe_destroyed(p, r);
		return;
	case DP_TAG_REGISTER:
		dp_register_done(p, (struct dp_register *)tag, ok);
		return;
	}
}
