/* SPDX-License-Identifier: MIT */
/* What the unit tests that build trees on disk share (fixture.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"

char top[PATH_MAX];

char *path(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static int i;
	char *b = bufs[i++ % 8];
	int n = snprintf(b, PATH_MAX, "%s/", top);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		printf("Bail out! command failed: %s\n", cmd);
		exit(1);
	}
}
