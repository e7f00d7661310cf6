/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qm-memcheck DUMP [--ram-mib N]: did the test guest's RAM survive? */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/guest/memcheck.h"

static const char usage[] =
    "Usage: qm-memcheck [OPTIONS] DUMP\n"
    "\n"
    "Checks a dump of the qmigrate test guest's RAM (tests/guest/guest.img):\n"
    "every page the guest increments must hold the same value, except that\n"
    "the pages the pass in progress already reached hold one more.  With the\n"
    "guest's modes on (hot set, string, SSE: tests/guest/README), each region\n"
    "its layout page lists is checked the same way against its round counter,\n"
    "and a lost write the guest saw itself is reported (in the disk mode, one\n"
    "on its data disk too; qm-diskcheck checks the disk image).\n"
    "\n"
    "DUMP is guest RAM from offset 0, e.g. from a stopped VM:\n"
    "  qmigrate qmp SOCKET stop\n"
    "  qmigrate qmp SOCKET pmemsave '{\"val\": 0, \"size\": RAM-BYTES, \"filename\": "
    "\"DUMP\"}'\n"
    "With RAM above 4 GiB (pc: -m 3584 or more, q35: 2816 or more), the dump is\n"
    "RAM below 4 GiB followed by RAM from 4 GiB on, as two pmemsave files\n"
    "concatenated; the guest's serial banner says where its RAM ends (ram_top).\n"
    "\n"
    "Options:\n"
    "  -m, --ram-mib N   the guest's RAM (-m); the dump must be that large\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 good, 1 a write was lost (the region, page, address,\n"
    "expected and found values are printed),\n"
    "2 usage or I/O error, or a dump that cannot be checked.\n";

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"ram-mib", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct qm_memcheck_result res;
	unsigned long long mib = 0;
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			errno = 0;
			mib = strtoull(optarg, &end, 10);
			if (errno || *end || !mib || mib > (UINT64_MAX >> 20)) {
				fprintf(stderr, "qm-memcheck: invalid RAM size '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	r = qm_memcheck_file(argv[optind], (uint64_t)mib << 20, &res);
	if (r < 0) {
		fprintf(stderr, "qm-memcheck: %s\n", res.message);
		return 2;
	}
	printf("%s\n", res.message);
	return res.ok ? 0 : 1;
}
