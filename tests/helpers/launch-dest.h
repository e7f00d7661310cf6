/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the --launch-dest tests with real QEMU and the test guest.  The
 * VM has a boot disk (a copy of the guest's, IDE), a data disk (virtio, a
 * known pattern) and a NIC (user, virtio, a fixed MAC), described in
 * src.xml and dst.xml in the test's own directory.  Every helper fails the
 * test on an error.
 */
#ifndef QM_TESTS_LAUNCH_DEST_H
#define QM_TESTS_LAUNCH_DEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tests/helpers/qemu.h"

/* The test's own directory: images, descriptions, outputs, runtime dirs. */
extern char ld_dir[64];

/* A criterion .init: makes ld_dir and this process a child subreaper. */
void ld_setup(void);
/* A criterion .fini: stops both QEMUs of the pair and removes ld_dir. */
void ld_teardown(void);

/* @name's path in ld_dir, into @buf. */
void path_in(char *buf, size_t size, const char *name);
/* Writes boot.img (a copy of the guest's image) and data.img (the pattern). */
void make_disks(void);
/* data.img still holds the pattern, byte for byte. */
void assert_data_intact(void);
/* Writes @side.xml ("src", "dst"): only the serial log differs; @vnc adds a password. */
void write_domain(const char *side, bool vnc);
/* The disks, src.xml and dst.xml, then `qmigrate launch` of the source into pair.src. */
void start_source(bool vnc);

/*
 * Runs $QMIGRATE with @args, stdout and stderr into @out and @err in ld_dir,
 * @env_trace adding the debug log and the QMP trace; bounded; the exit code.
 */
int run_qmigrate(const char *const args[], const char *out, const char *err,
		 bool env_trace);
/* The whole file at @path, to free(); its length in *@len. */
char *slurp(const char *path, size_t *len);
/* The same for @name in ld_dir. */
char *slurp_in(const char *name, size_t *len);
/* The last line of @name (in ld_dir) that is a JSON object with "event": @event. */
json_t *last_event(const char *name, const char *event);
/* The string member @key of @obj (borrowed). */
const char *field(json_t *obj, const char *key);
/* Fills @vm with the QEMU @pid qmigrate launched for @side, its monitor at @qmp. */
void adopt(struct tq_qemu *vm, long pid, const char *qmp, const char *side);

/* query-block names @image (in ld_dir) on the virtio data disk. */
void assert_data_disk_attached(struct tq_qemu *vm, const char *image);
/* query-rx-filter names the description's MAC. */
void assert_mac(struct tq_qemu *vm);
/* /proc/@pid/cmdline contains @what. */
bool cmdline_has(pid_t pid, const char *what);
/* SIGTERM by pid, and the QEMU ends within a bound. */
void stop_by_pid(struct tq_qemu *vm);
/* query-vnc's auth ("(none)" without one), into @buf. */
const char *vnc_auth(struct tq_qemu *vm, char *buf, size_t size);

/* No regular file under @path holds the VNC password; counts them in *@files. */
void expect_no_password_under(const char *path, int *files);
/* @name in ld_dir does not hold the password. */
void expect_no_password_in_file(const char *name);
/* @vm's argv does not hold the password, and its display is locked. */
void expect_no_password_in_cmdline(struct tq_qemu *vm);

#endif
