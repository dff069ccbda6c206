/*
 * nvml_seed.c — writes a state directory holding simulated GPUs of the given
 * catalogue models, in order, for the ABI tests:
 *	nvml_seed DIR MODEL...
 * It goes through the state store like every other writer (lock, commit).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vmig/vmig.h"

int main(int argc, char **argv)
{
	struct vmig_err err = {0};
	struct vmig_store *s;
	if (argc < 3) {
		fprintf(stderr, "usage: nvml_seed DIR MODEL...\n");
		return 2;
	}
	struct vmig_state *st = calloc(1, sizeof(*st));
	if (!st || vmig_store_open(argv[1], &s, &err) < 0 || vmig_store_begin(s, st, &err) < 0) {
		fprintf(stderr, "nvml_seed: %s\n", err.msg);
		return 1;
	}
	st->ngpu = 0;
	for (int i = 2; i < argc; i++) {
		const struct vmig_model *m = vmig_model_find(argv[i]);
		if (!m || vmig_state_add_gpu(st, m, &err) < 0) {
			fprintf(stderr, "nvml_seed: bad model %s\n", argv[i]);
			vmig_store_abort(s);
			return 1;
		}
	}
	int r = vmig_store_commit(s, st, &err);
	if (r < 0)
		fprintf(stderr, "nvml_seed: %s\n", err.msg);
	vmig_store_close(s);
	free(st);
	return r < 0;
}
