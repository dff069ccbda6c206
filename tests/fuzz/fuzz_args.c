/*
 * fuzz_args.c — the vmig command line parser (cli_parse) on arbitrary argv.
 * The input is split at NUL bytes into words (argv[0] is "vmig"); nothing is
 * executed.  Beyond not crashing, the parser must keep its contract: a
 * success chooses an action, a failure leaves a one-line message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cli_cmd cmd;
	char *buf = malloc(size + 1);
	char *argv[MAX_WORDS + 2];
	char err[CLI_ERR_LEN];
	int argc = 1;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	static char prog[] = "vmig";
	argv[0] = prog;
	for (size_t i = 0; i <= size && argc <= MAX_WORDS;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	if (size == 0)
		argc = 1;
	argv[argc] = NULL;
	if (cli_parse(argc, argv, &cmd, err, sizeof(err)) == 0) {
		if (cmd.action == CLI_NONE || cmd.verb >= CLI_VERB__COUNT)
			abort();
		if (cmd.gpus.n > CLI_MAX_ITEMS || cmd.gi.n > CLI_MAX_ITEMS ||
		    cmd.ci.n > CLI_MAX_ITEMS || cmd.profiles.n > CLI_MAX_ITEMS)
			abort();
	} else if (err[0] == '\0' || strchr(err, '\n')) {
		abort();
	}
	free(buf);
	return 0;
}
