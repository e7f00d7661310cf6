/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qm-diskcheck IMAGE DUMP: did the test guest's data disk keep every write? */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/guest/diskcheck.h"

static const char usage[] =
	"Usage: qm-diskcheck [OPTIONS] IMAGE DUMP\n"
	"       qm-diskcheck --rounds N IMAGE\n"
	"\n"
	"Checks the data disk of the qmigrate test guest in its disk mode\n"
	"(tests/guest/README): every record the guest rewrites after each pass\n"
	"must be whole and hold the round its memory says was completed, or, up to\n"
	"one boundary, the round in progress.\n"
	"\n"
	"IMAGE is the raw data disk (a qcow2 one: qemu-img convert -O raw first),\n"
	"read with the VM stopped or gone; DUMP a dump of the guest's RAM taken\n"
	"with the VM stopped at the same instant (see qm-memcheck --help).\n"
	"\n"
	"Options:\n"
	"  -m, --ram-mib N   the guest's RAM (-m); the dump must be that large\n"
	"  -r, --rounds N    no dump: the rounds counter N (a round may be running)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 good, 1 a record is wrong (its sector, the byte, expected\n"
	"and found values are printed), 2 usage or I/O error, or an image or dump\n"
	"that cannot be checked.\n";

static int number(const char *arg, const char *what, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(arg, &end, 10);
	if (errno || *end || !*v || *arg == '-') {
		fprintf(stderr, "qm-diskcheck: invalid %s '%s'\n", what, arg);
		return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "ram-mib", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct qm_diskcheck_result res;
	unsigned long long mib = 0, rounds = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "m:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (number(optarg, "RAM size", &mib) || mib > (UINT64_MAX >> 20))
				return 2;
			break;
		case 'r':
			if (number(optarg, "rounds counter", &rounds))
				return 2;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (argc - optind != (rounds ? 1 : 2) || (rounds && mib)) {
		fputs(usage, stderr);
		return 2;
	}
	if (rounds)
		r = qm_diskcheck_file_rounds(argv[optind], rounds, &res);
	else
		r = qm_diskcheck_files(argv[optind], argv[optind + 1],
				       (uint64_t)mib << 20, &res);
	if (r < 0) {
		fprintf(stderr, "qm-diskcheck: %s\n", res.message);
		return 2;
	}
	printf("%s\n", res.message);
	return res.ok ? 0 : 1;
}
