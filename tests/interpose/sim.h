/*
 * sim.h — the one GPU that the stand-in libcuda.so.1 (stub_cuda.c) and the
 * stand-in libnvidia-ml.so.1 (stub_nvml.c) describe, shared by every process
 * of a test through a timeline file (VMIGSTUB_TIMELINE), or private to one
 * process (and its forked children) without one.
 *
 * Time is simulated.  The timeline's clock stands still while any thread
 * that takes part in it runs host code, and moves on, to the earliest time
 * one of them waits for, once every one of them waits in the stand-in
 * (a kernel queue that is full, a synchronisation, vmigstub_sleep_ns).  So
 * host work costs no simulated time, and a loaded machine changes how long
 * a test takes, never what it measures.  Kernels from every process and
 * stream start in the order they were launched, each as soon as its stream's
 * earlier work has ended and enough of the GPU's SMs are free.
 * docs/interpose.md ("Tests on a shared stand-in GPU") describes the model.
 */
#ifndef VMIG_TESTS_SIM_H
#define VMIG_TESTS_SIM_H

#include <stdbool.h>
#include <stdint.h>

/* A stream of this process: when its last work ends (simulated ns). */
struct sim_stream {
	uint64_t ready;
};

/* Map the timeline (once per process; safe to call from any entry point). */
void sim_open(void);
/*
 * The calling thread takes part from now on (every entry point of the
 * stand-in calls this): the clock stands still while it runs host code.
 */
void sim_touch(void);
/* The simulated clock, in ns. */
uint64_t sim_now(void);
/* Wait until the clock reads at least t. */
void sim_wait_until(uint64_t t);
/*
 * Queue a kernel of `blocks` blocks, each `block_ns` long, on s: it needs
 * min(blocks, SMs) SMs for ceil(blocks / that) x block_ns.  Returns once it
 * is queued, waiting while s is more than the queue depth ahead.
 */
void sim_kernel(struct sim_stream *s, uint64_t blocks, uint64_t block_ns);
/* When the work queued on s so far ends (an event recorded now). */
uint64_t sim_mark(struct sim_stream *s);
/* When all the work this process queued ends. */
uint64_t sim_proc_ready(void);
/* GPU time used up to now: the whole GPU (pid 0) or one process. */
uint64_t sim_busy_pid(int32_t pid);
/* GPU time used up to now by the processes of a group (VMIGSTUB_GROUP); 0 if unknown. */
uint64_t sim_busy_group(const char *group);
/* Wait (host time, at most `seconds`) until n processes have called this; false on timeout. */
bool sim_barrier(unsigned n, double seconds);

/*
 * The last utilisation sample (NVML's view): the GPU's (pid 0) or a
 * process's busy percentage over the last sample period, ending at *ts_us.
 * Returns false when there is no sample yet.
 */
bool sim_sample(int32_t pid, unsigned *pct, uint64_t *ts_us);
/* The processes seen by the GPU (up to max) that were busy in the last sample. */
unsigned sim_sample_pids(int32_t *pids, unsigned max);

#endif
