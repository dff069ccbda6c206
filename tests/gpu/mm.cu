// mm.cu — matrix multiplies for a fixed time; prints "iters N".  Two of
// these in two soft instances at 30 % and 70 % should complete work in
// that ratio.  Usage: mm <seconds>.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 2048
#define T 16

__global__ void mm(const float *a, const float *b, float *c)
{
	__shared__ float sa[T][T], sb[T][T];
	int row = blockIdx.y * T + threadIdx.y, col = blockIdx.x * T + threadIdx.x;
	float acc = 0;
	for (int k = 0; k < N; k += T) {
		sa[threadIdx.y][threadIdx.x] = a[row * N + k + threadIdx.x];
		sb[threadIdx.y][threadIdx.x] = b[(k + threadIdx.y) * N + col];
		__syncthreads();
		for (int i = 0; i < T; i++)
			acc += sa[threadIdx.y][i] * sb[i][threadIdx.x];
		__syncthreads();
	}
	c[row * N + col] = acc;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	float *a, *b, *c;
	cudaMalloc(&a, sizeof(float) * N * N);
	cudaMalloc(&b, sizeof(float) * N * N);
	cudaMalloc(&c, sizeof(float) * N * N);
	cudaMemset(a, 0, sizeof(float) * N * N);
	cudaMemset(b, 0, sizeof(float) * N * N);
	dim3 grid(N / T, N / T), block(T, T);
	long iters = 0;
	double t0 = now();
	while (now() - t0 < secs) {
		for (int i = 0; i < 8; i++)
			mm<<<grid, block>>>(a, b, c);
		iters += 8;
		cudaStreamSynchronize(0);
	}
	if (cudaGetLastError() != cudaSuccess)
		return 1;
	printf("iters %ld\n", iters);
	return 0;
}
