/*
 * test_uuid.c — MIG device UUIDs: the format (version 5, RFC 4122 variant),
 * determinism, a pinned value (UUIDs must not change between vmig versions,
 * since users and schedulers keep them), no collisions over many inputs, and
 * a spread of bits that shows the hash mixes its whole input.
 */
#include <ctype.h>
#include <stdint.h>

#include "harness.h"
#include "vmig/vmig.h"

static const char *gpu0 = "GPU-5b0c4f3e-2a1d-4e6f-8a9b-0c1d2e3f4a5b";

static int valid_mig_uuid(const char *u)
{
	if (strlen(u) != 40 || strncmp(u, "MIG-", 4) != 0)
		return 0;
	for (int i = 4; i < 40; i++) {
		int dash = i == 12 || i == 17 || i == 22 || i == 27;
		if (dash ? u[i] != '-'
			 : !(isdigit((unsigned char)u[i]) || (u[i] >= 'a' && u[i] <= 'f')))
			return 0;
	}
	return u[18] == '5' && strchr("89ab", u[23]) != NULL;
}

TEST(format_is_version_5)
{
	char u[VMIG_UUID_LEN];
	for (unsigned gi = 0; gi < 15; gi++)
		for (unsigned ci = 0; ci < 8; ci++) {
			memset(u, 'x', sizeof(u));
			vmig_mig_uuid(gpu0, gi, ci, u);
			if (!valid_mig_uuid(u))
				HARNESS_FAIL("bad MIG UUID for %u/%u: %s", gi, ci, u);
		}
	vmig_mig_uuid(NULL, 0, 0, u);
	CHECK(valid_mig_uuid(u));
}

TEST(deterministic_and_pinned)
{
	char a[VMIG_UUID_LEN], b[VMIG_UUID_LEN], c[VMIG_UUID_LEN];
	vmig_mig_uuid(gpu0, 1, 0, a);
	vmig_mig_uuid(gpu0, 1, 0, b);
	CHECK_STR(a, b);
	vmig_mig_uuid(NULL, 3, 1, b);
	vmig_mig_uuid("", 3, 1, c);
	CHECK_STR(b, c); /* NULL is the empty GPU UUID */
	/* The values vmig has always given; a change here renames every device. */
	vmig_mig_uuid(gpu0, 1, 0, a);
	CHECK_STR(a, "MIG-7c986fb3-f686-52d5-8a7f-03661d623ffb");
	vmig_mig_uuid("GPU-00000000-0000-0000-0000-000000000000", 13, 2, a);
	CHECK_STR(a, "MIG-e97d03a6-dcb5-57de-b725-ed5cbb4a718b");
}

/* Inputs of one family: GPU UUIDs that differ in one hex digit. */
static void gpu_uuid_n(unsigned n, char out[VMIG_UUID_LEN])
{
	snprintf(out, VMIG_UUID_LEN, "GPU-%08x-0000-4000-8000-%012x", n % 7, n);
}

static int cmp_uuid(const void *a, const void *b)
{
	return memcmp(a, b, VMIG_UUID_LEN);
}

TEST(no_collisions)
{
	/* 256 GPUs x 16 GIs x 8 CIs = 32768 UUIDs, plus near-identical GPU UUIDs. */
	enum { NGPU = 256, NGI = 16, NCI = 8, N = NGPU * NGI * NCI + 64 };
	char(*all)[VMIG_UUID_LEN] = calloc(N, VMIG_UUID_LEN);
	CHECK(all != NULL);
	if (!all)
		return;
	size_t k = 0;
	char gpu[VMIG_UUID_LEN];
	for (unsigned n = 0; n < NGPU; n++) {
		gpu_uuid_n(n, gpu);
		for (unsigned gi = 0; gi < NGI; gi++)
			for (unsigned ci = 0; ci < NCI; ci++)
				vmig_mig_uuid(gpu, gi, ci, all[k++]);
	}
	/* Swapped IDs and IDs that only differ in high bits must differ too. */
	for (unsigned i = 0; i < 32; i++) {
		vmig_mig_uuid(gpu0, i << 16, 0, all[k++]);
		vmig_mig_uuid(gpu0, 0, (i << 16) | 1u << 31, all[k++]);
	}
	qsort(all, k, VMIG_UUID_LEN, cmp_uuid);
	unsigned dups = 0;
	for (size_t i = 1; i < k; i++)
		dups += memcmp(all[i - 1], all[i], VMIG_UUID_LEN) == 0;
	CHECK_EQ_U(dups, 0);
	free(all);
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* The 128 bits of a MIG UUID string. */
static void uuid_bits(const char *u, unsigned char bits[128])
{
	unsigned b = 0;
	for (int i = 4; i < 40; i++) {
		if (u[i] == '-')
			continue;
		int v = hexval(u[i]);
		for (int j = 3; j >= 0; j--)
			bits[b++] = (unsigned char)((v >> j) & 1);
	}
}

/* Bits 48-51 (version) and 64-65 (variant) are fixed; the others vary. */
static int fixed_bit(unsigned i)
{
	return (i >= 48 && i < 52) || i == 64 || i == 65;
}

TEST(bits_are_spread)
{
	enum { N = 4096 };
	static unsigned ones[128];
	unsigned long flips = 0;
	char u[VMIG_UUID_LEN], v[VMIG_UUID_LEN], gpu[VMIG_UUID_LEN];
	unsigned char bu[128], bv[128];

	for (unsigned n = 0; n < N; n++) {
		gpu_uuid_n(n / 32, gpu);
		vmig_mig_uuid(gpu, n % 16, (n / 16) % 2, u);
		/* The same input with the CI ID one bit different. */
		vmig_mig_uuid(gpu, n % 16, ((n / 16) % 2) ^ 4u, v);
		uuid_bits(u, bu);
		uuid_bits(v, bv);
		for (unsigned i = 0; i < 128; i++) {
			ones[i] += bu[i];
			flips += bu[i] != bv[i];
		}
	}
	/* Each free bit is set in about half the UUIDs (fixed inputs: no flakiness). */
	for (unsigned i = 0; i < 128; i++)
		if (!fixed_bit(i) && (ones[i] < N * 45 / 100 || ones[i] > N * 55 / 100))
			HARNESS_FAIL("bit %u set in %u of %u UUIDs", i, ones[i], N);
	/* Changing one input bit changes about half of the 122 free bits. */
	double avg = (double)flips / N;
	if (avg < 55 || avg > 67)
		HARNESS_FAIL("one input bit flips %.1f output bits on average", avg);
}

int main(void)
{
	RUN(format_is_version_5);
	RUN(deterministic_and_pinned);
	RUN(no_collisions);
	RUN(bits_are_spread);
	return harness_done();
}
