/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Describing the QEMU at the other end of a QMP connection.  The commands
 * go out at once (engine/batch.h); once every reply is in, the connection
 * is known to be open, so the peer's pid names that QEMU: its command line
 * is read then, and the process is checked to be still alive after (a
 * pidfd), so that the command line read is that QEMU's and no other's.
 */
#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/describe.h"
#include "engine/proc.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "xml/domain-argv.h"

#define TAIL "; describe the VM with --domain FILE"

/* What is asked, and under which name the reply is kept (engine/describe-facts.c). */
static const struct {
	const char *key, *command, *args;
	bool optional; /* a QEMU without VNC or SPICE, a machine without ACPI */
} questions[] = {
	{ "query-name", "query-name", NULL, false },
	{ "query-uuid", "query-uuid", NULL, false },
	{ "query-target", "query-target", NULL, false },
	{ "query-kvm", "query-kvm", NULL, false },
	{ "query-cpus-fast", "query-cpus-fast", NULL, false },
	{ "query-memory-size-summary", "query-memory-size-summary", NULL, false },
	{ "query-block", "query-block", NULL, false },
	{ "query-vnc", "query-vnc", NULL, true },
	{ "query-spice", "query-spice", NULL, true },
	{ "query-chardev", "query-chardev", NULL, false },
	{ "query-machines", "query-machines", NULL, false },
	{ "machine-type", "qom-get", "{\"path\": \"/machine\", \"property\": \"type\"}",
	  false },
	{ "machine-acpi", "qom-get", "{\"path\": \"/machine\", \"property\": \"acpi\"}",
	  true },
	{ "peripheral", "qom-list", "{\"path\": \"/machine/peripheral\"}", false },
	{ "peripheral-anon", "qom-list", "{\"path\": \"/machine/peripheral-anon\"}",
	  false },
};

struct describe {
	struct qm_qmp *qmp;
	const char *proc_root;
	qm_describe_fn done;
	void *userdata;
	struct qm_error err;
};

/* Who is at the other end: a pidfd, with the pid and uid, or an error that says why not.
 */
static int peer(struct describe *ds, pid_t *pid)
{
	uid_t uid;
	int pidfd = qm_qmp_peer(ds->qmp, pid, &uid);

	if (pidfd >= 0)
		return pidfd;
	if (pidfd == -ESRCH && *pid == 0)
		return qm_error_set(
			&ds->err, pidfd, "DescribePeer",
			"the QEMU at the other end of the QMP socket runs in another PID "
			"namespace (a container?), where its process and command line "
			"cannot be seen from here" TAIL);
	if (pidfd == -ESRCH)
		return qm_error_set(&ds->err, pidfd, "DescribePeer",
				    "QEMU (pid %ld) has exited", (long)*pid);
	return qm_error_set(&ds->err, pidfd, "DescribePeer",
			    "cannot tell which process is at the other end of the QMP "
			    "socket: %s" TAIL,
			    strerror(-pidfd));
}

/* /proc/PID/cmdline and /proc/PID/exe; another user's exe cannot be read. */
static int read_process(struct describe *ds, pid_t pid, char ***argv, char **exe)
{
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/%ld/cmdline", ds->proc_root, (long)pid);
	r = qm_proc_read_argv(path, argv, &ds->err);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%ld/exe", ds->proc_root, (long)pid);
	r = qm_proc_read_exe(path, exe, NULL);
	if (r == -EACCES || r == -EPERM)
		return qm_error_set(
			&ds->err, r, "DescribePeer",
			"QEMU (pid %ld) runs as another user: qmigrate (uid %ld) cannot "
			"read %s; run qmigrate as QEMU's user" TAIL,
			(long)pid, (long)geteuid(), path);
	if (r < 0)
		return qm_proc_read_exe(path, exe, &ds->err);
	return 0;
}

/* Still the same process: a pidfd polls readable once its process has exited. */
static int still_alive(struct describe *ds, int pidfd, pid_t pid)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (poll(&p, 1, 0) == 0)
		return 0;
	return qm_error_set(&ds->err, -ESRCH, "DescribePeer",
			    "QEMU (pid %ld) exited while it was described", (long)pid);
}

static int describe_replies(struct describe *ds, json_t *replies, struct qm_domain **d)
{
	_cleanup_argv_ char **argv = NULL;
	_cleanup_free_ char *exe = NULL;
	_cleanup_close_ int pidfd = -1;
	struct qm_describe_facts facts;
	pid_t pid;
	int r;

	pidfd = peer(ds, &pid);
	if (pidfd < 0)
		return pidfd;
	r = read_process(ds, pid, &argv, &exe);
	if (r == 0)
		r = still_alive(ds, pidfd, pid);
	if (r == 0 && (json_object_set_new(replies, "pid", json_integer(pid)) < 0 ||
		       json_object_set_new(replies, "emulator", json_string(exe)) < 0))
		r = qm_error_set(&ds->err, -ENOMEM, "Describe", "out of memory");
	if (r < 0)
		return r;
	r = qm_describe_facts_read(replies, &facts, &ds->err);
	if (r == 0)
		r = qm_domain_describe(argv, &facts, d, &ds->err);
	qm_describe_facts_release(&facts);
	return r;
}

static void batch_done(void *userdata, json_t **results, const struct qm_error *err)
{
	struct describe *ds = userdata;
	json_t *replies = err ? NULL : json_object();
	struct qm_domain *d = NULL;

	if (err)
		qm_error_copy(&ds->err, err);
	else if (!replies)
		qm_error_set(&ds->err, -ENOMEM, "Describe", "out of memory");
	for (size_t i = 0; replies && i < ARRAY_SIZE(questions); i++)
		if (results[i] &&
		    json_object_set(replies, questions[i].key, results[i]) < 0)
			qm_error_set(&ds->err, -ENOMEM, "Describe", "out of memory");
	if (!qm_error_is_set(&ds->err))
		describe_replies(ds, replies, &d);
	ds->done(ds->userdata, d, replies, qm_error_is_set(&ds->err) ? &ds->err : NULL);
	json_decref(replies);
	qm_qmp_unref(ds->qmp);
	free(ds);
}

int qm_describe_start(struct qm_qmp *qmp, const struct qm_describe_opts *opts,
		      qm_describe_fn done, void *userdata, struct qm_error *err)
{
	struct qm_batch_cmd cmds[ARRAY_SIZE(questions)];
	struct describe *ds = calloc(1, sizeof(*ds));
	int r;

	if (!ds)
		return qm_error_set(err, -ENOMEM, "Describe", "out of memory");
	ds->qmp = qm_qmp_ref(qmp);
	ds->proc_root = opts && opts->proc_root ? opts->proc_root : "/proc";
	ds->done = done;
	ds->userdata = userdata;
	for (size_t i = 0; i < ARRAY_SIZE(questions); i++)
		cmds[i] = (struct qm_batch_cmd){
			.name = questions[i].command,
			.args = questions[i].args ? json_loads(questions[i].args, 0, NULL)
						  : NULL,
			.optional = questions[i].optional,
		};
	r = qm_batch_run(qmp, cmds, ARRAY_SIZE(questions), batch_done, ds, err);
	if (r < 0) {
		qm_qmp_unref(ds->qmp);
		free(ds);
	}
	return r;
}

struct sync_wait {
	bool done;
	struct qm_domain *d;
	json_t *facts;
	struct qm_error *err;
};

static void sync_done(void *userdata, struct qm_domain *d, json_t *facts,
		      const struct qm_error *err)
{
	struct sync_wait *w = userdata;

	w->done = true;
	w->d = d;
	w->facts = json_incref(facts);
	qm_error_copy(w->err, err);
}

int qm_describe_sync(struct qm_qmp *qmp, const struct qm_describe_opts *opts,
		     struct qm_domain **out, json_t **facts, struct qm_error *err)
{
	struct qm_error local = { 0 };
	struct sync_wait w = { .err = err ? err : &local };
	int r;

	*out = NULL;
	if (facts)
		*facts = NULL;
	r = qm_describe_start(qmp, opts, sync_done, &w, w.err);
	if (r < 0)
		return r;
	/* Bounded: every command ends by reply, timeout or connection failure. */
	qm_qmp_ref(qmp);
	while (!w.done)
		ev_run(qm_qmp_loop(qmp), EVRUN_ONCE);
	qm_qmp_unref(qmp);
	*out = w.d;
	if (facts)
		*facts = w.facts;
	else
		json_decref(w.facts);
	return w.d ? 0 : (w.err->code ? w.err->code : -EIO);
}
