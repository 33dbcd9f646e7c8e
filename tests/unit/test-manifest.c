/* SPDX-License-Identifier: MIT */
/* Unit tests of the manifest: the writer, the reader on hostile input, the check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b10t-int.h"
#include "../tap.h"

static struct b10t_ctx ctx;

static int parse(const char *json, struct b10t_manifest *m)
{
	return b10t_manifest_parse(&ctx, json, strlen(json), m);
}

static void test_round_trip(void)
{
	struct b10t_envkey key = { .scheme = B10T_SCHEME_B10_TRANSFER, .key = "0123456789abcdef",
				   .n = 2 };
	struct b10t_manifest m, back;
	char *json;

	key.comp[0].name = "device_type";
	snprintf(key.comp[0].value, sizeof(key.comp[0].value), "cpu");
	key.comp[1].name = "torch_version";
	snprintf(key.comp[1].value, sizeof(key.comp[1].value), "2.4.0\n\"x\"");
	b10t_manifest_init(&m, &key, 12, (1ULL << 53) + 5, "/tmp/torchinductor_a\n");
	json = b10t_manifest_write(&m);
	ok(json != NULL, "the writer writes");
	ok(json && !strchr(json, '\n'), "on one line");
	ok(json && strstr(json, "\"bytes\":9007199254740997"), "a count over 2^53 is exact (raw)");
	/* ... which the reader, holding to 2^53, refuses: so write within it */
	m.bytes = 4096;
	free(json);
	json = b10t_manifest_write(&m);
	is_int(parse(json, &back), 0, "the reader reads what the writer wrote");
	is_str(back.key, "0123456789abcdef", "key");
	ok(back.has_scheme && back.scheme == B10T_SCHEME_B10_TRANSFER, "scheme");
	is_int(back.n, 2, "two components");
	is_str(back.comp[1].name, "torch_version", "component name");
	is_str(back.comp[1].value, "2.4.0\n\"x\"", "component value, quotes and newline kept");
	ok(back.has_files && back.files == 12, "files");
	ok(back.has_bytes && back.bytes == 4096, "bytes");
	ok(back.has_created && back.created_time > 1600000000, "created_time");
	is_str(back.b10t_version, B10T_VERSION_STRING, "b10t_version");
	is_int(back.version, 1, "b10t_manifest");
	is_str(back.cache_dir, "/tmp/torchinductor_a\n", "cache_dir, the dir it was saved from");
	free(json);
	b10t_manifest_init(&m, &key, 1, 1, NULL);
	json = b10t_manifest_write(&m);
	ok(json && !strstr(json, "cache_dir"), "no cache_dir given: none written");
	is_int(json ? parse(json, &back) : -1, 0, "and read back");
	ok(!back.cache_dir[0], "  as absent");
	free(json);
	is_int(parse("{}", &back), 0, "an empty object is a manifest with nothing to check");
	ok(!back.key[0] && !back.has_scheme && !back.has_files, "with nothing in it");
	is_int(parse("{\"key\":\"0123456789abcdef\",\"future_field\":[1,{\"x\":null}]}", &back), 0,
	       "unknown fields are ignored");
}

static void test_hostile(void)
{
	static const char *const bad[] = {
		"{\"files\":1e300}", "{\"bytes\":-1}", "{\"files\":1.5}", "{\"bytes\":-0.5}",
		"{\"files\":9007199254740993}", "{\"bytes\":1e19}", "{\"files\":-1e300}",
		"{\"created_time\":1e300}", "{\"b10t_manifest\":1e300}", "{\"files\":\"12\"}",
		"{\"bytes\":true}", "{\"bytes\":null}", "{\"files\":[1]}", "{\"key\":5}",
		"{\"key\":\"../../etc\"}", "{\"key\":\"0123456789abcdef0\"}", "{\"scheme\":\"md5\"}",
		"{\"scheme\":1}", "{\"components\":[]}", "{\"components\":{\"a\":1}}",
		"{\"host\":{}}", "{\"cache_dir\":7}", "[]", "\"str\"", "12", "null", "", "{", "{\"files\":1",
		"not json", NULL,
	};
	struct b10t_manifest m;
	char *huge, *deep;
	size_t n;

	for (size_t i = 0; bad[i]; i++) {
		int r = parse(bad[i], &m);

		ok(r == -EBADMSG, "invalid manifest refused: %s", bad[i]);
		ok(!strncmp(b10t_ctx_error(&ctx), "invalid manifest: ", 18),
		   "  said so: %s", b10t_ctx_error(&ctx));
	}
	is_int(parse("{\"files\":9007199254740991,\"bytes\":0}", &m), 0, "2^53 - 1 and 0 are fine");
	ok(m.files == 9007199254740991ULL && m.bytes == 0, "and read exactly");
	is_int(parse("{\"files\":9007199254740992}", &m), -EBADMSG,
	       "2^53 refused (2^53 + 1 reads as it)");

	/* a string that does not fit its field */
	huge = malloc(1 << 21);
	n = (size_t)snprintf(huge, 64, "{\"host\":\"");
	memset(huge + n, 'h', 300);
	strcpy(huge + n + 300, "\"}");
	is_int(parse(huge, &m), -EBADMSG, "a 300-byte host refused");
	/* too many components */
	n = (size_t)sprintf(huge, "{\"components\":{");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(huge + n, "%s\"c%d\":\"v\"", i ? "," : "", i);
	strcpy(huge + n, "}}");
	is_int(parse(huge, &m), -EBADMSG, "40 components refused");
	/* over the size cap: 2 MiB of JSON */
	n = (size_t)sprintf(huge, "{\"x\":\"");
	memset(huge + n, 'x', (1 << 21) - n - 8);
	strcpy(huge + (1 << 21) - 8, "\"}");
	is_int(parse(huge, &m), -EBADMSG, "2 MiB of JSON refused");
	free(huge);
	/* nesting deeper than cJSON's limit: refused, no deep recursion */
	deep = malloc(200016);
	deep[0] = '{';
	memcpy(deep + 1, "\"a\":", 4);
	n = 5;
	for (int i = 0; i < 50000; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	is_int(parse(deep, &m), -EBADMSG, "50000 nested arrays refused");
	free(deep);
}

static void test_check(void)
{
	struct b10t_manifest m;

	parse("{\"key\":\"aaaaaaaaaaaaaaaa\",\"scheme\":\"default\"}", &m);
	is_int(b10t_manifest_check(&ctx, &m, "aaaaaaaaaaaaaaaa", B10T_SCHEME_DEFAULT), 0,
	       "the key and scheme it was loaded for");
	is_int(b10t_manifest_check(&ctx, &m, "bbbbbbbbbbbbbbbb", B10T_SCHEME_DEFAULT), -EBADMSG,
	       "another key refused");
	is_str(b10t_ctx_error(&ctx), "archive was made for key aaaaaaaaaaaaaaaa", "names the key");
	is_int(b10t_manifest_check(&ctx, &m, "aaaaaaaaaaaaaaaa", B10T_SCHEME_B10_TRANSFER),
	       -EBADMSG, "another scheme refused");
	parse("{\"key\":\"aaaaaaaaaaaaaaaa\"}", &m);
	is_int(b10t_manifest_check(&ctx, &m, "aaaaaaaaaaaaaaaa", B10T_SCHEME_B10_TRANSFER), 0,
	       "no scheme: only the key is checked");
	parse("{}", &m);
	is_int(b10t_manifest_check(&ctx, &m, "cccccccccccccccc", B10T_SCHEME_DEFAULT), 0,
	       "no key: nothing to check");
	is_int(b10t_manifest_verify(&ctx, "{\"files\":1e300}", "cccccccccccccccc",
				    B10T_SCHEME_DEFAULT), -EBADMSG, "verify parses first");
}

int main(void)
{
	b10t_ctx_init(&ctx);
	test_round_trip();
	test_hostile();
	test_check();
	return tap_done();
}
