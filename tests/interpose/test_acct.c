/*
 * test_acct.c — the interposer's configuration parser and its shared
 * accounting region, linked in directly (no driver): limits parsed or
 * refused, regions of another layout refused, a lock holder that dies does
 * not block the instance, a dead process's bytes come back, PID reuse is
 * told apart.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

static const char *const *fake_env;

static const char *fake_get(const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; fake_env[i]; i++)
		if (strncmp(fake_env[i], name, n) == 0 && fake_env[i][n] == '=')
			return fake_env[i] + n + 1;
	return NULL;
}

static void parse(struct vmig__config *c, const char *const *env)
{
	fake_env = env;
	vmig__config_parse(c, fake_get);
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

TEST(config_passthrough_without_partition)
{
	struct vmig__config c;
	parse(&c, ENV("VMIG_MEM_LIMIT=1000", "VMIG_COMPUTE_PCT=30"));
	CHECK(!c.active && !c.mem_limited);
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_NONE);
	CHECK_STR(c.cuda_lib, "libcuda.so.1");
	CHECK_STR(c.why, "");
}

TEST(config_limits)
{
	struct vmig__config c;
	parse(&c, ENV("VMIG_PARTITION=MIG-1", "VMIG_MEM_LIMIT=71168MiB", "VMIG_COMPUTE_PCT=30",
		      "VMIG_ACCOUNTING=/run/x", "VMIG_CUDA_LIBRARY=/opt/libcuda.so.1"));
	CHECK(c.active && c.mem_limited);
	CHECK_EQ_U(c.mem_limit, 71168ull << 20);
	CHECK_EQ_U(c.compute_pct, 30);
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_TIMESLICE);
	CHECK_STR(c.acct_path, "/run/x");
	CHECK_STR(c.cuda_lib, "/opt/libcuda.so.1");
	CHECK_STR(c.why, "");
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_MEM_LIMIT=2G", "VMIG_COMPUTE_PCT=100"));
	CHECK_EQ_U(c.mem_limit, 2ull << 30);
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_NONE);
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_COMPUTE_PCT=70", "VMIG_COMPUTE_MODE=mps",
		      "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=70"));
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_MPS);
	CHECK_EQ_U(c.mps_pct, 70);
	/* MPS at 100 %: the gate may still act on a share lowered later (launch.c). */
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_COMPUTE_MODE=mps",
		      "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100"));
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_MPS);
	CHECK_EQ_U(c.mps_pct, 100);
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_COMPUTE_PCT=40", "VMIG_COMPUTE_MODE=mps",
		      "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50"));
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_TIMESLICE); /* MPS would allow more than 40 */
	CHECK(strstr(c.why, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE") != NULL);
}

TEST(config_bad_values_fall_back_with_reasons)
{
	static const char *const bad_mem[] = {"", "abc", "12abc", "-5", "0", "1X", "99999999999T"};
	struct vmig__config c;
	for (size_t i = 0; i < sizeof(bad_mem) / sizeof(bad_mem[0]); i++) {
		char mem[64];
		snprintf(mem, sizeof(mem), "VMIG_MEM_LIMIT=%s", bad_mem[i]);
		parse(&c, ENV("VMIG_PARTITION=a", mem, "VMIG_ACCOUNTING=/x"));
		CHECK(c.active && !c.mem_limited);
		CHECK(strstr(c.why, "VMIG_MEM_LIMIT") != NULL);
	}
	static const char *const bad_pct[] = {"0", "101", "50%", "", "x"};
	for (size_t i = 0; i < sizeof(bad_pct) / sizeof(bad_pct[0]); i++) {
		char pct[64];
		snprintf(pct, sizeof(pct), "VMIG_COMPUTE_PCT=%s", bad_pct[i]);
		parse(&c, ENV("VMIG_PARTITION=a", pct));
		CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_NONE);
		CHECK(strstr(c.why, "VMIG_COMPUTE_PCT") != NULL);
	}
	parse(&c, ENV("VMIG_PARTITION=has space"));
	CHECK(!c.active && strstr(c.why, "VMIG_PARTITION") != NULL);
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_COMPUTE_PCT=70", "VMIG_COMPUTE_MODE=mps"));
	CHECK_EQ_U(c.compute_mode, VMIG_COMPUTE_TIMESLICE); /* no MPS percentage: we throttle */
	/* An instance without VMIG_ACCOUNTING has no limits file to read: closed. */
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_MEM_LIMIT=1M"));
	CHECK(!c.closed);
	vmig__config_limits(&c, fake_get);
	CHECK(c.closed);
	CHECK(strstr(c.closed_why, "no VMIG_ACCOUNTING") != NULL);
	CHECK(strstr(c.closed_why, "failing closed") != NULL);
	/* Nor with one whose limits file does not exist. */
	parse(&c, ENV("VMIG_PARTITION=a", "VMIG_ACCOUNTING=/nonexistent/acct"));
	vmig__config_limits(&c, fake_get);
	CHECK(c.closed);
	CHECK(strstr(c.closed_why, "/nonexistent/acct.limits: No such file") != NULL);
	/* Without an instance there is nothing to close. */
	parse(&c, ENV("VMIG_MEM_LIMIT=1M"));
	vmig__config_limits(&c, fake_get);
	CHECK(!c.closed);
}

static char path[64];

static struct vmig__region *open_region(const char *part, uint64_t limit)
{
	struct vmig__config c;
	char p[160], m[64], a[128];
	snprintf(p, sizeof(p), "VMIG_PARTITION=%s", part);
	snprintf(m, sizeof(m), "VMIG_MEM_LIMIT=%llu", (unsigned long long)limit);
	snprintf(a, sizeof(a), "VMIG_ACCOUNTING=%s", path);
	parse(&c, ENV(p, m, a));
	/*
	 * The file as vmig makes it with the instance (the interposer never
	 * creates it): empty until its first process initialises it, of the
	 * owner and group that the limits file names.
	 */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (fd >= 0 && fstat(fd, &c.limits_st) == 0)
		c.limits.gid = (uint32_t)c.limits_st.st_gid;
	if (fd >= 0)
		close(fd);
	char why[256] = "";
	struct vmig__region *r = vmig__acct_open(&c, why, sizeof(why));
	if (why[0])
		fprintf(stderr, "  %s\n", why);
	return r;
}

static void fresh_path(void)
{
	snprintf(path, sizeof(path), "/tmp/vmig-acct-test-%d", (int)getpid());
	unlink(path);
}

TEST(region_of_another_instance_or_layout_is_refused)
{
	fresh_path();
	pid_t pid = fork();
	if (pid == 0)
		_exit(open_region("MIG-x", 1000) ? 0 : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	struct vmig__config c;
	char a[128];
	snprintf(a, sizeof(a), "VMIG_ACCOUNTING=%s", path);
	parse(&c, ENV("VMIG_PARTITION=MIG-y", "VMIG_MEM_LIMIT=1000", a));
	char why[256] = "";
	/* Never a private region instead: the caller fails closed. */
	CHECK(vmig__acct_open(&c, why, sizeof(why)) == NULL);
	CHECK(strstr(why, "another instance") != NULL);
	CHECK(strstr(why, "failing closed") != NULL);
	FILE *f = fopen(path, "r+");
	CHECK(f != NULL);
	if (f) {
		fwrite("XXXXXXXX", 1, 8, f); /* wrong magic */
		fclose(f);
	}
	unlink(path);
}

/* The child registers, charges bytes, optionally takes the lock, and dies. */
static pid_t spawn_dier(uint64_t bytes, bool hold_lock, int ready_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	vmig__acct_forget(); /* as the interposer's atfork handler does */
	struct vmig__region *r = open_region("MIG-k", 1000000);
	if (!r || !vmig__acct_reserve(bytes, 1000000))
		_exit(3);
	if (hold_lock)
		vmig__acct_lock(r);
	if (write(ready_fd, "x", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

static void kill_dier(uint64_t bytes, bool hold_lock)
{
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = spawn_dier(bytes, hold_lock, p[1]);
	char c;
	CHECK(read(p[0], &c, 1) == 1);
	kill(pid, SIGKILL);
	test_wait(pid);
	close(p[0]);
	close(p[1]);
}

/* Live processes of the region as another process (vmig) counts them: through a descriptor of
 * its own. */
static unsigned live(struct vmig__region *r)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned n = fd >= 0 ? vmig__region_live(r, fd) : 0;
	if (fd >= 0)
		close(fd);
	return n;
}

TEST(lock_holder_killed_does_not_block)
{
	fresh_path();
	kill_dier(600000, true);
	struct vmig__region *r = open_region("MIG-k", 1000000);
	CHECK(r != NULL);
	if (!r)
		return;
	/*
	 * Opening registers this process, which needs the lock: the dead
	 * holder's lock is repaired and its bytes come back at once.
	 */
	CHECK_EQ_U(vmig__acct_used(), 0);
	CHECK_EQ_U(live(r), 1);
	CHECK(vmig__acct_reserve(1000000, 1000000));
	CHECK_EQ_U(vmig__acct_used(), 1000000);
	CHECK(!vmig__acct_reserve(1, 1000000));
	vmig__acct_unreserve(1000000);
	CHECK_EQ_U(vmig__acct_used(), 0);
	unlink(path);
}

TEST(dead_process_bytes_reclaimed)
{
	fresh_path();
	kill_dier(300000, false);
	kill_dier(300000, false);
	struct vmig__region *r = open_region("MIG-k", 1000000);
	CHECK(r != NULL);
	if (!r)
		return;
	/* Registering the second one freed the first one's slot, and ours the second's. */
	CHECK_EQ_U(vmig__acct_used(), 0);
	kill_dier(300000, false);
	CHECK_EQ_U(vmig__acct_used(), 300000);
	CHECK_EQ_I(vmig__acct_reclaim(), 1);
	CHECK_EQ_U(vmig__acct_used(), 0);
	vmig__acct_unreserve(5); /* saturates, never wraps */
	CHECK_EQ_U(vmig__acct_used(), 0);
	unlink(path);
}

/* Every process that maps the file is registered at once, so `vmig mig -dgi` sees it. */
TEST(processes_registered_when_they_open)
{
	fresh_path();
	struct vmig__region *r = open_region("MIG-k", 1000000);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_EQ_U(live(r), 1);
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		vmig__acct_forget();
		vmig__acct_slot(); /* a forked child registers on its first hooked call */
		if (write(p[1], "x", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	char c;
	CHECK(read(p[0], &c, 1) == 1);
	CHECK_EQ_U(live(r), 2);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_EQ_U(live(r), 1); /* the dead one is not counted, even unreclaimed */
	/* The share is read live from the region. */
	CHECK_EQ_U(vmig__region_pct(r), 100);
	atomic_store(&r->compute_pct, 30);
	CHECK_EQ_U(vmig__region_pct(r), 30);
	atomic_store(&r->compute_pct, 0);
	CHECK_EQ_U(vmig__region_pct(r), 100); /* out of range: no cap */
	unlink(path);
}

TEST(pid_reuse_told_apart)
{
	uint64_t st = vmig__proc_start_time((int32_t)getpid());
	CHECK(st != 0);
	CHECK(!vmig__proc_gone((int32_t)getpid(), st));
	CHECK(vmig__proc_gone((int32_t)getpid(), st + 1));
	CHECK(!vmig__proc_gone((int32_t)getpid(), 0)); /* unknown start time: alive */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	/* A zombie is gone as far as GPU memory goes: wait until it is one, unreaped. */
	CHECK(test_wait_zombie(pid));
	CHECK(vmig__proc_gone(pid, 0));
	test_wait(pid);
	CHECK(vmig__proc_gone(pid, 0));
}

/* The limits file: version 2 carries the policy, version 1 (without it) reads as share. */
TEST(limits_file_versions_and_policy)
{
	struct vmig__limits l;
	static const char v2[] = "vmig-limits 2\npartition GPU-1/gi3\nmem_limit 4096\n"
				 "compute_pct 25\ncompute_policy cap\nowner 1000:1000\n";
	static const char v1[] = "vmig-limits 1\npartition GPU-1/gi3\nmem_limit 4096\n"
				 "compute_pct 25\nowner 1000:1000\n";
	CHECK(vmig__limits_parse(v2, strlen(v2), &l) == NULL);
	CHECK_EQ_U(l.compute_policy, VMIG_POLICY_CAP);
	CHECK_EQ_U(l.compute_pct, 25);
	CHECK(vmig__limits_parse(v1, strlen(v1), &l) == NULL);
	CHECK_EQ_U(l.compute_policy, VMIG_POLICY_SHARE);
	char text[VMIG_LIMITS_MAX];
	l.compute_policy = VMIG_POLICY_CAP;
	int n = vmig__limits_format(&l, text, sizeof(text));
	CHECK(n > 0 && strstr(text, "vmig-limits 2\n") == text);
	CHECK(strstr(text, "\ncompute_policy cap\nowner ") != NULL);
	static const char *const bad[] = {
	    "vmig-limits 2\npartition p\nmem_limit 1\ncompute_pct 1\nowner 0:0\n",
	    "vmig-limits 2\npartition p\nmem_limit 1\ncompute_pct 1\ncompute_policy fair\n"
	    "owner 0:0\n",
	    "vmig-limits 3\npartition p\nmem_limit 1\ncompute_pct 1\ncompute_policy cap\n"
	    "owner 0:0\n",
	    "vmig-limits 1\npartition p\nmem_limit 1\ncompute_pct 1\ncompute_policy cap\n"
	    "owner 0:0\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(vmig__limits_parse(bad[i], strlen(bad[i]), &l) != NULL);
	l.compute_policy = 2;
	CHECK(vmig__limits_format(&l, text, sizeof(text)) < 0);
}

/*
 * The instance's busy intervals: what an interval adds is the time no
 * interval covered yet (two processes' overlapping work counts once);
 * intervals older than the horizon are forgotten, and a full table drops
 * its oldest.
 */
TEST(busy_intervals_count_overlaps_once)
{
	struct vmig__busy b;
	memset(&b, 0, sizeof(b));
	CHECK_EQ_U(vmig__busy_add(&b, 0, 10, 0), 10);
	CHECK_EQ_U(vmig__busy_add(&b, 5, 15, 0), 5);
	CHECK_EQ_U(vmig__busy_add(&b, 20, 30, 0), 10);
	CHECK_EQ_U(vmig__busy_add(&b, 2, 8, 0), 0);
	CHECK_EQ_U(vmig__busy_add(&b, 0, 40, 0), 15); /* fills 15-20 and 30-40 */
	CHECK_EQ_U(b.niv, 1);
	CHECK_EQ_U(vmig__busy_add(&b, 40, 40, 0), 0);
	CHECK_EQ_U(vmig__busy_add(&b, 100, 110, 50), 10);
	CHECK_EQ_U(b.niv, 1); /* [0, 40) ended before the horizon */
	CHECK_EQ_U(vmig__busy_add(&b, 0, 10, 0), 10);
	memset(&b, 0, sizeof(b));
	for (uint64_t i = 0; i < VMIG_BUSY_IVS; i++)
		CHECK_EQ_U(vmig__busy_add(&b, 10 * i, 10 * i + 5, 0), 5);
	CHECK_EQ_U(b.niv, VMIG_BUSY_IVS);
	CHECK_EQ_U(vmig__busy_add(&b, 1000, 1005, 0), 5);
	CHECK_EQ_U(b.niv, VMIG_BUSY_IVS);
	CHECK_EQ_U(b.iv[0].s, 10); /* the oldest went */
	CHECK_EQ_U(vmig__busy_add(&b, 12, 18, 0), 3);
	CHECK_EQ_U(b.niv, VMIG_BUSY_IVS);
	CHECK_EQ_U(vmig__busy_add(&b, 0, 5, 0), 5); /* older than all kept: counted only */
	CHECK_EQ_U(b.niv, VMIG_BUSY_IVS);
	CHECK_EQ_U(b.iv[0].s, 10);
}

/* A child that registers, says so, and exits normally (its slot goes back at once) or waits. */
static pid_t registrant(bool stay, int fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	vmig__acct_forget();
	int slot = vmig__acct_slot();
	if (write(fd, &slot, sizeof(slot)) != sizeof(slot))
		_exit(4);
	if (!stay)
		exit(0); /* the destructor gives the slot back */
	for (;;)
		pause();
}

static int registered(bool stay, pid_t *pid)
{
	int p[2], slot = -1;
	CHECK(pipe(p) == 0);
	*pid = registrant(stay, p[1]);
	CHECK(read(p[0], &slot, sizeof(slot)) == sizeof(slot));
	close(p[0]);
	close(p[1]);
	return slot;
}

/*
 * Registration looks at the hint and at the first never-used slot, not at
 * the table: a process that left gives its slot to the next one, and dead
 * slots are reclaimed a few per registration.
 */
TEST(registration_takes_the_hint)
{
	fresh_path();
	struct vmig__region *r = open_region("MIG-k", 1000000);
	CHECK(r != NULL);
	if (!r)
		return;
	pid_t pid, killed[20];
	CHECK_EQ_I(registered(false, &pid), 1);
	test_wait(pid);
	CHECK_EQ_I(registered(false, &pid), 1); /* the slot it gave back */
	test_wait(pid);
	CHECK_EQ_U(atomic_load(&r->slot_hi), 2);
	/* Twenty at once, then killed: their slots stay used until reclaimed. */
	for (int i = 0; i < 20; i++)
		CHECK_EQ_I(registered(true, &killed[i]), i + 1);
	for (int i = 0; i < 20; i++) {
		kill(killed[i], SIGKILL);
		test_wait(killed[i]);
	}
	CHECK_EQ_U(atomic_load(&r->slot_hi), 21);
	CHECK_EQ_U(live(r), 1);
	/* Each registration reclaims at most 8 of them, so the table does not grow for good. */
	int slot = registered(false, &pid);
	test_wait(pid);
	CHECK(slot >= 1 && slot <= 20);
	vmig__acct_lock(r);
	unsigned used = 0;
	for (unsigned i = 0; i < 21; i++)
		used += atomic_load(&r->slots[i].pid) != 0;
	vmig__acct_unlock(r);
	CHECK(used >= 21 - 8 - 1 && used <= 21 - 8 + 1);
	unlink(path);
}

/*
 * A whole region is mapped without the file's lock (a process starting
 * beside another that holds it does not wait), and its slot, held by an
 * OFD lock, needs no start time from /proc.  A region of the right size
 * whose creator has not written the magic yet is not taken as whole.
 */
TEST(ready_region_opens_without_the_file_lock)
{
	fresh_path();
	pid_t maker = fork();
	if (maker == 0)
		_exit(open_region("MIG-k", 1000000) ? 0 : 1);
	CHECK_EQ_I(test_wait(maker), 0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t holder = fork();
	if (holder == 0) {
		int hfd = open(path, O_RDWR | O_CLOEXEC);
		if (hfd < 0 || flock(hfd, LOCK_EX) < 0 || write(p[1], "x", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	char c;
	CHECK(read(p[0], &c, 1) == 1);
	struct vmig__region *r = vmig__region_map_ready(fd, "MIG-k");
	CHECK(r != NULL);
	CHECK(vmig__region_map_ready(fd, "MIG-other") == NULL);	   /* the locked path says why */
	struct vmig__region *mine = open_region("MIG-k", 1000000); /* flock held elsewhere */
	CHECK(mine != NULL);
	kill(holder, SIGKILL);
	test_wait(holder);
	if (mine) {
		int s = vmig__acct_slot();
		CHECK(s >= 0);
		if (s >= 0) {
			CHECK_EQ_I(atomic_load(&mine->slots[s].pid), getpid());
			CHECK_EQ_U(mine->slots[s].start_time, 0);
		}
	}
	if (r) {
		/* Half made: right size, no magic yet. */
		uint64_t magic = r->magic;
		__atomic_store_n(&r->magic, 0, __ATOMIC_RELEASE);
		CHECK(vmig__region_map_ready(fd, "MIG-k") == NULL);
		__atomic_store_n(&r->magic, magic, __ATOMIC_RELEASE);
		munmap(r, sizeof(*r));
	}
	close(fd);
	close(p[0]);
	close(p[1]);
	unlink(path);
}

int main(void)
{
	RUN(config_passthrough_without_partition);
	RUN(config_limits);
	RUN(config_bad_values_fall_back_with_reasons);
	RUN(region_of_another_instance_or_layout_is_refused);
	RUN(lock_holder_killed_does_not_block);
	RUN(dead_process_bytes_reclaimed);
	RUN(processes_registered_when_they_open);
	RUN(pid_reuse_told_apart);
	RUN(limits_file_versions_and_policy);
	RUN(busy_intervals_count_overlaps_once);
	RUN(registration_takes_the_hint);
	RUN(ready_region_opens_without_the_file_lock);
	return harness_done();
}
