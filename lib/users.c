/*
 * users.c — who uses the simulated GPUs: the registry of `vmig run`
 * programs in simulated instances and of the processes that hold vmig's
 * NVML library initialised (docs/backends.md, "Processes").
 *
 * One small file per user in <state dir>/users/.  The registering process
 * creates it under a temporary name, takes an open-file-description lock on
 * it (fcntl F_OFD_SETLK, a write lock on the whole file), writes one line
 * (kind, pid, GPU UUID or "all", GI, CI) and renames it into place.  The
 * lock lives as long as the open file description does: every process that
 * shares the descriptor (children forked by an NVML client, the program a
 * `vmig run` execs and all its children) keeps the user alive, and the
 * kernel drops the lock when the last of them closes it or dies, SIGKILL
 * included.  So a reader asks the kernel (F_OFD_GETLK) rather than trusting
 * a PID: that also works across PID namespaces and survives PID reuse.
 * Readers never block; a file whose lock is free is stale and is removed.
 *
 * The file is divided into paths, registration, and reading.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"
#include "os.h"

#define USERS_DIR	  "users"
#define USER_MAGIC	  "vmig-user 1"
#define USER_MAX_BYTES	  256 /* a record is one line of at most this many bytes */
#define USER_MAX_FILES	  4096
#define TMP_PREFIX	  ".tmp-"
#define TMP_STALE_SECONDS 10 /* an unlocked temporary file older than this is a writer's wreck */

struct vmig_user {
	int fd;
	int dfd; /* the users directory, to remove the record at release */
	char name[64];
};

/* ------------------------------------------------------------------------ */
/* Paths                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Open <dir>/users as a directory that is not a symbolic link, creating it
 * when create is set.  -1 in *ret_dfd when it does not exist.
 */
static int users_dir_open(const char *dir, bool create, int *ret_dfd, struct vmig_err *err)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/" USERS_DIR, dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "state directory path too long");
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST)
		return vmig_err_set(
		    err, errno == EACCES || errno == EPERM ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
		    "creating %s: %s", path, strerror(errno));
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && !create) {
		*ret_dfd = -1;
		return 0;
	}
	if (dfd < 0)
		return vmig_err_set(
		    err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO, "%s: %s", path,
		    errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
	*ret_dfd = dfd;
	return 0;
}

/* The whole-file write lock that marks a live user. */
static struct flock whole_file(short type)
{
	struct flock l;
	memset(&l, 0, sizeof(l));
	l.l_type = type;
	l.l_whence = SEEK_SET;
	return l;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

static const char *kind_word(enum vmig_proc_kind kind)
{
	return kind == VMIG_PROC_RUN ? "run" : kind == VMIG_PROC_NVML ? "nvml" : "";
}

static int check_user_args(enum vmig_proc_kind kind, const char *gpu_uuid, unsigned gi, unsigned ci,
			   unsigned flags, struct vmig_err *err)
{
	if (!*kind_word(kind) || (flags & ~VMIG_USER_INHERIT))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "registering a user: bad kind");
	if (kind == VMIG_PROC_NVML &&
	    (gpu_uuid || gi != VMIG_PROC_WHOLE_GPU || ci != VMIG_PROC_WHOLE_GPU))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "an NVML user holds every simulated GPU as a whole");
	if (kind == VMIG_PROC_RUN &&
	    (!gpu_uuid || strncmp(gpu_uuid, "GPU-", 4) != 0 || strlen(gpu_uuid) >= VMIG_UUID_LEN ||
	     strpbrk(gpu_uuid, " \t\n") || gi == VMIG_PROC_WHOLE_GPU))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "a `vmig run` user needs a GPU UUID and a GPU instance");
	return 0;
}

/* Create, lock and fill the temporary file; the descriptor in *ret_fd. */
static int write_record(int dfd, const char *tmp, unsigned flags, const char *line,
			struct vmig_err *err)
{
	int oflags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY;
	if (!(flags & VMIG_USER_INHERIT))
		oflags |= O_CLOEXEC;
	int fd = openat(dfd, tmp, oflags, 0644);
	if (fd < 0)
		return vmig_err_set(err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
				    "creating a user record: %s", strerror(errno));
	struct flock l = whole_file(F_WRLCK);
	size_t len = strlen(line);
	if (fcntl(fd, F_OFD_SETLK, &l) < 0 || write(fd, line, len) != (ssize_t)len) {
		int e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		return vmig_err_set(err, VMIG_E_IO, "writing a user record: %s", strerror(e));
	}
	return fd;
}

/* mkdir -p of the state directory (a registration may come before any state is written). */
static void make_dirs(const char *dir)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return;
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

/* Write the record and rename it into place under u->name; the locked descriptor in u->fd. */
static int publish(struct vmig_user *u, const char *tmp, unsigned flags, const char *line,
		   struct vmig_err *err)
{
	int fd = write_record(u->dfd, tmp, flags, line, err);
	if (fd < 0)
		return fd;
	if (renameat(u->dfd, tmp, u->dfd, u->name) < 0) {
		int e = errno;
		unlinkat(u->dfd, tmp, 0);
		close(fd);
		return vmig_err_set(err, VMIG_E_IO, "registering a user: %s", strerror(e));
	}
	u->fd = fd;
	return 0;
}

int vmig_user_register(const char *dir, enum vmig_proc_kind kind, const char *gpu_uuid, unsigned gi,
		       unsigned ci, unsigned flags, struct vmig_user **ret, struct vmig_err *err)
{
	struct vmig_store *store = NULL;
	char line[USER_MAX_BYTES], tmp[64];
	uint64_t rnd = 0;
	int r = check_user_args(kind, gpu_uuid, gi, ci, flags, err);
	if (r < 0 || (r = vmig_store_open(dir, &store, err)) < 0)
		return r;
	struct vmig_user *u = calloc(1, sizeof(*u));
	if (!u) {
		vmig_store_close(store);
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	}
	u->fd = u->dfd = -1;
	/*
	 * A program in an instance needs the directory (the instance's state is
	 * there already); a process that merely holds the NVML library must not
	 * create a state directory that nothing else has written.
	 */
	if (kind == VMIG_PROC_RUN)
		make_dirs(vmig_store_dir(store));
	r = users_dir_open(vmig_store_dir(store), true, &u->dfd, err);
	vmig_store_close(store);
	if (r >= 0 && vmig__os_getrandom(&rnd, sizeof(rnd)) < 0)
		r = vmig_err_set(err, VMIG_E_IO, "registering a user: no random bytes");
	if (r >= 0) {
		long pid = (long)getpid();
		snprintf(tmp, sizeof(tmp), TMP_PREFIX "%ld-%016" PRIx64, pid, rnd);
		snprintf(u->name, sizeof(u->name), "%s-%ld-%016" PRIx64, kind_word(kind), pid, rnd);
		snprintf(line, sizeof(line), USER_MAGIC " %s %ld %s %u %u\n", kind_word(kind), pid,
			 gpu_uuid ? gpu_uuid : "all", gi, ci);
		r = publish(u, tmp, flags, line, err);
	}
	if (r < 0) {
		if (u->dfd >= 0)
			close(u->dfd);
		free(u);
		return r;
	}
	*ret = u;
	return 0;
}

/*
 * Is the record open on fd still held by a user?  The query runs on a
 * description of our own, so it also sees the locks of this very process.
 */
static bool record_held(int fd)
{
	struct flock l = whole_file(F_WRLCK);
	if (fcntl(fd, F_OFD_GETLK, &l) < 0)
		return true; /* cannot tell: keep it */
	return l.l_type != F_UNLCK;
}

void vmig_user_release(struct vmig_user *u)
{
	if (!u)
		return;
	close(u->fd);
	/* Remove the record unless another process still shares the description (a fork). */
	int fd = openat(u->dfd, u->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (!record_held(fd))
			unlinkat(u->dfd, u->name, 0);
		close(fd);
	}
	close(u->dfd);
	free(u);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

struct user_rec {
	enum vmig_proc_kind kind;
	long pid;
	char gpu[VMIG_UUID_LEN];
	unsigned gi, ci;
};

/* One record's line, strictly: anything else is not a record. */
static bool parse_record(const char *buf, struct user_rec *u)
{
	char kind[8], gpu[VMIG_UUID_LEN + 1];
	int end = 0;
	if (sscanf(buf, USER_MAGIC " %7s %ld %47s %u %u%n", kind, &u->pid, gpu, &u->gi, &u->ci,
		   &end) != 5 ||
	    strcmp(buf + end, "\n") != 0 || u->pid <= 0 || u->pid > INT32_MAX)
		return false;
	if (strcmp(kind, "run") == 0)
		u->kind = VMIG_PROC_RUN;
	else if (strcmp(kind, "nvml") == 0)
		u->kind = VMIG_PROC_NVML;
	else
		return false;
	if (strlen(gpu) >= sizeof(u->gpu))
		return false;
	memcpy(u->gpu, gpu, strlen(gpu) + 1);
	return u->kind == VMIG_PROC_NVML ? strcmp(gpu, "all") == 0 : strncmp(gpu, "GPU-", 4) == 0;
}

/*
 * Read the entry name of the users directory: 1 a live user in *u, 0
 * nothing to report (removed when stale).  Symbolic links, FIFOs and other
 * non-regular files are never opened or followed, and a file larger than a
 * record is not read.
 */
static int read_entry(int dfd, const char *name, struct user_rec *u)
{
	bool tmp = strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	char buf[USER_MAX_BYTES + 1];
	int found = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if (!record_held(fd)) {
		/* A temporary file may be between its creation and its lock: leave young ones. */
		if (!tmp || time(NULL) - st.st_mtime > TMP_STALE_SECONDS)
			unlinkat(dfd, name, 0);
		goto out;
	}
	if (tmp || st.st_size > USER_MAX_BYTES)
		goto out;
	ssize_t n = pread(fd, buf, USER_MAX_BYTES, 0);
	if (n <= 0)
		goto out;
	buf[n] = '\0';
	found = strlen(buf) == (size_t)n && parse_record(buf, u);
out:
	close(fd);
	return found;
}

static int gpu_by_uuid(const struct vmig_state *st, const char *uuid)
{
	for (unsigned i = 0; i < st->ngpu; i++)
		if ((st->gpu[i].flags & VMIG_GPU_SIMULATED) && strcmp(st->gpu[i].uuid, uuid) == 0)
			return (int)i;
	return -1;
}

/* Append the processes of one record to the list (a record of "all" is one per GPU). */
static int add_procs(const struct vmig_state *st, const struct user_rec *u, struct vmig_proc **list,
		     size_t *n, size_t *cap)
{
	for (unsigned i = 0; i < st->ngpu; i++) {
		if (!(st->gpu[i].flags & VMIG_GPU_SIMULATED))
			continue;
		if (u->kind == VMIG_PROC_RUN && (int)i != gpu_by_uuid(st, u->gpu))
			continue;
		if (*n == *cap) {
			size_t c = *cap ? 2 * *cap : 16;
			struct vmig_proc *p = realloc(*list, c * sizeof(*p));
			if (!p)
				return -VMIG_E_NO_MEMORY;
			*list = p;
			*cap = c;
		}
		(*list)[(*n)++] = (struct vmig_proc){
		    .kind = u->kind, .pid = (int32_t)u->pid, .gpu = i, .gi = u->gi, .ci = u->ci};
	}
	return 0;
}

int vmig__sim_procs(struct vmig_store *store, const struct vmig_state *st, struct vmig_proc **ret,
		    size_t *ret_n, struct vmig_err *err)
{
	int dfd, r = users_dir_open(vmig_store_dir(store), false, &dfd, err);
	struct vmig_proc *list = NULL;
	size_t n = 0, cap = 0, seen = 0;
	if (r < 0)
		return r;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (dfd >= 0 && !d) {
		close(dfd);
		return vmig_err_set(err, VMIG_E_IO, "reading the users directory: %s",
				    strerror(errno));
	}
	for (struct dirent *e; d && (e = readdir(d)) && seen < USER_MAX_FILES; seen++) {
		struct user_rec u;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (read_entry(dirfd(d), e->d_name, &u) && add_procs(st, &u, &list, &n, &cap) < 0) {
			r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
			break;
		}
	}
	if (d)
		closedir(d);
	if (r < 0) {
		free(list);
		return r;
	}
	*ret = n ? list : NULL;
	if (!n)
		free(list);
	*ret_n = n;
	return 0;
}
