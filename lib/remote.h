/*
 * remote.h - remote.c: the protocol of an agent that reaches its spool over
 * ssh (agq-remote(8), agq-run(8) REMOTE): pure, no I/O but a read(2) into
 * a line buffer.
 *
 * JSON lines (one object a line, RFC 8259 text without a newline in it)
 * over the ssh channel.  The agent (agq-run --via) sends requests
 * {"id": N, "op": OP, FIELD...}, N an integer >= 0 it chooses; agq-remote
 * answers each, in order, with {"id": N, "result": {...}} or {"id": N,
 * "error": {"code": CODE, "message": TEXT}} (id null when the request's
 * could not be read).  The ops, their fields (agq_remote_check) and what
 * they do are in agq-remote(8).
 */
#ifndef AGQ_REMOTE_H
#define AGQ_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The protocol's version, sent in hello both ways. */
#define AGQ_REMOTE_VERSION 1

/* The longest line either side reads, bytes without the newline: a longer
 * one is answered "parse" and skipped.  An output chunk is at most
 * AGQ_REMOTE_CHUNK bytes before base64 (4/3 of it after). */
#define AGQ_REMOTE_MAX_LINE ((size_t)1 << 20)
#define AGQ_REMOTE_CHUNK    ((size_t)48 << 10)

/* The ops (agq-remote(8)), in the order of the table of agq_remote_check. */
enum agq_remote_op {
	AGQ_R_HELLO, AGQ_R_REGISTER, AGQ_R_HEARTBEAT, AGQ_R_NEXT, AGQ_R_START,
	AGQ_R_OUTPUT, AGQ_R_RESULT, AGQ_R_BYE, AGQ_R_NOPS
};

/* The op NAME ("hello"...), or NULL for an OP out of range.  Static. */
const char *agq_remote_op_name(int op);

/* Check the request REQ (a parsed line; any JSON value): an object with
 * an integer "id" >= 0, a known "op", and that op's fields with their
 * types (agq-remote(8)); agent names and task ids match agq_id_valid, an
 * output's "name" is stdout, stderr or agent.json, a "wait" is 0..60 s.
 * Returns the op (enum agq_remote_op) with *ID set; or -1 with the error
 * code ("invalid", "unknown_op") in *CODE (static) and the message in ERR
 * (SIZE bytes) naming the field, *ID -1 when it has none. */
int agq_remote_check(const json_t *req, json_int_t *id, const char **code,
                     char *err, size_t size);

/* A request line: {"id": ID, "op": OP, FIELDS...} and a newline, FIELDS
 * (an object or NULL) taken (its reference stolen).  malloc'd. */
char *agq_remote_request(json_int_t id, int op, json_t *fields);

/* An answer line: {"id": ID, "result": RESULT} (RESULT stolen; NULL: {})
 * and a newline; ID < 0 is null.  malloc'd. */
char *agq_remote_reply(json_int_t id, json_t *result);

/* An error line: {"id": ID, "error": {"code": CODE, "message": MSG}} and a
 * newline; ID < 0 is null.  malloc'd. */
char *agq_remote_error(json_int_t id, const char *code, const char *msg);

/* Parse an answer LINE (LEN bytes): 0 with *ID, and *RESULT (a new
 * reference, an object) or *CODE and MSG (SIZE bytes) from its error
 * (*RESULT NULL); -1 when LINE is not an answer (MSG says why). */
int agq_remote_answer(const char *line, size_t len, json_int_t *id,
                      json_t **result, char *code, size_t csize,
                      char *msg, size_t size);

/* Base64 (RFC 4648 section 4, padded) of LEN bytes of BUF, as a new JSON
 * string. */
json_t *agq_remote_b64(const void *buf, size_t len);

/* Decode the base64 text S into a malloc'd buffer, its length in *LEN.
 * NULL with errno EINVAL for text that is not base64. */
void *agq_remote_unb64(const char *s, size_t *len);

/* A buffer of bytes read, cut into lines. */
struct agq_rbuf {
	char *buf;
	size_t len, cap;
	size_t skip;            /* a line over the limit being skipped */
};

/* read(2) once from FD into B.  Returns the bytes read, 0 at EOF, -1 with
 * errno (EAGAIN for a non-blocking FD with nothing to read). */
ssize_t agq_rbuf_read(struct agq_rbuf *b, int fd);

/* The next whole line of B, without its newline, NUL-terminated, in a
 * malloc'd string (its length in *LEN); NULL when there is none yet.  A
 * line over AGQ_REMOTE_MAX_LINE is dropped up to its newline and given as
 * "" with *OVER set (the caller answers it "parse"). */
char *agq_rbuf_line(struct agq_rbuf *b, size_t *len, int *over);

void agq_rbuf_free(struct agq_rbuf *b);

/* ssh://[USER@]HOST[:PORT]/PATH, parsed (agq-run(8) REMOTE). */
struct agq_remote_url {
	char user[65];          /* "" when not given */
	char host[256];
	int port;               /* 0 when not given */
	char path[1024];        /* absolute: what agq-remote is given */
};

/* Parse URL into U.  USER [A-Za-z0-9._-], not starting with '-'; HOST a
 * name or address of [A-Za-z0-9.:-] (an IPv6 one in brackets), not
 * starting with '-' (never an ssh(1) option); PORT 1..65535; PATH absolute
 * and of [A-Za-z0-9._/+,=@%~-] only, since ssh(1) hands the remote command
 * to the user's shell unless a forced command replaces it.  0; or -1 with
 * the reason in ERR (SIZE bytes). */
int agq_remote_url_parse(const char *url, struct agq_remote_url *u,
                         char *err, size_t size);

/* The argv of the ssh(1) connection to U: SSH (a program name or path,
 * execvp(3)) -T -o BatchMode=yes -o ServerAliveInterval=ALIVE_S
 * -o ServerAliveCountMax=2 [-p PORT] [-l USER] -- HOST agq-remote PATH,
 * NULL-terminated (ssh_config(5): BatchMode never asks for a password;
 * the keepalives end a connection whose peer is gone).  The strings point
 * into U and SSH, PORTBUF (8 bytes) and ALIVEBUF (32): the array alone is
 * malloc'd. */
char **agq_remote_ssh_argv(const struct agq_remote_url *u, const char *ssh,
                           int alive_s, char *portbuf, char *alivebuf);

#endif
