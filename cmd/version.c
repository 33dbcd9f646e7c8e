/* SPDX-License-Identifier: MIT */
/*
 * b10t --version: the version, and which libraries are loaded only when
 * needed, on one line; with -v every library and its version, as curl -V
 * lists libcurl's (one line each, name first, for grep and eyes alike).
 */
#include <stdio.h>

#include "cmd.h"

void cmd_version(const struct cmd *c)
{
	struct b10t_library libs[B10T_LIBRARIES_MAX];
	size_t n = b10t_libraries(libs, B10T_LIBRARIES_MAX, c->verbose > 0);

	/* One line, as scripts read it ("b10t 0.1.0 ..."), naming the dlopen ones. */
	printf("b10t %s (dlopen:", B10T_VERSION_STRING);
	for (size_t i = 0, first = 1; i < n; i++)
		if (libs[i].dlopen) {
			printf("%s %s", first ? "" : ",", libs[i].name);
			first = 0;
		}
	printf(")\n");
	if (!c->verbose)
		return;
	printf("Linked:\n");
	for (size_t i = 0; i < n; i++)
		if (!libs[i].dlopen)
			printf("  %-14s %s (%s)\n", libs[i].name,
			       libs[i].version[0] ? esc(libs[i].version) : "unknown", libs[i].use);
	printf("Loaded when needed (dlopen):\n");
	for (size_t i = 0; i < n; i++) {
		const struct b10t_library *l = &libs[i];

		if (!l->dlopen)
			continue;
		if (!l->found)
			printf("  %-14s not found (%s)\n", l->name, l->use);
		else
			printf("  %-14s %s (%s) %s\n", l->name,
			       l->version[0] ? esc(l->version) : "unknown", l->use, esc(l->path));
	}
}
