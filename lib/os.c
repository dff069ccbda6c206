/*
 * os.c — wrappers over the system calls the state store makes (see os.h).
 * The first half is fault injection: a table of per-kind counters that the
 * wrappers consult before each real call, idle (one load of one flag) unless
 * a test armed it.  The second half is the wrappers themselves, each a loop
 * that retries EINTR and finishes short transfers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

struct fault {
	unsigned calls; /* calls of this kind since counting started */
	unsigned nth;	/* fail the call whose number is nth (0 = never) */
	int err;	/* errno to fail with; 0 = a short transfer */
	bool repeat;	/* keep failing after the nth call */
};

static struct fault faults[VMIG_OS__COUNT];
static int fault_on; /* counting has started: set once by a test, read by every wrapper */

static const char *const op_names[VMIG_OS__COUNT] = {
#define VMIG__OS_NAME(name) #name,
    VMIG__OS_OPS(VMIG__OS_NAME)
#undef VMIG__OS_NAME
};

const char *vmig__os_op_name(enum vmig__os_op op)
{
	return (unsigned)op < VMIG_OS__COUNT ? op_names[op] : "?";
}

void vmig__os_fault_set(enum vmig__os_op op, unsigned nth, int err, bool repeat)
{
	if ((unsigned)op >= VMIG_OS__COUNT)
		return;
	__atomic_store_n(&faults[op].calls, 0, __ATOMIC_SEQ_CST);
	faults[op].err = err;
	faults[op].repeat = repeat;
	__atomic_store_n(&faults[op].nth, nth, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fault_on, 1, __ATOMIC_SEQ_CST);
}

void vmig__os_fault_reset(void)
{
	for (unsigned i = 0; i < VMIG_OS__COUNT; i++) {
		__atomic_store_n(&faults[i].nth, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&faults[i].calls, 0, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&fault_on, 1, __ATOMIC_SEQ_CST);
}

unsigned vmig__os_calls(enum vmig__os_op op)
{
	return (unsigned)op < VMIG_OS__COUNT ? __atomic_load_n(&faults[op].calls, __ATOMIC_SEQ_CST)
					     : 0;
}

/*
 * Count a call of this kind; true if it must fail, with *err the errno to
 * fail with (0: transfer part of the bytes).
 */
static bool fault_hit(enum vmig__os_op op, int *err)
{
	if (__builtin_expect(!__atomic_load_n(&fault_on, __ATOMIC_RELAXED), 1))
		return false;
	struct fault *f = &faults[op];
	unsigned n = __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
	unsigned nth = __atomic_load_n(&f->nth, __ATOMIC_SEQ_CST);
	if (nth == 0 || n < nth || (n > nth && !f->repeat))
		return false;
	*err = f->err;
	return true;
}

/* The wrappers.  Each returns >= 0 or -errno. */

int vmig__os_open(const char *path, int flags, mode_t mode)
{
	int e;
	for (;;) {
		if (fault_hit(VMIG_OS_OPEN, &e) && e) {
			if (e == EINTR)
				continue;
			return -e;
		}
		int fd = open(path, flags | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd;
		if (errno != EINTR)
			return -errno;
	}
}

int vmig__os_close(int fd)
{
	int e;
	if (fd < 0)
		return 0;
	bool fail = fault_hit(VMIG_OS_CLOSE, &e) && e && e != EINTR;
	/* Linux frees the descriptor even when close reports an error, so it is never retried. */
	int rc = close(fd);
	if (fail)
		return -e;
	return rc == 0 || errno == EINTR ? 0 : -errno;
}

ssize_t vmig__os_read(int fd, void *buf, size_t len)
{
	int e;
	for (;;) {
		size_t want = len;
		if (fault_hit(VMIG_OS_READ, &e)) {
			if (e == EINTR)
				continue;
			if (e)
				return -e;
			want = len > 1 ? len / 2 : len;
		}
		ssize_t n = read(fd, buf, want);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

int vmig__os_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int e;
	while (len > 0) {
		size_t want = len;
		if (fault_hit(VMIG_OS_WRITE, &e)) {
			if (e == EINTR)
				continue;
			if (e)
				return -e;
			want = len > 1 ? len / 2 : len;
		}
		ssize_t n = write(fd, p, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A regular file that accepts nothing is out of space. */
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vmig__os_fsync(int fd)
{
	int e;
	for (;;) {
		if (fault_hit(VMIG_OS_FSYNC, &e) && e) {
			if (e == EINTR)
				continue;
			return -e;
		}
		if (fsync(fd) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int vmig__os_rename(const char *from, const char *to)
{
	int e;
	if (fault_hit(VMIG_OS_RENAME, &e) && e && e != EINTR)
		return -e;
	return rename(from, to) == 0 ? 0 : -errno;
}

int vmig__os_flock(int fd, int op)
{
	int e;
	for (;;) {
		if (fault_hit(VMIG_OS_FLOCK, &e) && e) {
			if (e == EINTR)
				continue;
			return -e;
		}
		if (flock(fd, op) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int vmig__os_mkdir(const char *path, mode_t mode)
{
	int e;
	if (fault_hit(VMIG_OS_MKDIR, &e) && e && e != EINTR)
		return -e;
	return mkdir(path, mode) == 0 ? 0 : -errno;
}

int vmig__os_unlink(const char *path)
{
	int e;
	if (fault_hit(VMIG_OS_UNLINK, &e) && e && e != EINTR)
		return -e;
	return unlink(path) == 0 ? 0 : -errno;
}

int vmig__os_stat(const char *path, struct stat *st)
{
	int e;
	if (fault_hit(VMIG_OS_STAT, &e) && e && e != EINTR)
		return -e;
	return stat(path, st) == 0 ? 0 : -errno;
}

int vmig__os_lstat(const char *path, struct stat *st)
{
	int e;
	if (fault_hit(VMIG_OS_STAT, &e) && e && e != EINTR)
		return -e;
	return lstat(path, st) == 0 ? 0 : -errno;
}

int vmig__os_fstat(int fd, struct stat *st)
{
	int e;
	if (fault_hit(VMIG_OS_STAT, &e) && e && e != EINTR)
		return -e;
	return fstat(fd, st) == 0 ? 0 : -errno;
}

int vmig__os_mmap(int fd, size_t len, int prot, void **ret)
{
	int e;
	if (fault_hit(VMIG_OS_MMAP, &e) && e && e != EINTR)
		return -e;
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

void vmig__os_munmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int vmig__os_getrandom(void *buf, size_t len)
{
	char *p = buf;
	int e;
	while (len > 0) {
		if (fault_hit(VMIG_OS_GETRANDOM, &e) && e) {
			if (e == EINTR)
				continue;
			return -e;
		}
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Bounded lock waits                                                        */
/* ------------------------------------------------------------------------ */

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polling, for when no waiter thread can be started: naps from 1 ms up to 10 ms. */
static int flock_poll(int fd, int op, double deadline)
{
	long nap_us = 1000;
	for (;;) {
		int rc = vmig__os_flock(fd, op | LOCK_NB);
		if (rc != -EWOULDBLOCK)
			return rc;
		double left = deadline - mono_now();
		if (left <= 0)
			return 1;
		long us = nap_us < (long)(left * 1e6) + 1 ? nap_us : (long)(left * 1e6) + 1;
		struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
		nanosleep(&ts, NULL);
		nap_us = nap_us * 2 > 10000 ? 10000 : nap_us * 2;
	}
}

/*
 * A blocking flock, done by a thread of its own on a duplicate of the
 * descriptor (same open file description, so the same lock), while the
 * caller waits for it with a deadline.  A waiter blocked in the kernel is
 * woken the moment the lock is free, which polling is not: under steady
 * contention a poller can miss every gap and starve.  When the caller gives
 * up, the waiter is abandoned: if it ever gets the lock, it lets go at once.
 */
enum { W_WAITING, W_GOT, W_FAILED, W_ABANDONED };

struct flock_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd, op, state, err;
};

static void waiter_free(struct flock_waiter *w)
{
	close(w->fd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static unsigned live_waiters; /* threads of waiter_main (atomic) */

unsigned vmig__os_flock_waiters(void)
{
	return __atomic_load_n(&live_waiters, __ATOMIC_ACQUIRE);
}

static void *waiter_main(void *arg)
{
	struct flock_waiter *w = arg;
	int rc;
	while ((rc = flock(w->fd, w->op)) < 0 && errno == EINTR)
		;
	int err = rc < 0 ? errno : 0;
	pthread_mutex_lock(&w->mu);
	bool abandoned = w->state == W_ABANDONED;
	if (!abandoned) {
		w->state = rc < 0 ? W_FAILED : W_GOT;
		w->err = err;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	if (abandoned) {
		if (rc == 0)
			flock(w->fd, LOCK_UN);
		waiter_free(w);
	}
	__atomic_sub_fetch(&live_waiters, 1, __ATOMIC_RELEASE);
	return NULL;
}

int vmig__os_flock_wait(int fd, int op, double timeout)
{
	int rc = vmig__os_flock(fd, op | LOCK_NB);
	if (rc != -EWOULDBLOCK)
		return rc;
	double deadline = mono_now() + timeout;
	struct flock_waiter *w = calloc(1, sizeof(*w));
	int dfd = w ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t t;
	if (dfd < 0) {
		free(w);
		return flock_poll(fd, op, deadline);
	}
	*w = (struct flock_waiter){.fd = dfd, .op = op, .state = W_WAITING};
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&ta);
	pthread_attr_setstacksize(&ta, 64 * 1024);
	__atomic_add_fetch(&live_waiters, 1, __ATOMIC_RELAXED);
	int started = pthread_create(&t, &ta, waiter_main, w);
	pthread_attr_destroy(&ta);
	if (started != 0) {
		__atomic_sub_fetch(&live_waiters, 1, __ATOMIC_RELAXED);
		waiter_free(w);
		return flock_poll(fd, op, deadline);
	}
	struct timespec until;
	double whole = (double)(long long)deadline;
	until.tv_sec = (time_t)whole;
	until.tv_nsec = (long)((deadline - whole) * 1e9);
	pthread_mutex_lock(&w->mu);
	while (w->state == W_WAITING && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
		;
	int state = w->state, err = w->err;
	if (state == W_WAITING)
		w->state = W_ABANDONED; /* the waiter frees it */
	pthread_mutex_unlock(&w->mu);
	if (state == W_WAITING) {
		pthread_detach(t); /* it lets go of the lock and exits whenever it gets it */
		return 1;
	}
	/* It has decided: wait for it to be gone, so no thread outlives its work. */
	pthread_join(t, NULL);
	waiter_free(w);
	return state == W_GOT ? 0 : -err;
}

/*
 * Who holds a flock on the file open on fd: the PID the kernel lists for it
 * in /proc/locks (the process that took it), or 0 when it cannot tell.
 * Lines read "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF"; waiters'
 * lines carry "->" after the number and are skipped.
 */
pid_t vmig__os_lock_holder(int fd, bool *exclusive)
{
	struct stat st;
	if (vmig__os_fstat(fd, &st) < 0)
		return 0;
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	pid_t who = 0;
	while (f && !who && fgets(line, sizeof(line), f)) {
		char kind[16], mode[16];
		unsigned maj, min;
		unsigned long long ino;
		long pid;
		if (strstr(line, "->") ||
		    sscanf(line, "%*d: %15s %*s %15s %ld %x:%x:%llu", kind, mode, &pid, &maj, &min,
			   &ino) != 6 ||
		    strcmp(kind, "FLOCK") != 0)
			continue;
		if (ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) &&
		    min == minor(st.st_dev) && pid > 0) {
			who = (pid_t)pid;
			*exclusive = strcmp(mode, "WRITE") == 0;
		}
	}
	if (f)
		fclose(f);
	return who;
}
