/* SPDX-License-Identifier: MIT */
/* A tiny TAP producer for the unit tests: ok(), is_int(), is_str(), done(). */
#ifndef B10T_TAP_H
#define B10T_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		printf("#   failed at %s:%d\n", file, line);
		tap_failed++;
	}
	fflush(stdout);
	return pass;
}

#define is_int(got, want, name) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (!ok(g_ == w_, "%s", name)) \
		printf("#   got %lld, want %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!ok(g_ && w_ && !strcmp(g_, w_), "%s", name)) \
		printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

/* A fresh temp dir for the test program, under $TMPDIR or /tmp. */
static inline void tap_tmpdir(char *buf, size_t size, const char *name)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, size, "%s/b10t-%s.XXXXXX", t && *t == '/' ? t : "/tmp", name);
	if (!mkdtemp(buf)) {
		printf("Bail out! cannot make a temp dir %s\n", buf);
		exit(1);
	}
}

/* Remove it, or keep it for inspection when a test failed (absolute paths:
 * a test may have changed PATH). */
static inline void tap_rmdir(const char *dir)
{
	char cmd[2 * 4096 + 64];

	if (tap_failed) {
		printf("# left %s for inspection\n", dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "/bin/chmod -R u+w '%s'; /bin/rm -rf '%s'", dir, dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
