// A minimal IMAP backend for the idle-session figure: it accepts any LOGIN or AUTHENTICATE and then
// holds the session for a few hundred bytes, so 10,000 proxied sessions measure the proxy, not a
// backend that forks a process per session (Dovecot 2.3's imap). One thread, epoll.
// Usage: fake-backend PORT   (prints "listening PORT" when ready; SIGTERM stops it)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024

static const char GREETING[] = "* OK [CAPABILITY IMAP4rev1 ID LITERAL+ SASL-IR AUTH=PLAIN IDLE] fake backend ready\r\n";
static const char CAPS[] = "IMAP4rev1 ID LITERAL+ SASL-IR IDLE";

struct conn {
  int fd;
  size_t llen;
  size_t lit_left;
  int in_auth;  // AUTHENTICATE without an initial response: the next line is the response
  char tag[64];
  char line[LINE_MAX_BYTES];
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void say(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct conn *c, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) (void)!send(c->fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, MSG_NOSIGNAL);
}

static void drop(struct conn *c) {
  close(c->fd);
  free(c);
}

// One complete command; returns -1 to close the connection.
static int on_command(struct conn *c, char *l) {
  if (c->in_auth) {
    c->in_auth = 0;
    say(c, "%s OK [CAPABILITY %s] Logged in\r\n", c->tag, CAPS);
    return 0;
  }
  char *sp = strchr(l, ' ');
  if (!sp) { say(c, "* BAD missing command\r\n"); return 0; }
  *sp = 0;
  snprintf(c->tag, sizeof c->tag, "%.63s", l);
  char *cmd = sp + 1, *args = strchr(cmd, ' ');
  if (args) *args++ = 0;
  if (strcasecmp(cmd, "LOGIN") == 0) {
    say(c, "%s OK [CAPABILITY %s] Logged in\r\n", c->tag, CAPS);
  } else if (strcasecmp(cmd, "AUTHENTICATE") == 0) {
    if (args && strchr(args, ' ')) say(c, "%s OK [CAPABILITY %s] Logged in\r\n", c->tag, CAPS);
    else { c->in_auth = 1; say(c, "+ \r\n"); }
  } else if (strcasecmp(cmd, "CAPABILITY") == 0) {
    say(c, "* CAPABILITY %s\r\n%s OK Capability completed.\r\n", CAPS, c->tag);
  } else if (strcasecmp(cmd, "ID") == 0) {
    say(c, "* ID NIL\r\n%s OK ID completed.\r\n", c->tag);
  } else if (strcasecmp(cmd, "LOGOUT") == 0) {
    say(c, "* BYE Logging out\r\n%s OK Logout completed.\r\n", c->tag);
    return -1;
  } else {
    say(c, "%s OK %s completed.\r\n", c->tag, cmd);
  }
  return 0;
}

static long literal_size(const char *l, size_t n, int *plus) {
  // n excludes CRLF: "... {123}" or "... {123+}"
  if (n < 3 || l[n - 1] != '}') return -1;
  size_t i = n - 2;
  *plus = l[i] == '+';
  if (*plus) i--;
  size_t end = i;
  while (i > 0 && isdigit((unsigned char)l[i])) i--;
  if (l[i] != '{' || i == end) return -1;
  return strtol(l + i + 1, NULL, 10);
}

static int on_data(struct conn *c, const char *p, size_t n) {
  while (n > 0) {
    if (c->lit_left > 0) {
      size_t k = n < c->lit_left ? n : c->lit_left;
      if (c->llen + k < LINE_MAX_BYTES) { memcpy(c->line + c->llen, p, k); c->llen += k; }
      c->lit_left -= k;
      p += k;
      n -= k;
      continue;
    }
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    if (c->llen + k >= LINE_MAX_BYTES) return -1;
    memcpy(c->line + c->llen, p, k);
    c->llen += k;
    p += k;
    n -= k;
    if (!nl) break;
    size_t len = c->llen;
    while (len > 0 && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r')) len--;
    int plus = 0;
    long lit = literal_size(c->line, len, &plus);
    if (lit >= 0) {  // the command goes on after the literal (nginx sends LOGIN this way)
      c->llen = len;
      c->lit_left = (size_t)lit;
      if (!plus) say(c, "+ OK\r\n");
      continue;
    }
    c->line[len] = 0;
    c->llen = 0;
    if (on_command(c, c->line) < 0) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: fake-backend PORT\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {0};
  sin.sin_family = AF_INET;
  sin.sin_port = htons((unsigned short)atoi(argv[1]));
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  if (bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(ls, 4096) < 0) { perror("bind/listen"); return 1; }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  printf("listening %s\n", argv[1]);
  fflush(stdout);

  static char buf[65536];
  struct epoll_event evs[256];
  while (!stop_flag) {
    int n = epoll_wait(ep, evs, 256, 500);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          struct conn *nc = calloc(1, sizeof *nc);
          if (!nc) { close(fd); continue; }
          nc->fd = fd;
          // Replies go out one send each (ID, then LOGIN): without this, Nagle holds the second
          // until the proxy's delayed ACK, 40 ms a login.
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
          say(nc, "%s", GREETING);
        }
        continue;
      }
      ssize_t r = recv(c->fd, buf, sizeof buf, 0);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (r <= 0 || on_data(c, buf, (size_t)r) < 0) drop(c);
    }
  }
  return 0;
}
