/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte streams for the pump tests, driven by the test's libev loop: a feeder
 * writes patterned bytes into a descriptor and then ends the stream; a
 * checker reads a descriptor and verifies every byte against the pattern.
 * The pattern depends on the offset, so a lost, repeated or reordered byte
 * is caught at its place.
 */
#ifndef QM_TESTS_STREAM_H
#define QM_TESTS_STREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TS_MIB (1024ull * 1024)

/* The byte at @off of stream @seed. */
void ts_pattern(uint64_t seed, uint64_t off, unsigned char *buf, size_t len);
/* Index of the first byte of @buf that is not the pattern at @off, or -1. */
ssize_t ts_mismatch(uint64_t seed, uint64_t off, const unsigned char *buf, size_t len);

enum ts_end {
	TS_CLOSE,    /* close the descriptor */
	TS_SHUTDOWN, /* shutdown(SHUT_WR): the socket still reads */
	TS_KEEP,     /* leave it open */
};

struct ts_feed {
	ev_io io;
	int fd;
	uint64_t seed, total, sent;
	enum ts_end end;
	bool ended; /* all sent, and the stream ended as asked */
	int error;  /* negative errno of a failed write; the feed stops */
	unsigned char *buf;
};

/* Makes @fd non-blocking and starts writing @total bytes into it. */
void ts_feed_start(struct ts_feed *f, struct ev_loop *loop, int fd, uint64_t seed,
		   uint64_t total, enum ts_end end);
void ts_feed_stop(struct ts_feed *f, struct ev_loop *loop);

struct ts_check {
	ev_io io;
	int fd;
	uint64_t seed, got;
	uint64_t
		close_after; /* set after start: close once this much arrived; 0: never */
	bool eof, closed;
	int error;
	ssize_t mismatch_at; /* stream offset of the first wrong byte, or -1 */
	unsigned char *buf;
};

/* Makes @fd non-blocking and starts reading it until end of stream. */
void ts_check_start(struct ts_check *c, struct ev_loop *loop, int fd, uint64_t seed);
void ts_check_stop(struct ts_check *c, struct ev_loop *loop);

/* write(), without SIGPIPE: a pipe whose reader went away gives -EPIPE. */
ssize_t ts_write(int fd, const void *buf, size_t len);
/* Writes into @fd until it would block; returns the bytes written. */
size_t ts_fill(int fd);
bool ts_writable(int fd);
/* Open descriptors of this process. */
int ts_count_fds(void);
/* A connected TCP pair on the loopback: fds[0] accepted, fds[1] connected. */
int ts_tcp_pair(int fds[2]);

#endif
