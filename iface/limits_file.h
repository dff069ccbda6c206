/*
 * limits_file.h — the limits file of a software GPU instance: the one definition
 * of what the soft backend (lib/backend/soft.c) writes when it creates a GI
 * or changes its share, and what the interposer (interpose/config.c) and
 * `vmig run` (cli/run.c) read.  docs/tenancy.md describes why it exists:
 * the interposer takes an instance's limits from this file, never from the
 * environment, which a process can change.
 *
 * The file is "<accounting file>" VMIG_LIMITS_SUFFIX, beside the
 * accounting file (run_env.h's VMIG_ACCOUNTING), so nothing new is carried
 * in the environment.  Text, one "key value" line each, in this order:
 *
 *   vmig-limits 1
 *   partition GPU-.../gi3
 *   mem_limit 6308233216
 *   compute_pct 25
 *   compute_policy share
 *   owner 1000:1000
 *
 * (Version 1 had no compute_policy line; it is still read, as "share".)
 * Readers refuse anything else (another version, a missing, extra or
 * repeated line, a number out of range, a byte outside printable ASCII).
 * The helpers live in iface/limits_file.c, compiled into libvmig and the
 * interposer, so there is one copy of the format and of the checks below.
 */
#ifndef VMIG_IFACE_LIMITS_FILE_H
#define VMIG_IFACE_LIMITS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "region.h"
#include "run_env.h"

#define VMIG_LIMITS_SUFFIX  ".limits"
#define VMIG_LIMITS_VERSION 2
#define VMIG_LIMITS_MAX	    1024 /* bytes: a longer file is refused */
/* The largest quota a limits file may hold: sums of many slots must not overflow. */
#define VMIG_LIMITS_MEM_MAX (1ULL << 56)

struct vmig__limits {
	char partition[VMIG_PARTITION_LEN]; /* VMIG_PARTITION of the instance */
	uint64_t mem_limit;		    /* bytes, 1 .. VMIG_LIMITS_MEM_MAX */
	unsigned compute_pct;		    /* 1-100, at creation or the last -rg */
	unsigned compute_policy;	    /* enum vmig__policy (region.h) */
	uint32_t uid, gid;		    /* the instance's owner: user (shown) and group */
};

/*
 * The names of the compute policies ("share", "cap"; NULL for another
 * number), and back: 0, or -1 for another word.
 */
const char *vmig__policy_name(unsigned policy);
int vmig__policy_parse(const char *s, size_t n, unsigned *ret);
/* The text of l into buf: its length, or -1 when it does not fit or l is invalid. */
int vmig__limits_format(const struct vmig__limits *l, char *buf, size_t size);
/* Parse a whole file's bytes: NULL, or why not. */
const char *vmig__limits_parse(const char *buf, size_t len, struct vmig__limits *l);
/*
 * Open path without following a link and without blocking, check it and
 * parse it.  Checks: a regular file of at most VMIG_LIMITS_MAX bytes, not
 * writable by its group or others, owned by root or by the owner of the
 * directory it is in, a directory itself not writable by group or others.
 * NULL with *l and *st (the file's) filled, or why not, in words.
 */
const char *vmig__limits_read(const char *path, struct vmig__limits *l, struct stat *st);
/*
 * Is the accounting file open on fd the one vmig made for the instance whose
 * limits file is lst: a regular file with the same owner, the instance's
 * group, and no access for others?  NULL, or why not.
 */
const char *vmig__limits_check_acct(int fd, const struct stat *lst, const struct vmig__limits *l);
/*
 * May this process attach to the instance?  Root, the owner of the limits
 * file (who administers the state), and members of the instance's group
 * (effective or supplementary) may.
 */
bool vmig__limits_admits(const struct vmig__limits *l, const struct stat *lst);

#endif
