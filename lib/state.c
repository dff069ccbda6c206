/*
 * state.c — the state record as text, and its invariants.  It owns the
 * default state and new simulated GPUs (random UUIDs, serials, bus ids), the
 * strict parser of the versioned line-oriented file format (docs/state.md),
 * the serialiser that writes the canonical form with a CRC-32 on the end
 * line, and vmig_state_validate, which checks what the parser cannot see one
 * line at a time: profiles of the model, placements, overlaps, unique IDs.
 * No I/O here apart from the kernel's random bytes; lib/store.c does the files.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"
#include "os.h"

#define MAX_LINE      1024 /* longest line the parser accepts */
#define MAX_TOKENS    12   /* fields of one line, the record kind included */
#define MAX_ID	      255  /* GI/CI IDs, profile IDs, starts and sizes */
#define MAX_MINOR     254  /* /dev/nvidia255 is nvidiactl */
#define SERIAL_DIGITS 13

/* ------------------------------------------------------------------------ */
/* UUIDs, serials and the bus ids of new simulated GPUs                      */
/* ------------------------------------------------------------------------ */

/*
 * Random bytes for identities.  getrandom only fails on ancient kernels or
 * under fault injection; identities then still have to differ between GPUs
 * and runs, which a mix of clock, pid and a counter gives.
 */
static void random_bytes(unsigned char *buf, size_t len)
{
	if (vmig__os_getrandom(buf, len) == 0)
		return;
	static uint64_t counter;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
		     ((uint64_t)getpid() << 48) ^
		     __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
	for (size_t i = 0; i < len; i++) {
		/* splitmix64 step */
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		buf[i] = (unsigned char)(z ^ (z >> 31));
	}
}

static void format_uuid(const unsigned char b[16], char out[VMIG_UUID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out + 4;
	memcpy(out, "GPU-", 4);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
}

/* "GPU-" + 8-4-4-4-12 lowercase hex digits, NUL-terminated inside the buffer. */
static bool uuid_valid(const char *s, size_t bufsize)
{
	if (!memchr(s, '\0', bufsize) || strlen(s) != 40 || memcmp(s, "GPU-", 4) != 0)
		return false;
	for (int i = 4; i < 40; i++) {
		bool dash = i == 12 || i == 17 || i == 22 || i == 27;
		char c = s[i];
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/* Serials are printable ASCII without spaces: real boards give digits or "[N/A]". */
static bool serial_valid(const char *s, size_t bufsize)
{
	if (!memchr(s, '\0', bufsize) || !*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static bool uuid_taken(const struct vmig_state *st, const char *uuid)
{
	for (unsigned i = 0; i < st->ngpu; i++)
		if (strcmp(st->gpu[i].uuid, uuid) == 0)
			return true;
	return false;
}

static bool bus_taken(const struct vmig_state *st, unsigned bus)
{
	for (unsigned i = 0; i < st->ngpu; i++)
		if (st->gpu[i].pci_domain == 0 && st->gpu[i].pci_bus == bus)
			return true;
	return false;
}

/* The bus numbers of a DGX's eight GPUs first, then the lowest free ones. */
static unsigned free_bus(const struct vmig_state *st)
{
	static const unsigned dgx[] = {0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD};
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(dgx); i++)
		if (!bus_taken(st, dgx[i]))
			return dgx[i];
	for (unsigned bus = 1; bus <= 0xFF; bus++)
		if (!bus_taken(st, bus))
			return bus;
	return 0; /* not reached: VMIG_MAX_GPUS is far below 255 */
}

static unsigned free_minor(const struct vmig_state *st, unsigned want)
{
	for (unsigned m = want;; m = (m + 1) % (MAX_MINOR + 1)) {
		bool taken = false;
		for (unsigned i = 0; i < st->ngpu && !taken; i++)
			taken = st->gpu[i].minor == m;
		if (!taken)
			return m;
	}
}

int vmig_state_add_gpu(struct vmig_state *st, const struct vmig_model *m, struct vmig_err *err)
{
	if (!st || !m)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "adding a GPU: no state or model");
	if (st->ngpu >= VMIG_MAX_GPUS)
		return vmig_err_set(
		    err, VMIG_E_INSUFFICIENT_RESOURCES,
		    "adding a GPU (%s): the state already holds %d GPUs, the most vmig supports",
		    m->key, VMIG_MAX_GPUS);
	struct vmig_gpu_state *g = &st->gpu[st->ngpu];
	memset(g, 0, sizeof(*g));
	g->model = m;
	do {
		unsigned char b[16];
		random_bytes(b, sizeof(b));
		format_uuid(b, g->uuid);
	} while (uuid_taken(st, g->uuid));

	unsigned char r[SERIAL_DIGITS];
	random_bytes(r, sizeof(r));
	g->serial[0] = '1'; /* real boards' serials start with 1 */
	for (int i = 1; i < SERIAL_DIGITS; i++)
		g->serial[i] = (char)('0' + r[i] % 10);
	g->serial[SERIAL_DIGITS] = '\0';

	g->pci_bus = free_bus(st);
	g->minor = free_minor(st, st->ngpu);
	g->flags = VMIG_GPU_SIMULATED;
	st->ngpu++;
	return 0;
}

void vmig_state_init_default(struct vmig_state *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	const struct vmig_model *m = vmig_model_find(VMIG_SIM_DEFAULT_MODEL);
	if (m)
		vmig_state_add_gpu(st, m, NULL);
}

/* ------------------------------------------------------------------------ */
/* Checksum                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * CRC-32 (IEEE, reflected), zlib's own.  Computed bit by bit it took most of
 * a read's time (88 % of parsing a 64-GPU state); zlib's is table-driven.
 */
static uint32_t crc32_of(const char *buf, size_t len)
{
	return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), (const Bytef *)buf, len);
}

/* ------------------------------------------------------------------------ */
/* Serialiser                                                                */
/* ------------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t len, cap;
};

static __attribute__((format(printf, 2, 3))) bool out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		return false;
	o->len += (size_t)n;
	return true;
}

/* The GPU flags of the file, in the order they are written: the one list of their names. */
static const struct {
	unsigned bit;
	const char *name;
} gpu_flags[] = {
    {VMIG_GPU_SIMULATED, "simulated"},
    {VMIG_GPU_SOFT, "soft"},
    {VMIG_GPU_VM, "vm"},
    {VMIG_GPU_NO_PERSISTENCE, "persistence-off"},
};
#define GPU_FLAGS_KNOWN (VMIG_GPU_SIMULATED | VMIG_GPU_SOFT | VMIG_GPU_VM | VMIG_GPU_NO_PERSISTENCE)

/* "simulated,vm", or "none"; buf holds every name joined. */
static const char *flags_text(unsigned flags, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < VMIG_ARRAY_SIZE(gpu_flags); i++)
		if (flags & gpu_flags[i].bit)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "",
					      gpu_flags[i].name);
	return n ? buf : "none";
}

static bool format_gpu(struct out *o, const struct vmig_gpu_state *g, unsigned i)
{
	char flags[64];
	bool ok = out_printf(o,
			     "gpu index=%u model=%s uuid=%.*s serial=%.*s pci=%08X:%02X:%02X.0 "
			     "minor=%u mig=%u mig_pending=%u flags=%s\n",
			     i, g->model->key, (int)strnlen(g->uuid, sizeof(g->uuid) - 1), g->uuid,
			     (int)strnlen(g->serial, sizeof(g->serial) - 1), g->serial,
			     g->pci_domain, g->pci_bus, g->pci_device, g->minor, g->mig_current,
			     g->mig_pending, flags_text(g->flags, flags, sizeof(flags)));
	/* The GI numbering only when it is not the default, so older files stay canonical. */
	if (ok && g->gi_numbering != VMIG_GI_NUMBERING_HEAP) {
		const char *numbering = vmig_gi_numbering_name(g->gi_numbering);
		o->len--; /* back over the newline */
		ok = out_printf(o, " gi_numbering=%s\n", numbering ? numbering : "?");
	}
	for (unsigned j = 0; ok && j < g->ngi; j++) {
		const struct vmig_gi_state *gi = &g->gi[j];
		ok = out_printf(o, "gi gpu=%u id=%u profile=%u start=%u size=%u share=%u", i,
				gi->id, gi->profile_id, gi->start, gi->size, gi->share_pct);
		/* The owner only when recorded, so files of before stay canonical. */
		if (ok && gi->owned)
			ok = out_printf(o, " owner=%u:%u", gi->owner_uid, gi->owner_gid);
		/* The policy only when not the default, for the same reason. */
		if (ok && gi->share_policy != VMIG_SHARE_POLICY_SHARE)
			ok = out_printf(o, " policy=%s",
					vmig_share_policy_name((int)gi->share_policy));
		ok = ok && out_printf(o, "\n");
		for (unsigned k = 0; ok && k < gi->nci; k++) {
			const struct vmig_ci_state *ci = &gi->ci[k];
			ok = out_printf(o, "ci gpu=%u gi=%u id=%u profile=%u start=%u size=%u\n", i,
					gi->id, ci->id, ci->profile_id, ci->start, ci->size);
		}
	}
	return ok;
}

int vmig_state_format(const struct vmig_state *st, char **ret_buf, size_t *ret_len)
{
	if (!st || !ret_buf || st->ngpu > VMIG_MAX_GPUS)
		return -VMIG_E_INVALID_ARGUMENT;
	/* Every line has a bounded length, so the size can be bounded before writing. */
	size_t cap = 128;
	for (unsigned i = 0; i < st->ngpu; i++) {
		const struct vmig_gpu_state *g = &st->gpu[i];
		if (!g->model || g->ngi > VMIG_MAX_GIS)
			return -VMIG_E_INVALID_ARGUMENT;
		cap += 320;
		for (unsigned j = 0; j < g->ngi; j++) {
			if (g->gi[j].nci > VMIG_MAX_CIS)
				return -VMIG_E_INVALID_ARGUMENT;
			cap += 128 + 128 * (size_t)g->gi[j].nci;
		}
	}
	struct out o = {malloc(cap), 0, cap};
	if (!o.buf)
		return -VMIG_E_NO_MEMORY;
	bool ok = out_printf(&o, "vmig-state %d\ngeneration %" PRIu64 "\n", VMIG_STATE_VERSION,
			     st->generation);
	for (unsigned i = 0; ok && i < st->ngpu; i++)
		ok = format_gpu(&o, &st->gpu[i], i);
	ok = ok && out_printf(&o, "end crc32=%08" PRIx32 "\n", crc32_of(o.buf, o.len));
	if (!ok) {
		free(o.buf);
		return -VMIG_E_UNKNOWN; /* the bound above is wrong: a bug, not bad input */
	}
	*ret_buf = o.buf;
	if (ret_len)
		*ret_len = o.len;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

struct span {
	const char *p;
	size_t n;
};

struct parser {
	struct vmig_state *st;
	struct vmig_err *err;
	unsigned line;
};

static __attribute__((format(printf, 2, 3))) int corrupt(struct parser *p, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vmig_err_set(p->err, VMIG_E_CORRUPT, "line %u: %s", p->line, msg);
}

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Shown in messages: at most 40 bytes of a value (the line is printable ASCII). */
#define SHOW(s) (int)((s).n > 40 ? 40 : (s).n), (s).p

/* Split at single spaces; an empty field (two spaces, a leading or trailing one) is an error. */
static int split(struct parser *p, struct span line, struct span *tok, unsigned *ntok)
{
	unsigned n = 0;
	const char *s = line.p, *end = line.p + line.n;
	for (;;) {
		const char *sp = memchr(s, ' ', (size_t)(end - s));
		const char *e = sp ? sp : end;
		if (e == s)
			return corrupt(p, "stray space");
		if (n == MAX_TOKENS)
			return corrupt(p, "too many fields");
		tok[n++] = (struct span){s, (size_t)(e - s)};
		if (!sp)
			break;
		s = sp + 1;
	}
	*ntok = n;
	return 0;
}

/* Decimal without sign or leading zeros, at most max. */
static int parse_u64(struct parser *p, const char *key, struct span v, uint64_t max, uint64_t *ret)
{
	uint64_t x = 0;
	if (v.n == 0 || v.n > 20 || (v.n > 1 && v.p[0] == '0'))
		return corrupt(p, "%s: bad number '%.*s'", key, SHOW(v));
	for (size_t i = 0; i < v.n; i++) {
		unsigned d = (unsigned char)v.p[i] - '0';
		if (d > 9)
			return corrupt(p, "%s: bad number '%.*s'", key, SHOW(v));
		if (x > (UINT64_MAX - d) / 10)
			return corrupt(p, "%s: number out of range", key);
		x = x * 10 + d;
	}
	if (x > max)
		return corrupt(p, "%s=%" PRIu64 " out of range (at most %" PRIu64 ")", key, x, max);
	*ret = x;
	return 0;
}

static int parse_uint(struct parser *p, const char *key, struct span v, unsigned max, unsigned *ret)
{
	uint64_t x;
	int rc = parse_u64(p, key, v, max, &x);
	if (rc == 0)
		*ret = (unsigned)x;
	return rc;
}

/*
 * Match "key=value" fields against the record's keys: vals[i] gets the
 * value of keys[i].  Unknown, repeated and missing keys are errors.
 */
static int match_keys(struct parser *p, const char *rec, const struct span *tok, unsigned ntok,
		      const char *const *keys, unsigned nkeys, struct span *vals)
{
	bool seen[MAX_TOKENS] = {false};
	for (unsigned t = 0; t < ntok; t++) {
		const char *eq = memchr(tok[t].p, '=', tok[t].n);
		if (!eq)
			return corrupt(p, "%s: field '%.*s' is not key=value", rec, SHOW(tok[t]));
		struct span k = {tok[t].p, (size_t)(eq - tok[t].p)};
		unsigned i = 0;
		while (i < nkeys && !span_is(k, keys[i]))
			i++;
		if (i == nkeys)
			return corrupt(p, "%s: unknown key '%.*s'", rec, SHOW(k));
		if (seen[i])
			return corrupt(p, "%s: duplicate key '%s'", rec, keys[i]);
		seen[i] = true;
		vals[i] = (struct span){eq + 1, tok[t].n - (size_t)(eq + 1 - tok[t].p)};
	}
	for (unsigned i = 0; i < nkeys; i++)
		if (!seen[i])
			return corrupt(p, "%s: missing key '%s'", rec, keys[i]);
	return 0;
}

static int copy_string(struct parser *p, const char *key, struct span v, char *dst, size_t size)
{
	if (v.n == 0 || v.n >= size)
		return corrupt(p, "%s: bad length %zu", key, v.n);
	memcpy(dst, v.p, v.n);
	dst[v.n] = '\0';
	return 0;
}

static int hex_field(struct span v, size_t at, size_t digits, unsigned *ret)
{
	unsigned x = 0;
	for (size_t i = at; i < at + digits; i++) {
		char c = v.p[i];
		if (c >= '0' && c <= '9')
			x = x * 16 + (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			x = x * 16 + (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = x;
	return 0;
}

/* "DDDDDDDD:BB:DD.0", as NVML's busId writes it. */
static int parse_pci(struct parser *p, struct span v, struct vmig_gpu_state *g)
{
	if (v.n != 16 || v.p[8] != ':' || v.p[11] != ':' || v.p[14] != '.' || v.p[15] != '0' ||
	    hex_field(v, 0, 8, &g->pci_domain) || hex_field(v, 9, 2, &g->pci_bus) ||
	    hex_field(v, 12, 2, &g->pci_device) || g->pci_device > 0x1F)
		return corrupt(p, "pci: bad bus id '%.*s'", SHOW(v));
	return 0;
}

static int parse_flags(struct parser *p, struct span v, unsigned *ret)
{
	if (span_is(v, "none")) {
		*ret = 0;
		return 0;
	}
	unsigned flags = 0;
	const char *s = v.p, *end = v.p + v.n;
	for (;;) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		struct span f = {s, (size_t)((c ? c : end) - s)};
		unsigned bit = 0;
		for (size_t i = 0; !bit && i < VMIG_ARRAY_SIZE(gpu_flags); i++)
			if (span_is(f, gpu_flags[i].name))
				bit = gpu_flags[i].bit;
		if (!bit || (flags & bit))
			return corrupt(p, "flags: bad flag list '%.*s'", SHOW(v));
		flags |= bit;
		if (!c)
			break;
		s = c + 1;
	}
	*ret = flags;
	return 0;
}

static int parse_model(struct parser *p, struct span v, const struct vmig_model **ret)
{
	char key[64];
	if (v.n == 0 || v.n >= sizeof(key))
		return corrupt(p, "model: bad model key '%.*s'", SHOW(v));
	memcpy(key, v.p, v.n);
	key[v.n] = '\0';
	/* Catalogue keys, and the keys of derived software-partition models. */
	const struct vmig_model *m = vmig_model_resolve(key);
	if (!m)
		return corrupt(p, "unknown GPU model '%s'", key);
	*ret = m;
	return 0;
}

/*
 * The optional gi_numbering=heap|swapped field of a gpu line (absent: heap,
 * as in files written before it existed).  It is taken out of the fields,
 * so that the required keys are matched as before.
 */
static int take_gi_numbering(struct parser *p, const struct span *tok, unsigned ntok,
			     struct span *rest, unsigned *nrest, unsigned *ret)
{
	static const char key[] = "gi_numbering=";
	const size_t klen = sizeof(key) - 1;
	bool seen = false;
	*nrest = 0;
	*ret = VMIG_GI_NUMBERING_HEAP;
	for (unsigned t = 0; t < ntok; t++) {
		if (tok[t].n < klen || memcmp(tok[t].p, key, klen) != 0) {
			rest[(*nrest)++] = tok[t];
			continue;
		}
		struct span v = {tok[t].p + klen, tok[t].n - klen};
		char name[16];
		if (seen)
			return corrupt(p, "gpu: duplicate key 'gi_numbering'");
		seen = true;
		if (v.n == 0 || v.n >= sizeof(name))
			return corrupt(p, "gpu: bad GI numbering '%.*s' (heap or swapped)",
				       SHOW(v));
		memcpy(name, v.p, v.n);
		name[v.n] = '\0';
		if (vmig_gi_numbering_parse(name, ret) < 0)
			return corrupt(p, "gpu: bad GI numbering '%.*s' (heap or swapped)",
				       SHOW(v));
	}
	return 0;
}

static int parse_gpu(struct parser *p, const struct span *tok, unsigned ntok)
{
	static const char *const keys[] = {"index", "model", "uuid",	    "serial", "pci",
					   "minor", "mig",   "mig_pending", "flags"};
	struct span v[VMIG_ARRAY_SIZE(keys)];
	struct span rest[MAX_TOKENS];
	unsigned index, nrest, numbering;
	int rc = take_gi_numbering(p, tok, ntok, rest, &nrest, &numbering);
	if (rc)
		return rc;
	tok = rest;
	ntok = nrest;
	rc = match_keys(p, "gpu", tok, ntok, keys, VMIG_ARRAY_SIZE(keys), v);
	if (rc == 0)
		rc = parse_uint(p, "index", v[0], VMIG_MAX_GPUS - 1, &index);
	if (rc)
		return rc;
	if (index != p->st->ngpu)
		return corrupt(p, "GPU index %u out of sequence (expected %u)", index, p->st->ngpu);
	struct vmig_gpu_state *g = &p->st->gpu[index];
	memset(g, 0, sizeof(*g));
	if ((rc = parse_model(p, v[1], &g->model)) ||
	    (rc = copy_string(p, "uuid", v[2], g->uuid, sizeof(g->uuid))) ||
	    (rc = copy_string(p, "serial", v[3], g->serial, sizeof(g->serial))) ||
	    (rc = parse_pci(p, v[4], g)) ||
	    (rc = parse_uint(p, "minor", v[5], MAX_MINOR, &g->minor)) ||
	    (rc = parse_uint(p, "mig", v[6], 1, &g->mig_current)) ||
	    (rc = parse_uint(p, "mig_pending", v[7], 1, &g->mig_pending)) ||
	    (rc = parse_flags(p, v[8], &g->flags)))
		return rc;
	if (!uuid_valid(g->uuid, sizeof(g->uuid)))
		return corrupt(p, "malformed GPU UUID '%s'", g->uuid);
	if (!serial_valid(g->serial, sizeof(g->serial)))
		return corrupt(p, "malformed serial number");
	g->gi_numbering = numbering;
	p->st->ngpu++;
	return 0;
}

/* policy=NAME of a gi line (absent: the default, share). */
static int parse_policy(struct parser *p, struct span v, bool *seen, struct vmig_gi_state *gi)
{
	char name[16];
	int policy;
	if (*seen)
		return corrupt(p, "gi: duplicate key 'policy'");
	*seen = true;
	if (v.n >= sizeof(name))
		return corrupt(p, "gi: unknown share policy '%.*s'", SHOW(v));
	memcpy(name, v.p, v.n);
	name[v.n] = '\0';
	if (vmig_share_policy_parse(name, &policy) < 0)
		return corrupt(p, "gi: unknown share policy '%.*s'", SHOW(v));
	gi->share_policy = (uint8_t)policy;
	return 0;
}

/*
 * The optional fields of a gi line, owner=UID:GID (absent: unowned, as in
 * files written before owners existed) and policy=NAME, taken out of the
 * fields so that the required keys are matched as before.
 */
static int take_optional(struct parser *p, const struct span *tok, unsigned ntok, struct span *rest,
			 unsigned *nrest, struct vmig_gi_state *gi)
{
	static const char key[] = "owner=", pkey[] = "policy=";
	const size_t klen = sizeof(key) - 1, plen = sizeof(pkey) - 1;
	bool policy_seen = false;
	*nrest = 0;
	for (unsigned t = 0; t < ntok; t++) {
		if (tok[t].n >= plen && memcmp(tok[t].p, pkey, plen) == 0) {
			int rc = parse_policy(p, (struct span){tok[t].p + plen, tok[t].n - plen},
					      &policy_seen, gi);
			if (rc)
				return rc;
			continue;
		}
		if (tok[t].n < klen || memcmp(tok[t].p, key, klen) != 0) {
			rest[(*nrest)++] = tok[t];
			continue;
		}
		if (gi->owned)
			return corrupt(p, "gi: duplicate key 'owner'");
		struct span v = {tok[t].p + klen, tok[t].n - klen};
		const char *colon = memchr(v.p, ':', v.n);
		if (!colon)
			return corrupt(p, "gi: bad owner '%.*s' (UID:GID)", SHOW(v));
		struct span u = {v.p, (size_t)(colon - v.p)};
		struct span g = {colon + 1, v.n - u.n - 1};
		int rc;
		if ((rc = parse_uint(p, "owner", u, VMIG_OWNER_ID_MAX, &gi->owner_uid)) ||
		    (rc = parse_uint(p, "owner", g, VMIG_OWNER_ID_MAX, &gi->owner_gid)))
			return rc;
		gi->owned = true;
	}
	return 0;
}

static int parse_gi(struct parser *p, const struct span *tok, unsigned ntok)
{
	static const char *const keys[] = {"gpu", "id", "profile", "start", "size", "share"};
	struct span v[VMIG_ARRAY_SIZE(keys)];
	struct span rest[MAX_TOKENS];
	struct vmig_gi_state gi = {0};
	unsigned gpu, nrest;
	int rc = take_optional(p, tok, ntok, rest, &nrest, &gi);
	if (rc)
		return rc;
	tok = rest;
	ntok = nrest;
	if ((rc = match_keys(p, "gi", tok, ntok, keys, VMIG_ARRAY_SIZE(keys), v)) ||
	    (rc = parse_uint(p, "gpu", v[0], VMIG_MAX_GPUS - 1, &gpu)) ||
	    (rc = parse_uint(p, "id", v[1], MAX_ID, &gi.id)) ||
	    (rc = parse_uint(p, "profile", v[2], MAX_ID, &gi.profile_id)) ||
	    (rc = parse_uint(p, "start", v[3], MAX_ID, &gi.start)) ||
	    (rc = parse_uint(p, "size", v[4], MAX_ID, &gi.size)) ||
	    (rc = parse_uint(p, "share", v[5], 100, &gi.share_pct)))
		return rc;
	if (gpu >= p->st->ngpu)
		return corrupt(p, "GPU instance on GPU %u, which no earlier gpu line defines", gpu);
	struct vmig_gpu_state *g = &p->st->gpu[gpu];
	if (vmig_gpu_find_gi(g, gi.id))
		return corrupt(p, "duplicate GPU instance %u on GPU %u", gi.id, gpu);
	if (g->ngi == VMIG_MAX_GIS)
		return corrupt(p, "more than %d GPU instances on GPU %u", VMIG_MAX_GIS, gpu);
	g->gi[g->ngi++] = gi;
	return 0;
}

static int parse_ci(struct parser *p, const struct span *tok, unsigned ntok)
{
	static const char *const keys[] = {"gpu", "gi", "id", "profile", "start", "size"};
	struct span v[VMIG_ARRAY_SIZE(keys)];
	unsigned gpu, gi_id, id, profile, start, size;
	int rc;
	/* MAX_ID is 255: each value fits the record's byte. */
	if ((rc = match_keys(p, "ci", tok, ntok, keys, VMIG_ARRAY_SIZE(keys), v)) ||
	    (rc = parse_uint(p, "gpu", v[0], VMIG_MAX_GPUS - 1, &gpu)) ||
	    (rc = parse_uint(p, "gi", v[1], MAX_ID, &gi_id)) ||
	    (rc = parse_uint(p, "id", v[2], MAX_ID, &id)) ||
	    (rc = parse_uint(p, "profile", v[3], MAX_ID, &profile)) ||
	    (rc = parse_uint(p, "start", v[4], MAX_ID, &start)) ||
	    (rc = parse_uint(p, "size", v[5], MAX_ID, &size)))
		return rc;
	struct vmig_ci_state ci = {.id = (uint8_t)id,
				   .profile_id = (uint8_t)profile,
				   .start = (uint8_t)start,
				   .size = (uint8_t)size};
	struct vmig_gi_state *gi =
	    gpu < p->st->ngpu ? vmig_gpu_find_gi(&p->st->gpu[gpu], gi_id) : NULL;
	if (!gi)
		return corrupt(p,
			       "compute instance in GPU instance %u of GPU %u, which no earlier "
			       "gi line defines",
			       gi_id, gpu);
	if (vmig_gi_find_ci(gi, ci.id))
		return corrupt(p, "duplicate compute instance %u in GPU instance %u of GPU %u",
			       ci.id, gi_id, gpu);
	if (gi->nci == VMIG_MAX_CIS)
		return corrupt(p, "more than %d compute instances in GPU instance %u of GPU %u",
			       VMIG_MAX_CIS, gi_id, gpu);
	gi->ci[gi->nci++] = ci;
	return 0;
}

/* Line 1: "vmig-state <version>". */
static int parse_header(struct parser *p, struct span l)
{
	static const char magic[] = "vmig-state ";
	const size_t mlen = sizeof(magic) - 1;
	uint64_t version;
	if (l.n <= mlen || memcmp(l.p, magic, mlen) != 0)
		return corrupt(p, "not a vmig state file (expected 'vmig-state %d')",
			       VMIG_STATE_VERSION);
	struct span v = {l.p + mlen, l.n - mlen};
	int rc = parse_u64(p, "version", v, UINT32_MAX, &version);
	if (rc)
		return rc;
	if (version > VMIG_STATE_VERSION)
		return vmig_err_set(p->err, VMIG_E_NEWER_VERSION,
				    "format version %" PRIu64
				    " was written by a newer vmig (this one reads version %d)",
				    version, VMIG_STATE_VERSION);
	if (version < 1)
		return corrupt(p, "bad format version 0");
	return 0;
}

/* "end" or "end crc32=<8 hex>"; the checksum covers every byte before the end line. */
static int parse_end(struct parser *p, const struct span *tok, unsigned ntok, const char *buf,
		     size_t end_at)
{
	uint32_t want = 0;
	if (ntok == 1)
		return 0;
	if (ntok != 2 || tok[1].n != 14 || memcmp(tok[1].p, "crc32=", 6) != 0)
		return corrupt(p, "malformed end marker");
	/* Exactly eight lowercase hex digits, as the writer prints them. */
	for (size_t i = 6; i < 14; i++) {
		char c = tok[1].p[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
						    : 16;
		if (d == 16)
			return corrupt(p, "malformed end marker");
		want = want << 4 | d;
	}
	if (crc32_of(buf, end_at) != want)
		return corrupt(p, "checksum mismatch: the file was damaged or edited");
	return 0;
}

/* One line after the header.  *ended is set at the end marker. */
static int parse_line(struct parser *p, struct span l, const char *buf, size_t line_at,
		      bool *have_gen, bool *ended)
{
	struct span tok[MAX_TOKENS];
	unsigned ntok = 0;
	if (l.n > 0 && l.p[0] == '#')
		return 0;
	if (l.n == 0)
		return corrupt(p, "empty line");
	int rc = split(p, l, tok, &ntok);
	if (rc)
		return rc;
	if (span_is(tok[0], "generation")) {
		if (*have_gen)
			return corrupt(p, "duplicate generation line");
		if (ntok != 2)
			return corrupt(p, "malformed generation line");
		*have_gen = true;
		return parse_u64(p, "generation", tok[1], UINT64_MAX, &p->st->generation);
	}
	if (!*have_gen)
		return corrupt(p, "expected 'generation N' after the header");
	if (span_is(tok[0], "gpu"))
		return parse_gpu(p, tok + 1, ntok - 1);
	if (span_is(tok[0], "gi"))
		return parse_gi(p, tok + 1, ntok - 1);
	if (span_is(tok[0], "ci"))
		return parse_ci(p, tok + 1, ntok - 1);
	if (span_is(tok[0], "end")) {
		*ended = true;
		return parse_end(p, tok, ntok, buf, line_at);
	}
	return corrupt(p, "unknown record '%.*s'", SHOW(tok[0]));
}

static int parse_lines(struct parser *p, const char *buf, size_t len)
{
	bool have_gen = false, ended = false;
	size_t pos = 0;
	if (len == 0)
		return vmig_err_set(p->err, VMIG_E_CORRUPT, "empty file");
	while (pos < len && !ended) {
		p->line++;
		size_t at = pos;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			return corrupt(p, "unterminated last line (file truncated?)");
		struct span l = {buf + pos, (size_t)(nl - (buf + pos))};
		pos += l.n + 1;
		if (l.n > MAX_LINE)
			return corrupt(p, "line longer than %d bytes", MAX_LINE);
		for (size_t i = 0; i < l.n; i++)
			if (l.p[i] < ' ' || l.p[i] > '~')
				return corrupt(p, "unexpected byte 0x%02x", (unsigned char)l.p[i]);
		int rc = p->line == 1 ? parse_header(p, l)
				      : parse_line(p, l, buf, at, &have_gen, &ended);
		if (rc)
			return rc;
	}
	if (!ended)
		return vmig_err_set(p->err, VMIG_E_CORRUPT,
				    "no end marker after line %u (file truncated?)", p->line);
	if (pos != len) {
		p->line++;
		return corrupt(p, "text after the end marker");
	}
	return 0;
}

int vmig__state_parse_into(const char *buf, size_t len, struct vmig_state *scratch,
			   struct vmig_err *err)
{
	if ((!buf && len) || !scratch)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "parsing state: no buffer");
	memset(scratch, 0, sizeof(*scratch));
	struct parser p = {scratch, err, 0};
	return parse_lines(&p, buf ? buf : "", len);
}

int vmig_state_parse(const char *buf, size_t len, struct vmig_state *ret, struct vmig_err *err)
{
	if ((!buf && len) || !ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "parsing state: no buffer");
	/* The record is large (64 KiB), too large for the stacks of threads in client
	 * programs. */
	struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int rc = vmig__state_parse_into(buf, len, st, err);
	if (rc == 0)
		memcpy(ret, st, sizeof(*st));
	free(st);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Invariants                                                                */
/* ------------------------------------------------------------------------ */

static int validate_cis(const struct vmig_gi_state *gi, const struct vmig_gi_profile *gp,
			unsigned gpu, struct vmig_err *err)
{
	unsigned count[VMIG_MAX_CI_PROFILES] = {0};
	uint32_t taken = 0;
	/* CI placements are in the GI's CI units, which may outnumber its slices. */
	unsigned units = vmig_ci_units(gp), slices = 0;
	if (gi->nci > VMIG_MAX_CIS)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "GPU %u: GPU instance %u: %u compute instances", gpu, gi->id,
				    gi->nci);
	for (unsigned k = 0; k < gi->nci; k++) {
		const struct vmig_ci_state *ci = &gi->ci[k];
		const struct vmig_ci_profile *cp = vmig_ci_profile_by_id(gp, ci->profile_id);
		const char *bad = NULL;
		if (k > 0 && ci->id <= gi->ci[k - 1].id)
			bad = ci->id == gi->ci[k - 1].id ? "duplicate ID" : "not in ID order";
		else if (!cp)
			bad = "no such compute instance profile";
		else if (ci->size != vmig_ci_placement_size(cp) || ci->start > units ||
			 ci->size > units - ci->start || units > 16 ||
			 !vmig__starts_contain(cp->starts, cp->nstarts, ci->start))
			bad = "placement not valid for its profile";
		else if (taken & (((1u << ci->size) - 1) << ci->start))
			bad = "placement overlaps another compute instance";
		else if ((slices += cp->slices) > gp->slices)
			bad = "more compute slices than the GPU instance has";
		else if (cp - gp->ci < VMIG_MAX_CI_PROFILES && ++count[cp - gp->ci] > cp->instances)
			bad = "more instances of its profile than the GPU instance allows";
		if (bad)
			return vmig_err_set(err, VMIG_E_CORRUPT,
					    "GPU %u: GPU instance %u: compute instance %u "
					    "(profile %u, placement %u:%u): %s",
					    gpu, gi->id, ci->id, ci->profile_id, ci->start,
					    ci->size, bad);
		taken |= ((1u << ci->size) - 1) << ci->start;
	}
	return 0;
}

static int validate_gis(const struct vmig_gpu_state *g, unsigned gpu, struct vmig_err *err)
{
	const struct vmig_model *m = g->model;
	unsigned count[VMIG_MAX_GI_PROFILES] = {0};
	uint32_t taken = 0;
	if (g->ngi > 0 && !g->mig_current)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "GPU %u: GPU instances while MIG mode is disabled", gpu);
	for (unsigned j = 0; j < g->ngi; j++) {
		const struct vmig_gi_state *gi = &g->gi[j];
		const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(m, gi->profile_id);
		const char *bad = NULL;
		if (j > 0 && gi->id <= g->gi[j - 1].id)
			bad = gi->id == g->gi[j - 1].id ? "duplicate ID" : "not in ID order";
		else if (!gp)
			bad = "no such GPU instance profile";
		else if (gi->size != gp->size || gi->start > m->units ||
			 gi->size > m->units - gi->start || m->units > VMIG_MAX_UNITS ||
			 !vmig__starts_contain(gp->starts, gp->nstarts, gi->start))
			bad = "placement not valid for its profile";
		else if (taken & (((1u << gi->size) - 1) << gi->start))
			bad = "placement overlaps another GPU instance";
		else if (gp - m->gi < VMIG_MAX_GI_PROFILES && ++count[gp - m->gi] > gp->instances)
			bad = "more instances of its profile than the GPU allows";
		else if (gi->share_pct > 100)
			bad = "compute share above 100%";
		else if (!vmig_share_policy_name((int)gi->share_policy))
			bad = "unknown share policy";
		if (bad)
			return vmig_err_set(
			    err, VMIG_E_CORRUPT,
			    "GPU %u: GPU instance %u (profile %u, placement %u:%u): %s", gpu,
			    gi->id, gi->profile_id, gi->start, gi->size, bad);
		taken |= ((1u << gi->size) - 1) << gi->start;
		int rc = validate_cis(gi, gp, gpu, err);
		if (rc)
			return rc;
	}
	/* Every GI ID follows from its placement under the GPU's numbering. */
	for (unsigned j = 0; j < g->ngi; j++) {
		const struct vmig_gi_state *gi = &g->gi[j];
		unsigned want = vmig_gi_id_for(m, g->gi_numbering, gi->start, gi->size);
		if (gi->id != want)
			return vmig_err_set(
			    err, VMIG_E_CORRUPT,
			    "GPU %u: GPU instance %u (profile %u, placement %u:%u): "
			    "the ID of that placement is %u under %s GI numbering",
			    gpu, gi->id, gi->profile_id, gi->start, gi->size, want,
			    vmig_gi_numbering_name(g->gi_numbering));
	}
	return 0;
}

static int validate_gpu(const struct vmig_gpu_state *g, unsigned i, struct vmig_err *err)
{
	const char *bad = NULL;
	/* vmig_model_known compares pointers only, so any record's model is safe to test. */
	if (!vmig_model_known(g->model))
		bad = "model not in the catalogue";
	else if (!uuid_valid(g->uuid, sizeof(g->uuid)))
		bad = "malformed UUID";
	else if (!serial_valid(g->serial, sizeof(g->serial)))
		bad = "malformed serial number";
	else if (g->pci_bus > 0xFF || g->pci_device > 0x1F)
		bad = "bad PCI bus id";
	else if (g->minor > MAX_MINOR)
		bad = "bad minor number";
	else if (g->mig_current > 1 || g->mig_pending > 1)
		bad = "bad MIG mode";
	else if ((g->mig_current || g->mig_pending) && !(g->model->flags & VMIG_MF_MIG) &&
		 !(g->flags & VMIG_GPU_SOFT))
		bad = "MIG mode on a model without MIG (only software partitions have it there)";
	else if (g->flags & ~(unsigned)GPU_FLAGS_KNOWN)
		bad = "unknown flags";
	else if (!vmig_gi_numbering_name(g->gi_numbering))
		bad = "unknown GI numbering";
	else if (g->ngi > VMIG_MAX_GIS)
		bad = "too many GPU instances";
	if (bad)
		return vmig_err_set(err, VMIG_E_CORRUPT, "GPU %u: %s", i, bad);
	return validate_gis(g, i, err);
}

/* Two GPUs never share a UUID, a serial number, a PCI address or a minor number. */
static int validate_unique(const struct vmig_state *st, struct vmig_err *err)
{
	for (unsigned i = 0; i < st->ngpu; i++) {
		const struct vmig_gpu_state *a = &st->gpu[i];
		for (unsigned j = 0; j < i; j++) {
			const struct vmig_gpu_state *b = &st->gpu[j];
			const char *what = strcmp(a->uuid, b->uuid) == 0       ? "UUID"
					   : strcmp(a->serial, b->serial) == 0 ? "serial number"
					   : a->pci_domain == b->pci_domain &&
						   a->pci_bus == b->pci_bus &&
						   a->pci_device == b->pci_device
					       ? "PCI bus id"
					   : a->minor == b->minor ? "minor number"
								  : NULL;
			if (what)
				return vmig_err_set(err, VMIG_E_CORRUPT,
						    "GPUs %u and %u have the same %s", j, i, what);
		}
	}
	return 0;
}

int vmig_state_validate(const struct vmig_state *st, struct vmig_err *err)
{
	if (!st)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "validating state: no state");
	if (st->ngpu > VMIG_MAX_GPUS)
		return vmig_err_set(err, VMIG_E_CORRUPT, "%u GPUs (at most %d)", st->ngpu,
				    VMIG_MAX_GPUS);
	for (unsigned i = 0; i < st->ngpu; i++) {
		int rc = validate_gpu(&st->gpu[i], i, err);
		if (rc)
			return rc;
	}
	return validate_unique(st, err);
}
