/*
 * config.c — the instance's limits.  The environment is read once
 * (pthread_once) into one validated struct; every later decision reads the
 * struct.  The environment names the instance (iface/run_env.h); its limits
 * come from its limits file (iface/limits_file.h), which vmig wrote, and a file
 * that cannot be trusted, or an instance this process is not admitted to,
 * fails closed.  Other bad values never stop the host program: that
 * setting falls back and the reason goes into why[], which is printed only
 * when VMIG_DEBUG is set.  Also the one logging function.
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

/* Add a reason, once: the compute mode is decided again after the limits file is read. */
static void why_add(struct vmig__config *c, const char *fmt, ...)
{
	char one[sizeof(c->why)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	size_t len = strlen(c->why), n = strlen(one);
	if (strstr(c->why, one) || len + 2 + n >= sizeof(c->why))
		return; /* said already, or no room */
	if (len) {
		memcpy(c->why + len, "; ", 2);
		len += 2;
	}
	memcpy(c->why + len, one, n + 1);
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
static void compute_mode(struct vmig__config *c, vmig__getenv_fn get)
{
	const char *mode = get(VMIG_ENV_COMPUTE_MODE);
	c->compute_mode = VMIG_COMPUTE_NONE;
	c->mps_pct = 0;
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

static void parse_compute(struct vmig__config *c, vmig__getenv_fn get)
{
	const char *pct = get(VMIG_ENV_COMPUTE_PCT);
	if (pct && parse_pct(pct, &c->compute_pct) < 0)
		why_add(c, VMIG_ENV_COMPUTE_PCT "=\"%.32s\" is not 1-100: ignored", pct);
	compute_mode(c, get);
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
		why_add(c, VMIG_ENV_MEM_LIMIT "=\"%.32s\" is not a byte count: ignored", mem);
	parse_compute(c, get);
	copy_path(c, c->acct_path, sizeof(c->acct_path), VMIG_ENV_ACCOUNTING,
		  get(VMIG_ENV_ACCOUNTING));
}

static void close_with(struct vmig__config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void close_with(struct vmig__config *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->closed_why, sizeof(c->closed_why), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(c->closed_why))
		snprintf(c->closed_why + n, sizeof(c->closed_why) - (size_t)n,
			 ": failing closed (CUDA calls return CUDA_ERROR_NOT_INITIALIZED)");
	c->closed = true;
}

/*
 * The instance's limits come from the file vmig wrote for it, never from
 * the environment: a process that sets VMIG_MEM_LIMIT itself, or lost it
 * (env -i, ssh, a login shell), gets the instance's quota.  The variable
 * may only lower this process's view of it; VMIG_COMPUTE_PCT counts for
 * nothing (the share is the file's, then the region's, which -rg changes).
 */
void vmig__config_limits(struct vmig__config *c, vmig__getenv_fn get)
{
	if (!c->active)
		return;
	if (!c->acct_path[0]) {
		close_with(c, "no " VMIG_ENV_ACCOUNTING ": the instance's limits are unknown");
		return;
	}
	/* acct_path is NUL-terminated within VMIG_ACCT_PATH_LEN (no printf on the start path). */
	char path[VMIG_ACCT_PATH_LEN + sizeof(VMIG_LIMITS_SUFFIX)];
	size_t n = strnlen(c->acct_path, VMIG_ACCT_PATH_LEN - 1);
	memcpy(path, c->acct_path, n);
	memcpy(path + n, VMIG_LIMITS_SUFFIX, sizeof(VMIG_LIMITS_SUFFIX));
	const char *bad = vmig__limits_read(path, &c->limits, &c->limits_st);
	if (bad) {
		close_with(c, "limits file %s: %s", path, bad);
		return;
	}
	if (strcmp(c->limits.partition, c->partition) != 0) {
		close_with(c, "limits file %s is the instance %s's, not %s's", path,
			   c->limits.partition, c->partition);
		return;
	}
	if (!vmig__limits_admits(&c->limits, &c->limits_st)) {
		close_with(c, "user %u is not in group %u of the instance %s", (unsigned)geteuid(),
			   (unsigned)c->limits.gid, c->partition);
		return;
	}
	if (c->mem_limited && c->mem_limit < c->limits.mem_limit) {
		why_add(c, VMIG_ENV_MEM_LIMIT " lowers the quota of %s to %llu bytes", c->partition,
			(unsigned long long)c->mem_limit);
	} else {
		if (c->mem_limited && c->mem_limit > c->limits.mem_limit)
			why_add(c, VMIG_ENV_MEM_LIMIT " above the instance's quota: ignored");
		c->mem_limit = c->limits.mem_limit;
	}
	c->mem_limited = true;
	c->compute_pct = c->limits.compute_pct;
	compute_mode(c, get);
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
	vmig__config_limits(&cfg, env_get);
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
