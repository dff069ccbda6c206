/*
 * internal.h — declarations shared between libvmig's files and not exported.
 * Names here use the vmig__ prefix; everything else internal is static.
 */
#ifndef VMIG_INTERNAL_H
#define VMIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "vmig/vmig.h"

#define VMIG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Free *p on scope exit: `_cleanup_free_ char *buf = NULL;`. */
void vmig__freep(void *p);
#define _cleanup_free_ __attribute__((cleanup(vmig__freep)))

/* Is start one of a profile's possible placements (its first n starts)? */
bool vmig__starts_contain(const unsigned *starts, unsigned n, unsigned start);

/*
 * Read a canonical decimal number at *p (at least one digit, no sign, no
 * leading zero unless the number is 0) that is at most max; advances *p
 * only on success.
 */
bool vmig__read_dec(const char **p, unsigned max, unsigned *ret);

/*
 * vmig_state_parse into scratch, which is overwritten whatever the outcome
 * (a caller that keeps one scratch record saves an allocation per read).
 */
int vmig__state_parse_into(const char *buf, size_t len, struct vmig_state *scratch,
			   struct vmig_err *err);

/*
 * Holding a store (lib/store.c, docs/state.md "One command, one commit"):
 * take the exclusive lock and keep the state in memory; every transaction
 * of the same handle (vmig__store_transact) then changes the held state
 * (each one still all or nothing) and reads of it see the changes; release
 * writes it once (commit) or drops it.
 */
int vmig__store_hold(struct vmig_store *s, struct vmig_err *err);
struct vmig_state *vmig__store_held(struct vmig_store *s);
/* A change landed in the held state: release writes it. */
void vmig__store_touch(struct vmig_store *s);
int vmig__store_release(struct vmig_store *s, bool commit, struct vmig_err *err);

/*
 * A state record to run one change in, the same for every change of the
 * handle: a record of 64 KiB, allocated per change, costs its pages' faults
 * every time where the allocator maps it afresh (sanitizer builds, a trimmed
 * heap).  NULL when it is taken (a change inside a change) or memory ran out:
 * the caller then allocates its own.  vmig__store_work_done gives it back, or
 * frees a record that is not the handle's.
 */
struct vmig_state *vmig__store_work(struct vmig_store *s);
void vmig__store_work_done(struct vmig_store *s, struct vmig_state *st);

/*
 * lib/store.c, for the files that live beside the state (lib/cdi_keep.c):
 * the state directory as vmig_store_open(NULL) finds it (malloc'ed); the
 * refusal of a directory others may write; $VMIG_LOCK_TIMEOUT.
 */
int vmig__state_dir(char **ret, struct vmig_err *err);
int vmig__dir_trust(const char *dir, struct vmig_err *err);
int vmig__lock_timeout(double *ret, struct vmig_err *err);

/*
 * lib/ctx.c: a change reached the state of the state directory dir (NULL:
 * the default one), committed.  Runs the hook that vmig_cdi_keep_install
 * sets (lib/cdi_keep.c, which rewrites the kept CDI specs); nothing when
 * none is installed, as in the simulated NVML library, which is linked
 * without it.
 */
extern void (*vmig__on_change)(const char *dir);
void vmig__changed(const char *dir);

/*
 * The driver's mig-minors table (lib/cdi.c, docs/containers.md): the file's
 * text (malloc'ed), and the minors of GPU gpu_minor's GI gi (ret[0]) and its
 * CI ci (ret[1]) in it; NOT_FOUND naming the missing line.
 */
int vmig__minors_load(const char *path, char **ret_text, struct vmig_err *err);
int vmig__mig_cap_minors(const char *text, const char *path, unsigned gpu_minor, unsigned gi,
			 unsigned ci, unsigned ret[2], struct vmig_err *err);

/* opt when not NULL, else $name when set and not empty, else dflt. */
const char *vmig__env_or(const char *opt, const char *name, const char *dflt);

/*
 * Text that grows as it is written (lib/util.c): vmig__put appends like
 * printf; a failure (no memory) is remembered, and vmig__text_done hands the
 * text out (*ret malloc'ed) or frees it and answers NO_MEMORY.  Start from {0}.
 */
struct vmig__text {
	char *s;
	size_t n, cap;
	int failed;
};
void vmig__put(struct vmig__text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vmig__text_done(struct vmig__text *t, char **ret, struct vmig_err *err);

/* mkdir -p (mode 0755 less the umask); IO naming the part that cannot be made. */
int vmig__mkdirs(const char *dir, struct vmig_err *err);

#endif
