/*
 * fuzz_state.c — libFuzzer target over the state file format: the parser
 * (every refusal must come with a code and a message), then, for every text
 * it accepts, the validator and a format/parse round trip, which must give
 * back the same state and the same canonical text, with the same verdict
 * from the validator.  A broken invariant traps, so the fuzzer reports it.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: the record is 64 KiB. */
	static struct vmig_state a, b;
	struct vmig_err e = {0};
	char *t1 = NULL, *t2 = NULL;
	size_t n1 = 0, n2 = 0;

	int rc = vmig_state_parse((const char *)data, size, &a, &e);
	if (rc != 0) {
		REQUIRE(rc == -VMIG_E_CORRUPT || rc == -VMIG_E_NEWER_VERSION);
		REQUIRE(e.code == -rc && e.msg[0] != '\0');
		return 0;
	}
	bool valid = vmig_state_validate(&a, &e) == 0;
	REQUIRE(valid || (e.code == VMIG_E_CORRUPT && e.msg[0] != '\0'));
	/* Whatever the parser accepts, the serialiser can write and the parser read back. */
	REQUIRE(vmig_state_format(&a, &t1, &n1) == 0);
	REQUIRE(strlen(t1) == n1);
	REQUIRE(vmig_state_parse(t1, n1, &b, &e) == 0);
	REQUIRE(vmig_state_format(&b, &t2, &n2) == 0);
	REQUIRE(n1 == n2 && memcmp(t1, t2, n1) == 0);
	REQUIRE(b.generation == a.generation && b.ngpu == a.ngpu);
	for (unsigned i = 0; i < a.ngpu; i++)
		REQUIRE(a.gpu[i].model == b.gpu[i].model && a.gpu[i].ngi == b.gpu[i].ngi);
	REQUIRE(valid == (vmig_state_validate(&b, NULL) == 0));
	free(t1);
	free(t2);
	return 0;
}
