/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hello rules: what each side needs, the other must have. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/peer-msg.h"
#include "util/error.h"

bool qm_peer_hello_has(const struct qm_peer_hello *h, const char *name)
{
	for (size_t i = 0; i < h->n_features; i++)
		if (strcmp(h->features[i].name, name) == 0)
			return true;
	return false;
}

int qm_peer_check_hello(const struct qm_peer_hello *local, const struct qm_peer_hello *remote,
			struct qm_error *err)
{
	if (remote->protocol != local->protocol)
		return qm_error_set(err, -EPROTONOSUPPORT, "PeerProtocol",
				    "the peer (qmigrate %s) speaks peer protocol %d, this "
				    "qmigrate (%s) speaks %d: install the same qmigrate release "
				    "on both hosts",
				    remote->version, remote->protocol, local->version,
				    local->protocol);
	for (size_t i = 0; i < local->n_features; i++)
		if (local->features[i].needed &&
		    !qm_peer_hello_has(remote, local->features[i].name))
			return qm_error_set(err, -EPROTONOSUPPORT, "PeerFeature",
					    "the peer (qmigrate %s) lacks the feature \"%s\" "
					    "that this migration needs: upgrade qmigrate on "
					    "the peer to %s or later",
					    remote->version, local->features[i].name,
					    local->version);
	for (size_t i = 0; i < remote->n_features; i++)
		if (remote->features[i].needed &&
		    !qm_peer_hello_has(local, remote->features[i].name))
			return qm_error_set(err, -EPROTONOSUPPORT, "PeerFeature",
					    "the peer (qmigrate %s) needs the feature \"%s\" "
					    "that this qmigrate (%s) lacks: upgrade qmigrate on "
					    "this host to %s or later",
					    remote->version, remote->features[i].name,
					    local->version, remote->version);
	return 0;
}

/* What this qmigrate can do as either side: every name a hello may need. */
static const char *const our_features[] = {
	"attach", "launch", "direct", "tunnel", "multifd", "postcopy", "lockstate",
	"qmp-log",
};

void qm_peer_hello_init(struct qm_peer_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->protocol = QM_PEER_PROTOCOL;
	snprintf(h->version, sizeof(h->version), "%s", PACKAGE_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(our_features); i++)
		snprintf(h->features[h->n_features++].name, QM_PEER_NAME_MAX, "%s",
			 our_features[i]);
}

void qm_peer_hello_need(struct qm_peer_hello *h, const char *name)
{
	for (size_t i = 0; i < h->n_features; i++)
		if (strcmp(h->features[i].name, name) == 0)
			h->features[i].needed = true;
}
