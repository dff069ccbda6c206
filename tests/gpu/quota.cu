// quota.cu — inside a soft 3g.71gb instance (VMIG_MEM_LIMIT = 71168 MiB) on
// a real GPU: the runtime and the driver API report the instance's size, the
// program can allocate up to it and not beyond, and freeing gives it back;
// also through the driver entry point the runtime hands out.
// Usage: quota <limit-bytes>.  Prints ok/FAIL lines; exit 1 on failure.
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

static int fails;
static void check(bool ok, const char *what, unsigned long long a, unsigned long long b)
{
	if (ok)
		printf("ok - gpu quota: %s\n", what);
	else
		printf("FAIL - gpu quota: %s (%llu vs %llu)\n", what, a, b);
	fails += !ok;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	size_t limit = strtoull(argv[1], NULL, 10), f = 0, t = 0, tm = 0;
	cudaFree(0);
	cudaMemGetInfo(&f, &t);
	check(t == limit, "cudaMemGetInfo total is the instance", t, limit);
	check(f <= t, "free within total", f, t);
	CUdevice d;
	cuDeviceGet(&d, 0);
	cuDeviceTotalMem(&tm, d);
	check(tm == limit, "cuDeviceTotalMem is the instance", tm, limit);

	std::vector<void *> held;
	size_t bytes = 0;
	const size_t chunks[] = {1ull << 30, 64ull << 20, 2ull << 20};
	for (size_t c : chunks) {
		void *p = NULL;
		while (cudaMalloc(&p, c) == cudaSuccess) {
			held.push_back(p);
			bytes += c;
		}
		cudaGetLastError();
	}
	check(bytes <= limit, "never more than the quota", bytes, limit);
	check(bytes + (2ull << 20) > limit, "allocates up to the quota", bytes, limit);
	void *p = NULL;
	cudaError_t e = cudaMalloc(&p, 64ull << 20);
	check(e == cudaErrorMemoryAllocation, "fails beyond it", e, cudaErrorMemoryAllocation);
	cudaGetLastError();
	cudaMemGetInfo(&f, &t);
	check(f < (2ull << 20), "free is what is left", f, 0);

	void *fn = NULL;
#if CUDART_VERSION >= 12000
	cudaDriverEntryPointQueryResult q;
	cudaGetDriverEntryPoint("cuMemAlloc", &fn, cudaEnableDefault, &q);
#else
	cudaGetDriverEntryPoint("cuMemAlloc", &fn, cudaEnableDefault);
#endif
	CUdeviceptr dp = 0;
	CUresult r = fn ? ((CUresult(*)(CUdeviceptr *, size_t))fn)(&dp, 4ull << 20) : CUDA_ERROR_NOT_FOUND;
	check(r == CUDA_ERROR_OUT_OF_MEMORY, "quota holds through cudaGetDriverEntryPoint", r,
	      CUDA_ERROR_OUT_OF_MEMORY);

	for (void *h : held)
		cudaFree(h);
	cudaMemGetInfo(&f, &t);
	check(f == limit || f + (512ull << 20) > limit, "freeing gives it back", f, limit);
	return fails ? 1 : 0;
}
