/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_MACROS_H
#define QM_UTIL_MACROS_H

#include <stdlib.h>
#include <unistd.h>

#define _public_ __attribute__((visibility("default")))
#define _must_check_ __attribute__((warn_unused_result))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Hands ownership on: returns *pp and leaves NULL behind. */
#define steal_pointer(pp)                                                                  \
	({                                                                                 \
		__typeof__(*(pp)) _p = *(pp);                                              \
		*(pp) = NULL;                                                              \
		_p;                                                                        \
	})

#define steal_fd(fdp)                                                                      \
	({                                                                                 \
		int _fd = *(fdp);                                                          \
		*(fdp) = -1;                                                               \
		_fd;                                                                       \
	})

#endif
