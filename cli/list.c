/*
 * list.c — the words of a command line: comma lists, instance IDs, numbers
 * and GPU selectors.  Pure functions; every malformed input gets a message
 * that names what was expected and quotes (a bounded part of) what was typed.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define ID_MAX 999999u /* far above any instance ID, far below overflow */

static int fail(char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -1;
}

int cli_parse_uint(const char *s, unsigned max, unsigned *ret)
{
	unsigned long v = 0;
	size_t n = 0;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 10)
			return -1;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > max)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int cli_parse_words(const char *s, const char *what, struct cli_list *ret, char *err,
		    size_t errsize)
{
	ret->n = 0;
	if (s[0] == '\0')
		return fail(err, errsize, "empty %s list", what);
	if (has_control(s))
		return fail(err, errsize, "control character in %s list", what);
	for (const char *p = s;;) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return fail(err, errsize, "empty item in %s list '%.64s'", what, s);
		if (len >= CLI_ITEM_LEN)
			return fail(err, errsize, "%s '%.32s...' is too long", what, p);
		if (ret->n == CLI_MAX_ITEMS)
			return fail(err, errsize, "too many items in %s list (at most %d)", what,
				    CLI_MAX_ITEMS);
		memcpy(ret->item[ret->n], p, len);
		ret->item[ret->n++][len] = '\0';
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

int cli_parse_ids(const char *s, const char *what, struct cli_ids *ret, char *err, size_t errsize)
{
	struct cli_list words;
	if (cli_parse_words(s, what, &words, err, errsize) < 0)
		return -1;
	ret->n = 0;
	for (unsigned k = 0; k < words.n; k++) {
		unsigned v;
		if (cli_parse_uint(words.item[k], ID_MAX, &v) < 0)
			return fail(err, errsize, "invalid %s '%.64s' (a number from 0 to %u)",
				    what, words.item[k], ID_MAX);
		if (!cli_ids_has(ret, v))
			ret->v[ret->n++] = v;
	}
	return 0;
}

bool cli_ids_has(const struct cli_ids *ids, unsigned v)
{
	for (unsigned k = 0; k < ids->n; k++)
		if (ids->v[k] == v)
			return true;
	return false;
}

/* A hex field of 1..maxlen digits ending at a given delimiter. */
static const char *hex_field(const char *s, size_t maxlen, char end, unsigned *ret)
{
	unsigned v = 0;
	size_t n = 0;
	for (; isxdigit((unsigned char)s[n]); n++) {
		if (n == maxlen)
			return NULL;
		v = v * 16 + (unsigned)(isdigit((unsigned char)s[n]) ? s[n] - '0'
								     : (tolower(s[n]) - 'a' + 10));
	}
	if (n == 0 || s[n] != end)
		return NULL;
	*ret = v;
	return s + n + (end ? 1 : 0);
}

int cli_parse_bus_id(const char *s, unsigned *ret_domain, unsigned *ret_bus, unsigned *ret_dev,
		     unsigned *ret_fn)
{
	unsigned domain = 0, bus, dev, fn;
	const char *colon2 = strchr(s, ':') ? strchr(strchr(s, ':') + 1, ':') : NULL;
	const char *p = s;
	if (colon2 && !(p = hex_field(p, 8, ':', &domain)))
		return -1;
	if (!(p = hex_field(p, 2, ':', &bus)) || !(p = hex_field(p, 2, '.', &dev)) ||
	    !(p = hex_field(p, 1, '\0', &fn)) || dev > 0x1f || fn > 7)
		return -1;
	*ret_domain = domain;
	*ret_bus = bus;
	*ret_dev = dev;
	*ret_fn = fn;
	return 0;
}

int cli_check_gpu_selector(const char *s)
{
	unsigned a, b, c, d;
	if (isdigit((unsigned char)s[0]) && !strchr(s, ':'))
		return cli_parse_uint(s, ID_MAX, &a);
	if (strncasecmp(s, "GPU-", 4) == 0) {
		size_t n = strspn(s + 4, "0123456789abcdefABCDEF-");
		return n > 0 && s[4 + n] == '\0' ? 0 : -1;
	}
	return cli_parse_bus_id(s, &a, &b, &c, &d);
}
