/*
 * test_cdi.c — CDI specs (lib/cdi.c): the kinds podman 4.3 accepts, the
 * device names and edits of GPUs, simulated MIG devices (capability nodes
 * from a mig-minors file) and software partitions, the version, and the
 * atomic write (a reader never sees half a spec while writers replace it).
 */
#include <jansson.h>
#include <sys/stat.h>

#include "harness.h"
#include "tmpdir.h"
#include "vmig/vmig.h"

static struct vmig_state st;
static unsigned gi_a, gi_b, ci_a, ci_b;
static char dir[256], minors[300];

/* GPU 0: H100 with MIG on, GI a (3g.40gb) and GI b (1g.10gb), one CI each; GPU 1 MIG off. */
static void setup(void)
{
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	struct vmig_err err = {0};
	if (!test_mkdtemp(dir, sizeof(dir), "cdi"))
		abort();
	memset(&st, 0, sizeof(st));
	if (vmig_state_add_gpu(&st, m, &err) < 0 || vmig_state_add_gpu(&st, m, &err) < 0)
		abort();
	st.gpu[0].minor = 0;
	st.gpu[1].minor = 1;
	struct vmig_gpu_state *g = &st.gpu[0];
	g->mig_current = g->mig_pending = 1;
	const struct vmig_gi_profile *p3 = vmig_gi_profile_by_id(m, 9),
				     *p1 = vmig_gi_profile_by_id(m, 19);
	if (vmig_gpu_create_gi(g, p3, NULL, &gi_a, &err) < 0 ||
	    vmig_gpu_create_gi(g, p1, NULL, &gi_b, &err) < 0 ||
	    vmig_gpu_create_ci(g, gi_a, vmig_ci_profile_default(p3), NULL, &ci_a, &err) < 0 ||
	    vmig_gpu_create_ci(g, gi_b, vmig_ci_profile_default(p1), NULL, &ci_b, &err) < 0)
		abort();
	/* The driver's table for GPU minors 0-1 (the rule of docs/containers.md). */
	snprintf(minors, sizeof(minors), "%s/mig-minors", dir);
	FILE *f = fopen(minors, "w");
	fprintf(f, "config 1\nmonitor 2\n");
	for (unsigned gm = 0; gm < 2; gm++)
		for (unsigned i = 0; i < 15; i++) {
			unsigned b = 3 + 135 * gm + 9 * i;
			fprintf(f, "gpu%u/gi%u/access %u\n", gm, i, b);
			for (unsigned c = 0; c < 8; c++)
				fprintf(f, "gpu%u/gi%u/ci%u/access %u\n", gm, i, c, b + 1 + c);
		}
	fclose(f);
}

static json_t *spec_of(const struct vmig_cdi_opts *o)
{
	char *text = NULL;
	struct vmig_err err = {0};
	if (vmig_cdi_spec(&st, o, &text, &err) < 0) {
		HARNESS_FAIL("vmig_cdi_spec: %s", err.msg);
		return NULL;
	}
	json_t *j = json_loads(text, 0, NULL);
	free(text);
	CHECK(j != NULL);
	return j;
}

static json_t *device(json_t *spec, const char *name)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(spec, "devices"), i, d)
	{
		if (strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
			return json_object_get(d, "containerEdits");
	}
	HARNESS_FAIL("no device %s", name);
	return NULL;
}

/* The paths of an edits' device nodes, space-separated. */
static const char *paths(json_t *edits, const char *field)
{
	static char buf[1024];
	size_t i, n = 0;
	json_t *x;
	buf[0] = '\0';
	json_array_foreach(json_object_get(edits, "deviceNodes"), i, x)
	{
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "",
				      json_string_value(json_object_get(x, field)));
	}
	return buf;
}

static bool has_env(json_t *edits, const char *kv)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(edits, "env"), i, x)
	{
		if (strcmp(json_string_value(x), kv) == 0)
			return true;
	}
	return false;
}

TEST(kinds)
{
	static const char *const good[] = {
	    "vmig.dev/gpu",	 "vm/g9", "v1/gpu", "vmig_local/gpu", "vmig.local/gpu-mig",
	    "vmig.local/gpu_mig"};
	static const struct {
		const char *kind, *why;
	} bad[] = {
	    {"x/y", "at least 2"},
	    {"v/gpu", "vendor needs at least 2"},
	    {"vmig.local/g", "class needs at least 2"},
	    {"vmig.local/gpu.mig", "class may hold"},
	    {"9v/gpu", "start with a letter"},
	    {"vmig.dev/gpu-", "end with a letter"},
	    {"vmig.dev", "one slash"},
	    {"a/b/c", "one slash"},
	    {"nvidia.com/gpu", "NVIDIA's"},
	    {"vm ig/gpu", "vendor may hold"},
	};
	struct vmig_err err = {0};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_EQ_I(vmig_cdi_kind_check(good[i], &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_I(vmig_cdi_kind_check(bad[i].kind, &err), -VMIG_E_INVALID_ARGUMENT);
		if (!strstr(err.msg, bad[i].why))
			HARNESS_FAIL("%s: '%s' lacks '%s'", bad[i].kind, err.msg, bad[i].why);
	}
}

TEST(devices_and_names)
{
	setup();
	struct vmig_cdi_opts o = {.mig_minors = minors, .dev_root = "/dev"};
	json_t *s = spec_of(&o);
	CHECK_STR(json_string_value(json_object_get(s, "cdiVersion")), "0.5.0");
	CHECK_STR(json_string_value(json_object_get(s, "kind")), VMIG_CDI_KIND_DEFAULT);
	char ua[VMIG_UUID_LEN], ub[VMIG_UUID_LEN], want[1024], ids[32];
	vmig_mig_uuid(st.gpu[0].uuid, gi_a, ci_a, ua);
	vmig_mig_uuid(st.gpu[0].uuid, gi_b, ci_b, ub);
	/* GPUs by index and UUID; MIG devices (GI a first: -L order) by UUID, GPU:GI:CI, GPU:MIG.
	 */
	snprintf(want, sizeof(want), "0 %s %s 0:%u:%u 0:0 %s 0:%u:%u 0:1 1 %s all", st.gpu[0].uuid,
		 ua, gi_a, ci_a, ub, gi_b, ci_b, st.gpu[1].uuid);
	char got[1024];
	size_t i, n = 0;
	json_t *d;
	json_array_foreach(json_object_get(s, "devices"), i, d)
	{
		n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", n ? " " : "",
				      json_string_value(json_object_get(d, "name")));
	}
	CHECK_STR(got, want);
	/* GI a of GPU minor 0: caps 3 + 9 * gi_a and the CI's next to it. */
	snprintf(want, sizeof(want),
		 "/dev/nvidia0 /dev/nvidia-caps/nvidia-cap%u /dev/nvidia-caps/nvidia-cap%u",
		 3 + 9 * gi_a, 3 + 9 * gi_a + 1 + ci_a);
	CHECK_STR(paths(device(s, ua), "path"), want);
	snprintf(ids, sizeof(ids), "0:%u:%u", gi_a, ci_a);
	CHECK_STR(paths(device(s, ids), "path"), want);
	CHECK_STR(paths(device(s, "0:0"), "path"), want);
	snprintf(want, sizeof(want), "CUDA_VISIBLE_DEVICES=%s", ua);
	CHECK(has_env(device(s, ua), want));
	CHECK_STR(paths(device(s, "1"), "path"), "/dev/nvidia1");
	CHECK(json_object_get(device(s, "1"), "env") == NULL);
	/* all: every GPU node and every capability node, once */
	snprintf(want, sizeof(want),
		 "/dev/nvidia0 /dev/nvidia-caps/nvidia-cap%u /dev/nvidia-caps/nvidia-cap%u "
		 "/dev/nvidia-caps/nvidia-cap%u /dev/nvidia-caps/nvidia-cap%u /dev/nvidia1",
		 3 + 9 * gi_a, 4 + 9 * gi_a + ci_a, 3 + 9 * gi_b, 4 + 9 * gi_b + ci_b);
	CHECK_STR(paths(device(s, "all"), "path"), want);
	/* common edits: nvidiactl always; no hostPath with the default root */
	json_t *common = json_object_get(s, "containerEdits");
	CHECK(strncmp(paths(common, "path"), "/dev/nvidiactl", 14) == 0);
	CHECK(has_env(common, "NVIDIA_VISIBLE_DEVICES=void"));
	char *dump = json_dumps(s, 0);
	CHECK(dump && strstr(dump, "hostPath") == NULL);
	free(dump);
	json_decref(s);
}

TEST(host_paths_kind_and_version)
{
	setup();
	char devroot[300];
	snprintf(devroot, sizeof(devroot), "%s/dev", dir);
	mkdir(devroot, 0755);
	char uvm[320];
	snprintf(uvm, sizeof(uvm), "%s/nvidia-uvm", devroot);
	fclose(fopen(uvm, "w")); /* present on the host: it joins the common nodes */
	struct vmig_cdi_opts o = {
	    .kind = "example.org/accel", .mig_minors = minors, .dev_root = devroot};
	json_t *s = spec_of(&o);
	CHECK_STR(json_string_value(json_object_get(s, "kind")), "example.org/accel");
	char want[700];
	snprintf(want, sizeof(want), "%s/nvidia1", devroot);
	CHECK_STR(paths(device(s, "1"), "hostPath"), want);
	CHECK_STR(paths(device(s, "1"), "path"), "/dev/nvidia1");
	CHECK_STR(paths(json_object_get(s, "containerEdits"), "path"),
		  "/dev/nvidiactl /dev/nvidia-uvm");
	json_decref(s);
	/* GPUs without MIG and named only... still digit-led names: 0.5.0 is the floor here */
	st.gpu[0].mig_current = 0;
	o.dev_root = "/dev";
	s = spec_of(&o);
	CHECK_STR(json_string_value(json_object_get(s, "cdiVersion")), "0.5.0");
	json_decref(s);
}

TEST(minors_errors)
{
	setup();
	struct vmig_err err = {0};
	char *text = NULL, missing[320];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	struct vmig_cdi_opts o = {.mig_minors = missing};
	CHECK_EQ_I(vmig_cdi_spec(&st, &o, &text, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "cannot read the MIG capability minors") != NULL);
	CHECK(text == NULL);
	FILE *f = fopen(missing, "w");
	fprintf(f, "config 1\ngarbage\ngpu0/gi0/access 3\n");
	fclose(f);
	CHECK_EQ_I(vmig_cdi_spec(&st, &o, &text, &err), -VMIG_E_NOT_FOUND);
	CHECK(strstr(err.msg, "has no line for gpu0/gi") != NULL);
	/* no MIG device: the table is not needed */
	st.gpu[0].mig_current = 0;
	o.mig_minors = "/nonexistent/mig-minors";
	CHECK_EQ_I(vmig_cdi_spec(&st, &o, &text, &err), 0);
	free(text);
	text = NULL;
	o.kind = "x/y";
	CHECK_EQ_I(vmig_cdi_spec(&st, &o, &text, &err), -VMIG_E_INVALID_ARGUMENT);
	struct vmig_state empty = {0};
	o.kind = NULL;
	CHECK_EQ_I(vmig_cdi_spec(&empty, &o, &text, &err), -VMIG_E_NOT_FOUND);
	CHECK(text == NULL);
}

TEST(software_partition)
{
	setup();
	char soft[300], lib[320], acct[400];
	snprintf(soft, sizeof(soft), "%s/soft", dir);
	snprintf(lib, sizeof(lib), "%s/libvmig-cuda.so", dir);
	setenv("VMIG_SOFT_STATE_DIR", soft, 1);
	fclose(fopen(lib, "w"));
	st.gpu[0].flags |= VMIG_GPU_SOFT;
	struct vmig_cdi_opts o = {.interposer = lib, .mig_minors = "/nonexistent"};
	json_t *s = spec_of(&o);
	char ua[VMIG_UUID_LEN], want[VMIG_ACCT_PATH_LEN + 64];
	vmig_mig_uuid(st.gpu[0].uuid, gi_a, ci_a, ua);
	json_t *e = device(s, ua);
	CHECK_STR(paths(e, "path"), "/dev/nvidia0"); /* no capability nodes */
	struct vmig_soft_limits l;
	struct vmig_err err = {0};
	CHECK_EQ_I(vmig_soft_limits(&st.gpu[0], gi_a, &l, &err), 0);
	snprintf(want, sizeof(want), "VMIG_MEM_LIMIT=%llu", (unsigned long long)l.mem_bytes);
	CHECK(has_env(e, want));
	snprintf(want, sizeof(want), "VMIG_PARTITION=%s", l.partition);
	CHECK(has_env(e, want));
	snprintf(want, sizeof(want), "VMIG_ACCOUNTING=%s", l.acct_path);
	CHECK(has_env(e, want));
	snprintf(want, sizeof(want), "VMIG_COMPUTE_PCT=%u", l.compute_pct);
	CHECK(has_env(e, want));
	CHECK(has_env(e, "LD_PRELOAD=" VMIG_CDI_INTERPOSER_PATH));
	CHECK(has_env(e, "VMIG_COMPUTE_MODE=timeslice"));
	snprintf(want, sizeof(want), "CUDA_VISIBLE_DEVICES=%s", st.gpu[0].uuid);
	CHECK(has_env(e, want));
	json_t *m0 = json_array_get(json_object_get(e, "mounts"), 0);
	json_t *m1 = json_array_get(json_object_get(e, "mounts"), 1);
	CHECK_STR(json_string_value(json_object_get(m0, "hostPath")), lib);
	CHECK_STR(json_string_value(json_object_get(m0, "containerPath")),
		  VMIG_CDI_INTERPOSER_PATH);
	CHECK_STR(json_string_value(json_array_get(json_object_get(m0, "options"), 0)), "ro");
	snprintf(acct, sizeof(acct), "%s/acct", soft);
	CHECK_STR(json_string_value(json_object_get(m1, "hostPath")), acct);
	struct stat sb;
	CHECK(stat(acct, &sb) == 0 && S_ISDIR(sb.st_mode)); /* created: the mount needs it */
	/* The limits file, read-only over its place, after the directory (mount order). */
	json_t *m2 = json_array_get(json_object_get(e, "mounts"), 2);
	snprintf(want, sizeof(want), "%s.limits", l.acct_path);
	CHECK_STR(json_string_value(json_object_get(m2, "hostPath")), want);
	CHECK_STR(json_string_value(json_object_get(m2, "containerPath")), want);
	CHECK_STR(json_string_value(json_array_get(json_object_get(m2, "options"), 0)), "ro");
	CHECK_EQ_U(json_array_size(json_object_get(e, "mounts")), 3);
	json_decref(s);
}

TEST(write_atomic)
{
	setup();
	struct vmig_err err = {0};
	char path[400], bad[400];
	CHECK_EQ_I(vmig_cdi_spec_path(dir, "vmig.dev/gpu", path, sizeof(path), &err), 0);
	char want[400];
	snprintf(want, sizeof(want), "%s/vmig.dev-gpu.json", dir);
	CHECK_STR(path, want);
	CHECK_EQ_I(vmig_cdi_spec_path(dir, "v/gpu", path, sizeof(path), &err),
		   -VMIG_E_INVALID_ARGUMENT);
	snprintf(path, sizeof(path), "%s/vmig.dev-gpu.json", dir);
	const char a[] = "{\"a\": 1}", b[] = "{\"b\": [1, 2, 3]}";
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 300; i++)
			if (vmig_cdi_write(path, i % 2 ? a : b, NULL) < 0)
				_exit(1);
		_exit(0);
	}
	/* The reader: every read it gets is one whole spec or the other. */
	int reads = 0, torn = 0, status = 0;
	pid_t done = 0;
	while (done == 0 || reads == 0) {
		if (done == 0)
			done = waitpid(pid, &status, WNOHANG);
		FILE *f = fopen(path, "r");
		char buf[64] = {0};
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		reads++;
		if (strcmp(buf, "{\"a\": 1}\n") != 0 && strcmp(buf, "{\"b\": [1, 2, 3]}\n") != 0)
			torn++;
	}
	CHECK_EQ_I(done, pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(reads > 10);
	CHECK_EQ_I(torn, 0);
	snprintf(bad, sizeof(bad), "%s/nodir/x.json", dir);
	CHECK_EQ_I(vmig_cdi_write(bad, a, &err), -VMIG_E_IO);
	CHECK(strstr(err.msg, "cannot write a file in") != NULL);
	/* nothing but the spec is left in the directory */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | grep -v mig-minors | wc -l) = 1", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(kinds);
	RUN(devices_and_names);
	RUN(host_paths_kind_and_version);
	RUN(minors_errors);
	RUN(software_partition);
	RUN(write_atomic);
	return harness_done();
}
