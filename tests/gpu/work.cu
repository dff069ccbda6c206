// work.cu — the workloads of tests/gpu/share.sh, ordinary CUDA work only.
//
//   work mm WARMUP SECONDS        continuous 2048 x 2048 matrix multiplies on one stream
//   work streams4 WARMUP SECONDS  1024 x 1024 multiplies on four streams at once
//   work sync WARMUP SECONDS      a host-synchronising loop: one 1024 x 1024 multiply,
//                                 wait for it, 1 ms of host work
//   work launch N                 N empty kernels, launch-bound
//
// The timed kinds run WARMUP + SECONDS and print "iters N rate R" for the last SECONDS
// (iterations, iterations per second); launch prints "ns_per_launch X" (host time of the
// launch loop, divided by N).  Exit status 1 on any CUDA error.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T 16

__global__ void mm(const float *a, const float *b, float *c, int n)
{
	__shared__ float sa[T][T], sb[T][T];
	int row = blockIdx.y * T + threadIdx.y, col = blockIdx.x * T + threadIdx.x;
	float acc = 0;
	for (int k = 0; k < n; k += T) {
		sa[threadIdx.y][threadIdx.x] = a[row * n + k + threadIdx.x];
		sb[threadIdx.y][threadIdx.x] = b[(k + threadIdx.y) * n + col];
		__syncthreads();
		for (int i = 0; i < T; i++)
			acc += sa[threadIdx.y][i] * sb[i][threadIdx.x];
		__syncthreads();
	}
	c[row * n + col] = acc;
}

__global__ void empty(void)
{
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct mats {
	float *a, *b, *c;
	int n;
};

static int alloc(struct mats *m, int n)
{
	size_t bytes = sizeof(float) * n * n;
	m->n = n;
	if (cudaMalloc(&m->a, bytes) != cudaSuccess || cudaMalloc(&m->b, bytes) != cudaSuccess ||
	    cudaMalloc(&m->c, bytes) != cudaSuccess)
		return -1;
	cudaMemset(m->a, 0, bytes);
	cudaMemset(m->b, 0, bytes);
	return 0;
}

static void launch(const struct mats *m, cudaStream_t s)
{
	dim3 grid(m->n / T, m->n / T), block(T, T);
	mm<<<grid, block, 0, s>>>(m->a, m->b, m->c, m->n);
}

static int launch_bound(long n)
{
	empty<<<1, 1>>>();
	cudaDeviceSynchronize();
	double t0 = now();
	for (long i = 0; i < n; i++) {
		empty<<<1, 1>>>();
		if ((i & 1023) == 1023)
			cudaDeviceSynchronize(); /* keep the queue short: time launches, not waits */
	}
	double t1 = now();
	cudaDeviceSynchronize();
	printf("ns_per_launch %.1f\n", (t1 - t0) * 1e9 / n);
	return cudaGetLastError() == cudaSuccess ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: work mm|streams4|sync WARMUP SECONDS | work launch N\n");
		return 2;
	}
	const char *kind = argv[1];
	if (strcmp(kind, "launch") == 0)
		return launch_bound(atol(argv[2]));
	double warm = atof(argv[2]), secs = argc > 3 ? atof(argv[3]) : 10;
	int four = strcmp(kind, "streams4") == 0, sync = strcmp(kind, "sync") == 0;
	if (!four && !sync && strcmp(kind, "mm") != 0) {
		fprintf(stderr, "work: unknown kind %s\n", kind);
		return 2;
	}
	struct mats m[4];
	cudaStream_t s[4];
	int nm = four ? 4 : 1;
	for (int i = 0; i < nm; i++)
		if (alloc(&m[i], four || sync ? 1024 : 2048) < 0 ||
		    cudaStreamCreateWithFlags(&s[i], cudaStreamNonBlocking) != cudaSuccess) {
			fprintf(stderr, "work: cannot allocate\n");
			return 1;
		}
	long iters = 0, counted = 0;
	double t0 = now(), tw = t0 + warm;
	int measuring = warm <= 0;
	while (now() - t0 < warm + secs) {
		if (sync) {
			launch(&m[0], s[0]);
			cudaStreamSynchronize(s[0]);
			usleep(1000);
			iters++;
		} else {
			for (int k = 0; k < 16; k++)
				for (int i = 0; i < nm; i++)
					launch(&m[i], s[i]);
			for (int i = 0; i < nm; i++)
				cudaStreamSynchronize(s[i]);
			iters += 16;
		}
		if (!measuring && now() >= tw) {
			measuring = 1;
			counted = iters;
			tw = now();
		}
	}
	double span = now() - tw;
	cudaError_t e = cudaGetLastError();
	if (e != cudaSuccess) {
		fprintf(stderr, "work: %s\n", cudaGetErrorString(e));
		return 1;
	}
	printf("iters %ld rate %.2f\n", iters - counted, (iters - counted) / span);
	return 0;
}
