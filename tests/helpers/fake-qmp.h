/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scripted fake QMP server for unit tests, on the test's own libev loop.
 *
 * The script runs eagerly: output steps queue bytes (consecutive ones leave in
 * one write), and the server stops at the next EXPECT until a command arrives,
 * or at a WAIT until fq_resume().  A command the script does not expect there
 * fails the test at once; steps left over fail it in fq_free().  Replies are
 * messages recorded from QEMU (tests/data/qmp/) or literal text, sent with
 * "id" set to the id of the command kept in their slot.
 */
#ifndef QM_TESTS_FAKE_QMP_H
#define QM_TESTS_FAKE_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

struct ev_loop;

enum fq_op {
	FQ_OP_END,
	FQ_OP_SEND,   /* writes .text, or the recorded message .file, as it is */
	FQ_OP_EXPECT, /* the next command must be .name; its id is kept in .slot */
	FQ_OP_REPLY,  /* writes .text or .file with "id" set to the id kept in .slot */
	FQ_OP_HANGUP, /* closes the connection once everything before it is written */
	FQ_OP_WAIT,   /* stops until fq_resume(); a command meanwhile is unexpected */
};

struct fq_step {
	enum fq_op op;
	const char *name;
	const char *text;
	const char *file;
	int slot;
	bool slow;	  /* SEND, REPLY: one byte per loop iteration */
	const char *args; /* EXPECT: the arguments must equal this JSON object */
	bool fd;	  /* EXPECT: an fd comes with the command... */
	mode_t fd_type;	  /* ...of this S_IFMT type, e.g. S_IFIFO (0: any)... */
	const struct stat *fd_same; /* ...and is this very file (device and inode) */
	bool fd_keep;	  /* ...and is kept open, as QEMU would, until fq_free() */
	/* ...and is a socket whose send buffer is what asking for this many bytes gets */
	int fd_sndbuf;
	/* EXPECT: when the command comes, no descriptor names the kept pipe's other end */
	bool kept_fd_orphaned;
};

#define FQ_SLOTS 16
#define FQ_CAPS_SLOT (FQ_SLOTS - 1)

/* clang-format off */
#define FQ_SEND_FILE(f) { .op = FQ_OP_SEND, .file = (f) }
#define FQ_SEND_TEXT(t) { .op = FQ_OP_SEND, .text = (t) }
#define FQ_EXPECT(n, s) { .op = FQ_OP_EXPECT, .name = (n), .slot = (s) }
#define FQ_REPLY_FILE(s, f) { .op = FQ_OP_REPLY, .slot = (s), .file = (f) }
#define FQ_REPLY_TEXT(s, t) { .op = FQ_OP_REPLY, .slot = (s), .text = (t) }
#define FQ_HANGUP { .op = FQ_OP_HANGUP }
#define FQ_WAIT { .op = FQ_OP_WAIT }
#define FQ_END { .op = FQ_OP_END }
/* The recorded greeting, then qmp_capabilities and its recorded reply. */
#define FQ_HANDSHAKE                                                                       \
	FQ_SEND_FILE("greeting.json"),                                                     \
	FQ_EXPECT("qmp_capabilities", FQ_CAPS_SLOT),                                       \
	FQ_REPLY_FILE(FQ_CAPS_SLOT, "capabilities.json")
/* clang-format on */

struct fq;

/* Serves @script (which must outlive the server) on one end of a socketpair. */
struct fq *fq_new(struct ev_loop *loop, const struct fq_step *script);
/* Listens on the UNIX socket @path and serves @script to the first client. */
struct fq *fq_listen(struct ev_loop *loop, const char *path,
		     const struct fq_step *script);
/* The client's end of the socketpair; the caller owns it from now on. */
int fq_client_fd(struct fq *f);
/* Lets a script stopped at a WAIT step go on. */
void fq_resume(struct fq *f);
bool fq_waiting(const struct fq *f);
/* Every step ran and every byte was written. */
bool fq_finished(const struct fq *f);
/* The client closed its end. */
bool fq_peer_closed(const struct fq *f);
/* A client is connected, and neither side has closed the connection. */
bool fq_connected(const struct fq *f);
/* The id of the command kept in @slot (borrowed), or NULL. */
json_t *fq_slot_id(const struct fq *f, int slot);
/* Fails the test for every step not consumed and every fd no step expected; frees. */
void fq_free(struct fq *f);

/* The recorded message tests/data/qmp/@name, as a string to free(). */
char *fq_load(const char *name);

#endif
