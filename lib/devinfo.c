/*
 * devinfo.c — the facts about a simulated GPU that both the vmig command
 * and the simulated libnvidia-ml.so.1 report, kept in one place so that the
 * two always agree (docs/layouts.md, "The default table"): the driver and
 * CUDA versions, the idle readings of each kind of board, device memory
 * (what the driver reserves) and BAR1, for a whole GPU and for a GPU
 * instance.  Pure functions over the catalogue; no state, no I/O.
 */
#include <string.h>

#include "internal.h"

/* ---- idle readings of each kind of board ---- */

static const struct vmig_board board_ampere = {
    400, 55, 100, 1410, 1593, 210, 1593, 4, 5120, 30, 92, 95, 88, 95, "92.00.45.00.06"};
static const struct vmig_board board_a30 = {
    165, 32, 100, 1440, 1215, 210, 1215, 4, 3072, 31, 92, 95, 88, 95, "92.00.6B.00.01"};
static const struct vmig_board board_hopper = {
    700, 72, 200, 1980, 2619, 345, 2619, 5, 5120, 32, 90, 92, 87, 95, "96.00.99.00.01"};
static const struct vmig_board board_blackwell = {
    1000, 140, 200, 1965, 3996, 345, 3996, 5, 8192, 33, 90, 92, 87, 95, "97.00.4B.00.01"};
static const struct vmig_board board_ada = {
    350, 30, 100, 2520, 9001, 210, 405, 4, 384, 35, 93, 96, 90, 95, "95.02.3C.00.01"};

const struct vmig_board *vmig_gpu_board(const struct vmig_model *m)
{
	if (strstr(m->key, "a30"))
		return &board_a30;
	switch (m->arch) {
	case VMIG_ARCH_AMPERE:
		return &board_ampere;
	case VMIG_ARCH_HOPPER:
		return &board_hopper;
	case VMIG_ARCH_BLACKWELL:
		return &board_blackwell;
	default:
		return &board_ada;
	}
}

/* GPUs of one node differ a little: the index spreads the idle readings. */
unsigned vmig_gpu_temp_c(const struct vmig_model *m, unsigned index)
{
	return vmig_gpu_board(m)->temp_idle + index % 3;
}

unsigned vmig_gpu_power_w(const struct vmig_model *m, unsigned index)
{
	return vmig_gpu_board(m)->idle_w + index % 4;
}

/* ---- device memory ---- */

/*
 * The driver keeps a little of every GPU and GPU instance for itself: one
 * MiB per 256, plus one.  Nothing else is allocated on a simulated GPU
 * unless processes say what they use.
 */
void vmig_gpu_memory(const struct vmig_model *m, const struct vmig_gi_profile *gp,
		     uint64_t allocated_mib, struct vmig_mem *ret)
{
	uint64_t total = gp ? gp->mem_mib : m->mem_mib;
	uint64_t reserved = total / 256 + 1;
	uint64_t used = reserved + allocated_mib;
	if (used > total)
		used = total;
	*ret = (struct vmig_mem){.total_mib = total,
				 .reserved_mib = reserved,
				 .used_mib = used,
				 .free_mib = total - used};
}

/* ---- BAR1 ---- */

/*
 * BAR1 of one memory slice of a GPU instance, in hundredths of a MiB, where
 * an R580 or newer driver was seen to report it (a GI of n memory slices
 * gets floor(n x this)): A100-SXM4-40GB on 580.126.09 (1g 3052, 2g 6105,
 * 4g 12211 MiB), B200 (1g 9875, 2g 19750), RTX PRO 6000 on 610.43.02
 * (1g.24gb 8317).
 */
static const struct {
	const char *key;
	uint64_t centi_mib;
} bar1_slice[] = {
    {"a100-40gb", 305275},
    {"b200", 987500},
    {"rtx-pro-6000", 831700},
};

/* The smallest power of two strictly above mib. */
static uint64_t pow2_above(uint64_t mib)
{
	uint64_t p = 1;
	while (p <= mib)
		p <<= 1;
	return p;
}

/*
 * A whole GPU's BAR1 spans the next power of two at or above its memory,
 * as on large-BAR boards, with one MiB mapped.  A GPU instance's is a
 * share of it by memory slices, at the per-slice figure seen where there
 * is one; elsewhere it is derived: a slice gets what drivers up to R570
 * gave a GI of one slice's memory (the smallest power of two above it,
 * less one MiB), and nothing is mapped.
 */
void vmig_bar1(const struct vmig_model *m, const struct vmig_gi_profile *gp, struct vmig_mem *ret)
{
	if (!gp) {
		uint64_t total = 1;
		while (total < m->mem_mib)
			total <<= 1;
		*ret = (struct vmig_mem){.total_mib = total, .used_mib = 1, .free_mib = total - 1};
		return;
	}
	unsigned units = m->units ? m->units : 1;
	uint64_t slices = (uint64_t)gp->size * (m->mem_slices ? m->mem_slices : units) / units;
	if (slices == 0)
		slices = 1;
	uint64_t total = 0;
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(bar1_slice); i++)
		if (strcmp(bar1_slice[i].key, m->key) == 0)
			total = slices * bar1_slice[i].centi_mib / 100;
	if (!total) {
		uint64_t slice_mib = m->mem_mib / (m->mem_slices ? m->mem_slices : 1);
		total = slices * (pow2_above(slice_mib) - 1);
	}
	*ret = (struct vmig_mem){.total_mib = total, .free_mib = total};
}
