/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding a running QEMU of a VM by its -name, through /proc. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proc.h"
#include "xml/domain-argv.h"

/* -name's guest name: "vm1", "vm1,process=x" or "guest=vm1,debug-threads=on". */
static bool name_is(const char *value, const char *name)
{
	const char *v = strncmp(value, "guest=", 6) == 0 ? value + 6 : value;
	size_t n = strcspn(v, ",");

	return n == strlen(name) && strncmp(v, name, n) == 0;
}

static bool runs_qemu_named(char **argv, const char *name)
{
	const char *prog = strrchr(argv[0], '/');

	prog = prog ? prog + 1 : argv[0];
	if (strncmp(prog, "qemu-system-", 12) != 0)
		return false;
	for (size_t i = 1; argv[i]; i++)
		if ((strcmp(argv[i], "-name") == 0 || strcmp(argv[i], "--name") == 0) &&
		    argv[i + 1] && name_is(argv[i + 1], name))
			return true;
	return false;
}

long qm_proc_find_qemu_named(const char *name, long except)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[64], *end;
		char **argv = NULL;
		struct qm_error err = { 0 };
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == except)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		/* Gone since readdir, or not ours to read: not a match. */
		if (qm_proc_read_argv(path, &argv, &err) == 0 && argv[0] &&
		    runs_qemu_named(argv, name))
			found = pid;
		qm_argv_free(argv);
	}
	closedir(d);
	return found;
}
