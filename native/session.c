/*
 * The relay of a proxied session after login, in native code: no JavaScript runs per chunk. A
 * session starts in the edge-triggered epoll set of the connections before the join (dials,
 * listeners: native/relay.c), which Node's loop watches as a single descriptor: a login that ends at once
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
 *
 * The client is closed lingering: once the backend is gone its input is read and dropped, and after
 * our FIN the descriptor stays open until the client's own FIN (at most LINGER_MS). A close() with
 * input unread, or with input arriving after it, makes the kernel reset the connection and throw
 * away what is still unsent: the end of a reply, the goodbye.
 */
#include "relay.h"

#define POOL_MAX 64
#define FAREWELL_MS 5000
#define LINGER_MS 2000

enum { C = 0, B = 1 };
enum { UP = 0, DOWN = 1 };
enum { RUNNING, HOLDING, PARTING, LINGERING, ENDED };
enum { EV_DELAY = 1, EV_END = 2 };

typedef struct {
  int rd, wr;     /* the pipe, -1 when none */
  size_t queued;  /* bytes in the pipe */
  bytes_t pre, post;
  int eof;        /* the reading side sent its FIN */
  int drop;       /* read and discard */
  int bulk;       /* the last read filled a chunk: splice */
} dir_t;

struct relay;

typedef struct {
  int kind; /* K_SIDE: first, as in dial_t, for the epoll dispatch */
  struct relay *r;
  ready_t io;
  int out; /* its registration asks for EPOLLOUT too (a write found it full once) */
} side_t;

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
  int ending_now, asking_now; /* session_deliver()'s, taken from notes */
  int busy;                   /* on a list session_deliver() is going through: not freed */
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

static void set_reason(relay_t *r, const char *why) {
  if (r->reason[0] == 0) snprintf(r->reason, sizeof r->reason, "%s", why);
}

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

/* `w` bytes went to side `to`: what the client got is counted, and is activity. */
static void sent(relay_t *r, int to, ssize_t w) {
  if (to != C) return;
  r->bytes_out += (double)w;
  active(r);
}

/* A write to `to` that failed (errno): 1 to try again, 0 when the socket is full, -1 when the session ended. */
static int write_failed(relay_t *r, int to) {
  if (errno == EINTR) return 1;
  if (errno == EAGAIN) {
    r->side[to].io.writable = 0;
    return 0;
  }
  fail(r, to, "write", -errno);
  return -1;
}

/* Writes what `b` still holds: 1 when all is written, 0 when the socket is full, -1 on error. */
static int write_bytes(relay_t *r, bytes_t *b, int to) {
  while (bytes_pending(b)) {
    if (!r->side[to].io.writable) return 0;
    ssize_t w = side_write(r, to, b->data + b->off, b->len - b->off);
    if (w < 0) {
      int again = write_failed(r, to);
      if (again > 0) continue;
      return again;
    }
    b->off += (size_t)w;
    sent(r, to, w);
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
      int again = write_failed(r, to);
      if (again > 0) continue;
      return again;
    }
    d->queued -= (size_t)w;
    sent(r, to, w);
  }
  pipe_put(d);
  return write_bytes(r, &d->post, to);
}

static int reading(const relay_t *r, int dir) {
  if (r->state == RUNNING) return 1;
  /* Held, parting or lingering: the client's input is dropped (drop). */
  return r->state != ENDED && dir == UP;
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
    sent(r, to, w);
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

/* The client's input is dropped from now on; it is closed once what it is owed is written (or at `cap_ms`). */
static void part(relay_t *r, uint64_t cap_ms) {
  r->state = PARTING;
  r->d[UP].drop = 1;
  r->deadline = cap_ms ? now + cap_ms : 0;
  r->rearm = 1;
}

/* What the state of both directions means for the session. */
static void settle(relay_t *r) {
  if (r->state == ENDED) return;
  dir_t *up = &r->d[UP], *down = &r->d[DOWN];
  if (up->eof && r->fd[C] >= 0) {
    if (r->state == HOLDING || r->state == LINGERING) {
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
      /* JavaScript says how long the client is held (session_deliver()); its input is dropped meanwhile. */
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
    if (up->eof) {
      close_side(r, C);
    } else {
      r->state = LINGERING;
      uint64_t cap = now + LINGER_MS;
      if (r->deadline == 0 || cap < r->deadline) r->deadline = cap;
      r->rearm = 1;
    }
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

/* An event of Node's set for a session still there (ep_cb). */
void session_ready(void *side, uint32_t events) {
  side_t *sd = side;
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

/* ep_cb's batch of Node's set begins (1) or ends (0): a relay ended during one waits for its end to be freed. */
void session_batch(int begin) {
  pthread_mutex_lock(&mu);
  if (begin) {
    in_batch = 1;
  } else {
    in_batch = 0;
    mdone++;
    sweep_dead();
  }
  pthread_mutex_unlock(&mu);
}

/* A relay's timer is due: its deadline (the end of a hold, of a farewell) or its idle timeout. */
static void timer_fire(relay_t *r) {
  if (r->deadline && now >= r->deadline) {
    r->deadline = 0;
    if (r->state == HOLDING) {
      part(r, 0);
    } else if (r->state == PARTING || r->state == LINGERING) {
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
  tick();
  for (;;) {
    /* (`now` as read for the batch just handled: a timer may fire that much late.) */
    int timeout = -1;
    if (again_head != NULL) {
      timeout = 0;
    } else if (heap_n > 0) {
      uint64_t in = heap[0]->due > now ? heap[0]->due - now : 0;
      timeout = in > INT32_MAX ? INT32_MAX : (int)in;
    }
    sleep_until = timeout < 0 ? UINT64_MAX : now + (uint64_t)timeout;
    gen++;
    /* No event of the last wait is held any more. */
    sweep_dead();
    int tell = news;
    news = 0;
    pthread_mutex_unlock(&mu);
    /* Node's loop hears of the notes once mu is free for session_deliver(). */
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
  if (r->cb == NULL) return; /* told already, by a session_deliver() nested in a callback */
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
void session_deliver(void) {
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

static void notify_cb(uv_async_t *h) { session_deliver(); }


/* ---- JavaScript ---- */

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

/*
 * At exit the thread stops where it stands (it waits for mu, held from here on): it makes no OpenSSL call
 * after OpenSSL's own exit handler, registered before this one and so run after it.
 */
static void stop_at_exit(void) { pthread_mutex_lock(&mu); }

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
    if (err == 0) atexit(stop_at_exit);
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
napi_value session_adopt(napi_env env, napi_callback_info info) {
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
  session_deliver();
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
napi_value session_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  relay_t *r = live_arg(env, info, argv, 1);
  if (r == NULL) return NULL;
  end(r);
  pthread_mutex_unlock(&mu);
  session_deliver();
  return NULL;
}

/* farewell(handle, line): the backend goes now; the client gets what it is owed, the line, a FIN. */
napi_value session_farewell(napi_env env, napi_callback_info info) {
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
  session_deliver();
  return NULL;
}

/* bytes(handle) → [from the client, to the client] */
napi_value session_bytes(napi_env env, napi_callback_info info) {
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

