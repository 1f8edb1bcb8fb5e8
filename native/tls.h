/*
 * TLS for connections the relay accepts (implicit TLS, STARTTLS/STLS) and for backends it dials
 * (ssl=yes, starttls=yes), with the OpenSSL Node itself is built with: its symbols are the ones the
 * addon calls. See native/tls.c.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <node_api.h>
#include <openssl/ssl.h>
#include <sys/types.h>

typedef struct tls_ctx tls_ctx_t;

/* tlsContext({cert, key, minVersion, ciphers, ticketKeys, sni: [{names, cert, key}]}) → handle (JavaScript). */
napi_value tls_context_js(napi_env env, napi_callback_info info);

/* tlsClientContext({ca, minVersion, ciphers, ciphersuites}) → handle (JavaScript): backends' TLS, verified against `ca` (PEM). */
napi_value tls_client_context_js(napi_env env, napi_callback_info info);

/* The context a JavaScript handle stands for, or NULL. */
tls_ctx_t *tls_ctx_of(napi_env env, napi_value v);
void tls_ctx_ref(tls_ctx_t *c);
void tls_ctx_unref(tls_ctx_t *c);

/* A server-side TLS connection on `fd`, its handshake not started; NULL when out of memory. */
SSL *tls_server(tls_ctx_t *c, int fd);

/* The context is a client's (tlsClientContext). */
int tls_ctx_client(const tls_ctx_t *c);

/*
 * A client-side TLS connection on `fd`, its handshake not started: `servername` for SNI (or NULL),
 * the certificate checked against `verify_host` (an IP address or a name) or not at all (NULL).
 * `peer` ("address port", or "" when unknown) keys the sessions kept for resumption.
 * NULL when out of memory or `verify_host` is unusable.
 */
SSL *tls_client(tls_ctx_t *c, int fd, const char *peer, const char *servername, const char *verify_host);

/* The handshake's next step: 1 done, 0 waiting (`*want_write`: for the socket to take writes, else for bytes), -1 failed (tls_failure()). */
int tls_handshake(SSL *ssl, int *want_write);

/*
 * > 0 bytes; 0 the peer's close_notify or FIN; -1 with errno: EAGAIN when nothing can move now
 * (`*other` set when what it waits for is the other readiness: a read waiting for the socket to take
 * writes, or the reverse), EPROTO for a TLS error (tls_failure()), else the system call's.
 */
ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *other);
ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *other);

/* What the last call that failed with EPROTO (or tls_handshake's -1) said, as OpenSSL words it. */
const char *tls_failure(void);

/* A close_notify, if the handshake is done and the socket takes it. */
void tls_notify(SSL *ssl);

/* Frees the SSL, with no close_notify (the descriptor is the caller's); NULL is nothing. */
void tls_free(SSL *ssl);

/* The server name (SNI) the client asked for, or NULL. */
const char *tls_servername(SSL *ssl);
/* 1 when the handshake resumed a session, else 0. */
int tls_resumed(SSL *ssl);

#endif
