/*
 * fuzz_exec.c — fuzzed command lines parsed *and carried out*, in process,
 * against a rich multi-GPU state on tmpfs; after each one the state must
 * still load and validate (vmig_store_read validates), whatever the command
 * did or refused.
 *
 * The state is reset before every input to a fixed rich one: eight random
 * valid GPUs of catalogue models (simulated, MIG enabled or not, with GIs and
 * CIs; software-partition records too), committed through the store.  The
 * input is split at NUL bytes into words (argv[0] is "vmig"), as in
 * fuzz_args.c.  Commands that replace the process (`vmig run`) or could
 * write outside the state directory are parsed but not carried out
 * (carried_out below).  The command's output goes to /dev/null.  The state
 * directory is under /dev/shm when it exists (no disk I/O per input), else
 * under TMPDIR, and is removed at exit.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gen.h"
#include "tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 64

static char dir[256];
static struct vmig_state rich;
static struct vmig_store *store;

static void cleanup(void)
{
	if (store)
		vmig_store_close(store);
	if (dir[0])
		test_rmtree(dir);
}

static void setup(void)
{
	/*
	 * Each command allocates and frees several state records of 64 KiB;
	 * without this the heap grows and shrinks (brk, page faults) around
	 * every input, which is most of the time an input takes.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
	if (shm)
		setenv("TMPDIR", shm, 1);
	if (!test_mkdtemp(dir, sizeof(dir), "fuzz-exec"))
		abort();
	setenv("VMIG_STATE_DIR", dir, 1);
	unsetenv("VMIG_SOFT_STATE_DIR");
	setenv("VMIG_BACKEND", "sim", 1);
	setenv("VMIG_LOCK_TIMEOUT", "1", 1);
	gen_state(&rich, 0xf022ed, 8);
	struct vmig_err e = {0};
	if (vmig_state_validate(&rich, &e) || vmig_store_open(dir, &store, &e))
		abort();
	atexit(cleanup);
}

/*
 * The command's output is noise here (its errors are judged by the state
 * afterwards): stdout and stderr go to /dev/null while it runs, and come
 * back for the replayer's and the fuzzer's own reports.
 */
static void quiet(bool on)
{
	static int saved[2] = {-1, -1};
	fflush(NULL);
	if (on) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		for (int fd = 1; fd <= 2; fd++) {
			saved[fd - 1] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			if (null >= 0)
				dup2(null, fd);
		}
		if (null >= 0)
			close(null);
		return;
	}
	for (int fd = 1; fd <= 2; fd++)
		if (saved[fd - 1] >= 0) {
			dup2(saved[fd - 1], fd);
			close(saved[fd - 1]);
			saved[fd - 1] = -1;
		}
}

static void reset_state(void)
{
	static struct vmig_state st;
	struct vmig_err e = {0};
	if (vmig_store_begin(store, &st, &e))
		abort();
	uint64_t gen = st.generation;
	memcpy(&st, &rich, sizeof(st));
	st.generation = gen;
	if (vmig_store_commit(store, &st, &e))
		abort();
}

/*
 * Which commands are carried out: the main command line and the verbs that
 * only touch the state (mig, sim).  Others would replace the process (run)
 * or, being new, might write files where a fuzzed path points; each is added
 * here once its effects are confined to the state directory.
 */
static bool carried_out(const struct cli_cmd *cmd)
{
	return (cmd->verb == CLI_VERB_TOP || cmd->verb == CLI_VERB_mig ||
		cmd->verb == CLI_VERB_sim) &&
	       cmd->action != CLI_RUN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cli_cmd cmd;
	static struct vmig_state after;
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
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
	reset_state();
	if (cli_parse(argc, argv, &cmd, err, sizeof(err)) == 0 && carried_out(&cmd)) {
		quiet(true);
		cli_exec(&cmd);
		quiet(false);
	}
	struct vmig_err e = {0};
	/* Whatever happened, the state still loads and validates. */
	if (vmig_store_read(store, &after, &e) != 0)
		abort();
	free(buf);
	return 0;
}
