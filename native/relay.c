/*
 * The relay of a proxied session after login, in native code: no JavaScript runs per chunk. A
 * session starts in the edge-triggered epoll set of the connections before the join (dials,
 * listeners, below), which Node's loop watches as a single descriptor: a login that ends at once
 * (LOGOUT, QUIT) costs no more than that. After its first few commands it moves to a second set, on
 * which a thread of its own blocks (one relay thread a process): there a command and its reply cost
 * an epoll_wait, a read and a write each way, as in nginx, with no turn of Node's loop and no nested
 * epoll set in between. A uv_poll per descriptor would add and remove it at every change of
 * interest; here a session costs an epoll_ctl or three per side in all. Its state is taken under
 * one mutex by whichever thread runs it. Small reads (commands, replies) are copied through one static
 * buffer; bulk transfers (a large FETCH) move with splice(2) through a kernel pipe, no byte copied
 * through user space. A client side in TLS (native/tls.c) is read and written through OpenSSL, and
 * copied, never spliced; see src/proxy/relay.ts.
 *
 * A session is two descriptors: duplicated from JavaScript sockets, which are then destroyed, or taken
 * as they are from connections the relay opened (dial) or accepted (listen) for the login before.
 * Direction UP carries client bytes to the backend, DOWN backend bytes to the client. Each
 * direction writes, in order: `pre` (bytes read before the join, or what a write could not take),
 * what its pipe holds, `post` (a farewell line). It reads again only once all of that is written:
 * the kernel's socket buffers are the back-pressure. Pipes come from a small pool and go back to it whenever they are empty, so an
 * idle session holds none.
 *
 * Ends, as the JavaScript pipe does (src/proxy/pipe.ts): a FIN from the client is passed on and
 * ends the session; a FIN from the backend closes the client after what was read is written, or
 * after a delay asked of JavaScript (login_proxy_max_disconnect_delay), during which the client's
 * input is read and dropped; an error on either side ends both at once; so do the idle timeout and
 * destroy(). farewell() writes a last line to the client, then closes it (at most 5 s later).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
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
#define POOL_MAX 64
#define FAREWELL_MS 5000

enum { C = 0, B = 1 };
enum { UP = 0, DOWN = 1 };
enum { RUNNING, HOLDING, PARTING, ENDED };
enum { EV_DELAY = 1, EV_END = 2 };

typedef struct {
  char *data;
  size_t len, off;
} bytes_t;

typedef struct {
  int rd, wr;     /* the pipe, -1 when none */
  size_t queued;  /* bytes in the pipe */
  bytes_t pre, post;
  int eof;        /* the reading side sent its FIN */
  int drop;       /* read and discard */
  int bulk;       /* the last read filled a chunk: splice */
} dir_t;

struct relay;

/* One descriptor of a session, as the epoll set knows it; readiness is kept until EAGAIN says otherwise. */
enum { K_SIDE = 1, K_DIAL = 2, K_LISTEN = 3, K_WAKE = 4 };

/* What the epoll set said of a connection, kept until a system call says otherwise (edges do not repeat). */
typedef struct {
  int readable, writable;
  int hup;  /* the peer's FIN was seen: a short read does not empty the socket of its EOF */
  /* TLS: a read waits for the socket to take writes, or a write for bytes (an edge of the other kind lets it go on). */
  int read_wants_write, write_wants_read;
} ready_t;

typedef struct {
  int kind; /* K_SIDE: first, as in dial_t, for the epoll dispatch */
  struct relay *r;
  ready_t io;
  int out; /* its registration asks for EPOLLOUT too (a write found it full once) */
} side_t;

/* A connection's registration, edge-triggered: reads, writes and the peer's FIN. */
#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
/*
 * A relayed side's at first: without EPOLLOUT, which a fresh socket always has, so that joining wakes
 * the relay thread only when there is something to read. EPOLLOUT is asked for once a write finds
 * the socket full (after()).
 */
#define SIDE_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

/* An epoll event's news of a connection; an edge of either kind lets a TLS call that waited on it go on. */
static void ready_note(ready_t *io, uint32_t events) {
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
static ssize_t io_read(int fd, SSL *ssl, ready_t *io, void *buf, size_t n) {
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
static ssize_t io_write(int fd, SSL *ssl, ready_t *io, const void *buf, size_t n) {
  if (ssl == NULL) return write(fd, buf, n);
  int other = 0;
  ssize_t put = tls_write(ssl, buf, n, &other);
  if (put < 0 && errno == EAGAIN && other) {
    io->readable = 0;
    io->write_wants_read = 1;
  }
  return put;
}

/* What the relay thread has for the main thread's JavaScript. */
enum { N_END = 1, N_DELAY = 2 };

typedef struct relay {
  napi_env env;   /* env and cb: the main thread's alone */
  napi_ref cb;
  int fd[2];
  SSL *ssl[2];    /* a side in TLS, or NULL */
  side_t side[2];
  dir_t d[2];
  double bytes_in, bytes_out;
  uint64_t idle_ms, last_active, deadline;
  uint64_t due;   /* when its timer fires, while on the heap */
  size_t heap_i;  /* its place on the timer heap, + 1; 0 when off it */
  int rearm;      /* the deadline changed: the timer is set again */
  int state;
  int asking;     /* the backend left: JavaScript is asked how long the client is held */
  int js_alive;
  int told;       /* JavaScript has had its end */
  int notes;      /* N_*: on the note list */
  struct relay *next_note;
  int ending_now, asking_now; /* deliver()'s, taken from notes */
  int busy;                   /* on a list deliver() is going through: not freed */
  struct relay *next_deliver;
  int again;                /* on the again list */
  struct relay *next_again;
  int home;                 /* its descriptors are in rfd (the thread's), not epfd (Node's loop's) */
  unsigned reads;           /* reads from the client: a session that goes on moves to the thread */
  uint64_t end_gen;         /* the thread's waits that must have begun before it is freed (0: none) */
  uint64_t end_mb;          /* the main thread's epoll batches that must be over (0: none) */
  int dead;                 /* on the dead list */
  struct relay *next_dead;
  int has_delay;
  char reason[128];
} relay_t;

/* The main thread's: dials and listeners, on Node's loop. */
static char scratch[CHUNK];
static napi_async_context async_ctx;
static int epfd = -1;      /* every dial and listener of the process, and the sessions' first commands */
static uv_poll_t ep_poll;  /* Node's loop watching epfd */
static int live;           /* dials and listeners holding the loop open */
static uv_idle_t again_idle;

/*
 * Under `mu`, whichever thread holds it: the sessions after the join. The relay thread blocks in
 * epoll_wait on `rfd` and runs the reads and writes of the sessions there, and every session's
 * timers; the main thread runs a session's first commands (ep_cb) and JavaScript's calls (adopt,
 * destroy, farewell, bytes). What JavaScript must hear (an end, the question of a disconnect delay)
 * waits on the note list; `notify` wakes Node's loop for what the thread noted.
 */
static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP; /* recursive: a finalizer may run under a call that holds it */
static int rfd = -1;           /* the descriptors of the sessions that moved to the thread */
static int wake_fd = -1;       /* an eventfd in rfd: the main thread moved a timer or the again list */
static int wake_kind = K_WAKE;
static int woken;              /* wake_fd written and not read yet */
static uint64_t sleep_until;   /* when the thread's wait ends by itself (UINT64_MAX: never) */
static uint64_t gen;           /* the thread's waits, counted: one begun after a relay's end holds no event of it */
static int in_batch;           /* ep_cb holds events of Node's set */
static uint64_t mdone;         /* ep_cb's batches, counted as they end */
static uint64_t now;           /* ms on the monotonic clock, as read last under mu */
static relay_t **heap;         /* the relays' timers, soonest first */
static size_t heap_n, heap_cap;
static size_t running;         /* relays not ended: the heap has room for each */
static relay_t *again_head;    /* sessions that stopped at ROUNDS with more to read */
static relay_t *note_head, **note_tail = &note_head;
static int news;               /* notes made under the thread's batch: notify at its end */
static relay_t *dead;          /* ended, told, collected: freed once no event held names them */
static char relay_buf[CHUNK];  /* small reads, copied through */
static int pool[POOL_MAX][2];  /* empty pipes */
static int pool_n;
static uv_async_t notify;      /* on Node's loop */
static int relays_live;        /* relays JavaScript has not had the end of: hold the loop open (main thread) */
static __thread int on_relay_thread;

static void settle(relay_t *r);
static void end(relay_t *r);
static void deliver(void);
static void dial_ready(void *item, uint32_t events);
static void listen_ready(void *item);
static void dial_free_done(void);
static void dial_again_run(void);
static int batch; /* inside ep_cb */

static void set_reason(relay_t *r, const char *why) {
  if (r->reason[0] == 0) snprintf(r->reason, sizeof r->reason, "%s", why);
}

static void bytes_free(bytes_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->off = 0;
}

static int bytes_pending(const bytes_t *b) { return b->data != NULL && b->off < b->len; }

static int pending(const dir_t *d) { return bytes_pending(&d->pre) || d->queued > 0 || bytes_pending(&d->post); }

static int pipe_get(dir_t *d) {
  if (d->rd >= 0) return 0;
  if (pool_n > 0) {
    pool_n--;
    d->rd = pool[pool_n][0];
    d->wr = pool[pool_n][1];
    return 0;
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
  d->rd = p[0];
  d->wr = p[1];
  return 0;
}

/* An empty pipe goes back to the pool; one still holding bytes is closed. */
static void pipe_put(dir_t *d) {
  if (d->rd < 0) return;
  if (d->queued == 0 && pool_n < POOL_MAX) {
    pool[pool_n][0] = d->rd;
    pool[pool_n][1] = d->wr;
    pool_n++;
  } else {
    close(d->rd);
    close(d->wr);
  }
  d->rd = d->wr = -1;
  d->queued = 0;
}

static void discard(dir_t *d) {
  bytes_free(&d->pre);
  bytes_free(&d->post);
  if (d->queued > 0) {
    close(d->rd);
    close(d->wr);
    d->rd = d->wr = -1;
    d->queued = 0;
  }
  pipe_put(d);
}

/* Closing the last descriptor of a socket also takes it out of the epoll set: the JavaScript socket closed its own. */
static void close_side(relay_t *r, int s) {
  if (r->fd[s] < 0) return;
  tls_free(r->ssl[s]);
  r->ssl[s] = NULL;
  close(r->fd[s]);
  r->fd[s] = -1;
  r->side[s].io.readable = r->side[s].io.writable = 0;
}

static void call_ref(napi_env env, napi_ref ref, int argc, napi_value *argv, napi_value *result) {
  napi_value cb, recv;
  if (ref == NULL || napi_get_reference_value(env, ref, &cb) != napi_ok) return;
  napi_get_global(env, &recv);
  napi_status st = napi_make_callback(env, async_ctx, recv, cb, (size_t)argc, argv, result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void call_js(relay_t *r, int argc, napi_value *argv, napi_value *result) { call_ref(r->env, r->cb, argc, argv, result); }

static void tick(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The main thread changed what the relay thread waits for (a timer due at `due`, or the again list): it wakes if it would sleep past it. */
static void wake(uint64_t due) {
  if (on_relay_thread || woken || due >= sleep_until) return;
  uint64_t one = 1;
  if (write(wake_fd, &one, sizeof one) == sizeof one) woken = 1;
}

/* ---- The timer heap: one entry a relay, the soonest of its idle timeout and its deadline ---- */

static void heap_swap(size_t a, size_t b) {
  relay_t *t = heap[a];
  heap[a] = heap[b];
  heap[b] = t;
  heap[a]->heap_i = a + 1;
  heap[b]->heap_i = b + 1;
}

static void heap_up(size_t i) {
  while (i > 0 && heap[i]->due < heap[(i - 1) / 2]->due) {
    heap_swap(i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < heap_n && heap[l]->due < heap[m]->due) m = l;
    if (l + 1 < heap_n && heap[l + 1]->due < heap[m]->due) m = l + 1;
    if (m == i) return;
    heap_swap(i, m);
    i = m;
  }
}

static void heap_fix(size_t i) {
  if (i > 0 && heap[i]->due < heap[(i - 1) / 2]->due) heap_up(i);
  else heap_down(i);
}

static void heap_remove(relay_t *r) {
  if (r->heap_i == 0) return;
  size_t i = r->heap_i - 1;
  r->heap_i = 0;
  if (i == --heap_n) return;
  heap[i] = heap[heap_n];
  heap[i]->heap_i = i + 1;
  heap_fix(i);
}

/* (adopt made room for every running relay.) */
static void heap_set(relay_t *r, uint64_t due) {
  r->due = due;
  if (r->heap_i == 0) {
    heap[heap_n] = r;
    r->heap_i = ++heap_n;
  }
  heap_fix(r->heap_i - 1);
}

/* Room on the heap for one more relay: 0, or -1 out of memory. */
static int heap_reserve(void) {
  if (running + 1 <= heap_cap) return 0;
  size_t cap = heap_cap ? heap_cap * 2 : 256;
  relay_t **h = realloc(heap, cap * sizeof *h);
  if (h == NULL) return -1;
  heap = h;
  heap_cap = cap;
  return 0;
}

/* ---- What JavaScript hears ---- */

static void note(relay_t *r, int what) {
  if (r->notes == 0) {
    r->next_note = NULL;
    *note_tail = r;
    note_tail = &r->next_note;
  }
  r->notes |= what;
  if (on_relay_thread) news = 1;
}

/* No event the thread or ep_cb holds names the relay (it ended before their epoll_wait). */
static int unheld(const relay_t *r) { return gen >= r->end_gen && mdone >= r->end_mb; }

/*
 * An ended relay is freed once JavaScript has had its end and let go of its handle, and no list holds
 * it; while the thread or ep_cb may still hold an event of it, it waits on the dead list, which both
 * sweep once their events are handled.
 */
static void maybe_free(relay_t *r) {
  if (r->state != ENDED || !r->told || r->js_alive || r->again || r->busy || r->dead) return;
  if (unheld(r)) {
    free(r);
    return;
  }
  r->dead = 1;
  r->next_dead = dead;
  dead = r;
}

static void sweep_dead(void) {
  relay_t **p = &dead;
  while (*p != NULL) {
    relay_t *r = *p;
    if (!unheld(r)) {
      p = &r->next_dead;
      continue;
    }
    *p = r->next_dead;
    free(r);
  }
}

static void end(relay_t *r) {
  if (r->state == ENDED) return;
  r->state = ENDED;
  close_side(r, C);
  close_side(r, B);
  discard(&r->d[UP]);
  discard(&r->d[DOWN]);
  heap_remove(r);
  running--;
  r->end_gen = r->home ? gen + 1 : 0;
  r->end_mb = in_batch ? mdone + 1 : 0;
  note(r, N_END);
}

/*
 * "<op> <errno name>" for a libuv error code (-errno), named as Node names it ("read ECONNRESET"), or
 * "tls <what OpenSSL said>" for the TLS error (EPROTO) of a connection in TLS.
 */
static void err_text(char *buf, size_t size, const char *op, int err, SSL *ssl) {
  if (err == UV_EPROTO && ssl != NULL) snprintf(buf, size, "tls %s", tls_failure());
  else snprintf(buf, size, "%s %s", op, uv_err_name(err));
}

/* The session ends: "client error: read ECONNRESET", "backend error: tls …". */
static void fail(relay_t *r, int side, const char *op, int err) {
  char what[96], why[sizeof r->reason];
  err_text(what, sizeof what, op, err, r->ssl[side]);
  snprintf(why, sizeof why, "%s error: %s", side == C ? "client" : "backend", what);
  set_reason(r, why);
  end(r);
}

static void active(relay_t *r) { r->last_active = now; }

static ssize_t side_read(relay_t *r, int s, void *buf, size_t n) { return io_read(r->fd[s], r->ssl[s], &r->side[s].io, buf, n); }

static ssize_t side_write(relay_t *r, int s, const void *buf, size_t n) { return io_write(r->fd[s], r->ssl[s], &r->side[s].io, buf, n); }

/* A FIN after the last byte; a TLS side says close_notify first. */
static void side_shutdown(relay_t *r, int s) {
  tls_notify(r->ssl[s]);
  shutdown(r->fd[s], SHUT_WR);
}

/* Writes what `b` still holds: 1 when all is written, 0 when the socket is full, -1 on error. */
static int write_bytes(relay_t *r, bytes_t *b, int to) {
  while (bytes_pending(b)) {
    if (!r->side[to].io.writable) return 0;
    ssize_t w = side_write(r, to, b->data + b->off, b->len - b->off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        r->side[to].io.writable = 0;
        return 0;
      }
      fail(r, to, "write", -errno);
      return -1;
    }
    b->off += (size_t)w;
    if (to == C) {
      r->bytes_out += (double)w;
      active(r);
    }
  }
  bytes_free(b);
  return 1;
}

/* Writes all a direction holds to its destination: 1 when done, 0 when it would block, -1 when the session ended. */
static int flush(relay_t *r, int dir) {
  dir_t *d = &r->d[dir];
  int to = dir == UP ? B : C;
  if (r->fd[to] < 0) {
    discard(d);
    return 1;
  }
  int f = write_bytes(r, &d->pre, to);
  if (f <= 0) return f;
  while (d->queued > 0) {
    if (!r->side[to].io.writable) return 0;
    ssize_t w = splice(d->rd, NULL, r->fd[to], NULL, d->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        r->side[to].io.writable = 0;
        return 0;
      }
      fail(r, to, "write", -errno);
      return -1;
    }
    d->queued -= (size_t)w;
    if (to == C) {
      r->bytes_out += (double)w;
      active(r);
    }
  }
  pipe_put(d);
  return write_bytes(r, &d->post, to);
}

static int reading(const relay_t *r, int dir) {
  if (r->state == RUNNING) return 1;
  return r->state == HOLDING && dir == UP;
}

/*
 * Small reads (a command, a reply) go through one static buffer with read and write: for a few
 * bytes that costs less than moving pages through a pipe. A read that fills the buffer means a
 * bulk transfer (a FETCH of a large message): from there on the direction splices, until the socket
 * is empty. Bytes a write could not take wait in `pre`, as the pipe's do.
 */
static ssize_t copy_through(relay_t *r, int dir, int from, int to) {
  dir_t *d = &r->d[dir];
  ssize_t n = side_read(r, from, relay_buf, sizeof relay_buf);
  if (n <= 0) return n;
  size_t off = 0;
  while (off < (size_t)n && r->side[to].io.writable) {
    ssize_t w = side_write(r, to, relay_buf + off, (size_t)n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        r->side[to].io.writable = 0;
        break;
      }
      return -2 - errno;
    }
    off += (size_t)w;
    if (to == C) {
      r->bytes_out += (double)w;
      active(r);
    }
  }
  if (off < (size_t)n) {
    d->pre.data = malloc((size_t)n - off);
    if (d->pre.data == NULL) return -2 - ENOMEM;
    memcpy(d->pre.data, relay_buf + off, (size_t)n - off);
    d->pre.len = (size_t)n - off;
    d->pre.off = 0;
  }
  return n;
}

/* Edges do not repeat: a session that stopped at ROUNDS with more to read goes on after the thread's other events. */
static void schedule_again(relay_t *r) {
  if (r->again) return;
  r->again = 1;
  r->next_again = again_head;
  again_head = r;
  wake(0);
}

static void pump(relay_t *r, int dir) {
  dir_t *d = &r->d[dir];
  int from = dir == UP ? C : B;
  int to = dir == UP ? B : C;
  for (int i = 0; r->state != ENDED; i++) {
    if (i == ROUNDS) {
      schedule_again(r);
      return;
    }
    if (flush(r, dir) <= 0) return;
    if (d->eof || r->fd[from] < 0 || !reading(r, dir) || !r->side[from].io.readable) return;
    ssize_t n;
    if (d->drop) {
      n = side_read(r, from, relay_buf, sizeof relay_buf);
    } else if (!d->bulk) {
      n = copy_through(r, dir, from, to);
      if (n < -1) {
        fail(r, to, "write", (int)(n + 2));
        return;
      }
    } else {
      if (pipe_get(d) < 0) {
        fail(r, from, "pipe", -errno);
        return;
      }
      n = splice(r->fd[from], NULL, d->wr, NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) d->queued = (size_t)n;
    }
    if (n > 0) {
      if (from == C) {
        r->bytes_in += (double)n;
        r->reads++;
        active(r);
      }
      if ((d->drop || !d->bulk) && r->ssl[from] == NULL) {
        /* A short read(2) of a TCP socket emptied it: the next edge says when there is more. (Not
           so for splice, which stops when the pipe has no slot left: it reads on until EAGAIN; nor
           for TLS, where OpenSSL may hold what it read ahead.) */
        if (n < CHUNK && !r->side[from].io.hup) {
          r->side[from].io.readable = 0;
          flush(r, dir);
          return;
        }
        /* Bulk moves by splice, which TLS on either side rules out. */
        if (!d->drop && n == CHUNK && r->ssl[to] == NULL) d->bulk = 1;
      }
      continue;
    }
    if (n == 0) {
      d->eof = 1;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      r->side[from].io.readable = 0;
      d->bulk = 0;
      return;
    }
    fail(r, from, "read", -errno);
    return;
  }
}

static void rearm(relay_t *r) {
  if (r->state == ENDED) return;
  uint64_t due = r->deadline ? r->deadline : UINT64_MAX;
  if (r->idle_ms && r->last_active + r->idle_ms < due) due = r->last_active + r->idle_ms;
  if (due == UINT64_MAX) {
    heap_remove(r);
    return;
  }
  heap_set(r, due);
  wake(due);
}

/* No more reading; the client is closed once what it is owed is written (or at `cap_ms`). */
static void part(relay_t *r, uint64_t cap_ms) {
  r->state = PARTING;
  r->deadline = cap_ms ? now + cap_ms : 0;
  r->rearm = 1;
}

/* What the state of both directions means for the session. */
static void settle(relay_t *r) {
  if (r->state == ENDED) return;
  dir_t *up = &r->d[UP], *down = &r->d[DOWN];
  if (up->eof && r->fd[C] >= 0) {
    if (r->state == HOLDING) {
      close_side(r, C);
    } else if (!pending(up)) {
      set_reason(r, "client disconnected");
      if (r->fd[B] >= 0) side_shutdown(r, B);
      close_side(r, B);
      if (r->state == RUNNING) part(r, 0);
    }
  }
  if (down->eof && r->fd[B] >= 0) {
    set_reason(r, "backend disconnected");
    close_side(r, B);
    discard(up);
    if (r->state != RUNNING) {
      /* already parting */
    } else if (r->has_delay) {
      /* JavaScript says how long the client is held (deliver()); its input is dropped meanwhile. */
      r->state = HOLDING;
      up->drop = 1;
      r->asking = 1;
      note(r, N_DELAY);
    } else {
      part(r, 0);
    }
  }
  if (r->state == PARTING && !pending(down) && r->fd[C] >= 0) {
    side_shutdown(r, C);
    close_side(r, C);
  }
  if (r->state != ENDED && r->fd[C] < 0 && (r->fd[B] < 0 || r->state != RUNNING)) {
    set_reason(r, "client disconnected");
    end(r);
  }
}

/* Activity only moves last_active: the idle timer checks it when it fires and sets itself again. */
static void after(relay_t *r) {
  settle(r);
  if (r->rearm) {
    r->rearm = 0;
    rearm(r);
  }
  /* A side that cannot take writes (or whose TLS read waits to write) says so by EPOLLOUT from now on. */
  for (int s = C; s <= B && r->state != ENDED; s++) {
    side_t *sd = &r->side[s];
    if (r->fd[s] < 0 || sd->io.writable || sd->out) continue;
    struct epoll_event ev = {.events = CONN_EVENTS, .data.ptr = sd};
    if (epoll_ctl(r->home ? rfd : epfd, EPOLL_CTL_MOD, r->fd[s], &ev) != 0) {
      fail(r, s, "epoll_ctl", -errno);
      return;
    }
    sd->out = 1;
  }
}

static void run(relay_t *r) {
  pump(r, DOWN);
  if (r->state != ENDED) pump(r, UP);
  after(r);
}

/* The main thread's idle turn: the dials that stopped at ROUNDS. */
static void again_cb(uv_idle_t *h) {
  uv_idle_stop(&again_idle);
  dial_again_run();
}

/* Node's loop saw the epoll set ready: take its events (none waits) and move what they allow. */
/*
 * A session starts on Node's loop: a login that ends at once (LOGOUT, QUIT) costs no hand-over to the
 * thread and no wake-up of it. After this many reads from the client it moves to the thread, for
 * the rest of its commands.
 */
#define MOVE_AFTER 3

/* The session's descriptors go from Node's set to the thread's (an ADD reports what is ready now). */
static void move(relay_t *r) {
  r->home = 1;
  for (int s = C; s <= B; s++) {
    if (r->fd[s] < 0) continue;
    struct epoll_event ev = {.events = r->side[s].out ? CONN_EVENTS : SIDE_EVENTS, .data.ptr = &r->side[s]};
    if (epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd[s], NULL) != 0 || epoll_ctl(rfd, EPOLL_CTL_ADD, r->fd[s], &ev) != 0) {
      fail(r, s, "epoll_ctl", -errno);
      return;
    }
  }
}

static void side_ready(side_t *sd, uint32_t events) {
  relay_t *r = sd->r;
  pthread_mutex_lock(&mu);
  if (r->state != ENDED) {
    tick();
    ready_note(&sd->io, events);
    run(r);
    if (!r->home && r->reads >= MOVE_AFTER && r->state != ENDED) move(r);
  }
  pthread_mutex_unlock(&mu);
}

/* Node's loop saw the epoll set ready: take its events (none waits) and move what they allow. */
static void ep_cb(uv_poll_t *h, int status, int events) {
  struct epoll_event ev[64];
  int n, sides = 0;
  batch++;
  pthread_mutex_lock(&mu);
  in_batch = 1;
  pthread_mutex_unlock(&mu);
  do {
    n = epoll_wait(epfd, ev, 64, 0);
    for (int i = 0; i < n; i++) {
      int kind = *(int *)ev[i].data.ptr;
      if (kind == K_DIAL) {
        dial_ready(ev[i].data.ptr, ev[i].events);
      } else if (kind == K_LISTEN) {
        listen_ready(ev[i].data.ptr);
      } else {
        side_ready(ev[i].data.ptr, ev[i].events);
        sides = 1;
      }
    }
  } while (n == 64);
  pthread_mutex_lock(&mu);
  in_batch = 0;
  mdone++;
  sweep_dead();
  pthread_mutex_unlock(&mu);
  batch--;
  if (sides) deliver();
  dial_free_done();
}

/* A relay's timer is due: its deadline (the end of a hold, of a farewell) or its idle timeout. */
static void timer_fire(relay_t *r) {
  if (r->deadline && now >= r->deadline) {
    r->deadline = 0;
    if (r->state == HOLDING) {
      part(r, 0);
    } else if (r->state == PARTING) {
      end(r);
      return;
    }
  }
  if (r->idle_ms && now - r->last_active >= r->idle_ms) {
    set_reason(r, "idle timeout");
    end(r);
    return;
  }
  r->rearm = 1;
  run(r);
}

/* The relay thread: waits on rfd, runs the sessions its events name, the again list, the timers due. */
static void *relay_main(void *arg) {
  (void)arg;
  on_relay_thread = 1;
  struct epoll_event ev[64];
  pthread_mutex_lock(&mu);
  for (;;) {
    sweep_dead();
    tick();
    int timeout = -1;
    if (again_head != NULL) {
      timeout = 0;
    } else if (heap_n > 0) {
      uint64_t in = heap[0]->due > now ? heap[0]->due - now : 0;
      timeout = in > INT32_MAX ? INT32_MAX : (int)in;
    }
    sleep_until = timeout < 0 ? UINT64_MAX : now + (uint64_t)timeout;
    gen++;
    int tell = news;
    news = 0;
    pthread_mutex_unlock(&mu);
    /* Node's loop hears of the notes once mu is free for deliver(). */
    if (tell) uv_async_send(&notify);
    int n = epoll_wait(rfd, ev, 64, timeout);
    pthread_mutex_lock(&mu);
    sleep_until = 0;
    tick();
    for (int i = 0; i < n; i++) {
      if (ev[i].data.ptr == &wake_kind) {
        uint64_t v;
        if (read(wake_fd, &v, sizeof v) < 0 && errno != EAGAIN) perror("postern relay: eventfd");
        woken = 0;
        continue;
      }
      side_t *sd = ev[i].data.ptr;
      relay_t *r = sd->r;
      if (r->state == ENDED) continue;
      ready_note(&sd->io, ev[i].events);
      run(r);
    }
    relay_t *list = again_head;
    again_head = NULL;
    while (list != NULL) {
      relay_t *r = list;
      list = r->next_again;
      r->again = 0;
      if (r->state != ENDED) run(r);
      else maybe_free(r);
    }
    while (heap_n > 0 && heap[0]->due <= now) {
      relay_t *r = heap[0];
      heap_remove(r);
      timer_fire(r);
    }
  }
  return NULL;
}

/* JavaScript's answer to N_DELAY: how long the client is held (ms), asked without mu. */
static void answer_delay(relay_t *r) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[1], result = NULL;
  napi_create_int32(env, EV_DELAY, &argv[0]);
  call_js(r, 1, argv, &result);
  double ms = 0;
  if (result == NULL || napi_get_value_double(env, result, &ms) != napi_ok) ms = 0;
  napi_close_handle_scope(env, scope);
  pthread_mutex_lock(&mu);
  /* The session may have ended meanwhile (the client left): its end is noted. */
  if (r->state == HOLDING && r->asking) {
    tick();
    r->asking = 0;
    if (ms > 0) {
      r->deadline = now + (uint64_t)ms;
      r->rearm = 1;
    } else {
      part(r, 0);
    }
    run(r);
  }
  pthread_mutex_unlock(&mu);
}

static void tell_end(relay_t *r) {
  if (r->cb == NULL) return; /* told already, by a deliver() nested in a callback */
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[4];
  napi_create_int32(env, EV_END, &argv[0]);
  if (r->reason[0]) napi_create_string_utf8(env, r->reason, NAPI_AUTO_LENGTH, &argv[1]);
  else napi_get_undefined(env, &argv[1]);
  napi_create_double(env, r->bytes_in, &argv[2]);
  napi_create_double(env, r->bytes_out, &argv[3]);
  call_js(r, 4, argv, NULL);
  napi_delete_reference(env, r->cb);
  r->cb = NULL;
  napi_close_handle_scope(env, scope);
  if (--relays_live == 0) uv_unref((uv_handle_t *)&notify);
}

/*
 * Tells JavaScript what the relay thread noted (and what a call noted): ends, questions of delay.
 * Main thread, without mu: the list is taken whole under it; an ended relay's reason and counts no
 * longer change, and it is not freed before `told`.
 */
static void deliver(void) {
  for (;;) {
    pthread_mutex_lock(&mu);
    relay_t *list = note_head;
    note_head = NULL;
    note_tail = &note_head;
    /* (A relay asked for its delay may be noted again meanwhile: next_note is the note list's.) */
    for (relay_t *r = list; r != NULL; r = r->next_deliver) {
      r->next_deliver = r->next_note;
      r->asking_now = (r->notes & N_DELAY) && !(r->notes & N_END) && r->state == HOLDING && r->asking;
      r->ending_now = (r->notes & N_END) != 0;
      r->notes = 0;
      r->busy++;
    }
    pthread_mutex_unlock(&mu);
    if (list == NULL) return;
    for (relay_t *r = list; r != NULL; r = r->next_deliver) {
      if (r->ending_now) tell_end(r);
      else if (r->asking_now) answer_delay(r);
    }
    pthread_mutex_lock(&mu);
    for (relay_t *r = list, *next; r != NULL; r = next) {
      next = r->next_deliver;
      r->busy--;
      if (r->ending_now) r->told = 1;
      maybe_free(r);
    }
    pthread_mutex_unlock(&mu);
  }
}

static void notify_cb(uv_async_t *h) { deliver(); }

/* ---- JavaScript ---- */

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "POSTERN_RELAY", "relay: " #call " failed");  \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  relay_t *r = data;
  pthread_mutex_lock(&mu);
  r->js_alive = 0;
  maybe_free(r);
  pthread_mutex_unlock(&mu);
}

static int copy_buffer(napi_env env, napi_value v, bytes_t *out) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  void *data;
  size_t len;
  napi_get_buffer_info(env, v, &data, &len);
  if (len == 0) return 0;
  out->data = malloc(len);
  if (out->data == NULL) return -1;
  memcpy(out->data, data, len);
  out->len = len;
  out->off = 0;
  return 0;
}

static relay_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}


/* ---- Backend connections before the join ---- */

static int ensure_epoll(napi_env env, uv_loop_t *loop) {
  if (epfd >= 0) return 0;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0 || uv_poll_init(loop, &ep_poll, epfd) != 0 || uv_poll_start(&ep_poll, UV_READABLE, ep_cb) != 0) {
    if (epfd >= 0) close(epfd);
    epfd = -1;
    napi_throw_error(env, "POSTERN_RELAY", "relay: cannot set up its epoll set");
    return -1;
  }
  uv_unref((uv_handle_t *)&ep_poll);
  uv_idle_init(loop, &again_idle);
  return 0;
}

/* Node's loop, with the relay's epoll set watched by it; NULL with an exception pending when that failed. */
static uv_loop_t *relay_loop(napi_env env) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "POSTERN_RELAY", "relay: napi_get_uv_event_loop failed");
    return NULL;
  }
  return ensure_epoll(env, loop) < 0 ? NULL : loop;
}

/* The relay thread and its epoll set, started at the first join: 0, or -1 with an exception pending. */
static int ensure_thread(napi_env env, uv_loop_t *loop) {
  if (rfd >= 0) return 0;
  int set = epoll_create1(EPOLL_CLOEXEC);
  int ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &wake_kind};
  int ok = set >= 0 && ev_fd >= 0 && epoll_ctl(set, EPOLL_CTL_ADD, ev_fd, &ev) == 0 && uv_async_init(loop, &notify, notify_cb) == 0;
  if (ok) {
    uv_unref((uv_handle_t *)&notify);
    rfd = set;
    wake_fd = ev_fd;
    /* Signals stay the main thread's; a small stack, as the thread only reads, writes and splices. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int err = pthread_create(&t, &attr, relay_main, NULL);
    pthread_attr_destroy(&attr);
    if (err == 0) pthread_setname_np(t, "postern-relay"); /* as top -H and /proc/<pid>/task name it */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err == 0) return 0;
    uv_close((uv_handle_t *)&notify, NULL);
    rfd = wake_fd = -1;
    errno = err;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "relay: cannot start its thread: %s", strerror(errno));
  if (set >= 0) close(set);
  if (ev_fd >= 0) close(ev_fd);
  napi_throw_error(env, "POSTERN_RELAY", msg);
  return -1;
}

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

/* The address of `sa` in `ip` (as Node writes it); its port. */
static int sock_name(const struct sockaddr *sa, char *ip, size_t size) {
  uv_ip_name(sa, ip, size);
  return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port : ((const struct sockaddr_in *)sa)->sin_port);
}

/* "address port" of the backend a dial connected to, or "" for a connection a listener accepted. */
static void dial_peer(const dial_t *d, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "";
  buf[0] = '\0';
  if (d->to.sa.sa_family != AF_UNSPEC) {
    int port = sock_name(&d->to.sa, ip, sizeof ip);
    snprintf(buf, size, "%s %d", ip, port);
  }
}

/*
 * A dial or a listener is freed once it is done and its JavaScript handle collected, but never under a
 * caller that may still hold it: the epoll batch (a later event of the batch may name it), or a caller
 * that marked it busy. It waits on this list until the batch or the call is over.
 */
static item_t *free_list;

static void item_doom(item_t *it) {
  it->next_free = free_list;
  free_list = it;
}

static void dial_maybe_free(dial_t *d) {
  if (d->state != D_DONE || d->js_alive || d->doomed) return;
  d->doomed = 1;
  item_doom(&d->it);
}

static void dial_free_done(void) {
  if (batch > 0) return;
  item_t **p = &free_list;
  while (*p != NULL) {
    item_t *it = *p;
    if (it->busy) {
      p = &it->next_free;
      continue;
    }
    *p = it->next_free;
    free(it); /* the item is the first member: the block's own address */
  }
}

static void dial_forget_names(dial_t *d) {
  free(d->servername);
  free(d->verify_host);
  d->servername = d->verify_host = NULL;
}

/* The dial lets go of its descriptor, closed or now the relay's, and of its callback. */
static void dial_release(dial_t *d, int close_fd) {
  if (d->state == D_DONE) return;
  d->state = D_DONE;
  tls_free(d->ssl);
  d->ssl = NULL;
  tls_ctx_unref(d->tctx);
  d->tctx = NULL;
  dial_forget_names(d);
  if (close_fd && d->fd >= 0) close(d->fd);
  d->fd = -1;
  bytes_free(&d->out);
  if (d->cb != NULL) napi_delete_reference(d->env, d->cb);
  d->cb = NULL;
  if (--live == 0) uv_unref((uv_handle_t *)&ep_poll);
}

static void dial_emit(dial_t *d, int kind, napi_value arg) {
  napi_env env = d->env;
  napi_value argv[2];
  napi_create_int32(env, kind, &argv[0]);
  if (arg == NULL) napi_get_undefined(env, &argv[1]);
  else argv[1] = arg;
  call_ref(env, d->cb, 2, argv, NULL);
}

/* The last event of a dial (end or error, `why` or NULL): the dial is released first, so the callback sees it gone. */
static void dial_last_text(dial_t *d, int kind, const char *why) {
  napi_env env = d->env;
  napi_value argv[2];
  napi_create_int32(env, kind, &argv[0]);
  if (why != NULL) napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &argv[1]);
  else napi_get_undefined(env, &argv[1]);
  napi_ref cb = d->cb;
  d->cb = NULL;
  dial_release(d, 1);
  call_ref(env, cb, 2, argv, NULL);
  napi_delete_reference(env, cb);
}

/* As dial_last_text, with err_text's words. */
static void dial_last(dial_t *d, int kind, const char *op, int err) {
  char why[256];
  if (op == NULL) return dial_last_text(d, kind, NULL);
  err_text(why, sizeof why, op, err, d->ssl);
  dial_last_text(d, kind, why);
}

/*
 * The next step of the TLS handshake under way (T_HANDSHAKE): 1 when TLS is in place (`secure` was
 * emitted), 0 while it waits for the socket, -1 when the dial is gone (failed: `error` was emitted).
 */
static int dial_handshake(dial_t *d) {
  int want_write = 0;
  int done = tls_handshake(d->ssl, &want_write);
  if (done == 0) {
    if (want_write) d->io.writable = 0;
    else d->io.readable = 0;
    return 0;
  }
  if (done < 0) {
    char why[256];
    snprintf(why, sizeof why, "tls handshake: %s", tls_failure());
    dial_last_text(d, DE_ERROR, why);
    return -1;
  }
  d->tls = T_READY;
  tls_ctx_unref(d->tctx);
  d->tctx = NULL;
  /* The client's first command may have come with its last handshake bytes, read ahead already. */
  d->io.readable = 1;
  const char *name = tls_servername(d->ssl);
  napi_value arg = NULL;
  if (name != NULL) napi_create_string_utf8(d->env, name, NAPI_AUTO_LENGTH, &arg);
  dial_emit(d, DE_SECURE, arg);
  return d->state == D_OPEN ? 1 : -1;
}

/* Writes what waits: 1 when all is written, 0 while it waits (for the socket, or for the TLS handshake), -1 when the dial is gone. */
static int dial_flush(dial_t *d) {
  if (d->tls == T_HANDSHAKE) return 0;
  while (bytes_pending(&d->out)) {
    if (!d->io.writable) return 0;
    ssize_t w = io_write(d->fd, d->ssl, &d->io, d->out.data + d->out.off, d->out.len - d->out.off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        d->io.writable = 0;
        return 0;
      }
      dial_last(d, DE_ERROR, "write", -errno);
      return -1;
    }
    d->out.off += (size_t)w;
  }
  bytes_free(&d->out);
  if (d->tls == T_PENDING) {
    /*
     * STARTTLS: the reply (or the command) that says so has left in the clear; what comes next is
     * the client's hello. A backend dialled with ssl=yes gets here once connected.
     */
    if (tls_ctx_client(d->tctx)) {
      char peer[INET6_ADDRSTRLEN + 8];
      dial_peer(d, peer, sizeof peer);
      d->ssl = tls_client(d->tctx, d->fd, peer, d->servername, d->verify_host);
    } else {
      d->ssl = tls_server(d->tctx, d->fd);
    }
    dial_forget_names(d);
    if (d->ssl == NULL) {
      dial_last_text(d, DE_ERROR, "tls handshake: out of memory");
      return -1;
    }
    d->tls = T_HANDSHAKE;
    return 0;
  }
  if (d->ending) {
    /* As socket.end() then destroySoon(): a FIN after the last byte, then the descriptor goes. */
    tls_notify(d->ssl);
    shutdown(d->fd, SHUT_WR);
    dial_release(d, 1);
    return -1;
  }
  return 1;
}

static dial_t *dial_again_head;

/* Edges do not repeat: a dial that stopped at ROUNDS with more to read goes on at the next turn of the loop (busy keeps it meanwhile). */
static void dial_schedule(dial_t *d) {
  if (d->again) return;
  d->again = 1;
  d->it.busy++;
  d->next_again = dial_again_head;
  dial_again_head = d;
  uv_idle_start(&again_idle, again_cb);
}

static int dial_read(dial_t *d);

static void dial_again_run(void) {
  dial_t *list = dial_again_head;
  dial_again_head = NULL;
  while (list != NULL) {
    dial_t *d = list;
    list = d->next_again;
    d->again = 0;
    if (d->state == D_OPEN) {
      napi_handle_scope scope;
      napi_open_handle_scope(d->env, &scope);
      dial_read(d);
      napi_close_handle_scope(d->env, scope);
    }
    d->it.busy--;
  }
  dial_free_done();
}

/* Each chunk goes to JavaScript, which may pause the dial, join it to a relay or close it meanwhile. (0: for dial_held.) */
static int dial_read(dial_t *d) {
  napi_env env = d->env;
  int i = 0;
  /* Nothing is read in the clear once STARTTLS is asked for, nor before the handshake is over. */
  for (; i < ROUNDS && d->state == D_OPEN && d->io.readable && !d->paused && (d->tls == T_NONE || d->tls == T_READY); i++) {
    ssize_t n = io_read(d->fd, d->ssl, &d->io, scratch, sizeof scratch);
    if (n > 0) {
      napi_value buf;
      void *data;
      if (napi_create_buffer_copy(env, (size_t)n, scratch, &data, &buf) != napi_ok) {
        dial_last(d, DE_ERROR, "read", UV_ENOMEM);
        break;
      }
      /* A short read emptied the socket, unless its FIN is still to be read (or OpenSSL read ahead). */
      if (n < CHUNK && !d->io.hup && d->ssl == NULL) d->io.readable = 0;
      dial_emit(d, DE_DATA, buf);
      continue;
    }
    if (n == 0) {
      dial_last(d, DE_END, NULL, 0);
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) d->io.readable = 0;
    else dial_last(d, DE_ERROR, "read", -errno);
    break;
  }
  if (i == ROUNDS && d->state == D_OPEN && d->io.readable && !d->paused) dial_schedule(d);
  return 0;
}

/* What an open dial can do now: write, go on with its TLS handshake (and write what waited for it), read. (0: for dial_held.) */
static int dial_step(dial_t *d) {
  if (dial_flush(d) < 0) return 0;
  if (d->tls == T_HANDSHAKE && (dial_handshake(d) <= 0 || dial_flush(d) < 0)) return 0;
  return dial_read(d);
}

/* `step` for a call from JavaScript, the dial held meanwhile: whatever its events do, it is not freed under the call. */
static int dial_held(dial_t *d, int (*step)(dial_t *)) {
  d->it.busy++;
  int ret = step(d);
  d->it.busy--;
  dial_free_done();
  return ret;
}

static void dial_ready(void *item, uint32_t events) {
  dial_t *d = item;
  if (d->state == D_DONE) return;
  napi_env env = d->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  d->it.busy++;
  ready_note(&d->io, events);
  if (d->state == D_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) goto out;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) {
      dial_last(d, DE_ERROR, "connect", -err);
      goto out;
    }
    d->state = D_OPEN;
    dial_emit(d, DE_CONNECTED, NULL);
  }
  if (d->state == D_OPEN) dial_step(d);
out:
  d->it.busy--;
  napi_close_handle_scope(env, scope);
}

static void dial_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  dial_t *d = data;
  d->js_alive = 0;
  dial_release(d, 1);
  dial_maybe_free(d);
  dial_free_done();
}

/* The dial or listener (`kind`) a JavaScript handle stands for, or NULL. */
static void *item_of(napi_env env, napi_value v, int kind) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL || ((item_t *)p)->kind != kind) return NULL;
  return p;
}

/* The dial or listener a call names in its first argument (with `want` arguments in all), or NULL. */
static void *item_arg(napi_env env, napi_callback_info info, napi_value *argv, size_t want, int kind) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return NULL;
  return item_of(env, argv[0], kind);
}

static dial_t *dial_unwrap(napi_env env, napi_value v) { return item_of(env, v, K_DIAL); }

static dial_t *dial_arg(napi_env env, napi_callback_info info, napi_value *argv, size_t want) { return item_arg(env, info, argv, want, K_DIAL); }

static int ip_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0) *len = sizeof(struct sockaddr_in);
  else if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0 && strchr(ip, ':') != NULL) *len = sizeof(struct sockaddr_in6);
  else return -1;
  return 0;
}

static void throw_errno(napi_env env, const char *op, int err) {
  char msg[96];
  snprintf(msg, sizeof msg, "%s %s", op, uv_err_name(-err));
  napi_value code, text, e;
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_throw(env, e);
}

/* A dial around `fd` with its JavaScript handle; NULL (fd untouched) when out of memory. */
static dial_t *dial_new(napi_env env, int fd, int state, napi_value *handle) {
  dial_t *d = calloc(1, sizeof *d);
  if (d == NULL) return NULL;
  if (napi_create_external(env, d, dial_finalize, NULL, handle) != napi_ok) {
    free(d);
    return NULL;
  }
  d->it.kind = K_DIAL;
  d->env = env;
  d->fd = fd;
  d->state = state;
  d->io.writable = state == D_OPEN;
  d->js_alive = 1;
  if (live++ == 0) uv_ref((uv_handle_t *)&ep_poll);
  return d;
}

/*
 * dial(address, port, source | undefined, onEvent) → handle. `address` and `source` are IP literals.
 * onEvent(kind, arg): 1 connected, 2 data (a Buffer), 3 end (the backend's FIN), 4 error ("connect
 * ECONNREFUSED"); after 3 or 4 the dial is closed. A failure before the connection is under way
 * (socket, bind, an immediate connect error) throws an Error whose message says the same and whose
 * code is the errno's name.
 */
static napi_value dial(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "POSTERN_RELAY", "relay.dial takes 4 arguments");
    return NULL;
  }
  char addr[INET6_ADDRSTRLEN + 1], src[INET6_ADDRSTRLEN + 1];
  size_t len;
  int32_t port;
  napi_valuetype st;
  CHECK(napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &len));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_typeof(env, argv[2], &st));
  int has_src = st == napi_string;
  if (has_src) CHECK(napi_get_value_string_utf8(env, argv[2], src, sizeof src, &len));
  struct sockaddr_storage to, from;
  socklen_t to_len = 0, from_len = 0;
  if (ip_addr(addr, port, &to, &to_len) < 0 || (has_src && (ip_addr(src, 0, &from, &from_len) < 0 || from.ss_family != to.ss_family))) {
    napi_throw_type_error(env, "POSTERN_RELAY", "relay.dial: the address and source must be IP addresses of one family");
    return NULL;
  }
  if (relay_loop(env) == NULL) return NULL;
  int fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const char *op = NULL;
  int one = 1;
  if (fd < 0) op = "socket";
  else if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) op = "setsockopt";
  else if (has_src && bind(fd, (struct sockaddr *)&from, from_len) != 0) op = "bind";
  else if (connect(fd, (struct sockaddr *)&to, to_len) != 0 && errno != EINPROGRESS) op = "connect";
  if (op != NULL) {
    int err = errno;
    if (fd >= 0) close(fd);
    throw_errno(env, op, err);
    return NULL;
  }
  napi_value handle;
  dial_t *d = dial_new(env, fd, D_CONNECTING, &handle);
  if (d == NULL) {
    close(fd);
    throw_errno(env, "dial", ENOMEM);
    return NULL;
  }
  memcpy(&d->to, &to, to_len);
  /* Connected or not yet, the first edge says so: an fd ready when added is reported at once. */
  struct epoll_event ev = {.events = CONN_EVENTS, .data.ptr = d};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) op = "epoll_ctl";
  else if (napi_create_reference(env, argv[3], 1, &d->cb) != napi_ok) {
    op = "dial";
    errno = ENOMEM;
  }
  if (op != NULL) {
    int err = errno;
    /* Closed here; the handle, never returned, is collected and frees the rest. */
    dial_release(d, 1);
    throw_errno(env, op, err);
    return NULL;
  }
  return handle;
}

/* dialSend(handle, Buffer | string): written now, or when the socket takes it. A string goes as UTF-8, as socket.write sends it. */
static napi_value dial_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  dial_t *d = dial_arg(env, info, argv, 2);
  if (d == NULL || d->state == D_DONE) return NULL;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[1], &t));
  size_t len = 0, have = bytes_pending(&d->out) ? d->out.len - d->out.off : 0;
  void *src = NULL;
  if (t == napi_string) CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
  else CHECK(napi_get_buffer_info(env, argv[1], &src, &len));
  if (len == 0) return NULL;
  char *m = malloc(have + len + 1);
  if (m == NULL) {
    throw_errno(env, "write", ENOMEM);
    return NULL;
  }
  if (have) memcpy(m, d->out.data + d->out.off, have);
  if (t == napi_string) napi_get_value_string_utf8(env, argv[1], m + have, len + 1, &len);
  else memcpy(m + have, src, len);
  bytes_free(&d->out);
  d->out.data = m;
  d->out.len = have + len;
  d->out.off = 0;
  if (d->state == D_OPEN) dial_held(d, dial_flush);
  return NULL;
}

/* dialClose(handle): closes the connection; no event follows. */
static napi_value dial_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  dial_t *d = dial_arg(env, info, argv, 1);
  if (d != NULL) dial_release(d, 1);
  return NULL;
}

/* dialLocal(handle) → the local IP address of an open dial, or undefined. */
static napi_value dial_local(napi_env env, napi_callback_info info) {
  napi_value argv[1], out = NULL;
  dial_t *d = dial_arg(env, info, argv, 1);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char name[INET6_ADDRSTRLEN];
  if (d != NULL && d->state == D_OPEN && getsockname(d->fd, (struct sockaddr *)&ss, &len) == 0 && uv_ip_name((struct sockaddr *)&ss, name, sizeof name) == 0)
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out);
  else
    napi_get_undefined(env, &out);
  return out;
}

/* dialResumed(handle) → whether the dial's TLS handshake resumed a session; undefined when it has no TLS in place. */
static napi_value dial_resumed(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  dial_t *d = dial_arg(env, info, argv, 1);
  if (d != NULL && d->tls == T_READY && d->ssl != NULL) CHECK(napi_get_boolean(env, tls_resumed(d->ssl), &out));
  else CHECK(napi_get_undefined(env, &out));
  return out;
}

/* dialPending(handle) → a copy of what the dial has not written yet, or undefined. */
static napi_value dial_pending(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  dial_t *d = dial_arg(env, info, argv, 1);
  void *data;
  if (d != NULL && bytes_pending(&d->out)) CHECK(napi_create_buffer_copy(env, d->out.len - d->out.off, d->out.data + d->out.off, &data, &out));
  else CHECK(napi_get_undefined(env, &out));
  return out;
}

/* dialDetach(handle) → the descriptor, out of the epoll set and no longer the dial's (for a net.Socket), what
   it had not written yet dropped (dialPending first); -1 if it is not open, or speaks TLS (see socketPair). */
static napi_value dial_detach(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  dial_t *d = dial_arg(env, info, argv, 1);
  int fd = -1;
  if (d != NULL && d->state == D_OPEN && d->tls == T_NONE) {
    fd = d->fd;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    dial_release(d, 0);
  }
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

/* dialPause(handle): no data events until dialResume (a login under way reads no further command). */
static napi_value dial_pause(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  dial_t *d = dial_arg(env, info, argv, 1);
  if (d != NULL) d->paused = 1;
  return NULL;
}

/* dialResume(handle): data events again; what waits in the socket comes now, before this returns. */
static napi_value dial_resume(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  dial_t *d = dial_arg(env, info, argv, 1);
  if (d == NULL || !d->paused) return NULL;
  d->paused = 0;
  if (d->state == D_OPEN && d->io.readable) dial_held(d, dial_read);
  return NULL;
}

/* dialEnd(handle) → true when closed now; false while what is not written yet waits for the socket (then it closes, with no event). */
static napi_value dial_end(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  dial_t *d = dial_arg(env, info, argv, 1);
  int now = 1;
  /* STARTTLS not begun is forgotten; a handshake under way has nothing of the session's to deliver (closed now). */
  if (d != NULL && d->tls == T_PENDING) d->tls = T_NONE;
  if (d != NULL && d->state == D_OPEN && d->tls != T_HANDSHAKE) {
    d->ending = 1;
    d->paused = 1;
    if (d->cb != NULL) napi_delete_reference(env, d->cb);
    d->cb = NULL;
    now = dial_held(d, dial_flush) != 0;
  } else if (d != NULL) {
    dial_release(d, 1);
  }
  CHECK(napi_get_boolean(env, now, &out));
  return out;
}

/*
 * A listening socket whose connections the relay accepts itself (accept4 in this epoll set): each
 * becomes a dial that is open from the start, with no net.Socket and no TCPWrap. Node's server keeps
 * the socket (bind, the cluster's sharing, close); the relay works on a duplicate and takes the
 * socket out of libuv's own epoll set (listenTake), so that libuv no longer accepts on it.
 *
 * A wake accepts a few connections, not all that wait: each costs its JavaScript (the session, the
 * greeting) before the worker's other events, so a long batch delays the logins under way and keeps
 * from the other workers connections they were free to take. One a wake costs an epoll round each.
 */
#define ACCEPTS 4

typedef struct listen_s {
  item_t it; /* K_LISTEN */
  napi_env env;
  napi_ref cb;
  int fd;        /* the duplicate; -1 once closed */
  int node_fd;   /* Node's own descriptor of the socket, for listenTake */
  int watching;  /* in the epoll set */
  int js_alive;
  tls_ctx_t *tctx; /* implicit TLS: each connection's handshake starts at accept */
} listen_t;

static void listen_stop(listen_t *l) {
  if (l->watching) epoll_ctl(epfd, EPOLL_CTL_DEL, l->fd, NULL);
  l->watching = 0;
}

static int listen_watch(listen_t *l) {
  /* Level-triggered, so a batch cut at ACCEPTS comes back; EPOLLEXCLUSIVE wakes one worker a connection. */
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &ev) != 0) return -1;
  l->watching = 1;
  return 0;
}

static void listen_close(listen_t *l) {
  listen_stop(l);
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  if (l->cb != NULL) napi_delete_reference(l->env, l->cb);
  l->cb = NULL;
  tls_ctx_unref(l->tctx);
  l->tctx = NULL;
}

/* One accepted connection: a dial in D_OPEN, given to JavaScript, which answers with its event callback (or not: closed). */
static void accepted(listen_t *l, int fd, struct sockaddr_storage *ss) {
  napi_env env = l->env;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char ip[INET6_ADDRSTRLEN] = "";
  int port = sock_name((struct sockaddr *)ss, ip, sizeof ip);
  napi_value handle, argv[3], result;
  dial_t *d = dial_new(env, fd, D_OPEN, &handle);
  if (d == NULL) {
    close(fd);
    return;
  }
  if (l->tctx != NULL) {
    if ((d->ssl = tls_server(l->tctx, fd)) == NULL) {
      dial_release(d, 1);
      return;
    }
    d->tls = T_HANDSHAKE;
    d->tctx = l->tctx;
    tls_ctx_ref(d->tctx);
  }
  argv[0] = handle;
  napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &argv[1]);
  napi_create_int32(env, port, &argv[2]);
  d->it.busy++;
  result = NULL;
  call_ref(env, l->cb, 3, argv, &result);
  napi_valuetype t = napi_undefined;
  if (result != NULL) napi_typeof(env, result, &t);
  if (d->state == D_OPEN) {
    /* Ending already (a refusal's last line): no callback, but the socket must say when it takes the rest. */
    if (!d->ending && t != napi_function) {
      dial_release(d, 1);
    } else if (!d->ending && napi_create_reference(env, result, 1, &d->cb) != napi_ok) {
      dial_release(d, 1);
    } else {
      /* Bytes the client sent already are reported at once: the first edge of an fd ready when added. */
      struct epoll_event ev = {.events = CONN_EVENTS, .data.ptr = d};
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) dial_last(d, DE_ERROR, "epoll_ctl", -errno);
    }
  }
  d->it.busy--;
}

static void listen_ready(void *item) {
  listen_t *l = item;
  if (!l->watching || l->fd < 0) return;
  napi_env env = l->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  l->it.busy++;
  for (int i = 0; i < ACCEPTS && l->watching; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accepted(l, fd, &ss);
      continue;
    }
    if (errno == EAGAIN) break;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* Out of descriptors: the socket would stay ready and spin. JavaScript says so and watches it again later. */
      int err = errno;
      listen_stop(l);
      napi_value argv[2];
      napi_get_null(env, &argv[0]);
      char why[64];
      snprintf(why, sizeof why, "accept %s", uv_err_name(-err));
      napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &argv[1]);
      call_ref(env, l->cb, 2, argv, NULL);
      break;
    }
    /* ECONNABORTED, EINTR, EPROTO, EPERM (a firewall): that connection is gone, the next may not be. */
  }
  l->it.busy--;
  napi_close_handle_scope(env, scope);
}

static void listen_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  listen_t *l = data;
  l->js_alive = 0;
  listen_close(l);
  /* Inside a batch, a later event of the batch may still name it: freed once the batch is over. */
  item_doom(&l->it);
  dial_free_done();
}

static listen_t *listen_arg(napi_env env, napi_callback_info info, napi_value *argv, size_t want) { return item_arg(env, info, argv, want, K_LISTEN); }

/* The listener's TLS context from now on (a reload): `v` a tlsContext handle, or undefined for none. */
static void listen_set_tls(listen_t *l, napi_env env, napi_value v) {
  tls_ctx_t *c = tls_ctx_of(env, v);
  if (c != NULL) tls_ctx_ref(c);
  tls_ctx_unref(l->tctx);
  l->tctx = c;
}

/*
 * listen(fd, onAccept, tls?) → handle. `fd`: a listening TCP socket of Node's (server._handle.fd), duplicated.
 * onAccept(handle, ip, port) → the connection's onEvent (as dial's, without `connected`), or nothing to
 * close it; onAccept(null, "accept EMFILE") when the relay stopped watching for want of descriptors
 * (listenResume watches again). Connections come once listenTake has taken the socket from libuv.
 * With `tls` (a tlsContext handle: implicit TLS), each connection's handshake starts at once: `secure`
 * (5, with the SNI name) says it is over, and `error` ("tls handshake: …") that it failed.
 */
static napi_value listen_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], handle;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  napi_valuetype t;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "POSTERN_RELAY", "relay.listen takes a descriptor and a function");
    return NULL;
  }
  if (relay_loop(env) == NULL) return NULL;
  listen_t *l = calloc(1, sizeof *l);
  if (l == NULL) {
    throw_errno(env, "listen", ENOMEM);
    return NULL;
  }
  l->it.kind = K_LISTEN;
  l->env = env;
  l->node_fd = fd;
  if (argc > 2) listen_set_tls(l, env, argv[2]);
  const char *op = NULL;
  if ((l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) op = "dup";
  else if (fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK) != 0) op = "fcntl";
  else if (napi_create_reference(env, argv[1], 1, &l->cb) != napi_ok) {
    op = "listen";
    errno = ENOMEM;
  } else if (listen_watch(l) != 0) op = "epoll_ctl";
  if (op == NULL && napi_create_external(env, l, listen_finalize, NULL, &handle) != napi_ok) {
    op = "listen";
    errno = ENOMEM;
  }
  if (op != NULL) {
    int err = errno;
    listen_close(l);
    free(l);
    throw_errno(env, op, err);
    return NULL;
  }
  l->js_alive = 1;
  return handle;
}

/*
 * listenTake(handle) → true once libuv no longer watches the socket (it was in libuv's epoll set and
 * is out of it now), false when libuv has not registered it yet (its loop does so on its next poll:
 * call again then). libuv keeps believing it watches; the socket just never reports to it again.
 */
static napi_value listen_take(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  listen_t *l = listen_arg(env, info, argv, 1);
  uv_loop_t *loop;
  int taken = 0;
  if (l != NULL && l->fd >= 0 && napi_get_uv_event_loop(env, &loop) == napi_ok) {
    struct epoll_event dummy;
    taken = epoll_ctl(uv_backend_fd(loop), EPOLL_CTL_DEL, l->node_fd, &dummy) == 0;
  }
  CHECK(napi_get_boolean(env, taken, &out));
  return out;
}

/* listenResume(handle): watches the socket again after onAccept(null, …). */
static napi_value listen_resume(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  listen_t *l = listen_arg(env, info, argv, 1);
  if (l != NULL && l->fd >= 0 && !l->watching && listen_watch(l) != 0) throw_errno(env, "epoll_ctl", errno);
  return NULL;
}

/* listenTls(handle, tls | undefined): the context of the connections accepted from now on (a reload). */
static napi_value listen_tls(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  listen_t *l = listen_arg(env, info, argv, 2);
  if (l != NULL && l->fd >= 0) listen_set_tls(l, env, argv[1]);
  return NULL;
}

static int is_string(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_string;
}

/* A string argument, copied; NULL for anything else (or out of memory). */
static char *string_arg(napi_env env, napi_value v) {
  size_t len;
  if (!is_string(env, v) || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *out = malloc(len + 1);
  if (out != NULL && napi_get_value_string_utf8(env, v, out, len + 1, &len) != napi_ok) {
    free(out);
    return NULL;
  }
  return out;
}

/*
 * dialStartTls(handle, tls, servername?, verifyHost?) → whether it began.
 * A server context: STARTTLS on a connection the relay accepted. What waits to be written leaves in
 * the clear first (the reply that says go ahead), then the server's handshake runs; `secure` or
 * `error` follows, as for an implicit-TLS listener. Nothing more is read in the clear.
 * A client context (tlsClientContext): a backend's TLS, on a dial still connecting (ssl=yes: the
 * handshake starts once connected, after `connected`) or open (after STARTTLS's OK). `servername` is
 * sent as SNI; the certificate is checked against `verifyHost` (an IP address or a name), or not at
 * all when it is not given (ssl=any-cert). A certificate refused fails with "tls handshake:
 * certificate not accepted: <OpenSSL's reason>".
 */
static napi_value dial_start_tls(napi_env env, napi_callback_info info) {
  napi_value argv[4], out;
  size_t argc = 4; /* the names are optional: undefined when not passed */
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  dial_t *d = argc >= 2 ? dial_unwrap(env, argv[0]) : NULL;
  tls_ctx_t *c = d != NULL ? tls_ctx_of(env, argv[1]) : NULL;
  int client = c != NULL && tls_ctx_client(c);
  int ok = c != NULL && (d->state == D_OPEN || (client && d->state == D_CONNECTING)) && d->tls == T_NONE && !d->ending;
  if (ok && client) {
    d->servername = string_arg(env, argv[2]);
    d->verify_host = string_arg(env, argv[3]);
    /* A name that could not be copied (out of memory) must not turn into no check at all. */
    if ((d->servername == NULL && is_string(env, argv[2])) || (d->verify_host == NULL && is_string(env, argv[3]))) {
      dial_forget_names(d);
      ok = 0;
    }
  }
  if (ok) {
    d->tls = T_PENDING;
    d->tctx = c;
    tls_ctx_ref(c);
    if (d->state == D_OPEN) dial_held(d, dial_step);
  }
  CHECK(napi_get_boolean(env, ok, &out));
  return out;
}

/* socketPair() → [fd, fd]: a connected pair of unix stream sockets, for a TLS connection that a net.Socket must carry. */
static napi_value socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int p[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p) != 0) {
    throw_errno(env, "socketpair", errno);
    return NULL;
  }
  napi_value out, a, b;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, p[0], &a));
  CHECK(napi_create_int32(env, p[1], &b));
  napi_set_element(env, out, 0, a);
  napi_set_element(env, out, 1, b);
  return out;
}

/* listenClose(handle): no more accepts; the duplicate is closed (Node's server closes its own). */
static napi_value listen_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  listen_t *l = listen_arg(env, info, argv, 1);
  if (l != NULL) listen_close(l);
  return NULL;
}

/* `out` (what a dial had not written yet) goes before `pre` (what JavaScript hands over for the same socket). */
static int prepend(bytes_t *pre, const bytes_t *out) {
  if (!bytes_pending(out)) return 0;
  size_t a = out->len - out->off, b = pre->data ? pre->len - pre->off : 0;
  char *m = malloc(a + b);
  if (m == NULL) return -1;
  memcpy(m, out->data + out->off, a);
  if (b) memcpy(m + a, pre->data + pre->off, b);
  bytes_free(pre);
  pre->data = m;
  pre->len = a + b;
  pre->off = 0;
  return 0;
}

/*
 * adopt(client, backend, idleMs, hasDelay, preUp, preDown, onEvent) → handle. Each side is a
 * descriptor (duplicated: its net.Socket is destroyed afterwards) or a dial's handle (taken as it is,
 * with no dup: its registration moves from Node's set to the relay thread's).
 */
static napi_value adopt(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "POSTERN_RELAY", "relay.adopt takes 7 arguments");
    return NULL;
  }
  int32_t given[2] = {-1, -1};
  dial_t *dl[2] = {NULL, NULL};
  double idle;
  bool has_delay;
  for (int s = C; s <= B; s++) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[s], &t));
    if (t != napi_external) {
      CHECK(napi_get_value_int32(env, argv[s], &given[s]));
      continue;
    }
    dl[s] = dial_unwrap(env, argv[s]);
    if (dl[s] == NULL || dl[s]->state != D_OPEN || (dl[s]->tls != T_NONE && dl[s]->tls != T_READY)) {
      napi_throw_error(env, "POSTERN_RELAY", s == C ? "relay.adopt: the client connection is not open" : "relay.adopt: the backend connection is not open");
      return NULL;
    }
  }
  CHECK(napi_get_value_double(env, argv[2], &idle));
  CHECK(napi_get_value_bool(env, argv[3], &has_delay));
  uv_loop_t *loop = relay_loop(env);
  if (loop == NULL || ensure_thread(env, loop) < 0) return NULL;
  relay_t *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, "POSTERN_RELAY", "relay: out of memory");
    return NULL;
  }
  r->env = env;
  r->d[UP].rd = r->d[UP].wr = r->d[DOWN].rd = r->d[DOWN].wr = -1;
  /* Every step that can fail comes before anything is written: on failure the caller keeps the sockets. */
  const char *failed = NULL;
  int err = 0;
  int added[2] = {0, 0};
  r->fd[C] = r->fd[B] = -1;
  for (int s = C; s <= B && failed == NULL; s++) {
    if (dl[s] == NULL && (r->fd[s] = fcntl(given[s], F_DUPFD_CLOEXEC, 0)) < 0) {
      failed = "dup";
      err = errno;
    }
  }
  if (failed == NULL && (copy_buffer(env, argv[4], &r->d[UP].pre) < 0 || copy_buffer(env, argv[5], &r->d[DOWN].pre) < 0)) {
    failed = "copy";
    err = ENOMEM;
  }
  /* What a dial had not written yet goes first: the backend's to the backend (UP), the client's to the client (DOWN). */
  if (failed == NULL && ((dl[B] != NULL && prepend(&r->d[UP].pre, &dl[B]->out) < 0) || (dl[C] != NULL && prepend(&r->d[DOWN].pre, &dl[C]->out) < 0))) {
    failed = "copy";
    err = ENOMEM;
  }
  if (failed == NULL && napi_create_reference(env, argv[6], 1, &r->cb) != napi_ok) failed = "napi_create_reference";
  /* The thread may see the session from its heap on: it waits for mu until all is set. */
  pthread_mutex_lock(&mu);
  if (failed == NULL && heap_reserve() < 0) {
    failed = "heap";
    err = ENOMEM;
  }
  for (int s = C; s <= B && failed == NULL; s++) {
    r->side[s].kind = K_SIDE;
    r->side[s].r = r;
    /* It can take writes; what waits to be read, the registration reports (an ADD or a MOD says what
       is ready now), but not what OpenSSL read ahead: a side in TLS is read once at the join. */
    r->side[s].io.writable = 1;
    r->side[s].io.readable = dl[s] != NULL && dl[s]->ssl != NULL;
    struct epoll_event ev = {.events = SIDE_EVENTS, .data.ptr = &r->side[s]};
    int fd = dl[s] != NULL ? dl[s]->fd : r->fd[s];
    if (epoll_ctl(epfd, dl[s] != NULL ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
      failed = "epoll_ctl";
      err = errno;
    } else {
      added[s] = 1;
    }
  }
  if (failed != NULL) {
    pthread_mutex_unlock(&mu);
    if (r->cb != NULL) napi_delete_reference(env, r->cb);
    for (int s = C; s <= B; s++) {
      if (dl[s] != NULL && added[s]) {
        /* The dial keeps its descriptor: its events go to it again. */
        struct epoll_event ev = {.events = CONN_EVENTS, .data.ptr = dl[s]};
        epoll_ctl(epfd, EPOLL_CTL_MOD, dl[s]->fd, &ev);
      }
      /* Closing a duplicate also takes it out of the epoll set. */
      if (dl[s] == NULL && r->fd[s] >= 0) close(r->fd[s]);
    }
    bytes_free(&r->d[UP].pre);
    bytes_free(&r->d[DOWN].pre);
    free(r);
    char msg[128];
    snprintf(msg, sizeof msg, "relay: %s failed%s%s", failed, err ? ": " : "", err ? strerror(err) : "");
    napi_throw_error(env, "POSTERN_RELAY", msg);
    return NULL;
  }
  for (int s = C; s <= B; s++) {
    if (dl[s] == NULL) continue;
    r->fd[s] = dl[s]->fd;
    if (dl[s]->io.hup) r->side[s].io.hup = 1;
    r->ssl[s] = dl[s]->ssl;
    dl[s]->ssl = NULL;
    dial_release(dl[s], 0);
  }
  tick();
  running++;
  r->js_alive = 1;
  r->idle_ms = idle > 0 ? (uint64_t)idle : 0;
  r->has_delay = has_delay;
  r->state = RUNNING;
  active(r);
  /* The login reply leaves now, as a JavaScript write would, and what the backend is owed (an error
     ends the relay here, and says so). */
  r->rearm = 1;
  run(r);
  pthread_mutex_unlock(&mu);
  if (relays_live++ == 0) uv_ref((uv_handle_t *)&notify);
  napi_value handle;
  napi_status st = napi_create_external(env, r, finalize, NULL, &handle);
  deliver();
  if (st != napi_ok) {
    napi_throw_error(env, "POSTERN_RELAY", "relay: napi_create_external failed");
    return NULL;
  }
  return handle;
}

/*
 * The live relay a call names in its first argument, with mu held (and the clock read), or NULL
 * without. (Why it ends is the JavaScript side's to say.)
 */
static relay_t *live_arg(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return NULL;
  relay_t *r = unwrap(env, argv[0]);
  if (r == NULL) return NULL;
  pthread_mutex_lock(&mu);
  if (r->state != ENDED) {
    tick();
    return r;
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

/* destroy(handle): both sides close now. */
static napi_value destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  relay_t *r = live_arg(env, info, argv, 1);
  if (r == NULL) return NULL;
  end(r);
  pthread_mutex_unlock(&mu);
  deliver();
  return NULL;
}

/* farewell(handle, line): the backend goes now; the client gets what it is owed, the line, a FIN. */
static napi_value farewell(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  relay_t *r = live_arg(env, info, argv, 2);
  if (r == NULL) return NULL;
  close_side(r, B);
  discard(&r->d[UP]);
  bytes_free(&r->d[DOWN].post);
  if (r->fd[C] < 0 || copy_buffer(env, argv[1], &r->d[DOWN].post) < 0) {
    end(r);
  } else {
    part(r, FAREWELL_MS);
    run(r);
  }
  pthread_mutex_unlock(&mu);
  deliver();
  return NULL;
}

/* bytes(handle) → [from the client, to the client] */
static napi_value bytes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, a, b;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  relay_t *r = argc > 0 ? unwrap(env, argv[0]) : NULL;
  double in = 0, sent = 0;
  if (r != NULL) {
    pthread_mutex_lock(&mu);
    in = r->bytes_in;
    sent = r->bytes_out;
    pthread_mutex_unlock(&mu);
  }
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_double(env, in, &a));
  CHECK(napi_create_double(env, sent, &b));
  napi_set_element(env, out, 0, a);
  napi_set_element(env, out, 1, b);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value name, fn;
  if (async_ctx == NULL) {
    napi_value resource;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "postern.relay", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &async_ctx);
  }
  struct { const char *name; napi_callback fn; } fns[] = {{"adopt", adopt}, {"destroy", destroy}, {"farewell", farewell}, {"bytes", bytes}, {"dial", dial}, {"dialSend", dial_send}, {"dialClose", dial_close}, {"dialLocal", dial_local}, {"dialResumed", dial_resumed}, {"dialPending", dial_pending}, {"dialDetach", dial_detach}, {"dialPause", dial_pause}, {"dialResume", dial_resume}, {"dialEnd", dial_end}, {"listen", listen_fd}, {"listenTake", listen_take}, {"listenResume", listen_resume}, {"listenClose", listen_close_js}, {"listenTls", listen_tls}, {"dialStartTls", dial_start_tls}, {"socketPair", socket_pair}, {"tlsContext", tls_context_js}, {"tlsClientContext", tls_client_context_js}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
