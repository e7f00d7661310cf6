/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sample peer messages for the peer protocol's tests. */
#ifndef QM_TESTS_PEER_DATA_H
#define QM_TESTS_PEER_DATA_H

#include <stddef.h>

#include "engine/peer-msg.h"

#define PD_N_TYPES ((int)QM_PEER_QMP_LOG + 1)

/* A sample of @type with fixed values; qm_peer_msg_release() it. */
void pd_sample(enum qm_peer_type type, struct qm_peer_msg *m);
/* Fails the test unless @a and @b carry the same message. */
void pd_assert_same_settings(const struct qm_peer_settings *a, const struct qm_peer_settings *b);
void pd_assert_same(const struct qm_peer_msg *a, const struct qm_peer_msg *b);
/* @m as a frame (free it); fails the test when it cannot be encoded. */
char *pd_encode(const struct qm_peer_msg *m, size_t *len);
/* Every sample's frame, one after the other (free it), and each frame's length. */
char *pd_stream(size_t *len, size_t lens[PD_N_TYPES]);

#endif
