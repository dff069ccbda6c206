/*
 * nvml_fork.c — fork() from a process whose threads are inside vmig's NVML
 * library: three threads loop creating and destroying GPU instances and
 * querying them while the main thread forks twenty children, one after
 * another; each child's first NVML calls must work (GPU count, a handle,
 * its GI list, a change of its own) and the child must exit.  Before the
 * library took its locks around fork, children forked while a thread held
 * one hung for ever (12 of 20 in one trial).  The harness's time limit is
 * what turns a hang into a failure.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_TIMEOUT 300

#include "gpus.h"
#include "harness.h"
#include "nvml_abi.h"
#include "proc.h"
#include "tmpdir.h"

#define CHILDREN 20
#define THREADS	 3

static void *lib;
static atomic_bool stop;
#define NV(name) ((__typeof__(&name))dlsym(lib, #name))

/* A thread in the library most of the time: create, query, destroy GIs on its own GPU. */
static void *looper(void *arg)
{
	unsigned g = (unsigned)(uintptr_t)arg;
	nvmlDevice_t d;
	if (NV(nvmlDeviceGetHandleByIndex_v2)(g, &d) != NVML_SUCCESS)
		return NULL;
	while (!atomic_load(&stop)) {
		nvmlGpuInstance_t gi, list[8];
		unsigned n = 8;
		if (NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi) == NVML_SUCCESS) {
			NV(nvmlDeviceGetGpuInstances)(d, 19, list, &n);
			NV(nvmlGpuInstanceDestroy)(gi);
		}
	}
	return NULL;
}

/* In the child: the library must answer at once, reads and a change. */
static int child_calls(void)
{
	unsigned n = 0, k = 8;
	nvmlDevice_t d;
	nvmlGpuInstance_t gi, list[8];
	if (NV(nvmlDeviceGetCount_v2)(&n) != NVML_SUCCESS || n != THREADS + 1)
		return 10;
	if (NV(nvmlDeviceGetHandleByIndex_v2)(THREADS, &d) != NVML_SUCCESS)
		return 11;
	if (NV(nvmlDeviceGetGpuInstances)(d, 19, list, &k) != NVML_SUCCESS)
		return 12;
	if (NV(nvmlDeviceCreateGpuInstance)(d, 19, &gi) != NVML_SUCCESS ||
	    NV(nvmlGpuInstanceDestroy)(gi) != NVML_SUCCESS)
		return 13;
	return NV(nvmlShutdown)() == NVML_SUCCESS ? 0 : 14;
}

TEST(children_forked_while_threads_are_inside_nvml_all_work)
{
	static const char *const models[] = {"h100-80gb", "h100-80gb", "h100-80gb", "h100-80gb"};
	char dir[512], path[PATH_MAX + 32];
	const char *b = getenv("B") ? getenv("B") : "build";
	struct vmig_err e = {0};
	CHECK(test_mkdtemp(dir, sizeof(dir), "nvml-fork") != NULL);
	CHECK(realpath(b, path) != NULL);
	strncat(path, "/libnvidia-ml.so.1", sizeof(path) - strlen(path) - 1);
	setenv("VMIG_STATE_DIR", dir, 1);
	CHECK_EQ_I(test_seed_gpus(dir, models, THREADS + 1, true, NULL, &e), 0);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(lib != NULL);
	if (!lib)
		return;
	CHECK(NV(nvmlInit_v2)() == NVML_SUCCESS);
	pthread_t th[THREADS];
	for (unsigned i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, looper, (void *)(uintptr_t)i);
	int ok = 0;
	for (int c = 0; c < CHILDREN; c++) {
		test_nap_ms(5); /* let the threads get back inside */
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(child_calls());
		int st = test_wait(pid);
		if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			HARNESS_FAIL("child %d: status 0x%x", c, (unsigned)st);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_I(ok, CHILDREN);
	CHECK(NV(nvmlShutdown)() == NVML_SUCCESS);
	test_rmtree(dir);
}

int main(void)
{
	RUN(children_forked_while_threads_are_inside_nvml_all_work);
	return harness_done();
}
