/*
 * test_k8s.c — Kubernetes' view of the instances (lib/k8s.c): resource
 * domains and names ('+' as '.'), the device list with each device's
 * resource, MIG UUID and health (the parent's node, the capability nodes
 * from the mig-minors table; a software partition's parent alone), and the
 * node labels (GPU Feature Discovery's names, sorted, a node without
 * instances refused).
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

/* GPU 0 (minor 0): H100, a 3g.40gb GI a and a 1g.10gb+me GI b; GPU 1: soft, a 2g.20gb GI s. */
static void setup(void)
{
	struct vmig_err err = {0};
	if (!dir[0] && !test_mkdtemp(dir, sizeof(dir), "k8s"))
		abort();
	if (test_make_node(&st, dir, 2, 20, &node_, &err) < 0)
		abort();
	gi_a = node_.gi_a;
	gi_b = node_.gi_b;
	gi_s = node_.gi_s;
}

/* A character device at dev/rel (mknod needs root: false without it). */
static bool node(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/nvidia-caps", dev);
	mkdir(dev, 0755);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s", dev, rel);
	return mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0;
}

static struct vmig_k8s_dev *devs(size_t *n, const char *domain)
{
	const struct vmig_k8s_opts o = {.domain = domain, .mig_minors = minors, .dev_root = dev};
	struct vmig_k8s_dev *d = NULL;
	struct vmig_err err = {0};
	if (vmig_k8s_devices(&st, &o, &d, n, &err) < 0)
		HARNESS_FAIL("vmig_k8s_devices: %s", err.msg);
	return d;
}

TEST(names)
{
	char buf[64];
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_k8s_domain_check("vmig.dev", &err), 0);
	CHECK_EQ_I(vmig_k8s_domain_check("a-b.example.org", &err), 0);
	CHECK_EQ_I(vmig_k8s_domain_check("nvidia.com", &err), 0);
	CHECK_EQ_I(vmig_k8s_domain_check("", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("Vmig.dev", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("vmig.dev.", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("-vmig.dev", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("vmig/dev", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("kubernetes.io", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("node.kubernetes.io", &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_EQ_I(vmig_k8s_domain_check("mykubernetes.io", &err), 0);
	CHECK_EQ_I(vmig_k8s_profile_name("3g.40gb", buf, sizeof(buf), &err), 0);
	CHECK_STR(buf, "mig-3g.40gb");
	CHECK_EQ_I(vmig_k8s_profile_name("1g.24gb+me.all", buf, sizeof(buf), &err), 0);
	CHECK_STR(buf, "mig-1g.24gb.me.all");
	CHECK_EQ_I(vmig_k8s_profile_name("1g.10gb-me", buf, sizeof(buf), &err), 0);
	CHECK_STR(buf, "mig-1g.10gb-me");
	CHECK_EQ_I(vmig_k8s_profile_name("1g/10gb", buf, sizeof(buf), &err),
		   -VMIG_E_INVALID_ARGUMENT);
}

TEST(devices_and_health)
{
	setup();
	size_t n = 0;
	struct vmig_k8s_dev *d = devs(&n, NULL);
	char uuid[VMIG_UUID_LEN], want[600];
	CHECK_EQ_U(n, 3);
	if (n != 3) {
		free(d);
		return;
	}
	CHECK_STR(d[0].resource, "vmig.dev/mig-3g.40gb");
	CHECK_STR(d[1].resource, "vmig.dev/mig-1g.10gb.me");
	CHECK_STR(d[1].profile, "1g.10gb+me");
	CHECK_STR(d[2].resource, "vmig.dev/mig-2g.20gb");
	CHECK(!d[0].soft && d[2].soft);
	vmig_mig_uuid(st.gpu[0].uuid, gi_a, 0, uuid);
	CHECK_STR(d[0].uuid, uuid);
	/* No nodes at all: every device unhealthy, naming its parent's node. */
	snprintf(want, sizeof(want), "device node %s/nvidia0 is missing", dev);
	CHECK(!d[0].healthy);
	CHECK_STR(d[0].why, want);
	free(d);
	if (!node("nvidia0") || !node("nvidia1")) {
		SKIP("mknod needs root");
		return;
	}
	d = devs(&n, "example.org");
	CHECK_STR(d[0].resource, "example.org/mig-3g.40gb");
	/* The parents are there: the soft partition is healthy, MIG devices lack their caps. */
	CHECK(d[2].healthy);
	snprintf(want, sizeof(want), "device node %s/nvidia-caps/nvidia-cap%u is missing", dev,
		 3 + 9 * gi_a);
	CHECK(!d[0].healthy);
	CHECK_STR(d[0].why, want);
	free(d);
	char rel[64];
	snprintf(rel, sizeof(rel), "nvidia-caps/nvidia-cap%u", 3 + 9 * gi_a);
	CHECK(node(rel));
	snprintf(rel, sizeof(rel), "nvidia-caps/nvidia-cap%u", 4 + 9 * gi_a);
	CHECK(node(rel));
	d = devs(&n, NULL);
	CHECK(d[0].healthy && !d[1].healthy && d[2].healthy);
	free(d);
	/* A table without the GI's line, or none at all: unhealthy, naming it. */
	FILE *f = fopen(minors, "w");
	if (f) {
		fputs("config 1\n", f);
		fclose(f);
	}
	d = devs(&n, NULL);
	CHECK(!d[0].healthy && strstr(d[0].why, "gpu0/gi"));
	free(d);
	unlink(minors);
	d = devs(&n, NULL);
	CHECK(!d[0].healthy && strstr(d[0].why, "cannot read the MIG capability minors"));
	CHECK(d[2].healthy);
	free(d);
	setup();
}

TEST(no_devices)
{
	struct vmig_state *empty = calloc(1, sizeof(*empty));
	struct vmig_k8s_dev *d = (struct vmig_k8s_dev *)1;
	size_t n = 9;
	struct vmig_err err = {0};
	char *text = NULL;
	CHECK_EQ_I(vmig_k8s_devices(empty, NULL, &d, &n, &err), 0);
	CHECK(d == NULL && n == 0);
	CHECK_EQ_I(vmig_k8s_labels(empty, NULL, &text, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "no GPU instances to label") != NULL);
	CHECK(text == NULL);
	const struct vmig_k8s_opts bad = {.domain = "Bad"};
	CHECK_EQ_I(vmig_k8s_devices(empty, &bad, &d, &n, &err), -VMIG_E_INVALID_ARGUMENT);
	free(empty);
}

TEST(labels)
{
	setup();
	char *text = NULL;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_k8s_labels(&st, NULL, &text, &err), 0);
	if (!text)
		return;
	CHECK(strncmp(text,
		      "nvidia.com/mig.capable=true\nnvidia.com/mig.strategy=mixed\n"
		      "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3\n"
		      "nvidia.com/mig-1g.10gb.me.count=1\n",
		      strlen("nvidia.com/mig.capable=true\nnvidia.com/mig.strategy=mixed\n"
			     "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3\n"
			     "nvidia.com/mig-1g.10gb.me.count=1\n")) == 0);
	CHECK(strstr(text, "\nnvidia.com/mig-1g.10gb.me.product=NVIDIA-H100-80GB-HBM3-MIG-1g."
			   "10gbme\n") != NULL);
	CHECK(strstr(text, "\nnvidia.com/mig-3g.40gb.memory=40448\n") != NULL);
	CHECK(strstr(text, "\nnvidia.com/mig-3g.40gb.multiprocessors=60\n") != NULL);
	CHECK(strstr(text, "\nnvidia.com/mig-3g.40gb.slices.gi=3\n") != NULL);
	CHECK(strstr(text, "\nnvidia.com/mig-2g.20gb.count=1\n") != NULL);
	/* Sorted by profile: 1g before 2g before 3g. */
	CHECK(strstr(text, "mig-1g.10gb.me.count") < strstr(text, "mig-2g.20gb.count") &&
	      strstr(text, "mig-2g.20gb.count") < strstr(text, "mig-3g.40gb.count"));
	free(text);
	text = NULL;
	CHECK_EQ_I(vmig_k8s_labels(&st, "vmig.dev", &text, &err), 0);
	CHECK(text && strncmp(text, "vmig.dev/mig.capable=true\n", 26) == 0);
	free(text);
	text = NULL;
	CHECK_EQ_I(vmig_k8s_labels(&st, "a..b", &text, &err), -VMIG_E_INVALID_ARGUMENT);
}

/*
 * The nodes of several MIG devices, for an Allocate answer without CDI
 * names: the control node, the shared parent once, each device's GI and CI
 * capability nodes, taken from the device root; refusals by name.
 */
TEST(nodes_of_several_devices)
{
	setup();
	char ua[VMIG_UUID_LEN], ub[VMIG_UUID_LEN], us[VMIG_UUID_LEN], want[400];
	vmig_mig_uuid(st.gpu[0].uuid, gi_a, 0, ua);
	vmig_mig_uuid(st.gpu[0].uuid, gi_b, 0, ub);
	vmig_mig_uuid(st.gpu[1].uuid, gi_s, 0, us);
	const struct vmig_cdi_opts o = {.mig_minors = minors, .dev_root = dev};
	const char *two[] = {ua, ub};
	struct vmig_cdi_node *nd = NULL;
	size_t n = 0;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_cdi_nodes(&st, &o, two, 2, &nd, &n, &err), 0);
	CHECK_EQ_U(n, 6);
	if (n == 6) {
		CHECK_STR(nd[0].path, "/dev/nvidiactl");
		CHECK_STR(nd[1].path, "/dev/nvidia0");
		snprintf(want, sizeof(want), "%s/nvidia0", dev);
		CHECK_STR(nd[1].host, want);
		unsigned caps[] = {3 + 9 * gi_a, 4 + 9 * gi_a, 3 + 9 * gi_b, 4 + 9 * gi_b};
		for (int i = 0; i < 4; i++) {
			snprintf(want, sizeof(want), "/dev/nvidia-caps/nvidia-cap%u", caps[i]);
			CHECK_STR(nd[2 + i].path, want);
		}
	}
	free(nd);
	const char *unknown[] = {ua, "MIG-00000000-0000-5000-8000-000000000000"};
	CHECK_EQ_I(vmig_cdi_nodes(&st, &o, unknown, 2, &nd, &n, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "no MIG device has the UUID MIG-00000000") != NULL);
	CHECK(nd == NULL && n == 0);
	const char *soft[] = {us};
	CHECK_EQ_I(vmig_cdi_nodes(&st, &o, soft, 1, &nd, &n, &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK(strstr(err.msg, "software partition") != NULL);
	/* Without the capability table the nodes cannot be named. */
	const struct vmig_cdi_opts nominors = {.mig_minors = "/nonexistent/mig-minors",
					       .dev_root = dev};
	CHECK(vmig_cdi_nodes(&st, &nominors, two, 1, &nd, &n, &err) < 0);
	CHECK(strstr(err.msg, "/nonexistent/mig-minors") != NULL);
}

int main(void)
{
	RUN(names);
	RUN(devices_and_health);
	RUN(nodes_of_several_devices);
	RUN(no_devices);
	RUN(labels);
	int r = harness_done();
	if (dir[0] && test_rmtree(dir) < 0)
		r = 1;
	return r;
}
