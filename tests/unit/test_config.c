/*
 * test_config.c — mig-parted's config and hooks formats (lib/config.c) and
 * the files vmig writes (lib/config_export.c): every rule of the format and
 * every error, with its exact message (file, line, column, key); the
 * selection of each GPU's layout; assert's comparison; export and generate
 * byte for byte; and export read back on every catalogue model.
 */
#include "harness.h"
#include "vmig/vmig.h"

#define FILE_NAME "t.yaml"

/* Parse text; the parsed config, or NULL (err filled in). */
static struct vmig_config *parse(const char *text, struct vmig_err *err)
{
	struct vmig_config *c = NULL;
	if (vmig_config_parse(FILE_NAME, text, strlen(text), &c, err) < 0)
		return NULL;
	return c;
}

static void check_ok(const char *text)
{
	struct vmig_err err = {0};
	struct vmig_config *c = parse(text, &err);
	if (!c)
		HARNESS_FAIL("refused: %s\n---\n%s", err.msg, text);
	vmig_config_free(c);
}

/* The text must be refused with exactly msg ("t.yaml:" is prefixed). */
static void check_err(const char *text, const char *msg)
{
	struct vmig_err err = {0};
	char want[600];
	snprintf(want, sizeof(want), FILE_NAME ":%s", msg);
	struct vmig_config *c = parse(text, &err);
	if (c) {
		HARNESS_FAIL("accepted, expected: %s\n---\n%s", want, text);
		vmig_config_free(c);
		return;
	}
	if (err.code != VMIG_E_INVALID_ARGUMENT || strcmp(err.msg, want) != 0)
		HARNESS_FAIL("message\n  got:  %s\n  want: %s\n---\n%s", err.msg, want, text);
}

#define HEAD "version: v1\nmig-configs:\n  x:\n"

TEST(accepts_the_format)
{
	check_ok(HEAD "  - devices: all\n    mig-enabled: false\n");
	check_ok(HEAD "  - devices: all\n    mig-enabled: false\n    mig-devices: {}\n");
	check_ok(HEAD "  - devices: [0, 1]\n    mig-enabled: true\n    mig-devices: {}\n");
	check_ok(HEAD "  - devices: []\n    mig-enabled: true\n    mig-devices: {}\n");
	check_ok(HEAD "  - device-filter: \"0x233010DE\"\n    devices: all\n    mig-enabled: true\n"
		      "    mig-devices:\n      1g.10gb: 7\n");
	check_ok(HEAD "  - device-filter: [\"0x233010de\", '0x20B010DE:0x145F10DE']\n"
		      "    devices: all\n    mig-enabled: true\n"
		      "    mig-devices: {1c.3g.40gb: 3, 1g.10gb+me: 1, 1g.24gb-me: 0, "
		      "1g.24gb+me.all: 1, 1g.24gb+gfx: 2}\n");
	check_ok(HEAD "  - device-filter: []\n    devices: all\n    mig-enabled: True\n"
		      "    mig-devices: {\"3g.40gb\": 2}\n");
	/* JSON is YAML. */
	check_ok(
	    "{\"version\": \"v1\", \"mig-configs\": {\"a\": [{\"devices\": \"all\", "
	    "\"mig-enabled\": true, \"mig-devices\": {\"1g.10gb\": 7}}], \"b\": [{\"devices\": "
	    "[0], \"mig-enabled\": false}]}}");
	/* Anchors and aliases. */
	check_ok("version: v1\nmig-configs:\n  a:\n  - &e {devices: all, mig-enabled: false}\n"
		 "  b:\n  - *e\n");
	/* A document marker and a comment. */
	check_ok("---\n# a comment\n" HEAD "  - devices: all\n    mig-enabled: false\n...\n");
}

TEST(labels_in_order)
{
	struct vmig_err err = {0};
	struct vmig_config *c = parse("version: v1\nmig-configs:\n  b: [{devices: all, "
				      "mig-enabled: false}]\n  a: [{devices: all, mig-enabled: "
				      "false}]\n",
				      &err);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ_U(vmig_config_nlabels(c), 2);
	CHECK_STR(vmig_config_label(c, 0), "b");
	CHECK_STR(vmig_config_label(c, 1), "a");
	CHECK(vmig_config_label(c, 2) == NULL);
	size_t i = 9;
	CHECK_EQ_I(vmig_config_find(c, "a", &i, &err), 0);
	CHECK_EQ_U(i, 1);
	CHECK_EQ_I(vmig_config_find(c, "zz", &i, &err), -VMIG_E_NOT_FOUND);
	CHECK_STR(err.msg, "t.yaml: selected mig-config not present: zz");
	CHECK_EQ_I(vmig_config_find(c, NULL, &i, &err), -VMIG_E_INVALID_ARGUMENT);
	CHECK_STR(err.msg, "t.yaml: 2 mig-configs: select one with -c");
	vmig_config_free(c);
	c = parse(HEAD "  - {devices: all, mig-enabled: false}\n", &err);
	CHECK(c && vmig_config_find(c, NULL, &i, &err) == 0 && i == 0);
	vmig_config_free(c);
}

TEST(document_errors)
{
	check_err("", "1:1: the file is empty");
	check_err("# only a comment\n", "1:1: the file is empty");
	check_err("- a\n", "1:1: expected a mapping (version, mig-configs), found a list");
	check_err("v1\n", "1:1: expected a mapping (version, mig-configs), found a string");
	check_err(HEAD "  - devices: all\n    mig-enabled: false\n---\nversion: v1\n",
		  "6:1: more than one YAML document");
	check_err("version: v1\nmig-configs: {x: [{devices: all, mig-enabled: !!bool false}]}\n",
		  "2:47: mig-configs.x[0].mig-enabled: explicit tags are not allowed "
		  "(tag:yaml.org,2002:bool)");
	struct vmig_err err = {0};
	CHECK(parse("version: v1\nmig-configs: [\n", &err) == NULL);
	CHECK(strncmp(err.msg, "t.yaml:3:1: YAML syntax error: ", 31) == 0);
	CHECK(parse("version: v1\n\tmig-configs: {}\n", &err) == NULL);
	CHECK(strncmp(err.msg, "t.yaml:2:1: YAML syntax error: ", 31) == 0);
}

TEST(top_level_errors)
{
	check_err("mig-configs: {x: [{devices: all, mig-enabled: false}]}\n",
		  "1:1: missing key 'version'");
	check_err("version: v1\n", "1:1: missing key 'mig-configs'");
	check_err("version: v2\nmig-configs: {}\n", "1:10: version: unknown version 'v2' (only "
						    "v1 exists)");
	/* Quoted text stays one printable line. */
	check_err("version: \"v1\\nx\"\n",
		  "1:10: version: unknown version 'v1?x' (only v1 exists)");
	check_err("version: 1\n", "1:10: version: expected a string, found an integer (quote it "
				  "to make it a string)");
	check_err("version: v1\nversion: v1\n", "2:1: duplicate key 'version' (first at line 1)");
	check_err("version: v1\nmig-config: {}\n", "2:1: unknown key 'mig-config' (version, "
						   "mig-configs)");
	check_err("version: v1\nmig-configs: {}\n", "2:14: mig-configs: no labels");
	check_err("version: v1\nmig-configs: []\n", "2:14: mig-configs: expected a mapping of "
						    "labels, found a list");
	check_err("version: v1\nmig-configs:\n  x: []\n", "3:6: mig-configs.x: the label has no "
							  "entries");
	check_err("version: v1\nmig-configs:\n  x: {}\n", "3:6: mig-configs.x: expected a list of "
							  "entries, found a mapping");
	check_err("version: v1\nmig-configs:\n  1: [{devices: all, mig-enabled: false}]\n",
		  "3:3: mig-configs: expected a key, found an integer (quote it to make it "
		  "a string)");
	check_err("version: v1\nmig-configs:\n  x: [{devices: all, mig-enabled: false}]\n"
		  "  x: [{devices: all, mig-enabled: false}]\n",
		  "4:3: mig-configs: duplicate key 'x' (first at line 3)");
	check_err("version: v1\nmig-configs:\n  \"\": [{devices: all, mig-enabled: false}]\n",
		  "3:3: mig-configs.: empty label");
}

TEST(entry_errors)
{
	check_err(HEAD "  - mig-enabled: false\n", "4:5: mig-configs.x[0]: missing key 'devices'");
	check_err(HEAD "  - devices: all\n", "4:5: mig-configs.x[0]: missing key 'mig-enabled'");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n",
		  "4:5: mig-configs.x[0]: missing key 'mig-devices' (required with mig-enabled: "
		  "true)");
	check_err(HEAD "  - devices: all\n    mig-enable: true\n",
		  "5:5: mig-configs.x[0]: unknown key 'mig-enable' (device-filter, devices, "
		  "mig-enabled, mig-devices)");
	check_err(HEAD "  - devices: all\n    devices: all\n",
		  "5:5: mig-configs.x[0]: duplicate key 'devices' (first at line 4)");
	check_err(HEAD "  - all\n", "4:5: mig-configs.x[0]: expected a mapping (devices, "
				    "mig-enabled, ...), found a string");
	check_err(HEAD "  - devices: all\n    mig-enabled: false\n    mig-devices: {1g.5gb: 1}\n",
		  "6:18: mig-configs.x[0].mig-devices: MIG devices included when 'mig-enabled' is "
		  "false");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: 0}\n",
		  "6:18: mig-configs.x[0].mig-devices: every count is 0 (write {} for no devices)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: []\n",
		  "6:18: mig-configs.x[0].mig-devices: expected a mapping of profile names to "
		  "counts, found a list");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices:\n",
		  "6:17: mig-configs.x[0].mig-devices: expected a mapping of profile names to "
		  "counts, found null");
}

TEST(value_errors)
{
	check_err(HEAD "  - devices: some\n    mig-enabled: false\n",
		  "4:14: mig-configs.x[0].devices: expected all or a list of GPU indexes, found "
		  "'some'");
	check_err(HEAD "  - devices: 0\n    mig-enabled: false\n",
		  "4:14: mig-configs.x[0].devices: expected all or a list of GPU indexes, found "
		  "'0'");
	check_err(HEAD "  - devices: {a: 1}\n    mig-enabled: false\n",
		  "4:14: mig-configs.x[0].devices: expected all or a list of GPU indexes, found a "
		  "mapping");
	check_err(HEAD "  - devices: [0, -1]\n    mig-enabled: false\n",
		  "4:18: mig-configs.x[0].devices[1]: a GPU index must not be negative (-1)");
	check_err(HEAD "  - devices: [\"0\"]\n    mig-enabled: false\n",
		  "4:15: mig-configs.x[0].devices[0]: expected a GPU index, found a string");
	check_err(HEAD "  - devices: [007]\n    mig-enabled: false\n",
		  "4:15: mig-configs.x[0].devices[0]: expected a GPU index as a decimal number up "
		  "to 999999, found '007'");
	check_err(HEAD "  - devices: [1000000]\n    mig-enabled: false\n",
		  "4:15: mig-configs.x[0].devices[0]: expected a GPU index as a decimal number up "
		  "to 999999, found '1000000'");
	check_err(HEAD "  - devices: all\n    mig-enabled: yes\n",
		  "5:18: mig-configs.x[0].mig-enabled: expected true or false, found 'yes' (YAML "
		  "1.1 booleans are not accepted)");
	check_err(HEAD "  - devices: all\n    mig-enabled: \"true\"\n",
		  "5:18: mig-configs.x[0].mig-enabled: expected true or false, found a string");
	check_err(HEAD "  - devices: all\n    mig-enabled: 1\n",
		  "5:18: mig-configs.x[0].mig-enabled: expected true or false, found an integer");
}

TEST(filter_errors)
{
	check_err(HEAD "  - device-filter: 0x233010DE\n    devices: all\n    mig-enabled: false\n",
		  "4:20: mig-configs.x[0].device-filter: expected a PCI ID string \"0xDDDDVVVV\", "
		  "found an integer (quote it to make it a string)");
	check_err(HEAD "  - device-filter: \"0x2330\"\n    devices: all\n    mig-enabled: false\n",
		  "4:20: mig-configs.x[0].device-filter: invalid device filter '0x2330' "
		  "(0xDDDDVVVV: device and vendor ID, optionally :0xSSSSssss)");
	check_err(HEAD "  - device-filter: \"233010DE\"\n    devices: all\n    mig-enabled: "
		       "false\n",
		  "4:20: mig-configs.x[0].device-filter: invalid device filter '233010DE' "
		  "(0xDDDDVVVV: device and vendor ID, optionally :0xSSSSssss)");
	check_err(HEAD "  - device-filter: \"0x233010DE:0x1\"\n    devices: all\n    mig-enabled: "
		       "false\n",
		  "4:20: mig-configs.x[0].device-filter: invalid device filter '0x233010DE:0x1' "
		  "(0xDDDDVVVV: device and vendor ID, optionally :0xSSSSssss)");
	check_err(HEAD "  - device-filter: \"0x233010DEx\"\n    devices: all\n    mig-enabled: "
		       "false\n",
		  "4:20: mig-configs.x[0].device-filter: invalid device filter '0x233010DEx' "
		  "(0xDDDDVVVV: device and vendor ID, optionally :0xSSSSssss)");
	check_err(HEAD "  - device-filter: [\"0x233010DE\", 7]\n    devices: all\n    mig-enabled: "
		       "false\n",
		  "4:35: mig-configs.x[0].device-filter[1]: expected a PCI ID string "
		  "\"0xDDDDVVVV\", found an integer (quote it to make it a string)");
	check_err(HEAD "  - device-filter: {a: b}\n    devices: all\n    mig-enabled: false\n",
		  "4:20: mig-configs.x[0].device-filter: expected a string or a list of strings, "
		  "found a mapping");
}

TEST(profile_errors)
{
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5g: 1}\n",
		  "6:19: mig-configs.x[0].mig-devices.1g.5g: invalid MIG profile name '1g.5g' "
		  "([<C>c.]<G>g.<GB>gb with +me, +me.all, +gfx or -me)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {MIG 1g.5gb: "
		       "1}\n",
		  "6:19: mig-configs.x[0].mig-devices.MIG 1g.5gb: invalid MIG profile name 'MIG "
		  "1g.5gb' ([<C>c.]<G>g.<GB>gb with +me, +me.all, +gfx or -me)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb+ME: 1}\n",
		  "6:19: mig-configs.x[0].mig-devices.1g.5gb+ME: invalid MIG profile name "
		  "'1g.5gb+ME' ([<C>c.]<G>g.<GB>gb with +me, +me.all, +gfx or -me)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {3g.40gb: 1, "
		       "3c.3g.40gb: 1}\n",
		  "6:31: mig-configs.x[0].mig-devices.3c.3g.40gb: '3c.3g.40gb' names the same "
		  "profile as '3g.40gb'");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: 1, "
		       "1g.5gb: 2}\n",
		  "6:30: mig-configs.x[0].mig-devices: duplicate key '1g.5gb' (first at line 6)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: -1}\n",
		  "6:27: mig-configs.x[0].mig-devices.1g.5gb: a count must not be negative (-1)");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: "
		       "\"2\"}\n",
		  "6:27: mig-configs.x[0].mig-devices.1g.5gb: expected a count, found a string");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: 1.5}\n",
		  "6:27: mig-configs.x[0].mig-devices.1g.5gb: expected a count, found a number");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: 010}\n",
		  "6:27: mig-configs.x[0].mig-devices.1g.5gb: expected a count as a decimal "
		  "number up to 4096, found '010'");
	check_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: ~}\n",
		  "6:27: mig-configs.x[0].mig-devices.1g.5gb: expected a count, found null");
}

/* ---- resolution ---- */

static struct vmig_state *state_of(const char *const *models, unsigned n, unsigned mig)
{
	struct vmig_state *st = calloc(1, sizeof(*st));
	struct vmig_err err = {0};
	for (unsigned i = 0; st && i < n; i++)
		if (vmig_state_add_gpu(st, vmig_model_find(models[i]), &err) < 0)
			HARNESS_FAIL("add %s: %s", models[i], err.msg);
	for (unsigned i = 0; st && i < st->ngpu; i++)
		if (st->gpu[i].model->flags & VMIG_MF_MIG)
			st->gpu[i].mig_current = st->gpu[i].mig_pending = mig;
	return st;
}

/* Resolve the only label of text against st: 0 with ret filled, or the error. */
static int resolve(const char *text, const struct vmig_state *st, struct vmig_config_target *ret,
		   struct vmig_err *err)
{
	struct vmig_config *c = parse(text, err);
	if (!c)
		return -1000;
	int r = vmig_config_resolve(c, 0, st, ret, err);
	vmig_config_free(c);
	return r;
}

static void check_resolve_err(const char *text, const struct vmig_state *st, const char *msg)
{
	struct vmig_config_target t[VMIG_MAX_GPUS];
	struct vmig_err err = {0};
	int r = resolve(text, st, t, &err);
	if (r != -VMIG_E_INVALID_ARGUMENT || strcmp(err.msg, msg) != 0)
		HARNESS_FAIL("resolve: %d\n  got:  %s\n  want: %s", r, err.msg, msg);
}

TEST(resolves_profiles)
{
	static const char *const models[] = {"h100-80gb"};
	struct vmig_state *st = state_of(models, 1, 1);
	struct vmig_config_target t[VMIG_MAX_GPUS];
	struct vmig_err err = {0};
	const struct vmig_model *m = vmig_model_find("h100-80gb");
	const struct vmig_gi_profile *g3, *g2, *g1me;
	CHECK(vmig_gi_profile_lookup(m, "3g.40gb", &g3) == 0);
	CHECK(vmig_gi_profile_lookup(m, "2g.20gb", &g2) == 0);
	CHECK(vmig_gi_profile_lookup(m, "1g.10gb+me", &g1me) == 0);
	int r =
	    resolve(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1c.3g.40gb: "
			 "2, 2g.20gb: 1, 1g.10gb: 0, 1g.10gb+me: 1}\n",
		    st, t, &err);
	CHECK_EQ_I(r, 0);
	CHECK(t[0].covered && !t[0].skip);
	CHECK_EQ_U(t[0].want.gpu, 0);
	CHECK_EQ_U(t[0].want.mig_mode, 1);
	/* Counts of 0 are left out; the rest in file order. */
	CHECK_EQ_U(t[0].want.ndev, 3);
	CHECK_EQ_U(t[0].want.dev[0].gi_profile_id, g3->id);
	CHECK_EQ_U(t[0].want.dev[0].ci_profile_id, g3->ci[0].id);
	CHECK_EQ_U(t[0].want.dev[0].count, 2);
	CHECK_EQ_U(t[0].want.dev[1].gi_profile_id, g2->id);
	CHECK_EQ_U(t[0].want.dev[1].ci_profile_id, vmig_ci_profile_default(g2)->id);
	CHECK_EQ_U(t[0].want.dev[1].count, 1);
	CHECK_EQ_U(t[0].want.dev[2].gi_profile_id, g1me->id);
	CHECK_EQ_U(t[0].want.dev[2].ci_profile_id, vmig_ci_profile_default(g1me)->id);
	free(st);
}

TEST(resolve_errors)
{
	static const char *const models[] = {"h100-80gb", "rtx-4090"};
	struct vmig_state *st = state_of(models, 2, 1);
	char want[512];
	const char *h100 = vmig_model_find("h100-80gb")->name;
	snprintf(want, sizeof(want),
		 "t.yaml:6:19: mig-configs.x[0].mig-devices.1g.5gb: MIG profile '1g.5gb' not "
		 "found on GPU 0 (%s)",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {1g.5gb: "
			       "1}\n",
			  st, want);
	snprintf(want, sizeof(want),
		 "t.yaml:6:19: mig-configs.x[0].mig-devices.1g.10gb: count 8 is above the 7 that "
		 "GPU 0 (%s) can hold",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: "
			       "{1g.10gb: 8}\n",
			  st, want);
	snprintf(want, sizeof(want),
		 "t.yaml:6:19: mig-configs.x[0].mig-devices.1c.3g.40gb: count 7 is above the 6 "
		 "that GPU 0 (%s) can hold",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: "
			       "{1c.3g.40gb: 7}\n",
			  st, want);
	snprintf(want, sizeof(want),
		 "t.yaml:6:18: mig-configs.x[0].mig-devices: the devices need 3 GPU instances of "
		 "profile 3g.40gb, GPU 0 (%s) has at most 2",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: "
			       "{3g.40gb: 1, 1c.3g.40gb: 4}\n",
			  st, want);
	snprintf(want, sizeof(want),
		 "t.yaml:6:18: mig-configs.x[0].mig-devices: the devices need 12 of the 8 memory "
		 "slices of GPU 0 (%s)",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: "
			       "{3g.40gb: 2, 4g.40gb: 1}\n",
			  st, want);
	snprintf(want, sizeof(want),
		 "t.yaml:4:14: mig-configs.x[0].devices: GPU 1 (%s) is not MIG capable",
		 vmig_model_find("rtx-4090")->name);
	check_resolve_err(HEAD "  - devices: [1]\n    mig-enabled: true\n    mig-devices: {}\n", st,
			  want);
	/* An earlier entry is checked even when a later one wins. */
	snprintf(want, sizeof(want),
		 "t.yaml:6:19: mig-configs.x[0].mig-devices.9g.5gb: MIG profile '9g.5gb' not "
		 "found on GPU 0 (%s)",
		 h100);
	check_resolve_err(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {9g.5gb: "
			       "1}\n  - devices: all\n    mig-enabled: false\n",
			  st, want);
	free(st);
}

TEST(selection_semantics)
{
	static const char *const models[] = {"h100-80gb", "a100-40gb", "rtx-4090", "h100-80gb"};
	struct vmig_state *st = state_of(models, 4, 0);
	struct vmig_config_target t[VMIG_MAX_GPUS];
	struct vmig_err err = {0};
	/* A filter picks the boards; indexes pick GPUs; later entries win. */
	int r = resolve(HEAD "  - device-filter: \"0x233010DE\"\n    devices: all\n"
			     "    mig-enabled: true\n    mig-devices: {1g.10gb: 7}\n"
			     "  - devices: [3, 9]\n    mig-enabled: false\n",
			st, t, &err);
	CHECK_EQ_I(r, 0);
	CHECK(t[0].covered && !t[0].skip && t[0].want.mig_mode == 1 && t[0].want.ndev == 1);
	CHECK(!t[1].covered);
	CHECK(!t[2].covered);
	CHECK(t[3].covered && !t[3].skip && t[3].want.mig_mode == 0 && t[3].want.ndev == 0);
	/* devices: all skips a GPU without MIG; so does mig-enabled: false by index. */
	r = resolve(HEAD "  - devices: all\n    mig-enabled: true\n    mig-devices: {}\n", st, t,
		    &err);
	CHECK_EQ_I(r, 0);
	CHECK(t[2].covered && t[2].skip);
	CHECK(t[1].covered && !t[1].skip && t[1].want.mig_mode == 1);
	r = resolve(HEAD "  - devices: [2]\n    mig-enabled: false\n", st, t, &err);
	CHECK_EQ_I(r, 0);
	CHECK(t[2].covered && t[2].skip && !t[0].covered);
	/* The subsystem qualifier must match too. */
	char text[512];
	snprintf(text, sizeof(text),
		 HEAD "  - device-filter: \"0x20B010DE:0x%08X\"\n    devices: all\n"
		      "    mig-enabled: false\n  - device-filter: \"0x233010DE:0x%08X\"\n"
		      "    devices: all\n    mig-enabled: false\n",
		 vmig_model_find("a100-40gb")->pci_subsystem_id,
		 vmig_model_find("h100-80gb")->pci_subsystem_id ^ 1u);
	r = resolve(text, st, t, &err);
	CHECK_EQ_I(r, 0);
	CHECK(t[1].covered && !t[0].covered && !t[3].covered);
	free(st);
}

/* ---- assert's comparison ---- */

TEST(holds_compares_multisets)
{
	static const char *const models[] = {"h100-80gb"};
	struct vmig_state *st = state_of(models, 1, 1);
	struct vmig_gpu_state *g = &st->gpu[0];
	const struct vmig_gi_profile *g3, *g1;
	struct vmig_err err = {0};
	unsigned gi, ci;
	CHECK(vmig_gi_profile_lookup(g->model, "3g.40gb", &g3) == 0);
	CHECK(vmig_gi_profile_lookup(g->model, "1g.10gb", &g1) == 0);
	struct vmig_layout_gpu want = {.gpu = 0, .mig_mode = 1};
	CHECK(vmig_config_holds(g, &want, false));
	/* Two 1c CIs in a 3g GI, and one 1g GI with its default CI. */
	CHECK(vmig_gpu_create_gi(g, g3, NULL, &gi, &err) == 0);
	CHECK(vmig_gpu_create_ci(g, gi, &g3->ci[0], NULL, &ci, &err) == 0);
	CHECK(vmig_gpu_create_ci(g, gi, &g3->ci[0], NULL, &ci, &err) == 0);
	CHECK(vmig_gpu_create_gi(g, g1, NULL, &gi, &err) == 0);
	CHECK(vmig_gpu_create_ci(g, gi, vmig_ci_profile_default(g1), NULL, &ci, &err) == 0);
	CHECK(!vmig_config_holds(g, &want, false));
	CHECK(vmig_config_holds(g, &want, true));
	want.ndev = 2;
	want.dev[0] = (struct vmig_layout_dev){g1->id, vmig_ci_profile_default(g1)->id, 1};
	want.dev[1] = (struct vmig_layout_dev){g3->id, g3->ci[0].id, 2};
	CHECK(vmig_config_holds(g, &want, false));
	want.dev[1].count = 3;
	CHECK(!vmig_config_holds(g, &want, false));
	want.dev[1].count = 2;
	want.mig_mode = 0;
	CHECK(!vmig_config_holds(g, &want, true));
	want.mig_mode = 1;
	g->mig_pending = 0;
	CHECK(!vmig_config_holds(g, &want, true));
	free(st);
}

/* ---- export and generate ---- */

static char *export_of(const struct vmig_state *st, const char *label, enum vmig_config_format fmt)
{
	struct vmig_err err = {0};
	char *text = NULL;
	if (vmig_config_export(st, label, fmt, &text, &err) < 0)
		HARNESS_FAIL("export: %s", err.msg);
	return text;
}

/* Fill GPU k with default CIs of the GI profile, as many as fit. */
static void fill(struct vmig_state *st, unsigned k, const char *profile)
{
	struct vmig_gpu_state *g = &st->gpu[k];
	const struct vmig_gi_profile *gp;
	unsigned gi, ci;
	CHECK(vmig_gi_profile_lookup(g->model, profile, &gp) == 0);
	while (vmig_gpu_create_gi(g, gp, NULL, &gi, NULL) == 0)
		CHECK(vmig_gpu_create_ci(g, gi, vmig_ci_profile_default(gp), NULL, &ci, NULL) == 0);
}

TEST(export_layout)
{
	static const char *const models[] = {"h100-80gb", "a100-40gb", "a100-40gb", "rtx-4090"};
	struct vmig_state *st = state_of(models, 4, 1);
	fill(st, 1, "1g.5gb");
	fill(st, 2, "1g.5gb");
	char *y = export_of(st, "current", VMIG_CONFIG_YAML);
	CHECK_STR(y, "version: v1\n"
		     "mig-configs:\n"
		     "  current:\n"
		     "  - device-filter: \"0x233010DE\"\n"
		     "    devices: all\n"
		     "    mig-enabled: true\n"
		     "    mig-devices: {}\n"
		     "  - device-filter: \"0x20B010DE\"\n"
		     "    devices: all\n"
		     "    mig-enabled: true\n"
		     "    mig-devices:\n"
		     "      1g.5gb: 7\n");
	free(y);
	char *j = export_of(st, "now", VMIG_CONFIG_JSON);
	CHECK_STR(j, "{\n"
		     "  \"version\": \"v1\",\n"
		     "  \"mig-configs\": {\n"
		     "    \"now\": [\n"
		     "      {\n"
		     "        \"device-filter\": \"0x233010DE\",\n"
		     "        \"devices\": \"all\",\n"
		     "        \"mig-enabled\": true,\n"
		     "        \"mig-devices\": {}\n"
		     "      },\n"
		     "      {\n"
		     "        \"device-filter\": \"0x20B010DE\",\n"
		     "        \"devices\": \"all\",\n"
		     "        \"mig-enabled\": true,\n"
		     "        \"mig-devices\": {\n"
		     "          \"1g.5gb\": 7\n"
		     "        }\n"
		     "      }\n"
		     "    ]\n"
		     "  }\n"
		     "}");
	free(j);
	/* Two A100s that differ: indexes; the H100 and one A100 alike: filters merged. */
	st->gpu[2].ngi = 0;
	y = export_of(st, "current", VMIG_CONFIG_YAML);
	CHECK_STR(y, "version: v1\n"
		     "mig-configs:\n"
		     "  current:\n"
		     "  - device-filter:\n"
		     "    - \"0x233010DE\"\n"
		     "    - \"0x20B010DE\"\n"
		     "    devices:\n"
		     "    - 0\n"
		     "    - 2\n"
		     "    mig-enabled: true\n"
		     "    mig-devices: {}\n"
		     "  - device-filter: \"0x20B010DE\"\n"
		     "    devices:\n"
		     "    - 1\n"
		     "    mig-enabled: true\n"
		     "    mig-devices:\n"
		     "      1g.5gb: 7\n");
	free(y);
	/* One board type: no filter; one entry for all: no filter either. */
	static const char *const two[] = {"h100-80gb", "h100-80gb"};
	free(st);
	st = state_of(two, 2, 0);
	y = export_of(st, "current", VMIG_CONFIG_YAML);
	CHECK_STR(y, "version: v1\nmig-configs:\n  current:\n  - devices: all\n"
		     "    mig-enabled: false\n    mig-devices: {}\n");
	free(y);
	free(st);
}

TEST(export_key_order)
{
	static const char *const models[] = {"a100-40gb"};
	struct vmig_state *st = state_of(models, 1, 1);
	struct vmig_gpu_state *g = &st->gpu[0];
	const struct vmig_gi_profile *a, *b;
	unsigned gi, ci;
	CHECK(vmig_gi_profile_lookup(g->model, "1g.5gb", &a) == 0);
	CHECK(vmig_gi_profile_lookup(g->model, "1g.10gb", &b) == 0);
	CHECK(vmig_gpu_create_gi(g, b, NULL, &gi, NULL) == 0);
	CHECK(vmig_gpu_create_ci(g, gi, vmig_ci_profile_default(b), NULL, &ci, NULL) == 0);
	CHECK(vmig_gpu_create_gi(g, a, NULL, &gi, NULL) == 0);
	CHECK(vmig_gpu_create_ci(g, gi, vmig_ci_profile_default(a), NULL, &ci, NULL) == 0);
	/* YAML: numbers by value (5 before 10); JSON: bytes ("1g.10gb" first). */
	char *y = export_of(st, "current", VMIG_CONFIG_YAML);
	CHECK(y && strstr(y, "      1g.5gb: 1\n      1g.10gb: 1\n"));
	free(y);
	char *j = export_of(st, "current", VMIG_CONFIG_JSON);
	CHECK(j && strstr(j, "\"1g.10gb\": 1,\n          \"1g.5gb\": 1\n"));
	free(j);
	/* Labels that YAML would read as another type are quoted. */
	y = export_of(st, "true", VMIG_CONFIG_YAML);
	CHECK(y && strstr(y, "\n  \"true\":\n"));
	free(y);
	free(st);
}

TEST(generate_a100)
{
	static const char *const models[] = {"a100-40gb", "a100-40gb"};
	struct vmig_state *st = state_of(models, 2, 0);
	struct vmig_err err = {0};
	char *y = NULL;
	CHECK_EQ_I(vmig_config_generate(st, VMIG_CONFIG_YAML, &y, &err), 0);
	/* One board type: no device-filter; labels in the YAML encoder's order. */
	CHECK_STR(y, "version: v1\nmig-configs:\n"
		     "  all-1g.5gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      1g.5gb: 7\n"
		     "  all-1g.5gb.me:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      1g.5gb+me: 1\n"
		     "  all-1g.10gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      1g.10gb: 4\n"
		     "  all-2g.10gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      2g.10gb: 3\n"
		     "  all-3g.20gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      3g.20gb: 2\n"
		     "  all-4g.20gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      4g.20gb: 1\n"
		     "  all-7g.40gb:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      7g.40gb: 1\n"
		     "  all-balanced:\n  - devices: all\n    mig-enabled: true\n    mig-devices:\n"
		     "      1g.5gb: 2\n      2g.10gb: 1\n      3g.20gb: 1\n"
		     "  all-disabled:\n  - devices: all\n    mig-enabled: false\n"
		     "    mig-devices: {}\n"
		     "  all-enabled:\n  - devices: all\n    mig-enabled: true\n"
		     "    mig-devices: {}\n");
	free(y);
	free(st);
}

/* Every generated label and every export reads back, and resolves, on every model. */
TEST(round_trip_every_model)
{
	for (size_t i = 0; i < vmig_model_count(); i++) {
		const struct vmig_model *m = vmig_model_at(i);
		if (!(m->flags & VMIG_MF_MIG))
			continue;
		const char *models[] = {m->key, "h100-80gb"};
		struct vmig_state *st = state_of(models, 2, 1);
		struct vmig_err err = {0};
		struct vmig_config_target t[VMIG_MAX_GPUS];
		char *text = NULL;
		CHECK_EQ_I(vmig_config_generate(st, VMIG_CONFIG_YAML, &text, &err), 0);
		struct vmig_config *c = text ? parse(text, &err) : NULL;
		if (!c)
			HARNESS_FAIL("%s: generated config refused: %s", m->key, err.msg);
		for (size_t l = 0; c && l < vmig_config_nlabels(c); l++)
			if (vmig_config_resolve(c, l, st, t, &err) < 0)
				HARNESS_FAIL("%s: label %s: %s", m->key, vmig_config_label(c, l),
					     err.msg);
		vmig_config_free(c);
		free(text);
		/* A layout on GPU 0 (one of each GI profile that still fits), exported and read
		 * back. */
		for (unsigned p = 0; p < m->ngi; p++) {
			unsigned gi, ci;
			if (vmig_gpu_create_gi(&st->gpu[0], &m->gi[p], NULL, &gi, NULL) == 0)
				vmig_gpu_create_ci(&st->gpu[0], gi,
						   vmig_ci_profile_default(&m->gi[p]), NULL, &ci,
						   NULL);
		}
		for (int fmt = 0; fmt < 2; fmt++) {
			text = export_of(st, "current", (enum vmig_config_format)fmt);
			c = text ? parse(text, &err) : NULL;
			if (!c || vmig_config_resolve(c, 0, st, t, &err) < 0)
				HARNESS_FAIL("%s: export refused: %s\n%s", m->key, err.msg, text);
			else
				for (unsigned k = 0; k < st->ngpu; k++)
					if (!t[k].covered ||
					    !vmig_config_holds(&st->gpu[k], &t[k].want, false))
						HARNESS_FAIL("%s: GPU %u does not hold its export",
							     m->key, k);
			vmig_config_free(c);
			free(text);
		}
		free(st);
	}
}

/* ---- hooks ---- */

static struct vmig_hooks *hooks(const char *text, struct vmig_err *err)
{
	struct vmig_hooks *h = NULL;
	if (vmig_hooks_parse("h.yaml", text, strlen(text), &h, err) < 0)
		return NULL;
	return h;
}

static void check_hooks_err(const char *text, const char *msg)
{
	struct vmig_err err = {0};
	struct vmig_hooks *h = hooks(text, &err);
	if (h || strcmp(err.msg, msg) != 0)
		HARNESS_FAIL("hooks\n  got:  %s\n  want: %s", h ? "(accepted)" : err.msg, msg);
	vmig_hooks_free(h);
}

TEST(hooks_format)
{
	struct vmig_err err = {0};
	struct vmig_hooks *h = hooks("version: v1\nhooks:\n  apply-start:\n"
				     "  - command: /bin/echo\n    args: [a, 2, \"c d\"]\n"
				     "    envs: {X: 1, Z: two}\n    workdir: /tmp\n"
				     "  - command: true\n  apply-exit: []\n",
				     &err);
	CHECK(h != NULL);
	if (!h)
		return;
	CHECK_EQ_U(h->n[VMIG_HOOK_APPLY_START], 2);
	CHECK_EQ_U(h->n[VMIG_HOOK_APPLY_EXIT], 0);
	CHECK_EQ_U(h->n[VMIG_HOOK_PRE_APPLY_MODE], 0);
	struct vmig_hook *k = &h->hook[VMIG_HOOK_APPLY_START][0];
	CHECK_STR(k->argv[0], "/bin/echo");
	CHECK_STR(k->argv[1], "a");
	CHECK_STR(k->argv[2], "2");
	CHECK_STR(k->argv[3], "c d");
	CHECK(k->argv[4] == NULL);
	CHECK_STR(k->envp[0], "X=1");
	CHECK_STR(k->envp[1], "Z=two");
	CHECK(k->envp[2] == NULL);
	CHECK_STR(k->workdir, "/tmp");
	k = &h->hook[VMIG_HOOK_APPLY_START][1];
	CHECK_STR(k->argv[0], "true");
	CHECK(k->argv[1] == NULL && k->envp[0] == NULL && k->workdir == NULL);
	vmig_hooks_free(h);
	CHECK_STR(vmig_hook_name(VMIG_HOOK_PRE_APPLY_CONFIG), "pre-apply-config");
	check_hooks_err("version: v1\n", "h.yaml:1:1: missing key 'hooks'");
	check_hooks_err("hooks: {}\n", "h.yaml:1:1: missing key 'version'");
	check_hooks_err("version: v1\nhooks: {apply-end: []}\n",
			"h.yaml:2:9: hooks.apply-end: unknown hook 'apply-end' (apply-start, "
			"pre-apply-mode, pre-apply-config, apply-exit)");
	check_hooks_err("version: v1\nhooks: {apply-start: [{args: [x]}]}\n",
			"h.yaml:2:23: hooks.apply-start[0]: missing key 'command'");
	check_hooks_err("version: v1\nhooks: {apply-start: [{command: x, env: {}}]}\n",
			"h.yaml:2:36: hooks.apply-start[0]: unknown key 'env' (command, args, "
			"envs, workdir)");
	check_hooks_err("version: v1\nhooks: {apply-start: [{command: x, envs: [a]}]}\n",
			"h.yaml:2:42: hooks.apply-start[0].envs: expected a mapping of names to "
			"values, found a list");
	check_hooks_err("version: v1\nhooks: {apply-start: [{command: x, args: a}]}\n",
			"h.yaml:2:42: hooks.apply-start[0].args: expected a list of arguments, "
			"found a string");
	check_hooks_err("version: v1\nhooks: {apply-start: [{command: \"\"}]}\n",
			"h.yaml:2:33: hooks.apply-start[0].command: empty command");
	check_hooks_err(
	    "version: v1\nhooks: {apply-start: {command: x}}\n",
	    "h.yaml:2:22: hooks.apply-start: expected a list of hooks, found a mapping");
}

int main(void)
{
	RUN(accepts_the_format);
	RUN(labels_in_order);
	RUN(document_errors);
	RUN(top_level_errors);
	RUN(entry_errors);
	RUN(value_errors);
	RUN(filter_errors);
	RUN(profile_errors);
	RUN(resolves_profiles);
	RUN(resolve_errors);
	RUN(selection_semantics);
	RUN(holds_compares_multisets);
	RUN(export_layout);
	RUN(export_key_order);
	RUN(generate_a100);
	RUN(round_trip_every_model);
	RUN(hooks_format);
	return harness_done();
}
