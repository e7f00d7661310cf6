/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ABI check: whether a guest could tell a description supplied for the
 * destination from the source's.  docs/domain.md ("The ABI check") lists
 * what must be equal, what may differ and why.
 *
 * The whole tree is compared: an element or attribute qmigrate does not
 * know is compared as it is written, never passed over, and only the
 * host-side ones on an explicit list may differ.  The typed view compares
 * the fields it reads (memory in KiB, addresses as numbers, a cdrom as
 * read-only), so that two spellings of one value are equal and a message
 * can say what differs in the guest's terms.
 */
#ifndef QM_XML_DOMAIN_ABI_H
#define QM_XML_DOMAIN_ABI_H

#include "xml/domain.h"

/*
 * Returns 0 when a guest could not tell @dst from @src.  Otherwise
 * -EINVAL, class DomainAbi, and a message that names the differences (the
 * first few that fit, then "and N more"), each by its path and both
 * values, e.g. "devices/disk[2] (vdb): serial \"data1\" on the source,
 * \"data2\" on the destination".  A password or a value inside an element
 * marked secret is never shown.  -ENOMEM (class DomainAbi) when out of
 * memory.  What it accepts does not depend on which side is which.
 */
int qm_domain_abi_check(const struct qm_domain *src, const struct qm_domain *dst,
			struct qm_error *err) _must_check_;

#endif
