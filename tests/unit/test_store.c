/*
 * test_store.c — the state directory: where it is, the default state of a
 * directory never written, commits and the generation counter, refusals of
 * damaged files (never rewritten), lock exclusion, and fault injection at
 * every system call of a commit (the old state survives and loads).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backend.h"
#include "internal.h"
#include "os.h"
#include "gen.h"
#include "harness.h"
#include "proc.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static struct vmig_state *new_state(void)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	return st;
}

/* A fresh directory under the test's own TMPDIR, which the harness removes afterwards. */
static const char *tmp_base(void)
{
	static char base[256];
	if (!test_mkdtemp(base, sizeof(base), "store"))
		abort();
	return base;
}

static char *path_join(const char *a, const char *b)
{
	static char bufs[4][512];
	static int next;
	char tmp[1100];
	char *p = bufs[next++ % 4];
	/* Through tmp, because a may be an earlier result in bufs. */
	snprintf(tmp, sizeof(tmp), "%s/%s", a, b);
	memcpy(p, tmp, 511);
	p[511] = '\0';
	return p;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static bool same_state(const struct vmig_state *a, const struct vmig_state *b)
{
	char *ta = NULL, *tb = NULL;
	if (vmig_state_format(a, &ta, NULL) || vmig_state_format(b, &tb, NULL))
		return false;
	bool same = strcmp(ta, tb) == 0;
	free(ta);
	free(tb);
	return same;
}

/* Can another open file description take the lock now? */
static bool lock_free(const char *dir, int op)
{
	int fd = open(path_join(dir, "lock"), O_RDONLY);
	if (fd < 0)
		return errno == ENOENT;
	bool ok = flock(fd, op | LOCK_NB) == 0;
	close(fd);
	return ok;
}

TEST(never_written_directory_reads_as_default_without_writing)
{
	const char *base = tmp_base();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/a/b/state", base);
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state(), *again = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_STR(vmig_store_dir(s), dir);
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	CHECK_EQ_U(st->ngpu, 1);
	CHECK(st->gpu[0].model == vmig_model_find("h100-80gb"));
	CHECK_EQ_U(st->gpu[0].mig_current, 0);
	CHECK_EQ_U(st->generation, 0);
	CHECK(!exists(path_join(base, "a")));
	/* The same GPU every time, until a commit writes it down. */
	CHECK_EQ_I(vmig_store_read(s, again, &e), 0);
	CHECK(same_state(st, again));
	CHECK_EQ_U(vmig_store_generation(s), 0);
	vmig_store_close(s);
	/* An existing empty directory: read, nothing created. */
	CHECK_EQ_I(vmig_store_open(base, &s, &e), 0);
	CHECK_EQ_I(vmig_store_read(s, again, &e), 0);
	CHECK_EQ_U(again->ngpu, 1);
	CHECK(!exists(path_join(base, "lock")) && !exists(path_join(base, "state")));
	/* An abandoned change leaves only the lock file behind. */
	CHECK_EQ_I(vmig_store_begin(s, again, &e), 0);
	vmig_store_abort(s);
	CHECK(exists(path_join(base, "lock")));
	CHECK(!exists(path_join(base, "state")) && !exists(path_join(base, "generation")));
	CHECK_EQ_I(vmig_store_read(s, again, &e), 0);
	CHECK_EQ_U(again->ngpu, 1);
	CHECK_EQ_U(again->generation, 0);
	vmig_store_close(s);
	free(st);
	free(again);
}

TEST(first_commit_writes_the_default_and_keeps_its_uuid)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/new/dir", tmp_base());
	struct vmig_store *s = NULL, *other = NULL;
	struct vmig_state *seen = new_state(), *st = new_state(), *back = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_EQ_I(vmig_store_read(s, seen, &e), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK(same_state(seen, st));
	CHECK(!lock_free(dir, LOCK_SH));
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	CHECK(lock_free(dir, LOCK_EX));
	CHECK_EQ_U(st->generation, 1);
	CHECK_EQ_U(vmig_store_generation(s), 1);
	struct stat sb;
	CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
	CHECK(exists(path_join(dir, "state")) && exists(path_join(dir, "generation")));
	CHECK(!exists(path_join(dir, "state.tmp")));
	CHECK_EQ_I(vmig_store_open(dir, &other, &e), 0);
	CHECK_EQ_U(vmig_store_generation(other), 1);
	CHECK_EQ_I(vmig_store_read(other, back, &e), 0);
	CHECK_STR(back->gpu[0].uuid, seen->gpu[0].uuid);
	CHECK_STR(back->gpu[0].serial, seen->gpu[0].serial);
	CHECK_EQ_U(back->generation, 1);
	vmig_store_close(s);
	vmig_store_close(other);
	free(seen);
	free(st);
	free(back);
}

TEST(commits_round_trip_and_bump_the_shared_generation)
{
	const char *dir = tmp_base();
	struct vmig_store *a = NULL, *b = NULL;
	struct vmig_state *st = new_state(), *want = new_state(), *back = new_state();
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &a, &e), 0);
	CHECK_EQ_I(vmig_store_open(dir, &b, &e), 0);
	CHECK_EQ_U(vmig_store_generation(b), 0);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		CHECK_EQ_I(vmig_store_begin(a, st, &e), 0);
		CHECK_EQ_U(st->generation, seed - 1);
		gen_state(want, seed, 1 + seed % 5);
		want->generation = 999; /* ignored: the store numbers commits */
		CHECK_EQ_I(vmig_store_commit(a, want, &e), 0);
		CHECK_EQ_U(want->generation, seed);
		/* b sees the change without reading, once it has the page mapped. */
		if (seed > 1)
			CHECK_EQ_U(vmig_store_generation(b), seed);
		CHECK_EQ_I(vmig_store_read(b, back, &e), 0);
		CHECK(same_state(back, want));
		CHECK_EQ_U(vmig_store_generation(b), seed);
	}
	vmig_store_close(a);
	vmig_store_close(b);
	free(st);
	free(want);
	free(back);
}

TEST(directory_from_the_environment)
{
	const char *base = tmp_base();
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};

	setenv("VMIG_STATE_DIR", path_join(base, "env"), 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), 0);
	CHECK_STR(vmig_store_dir(s), path_join(base, "env"));
	vmig_store_close(s);
	/* The argument wins over the environment; trailing slashes are dropped. */
	CHECK_EQ_I(vmig_store_open(path_join(base, "arg//"), &s, &e), 0);
	CHECK_STR(vmig_store_dir(s), path_join(base, "arg"));
	vmig_store_close(s);

	setenv("VMIG_STATE_DIR", "", 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "VMIG_STATE_DIR is set but empty") != NULL);
	setenv("VMIG_STATE_DIR", "relative/dir", 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "VMIG_STATE_DIR must be an absolute path, not 'relative/dir'") != NULL);
	spit(path_join(base, "file"), "x");
	setenv("VMIG_STATE_DIR", path_join(base, "file"), 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "is not a directory") && strstr(e.msg, path_join(base, "file")));
	setenv("VMIG_STATE_DIR", path_join(base, "file/sub"), 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "is not a directory") != NULL);
	CHECK_EQ_I(vmig_store_open("", &s, &e), -VMIG_E_INVALID_ARGUMENT);

	unsetenv("VMIG_STATE_DIR");
	if (geteuid() == 0) {
		CHECK_EQ_I(vmig_store_open(NULL, &s, &e), 0);
		CHECK_STR(vmig_store_dir(s), "/var/lib/vmig");
		vmig_store_close(s);
		return;
	}
	setenv("XDG_STATE_HOME", path_join(base, "xdg"), 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), 0);
	CHECK_STR(vmig_store_dir(s), path_join(base, "xdg/vmig"));
	vmig_store_close(s);
	setenv("XDG_STATE_HOME", "rel", 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "XDG_STATE_HOME must be an absolute path") != NULL);
	setenv("XDG_STATE_HOME", "", 1);
	setenv("HOME", path_join(base, "home"), 1);
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), 0);
	CHECK_STR(vmig_store_dir(s), path_join(base, "home/.local/state/vmig"));
	vmig_store_close(s);
	unsetenv("HOME");
	CHECK_EQ_I(vmig_store_open(NULL, &s, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "HOME is not set") != NULL);
}

TEST(unwritable_directory_is_a_clear_error)
{
	if (geteuid() == 0)
		SKIP("root writes anywhere");
	const char *dir = tmp_base();
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	chmod(dir, 0555);
	CHECK_EQ_I(vmig_store_open(dir, &s, &e), 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0); /* reading needs no write access */
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_NO_PERMISSION);
	CHECK(strstr(e.msg, "is not writable") && strstr(e.msg, dir));
	vmig_store_close(s);
	/* A directory that cannot be created under a read-only parent. */
	CHECK_EQ_I(vmig_store_open(path_join(dir, "sub"), &s, &e), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_NO_PERMISSION);
	CHECK(strstr(e.msg, "is not writable") != NULL);
	vmig_store_close(s);
	chmod(dir, 0755);
	free(st);
}

/* A committed directory holding state A, for the tests below. */
static struct vmig_store *committed(const char *dir, struct vmig_state *a, uint64_t seed)
{
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state();
	struct vmig_err e = {0};
	if (vmig_store_open(dir, &s, &e) || vmig_store_begin(s, st, &e))
		abort();
	gen_state(a, seed, 3);
	if (vmig_store_commit(s, a, &e))
		abort();
	free(st);
	return s;
}

TEST(damaged_files_are_refused_and_left_alone)
{
	static const struct {
		const char *text;
		int code;
		const char *msg;
	} cases[] = {
	    {"garbage\n", VMIG_E_CORRUPT, "line 1: not a vmig state file"},
	    {"vmig-state 1\ngeneration 3\n", VMIG_E_CORRUPT, "no end marker after line 2"},
	    {"vmig-state 7\nfuture\n", VMIG_E_NEWER_VERSION, "newer vmig"},
	    {"", VMIG_E_CORRUPT, "empty file"},
	    /* parses, but two GIs overlap */
	    {"vmig-state 1\ngeneration 3\ngpu index=0 model=h100-80gb "
	     "uuid=GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9 serial=1 pci=00000000:07:00.0 minor=0 "
	     "mig=1 mig_pending=1 flags=simulated\ngi gpu=0 id=1 profile=0 start=0 size=8 share=0\n"
	     "gi gpu=0 id=2 profile=19 start=0 size=1 share=0\nend\n",
	     VMIG_E_CORRUPT, "overlaps"},
	};
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 5);
	char path[512];
	snprintf(path, sizeof(path), "%s/state", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmig_err e = {0};
		spit(path, cases[i].text);
		struct stat before, after;
		stat(path, &before);
		int rc = vmig_store_read(s, st, &e);
		if (rc != -cases[i].code || !strstr(e.msg, cases[i].msg) || !strstr(e.msg, path))
			HARNESS_FAIL("case %zu: read rc %d \"%s\"", i, rc, e.msg);
		rc = vmig_store_begin(s, st, &e);
		if (rc != -cases[i].code || !strstr(e.msg, cases[i].msg))
			HARNESS_FAIL("case %zu: begin rc %d \"%s\"", i, rc, e.msg);
		CHECK(lock_free(dir, LOCK_EX));
		stat(path, &after);
		CHECK(before.st_ino == after.st_ino && before.st_mtime == after.st_mtime);
		size_t len;
		char *now = slurp(path, &len);
		CHECK(now && len == strlen(cases[i].text) && memcmp(now, cases[i].text, len) == 0);
		free(now);
	}
	/* A FIFO where the state file should be: refused, not waited on. */
	unlink(path);
	CHECK(mkfifo(path, 0644) == 0);
	struct vmig_err fe = {0};
	CHECK_EQ_I(vmig_store_read(s, st, &fe), -VMIG_E_CORRUPT);
	CHECK(strstr(fe.msg, "is not a regular file") != NULL);
	CHECK_EQ_I(vmig_store_begin(s, st, &fe), -VMIG_E_CORRUPT);
	CHECK(lock_free(dir, LOCK_EX));
	/* A directory where the state file should be. */
	unlink(path);
	mkdir(path, 0755);
	struct vmig_err e = {0};
	CHECK(vmig_store_read(s, st, &e) < 0);
	CHECK(strstr(e.msg, path) != NULL);
	vmig_store_close(s);
	free(a);
	free(st);
}

TEST(transaction_misuse)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state(), *back = new_state();
	struct vmig_store *s = committed(dir, a, 9);
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_commit(s, st, &e), -VMIG_E_INVALID_STATE);
	CHECK(strstr(e.msg, "no change in progress") != NULL);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_INVALID_STATE);
	/* Reading inside one's own transaction does not deadlock. */
	CHECK_EQ_I(vmig_store_read(s, back, &e), 0);
	CHECK(same_state(back, a));
	vmig_store_abort(s);
	CHECK(lock_free(dir, LOCK_EX));
	vmig_store_abort(s); /* harmless twice */
	/* An invalid state is refused, the lock released, the old state kept. */
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	st->gpu[0].minor = 999;
	CHECK_EQ_I(vmig_store_commit(s, st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "refusing to write an invalid state") && strstr(e.msg, "bad minor"));
	CHECK(lock_free(dir, LOCK_EX));
	CHECK_EQ_I(vmig_store_read(s, back, &e), 0);
	CHECK(same_state(back, a));
	CHECK_EQ_U(vmig_store_generation(s), 1);
	/* Without an error object the code still comes back. */
	spit(path_join(dir, "state"), "junk\n");
	CHECK_EQ_I(vmig_store_read(s, back, NULL), -VMIG_E_CORRUPT);
	CHECK_EQ_I(vmig_store_open(NULL, NULL, NULL), -VMIG_E_INVALID_ARGUMENT);
	vmig_store_close(s);
	vmig_store_close(NULL);
	free(a);
	free(st);
	free(back);
}

TEST(leftovers_and_a_damaged_generation_file)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state(), *back = new_state();
	struct vmig_store *s = committed(dir, a, 11);
	struct vmig_err e = {0};
	/* A writer that died mid-write left a partial temp file: ignored, then replaced. */
	spit(path_join(dir, "state.tmp"), "vmig-state 1\ngener");
	CHECK_EQ_I(vmig_store_read(s, back, &e), 0);
	CHECK(same_state(back, a));
	/* A damaged counter reads as 0 ("unknown: re-read") and is rebuilt by the next writer. */
	spit(path_join(dir, "generation"), "damaged");
	struct vmig_store *fresh = NULL;
	CHECK_EQ_I(vmig_store_open(dir, &fresh, &e), 0);
	CHECK_EQ_U(vmig_store_generation(fresh), 0);
	CHECK_EQ_I(vmig_store_begin(fresh, st, &e), 0);
	CHECK_EQ_I(vmig_store_commit(fresh, st, &e), 0);
	CHECK_EQ_U(st->generation, 2);
	CHECK_EQ_U(vmig_store_generation(fresh), 2);
	CHECK(!exists(path_join(dir, "state.tmp")));
	/* The old handle's mapping is of the replaced file; its next read maps the new one. */
	CHECK_EQ_I(vmig_store_read(s, back, &e), 0);
	CHECK_EQ_U(vmig_store_generation(s), 2);
	/* A counter from a newer vmig stops writers. */
	struct {
		uint64_t magic;
		uint32_t version, size;
		uint64_t counter;
	} page = {0x6e65672d67696d76ull, 2, 64, 5};
	FILE *f = fopen(path_join(dir, "generation.new"), "wb");
	char zero[4096] = {0};
	memcpy(zero, &page, sizeof(page));
	fwrite(zero, 1, sizeof(zero), f);
	fclose(f);
	rename(path_join(dir, "generation.new"), path_join(dir, "generation"));
	CHECK_EQ_I(vmig_store_begin(fresh, st, &e), 0);
	CHECK_EQ_I(vmig_store_commit(fresh, st, &e), -VMIG_E_NEWER_VERSION);
	CHECK(strstr(e.msg, "newer vmig") != NULL);
	CHECK(lock_free(dir, LOCK_EX));
	vmig_store_close(s);
	vmig_store_close(fresh);
	free(a);
	free(st);
	free(back);
}

TEST(writers_exclude_each_other_and_readers)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 13);
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK(!lock_free(dir, LOCK_EX));
	CHECK(!lock_free(dir, LOCK_SH));
	/*
	 * A second process starts its own change while ours is open.  It must
	 * wait and then see our change; without the lock it would read the old
	 * state and its commit would lose ours.
	 */
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct vmig_store *c = NULL;
		struct vmig_state *cs = new_state();
		close(ready[0]);
		if (vmig_store_open(dir, &c, NULL))
			_exit(10);
		if (write(ready[1], "x", 1) != 1)
			_exit(11);
		if (vmig_store_begin(c, cs, NULL))
			_exit(12);
		if (cs->gpu[0].mig_pending != 1 || cs->gpu[0].mig_current != 1)
			_exit(13); /* our change was not seen */
		strcpy(cs->gpu[1].serial, "child");
		int rc = vmig_store_commit(c, cs, NULL) ? 14 : 0;
		/* Closing the inherited handle must not free the parent's lock. */
		vmig_store_close(s);
		vmig_store_close(c);
		free(cs);
		free(a);
		free(st);
		_exit(rc);
	}
	close(ready[1]);
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	usleep(100 * 1000); /* give the child time to block: the outcome does not depend on it */
	st->gpu[0].mig_pending = st->gpu[0].mig_current = 1;
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ_I(WEXITSTATUS(status), 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	CHECK_EQ_U(st->gpu[0].mig_current, 1);
	CHECK_STR(st->gpu[1].serial, "child");
	CHECK_EQ_U(st->generation, 3);
	vmig_store_close(s);
	free(a);
	free(st);
}

TEST(forked_child_closing_the_handle_keeps_the_lock)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 15);
	CHECK_EQ_I(vmig_store_begin(s, st, NULL), 0);
	pid_t pid = fork();
	if (pid == 0) {
		vmig_store_close(s); /* shares the locked file description */
		free(a);
		free(st);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	CHECK(!lock_free(dir, LOCK_EX));
	CHECK_EQ_I(vmig_store_commit(s, st, NULL), 0);
	CHECK(lock_free(dir, LOCK_EX));
	/* And the other way round: a child still holding a copy does not keep the lock. */
	int go[2];
	CHECK(pipe(go) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, NULL), 0);
	pid = fork();
	if (pid == 0) {
		char x;
		close(go[1]);
		int rc = read(go[0], &x, 1) == 0 ? 0 : 1; /* waits for the parent to close */
		vmig_store_close(s);
		free(a);
		free(st);
		_exit(rc);
	}
	close(go[0]);
	vmig_store_abort(s);
	CHECK(lock_free(dir, LOCK_EX));
	close(go[1]);
	waitpid(pid, NULL, 0);
	vmig_store_close(s);
	free(a);
	free(st);
}

/*
 * One attempted change under a fault: begin, replace the state by `next`,
 * commit.  Returns whether the change was reported done.
 */
static bool attempt(const char *dir, const struct vmig_state *next, struct vmig_err *e)
{
	struct vmig_store *s = NULL;
	struct vmig_state *st = new_state();
	bool done = false;
	if (vmig_store_open(dir, &s, e) == 0) {
		if (vmig_store_begin(s, st, e) == 0) {
			memcpy(st, next, sizeof(*st));
			done = vmig_store_commit(s, st, e) == 0;
		}
		vmig_store_close(s);
	}
	free(st);
	return done;
}

/* What the directory holds now, read by a fresh handle with no fault armed. */
static void load(const char *dir, struct vmig_state *ret)
{
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	if (vmig_store_open(dir, &s, &e) || vmig_store_read(s, ret, &e)) {
		HARNESS_FAIL("state does not load: %s", e.msg);
		exit(1);
	}
	vmig_store_close(s);
}

/*
 * For each kind of system call, count the calls one change makes, then
 * fail each of them in turn (once, and from there on, as a full disk does):
 * the change is either reported done and visible, or reported failed with
 * the old state intact, the lock free and no temporary file left behind.
 */
TEST(faults_at_every_call_of_a_commit)
{
	static const struct {
		enum vmig__os_op op;
		int err;
	} kinds[] = {
	    {VMIG_OS_OPEN, EACCES}, {VMIG_OS_WRITE, ENOSPC}, {VMIG_OS_FSYNC, EIO},
	    {VMIG_OS_RENAME, EIO},  {VMIG_OS_FLOCK, ENOLCK}, {VMIG_OS_MKDIR, EROFS},
	    {VMIG_OS_STAT, EIO},    {VMIG_OS_MMAP, ENOMEM},  {VMIG_OS_CLOSE, EIO},
	    {VMIG_OS_READ, EIO},
	};
	const char *base = tmp_base();
	struct vmig_state *cur = new_state(), *next = new_state(), *now = new_state();
	unsigned trials = 0, failed = 0;
	uint64_t seed = 100;
	char dir[512];
	/* fresh: the very first commit, into a directory not yet created, each time */
	for (int fresh = 0; fresh < 2; fresh++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			for (int repeat = 0; repeat < 2; repeat++) {
				snprintf(dir, sizeof(dir), "%s/%d-%zu-%d/0/d", base, fresh, k,
					 repeat);
				if (!fresh) {
					gen_state(next, seed++, 2);
					CHECK(attempt(dir, next, NULL));
				}
				gen_state(next, seed++, 2);
				vmig__os_fault_reset();
				CHECK(attempt(dir, next, NULL));
				unsigned calls = vmig__os_calls(kinds[k].op);
				for (unsigned nth = 1; nth <= calls; nth++) {
					struct vmig_err e = {0};
					if (fresh)
						snprintf(dir, sizeof(dir), "%s/%d-%zu-%d/%u/d",
							 base, fresh, k, repeat, nth);
					load(dir, cur);
					gen_state(next, seed++, 2);
					vmig__os_fault_set(kinds[k].op, nth, kinds[k].err, repeat);
					bool done = attempt(dir, next, &e);
					vmig__os_fault_reset();
					trials++;
					load(dir, now);
					next->generation = now->generation;
					if (done && !same_state(now, next))
						HARNESS_FAIL("%s #%u: reported done, not visible",
							     vmig__os_op_name(kinds[k].op), nth);
					if (!done) {
						failed++;
						if (!same_state(now, cur))
							HARNESS_FAIL("%s #%u failed (%s) and lost "
								     "the old state",
								     vmig__os_op_name(kinds[k].op),
								     nth, e.msg);
						if (!e.msg[0] || e.code == 0)
							HARNESS_FAIL(
							    "%s #%u: failed without a message",
							    vmig__os_op_name(kinds[k].op), nth);
						char tmp[600];
						snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
						CHECK(!exists(tmp));
					}
					CHECK(lock_free(dir, LOCK_EX));
				}
			}
		}
	}
	/* Every kind was reached, and most faults really made a change fail. */
	CHECK(trials > 100);
	CHECK(failed > trials / 2);
	fprintf(stderr, "  %u faults injected, %u changes refused\n", trials, failed);
	free(cur);
	free(next);
	free(now);
}

/* Interruptions and short transfers are finished by the wrappers: every change succeeds. */
TEST(eintr_and_short_writes_are_finished)
{
	static const enum vmig__os_op ops[] = {VMIG_OS_WRITE, VMIG_OS_READ, VMIG_OS_FSYNC,
					       VMIG_OS_FLOCK, VMIG_OS_OPEN};
	const char *dir = tmp_base();
	struct vmig_state *next = new_state(), *now = new_state();
	uint64_t seed = 1000;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		/* Short transfers on every call; EINTR once, at each of the first calls. */
		for (unsigned nth = 0; nth <= 3; nth++) {
			if (nth == 0 && ops[k] != VMIG_OS_WRITE && ops[k] != VMIG_OS_READ)
				continue;
			gen_state(next, seed++, 6);
			if (nth == 0)
				vmig__os_fault_set(ops[k], 1, 0, true);
			else
				vmig__os_fault_set(ops[k], nth, EINTR, false);
			struct vmig_err e = {0};
			bool done = attempt(dir, next, &e);
			unsigned calls = vmig__os_calls(ops[k]);
			vmig__os_fault_reset();
			load(dir, now);
			if (!done)
				HARNESS_FAIL("%s with %s: %s", vmig__os_op_name(ops[k]),
					     nth ? "EINTR" : "short transfers", e.msg);
			if (nth <= 1)
				CHECK(calls >=
				      2); /* the fault was hit and the call retried or finished */
			next->generation = now->generation;
			CHECK(same_state(now, next));
		}
	}
	free(next);
	free(now);
}

/*
 * A failed rename moves nothing, and a counter left behind the file (a
 * writer died between its rename and its bump) is never repeated: the next
 * commit goes past both.
 */
TEST(generation_never_repeats)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 17);
	struct vmig_err e = {0};
	vmig__os_fault_set(VMIG_OS_RENAME, 1, EIO, false);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_I(vmig_store_commit(s, st, &e), -VMIG_E_IO);
	CHECK(strstr(e.msg, "the old state is kept") != NULL);
	vmig__os_fault_reset();
	CHECK_EQ_U(vmig_store_generation(s), 1); /* the rename is first: nothing moved */
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_U(st->generation, 1);
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	CHECK_EQ_U(st->generation, 2);
	/* Put the page's counter back to 1, as a crash right after the rename would leave it. */
	int fd = open(path_join(dir, "generation"), O_RDWR);
	CHECK(fd >= 0);
	uint64_t one = 1;
	CHECK(pwrite(fd, &one, sizeof(one), 16) == (ssize_t)sizeof(one));
	close(fd);
	CHECK_EQ_U(vmig_store_generation(s), 1);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_U(st->generation, 2);
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	CHECK_EQ_U(st->generation, 3);
	CHECK_EQ_U(vmig_store_generation(s), 3);
	vmig_store_close(s);
	free(a);
	free(st);
}

/*
 * A stopped process holding the lock (SIGSTOP, a debugger, a frozen cgroup)
 * makes a writer fail within VMIG_LOCK_TIMEOUT, naming the holder; readers
 * take no lock and are not held up at all.
 */
TEST(stopped_lock_holder_bounds_writers_and_not_readers)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 23);
	struct vmig_err e = {0};
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path_join(dir, "lock"), O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	setenv("VMIG_LOCK_TIMEOUT", "0.3", 1);
	double t0 = test_now();
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	CHECK(test_now() - t0 < 0.3); /* no wait at all; the bound only catches a hang */
	CHECK_EQ_U(st->generation, 1);
	t0 = test_now();
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_TIMEOUT);
	double waited = test_now() - t0;
	CHECK(waited >= 0.29 && waited < 30);
	char who[32];
	snprintf(who, sizeof(who), "process %d holds it", (int)pid);
	CHECK(strstr(e.msg, who) != NULL);
	CHECK(strstr(e.msg, "VMIG_LOCK_TIMEOUT") != NULL);
	CHECK(strchr(e.msg, '\n') == NULL);
	/* A bad bound is refused, not taken as zero or forever. */
	setenv("VMIG_LOCK_TIMEOUT", "soon", 1);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(e.msg, "VMIG_LOCK_TIMEOUT must be") != NULL);
	setenv("VMIG_LOCK_TIMEOUT", "-1", 1);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_INVALID_ARGUMENT);
	unsetenv("VMIG_LOCK_TIMEOUT");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0); /* the holder is gone: the lock is free */
	vmig_store_abort(s);
	/* The abandoned waiting thread gets the lock too, lets go of it and ends. */
	for (int i = 0; i < 3000 && vmig__os_flock_waiters() > 0; i++)
		usleep(10000);
	CHECK_EQ_U(vmig__os_flock_waiters(), 0);
	close(ready[0]);
	close(ready[1]);
	vmig_store_close(s);
	free(a);
	free(st);
}

/* Links and FIFOs planted where vmig writes are never followed; their targets stay as they were. */
TEST(planted_links_are_not_followed)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 29);
	struct vmig_err e = {0};
	char target[600];
	snprintf(target, sizeof(target), "%s", path_join(dir, "victim"));
	int fd = open(target, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && write(fd, "precious\n", 9) == 9);
	close(fd);
	CHECK(symlink(target, path_join(dir, "state.tmp")) == 0);
	CHECK(symlink(target, path_join(dir, "generation.tmp")) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	CHECK_EQ_I(vmig_store_commit(s, st, &e), 0);
	char buf[32] = {0};
	fd = open(target, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == 9);
	close(fd);
	CHECK_STR(buf, "precious\n");
	struct stat sb;
	CHECK(lstat(path_join(dir, "state"), &sb) == 0 && S_ISREG(sb.st_mode));
	/* A link in the state file's own place is refused, by readers and writers. */
	CHECK(rename(path_join(dir, "state"), path_join(dir, "state.saved")) == 0);
	CHECK(symlink(target, path_join(dir, "state")) == 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), -VMIG_E_CORRUPT);
	CHECK(strstr(e.msg, "symbolic link") != NULL);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_CORRUPT);
	CHECK(unlink(path_join(dir, "state")) == 0);
	CHECK(rename(path_join(dir, "state.saved"), path_join(dir, "state")) == 0);
	/* And one in the lock's place. */
	CHECK(unlink(path_join(dir, "lock")) == 0);
	CHECK(symlink(target, path_join(dir, "lock")) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_IO);
	CHECK(strstr(e.msg, "symbolic link") != NULL);
	CHECK(unlink(path_join(dir, "lock")) == 0);
	CHECK(mkfifo(path_join(dir, "lock"), 0644) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_IO);
	CHECK(strstr(e.msg, "not a regular file") != NULL);
	CHECK(unlink(path_join(dir, "lock")) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), 0);
	vmig_store_abort(s);
	vmig_store_close(s);
	free(a);
	free(st);
}

/* A directory that others may write is refused with the reason and the fix. */
TEST(directory_others_may_write_is_refused)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 31);
	struct vmig_err e = {0};
	CHECK(chmod(dir, 0777) == 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), -VMIG_E_NO_PERMISSION);
	CHECK(strstr(e.msg, "may be written by anyone") && strstr(e.msg, "chmod go-w"));
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_NO_PERMISSION);
	CHECK(chmod(dir, 0770) == 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &e), -VMIG_E_NO_PERMISSION);
	CHECK(strstr(e.msg, "its group") != NULL);
	CHECK(chmod(dir, 0755) == 0);
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	vmig_store_close(s);
	free(a);
	free(st);
}

static int add_serial_x(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	(void)err;
	strcpy(st->gpu[0].serial, arg);
	return 0;
}

static int refuse(struct vmig_state *st, void *arg, struct vmig_err *err)
{
	(void)arg;
	strcpy(st->gpu[0].serial, "never"); /* on the copy: dropped with the refusal */
	return vmig_err_set(err, VMIG_E_IN_USE, NULL);
}

/*
 * One command, one commit: under a hold, every transaction of the handle
 * changes the held state (a refused one changes nothing), its reads see
 * them, other handles see the state before, and release writes once; a hold
 * whose changes were all refused writes nothing.
 */
TEST(a_hold_commits_once)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state();
	struct vmig_store *s = committed(dir, a, 37), *other = NULL;
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &other, &e), 0);
	uint64_t gen = vmig_store_generation(s);
	CHECK_EQ_I(vmig__store_hold(s, &e), 0);
	CHECK_EQ_I(vmig__store_hold(s, &e), -VMIG_E_INVALID_STATE);
	static char first[] = "first", second[] = "second", dropped[] = "dropped";
	CHECK_EQ_I(vmig__store_transact(s, add_serial_x, first, NULL, &e), 0);
	CHECK_EQ_I(vmig__store_transact(s, refuse, NULL, NULL, &e), -VMIG_E_IN_USE);
	CHECK_EQ_I(vmig__store_transact(s, add_serial_x, second, st, &e), 0);
	CHECK_STR(st->gpu[0].serial, "second");
	CHECK_EQ_I(vmig_store_read(s, st, &e), 0);
	CHECK_STR(st->gpu[0].serial, "second"); /* its own changes */
	CHECK_EQ_I(vmig_store_read(other, st, &e), 0);
	CHECK_STR(st->gpu[0].serial, a->gpu[0].serial); /* not yet for others */
	CHECK_EQ_U(vmig_store_generation(other), gen);
	CHECK_EQ_I(vmig__store_release(s, true, &e), 0);
	CHECK_EQ_U(vmig_store_generation(other), gen + 1); /* three changes, one commit */
	CHECK_EQ_I(vmig_store_read(other, st, &e), 0);
	CHECK_STR(st->gpu[0].serial, "second");
	/* All refused: nothing written; dropped: nothing written either. */
	CHECK_EQ_I(vmig__store_hold(s, &e), 0);
	CHECK_EQ_I(vmig__store_transact(s, refuse, NULL, NULL, &e), -VMIG_E_IN_USE);
	CHECK_EQ_I(vmig__store_release(s, true, &e), 0);
	CHECK_EQ_I(vmig__store_hold(s, &e), 0);
	CHECK_EQ_I(vmig__store_transact(s, add_serial_x, dropped, NULL, &e), 0);
	CHECK_EQ_I(vmig__store_release(s, false, &e), 0);
	CHECK_EQ_U(vmig_store_generation(other), gen + 1);
	CHECK_EQ_I(vmig_store_read(other, st, &e), 0);
	CHECK_STR(st->gpu[0].serial, "second");
	CHECK_EQ_I(vmig_store_begin(other, st, &e), 0); /* the lock is free again */
	vmig_store_abort(other);
	vmig_store_close(other);
	vmig_store_close(s);
	free(a);
	free(st);
}

/*
 * A read that finds the file it read last under the same counter copies what
 * it parsed then (no read(2) at all: a read fault shows it); a commit, a file
 * renamed into place without a bump (a writer killed between the two) and a
 * file rewritten in place are each read afresh.
 */
TEST(unchanged_file_is_not_read_again)
{
	const char *dir = tmp_base();
	struct vmig_state *a = new_state(), *st = new_state(), *want = new_state();
	struct vmig_store *w = committed(dir, a, 41), *r = NULL;
	struct vmig_err e = {0};
	CHECK_EQ_I(vmig_store_open(dir, &r, &e), 0);
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	CHECK(same_state(st, a));
	vmig__os_fault_set(VMIG_OS_READ, 1, EIO, true);
	memset(st, 0xa5, sizeof(*st));
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	CHECK(same_state(st, a));
	vmig__os_fault_reset();
	/* The copy is of the GPUs there are: the room past them is not written. */
	CHECK(st->ngpu < VMIG_MAX_GPUS);
	CHECK(((const unsigned char *)&st->gpu[st->ngpu])[0] == 0xa5);
	CHECK(((const unsigned char *)(st + 1))[-1] == 0xa5);

	/* A commit: the next read reads (and here meets the fault). */
	CHECK_EQ_I(vmig_store_begin(w, st, &e), 0);
	gen_state(want, 42, 2);
	CHECK_EQ_I(vmig_store_commit(w, want, &e), 0);
	vmig__os_fault_set(VMIG_OS_READ, 1, EIO, true);
	CHECK(vmig_store_read(r, st, &e) < 0);
	vmig__os_fault_reset();
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	CHECK(same_state(st, want));

	/* Renamed into place, counter not bumped. */
	char *text = NULL;
	gen_state(want, 43, 4);
	want->generation = vmig_store_generation(r) + 1;
	CHECK_EQ_I(vmig_state_format(want, &text, NULL), 0);
	spit(path_join(dir, "state.new"), text);
	CHECK_EQ_I(rename(path_join(dir, "state.new"), path_join(dir, "state")), 0);
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	CHECK(same_state(st, want));
	free(text);

	/* Rewritten in place (same inode), with a later modification time. */
	gen_state(want, 44, 4);
	want->generation = vmig_store_generation(r);
	text = NULL;
	CHECK_EQ_I(vmig_state_format(want, &text, NULL), 0);
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	spit(path_join(dir, "state"), text);
	struct timespec later[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
	CHECK_EQ_I(utimensat(AT_FDCWD, path_join(dir, "state"), later, 0), 0);
	CHECK_EQ_I(vmig_store_read(r, st, &e), 0);
	CHECK(same_state(st, want));
	free(text);
	vmig_store_close(r);
	vmig_store_close(w);
	free(a);
	free(st);
	free(want);
}

int main(void)
{
	RUN(never_written_directory_reads_as_default_without_writing);
	RUN(first_commit_writes_the_default_and_keeps_its_uuid);
	RUN(commits_round_trip_and_bump_the_shared_generation);
	RUN(directory_from_the_environment);
	RUN(unwritable_directory_is_a_clear_error);
	RUN(damaged_files_are_refused_and_left_alone);
	RUN(transaction_misuse);
	RUN(leftovers_and_a_damaged_generation_file);
	RUN(writers_exclude_each_other_and_readers);
	RUN(forked_child_closing_the_handle_keeps_the_lock);
	RUN(faults_at_every_call_of_a_commit);
	RUN(eintr_and_short_writes_are_finished);
	RUN(generation_never_repeats);
	RUN(stopped_lock_holder_bounds_writers_and_not_readers);
	RUN(planted_links_are_not_followed);
	RUN(directory_others_may_write_is_refused);
	RUN(a_hold_commits_once);
	RUN(unchanged_file_is_not_read_again);
	return harness_done();
}
