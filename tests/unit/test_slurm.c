/*
 * test_slurm.c — Slurm's view of the instances (lib/slurm.c): the gres
 * lines (device files of MIG devices from the mig-minors table, of software
 * partitions with their placeholders), Types, the NodeName line, AutoDetect,
 * the placeholder nodes, and the TaskProlog's search for a task's instances
 * (MIG UUIDs, the device cgroup, gres indexes through gres.conf) with every
 * refusal; and the preload list a software partition's program gets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gpus.h"
#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static struct vmig_state st;
static char dir[256];
static struct test_node node_;
static const char *const minors = node_.minors, *const dev = node_.dev;
static unsigned gi_a, gi_b, gi_s;

/*
 * GPU 0 (minor 0): H100 in MIG mode, GI a 3g.40gb with its whole CI and a
 * 1g.10gb GI b with its whole CI.  GPU 1 (minor 1): an H100 in soft MIG mode
 * with a 2g.20gb GI of one CI.  GPU 2: MIG off.
 */
static void setup(void)
{
	struct vmig_err err = {0};
	if (!dir[0] && !test_mkdtemp(dir, sizeof(dir), "slurm"))
		abort();
	if (test_make_node(&st, dir, 3, 19, &node_, &err) < 0)
		abort();
	gi_a = node_.gi_a;
	gi_b = node_.gi_b;
	gi_s = node_.gi_s;
}

static struct vmig_slurm_dev *devs(size_t *n, bool autodetect)
{
	const struct vmig_slurm_opts o = {
	    .mig_minors = minors, .dev_root = dev, .autodetect = autodetect};
	struct vmig_slurm_dev *d = NULL;
	struct vmig_err err = {0};
	if (vmig_slurm_devices(&st, &o, &d, n, &err) < 0)
		HARNESS_FAIL("vmig_slurm_devices: %s", err.msg);
	return d;
}

TEST(gres_lines)
{
	setup();
	size_t n = 0;
	struct vmig_slurm_dev *d = devs(&n, false);
	char *conf = NULL, *line = NULL, want[1024];
	struct vmig_err err = {0};
	CHECK_EQ_U(n, 3);
	if (n != 3)
		return;
	/* GI a is GPU 0's GI 1 or 2: its minors follow the driver's rule. */
	unsigned ga = 3 + 9 * gi_a;
	CHECK_STR(d[0].type, "3g.40gb");
	CHECK_EQ_U(d[0].nfiles, 3);
	snprintf(want, sizeof(want), "%s/nvidia-caps/nvidia-cap%u", dev, ga + 1);
	CHECK_STR(d[0].file[2], want);
	CHECK_STR(d[1].type, "1g.10gb");
	CHECK(!d[1].soft && d[2].soft);
	CHECK_STR(d[2].type, "2g.20gb");
	CHECK_EQ_U(d[2].nfiles, 2);
	snprintf(want, sizeof(want), "%s/vmig/nvidia1-gi%u-ci0", dev, gi_s);
	CHECK_STR(d[2].file[1], want);
	CHECK_EQ_U(d[2].major, VMIG_SLURM_PLACEHOLDER_MAJOR);
	CHECK_EQ_U(d[2].minor, 1 * 128 + gi_s * 8);
	char uuid[VMIG_UUID_LEN];
	vmig_mig_uuid(st.gpu[0].uuid, gi_a, 0, uuid);
	CHECK_STR(d[0].uuid, uuid);

	CHECK_EQ_I(vmig_slurm_gres_conf(d, n, false, &conf, &err), 0);
	snprintf(want, sizeof(want),
		 "Name=gpu Type=3g.40gb MultipleFiles=%s/nvidia0,%s/nvidia-caps/nvidia-cap%u,%s/"
		 "nvidia-caps/nvidia-cap%u\n",
		 dev, dev, ga, dev, ga + 1);
	CHECK(conf && strstr(conf, want));
	snprintf(want, sizeof(want),
		 "Name=gpu Type=2g.20gb MultipleFiles=%s/nvidia1,%s/vmig/nvidia1-gi%u-ci0\n", dev,
		 dev, gi_s);
	CHECK(conf && strstr(conf, want));
	CHECK(conf && !strstr(conf, "AutoDetect"));
	free(conf);
	CHECK_EQ_I(vmig_slurm_node_line(d, n, "node7", &line, &err), 0);
	CHECK_STR(line, "NodeName=node7 Gres=gpu:3g.40gb:1,gpu:1g.10gb:1,gpu:2g.20gb:1");
	free(line);
	/* Two instances of one type count together, in order of first appearance. */
	snprintf(d[1].type, sizeof(d[1].type), "2g.20gb");
	CHECK_EQ_I(vmig_slurm_node_line(d, n, "n", &line, &err), 0);
	CHECK_STR(line, "NodeName=n Gres=gpu:3g.40gb:1,gpu:2g.20gb:2");
	free(line);
	free(d);
}

TEST(autodetect)
{
	setup();
	size_t n = 0;
	struct vmig_slurm_dev *d = devs(&n, true);
	char *conf = NULL;
	struct vmig_err err = {0};
	if (n != 3) {
		HARNESS_FAIL("%zu devices", n);
		return;
	}
	/* Slurm 22.05's names: slices and the GI's memory in GiB, rounded. */
	const struct vmig_gi_profile *p1 = vmig_gi_profile_by_id(st.gpu[0].model, 19);
	char want[64];
	snprintf(want, sizeof(want), "1g.%llugb", (unsigned long long)((p1->mem_mib + 512) / 1024));
	CHECK_STR(d[1].type, want);
	CHECK_STR(d[1].type, "1g.10gb");
	CHECK_STR(d[2].type, "2g.20gb"); /* a software partition keeps its profile's name */
	CHECK_EQ_I(vmig_slurm_gres_conf(d, n, true, &conf, &err), 0);
	CHECK(conf && strstr(conf, "\nAutoDetect=nvml\n"));
	CHECK(conf && !strstr(conf, "Type=3g.40gb") && !strstr(conf, "Type=1g.10gb") &&
	      strstr(conf, "Type=2g.20gb"));
	free(conf);
	free(d);
}

TEST(errors)
{
	setup();
	struct vmig_slurm_dev *d = NULL;
	size_t n = 0;
	struct vmig_err err = {0};
	const struct vmig_slurm_opts o = {.mig_minors = minors, .dev_root = dev};
	/* No instance at all. */
	struct vmig_state *empty = calloc(1, sizeof(*empty));
	empty->ngpu = 1;
	empty->gpu[0] = st.gpu[2];
	CHECK_EQ_I(vmig_slurm_devices(empty, &o, &d, &n, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "no GPU instances") != NULL);
	free(empty);
	/* A table that lacks the GPU's lines, a table that is missing. */
	st.gpu[0].minor = 5;
	CHECK_EQ_I(vmig_slurm_devices(&st, &o, &d, &n, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "has no line for gpu5/gi") != NULL);
	const struct vmig_slurm_opts none = {.mig_minors = "/nonexistent/mig-minors"};
	CHECK_EQ_I(vmig_slurm_devices(&st, &none, &d, &n, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "/nonexistent/mig-minors") != NULL);
	/* A GPU minor no placeholder can number. */
	setup();
	st.gpu[1].minor = VMIG_SLURM_MAX_GPU_MINOR;
	CHECK_EQ_I(vmig_slurm_devices(&st, &o, &d, &n, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK(strstr(err.msg, "too large for a placeholder") != NULL);
}

TEST(placeholders)
{
	setup();
	size_t n = 0;
	struct vmig_slurm_dev *d = devs(&n, false);
	struct vmig_err err = {0};
	if (n != 3) {
		HARNESS_FAIL("%zu devices", n);
		return;
	}
	const char *p = d[2].file[1];
	struct stat sb;
	if (geteuid() != 0) { /* mknod needs CAP_MKNOD: the refusal */
		CHECK_EQ_I(vmig_slurm_make_placeholders(d, n, &err), -VMIG_E_NO_PERMISSION);
		CHECK(strstr(err.msg, "cannot create the placeholder node") != NULL);
		free(d);
		return;
	}
	CHECK_EQ_I(vmig_slurm_make_placeholders(d, n, &err), 0);
	CHECK(stat(p, &sb) == 0 && S_ISCHR(sb.st_mode) &&
	      sb.st_rdev == makedev(VMIG_SLURM_PLACEHOLDER_MAJOR, d[2].minor));
	CHECK_EQ_U(sb.st_mode & 0777, 0666);
	/* Again: nothing to do; wrong numbers: corrected; a file in its place: refused. */
	CHECK_EQ_I(vmig_slurm_make_placeholders(d, n, &err), 0);
	unlink(p);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0);
	CHECK_EQ_I(vmig_slurm_make_placeholders(d, n, &err), 0);
	CHECK(stat(p, &sb) == 0 && sb.st_rdev == makedev(VMIG_SLURM_PLACEHOLDER_MAJOR, d[2].minor));
	unlink(p);
	fclose(fopen(p, "w"));
	CHECK_EQ_I(vmig_slurm_make_placeholders(d, n, &err), -VMIG_E_IO);
	CHECK(strstr(err.msg, "no character device") != NULL);
	CHECK(stat(p, &sb) == 0 && S_ISREG(sb.st_mode)); /* left alone */
	unlink(p);
	free(d);
}

/* sel as a string of 0/1, for messages. */
static const char *bits(const bool *sel, size_t n)
{
	static char b[16];
	for (size_t i = 0; i < n && i < sizeof(b) - 1; i++)
		b[i] = sel[i] ? '1' : '0';
	b[n < sizeof(b) - 1 ? n : sizeof(b) - 1] = '\0';
	return b;
}

TEST(task_devices)
{
	setup();
	size_t n = 0;
	struct vmig_slurm_dev *d = devs(&n, false);
	char *conf = NULL, list[256];
	bool sel[3];
	struct vmig_err err = {0};
	if (n != 3) {
		HARNESS_FAIL("%zu devices", n);
		return;
	}
	CHECK_EQ_I(vmig_slurm_gres_conf(d, n, false, &conf, &err), 0);
	struct vmig_slurm_task t = {.gres_conf = conf, .gres_conf_path = "g.conf"};

	/* Nothing: no GPU. */
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 0);
	/* MIG UUIDs (AutoDetect), any case, a device twice. */
	snprintf(list, sizeof(list), "%s,%s", d[1].uuid, d[0].uuid);
	for (char *c = list + 4; *c && *c != ','; c++) /* hex digits in upper case */
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	t.visible = list;
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 2);
	CHECK_STR(bits(sel, n), "110");
	t.visible = "MIG-00000000-0000-5000-8000-000000000000";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "no GPU instance of vmig on this node") != NULL);
	t.visible = st.gpu[2].uuid; /* a whole GPU is not an instance */
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_FOUND);

	/* Gres indexes: the lines of gres.conf, SLURM_STEP_GPUS first. */
	t.visible = "0";
	t.step_gpus = "2";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "001");
	t.step_gpus = NULL;
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "100");
	t.visible = "1,0";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 2);
	CHECK_STR(bits(sel, n), "110");
	t.visible = "3";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_FOUND);
	CHECK_STR(err.msg, "gres index 3 matches no instance: g.conf has no line for it");
	t.visible = "0x1";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_INVALID_ARGUMENT);
	/* A line of the admin's own is not vmig's. */
	char *more = NULL;
	CHECK(asprintf(&more, "%sName=gpu Type=x File=/dev/other0\n", conf) > 0);
	t.gres_conf = more;
	t.visible = "3";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "gres index 3 (g.conf line ") &&
	      strstr(err.msg, ") matches no GPU instance of vmig on this node"));
	t.gres_conf = NULL;
	t.visible = "0";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "need gres.conf") != NULL);

	/* The device cgroup: the instances whose own node it allows. */
	t.gres_conf = conf;
	t.visible = "0";
	snprintf(list, sizeof(list), "c 195:1 rwm\nc %u:%u rwm\nc 1:3 rwm\n", d[2].major,
		 d[2].minor);
	t.devices_list = list;
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "001"); /* the cgroup wins over the index */
	t.devices_list = "a *:* rwm\n"; /* not constrained: the index */
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "100");
	t.devices_list = "c 1:3 rwm\n"; /* none of ours: the index */
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "100");
	t.devices_list = NULL;
	free(conf);
	free(more);

	/* AutoDetect: an index names the one config-only line, or nothing. */
	free(d);
	d = devs(&n, true);
	CHECK_EQ_I(vmig_slurm_gres_conf(d, n, true, &conf, &err), 0);
	t.gres_conf = conf;
	t.visible = "2";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), 1);
	CHECK_STR(bits(sel, n), "001");
	t.visible = "2,0";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK(asprintf(&more, "%sName=gpu Type=x File=/dev/other0\n", conf) > 0);
	t.gres_conf = more;
	t.visible = "2";
	CHECK_EQ_I(vmig_slurm_task_devices(d, n, &t, sel, &err), -VMIG_E_NOT_SUPPORTED);
	CHECK(strstr(err.msg, "AutoDetect and 2 config-only GPU lines") &&
	      strstr(err.msg, "ConstrainDevices=yes"));
	free(more);
	free(conf);
	free(d);
}

TEST(preload)
{
	char *v = NULL;
	CHECK_EQ_I(vmig_preload_join("/l/i.so", NULL, &v), 0);
	CHECK_STR(v, "/l/i.so");
	free(v);
	CHECK_EQ_I(vmig_preload_join("/l/i.so", "/x/a.so /y/b.so", &v), 0);
	CHECK_STR(v, "/l/i.so:/x/a.so /y/b.so");
	free(v);
	CHECK_EQ_I(vmig_preload_join("/l/i.so", "/usr/lib/libasan.so.8:/x/a.so", &v), 0);
	CHECK_STR(v, "/usr/lib/libasan.so.8:/l/i.so:/x/a.so");
	free(v);
	CHECK_EQ_I(vmig_preload_join("/l/i.so", "/x/a.so:/l/i.so", &v), 0);
	CHECK_STR(v, "/x/a.so:/l/i.so");
	free(v);
}

TEST(soft_env)
{
	setup();
	struct vmig_soft_env e;
	struct vmig_soft_limits l;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_soft_env(&st.gpu[1], gi_s, "/p.so", &e, &err), 0);
	CHECK_EQ_I(vmig_soft_limits(&st.gpu[1], gi_s, &l, &err), 0);
	CHECK_EQ_U(e.n, 7);
	CHECK_STR(e.var[0].name, "LD_PRELOAD");
	CHECK_STR(e.var[0].value, "/p.so");
	CHECK_STR(e.var[1].value, l.partition);
	CHECK_STR(e.var[4].value, l.acct_path);
	CHECK_STR(e.var[6].name, "CUDA_VISIBLE_DEVICES");
	CHECK_STR(e.var[6].value, st.gpu[1].uuid);
	CHECK_EQ_I(vmig_soft_env(&st.gpu[1], 14, "/p.so", &e, &err), -VMIG_E_NOT_FOUND);
}

int main(void)
{
	RUN(gres_lines);
	RUN(autodetect);
	RUN(errors);
	RUN(placeholders);
	RUN(task_devices);
	RUN(preload);
	RUN(soft_env);
	int r = harness_done();
	if (dir[0] && test_rmtree(dir) < 0)
		r = 1;
	return r;
}
