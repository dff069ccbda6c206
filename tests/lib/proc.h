/*
 * proc.h — waiting for child processes and for conditions, the same way in
 * every suite: a wait that survives EINTR, a wait for a child to become a
 * zombie without reaping it, starting a program with its output captured,
 * and a monotonic clock for the safety limits of bounded polls.  Tests wait
 * for the condition they need, never for a fixed time that assumes how fast
 * the machine is; a limit only turns a hang into a failure.  C library only.
 */
#ifndef VMIG_TESTS_PROC_H
#define VMIG_TESTS_PROC_H

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static inline double test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep for ms milliseconds, between two looks at a condition. */
static inline void test_nap_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* An exit status as a shell reports it: the code, or 128 + the signal. */
static inline int test_exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reap pid; its raw wait status, or -1 (errno set).  EINTR is retried. */
static inline int test_wait(pid_t pid)
{
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/*
 * Wait until pid has exited but leave it unreaped (a zombie): true then.
 * waitid(WNOWAIT) returns exactly when the child becomes waitable.
 */
static inline bool test_wait_zombie(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			return false;
	return si.si_pid == pid;
}

/*
 * Run path with argv and the caller's environment, stdout and stderr
 * together into out (NUL-terminated, cut at size - 1); its exit code as
 * test_exit_code gives it, or -1 when it could not be started.  (posix_spawn
 * takes char *const[] for historical reasons only: it writes to no string.)
 */
static inline int test_run(const char *path, const char *const argv[], char *out, size_t size)
{
	extern char **environ;
	int fds[2];
	out[0] = '\0';
	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	int rc = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	size_t len = 0;
	while (rc == 0 && len + 1 < size) {
		ssize_t n = read(fds[0], out + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	if (rc != 0)
		return -1;
	int status = test_wait(pid);
	return status < 0 ? -1 : test_exit_code(status);
}

#endif
