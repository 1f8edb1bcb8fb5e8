/*
 * What the native relay's files share (native/relay.c: Node's epoll set, dials and listeners, the
 * addon's exports; native/session.c: the sessions after the join and the relay thread): the
 * readiness of a connection as its epoll set reported it, reads and writes through OpenSSL or not,
 * and a dial, which a session takes over at the join.
 */
#ifndef POSTERN_RELAY_H
#define POSTERN_RELAY_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define NAPI_VERSION 8
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "tls.h"

#define CHUNK (64 * 1024)
#define ROUNDS 16

/* What an epoll event names first: a session's side, a dial, a listener, the relay thread's wake-up. */
enum { K_SIDE = 1, K_DIAL = 2, K_LISTEN = 3, K_WAKE = 4 };

typedef struct {
  char *data;
  size_t len, off;
} bytes_t;

/* What the epoll set said of a connection, kept until a system call says otherwise (edges do not repeat). */
typedef struct {
  int readable, writable;
  int hup;  /* the peer's FIN was seen: a short read does not empty the socket of its EOF */
  /* TLS: a read waits for the socket to take writes, or a write for bytes (an edge of the other kind lets it go on). */
  int read_wants_write, write_wants_read;
} ready_t;

/* A connection's registration, edge-triggered: reads, writes and the peer's FIN. */
#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
/*
 * A relayed side's at first: without EPOLLOUT, which a fresh socket always has, so that the join
 * brings an event only when there is something to read. EPOLLOUT is asked for once a write finds the
 * socket full (session.c's after()).
 */
#define SIDE_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

/* An epoll event's news of a connection; an edge of either kind lets a TLS call that waited on it go on. */
static inline void ready_note(ready_t *io, uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    io->readable = 1;
    if (io->write_wants_read) io->writable = 1;
    io->write_wants_read = 0;
  }
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) io->hup = 1;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
    io->writable = 1;
    if (io->read_wants_write) io->readable = 1;
    io->read_wants_write = 0;
  }
}

/*
 * read(2) of a connection, through OpenSSL when it speaks TLS: > 0, 0 at EOF, -1 with errno (EAGAIN:
 * nothing now; EPROTO: a TLS error, tls_failure()). A TLS read that waits for the socket to take
 * writes says so in `io`; the caller marks it unreadable as for any EAGAIN.
 */
static inline ssize_t io_read(int fd, SSL *ssl, ready_t *io, void *buf, size_t n) {
  if (ssl == NULL) return read(fd, buf, n);
  int other = 0;
  ssize_t got = tls_read(ssl, buf, n, &other);
  if (got < 0 && errno == EAGAIN && other) {
    io->writable = 0;
    io->read_wants_write = 1;
  }
  return got;
}

/* write(2), as io_read. */
static inline ssize_t io_write(int fd, SSL *ssl, ready_t *io, const void *buf, size_t n) {
  if (ssl == NULL) return write(fd, buf, n);
  int other = 0;
  ssize_t put = tls_write(ssl, buf, n, &other);
  if (put < 0 && errno == EAGAIN && other) {
    io->readable = 0;
    io->write_wants_read = 1;
  }
  return put;
}


/*
 * "<op> <errno name>" for a libuv error code (-errno), named as Node names it ("read ECONNRESET"), or
 * "tls <what OpenSSL said>" for the TLS error (EPROTO) of a connection in TLS.
 */
static inline void err_text(char *buf, size_t size, const char *op, int err, SSL *ssl) {
  if (err == UV_EPROTO && ssl != NULL) snprintf(buf, size, "tls %s", tls_failure());
  else snprintf(buf, size, "%s %s", op, uv_err_name(err));
}

static inline void bytes_free(bytes_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->off = 0;
}


static inline int bytes_pending(const bytes_t *b) { return b->data != NULL && b->off < b->len; }

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "POSTERN_RELAY", "relay: " #call " failed");  \
      return NULL;                                                         \
    }                                                                      \
  } while (0)



/*
 * A dial is a plain TCP connection to a backend that postern logs in on before the join: JavaScript
 * runs the protocol's login (it gets each chunk read, and writes), and the relay then takes the
 * descriptor as it is, with no dup (its registration moves to the relay thread's set). It saves a net.Socket per
 * proxied login: its construction, its stream machinery and its destruction.
 */
enum { D_CONNECTING, D_OPEN, D_DONE };
enum { DE_CONNECTED = 1, DE_DATA = 2, DE_END = 3, DE_ERROR = 4, DE_SECURE = 5 };
/* TLS on a dial: none, asked for (STARTTLS: once what is written before it has left), under way, in place. */
enum { T_NONE, T_PENDING, T_HANDSHAKE, T_READY };

/*
 * What the epoll dispatch and the free list know of a dial or a listener: its kind first (as side_t's),
 * whether a caller still holds it, its place on the free list.
 */
typedef struct item {
  int kind;
  int busy; /* a caller holds it (dial_ready, dial_send, the again list, an accept): not freed yet */
  struct item *next_free;
} item_t;

typedef struct dial {
  item_t it; /* K_DIAL */
  napi_env env;
  napi_ref cb;
  int fd;
  int state;
  ready_t io;
  int js_alive; /* the JavaScript handle has not been collected */
  int doomed;   /* on the free list */
  int paused;   /* JavaScript reads nothing now (a login under way) */
  int ending;   /* closes once `out` is written (dialEnd) */
  int lingering; /* ending, FIN sent: reads and drops until the peer's FIN */
  int again;    /* stopped at ROUNDS with more to read: goes on at the next turn of the loop */
  struct dial *next_again;
  bytes_t out;  /* what a write could not take yet */
  int tls;      /* T_* */
  SSL *ssl;
  tls_ctx_t *tctx; /* held until the handshake is over (SNI looks into it) */
  char *servername, *verify_host; /* a backend's TLS (a client context): until its SSL is made */
  /* The backend a dial connects to (no family for an accepted connection): its TLS sessions' cache key. */
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } to;
} dial_t;

/* native/relay.c */
extern napi_async_context async_ctx;
extern int epfd; /* Node's loop's set: dials, listeners, the sessions' first commands */
void call_ref(napi_env env, napi_ref ref, int argc, napi_value *argv, napi_value *result);
uv_loop_t *relay_loop(napi_env env);
dial_t *dial_unwrap(napi_env env, napi_value v);
void dial_release(dial_t *d, int close_fd);

/* native/session.c */
void session_ready(void *side, uint32_t events);
void session_batch(int begin);
void session_deliver(void);
napi_value session_adopt(napi_env env, napi_callback_info info);
napi_value session_destroy(napi_env env, napi_callback_info info);
napi_value session_farewell(napi_env env, napi_callback_info info);
napi_value session_bytes(napi_env env, napi_callback_info info);

#endif
