/*
 * uuid.c — MIG device UUIDs.  A MIG device (a CI of a GI of a GPU) is named
 * "MIG-" followed by a name-based UUID (RFC 4122 version 5 layout, as the
 * driver's are) that vmig derives from the GPU's UUID and the two instance
 * IDs, so the same instance always gets the same UUID and no table of UUIDs
 * has to be kept.  The 128-bit hash is vmig's own (two 64-bit lanes, each
 * byte folded in by multiply and rotate, then a final avalanche); it needs no
 * cryptographic strength, only a spread that makes collisions between
 * different inputs practically impossible.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct hash128 {
	uint64_t a, b;
};

static uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* A bijective 64-bit mixer (xor-shift and odd multipliers). */
static uint64_t avalanche(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ull;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dull;
	x ^= x >> 33;
	return x;
}

static void hash_bytes(struct hash128 *h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h->a = rotl64((h->a ^ p[i]) * 0x9e3779b97f4a7c15ull, 29);
		h->b = rotl64((h->b + p[i] + 0x632be59bd9b4e019ull) * 0xc2b2ae3d27d4eb4full, 31) ^
		       h->a;
	}
}

static void hash_u32(struct hash128 *h, uint32_t v)
{
	unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24)};
	hash_bytes(h, le, sizeof(le));
}

/* Finish: each lane depends on both, so every input bit reaches all 128. */
static void hash_final(struct hash128 *h, uint64_t len, unsigned char out[16])
{
	uint64_t a = avalanche(h->a ^ len);
	uint64_t b = avalanche(h->b + a);
	a = avalanche(a + b);
	for (int i = 0; i < 8; i++) {
		out[i] = (unsigned char)(a >> (56 - 8 * i));
		out[8 + i] = (unsigned char)(b >> (56 - 8 * i));
	}
}

void vmig_mig_uuid(const char *gpu_uuid, unsigned gi_id, unsigned ci_id, char out[VMIG_UUID_LEN])
{
	/* The tag keeps these hashes apart from any other vmig might make. */
	static const char tag[] = "vmig MIG device";
	struct hash128 h = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull};
	unsigned char u[16];
	size_t n = gpu_uuid ? strlen(gpu_uuid) : 0;

	hash_bytes(&h, tag, sizeof(tag));
	/* Length first, so that no two (uuid, ids) inputs give the same bytes. */
	hash_u32(&h, (uint32_t)n);
	hash_bytes(&h, gpu_uuid ? gpu_uuid : "", n);
	hash_u32(&h, gi_id);
	hash_u32(&h, ci_id);
	hash_final(&h, sizeof(tag) + 12 + n, u);

	u[6] = (unsigned char)((u[6] & 0x0f) | 0x50); /* version 5 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, VMIG_UUID_LEN,
		 "MIG-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
}
