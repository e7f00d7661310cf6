/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What tests/helpers/fake-agent and the tests that start it share. */
#ifndef QM_TESTS_FAKE_AGENT_H
#define QM_TESTS_FAKE_AGENT_H

/* The fake agent's host in its cookies: never the source's. */
#define FAKE_AGENT_HOST_UUID "5e1f0a9e-7c3b-4d2a-9e8f-0123456789ab"

#endif
