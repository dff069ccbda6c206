/*
 * main.c — the vmig command's entry point: parse (args.c, pure), then carry
 * the command out (exec.c).  A bad command line is one line on stderr and
 * exit status 2 (NVML's "Invalid Argument"), before anything is touched.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	static struct cli_cmd cmd;
	char err[CLI_ERR_LEN];
	if (cli_parse(argc, argv, &cmd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmig: %s\n", err);
		return 2;
	}
	return cli_exec(&cmd);
}
