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

#define QEMU_PIPE_SIZE (1u << 20) /* what an unprivileged process may have */

struct qm_tunnel_remote;

struct qm_tunnel {
	struct qm_job *job;
	int listen_fd;
	ev_io accept_io;
	char dst_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct qm_pump *pumps[QM_STREAM_MAX];
	size_t n_pumps;
	unsigned long long bytes_ended; /* moved by pumps that already ended */
	int qemu_fd[2]; /* pipes: the ends QEMU gets, until they are passed */
	/* Carries a source QEMU's stream on (takes @in): locally or to a host. */
	int (*join)(struct qm_tunnel *t, int in, struct qm_error *err);
	struct qm_tunnel_remote *remote; /* tunnel-remote.c; NULL in local mode */
};

/* tunnel.c */
/* A tunnel in @job with nothing open, joining streams locally; NULL (the job failed). */
struct qm_tunnel *qm_tunnel_new(struct qm_job *job);
enum qm_pump_mode qm_tunnel_pump_mode(const struct qm_tunnel *t);
/* Starts a pump on @o's descriptors (it owns them from here, even on failure). */
int qm_tunnel_pump_add(struct qm_tunnel *t, const struct qm_pump_options *o,
		       struct qm_error *err);
/* Listens on RUNDIR/tunnel.sock for the source's streams; fails the job on error. */
int qm_tunnel_listen(struct qm_tunnel *t, char *uri, size_t uri_len);

/* tunnel-remote.c */
/* The stream processes get SIGTERM: whatever they carry is let go of. */
void qm_tunnel_remote_hangup(struct qm_tunnel *t);
/* Stops and reaps every stream process (bounded), frees the remote part. */
void qm_tunnel_remote_free(struct qm_tunnel *t);

#endif
