/*
 * run.c — `vmig run -d DEVICE [--] PROGRAM [ARGS...]`: start a program
 * inside a GPU instance (docs/soft.md).
 *
 * The parser (pure, like args.c) reads the device and the program.  The
 * executor finds the instance (the soft backend first, then the default
 * one), builds the environment and replaces itself with the program, so
 * the program's children inherit the environment and stay inside.  In a
 * software partition the environment preloads the interposer
 * (libvmig-cuda.so) with the instance's limits; on a real MIG instance it
 * only names the MIG device in CUDA_VISIBLE_DEVICES; on a simulated one it
 * names the MIG device and records the program as a user of the instance
 * (vmig_user_register), a record its children share.  What the environment
 * holds is the contract with the interposer, iface/run_env.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "run_env.h"

/* ---- parsing (pure) ---- */

/* DEVICE: a MIG UUID, or GPU:GI[:CI] with GPU an index or a GPU UUID. */
struct run_dev {
	bool by_uuid;
	char uuid[VMIG_UUID_LEN]; /* "MIG-..." */
	char gpu[VMIG_UUID_LEN];  /* index or "GPU-..." */
	unsigned gi, ci;
	bool has_ci;
};

/* "<PFX>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" with hex digits of either case. */
static bool uuid_shaped(const char *s, const char *pfx)
{
	size_t n = strlen(pfx);
	if (strncasecmp(s, pfx, n) != 0 || strlen(s) != n + 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[n + i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-'
			 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static int parse_device(const char *s, struct run_dev *d)
{
	memset(d, 0, sizeof(*d));
	if (strncasecmp(s, "MIG-", 4) == 0) {
		if (!uuid_shaped(s, "MIG-"))
			return -1;
		d->by_uuid = true;
		memcpy(d->uuid, s, strlen(s) + 1);
		return 0;
	}
	const char *c1 = strchr(s, ':');
	if (!c1 || (size_t)(c1 - s) >= sizeof(d->gpu))
		return -1;
	memcpy(d->gpu, s, (size_t)(c1 - s));
	unsigned idx;
	if (!uuid_shaped(d->gpu, "GPU-") && cli_parse_uint(d->gpu, 999999, &idx) < 0)
		return -1;
	char rest[32];
	if (strlen(c1 + 1) >= sizeof(rest))
		return -1;
	strcpy(rest, c1 + 1);
	char *c2 = strchr(rest, ':');
	if (c2) {
		*c2 = '\0';
		if (cli_parse_uint(c2 + 1, 999999, &d->ci) < 0)
			return -1;
		d->has_ci = true;
	}
	return cli_parse_uint(rest, 999999, &d->gi) < 0 ? -1 : 0;
}

enum run_opt { RO_HELP, RO_BACKEND, RO_DEVICE };

static const struct cli_opt run_opts[] = {
    {"-h", "--help", CLI_ARG_NONE, RO_HELP},
    {NULL, "--backend", CLI_ARG_REQ, RO_BACKEND},
    {"-d", "--device", CLI_ARG_REQ, RO_DEVICE},
    {NULL, NULL, CLI_ARG_NONE, 0},
};

static int run_option(struct cli_parser *p, struct cli_cmd *cmd, const struct cli_opt *o,
		      const char *v)
{
	struct run_dev d;
	if (o->id == RO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if (cmd->device)
		return cli_fail(p, "option -d given twice");
	if (parse_device(v, &d) < 0)
		return cli_fail(p,
				"invalid device '%.64s' (a MIG UUID, or GPU:GI[:CI] with GPU an "
				"index or a GPU UUID)",
				v);
	cmd->device = v;
	return 0;
}

int cli_parse_run(struct cli_parser *p, struct cli_cmd *cmd)
{
	const struct cli_opt *o;
	const char *v;
	int r;
	if (cmd->has_gpus)
		return cli_fail(p, "option -i is not used with the command 'run' (use -d)");
	cmd->action = CLI_RUN;
	while ((r = cli_next(p, run_opts, &o, &v)) > 0) {
		if (!o) {
			/* The program: after "--", or the first word that is no option. */
			int first = strcmp(v, "--") == 0 ? p->i : p->i - 1;
			cmd->rest_argc = p->argc - first;
			cmd->rest_argv = p->argv + first;
			break;
		}
		if (o->id == RO_HELP) {
			cmd->action = CLI_RUN_HELP;
			return 0;
		}
		if (run_option(p, cmd, o, v) < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	if (!cmd->device)
		return cli_fail(p, "run: no device given (-d MIG-UUID or -d GPU:GI[:CI])");
	if (cmd->rest_argc <= 0)
		return cli_fail(p, "run: no program given (vmig run -d DEVICE -- PROGRAM [ARGS])");
	return 0;
}

/* ---- finding the instance ---- */

struct run_target {
	const char *backend; /* "soft", "nvml", "sim" */
	struct vmig_gpu_state gpu;
	unsigned gpu_index, gi;
	int ci; /* -1: the GI as a whole (soft only) */
};

static bool find_by_uuid(const struct vmig_state *st, const char *uuid, struct run_target *t)
{
	char u[VMIG_UUID_LEN];
	for (unsigned g = 0; g < st->ngpu; g++)
		for (unsigned i = 0; i < st->gpu[g].ngi; i++)
			for (unsigned k = 0; k < st->gpu[g].gi[i].nci; k++) {
				const struct vmig_gi_state *gi = &st->gpu[g].gi[i];
				vmig_mig_uuid(st->gpu[g].uuid, gi->id, gi->ci[k].id, u);
				if (strcasecmp(u, uuid) != 0)
					continue;
				t->gpu_index = g;
				t->gi = gi->id;
				t->ci = (int)gi->ci[k].id;
				return true;
			}
	return false;
}

/* GPU:GI[:CI] in a snapshot: 1 found, 0 not there, -1 there but unusable (printed). */
static int find_by_ids(const struct vmig_state *st, const struct run_dev *d, struct run_target *t,
		       int *status)
{
	int g = cli_match_gpu(d->gpu, st);
	struct vmig_gpu_state *gpu = g < 0 ? NULL : (struct vmig_gpu_state *)&st->gpu[g];
	struct vmig_gi_state *gi = gpu ? vmig_gpu_find_gi(gpu, d->gi) : NULL;
	if (!gi || (d->has_ci && !vmig_gi_find_ci(gi, d->ci)))
		return 0;
	if (gi->nci == 0) {
		*status = cli_errorf(cli_status(VMIG_E_NOT_FOUND),
				     "GPU instance %u on GPU %d has no compute instance to run on "
				     "(create one with vmig mig -gi %u -cci)",
				     d->gi, g, d->gi);
		return -1;
	}
	t->gpu_index = (unsigned)g;
	t->gi = d->gi;
	t->ci = d->has_ci ? (int)d->ci : -1;
	return 1;
}

/* The backend's name as a constant string that outlives its context. */
static const char *backend_kind(const struct vmig_ctx *ctx)
{
	const char *n = vmig_backend_name(ctx);
	return strcmp(n, "soft") == 0 ? "soft" : strcmp(n, "nvml") == 0 ? "nvml" : "sim";
}

/* Look in one backend's snapshot: 1 found, 0 not (or no backend), -1 error printed. */
static int look_in(const char *backend, const struct run_dev *d, struct run_target *t,
		   struct vmig_err *open_err, int *status)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_err err = {0};
	int r;
	if (vmig_open(backend, &ctx, open_err) < 0)
		return 0;
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st) {
		vmig_close(ctx);
		*status = cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
		return -1;
	}
	if (vmig_snapshot(ctx, st, &err) < 0) {
		*status = cli_report(&err);
		r = -1;
	} else if (d->by_uuid) {
		r = find_by_uuid(st, d->uuid, t);
	} else {
		r = find_by_ids(st, d, t, status);
	}
	if (r > 0) {
		t->backend = backend_kind(ctx);
		t->gpu = st->gpu[t->gpu_index];
	}
	free(st);
	vmig_close(ctx);
	return r;
}

/*
 * The backend given (--backend or $VMIG_BACKEND) alone; otherwise software
 * partitions first, then the default backend (real MIG through NVML).
 */
static int find_target(const struct cli_cmd *cmd, const struct run_dev *d, struct run_target *t,
		       int *status)
{
	const char *env = getenv("VMIG_BACKEND");
	const char *chosen = cmd->backend ? cmd->backend : env && *env ? env : NULL;
	struct vmig_err soft_err = {0}, err = {0};
	int r = look_in(chosen ? chosen : "soft", d, t, chosen ? &err : &soft_err, status);
	if (r == 0 && !chosen)
		r = look_in(NULL, d, t, &err, status);
	if (r != 0)
		return r;
	if (chosen && err.code) {
		*status = cli_report(&err);
		return -1;
	}
	if (soft_err.code)
		*status = cli_errorf(cli_status(VMIG_E_NOT_FOUND),
				     "no GPU instance matches '%s' (soft backend: %s)", cmd->device,
				     soft_err.msg);
	else
		*status = cli_errorf(cli_status(VMIG_E_NOT_FOUND), "no GPU instance matches '%s'",
				     cmd->device);
	return -1;
}

/* ---- the environment ---- */

/* dir/rel when it is a readable file. */
static bool try_path(char *buf, size_t size, const char *dir, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", dir, rel);
	return n > 0 && (size_t)n < size && access(buf, R_OK) == 0;
}

/*
 * The interposer: $VMIG_INTERPOSER, else next to the vmig binary (the
 * build tree keeps it in interpose/ beside it), else the installed
 * <prefix>/lib/vmig/ of a <prefix>/bin/vmig.
 */
static int find_interposer(char *buf, size_t size)
{
	const char *env = getenv(VMIG_ENV_INTERPOSER);
	if (env && *env) {
		if (access(env, R_OK) < 0)
			return cli_errorf(cli_status(VMIG_E_NOT_FOUND), "%s=%s: %s",
					  VMIG_ENV_INTERPOSER, env, strerror(errno));
		snprintf(buf, size, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		const char *dir = dirname(exe);
		if (try_path(buf, size, dir, VMIG_INTERPOSER_NAME) ||
		    try_path(buf, size, dir, "interpose/" VMIG_INTERPOSER_NAME) ||
		    try_path(buf, size, dir, "../lib/vmig/" VMIG_INTERPOSER_NAME))
			return 0;
	}
	return cli_errorf(cli_status(VMIG_E_NOT_FOUND),
			  "cannot find %s next to the vmig binary or in <prefix>/lib/vmig "
			  "(set %s)",
			  VMIG_INTERPOSER_NAME, VMIG_ENV_INTERPOSER);
}

int cli_make_parent(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int set(const char *name, const char *value)
{
	if (setenv(name, value, 1) == 0)
		return 0;
	return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "cannot set %s: %s", name, strerror(errno));
}

/* LD_PRELOAD with the interposer first (vmig_preload_join). */
static int set_preload(const char *lib)
{
	char *v = NULL;
	if (vmig_preload_join(lib, getenv(VMIG_ENV_PRELOAD), &v) < 0)
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	int r = set(VMIG_ENV_PRELOAD, v);
	free(v);
	return r;
}

/* Does <dir>/control accept a connection of this socket type? */
static bool mps_connects(const struct sockaddr_un *a, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0;
	int e = errno;
	close(fd);
	errno = ok ? 0 : e;
	return ok;
}

/*
 * Is an MPS control daemon serving us?  Its control socket is
 * <pipe dir>/control, the pipe directory $CUDA_MPS_PIPE_DIRECTORY or
 * /tmp/nvidia-mps.  A socket file is not enough (a daemon that died leaves
 * it behind, and its clients would then run with no cap at all): it must
 * accept a connection.
 */
static bool mps_available(char *where, size_t size)
{
	const char *dir = getenv(VMIG_ENV_MPS_PIPE_DIR);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/control",
			 dir && *dir ? dir : VMIG_MPS_PIPE_DIR_DEFAULT);
	snprintf(where, size, "%s", a.sun_path);
	if (n < 0 || (size_t)n >= sizeof(a.sun_path))
		return false;
	return mps_connects(&a, SOCK_STREAM) ||
	       (errno == EPROTOTYPE && mps_connects(&a, SOCK_SEQPACKET));
}

/*
 * How the share is enforced: MPS's per-client thread percentage when an
 * MPS daemon is reachable, else the interposer's time-slicing.
 * VMIG_COMPUTE_MODE (timeslice or mps) in vmig's own environment forces
 * one; forcing mps without a daemon is an error, not a silent downgrade.
 */
static int compute_env(unsigned pct)
{
	const char *want = getenv(VMIG_ENV_COMPUTE_MODE);
	char where[sizeof(((struct sockaddr_un *)0)->sun_path) + 16], num[16];
	bool mps;
	if (want && *want && strcmp(want, VMIG_COMPUTE_MODE_MPS) != 0 &&
	    strcmp(want, VMIG_COMPUTE_MODE_TIMESLICE) != 0)
		return cli_errorf(2, "%s='%.32s' is neither '%s' nor '%s'", VMIG_ENV_COMPUTE_MODE,
				  want, VMIG_COMPUTE_MODE_MPS, VMIG_COMPUTE_MODE_TIMESLICE);
	if (want && strcmp(want, VMIG_COMPUTE_MODE_TIMESLICE) == 0)
		mps = false;
	else if (!(mps = mps_available(where, sizeof(where))) && want && *want)
		return cli_errorf(cli_status(VMIG_E_NOT_SUPPORTED),
				  "%s=%s, but no MPS control daemon answers at %s",
				  VMIG_ENV_COMPUTE_MODE, VMIG_COMPUTE_MODE_MPS, where);
	if (!mps)
		return set(VMIG_ENV_COMPUTE_MODE, VMIG_COMPUTE_MODE_TIMESLICE);
	snprintf(num, sizeof(num), "%u", pct);
	int r = set(VMIG_ENV_COMPUTE_MODE, VMIG_COMPUTE_MODE_MPS);
	return r ? r : set(VMIG_ENV_MPS_THREAD_PCT, num);
}

/* A software partition: the interposer and the GI's limits. */
/* Can this process open (or create) the accounting file for reading and writing? */
static int check_accounting(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		if (access(dirname(dir), W_OK | X_OK) == 0)
			return 0; /* the first program of the instance creates it */
	}
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	int e = fd >= 0 ? EINVAL : errno;
	if (fd >= 0)
		close(fd);
	return cli_errorf(cli_status(e == EACCES || e == EPERM ? VMIG_E_NO_PERMISSION : VMIG_E_IO),
			  "cannot use the instance's accounting file %s: %s (the program would "
			  "get no GPU at all: the interposer fails closed)",
			  path, e == EINVAL ? "not a regular file" : strerror(e));
}

static int soft_env(const struct run_target *t)
{
	struct vmig_soft_limits l;
	struct vmig_err err = {0};
	char lib[PATH_MAX], num[32];
	int r = find_interposer(lib, sizeof(lib));
	if (r != 0)
		return r;
	if (vmig_soft_limits(&t->gpu, t->gi, &l, &err) < 0)
		return cli_report(&err);
	if (cli_make_parent(l.acct_path) < 0)
		return cli_errorf(cli_status(VMIG_E_IO), "cannot create the directory of %s: %s",
				  l.acct_path, strerror(errno));
	/*
	 * The interposer fails closed when it cannot use the instance's
	 * accounting file (every CUDA call returns NOT_INITIALIZED): refuse up
	 * front, with the reason, instead of starting a program that cannot run.
	 */
	if ((r = check_accounting(l.acct_path)) != 0)
		return r;
	if ((r = set_preload(lib)) || (r = set(VMIG_ENV_PARTITION, l.partition)))
		return r;
	snprintf(num, sizeof(num), "%" PRIu64, l.mem_bytes);
	if ((r = set(VMIG_ENV_MEM_LIMIT, num)))
		return r;
	snprintf(num, sizeof(num), "%u", l.compute_pct);
	if ((r = set(VMIG_ENV_COMPUTE_PCT, num)) || (r = set(VMIG_ENV_ACCOUNTING, l.acct_path)) ||
	    (r = compute_env(l.compute_pct)))
		return r;
	return set(VMIG_ENV_VISIBLE_DEVICES, t->gpu.uuid);
}

/*
 * A real MIG instance: the hardware enforces everything, the program only
 * needs to see the MIG device.  A device named by GPU:GI:CI is given in
 * CUDA's "MIG-<GPU UUID>/<GI>/<CI>" form, which needs no lookup of the
 * driver's MIG UUID.
 */
static int mig_env(const struct run_target *t, const struct run_dev *d)
{
	char v[VMIG_UUID_LEN + 32];
	if (d->by_uuid)
		snprintf(v, sizeof(v), "%s", d->uuid);
	else
		snprintf(v, sizeof(v), "MIG-%s/%u/%d", t->gpu.uuid, t->gi, t->ci);
	return set(VMIG_ENV_VISIBLE_DEVICES, v);
}

/*
 * A simulated MIG instance (sim backend, or vmig's own NVML library seen
 * through the nvml backend) has no driver to see the program: it is
 * recorded as a user of the instance in the registry of the state
 * directory, with a descriptor it inherits across exec, so that it and its
 * children count as the instance's processes (busy for the planner, listed
 * by NVML's running-process queries) exactly as long as one of them lives.
 * It holds no device memory (a simulated GPU has none to hand out), and
 * NVML reports 0 bytes for it.
 */
static int record_user(const struct run_target *t)
{
	/* Kept (reachable) until the exec: its descriptor passes to the program. */
	static struct vmig_user *user;
	struct vmig_err err = {0};
	if (vmig_user_register(NULL, VMIG_PROC_RUN, t->gpu.uuid, t->gi, (unsigned)t->ci,
			       VMIG_USER_INHERIT, &user, &err) < 0)
		return cli_errorf(
		    cli_status(err.code),
		    "recording the program as a user of GPU instance %u on GPU %u: %s", t->gi,
		    t->gpu_index, err.msg);
	return 0;
}

/* The sim backend's instance: the MIG device by the UUID our NVML library reports. */
static int sim_env(const struct run_target *t)
{
	char uuid[VMIG_UUID_LEN];
	int r = record_user(t);
	if (r != 0)
		return r;
	vmig_mig_uuid(t->gpu.uuid, t->gi, (unsigned)t->ci, uuid);
	return set(VMIG_ENV_VISIBLE_DEVICES, uuid);
}

/* On real MIG a program runs on one compute instance; pick the GI's only one. */
static int pick_ci(struct run_target *t)
{
	const struct vmig_gi_state *gi = vmig_gpu_find_gi(&t->gpu, t->gi);
	if (t->ci >= 0)
		return 0;
	if (gi && gi->nci == 1) {
		t->ci = (int)gi->ci[0].id;
		return 0;
	}
	return cli_errorf(cli_status(VMIG_E_INVALID_ARGUMENT),
			  "GPU instance %u on GPU %u has %u compute instances; name one as "
			  "GPU:GI:CI",
			  t->gi, t->gpu_index, gi ? gi->nci : 0);
}

/* The names in the text are run_env.h's, so the help says what run really sets. */
static void run_help(FILE *f)
{
	/* clang-format off */
	fputs("Usage: vmig run [--backend NAME] -d DEVICE [--] PROGRAM [ARGS...]\n"
	      "\n"
	      "Start PROGRAM inside a GPU instance.  DEVICE is a MIG UUID (as vmig -L shows\n"
	      "it) or GPU:GI[:CI], with GPU an index or a GPU UUID.  In a software\n"
	      "partition (vmig -mig 1 --soft) the program gets the interposer\n"
	      "(" VMIG_ENV_PRELOAD "=" VMIG_INTERPOSER_NAME ") and the instance's limits: "
	      VMIG_ENV_PARTITION ",\n"
	      VMIG_ENV_MEM_LIMIT ", " VMIG_ENV_COMPUTE_PCT ", " VMIG_ENV_ACCOUNTING ", and "
	      VMIG_ENV_VISIBLE_DEVICES "\n"
	      "set to the GPU; on a real MIG instance only " VMIG_ENV_VISIBLE_DEVICES ".  On a\n"
	      "simulated MIG instance " VMIG_ENV_VISIBLE_DEVICES " names the MIG device and the\n"
	      "program is recorded as a user of the instance for as long as it or a child\n"
	      "of it runs.  Its children inherit all of it.  The compute share is enforced\n"
	      "by MPS (" VMIG_ENV_MPS_THREAD_PCT ", " VMIG_ENV_COMPUTE_MODE "="
	      VMIG_COMPUTE_MODE_MPS ") when an MPS\n"
	      "control daemon answers at $" VMIG_ENV_MPS_PIPE_DIR "/control (default "
	      VMIG_MPS_PIPE_DIR_DEFAULT "),\n"
	      "otherwise by the interposer's time-slicing (" VMIG_ENV_COMPUTE_MODE "="
	      VMIG_COMPUTE_MODE_TIMESLICE ").\n"
	      "\n"
	      "Options:\n"
	      "  -d, --device=DEVICE  the instance to run in\n"
	      "      --backend=NAME   look only in this backend (default: soft, then the\n"
	      "                       default backend)\n"
	      "  -h, --help           this help\n"
	      "\n"
	      "Environment: " VMIG_ENV_INTERPOSER " (path of " VMIG_INTERPOSER_NAME "), "
	      "VMIG_SOFT_STATE_DIR,\n"
	      VMIG_ENV_COMPUTE_MODE " (" VMIG_COMPUTE_MODE_MPS " or " VMIG_COMPUTE_MODE_TIMESLICE
	      ": force one mechanism).\n",
	      f);
	/* clang-format on */
}

int cli_exec_run(const struct cli_cmd *cmd)
{
	struct run_dev d;
	struct run_target *t;
	int status = 0;
	if (cmd->action == CLI_RUN_HELP) {
		run_help(stdout);
		return 0;
	}
	if (parse_device(cmd->device, &d) < 0) /* checked by the parser */
		return cli_errorf(2, "invalid device '%s'", cmd->device);
	if (!(t = calloc(1, sizeof(*t))))
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	if (find_target(cmd, &d, t, &status) > 0) {
		if (strcmp(t->backend, "soft") == 0)
			status = soft_env(t);
		else if ((status = pick_ci(t)) != 0)
			;
		else if (strcmp(t->backend, "sim") == 0)
			status = sim_env(t);
		else if (!(t->gpu.flags & VMIG_GPU_SIMULATED) || (status = record_user(t)) == 0)
			status = mig_env(t, &d);
	}
	free(t);
	if (status != 0)
		return status;
	fflush(NULL);
	execvp(cmd->rest_argv[0], cmd->rest_argv);
	int e = errno;
	return cli_errorf(e == ENOENT ? 127 : 126, "cannot run '%s': %s", cmd->rest_argv[0],
			  strerror(e));
}
