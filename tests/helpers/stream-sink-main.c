/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's end of a stream, for the tests: `stream-sink [WORD]...
 * --stream PATH [--stream-index N]` relays stdin to the UNIX socket PATH and back to stdout,
 * as `qmigrate serve --stdio --stream PATH` does, without the command.
 * Exits 0 when both directions ended, 1 with the error on stderr, 2 on
 * misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/stream.h"

int main(int argc, char **argv)
{
	struct qm_error err = { 0 };
	const char *path = NULL;
	unsigned index = 0;

	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], QM_STREAM_OPTION) == 0)
			path = argv[i + 1];
		if (strcmp(argv[i], QM_STREAM_INDEX_OPTION) == 0)
			index = (unsigned)atoi(argv[i + 1]);
	}
	if (!path) {
		fprintf(stderr, "usage: %s [WORD]... " QM_STREAM_OPTION " PATH\n",
			argv[0]);
		return 2;
	}
	if (qm_stream_sink(NULL, path, index, STDIN_FILENO, STDOUT_FILENO, &err) < 0) {
		fprintf(stderr, "stream-sink: %s (%s)\n", err.text, err.error_class);
		return 1;
	}
	return 0;
}
