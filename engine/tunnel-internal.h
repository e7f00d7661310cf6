/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnel's insides, shared by tunnel.c (local mode, and what both modes
 * share: the pumps, the listening socket, hang-up and close) and
 * tunnel-remote.c (the streams that stream processes carry to another host).
 */
#ifndef QM_ENGINE_TUNNEL_INTERNAL_H
#define QM_ENGINE_TUNNEL_INTERNAL_H

#include <sys/un.h>

#include "engine/job.h"
#include "engine/stream.h"
#include "tunnel/pump.h"
#include "xml/cookie.h"

#define QEMU_PIPE_SIZE (1u << 20) /* what an unprivileged process may have */

struct qm_tunnel_remote;

/*
 * What a tunnel carries, each to a socket of its own on the destination:
 * the migration streams to the incoming socket, and the mirrors' NBD
 * connections to the NBD server (storage migration).
 */
enum qm_tunnel_lane_id {
	QM_LANE_MIGRATION,
	QM_LANE_NBD,
	QM_LANES,
};

/* NBD connections a tunnel joins: one per disk, and as many again for a reconnect. */
#define QM_TUNNEL_NBD_MAX (2 * QM_COOKIE_MAX_DISKS)
#define QM_TUNNEL_PUMPS (QM_STREAM_MAX + QM_TUNNEL_NBD_MAX)

struct qm_tunnel_lane {
	struct qm_tunnel *t;
	enum qm_tunnel_lane_id id;
	int listen_fd;
	ev_io accept_io;
	char dst_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t joined, max;		/* connections joined so far, and at most */
	unsigned long long bytes_ended; /* moved by its pumps that already ended */
};

struct qm_tunnel_pump {
	struct qm_pump *pump; /* NULL once ended */
	enum qm_tunnel_lane_id lane;
};

struct qm_tunnel {
	struct qm_job *job;
	struct qm_tunnel_lane lanes[QM_LANES];
	struct qm_tunnel_pump pumps[QM_TUNNEL_PUMPS];
	size_t n_pumps;
	int qemu_fd[2]; /* pipes: the ends QEMU gets, until they are passed */
	/* Carries a connection of the source's lane @l on (takes @in): locally or to a host. */
	int (*join)(struct qm_tunnel_lane *l, int in, struct qm_error *err);
	struct qm_tunnel_remote *remote; /* tunnel-remote.c; NULL in local mode */
};

/* tunnel.c */
/* A tunnel in @job with nothing open, joining streams locally; NULL (the job failed). */
struct qm_tunnel *qm_tunnel_new(struct qm_job *job);
enum qm_pump_mode qm_tunnel_pump_mode(const struct qm_tunnel *t);
/* Starts a pump of lane @lane on @o's descriptors (it owns them from here, even on failure). */
int qm_tunnel_pump_add(struct qm_tunnel *t, enum qm_tunnel_lane_id lane,
		       const struct qm_pump_options *o, struct qm_error *err);
/*
 * Listens on RUNDIR/NAME for the source's connections of @lane (the
 * migration streams: tunnel.sock; NBD: nbd-tunnel.sock), creating the
 * runtime directory if the job has none yet; fails the job on error.
 */
int qm_tunnel_listen(struct qm_tunnel *t, enum qm_tunnel_lane_id lane);
/* True when a pump of @lane goes both ways: NBD always, migration with post-copy. */
bool qm_tunnel_lane_both_ways(const struct qm_tunnel *t, enum qm_tunnel_lane_id lane);

/* tunnel-remote.c */
/* The stream processes get SIGTERM: whatever they carry is let go of. */
void qm_tunnel_remote_hangup(struct qm_tunnel *t);
/* Stops and reaps every stream process (bounded), frees the remote part. */
void qm_tunnel_remote_free(struct qm_tunnel *t);

#endif
