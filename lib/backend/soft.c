/*
 * soft.c — the soft backend: MIG-style instances on any GPU, enforced in
 * software by the CUDA interposer rather than by the hardware (docs/soft.md).
 *
 * Devices are the GPUs of the hardware backend it is opened on: the real
 * GPUs through the nvml backend, unless the opener names another
 * (struct vmig__open_opts; the unit tests layer it on the simulator).
 * Software MIG state lives in its own state store ($VMIG_SOFT_STATE_DIR,
 * default <state dir>/soft) as GPU records flagged VMIG_GPU_SOFT and keyed
 * by the real GPU's UUID; the hardware's MIG setting is never touched.  A
 * snapshot is the real GPUs merged with their records; every change is one
 * store transaction (lib/backend/txn.c) with the same placement engine as
 * the simulator.  The file is divided into paths and limits (also used by
 * `vmig run`), the merge of devices and records, the operations, and the
 * compute-share hand-off to running programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"
/* The interposer's accounting region and limits file: one definition for both sides. */
#include "limits_file.h"
#include "os.h"
#include "region.h"

struct soft {
	const struct vmig_backend_ops *hw;
	void *hw_priv;
	struct vmig_store *store;
};

/* ------------------------------------------------------------------------ */
/* Paths and limits                                                          */
/* ------------------------------------------------------------------------ */

int vmig_soft_dir(char *buf, size_t size, struct vmig_err *err)
{
	const char *env = secure_getenv("VMIG_SOFT_STATE_DIR");
	int n;
	if (env) {
		if (env[0] != '/')
			return vmig_err_set(
			    err, VMIG_E_INVALID_ARGUMENT,
			    "VMIG_SOFT_STATE_DIR must be an absolute path, not '%.200s'", env);
		n = snprintf(buf, size, "%s", env);
	} else {
		struct vmig_store *s;
		int r = vmig_store_open(NULL, &s, err);
		if (r < 0)
			return r;
		n = snprintf(buf, size, "%s/soft", vmig_store_dir(s));
		vmig_store_close(s);
	}
	if (n < 0 || (size_t)n >= size)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				    "soft state directory path too long");
	return 0;
}

/* <soft dir>/acct/<GPU UUID>-gi<N>: one accounting file per GPU instance. */
static int acct_path(const char *gpu_uuid, unsigned gi_id, char *buf, size_t size,
		     struct vmig_err *err)
{
	char dir[PATH_MAX];
	int r = vmig_soft_dir(dir, sizeof(dir), err);
	if (r < 0)
		return r;
	int n = snprintf(buf, size, "%s/acct/%s-gi%u", dir, gpu_uuid, gi_id);
	if (n < 0 || (size_t)n >= size)
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "accounting file path too long");
	return 0;
}

/*
 * The limits of a software GPU instance: its profile's memory, its share
 * (or the profile's SM fraction), one accounting file.  A GI is the unit
 * of enforcement: the CIs inside it share its memory, as under MIG, and its
 * compute share.
 */
int vmig_soft_limits(const struct vmig_gpu_state *g, unsigned gi_id, struct vmig_soft_limits *ret,
		     struct vmig_err *err)
{
	/* vmig_gpu_find_gi only reads; it takes a mutable record for its callers' sake. */
	const struct vmig_gi_state *gi = vmig_gpu_find_gi((struct vmig_gpu_state *)g, gi_id);
	if (!gi)
		return vmig_err_set(err, VMIG_E_NOT_FOUND, "GPU instance %u not found", gi_id);
	const struct vmig_gi_profile *gp = vmig_gi_profile_by_id(g->model, gi->profile_id);
	if (!gp)
		return vmig_err_set(err, VMIG_E_CORRUPT, "GPU instance %u: unknown profile %u",
				    gi_id, gi->profile_id);
	struct vmig_soft_limits l = {0};
	int r = acct_path(g->uuid, gi_id, l.acct_path, sizeof(l.acct_path), err);
	if (r < 0)
		return r;
	snprintf(l.partition, sizeof(l.partition), "%s/gi%u", g->uuid, gi_id);
	l.mem_bytes = gp->mem_mib << 20;
	l.compute_pct = gi->share_pct ? gi->share_pct : vmig_profile_share_pct(g->model, gp);
	l.compute_policy = gi->share_policy;
	*ret = l;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Devices merged with their records                                         */
/* ------------------------------------------------------------------------ */

static int soft_open(void **ret_priv, const struct vmig__open_opts *opts, struct vmig_err *err)
{
	static const struct vmig__open_opts hw_opts;
	struct soft *s = calloc(1, sizeof(*s));
	char dir[PATH_MAX];
	if (!s)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	s->hw = opts->hw ? opts->hw : &vmig__backend_nvml;
	int r = vmig_soft_dir(dir, sizeof(dir), err);
	if (r >= 0 && s->hw == &vmig__backend_soft)
		r = vmig_err_set(err, VMIG_E_INVALID_ARGUMENT,
				 "soft backend: the hardware backend cannot be soft itself");
	if (r >= 0 && (r = s->hw->open(&s->hw_priv, &hw_opts, err)) < 0)
		vmig_err_wrap(err, "finding GPUs through %s", s->hw->name);
	if (r >= 0 && (r = vmig_store_open(dir, &s->store, err)) < 0)
		s->hw->close(s->hw_priv);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret_priv = s;
	return 0;
}

static void soft_close(void *priv)
{
	struct soft *s = priv;
	if (!s)
		return;
	vmig_store_close(s->store);
	s->hw->close(s->hw_priv);
	free(s);
}

static struct vmig_gpu_state *record_of(struct vmig_state *st, const char *uuid)
{
	for (unsigned i = 0; i < st->ngpu; i++)
		if (strcmp(st->gpu[i].uuid, uuid) == 0)
			return &st->gpu[i];
	return NULL;
}

/*
 * The store holds only soft records.  A directory never written reads as
 * the store's default state (a simulated GPU, generation 0), which is no
 * record of ours and is dropped.  A written store with any other record was
 * changed by something else: refused, never silently dropped by the next
 * commit.
 */
static int keep_soft_records(struct vmig_state *st, const char *dir, struct vmig_err *err)
{
	unsigned n = 0;
	for (unsigned i = 0; i < st->ngpu; i++) {
		if (st->gpu[i].flags & VMIG_GPU_SOFT)
			st->gpu[n++] = st->gpu[i];
		else if (st->generation != 0)
			return vmig_err_set(
			    err, VMIG_E_CORRUPT,
			    "soft state in %s holds GPU %s, which is not a software "
			    "partition record (restore the file, or remove that "
			    "record)",
			    dir, st->gpu[i].uuid);
	}
	st->ngpu = n;
	return 0;
}

/* One real GPU as the soft backend shows it, given its record (or none). */
static int merge_gpu(struct vmig_gpu_state *g, const struct vmig_gpu_state *rec,
		     struct vmig_err *err)
{
	const struct vmig_model *m = vmig_soft_model(g->model);
	g->flags =
	    VMIG_GPU_SOFT | (g->flags & VMIG_GPU_NO_PERSISTENCE); /* the hardware's setting */
	g->mig_current = g->mig_pending = 0;
	g->ngi = 0;
	if (!m)
		return 0; /* too small to partition: shown as it is, MIG off */
	if (rec && rec->model != m)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "soft state of GPU %s was made for a %s, but the GPU is a %s",
				    g->uuid, rec->model->key, m->key);
	g->model = m;
	if (rec) {
		g->mig_current = rec->mig_current;
		g->mig_pending = rec->mig_pending;
		g->ngi = rec->ngi;
		memcpy(g->gi, rec->gi, sizeof(g->gi));
	}
	return 0;
}

static int soft_snapshot(void *priv, struct vmig_state *ret, struct vmig_err *err)
{
	struct soft *s = priv;
	_cleanup_free_ struct vmig_state *rec = malloc(sizeof(*rec));
	if (!rec)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = s->hw->snapshot(s->hw_priv, ret, err);
	if (r < 0)
		return r;
	if ((r = vmig_store_read(s->store, rec, err)) < 0 ||
	    (r = keep_soft_records(rec, vmig_store_dir(s->store), err)) < 0)
		return r;
	for (unsigned i = 0; i < ret->ngpu; i++)
		if ((r = merge_gpu(&ret->gpu[i], record_of(rec, ret->gpu[i].uuid), err)) < 0)
			return r;
	ret->generation = rec->generation;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Accounting regions of running instances                                   */
/* ------------------------------------------------------------------------ */

/* How long -dgi and -rg wait for a GI's accounting file, while they hold the store's lock. */
#define ACCT_LOCK_WAIT 1.0 /* seconds */

/*
 * Open the accounting file of a GI, locked (flock) in the given mode, into
 * *ret_fd; -1 there when it does not exist (ENOENT: no program of the GI
 * ever ran, or with O_CREAT, `vmig run` never made the directory).  Nothing
 * here can block for long: the open is non-blocking (a FIFO put at the path
 * cannot hold us) and only a regular file is taken; the lock is waited for
 * at most ACCT_LOCK_WAIT, and a file held longer than that (a stopped
 * process inside its lock), or anything but a regular file, means the GI is
 * in use.
 */
static int region_open(const char *path, int flags, int lock, unsigned gi_id, int *ret_fd,
		       struct vmig_err *err)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	*ret_fd = -1;
	if (fd < 0)
		return errno == ENOENT ? 0
				       : vmig_err_set(err, VMIG_E_IO, "accounting file %s: %s",
						      path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		/* Not one vmig made: refuse to treat the GI as idle (fail closed). */
		return vmig_err_set(err, VMIG_E_IN_USE,
				    "GPU instance %u: its accounting file %s is not a regular file",
				    gi_id, path);
	}
	int r = vmig__os_flock_wait(fd, lock, ACCT_LOCK_WAIT);
	if (r != 0) {
		bool excl = true;
		pid_t who = r > 0 ? vmig__os_lock_holder(fd, &excl) : 0;
		close(fd);
		if (r < 0)
			return vmig_err_set(err, VMIG_E_IO, "locking accounting file %s: %s", path,
					    strerror(-r));
		if (who > 0)
			return vmig_err_set(err, VMIG_E_IN_USE,
					    "GPU instance %u: process %d has held its accounting "
					    "file %s for over %.0f s",
					    gi_id, (int)who, path, ACCT_LOCK_WAIT);
		return vmig_err_set(err, VMIG_E_IN_USE,
				    "GPU instance %u: its accounting file %s stayed locked for "
				    "over %.0f s",
				    gi_id, path, ACCT_LOCK_WAIT);
	}
	*ret_fd = fd;
	return 0;
}

/*
 * The driver refuses to destroy an instance that processes still run on;
 * so do we, for a GI whose region has live processes registered.  Dead
 * processes' slots do not count.  A file of another layout cannot be read
 * and is left alone (it does not keep the GI).
 */
static int region_in_use(const struct vmig_gpu_state *rec, unsigned gi_id, struct vmig_err *err)
{
	struct vmig_soft_limits l;
	if (vmig_soft_limits(rec, gi_id, &l, NULL) < 0)
		return 0; /* no such GI: the operation reports it */
	int fd, r = region_open(l.acct_path, O_RDONLY, LOCK_SH, gi_id, &fd, err);
	if (fd < 0)
		return r;
	struct stat st;
	unsigned live = 0;
	if (fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(struct vmig__region)) {
		struct vmig__region *reg = mmap(NULL, sizeof(*reg), PROT_READ, MAP_SHARED, fd, 0);
		if (reg != MAP_FAILED) {
			if (!vmig__region_check(reg, l.partition))
				live = vmig__region_live(reg, fd);
			munmap(reg, sizeof(*reg));
		}
	}
	close(fd);
	if (live)
		return vmig_err_set(err, VMIG_E_IN_USE,
				    "GPU instance %u: %u process%s still running in it", gi_id,
				    live, live == 1 ? " is" : "es are");
	return 0;
}

/*
 * The owner of a GI: the recorded one, else (a GI of a vmig from before
 * owners) the owner of the soft state's directory, who administers it.
 */
static int gi_owner(const struct vmig_gpu_state *rec, unsigned gi_id, unsigned *uid, unsigned *gid,
		    struct vmig_err *err)
{
	const struct vmig_gi_state *gi = vmig_gpu_find_gi((struct vmig_gpu_state *)rec, gi_id);
	if (gi && gi->owned) {
		*uid = gi->owner_uid;
		*gid = gi->owner_gid;
		return 0;
	}
	char dir[PATH_MAX];
	struct stat st;
	int r = vmig_soft_dir(dir, sizeof(dir), err);
	if (r < 0)
		return r;
	if (vmig__os_stat(dir, &st) < 0)
		return vmig_err_set(err, VMIG_E_IO, "soft state directory %s: %s", dir,
				    strerror(errno));
	*uid = (unsigned)st.st_uid;
	*gid = (unsigned)st.st_gid;
	return 0;
}

/* mkdir of the accounting directory (and the soft directory above it), mode 0755. */
static int make_acct_dir(const char *acct, struct vmig_err *err)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", acct);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	char *up = strrchr(dir, '/');
	if (up && up != dir) {
		*up = '\0';
		if (vmig__os_mkdir(dir, 0755) < 0 && errno != EEXIST)
			return vmig_err_set(err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
					    "creating %s: %s", dir, strerror(errno));
		*up = '/';
	}
	if (vmig__os_mkdir(dir, 0755) < 0 && errno != EEXIST)
		return vmig_err_set(err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
				    "creating %s: %s", dir, strerror(errno));
	return 0;
}

/*
 * One file of an instance, made whole beside its place and renamed into it,
 * so a reader sees the old file or the new one: a temporary made afresh
 * (O_EXCL, no link followed), filled by fill, given its group and mode, then
 * renamed.  fill returns NULL or why it failed.
 */
static int put_file(const char *path, unsigned gid, mode_t mode,
		    const char *(*fill)(int fd, const void *arg), const void *arg,
		    struct vmig_err *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return vmig_err_set(err, VMIG_E_INVALID_ARGUMENT, "path too long: %s", path);
	vmig__os_unlink(tmp);
	int fd = vmig__os_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return vmig_err_set(err, errno == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
				    "creating %s: %s", tmp, strerror(errno));
	const char *why = fill(fd, arg);
	int e = 0;
	if (!why && fchown(fd, (uid_t)-1, (gid_t)gid) < 0) {
		e = errno;
		why = "giving it the instance's group";
	}
	if (!why && fchmod(fd, mode) < 0) {
		e = errno;
		why = "setting its mode";
	}
	if (!why && vmig__os_fsync(fd) < 0) {
		e = errno;
		why = "writing it";
	}
	vmig__os_close(fd);
	if (!why && vmig__os_rename(tmp, path) < 0) {
		e = errno;
		why = "putting it in place";
	}
	if (!why)
		return 0;
	vmig__os_unlink(tmp);
	return vmig_err_set(err, e == EPERM || e == EACCES ? VMIG_E_NO_PERMISSION : VMIG_E_IO,
			    "%s: %s%s%s", path, why, e ? ": " : "", e ? strerror(e) : "");
}

struct acct_fill {
	const struct vmig_soft_limits *l;
};

static const char *fill_region(int fd, const void *arg)
{
	const struct vmig_soft_limits *l = ((const struct acct_fill *)arg)->l;
	const char *why = NULL;
	struct vmig__region *reg = vmig__region_map_fd(fd, l->partition, l->mem_bytes,
						       l->compute_pct, l->compute_policy, &why);
	if (!reg)
		return why ? why : "mapping it";
	munmap(reg, sizeof(*reg));
	return NULL;
}

static const char *fill_text(int fd, const void *arg)
{
	const char *text = arg;
	return vmig__os_write_all(fd, text, strlen(text)) < 0 ? "writing it" : NULL;
}

/* The limits file of a GI, from its record (owner, share) and profile (memory). */
static int write_limits(const struct vmig_soft_limits *l, unsigned uid, unsigned gid,
			struct vmig_err *err)
{
	struct vmig__limits lim = {.mem_limit = l->mem_bytes,
				   .compute_pct = l->compute_pct,
				   .compute_policy = l->compute_policy,
				   .uid = uid,
				   .gid = gid};
	char path[VMIG_ACCT_PATH_LEN + sizeof(VMIG_LIMITS_SUFFIX)], text[VMIG_LIMITS_MAX];
	snprintf(lim.partition, sizeof(lim.partition), "%s", l->partition);
	snprintf(path, sizeof(path), "%s%s", l->acct_path, VMIG_LIMITS_SUFFIX);
	if (vmig__limits_format(&lim, text, sizeof(text)) < 0)
		return vmig_err_set(err, VMIG_E_UNKNOWN, "limits of %s cannot be written",
				    l->partition);
	/* Owned by the writer (root on the system state), for everyone to read. */
	return put_file(path, (unsigned)getegid(), 0644, fill_text, text, err);
}

/*
 * The files of a new GI (docs/tenancy.md): its accounting region, created
 * here rather than by its first program, owned by the state's writer and the
 * GI's group, mode 0660, so that only the group's processes can attach; and
 * its limits file, owned by the writer, mode 0644, which the interposer takes
 * the quota and share from.  Stale files of an earlier GI with the ID are
 * replaced, so a new GI's counters start from zero.
 */
static int instance_files(const struct vmig_gpu_state *rec, unsigned gi_id, struct vmig_err *err)
{
	struct vmig_soft_limits l;
	unsigned uid, gid;
	int r = vmig_soft_limits(rec, gi_id, &l, err);
	if (r < 0 || (r = gi_owner(rec, gi_id, &uid, &gid, err)) < 0 ||
	    (r = make_acct_dir(l.acct_path, err)) < 0)
		return r;
	struct acct_fill f = {&l};
	if ((r = write_limits(&l, uid, gid, err)) < 0 ||
	    (r = put_file(l.acct_path, gid, 0660, fill_region, &f, err)) < 0)
		return r;
	return 0;
}

/*
 * Does a process hold a slot's lock in the region file open on fd?  The
 * slots' place has not moved since layout 1, so this reads a file of any
 * layout (in layout 1 liveness was a PID, and no lock is seen).
 */
static bool any_slot_held(int fd)
{
	for (unsigned i = 0; i < VMIG_ACCT_SLOTS; i++)
		if (vmig__slot_held(fd, i) != 0)
			return true; /* held, or cannot tell: left alone */
	return false;
}

/*
 * Hand a GI's share to the programs already running in it: they follow the
 * compute_pct field of their region, stored here with one atomic store
 * through a MAP_SHARED mapping.  A program started but not yet inside CUDA
 * has no region yet, so when `vmig run` made the accounting directory the
 * region is created here (under the same flock protocol as the interposer's)
 * and the program finds the new share in it.  A file it cannot use (of
 * another layout: a vmig before an upgrade) is replaced when no process
 * holds a slot of it, and left alone otherwise.
 */
static int push_share(const struct vmig_gpu_state *rec, unsigned gi_id, struct vmig_err *err)
{
	struct vmig_soft_limits l;
	unsigned uid, gid;
	int r = vmig_soft_limits(rec, gi_id, &l, err);
	if (r < 0)
		return r;
	int fd;
	if ((r = region_open(l.acct_path, O_RDWR, LOCK_EX, gi_id, &fd, err)) < 0)
		return r;
	if (fd < 0) /* a GI of a vmig from before its files: made now */
		return instance_files(rec, gi_id, err);
	const char *why = NULL;
	struct vmig__region *reg = vmig__region_map_fd(fd, l.partition, l.mem_bytes, l.compute_pct,
						       l.compute_policy, &why);
	if (reg) {
		atomic_store(&reg->busy.policy, l.compute_policy);
		atomic_store(&reg->compute_pct, l.compute_pct);
		munmap(reg, sizeof(*reg));
	} else if (!any_slot_held(fd)) {
		/*
		 * A region this build cannot use (an older layout: a vmig before an
		 * upgrade) that no process holds a slot of: replaced by one of this
		 * layout, so that programs started from now on can use the GI again.
		 */
		close(fd);
		return instance_files(rec, gi_id, err);
	}
	close(fd);
	/* Programs started from now on read the share from the limits file. */
	if ((r = gi_owner(rec, gi_id, &uid, &gid, err)) < 0)
		return r;
	return write_limits(&l, uid, gid, err);
}

/* Append the live processes registered in one GI's region, with their charged bytes. */
static int region_procs(const struct vmig_gpu_state *g, unsigned gpu, unsigned gi_id,
			struct vmig_proc **list, size_t *n, size_t *cap, struct vmig_err *err)
{
	struct vmig_soft_limits l;
	if (vmig_soft_limits(g, gi_id, &l, NULL) < 0)
		return 0;
	/*
	 * Only read, never created here: no flock needed (a region is whole once
	 * its magic is there, which region_check tests), so a stopped holder of
	 * the file's flock cannot make a listing wait.  Nothing but a regular
	 * file of this layout is read.
	 */
	int r = 0, fd = open(l.acct_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0; /* no program of the GI ever ran, or nothing we can read */
	struct stat st;
	struct vmig__region *reg = MAP_FAILED;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == (off_t)sizeof(struct vmig__region))
		reg = mmap(NULL, sizeof(*reg), PROT_READ, MAP_SHARED, fd, 0);
	if (reg == MAP_FAILED) {
		close(fd);
		return 0;
	}
	uint32_t hi = vmig__region_check(reg, l.partition) ? 0 : atomic_load(&reg->slot_hi);
	for (uint32_t i = 0; i < hi && i < VMIG_ACCT_SLOTS && r >= 0; i++) {
		int32_t pid = atomic_load(&reg->slots[i].pid);
		if (!vmig__slot_live(reg, fd, i))
			continue; /* free, or its process is gone (its lock with it) */
		if (*n == *cap) {
			size_t c = *cap ? 2 * *cap : 16;
			struct vmig_proc *p = realloc(*list, c * sizeof(*p));
			if (!p) {
				r = vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
				break;
			}
			*list = p;
			*cap = c;
		}
		(*list)[(*n)++] = (struct vmig_proc){.kind = VMIG_PROC_RUN,
						     .pid = pid,
						     .gpu = gpu,
						     .gi = gi_id,
						     .ci = VMIG_PROC_WHOLE_GPU,
						     .mem_bytes = atomic_load(&reg->bytes[i])};
	}
	munmap(reg, sizeof(*reg));
	close(fd);
	return r;
}

/*
 * The processes of every GI: those registered in its accounting region
 * (every process of the instance registers at its first CUDA call), alive
 * now, with the device memory charged to each.  A GI is the unit of
 * accounting, so ci is VMIG_PROC_WHOLE_GPU (the GI as a whole).
 */
static int soft_procs(void *priv, struct vmig_proc **ret, size_t *ret_n, struct vmig_err *err)
{
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	struct vmig_proc *list = NULL;
	size_t n = 0, cap = 0;
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = soft_snapshot(priv, st, err);
	for (unsigned g = 0; r >= 0 && g < st->ngpu; g++)
		for (unsigned i = 0; r >= 0 && i < st->gpu[g].ngi; i++)
			r = region_procs(&st->gpu[g], g, st->gpu[g].gi[i].id, &list, &n, &cap, err);
	if (r < 0) {
		free(list);
		return r;
	}
	if (!n) {
		free(list);
		list = NULL;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

/* A GI's files go with it: its accounting region and its limits file. */
static void region_remove(const char *gpu_uuid, unsigned gi_id)
{
	char path[PATH_MAX + sizeof(VMIG_LIMITS_SUFFIX)];
	if (acct_path(gpu_uuid, gi_id, path, PATH_MAX, NULL) < 0)
		return;
	unlink(path);
	strcat(path, VMIG_LIMITS_SUFFIX);
	unlink(path);
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

/* One operation on the record of one real GPU, for vmig__store_transact. */
struct soft_txn {
	const struct vmig_gpu_state *hw; /* the device, as the hardware backend shows it */
	const struct vmig_model *model;	 /* its soft model */
	struct vmig__op *op;
	const char *dir;	/* the soft store's directory, for messages */
	struct soft_gone *gone; /* a batch: regions to remove once it commits; NULL: at once */
};

/* The accounting regions a batch removes after its commit (an abort keeps them). */
struct soft_gone {
	size_t n;
	struct {
		char uuid[VMIG_UUID_LEN];
		unsigned gi_id;
	} v[VMIG_MAX_GPUS * VMIG_MAX_GIS];
};

static void region_gone(const struct soft_txn *t, const char *uuid, unsigned gi_id)
{
	if (!t->gone) {
		region_remove(uuid, gi_id);
		return;
	}
	if (t->gone->n < VMIG_ARRAY_SIZE(t->gone->v)) {
		snprintf(t->gone->v[t->gone->n].uuid, VMIG_UUID_LEN, "%s", uuid);
		t->gone->v[t->gone->n++].gi_id = gi_id;
	}
}

/* A GI created in the batch after one of its ID was destroyed: its new files stay. */
static void region_kept(const struct soft_txn *t, const char *uuid, unsigned gi_id)
{
	for (size_t i = 0; t->gone && i < t->gone->n; i++)
		if (t->gone->v[i].gi_id == gi_id && strcmp(t->gone->v[i].uuid, uuid) == 0)
			t->gone->v[i] = t->gone->v[--t->gone->n];
}

/* Identity fields come from the device, so a record follows its GPU's bus moves. */
static void refresh_identity(struct vmig_gpu_state *rec, const struct vmig_gpu_state *hw)
{
	memcpy(rec->uuid, hw->uuid, sizeof(rec->uuid));
	rec->pci_domain = hw->pci_domain;
	rec->pci_bus = hw->pci_bus;
	rec->pci_device = hw->pci_device;
	rec->minor = hw->minor;
	bool ok = hw->serial[0] != '\0';
	for (const char *c = hw->serial; *c && ok; c++)
		ok = *c > ' ' && *c <= '~';
	snprintf(rec->serial, sizeof(rec->serial), "%s", ok ? hw->serial : "[N/A]");
}

/*
 * Two GPUs never share a PCI address or a minor number, so a record of
 * another UUID that has this device's (its GPU was removed, replaced or
 * moved without vmig being told) is stale: it goes, with its accounting
 * files, instead of making the store invalid ("Corrupt state file") the
 * moment this device's record takes its identity.
 */
static void drop_stale_twins(struct vmig_state *st, const struct vmig_gpu_state *hw)
{
	for (unsigned i = 0; i < st->ngpu;) {
		struct vmig_gpu_state *r = &st->gpu[i];
		bool twin = strcmp(r->uuid, hw->uuid) != 0 &&
			    ((r->pci_domain == hw->pci_domain && r->pci_bus == hw->pci_bus &&
			      r->pci_device == hw->pci_device) ||
			     r->minor == hw->minor);
		if (!twin) {
			i++;
			continue;
		}
		for (unsigned k = 0; k < r->ngi; k++)
			region_remove(r->uuid, r->gi[k].id);
		*r = st->gpu[--st->ngpu];
	}
}

static int set_mode(struct vmig_state *st, struct vmig_gpu_state *rec, const struct soft_txn *t,
		    struct vmig_err *err)
{
	if (t->op->mode == 0) {
		if (!rec)
			return 0;
		if (rec->ngi > 0)
			return vmig_err_set(err, VMIG_E_IN_USE, NULL);
		/* MIG off leaves nothing to remember: drop the record. */
		*rec = st->gpu[--st->ngpu];
		return 0;
	}
	if (!rec) {
		if (st->ngpu >= VMIG_MAX_GPUS)
			return vmig_err_set(err, VMIG_E_INSUFFICIENT_RESOURCES,
					    "soft state holds %d GPUs already", VMIG_MAX_GPUS);
		rec = &st->gpu[st->ngpu++];
		memset(rec, 0, sizeof(*rec));
		rec->model = t->model;
		rec->flags = VMIG_GPU_SOFT;
	}
	refresh_identity(rec, t->hw);
	rec->mig_current = rec->mig_pending = 1;
	t->op->activation = 0;
	return 0;
}

static int soft_txn_apply(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct soft_txn *t = arg;
	int kr = keep_soft_records(st, t->dir, err);
	if (kr < 0)
		return kr;
	drop_stale_twins(st, t->hw);
	struct vmig_gpu_state *rec = record_of(st, t->hw->uuid);
	if (rec && rec->model != t->model)
		return vmig_err_set(err, VMIG_E_CORRUPT,
				    "soft state of GPU %s was made for a %s, but the GPU is a %s",
				    t->hw->uuid, rec->model->key, t->model->key);
	if (t->op->kind == VMIG_OP_MODE)
		return set_mode(st, rec, t, err);
	if (t->op->kind == VMIG_OP_RESET)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "software partitions need no GPU reset; destroy their "
				    "instances instead");
	if (!rec) /* soft MIG mode is off */
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED, NULL);
	refresh_identity(rec, t->hw);
	int r = 0;
	/* Under the store's lock, so no -rg or -dgi of this GPU runs in between. */
	if (t->op->kind == VMIG_OP_DESTROY_GI && (r = region_in_use(rec, t->op->gi_id, err)) < 0)
		return r;
	if ((r = vmig__op_apply(rec, t->op, err)) < 0)
		return r;
	if (t->op->kind == VMIG_OP_SHARE)
		return push_share(rec, t->op->gi_id, err);
	/*
	 * A GI's region goes with it, and a new GI never inherits a stale
	 * one: its counters start from zero.  Processes still mapping an
	 * unlinked file count on it alone and cannot reach the new one's.
	 */
	if (t->op->kind == VMIG_OP_DESTROY_GI)
		region_gone(t, rec->uuid, t->op->gi_id);
	else if (t->op->kind == VMIG_OP_CREATE_GI) {
		region_kept(t, rec->uuid, t->op->out_id);
		r = instance_files(rec, t->op->out_id, err);
	}
	return r;
}

/* The device at index gpu, and the model it is partitioned with. */
static int find_device(struct soft *s, unsigned gpu, struct vmig_gpu_state *ret_hw,
		       const struct vmig_model **ret_model, struct vmig_err *err)
{
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = s->hw->snapshot(s->hw_priv, st, err);
	if (r < 0)
		return r;
	if ((r = vmig__gpu_check(st->ngpu, gpu, err)) < 0)
		return r;
	const struct vmig_gpu_state *g = &st->gpu[gpu];
	const struct vmig_model *m = vmig_soft_model(g->model);
	if (!m)
		return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
				    "GPU %u (%s, %u SMs, %llu MiB) is too small to partition in "
				    "software",
				    gpu, g->model->name, g->model->sm,
				    (unsigned long long)g->model->mem_mib);
	*ret_hw = *g;
	*ret_model = m;
	return 0;
}

/* Each GPU is owned by one kind of MIG at a time: here the hardware's. */
static int hw_owns(unsigned gpu, struct vmig_err *err)
{
	return vmig_err_set(err, VMIG_E_OTHER_OWNER,
			    "GPU %u has MIG enabled in hardware, which software partitions cannot "
			    "share: disable it first (vmig -i %u -mig 0), or manage its instances "
			    "with the nvml backend",
			    gpu, gpu);
}

int vmig__soft_owns(const struct vmig_gpu_state *g, unsigned gpu, struct vmig_err *err)
{
	char dir[PATH_MAX];
	struct vmig_err e = {0};
	struct vmig_store *store = NULL;
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	/* A soft store that cannot be read holds nothing we could honour: the change goes on. */
	if (vmig_soft_dir(dir, sizeof(dir), &e) < 0 || vmig_store_open(dir, &store, &e) < 0)
		return 0;
	int r = vmig_store_read(store, st, &e);
	vmig_store_close(store);
	if (r < 0 || st->generation == 0)
		return 0;
	const struct vmig_gpu_state *rec = record_of(st, g->uuid);
	if (!rec || !(rec->flags & VMIG_GPU_SOFT) || !(rec->mig_current || rec->mig_pending))
		return 0;
	return vmig_err_set(err, VMIG_E_OTHER_OWNER,
			    "GPU %u has software partitions (soft MIG mode, %u GPU instance%s), "
			    "which hardware MIG cannot share: turn them off first "
			    "(vmig -i %u -mig 0 --soft)",
			    gpu, rec->ngi, rec->ngi == 1 ? "" : "s", gpu);
}

/* The soft store's directory and its state; 0 with *ret_st empty when there is none to read. */
static int soft_state(char dir[PATH_MAX], struct vmig_state *st)
{
	struct vmig_err e = {0};
	struct vmig_store *store = NULL;
	st->ngpu = 0;
	if (vmig_soft_dir(dir, PATH_MAX, &e) < 0 || vmig_store_open(dir, &store, &e) < 0)
		return 0;
	int r = vmig_store_read(store, st, &e);
	vmig_store_close(store);
	if (r < 0 || st->generation == 0)
		st->ngpu = 0;
	return 0;
}

int vmig__soft_check_gone(const char *gpu_uuid, unsigned gpu, struct vmig_err *err)
{
	char dir[PATH_MAX];
	_cleanup_free_ struct vmig_state *st = malloc(sizeof(*st));
	if (!st)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	soft_state(dir, st);
	const struct vmig_gpu_state *rec = record_of(st, gpu_uuid);
	if (!rec || !(rec->flags & VMIG_GPU_SOFT))
		return 0;
	return vmig_err_set(err, VMIG_E_IN_USE,
			    "GPU %u has software partitions (soft MIG mode, %u GPU instance%s); "
			    "turn them off first (vmig -i %u -mig 0 --soft) or use --force",
			    gpu, rec->ngi, rec->ngi == 1 ? "" : "s", gpu);
}

static int drop_records(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	const char *const *uuids = arg;
	(void)err;
	for (size_t k = 0; uuids[k]; k++) {
		struct vmig_gpu_state *rec = record_of(st, uuids[k]);
		if (!rec)
			continue;
		for (unsigned i = 0; i < rec->ngi; i++)
			region_remove(rec->uuid, rec->gi[i].id);
		*rec = st->gpu[--st->ngpu];
	}
	return 0;
}

int vmig__soft_forget(const char *const *uuids, struct vmig_err *err)
{
	char dir[PATH_MAX];
	struct vmig_store *store = NULL;
	if (vmig_soft_dir(dir, sizeof(dir), err) < 0)
		return 0;
	int r = vmig_store_open(dir, &store, err);
	if (r < 0)
		return r;
	r = vmig__store_transact(store, drop_records, (void *)uuids, NULL, err);
	vmig_store_close(store);
	return r < 0 ? r : 0;
}

/*
 * Only a user who may write the soft state changes it: checked before any
 * operation, since a new share reaches running programs (and the limits
 * file) inside the transaction, before its commit could fail.
 */
static int soft_can_change(void *priv, struct vmig_err *err)
{
	struct soft *s = priv;
	return vmig__store_can_change(s->store, err);
}

/* One operation on one device: either all of it is written or nothing. */
static int soft_apply(void *priv, struct vmig__op *op, struct vmig_err *err)
{
	struct soft *s = priv;
	int pr = op->kind == VMIG_OP_PERSISTENCE ? 0 : soft_can_change(priv, err);
	if (pr < 0)
		return pr;
	/* Persistence mode is the hardware's: software partitions have none of their own. */
	if (op->kind == VMIG_OP_PERSISTENCE)
		return s->hw->apply(s->hw_priv, op, err);
	_cleanup_free_ struct vmig_gpu_state *hw = malloc(sizeof(*hw));
	if (!hw)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	struct vmig__op work = *op;
	struct soft_txn t = {.hw = hw, .op = &work, .dir = vmig_store_dir(s->store)};
	int r = find_device(s, op->gpu, hw, &t.model, err);
	if (r < 0)
		return r;
	/* The hardware's own MIG owns the GPU: nothing to add in software. */
	if (op->kind == VMIG_OP_MODE && op->mode == 1 && (hw->mig_current || hw->mig_pending))
		return hw_owns(op->gpu, err);
	/* A GI with processes running in it is refused (In use): see region_in_use. */
	if ((r = vmig__store_transact(s->store, soft_txn_apply, &t, NULL, err)) >= 0)
		*op = work;
	return r;
}

/* A layout's operations (lib/layout.c): one transaction of the soft store for all. */
struct soft_batch {
	const char *dir; /* the soft store's directory, for messages */
	const struct vmig_state *hw;
	uint64_t generation;
	struct vmig__op *ops;
	size_t n;
	unsigned fail_at;
	struct soft_gone *gone;
};

static int soft_txn_batch(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	struct soft_batch *b = arg;
	for (size_t i = 0; i < b->n; i++) {
		struct vmig__op *op = &b->ops[i];
		int r = vmig__batch_check(st, b->generation, i, b->fail_at, err);
		if (r < 0 || (r = vmig__gpu_check(b->hw->ngpu, op->gpu, err)) < 0)
			return r;
		const struct vmig_gpu_state *hw = &b->hw->gpu[op->gpu];
		struct soft_txn t = {.hw = hw,
				     .model = vmig_soft_model(hw->model),
				     .op = op,
				     .gone = b->gone,
				     .dir = b->dir};
		if (!t.model)
			return vmig_err_set(err, VMIG_E_NOT_SUPPORTED,
					    "GPU %u is too small to partition in software",
					    op->gpu);
		if (op->kind == VMIG_OP_MODE && op->mode == 1 &&
		    (hw->mig_current || hw->mig_pending))
			return hw_owns(op->gpu, err);
		if ((r = soft_txn_apply(st, &t, err)) < 0)
			return r;
	}
	return 0;
}

static int soft_apply_batch(void *priv, uint64_t generation, struct vmig__op *ops, size_t n,
			    unsigned fail_at, struct vmig_err *err)
{
	struct soft *s = priv;
	_cleanup_free_ struct vmig_state *hw = malloc(sizeof(*hw));
	_cleanup_free_ struct soft_gone *gone = calloc(1, sizeof(*gone));
	if (!hw || !gone)
		return vmig_err_set(err, VMIG_E_NO_MEMORY, NULL);
	int r = soft_can_change(priv, err);
	if (r < 0)
		return r;
	r = s->hw->snapshot(s->hw_priv, hw, err);
	if (r < 0)
		return r;
	struct soft_batch b = {.dir = vmig_store_dir(s->store),
			       .hw = hw,
			       .generation = generation,
			       .ops = ops,
			       .n = n,
			       .fail_at = fail_at,
			       .gone = gone};
	r = vmig__store_transact(s->store, soft_txn_batch, &b, NULL, err);
	for (size_t i = 0; r >= 0 && i < gone->n; i++)
		region_remove(gone->v[i].uuid, gone->v[i].gi_id);
	return r;
}

/* The soft store is held; the hardware's is only read (the soft backend never changes it). */
static int soft_hold(void *priv, bool on, bool commit, struct vmig_err *err)
{
	struct soft *s = priv;
	return on ? vmig__store_hold(s->store, err) : vmig__store_release(s->store, commit, err);
}

const struct vmig_backend_ops vmig__backend_soft = {
    .name = "soft",
    .caps = VMIG__CAP_SHARE | VMIG__CAP_OWNER,
    .can_change = soft_can_change,
    .open = soft_open,
    .close = soft_close,
    .snapshot = soft_snapshot,
    .apply = soft_apply,
    .procs = soft_procs,
    .apply_batch = soft_apply_batch,
    .hold = soft_hold,
};
