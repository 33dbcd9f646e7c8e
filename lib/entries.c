/* SPDX-License-Identifier: MIT */
/*
 * Entry lists: a table of entries by path (for the delta and for unpack's
 * check), and the frame that carries an archive's list after its lz4
 * frame.  The frame is an lz4 skippable frame, so any lz4 decoder skips
 * it, found from the end of the file so that an updater reads two small
 * pieces of each archive and never the archive itself:
 *
 *   u32 B10T_LIST_MAGIC | u32 len - 8 | "B10TIDX1" | u64 json_len
 *   | u64 XXH64(json) | lz4 block of the JSON | u64 len | "B10TEND1"
 *
 * (little-endian, len = the whole frame).  The JSON is the manifest with
 * its "entries" (manifest.c); one lz4 block of it, since lists are a few
 * MiB at most and compress about 5x (paths share their prefixes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#include "archive-int.h"
#include "internal.h"

#define HEAD 32		/* skippable header, tag, json_len, hash */
#define TAIL 16		/* len, end tag */

int b10t_entry_set_init(struct b10t_entry_set *s, size_t expect)
{
	size_t cap = 64;

	while (cap < 2 * expect + 2)
		cap *= 2;
	s->n = 0;
	s->cap = cap;
	s->slot = calloc(cap, sizeof(*s->slot));
	return s->slot ? 0 : -ENOMEM;
}

static size_t find(const struct b10t_entry_set *s, const char *path)
{
	size_t i = (size_t)XXH3_64bits(path, strlen(path)) & (s->cap - 1);

	while (s->slot[i] && strcmp(s->slot[i]->path, path))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int grow(struct b10t_entry_set *s)
{
	struct b10t_entry_set g = { s->n, s->cap * 2, calloc(s->cap * 2, sizeof(*s->slot)) };

	if (!g.slot)
		return -ENOMEM;
	for (size_t j = 0; j < s->cap; j++)
		if (s->slot[j])
			g.slot[find(&g, s->slot[j]->path)] = s->slot[j];
	free(s->slot);
	*s = g;
	return 0;
}

int b10t_entry_set_put(struct b10t_entry_set *s, const struct b10t_entry *e,
		       const struct b10t_entry **old)
{
	size_t i;

	/* At most half full, so a probe always ends at an empty slot. */
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	i = find(s, e->path);
	if (old)
		*old = s->slot[i];
	if (!s->slot[i])
		s->n++;
	s->slot[i] = e;
	return 0;
}

const struct b10t_entry *b10t_entry_set_get(const struct b10t_entry_set *s, const char *path)
{
	return s->slot ? s->slot[find(s, path)] : NULL;
}

void b10t_entry_set_free(struct b10t_entry_set *s)
{
	free(s->slot);
	s->slot = NULL;
	s->n = s->cap = 0;
}

static void put64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
}

static uint64_t get64(const char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

int b10t_list_frame(const struct b10t_manifest *m, char **buf, size_t *len)
{
	char *json = b10t_manifest_write(m), *out;
	size_t jlen, bound, total;
	int clen;

	*buf = NULL;
	if (!json)
		return -ENOMEM;
	jlen = strlen(json);
	if (jlen > B10T_LIST_JSON_MAX) {
		free(json);
		return -EFBIG;
	}
	bound = (size_t)LZ4_compressBound((int)jlen);
	out = malloc(HEAD + bound + TAIL);
	if (!out) {
		free(json);
		return -ENOMEM;
	}
	clen = LZ4_compress_default(json, out + HEAD, (int)jlen, (int)bound);
	total = HEAD + (size_t)clen + TAIL;
	if (clen <= 0 || total > B10T_LIST_FRAME_MAX) {
		free(json);
		free(out);
		return clen <= 0 ? -ENOMEM : -EFBIG;
	}
	put64(out, B10T_LIST_MAGIC | (uint64_t)(total - 8) << 32);
	memcpy(out + 8, "B10TIDX1", 8);
	put64(out + 16, jlen);
	put64(out + 24, XXH64(json, jlen, 0));
	put64(out + HEAD + clen, total);
	memcpy(out + HEAD + clen + 8, "B10TEND1", 8);
	free(json);
	*buf = out;
	*len = total;
	return 0;
}

int b10t_list_unframe(struct b10t_ctx *ctx, const char *buf, size_t len, struct b10t_manifest *m)
{
	uint64_t jlen;
	char *json;
	int n, r;

	memset(m, 0, sizeof(*m));
	if (len < HEAD + TAIL || len > B10T_LIST_FRAME_MAX ||
	    get64(buf) != (B10T_LIST_MAGIC | (uint64_t)(len - 8) << 32) ||
	    memcmp(buf + 8, "B10TIDX1", 8) || get64(buf + len - TAIL) != len ||
	    memcmp(buf + len - 8, "B10TEND1", 8))
		return b10t_set_error(ctx, EBADMSG, "corrupt archive: bad entry-list frame");
	jlen = get64(buf + 16);
	if (jlen > B10T_LIST_JSON_MAX)
		return b10t_set_error(ctx, EBADMSG, "corrupt archive: entry list of %llu bytes",
				      (unsigned long long)jlen);
	if (!(json = malloc(jlen + 1)))
		return b10t_set_error(ctx, ENOMEM, "reading the entry list: out of memory");
	n = LZ4_decompress_safe(buf + HEAD, json, (int)(len - HEAD - TAIL), (int)jlen);
	if (n < 0 || (uint64_t)n != jlen || XXH64(json, jlen, 0) != get64(buf + 24)) {
		free(json);
		return b10t_set_error(ctx, EBADMSG, "corrupt archive: entry list checksum");
	}
	json[jlen] = '\0';
	r = b10t_manifest_parse_list(ctx, json, jlen, m);
	if (!r && !m->has_entries)
		r = b10t_set_error(ctx, EBADMSG, "corrupt archive: entry list without entries");
	free(json);
	if (r < 0)
		b10t_manifest_free(m);
	return r;
}

static int pread_all(int fd, char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int b10t_read_list_fd(struct b10t_ctx *ctx, int fd, struct b10t_manifest *m)
{
	struct stat st;
	char tail[TAIL], *buf;
	uint64_t len;
	int r;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, &st) < 0)
		return b10t_set_error(ctx, errno, "reading the entry list: %s", strerror(errno));
	if (st.st_size < (off_t)(HEAD + TAIL) ||
	    (r = pread_all(fd, tail, TAIL, st.st_size - TAIL)) == -EBADMSG)
		return b10t_set_error(ctx, ENOENT, "the archive has no entry list");
	if (r < 0)
		return b10t_set_error(ctx, -r, "reading the entry list: %s", strerror(-r));
	if (memcmp(tail + 8, "B10TEND1", 8))
		return b10t_set_error(ctx, ENOENT, "the archive has no entry list");
	len = get64(tail);
	if (len < HEAD + TAIL || len > B10T_LIST_FRAME_MAX || len > (uint64_t)st.st_size)
		return b10t_set_error(ctx, EBADMSG, "corrupt archive: bad entry-list frame");
	if (!(buf = malloc(len)))
		return b10t_set_error(ctx, ENOMEM, "reading the entry list: out of memory");
	r = pread_all(fd, buf, len, st.st_size - (off_t)len);
	if (r < 0)
		r = r == -EBADMSG ? b10t_set_error(ctx, EBADMSG, "corrupt archive: truncated entry list")
				  : b10t_set_error(ctx, -r, "reading the entry list: %s", strerror(-r));
	else
		r = b10t_list_unframe(ctx, buf, len, m);
	free(buf);
	return r;
}
