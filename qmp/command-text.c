/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How a command is written: its wire text, and the text the trace and the
 * transcript show instead when it carries a secret.  Pure functions of
 * their arguments; client.c queues what they make.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/client-private.h"
#include "util/macros.h"

/* True when @name needs no escaping in a JSON string: QMP's command names always. */
static bool plain_name(const char *name)
{
	/* ASCII ranges, not isalnum(): a locale must not change the bytes we send. */
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return false;
	return *name != '\0';
}

/*
 * The wire form of a command, newline-terminated: exactly what json_dumps
 * with JSON_COMPACT makes of {"execute": ..., "id": ..., "arguments": ...}.
 * Building that object for every command cost a quarter of the client's time
 * at high command rates, so plain names are formatted directly; only
 * @args goes through jansson.  Steals @args.
 */
char *qm_qmp_format_command(const char *command, long long id, json_t *args, size_t *len)
{
	_cleanup_free_ char *dumped = NULL;
	json_t *msg;
	char *text;
	int n;

	if (!plain_name(command)) {
		msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
		if (!msg) {
			json_decref(args);
			return NULL;
		}
		/* json_object_set_new steals @args even when it fails. */
		if (args && json_object_set_new(msg, "arguments", args) < 0) {
			json_decref(msg);
			return NULL;
		}
		dumped = json_dumps(msg, JSON_COMPACT);
		json_decref(msg);
		if (!dumped)
			return NULL;
		n = asprintf(&text, "%s\n", dumped);
	} else {
		if (args) {
			dumped = json_dumps(args, JSON_COMPACT);
			json_decref(args);
			if (!dumped)
				return NULL;
		}
		n = asprintf(&text, "{\"execute\":\"%s\",\"id\":%lld%s%s}\n", command, id,
			     dumped ? ",\"arguments\":" : "", dumped ? dumped : "");
	}
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

/* A copy of @obj with its string member @key shown as "***", or NULL when it has none. */
static json_t *mask_member(json_t *obj, const char *key)
{
	json_t *masked;

	if (!json_is_string(json_object_get(obj, key)))
		return NULL;
	/* A shallow copy: setting its member leaves @obj's alone. */
	masked = json_copy(obj);
	if (masked && json_object_set_new(masked, key, json_string("***")) < 0) {
		json_decref(masked);
		return NULL;
	}
	return masked;
}

/* object-add of a secret: its "data" (also under "props", QEMU before 6.0). */
static bool is_secret_add(const char *command, json_t *args)
{
	return !strcmp(command, "object-add") &&
	       json_is_string(json_object_get(args, "qom-type")) &&
	       !strcmp(json_string_value(json_object_get(args, "qom-type")), "secret");
}

/*
 * The one masking rule, for the trace and the transcript alike: a password
 * (set_password's, change-vnc-password's, any other "password" argument) and
 * a secret object's data never reach either.  Replies and events are not
 * masked: none carries a secret today.  NULL: nothing to mask.
 */
char *qm_qmp_masked_command(const char *command, long long id, json_t *args)
{
	json_t *masked = NULL, *props;
	size_t len;
	char *text;

	if (json_is_string(json_object_get(args, "password"))) {
		masked = mask_member(args, "password");
	} else if (is_secret_add(command, args)) {
		props = json_object_get(args, "props");
		masked = json_is_string(json_object_get(args, "data")) ? mask_member(args, "data")
								       : json_copy(args);
		/* Out of memory while masking: the placeholder, never the secret. */
		if (masked && json_is_string(json_object_get(props, "data")) &&
		    (!(props = mask_member(props, "data")) ||
		     json_object_set_new(masked, "props", props) < 0)) {
			json_decref(masked);
			masked = NULL;
		}
	} else {
		return NULL;
	}
	text = masked ? qm_qmp_format_command(command, id, masked, &len) : NULL;
	return text ? text : strdup("{\"execute\":\"(a command with a secret, not shown)\"}\n");
}
