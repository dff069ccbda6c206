/*
 * test_users.c — the registry of users of simulated GPUs (lib/users.c) as
 * the sim backend's vmig_procs reports it: real child processes register
 * and hold their record, SIGKILL and exit end it, a fork shares it, exec
 * keeps it only when asked, stale and planted files (unlocked records,
 * symbolic links, FIFOs, oversized or malformed files) are never counted,
 * and bad arguments or a users directory that is a link are one error.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "gpus.h"
#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static char dir[300];
static struct vmig_state seeded;

/* A state directory with an H100 and an A100 40GB, both MIG-enabled, and GI 1 on GPU 1. */
static void setup(void)
{
	static const char *const models[] = {"h100-80gb", "a100-40gb"};
	struct vmig_err err = {0};
	if (!test_mkdtemp(dir, sizeof(dir), "users"))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	if (test_seed_gpus(dir, models, 2, true, &seeded, &err) < 0) {
		fprintf(stderr, "seed: %s\n", err.msg);
		abort();
	}
}

/* vmig_procs of the sim backend; *n entries in a static list. */
static struct vmig_proc *procs(size_t *n)
{
	static struct vmig_proc list[64];
	struct vmig_ctx *ctx = NULL;
	struct vmig_proc *p = NULL;
	struct vmig_err err = {0};
	if (vmig_open("sim", &ctx, &err) < 0 || vmig_procs(ctx, &p, n, &err) < 0) {
		fprintf(stderr, "procs: %s\n", err.msg);
		abort();
	}
	vmig_close(ctx);
	if (*n > 64)
		abort();
	if (*n)
		memcpy(list, p, *n * sizeof(*p));
	free(p);
	return list;
}

static size_t count_pid(pid_t pid)
{
	size_t n, k = 0;
	struct vmig_proc *p = procs(&n);
	for (size_t i = 0; i < n; i++)
		k += p[i].pid == pid;
	return k;
}

static size_t files_in_users(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/users", dir);
	DIR *d = opendir(path);
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/*
 * Fork a child that registers (RUN on GPU 1 GI gi CI 0, or NVML) and then
 * waits on the pipe; returns once the record exists.  With exec_prog the
 * child execs it instead of waiting.
 */
static pid_t start_user(enum vmig_proc_kind kind, unsigned gi, unsigned flags, int *ret_wfd,
			const char *exec_prog)
{
	int ready[2], hold[2];
	if (pipe(ready) < 0 || pipe(hold) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		struct vmig_user *u = NULL;
		struct vmig_err err = {0};
		char c;
		close(ready[0]);
		close(hold[1]);
		int r =
		    kind == VMIG_PROC_RUN
			? vmig_user_register(dir, kind, seeded.gpu[1].uuid, gi, 0, flags, &u, &err)
			: vmig_user_register(NULL, kind, NULL, VMIG_PROC_WHOLE_GPU,
					     VMIG_PROC_WHOLE_GPU, flags, &u, &err);
		if (r < 0) {
			fprintf(stderr, "register: %s\n", err.msg);
			_exit(3);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		if (exec_prog) {
			dup2(hold[0], 0);
			execl(exec_prog, exec_prog, (char *)NULL);
			_exit(5);
		}
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		vmig_user_release(u);
		_exit(0);
	}
	char c;
	close(ready[1]);
	close(hold[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	*ret_wfd = hold[1];
	return pid;
}

TEST(run_user_listed_until_sigkill)
{
	setup();
	int wfd;
	size_t n;
	pid_t pid = start_user(VMIG_PROC_RUN, 1, 0, &wfd, NULL);
	struct vmig_proc *p = procs(&n);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_I(p[0].pid, pid);
	CHECK_EQ_U(p[0].kind, VMIG_PROC_RUN);
	CHECK_EQ_U(p[0].gpu, 1);
	CHECK_EQ_U(p[0].gi, 1);
	CHECK_EQ_U(p[0].ci, 0);
	CHECK_EQ_U(p[0].mem_bytes, 0);
	kill(pid, SIGKILL);
	CHECK(test_wait_zombie(pid));
	/* A zombie holds no descriptors: the kernel dropped the lock already. */
	CHECK_EQ_U(count_pid(pid), 0);
	CHECK_EQ_U(files_in_users(), 0); /* the stale record was removed by the reader */
	test_wait(pid);
	close(wfd);
}

TEST(nvml_user_holds_every_gpu_and_release_removes_it)
{
	setup();
	int wfd;
	size_t n;
	pid_t pid = start_user(VMIG_PROC_NVML, 0, 0, &wfd, NULL);
	struct vmig_proc *p = procs(&n);
	CHECK_EQ_U(n, 2);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_I(p[i].pid, pid);
		CHECK_EQ_U(p[i].kind, VMIG_PROC_NVML);
		CHECK_EQ_U(p[i].gpu, i);
		CHECK_EQ_U(p[i].gi, VMIG_PROC_WHOLE_GPU);
		CHECK_EQ_U(p[i].ci, VMIG_PROC_WHOLE_GPU);
	}
	close(wfd); /* the child releases and exits */
	CHECK_EQ_I(test_exit_code(test_wait(pid)), 0);
	CHECK_EQ_U(files_in_users(), 0); /* removed by the release itself */
	CHECK_EQ_U(count_pid(pid), 0);
}

TEST(a_forked_child_keeps_the_record)
{
	setup();
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	int hold[2];
	CHECK(pipe(hold) == 0);
	CHECK(vmig_user_register(NULL, VMIG_PROC_RUN, seeded.gpu[1].uuid, 1, 0, 0, &u, &err) == 0);
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(hold[1]);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(hold[0]);
	vmig_user_release(u); /* our share goes; the child's keeps the record */
	CHECK_EQ_U(count_pid(getpid()), 1);
	close(hold[1]);
	test_wait(child);
	CHECK_EQ_U(count_pid(getpid()), 0);
}

/* A program that waits for its standard input to close. */
static const char *waiter(void)
{
	return access("/bin/cat", X_OK) == 0 ? "/bin/cat" : "/usr/bin/cat";
}

TEST(exec_keeps_the_record_only_when_inherited)
{
	setup();
	int wfd;
	pid_t pid = start_user(VMIG_PROC_RUN, 1, VMIG_USER_INHERIT, &wfd, waiter());
	CHECK_EQ_U(count_pid(pid), 1);
	/* Still there once the exec has surely happened: cat is reading. */
	double limit = test_now() + 30;
	char comm[64] = "";
	while (test_now() < limit) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "cat", 3) == 0) {
			fclose(f);
			break;
		}
		if (f)
			fclose(f);
		test_nap_ms(5);
	}
	CHECK(strncmp(comm, "cat", 3) == 0);
	CHECK_EQ_U(count_pid(pid), 1);
	close(wfd);
	test_wait(pid);
	CHECK_EQ_U(count_pid(pid), 0);

	/* Without VMIG_USER_INHERIT the descriptor closes at exec, and the record with it. */
	pid = start_user(VMIG_PROC_RUN, 1, 0, &wfd, waiter());
	limit = test_now() + 30;
	while (count_pid(pid) && test_now() < limit)
		test_nap_ms(5);
	CHECK_EQ_U(count_pid(pid), 0);
	close(wfd);
	test_wait(pid);
}

static void plant(const char *name, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/users/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

TEST(stale_and_planted_files_are_never_counted)
{
	setup();
	char path[400], other[320], other_users[340], target[700];
	size_t n;
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	/* A live record of our own makes the directory; it must be the only one listed. */
	CHECK(vmig_user_register(NULL, VMIG_PROC_RUN, seeded.gpu[0].uuid, 2, 0, 0, &u, &err) == 0);
	char line[200];
	snprintf(line, sizeof(line), "vmig-user 1 run %d %s 1 0\n", (int)getpid(),
		 seeded.gpu[1].uuid);
	plant("run-1-stale", line); /* well formed, but nobody holds its lock */
	plant(".tmp-1-old", line);
	snprintf(path, sizeof(path), "%s/users/.tmp-1-old", dir);
	struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
	plant(".tmp-1-young", line); /* a registration in progress, maybe: left alone */
	/* A symbolic link to a live record elsewhere is not followed. */
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	CHECK(mkdir(other, 0755) == 0);
	struct vmig_user *ou = NULL;
	CHECK(vmig_user_register(other, VMIG_PROC_NVML, NULL, VMIG_PROC_WHOLE_GPU,
				 VMIG_PROC_WHOLE_GPU, 0, &ou, &err) == 0);
	snprintf(other_users, sizeof(other_users), "%s/users", other);
	DIR *d = opendir(other_users);
	CHECK(d != NULL);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			snprintf(target, sizeof(target), "%s/%s", other_users, e->d_name);
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "%s/users/nvml-link", dir);
	CHECK(symlink(target, path) == 0);
	snprintf(path, sizeof(path), "%s/users/nvml-fifo", dir);
	CHECK(mkfifo(path, 0644) == 0);
	char big[1024];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	plant("run-big", big);

	struct vmig_proc *p = procs(&n);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_U(p[0].gpu, 0);
	CHECK_EQ_U(p[0].gi, 2);
	snprintf(path, sizeof(path), "%s/users/run-1-stale", dir);
	CHECK(access(path, F_OK) < 0); /* stale: removed */
	snprintf(path, sizeof(path), "%s/users/.tmp-1-old", dir);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/users/.tmp-1-young", dir);
	CHECK(access(path, F_OK) == 0);
	vmig_user_release(u);
	vmig_user_release(ou);
}

TEST(malformed_records_are_not_users)
{
	setup();
	size_t n;
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	CHECK(vmig_user_register(NULL, VMIG_PROC_NVML, NULL, VMIG_PROC_WHOLE_GPU,
				 VMIG_PROC_WHOLE_GPU, 0, &u, &err) == 0);
	/* Hold locks on bad records the way a live user would. */
	/* Each bad line is head, the GPU's UUID, tail. */
	static const char *const bad[][2] = {
	    {"vmig-user 2 run 5 ", " 1 0\n"},  {"vmig-user 1 walk 5 ", " 1 0\n"},
	    {"vmig-user 1 run -5 ", " 1 0\n"}, {"vmig-user 1 run 5 all", " 1 0\n"},
	    {"vmig-user 1 nvml 5 ", " 1 0\n"}, {"vmig-user 1 run 5 ", " 1 0 junk\n"},
	    {"vmig-user 1 run 5 ", " 1 0"},    {"vmig-user 1 run 5 ", " 1\n"},
	};
	int fds[8];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[32], path[400], text[200];
		snprintf(name, sizeof(name), "run-bad-%zu", i);
		snprintf(path, sizeof(path), "%s/users/%s", dir, name);
		snprintf(text, sizeof(text), "%s%s%s", bad[i][0],
			 strstr(bad[i][0], "all") ? "" : seeded.gpu[0].uuid, bad[i][1]);
		plant(name, text);
		fds[i] = open(path, O_RDWR);
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		CHECK(fds[i] >= 0 && fcntl(fds[i], F_OFD_SETLK, &l) == 0);
	}
	/* The same line well formed is a user: the check above can fail. */
	char good[200];
	snprintf(good, sizeof(good), "vmig-user 1 run 5 %s 1 0\n", seeded.gpu[0].uuid);
	plant("run-good", good);
	char gpath[400];
	snprintf(gpath, sizeof(gpath), "%s/users/run-good", dir);
	int gfd = open(gpath, O_RDWR);
	struct flock gl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	CHECK(gfd >= 0 && fcntl(gfd, F_OFD_SETLK, &gl) == 0);
	CHECK_EQ_U(count_pid(5), 1);
	close(gfd);
	procs(&n);
	CHECK_EQ_U(n, 2); /* our NVML record, on both GPUs; none of the bad ones */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		close(fds[i]);
	vmig_user_release(u);
}

TEST(bad_arguments_and_a_linked_directory_are_refused)
{
	setup();
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_user_register(NULL, VMIG_PROC_NVML, seeded.gpu[0].uuid, 1, 0, 0, &u, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_user_register(NULL, VMIG_PROC_RUN, NULL, 1, 0, 0, &u, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_user_register(NULL, VMIG_PROC_RUN, "not-a-uuid", 1, 0, 0, &u, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_user_register(NULL, VMIG_PROC_CUDA, NULL, 1, 0, 0, &u, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_user_register(NULL, VMIG_PROC_RUN, seeded.gpu[0].uuid, 1, 0, 8, &u, &err),
		   -VMIG_E_INVALID_ARGUMENT);
	CHECK(strchr(err.msg, '\n') == NULL && err.msg[0]);
	vmig_user_release(NULL);

	/* <state dir>/users as a symbolic link: registering and reading both refuse it. */
	char path[400], elsewhere[400];
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/users", dir);
	CHECK(mkdir(elsewhere, 0755) == 0 && symlink(elsewhere, path) == 0);
	CHECK(vmig_user_register(NULL, VMIG_PROC_RUN, seeded.gpu[0].uuid, 1, 0, 0, &u, &err) < 0);
	CHECK(strstr(err.msg, "not a directory") != NULL);
	struct vmig_ctx *ctx = NULL;
	struct vmig_proc *p = NULL;
	size_t n = 0;
	CHECK(vmig_open("sim", &ctx, &err) == 0);
	CHECK(vmig_procs(ctx, &p, &n, &err) < 0);
	vmig_close(ctx);
}

/* Holding the NVML library never creates a state directory; a program in an instance may. */
TEST(only_a_run_record_creates_the_state_directory)
{
	setup();
	char fresh[400];
	struct vmig_user *u = NULL;
	struct vmig_err err = {0};
	snprintf(fresh, sizeof(fresh), "%s/never-written", dir);
	CHECK(vmig_user_register(fresh, VMIG_PROC_NVML, NULL, VMIG_PROC_WHOLE_GPU,
				 VMIG_PROC_WHOLE_GPU, 0, &u, &err) < 0);
	CHECK(access(fresh, F_OK) < 0);
	CHECK(vmig_user_register(fresh, VMIG_PROC_RUN, seeded.gpu[0].uuid, 1, 0, 0, &u, &err) == 0);
	CHECK(access(fresh, F_OK) == 0);
	vmig_user_release(u);
}

int main(void)
{
	RUN(run_user_listed_until_sigkill);
	RUN(nvml_user_holds_every_gpu_and_release_removes_it);
	RUN(a_forked_child_keeps_the_record);
	RUN(exec_keeps_the_record_only_when_inherited);
	RUN(stale_and_planted_files_are_never_counted);
	RUN(malformed_records_are_not_users);
	RUN(bad_arguments_and_a_linked_directory_are_refused);
	RUN(only_a_run_record_creates_the_state_directory);
	return harness_done();
}
