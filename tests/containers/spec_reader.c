/*
 * spec_reader.c — the reader of tests/containers/keep.sh: parses a CDI spec
 * with jansson again and again, while vmig commands rewrite it, until a stop
 * file appears.  Every read must find the file and parse it whole into a
 * spec (an object with cdiVersion, kind and a list of devices): a spec read
 * half-written, or missing for a moment, is a failure (exit 1, one line).
 * Prints how many reads it made and how many different device counts it saw
 * (so the caller knows the spec did change under it).
 * Usage: spec_reader SPEC STOPFILE
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_COUNTS 64

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: spec_reader SPEC STOPFILE\n");
		return 2;
	}
	size_t seen[MAX_COUNTS], nseen = 0;
	unsigned long reads = 0;
	/* One more read after the stop file appeared: the last writer has finished. */
	for (int last = 0; !last;) {
		last = access(argv[2], F_OK) == 0;
		json_error_t e;
		json_t *spec = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &e);
		if (!spec) {
			fprintf(stderr, "read %lu of %s: line %d: %s\n", reads + 1, argv[1], e.line,
				e.text);
			return 1;
		}
		json_t *devices = json_object_get(spec, "devices");
		if (!json_is_string(json_object_get(spec, "cdiVersion")) ||
		    !json_is_string(json_object_get(spec, "kind")) || !json_is_array(devices)) {
			fprintf(stderr, "read %lu of %s: not a whole spec\n", reads + 1, argv[1]);
			json_decref(spec);
			return 1;
		}
		size_t n = json_array_size(devices), i = 0;
		while (i < nseen && seen[i] != n)
			i++;
		if (i == nseen && nseen < MAX_COUNTS)
			seen[nseen++] = n;
		json_decref(spec);
		reads++;
	}
	printf("%lu %zu\n", reads, nseen);
	return 0;
}
