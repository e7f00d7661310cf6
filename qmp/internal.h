/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_QMP_INTERNAL_H
#define QM_QMP_INTERNAL_H

#include "qmigrate.h"

struct ev_loop *qm_qmp_loop(const struct qm_qmp *qmp);

#endif
