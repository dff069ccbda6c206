/*
 * tmpdir.h — temporary directories for the tests: a fresh one under $TMPDIR
 * (or /tmp), and the removal of a directory with everything inside.  Every
 * suite made and removed its own before (mkdtemp with its own $TMPDIR rule,
 * then system("rm -rf ..."), nftw or "chmod -R u+w; rm -rf"); this is the one
 * copy, and it needs no shell, so it works the same under valgrind.  Only the
 * C library is used: the ABI client, which must not link libvmig, uses it too.
 */
#ifndef VMIG_TESTS_TMPDIR_H
#define VMIG_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/*
 * Make $TMPDIR/vmig-NAME-XXXXXX (or /tmp/...) in buf; buf on success, NULL
 * (errno set) when it does not fit or mkdtemp fails.
 */
static inline char *test_mkdtemp(char *buf, size_t size, const char *name)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(buf, size, "%s/vmig-%s-XXXXXX", t && *t ? t : "/tmp", name);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return mkdtemp(buf);
}

/* Tests make directories read-only to provoke errors: give the owner access back first. */
static inline int test_rmtree_open_(const char *path, const struct stat *sb, int flag,
				    struct FTW *ftw)
{
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (sb->st_mode & 07777) | S_IRWXU);
	return 0;
}

static inline int test_rmtree_one_(const char *path, const struct stat *sb, int flag,
				   struct FTW *ftw)
{
	return remove(path) == 0 ? 0 : -1;
}

/* Remove path and everything under it (symbolic links are removed, not followed); 0 or -1. */
static inline int test_rmtree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return -1;
	nftw(path, test_rmtree_open_, 16, FTW_PHYS);
	return nftw(path, test_rmtree_one_, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
