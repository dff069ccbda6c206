/*
 * fuzz_config.c — libFuzzer target over mig-parted's config and hooks
 * formats (lib/config.c): the input is parsed as both.  A config that is
 * accepted is resolved, label by label, against a node of several
 * catalogue models, and every target must name a GPU of the node and
 * profiles of its model; the node's export and generated config must be
 * accepted in turn.  A broken invariant traps, so the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmig/vmig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static struct vmig_state *node(void)
{
	static const char *const models[] = {"a100-40gb", "h100-80gb", "rtx-4090", "rtx-pro-6000",
					     "h100-80gb"};
	static struct vmig_state *st;
	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	REQUIRE(st != NULL);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		REQUIRE(vmig_state_add_gpu(st, vmig_model_find(models[i]), NULL) == 0);
	st->gpu[1].mig_current = st->gpu[1].mig_pending = 1;
	return st;
}

static void check_target(const struct vmig_state *st, unsigned k,
			 const struct vmig_config_target *t)
{
	if (!t->covered || t->skip)
		return;
	const struct vmig_model *m = st->gpu[k].model;
	REQUIRE(t->want.gpu == k && t->want.mig_mode <= 1);
	REQUIRE(t->want.ndev <= VMIG_LAYOUT_MAX_DEVS);
	REQUIRE(t->want.mig_mode == 1 || t->want.ndev == 0);
	for (unsigned d = 0; d < t->want.ndev; d++) {
		const struct vmig_gi_profile *gp =
		    vmig_gi_profile_by_id(m, t->want.dev[d].gi_profile_id);
		REQUIRE(gp != NULL);
		REQUIRE(vmig_ci_profile_by_id(gp, t->want.dev[d].ci_profile_id) != NULL);
		REQUIRE(t->want.dev[d].count > 0);
	}
}

static void reparse(const char *text)
{
	struct vmig_config *c = NULL;
	REQUIRE(vmig_config_parse("out", text, strlen(text), &c, NULL) == 0);
	vmig_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct vmig_state *st = node();
	struct vmig_config *c = NULL;
	struct vmig_hooks *h = NULL;
	struct vmig_err err = {0};

	if (vmig_hooks_parse("fuzz", text, size, &h, &err) == 0) {
		for (unsigned p = 0; p < VMIG_HOOK__COUNT; p++)
			for (size_t i = 0; i < h->n[p]; i++)
				REQUIRE(h->hook[p][i].argv[0] && h->hook[p][i].envp);
		vmig_hooks_free(h);
	} else {
		REQUIRE(err.code == VMIG_E_INVALID_ARGUMENT && err.msg[0]);
	}
	if (vmig_config_parse("fuzz", text, size, &c, &err) < 0) {
		REQUIRE(err.code == VMIG_E_INVALID_ARGUMENT && strncmp(err.msg, "fuzz:", 5) == 0);
		REQUIRE(strchr(err.msg, '\n') == NULL);
		return 0;
	}
	REQUIRE(vmig_config_nlabels(c) > 0);
	struct vmig_config_target t[VMIG_MAX_GPUS];
	for (size_t l = 0; l < vmig_config_nlabels(c); l++) {
		size_t found;
		REQUIRE(vmig_config_find(c, vmig_config_label(c, l), &found, NULL) == 0);
		if (vmig_config_resolve(c, l, st, t, &err) < 0) {
			REQUIRE(err.code == VMIG_E_INVALID_ARGUMENT);
			continue;
		}
		for (unsigned k = 0; k < st->ngpu; k++)
			check_target(st, k, &t[k]);
	}
	vmig_config_free(c);
	/* What vmig writes for this node reads back (in both formats, with a label that needs
	 * quotes). */
	char *out = NULL;
	if (size % 7 == 0) {
		enum vmig_config_format fmt = (enum vmig_config_format)(size & 1);
		REQUIRE(vmig_config_export(st, size % 3 ? "current" : "true", fmt, &out, NULL) ==
			0);
		reparse(out);
		free(out);
		REQUIRE(vmig_config_generate(st, fmt, &out, NULL) == 0);
		reparse(out);
		free(out);
	}
	return 0;
}
