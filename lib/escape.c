/* SPDX-License-Identifier: MIT */
/*
 * One escaping rule for every byte string b10t echoes that it did not write
 * itself: a setting's value, a file name read from the store or the cache
 * dir, a field of an archive's manifest.  Printed as is, a name holding a
 * newline or an escape sequence could forge a report line or drive the
 * terminal; escaped, it is always one line of printable ASCII.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "b10t-int.h"

static const char *escape(char *dst, size_t size, const char *s, size_t max,
			  bool backslash)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, n = 0, cap;

	if (size < 8) {
		if (size)
			dst[0] = '\0';
		return dst;
	}
	cap = (size - 4) / 4;	/* "\xNN" per byte, then "..." and the NUL */
	if (!max || max > cap)
		max = cap;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
		unsigned c = *p;

		if (n == max) {
			/* Cut: the rest of a 5000-byte value helps nobody. */
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '\\' && backslash) {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else if (c == '\n' || c == '\r' || c == '\t') {
			dst[o++] = '\\';
			dst[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c >= 0x7f) {
			/* Bytes >= 0x80 too: a lone C1 byte (0x9b) is a CSI on
			 * some terminals, and b10t's own names are ASCII. */
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return dst;
}

const char *b10t_escape(char *dst, size_t size, const char *s, size_t max)
{
	return escape(dst, size, s, max, true);
}

/*
 * A message already built from escaped pieces: its backslashes are the
 * escapes' own, so only the control bytes are left to make safe.
 */
const char *b10t_escape_msg(char *dst, size_t size, const char *s)
{
	return escape(dst, size, s, 0, false);
}
