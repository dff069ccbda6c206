/*
 * nvml_seed.c — writes a state directory holding simulated GPUs of the given
 * catalogue models, in order, for the ABI tests that cannot link libvmig
 * (the client, pynvml.sh, the NVML benchmark):
 *	nvml_seed DIR MODEL[:swapped]...
 * It is test_seed_gpus (tests/lib/gpus.h) as a program; a model written
 * MODEL:swapped gets the swapped GI numbering (docs/placement.md, section 2).
 */
#include <stdio.h>
#include <string.h>

#include "gpus.h"

int main(int argc, char **argv)
{
	struct vmig_err err = {0};
	static char models[VMIG_MAX_GPUS][64];
	const char *keys[VMIG_MAX_GPUS];
	bool swapped[VMIG_MAX_GPUS] = {false}, any = false;
	if (argc < 3 || argc - 2 > VMIG_MAX_GPUS) {
		fprintf(stderr, "usage: nvml_seed DIR MODEL[:swapped]...\n");
		return 2;
	}
	unsigned n = (unsigned)argc - 2;
	for (unsigned i = 0; i < n; i++) {
		snprintf(models[i], sizeof(models[i]), "%s", argv[i + 2]);
		char *colon = strchr(models[i], ':');
		if (colon && strcmp(colon, ":swapped") == 0) {
			*colon = '\0';
			swapped[i] = any = true;
		}
		keys[i] = models[i];
	}
	if (test_seed_gpus(argv[1], keys, n, false, NULL, &err) < 0) {
		fprintf(stderr, "nvml_seed: %s\n", err.msg);
		return 1;
	}
	if (!any)
		return 0;
	/* A second change: the GPUs are still empty, so any numbering is valid. */
	struct vmig_store *s = NULL;
	struct vmig_state *st = calloc(1, sizeof(*st));
	int rc = st ? vmig_store_open(argv[1], &s, &err) : -1;
	if (rc == 0 && (rc = vmig_store_begin(s, st, &err)) == 0) {
		for (unsigned i = 0; i < n && i < st->ngpu; i++)
			if (swapped[i])
				st->gpu[i].gi_numbering = VMIG_GI_NUMBERING_SWAPPED;
		rc = vmig_store_commit(s, st, &err);
	}
	vmig_store_close(s);
	free(st);
	if (rc < 0) {
		fprintf(stderr, "nvml_seed: %s\n", err.msg);
		return 1;
	}
	return 0;
}
