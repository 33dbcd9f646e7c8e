/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests that build trees on disk share: their temp dir,
 * paths under it, and shell commands that must work (tests/unit/fixture.c).
 * tap.h makes and removes the dir: tap_tmpdir(top, sizeof(top), NAME).
 */
#ifndef B10T_FIXTURE_H
#define B10T_FIXTURE_H

#include <limits.h>

/* The test program's temp dir. */
extern char top[PATH_MAX];

/* top/ followed by the printf-formatted rest; the last 8 stay valid. */
char *path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command; a failure is a TAP "Bail out!". */
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
