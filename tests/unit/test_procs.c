/*
 * test_procs.c — vmig_procs of the soft backend (lib/backend/soft.c): the
 * live processes registered in each GI's accounting region, with the bytes
 * charged to each, on the right GPU and GI; dead processes, regions of
 * another instance and files of another layout do not count.  The soft
 * backend is layered on the simulator, as in test_soft.c.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "backend.h"
#include "gpus.h"
#include "harness.h"
#include "region.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static char base[256], hwdir[300], softdir[300];
static const struct vmig__open_opts on_sim = {.hw = &vmig__backend_sim};

static struct vmig_ctx *setup(void)
{
	static const char *const models[] = {"rtx-4090", "h200"};
	struct vmig_ctx *ctx = NULL;
	struct vmig_err err = {0};
	if (!test_mkdtemp(base, sizeof(base), "procs"))
		abort();
	snprintf(hwdir, sizeof(hwdir), "%s/hw", base);
	snprintf(softdir, sizeof(softdir), "%s/soft", base);
	setenv("VMIG_STATE_DIR", hwdir, 1);
	setenv("VMIG_SOFT_STATE_DIR", softdir, 1);
	if (test_seed_gpus(hwdir, models, 2, false, NULL, NULL) < 0 ||
	    vmig__open("soft", &on_sim, &ctx, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		abort();
	}
	return ctx;
}

/* A region as the interposer creates it, for partition. */
static void make_acct(const char *path, const char *partition)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/acct", softdir);
	mkdir(dir, 0755);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	const char *why = NULL;
	struct vmig__region *r =
	    fd < 0 ? NULL : vmig__region_map_fd(fd, partition, 1 << 30, 50, 0, &why);
	if (!r)
		abort();
	munmap(r, sizeof(*r));
	close(fd);
}

/*
 * Register pid with bytes charged, as a process of the instance does: a
 * live one holds its slot's lock (the descriptor stays open, as a live
 * process's does), a dead one (pid not this process) holds none.
 */
static void add_process(const char *path, int32_t pid, uint64_t bytes)
{
	bool alive = pid == (int32_t)getpid();
	int fd = open(path, O_RDWR);
	struct vmig__region *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd < 0 || r == MAP_FAILED)
		abort();
	uint32_t i = atomic_fetch_add(&r->slot_hi, 1);
	while (alive && vmig__slot_lock(fd, i) != 0 && i + 1 < VMIG_ACCT_SLOTS)
		i = atomic_fetch_add(&r->slot_hi, 1);
	r->slots[i].start_time = vmig__proc_start_time(pid);
	atomic_store(&r->slots[i].pid, pid);
	atomic_store(&r->bytes[i], bytes);
	munmap(r, sizeof(*r));
	if (!alive)
		close(fd);
}

static struct vmig_proc *procs(struct vmig_ctx *ctx, size_t *n)
{
	static struct vmig_proc list[16];
	struct vmig_proc *p = NULL;
	struct vmig_err err = {0};
	if (vmig_procs(ctx, &p, n, &err) < 0 || *n > 16) {
		fprintf(stderr, "procs: %s\n", err.msg);
		abort();
	}
	if (*n)
		memcpy(list, p, *n * sizeof(*p));
	free(p);
	return list;
}

static struct vmig_state *snap(struct vmig_ctx *ctx)
{
	static struct vmig_state st;
	if (vmig_snapshot(ctx, &st, NULL) < 0)
		abort();
	return &st;
}

TEST(soft_procs_are_the_live_processes_of_each_region)
{
	struct vmig_ctx *ctx = setup();
	unsigned gi0, gi1;
	size_t n;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 9, NULL, &gi0, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 19, NULL, &gi1, NULL), 0);
	procs(ctx, &n);
	CHECK_EQ_U(n, 0); /* no program ever ran: no region at all */
	struct vmig_soft_limits l0, l1;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[1], gi0, &l0, NULL), 0);
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[1], gi1, &l1, NULL), 0);
	make_acct(l0.acct_path, l0.partition);
	make_acct(l1.acct_path, "GPU-someone-else/gi1"); /* another instance's region */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	test_wait(dead);
	add_process(l0.acct_path, dead, 1 << 20);
	add_process(l0.acct_path, getpid(), 3u << 20);
	add_process(l1.acct_path, getpid(), 5u << 20);
	struct vmig_proc *p = procs(ctx, &n);
	CHECK_EQ_U(n, 1);
	CHECK_EQ_I(p[0].pid, getpid());
	CHECK_EQ_U(p[0].kind, VMIG_PROC_RUN);
	CHECK_EQ_U(p[0].gpu, 1);
	CHECK_EQ_U(p[0].gi, gi0);
	CHECK_EQ_U(p[0].ci, VMIG_PROC_WHOLE_GPU);
	CHECK_EQ_U(p[0].mem_bytes, 3u << 20);
	/* The right region for GI 1 too: both GIs listed. */
	make_acct(l1.acct_path, l1.partition);
	add_process(l1.acct_path, getpid(), 5u << 20);
	p = procs(ctx, &n);
	CHECK_EQ_U(n, 2);
	CHECK_EQ_U(p[1].gi, gi1);
	CHECK_EQ_U(p[1].mem_bytes, 5u << 20);
	/* A file of another layout is not read. */
	int fd = open(l1.acct_path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "junk", 4) == 4);
	close(fd);
	procs(ctx, &n);
	CHECK_EQ_U(n, 1);
	vmig_close(ctx);
}

int main(void)
{
	RUN(soft_procs_are_the_live_processes_of_each_region);
	return harness_done();
}
