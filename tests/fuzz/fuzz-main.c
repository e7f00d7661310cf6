/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a libFuzzer harness once over every file of its corpus, without
 * libFuzzer: the regression test of make check.  The arguments name files
 * or folders; without any, the folders in FUZZ_CORPUS (colon-separated,
 * relative to $top_srcdir) are used.  With --corpus it only prints those
 * folders, one a line: scripts/fuzz seeds libFuzzer with them, so that
 * Makefile.am is the one place that names a harness's corpus.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"
#include "util/macros.h"

static int run_file(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	/* malloc(0) may give NULL: always ask for at least one byte. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -1;
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		fprintf(stderr, "%s: short read\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	return 1;
}

/* Returns the number of files run, or -1. */
static int run_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n, total = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char *sub = NULL;
		int r = 0;

		if (ents[i]->d_name[0] != '.' &&
		    asprintf(&sub, "%s/%s", path, ents[i]->d_name) >= 0) {
			r = run_path(sub);
			free(sub);
		}
		free(ents[i]);
		if (r < 0 || total < 0)
			total = -1;
		else
			total += r;
	}
	free(ents);
	return total;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	int total = 0, r;

	if (!top || !*top)
		top = ABS_TOP_SRCDIR;
#ifdef FUZZ_CORPUS
	if (argc == 2 && strcmp(argv[1], "--corpus") == 0) {
		_cleanup_free_ char *dirs = strdup(FUZZ_CORPUS);

		if (!dirs)
			return 1;
		for (char *d = strtok(dirs, ":"); d; d = strtok(NULL, ":"))
			printf("%s/%s\n", top, d);
		return 0;
	}
#endif
	for (int i = 1; i < argc && total >= 0; i++) {
		r = run_path(argv[i]);
		total = r < 0 ? -1 : total + r;
	}
#ifdef FUZZ_CORPUS
	if (argc == 1) {
		_cleanup_free_ char *dirs = strdup(FUZZ_CORPUS);

		for (char *d = strtok(dirs, ":"); d && total >= 0;
		     d = strtok(NULL, ":")) {
			_cleanup_free_ char *path = NULL;

			if (asprintf(&path, "%s/%s", top, d) < 0)
				return 1;
			r = run_path(path);
			total = r < 0 ? -1 : total + r;
		}
	}
#endif
	if (total <= 0) {
		fprintf(stderr, "no input was run\n");
		return 1;
	}
	printf("%d inputs ran without a finding\n", total);
	return 0;
}
