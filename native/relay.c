/*
 * The native relay's connections before the join, on Node's own event loop: dials (backend
 * connections the relay opens, over which postern logs in) and listeners (client connections it
 * accepts), all in one edge-triggered epoll set that Node's loop watches as a single descriptor; the
 * sessions after the join start in that set too and move on (native/session.c). Also the addon's
 * exports.
 */
#include "relay.h"

/* The main thread's: dials and listeners, on Node's loop. */
static char scratch[CHUNK];
napi_async_context async_ctx;
int epfd = -1;      /* every dial and listener of the process, and the sessions' first commands */
static uv_poll_t ep_poll;  /* Node's loop watching epfd */
static int live;           /* dials and listeners holding the loop open */
static uv_idle_t again_idle;

static void dial_ready(void *item, uint32_t events);
static void listen_ready(void *item);
static void dial_free_done(void);
static void dial_again_run(void);
static int batch; /* inside ep_cb */

void call_ref(napi_env env, napi_ref ref, int argc, napi_value *argv, napi_value *result) {
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


/* The main thread's idle turn: the dials that stopped at ROUNDS. */
static void again_cb(uv_idle_t *h) {
  uv_idle_stop(&again_idle);
  dial_again_run();
}

/* Node's loop saw the epoll set ready: take its events (none waits) and move what they allow. */
static void ep_cb(uv_poll_t *h, int status, int events) {
  struct epoll_event ev[64];
  int n, sides = 0;
  batch++;
  session_batch(1);
  do {
    n = epoll_wait(epfd, ev, 64, 0);
    for (int i = 0; i < n; i++) {
      int kind = *(int *)ev[i].data.ptr;
      if (kind == K_DIAL) {
        dial_ready(ev[i].data.ptr, ev[i].events);
      } else if (kind == K_LISTEN) {
        listen_ready(ev[i].data.ptr);
      } else {
        session_ready(ev[i].data.ptr, ev[i].events);
        sides = 1;
      }
    }
  } while (n == 64);
  session_batch(0);
  batch--;
  if (sides) session_deliver();
  dial_free_done();
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
uv_loop_t *relay_loop(napi_env env) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "POSTERN_RELAY", "relay: napi_get_uv_event_loop failed");
    return NULL;
  }
  return ensure_epoll(env, loop) < 0 ? NULL : loop;
}



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
void dial_release(dial_t *d, int close_fd) {
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

static int dial_read(dial_t *d);
static void dial_schedule(dial_t *d);

/* Writes what waits: 1 when all is written, 0 while it waits (for the socket, or for the TLS handshake), -1 when the dial is gone. */
static int dial_flush(dial_t *d) {
  if (d->tls == T_HANDSHAKE) return 0;
  int wrote = bytes_pending(&d->out);
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
  /*
   * A backend's replies to what was just sent are acknowledged at once, not after Linux's delayed-ACK
   * timer (up to 40 ms): a backend whose next reply comes from another writer with Nagle's algorithm
   * on waits for that ACK. Dovecot's pop3 process writes `+OK Logged in.` after pop3-login's replies to
   * a pipelined XCLIENT and USER, and a POP3 login took 40 ms more (bench/RESULTS.md item 51).
   */
  if (wrote && d->to.sa.sa_family != AF_UNSPEC) {
    int one = 1;
    setsockopt(d->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
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
    /*
     * As socket.end(): a FIN after the last byte. The descriptor goes at the peer's FIN, what it
     * sends meanwhile read and dropped (dial_read), or at dialEnd's caller's timer: a close with
     * input unread would reset the connection and lose what is still unsent (a goodbye).
     */
    if (!d->lingering) {
      tls_notify(d->ssl);
      shutdown(d->fd, SHUT_WR);
      d->lingering = 1;
    }
    dial_read(d);
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
  if (d->lingering) {
    for (; i < ROUNDS && d->state == D_OPEN && d->io.readable; i++) {
      ssize_t n = io_read(d->fd, d->ssl, &d->io, scratch, sizeof scratch);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) d->io.readable = 0;
      else dial_release(d, 1); /* its FIN, or an error: nothing is owed to it any more */
      break;
    }
    if (i == ROUNDS && d->state == D_OPEN && d->io.readable) dial_schedule(d);
    return 0;
  }
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

dial_t *dial_unwrap(napi_env env, napi_value v) { return item_of(env, v, K_DIAL); }

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
    dial_held(d, dial_flush);
    now = d->state == D_DONE;
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

/* listenPause(handle): stops watching the socket until listenResume. */
static napi_value listen_pause(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  listen_t *l = listen_arg(env, info, argv, 1);
  if (l != NULL) listen_stop(l);
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

/*
 * cpuPolicy(batch) → threads: every thread of the process to SCHED_BATCH (true) or SCHED_OTHER (false);
 * threads started later take their creator's. Batch threads keep their fair share of the CPU, but
 * their wake-ups do not preempt the task running on the core: postern's many short wake-ups leave the
 * processes beside it (a backend on the same machine) to finish their turn.
 */
static napi_value cpu_policy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  bool batch = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_bool(env, argv[0], &batch) != napi_ok) {
    napi_throw_type_error(env, "POSTERN_RELAY", "cpuPolicy(batch): batch must be a boolean");
    return NULL;
  }
  DIR *dir = opendir("/proc/self/task");
  if (dir == NULL) {
    throw_errno(env, "opendir /proc/self/task", errno);
    return NULL;
  }
  struct sched_param param = {0};
  struct dirent *e;
  int set = 0, err = 0;
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    /* A thread that ended since readdir (ESRCH) is not a failure. */
    if (sched_setscheduler((pid_t)atoi(e->d_name), batch ? SCHED_BATCH : SCHED_OTHER, &param) == 0) set++;
    else if (errno != ESRCH) err = errno;
  }
  closedir(dir);
  if (err != 0) {
    throw_errno(env, "sched_setscheduler", err);
    return NULL;
  }
  CHECK(napi_create_int32(env, set, &out));
  return out;
}

/* listenClose(handle): no more accepts; the duplicate is closed (Node's server closes its own). */
static napi_value listen_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  listen_t *l = listen_arg(env, info, argv, 1);
  if (l != NULL) listen_close(l);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value name, fn;
  if (async_ctx == NULL) {
    napi_value resource;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "postern.relay", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &async_ctx);
  }
  struct { const char *name; napi_callback fn; } fns[] = {{"adopt", session_adopt}, {"destroy", session_destroy}, {"farewell", session_farewell}, {"bytes", session_bytes}, {"dial", dial}, {"dialSend", dial_send}, {"dialClose", dial_close}, {"dialLocal", dial_local}, {"dialResumed", dial_resumed}, {"dialPending", dial_pending}, {"dialDetach", dial_detach}, {"dialPause", dial_pause}, {"dialResume", dial_resume}, {"dialEnd", dial_end}, {"listen", listen_fd}, {"listenTake", listen_take}, {"listenResume", listen_resume}, {"listenPause", listen_pause}, {"listenClose", listen_close_js}, {"listenTls", listen_tls}, {"dialStartTls", dial_start_tls}, {"socketPair", socket_pair}, {"cpuPolicy", cpu_policy}, {"tlsContext", tls_context_js}, {"tlsClientContext", tls_client_context_js}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
