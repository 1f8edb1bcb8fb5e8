/*
 * TLS in the relay: a connection accepted on an implicit-TLS listener, or upgraded by STARTTLS/STLS,
 * keeps its descriptor in the relay's epoll set and its TLS state here, with no TLSSocket, no TLSWrap
 * and no net.Socket beneath them (bench/RESULTS.md, item 26). So does a backend connection with
 * `ssl=yes` or `starttls=yes`, on the client side, verified as Node's tls.connect verifies it. The contexts are
 * built from the same PEM files, minimum version, ciphers and SNI entries as Node's (src/net/tls.ts);
 * tickets are encrypted with keys derived from the node's shared ticket keys, so every worker resumes
 * every other's sessions. Client certificates are Node's to ask for: a listener with tls.client_ca
 * keeps Node's TLS.
 *
 * OpenSSL comes from Node: the addon calls the symbols the node binary exports, so both speak the
 * same library. Its error queue is shared with Node's own TLS: every call here leaves it empty.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TICKET_KEYS_BYTES 80 /* OpenSSL's own ticket keys: a name, an HMAC key and an AES key */
#define SESSION_ID_CONTEXT "postern"

typedef struct {
  char **names;
  size_t count;
  SSL_CTX *ctx;
} sni_t;

struct tls_ctx {
  int refs; /* the JavaScript handle, each listener and each handshake under way */
  int client;
  SSL_CTX *ctx;
  sni_t *sni;
  size_t sni_count;
};

/* Per thread: the relay thread's connections fail beside the main thread's handshakes. */
static __thread char failure[200];

const char *tls_failure(void) { return failure; }

/* The first error on OpenSSL's queue, as `failure`, and the queue emptied. */
static void take_error(const char *fallback) {
  unsigned long e = ERR_get_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  if (reason != NULL) snprintf(failure, sizeof failure, "%s", reason);
  else if (e) ERR_error_string_n(e, failure, sizeof failure);
  else snprintf(failure, sizeof failure, "%s", fallback);
  ERR_clear_error();
}

/* `*.example.org` matches exactly one label, as src/net/tls.ts's serverNameMatches. */
static int name_matches(const char *pattern, const char *name) {
  if (strncmp(pattern, "*.", 2) != 0) return strcasecmp(pattern, name) == 0;
  const char *dot = strchr(name, '.');
  return dot != NULL && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
}

static int on_servername(SSL *ssl, int *alert, void *arg) {
  (void)alert;
  tls_ctx_t *c = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == NULL) return SSL_TLSEXT_ERR_OK;
  for (size_t i = 0; i < c->sni_count; i++) {
    for (size_t j = 0; j < c->sni[i].count; j++) {
      if (name_matches(c->sni[i].names[j], name)) {
        SSL_set_SSL_CTX(ssl, c->sni[i].ctx);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  /* No entry: the default certificate, as Node's SNICallback answering nothing. */
  return SSL_TLSEXT_ERR_OK;
}

void tls_ctx_ref(tls_ctx_t *c) { c->refs++; }

void tls_ctx_unref(tls_ctx_t *c) {
  if (c == NULL || --c->refs > 0) return;
  for (size_t i = 0; i < c->sni_count; i++) {
    for (size_t j = 0; j < c->sni[i].count; j++) free(c->sni[i].names[j]);
    free(c->sni[i].names);
    SSL_CTX_free(c->sni[i].ctx);
  }
  free(c->sni);
  SSL_CTX_free(c->ctx);
  free(c);
}

/* ---- Building a context from JavaScript's options ---- */

typedef struct {
  const void *cert, *key, *tickets;
  size_t cert_len, key_len, tickets_len;
  int min_version;
  char ciphers[2048], suites[512];
} ctx_opts_t;

static int no_passphrase(char *buf, int size, int rw, void *u) {
  (void)buf;
  (void)size;
  (void)rw;
  (void)u;
  return 0;
}

/* The certificate chain and key from PEM; 0, or -1 with `failure` set. */
static int use_pem(SSL_CTX *ctx, const void *cert, size_t cert_len, const void *key, size_t key_len) {
  BIO *bio = BIO_new_mem_buf(cert, (int)cert_len);
  X509 *x = bio ? PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL) : NULL;
  if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
    X509_free(x);
    BIO_free(bio);
    take_error("no certificate in the file");
    return -1;
  }
  X509_free(x);
  X509 *ca;
  while ((ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
      X509_free(ca);
      BIO_free(bio);
      take_error("cannot add a chain certificate");
      return -1;
    }
  }
  BIO_free(bio);
  ERR_clear_error(); /* the end of the file reads as "no start line" */
  bio = BIO_new_mem_buf(key, (int)key_len);
  EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
  BIO_free(bio);
  int ok = pkey != NULL && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(pkey);
  if (!ok) {
    take_error("no private key in the file");
    return -1;
  }
  return 0;
}

/* What server and client contexts share: options, modes, minimum version, ciphers. NULL with `failure` set. */
static SSL_CTX *base_ctx(const SSL_METHOD *method, const ctx_opts_t *o) {
  SSL_CTX *ctx = SSL_CTX_new(method);
  if (ctx == NULL) {
    take_error("cannot make a TLS context");
    return NULL;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  /* Partial writes from a buffer that moves (what a write left is copied aside); idle sessions hold no buffers. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  /* One read(2) takes what the socket holds, not a record header and then its body. */
  SSL_CTX_set_read_ahead(ctx, 1);
  const char *step = NULL;
  if (SSL_CTX_set_min_proto_version(ctx, o->min_version) != 1) step = "cannot set the minimum TLS version";
  else if (o->ciphers[0] && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) step = "no usable cipher in the list";
  else if (o->suites[0] && SSL_CTX_set_ciphersuites(ctx, o->suites) != 1) step = "no usable TLS 1.3 cipher suite in the list";
  if (step != NULL) {
    take_error(step);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static SSL_CTX *new_ctx(const ctx_opts_t *o, const void *cert, size_t cert_len, const void *key, size_t key_len) {
  SSL_CTX *ctx = base_ctx(TLS_server_method(), o);
  if (ctx == NULL) return NULL;
  const char *step = NULL;
  if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT, sizeof SESSION_ID_CONTEXT - 1) != 1) step = "cannot set the session id context";
  else if (SSL_CTX_set_tlsext_ticket_keys(ctx, (void *)o->tickets, TICKET_KEYS_BYTES) != 1) step = "cannot set the ticket keys";
  if (step != NULL) {
    take_error(step);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (use_pem(ctx, cert, cert_len, key, key_len) < 0) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static int prop(napi_env env, napi_value obj, const char *name, napi_value *out) {
  bool has;
  return napi_has_named_property(env, obj, name, &has) == napi_ok && has && napi_get_named_property(env, obj, name, out) == napi_ok ? 0 : -1;
}

static int prop_buffer(napi_env env, napi_value obj, const char *name, const void **data, size_t *len) {
  napi_value v;
  bool is;
  if (prop(env, obj, name, &v) < 0 || napi_is_buffer(env, v, &is) != napi_ok || !is) return -1;
  void *d;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) return -1;
  *data = d;
  return 0;
}

static int prop_string(napi_env env, napi_value obj, const char *name, char *buf, size_t size) {
  napi_value v;
  size_t len;
  buf[0] = 0;
  if (prop(env, obj, name, &v) < 0) return -1;
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok && len < size - 1 ? 0 : -1;
}

/* minVersion, ciphers and ciphersuites, which both kinds of context take: 0, or -1 when one is missing. */
static int read_proto(napi_env env, napi_value opts, ctx_opts_t *o) {
  char version[16];
  if (prop_string(env, opts, "minVersion", version, sizeof version) < 0 || prop_string(env, opts, "ciphers", o->ciphers, sizeof o->ciphers) < 0 ||
      prop_string(env, opts, "ciphersuites", o->suites, sizeof o->suites) < 0)
    return -1;
  o->min_version = strcmp(version, "TLSv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
  return 0;
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tls_ctx_unref(data);
}

static napi_value fail_js(napi_env env, tls_ctx_t *c, const char *what) {
  tls_ctx_unref(c);
  char msg[300];
  snprintf(msg, sizeof msg, "%s%s%s", what, failure[0] ? ": " : "", failure);
  napi_throw_error(env, "POSTERN_TLS_NATIVE", msg);
  return NULL;
}

/* The SNI entries of `arr`: [{names: string[], cert: Buffer, key: Buffer}]. */
static int read_sni(napi_env env, napi_value arr, tls_ctx_t *c, const ctx_opts_t *o, char *what, size_t what_size) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return -1;
  c->sni = calloc(n ? n : 1, sizeof *c->sni);
  if (c->sni == NULL) return -1;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, names;
    const void *cert, *key;
    size_t cert_len, key_len;
    uint32_t count = 0;
    if (napi_get_element(env, arr, i, &e) != napi_ok || prop(env, e, "names", &names) < 0 || napi_get_array_length(env, names, &count) != napi_ok ||
        prop_buffer(env, e, "cert", &cert, &cert_len) < 0 || prop_buffer(env, e, "key", &key, &key_len) < 0) {
      snprintf(what, what_size, "sni entry %u: names, cert and key expected", i);
      return -1;
    }
    sni_t *s = &c->sni[c->sni_count];
    s->names = calloc(count ? count : 1, sizeof *s->names);
    if (s->names == NULL) return -1;
    c->sni_count++;
    for (uint32_t j = 0; j < count; j++) {
      napi_value v;
      size_t len;
      char name[256];
      if (napi_get_element(env, names, j, &v) != napi_ok || napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok || (s->names[j] = strdup(name)) == NULL) return -1;
      s->count++;
    }
    if ((s->ctx = new_ctx(o, cert, cert_len, key, key_len)) == NULL) {
      snprintf(what, what_size, "sni entry %u", i);
      return -1;
    }
  }
  return 0;
}

napi_value tls_context_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  failure[0] = 0;
  if (napi_get_cb_info(env, info, &argc, &opts, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, "POSTERN_TLS_NATIVE", "tlsContext takes an options object");
    return NULL;
  }
  static ctx_opts_t o;
  if (prop_buffer(env, opts, "cert", &o.cert, &o.cert_len) < 0 || prop_buffer(env, opts, "key", &o.key, &o.key_len) < 0 ||
      prop_buffer(env, opts, "ticketKeys", &o.tickets, &o.tickets_len) < 0 || o.tickets_len != TICKET_KEYS_BYTES || read_proto(env, opts, &o) < 0) {
    napi_throw_type_error(env, "POSTERN_TLS_NATIVE", "tlsContext: cert, key, ticketKeys (80 bytes), minVersion, ciphers and ciphersuites expected");
    return NULL;
  }
  tls_ctx_t *c = calloc(1, sizeof *c);
  if (c == NULL) return fail_js(env, NULL, "out of memory");
  c->refs = 1;
  if ((c->ctx = new_ctx(&o, o.cert, o.cert_len, o.key, o.key_len)) == NULL) return fail_js(env, c, "certificate");
  napi_value sni;
  char what[96] = "sni";
  if (prop(env, opts, "sni", &sni) == 0 && read_sni(env, sni, c, &o, what, sizeof what) < 0) return fail_js(env, c, what);
  if (c->sni_count > 0) {
    SSL_CTX_set_tlsext_servername_callback(c->ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(c->ctx, c);
  }
  napi_value handle;
  if (napi_create_external(env, c, ctx_finalize, NULL, &handle) != napi_ok) return fail_js(env, c, "out of memory");
  return handle;
}

/*
 * Backends' sessions, resumed by the next login to the same backend (as nginx's
 * proxy_ssl_session_reuse): no certificate to parse and verify, no signature. One session a key,
 * the newest; the key is the backend's address and port, the SNI name and the name or address the
 * certificate was checked against (none for any-cert), so a session verified one way never serves a
 * connection checked another. The cache belongs to the SSL_CTX, which OpenSSL frees after the last
 * connection that may still receive a ticket (TLS 1.3 sends them after the handshake).
 */
#define SESSIONS_MAX 256

typedef struct {
  char *key;
  SSL_SESSION *sess;
} cached_t;

typedef struct {
  cached_t e[SESSIONS_MAX];
  size_t n, next;
} sessions_t;

static int sessions_idx = -1, key_idx = -1;
/* A cache is read by the main thread's dials and written by whichever thread reads a session ticket (the relay's, after the join). */
static pthread_mutex_t sessions_mu = PTHREAD_MUTEX_INITIALIZER;

static void sessions_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  sessions_t *s = ptr;
  if (s == NULL) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->e[i].key);
    SSL_SESSION_free(s->e[i].sess);
  }
  free(s);
}

static void key_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  free(ptr);
}

static cached_t *sessions_find(sessions_t *s, const char *key) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->e[i].key, key) == 0) return &s->e[i];
  }
  return NULL;
}

/*
 * OpenSSL's new-session callback. The cache keeps a copy: the session itself stays the connection's,
 * and OpenSSL marks it not resumable when the connection ends without a close_notify. (0: the
 * connection keeps its reference.)
 */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  sessions_t *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sessions_idx);
  const char *key = SSL_get_ex_data(ssl, key_idx);
  if (s == NULL || key == NULL || !SSL_SESSION_is_resumable(sess)) return 0;
  SSL_SESSION *copy = SSL_SESSION_dup(sess);
  if (copy == NULL) {
    ERR_clear_error();
    return 0;
  }
  pthread_mutex_lock(&sessions_mu);
  cached_t *e = sessions_find(s, key);
  if (e == NULL) {
    char *k = strdup(key);
    if (k == NULL) {
      pthread_mutex_unlock(&sessions_mu);
      SSL_SESSION_free(copy);
      return 0;
    }
    if (s->n < SESSIONS_MAX) {
      e = &s->e[s->n++];
    } else {
      /* Full: the oldest entry made goes. */
      e = &s->e[s->next];
      s->next = (s->next + 1) % SESSIONS_MAX;
      free(e->key);
      SSL_SESSION_free(e->sess);
    }
    e->key = k;
  } else {
    SSL_SESSION_free(e->sess);
  }
  e->sess = copy;
  pthread_mutex_unlock(&sessions_mu);
  return 0;
}

/* The key of a backend connection (see above) to `peer` ("address port"), or -1 when it has none. */
static int session_key(const char *peer, const char *servername, const char *verify_host, char *key, size_t size) {
  if (peer == NULL || *peer == '\0') return -1;
  int n = snprintf(key, size, "%s %s %s", peer, servername ? servername : "-", verify_host ? verify_host : "-");
  return n > 0 && (size_t)n < size ? 0 : -1;
}

/* The certificates of a PEM bundle, added to `store`: how many, or -1 with `failure` set. */
static int add_cas(X509_STORE *store, const void *pem, size_t len) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (bio == NULL) {
    take_error("out of memory");
    return -1;
  }
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
    /* The same certificate twice (a bundle and the extra file) is not an error. */
    if (X509_STORE_add_cert(store, x) == 1) n++;
    X509_free(x);
    ERR_clear_error();
  }
  BIO_free(bio);
  ERR_clear_error(); /* the end of the bundle reads as "no start line" */
  if (n == 0) snprintf(failure, sizeof failure, "no certificate in the CA bundle");
  return n > 0 ? n : -1;
}

napi_value tls_client_context_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  failure[0] = 0;
  const void *ca;
  size_t ca_len;
  static ctx_opts_t o;
  if (napi_get_cb_info(env, info, &argc, &opts, NULL, NULL) != napi_ok || argc < 1 || prop_buffer(env, opts, "ca", &ca, &ca_len) < 0 || read_proto(env, opts, &o) < 0) {
    napi_throw_type_error(env, "POSTERN_TLS_NATIVE", "tlsClientContext: ca, minVersion, ciphers and ciphersuites expected");
    return NULL;
  }
  tls_ctx_t *c = calloc(1, sizeof *c);
  if (c == NULL) return fail_js(env, NULL, "out of memory");
  c->refs = 1;
  c->client = 1;
  if ((c->ctx = base_ctx(TLS_client_method(), &o)) == NULL) return fail_js(env, c, "client context");
  if (sessions_idx < 0) sessions_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sessions_free);
  if (key_idx < 0) key_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, key_free);
  /* sessionReuse: false (proxy.ssl_session_reuse) keeps no session: a full handshake every login. */
  napi_value reuse_v;
  bool reuse = true; /* left as it is when the option is absent or not a boolean */
  if (prop(env, opts, "sessionReuse", &reuse_v) == 0) napi_get_value_bool(env, reuse_v, &reuse);
  sessions_t *cache = reuse && sessions_idx >= 0 && key_idx >= 0 ? calloc(1, sizeof *cache) : NULL;
  if (cache != NULL && SSL_CTX_set_ex_data(c->ctx, sessions_idx, cache) != 1) {
    free(cache);
    cache = NULL;
  }
  /* Without its cache (turned off, or out of memory), each login is a full handshake, as with tls.connect given no session. */
  SSL_CTX_set_session_cache_mode(c->ctx, cache != NULL ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE : SSL_SESS_CACHE_OFF);
  if (cache != NULL) SSL_CTX_sess_set_new_cb(c->ctx, on_new_session);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  if (add_cas(SSL_CTX_get_cert_store(c->ctx), ca, ca_len) < 0) return fail_js(env, c, "CA bundle");
  napi_value handle;
  if (napi_create_external(env, c, ctx_finalize, NULL, &handle) != napi_ok) return fail_js(env, c, "out of memory");
  return handle;
}

tls_ctx_t *tls_ctx_of(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* ---- Connections ---- */

SSL *tls_server(tls_ctx_t *c, int fd) {
  SSL *ssl = SSL_new(c->ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

int tls_ctx_client(const tls_ctx_t *c) { return c->client; }

SSL *tls_client(tls_ctx_t *c, int fd, const char *peer, const char *servername, const char *verify_host) {
  SSL *ssl = SSL_new(c->ctx);
  int ok = ssl != NULL && SSL_set_fd(ssl, fd) == 1 && (servername == NULL || SSL_set_tlsext_host_name(ssl, servername) == 1);
  if (ok && verify_host != NULL) {
    /* An IP address is checked against the certificate's IP entries, a name against its DNS ones (or its CN without them). */
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, verify_host) == 1;
    if (!ok) ok = X509_VERIFY_PARAM_set1_host(param, verify_host, 0) == 1;
  }
  if (ok && verify_host == NULL) SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
  if (!ok) {
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
  }
  sessions_t *cache = SSL_CTX_get_ex_data(c->ctx, sessions_idx);
  char key[INET6_ADDRSTRLEN + 600], *kept;
  if (cache != NULL && session_key(peer, servername, verify_host, key, sizeof key) == 0 && (kept = strdup(key)) != NULL) {
    if (SSL_set_ex_data(ssl, key_idx, kept) != 1) free(kept);
    pthread_mutex_lock(&sessions_mu);
    cached_t *e = sessions_find(cache, key);
    /* A copy again: a connection that ends without a close_notify marks its session not resumable. */
    SSL_SESSION *copy = e != NULL && SSL_SESSION_is_resumable(e->sess) ? SSL_SESSION_dup(e->sess) : NULL;
    pthread_mutex_unlock(&sessions_mu);
    if (copy != NULL) {
      SSL_set_session(ssl, copy);
      SSL_SESSION_free(copy);
    }
  }
  ERR_clear_error();
  SSL_set_connect_state(ssl);
  return ssl;
}

/* What SSL_get_error says of a call that returned `ret`: 0 to wait (`*other` for the other readiness), -1 failed (errno, `failure`). */
static int classify(SSL *ssl, int ret, int writing, int *other) {
  int saved = errno;
  int e = SSL_get_error(ssl, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      *other = writing;
      errno = EAGAIN;
      return 0;
    case SSL_ERROR_WANT_WRITE:
      *other = !writing;
      errno = EAGAIN;
      return 0;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      errno = saved ? saved : EPIPE;
      snprintf(failure, sizeof failure, "%s", saved ? strerror(saved) : "connection closed");
      return -1;
    default:
      take_error("TLS error");
      errno = EPROTO;
      return -1;
  }
}

/* The peer's close_notify, or its FIN (an unexpected EOF reads as one): the queue emptied. */
static int at_eof(SSL *ssl, int ret) {
  int saved = errno;
  int e = SSL_get_error(ssl, ret);
  if (e != SSL_ERROR_ZERO_RETURN && !(e == SSL_ERROR_SYSCALL && saved == 0)) return 0;
  ERR_clear_error();
  return 1;
}

int tls_handshake(SSL *ssl, int *want_write) {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl);
  if (ret == 1) return 1;
  if (at_eof(ssl, ret)) {
    snprintf(failure, sizeof failure, "connection closed during the handshake");
    return -1;
  }
  int step = classify(ssl, ret, 0, want_write);
  if (step == 0 || SSL_is_server(ssl) || !(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) return step;
  /* The backend's certificate failed verification: say why, in OpenSSL's words ("hostname mismatch").
     (Without SSL_VERIFY_PEER, any-cert, OpenSSL still records a verdict, which decided nothing.) */
  long verified = SSL_get_verify_result(ssl);
  if (verified != X509_V_OK) snprintf(failure, sizeof failure, "certificate not accepted: %s", X509_verify_cert_error_string(verified));
  return step;
}

ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *other) {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_read(ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
  if (ret > 0) return ret;
  *other = 0;
  if (at_eof(ssl, ret)) return 0;
  classify(ssl, ret, 0, other);
  return -1;
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *other) {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_write(ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
  if (ret > 0) return ret;
  *other = 0;
  classify(ssl, ret, 1, other);
  return -1;
}

void tls_notify(SSL *ssl) {
  if (ssl == NULL || !SSL_is_init_finished(ssl)) return;
  SSL_shutdown(ssl);
  ERR_clear_error();
}

void tls_free(SSL *ssl) {
  if (ssl == NULL) return;
  SSL_free(ssl);
  ERR_clear_error();
}

const char *tls_servername(SSL *ssl) { return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name); }

int tls_resumed(SSL *ssl) { return SSL_session_reused(ssl) == 1; }
