/*
 * main.c — vmig-device-plugin: the command line, and the one loop that
 * serves every resource (docs/kubernetes.md).
 *
 * The loop waits on the completion queue for at most the interval; every
 * interval it looks at the node (dp_node: the instances and the health of
 * each) and at the kubelet (dp_watch_kubelet).  A profile seen for the
 * first time becomes a resource with a server and a registration of its
 * own; a resource whose device list changed (an instance made or
 * destroyed, a health flip) gets a new version, which every open
 * ListAndWatch stream sends.  A resource whose last instance went stays,
 * with an empty list, as the kubelet expects of a plugin that still runs.
 * SIGTERM and SIGINT stop the servers, remove their sockets and exit 0; a
 * registration the kubelet refused exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "plugin.h"

static void vlog(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static void vlog(const char *fmt, va_list ap)
{
	fputs(DP_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void dp_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

double dp_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

gpr_timespec dp_deadline(unsigned ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis((int64_t)ms, GPR_TIMESPAN));
}

/* ---- the command line ---- */

static void usage(FILE *f)
{
	/* clang-format off */
	fputs("Usage: " DP_NAME " [--kubelet-dir DIR] [--domain DOMAIN] [--cdi-kind VENDOR/CLASS]\n"
	      "                          [--backend NAME] [--mig-minors FILE] [--dev-root DIR]\n"
	      "                          [--interval MS]\n"
	      "\n"
	      "A kubelet device plugin (API " DP_API_VERSION ") for vmig's GPU instances: one resource\n"
	      "DOMAIN/mig-PROFILE per profile ('+' written as '.'), device IDs the MIG\n"
	      "UUIDs, Allocate answering with CDI names KIND=MIG-UUID (a container of\n"
	      "several MIG devices: their device nodes).  Runs until SIGTERM.\n"
	      "\n"
	      "Options:\n"
	      "  --kubelet-dir=DIR    the kubelet's plugin directory, with kubelet.sock\n"
	      "                       (default " DP_KUBELET_DIR ")\n"
	      "  --domain=DOMAIN      the resources' domain (default " VMIG_K8S_DOMAIN_DEFAULT ")\n"
	      "  --cdi-kind=KIND      the CDI kind of the names (default $" VMIG_ENV_CDI_KIND ",\n"
	      "                       else " VMIG_CDI_KIND_DEFAULT "): the kind of vmig cdi's spec\n"
	      "  --backend=NAME       the GPUs of this backend (default: as vmig), with\n"
	      "                       software partitions merged in\n"
	      "  --mig-minors=FILE    the capability minors [" VMIG_ENV_MIG_MINORS "]\n"
	      "  --dev-root=DIR       where the device nodes are [" VMIG_ENV_DEV_ROOT ", default /dev]\n"
	      "  --interval=MS        how often the node is looked at (default 250)\n"
	      "  -h, --help           this help\n"
	      "      --version        the version\n",
	      f);
	/* clang-format on */
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	return 2;
}

/* Read the options into *o; 0, -1 after --help or --version, else an exit status. */
static int parse(int argc, char **argv, struct dp_opts *o)
{
	static const struct option longs[] = {
	    {"kubelet-dir", required_argument, NULL, 'k'},
	    {"domain", required_argument, NULL, 'd'},
	    {"cdi-kind", required_argument, NULL, 'c'},
	    {"backend", required_argument, NULL, 'b'},
	    {"mig-minors", required_argument, NULL, 'm'},
	    {"dev-root", required_argument, NULL, 'r'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct vmig_err err = {0};
	char *end;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
		const char *v = optarg;
		const char **slot = c == 'k'   ? &o->dir
				    : c == 'd' ? &o->domain
				    : c == 'c' ? &o->kind
				    : c == 'b' ? &o->backend
				    : c == 'm' ? &o->mig_minors
				    : c == 'r' ? &o->dev_root
					       : NULL;
		if (slot) {
			*slot = v;
			continue;
		}
		switch (c) {
		case 'i': {
			unsigned long ms = strtoul(v, &end, 10);
			if (!*v || *end || ms < 10 || ms > 10000)
				return bad("invalid --interval '%.32s' (milliseconds, 10 to 10000)",
					   v);
			o->interval_ms = (unsigned)ms;
			break;
		}
		case 'h':
			usage(stdout);
			return -1;
		case 'V':
			puts(DP_NAME " " VMIG_VERSION);
			return -1;
		case ':':
			return bad("option %s needs a value", argv[optind - 1]);
		default:
			return bad("unknown option '%.64s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%.64s' (see --help)", argv[optind]);
	o->kind = vmig_cdi_kind(o->kind);
	if (vmig_k8s_domain_check(o->domain, &err) < 0 || vmig_cdi_kind_check(o->kind, &err) < 0)
		return bad("%s", err.msg);
	if (o->backend && !vmig_backend_known(o->backend))
		return bad("unknown backend '%.32s' (%s)", o->backend, vmig_backend_names());
	return 0;
}

/* ---- resources ---- */

static struct dp_resource *resource(struct dp_plugin *p, const char *name)
{
	struct dp_resource **pp = &p->res;
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return *pp;
	struct dp_resource *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	/* The socket: the resource name with '/' as '-', which no name part holds. */
	int e = snprintf(r->endpoint, sizeof(r->endpoint), "%s.sock", name);
	char *slash = strchr(r->endpoint, '/');
	if (slash)
		*slash = '-';
	int n = snprintf(r->path, sizeof(r->path), "%s/%s", p->o.dir, r->endpoint);
	if (e < 0 || (size_t)e >= sizeof(r->endpoint) || n < 0 ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		/* Kept, never served: the line is said once. */
		dp_log("%s: the socket path %s is too long for a unix socket: not announced", name,
		       r->path);
		r->unservable = true;
	}
	r->version = 1;
	*pp = r;
	if (!r->unservable && dp_serve(p, r) < 0)
		r->retry_at = dp_now() + DP_RETRY_MS / 1000.0;
	return r;
}

/* Give r the devices of d that are its own; true when its list changed. */
static bool update(struct dp_resource *r, const struct vmig_k8s_dev *d, size_t n)
{
	size_t k = 0;
	struct dp_dev *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].resource, r->name) != 0)
			continue;
		snprintf(v[k].id, sizeof(v[k].id), "%s", d[i].uuid);
		v[k++].healthy = d[i].healthy;
	}
	if (k == r->ndev && memcmp(v, r->dev, k * sizeof(*v)) == 0) {
		free(v);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!d[i].healthy && strcmp(d[i].resource, r->name) == 0)
			dp_log("%s: device %s is unhealthy: %s", r->name, d[i].uuid, d[i].why);
	free(r->dev);
	r->dev = v;
	r->ndev = k;
	r->version++;
	return true;
}

static void log_list(const struct dp_resource *r)
{
	size_t healthy = 0;
	for (size_t i = 0; i < r->ndev; i++)
		healthy += r->dev[i].healthy;
	dp_log("%s: %zu device%s, %zu healthy", r->name, r->ndev, r->ndev == 1 ? "" : "s", healthy);
}

/* Every device unhealthy: the node cannot be read. */
static void all_unhealthy(struct dp_plugin *p)
{
	for (struct dp_resource *r = p->res; r; r = r->next) {
		bool changed = false;
		for (size_t i = 0; i < r->ndev; i++) {
			changed |= r->dev[i].healthy;
			r->dev[i].healthy = false;
		}
		if (changed) {
			r->version++;
			log_list(r);
			dp_announce(p, r);
		}
	}
}

/* The look at the node: new resources, new device lists. */
static void tick(struct dp_plugin *p)
{
	struct vmig_err err = {0};
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_k8s_dev *d = NULL;
	size_t n = 0;
	int r = st ? dp_node(p, st, &d, &n, &err) : vmig_err_set(&err, VMIG_E_NO_MEMORY, NULL);
	free(st);
	if (r < 0) {
		if (strcmp(err.msg, p->last_err) != 0)
			dp_log(
			    "cannot read the node's GPU instances: %s (every device is unhealthy "
			    "until it can)",
			    err.msg);
		snprintf(p->last_err, sizeof(p->last_err), "%s", err.msg);
		all_unhealthy(p);
		return;
	}
	if (!p->res && n == 0 && !p->last_err[0])
		dp_log("no GPU instances on this node yet: waiting for some");
	snprintf(p->last_err, sizeof(p->last_err), "%s", n ? "" : "none");
	for (size_t i = 0; i < n; i++)
		resource(p, d[i].resource);
	for (struct dp_resource *res = p->res; res; res = res->next)
		if (update(res, d, n)) {
			log_list(res);
			dp_announce(p, res);
		}
	free(d);
}

/* ---- the loop ---- */

static struct dp_plugin *signalled;

static void on_signal(int sig)
{
	(void)sig;
	if (signalled)
		signalled->stop = 1;
}

static void serve(struct dp_plugin *p)
{
	double next = 0;
	while (!p->stop) {
		double now = dp_now();
		if (now >= next) {
			tick(p);
			dp_watch_kubelet(p);
			next = now + p->o.interval_ms / 1000.0;
		}
		double wait = next - dp_now();
		unsigned ms = wait > 0 ? (unsigned)(wait * 1000) + 1 : 1;
		grpc_event ev = grpc_completion_queue_next(p->cq, dp_deadline(ms), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			dp_event(p, ev.tag, ev.success != 0);
	}
}

/* Stop every server and let the queue drain (at most 5 s), then free everything. */
static void finish(struct dp_plugin *p)
{
	double until = dp_now() + 5;
	dp_cancel_registrations(p);
	for (struct dp_resource *r = p->res; r; r = r->next)
		dp_stop(p, r);
	for (;;) {
		bool busy = false;
		for (struct dp_resource *r = p->res; r; r = r->next)
			busy |= r->server || r->reg;
		if (!busy || dp_now() > until)
			break;
		grpc_event ev = grpc_completion_queue_next(p->cq, dp_deadline(100), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			dp_event(p, ev.tag, ev.success != 0);
	}
	grpc_completion_queue_shutdown(p->cq);
	while (grpc_completion_queue_next(p->cq, dp_deadline(100), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(p->cq);
	while (p->res) {
		struct dp_resource *r = p->res;
		p->res = r->next;
		free(r->dev);
		free(r);
	}
}

/* The directory and kubelet.sock must be there when the plugin starts. */
static int check_kubelet(struct dp_plugin *p)
{
	struct stat sb;
	int n = snprintf(p->kubelet, sizeof(p->kubelet), "%s/%s", p->o.dir, DP_KUBELET_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(p->kubelet))
		return bad("--kubelet-dir: the path is too long");
	if (stat(p->o.dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return bad("the kubelet's plugin directory %s is %s (--kubelet-dir)", p->o.dir,
			   errno == ENOENT ? "missing" : "not a directory");
	if (lstat(p->kubelet, &sb) < 0)
		return bad("the kubelet's socket %s is missing: is the kubelet running? "
			   "(--kubelet-dir)",
			   p->kubelet);
	if (!S_ISSOCK(sb.st_mode))
		return bad("%s is not a socket: not the kubelet's (--kubelet-dir)", p->kubelet);
	return 0;
}

/* A word when no spec of the kind is kept current: Allocate's names would not resolve. */
static void check_spec(const struct dp_plugin *p)
{
	struct vmig_cdi_keeps *k = calloc(1, sizeof(*k));
	const char *kind = vmig_cdi_kind(p->o.kind);
	bool kept = false;
	if (k && vmig_cdi_keeps_read(k, NULL) >= 0)
		for (unsigned i = 0; i < k->n; i++)
			kept |= strcmp(k->spec[i].kind, kind) == 0;
	if (k && !kept)
		dp_log("no CDI spec of kind %s is kept current: containers can resolve the "
		       "names Allocate gives only with one (vmig cdi enable --output "
		       "/var/run/cdi --kind %s)",
		       kind, kind);
	free(k);
}

int main(int argc, char **argv)
{
	struct dp_plugin *p = calloc(1, sizeof(*p));
	if (!p)
		return bad("out of memory");
	p->o = (struct dp_opts){.dir = DP_KUBELET_DIR,
				.domain = VMIG_K8S_DOMAIN_DEFAULT,
				.interval_ms = DP_INTERVAL_DEFAULT};
	int st = parse(argc, argv, &p->o);
	if (st == 0)
		st = check_kubelet(p) ? 1 : 0;
	if (st != 0) {
		free(p);
		return st < 0 ? 0 : st;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	signalled = p;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	grpc_init();
	p->cq = grpc_completion_queue_create_for_next(NULL);
	check_spec(p);
	dp_log("started (kubelet %s, domain %s, CDI kind %s)", p->kubelet, p->o.domain, p->o.kind);
	serve(p);
	finish(p);
	grpc_shutdown();
	st = p->status;
	free(p);
	return st;
}
