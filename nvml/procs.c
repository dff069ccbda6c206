/*
 * procs.c — the running-process queries and the process name.  The
 * processes of a simulated GPU are the programs `vmig run` started in its
 * instances, as the registry of users records them (lib/users.c, read with
 * vmig_procs of the sim backend); NVML clients that merely hold the library
 * are users of the GPU but not compute processes, as a monitoring tool is
 * none on a real GPU.
 *
 * What the real library does, this does (docs/nvml.md, "Processes"): on a
 * MIG device handle the processes of that GPU instance and compute
 * instance, on the parent GPU's handle with MIG on every process of every
 * instance with its gpuInstanceId and computeInstanceId, with MIG off the
 * processes on the whole GPU (IDs 0xFFFFFFFF); the legacy queries write the
 * v1 entry (pid, memory), _v2 and _v3 the entry with the IDs; the memory
 * is what the process holds on the device, 0 on a simulated one.  A count too
 * small for the list is INSUFFICIENT_SIZE with the count needed.  Every
 * program started by `vmig run` is a compute process; none is a graphics
 * or MPS client (no graphics on these MIG profiles, no MPS server), so
 * those lists are empty by the same rules.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nv.h"

#define NV_NO_ID 0xFFFFFFFFu

enum nv_proc_list { NV_COMPUTE, NV_GRAPHICS, NV_MPS };

static int cmp_proc(const void *a, const void *b)
{
	const struct vmig_proc *x = a, *y = b;
	if (x->gi != y->gi)
		return x->gi < y->gi ? -1 : 1;
	if (x->ci != y->ci)
		return x->ci < y->ci ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Does process p run on the device ref names? */
static bool on_device(const struct vmig_proc *p, const struct nv_ref *ref)
{
	if (p->kind != VMIG_PROC_RUN || p->gpu != ref->index)
		return false;
	if (ref->ci) /* a MIG device: its GI and CI */
		return p->gi == ref->gi->id && p->ci == ref->ci->id;
	if (nv_mig_on(ref->g)) /* the parent with MIG on: every instance */
		return p->gi != VMIG_PROC_WHOLE_GPU;
	return p->gi == VMIG_PROC_WHOLE_GPU;
}

/*
 * The processes of the device, sorted by (GI, CI, pid), into a malloc'ed
 * *ret (lock held).  A registry that cannot be read has no processes to
 * tell (as a driver that cannot see a process does not list it).
 */
static size_t device_procs(const struct nv_ref *ref, enum nv_proc_list which,
			   struct vmig_proc **ret)
{
	struct vmig_proc *all = NULL;
	size_t n = 0, k = 0;
	*ret = NULL;
	if (which != NV_COMPUTE || vmig_procs(vmig__nv.ctx, &all, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (on_device(&all[i], ref))
			all[k++] = all[i];
	qsort(all, k, sizeof(*all), cmp_proc);
	*ret = all;
	return k;
}

/* Writes entries of the v1 layout (v1) or of the v2/v3 one. */
static nvmlReturn_t running(nvmlDevice_t device, unsigned int *infoCount, void *infos, bool v1,
			    enum nv_proc_list which)
{
	struct nv_ref ref;
	nvmlReturn_t r = vmig__nv_enter_device_out(device, infoCount, &ref);
	if (r != NVML_SUCCESS)
		return r;
	struct vmig_proc *list;
	size_t n = device_procs(&ref, which, &list);
	if (n > *infoCount) {
		*infoCount = (unsigned)n;
		r = NVML_ERROR_INSUFFICIENT_SIZE;
	} else if (n && !infos) {
		r = NVML_ERROR_INVALID_ARGUMENT;
	} else {
		for (size_t i = 0; i < n; i++) {
			/*
			 * The bytes the process holds on the device: none on a
			 * simulated GPU, which has no memory to hand out.  (The real
			 * library's NVML_VALUE_NOT_AVAILABLE means "cannot account",
			 * which is not the case here, and nvtop 3.0 aborts on it.)
			 */
			unsigned long long mem = list[i].mem_bytes;
			bool mig = list[i].gi != VMIG_PROC_WHOLE_GPU;
			if (v1) {
				nvmlProcessInfo_v1_t *e = (nvmlProcessInfo_v1_t *)infos + i;
				e->pid = (unsigned)list[i].pid;
				e->usedGpuMemory = mem;
			} else {
				nvmlProcessInfo_t *e = (nvmlProcessInfo_t *)infos + i;
				e->pid = (unsigned)list[i].pid;
				e->usedGpuMemory = mem;
				e->gpuInstanceId = mig ? list[i].gi : NV_NO_ID;
				e->computeInstanceId = mig ? list[i].ci : NV_NO_ID;
			}
		}
		*infoCount = (unsigned)n;
	}
	free(list);
	return vmig__nv_leave(r);
}

#define RUNNING(fn, type, v1, which)                                                               \
	NVML_EXPORT nvmlReturn_t fn(nvmlDevice_t device, unsigned int *infoCount, type *infos)     \
	{                                                                                          \
		return running(device, infoCount, infos, v1, which);                               \
	}

RUNNING(nvmlDeviceGetComputeRunningProcesses, nvmlProcessInfo_v1_t, true, NV_COMPUTE)
RUNNING(nvmlDeviceGetComputeRunningProcesses_v2, nvmlProcessInfo_t, false, NV_COMPUTE)
RUNNING(nvmlDeviceGetComputeRunningProcesses_v3, nvmlProcessInfo_t, false, NV_COMPUTE)
RUNNING(nvmlDeviceGetGraphicsRunningProcesses, nvmlProcessInfo_v1_t, true, NV_GRAPHICS)
RUNNING(nvmlDeviceGetGraphicsRunningProcesses_v2, nvmlProcessInfo_t, false, NV_GRAPHICS)
RUNNING(nvmlDeviceGetGraphicsRunningProcesses_v3, nvmlProcessInfo_t, false, NV_GRAPHICS)
RUNNING(nvmlDeviceGetMPSComputeRunningProcesses, nvmlProcessInfo_v1_t, true, NV_MPS)
RUNNING(nvmlDeviceGetMPSComputeRunningProcesses_v2, nvmlProcessInfo_t, false, NV_MPS)
RUNNING(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessInfo_t, false, NV_MPS)

/* Read /proc/<pid>/<what> into buf (NUL-terminated); the bytes read, or -1. */
static ssize_t read_proc(unsigned pid, const char *what, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * The process's name as the driver gives it: the program as it was started
 * (the first word of its command line, "/usr/bin/python3" or "python"),
 * else, for a process without one (a kernel thread, a zombie), its short
 * name.  Cut to length - 1 bytes, as the real library cuts it.
 */
NVML_EXPORT nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length)
{
	char buf[4096];
	nvmlReturn_t r = vmig__nv_enter();
	if (r != NVML_SUCCESS)
		return r;
	if (!name || length == 0 || pid == 0)
		return vmig__nv_leave(NVML_ERROR_INVALID_ARGUMENT);
	ssize_t n = read_proc(pid, "cmdline", buf, sizeof(buf));
	if (n <= 0 || buf[0] == '\0') {
		n = read_proc(pid, "comm", buf, sizeof(buf));
		if (n > 0 && buf[n - 1] == '\n')
			buf[n - 1] = '\0';
	}
	if (n <= 0 || buf[0] == '\0')
		return vmig__nv_leave(NVML_ERROR_NOT_FOUND);
	snprintf(name, length, "%s", buf);
	return vmig__nv_leave(NVML_SUCCESS);
}
