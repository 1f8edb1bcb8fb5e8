// postern benchmark load generator: one thread, epoll, N concurrent IMAP/POP3 connections, optional
// implicit TLS (a full handshake each time: no session cache, no tickets). Compiled at run time by
// bench/cbuild.ts with `cc -O2 ... -lssl -lcrypto`; never committed as a binary.
//
// Modes (one JSON object a line on stdout):
//   login  connect, greeting, LOGIN (or USER+PASS), LOGOUT (QUIT), wait for the server to close, repeat;
//          logins/s and login latency (connect to login OK) p50/p99.
//   idle   open --sessions logged-in sessions (--conns logins in flight), print "ready", hold them until
//          stdin closes or SIGTERM, then report how many the far side dropped.
//   fetch  one session: SELECT INBOX, then `FETCH <n> BODY[]` back to back; bytes/s.
//   noop   one session: NOOP round trips one at a time; p50/p99 in microseconds.
// Timed modes print {"event":"measure_start"} when the warm-up ends and {"event":"result",...} when the
// measurement ends; cpu_* fields are this process's own CPU time (getrusage) within the measurement.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_LOGIN, M_IDLE, M_FETCH, M_NOOP };
enum state { S_OFF, S_CONNECTING, S_HANDSHAKE, S_GREETING, S_STARTTLS, S_USER, S_LOGIN, S_SELECT, S_WORK, S_LOGOUT, S_WAIT_EOF, S_IDLE };

#define LINE_MAX_BYTES 8192
#define OUT_MAX_BYTES 512
#define READ_BUF_BYTES (256 * 1024)

struct conn {
  int fd;
  int idx;
  int user;           // index of the user this connection logs in as
  enum state st;
  SSL *ssl;
  double t_start;     // connect() of this login, or send of this NOOP/FETCH
  double deadline;    // give up on the current step
  double retry_at;    // when S_OFF: reconnect then (0 = not scheduled)
  size_t lit_left;    // bytes of an IMAP literal still to skip
  size_t llen;
  char line[LINE_MAX_BYTES];
  size_t olen, ooff;
  char out[OUT_MAX_BYTES];
};

static struct {
  enum mode mode;
  int pop3, tls, starttls, resume, conns, sessions, users, msg;
  double duration, warmup, timeout, step_timeout;
  long max_logins;
  const char *host, *user_prefix, *pass_prefix;
  int port;
} opt = {.mode = M_LOGIN, .conns = 50, .sessions = 10000, .users = 1000, .msg = 1, .duration = 10, .warmup = 2, .timeout = 120, .step_timeout = 10, .host = "127.0.0.1", .user_prefix = "user", .pass_prefix = "pw"};

static int ep;
static SSL_CTX *ssl_ctx;
static struct conn *conns;
static char rbuf[READ_BUF_BYTES];
static long next_user;
static volatile sig_atomic_t stop_flag;

// Counters of the current phase (reset when the measurement starts).
static int measuring;
static long ops, errors, logged_in, dropped, started_total;
// --resume: the last session ticket the server gave, offered by every new handshake; how many resumed.
static SSL_SESSION *last_session;
static long resumed;
static unsigned long long bytes;
static uint32_t *samples;
static size_t nsamples, capsamples;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(struct rusage *ru, int sys) {
  struct timeval *tv = sys ? &ru->ru_stime : &ru->ru_utime;
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static void sample(double seconds) {
  if (!measuring) return;
  if (nsamples == capsamples) {
    capsamples = capsamples ? capsamples * 2 : 65536;
    samples = realloc(samples, capsamples * sizeof *samples);
    if (!samples) { perror("realloc"); exit(2); }
  }
  double us = seconds * 1e6;
  samples[nsamples++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t pct(double p) {
  if (nsamples == 0) return 0;
  size_t i = (size_t)(p * (double)(nsamples - 1) + 0.5);
  return samples[i];
}

static void usage(void) {
  fprintf(stderr,
    "usage: loadgen --mode login|idle|fetch|noop --port N [--host 127.0.0.1] [--pop3] [--tls | --starttls] [--resume]\n"
    "  [--conns 50] [--sessions 10000] [--duration 10] [--warmup 2] [--timeout 120] [--step-timeout 10] [--max-logins N]\n"
    "  [--users 1000] [--user-prefix user] [--pass-prefix pw] [--msg 1]\n"
    "  user i logs in as <user-prefix><i as 4 digits> with password <pass-prefix><same digits>\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (++i, 1))
    if (strcmp(a, "--pop3") == 0) opt.pop3 = 1;
    else if (strcmp(a, "--tls") == 0) opt.tls = 1;
    else if (strcmp(a, "--starttls") == 0) opt.starttls = 1;  // IMAP: STARTTLS after the greeting, then LOGIN
    else if (strcmp(a, "--resume") == 0) opt.resume = 1;  // TLS: resume with the last ticket instead of a full handshake
    else if (ARG("--mode")) {
      if (strcmp(v, "login") == 0) opt.mode = M_LOGIN;
      else if (strcmp(v, "idle") == 0) opt.mode = M_IDLE;
      else if (strcmp(v, "fetch") == 0) opt.mode = M_FETCH;
      else if (strcmp(v, "noop") == 0) opt.mode = M_NOOP;
      else usage();
    }
    else if (ARG("--host")) opt.host = v;
    else if (ARG("--port")) opt.port = atoi(v);
    else if (ARG("--conns")) opt.conns = atoi(v);
    else if (ARG("--sessions")) opt.sessions = atoi(v);
    else if (ARG("--duration")) opt.duration = atof(v);
    else if (ARG("--warmup")) opt.warmup = atof(v);
    else if (ARG("--timeout")) opt.timeout = atof(v);
    else if (ARG("--step-timeout")) opt.step_timeout = atof(v);
    else if (ARG("--max-logins")) opt.max_logins = atol(v);
    else if (ARG("--users")) opt.users = atoi(v);
    else if (ARG("--user-prefix")) opt.user_prefix = v;
    else if (ARG("--pass-prefix")) opt.pass_prefix = v;
    else if (ARG("--msg")) opt.msg = atoi(v);
    else usage();
#undef ARG
  }
  if (opt.port <= 0 || opt.conns <= 0 || opt.users <= 0) usage();
  if (opt.mode == M_FETCH || opt.mode == M_NOOP) opt.conns = 1;
  if (opt.mode == M_IDLE) {
    if (opt.pop3 || opt.tls || opt.starttls) { fprintf(stderr, "idle mode is plain IMAP only\n"); exit(2); }
    if (opt.conns > opt.sessions) opt.conns = opt.sessions;
  }
  if ((opt.mode == M_FETCH || opt.mode == M_NOOP) && opt.pop3) { fprintf(stderr, "fetch/noop are IMAP only\n"); exit(2); }
  if (opt.starttls && (opt.tls || opt.pop3)) { fprintf(stderr, "--starttls is for plain IMAP\n"); exit(2); }
  if (opt.resume && !opt.tls && !opt.starttls) { fprintf(stderr, "--resume needs --tls or --starttls\n"); exit(2); }
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// ---- connection lifecycle ----

static void conn_close(struct conn *c) {
  // Freed without a shutdown, OpenSSL marks the session not resumable; the server closed first.
  if (c->ssl && opt.resume) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
  if (c->fd >= 0) { close(c->fd); c->fd = -1; }
  c->st = S_OFF;
  c->llen = c->lit_left = c->olen = c->ooff = 0;
}

// Why connections failed, counted apart so that a report says what went wrong, not only how often.
enum fail_kind { F_LOCAL, F_CONNECT, F_TLS, F_WRITE, F_EOF, F_REFUSED, F_TIMEOUT, F_KINDS };
static const char *fail_names[F_KINDS] = {"local", "connect", "tls", "write", "eof", "refused", "timeout"};
static long fail_count[F_KINDS];
static char last_refusal[128];  // the last server line that failed a connection (F_REFUSED)

// The failures as JSON members: "error_kinds":{...} is the caller's key, so this writes the object, then ,"last_refusal":"...".
static void failures_json(char *out, size_t size) {
  size_t k = (size_t)snprintf(out, size, "{");
  for (int i = 0; i < F_KINDS && k < size; i++) k += (size_t)snprintf(out + k, size - k, "%s\"%s\":%ld", i ? "," : "", fail_names[i], fail_count[i]);
  if (k < size) k += (size_t)snprintf(out + k, size - k, "},\"last_refusal\":\"");
  for (const char *p = last_refusal; *p && k + 2 < size; p++) out[k++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '?' : *p;
  if (k + 2 < size) { out[k++] = '"'; out[k] = 0; } else out[size - 1] = 0;
}

static void conn_fail_as(struct conn *c, double t, enum fail_kind why) {
  fail_count[why]++;
  errors++;
  conn_close(c);
  c->retry_at = t + 0.01;
}

static void conn_start(struct conn *c, double t) {
  c->retry_at = 0;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) { conn_fail_as(c, t, F_LOCAL); return; }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)opt.port);
  inet_pton(AF_INET, opt.host, &sa.sin_addr);
  c->t_start = t;
  c->deadline = t + opt.step_timeout;
  started_total++;
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) { conn_fail_as(c, t, F_CONNECT); return; }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) { conn_fail_as(c, t, F_LOCAL); return; }
  c->st = S_CONNECTING;
}

// Queue bytes and try to send them; returns -1 on a fatal error.
static int conn_flush(struct conn *c) {
  while (c->ooff < c->olen) {
    size_t n = c->olen - c->ooff;
    ssize_t w;
    if (c->ssl) {
      int r = SSL_write(c->ssl, c->out + c->ooff, (int)n);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
        return -1;
      }
      w = r;
    } else {
      w = send(c->fd, c->out + c->ooff, n, MSG_NOSIGNAL);
      if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    c->ooff += (size_t)w;
  }
  c->olen = c->ooff = 0;
  return 0;
}

static int conn_send(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conn_send(struct conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->out + c->olen, OUT_MAX_BYTES - c->olen, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= OUT_MAX_BYTES - c->olen) return -1;
  c->olen += (size_t)n;
  return conn_flush(c);
}

static int send_login(struct conn *c) {
  int u = c->user = (int)(next_user++ % opt.users);
  if (opt.pop3) {
    c->st = S_USER;
    return conn_send(c, "USER %s%04d\r\n", opt.user_prefix, u);
  }
  c->st = S_LOGIN;
  return conn_send(c, "a LOGIN %s%04d %s%04d\r\n", opt.user_prefix, u, opt.pass_prefix, u);
}

static int send_work(struct conn *c, double t) {
  c->t_start = t;
  c->deadline = t + opt.step_timeout;
  c->st = S_WORK;
  if (opt.mode == M_FETCH) return conn_send(c, "f FETCH %d BODY[]\r\n", opt.msg);
  return conn_send(c, "n NOOP\r\n");
}

static int logged_in_now(struct conn *c, double t) {
  switch (opt.mode) {
    case M_LOGIN:
      sample(t - c->t_start);
      if (measuring) ops++;
      c->st = S_LOGOUT;
      c->deadline = t + opt.step_timeout;
      return opt.pop3 ? conn_send(c, "QUIT\r\n") : conn_send(c, "b LOGOUT\r\n");
    case M_IDLE:
      logged_in++;
      c->st = S_IDLE;
      return 0;
    case M_FETCH:
      c->st = S_SELECT;
      return conn_send(c, "s SELECT INBOX\r\n");
    case M_NOOP:
      return send_work(c, t);
  }
  return -1;
}

// What on_line and on_data return when they fail a connection: -1 is a write that failed (conn_send).
enum { R_WRITE = -1, R_REFUSED = -2, R_LOCAL = -3 };

// The server said something this client does not go on from: kept for the report.
static int refuse(const char *l, size_t n) {
  snprintf(last_refusal, sizeof last_refusal, "%.*s", (int)(n < sizeof last_refusal ? n : sizeof last_refusal - 1), l);
  return R_REFUSED;
}

// One complete response line (for IMAP: a logical line, literals skipped). Returns R_* (< 0) to fail
// the connection, 1 if the connection was closed or recycled here, 2 to start TLS, 0 to go on.
static int on_line(struct conn *c, const char *l, size_t n, double t) {
  if (opt.pop3) {
    int ok = n >= 3 && memcmp(l, "+OK", 3) == 0;
    if (!ok) return refuse(l, n);
    switch (c->st) {
      case S_GREETING: return send_login(c);
      case S_USER: {
        c->st = S_LOGIN;
        return conn_send(c, "PASS %s%04d\r\n", opt.pass_prefix, c->user);
      }
      case S_LOGIN: return logged_in_now(c, t);
      case S_LOGOUT: c->st = S_WAIT_EOF; return 0;
      default: return refuse(l, n);
    }
  }
  if (c->st == S_GREETING) {
    if (n < 4 || memcmp(l, "* OK", 4) != 0) return refuse(l, n);
    if (opt.starttls && !c->ssl) {
      c->st = S_STARTTLS;
      return conn_send(c, "t STARTTLS\r\n");
    }
    return send_login(c);
  }
  if (l[0] == '*') return 0;              // untagged data
  if (l[0] == '+') return refuse(l, n);   // no continuation is ever asked for
  if (n < 4 || l[1] != ' ' || memcmp(l + 2, "OK", 2) != 0) return refuse(l, n);  // tagged NO/BAD
  switch (c->st) {
    case S_STARTTLS:
      // conn_progress starts the handshake at once (r == 2); IMAP sends no new greeting.
      c->ssl = SSL_new(ssl_ctx);
      if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) return R_LOCAL;
      if (last_session) SSL_set_session(c->ssl, last_session);
      SSL_set_connect_state(c->ssl);
      c->st = S_HANDSHAKE;
      return 2;
    case S_LOGIN: return logged_in_now(c, t);
    case S_SELECT: return send_work(c, t);
    case S_WORK:
      if (measuring) {
        ops++;
        if (opt.mode == M_NOOP) sample(t - c->t_start);
      }
      return send_work(c, t);
    case S_LOGOUT: c->st = S_WAIT_EOF; return 0;
    default: return refuse(l, n);
  }
}

static int line_add(struct conn *c, const char *p, size_t n) {
  if (c->llen + n > LINE_MAX_BYTES) n = LINE_MAX_BYTES - c->llen;  // long lines keep their head
  memcpy(c->line + c->llen, p, n);
  c->llen += n;
  return 0;
}

// A line ending in {N}\r\n announces N literal bytes (RFC 3501 4.3); returns N or -1.
static long literal_size(const char *l, size_t n) {
  if (n < 5 || l[n - 3] != '}') return -1;
  size_t i = n - 4;
  while (i > 0 && l[i] >= '0' && l[i] <= '9') i--;
  if (l[i] != '{' || i == n - 4) return -1;
  return strtol(l + i + 1, NULL, 10);
}

static int on_data(struct conn *c, const char *p, size_t n, double t) {
  if (measuring && opt.mode == M_FETCH) bytes += n;
  if (c->st == S_IDLE) return 0;
  while (n > 0) {
    if (c->lit_left > 0) {
      size_t k = n < c->lit_left ? n : c->lit_left;
      c->lit_left -= k;
      p += k;
      n -= k;
      continue;
    }
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    line_add(c, p, k);
    p += k;
    n -= k;
    if (!nl) break;
    long lit = opt.pop3 ? -1 : literal_size(c->line, c->llen);
    if (lit >= 0) {
      c->lit_left = (size_t)lit;
      continue;  // the logical line goes on after the literal
    }
    size_t len = c->llen;
    while (len > 0 && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r')) len--;
    c->line[len < LINE_MAX_BYTES ? len : LINE_MAX_BYTES - 1] = 0;
    c->llen = 0;
    int r = on_line(c, c->line, len, t);
    if (r != 0) return r;
    if (c->st == S_IDLE) return 0;
  }
  return 0;
}

static void login_cycle_done(struct conn *c, double t) {
  conn_close(c);
  if (opt.max_logins > 0 && started_total >= opt.max_logins) return;
  conn_start(c, t);
}

// Drive one connection as far as it can go without blocking.
static void conn_progress(struct conn *c, uint32_t events, double t) {
again:
  if (c->st == S_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) { conn_fail_as(c, t, F_CONNECT); return; }
    if (opt.tls) {
      c->ssl = SSL_new(ssl_ctx);
      if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) { conn_fail_as(c, t, F_LOCAL); return; }
      if (last_session) SSL_set_session(c->ssl, last_session);
      SSL_set_connect_state(c->ssl);
      c->st = S_HANDSHAKE;
    } else {
      c->st = S_GREETING;
    }
  }
  if (c->st == S_HANDSHAKE) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
      ERR_clear_error();
      conn_fail_as(c, t, F_TLS);
      return;
    }
    c->st = S_GREETING;
    if (SSL_session_reused(c->ssl) && measuring) resumed++;
    if (opt.starttls && send_login(c) < 0) { conn_fail_as(c, t, F_WRITE); return; }
  }
  if (c->olen > 0 && conn_flush(c) < 0) { conn_fail_as(c, t, F_WRITE); return; }
  for (;;) {
    ssize_t n;
    if (c->ssl) {
      int r = SSL_read(c->ssl, rbuf, sizeof rbuf);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        ERR_clear_error();
        n = 0;  // close_notify, or the socket closed without one: both end the session
      } else {
        n = r;
      }
    } else {
      n = recv(c->fd, rbuf, sizeof rbuf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        n = 0;
      }
    }
    if (n == 0) {
      if (c->st == S_WAIT_EOF) { login_cycle_done(c, t); return; }
      if (c->st == S_IDLE) { dropped++; logged_in--; conn_close(c); c->retry_at = 0; return; }
      conn_fail_as(c, t, F_EOF);
      return;
    }
    int r = on_data(c, rbuf, (size_t)n, t);
    if (r < 0) {
      conn_fail_as(c, t, r == R_REFUSED ? F_REFUSED : r == R_LOCAL ? F_LOCAL : F_WRITE);
      return;
    }
    if (r == 2) goto again;  // STARTTLS accepted: the handshake
    if (r > 0 || c->fd < 0) return;
  }
}

// ---- phases and reports ----

static struct rusage ru0;
static double t_measure0;

static void measure_start(double t) {
  measuring = 1;
  ops = errors = 0;
  memset(fail_count, 0, sizeof fail_count);
  last_refusal[0] = 0;
  bytes = 0;
  nsamples = 0;
  getrusage(RUSAGE_SELF, &ru0);
  t_measure0 = t;
  printf("{\"event\":\"measure_start\"}\n");
  fflush(stdout);
}

static int keep_session(SSL *ssl, SSL_SESSION *sess) {
  (void)ssl;
  if (last_session) SSL_SESSION_free(last_session);
  last_session = sess;
  return 1;  // ours now
}

static void report(double t, const char *extra) {
  char failures[512];
  failures_json(failures, sizeof failures);
  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  double wall = t - t_measure0;
  double cu = cpu_s(&ru1, 0) - cpu_s(&ru0, 0), cs = cpu_s(&ru1, 1) - cpu_s(&ru0, 1);
  qsort(samples, nsamples, sizeof *samples, cmp_u32);
  static const char *names[] = {"login", "idle", "fetch", "noop"};
  printf("{\"event\":\"result\",\"mode\":\"%s\",\"proto\":\"%s\",\"tls\":%s,\"conns\":%d,"
         "\"seconds\":%.4f,\"ops\":%ld,\"ops_per_s\":%.2f,\"errors\":%ld,\"bytes\":%llu,\"bytes_per_s\":%.0f,"
         "\"samples\":%zu,\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,"
         "\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"cpu_s\":%.4f,\"resumed\":%ld,\"error_kinds\":%s%s}\n",
         names[opt.mode], opt.pop3 ? "pop3" : "imap", opt.tls ? "true" : "false", opt.conns, wall, ops,
         wall > 0 ? (double)ops / wall : 0, errors, bytes, wall > 0 ? (double)bytes / wall : 0, nsamples, pct(0.5),
         pct(0.9), pct(0.99), pct(0.999), nsamples ? samples[nsamples - 1] : 0, cu, cs, cu + cs, resumed, failures, extra ? extra : "");
  fflush(stdout);
}

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void check_timeouts(int count, double t) {
  for (int i = 0; i < count; i++) {
    struct conn *c = &conns[i];
    if (c->st == S_OFF) {
      if (c->retry_at > 0 && t >= c->retry_at) conn_start(c, t);
    } else if (c->st != S_IDLE && t > c->deadline) {
      conn_fail_as(c, t, F_TIMEOUT);
    }
  }
}

static void poll_once(int timeout_ms) {
  struct epoll_event evs[256];
  int n = epoll_wait(ep, evs, 256, timeout_ms);
  double t = now_s();
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == NULL) { stop_flag = 1; continue; }  // stdin: the orchestrator is done
    struct conn *c = evs[i].data.ptr;
    if (c->fd >= 0) conn_progress(c, evs[i].events, t);
  }
}

static int run_idle(void) {
  // Sessions are opened --conns at a time; each finished login frees a slot for the next session.
  struct conn *all = calloc((size_t)opt.sessions, sizeof *all);
  if (!all) { perror("calloc"); return 2; }
  for (int i = 0; i < opt.sessions; i++) { all[i].fd = -1; all[i].idx = i; }
  double t0 = now_s();
  int opened = 0;
  conns = all;
  measure_start(t0);
  double last_check = t0;
  while (logged_in < opt.sessions && !stop_flag) {
    double t = now_s();
    if (t - t0 > opt.timeout) break;
    // Every opened slot is logged in, dropped (closed for good) or still trying (failures retry).
    long pending = opened - logged_in - dropped;
    while (opened < opt.sessions && pending < opt.conns) { conn_start(&all[opened++], t); pending++; }
    if (t - last_check >= 0.05) {
      check_timeouts(opened, t);
      last_check = t;
    }
    poll_once(10);
  }
  double t = now_s();
  char failures[512];
  failures_json(failures, sizeof failures);
  printf("{\"event\":\"ready\",\"sessions\":%ld,\"wanted\":%d,\"seconds\":%.3f,\"errors\":%ld,\"error_kinds\":%s}\n", logged_in,
         opt.sessions, t - t0, errors, failures);
  fflush(stdout);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  long ready = logged_in;
  while (!stop_flag) poll_once(200);
  char extra[128];
  snprintf(extra, sizeof extra, ",\"sessions\":%ld,\"dropped\":%ld", ready, dropped);
  report(now_s(), extra);
  return 0;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  raise_fd_limit();
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) { perror("epoll_create1"); return 2; }
  if (opt.tls || opt.starttls) {
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ssl_ctx) { fprintf(stderr, "SSL_CTX_new failed\n"); return 2; }
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
    if (opt.resume) {
      SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(ssl_ctx, keep_session);
    } else {
      SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);  // a full handshake every time
      SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  if (opt.mode == M_IDLE) return run_idle();

  conns = calloc((size_t)opt.conns, sizeof *conns);
  if (!conns) { perror("calloc"); return 2; }
  double t0 = now_s();
  for (int i = 0; i < opt.conns; i++) { conns[i].fd = -1; conns[i].idx = i; conn_start(&conns[i], t0); }
  if (opt.warmup <= 0) measure_start(t0);
  double t_end = t0 + opt.warmup + opt.duration;
  for (;;) {
    double t = now_s();
    if (!measuring && t >= t0 + opt.warmup) measure_start(t);
    if (t >= t_end || stop_flag) break;
    if (opt.max_logins > 0 && started_total >= opt.max_logins) {
      int busy = 0;
      for (int i = 0; i < opt.conns; i++) busy |= conns[i].st != S_OFF;
      if (!busy) break;
    }
    check_timeouts(opt.conns, t);
    double left = t_end - t;
    poll_once(left < 0.05 ? (int)(left * 1000) + 1 : 50);
  }
  report(now_s(), NULL);
  return 0;
}
