/* SPDX-License-Identifier: MIT */
/*
 * b10t doctor: what the store's and the cache dir's filesystems can do, and
 * which publish path save will use.  The work is lib/doctor.c's; it writes
 * only in a probe dir of the store that it removes.  Exit 0 when save can
 * publish to the store, 1 (with the reason) when not.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static cJSON *fs_json(const struct b10t_fs_info *fs)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "exists", fs->exists);
	if (!fs->exists) {
		cJSON_AddStringToObject(o, "error", fs->error);
		return o;
	}
	cJSON_AddStringToObject(o, "fstype", fs->fstype[0] ? fs->fstype : fs->statfs_type);
	cJSON_AddStringToObject(o, "statfs_type", fs->statfs_type);
	json_add_u64(o, "statfs_magic", fs->f_type);
	cJSON_AddStringToObject(o, "mount", fs->mount);
	cJSON_AddStringToObject(o, "source", fs->source);
	cJSON_AddBoolToObject(o, "mount_point", fs->mount_point);
	if (fs->has_space) {
		json_add_u64(o, "bytes_free", fs->bytes_free);
		json_add_u64(o, "bytes_total", fs->bytes_total);
		json_add_u64(o, "inodes_free", fs->inodes_free);
		json_add_u64(o, "inodes_total", fs->inodes_total);
	}
	return o;
}

/* {"ok": true} or {"ok": false, "error": "..."}; null when not tried. */
static void cap_json(cJSON *o, const char *name, const struct b10t_cap *cap)
{
	cJSON *c;

	if (!cap->tried) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	c = cJSON_AddObjectToObject(o, name);
	cJSON_AddBoolToObject(c, "ok", cap->ok);
	if (!cap->ok)
		cJSON_AddStringToObject(c, "error", cap->why);
}

static cJSON *doctor_json(const struct cmd *c, const struct b10t_doctor *d)
{
	cJSON *o = cJSON_CreateObject(), *s, *p;
	const struct b10t_publish_probe *pr = &d->probe;

	cJSON_AddStringToObject(o, "status", d->can_publish ? "SUCCESS" : "ERROR");
	if (!d->can_publish)
		cJSON_AddStringToObject(o, "error", d->verdict);
	cJSON_AddStringToObject(o, "store_dir", c->cfg.store_dir);
	cJSON_AddStringToObject(o, "cache_dir", c->cfg.cache_dir);
	cJSON_AddBoolToObject(o, "b10fs_enabled", d->store_enabled);
	s = fs_json(&d->store);
	cJSON_AddBoolToObject(s, "writable", d->store_writable);
	if (!pr->ran && pr->setup_error[0])
		cJSON_AddStringToObject(s, "probe_error", pr->setup_error);
	cJSON_AddItemToObject(o, "store", s);
	p = cJSON_AddObjectToObject(o, "probe");
	cap_json(p, "renameat2_noreplace", &pr->rename_noreplace);
	cap_json(p, "link", &pr->link);
	cap_json(p, "st_nlink", &pr->nlink);
	if (pr->nlink.tried)
		json_add_u64(cJSON_GetObjectItem(p, "st_nlink"), "value", pr->link_nlink);
	cap_json(p, "o_excl", &pr->excl);
	cap_json(p, "fsync", &pr->fsync);
	cap_json(p, "atime", &pr->atime);
	if (pr->atime.tried)
		cJSON_AddBoolToObject(cJSON_GetObjectItem(p, "atime"), "moves_mtime",
				      pr->atime_moves_mtime);
	cJSON_AddItemToObject(o, "cache", fs_json(&d->cache));
	cJSON_AddStringToObject(o, "publish_path", pr->ran ? b10t_publish_path_name(pr->path) : "unknown");
	cJSON_AddStringToObject(o, "codec", b10t_format_name(b10t_save_codec(&c->cfg)));
	cJSON_AddBoolToObject(o, "can_publish", d->can_publish);
	cJSON_AddStringToObject(o, "verdict", d->verdict);
	return o;
}

static void fs_text(const char *label, const struct b10t_fs_info *fs)
{
	char size[32], key[32];

	if (!fs->exists) {
		printf("%-22s missing: %s\n", label, esc_msg(fs->error));
		return;
	}
	printf("%-22s %s (statfs %s), %s%s, from %s\n", label,
	       fs->fstype[0] ? fs->fstype : fs->statfs_type, fs->statfs_type,
	       fs->mount_point ? "a mount point" : "inside the mount ", fs->mount_point ? "" : esc(fs->mount),
	       fs->source[0] ? esc(fs->source) : "?");
	if (fs->has_space) {
		snprintf(key, sizeof(key), "  free:");
		printf("%-22s %s (%" PRIu64 " bytes) of %s, %" PRIu64 " of %" PRIu64 " inodes\n",
		       key, human_bytes(fs->bytes_free, size, sizeof(size)), fs->bytes_free,
		       human_bytes(fs->bytes_total, (char[32]){ 0 }, 32), fs->inodes_free,
		       fs->inodes_total);
	}
}

static void cap_text(const char *label, const struct b10t_cap *cap, const char *extra)
{
	if (!cap->tried)
		printf("%-22s not tried\n", label);
	else if (cap->ok)
		printf("%-22s yes%s\n", label, extra ? extra : "");
	else
		printf("%-22s no: %s\n", label, esc_msg(cap->why));
}

static void doctor_text(const struct cmd *c, const struct b10t_doctor *d)
{
	const struct b10t_publish_probe *pr = &d->probe;

	printf("%-22s %s\n", "store_dir:", esc(c->cfg.store_dir));
	fs_text("  filesystem:", &d->store);
	if (d->store.exists)
		printf("%-22s %s%s%s\n", "  writable:", d->store_writable ? "yes" : "no",
		       d->store_writable ? "" : ": ", d->store_writable ? "" : esc_msg(pr->setup_error));
	if (pr->ran) {
		cap_text("  renameat2 NOREPLACE:", &pr->rename_noreplace, NULL);
		cap_text("  link:", &pr->link, NULL);
		cap_text("  st_nlink after link:", &pr->nlink, " (2)");
		cap_text("  O_EXCL:", &pr->excl, NULL);
		cap_text("  fsync:", &pr->fsync, NULL);
		cap_text("  atime kept:", &pr->atime, pr->atime_moves_mtime ?
			 " (but the update moves the mtime too)" : NULL);
	}
	printf("%-22s %s\n", "cache_dir:", esc(c->cfg.cache_dir));
	fs_text("  filesystem:", &d->cache);
	if (!pr->ran)
		printf("%-22s unknown (no probe)\n", "publish:");
	else if (pr->path == B10T_PUBLISH_NONE)
		printf("%-22s none: this filesystem cannot publish safely\n", "publish:");
	else
		printf("%-22s %s\n", "publish:", b10t_publish_path_name(pr->path));
	printf("%-22s %s%s\n", "codec:", b10t_format_name(b10t_save_codec(&c->cfg)),
	       c->cfg.codec == B10T_CODEC_AUTO ? " (B10T_CODEC=auto, by the store's filesystem)" : "");
	printf("%-22s %s\n", "verdict:", esc_msg(d->verdict));
}

int cmd_doctor(struct cmd *c)
{
	static struct b10t_doctor d;
	int r;

	b10t_doctor(&c->cfg, &d);
	if (c->json)
		r = cmd_print_json(c, doctor_json(c, &d)) < 0;
	else {
		if (!c->quiet || !d.can_publish)	/* -q: nothing when all is well */
			doctor_text(c, &d);
		r = 0;
	}
	if (!d.can_publish) {
		cmd_error(c, "%s", esc_msg(d.verdict));
		return 1;
	}
	return r ? 1 : 0;
}
