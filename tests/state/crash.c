/*
 * crash.c — writers killed at random moments never leave a state that
 * fails to load or that nobody committed.
 *
 * Three writer processes commit in a loop.  Every state they write is a
 * function of one sequence number (the seed of tests/lib/gen.h, whose
 * serial numbers carry it), and each writer bumps the number it read, so the
 * sequence grows in commit order.  After a successful commit a writer appends
 * the number to a log.  The parent kills a random writer with SIGKILL after a
 * random pause, a few hundred times, and after every kill checks that:
 *   - the state loads (through the store, and the raw file parses);
 *   - it is exactly the state of its sequence number (nothing torn or mixed);
 *   - its number never goes back, and is at least every number logged as
 *     committed before the check began;
 *   - the shared generation counter is at least the state's generation.
 * Usage: crash [KILLS]  (default 300; stops after 60 s in any case).  The
 * pauses and the victims are drawn from a seed printed at the start, which
 * VMIG_TEST_SEED sets to replay a failure's sequence of kills.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"
#include "proc.h"
#include "randseed.h"
#include "tmpdir.h"

#define WRITERS	     3
#define NGPU	     6
#define TIME_LIMIT_S 60

static char dir[512], logpath[600];

static void content(struct vmig_state *st, uint64_t seq)
{
	gen_state(st, seq, NGPU);
}

/* The sequence number a state carries: the seed in its serial numbers (0 for the default). */
static uint64_t seq_of(const struct vmig_state *st)
{
	unsigned long long n = 0;
	if (st->ngpu != NGPU || sscanf(st->gpu[0].serial, "1%12llu", &n) != 1)
		return 0;
	return n;
}

static bool is_content(const struct vmig_state *st, uint64_t seq)
{
	static struct vmig_state want;
	char *a = NULL, *b = NULL;
	content(&want, seq);
	want.generation = st->generation;
	if (vmig_state_format(st, &a, NULL) || vmig_state_format(&want, &b, NULL))
		return false;
	bool same = strcmp(a, b) == 0;
	free(a);
	free(b);
	return same;
}

static void writer(void)
{
	static struct vmig_state st;
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	int log = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (log < 0 || vmig_store_open(dir, &s, &e))
		_exit(2);
	for (;;) {
		if (vmig_store_begin(s, &st, &e)) {
			fprintf(stderr, "writer: %s\n", e.msg);
			_exit(3);
		}
		uint64_t next = seq_of(&st) + 1;
		content(&st, next);
		if (vmig_store_commit(s, &st, &e)) {
			fprintf(stderr, "writer: %s\n", e.msg);
			_exit(4);
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)next);
		if (write(log, line, (size_t)n) != n)
			_exit(5);
	}
}

static pid_t spawn(void)
{
	pid_t pid = fork();
	if (pid == 0)
		writer();
	return pid;
}

/* The highest number logged as committed (a line cut by a kill is ignored). */
static uint64_t logged_max(void)
{
	FILE *f = fopen(logpath, "r");
	uint64_t max = 0;
	char line[64];
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n'))
			break;
		uint64_t n = strtoull(line, NULL, 10);
		if (n > max)
			max = n;
	}
	fclose(f);
	return max;
}

/* The raw file parses without any lock: it is only ever replaced whole. */
static bool raw_file_parses(void)
{
	static struct vmig_state st;
	static char buf[1 << 20];
	char path[600];
	snprintf(path, sizeof(path), "%s/state", dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT;
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return vmig_state_parse(buf, n, &st, NULL) == 0 && vmig_state_validate(&st, NULL) == 0;
}

static int failures;

static __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL - crash: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

/* One check after a kill; *last is the number seen by the previous check. */
static void check(struct vmig_store *s, uint64_t *last)
{
	static struct vmig_state st;
	struct vmig_err e = {0};
	uint64_t committed = logged_max();
	if (vmig_store_read(s, &st, &e)) {
		fail("state does not load: %s", e.msg);
		return;
	}
	uint64_t seq = seq_of(&st);
	if (seq == 0 && st.ngpu != 1)
		fail("state carries no sequence number (%u GPUs)", st.ngpu);
	else if (seq > 0 && !is_content(&st, seq))
		fail("state %llu is not what was committed as %llu", (unsigned long long)seq,
		     (unsigned long long)seq);
	if (seq < *last)
		fail("sequence went back from %llu to %llu", (unsigned long long)*last,
		     (unsigned long long)seq);
	if (seq < committed)
		fail("committed %llu lost: the state has %llu", (unsigned long long)committed,
		     (unsigned long long)seq);
	/*
	 * A commit moves the counter after its rename, so a kill between the
	 * two leaves it one behind (the next commit repairs it); never more.
	 */
	if (vmig_store_generation(s) + 1 < st.generation)
		fail("counter %llu more than one behind the state's generation %llu",
		     (unsigned long long)vmig_store_generation(s),
		     (unsigned long long)st.generation);
	if (!raw_file_parses())
		fail("the raw state file does not parse");
	*last = seq;
}

int main(int argc, char **argv)
{
	unsigned kills = argc > 1 ? (unsigned)atoi(argv[1]) : 300;
	if (!test_mkdtemp(dir, sizeof(dir), "crash")) {
		printf("FAIL - crash: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(logpath, sizeof(logpath), "%s.log", dir);
	struct vmig_store *s = NULL;
	struct vmig_err e = {0};
	if (vmig_store_open(dir, &s, &e)) {
		printf("FAIL - crash: %s\n", e.msg);
		return 1;
	}
	uint64_t rng = test_seed("crash", TEST_SEED_DRAWN);
	pid_t pids[WRITERS];
	for (int i = 0; i < WRITERS; i++)
		pids[i] = spawn();
	time_t t0 = time(NULL);
	uint64_t last = 0;
	unsigned done = 0, torn = 0;
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
	for (; done < kills && time(NULL) - t0 < TIME_LIMIT_S && failures == 0; done++) {
		usleep((useconds_t)gen_below(&rng, 3000));
		int i = (int)gen_below(&rng, WRITERS);
		kill(pids[i], SIGKILL);
		int status = test_wait(pids[i]);
		if (status < 0 || !WIFSIGNALED(status)) {
			fail("writer exited by itself (status %d)", status);
		}
		struct stat sb;
		torn += stat(tmp, &sb) == 0; /* a kill inside a commit, or a leftover of one */
		check(s, &last);
		pids[i] = spawn();
	}
	for (int i = 0; i < WRITERS; i++) {
		kill(pids[i], SIGKILL);
		test_wait(pids[i]);
	}
	check(s, &last);
	if (last == 0) {
		fail("no commit ever landed");
	}
	vmig_store_close(s);
	if (failures == 0)
		printf("ok - crash: %u kills, %llu commits, a temp file left behind %u times\n",
		       done, (unsigned long long)last, torn);
	/* Leave the directory for inspection on failure. */
	if (failures == 0 && (test_rmtree(dir) != 0 || unlink(logpath) != 0))
		return 1;
	return failures ? 1 : 0;
}
