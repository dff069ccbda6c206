/*
 * plugin.h — what the files of vmig-device-plugin share (docs/kubernetes.md).
 *
 * The plugin is a kubelet device plugin, API v1beta1, on gRPC's C core:
 * one thread, one completion queue, every event a tag.  It announces one
 * resource per MIG profile of the node's instances (lib/k8s.c), each with
 * a gRPC server of its own on a socket in the kubelet's plugin directory
 * and a registration of its own with the kubelet.  The files:
 *
 *   main.c     the command line, the loop, the periodic look at the node
 *              (instances, health) that updates the resources
 *   server.c   a resource's server: methods, requests, unary replies, the
 *              ListAndWatch streams, shutdown
 *   rpc.c      what each method answers (protobuf-c messages in and out)
 *   kubelet.c  registration with the kubelet, and noticing a kubelet that
 *              restarted (kubelet.sock re-created, our sockets removed)
 *
 * Names use the dp_ prefix: the plugin is an executable, and the prefix
 * keeps its names apart from libvmig's, which share its link.
 */
#ifndef VMIG_DP_PLUGIN_H
#define VMIG_DP_PLUGIN_H

#include <grpc/grpc.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmig/vmig.h"

#define DP_NAME "vmig-device-plugin"

/* The API's constants (docs/kubernetes.md, "The API"). */
#define DP_API_VERSION	  "v1beta1"
#define DP_KUBELET_DIR	  "/var/lib/kubelet/device-plugins"
#define DP_KUBELET_SOCKET "kubelet.sock"
#define DP_HEALTHY	  "Healthy"
#define DP_UNHEALTHY	  "Unhealthy"
#define DP_REGISTER_PATH  "/v1beta1.Registration/Register"

/* The methods of the DevicePlugin service: X(enum suffix, gRPC path). */
#define DP_METHODS(X)                                                                              \
	X(OPTIONS, "/v1beta1.DevicePlugin/GetDevicePluginOptions")                                 \
	X(LIST_AND_WATCH, "/v1beta1.DevicePlugin/ListAndWatch")                                    \
	X(PREFERRED, "/v1beta1.DevicePlugin/GetPreferredAllocation")                               \
	X(ALLOCATE, "/v1beta1.DevicePlugin/Allocate")                                              \
	X(PRE_START, "/v1beta1.DevicePlugin/PreStartContainer")

enum dp_method {
#define DP_METHOD_ENUM(e, path) DP_M_##e,
	DP_METHODS(DP_METHOD_ENUM)
#undef DP_METHOD_ENUM
	    DP_M__COUNT,
	DP_M_UNKNOWN = DP_M__COUNT, /* any other path: answered UNIMPLEMENTED */
};

/* Bounds on the waits of the loop (milliseconds). */
#define DP_INTERVAL_DEFAULT 250	 /* the look at the node; --interval */
#define DP_REGISTER_TIMEOUT 5000 /* one Register call */
#define DP_RETRY_MS	    1000 /* after a kubelet that did not answer */

struct dp_opts {
	const char *dir;	/* the kubelet's plugin directory */
	const char *domain;	/* the resources' domain */
	const char *kind;	/* the CDI kind of the names Allocate gives */
	const char *backend;	/* NULL: as vmig picks it */
	const char *mig_minors; /* NULL: as vmig cdi */
	const char *dev_root;	/* NULL: as vmig cdi */
	unsigned interval_ms;
};

/* What a completion-queue event finished; embedded in the record it belongs to. */
enum dp_tag_kind {
	DP_TAG_REQUEST,	 /* a requested call arrived (or the server shut down) */
	DP_TAG_REPLIED,	 /* a unary call's reply went out */
	DP_TAG_SENT,	 /* a ListAndWatch message went out */
	DP_TAG_CLOSED,	 /* a call ended on the client's side */
	DP_TAG_REGISTER, /* a Register call returned */
	DP_TAG_SHUTDOWN, /* a server finished its shutdown */
};
struct dp_tag {
	enum dp_tag_kind kind;
};

/* One device as ListAndWatch announces it. */
struct dp_dev {
	char id[VMIG_UUID_LEN];
	bool healthy;
};

struct dp_call;
struct dp_register;

/* A resource: one profile, its server, its registration, its devices. */
struct dp_resource {
	char name[VMIG_K8S_RESOURCE_LEN]; /* "vmig.dev/mig-3g.40gb" */
	char endpoint[NAME_MAX + 1];	  /* its socket's file name in the plugin directory */
	char path[PATH_MAX];		  /* and its path */

	bool unservable;     /* its socket's path is too long: never served */
	grpc_server *server; /* NULL: not serving */
	void *method[DP_M__COUNT];
	dev_t sock_dev; /* the socket as made, to notice another in its place */
	ino_t sock_ino;
	bool stopping;	    /* shutdown asked, not yet finished */
	bool restart;	    /* serve again once stopped */
	unsigned inflight;  /* requests posted and calls open on this server */
	bool shutdown_done; /* its shutdown tag came back */
	struct dp_tag shutdown_tag;

	bool registered;
	struct dp_register *reg; /* the Register call in flight, or NULL */
	double retry_at;	 /* monotonic seconds: no registration before */
	bool warned;		 /* an unanswered registration was reported */
	dev_t kubelet_dev;	 /* the kubelet.sock it registered with */
	ino_t kubelet_ino;

	size_t ndev;
	struct dp_dev *dev; /* malloc'ed */
	uint64_t version;   /* changes with every new device list */
	struct dp_call *streams;
	struct dp_resource *next;
};

struct dp_plugin {
	struct dp_opts o;
	grpc_completion_queue *cq;
	struct dp_resource *res;
	char kubelet[PATH_MAX]; /* the kubelet's socket */
	bool kubelet_up;
	volatile sig_atomic_t stop; /* a signal asked to stop */
	int status;		    /* exit status (1 after a refusal) */
	char last_err[sizeof(((struct vmig_err *)0)->msg)];
};

/* "vmig-device-plugin: <formatted>" on stderr. */
void dp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in seconds. */
double dp_now(void);
/* A gRPC deadline ms milliseconds from now. */
gpr_timespec dp_deadline(unsigned ms);

/* server.c */
int dp_serve(struct dp_plugin *p, struct dp_resource *r);
void dp_stop(struct dp_plugin *p, struct dp_resource *r);
/* Send the current list on every stream of r that is not sending. */
void dp_announce(struct dp_plugin *p, struct dp_resource *r);
void dp_event(struct dp_plugin *p, struct dp_tag *tag, bool ok);

/* rpc.c: the answer to a unary call, a packed message or an error status. */
struct dp_reply {
	grpc_status_code code;
	char msg[512];
	uint8_t *buf; /* malloc'ed, len bytes; NULL with an error */
	size_t len;
};
/* The node now: a snapshot as every front end takes it, and its devices (*ret malloc'ed). */
int dp_node(const struct dp_plugin *p, struct vmig_state *st, struct vmig_k8s_dev **ret,
	    size_t *ret_n, struct vmig_err *err);
void dp_rpc(struct dp_plugin *p, struct dp_resource *r, enum dp_method m, const uint8_t *in,
	    size_t len, struct dp_reply *ret);
/* The ListAndWatchResponse of r's devices, packed (malloc'ed); NULL when out of memory. */
uint8_t *dp_list_message(const struct dp_resource *r, size_t *ret_len);
/* The RegisterRequest of r, packed (malloc'ed). */
uint8_t *dp_register_message(const struct dp_resource *r, size_t *ret_len);

/* kubelet.c */
/* Is the kubelet's socket there (its numbers in *ret_dev, *ret_ino)? */
bool dp_kubelet_socket(const struct dp_plugin *p, dev_t *ret_dev, ino_t *ret_ino);
/* Notice a restarted kubelet or a removed socket; register what needs it. */
void dp_watch_kubelet(struct dp_plugin *p);
void dp_register_done(struct dp_plugin *p, struct dp_register *reg, bool ok);
/* At exit: end the registrations in flight at once. */
void dp_cancel_registrations(struct dp_plugin *p);

#endif
