/*
 * error.c — vmig's error codes: their texts, names and NVML numbers, all
 * generated from include/vmig/errors.def, and the error object that carries
 * a message with context up to the command line.  vmig_err_set's "%m" puts
 * the code's own text into a message (as glibc's %m puts strerror(errno)),
 * so no caller spells it out or passes it a second time.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vmig/vmig.h"

static const struct {
	const char *name;
	const char *text;
	int nvml;
} error_table[VMIG_E__COUNT] = {
    [VMIG_OK] = {"OK", "Success", 0},
#define VMIG_ERR(name, nvml, text) [VMIG_E_##name] = {#name, text, nvml},
#include "vmig/errors.def"
#undef VMIG_ERR
};

static int code_index(int code)
{
	if (code < 0)
		code = -code;
	return code < VMIG_E__COUNT ? code : VMIG_E_UNKNOWN;
}

const char *vmig_strerror(int code)
{
	return error_table[code_index(code)].text;
}

const char *vmig_errname(int code)
{
	return error_table[code_index(code)].name;
}

int vmig_nvml_code(int code)
{
	return error_table[code_index(code)].nvml;
}

int vmig_from_nvml(int nvml_code)
{
	if (nvml_code == 0)
		return VMIG_OK;
	/* Several of vmig's own codes share NVML's 999; from NVML it is only Unknown Error. */
	if (nvml_code == vmig_nvml_code(VMIG_E_UNKNOWN))
		return VMIG_E_UNKNOWN;
	for (int i = 1; i < VMIG_E__COUNT; i++)
		if (error_table[i].nvml == nvml_code)
			return i;
	return VMIG_E_UNKNOWN;
}

/* Append c to out (n bytes used of size, room kept for the NUL); false when full. */
static bool put(char *out, size_t size, size_t *n, char c)
{
	if (*n + 1 >= size)
		return false;
	out[(*n)++] = c;
	return true;
}

/* Append text as a format that prints it: each '%' doubled. */
static bool put_literal(char *out, size_t size, size_t *n, const char *text)
{
	for (; *text; text++)
		if ((*text == '%' && !put(out, size, n, '%')) || !put(out, size, n, *text))
			return false;
	return true;
}

/*
 * fmt with every "%m" replaced by text, so that vsnprintf prints the text
 * as it is; "%%" is copied whole, so "%%m" stays a literal "%m".  %m takes
 * no argument, so the arguments still line up with the directives that are
 * left.  False when the result would not fit in size.
 */
static bool expand_code_text(char *out, size_t size, const char *fmt, const char *text)
{
	size_t n = 0;
	for (const char *p = fmt; *p; p++) {
		bool ok;
		if (p[0] == '%' && p[1] == 'm') {
			ok = put_literal(out, size, &n, text);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			ok = put(out, size, &n, '%') && put(out, size, &n, '%');
			p++;
		} else {
			ok = put(out, size, &n, *p);
		}
		if (!ok)
			return false;
	}
	out[n] = '\0';
	return true;
}

/*
 * A message is one line whatever went into it (a path with a newline, bytes
 * from a file): control characters become '?'.
 */
static void one_line(char *m)
{
	for (; *m; m++)
		if ((unsigned char)*m < 0x20 || *m == 0x7f)
			*m = '?';
}

int vmig_err_set(struct vmig_err *e, int code, const char *fmt, ...)
{
	int c = code_index(code);
	/* Room for any message that fits e->msg, with its directives and "%m"s. */
	char expanded[2 * sizeof(e->msg)];

	if (!e)
		return -c;
	e->code = c;
	/* Formats are our own literals, far shorter; one that is not gets the bare text. */
	if (fmt && expand_code_text(expanded, sizeof(expanded), fmt, error_table[c].text)) {
		va_list ap;
		va_start(ap, fmt);
		/*
		 * Not a literal, but fmt was checked against the arguments at the
		 * call (the format attribute) and expanding %m adds no directive.
		 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		vsnprintf(e->msg, sizeof(e->msg), expanded, ap);
#pragma GCC diagnostic pop
		va_end(ap);
	} else {
		snprintf(e->msg, sizeof(e->msg), "%s", error_table[c].text);
	}
	one_line(e->msg);
	return -c;
}

int vmig_err_wrap(struct vmig_err *e, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(e->msg)];
	va_list ap;

	if (!e)
		return -VMIG_E_UNKNOWN;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Truncation is acceptable: the message is for people, and stays terminated. */
	size_t n = strnlen(prefix, sizeof(prefix) - 1);
	memcpy(e->msg, prefix, n);
	size_t room = sizeof(e->msg) - n;
	if (room > 2) {
		e->msg[n] = ':';
		e->msg[n + 1] = ' ';
		size_t m = strnlen(old, room - 3);
		memcpy(e->msg + n + 2, old, m);
		e->msg[n + 2 + m] = '\0';
	} else {
		e->msg[sizeof(e->msg) - 1] = '\0';
	}
	one_line(e->msg);
	return -(e->code ? e->code : VMIG_E_UNKNOWN);
}
