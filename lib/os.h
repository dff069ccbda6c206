/*
 * os.h — the thin layer between libvmig and the operating system for the
 * files the state store keeps.  Every call the store makes to open, read,
 * write, sync, rename, lock or map a file goes through one of these wrappers,
 * so that EINTR and short transfers are handled once, and so that tests can
 * make the Nth call of a kind fail (sqlite's habit): fault injection lives
 * here and nowhere else.
 *
 * Wrappers return >= 0 on success and a negated errno on failure (never -1
 * with errno), which keeps the callers' error paths short.
 */
#ifndef VMIG_OS_H
#define VMIG_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The kinds of call that fault injection can target. */
#define VMIG__OS_OPS(X)                                                                            \
	X(OPEN)                                                                                    \
	X(READ)                                                                                    \
	X(WRITE)                                                                                   \
	X(FSYNC)                                                                                   \
	X(RENAME)                                                                                  \
	X(FLOCK)                                                                                   \
	X(MKDIR)                                                                                   \
	X(UNLINK)                                                                                  \
	X(STAT)                                                                                    \
	X(MMAP)                                                                                    \
	X(CLOSE)                                                                                   \
	X(GETRANDOM)

enum vmig__os_op {
#define VMIG__OS_ENUM(name) VMIG_OS_##name,
	VMIG__OS_OPS(VMIG__OS_ENUM)
#undef VMIG__OS_ENUM
	    VMIG_OS__COUNT
};

/*
 * Fault injection, for tests.  After vmig__os_fault_set(op, nth, err, repeat)
 * the nth call of that kind from now (1 = the next one) fails with err; with
 * repeat, every later call fails too (a full disk).  err 0 on WRITE or READ
 * means "transfer only part of the bytes" (a short transfer, which the
 * wrappers must finish); EINTR makes the wrappers retry.  nth 0 disarms.
 * Counting starts at the first vmig__os_fault_set or vmig__os_fault_reset and
 * applies to the whole process; vmig__os_calls tells how many calls of a kind
 * were made since, so a test can first count the calls of an operation and
 * then fail each of them in turn.
 */
void vmig__os_fault_set(enum vmig__os_op op, unsigned nth, int err, bool repeat);
/* Disarm every fault and zero the call counters (counting stays on). */
void vmig__os_fault_reset(void);
unsigned vmig__os_calls(enum vmig__os_op op);
const char *vmig__os_op_name(enum vmig__os_op op);

int vmig__os_open(const char *path, int flags, mode_t mode);
/* Close, ignoring EINTR (on Linux the descriptor is gone either way). */
int vmig__os_close(int fd);
/* One read (retried on EINTR): bytes read, 0 at end of file. */
ssize_t vmig__os_read(int fd, void *buf, size_t len);
/* Write all of buf, finishing short writes; ENOSPC if the file stops growing. */
int vmig__os_write_all(int fd, const void *buf, size_t len);
int vmig__os_fsync(int fd);
int vmig__os_rename(const char *from, const char *to);
/* flock(2), retried on EINTR. */
int vmig__os_flock(int fd, int op);
int vmig__os_mkdir(const char *path, mode_t mode);
int vmig__os_unlink(const char *path);
int vmig__os_stat(const char *path, struct stat *st);
int vmig__os_lstat(const char *path, struct stat *st); /* the link itself, not followed */
int vmig__os_fstat(int fd, struct stat *st);
/* mmap(2) of a whole small file from offset 0; *ret is the mapping. */
int vmig__os_mmap(int fd, size_t len, int prot, void **ret);
void vmig__os_munmap(void *p, size_t len);
/* Fill buf with random bytes from the kernel. */
int vmig__os_getrandom(void *buf, size_t len);

/*
 * flock(op) on fd, waiting at most timeout seconds: attempts that never
 * block, with naps growing from 1 ms to 50 ms, so that a holder that is
 * stopped (SIGSTOP, a debugger, a frozen cgroup) cannot make the caller wait
 * for ever.  0 locked, 1 timed out, -errno on failure.
 */
int vmig__os_flock_wait(int fd, int op, double timeout);
/*
 * Waiting threads of vmig__os_flock_wait still alive, abandoned ones
 * included (each lets go of its lock and exits when it gets it): for tests,
 * which wait for them to end before the process does.
 */
unsigned vmig__os_flock_waiters(void);
/*
 * Who holds a flock on the file open on fd: the PID /proc/locks lists for
 * it (the process that took it; *exclusive tells the kind), or 0 when it
 * cannot tell.
 */
pid_t vmig__os_lock_holder(int fd, bool *exclusive);

#endif
