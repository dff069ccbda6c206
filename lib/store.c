/*
 * store.c — the state directory: where it is, how it is locked, how a change
 * is committed, and the generation counter that lets caches skip re-reading.
 *
 * The directory holds four files (docs/state.md):
 *   state        the state text (lib/state.c), replaced whole by rename
 *   state.tmp    the next state while it is written; ignored by readers
 *   lock         flock'ed: shared by readers, exclusive by writers
 *   generation   a small binary page mapped MAP_SHARED by every process;
 *                its counter is the generation of the last commit
 * A commit writes state.tmp, fsyncs it, bumps the counter, renames
 * state.tmp over state and fsyncs the directory, all inside the exclusive
 * lock; a crash at any instant leaves the old or the new state.  Every
 * system call goes through lib/os.c, where tests inject faults.  Files are
 * opened O_NONBLOCK: no effect on regular files, but a FIFO put in a file's
 * place cannot make us wait forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "os.h"

#define STATE_NAME	"state"
#define TMP_NAME	"state.tmp"
#define LOCK_NAME	"lock"
#define GEN_NAME	"generation"
#define GEN_TMP_NAME	"generation.tmp"
#define LONGEST_NAME	GEN_TMP_NAME
#define MAX_STATE_BYTES (16u << 20) /* far above the largest valid state (~1 MiB) */
#define LOCK_RETRIES	100

/*
 * The generation page.  Fixed-width fields, a magic number and a version:
 * it is shared between processes of possibly different vmig versions.  It is
 * created whole (written aside, renamed into place) and afterwards only the
 * counter changes, by atomic stores under the exclusive lock.
 */
#define GEN_MAGIC     0x6e65672d67696d76ull /* "vmig-gen" read as a little-endian u64 */
#define GEN_VERSION   1u
#define GEN_FILE_SIZE 4096

struct gen_page {
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct gen_page) */
	uint64_t counter;
	uint64_t reserved[5];
};

enum { GEN_BAD = 1, GEN_NEWER = 2 }; /* gen_map results besides 0 and -errno */

struct vmig_store {
	char *dir;
	int lock_fd;	      /* descriptor holding the lock; -1 when unlocked */
	pid_t lock_pid;	      /* the process that took it */
	bool in_txn;	      /* between begin and commit/abort: the lock is exclusive */
	uint64_t txn_gen;     /* generation of the state that begin read */
	struct gen_page *gen; /* the mapped generation page, or NULL */
	bool gen_rw;
	dev_t gen_dev;
	ino_t gen_ino;
	struct vmig_state *held; /* vmig__store_hold: the state changes go to until release */
	bool held_changed;	 /* a change landed in it: release has something to write */
	char *rbuf;		 /* the last read's text, kept for the next read */
	size_t rcap;
	struct vmig_state *scratch; /* what a read parses into before it is valid */
	/*
	 * The file scratch holds, valid, while cached: a read that finds the
	 * same file under the same counter copies it instead of parsing (load).
	 */
	bool cached;
	dev_t cached_dev;
	ino_t cached_ino;
	off_t cached_size;
	struct timespec cached_mtim;
	struct vmig_state *work; /* vmig__store_work's record, kept for the next change */
	bool work_taken;
};

/* ------------------------------------------------------------------------ */
/* Errors and paths                                                          */
/* ------------------------------------------------------------------------ */

/* Turn a -errno from lib/os.c into a vmig error whose message ends with strerror. */
static __attribute__((format(printf, 3, 4))) int os_error(struct vmig_err *err, int neg_errno,
							  const char *fmt, ...)
{
	char ctx[PATH_MAX + 128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	int e = -neg_errno;
	int code = (e == EACCES || e == EPERM || e == EROFS) ? VMIG_E_NO_PERMISSION
		   : e == ENOMEM			     ? VMIG_E_NO_MEMORY
							     : VMIG_E_IO;
	return vmig_err_set(err, code, "%s: %s", ctx, strerror(e));
}

/* dir + "/" + name; the length was checked when the store was opened. */
static const char *path_in(const struct vmig_store *s, const char *name, char buf[PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s/%s", s->dir, name);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Where the directory is                                                    */
/* ------------------------------------------------------------------------ */

static int dup_path(const char *a, const char *b, char **ret, struct vmig_err *err)
{
	size_t la = strlen(a), lb = strlen(b);
	/* Trailing slashes would make two spellings of one directory. */
	while (la > 1 && a[la - 1] == '/')
		la--;
	if (la + lb + sizeof(LONGEST_NAME) + 1 >= PATH_MAX)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "state directory path too long: %.100s...", a);
	char *p = malloc(la + lb + 1);
	if (!p)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	memcpy(p, a, la);
	memcpy(p + la, b, lb + 1);
	*ret = p;
	return 0;
}

/* An absolute path from the environment, or an error naming the variable. */
static int env_path(const char *var, const char *val, struct vmig_err *err)
{
	if (!*val)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "%s is set but empty; it must name the state directory", var);
	if (val[0] != '/')
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "%s must be an absolute path, not '%.200s'", var, val);
	return 0;
}

/*
 * The argument, else $VMIG_STATE_DIR, else /var/lib/vmig or the XDG state home
 * (docs/state.md, "Where the directory is").
 */
static int resolve_dir(const char *dir, char **ret, struct vmig_err *err)
{
	if (dir) {
		if (!*dir)
			return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
					    "state directory path is empty");
		return dup_path(dir, "", ret, err);
	}
	const char *env = secure_getenv("VMIG_STATE_DIR");
	if (env) {
		int rc = env_path("VMIG_STATE_DIR", env, err);
		return rc ? rc : dup_path(env, "", ret, err);
	}
	if (geteuid() == 0)
		return dup_path("/var/lib/vmig", "", ret, err);
	const char *xdg = secure_getenv("XDG_STATE_HOME");
	if (xdg && *xdg) { /* the XDG spec treats an empty value as unset */
		int rc = env_path("XDG_STATE_HOME", xdg, err);
		return rc ? rc : dup_path(xdg, "/vmig", ret, err);
	}
	const char *home = secure_getenv("HOME");
	if (!home)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "cannot choose a state directory: HOME is not set "
				    "(set VMIG_STATE_DIR)");
	int rc = env_path("HOME", home, err);
	return rc ? rc : dup_path(home, "/.local/state/vmig", ret, err);
}

/* A missing directory is fine (it is created at the first commit); anything else but a directory is
 * not. */
static int check_dir(const char *dir, struct vmig_err *err)
{
	struct stat st;
	int rc = vmig__os_stat(dir, &st);
	if (rc == -ENOENT)
		return 0;
	if (rc == -ENOTDIR || (rc == 0 && !S_ISDIR(st.st_mode)))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "state directory %s is not a directory", dir);
	if (rc < 0)
		return os_error(err, rc, "cannot access state directory %s", dir);
	return 0;
}

/* mkdir -p with mode 0755 (less the umask). */
static int make_dirs(const char *dir)
{
	char buf[PATH_MAX];
	struct stat st;
	int rc = vmig__os_stat(dir, &st);
	if (rc == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		rc = vmig__os_mkdir(buf, 0755);
		if (rc < 0 && rc != -EEXIST)
			return rc;
		*p = c;
		if (c == '\0')
			break;
	}
	rc = vmig__os_stat(dir, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The lock                                                                  */
/* ------------------------------------------------------------------------ */

static void unlock(struct vmig_store *s)
{
	if (s->lock_fd >= 0) {
		/*
		 * The lock belongs to the open file description, which a forked
		 * child shares.  The process that took it unlocks explicitly, so a
		 * child still holding a copy cannot keep it; a child only closes
		 * its copy, so it cannot free its parent's lock.
		 */
		if (s->lock_pid == getpid())
			vmig__os_flock(s->lock_fd, LOCK_UN);
		vmig__os_close(s->lock_fd);
	}
	s->lock_fd = -1;
	s->in_txn = false;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return vmig__os_fstat(fd, &a) == 0 && vmig__os_stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * A state directory that others may write is one where anybody could plant
 * a state (or a link where vmig writes): refuse it, for reading and for
 * changing, and say how to fix it.  A changer also wants the directory to be
 * its own or root's.  A missing directory has nothing to trust yet.
 */
int vmig__dir_trust(const char *dir, struct vmig_err *err)
{
	struct stat st;
	int rc = vmig__os_stat(dir, &st);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return os_error(err, rc, "cannot access state directory %s", dir);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return vmig_err_set(err, VMIG_E_NO_PERMISSION,
				    "state directory %s may be written by %s (mode %04o): refusing "
				    "to trust it (chmod go-w it)",
				    dir, st.st_mode & S_IWOTH ? "anyone" : "its group",
				    (unsigned)(st.st_mode & 07777));
	return 0;
}

static int trust_dir(const struct vmig_store *s, struct vmig_err *err)
{
	return vmig__dir_trust(s->dir, err);
}

/* ---- bounded waits ---- */

#define LOCK_TIMEOUT_ENV     "VMIG_LOCK_TIMEOUT"
#define LOCK_TIMEOUT_DEFAULT 5.0    /* seconds */
#define LOCK_TIMEOUT_MAX     3600.0 /* seconds */

/* How long a writer waits for the lock: $VMIG_LOCK_TIMEOUT seconds, else the default. */
int vmig__lock_timeout(double *ret, struct vmig_err *err)
{
	const char *v = secure_getenv(LOCK_TIMEOUT_ENV);
	*ret = LOCK_TIMEOUT_DEFAULT;
	if (!v)
		return 0;
	char *end = NULL;
	errno = 0;
	double t = strtod(v, &end);
	if (!*v || errno || !end || *end || !(t >= 0 && t <= LOCK_TIMEOUT_MAX))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "%s must be a number of seconds from 0 to %.0f, not '%.32s'",
				    LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_MAX, v);
	*ret = t;
	return 0;
}

/* The one-line error of a lock wait that ran out. */
static void lock_timed_out(const struct vmig_store *s, int fd, double timeout, struct vmig_err *err)
{
	bool excl = true;
	pid_t who = vmig__os_lock_holder(fd, &excl);
	char holder[64];
	if (who > 0)
		snprintf(holder, sizeof(holder), "process %d holds it %s", (int)who,
			 excl ? "for a change" : "to read");
	else
		snprintf(holder, sizeof(holder), "its holder is not known");
	vmig_err_set(err, VMIG_E_TIMEOUT,
		     "the state in %s stayed locked for %.1f s (%s; %s sets how long "
		     "to wait)",
		     s->dir, timeout, holder, LOCK_TIMEOUT_ENV);
}

/*
 * Take the exclusive lock of a change.  Readers take none (docs/state.md,
 * "Reading without a lock").  A lock file removed or replaced while we
 * waited for it locks nothing, so then we start again on the new one.  The
 * wait is bounded (VMIG_LOCK_TIMEOUT).
 */
static int lock(struct vmig_store *s, struct vmig_err *err)
{
	char path[PATH_MAX];
	double timeout;
	int rc = vmig__lock_timeout(&timeout, err);
	if (rc)
		return rc;
	path_in(s, LOCK_NAME, path);
	for (int tries = 0; tries < LOCK_RETRIES; tries++) {
		int fd = vmig__os_open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
				       0644);
		if (fd == -EACCES || fd == -EPERM || fd == -EROFS)
			return os_error(err, fd, "state directory %s is not writable", s->dir);
		if (fd == -ELOOP)
			return vmig_err_set(err, VMIG_E_IO,
					    "%s is a symbolic link: refusing to lock through it",
					    path);
		if (fd < 0)
			return os_error(err, fd, "opening lock file %s", path);
		struct stat st;
		if (vmig__os_fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			vmig__os_close(fd);
			return vmig_err_set(err, VMIG_E_IO, "%s is not a regular file", path);
		}
		rc = vmig__os_flock_wait(fd, LOCK_EX, timeout);
		if (rc != 0) {
			if (rc > 0)
				lock_timed_out(s, fd, timeout, err);
			vmig__os_close(fd);
			return rc > 0 ? -VMIG_E_TIMEOUT : os_error(err, rc, "locking %s", path);
		}
		if (same_file(fd, path)) {
			s->lock_fd = fd;
			s->lock_pid = getpid();
			return 0;
		}
		vmig__os_flock(fd, LOCK_UN);
		vmig__os_close(fd);
	}
	return vmig_err_set(err, VMIG_E_IO, "locking %s: the lock file keeps being replaced", path);
}

/* ------------------------------------------------------------------------ */
/* The generation page                                                       */
/* ------------------------------------------------------------------------ */

static void gen_unmap(struct vmig_store *s)
{
	vmig__os_munmap(s->gen, sizeof(struct gen_page));
	s->gen = NULL;
}

static int gen_check(const struct gen_page *g)
{
	if (__atomic_load_n(&g->magic, __ATOMIC_RELAXED) != GEN_MAGIC)
		return GEN_BAD;
	if (g->version > GEN_VERSION)
		return GEN_NEWER;
	return g->version == GEN_VERSION && g->size == sizeof(*g) ? 0 : GEN_BAD;
}

/*
 * Map the generation file (read-write for writers).  Keeps a mapping that is
 * still of the file at that path.  Returns 0, -errno, GEN_BAD or GEN_NEWER.
 */
static int gen_map(struct vmig_store *s, bool rw)
{
	char path[PATH_MAX];
	struct stat st;
	path_in(s, GEN_NAME, path);
	int rc = vmig__os_stat(path, &st);
	if (rc == 0 && s->gen && st.st_dev == s->gen_dev && st.st_ino == s->gen_ino &&
	    (s->gen_rw || !rw) && gen_check(s->gen) == 0)
		return 0;
	gen_unmap(s);
	if (rc < 0)
		return rc;
	int fd = vmig__os_open(path, (rw ? O_RDWR : O_RDONLY) | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	void *p = NULL;
	rc = vmig__os_fstat(fd, &st);
	/* Too short a file would fault on access (SIGBUS) instead of failing the check. */
	if (rc == 0 && (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct gen_page)))
		rc = GEN_BAD;
	if (rc == 0)
		rc = vmig__os_mmap(fd, sizeof(struct gen_page),
				   rw ? PROT_READ | PROT_WRITE : PROT_READ, &p);
	vmig__os_close(fd);
	if (rc == 0 && (rc = gen_check(p)) != 0)
		vmig__os_munmap(p, sizeof(struct gen_page));
	if (rc == 0) {
		s->gen = p;
		s->gen_rw = rw;
		s->gen_dev = st.st_dev;
		s->gen_ino = st.st_ino;
	}
	return rc;
}

/*
 * A temporary file of our own: whatever is at the path (a file left by a
 * crash, or a link or FIFO somebody planted) is removed, not followed, and
 * the file is created anew (O_EXCL, O_NOFOLLOW), so a write can only ever go
 * into a file this call made.  Called under the exclusive lock.
 */
static int create_fresh(const char *path)
{
	int rc = vmig__os_unlink(path);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	return vmig__os_open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
}

/* Write a fresh page beside the file and rename it in, so that no process maps half of one. */
static int gen_create(struct vmig_store *s, struct vmig_err *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	path_in(s, GEN_TMP_NAME, tmp);
	path_in(s, GEN_NAME, path);
	static char page[GEN_FILE_SIZE];
	struct gen_page g = {.magic = GEN_MAGIC, .version = GEN_VERSION, .size = sizeof(g)};
	memcpy(page, &g, sizeof(g));
	int fd = create_fresh(tmp);
	if (fd < 0)
		return os_error(err, fd, "creating %s", tmp);
	int rc = vmig__os_write_all(fd, page, sizeof(page));
	int rc2 = vmig__os_close(fd);
	if (rc == 0)
		rc = rc2;
	if (rc == 0)
		rc = vmig__os_rename(tmp, path);
	if (rc < 0) {
		vmig__os_unlink(tmp);
		return os_error(err, rc, "creating %s", path);
	}
	return 0;
}

/* Writers: map the page read-write, creating or repairing the file when needed. */
static int gen_ensure(struct vmig_store *s, struct vmig_err *err)
{
	char path[PATH_MAX];
	path_in(s, GEN_NAME, path);
	int rc = gen_map(s, true);
	if (rc == -ENOENT || rc == GEN_BAD) {
		rc = gen_create(s, err);
		if (rc < 0)
			return rc;
		rc = gen_map(s, true);
	}
	if (rc == GEN_NEWER)
		return vmig_err_set(err, VMIG_E_NEWER_VERSION, "%s was written by a newer vmig",
				    path);
	if (rc == GEN_BAD)
		return vmig_err_set(err, VMIG_E_IO, "%s keeps being damaged", path);
	if (rc < 0)
		return os_error(err, rc, "mapping %s", path);
	return 0;
}

uint64_t vmig_store_generation(const struct vmig_store *s)
{
	if (!s || !s->gen || __atomic_load_n(&s->gen->magic, __ATOMIC_RELAXED) != GEN_MAGIC)
		return 0;
	return __atomic_load_n(&s->gen->counter, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

/* FNV-1a, to derive a never-written directory's identities from its path. */
static uint64_t hash64(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/*
 * The state of a directory never written.  Its GPU's UUID and serial come
 * from the directory's path, so that every read shows the same GPU until the
 * first commit writes it down.
 */
static void default_state(const struct vmig_store *s, struct vmig_state *st)
{
	vmig_state_init_default(st);
	if (st->ngpu == 0)
		return;
	uint64_t a = hash64(s->dir, 1), b = hash64(s->dir, 2);
	struct vmig_gpu_state *g = &st->gpu[0];
	snprintf(g->uuid, sizeof(g->uuid), "GPU-%08" PRIx32 "-%04x-%04x-%04x-%012" PRIx64,
		 (uint32_t)(a >> 32), (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff,
		 (unsigned)(b >> 48), (uint64_t)(b & 0xffffffffffffull));
	snprintf(g->serial, sizeof(g->serial), "1%012" PRIu64, (uint64_t)(b % 1000000000000ull));
}

/*
 * Read the whole file into the store's read buffer, which is kept (and
 * grown) across reads, so that a read allocates nothing once warm.
 */
static int read_all(struct vmig_store *s, int fd, const struct stat *st, const char *path,
		    size_t *ret_len, struct vmig_err *err)
{
	if (!S_ISREG(st->st_mode))
		return vmig_err_set(err, VMIG_E_CORRUPT, "%s is not a regular file", path);
	if (st->st_size > MAX_STATE_BYTES)
		return vmig_err_set(err, VMIG_E_CORRUPT, "%s is larger than %u bytes", path,
				    MAX_STATE_BYTES);
	size_t want = (size_t)st->st_size + 1, len = 0;
	for (;;) {
		if (s->rcap < want) {
			/* First use, or the file grew since fstat: allow that up to the limit. */
			char *nb =
			    want <= 2 * (size_t)MAX_STATE_BYTES ? realloc(s->rbuf, want) : NULL;
			if (!nb)
				return want > 2 * (size_t)MAX_STATE_BYTES
					   ? vmig_err_set(err, VMIG_E_CORRUPT, "%s is too large",
							  path)
					   : vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
			s->rbuf = nb;
			s->rcap = want;
		}
		ssize_t n = vmig__os_read(fd, s->rbuf + len, s->rcap - len);
		if (n < 0)
			return os_error(err, (int)n, "reading %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == s->rcap)
			want = s->rcap * 2;
	}
	*ret_len = len;
	return 0;
}

/*
 * A state record to a caller: its header and the GPUs it has, not the room
 * for VMIG_MAX_GPUS (an 8-GPU record is an eighth of the whole; readers that
 * poll copy it at every read).  Entries past ngpu are left as they were.
 */
static void copy_state(struct vmig_state *dst, const struct vmig_state *src)
{
	size_t n = src->ngpu <= VMIG_MAX_GPUS ? src->ngpu : VMIG_MAX_GPUS;
	memcpy(dst, src, offsetof(struct vmig_state, gpu) + n * sizeof(src->gpu[0]));
}

/*
 * Whether the file just opened is the one scratch holds, so that a read can
 * copy scratch instead of reading and parsing it again.  The counter must
 * equal the cached state's generation both before the open (before) and now,
 * and the file must be the same inode, size and modification time.  Why that
 * is enough: a commit renames its new file over the state, then bumps the
 * counter, and the next commit cannot rename before that bump (it catches the
 * counter up first, commit).  While the counter reads the cached generation
 * G, then, at most one file replaced G's (G + 1's, not yet bumped), and it was
 * created while G's still existed, so its inode differs.  A state file
 * rewritten in place by hand keeps the inode but changes the modification
 * time; it is seen at the latest by the next commit's bump.
 */
static bool cache_fresh(const struct vmig_store *s, uint64_t before, const struct stat *st)
{
	return s->cached && before != 0 && before == s->scratch->generation &&
	       S_ISREG(st->st_mode) && vmig_store_generation(s) == before &&
	       st->st_dev == s->cached_dev && st->st_ino == s->cached_ino &&
	       st->st_size == s->cached_size && st->st_mtim.tv_sec == s->cached_mtim.tv_sec &&
	       st->st_mtim.tv_nsec == s->cached_mtim.tv_nsec;
}

/*
 * Read, parse and validate the state file.  The text is parsed into the
 * store's scratch record and copied out only when it is valid, so *ret is
 * written once, and only on success.
 */
static int load(struct vmig_store *s, struct vmig_state *ret, struct vmig_err *err)
{
	uint64_t before = vmig_store_generation(s);
	char path[PATH_MAX];
	path_in(s, STATE_NAME, path);
	int fd = vmig__os_open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd == -ENOENT) {
		default_state(s, ret);
		return 0;
	}
	if (fd == -ELOOP)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "state file %s is a symbolic link: refusing to follow it",
				    path);
	if (fd < 0)
		return os_error(err, fd, "opening state file %s", path);
	struct stat fst;
	size_t len = 0;
	int rc = vmig__os_fstat(fd, &fst);
	if (rc < 0) {
		vmig__os_close(fd);
		return os_error(err, rc, "reading %s", path);
	}
	if (cache_fresh(s, before, &fst)) {
		vmig__os_close(fd);
		copy_state(ret, s->scratch);
		return 0;
	}
	rc = read_all(s, fd, &fst, path, &len, err);
	vmig__os_close(fd);
	if (rc)
		return rc;
	if (!s->scratch && !(s->scratch = malloc(sizeof(*s->scratch))))
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	s->cached = false;
	rc = vmig__state_parse_into(s->rbuf, len, s->scratch, err);
	if (rc == 0)
		rc = vmig_state_validate(s->scratch, err);
	if (rc) {
		vmig_err_wrap(err, "state file %s", path);
		return rc;
	}
	copy_state(ret, s->scratch);
	s->cached = true;
	s->cached_dev = fst.st_dev;
	s->cached_ino = fst.st_ino;
	s->cached_size = fst.st_size;
	s->cached_mtim = fst.st_mtim;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The public interface                                                      */
/* ------------------------------------------------------------------------ */

int vmig__state_dir(char **ret, struct vmig_err *err)
{
	return resolve_dir(NULL, ret, err);
}

int vmig_store_open(const char *dir, struct vmig_store **ret, struct vmig_err *err)
{
	char *path = NULL;
	if (!ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "opening the state store: no result");
	int rc = resolve_dir(dir, &path, err);
	if (rc == 0)
		rc = check_dir(path, err);
	if (rc) {
		free(path);
		return rc;
	}
	struct vmig_store *s = calloc(1, sizeof(*s));
	if (!s) {
		free(path);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	}
	s->dir = path;
	s->lock_fd = -1;
	/* Map the counter now when it exists, so that a cache works from its first question. */
	gen_map(s, false);
	*ret = s;
	return 0;
}

void vmig_store_close(struct vmig_store *s)
{
	if (!s)
		return;
	if (s->held)
		vmig__store_release(s, false, NULL);
	unlock(s);
	gen_unmap(s);
	free(s->rbuf);
	free(s->scratch);
	free(s->work);
	free(s->dir);
	free(s);
}

const char *vmig_store_dir(const struct vmig_store *s)
{
	return s ? s->dir : NULL;
}

/*
 * Readers take no lock (docs/state.md, "Reading without a lock"): the state
 * file is only ever replaced whole by rename, so opening it gives the old or
 * the new file, complete.  The page is mapped first, so that a cache that
 * read the counter before this call re-reads after any commit it may have
 * missed (commit bumps the counter after the rename).
 */
int vmig_store_read(struct vmig_store *s, struct vmig_state *ret, struct vmig_err *err)
{
	struct vmig_err local;
	if (!err)
		err = &local; /* vmig_err_wrap needs one to keep the code */
	if (!s || !ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "reading state: no store");
	if (s->held) {
		copy_state(ret, s->held);
		return 0;
	}
	if (s->in_txn)
		return load(s, ret, err);
	/*
	 * The common case of a reader that polls: nothing changed since its
	 * last read.  One lstat says so (cache_fresh); the directory was trusted
	 * and the counter's page mapped when that file was read, and a file that
	 * is not the same is read as below, checks and all.
	 */
	char path[PATH_MAX];
	struct stat fst;
	uint64_t before = vmig_store_generation(s);
	path_in(s, STATE_NAME, path);
	if (s->cached && before && vmig__os_lstat(path, &fst) == 0 &&
	    cache_fresh(s, before, &fst)) {
		copy_state(ret, s->scratch);
		return 0;
	}
	int rc = trust_dir(s, err);
	if (rc)
		return rc;
	gen_map(s, false);
	return load(s, ret, err);
}

int vmig_store_begin(struct vmig_store *s, struct vmig_state *ret, struct vmig_err *err)
{
	struct vmig_err local;
	if (!err)
		err = &local;
	if (!s || !ret)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "changing state: no store");
	if (s->in_txn)
		return vmig_err_set(err, VMIG_E_INVALID_STATE,
				    "changing state in %s: a change is already in progress",
				    s->dir);
	int rc = make_dirs(s->dir);
	if (rc == -EACCES || rc == -EPERM || rc == -EROFS)
		return os_error(err, rc, "state directory %s is not writable", s->dir);
	if (rc == -ENOTDIR)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "state directory %s is not a directory", s->dir);
	if (rc < 0)
		return os_error(err, rc, "creating state directory %s", s->dir);
	rc = trust_dir(s, err);
	if (rc)
		return rc;
	rc = lock(s, err);
	if (rc)
		return rc;
	s->in_txn = true;
	rc = load(s, ret, err);
	if (rc) {
		unlock(s);
		return rc;
	}
	s->txn_gen = ret->generation;
	return 0;
}

/* Write the new text beside the state file and make it durable. */
static int write_tmp(const struct vmig_store *s, const char *buf, size_t len, struct vmig_err *err)
{
	char tmp[PATH_MAX];
	path_in(s, TMP_NAME, tmp);
	int fd = create_fresh(tmp);
	if (fd < 0)
		return os_error(err, fd, "creating %s", tmp);
	int rc = vmig__os_write_all(fd, buf, len);
	if (rc == 0)
		rc = vmig__os_fsync(fd);
	int rc2 = vmig__os_close(fd);
	if (rc == 0)
		rc = rc2;
	if (rc < 0) {
		vmig__os_unlink(tmp);
		return os_error(err, rc, "writing %s (the old state is kept)", tmp);
	}
	return 0;
}

/*
 * The rename is the commit point.  Syncing the directory afterwards makes
 * the rename itself durable; if that fails the new state is already what
 * every process sees, so the commit still counts as done.
 */
static int replace_state(const struct vmig_store *s, uint64_t next, struct vmig_err *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	path_in(s, TMP_NAME, tmp);
	path_in(s, STATE_NAME, path);
	int rc = vmig__os_rename(tmp, path);
	if (rc < 0) {
		vmig__os_unlink(tmp);
		return os_error(err, rc, "replacing %s (the old state is kept)", path);
	}
	__atomic_store_n(&s->gen->counter, next, __ATOMIC_RELEASE);
	int dfd = vmig__os_open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd >= 0) {
		vmig__os_fsync(dfd);
		vmig__os_close(dfd);
	}
	return 0;
}

int vmig_store_commit(struct vmig_store *s, struct vmig_state *st, struct vmig_err *err)
{
	struct vmig_err local;
	if (!err)
		err = &local;
	if (!s || !st) {
		if (s)
			unlock(s);
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "committing state: no store");
	}
	if (!s->in_txn)
		return vmig_err_set(err, VMIG_E_INVALID_STATE,
				    "committing state to %s: no change in progress", s->dir);
	int rc = vmig_state_validate(st, err);
	if (rc) {
		vmig_err_wrap(err, "refusing to write an invalid state to %s", s->dir);
		goto out;
	}
	/* The page is made here, not in begin, so that a change that is abandoned writes nothing.
	 */
	rc = gen_ensure(s, err);
	if (rc)
		goto out;
	/* Past both the state read and the page's counter, so that the counter never repeats. */
	uint64_t counter = __atomic_load_n(&s->gen->counter, __ATOMIC_ACQUIRE);
	/*
	 * A writer killed between its rename and its bump left the counter
	 * behind the state on disk: catch it up before this commit's rename, so
	 * that even a run of such kills never leaves it more than one behind.
	 */
	if (counter < s->txn_gen)
		__atomic_store_n(&s->gen->counter, s->txn_gen, __ATOMIC_RELEASE);
	uint64_t next = (counter > s->txn_gen ? counter : s->txn_gen) + 1;
	if (next == 0) {
		rc =
		    vmig_err_set(err, VMIG_E_CORRUPT,
				 "generation counter of %s exhausted (2^64 changes): to go on, set "
				 "the 'generation' line of its state file to 0 and remove its "
				 "generation file",
				 s->dir);
		goto out;
	}
	uint64_t saved = st->generation;
	char *buf = NULL;
	size_t len = 0;
	st->generation = next;
	rc = vmig_state_format(st, &buf, &len);
	st->generation = saved;
	if (rc) {
		vmig_err_set(err, rc, "formatting the state for %s", s->dir);
		goto out;
	}
	rc = write_tmp(s, buf, len, err);
	free(buf);
	if (rc)
		goto out;
	/*
	 * Readers take no lock, so the order matters: rename, then bump.  A
	 * cache reads the counter before the file; whatever it read then, the
	 * counter moves after the new file is in place, so it re-reads.  (Bump
	 * first, and a reader could pair the new counter with the old file and
	 * never look again.)  A crash between the two leaves the counter one
	 * behind the file, which the next commit repairs (next is past both).
	 */
	rc = replace_state(s, next, err);
	if (rc == 0)
		st->generation = next;
out:
	unlock(s);
	return rc;
}

int vmig__store_hold(struct vmig_store *s, struct vmig_err *err)
{
	if (!s || s->held)
		return vmig_err_set(err, VMIG_E_INVALID_STATE, "holding the state: already held");
	struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = vmig_store_begin(s, st, err);
	if (r < 0) {
		free(st);
		return r;
	}
	s->held = st;
	s->held_changed = false;
	return 0;
}

struct vmig_state *vmig__store_work(struct vmig_store *s)
{
	if (!s || s->work_taken)
		return NULL;
	if (!s->work && !(s->work = malloc(sizeof(*s->work))))
		return NULL;
	s->work_taken = true;
	return s->work;
}

void vmig__store_work_done(struct vmig_store *s, struct vmig_state *st)
{
	if (s && st == s->work)
		s->work_taken = false;
	else
		free(st);
}

void vmig__store_touch(struct vmig_store *s)
{
	if (s && s->held)
		s->held_changed = true;
}

struct vmig_state *vmig__store_held(struct vmig_store *s)
{
	return s ? s->held : NULL;
}

int vmig__store_release(struct vmig_store *s, bool commit, struct vmig_err *err)
{
	if (!s || !s->held)
		return 0;
	struct vmig_state *st = s->held;
	s->held = NULL;
	int r = 0;
	/* Nothing changed (every change refused): nothing is written, as without a hold. */
	if (commit && s->held_changed)
		r = vmig_store_commit(s, st, err);
	else
		vmig_store_abort(s);
	free(st);
	return r;
}

void vmig_store_abort(struct vmig_store *s)
{
	if (s && s->in_txn)
		unlock(s);
}
