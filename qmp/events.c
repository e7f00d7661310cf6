/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP events: subscribers by name, and dispatch that survives unsubscribing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/client-private.h"

static void subscriber_free(struct subscriber *s)
{
	qm_list_del(&s->link);
	free(s->name);
	free(s);
}

void qm_qmp_handle_event(struct qm_qmp *q, json_t *msg, const char *name)
{
	json_t *data = json_object_get(msg, "data");
	json_t *ts = json_object_get(msg, "timestamp");
	double when = json_number_value(json_object_get(ts, "seconds")) +
		      json_number_value(json_object_get(ts, "microseconds")) / 1e6;
	struct subscriber *s, *next, *last;

	if (qm_list_empty(&q->subscribers))
		return;
	/*
	 * A callback may unsubscribe anyone, itself or the next one: entries are
	 * only marked until the dispatch ends.  Those it adds start with the next
	 * event.
	 */
	last = qm_container_of(q->subscribers.prev, struct subscriber, link);
	q->dispatching++;
	qm_list_for_each(s, &q->subscribers, link) {
		if (s->cb && (!s->name || strcmp(s->name, name) == 0))
			s->cb(q, name, data, when, s->userdata);
		if (s == last || q->state == QMP_CLOSED || q->refcount == 1)
			break;
	}
	if (--q->dispatching > 0)
		return;
	qm_list_for_each_safe(s, next, &q->subscribers, link)
		if (!s->cb)
			subscriber_free(s);
}

void qm_qmp_free_subscribers(struct qm_qmp *q)
{
	struct subscriber *s, *next;

	qm_list_for_each_safe(s, next, &q->subscribers, link)
		subscriber_free(s);
}

_public_ int qm_qmp_subscribe(struct qm_qmp *q, const char *name, qm_qmp_event_fn cb,
			     void *userdata)
{
	struct subscriber *s;

	if (!cb)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (name && !(s->name = strdup(name))) {
		free(s);
		return -ENOMEM;
	}
	s->cb = cb;
	s->userdata = userdata;
	qm_list_add_tail(&q->subscribers, &s->link);
	return 0;
}

_public_ void qm_qmp_unsubscribe(struct qm_qmp *q, qm_qmp_event_fn cb, void *userdata)
{
	struct subscriber *s, *next;

	qm_list_for_each_safe(s, next, &q->subscribers, link) {
		if (s->cb != cb || s->userdata != userdata)
			continue;
		if (q->dispatching)
			s->cb = NULL;
		else
			subscriber_free(s);
	}
}
