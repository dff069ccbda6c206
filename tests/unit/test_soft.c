/*
 * test_soft.c — the soft backend (lib/backend/soft.c) over simulated
 * "hardware": the soft backend is opened on the sim backend instead of NVML
 * (struct vmig__open_opts), with its
 * GPUs in one state directory and the soft records in another.  Covers the
 * merge of devices and records, soft MIG mode (never the hardware's), GI/CI
 * operations with the placement engine, compute shares and their hand-off
 * to a running instance's accounting region (iface/region.h), GIs in
 * use that cannot be destroyed, limits, refusals, and parallel writers.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "limits_file.h"
#include "region.h"
#include "backend.h"
#include "gpus.h"
#include "harness.h"
#include "proc.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static char base[256], hwdir[300], softdir[300];

/*
 * Fresh directories (under the test's own TMPDIR, which the harness removes),
 * hardware GPUs of the given models, the soft backend over sim.
 */
static void setup(const char *const *models, unsigned n)
{
	if (!test_mkdtemp(base, sizeof(base), "soft"))
		abort();
	snprintf(hwdir, sizeof(hwdir), "%s/hw", base);
	snprintf(softdir, sizeof(softdir), "%s/soft", base);
	setenv("VMIG_STATE_DIR", hwdir, 1);
	setenv("VMIG_SOFT_STATE_DIR", softdir, 1);
	if (test_seed_gpus(hwdir, models, n, false, NULL, NULL) < 0)
		abort();
}

/* The soft backend with the simulator as its hardware. */
static const struct vmig__open_opts on_sim = {.hw = &vmig__backend_sim};

static struct vmig_ctx *open_soft(void)
{
	struct vmig_ctx *ctx = NULL;
	struct vmig_err err = {0};
	if (vmig__open("soft", &on_sim, &ctx, &err) < 0) {
		fprintf(stderr, "open soft: %s\n", err.msg);
		abort();
	}
	return ctx;
}

static struct vmig_state *snap(struct vmig_ctx *ctx)
{
	static struct vmig_state st;
	struct vmig_err err = {0};
	if (vmig_snapshot(ctx, &st, &err) < 0) {
		fprintf(stderr, "snapshot: %s\n", err.msg);
		abort();
	}
	return &st;
}

static const char *const H200_4090[] = {"h200", "rtx-4090"};

/* Whether the state store can hold derived models (state.c resolves soft keys). */
static bool store_knows_soft_models(void)
{
	struct vmig_state *st = calloc(1, sizeof(*st)), *back = calloc(1, sizeof(*back));
	char *text = NULL;
	size_t len = 0;
	bool ok = st && back && vmig_state_add_gpu(st, vmig_model_find("h200"), NULL) == 0;
	if (ok) {
		st->gpu[0].model = vmig_model_resolve("soft-rtx-4090");
		st->gpu[0].flags = VMIG_GPU_SOFT;
		ok = vmig_state_format(st, &text, &len) == 0 &&
		     vmig_state_parse(text, len, back, NULL) == 0 &&
		     vmig_state_validate(back, NULL) == 0 && back->gpu[0].model == st->gpu[0].model;
	}
	free(text);
	free(back);
	free(st);
	return ok;
}

TEST(snapshot_shows_devices_with_soft_models)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	CHECK_STR(vmig_backend_name(ctx), "soft");
	struct vmig_state *st = snap(ctx);
	CHECK_EQ_U(st->ngpu, 2);
	CHECK(st->gpu[0].model == vmig_model_find("h200"));
	CHECK_STR(st->gpu[1].model->key, "soft-rtx-4090");
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ_U(st->gpu[i].flags, VMIG_GPU_SOFT);
		CHECK_EQ_U(st->gpu[i].mig_current, 0);
		CHECK_EQ_U(st->gpu[i].ngi, 0);
	}
	/* Nothing written until something changes. */
	struct stat sb;
	CHECK(stat(softdir, &sb) != 0);
	vmig_close(ctx);
}

TEST(soft_mig_mode_never_touches_the_hardware)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	int act = 99;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, &act, NULL), 0);
	CHECK_EQ_I(act, 0);
	CHECK_EQ_U(snap(ctx)->gpu[0].mig_current, 1);
	CHECK_EQ_U(snap(ctx)->gpu[0].mig_pending, 1);
	CHECK_EQ_U(snap(ctx)->gpu[1].mig_current, 0);
	struct vmig_ctx *hw = NULL;
	CHECK_EQ_I(vmig_open("sim", &hw, NULL), 0);
	struct vmig_state *hs = calloc(1, sizeof(*hs));
	CHECK_EQ_I(vmig_snapshot(hw, hs, NULL), 0);
	CHECK_EQ_U(hs->gpu[0].mig_current, 0);
	/* Off again: the record goes, the GPU shows MIG off. */
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 0, &act, NULL), 0);
	CHECK_EQ_U(snap(ctx)->gpu[0].mig_current, 0);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 0, &act, NULL), 0); /* already off */
	free(hs);
	vmig_close(hw);
	vmig_close(ctx);
}

TEST(instances_on_a_mig_model)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi, ci;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, &err), 0); /* 3g.71gb */
	CHECK_EQ_I(vmig_create_ci(ctx, 0, gi, 2, NULL, &ci, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, NULL, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, NULL, &err), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 77, NULL, NULL, &err), -VMIG_E_INVALID_ARGUMENT);
	struct vmig_state *st = snap(ctx);
	CHECK_EQ_U(st->gpu[0].ngi, 2);
	CHECK_EQ_U(st->gpu[0].gi[0].nci + st->gpu[0].gi[1].nci, 1);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 0, NULL, &err), -VMIG_E_IN_USE);
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), -VMIG_E_IN_USE); /* holds a CI */
	CHECK_EQ_I(vmig_destroy_ci(ctx, 0, gi, ci, &err), 0);
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), 0);
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), -VMIG_E_NOT_FOUND);
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 1);
	vmig_close(ctx);
}

TEST(limits_of_an_instance)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	struct vmig_state *st = snap(ctx);
	struct vmig_soft_limits l;
	CHECK_EQ_I(vmig_soft_limits(&st->gpu[0], gi, &l, NULL), 0);
	CHECK_EQ_U(l.mem_bytes, 71168ull << 20);
	CHECK_EQ_U(l.compute_pct, 45);
	char want[5000];
	snprintf(want, sizeof(want), "%.47s/gi%u", st->gpu[0].uuid, gi);
	CHECK_STR(l.partition, want);
	snprintf(want, sizeof(want), "%s/acct/%.47s-gi%u", softdir, st->gpu[0].uuid, gi);
	CHECK_STR(l.acct_path, want);
	CHECK_EQ_I(vmig_soft_limits(&st->gpu[0], gi + 1, &l, NULL), -VMIG_E_NOT_FOUND);
	/* Without VMIG_SOFT_STATE_DIR the soft store lives under the state directory. */
	unsetenv("VMIG_SOFT_STATE_DIR");
	char dir[512];
	CHECK_EQ_I(vmig_soft_dir(dir, sizeof(dir), NULL), 0);
	snprintf(want, sizeof(want), "%s/soft", hwdir);
	CHECK_STR(dir, want);
	setenv("VMIG_SOFT_STATE_DIR", "relative/dir", 1);
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_soft_dir(dir, sizeof(dir), &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(err.msg, "VMIG_SOFT_STATE_DIR") != NULL);
	vmig_close(ctx);
}

/*
 * An accounting file as the interposer makes it (iface/region.h), for
 * the instance partition with the given share; magic 0 writes a file of
 * another layout instead.
 */
static void make_acct(const char *path, const char *partition, uint64_t magic, uint32_t pct)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/acct", softdir);
	mkdir(dir, 0755);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0)
		abort();
	if (magic) {
		const char *why = NULL;
		struct vmig__region *r = vmig__region_map_fd(fd, partition, 1 << 20, pct, 0, &why);
		if (!r)
			abort();
		munmap(r, sizeof(*r));
	} else {
		unsigned char head[sizeof(struct vmig__region)] = {0};
		memcpy(head + 24, &pct, 4);
		if (write(fd, head, sizeof(head)) != (ssize_t)sizeof(head))
			abort();
	}
	close(fd);
}

/* Register (pid, start time) in a region file, as a process of the instance would. */
/*
 * Register a process in a region as the interposer does.  A live one holds
 * its slot's lock: the descriptor stays open (and leaks with the test
 * process, as a live process's would); a dead one holds none.
 */
static void add_process(const char *path, int32_t pid, bool alive)
{
	int fd = open(path, O_RDWR);
	struct vmig__region *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd < 0 || r == MAP_FAILED)
		abort();
	/* A slot no earlier live registration of this test still locks. */
	uint32_t i = atomic_fetch_add(&r->slot_hi, 1);
	while (alive && vmig__slot_lock(fd, i) != 0 && i + 1 < VMIG_ACCT_SLOTS)
		i = atomic_fetch_add(&r->slot_hi, 1);
	r->slots[i].start_time = vmig__proc_start_time(pid);
	atomic_store(&r->slots[i].pid, pid);
	munmap(r, sizeof(*r));
	if (!alive)
		close(fd);
}

static uint32_t acct_pct(const char *path)
{
	uint32_t pct = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, &pct, 4, 24) != 4)
		pct = 0xdead;
	if (fd >= 0)
		close(fd);
	return pct;
}

/* The policy in a region file of this layout (0xdead when it is none). */
static uint32_t acct_policy(const char *path)
{
	uint32_t policy = 0;
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != (off_t)sizeof(struct vmig__region) ||
	    pread(fd, &policy, 4, (off_t)offsetof(struct vmig__region, busy.policy)) != 4)
		policy = 0xdead;
	if (fd >= 0)
		close(fd);
	return policy;
}

TEST(compute_share_is_stored_and_handed_to_running_programs)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi, gi2;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 19, NULL, &gi2, NULL), 0);
	struct vmig_soft_limits l, l2;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi, &l, NULL), 0);
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi2, &l2, NULL), 0);
	make_acct(l.acct_path, l.partition, VMIG_ACCT_MAGIC, 45);
	/* Another layout (an older vmig's), and a process of it running: left alone. */
	make_acct(l2.acct_path, l2.partition, 0, 12);
	add_process(l2.acct_path, (int32_t)getpid(), true);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 70, &err), 0);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi2, 30, &err), 0);
	CHECK_EQ_U(acct_pct(l.acct_path), 70);
	CHECK_EQ_U(acct_pct(l2.acct_path), 12);
	/* The same with no process of it left: replaced by a region of this layout. */
	unsigned gi3;
	struct vmig_soft_limits l3;
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 19, NULL, &gi3, NULL), 0);
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi3, &l3, NULL), 0);
	make_acct(l3.acct_path, l3.partition, 0, 12);
	CHECK_EQ_I(vmig_set_compute(ctx, 0, gi3, 30, VMIG_SHARE_POLICY_CAP, &err), 0);
	CHECK_EQ_U(acct_pct(l3.acct_path), 30);
	CHECK_EQ_U(acct_policy(l3.acct_path), VMIG_SHARE_POLICY_CAP);
	struct vmig_state *st = snap(ctx);
	CHECK_EQ_I(vmig_soft_limits(&st->gpu[0], gi, &l, NULL), 0);
	CHECK_EQ_U(l.compute_pct, 70);
	CHECK_EQ_U(vmig_gpu_find_gi(&st->gpu[0], gi)->share_pct, 70);
	/* Bad shares and instances, clearly refused. */
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 0, &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(err.msg, "1-100") != NULL);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 101, &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_set_share(ctx, 0, 42, 50, &err), -VMIG_E_NOT_FOUND);
	CHECK_EQ_I(vmig_set_share(ctx, 1, 0, 50, &err), -VMIG_E_NOT_SUPPORTED); /* MIG off */
	CHECK_EQ_I(vmig_set_share(ctx, 7, 0, 50, &err), -VMIG_E_NOT_FOUND);
	/* Destroying the GI removes its accounting file. */
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), 0);
	CHECK(access(l.acct_path, F_OK) != 0);
	/* A share set before any program mapped the region is found there. */
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi2, 40, &err), 0);
	unlink(l2.acct_path);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi2, 35, &err), 0);
	CHECK_EQ_U(acct_pct(l2.acct_path), 35);
	struct stat sb;
	CHECK(stat(l2.acct_path, &sb) == 0 && (sb.st_mode & 0777) == 0660 &&
	      sb.st_size == (off_t)sizeof(struct vmig__region));
	vmig_close(ctx);
	/* Shares belong to software partitions only. */
	struct vmig_ctx *sim = NULL;
	CHECK_EQ_I(vmig_open("sim", &sim, NULL), 0);
	CHECK_EQ_I(vmig_set_share(sim, 0, 0, 50, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK(strstr(err.msg, "soft") != NULL);
	vmig_close(sim);
}

/*
 * Creating a GI makes its files (docs/tenancy.md): the accounting region,
 * initialised, of the GI owner's group, mode 0660; the limits file, mode
 * 0644, with the GI's quota, share and owner, rewritten by a new share; both
 * gone with the GI.  The owner is the creator's unless the context names one.
 */
TEST(instance_files_carry_the_limits_and_the_group)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi, gi2;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	struct vmig_soft_limits l;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi, &l, NULL), 0);
	char lpath[VMIG_ACCT_PATH_LEN + 16];
	snprintf(lpath, sizeof(lpath), "%s%s", l.acct_path, VMIG_LIMITS_SUFFIX);
	struct vmig__limits lim;
	struct stat lst, ast;
	CHECK(vmig__limits_read(lpath, &lim, &lst) == NULL);
	CHECK_EQ_U(lst.st_mode & 07777, 0644);
	CHECK_STR(lim.partition, l.partition);
	CHECK_EQ_U(lim.mem_limit, l.mem_bytes);
	CHECK_EQ_U(lim.compute_pct, l.compute_pct);
	CHECK_EQ_U(lim.uid, (unsigned)getuid());
	CHECK_EQ_U(lim.gid, (unsigned)getgid());
	CHECK(stat(l.acct_path, &ast) == 0);
	CHECK_EQ_U(ast.st_mode & 07777, 0660);
	CHECK_EQ_U(ast.st_gid, (unsigned)getgid());
	CHECK_EQ_U(acct_pct(l.acct_path), l.compute_pct);
	CHECK_EQ_U(snap(ctx)->gpu[0].gi[0].owned, true);
	/* A new share reaches the limits file as well as the region. */
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 20, &err), 0);
	CHECK(vmig__limits_read(lpath, &lim, &lst) == NULL);
	CHECK_EQ_U(lim.compute_pct, 20);
	CHECK_EQ_U(acct_pct(l.acct_path), 20);
	/* A named owner: its group gets the accounting file (root may give any). */
	unsigned gid = geteuid() == 0 ? 65534 : (unsigned)getegid();
	CHECK_EQ_I(vmig_set_owner(ctx, 4321, gid, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 19, NULL, &gi2, NULL), 0);
	struct vmig_soft_limits l2;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi2, &l2, NULL), 0);
	snprintf(lpath, sizeof(lpath), "%s%s", l2.acct_path, VMIG_LIMITS_SUFFIX);
	CHECK(vmig__limits_read(lpath, &lim, &lst) == NULL);
	CHECK_EQ_U(lim.uid, 4321);
	CHECK_EQ_U(lim.gid, gid);
	CHECK(stat(l2.acct_path, &ast) == 0 && ast.st_gid == gid);
	const struct vmig_gi_state *g2 = vmig_gpu_find_gi(&snap(ctx)->gpu[0], gi2);
	CHECK(g2 && g2->owned && g2->owner_uid == 4321 && g2->owner_gid == gid);
	CHECK_EQ_I(vmig_set_owner(ctx, VMIG_OWNER_ID_MAX + 1u, 0, &err), -VMIG_E_INVALID_ARGUMENT);
	/* Destroying a GI takes both its files. */
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi2, &err), 0);
	CHECK(access(l2.acct_path, F_OK) != 0 && access(lpath, F_OK) != 0);
	vmig_close(ctx);
}

/* As the driver does, a GI that processes run in cannot be destroyed; dead ones do not count. */
TEST(destroying_a_gi_in_use_is_refused)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	struct vmig_soft_limits l;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi, &l, NULL), 0);
	make_acct(l.acct_path, l.partition, VMIG_ACCT_MAGIC, 45);
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	add_process(l.acct_path, child, false); /* dead: does not count */
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi, &l, NULL), 0);
	make_acct(l.acct_path, l.partition, VMIG_ACCT_MAGIC, 45);
	add_process(l.acct_path, getpid(), true); /* alive */
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), -VMIG_E_IN_USE);
	CHECK(strstr(err.msg, "1 process is still running") != NULL);
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 1);
	CHECK(access(l.acct_path, F_OK) == 0);
	/* The same instance's region with another partition name is not ours. */
	make_acct(l.acct_path, "GPU-other/gi1", VMIG_ACCT_MAGIC, 45);
	add_process(l.acct_path, getpid(), true);
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), 0);
	vmig_close(ctx);
}

/*
 * -dgi and -rg hold the store's lock while they look at a GI's accounting
 * file, so nothing there may block them: a stopped process holding the
 * file's lock, or a FIFO in its place, makes them answer "in use" within the
 * bound (ACCT_LOCK_WAIT, 1 s), and the GI stays.
 */
TEST(a_held_or_replaced_accounting_file_is_in_use_within_the_bound)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	unsigned gi;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	struct vmig_soft_limits l;
	CHECK_EQ_I(vmig_soft_limits(&snap(ctx)->gpu[0], gi, &l, NULL), 0);
	make_acct(l.acct_path, l.partition, VMIG_ACCT_MAGIC, 45);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t holder = fork();
	if (holder == 0) {
		int fd = open(l.acct_path, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	char x;
	CHECK(read(ready[0], &x, 1) == 1);
	char who[32];
	snprintf(who, sizeof(who), "process %d", (int)holder);
	double t0 = test_now();
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), -VMIG_E_IN_USE);
	CHECK(strstr(err.msg, who) != NULL);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 30, &err), -VMIG_E_IN_USE);
	CHECK(strstr(err.msg, who) != NULL);
	CHECK(test_now() - t0 < 20); /* two waits of 1 s; the limit only catches a hang */
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	/* A FIFO in the file's place: neither call opens it for good. */
	CHECK(unlink(l.acct_path) == 0);
	CHECK(mkfifo(l.acct_path, 0600) == 0);
	t0 = test_now();
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), -VMIG_E_IN_USE);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK_EQ_I(vmig_set_share(ctx, 0, gi, 30, &err), -VMIG_E_IN_USE);
	CHECK(test_now() - t0 < 20);
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 1);
	CHECK(unlink(l.acct_path) == 0);
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, &err), 0);
	vmig_close(ctx);
}

/* One owner per GPU, the other way: no hardware MIG under live software partitions. */
TEST(no_hardware_mig_under_software_partitions)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft(), *hw = NULL;
	struct vmig_err err = {0};
	unsigned gi;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_open("sim", &hw, NULL), 0);
	CHECK_EQ_I(vmig_set_mig_mode(hw, 0, 1, NULL, &err), -VMIG_E_OTHER_OWNER);
	CHECK(strstr(err.msg, "has software partitions") && strstr(err.msg, "--soft"));
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, &gi, NULL), 0);
	CHECK_EQ_I(vmig_set_mig_mode(hw, 0, 1, NULL, &err), -VMIG_E_OTHER_OWNER);
	CHECK(strstr(err.msg, "1 GPU instance") != NULL);
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 1);
	/* Soft MIG off again: the hardware may have the GPU. */
	CHECK_EQ_I(vmig_destroy_gi(ctx, 0, gi, NULL), 0);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 0, NULL, NULL), 0);
	CHECK_EQ_I(vmig_set_mig_mode(hw, 0, 1, NULL, &err), 0);
	vmig_close(hw);
	vmig_close(ctx);
}

/*
 * A simulated GPU with software partitions is not removed or reset away
 * under them (its records would collide with the GPU that takes its PCI
 * address) unless --force, which drops them too; and a record left behind
 * anyway (a GPU that went without vmig) is reconciled, not fatal.
 */
TEST(removing_a_gpu_with_software_partitions)
{
	static const char *const models[] = {"h200", "h200"};
	setup(models, 2);
	struct vmig_ctx *ctx = open_soft();
	struct vmig_err err = {0};
	struct vmig_state *st = calloc(1, sizeof(*st));
	unsigned gi;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 9, NULL, &gi, NULL), 0);
	CHECK_EQ_I(vmig_sim_remove(hwdir, 1, false, st, &err), -VMIG_E_IN_USE);
	CHECK(strstr(err.msg, "has software partitions") && strstr(err.msg, "--force"));
	const struct vmig_sim_gpu_opts plain = {0}, force = {.flags = VMIG_SIM_GPU_FORCE};
	const char *const two[] = {"h200", "h200"};
	CHECK_EQ_I(vmig_sim_reset(hwdir, two, 2, &plain, st, &err), -VMIG_E_IN_USE);
	CHECK_EQ_U(snap(ctx)->gpu[1].ngi, 1); /* refused: all still there */
	CHECK_EQ_I(vmig_sim_remove(hwdir, 1, true, st, &err), 0);
	CHECK_EQ_U(st->ngpu, 1);
	/* The record went with it: a new GPU at the same PCI address partitions freely. */
	CHECK_EQ_I(vmig_sim_add(hwdir, "h200", 1, NULL, st, &err), 0);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 9, NULL, &gi, &err), 0);
	CHECK_EQ_I(vmig_sim_reset(hwdir, two, 2, &force, st, &err), 0);
	CHECK_EQ_U(snap(ctx)->gpu[1].ngi, 0);
	CHECK_EQ_U(snap(ctx)->gpu[1].mig_current, 0);
	/* A record left behind by a GPU that went behind vmig's back: reconciled. */
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, &err), 0);
	struct vmig_store *s = NULL;
	CHECK_EQ_I(vmig_store_open(hwdir, &s, &err), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &err), 0);
	st->ngpu = 1; /* GPU 1 vanishes without a word to the soft store */
	CHECK_EQ_I(vmig_store_commit(s, st, &err), 0);
	vmig_store_close(s);
	CHECK_EQ_I(vmig_sim_add(hwdir, "h200", 1, NULL, st, &err), 0); /* takes its address */
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 9, NULL, &gi, &err), 0);
	CHECK_EQ_U(snap(ctx)->gpu[1].ngi, 1);
	free(st);
	vmig_close(ctx);
}

TEST(hardware_mig_wins)
{
	setup(H200_4090, 2);
	struct vmig_ctx *hw = NULL;
	unsigned gi;
	CHECK_EQ_I(vmig_open("sim", &hw, NULL), 0);
	CHECK_EQ_I(vmig_set_mig_mode(hw, 0, 1, NULL, NULL), 0);
	CHECK_EQ_I(vmig_create_gi(hw, 0, 19, NULL, &gi, NULL), 0);
	struct vmig_ctx *ctx = open_soft();
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, &err), -VMIG_E_OTHER_OWNER);
	CHECK(strstr(err.msg, "MIG enabled in hardware") != NULL);
	/* The hardware's instances are not the soft backend's. */
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 0);
	CHECK_EQ_U(snap(ctx)->gpu[0].mig_current, 0);
	CHECK_EQ_I(vmig_gpu_reset(ctx, 0, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 5, 1, NULL, &err), -VMIG_E_NOT_FOUND);
	vmig_close(ctx);
	vmig_close(hw);
}

TEST(derived_models_partition)
{
	if (!store_knows_soft_models())
		SKIP("the state store does not resolve soft model keys yet "
		     "(lib/state.c must use vmig_model_resolve and vmig_model_known)");
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	struct vmig_err err = {0};
	unsigned gi;
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 1, 1, NULL, &err), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ_I(vmig_create_gi(ctx, 1, 14, NULL, &gi, &err), 0);
	CHECK_EQ_I(vmig_create_gi(ctx, 1, 14, NULL, &gi, &err), -VMIG_E_INSUFFICIENT_RESOURCES);
	CHECK_EQ_I(vmig_create_ci(ctx, 1, gi, 0, NULL, NULL, &err), 0);
	/* A new context (a new command) reads the record back by its key. */
	vmig_close(ctx);
	ctx = open_soft();
	struct vmig_state *st = snap(ctx);
	CHECK_STR(st->gpu[1].model->key, "soft-rtx-4090");
	CHECK_EQ_U(st->gpu[1].ngi, 4);
	struct vmig_soft_limits l;
	CHECK_EQ_I(vmig_soft_limits(&st->gpu[1], gi, &l, NULL), 0);
	CHECK_EQ_U(l.mem_bytes, 6016ull << 20);
	CHECK_EQ_U(l.compute_pct, 25);
	vmig_close(ctx);
}

TEST(damaged_soft_state_is_refused)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/state", softdir);
	FILE *f = fopen(path, "w");
	fputs("not a state file\n", f);
	fclose(f);
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_snapshot(ctx, st, &err), -VMIG_E_CORRUPT);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, NULL, &err), -VMIG_E_CORRUPT);
	/* Refused, never rewritten. */
	f = fopen(path, "r");
	char line[64] = "";
	CHECK(fgets(line, sizeof(line), f) != NULL);
	CHECK_STR(line, "not a state file\n");
	fclose(f);
	free(st);
	vmig_close(ctx);
}

/* A record in the soft store that is no software partition is refused, not dropped silently. */
TEST(foreign_record_in_the_soft_store_is_refused)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	struct vmig_store *s = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_store_open(softdir, &s, &err), 0);
	CHECK_EQ_I(vmig_store_begin(s, st, &err), 0);
	CHECK_EQ_U(st->ngpu, 1);
	CHECK_EQ_I(vmig_state_add_gpu(st, vmig_model_find("a100-40gb"), &err), 0);
	st->gpu[1].flags = VMIG_GPU_SIMULATED;
	CHECK_EQ_I(vmig_store_commit(s, st, &err), 0);
	uint64_t gen = st->generation;
	CHECK_EQ_I(vmig_snapshot(ctx, st, &err), -VMIG_E_CORRUPT);
	CHECK(strstr(err.msg, "not a software partition record") != NULL);
	CHECK_EQ_I(vmig_create_gi(ctx, 0, 9, NULL, NULL, &err), -VMIG_E_CORRUPT);
	CHECK_EQ_I(vmig_store_read(s, st, &err), 0);
	CHECK_EQ_U(st->generation, gen); /* nothing was rewritten */
	CHECK_EQ_U(st->ngpu, 2);
	vmig_store_close(s);
	free(st);
	vmig_close(ctx);
}

TEST(parallel_creators_lose_nothing)
{
	setup(H200_4090, 2);
	struct vmig_ctx *ctx = open_soft();
	CHECK_EQ_I(vmig_set_mig_mode(ctx, 0, 1, NULL, NULL), 0);
	vmig_close(ctx);
	enum { NPROC = 6, EACH = 3 };
	pid_t pids[NPROC];
	for (int p = 0; p < NPROC; p++) {
		if ((pids[p] = fork()) == 0) {
			struct vmig_ctx *c = open_soft();
			int made = 0;
			for (int i = 0; i < EACH; i++)
				made += vmig_create_gi(c, 0, 19, NULL, NULL, NULL) == 0;
			vmig_close(c);
			_exit(made);
		}
	}
	int total = 0;
	for (int p = 0; p < NPROC; p++) {
		int status = 0;
		waitpid(pids[p], &status, 0);
		total += WIFEXITED(status) ? WEXITSTATUS(status) : 100;
	}
	CHECK_EQ_I(total, 7); /* seven 1g.18gb fit on an H200, whoever made them */
	ctx = open_soft();
	CHECK_EQ_U(snap(ctx)->gpu[0].ngi, 7);
	vmig_close(ctx);
}

int main(void)
{
	RUN(snapshot_shows_devices_with_soft_models);
	RUN(soft_mig_mode_never_touches_the_hardware);
	RUN(instances_on_a_mig_model);
	RUN(limits_of_an_instance);
	RUN(compute_share_is_stored_and_handed_to_running_programs);
	RUN(instance_files_carry_the_limits_and_the_group);
	RUN(destroying_a_gi_in_use_is_refused);
	RUN(a_held_or_replaced_accounting_file_is_in_use_within_the_bound);
	RUN(no_hardware_mig_under_software_partitions);
	RUN(removing_a_gpu_with_software_partitions);
	RUN(hardware_mig_wins);
	RUN(derived_models_partition);
	RUN(damaged_soft_state_is_refused);
	RUN(foreign_record_in_the_soft_store_is_refused);
	RUN(parallel_creators_lose_nothing);
	return harness_done();
}
