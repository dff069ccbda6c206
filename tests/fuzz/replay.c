/*
 * replay.c — runs a fuzz target over its stored corpus without libFuzzer, so
 * `make check` keeps every interesting input as a regression test with any
 * compiler.  Usage: replay_<name> [DIR|FILE...]; with no argument it replays
 * tests/fuzz/corpus/<name>/ (the name is taken from argv[0]).  A corpus that
 * is missing, unreadable or empty fails: replaying nothing would pass
 * without testing anything.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("FAIL - %s: cannot open\n", path);
		return 1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return 1;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* Give the target an exact-size copy, so ASan catches reads past the end. */
	uint8_t *exact = malloc(len ? len : 1);
	if (len)
		memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int replay_path(const char *path, int *count)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		printf("FAIL - %s: no such corpus\n", path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		printf("FAIL - %s: cannot read the corpus\n", path);
		return 1;
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name);
			failed |= replay_path(sub, count);
		}
		free(names[i]);
	}
	free(names);
	return failed;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strncmp(base, "replay_", 7) == 0)
		base += 7;
	int failed = 0, count = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			failed |= replay_path(argv[i], &count);
	} else {
		char dir[512];
		snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", base);
		failed |= replay_path(dir, &count);
	}
	if (!failed && count == 0) {
		printf("FAIL - fuzz corpus %s: no inputs to replay\n", base);
		failed = 1;
	}
	/* A crash never gets here; reaching it means every input was handled. */
	if (!failed)
		printf("ok - fuzz corpus %s replayed (%d inputs)\n", base, count);
	return failed;
}
