/* SPDX-License-Identifier: MIT */
/* b10t: the verb table and dispatch. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

/* Sorted by name; --help, --list-cmds and the completions follow it. */
const struct verb verbs[] = {
	{ "clear", cmd_clear, "", "remove the local cache dir", clear_options },
	{ "doctor", cmd_doctor, "", "probe what the store's filesystem can do", doctor_options },
	{ "envkey", cmd_envkey_verb, "", "print this environment's key", envkey_options },
	{ "gc", cmd_gc, "", "remove stale debris and evict old archives", gc_options },
	{ "help", NULL, "[VERB]", "show help for b10t or a verb", no_options },
	{ "info", cmd_info, "", "status of this environment's caches", info_options },
	{ "list", cmd_list, "", "list the archives in the store", list_options },
	{ "load", cmd_load, "", "extract this environment's archive into the cache dir", load_options },
	{ "save", cmd_save, "", "publish the cache dir to the store", save_options },
	{ "vllm", cmd_vllm, "", "beside vllm serve: load, or save once vLLM is ready", vllm_options },
};
const size_t verbs_count = sizeof(verbs) / sizeof(verbs[0]);

const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < verbs_count; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static void main_help(FILE *out)
{
	fprintf(out, "Usage: b10t [OPTIONS] VERB [OPTIONS]\n\n"
		     "Share torch.compile caches between replicas through a shared directory.\n\n"
		     "Verbs:\n");
	for (size_t i = 0; i < verbs_count; i++)
		fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nOptions:\n"
		     "      --version            print the version and exit\n"
		     "      --list-cmds          print the verbs, one a line\n");
	cmd_help(NULL, out);
	fprintf(out, "\nExit status: 0 SUCCESS, 1 ERROR, 2 usage, 3 DOES_NOT_EXIST, 4 SKIPPED.\n"
		     "Run 'b10t help VERB' for a verb's options.\n");
}

static int help_verb(struct cmd *c, int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		main_help(stdout);
		return 0;
	}
	if (!(v = verb_find(argv[1])) || !v->run) {
		c->verb = "help";
		return cmd_usage_error(c, "unknown verb '%s'", esc(argv[1]));
	}
	cmd_help(v, stdout);
	return 0;
}

enum { OPT_VERSION = 0x100, OPT_LIST_CMDS };

static int main_opt(struct cmd *c, int val, const char *arg, void *data)
{
	switch (val) {
	case OPT_VERSION:
		printf("b10t %s\n", B10T_VERSION_STRING);
		*(int *)data = 1;
		return 0;
	case OPT_LIST_CMDS:
		for (size_t i = 0; i < verbs_count; i++)
			printf("%s\n", verbs[i].name);
		*(int *)data = 1;
		return 0;
	}
	return -1;
}

static const struct verb_option main_options[] = {
	{ { "version", no_argument, NULL, OPT_VERSION }, NULL, "print the version and exit" },
	{ { "list-cmds", no_argument, NULL, OPT_LIST_CMDS }, NULL, "print the verbs, one a line" },
	{ { 0 }, NULL, NULL },
};

static int finish(int code)
{
	/* Report a failed stdout (closed pipe, full disk) instead of exiting 0. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "b10t: error: writing the result: %s\n", strerror(errno));
		return code ? code : 1;
	}
	return code;
}

int main(int argc, char **argv)
{
	struct cmd c = { .verb = "b10t" };
	struct verb vmain = { "b10t", NULL, "VERB [OPTIONS]", "", main_options };
	const struct verb *v = NULL;
	const char *log = getenv("B10T_LOG");
	char *base = basename(argv[0]);
	int done = 0, i, r;

	b10t_ctx_init(&c.ctx);
	if (log && (!strcmp(log, "debug") || !strcmp(log, "trace")))
		c.verbose = 1;
	r = b10t_config_init(&c.ctx, &c.cfg);
	if (r < 0) {
		/* Options are not parsed yet: --json anywhere still gets its object. */
		for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
			c.json |= !strcmp(argv[i], "--json");
		return finish(cmd_fail(&c, NULL));
	}

	/* argv[0] dispatch: a link named "b10t-VERB" or "VERB" runs the verb. */
	if (!strncmp(base, "b10t-", 5))
		v = verb_find(base + 5);
	else if (!strcmp(base, "b10-compile-cache"))	/* b10-transfer's sidecar */
		v = verb_find("vllm");
	else if (strcmp(base, "b10t"))
		v = verb_find(base);
	if (v && v->run) {
		c.verb = v->name;
		return finish(v->run(&c, argc, argv));
	}

	i = cmd_parse(&c, &vmain, argc, argv, main_opt, &done);
	if (i == -1)
		return EXIT_USAGE;
	if (i == -2) {
		main_help(stdout);
		return finish(0);
	}
	if (done)
		return finish(0);
	if (i >= argc) {
		cmd_usage_error(&c, "no verb given");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help"))
		return finish(help_verb(&c, argc - i, argv + i));
	v = verb_find(argv[i]);
	if (!v || !v->run)
		return cmd_usage_error(&c, "unknown verb '%s'", esc(argv[i]));
	c.verb = v->name;
	return finish(v->run(&c, argc - i, argv + i));
}
