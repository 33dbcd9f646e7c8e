/* SPDX-License-Identifier: MIT */
/*
 * Every name b10t knows, in the store and on the local side, built and
 * parsed from one table of patterns (lib/names.c; docs/store-protocol.md,
 * "Names in the store", and "Local staging").  A new name is one row there.
 */
#ifndef B10T_NAMES_H
#define B10T_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>

#include "b10t-int.h"

#pragma GCC visibility push(hidden)

enum b10t_name_kind {
	B10T_NAME_NONE = 0,	/* not a name of ours: every verb leaves it alone */
	/* the store */
	B10T_NAME_LATEST,	/* cache_<key>.latest.tar.{lz4,gz}: legacy published archive */
	B10T_NAME_CLAIM,	/* cache_<key>.g<n>: claim of generation n */
	B10T_NAME_GEN,		/* cache_<key>.g<n>.<uniq><ext>: its archive */
	B10T_NAME_BASE_CLAIM,	/* cache_<key>.b<n>: claim of a compacted base */
	B10T_NAME_BASE,		/* cache_<key>.b<n>.<uniq><ext>: its archive */
	B10T_NAME_CLAIM_TEMP,	/* cache_<key>.incomplete.<tag>.claim: a claim being written */
	B10T_NAME_UPLOAD,	/* cache_<key>.incomplete[.*] (and other writers' cache_*.incomplete*) */
	B10T_NAME_CORRUPT,	/* cache_<key>.corrupt.* : an archive load moved aside */
	B10T_NAME_MARKER,	/* cache_<key>.used: the key's use marker */
	B10T_NAME_LOCK,		/* *.lock: the reference's locks */
	B10T_NAME_NFS,		/* .nfs*: NFS silly-renames, never touched */
	B10T_NAME_DOCTOR,	/* .b10t-doctor.<tag>: a publish probe dir */
	B10T_NAME_STATS_DIR,	/* .b10t-stats: the dir of the statistics (lib/stats.c) */
	B10T_NAME_KEY_PREFIX,	/* cache_<key>. : built only, for a cheap first test */
	/* the local side: next to and inside the cache dir */
	B10T_NAME_STAGING,	/* .<base>.b10t-staging.<tag>: a load's staging, next to it */
	B10T_NAME_CLEAR,	/* .<base>.b10t-clear.<tag>: a cache dir clear renamed aside */
	B10T_NAME_INSIDE,	/* .b10t-staging.<tag>: a load's staging inside the cache dir */
	B10T_NAME_INSTALL,	/* .b10t-installing: the in-place install marker */
	/* inside the stats dir */
	B10T_NAME_STATS_LOG,	/* <host>.log: one host's records, appended */
	B10T_NAME_STATS_ZERO,	/* zero: the time of the last b10t stats --zero */
	B10T_NAME_STATS_TEMP,	/* .tmp.<tag>: a file being written (zero, gc's trim) */
};

/* Where a name lives: store names and local names are parsed apart. */
enum b10t_name_side { B10T_SIDE_STORE, B10T_SIDE_LOCAL, B10T_SIDE_STATS };

/* The stats dir in the store (docs/store-protocol.md, "Statistics"). */
#define B10T_STATS_DIR ".b10t-stats"

/* The install marker: a symlink to the staging dir (lib/local.c). */
#define B10T_INSTALL_MARKER ".b10t-installing"

/*
 * A name's parts.  Parsing fills what the name's pattern holds; building
 * reads what the kind's pattern needs.
 */
struct b10t_name {
	enum b10t_name_kind kind;
	char key[NAME_MAX + 1];		/* "" when the pattern has none (cache_*.lock) */
	size_t key_off, key_len;	/* where the key sits in the parsed name */
	uint64_t gen;			/* claims and their archives: n */
	enum b10t_format format;	/* archives: from the extension */
	char uniq[NAME_MAX + 1];	/* generation archives: the writer's tag */
	const char *tag;		/* build: the suffix (b10t_writer_tag); parse: not set */
	const char *base;		/* local sibling names: the cache dir's name (in) */
	size_t rest_off;		/* parse: where the <tag> part starts, for the debris rules */
};

/* The kind of `name` (NUL-terminated) on that side, its parts into *out
 * (may be NULL).  For sibling names out->base must be set on input. */
enum b10t_name_kind b10t_name_parse(enum b10t_name_side side, const char *name,
				    struct b10t_name *out);
/* Build the name of n->kind from n's parts into buf.  -ENAMETOOLONG (longer
 * than NAME_MAX or size), -EINVAL (bad key, a part missing). */
int b10t_name_build(char *buf, size_t size, const struct b10t_name *n);
/* The same for a key alone (markers, claims, legacy names...). */
int b10t_name_for_key(char *buf, size_t size, enum b10t_name_kind kind, const char *key,
		      uint64_t gen, enum b10t_format fmt);

/* "cache_<key>." into buf: what every store name of the key starts with,
 * a cheap first test before b10t_name_parse.  -EINVAL, -ENAMETOOLONG. */
int b10t_name_key_prefix(char *buf, size_t size, const char *key);

/* Who a writer's tag names: the host (store names), this pid namespace and
 * boot (local names: lib/local.c's debris rules), or nobody (pid only). */
enum b10t_tag_who { B10T_TAG_HOST, B10T_TAG_ORIGIN, B10T_TAG_PID };
/*
 * The one unique suffix every fresh name ends in: "<who><sep><pid><sep><16
 * hex random>" (who left out for B10T_TAG_PID).  The host becomes
 * [a-z0-9-] (lower case, anything else '-'), so the tag is one token per
 * sep and fits a <uniq>.  -ENAMETOOLONG.
 */
int b10t_writer_tag(char *buf, size_t size, enum b10t_tag_who who, char sep);
/* "ns<pid ns inode>-<8 hex of the boot id>" of this process, "" when unknown. */
const char *b10t_origin_tag(void);
/* A sibling's base part is the cache dir's name cut to this many bytes. */
#define B10T_NAME_BASE_MAX 160

/* The extension of a format, with its dot (".tar.lz4"). */
const char *b10t_format_ext(enum b10t_format fmt);

#pragma GCC visibility pop

#endif
