/* SPDX-License-Identifier: MIT */
/* b10t envkey: print this environment's key and what it was made from. */
#include "cmd.h"

static cJSON *envkey_json(const struct b10t_envkey *key)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *comp = cJSON_CreateObject(), *src = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "environment_key", key->key);
	cJSON_AddStringToObject(o, "key_scheme", b10t_scheme_name(key->scheme));
	cJSON_AddBoolToObject(o, "gpu", key->gpu);
	b10t_json_namespace(o, key);	/* the namespace component, at the top too */
	for (size_t i = 0; i < key->n; i++) {
		cJSON_AddStringToObject(comp, key->comp[i].name, key->comp[i].value);
		cJSON_AddStringToObject(src, key->comp[i].name, key->comp[i].source);
	}
	cJSON_AddItemToObject(o, "components", comp);
	cJSON_AddItemToObject(o, "sources", src);
	return o;
}

int cmd_envkey_verb(struct cmd *c)
{
	const struct b10t_envkey *key = &c->key;

	if (c->json)
		return cmd_print_json(c, envkey_json(key)) ? 1 : 0;
	if (c->verbose)
		for (size_t k = 0; k < key->n; k++)
			fprintf(stderr, "%s=%s (%s)\n", key->comp[k].name,
				esc(key->comp[k].value), esc(key->comp[k].source));
	return printf("%s\n", key->key) < 0 ? 1 : 0;
}
