/*
 * harness.h — the unit-test harness: one header, no registry file.  A test
 * program defines tests with TEST(name) and lists them in main with RUN().
 * Each test runs in a forked child with a time limit, so a crash or a hang
 * fails that test alone.  Output: "ok - name", "FAIL - name: why" or
 * "skip - name: why", one line each, which tests/run.sh counts.
 *
 * Each child gets a fresh TMPDIR of its own, made before it starts and
 * removed after it ends however it ended (kept, and named, when it failed),
 * so directories from test_mkdtemp (tmpdir.h) need no cleanup in the test.
 *
 *	TEST(parses_names) { CHECK(x == 1); CHECK_EQ_U(a, b); CHECK_STR(s, "x"); }
 *	int main(void) { RUN(parses_names); return harness_done(); }
 */
#ifndef VMIG_TEST_HARNESS_H
#define VMIG_TEST_HARNESS_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "tmpdir.h"

#ifndef HARNESS_TIMEOUT
#define HARNESS_TIMEOUT 120
#endif

static int harness_failed, harness_passed, harness_skipped;
static int harness_child_failed;

#define TEST(name) static void name(void)

#define HARNESS_FAIL(...)                                                                          \
	do {                                                                                       \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                  \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		harness_child_failed = 1;                                                          \
	} while (0)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			HARNESS_FAIL("check failed: %s", #cond);                                   \
	} while (0)

#define CHECK_EQ_U(a, b)                                                                           \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a);                                   \
		unsigned long long b_ = (unsigned long long)(b);                                   \
		if (a_ != b_)                                                                      \
			HARNESS_FAIL("%s == %s: %llu != %llu", #a, #b, a_, b_);                    \
	} while (0)

#define CHECK_EQ_I(a, b)                                                                           \
	do {                                                                                       \
		long long a_ = (long long)(a);                                                     \
		long long b_ = (long long)(b);                                                     \
		if (a_ != b_)                                                                      \
			HARNESS_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                    \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a);                                                              \
		const char *b_ = (b);                                                              \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			HARNESS_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",     \
				     b_ ? b_ : "(null)");                                          \
	} while (0)

/* Skip the running test (call from inside it): exits the child with 77. */
#define SKIP(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "  skipped: ");                                                    \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		exit(77);                                                                          \
	} while (0)

static void harness_run(const char *name, void (*fn)(void))
{
	char tmp[512];
	if (!test_mkdtemp(tmp, sizeof(tmp), "test")) {
		perror("mkdtemp");
		exit(2);
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		setenv("TMPDIR", tmp, 1);
		alarm(HARNESS_TIMEOUT);
		fn();
		fflush(stdout);
		_exit(harness_child_failed ? 1 : 0);
	}
	int status = test_wait(pid);
	if (status < 0) {
		perror("waitpid");
		exit(2);
	}
	bool passed = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77);
	if (passed)
		test_rmtree(tmp);
	else
		fprintf(stderr, "  its files are kept in %s\n", tmp);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok - %s\n", name);
		harness_passed++;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("skip - %s\n", name);
		harness_skipped++;
	} else if (WIFSIGNALED(status)) {
		printf("FAIL - %s: killed by signal %d%s\n", name, WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		harness_failed++;
	} else {
		printf("FAIL - %s\n", name);
		harness_failed++;
	}
	fflush(stdout);
}

#define RUN(name) harness_run(#name, name)

static inline int harness_done(void)
{
	printf("# %d passed, %d failed, %d skipped\n", harness_passed, harness_failed,
	       harness_skipped);
	return harness_failed ? 1 : 0;
}

#endif
