/*
 * util.c — small helpers shared by libvmig's files: cleanup functions and
 * the lookups over state records that every module needs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void vmig__freep(void *p)
{
	free(*(void **)p);
}

struct vmig_gi_state *vmig_gpu_find_gi(struct vmig_gpu_state *g, unsigned gi_id)
{
	for (unsigned i = 0; i < g->ngi; i++)
		if (g->gi[i].id == gi_id)
			return &g->gi[i];
	return NULL;
}

struct vmig_ci_state *vmig_gi_find_ci(struct vmig_gi_state *gi, unsigned ci_id)
{
	for (unsigned i = 0; i < gi->nci; i++)
		if (gi->ci[i].id == ci_id)
			return &gi->ci[i];
	return NULL;
}

bool vmig__starts_contain(const unsigned *starts, unsigned n, unsigned start)
{
	for (unsigned i = 0; i < n && i < VMIG_MAX_STARTS; i++)
		if (starts[i] == start)
			return true;
	return false;
}

/*
 * CUDA cores per SM by compute capability: 64 on Volta, Turing and GA100
 * (7.x, 8.0), 128 on GA10x, Ada, Hopper and Blackwell.
 */
unsigned vmig_cores_per_sm(unsigned cc_major, unsigned cc_minor)
{
	if (cc_major < 8 || (cc_major == 8 && cc_minor == 0))
		return 64;
	return 128;
}

bool vmig__read_dec(const char **p, unsigned max, unsigned *ret)
{
	const char *s = *p;
	unsigned long long v = 0;
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		if ((v = v * 10 + (unsigned)(*s - '0')) > max)
			return false;
	*ret = (unsigned)v;
	*p = s;
	return true;
}

void vmig__put(struct vmig__text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			t->failed = 1;
			return;
		}
		if (t->s && t->n + (size_t)k < t->cap) {
			t->n += (size_t)k;
			return;
		}
		size_t c = (t->cap + (size_t)k + 1) * 2;
		char *p = realloc(t->s, c);
		if (!p) {
			t->failed = 1;
			return;
		}
		t->s = p;
		t->cap = c;
	}
}

int vmig__text_done(struct vmig__text *t, char **ret, struct vmig_err *err)
{
	if (t->failed || !t->s) {
		free(t->s);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	}
	*ret = t->s;
	return 0;
}

const char *vmig__env_or(const char *opt, const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return opt ? opt : v && *v ? v : dflt;
}
