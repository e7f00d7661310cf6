/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_LIST_H
#define QM_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* An intrusive circular doubly linked list; the head is a node of its own. */
struct qm_list {
	struct qm_list *prev, *next;
};

#define qm_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void qm_list_init(struct qm_list *h)
{
	h->prev = h->next = h;
}

static inline bool qm_list_empty(const struct qm_list *h)
{
	return h->next == h;
}

static inline void qm_list_insert(struct qm_list *prev, struct qm_list *n, struct qm_list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

static inline void qm_list_add(struct qm_list *h, struct qm_list *n)
{
	qm_list_insert(h, n, h->next);
}

static inline void qm_list_add_tail(struct qm_list *h, struct qm_list *n)
{
	qm_list_insert(h->prev, n, h);
}

/* Unlinks @n; safe on a node that is not on any list (or was only initialised). */
static inline void qm_list_del(struct qm_list *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Moves every node of @from to the tail of @to. */
static inline void qm_list_splice_tail(struct qm_list *to, struct qm_list *from)
{
	if (qm_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	qm_list_init(from);
}

#define qm_list_first(h, type, member) qm_container_of((h)->next, type, member)

#define qm_list_for_each(pos, h, member)                                                   \
	for (pos = qm_container_of((h)->next, __typeof__(*pos), member); &pos->member != (h); \
	     pos = qm_container_of(pos->member.next, __typeof__(*pos), member))

#define qm_list_for_each_safe(pos, n, h, member)                                           \
	for (pos = qm_container_of((h)->next, __typeof__(*pos), member),                     \
	    n = qm_container_of(pos->member.next, __typeof__(*pos), member);                 \
	     &pos->member != (h);                                                            \
	     pos = n, n = qm_container_of(n->member.next, __typeof__(*n), member))

#endif
