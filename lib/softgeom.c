/*
 * softgeom.c — the geometry of software partitions (docs/soft.md).
 *
 * A GPU partitioned in software keeps MIG's model: GPU instances of
 * profiles with slices, memory and SMs.  A GPU whose catalogue model has MIG
 * is partitioned with that model's own profiles.  Any other GPU (a catalogue
 * model without MIG, or a GPU the catalogue does not know, described only by
 * its SM count and memory) gets a geometry derived by one rule, A30-like:
 * four compute and four memory slices, GI profiles 1g/2g/4g with the A30's
 * IDs 14/5/0, memory per slice a quarter of the GPU rounded down to 128 MiB.
 *
 * Derived models are reachable by catalogue-style keys so that state files
 * can name them: "soft-<catalogue key>" for catalogue models without MIG and
 * "soft-<sm>sm-<mib>mib" for unknown GPUs.  They are synthesized on first
 * use into a bounded registry; an entry is immutable once published and
 * never freed, so the pointers handed out stay valid for the life of the
 * process, like catalogue pointers.  The file is divided into the
 * derivation rule, the registry, and the public lookups.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "limits_file.h"

#define SOFT_PREFIX	   "soft-"
#define SOFT_SLICES	   4
#define SOFT_MEM_ALIGN_MIB 128
#define SOFT_MIN_SM	   8 /* two SMs (one TPC) per slice at least */
#define SOFT_MAX_SM	   4096
#define SOFT_MIN_MIB	   2048	      /* 512 MiB per slice at least */
#define SOFT_MAX_MIB	   (1u << 24) /* 16 TiB */
#define SOFT_MAX_MODELS	   32	      /* distinct GPU geometries in one process */

/* NVML_GPU_INSTANCE_PROFILE_{1,2,4}_SLICE (docs/geometry.md, "Index constants"). */
enum { SOFT_GIX_1 = 0x0, SOFT_GIX_2 = 0x1, SOFT_GIX_4 = 0x3 };

/* One derived model with the storage its pointers refer to. */
struct soft_model {
	struct vmig_model m;
	struct vmig_gi_profile gi[3];
	struct vmig_ci_profile ci[6]; /* 1 + 2 + 3 CI profiles of the 1g, 2g and 4g GIs */
	char key[48];
	char name[96];
	char gi_name[3][24];
};

/* What the rule needs to know about a GPU. */
struct soft_hw {
	const char *name;
	uint32_t pci_device_id, pci_subsystem_id;
	unsigned sm, arch, cc_major, cc_minor;
	uint64_t mem_mib;
};

/* ------------------------------------------------------------------------ */
/* The derivation rule                                                       */
/* ------------------------------------------------------------------------ */

/* The catalogue's rule for CI SMs: the GI's share, rounded down to whole TPCs. */
static unsigned ci_sm(unsigned gsm, unsigned c, unsigned g)
{
	return ((gsm * c) / g) & ~1u;
}

static struct vmig_ci_profile ci_row(unsigned id, unsigned c, unsigned inst, unsigned sm,
				     unsigned flags, unsigned step)
{
	struct vmig_ci_profile cp = {
	    .id = id, .slices = c, .instances = inst, .sm = sm, .flags = flags};
	for (unsigned s = 0; s < inst; s++)
		cp.starts[cp.nstarts++] = s * step;
	return cp;
}

/*
 * CI profiles of a g-slice GI with gsm SMs, by the catalogue's rules
 * (docs/geometry.md, "Compute-instance profiles"): a C-slice CI for every
 * power of two C < g with g / C
 * instances at aligned starts, then the whole-GI CI.  IDs are the NVML CI
 * profile constants (1 slice = 0, 2 = 1, 4 = 3).
 */
static unsigned derive_cis(struct vmig_ci_profile *ci, unsigned g, unsigned gsm)
{
	static const unsigned ci_id[] = {0, 0, 1, 0, 3};
	unsigned n = 0;
	for (unsigned c = 1; c < g; c *= 2)
		ci[n++] = ci_row(ci_id[c], c, g / c, ci_sm(gsm, c, g), VMIG_PF_DERIVED, c);
	ci[n++] = ci_row(ci_id[g], g, 1, gsm, 0, 1);
	return n;
}

/* True when a GPU is big enough for the rule, and small enough for its arithmetic. */
static bool derivable(unsigned sm, uint64_t mem_mib)
{
	return sm >= SOFT_MIN_SM && sm <= SOFT_MAX_SM && mem_mib >= SOFT_MIN_MIB &&
	       mem_mib <= SOFT_MAX_MIB;
}

static void derive_gi(struct soft_model *s, unsigned i, unsigned g, unsigned id, unsigned index,
		      unsigned gsm, uint64_t mib, struct vmig_ci_profile *ci)
{
	struct vmig_gi_profile *gp = &s->gi[i];
	snprintf(s->gi_name[i], sizeof(s->gi_name[i]), "%ug.%ugb", g,
		 vmig_profile_mem_gb(mib, s->m.mem_mib));
	*gp = (struct vmig_gi_profile){
	    .id = id,
	    .index = index,
	    .name = s->gi_name[i],
	    .slices = g,
	    .size = g,
	    .instances = SOFT_SLICES / g,
	    .mem_mib = mib,
	    .sm = gsm,
	    .ce = g,
	    .flags = VMIG_PF_DERIVED,
	    .ci = ci,
	};
	for (unsigned s0 = 0; s0 < SOFT_SLICES; s0 += g)
		gp->starts[gp->nstarts++] = s0;
	gp->nci = derive_cis(ci, g, gsm);
}

/*
 * The rule (docs/soft.md): 4 compute and 4 memory slices on a 4-unit grid.
 * A slice is a quarter of the memory rounded down to a multiple of 128 MiB,
 * and a quarter of the SMs rounded down to whole TPCs (pairs of SMs); the
 * 4g profile takes every SM.  Media engines are not partitioned (0 each);
 * each slice brings one copy engine, as on A30.
 */
static void derive(struct soft_model *s, const struct soft_hw *hw, const char *key)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", key);
	snprintf(s->name, sizeof(s->name), "%s", hw->name);
	uint64_t slice = hw->mem_mib / SOFT_SLICES / SOFT_MEM_ALIGN_MIB * SOFT_MEM_ALIGN_MIB;
	unsigned per = (hw->sm / SOFT_SLICES) & ~1u;
	s->m = (struct vmig_model){
	    .key = s->key,
	    .name = s->name,
	    .pci_device_id = hw->pci_device_id,
	    .pci_subsystem_id = hw->pci_subsystem_id,
	    .mem_mib = hw->mem_mib,
	    .sm = hw->sm,
	    .compute_slices = SOFT_SLICES,
	    .mem_slices = SOFT_SLICES,
	    .units = SOFT_SLICES,
	    .arch = hw->arch,
	    .cc_major = hw->cc_major,
	    .cc_minor = hw->cc_minor,
	    .flags = VMIG_MF_MIG | VMIG_MF_DERIVED,
	    .ngi = 3,
	    .gi = s->gi,
	};
	/* -lgip order: smallest first, as the catalogue's A30 rows. */
	derive_gi(s, 0, 1, 14, SOFT_GIX_1, per, slice, &s->ci[0]);
	derive_gi(s, 1, 2, 5, SOFT_GIX_2, 2 * per, 2 * slice, &s->ci[1]);
	derive_gi(s, 2, 4, 0, SOFT_GIX_4, hw->sm, 4 * slice, &s->ci[3]);
}

/* ------------------------------------------------------------------------ */
/* The registry                                                              */
/* ------------------------------------------------------------------------ */

static struct soft_model registry[SOFT_MAX_MODELS];
static unsigned nregistry; /* entries [0, nregistry) are published; guarded by reg_mu */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static const struct vmig_model *registry_find_locked(const char *key)
{
	for (unsigned i = 0; i < nregistry; i++)
		if (strcasecmp(registry[i].key, key) == 0)
			return &registry[i].m;
	return NULL;
}

/*
 * The model of key, derived from hw when it is not registered yet.  NULL
 * when the registry is full.  The first description of a key wins (its name
 * is kept); later ones find it.
 */
static const struct vmig_model *registry_get(const char *key, const struct soft_hw *hw)
{
	pthread_mutex_lock(&reg_mu);
	const struct vmig_model *m = registry_find_locked(key);
	if (!m && nregistry < SOFT_MAX_MODELS) {
		derive(&registry[nregistry], hw, key);
		m = &registry[nregistry].m;
		nregistry++;
	}
	pthread_mutex_unlock(&reg_mu);
	return m;
}

static bool in_registry(const struct vmig_model *m)
{
	bool found = false;
	pthread_mutex_lock(&reg_mu);
	for (unsigned i = 0; i < nregistry && !found; i++)
		found = m == &registry[i].m;
	pthread_mutex_unlock(&reg_mu);
	return found;
}

/* ------------------------------------------------------------------------ */
/* Keys and lookups                                                          */
/* ------------------------------------------------------------------------ */

/* "<sm>sm-<mib>mib" (case-insensitive units), the key tail of an unknown GPU. */
static bool parse_geometry_key(const char *s, unsigned *ret_sm, unsigned *ret_mib)
{
	unsigned sm, mib;
	if (!vmig__read_dec(&s, SOFT_MAX_SM, &sm) || strncasecmp(s, "sm-", 3) != 0)
		return false;
	s += 3;
	if (!vmig__read_dec(&s, SOFT_MAX_MIB, &mib) || strcasecmp(s, "mib") != 0)
		return false;
	if (!derivable(sm, mib))
		return false;
	*ret_sm = sm;
	*ret_mib = mib;
	return true;
}

static struct soft_hw hw_of(const struct vmig_model *m)
{
	return (struct soft_hw){
	    .name = m->name ? m->name : "",
	    .pci_device_id = m->pci_device_id,
	    .pci_subsystem_id = m->pci_subsystem_id,
	    .sm = m->sm,
	    .arch = m->arch,
	    .cc_major = m->cc_major,
	    .cc_minor = m->cc_minor,
	    .mem_mib = m->mem_mib,
	};
}

/* The derived model of a key with the "soft-" prefix; NULL if it names none. */
static const struct vmig_model *resolve_soft_key(const char *tail)
{
	const struct vmig_model *base = vmig_model_find(tail);
	char key[48], name[96];
	if (base) {
		/* MIG models partition with their own profiles: no second key for them. */
		if ((base->flags & VMIG_MF_MIG) || !derivable(base->sm, base->mem_mib))
			return NULL;
		struct soft_hw hw = hw_of(base);
		snprintf(key, sizeof(key), SOFT_PREFIX "%s", base->key);
		return registry_get(key, &hw);
	}
	unsigned sm, mib;
	if (!parse_geometry_key(tail, &sm, &mib))
		return NULL;
	/* Known only by its key: the name says what it is until a device names it. */
	snprintf(name, sizeof(name), "GPU (%u SMs, %u MiB)", sm, mib);
	snprintf(key, sizeof(key), SOFT_PREFIX "%usm-%umib", sm, mib);
	struct soft_hw hw = {.name = name, .sm = sm, .mem_mib = mib};
	return registry_get(key, &hw);
}

const struct vmig_model *vmig_model_resolve(const char *key)
{
	if (!key)
		return NULL;
	const struct vmig_model *m = vmig_model_find(key);
	if (m)
		return m;
	if (strncasecmp(key, SOFT_PREFIX, strlen(SOFT_PREFIX)) != 0)
		return NULL;
	return resolve_soft_key(key + strlen(SOFT_PREFIX));
}

static bool in_catalogue(const struct vmig_model *m)
{
	for (size_t i = 0, n = vmig_model_count(); i < n; i++)
		if (vmig_model_at(i) == m)
			return true;
	return false;
}

const struct vmig_model *vmig_soft_model(const struct vmig_model *hw)
{
	if (!hw)
		return NULL;
	bool known = in_catalogue(hw);
	/*
	 * A MIG model keeps its profiles when state files can name it; one that
	 * NVML described for a GPU the catalogue lacks cannot be named by a key,
	 * so it is derived like any unknown GPU.
	 */
	if ((hw->flags & VMIG_MF_MIG) && (known || in_registry(hw)))
		return hw;
	if (!derivable(hw->sm, hw->mem_mib))
		return NULL;
	char key[48];
	if (known && hw->key)
		snprintf(key, sizeof(key), SOFT_PREFIX "%s", hw->key);
	else
		snprintf(key, sizeof(key), SOFT_PREFIX "%usm-%llumib", hw->sm,
			 (unsigned long long)hw->mem_mib);
	struct soft_hw h = hw_of(hw);
	return registry_get(key, &h);
}

bool vmig_model_known(const struct vmig_model *m)
{
	return m && (in_catalogue(m) || in_registry(m));
}

unsigned vmig_profile_share_pct(const struct vmig_model *m, const struct vmig_gi_profile *gp)
{
	if (!m || !gp || m->sm == 0 || gp->sm >= m->sm)
		return 100;
	unsigned pct = (unsigned)((gp->sm * 200ull + m->sm) / (2ull * m->sm));
	return pct < 1 ? 1 : pct;
}

/* The share policies: one list, the limits file's (iface/limits_file.c). */
_Static_assert((int)VMIG_SHARE_POLICY_SHARE == (int)VMIG_POLICY_SHARE &&
		   (int)VMIG_SHARE_POLICY_CAP == (int)VMIG_POLICY_CAP,
	       "the public policy numbers are the region's");

const char *vmig_share_policy_name(int policy)
{
	return policy < 0 ? NULL : vmig__policy_name((unsigned)policy);
}

int vmig_share_policy_parse(const char *name, int *ret)
{
	unsigned p;
	if (!name || vmig__policy_parse(name, strlen(name), &p) < 0)
		return -1;
	*ret = (int)p;
	return 0;
}
