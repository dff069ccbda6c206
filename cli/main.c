/*
 * main.c — the vmig command's entry point: parse (args.c, pure), then carry
 * the command out (exec.c).  A bad command line is one line on stderr and
 * exit status 2 (NVML's "Invalid Argument"), before anything is touched.
 * Every change the command makes rewrites the CDI specs kept current
 * (vmig cdi enable); a spec that cannot be rewritten is one line on stderr,
 * and the change and the command's status stay (docs/containers.md).
 */
#include <stdio.h>

#include "cli.h"

static void spec_not_updated(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "vmig: %s\n", msg);
}

int main(int argc, char **argv)
{
	static struct cli_cmd cmd;
	char err[CLI_ERR_LEN];
	if (cli_parse(argc, argv, &cmd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmig: %s\n", err);
		return 2;
	}
	vmig_cdi_keep_install(spec_not_updated, NULL);
	return cli_exec(&cmd);
}
