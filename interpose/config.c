/*
 * config.c — the instance's limits.  The environment is read once
 * (pthread_once) into one validated struct; every later decision reads the
 * struct.  A bad value never stops the host program: that limit falls back
 * to passthrough and the reason goes into why[], which is printed only when
 * VMIG_DEBUG is set.  The names and formats are the contract with
 * `vmig run`, iface/run_env.h.  Also the one logging function.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void why_add(struct vmig__config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void why_add(struct vmig__config *c, const char *fmt, ...)
{
	size_t len = strlen(c->why);
	if (len + 2 >= sizeof(c->why))
		return;
	if (len) {
		c->why[len++] = ';';
		c->why[len++] = ' ';
		c->why[len] = '\0';
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why + len, sizeof(c->why) - len, fmt, ap);
	va_end(ap);
}

/* Decimal bytes with an optional binary suffix (K, M, G, T, optionally "iB"). */
static int parse_bytes(const char *s, uint64_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && strcmp(end, "iB") == 0)
		end += 2;
	if (*end != '\0' || v == 0 || v > (VMIG_MEM_LIMIT_MAX >> shift))
		return -1;
	*ret = (uint64_t)v << shift;
	return 0;
}

static int parse_pct(const char *s, unsigned *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > 100)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static bool printable_id(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/*
 * The share and how it is enforced.  Under MPS the server caps the
 * process's threads at CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, which `vmig run`
 * sets to the share; the launch gate then only acts when a later `-rg`
 * lowers the share below it (launch.c).
 */
static void parse_compute(struct vmig__config *c, vmig__getenv_fn get)
{
	const char *pct = get(VMIG_ENV_COMPUTE_PCT);
	const char *mode = get(VMIG_ENV_COMPUTE_MODE);
	if (pct && parse_pct(pct, &c->compute_pct) < 0)
		why_add(c, VMIG_ENV_COMPUTE_PCT "=\"%.32s\" is not 1-100: no compute cap", pct);
	if (mode && *mode && strcmp(mode, VMIG_COMPUTE_MODE_TIMESLICE) != 0 &&
	    strcmp(mode, VMIG_COMPUTE_MODE_MPS) != 0) {
		why_add(c, VMIG_ENV_COMPUTE_MODE "=\"%.32s\" unknown: time-slicing", mode);
	} else if (mode && strcmp(mode, VMIG_COMPUTE_MODE_MPS) == 0) {
		unsigned mps = 0;
		if (parse_pct(get(VMIG_ENV_MPS_THREAD_PCT), &mps) == 0 && mps <= c->compute_pct) {
			c->compute_mode = VMIG_COMPUTE_MPS;
			c->mps_pct = mps;
			return;
		}
		why_add(c, "%s=%s without %s <= %u: time-slicing", VMIG_ENV_COMPUTE_MODE,
			VMIG_COMPUTE_MODE_MPS, VMIG_ENV_MPS_THREAD_PCT, c->compute_pct);
	}
	if (c->compute_pct < 100)
		c->compute_mode = VMIG_COMPUTE_TIMESLICE;
}

static void copy_path(struct vmig__config *c, char *dst, size_t len, const char *var,
		      const char *val)
{
	if (!val || !*val)
		return;
	if (strlen(val) >= len) {
		why_add(c, "%s too long: ignored", var);
		return;
	}
	memcpy(dst, val, strlen(val) + 1);
}

void vmig__config_parse(struct vmig__config *c, vmig__getenv_fn get)
{
	memset(c, 0, sizeof(*c)); /* compute_mode NONE, mps_pct 0 */
	c->compute_pct = 100;	  /* no cap unless a valid VMIG_COMPUTE_PCT says otherwise */
	const char *dbg = get(VMIG_ENV_DEBUG);
	c->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
	snprintf(c->cuda_lib, sizeof(c->cuda_lib), "%s", VMIG_CUDA_LIBRARY_DEFAULT);
	copy_path(c, c->cuda_lib, sizeof(c->cuda_lib), VMIG_ENV_CUDA_LIBRARY,
		  get(VMIG_ENV_CUDA_LIBRARY));
	const char *part = get(VMIG_ENV_PARTITION);
	if (!part)
		return; /* no instance named: plain passthrough */
	if (!printable_id(part, sizeof(c->partition))) {
		why_add(c, VMIG_ENV_PARTITION " is empty, too long or not printable: passthrough");
		return;
	}
	c->active = true;
	memcpy(c->partition, part, strlen(part) + 1);
	const char *mem = get(VMIG_ENV_MEM_LIMIT);
	if (mem && parse_bytes(mem, &c->mem_limit) == 0)
		c->mem_limited = true;
	else if (mem)
		why_add(c, VMIG_ENV_MEM_LIMIT "=\"%.32s\" is not a byte count: no memory limit",
			mem);
	parse_compute(c, get);
	copy_path(c, c->acct_path, sizeof(c->acct_path), VMIG_ENV_ACCOUNTING,
		  get(VMIG_ENV_ACCOUNTING));
	if (!c->acct_path[0] && (c->mem_limited || c->compute_mode == VMIG_COMPUTE_TIMESLICE))
		why_add(c, "no " VMIG_ENV_ACCOUNTING ": limits count this process alone");
}

static struct vmig__config cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static const char *env_get(const char *name)
{
	return secure_getenv(name);
}

static void cfg_load(void)
{
	vmig__config_parse(&cfg, env_get);
}

const struct vmig__config *vmig__config(void)
{
	pthread_once(&cfg_once, cfg_load);
	return &cfg;
}

/* Debug output only: one line to stderr, written with one write(2). */
void vmig__log(const char *fmt, ...)
{
	char buf[1400];
	int n = snprintf(buf, sizeof(buf), "vmig-cuda[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}
