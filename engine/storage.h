/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage migration (docs/storage.md): the disks that move with the VM,
 * through the phases.  Begin finds them on the source and puts their sizes
 * in its cookie; prepare creates their images on the destination, launches
 * it and serves them over NBD; perform mirrors each disk into its export
 * before the memory moves and completes the mirrors at the switch-over;
 * finish stops the NBD server.  A failure cancels the mirrors and removes
 * the images prepare created, and only those.
 */
#ifndef QM_ENGINE_STORAGE_H
#define QM_ENGINE_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "qmigrate.h"
#include "xml/cookie.h"

#include <ev.h>

struct qm_job;
struct qm_domain;

/* One disk that moves, on either side. */
struct qm_storage_disk {
	char target[32];      /* <target dev> */
	char export_name[64]; /* the destination's NBD export */
	uint64_t capacity;
	/* inc: the shared backing file under the copied top layer, and its format */
	char backing[512];
	char backing_format[8];
	/* the destination: the image prepare created (and owns until success) */
	char *path;
	/* the source: the mirror's state */
	bool nbd_added, mirroring, ready, ended;
	bool fd_named; /* getfd left a connection named for its NBD node */
	unsigned add_cmd, mirror_cmd; /* their places in the batch that starts it */
	int del_cmd; /* blockdev-del's place in the batch that drops it, or -1 */
	uint64_t offset, len;
};

struct qm_storage {
	char **only; /* copy_storage_disks, copied; NULL: every writable disk */
	bool inc;    /* only the top layers move, above shared backing files */
	struct qm_storage_disk disks[QM_COOKIE_MAX_DISKS];
	unsigned n_disks;
	/* prepare's NBD server: a TCP host and port, or a UNIX socket */
	char host[256];
	int port;
	char socket[108];
	bool serving; /* nbd-server-start went to the destination */
	bool keep;    /* finish succeeded: the images stay */
	/* the source's mirrors (storage-source.c) */
	void (*next)(struct qm_job *job);	    /* when the stage's wait ends */
	void (*after_rollback)(struct qm_job *job); /* when the rollback is over */
	int stage;
	ev_timer timer;		 /* polls query-block-jobs */
	ev_timer deadline_timer; /* the stage's bound */
	ev_tstamp last_t;
	uint64_t last_done;
	bool subscribed, inflight, switched;
};

/* storage.c: options and the job's state */
/* "Usage" errors: no launch_dest, the tunnel, post-copy, bad names. */
int qm_storage_options_check(const struct qm_job_options *opts, struct qm_error *err);
int qm_storage_options_copy(struct qm_job *job, const struct qm_job_options *opts,
			    struct qm_error *err);
/* The job's last unref: images still owned by a job that did not succeed go. */
void qm_storage_free(struct qm_job *job);
/* The job copies disks. */
bool qm_storage_wanted(const struct qm_job *job);
/* The job's disks into @c's nbd section (mandatory), as begin or prepare says them. */
void qm_storage_cookie(const struct qm_job *job, struct qm_cookie *c);

/* storage-begin.c: the source's side, which disks move */
/*
 * Begin: finds the disks to copy (query-block) and their sizes, then calls
 * @next; refuses the job (and calls @next all the same) when it cannot.
 */
void qm_storage_query(struct qm_job *job, void (*next)(struct qm_job *job));
/* Perform: takes prepare's nbd section; fails the job when it does not fit begin's. */
int qm_storage_take_prepare(struct qm_job *job, const struct qm_cookie *c);

/* storage-source.c: the source's side, the mirrors */
/* The buf-size of each mirror when @n_disks copy at once, in bytes. */
int qm_storage_mirror_buf(unsigned n_disks);

/*
 * Perform, before migrate: mirrors every disk into its export and calls
 * @next once all are ready; on failure the job has its error, the mirrors
 * were cancelled, and @next is called all the same.
 */
void qm_storage_mirror(struct qm_job *job, void (*next)(struct qm_job *job));
/*
 * The migration reached pre-switchover (the source is paused): completes
 * every mirror without a pivot, waits for them, drops the NBD nodes, then
 * lets the migration go on (migrate-continue).  Once; fails the job on error.
 */
void qm_storage_switchover(struct qm_job *job);
/* The job failed during perform: a wait for ready mirrors ends now. */
void qm_storage_perform_failed(struct qm_job *job);
/* After a failure: cancels the mirrors and drops the NBD nodes, then calls @next. */
void qm_storage_source_rollback(struct qm_job *job, void (*next)(struct qm_job *job));

/* storage-dest.c: the destination's side */
/* Prepare: takes begin's nbd section (a refusal when it cannot). */
int qm_storage_take_begin(struct qm_job *job, const struct qm_cookie *c);
/*
 * Prepare, before the launch: creates each copied disk's image, of its
 * capacity and format, at its path in @full (never over an existing file).
 * Fails the job on error.
 */
int qm_storage_create_images(struct qm_job *job, const struct qm_domain *full);
/* Prepare, once incoming: starts the NBD server and exports each disk, then calls @next.
 */
void qm_storage_serve(struct qm_job *job, void (*next)(struct qm_job *job));
/* Finish, before cont: stops the NBD server, then calls @next (fails the job on error).
 */
void qm_storage_unserve(struct qm_job *job, void (*next)(struct qm_job *job));
/* True while the destination's NBD server runs. */
bool qm_storage_serving(const struct qm_job *job);
/* Finish succeeded: the images are the destination's now. */
void qm_storage_keep_images(struct qm_job *job);
/* A failure: removes the images prepare created (and only those). */
void qm_storage_remove_images(struct qm_job *job);

#endif
