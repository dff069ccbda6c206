/*
 * error.c — vmig's error codes: their texts, names and NVML numbers, all
 * generated from include/vmig/errors.def, and the error object that carries
 * a message with context up to the command line.
 */
#include <stdarg.h>
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
	for (int i = 1; i < VMIG_E__COUNT; i++)
		if (error_table[i].nvml == nvml_code)
			return i;
	return VMIG_E_UNKNOWN;
}

int vmig_err_set(struct vmig_err *e, int code, const char *fmt, ...)
{
	int c = code_index(code);

	if (e) {
		e->code = c;
		if (fmt) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
			va_end(ap);
		} else {
			snprintf(e->msg, sizeof(e->msg), "%s", error_table[c].text);
		}
	}
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
	return -(e->code ? e->code : VMIG_E_UNKNOWN);
}
