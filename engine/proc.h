/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What /proc tells of another process: its command line and the program it
 * runs.  Private to qmigrate.  Every read is bounded; nothing here trusts
 * what the file holds.
 */
#ifndef QM_ENGINE_PROC_H
#define QM_ENGINE_PROC_H

#include "qmigrate.h"
#include "util/macros.h"

#define QM_PROC_CMDLINE_MAX (256 * 1024) /* bytes of a command line */

/*
 * Reads @path, a /proc/PID/cmdline (arguments each ended by a NUL), into a
 * new NULL-terminated argv in *@out (qm_argv_free it, xml/domain-argv.h).
 * Class DescribeArgv: cannot open or read it, not a regular file, empty (a
 * kernel thread, or a process that has exited), longer than
 * QM_PROC_CMDLINE_MAX, or more than QM_DESCRIBE_MAX_ARGS arguments.
 */
int qm_proc_read_argv(const char *path, char ***out, struct qm_error *err) _must_check_;

/*
 * The program @path (a /proc/PID/exe) links to, in a new string in *@out.
 * A program replaced since it started (a package upgrade) reads as
 * "PATH (deleted)": the suffix goes, and the file now at PATH is what a new
 * QEMU would run.  Class DescribeArgv.
 */
int qm_proc_read_exe(const char *path, char **out, struct qm_error *err) _must_check_;

/*
 * proc-find.c: the pid of a running qemu-system-* whose -name is @name, other
 * than @except, or 0 when there is none (or /proc cannot be read).
 */
long qm_proc_find_qemu_named(const char *name, long except);

#endif
