/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/peer-data.h"

/* Quotes, a backslash, a newline and UTF-8: what escaping must carry. */
#define COOKIE "<qmigrate-cookie version=\"1\">\n  <name>vm-\xc3\xa9t\xc3\xa9\\1</name>\n</qmigrate-cookie>\n"
#define DOMAIN "<domain type=\"kvm\">\n\t<name>vm1</name>\n</domain>\n"

void pd_sample(enum qm_peer_type type, struct qm_peer_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case QM_PEER_HELLO:
		m->hello.protocol = QM_PEER_PROTOCOL;
		strcpy(m->hello.version, "0.1.0");
		m->hello.n_features = 3;
		strcpy(m->hello.features[0].name, "launch");
		m->hello.features[0].needed = true;
		strcpy(m->hello.features[1].name, "tunnel");
		strcpy(m->hello.features[2].name, "multifd-2");
		m->hello.features[2].needed = true;
		break;
	case QM_PEER_ERROR:
		strcpy(m->error_class, "DeviceNotFound");
		strcpy(m->message, "cannot open disk /var/lib/vm1.qcow2: No such file");
		m->changed = true;
		break;
	case QM_PEER_PREPARE:
		cr_assert(m->domain = strdup(DOMAIN));
		m->settings.transport = QM_TRANSPORT_TUNNEL;
		m->settings.multifd = 4;
		m->settings.postcopy = true;
		m->settings.launch = true;
		m->settings.qmp_log = true;
		strcpy(m->settings.migrate_address, "192.0.2.2");
		strcpy(m->settings.graphics_listen, "::");
		strcpy(m->settings.spice_x509_dir, "/etc/pki/qemu spice");
		cr_assert(m->settings.disk_map = calloc(3, sizeof(char *)));
		cr_assert(m->settings.disk_map[0] = strdup("/src/a.img=/dst/a b.img"));
		cr_assert(m->settings.disk_map[1] = strdup("/src/b.qcow2=/dst/b.qcow2"));
		m->settings.n_disk_map = 2;
		cr_assert(m->cookie = strdup(COOKIE));
		break;
	case QM_PEER_PREPARE_REPLY:
		strcpy(m->qmp, "/run/user/0/qmigrate-launch.X1/qmp.sock");
		m->pid = 4242;
		cr_assert(m->cookie = strdup(COOKIE));
		break;
	case QM_PEER_QMP_LOG:
		/* What the destination is sent in prepare; a password would show "***". */
		m->qmp_log.ts = 1764716400.125;
		m->qmp_log.sent = true;
		cr_assert(m->qmp_log.msg = json_pack("{s:s, s:{s:s}, s:i}", "execute",
						     "migrate-incoming", "arguments", "uri",
						     "tcp:127.0.0.1:49152", "id", 3));
		m->qmp_log.bytes = -1;
		m->qmp_log.dropped = 2;
		break;
	case QM_PEER_CLEANUP:
		m->postcopy = true;
		cr_assert(m->cookie = strdup(COOKIE));
		break;
	default:
		cr_assert(m->cookie = strdup(COOKIE));
		break;
	}
}

void pd_assert_same(const struct qm_peer_msg *a, const struct qm_peer_msg *b)
{
	cr_assert_eq(a->type, b->type);
	cr_assert_eq(a->hello.protocol, b->hello.protocol);
	cr_assert_str_eq(a->hello.version, b->hello.version);
	cr_assert_eq(a->hello.n_features, b->hello.n_features);
	for (size_t i = 0; i < a->hello.n_features; i++) {
		cr_assert_str_eq(a->hello.features[i].name, b->hello.features[i].name);
		cr_assert_eq(a->hello.features[i].needed, b->hello.features[i].needed, "%s",
			     a->hello.features[i].name);
	}
	cr_assert_eq(!a->cookie, !b->cookie);
	if (a->cookie)
		cr_assert_str_eq(a->cookie, b->cookie);
	cr_assert_eq(!a->domain, !b->domain);
	if (a->domain)
		cr_assert_str_eq(a->domain, b->domain);
	cr_assert_str_eq(a->error_class, b->error_class);
	cr_assert_str_eq(a->message, b->message);
	cr_assert_eq(a->refused, b->refused);
	cr_assert_eq(a->changed, b->changed);
	cr_assert_eq(a->postcopy, b->postcopy);
	cr_assert_str_eq(a->qmp, b->qmp);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_eq(a->qmp_log.ts, b->qmp_log.ts);
	cr_assert_eq(a->qmp_log.sent, b->qmp_log.sent);
	cr_assert_eq(!a->qmp_log.msg, !b->qmp_log.msg);
	if (a->qmp_log.msg)
		cr_assert(json_equal(a->qmp_log.msg, b->qmp_log.msg));
	if (a->type == QM_PEER_QMP_LOG) {
		cr_assert_eq(a->qmp_log.bytes, b->qmp_log.bytes);
		cr_assert_eq(a->qmp_log.dropped, b->qmp_log.dropped);
	}
	pd_assert_same_settings(&a->settings, &b->settings);
}

void pd_assert_same_settings(const struct qm_peer_settings *a, const struct qm_peer_settings *b)
{
	cr_assert_eq(a->transport, b->transport);
	cr_assert_eq(a->multifd, b->multifd);
	cr_assert_eq(a->postcopy, b->postcopy);
	cr_assert_eq(a->paused, b->paused);
	cr_assert_eq(a->launch, b->launch);
	cr_assert_eq(a->allow_same_host, b->allow_same_host);
	cr_assert_eq(a->qmp_log, b->qmp_log);
	cr_assert_str_eq(a->qmp, b->qmp);
	cr_assert_str_eq(a->migrate_address, b->migrate_address);
	cr_assert_str_eq(a->graphics_listen, b->graphics_listen);
	cr_assert_str_eq(a->spice_x509_dir, b->spice_x509_dir);
	cr_assert_eq(a->copy_storage, b->copy_storage);
	cr_assert_eq(a->n_disk_map, b->n_disk_map);
	for (size_t i = 0; i < a->n_disk_map; i++)
		cr_assert_str_eq(a->disk_map[i], b->disk_map[i]);
}

char *pd_encode(const struct qm_peer_msg *m, size_t *len)
{
	struct qm_error err = { 0 };
	char *frame = NULL;

	cr_assert_eq(qm_peer_msg_encode(m, &frame, len, &err), 0, "%s", err.text);
	return frame;
}

char *pd_stream(size_t *len, size_t lens[PD_N_TYPES])
{
	char *all = NULL;

	*len = 0;
	for (int t = 0; t < PD_N_TYPES; t++) {
		struct qm_peer_msg m;
		char *frame;

		pd_sample(t, &m);
		frame = pd_encode(&m, &lens[t]);
		cr_assert(all = realloc(all, *len + lens[t]));
		memcpy(all + *len, frame, lens[t]);
		*len += lens[t];
		free(frame);
		qm_peer_msg_release(&m);
	}
	return all;
}
