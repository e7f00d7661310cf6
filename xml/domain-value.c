/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading bounded values out of a domain description, with errors that name the element.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "xml/domain-internal.h"
#include "xml/text.h"

int qm_dom_invalid(const xmlNode *n, struct qm_error *err, const char *fmt, ...)
{
	_cleanup_xmlfree_ xmlChar *path = xmlGetNodePath(n);
	char text[sizeof(err->text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return qm_error_set(err, -EINVAL, "DomainInvalid", "domain XML %s (line %ld): %s",
			    path ? (const char *)path : (const char *)n->name,
			    xmlGetLineNo(n), text);
}

bool qm_dom_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !n->ns &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

bool qm_dom_is_qemu(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns &&
	       xmlStrEqual(n->ns->href, BAD_CAST QM_DOMAIN_QEMU_NS) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

size_t qm_dom_count(const xmlNode *parent, const char *name)
{
	size_t n = 0;

	for (const xmlNode *c = parent->children; c; c = c->next)
		n += qm_dom_is(c, name);
	return n;
}

int qm_dom_child(xmlNode *parent, const char *name, xmlNode **out, struct qm_error *err)
{
	*out = NULL;
	for (xmlNode *c = parent->children; c; c = c->next) {
		if (!qm_dom_is(c, name))
			continue;
		if (*out)
			return qm_dom_invalid(
				c, err, "a second <%s>: there may be only one", name);
		*out = c;
	}
	return 0;
}

static bool only(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static bool plain_ok(const char *s)
{
	return !qm_text_has_control(s, false);
}

static bool nospace_ok(const char *s)
{
	return !qm_text_has_control(s, true);
}

static bool path_ok(const char *s)
{
	return s[0] == '/' && plain_ok(s);
}

static bool token_ok(const char *s)
{
	return only(s, ALNUM "._-");
}

static bool serial_ok(const char *s)
{
	return only(s, ALNUM "_.+- ");
}

static bool name_ok(const char *s)
{
	return plain_ok(s) && !strchr(s, '/');
}

static const struct {
	bool (*ok)(const char *s);
	const char *says;
} rules[] = {
	[QM_DOM_PLAIN] = { plain_ok, "contains control characters" },
	[QM_DOM_NOSPACE] = { nospace_ok, "contains spaces or control characters" },
	[QM_DOM_PATH] = { path_ok, "is not an absolute path without control characters" },
	[QM_DOM_TOKEN] = { token_ok,
			   "holds more than letters, digits, '.', '_' and '-'" },
	[QM_DOM_SERIAL] = { serial_ok, "holds more than letters, digits, ' ', '.', '_', "
				       "'+' and '-'" },
	[QM_DOM_NAME] = { name_ok, "contains '/' or control characters" },
};

/* How messages name a value: "type='x'" for an attribute, "text 'x'" for an element. */
static void label(const char *attr, const char *value, char *buf, size_t size)
{
	char shown[80];

	qm_text_printable(value, shown, sizeof(shown));
	if (attr)
		snprintf(buf, size, "%s='%s'", attr, shown);
	else
		snprintf(buf, size, "text '%s'", shown);
}

/* The raw value: the attribute, or the element's text. */
static xmlChar *raw_value(xmlNode *n, const char *attr)
{
	return attr ? xmlGetNoNsProp(n, BAD_CAST attr) : xmlNodeGetContent(n);
}

int qm_dom_string(xmlNode *n, const char *attr, const struct qm_dom_text *how, char **out,
		  struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = raw_value(n, attr);
	const char *s = (const char *)v;
	char shown[128];
	size_t len;

	*out = NULL;
	if (!s && how->required)
		return attr ? qm_dom_invalid(n, err, "has no %s attribute", attr)
			    : qm_dom_invalid(n, err, "has no text");
	if (!s)
		return 0;
	len = strlen(s);
	if (len == 0)
		return attr ? qm_dom_invalid(n, err, "%s is empty", attr)
			    : qm_dom_invalid(n, err, "is empty");
	if (len > how->max)
		return qm_dom_invalid(n, err, "%s is too long: %zu bytes, at most %zu",
				      attr ? attr : "text", len, how->max);
	if (!rules[how->rule].ok(s)) {
		label(attr, how->secret ? "(secret)" : s, shown, sizeof(shown));
		return qm_dom_invalid(n, err, "%s %s", shown, rules[how->rule].says);
	}
	*out = strdup(s);
	if (!*out)
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	return 0;
}

int qm_dom_enum(xmlNode *n, const char *attr, const char *const *names, size_t n_names,
		int dflt, int *out, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);
	char shown[128], list[256] = "";

	if (!v && dflt < 0)
		return qm_dom_invalid(n, err, "has no %s attribute", attr);
	if (!v) {
		*out = dflt;
		return 0;
	}
	for (size_t i = 0; i < n_names; i++) {
		if (names[i][0] && xmlStrEqual(v, BAD_CAST names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	for (size_t i = 0; i < n_names; i++) {
		if (!names[i][0])
			continue;
		if (list[0])
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
	}
	label(attr, (const char *)v, shown, sizeof(shown));
	return qm_dom_invalid(n, err, "%s is not one of: %s", shown, list);
}

/* "0x" and 1..16 hex digits. */
static bool hex_to_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (strncmp(s, "0x", 2) != 0 || !s[2] || !only(s + 2, "0123456789abcdefABCDEF") ||
	    strlen(s + 2) > 16)
		return false;
	for (s += 2; *s; s++)
		v = v * 16 + (uint64_t)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
	if (v > max)
		return false;
	*out = v;
	return true;
}

int qm_dom_number(xmlNode *n, const char *attr, uint64_t max, bool hex, uint64_t *out,
		  struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = raw_value(n, attr);
	const char *s = (const char *)v;
	char shown[128];

	if (!s && attr)
		return 0;
	if (!s)
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	if (qm_text_to_u64(s, max, out) || (hex && hex_to_u64(s, max, out)))
		return 1;
	label(attr, s, shown, sizeof(shown));
	return qm_dom_invalid(n, err, "%s is not an integer in 0..%llu%s", shown,
			      (unsigned long long)max,
			      hex ? " (decimal, or hex after 0x)" : "");
}
