/*
 * catalogue.c — the GPU catalogue: every GPU model vmig knows, with its MIG
 * geometry, as one data table, and the lookups over it.
 *
 * The table is docs/geometry.md (the MIG facts, model by model) as data;
 * docs/catalogue.md gives the source of every number and the rule behind
 * each one that was derived rather than observed (those carry
 * VMIG_PF_DERIVED on the profile or VMIG_MF_DERIVED on the model).  GI
 * profiles are listed in `nvidia-smi mig -lgip` row order, CI profiles in
 * `-lcip` order.  CI profile rows are written through the CIS_G* macros,
 * which apply the CI rules of docs/geometry.md (which (C, G) combinations
 * exist, instances = G / C, aligned starts) so that the rules live in one
 * place.
 */
#include <stddef.h>
#include <strings.h>

#include "internal.h"

/* NVML_GPU_INSTANCE_PROFILE_* index constants (docs/geometry.md, "Index constants"). */
enum {
	GIX_1 = 0x0,
	GIX_2 = 0x1,
	GIX_3 = 0x2,
	GIX_4 = 0x3,
	GIX_7 = 0x4,
	GIX_1_REV1 = 0x7,
	GIX_2_REV1 = 0x8,
	GIX_1_REV2 = 0x9,
	GIX_1_GFX = 0xA,
	GIX_2_GFX = 0xB,
	GIX_4_GFX = 0xC,
	GIX_1_NO_ME = 0xD,
	GIX_2_NO_ME = 0xE,
	GIX_1_ALL_ME = 0xF,
	GIX_2_ALL_ME = 0x10,
};

/*
 * The table is laid out by hand, one profile per row; clang-format would
 * scatter the rows, so it is told to leave them alone.
 */
/* clang-format off */

/* Shorter flag names for the rows below. */
#define DER VMIG_PF_DERIVED
#define ME VMIG_PF_ME
#define MEALL VMIG_PF_ME_ALL
#define NOME VMIG_PF_NO_ME
#define GFX VMIG_PF_GFX

/* A list of placement starts, with its count. */
#define STARTS(...)                                                                \
	.nstarts = sizeof((unsigned[]){__VA_ARGS__}) / sizeof(unsigned),           \
	.starts = { __VA_ARGS__ }

/* One CI profile row. */
#define CI(id_, c_, inst_, sm_, flags_, ...)                                       \
	{                                                                          \
		.id = (id_), .slices = (c_), .instances = (inst_), .sm = (sm_),    \
		.flags = (flags_), STARTS(__VA_ARGS__)                             \
	}
/* A CI profile row whose placement is w units wide over c slices. */
#define CI_W(id_, c_, w_, inst_, sm_, flags_, ...)                                 \
	{                                                                          \
		.id = (id_), .slices = (c_), .instances = (inst_), .sm = (sm_),    \
		.flags = (flags_), STARTS(__VA_ARGS__), .size = (w_)               \
	}

/*
 * SMs of a C-slice CI in a G-slice GI with gsm SMs where no -lcip output was
 * captured: the GI's SMs shared evenly, rounded down to an even number
 * (SMs come in pairs, TPCs).
 */
#define CI_SM(gsm, c, g) ((((gsm) * (c)) / (g)) & ~1u)

/*
 * The CI profiles of a G-slice GI with gsm SMs.  f is 0 where a real -lcip
 * shows the SM counts (docs/geometry.md, "Observed CI profiles"; they equal
 * CI_SM for every observed A100 row), DER
 * where they follow from CI_SM.  The whole-GI CI takes the GI's SMs and is
 * never derived.  Starts: aligned to the smallest power of two >= C, with
 * start + C <= G.
 */
#define CIS_G1(gsm, f) CI(0, 1, 1, (gsm), 0, 0)
#define CIS_G2(gsm, f) CI(0, 1, 2, CI_SM(gsm, 1, 2), (f), 0, 1), CI(1, 2, 1, (gsm), 0, 0)
/*
 * The 3g GI's CIs (docs/placement.md, section 6).  Ampere: the CI space is
 * the 3 compute slices and a CI may start at any slice where it fits, so a
 * 2c starts at 0 or 1 and the whole CI is 0:3.  Hopper and later (R570+):
 * the CI space is 4 units wide, like the GI's 4 memory slices; 1c at 0, 1,
 * 2, a 2c at an even start, the whole CI 0:4, and the 3 slices are a budget
 * the placement engine checks apart from overlaps.
 */
#define CIS_G3(gsm, f)                                                             \
	CI(0, 1, 3, CI_SM(gsm, 1, 3), (f), 0, 1, 2), CI(1, 2, 1, CI_SM(gsm, 2, 3), (f), 0, 1), \
		CI(2, 3, 1, (gsm), 0, 0)
#define CIS_G3_WIDE(gsm, f)                                                        \
	CI(0, 1, 3, CI_SM(gsm, 1, 3), (f), 0, 1, 2), CI(1, 2, 1, CI_SM(gsm, 2, 3), (f), 0, 2), \
		CI_W(2, 3, 4, 1, (gsm), 0, 0)
#define CIS_G4(gsm, f)                                                             \
	CI(0, 1, 4, CI_SM(gsm, 1, 4), (f), 0, 1, 2, 3),                            \
		CI(1, 2, 2, CI_SM(gsm, 2, 4), (f), 0, 2), CI(3, 4, 1, (gsm), 0, 0)
#define CIS_G7(gsm, f)                                                             \
	CI(0, 1, 7, CI_SM(gsm, 1, 7), (f), 0, 1, 2, 3, 4, 5, 6),                   \
		CI(1, 2, 3, CI_SM(gsm, 2, 7), (f), 0, 2, 4),                       \
		CI(2, 3, 2, CI_SM(gsm, 3, 7), (f), 0, 4),                          \
		CI(3, 4, 1, CI_SM(gsm, 4, 7), (f), 0), CI(4, 7, 1, (gsm), 0, 0)
/*
 * Hopper 2g GIs also offer NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1
 * ("1c.2g.20gb" ID 7 on H100: one instance with the SMs of the 1g REV2 GI);
 * the H100's real -lcip lists it between the 1c and the whole-GI rows
 * (docs/geometry.md, "Hopper's REV1 CI").
 */
#define CIS_G2_HOPPER(gsm, rev1_sm, f, frev1)                                      \
	CI(0, 1, 2, CI_SM(gsm, 1, 2), (f), 0, 1),                                  \
		CI(7, 1, 1, (rev1_sm), VMIG_PF_REV1 | (frev1), 0, 1),              \
		CI(1, 2, 1, (gsm), 0, 0)

#define CIS(...)                                                                   \
	.nci = sizeof((const struct vmig_ci_profile[]){__VA_ARGS__}) /             \
	       sizeof(struct vmig_ci_profile),                                     \
	.ci = (const struct vmig_ci_profile[]){ __VA_ARGS__ }

/*
 * One GI profile row, columns in -lgip order: SM DEC ENC, CE JPEG OFA.
 * starts is a STARTS(...) and cis a CIS(...).
 */
#define GI(id_, idx_, name_, g_, size_, inst_, mib_, sm_, dec_, enc_, ce_, jpeg_,  \
	   ofa_, flags_, starts_, cis_)                                            \
	{                                                                          \
		.id = (id_), .index = (idx_), .name = (name_), .slices = (g_),     \
		.size = (size_), .instances = (inst_), .mem_mib = (mib_),          \
		.sm = (sm_), .ce = (ce_), .dec = (dec_), .enc = (enc_),            \
		.jpeg = (jpeg_), .ofa = (ofa_), .flags = (flags_), starts_, cis_   \
	}

#define GIS(...)                                                                   \
	.ngi = sizeof((const struct vmig_gi_profile[]){__VA_ARGS__}) /             \
	       sizeof(struct vmig_gi_profile),                                     \
	.gi = (const struct vmig_gi_profile[]){ __VA_ARGS__ }

#define S_1OF8 STARTS(0, 1, 2, 3, 4, 5, 6)
#define S_2OF8 STARTS(0, 2, 4, 6)
#define S_2GOF8 STARTS(0, 2, 4)
#define S_4OF8 STARTS(0, 4)
#define S_FIRST STARTS(0)

/*
 * The seven profiles of an 8-memory-slice Hopper or Blackwell part, in -lgip
 * order.  Arguments: names, memory (1g, 1g REV2 = 2g, 3g = 4g, 7g), SMs (1g,
 * 1g REV2, 2g, 3g, 4g, 7g), per-part CE of 1g, flags for the rows that hold
 * derived numbers, and the CI list of the 2g GI.
 */
#define GIS_8SLICE(n1, n1me, n1r2, n2, n3, n4, n7, m1, m2, m4, m7, s1, s1r2, s2, s3, \
		   s4, s7, ce1, ce2, ce3, ce4, ce7, f3, f4, f7, fci, cis2)            \
	GI(19, GIX_1, n1, 1, 1, 7, m1, s1, 1, 0, ce1, 1, 0, 0, S_1OF8, CIS(CIS_G1(s1, 0))), \
		GI(20, GIX_1_REV1, n1me, 1, 1, 1, m1, s1, 1, 0, ce1, 1, 1, ME, S_1OF8, \
		   CIS(CIS_G1(s1, 0))),                                                \
		GI(15, GIX_1_REV2, n1r2, 1, 2, 4, m2, s1r2, 1, 0, ce1, 1, 0, 0, S_2OF8, \
		   CIS(CIS_G1(s1r2, 0))),                                              \
		GI(14, GIX_2, n2, 2, 2, 3, m2, s2, 2, 0, ce2, 2, 0, 0, S_2GOF8, CIS(cis2)), \
		GI(9, GIX_3, n3, 3, 4, 2, m4, s3, 3, 0, ce3, 3, 0, f3, S_4OF8,          \
		   CIS(CIS_G3_WIDE(s3, fci))),                                         \
		GI(5, GIX_4, n4, 4, 4, 1, m4, s4, 4, 0, ce4, 4, 0, f4, S_FIRST,         \
		   CIS(CIS_G4(s4, fci))),                                              \
		GI(0, GIX_7, n7, 7, 8, 1, m7, s7, 7, 0, ce7, 7, 1, f7, STARTS(0),       \
		   CIS(CIS_G7(s7, fci)))

/*
 * The two Ampere 8-slice parts (A100 40GB and 80GB) share SMs and engines;
 * only names and memory differ.  fci marks the CI SMs of the 2g and 7g GIs
 * that were not captured, fci34 those of the 3g and 4g GIs.
 */
#define GIS_A100(n1, n1me, n1r2, n2, n3, n4, n7, m1, m2, m4, m7, fci, fci34)        \
	GI(19, GIX_1, n1, 1, 1, 7, m1, 14, 0, 0, 1, 0, 0, 0, S_1OF8, CIS(CIS_G1(14, 0))), \
		GI(20, GIX_1_REV1, n1me, 1, 1, 1, m1, 14, 1, 0, 1, 1, 1, ME, S_1OF8,  \
		   CIS(CIS_G1(14, 0))),                                                \
		GI(15, GIX_1_REV2, n1r2, 1, 2, 4, m2, 14, 1, 0, 1, 0, 0, 0, S_2OF8,    \
		   CIS(CIS_G1(14, 0))),                                                \
		GI(14, GIX_2, n2, 2, 2, 3, m2, 28, 1, 0, 2, 0, 0, 0, S_2GOF8,          \
		   CIS(CIS_G2(28, fci))),                                              \
		GI(9, GIX_3, n3, 3, 4, 2, m4, 42, 2, 0, 3, 0, 0, 0, S_4OF8,            \
		   CIS(CIS_G3(42, fci34))),                                            \
		GI(5, GIX_4, n4, 4, 4, 1, m4, 56, 2, 0, 4, 0, 0, 0, S_FIRST,           \
		   CIS(CIS_G4(56, fci34))),                                            \
		GI(0, GIX_7, n7, 7, 8, 1, m7, 98, 5, 0, 7, 1, 1, 0, STARTS(0),         \
		   CIS(CIS_G7(98, fci)))

#define MIG_AMPERE (VMIG_MF_MIG | VMIG_MF_MODE_NEEDS_RESET)

static const struct vmig_model catalogue[] = {
	{
		.key = "a100-40gb",
		.name = "NVIDIA A100-SXM4-40GB",
		.pci_device_id = 0x20B010DE,
		.mem_mib = 40960,
		.sm = 108,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_AMPERE, .cc_major = 8, .cc_minor = 0,
		.flags = MIG_AMPERE,
		GIS(GIS_A100("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb",
			     "4g.20gb", "7g.40gb", 4864, 9984, 20096, 40320, 0, 0)),
	},
	{
		.key = "a100-80gb",
		.name = "NVIDIA A100-SXM4-80GB",
		.pci_device_id = 0x20B210DE,
		.mem_mib = 81920,
		.sm = 108,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_AMPERE, .cc_major = 8, .cc_minor = 0,
		.flags = MIG_AMPERE,
		GIS(GIS_A100("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb",
			     "4g.40gb", "7g.80gb", 9728, 19968, 40192, 80896, DER, 0)),
	},
	{
		.key = "a30",
		.name = "NVIDIA A30",
		.pci_device_id = 0x20B710DE,
		.mem_mib = 24576,
		.sm = 56,
		.compute_slices = 4, .mem_slices = 4, .units = 4,
		.arch = VMIG_ARCH_AMPERE, .cc_major = 8, .cc_minor = 0,
		.flags = MIG_AMPERE,
		GIS(GI(14, GIX_1, "1g.6gb", 1, 1, 4, 5952, 14, 1, 0, 1, 0, 0, 0,
		       STARTS(0, 1, 2, 3), CIS(CIS_G1(14, 0))),
		    GI(21, GIX_1_REV1, "1g.6gb+me", 1, 1, 1, 5952, 14, 1, 0, 1, 1, 1, ME,
		       STARTS(0, 1, 2, 3), CIS(CIS_G1(14, 0))),
		    GI(5, GIX_2, "2g.12gb", 2, 2, 2, 11968, 28, 2, 0, 2, 0, 0, 0,
		       STARTS(0, 2), CIS(CIS_G2(28, 0))),
		    GI(6, GIX_2_REV1, "2g.12gb+me", 2, 2, 1, 11968, 28, 2, 0, 2, 1, 1, ME,
		       STARTS(0, 2), CIS(CIS_G2(28, DER))),
		    GI(0, GIX_4, "4g.24gb", 4, 4, 1, 24000, 56, 4, 0, 4, 1, 1, 0,
		       STARTS(0), CIS(CIS_G4(56, DER)))),
	},
	{
		.key = "h100-80gb",
		.name = "NVIDIA H100 80GB HBM3",
		.pci_device_id = 0x233010DE,
		.mem_mib = 81559,
		.sm = 132,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_HOPPER, .cc_major = 9, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb",
			       "4g.40gb", "7g.80gb", 9984, 20096, 40448, 81152,
			       16, 26, 32, 60, 64, 132, 1, 2, 3, 4, 8, 0, 0, 0, DER,
			       CIS_G2_HOPPER(32, 26, 0, 0))),
	},
	{
		/* Every GI number observed; only the C < G CI SMs are derived. */
		.key = "h100-nvl",
		.name = "NVIDIA H100 NVL",
		.pci_device_id = 0x232110DE,
		.mem_mib = 95830,
		.sm = 132,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_HOPPER, .cc_major = 9, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb",
			       "4g.47gb", "7g.94gb", 11008, 22144, 47488, 95360,
			       16, 26, 32, 60, 64, 132, 1, 2, 3, 4, 8, 0, 0, 0, DER,
			       CIS_G2_HOPPER(32, 26, DER, DER))),
	},
	{
		.key = "h200",
		.name = "NVIDIA H200",
		.pci_device_id = 0x233510DE,
		.mem_mib = 143771,
		.sm = 132,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_HOPPER, .cc_major = 9, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb",
			       "4g.71gb", "7g.141gb", 16384, 33280, 71168, 143104,
			       16, 26, 32, 60, 64, 132, 1, 2, 3, 4, 8, 0, 0, 0, DER,
			       CIS_G2_HOPPER(32, 26, DER, DER))),
	},
	{
		/* 3g/4g/7g memory and SMs derived (docs/catalogue.md). */
		.key = "gh200-144gb",
		.name = "NVIDIA GH200 144G HBM3e",
		.pci_device_id = 0x234810DE,
		.mem_mib = 146831,
		.sm = 132,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_HOPPER, .cc_major = 9, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.18gb", "1g.18gb+me", "1g.36gb", "2g.36gb", "3g.72gb",
			       "4g.72gb", "7g.144gb", 17920, 36096, 72704, 146048,
			       16, 26, 32, 60, 64, 132, 1, 2, 3, 4, 8, DER, DER, DER, DER,
			       CIS_G2_HOPPER(32, 26, DER, DER))),
	},
	{
		/* 3g/4g/7g numbers derived (docs/catalogue.md). */
		.key = "b200",
		.name = "NVIDIA B200",
		.pci_device_id = 0x290110DE,
		.mem_mib = 183359,
		.sm = 148,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_BLACKWELL, .cc_major = 10, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb",
			       "4g.90gb", "7g.180gb", 20992, 45312, 90880, 182400,
			       18, 30, 36, 66, 72, 148, 2, 4, 6, 8, 16, DER, DER, DER, DER,
			       CIS_G2(36, DER))),
	},
	{
		/* 3g/4g/7g numbers derived (docs/catalogue.md). */
		.key = "gb200",
		.name = "NVIDIA GB200",
		.pci_device_id = 0x294110DE,
		.mem_mib = 189471,
		.sm = 152,
		.compute_slices = 7, .mem_slices = 8, .units = 8,
		.arch = VMIG_ARCH_BLACKWELL, .cc_major = 10, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GIS_8SLICE("1g.23gb", "1g.23gb+me", "1g.47gb", "2g.47gb", "3g.93gb",
			       "4g.93gb", "7g.186gb", 22528, 46592, 93952, 188416,
			       18, 32, 38, 70, 76, 152, 2, 4, 6, 8, 16, DER, DER, DER, DER,
			       CIS_G2(38, DER))),
	},
	{
		/* A 12-unit placement grid: 1g = 3 units, 2g = 6, 4g = 12. */
		.key = "rtx-pro-6000",
		.name = "NVIDIA RTX PRO 6000 Blackwell Server Edition",
		.pci_device_id = 0x2BB510DE,
		.mem_mib = 97887,
		.sm = 188,
		.compute_slices = 4, .mem_slices = 4, .units = 12,
		.arch = VMIG_ARCH_BLACKWELL, .cc_major = 12, .cc_minor = 0,
		.flags = VMIG_MF_MIG,
		GIS(GI(14, GIX_1, "1g.24gb", 1, 3, 4, 24192, 46, 1, 1, 1, 1, 0, 0,
		       STARTS(0, 3, 6, 9), CIS(CIS_G1(46, 0))),
		    GI(21, GIX_1_REV1, "1g.24gb+me", 1, 3, 1, 24192, 46, 1, 1, 1, 1, 1, ME,
		       STARTS(0, 3, 6, 9), CIS(CIS_G1(46, 0))),
		    GI(47, GIX_1_GFX, "1g.24gb+gfx", 1, 3, 4, 24192, 46, 1, 1, 1, 1, 0, GFX,
		       STARTS(0, 3, 6, 9), CIS(CIS_G1(46, 0))),
		    GI(65, GIX_1_ALL_ME, "1g.24gb+me.all", 1, 3, 1, 24192, 46, 4, 4, 1, 4, 1,
		       MEALL, STARTS(0, 3, 6, 9), CIS(CIS_G1(46, 0))),
		    GI(67, GIX_1_NO_ME, "1g.24gb-me", 1, 3, 4, 24192, 46, 0, 0, 1, 0, 0, NOME,
		       STARTS(0, 3, 6, 9), CIS(CIS_G1(46, 0))),
		    GI(5, GIX_2, "2g.48gb", 2, 6, 2, 48512, 94, 2, 2, 2, 2, 0, 0,
		       STARTS(0, 6), CIS(CIS_G2(94, DER))),
		    GI(35, GIX_2_GFX, "2g.48gb+gfx", 2, 6, 2, 48512, 94, 2, 2, 2, 2, 0, GFX,
		       STARTS(0, 6), CIS(CIS_G2(94, DER))),
		    GI(64, GIX_2_ALL_ME, "2g.48gb+me.all", 2, 6, 1, 48512, 94, 4, 4, 2, 4, 1,
		       MEALL, STARTS(0, 6), CIS(CIS_G2(94, DER))),
		    GI(66, GIX_2_NO_ME, "2g.48gb-me", 2, 6, 2, 48512, 94, 0, 0, 2, 0, 0, NOME,
		       STARTS(0, 6), CIS(CIS_G2(94, DER))),
		    GI(0, GIX_4, "4g.96gb", 4, 12, 1, 97408, 188, 4, 4, 4, 4, 1, 0,
		       STARTS(0), CIS(CIS_G4(188, DER))),
		    GI(32, GIX_4_GFX, "4g.96gb+gfx", 4, 12, 1, 97408, 188, 4, 4, 4, 4, 1, GFX,
		       STARTS(0), CIS(CIS_G4(188, DER)))),
	},
	/*
	 * GPUs without MIG: the soft backend partitions them in software.  Their
	 * PCI ids are public; memory is what nvidia-smi shows.
	 */
	{
		.key = "rtx-4090",
		.name = "NVIDIA GeForce RTX 4090",
		.pci_device_id = 0x268410DE,
		.mem_mib = 24564,
		.sm = 128,
		.arch = VMIG_ARCH_ADA, .cc_major = 8, .cc_minor = 9,
	},
	{
		.key = "l40s",
		.name = "NVIDIA L40S",
		.pci_device_id = 0x26B910DE,
		.mem_mib = 46068,
		.sm = 142,
		.arch = VMIG_ARCH_ADA, .cc_major = 8, .cc_minor = 9,
	},
	{
		.key = "a10",
		.name = "NVIDIA A10",
		.pci_device_id = 0x223610DE,
		.mem_mib = 23028,
		.sm = 72,
		.arch = VMIG_ARCH_AMPERE, .cc_major = 8, .cc_minor = 6,
	},
	{
		.key = "l4",
		.name = "NVIDIA L4",
		.pci_device_id = 0x27B810DE,
		.mem_mib = 23034,
		.sm = 58,
		.arch = VMIG_ARCH_ADA, .cc_major = 8, .cc_minor = 9,
	},
};

/* clang-format on */

size_t vmig_model_count(void)
{
	return VMIG_ARRAY_SIZE(catalogue);
}

const struct vmig_model *vmig_model_at(size_t i)
{
	return i < VMIG_ARRAY_SIZE(catalogue) ? &catalogue[i] : NULL;
}

const struct vmig_model *vmig_model_find(const char *key)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(catalogue); i++)
		if (strcasecmp(catalogue[i].key, key) == 0)
			return &catalogue[i];
	return NULL;
}

const struct vmig_model *vmig_model_by_pci(uint32_t pci_device_id)
{
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(catalogue); i++)
		if (catalogue[i].pci_device_id == pci_device_id)
			return &catalogue[i];
	return NULL;
}

const struct vmig_gi_profile *vmig_gi_profile_by_id(const struct vmig_model *m, unsigned id)
{
	if (!m)
		return NULL;
	for (unsigned i = 0; i < m->ngi; i++)
		if (m->gi[i].id == id)
			return &m->gi[i];
	return NULL;
}

const struct vmig_gi_profile *vmig_gi_profile_by_index(const struct vmig_model *m, unsigned index)
{
	if (!m)
		return NULL;
	for (unsigned i = 0; i < m->ngi; i++)
		if (m->gi[i].index == index)
			return &m->gi[i];
	return NULL;
}

const struct vmig_ci_profile *vmig_ci_profile_by_id(const struct vmig_gi_profile *gp, unsigned id)
{
	if (!gp)
		return NULL;
	for (unsigned i = 0; i < gp->nci; i++)
		if (gp->ci[i].id == id)
			return &gp->ci[i];
	return NULL;
}

unsigned vmig_ci_placement_size(const struct vmig_ci_profile *cp)
{
	return !cp ? 0 : cp->size ? cp->size : cp->slices;
}

unsigned vmig_ci_units(const struct vmig_gi_profile *gp)
{
	if (!gp)
		return 0;
	unsigned units = gp->slices;
	for (unsigned i = 0; i < gp->nci; i++) {
		const struct vmig_ci_profile *cp = &gp->ci[i];
		unsigned w = vmig_ci_placement_size(cp);
		for (unsigned k = 0; k < cp->nstarts && k < VMIG_MAX_STARTS; k++)
			if (cp->starts[k] + w > units)
				units = cp->starts[k] + w;
	}
	return units;
}

const struct vmig_ci_profile *vmig_ci_profile_default(const struct vmig_gi_profile *gp)
{
	if (!gp)
		return NULL;
	for (unsigned i = 0; i < gp->nci; i++)
		if (gp->ci[i].slices == gp->slices && !(gp->ci[i].flags & VMIG_PF_REV1))
			return &gp->ci[i];
	return NULL;
}
