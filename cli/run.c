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
#include "limits_file.h"
#include "run_env.h"

/* ---- parsing (pure) ---- */

/*
 * The device is taken as typed: what it names, and whether it is well
 * formed, is the selector's to say (vmig_select_one, lib/selector.c), once
 * there is a snapshot to resolve it against.
 */
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
	if (o->id == RO_BACKEND)
		return cli_parse_backend(p, cmd, v);
	if (cmd->device)
		return cli_fail(p, "option -d given twice");
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
	int ci;			      /* -1: the GI as a whole (soft only) */
	char mig_uuid[VMIG_UUID_LEN]; /* the device was named by its MIG UUID (or a prefix) */
};

/* The backend's name as a constant string that outlives its context. */
static const char *backend_kind(const struct vmig_ctx *ctx)
{
	const char *n = vmig_backend_name(ctx);
	return strcmp(n, "soft") == 0 ? "soft" : strcmp(n, "nvml") == 0 ? "nvml" : "sim";
}

/* Is the device named by a MIG UUID (not the legacy MIG-GPU-... form)? */
static bool named_by_mig_uuid(const char *dev)
{
	dev += strspn(dev, " \t");
	return strncasecmp(dev, "MIG-", 4) == 0 && strncasecmp(dev, "MIG-GPU-", 8) != 0;
}

/*
 * Resolve the device in one backend's snapshot with the selector (GPU:GI is
 * a GI as a whole): 1 found, 0 no backend or no such device there (*sel_err
 * says why), -1 an error to stop at, printed: the snapshot failed, the
 * device is malformed (or names several, or a whole GPU), or the GI has no
 * compute instance.
 */
static int look_in(const char *backend, const char *dev, struct run_target *t,
		   struct vmig_err *open_err, struct vmig_err *sel_err, int *status)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_err err = {0};
	struct vmig_sel_dev d;
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
	} else if ((r = vmig_select_one(st, dev, VMIG_SEL_PAIR_IS_GI, &d, sel_err)) < 0) {
		if (sel_err->code != VMIG_E_NOT_FOUND) {
			*status = cli_report(sel_err);
			r = -1;
		} else {
			r = 0;
		}
	} else {
		const struct vmig_gi_state *gi = vmig_gpu_find_gi(&st->gpu[d.gpu], d.gi);
		r = 1;
		if (!gi || gi->nci == 0) {
			*status = cli_errorf(cli_status(VMIG_E_NOT_FOUND),
					     "GPU instance %u on GPU %u has no compute instance to "
					     "run on (create one with vmig mig -gi %u -cci)",
					     d.gi, d.gpu, d.gi);
			r = -1;
		}
	}
	if (r > 0) {
		t->backend = backend_kind(ctx);
		t->gpu_index = d.gpu;
		t->gpu = st->gpu[d.gpu];
		t->gi = d.gi;
		t->ci = d.ci == VMIG_SEL_NO_CI ? -1 : (int)d.ci;
		if (named_by_mig_uuid(dev))
			snprintf(t->mig_uuid, sizeof(t->mig_uuid), "%s", d.uuid);
	}
	free(st);
	vmig_close(ctx);
	return r;
}

/*
 * The backend given (--backend or $VMIG_BACKEND) alone; otherwise software
 * partitions first, then the default backend (real MIG through NVML).  A
 * device found in neither gets the selector's message of the last backend
 * looked in.
 */
static int find_target(const struct cli_cmd *cmd, struct run_target *t, int *status)
{
	const char *env = getenv("VMIG_BACKEND");
	const char *chosen = cmd->backend ? cmd->backend : env && *env ? env : NULL;
	struct vmig_err soft_err = {0}, err = {0}, sel_err = {0};
	int r = look_in(chosen ? chosen : "soft", cmd->device, t, chosen ? &err : &soft_err,
			&sel_err, status);
	if (r == 0 && !chosen)
		r = look_in(NULL, cmd->device, t, &err, &sel_err, status);
	if (r != 0)
		return r;
	if (!sel_err.code) { /* no backend opened */
		*status = cli_report(&err);
		return -1;
	}
	if (soft_err.code)
		*status = cli_errorf(cli_status(sel_err.code), "%s (soft backend: %s)", sel_err.msg,
				     soft_err.msg);
	else
		*status = cli_report(&sel_err);
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

/*
 * May this process attach to the software partition?  The checks the
 * interposer makes (iface/limits_file.h), made up front so that a program
 * that would get no GPU at all (the interposer fails closed: every CUDA call
 * returns CUDA_ERROR_NOT_INITIALIZED) is not started: the limits file is one
 * vmig wrote, the instance's group admits this user, and the accounting file
 * is the instance's and can be opened for reading and writing.
 */
int cli_soft_check(unsigned gpu, unsigned gi, const struct vmig_soft_limits *l,
		   struct vmig_err *err)
{
	char path[VMIG_ACCT_PATH_LEN + sizeof(VMIG_LIMITS_SUFFIX)];
	struct vmig__limits lim;
	struct stat lst;
	snprintf(path, sizeof(path), "%s%s", l->acct_path, VMIG_LIMITS_SUFFIX);
	errno = 0;
	const char *bad = vmig__limits_read(path, &lim, &lst);
	if (bad && errno == ENOENT)
		return vmig_err_set(err, VMIG_E_NOT_FOUND,
				    "GPU instance %u on GPU %u has no limits file %s (made by an "
				    "older vmig: give it one with vmig mig --soft -i %u -gi %u -rg "
				    "PERCENT)",
				    gi, gpu, path, gpu, gi);
	if (!bad && strcmp(lim.partition, l->partition) != 0)
		bad = "it is another instance's";
	if (bad)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "cannot use the limits file %s of GPU instance %u: %s", path,
				    gi, bad);
	if (!vmig__limits_admits(&lim, &lst))
		return vmig_err_set(
		    err, VMIG_E_NO_PERMISSION,
		    "GPU instance %u on GPU %u admits only group %u, and user %u is "
		    "not in it",
		    gi, gpu, (unsigned)lim.gid, (unsigned)geteuid());
	int fd = open(l->acct_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int e = errno;
	bad = fd < 0 ? (e == ELOOP ? "a symbolic link" : strerror(e))
		     : vmig__limits_check_acct(fd, &lst, &lim);
	if (fd >= 0)
		close(fd);
	if (!bad)
		return 0;
	return vmig_err_set(
	    err, fd < 0 && (e == EACCES || e == EPERM) ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
	    "cannot use the instance's accounting file %s: %s (the program would "
	    "get no GPU at all: the interposer fails closed)",
	    l->acct_path, bad);
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
	if (cli_soft_check(t->gpu_index, t->gi, &l, &err) < 0)
		return cli_report(&err);
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
static int mig_env(const struct run_target *t)
{
	char v[VMIG_UUID_LEN + 32];
	if (t->mig_uuid[0])
		snprintf(v, sizeof(v), "%s", t->mig_uuid);
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
	      "it) or a unique prefix of one, GPU:GI[:CI] with GPU an index or a GPU UUID\n"
	      "(or a unique prefix), or MIG-GPU-<uuid>/<GI>/<CI>.  In a software\n"
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
	struct run_target *t;
	int status = 0;
	if (cmd->action == CLI_RUN_HELP) {
		run_help(stdout);
		return 0;
	}
	if (!(t = calloc(1, sizeof(*t))))
		return cli_errorf(cli_status(VMIG_E_NO_MEMORY), "out of memory");
	if (find_target(cmd, t, &status) > 0) {
		if (strcmp(t->backend, "soft") == 0)
			status = soft_env(t);
		else if ((status = pick_ci(t)) != 0)
			;
		else if (strcmp(t->backend, "sim") == 0)
			status = sim_env(t);
		else if (!(t->gpu.flags & VMIG_GPU_SIMULATED) || (status = record_user(t)) == 0)
			status = mig_env(t);
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
