/*
 * workout.h — reading what tests/interpose/probe.c's "work" scenario prints,
 * the same way in the tests (tests/interpose/test_interpose.c) and the
 * benchmark (bench/bench_interpose.c): the figures of its "work" line, and
 * how long after a live share change its 100 ms windows settled.  C library
 * only.
 */
#ifndef VMIG_TESTS_WORKOUT_H
#define VMIG_TESTS_WORKOUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A figure of the "work" line of text (share, ofbusy, idle or rate); -1 when absent. */
static inline double workout_figure(const char *text, const char *key)
{
	const char *w = strstr(text, "work ");
	char k[32];
	snprintf(k, sizeof(k), " %s ", key);
	const char *s = w ? strstr(w, k) : NULL;
	return s ? atof(s + strlen(k)) : -1;
}

/*
 * How long after a live change (as -rg stores it) every 100 ms "window"
 * line stays within 3 points of want, in seconds; -1 if one never did.
 */
static inline double workout_settled(const char *text, double want)
{
	double last_bad = 0, t = 0, v = 0;
	int n = 0;
	for (const char *p = strstr(text, "window "); p; p = strstr(p + 1, "window ")) {
		if (sscanf(p, "window %lf %lf", &t, &v) != 2)
			break;
		n++;
		if (v < want - 3 || v > want + 3)
			last_bad = t;
	}
	return n >= 5 && last_bad < t ? last_bad : -1;
}

#endif
