/*
 * limits_file.c — the limits file of a software GPU instance (limits_file.h): its
 * format, its parser and the checks that make it trustworthy, shared by
 * libvmig (which writes it) and the interposer (which reads it).  No
 * allocation, no locale, nothing that could not run inside any process.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits_file.h"

int vmig__limits_format(const struct vmig__limits *l, char *buf, size_t size)
{
	size_t plen = strnlen(l->partition, sizeof(l->partition));
	if (plen == 0 || plen >= sizeof(l->partition) || l->mem_limit == 0 ||
	    l->mem_limit > VMIG_LIMITS_MEM_MAX || l->compute_pct < 1 || l->compute_pct > 100 ||
	    l->compute_policy > VMIG_POLICY_CAP)
		return -1;
	int n = snprintf(buf, size,
			 "vmig-limits %d\npartition %s\nmem_limit %" PRIu64
			 "\ncompute_pct %u\ncompute_policy %s\nowner %" PRIu32 ":%" PRIu32 "\n",
			 VMIG_LIMITS_VERSION, l->partition, l->mem_limit, l->compute_pct,
			 vmig__policy_name(l->compute_policy), l->uid, l->gid);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

const char *vmig__policy_name(unsigned policy)
{
	return policy == VMIG_POLICY_CAP ? "cap" : policy == VMIG_POLICY_SHARE ? "share" : NULL;
}

int vmig__policy_parse(const char *s, size_t n, unsigned *ret)
{
	for (unsigned p = VMIG_POLICY_SHARE; p <= VMIG_POLICY_CAP; p++) {
		const char *name = vmig__policy_name(p);
		if (n == strlen(name) && memcmp(s, name, n) == 0) {
			*ret = p;
			return 0;
		}
	}
	return -1;
}

/* A decimal without sign or leading zeros, at most max, ending at *end. */
static bool number(const char *s, const char *end, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;
	if (s == end || (end - s > 1 && *s == '0'))
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return false;
	*ret = v;
	return true;
}

/* The next line, which must be "<key> <value>": the value in [*v, *vend). */
static bool line(const char **p, const char *end, const char *key, const char **v,
		 const char **vend)
{
	size_t k = strlen(key);
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	if (!nl || (size_t)(nl - *p) <= k + 1 || memcmp(*p, key, k) != 0 || (*p)[k] != ' ')
		return false;
	*v = *p + k + 1;
	*vend = nl;
	for (const char *c = *v; c < nl; c++)
		if (*c <= ' ' || *c > '~')
			return false;
	*p = nl + 1;
	return true;
}

const char *vmig__limits_parse(const char *buf, size_t len, struct vmig__limits *l)
{
	const char *p = buf, *end = buf + len, *v, *ve, *colon;
	uint64_t x, u, g;
	memset(l, 0, sizeof(*l));
	if (len > VMIG_LIMITS_MAX)
		return "longer than any limits file";
	if (!line(&p, end, "vmig-limits", &v, &ve) || !number(v, ve, UINT32_MAX, &x))
		return "not a limits file";
	if (x != VMIG_LIMITS_VERSION && x != 1)
		return "a limits file of another version";
	bool has_policy = x >= 2; /* version 1 had no policy line: the default, share */
	if (!line(&p, end, "partition", &v, &ve) || (size_t)(ve - v) >= sizeof(l->partition))
		return "bad partition line";
	memcpy(l->partition, v, (size_t)(ve - v));
	if (!line(&p, end, "mem_limit", &v, &ve) || !number(v, ve, VMIG_LIMITS_MEM_MAX, &x) ||
	    x == 0)
		return "bad mem_limit line";
	l->mem_limit = x;
	if (!line(&p, end, "compute_pct", &v, &ve) || !number(v, ve, 100, &x) || x == 0)
		return "bad compute_pct line";
	l->compute_pct = (unsigned)x;
	if (has_policy && (!line(&p, end, "compute_policy", &v, &ve) ||
			   vmig__policy_parse(v, (size_t)(ve - v), &l->compute_policy) < 0))
		return "bad compute_policy line";
	if (!line(&p, end, "owner", &v, &ve) || !(colon = memchr(v, ':', (size_t)(ve - v))) ||
	    !number(v, colon, UINT32_MAX - 1, &u) || !number(colon + 1, ve, UINT32_MAX - 1, &g))
		return "bad owner line";
	l->uid = (uint32_t)u;
	l->gid = (uint32_t)g;
	if (p != end)
		return "bytes after the owner line";
	return NULL;
}

/* The directory path is in: its status, followed as the kernel would follow path. */
static int dir_of(const char *path, struct stat *st)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		errno = ENAMETOOLONG;
		return -1;
	}
	return stat(dir, st);
}

const char *vmig__limits_read(const char *path, struct vmig__limits *l, struct stat *st)
{
	static __thread char why[96];
	struct stat dst;
	char buf[VMIG_LIMITS_MAX + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, sizeof(why), "%s",
			 errno == ELOOP ? "a symbolic link" : strerror(errno));
		return why;
	}
	const char *bad = NULL;
	ssize_t n = 0;
	if (fstat(fd, st) < 0 || dir_of(path, &dst) < 0)
		bad = "cannot read its status";
	else if (!S_ISREG(st->st_mode))
		bad = "not a regular file";
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		bad = "writable by its group or others";
	else if (st->st_uid != 0 && st->st_uid != dst.st_uid)
		bad = "owned neither by root nor by its directory's owner";
	else if (dst.st_mode & (S_IWGRP | S_IWOTH))
		bad = "in a directory writable by its group or others";
	else if (st->st_size > VMIG_LIMITS_MAX)
		bad = "longer than any limits file";
	else if ((n = read(fd, buf, sizeof(buf))) < 0)
		bad = "cannot be read";
	else
		bad = vmig__limits_parse(buf, (size_t)n, l);
	close(fd);
	return bad;
}

const char *vmig__limits_check_acct(int fd, const struct stat *lst, const struct vmig__limits *l)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return "not a regular file";
	if (st.st_uid != lst->st_uid)
		return "not owned by the owner of its limits file";
	if (st.st_gid != l->gid)
		return "not of the instance's group";
	if (st.st_mode & (S_IRWXO | S_ISUID | S_ISGID))
		return "open to others than the instance's group";
	return NULL;
}

bool vmig__limits_admits(const struct vmig__limits *l, const struct stat *lst)
{
	uid_t euid = geteuid();
	if (euid == 0 || euid == lst->st_uid || getegid() == (gid_t)l->gid)
		return true;
	gid_t few[256], *groups = few;
	int n = getgroups(0, NULL);
	if (n > (int)(sizeof(few) / sizeof(few[0])) &&
	    !(groups = malloc((size_t)n * sizeof(gid_t))))
		return false;
	n = n > 0 ? getgroups(n, groups) : 0;
	bool in = false;
	for (int i = 0; i < n && !in; i++)
		in = groups[i] == (gid_t)l->gid;
	if (groups != few)
		free(groups);
	return in;
}
