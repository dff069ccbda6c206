/*
 * vmig_simhw.c — the vmig command with simulated hardware under the soft
 * backend: the soft backend finds its "real GPUs" through the simulator
 * (the GPUs of $VMIG_STATE_DIR) instead of NVML.  tests/soft/e2e.sh drives
 * it, so software partitions are tested end to end on machines without a
 * GPU and without the simulated libnvidia-ml.so.1.
 */
#include "cli.h"
#include "backend.h"

int main(int argc, char **argv)
{
	static struct cli_cmd cmd;
	char err[CLI_ERR_LEN];
	vmig__soft_hw = &vmig__backend_sim;
	if (cli_parse(argc, argv, &cmd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmig: %s\n", err);
		return 2;
	}
	return cli_exec(&cmd);
}
