/* SPDX-License-Identifier: MIT */
/*
 * capi-json: a program of the public API alone (b10t.h, libb10t.so.1), for
 * tests/cli/t-capi.sh.
 *
 *	capi-json [NAME=VALUE...] VERB [KEY]
 *
 * Sets each NAME=VALUE with b10t_set(), runs b10t_op_VERB(), prints the
 * result's JSON on stdout and its error on stderr, and exits with the
 * status, as `b10t VERB --json=short` does.  "VERB.field" after the verb
 * prints the field through the accessors instead (s: string, u: u64,
 * d: double), one per line: `capi-json load s:environment_key u:files`.
 * Log lines go to stderr as "LEVEL: message".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b10t.h"

static void log_line(void *arg, enum b10t_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	fprintf(arg, "%s: %s\n", names[level], msg);
}

int main(int argc, char **argv)
{
	b10t_t *h = b10t_new();
	enum b10t_status st;
	const char *verb, *key = NULL;
	int i = 1, fields;

	if (!h)
		return 1;
	b10t_set_log(h, log_line, stderr, B10T_LOG_WARN);
	for (; i < argc && strchr(argv[i], '='); i++) {
		char *eq = strchr(argv[i], '=');

		*eq = '\0';
		if (b10t_set(h, argv[i], eq + 1) != B10T_SUCCESS) {
			fprintf(stderr, "capi-json: %s (errno %d)\n", b10t_error(h), b10t_errno(h));
			b10t_free(h);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: capi-json [NAME=VALUE...] VERB [KEY] [s:|u:|d:FIELD...]\n");
		b10t_free(h);
		return 2;
	}
	verb = argv[i++];
	if (i < argc && !strchr(argv[i], ':'))
		key = argv[i++];
	fields = i;
	if (!strcmp(verb, "version")) {
		printf("%u %s\n", b10t_version_number(), b10t_version_string());
		b10t_free(h);
		return 0;
	} else if (!strcmp(verb, "settings")) {
		for (size_t k = 0; k < b10t_setting_count(); k++) {
			const char *name, *env, *option;

			b10t_setting_info(k, &name, &env, &option, NULL);
			printf("%s %s %s\n", name, env, option);
		}
		st = b10t_setting_info(b10t_setting_count(), NULL, NULL, NULL, NULL);
		b10t_free(h);
		return st == B10T_ERROR ? 0 : 1;
	}
	st = !strcmp(verb, "load") ? b10t_op_load(h) :
	     !strcmp(verb, "save") ? b10t_op_save(h) :
	     !strcmp(verb, "update") ? b10t_op_update(h) :
	     !strcmp(verb, "compact") ? b10t_op_compact(h) :
	     !strcmp(verb, "clear") ? b10t_op_clear(h) :
	     !strcmp(verb, "info") ? b10t_op_info(h) :
	     !strcmp(verb, "list") ? b10t_op_list(h) :
	     !strcmp(verb, "envkey") ? b10t_op_envkey(h) :
	     !strcmp(verb, "gc") ? b10t_op_gc(h) :
	     !strcmp(verb, "rm") ? b10t_op_rm(h, key) : (enum b10t_status)-1;
	if ((int)st == -1) {
		fprintf(stderr, "capi-json: unknown verb %s\n", verb);
		b10t_free(h);
		return 2;
	}
	if (st != b10t_result_status(h))
		fprintf(stderr, "capi-json: b10t_result_status %d, not %d\n", b10t_result_status(h), st);
	if (st == B10T_ERROR)
		fprintf(stderr, "capi-json: %s: %s (errno %d)\n", verb, b10t_error(h), b10t_errno(h));
	if (fields == argc)
		printf("%s\n", b10t_result_json(h));
	for (i = fields; i < argc; i++) {
		const char *f = argv[i] + 2;
		uint64_t u;
		double d;

		if (argv[i][0] == 's')
			printf("%s\n", b10t_result_string(h, f) ? b10t_result_string(h, f) : "(null)");
		else if (argv[i][0] == 'u')
			b10t_result_u64(h, f, &u) == 0 ? printf("%" PRIu64 "\n", u) : printf("(none)\n");
		else
			b10t_result_double(h, f, &d) == 0 ? printf("%.17g\n", d) : printf("(none)\n");
	}
	b10t_free(h);
	return (int)st;
}
