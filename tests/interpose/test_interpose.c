/*
 * test_interpose.c — libvmig-cuda.so end to end: starts the probe program
 * (tests/interpose/probe.c) with LD_PRELOAD and VMIG_* set as a launcher
 * would, against the stand-in libcuda.so.1, and checks its verdict, its
 * numbers and that it printed nothing it should not have.
 *
 * Under the sanitizer build the ASan runtime is preloaded first
 * (VMIG_SAN_PRELOAD), because a sanitized library that is preloaded must not
 * come before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "limits_file.h"
#include "region.h"
#include "workout.h"

#ifndef VMIG_SAN_PRELOAD
#define VMIG_SAN_PRELOAD ""
#endif

#define GiB (1ull << 30)

static char lib[PATH_MAX], probe[PATH_MAX], stubdir[PATH_MAX], tmpdir[PATH_MAX];

struct run {
	pid_t pid;
	int out, err;
	char stdout_buf[4096], stderr_buf[4096];
	int status;
};

static void setup_paths(void)
{
	const char *b = getenv("B") ? getenv("B") : "build";
	char base[PATH_MAX];
	char dir[PATH_MAX - 64];
	if (!realpath(b, base) || strlen(base) >= sizeof(dir)) {
		fprintf(stderr, "no build directory %s\n", b);
		exit(2);
	}
	memcpy(dir, base, strlen(base) + 1);
	snprintf(lib, sizeof(lib), "%s/interpose/libvmig-cuda.so", dir);
	snprintf(probe, sizeof(probe), "%s/tests/interpose/probe", dir);
	snprintf(stubdir, sizeof(stubdir), "%s/tests/interpose/stub", dir);
	if (!test_mkdtemp(tmpdir, sizeof(tmpdir), "ip")) {
		perror("mkdtemp");
		exit(2);
	}
}

/*
 * Start the probe with argv and extra "NAME=value" settings (NULL-ended);
 * "LD_PRELOAD=" alone means no preload.  The environment is built from
 * scratch so nothing of the caller's leaks in.
 */
/*
 * Start the probe with argv (argv[0] is ignored) and env; with wrap, the
 * probe is started through that command line (e.g. unshare), which gets
 * the probe's path and arguments after its own.
 */
static void start_with(struct run *r, const char *const *wrap, const char *const *argv,
		       const char *const *env)
{
	static char preload[2 * PATH_MAX + 16], ldpath[PATH_MAX + 32];
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s%s%s", VMIG_SAN_PRELOAD,
		 VMIG_SAN_PRELOAD[0] ? " " : "", lib);
	snprintf(ldpath, sizeof(ldpath), "LD_LIBRARY_PATH=%s", stubdir);
	const char *envp[32];
	int n = 0;
	bool no_preload = false;
	for (int i = 0; env && env[i]; i++)
		no_preload |= strcmp(env[i], "LD_PRELOAD=") == 0;
	if (!no_preload)
		envp[n++] = preload;
	envp[n++] = ldpath;
	envp[n++] = "ASAN_OPTIONS=detect_leaks=0";
	for (int i = 0; env && env[i] && n < 31; i++)
		if (strcmp(env[i], "LD_PRELOAD=") != 0)
			envp[n++] = env[i];
	envp[n] = NULL;
	int o[2], e[2];
	if (pipe(o) || pipe(e))
		exit(2);
	memset(r, 0, sizeof(*r));
	const char *full[40];
	int k = 0;
	for (int i = 0; wrap && wrap[i] && k < 30; i++)
		full[k++] = wrap[i];
	full[k++] = probe;
	for (int i = 1; argv[i] && k < 39; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(e[0]);
		execve(full[0], (char *const *)full, (char *const *)envp);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	r->out = o[0];
	r->err = e[0];
}

static void start(struct run *r, const char *const *argv, const char *const *env)
{
	start_with(r, NULL, argv, env);
}

static void slurp(int fd, char *buf, size_t len)
{
	size_t have = strlen(buf);
	ssize_t n;
	while (have + 1 < len && (n = read(fd, buf + have, len - have - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
}

static int finish(struct run *r)
{
	slurp(r->out, r->stdout_buf, sizeof(r->stdout_buf));
	slurp(r->err, r->stderr_buf, sizeof(r->stderr_buf));
	close(r->out);
	close(r->err);
	r->status = test_wait(r->pid);
	if (r->stdout_buf[0] || r->stderr_buf[0])
		fprintf(stderr, "  probe said: %s%s", r->stdout_buf, r->stderr_buf);
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

static int run_probe(struct run *r, const char *const *argv, const char *const *env)
{
	start(r, argv, env);
	return finish(r);
}

#define ARGV(...) ((const char *const[]){"probe", __VA_ARGS__, NULL})
#define ENV(...)  ((const char *const[]){__VA_ARGS__, NULL})

static const char *acct_file(const char *name)
{
	static char buf[8][PATH_MAX + 32];
	static int next;
	char *b = buf[next++ % 8];
	snprintf(b, sizeof(buf[0]), "VMIG_ACCOUNTING=%s/%s", tmpdir, name);
	return b;
}

static double share_of(const struct run *r);
static void check_share(double got, double want);
static const char *timeline(void);

/*
 * An instance's files as vmig makes them (docs/tenancy.md): the limits file
 * <name>.limits (this process's, mode 0644) and an empty accounting file of
 * group gid, mode 0660, which the first process initialises.  Returns the
 * VMIG_ACCOUNTING=... entry that names them.
 */
static const char *inst_policy(const char *name, const char *partition, uint64_t mem, unsigned pct,
			       unsigned policy, unsigned gid)
{
	const char *acct = acct_file(name);
	const char *path = acct + strlen("VMIG_ACCOUNTING=");
	char lpath[PATH_MAX + 64], text[VMIG_LIMITS_MAX];
	struct vmig__limits l = {
	    .mem_limit = mem, .compute_pct = pct, .compute_policy = policy, .uid = 0, .gid = gid};
	snprintf(l.partition, sizeof(l.partition), "%s", partition);
	snprintf(lpath, sizeof(lpath), "%s%s", path, VMIG_LIMITS_SUFFIX);
	int n = vmig__limits_format(&l, text, sizeof(text));
	int fd = open(lpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(n > 0 && fd >= 0 && write(fd, text, (size_t)n) == n);
	if (fd >= 0)
		close(fd);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && fchown(fd, (uid_t)-1, (gid_t)gid) == 0 && fchmod(fd, 0660) == 0);
	if (fd >= 0)
		close(fd);
	return acct;
}

static const char *inst_as(const char *name, const char *partition, uint64_t mem, unsigned pct,
			   unsigned gid)
{
	return inst_policy(name, partition, mem, pct, VMIG_POLICY_SHARE, gid);
}

static const char *inst(const char *name, const char *partition, uint64_t mem, unsigned pct)
{
	return inst_as(name, partition, mem, pct, (unsigned)getegid());
}

/* An instance whose share is a cap (vmig mig -rg PCT --share-policy cap). */
static const char *inst_cap(const char *name, const char *partition, uint64_t mem, unsigned pct)
{
	return inst_policy(name, partition, mem, pct, VMIG_POLICY_CAP, (unsigned)getegid());
}

/* ---- Passthrough and configuration ---------------------------------------------- */

TEST(passthrough_without_instance)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("passthrough"), ENV("VMIGSTUB_TOTAL_MEM=1073741824")), 0);
	CHECK_STR(r.stderr_buf, "");
	CHECK_EQ_I(run_probe(&r, ARGV("passthrough"),
			     ENV("VMIGSTUB_TOTAL_MEM=1073741824", "VMIG_MEM_LIMIT=4096")),
		   0);
}

TEST(invalid_settings_fall_back_silently)
{
	struct run r;
	const char *acct = inst("bad", "gpu0:1", 1073741824, 100);
	const char *const bad[] = {"VMIGSTUB_TOTAL_MEM=1073741824",
				   "VMIG_PARTITION=gpu0:1",
				   "VMIG_MEM_LIMIT=12abc",
				   "VMIG_COMPUTE_PCT=0",
				   acct,
				   NULL};
	CHECK_EQ_I(run_probe(&r, ARGV("passthrough"), bad), 0);
	CHECK_STR(r.stdout_buf, "");
	CHECK_STR(r.stderr_buf, "");
	const char *const dbg[] = {"VMIGSTUB_TOTAL_MEM=1073741824",
				   "VMIG_PARTITION=gpu0:1",
				   "VMIG_MEM_LIMIT=12abc",
				   "VMIG_COMPUTE_PCT=0",
				   "VMIG_DEBUG=1",
				   acct,
				   NULL};
	CHECK_EQ_I(run_probe(&r, ARGV("passthrough"), dbg), 0);
	CHECK(strstr(r.stderr_buf, "VMIG_MEM_LIMIT=\"12abc\"") != NULL);
	CHECK(strstr(r.stderr_buf, "VMIG_COMPUTE_PCT=\"0\"") != NULL);
	CHECK(strncmp(r.stderr_buf, "vmig-cuda[", 10) == 0);
}

/* ---- Memory ------------------------------------------------------------------------ */

TEST(quota_exact_to_the_byte)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=10000000",
				 inst("quota", "MIG-test", 10000000, 100))),
		   0);
	CHECK_STR(r.stderr_buf, "");
}

/* The VMM idiom (release right after mapping) never grants more than the quota. */
TEST(vmm_mapped_memory_stays_charged)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("vmm"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=17179869184",
				 inst("vmm", "MIG-test", 17179869184ull, 100))),
		   0);
	CHECK_STR(r.stdout_buf, "vmm ok\n");
	CHECK_STR(r.stderr_buf, "");
}

/*
 * An accounting file the process cannot use (a directory that does not
 * exist, a file of another owner it may not open, a FIFO) fails closed:
 * every CUDA call returns CUDA_ERROR_NOT_INITIALIZED, with one line on
 * stderr only when VMIG_DEBUG asks for it.  Counting the process alone would
 * give each process of the instance the whole quota.
 */
TEST(unusable_accounting_file_fails_closed)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("closed"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=4096",
				 "VMIG_ACCOUNTING=/nonexistent/dir/acct")),
		   0);
	CHECK_STR(r.stdout_buf, "closed\n");
	CHECK_STR(r.stderr_buf, "");
	CHECK_EQ_I(run_probe(&r, ARGV("closed"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=4096",
				 "VMIG_ACCOUNTING=/nonexistent/dir/acct", "VMIG_DEBUG=1")),
		   0);
	CHECK(strstr(r.stderr_buf, "failing closed") != NULL);
	char fifo[PATH_MAX], env[PATH_MAX + 32];
	snprintf(fifo, sizeof(fifo), "%s", acct_file("fifo") + strlen("VMIG_ACCOUNTING="));
	CHECK(mkfifo(fifo, 0600) == 0);
	snprintf(env, sizeof(env), "VMIG_ACCOUNTING=%s", fifo);
	double t0 = test_now();
	CHECK_EQ_I(run_probe(&r, ARGV("closed"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=4096", env)),
		   0);
	CHECK(test_now() - t0 < 30); /* a FIFO is not waited on */
	unlink(fifo);
}

/*
 * The quota is the limits file's, whatever the environment says: a forged
 * VMIG_MEM_LIMIT grants nothing, one stripped from the environment (env -i,
 * ssh) takes nothing away, and one below the quota lowers it for that
 * process only.  The probe is told the quota to expect in PROBE_QUOTA.
 */
TEST(forged_mem_limit_changes_nothing)
{
	struct run r;
	const char *acct = inst("forged", "MIG-f1", 10000000, 100);
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-f1", "VMIG_MEM_LIMIT=17179869184",
				 "PROBE_QUOTA=10000000", acct)),
		   0);
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-f1", "VMIG_MEM_LIMIT=1T",
				 "PROBE_QUOTA=10000000", acct)),
		   0);
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-f1", "PROBE_QUOTA=10000000", acct)),
		   0);
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-f1", "VMIG_MEM_LIMIT=4000000", acct)),
		   0);
	/* A forged share is nothing either: the file's 30 % cap holds against 100. */
	CHECK_EQ_I(run_probe(&r, ARGV("share", "kernel", "2", "0.5"),
			     ENV("VMIG_PARTITION=MIG-f2", "VMIG_COMPUTE_PCT=100",
				 inst_cap("forged-share", "MIG-f2", GiB, 30))),
		   0);
	check_share(share_of(&r), 30);
}

/*
 * Limits that cannot be trusted fail closed: no limits file, one writable by
 * others, a symbolic link, another instance's, and no VMIG_ACCOUNTING at all
 * (the limits would then be unknown).
 */
TEST(untrusted_limits_fail_closed)
{
	struct run r;
	char lpath[PATH_MAX + 64], link[PATH_MAX + 80];
	const char *acct = inst("untrusted", "MIG-u", 10000000, 100);
	const char *path = acct + strlen("VMIG_ACCOUNTING=");
	snprintf(lpath, sizeof(lpath), "%s%s", path, VMIG_LIMITS_SUFFIX);
	CHECK_EQ_I(run_probe(&r, ARGV("closed"), ENV("VMIG_PARTITION=MIG-u", "VMIG_DEBUG=1")), 0);
	CHECK(strstr(r.stderr_buf, "no VMIG_ACCOUNTING") != NULL);
	CHECK_EQ_I(
	    run_probe(&r, ARGV("closed"), ENV("VMIG_PARTITION=MIG-other", acct, "VMIG_DEBUG=1")),
	    0);
	CHECK(strstr(r.stderr_buf, "is the instance MIG-u's") != NULL);
	CHECK(chmod(lpath, 0666) == 0);
	CHECK_EQ_I(run_probe(&r, ARGV("closed"), ENV("VMIG_PARTITION=MIG-u", acct, "VMIG_DEBUG=1")),
		   0);
	CHECK(strstr(r.stderr_buf, "writable by its group or others") != NULL);
	CHECK(chmod(lpath, 0644) == 0);
	snprintf(link, sizeof(link), "%s.real", lpath);
	CHECK(rename(lpath, link) == 0 && symlink(link, lpath) == 0);
	CHECK_EQ_I(run_probe(&r, ARGV("closed"), ENV("VMIG_PARTITION=MIG-u", acct, "VMIG_DEBUG=1")),
		   0);
	CHECK(strstr(r.stderr_buf, "a symbolic link") != NULL);
	CHECK(unlink(lpath) == 0);
	CHECK_EQ_I(run_probe(&r, ARGV("closed"), ENV("VMIG_PARTITION=MIG-u", acct)), 0);
	CHECK_STR(r.stdout_buf, "closed\n");
	CHECK(rename(link, lpath) == 0);
	/* Put back, the same instance runs. */
	CHECK_EQ_I(run_probe(&r, ARGV("quota"),
			     ENV("VMIG_PARTITION=MIG-u", "VMIG_MEM_LIMIT=10000000", acct)),
		   0);
}

/*
 * A process whose user is not in the instance's group cannot attach: the
 * interposer fails closed.  A member of the group (the same user with that
 * group) can.  Runs the probe as user nobody (65534) through setpriv.
 */
TEST(outside_the_group_cannot_attach)
{
	if (geteuid() != 0)
		SKIP("switching to another user needs root");
	if (access("/usr/bin/setpriv", X_OK) != 0)
		SKIP("no setpriv(1) (util-linux) to run as another user");
	static const char *const nobody[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
					     "--clear-groups", NULL};
	struct run r;
	CHECK(chmod(tmpdir, 0755) == 0); /* nobody must reach the files to be refused by them */
	const char *acct = inst_as("group0", "MIG-g0", 10000000, 100, 0);
	start_with(&r, nobody, ARGV("closed"), ENV("VMIG_PARTITION=MIG-g0", acct, "VMIG_DEBUG=1"));
	CHECK_EQ_I(finish(&r), 0);
	CHECK_STR(r.stdout_buf, "closed\n");
	CHECK(strstr(r.stderr_buf, "user 65534 is not in group 0 of the instance MIG-g0") != NULL);
	acct = inst_as("group65534", "MIG-g1", 10000000, 100, 65534);
	start_with(&r, nobody, ARGV("quota"),
		   ENV("VMIG_PARTITION=MIG-g1", "VMIG_MEM_LIMIT=10000000", acct));
	CHECK_EQ_I(finish(&r), 0);
	CHECK(chmod(tmpdir, 0700) == 0);
}

TEST(every_allocation_path_counted)
{
	struct run r;
	CHECK_EQ_I(
	    run_probe(&r, ARGV("paths"),
		      ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=1073741824",
			  "VMIGSTUB_PITCH_ALIGN=1024", inst("paths", "MIG-test", 1073741824, 100))),
	    0);
}

TEST(report_never_exceeds_the_gpu)
{
	struct run r;
	CHECK_EQ_I(
	    run_probe(&r, ARGV("clamp"),
		      ENV("VMIG_PARTITION=big", "VMIG_MEM_LIMIT=2GiB",
			  "VMIGSTUB_TOTAL_MEM=1073741824", inst("big", "big", 2 * GiB, 100))),
	    0);
}

/* ---- How the driver is reached ------------------------------------------------------ */

TEST(dlsym_returns_wrappers)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("dlsym"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=1048576",
				 inst("dlsym", "MIG-test", 1048576, 100))),
		   0);
	/* Without the interposer the same checks see the driver's own addresses. */
	CHECK_EQ_I(run_probe(&r, ARGV("dlsym"), ENV("LD_PRELOAD=")), 0);
}

TEST(get_proc_address_every_version_and_flag)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("gpa"),
			     ENV("VMIG_PARTITION=MIG-test", "VMIG_MEM_LIMIT=1048576",
				 inst("gpa", "MIG-test", 1048576, 100))),
		   0);
	CHECK_EQ_I(run_probe(&r, ARGV("gpa"), ENV("LD_PRELOAD=")), 0);
	CHECK_EQ_I(run_probe(&r, ARGV("gpa"), ENV("VMIG_COMPUTE_PCT=50")), 0);
}

/* ---- Several processes of one instance ----------------------------------------------- */

static void race(const char *n)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("race", n),
			     ENV("VMIG_PARTITION=MIG-race", "VMIG_MEM_LIMIT=67108864",
				 inst(n, "MIG-race", 67108864, 100))),
		   0);
	CHECK(strstr(r.stdout_buf, "race ") != NULL);
}

TEST(two_processes_racing_stay_within_quota)
{
	race("2");
}

TEST(eight_processes_racing_stay_within_quota)
{
	race("8");
}

/* Start a probe that holds memory, wait until it says so, and SIGKILL it. */
static void kill_holder(const char *const *env, const char *bytes)
{
	struct run h;
	start(&h, ARGV("hold", bytes), env);
	char line[64] = "";
	ssize_t n = read(h.out, line, sizeof(line) - 1);
	CHECK(n > 0 && strncmp(line, "holding", 7) == 0);
	kill(h.pid, SIGKILL);
	finish(&h);
	CHECK(WIFSIGNALED(h.status) && WTERMSIG(h.status) == SIGKILL);
}

TEST(killed_process_memory_comes_back)
{
	const char *acct = inst("killed", "MIG-k", 50000000, 100);
	const char *const env[] = {"VMIG_PARTITION=MIG-k", "VMIG_MEM_LIMIT=50000000", acct, NULL};
	kill_holder(env, "30000000");
	kill_holder(env, "20000000");
	struct run r;
	/* Both dead processes held the whole quota; a newcomer gets all of it. */
	CHECK_EQ_I(run_probe(&r, ARGV("fill"), env), 0);
}

/*
 * Processes of one instance in different PID namespaces (a container's and
 * the host's): they share the quota exactly, each counts as live (so -dgi is
 * refused) although neither can see the other's PID, and a SIGKILLed one's
 * slot and bytes come back.  Liveness is the slot's OFD lock, not a PID.
 */
TEST(instance_shared_across_pid_namespaces)
{
	if (access("/usr/bin/unshare", X_OK) != 0)
		SKIP("no unshare(1) (util-linux) to make a PID namespace");
	if (geteuid() != 0)
		SKIP("making a PID namespace needs root here");
	const char *acct = inst("pidns", "MIG-ns", 67108864, 100);
	const char *const env[] = {"VMIG_PARTITION=MIG-ns", "VMIG_MEM_LIMIT=67108864", acct, NULL};
	static const char *const ns[] = {"/usr/bin/unshare", "--pid", "--fork", "--kill-child",
					 NULL};
	struct run a, b, c;
	char line[64] = "";
	start(&a, ARGV("hold", "33554432"), env);
	CHECK(read(a.out, line, sizeof(line) - 1) > 0 && strncmp(line, "holding", 7) == 0);
	memset(line, 0, sizeof(line));
	start_with(&b, ns, ARGV("hold", "33554432"), env);
	ssize_t n = read(b.out, line, sizeof(line) - 1);
	if (n <= 0) {
		kill(a.pid, SIGKILL);
		finish(&a);
		finish(&b);
		SKIP("unshare --pid cannot run here: %s", b.stderr_buf);
	}
	CHECK(strncmp(line, "holding", 7) == 0);
	const char *path = acct + strlen("VMIG_ACCOUNTING=");
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct vmig__region *r =
	    fd >= 0 ? mmap(NULL, sizeof(*r), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	CHECK(r != MAP_FAILED);
	if (r != MAP_FAILED)
		CHECK_EQ_U(vmig__region_live(r, fd), 2); /* both, whatever their PIDs say */
	CHECK_EQ_I(run_probe(&c, ARGV("room"), env), 0);
	CHECK_STR(c.stdout_buf, "room 0\n"); /* the namespaced process's bytes count here */
	kill(b.pid, SIGKILL);		     /* unshare, and with it the process in the namespace */
	finish(&b);
	if (r != MAP_FAILED) {
		double until = test_now() + 30;
		while (vmig__region_live(r, fd) != 1 && test_now() < until)
			test_nap_ms(10);
		CHECK_EQ_U(vmig__region_live(r, fd), 1);
	}
	CHECK_EQ_I(run_probe(&c, ARGV("room"), env), 0);
	CHECK_STR(c.stdout_buf, "room 33554432\n"); /* its slot was freed, its bytes too */
	kill(a.pid, SIGKILL);
	finish(&a);
	if (r != MAP_FAILED)
		munmap(r, sizeof(*r));
	if (fd >= 0)
		close(fd);
}

/* ---- Compute share ---------------------------------------------------------------------- */

/*
 * Every probe of a test shares one stand-in GPU (a timeline file), and every
 * figure is in its simulated time: a loaded machine makes a test slower,
 * never its shares different.  The stand-in's NVML reports per-process
 * utilisation, so the interposer uses NVML's signal (docs/interpose.md).
 */
static const char *timeline(void)
{
	static char buf[4][PATH_MAX + 32];
	static int next;
	char *b = buf[next % 4];
	/* Each test runs in a child of its own: the PID keeps their GPUs apart. */
	snprintf(b, sizeof(buf[0]), "VMIGSTUB_TIMELINE=%s/timeline-%d-%d", tmpdir, (int)getpid(),
		 next++);
	return b;
}

static double share_of(const struct run *r)
{
	const char *s = strstr(r->stdout_buf, "share ");
	return s ? atof(s + 6) : -1;
}

/* A figure of the probe's "work" line: share, ofbusy, idle or rate. */
static double work_of(const struct run *r, const char *key)
{
	return workout_figure(r->stdout_buf, key);
}

static void check_share(double got, double want)
{
	fprintf(stderr, "  share %.1f%% (want %.0f%% +- 5)\n", got, want);
	CHECK(got >= want - 5 && got <= want + 5);
}

static void check_near(const char *what, double got, double want, double tol)
{
	fprintf(stderr, "  %s %.1f (want %.0f +- %.0f)\n", what, got, want, tol);
	CHECK(got >= want - tol && got <= want + tol);
}

/* Two instances at 30 % and 70 % (share mode, the default), both saturating the GPU. */
static void contend(const char *kind_a, const char *sms, struct run *a, struct run *b)
{
	const char *tl = timeline();
	start(
	    a, ARGV("work", kind_a, "1", "3"),
	    ENV("VMIG_PARTITION=MIG-a", tl, sms, "PROBE_BARRIER=2", inst("c30", "MIG-a", GiB, 30)));
	start(
	    b, ARGV("work", "kernel", "1", "3"),
	    ENV("VMIG_PARTITION=MIG-b", tl, sms, "PROBE_BARRIER=2", inst("c70", "MIG-b", GiB, 70)));
	CHECK_EQ_I(finish(a), 0);
	CHECK_EQ_I(finish(b), 0);
}

/* 30/70 under contention: 30 +- 3 and 70 +- 3 of the GPU's busy time, the GPU idle < 5 %. */
TEST(compute_shares_30_70)
{
	struct run a, b;
	contend("kernel", "VMIGSTUB_SMS=1", &a, &b);
	check_near("30% instance, of the busy time", work_of(&a, "ofbusy"), 30, 3);
	check_near("70% instance, of the busy time", work_of(&b, "ofbusy"), 70, 3);
	fprintf(stderr, "  GPU idle %.1f%%\n", work_of(&a, "idle"));
	CHECK(work_of(&a, "idle") < 5);
}

/* Four concurrent streams in one instance get the same share as one stream. */
TEST(four_streams_get_the_share_of_one)
{
	struct run a, b, a1, b1;
	contend("streams4", "VMIGSTUB_SMS=4", &a, &b);
	contend("kernel", "VMIGSTUB_SMS=4", &a1, &b1);
	check_near("4 streams, of the busy time", work_of(&a, "ofbusy"), 30, 3);
	check_near("1 stream, of the busy time", work_of(&a1, "ofbusy"), 30, 3);
	CHECK(work_of(&a, "idle") < 5);
}

/*
 * A host-synchronising loop (1 ms kernel, wait, 1 ms of host work) alone on
 * the GPU in a 30 % instance, share mode: the GPU is otherwise idle, so it
 * runs at least 90 % of its speed without the interposer.
 */
TEST(sync_loop_alone_runs_at_full_speed)
{
	struct run r, plain;
	CHECK_EQ_I(
	    run_probe(&plain, ARGV("work", "sync", "1", "3"), ENV("LD_PRELOAD=", timeline())), 0);
	CHECK_EQ_I(
	    run_probe(&r, ARGV("work", "sync", "1", "3"),
		      ENV("VMIG_PARTITION=MIG-s", timeline(), inst("sync", "MIG-s", GiB, 30))),
	    0);
	double base = work_of(&plain, "rate"), got = work_of(&r, "rate");
	fprintf(stderr, "  %.1f iterations/s, %.1f without the interposer\n", got, base);
	CHECK(base > 0 && got >= 0.9 * base);
}

/* Cap mode holds the share on an idle GPU. */
TEST(cap_holds_the_share_alone)
{
	struct run r;
	CHECK_EQ_I(
	    run_probe(&r, ARGV("work", "kernel", "1", "3"),
		      ENV("VMIG_PARTITION=MIG-c", timeline(), inst_cap("cap", "MIG-c", GiB, 30))),
	    0);
	check_near("cap 30%, alone", work_of(&r, "share"), 30, 3);
}

/* A live -rg change settles within a second of simulated time, in both modes. */
TEST(live_share_change_settles_within_a_second)
{
	struct run a, b, c;
	const char *tl = timeline();
	start(&a, ARGV("work", "kernel", "1", "2.5"),
	      ENV("VMIG_PARTITION=MIG-l", tl, "PROBE_BARRIER=2", "PROBE_SET_PCT=30@1",
		  inst("live", "MIG-l", GiB, 70)));
	start(&b, ARGV("work", "kernel", "1", "2.5"),
	      ENV("VMIG_PARTITION=MIG-n", tl, "PROBE_BARRIER=2", inst("nb", "MIG-n", GiB, 70)));
	CHECK_EQ_I(finish(&a), 0);
	CHECK_EQ_I(finish(&b), 0);
	double s = workout_settled(a.stdout_buf, 30);
	fprintf(stderr, "  share mode, 70%% -> 30%% next to a busy 70%%: settled after %.2f s\n",
		s);
	CHECK(s >= 0 && s <= 1.0);
	CHECK_EQ_I(run_probe(&c, ARGV("work", "kernel", "1", "2.5"),
			     ENV("VMIG_PARTITION=MIG-k", timeline(), "PROBE_SET_PCT=30@1",
				 inst_cap("livecap", "MIG-k", GiB, 70))),
		   0);
	s = workout_settled(c.stdout_buf, 30);
	fprintf(stderr, "  cap mode, 70%% -> 30%% alone: settled after %.2f s\n", s);
	CHECK(s >= 0 && s <= 1.0);
}

TEST(compute_share_through_every_launch_api)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("share", "mixed", "2", "0.5"),
			     ENV("VMIG_PARTITION=MIG-m", "VMIG_COMPUTE_PCT=40", timeline(),
				 inst_cap("mix", "MIG-m", GiB, 40))),
		   0);
	check_share(share_of(&r), 40);
}

TEST(compute_share_is_per_instance_not_per_process)
{
	struct run a, b;
	const char *acct = inst_cap("two", "MIG-2", GiB, 50), *tl = timeline();
	start(&a, ARGV("share", "kernel", "2.5", "0.5"),
	      ENV("VMIG_PARTITION=MIG-2", "VMIG_COMPUTE_PCT=50", tl, "PROBE_BARRIER=2", acct));
	start(&b, ARGV("share", "kernel", "2.5", "0.5"),
	      ENV("VMIG_PARTITION=MIG-2", "VMIG_COMPUTE_PCT=50", tl, "PROBE_BARRIER=2", acct));
	CHECK_EQ_I(finish(&a), 0);
	CHECK_EQ_I(finish(&b), 0);
	check_share(share_of(&a) + share_of(&b), 50);
}

TEST(no_cap_means_no_throttle)
{
	struct run r;
	CHECK_EQ_I(
	    run_probe(&r, ARGV("share", "kernel", "1"),
		      ENV("VMIG_PARTITION=MIG-f", timeline(), inst("free", "MIG-f", GiB, 100))),
	    0);
	fprintf(stderr, "  share %.1f%%\n", share_of(&r));
	CHECK(share_of(&r) >= 90);
}

/* A shared region at 100 %: the gate is armed for a later -rg, but lets everything through. */
TEST(armed_at_full_share_does_not_throttle)
{
	struct run r;
	CHECK_EQ_I(run_probe(&r, ARGV("share", "kernel", "1"),
			     ENV("VMIG_PARTITION=MIG-armed", timeline(),
				 inst("armed", "MIG-armed", GiB, 100))),
		   0);
	fprintf(stderr, "  share %.1f%%\n", share_of(&r));
	CHECK(share_of(&r) >= 90);
}

int main(void)
{
	setup_paths();
	RUN(passthrough_without_instance);
	RUN(invalid_settings_fall_back_silently);
	RUN(quota_exact_to_the_byte);
	RUN(vmm_mapped_memory_stays_charged);
	RUN(unusable_accounting_file_fails_closed);
	RUN(forged_mem_limit_changes_nothing);
	RUN(untrusted_limits_fail_closed);
	RUN(outside_the_group_cannot_attach);
	RUN(every_allocation_path_counted);
	RUN(report_never_exceeds_the_gpu);
	RUN(dlsym_returns_wrappers);
	RUN(get_proc_address_every_version_and_flag);
	RUN(two_processes_racing_stay_within_quota);
	RUN(eight_processes_racing_stay_within_quota);
	RUN(killed_process_memory_comes_back);
	RUN(instance_shared_across_pid_namespaces);
	RUN(compute_shares_30_70);
	RUN(four_streams_get_the_share_of_one);
	RUN(sync_loop_alone_runs_at_full_speed);
	RUN(cap_holds_the_share_alone);
	RUN(live_share_change_settles_within_a_second);
	RUN(compute_share_through_every_launch_api);
	RUN(compute_share_is_per_instance_not_per_process);
	RUN(no_cap_means_no_throttle);
	RUN(armed_at_full_share_does_not_throttle);
	if (test_rmtree(tmpdir) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return harness_done();
}
