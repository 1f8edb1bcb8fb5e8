import { hostname } from 'node:os';
import { isIP, type Socket } from 'node:net';
import type { Secret } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import { decodeSaslResponse, getMechanism, type SaslServerExchange } from '../../auth/sasl/index.js';
import { isLoopback, normalizeIp, startServerTls, type Connection, type NetworkList } from '../../net/index.js';
import { newSessionId, type LoginOutcome, type LoginService } from '../../login/index.js';
import { joinSockets, type BackendTarget, type Pipe } from '../../proxy/index.js';
import { ImapCommandReader, type ImapCommand } from '../wire/index.js';
import type { ImapConfig } from '../config.js';
import { ImapBackendLogin } from '../backend-login.js';
import { PRE_LOGIN_COMMANDS } from './commands/index.js';
import type { ImapFrontContext } from './context.js';
import { REPLY } from './replies.js';
import { preLoginCapabilities } from './capabilities.js';
import { outcomeReply } from './outcome.js';

export interface ImapFrontDeps {
  imap: ImapConfig;
  disablePlaintextAuth: boolean;
  mechanisms: readonly string[];
  trustedNetworks: NetworkList;
  login: LoginService;
  idleTimeoutMs: number;
  proxyTtl: number;
  log: Logger;
  /** Told when the session is over, for the registry. */
  onClose?: () => void;
}

const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;

type State =
  | { kind: 'notAuthenticated' }
  | { kind: 'authenticating'; tag: string; exchange: SaslServerExchange; mech: string }
  | { kind: 'proxying'; pipe: Pipe; user: string; backend: string }
  | { kind: 'closed' };

/** One client connection from greeting to the hand-over to a backend. */
export class ImapLoginSession implements ImapFrontContext {
  readonly id = newSessionId();
  readonly #conn: Connection;
  readonly #deps: ImapFrontDeps;
  #log: Logger;
  readonly #started = Date.now();
  #reader: ImapCommandReader;
  #state: State = { kind: 'notAuthenticated' };
  #busy = false;
  #badCommands = 0;
  #authFailures = 0;
  #capabilityAsked = false;
  /** The client's address as forwarded by a trusted proxy in front of us (ID x-originating-ip). */
  #client: { ip: string; port: number };
  #ttl: number;
  #loginTimer: NodeJS.Timeout;
  #endReason = 'client disconnected';
  /** Abandons a backend login under way when the client leaves or postern stops. */
  readonly #abort = new AbortController();

  constructor(conn: Connection, deps: ImapFrontDeps) {
    this.#conn = conn;
    this.#deps = deps;
    this.#client = { ip: conn.remoteIp, port: conn.remotePort };
    this.#ttl = deps.proxyTtl;
    this.#log = deps.log.child({ session: this.id, rip: conn.remoteIp, listener: conn.listener });
    this.#reader = this.#newReader();
    this.#loginTimer = setTimeout(() => this.#bye(REPLY.inactivity, 'login timeout'), deps.imap.login_timeout);
  }

  start(): void {
    this.#attach(this.#conn.socket);
    this.untagged(`OK [CAPABILITY ${this.capabilities().join(' ')}] ${REPLY.greeting}`);
  }

  /** Ends the session now, with a BYE before login. */
  destroy(reason: 'shutdown' | 'kicked'): void {
    if (this.#state.kind === 'proxying') this.#state.pipe.destroy(reason);
    else this.#bye(REPLY.shutdown, reason);
  }

  // ---- ImapFrontContext ----
  get secured(): boolean {
    return this.#conn.secured;
  }
  get tlsAvailable(): boolean {
    return this.#conn.tls !== undefined;
  }
  plaintextAllowed(): boolean {
    if (this.#conn.secured || !this.#deps.disablePlaintextAuth) return true;
    return isLoopback(this.#conn.remoteIp) || this.#deps.trustedNetworks.has(this.#conn.remoteIp);
  }
  capabilities(): string[] {
    return preLoginCapabilities({
      override: this.#deps.imap.capability,
      starttls: this.tlsAvailable && !this.secured,
      plaintextAllowed: this.plaintextAllowed(),
      mechanisms: this.#deps.mechanisms,
    });
  }
  untagged(text: string): void {
    this.#write(`* ${text}\r\n`);
  }
  tagged(tag: string, status: 'OK' | 'NO' | 'BAD', text: string): void {
    this.#write(`${tag} ${status} ${text}\r\n`);
  }
  bad(tag: string, text: string): void {
    this.tagged(tag, 'BAD', text);
    this.#countBad();
  }
  noteCapabilityAsked(): void {
    this.#capabilityAsked = true;
  }
  clientId(pairs: ReadonlyArray<readonly [string, string | null]>): void {
    if (!this.#deps.trustedNetworks.has(this.#conn.remoteIp)) return;
    for (const [key, value] of pairs) {
      if (value === null) continue;
      switch (key.toLowerCase()) {
        case 'x-originating-ip':
          // It reaches logs, passdb variables and the backend's ID: only a real address is taken.
          if (isIP(value) !== 0) this.#client.ip = normalizeIp(value);
          break;
        case 'x-originating-port':
          if (/^\d{1,5}$/.test(value)) this.#client.port = Number(value);
          break;
        case 'x-proxy-ttl':
          if (/^\d{1,3}$/.test(value)) this.#ttl = Math.min(this.#ttl, Number(value));
          break;
      }
    }
    this.#log = this.#log.child({ rip: this.#client.ip });
  }
  idReplyFields(): ReadonlyArray<readonly [string, string]> {
    return Object.entries(this.#deps.imap.id_send);
  }
  async startTls(tag: string): Promise<void> {
    this.tagged(tag, 'OK', REPLY.startTls);
    // Whatever the client pipelined after STARTTLS was sent in the clear: drop it.
    this.#reader = this.#newReader();
    const plain = this.#conn.socket;
    this.#detach(plain);
    try {
      await startServerTls(this.#conn, TLS_HANDSHAKE_TIMEOUT_MS);
    } catch (err) {
      this.#log.info({ event: 'tls_handshake_failed', err: (err as Error).message }, 'STARTTLS handshake failed');
      this.#close('TLS handshake failed');
      return;
    }
    this.#attach(this.#conn.socket);
  }
  async beginAuthenticate(tag: string, mechName: string, initialResponse: string | undefined): Promise<void> {
    const mech = this.#deps.mechanisms.includes(mechName) ? getMechanism(mechName) : undefined;
    if (!mech) return this.tagged(tag, 'NO', REPLY.unsupportedMech);
    if (mech.plaintext && !this.plaintextAllowed()) return this.tagged(tag, 'NO', REPLY.plaintextDisallowed);
    let response: Buffer | null = null;
    if (initialResponse !== undefined) {
      response = decodeSaslResponse(initialResponse);
      if (response === null) return this.bad(tag, REPLY.invalidBase64);
    }
    this.#state = { kind: 'authenticating', tag, exchange: mech.start(), mech: mech.name };
    await this.#saslStep(response);
  }
  async login(tag: string, mech: string, user: string, password: Secret, authzid?: string): Promise<void> {
    this.#state = { kind: 'notAuthenticated' };
    if (authzid !== undefined) {
      // Master-user logins (authorization identity) come with master passdbs; until then refuse clearly.
      this.#log.info({ event: 'auth_failed', user, authzid, reason: 'authorization identity not supported' }, 'authentication failed');
      return this.tagged(tag, 'NO', '[AUTHORIZATIONFAILED] Authorization failed');
    }
    if (this.#ttl <= 1) {
      this.#log.error({ event: 'proxy_loop', user }, 'TTL reached zero - proxies appear to be looping?');
      return this.tagged(tag, 'NO', REPLY.serverBug);
    }
    const log = this.#log.child({ user });
    const request = {
      service: 'imap',
      mech,
      user,
      password,
      remoteIp: this.#client.ip,
      remotePort: this.#client.port,
      localIp: this.#conn.localIp,
      localPort: this.#conn.localPort,
      // Dovecot counts loopback and login_trusted_networks as secured (%{secured}).
      secured: this.#conn.secured || isLoopback(this.#conn.remoteIp) || this.#deps.trustedNetworks.has(this.#conn.remoteIp),
      session: this.id,
    };
    const outcome = await this.#deps.login.login(request, { protocol: 'imap', defaultPort: 143, defaultTlsPort: 993, makeBackendLogin: (t) => this.#backendLogin(tag, t) }, log, this.#abort.signal);
    // The client may have gone while the login ran.
    if ((this.#state as State).kind === 'closed') {
      if (outcome.kind === 'proxied') outcome.socket.destroy();
      return;
    }
    this.#finishLogin(tag, outcome);
  }
  logout(tag: string): void {
    this.untagged(`BYE ${REPLY.logoutBye}`);
    this.tagged(tag, 'OK', REPLY.logoutDone);
    this.#close('logged out');
  }

  // ---- internals ----
  #newReader(): ImapCommandReader {
    return new ImapCommandReader({ maxLineBytes: this.#deps.imap.max_line_length, maxLiteralBytes: this.#deps.imap.max_literal_size });
  }

  #backendLogin(tag: string, target: BackendTarget): ImapBackendLogin {
    return new ImapBackendLogin({
      target,
      clientTag: tag,
      clientAskedCapability: this.#capabilityAsked,
      forward: {
        session: this.id,
        clientIp: this.#client.ip,
        clientPort: this.#client.port,
        localIp: this.#conn.localIp,
        localPort: this.#conn.localPort,
        ttl: this.#ttl - 1,
      },
    });
  }

  #finishLogin(tag: string, outcome: LoginOutcome): void {
    if (outcome.kind === 'proxied') return this.#startProxy(outcome);
    const reply = outcomeReply(outcome, () => `${hostname()}:${new Date().toISOString().slice(0, 19).replace('T', ' ')}`);
    this.tagged(tag, reply.status, reply.text);
    if (reply.closeAfter) return this.#close(reply.closeAfter);
    if (reply.authFailure && ++this.#authFailures >= this.#deps.imap.max_auth_failures) {
      this.#bye(REPLY.tooManyAuthFailures, 'too many authentication failures');
    }
  }

  #startProxy(outcome: Extract<LoginOutcome, { kind: 'proxied' }>): void {
    clearTimeout(this.#loginTimer);
    const client = this.#conn.socket;
    this.#detach(client);
    for (const chunk of outcome.forwarded) client.write(chunk);
    client.write(outcome.clientReply);
    const backend = `${outcome.target.host}:${outcome.target.port}`;
    const pipe = joinSockets(client, outcome.socket, {
      idleTimeoutMs: this.#deps.idleTimeoutMs,
      beforeBackend: this.#reader.takeBuffered(),
      beforeClient: outcome.leftover,
    });
    this.#state = { kind: 'proxying', pipe, user: outcome.user, backend };
    void pipe.done.then((end) => {
      this.#state = { kind: 'closed' };
      this.#log.info(
        { event: 'session_end', user: outcome.user, rip: this.#client.ip, backend, bytes_in: end.bytesIn, bytes_out: end.bytesOut, duration_ms: Date.now() - this.#started, reason: end.reason },
        'session ended',
      );
      this.#deps.onClose?.();
    });
  }

  async #saslStep(response: Buffer | null): Promise<void> {
    const st = this.#state;
    if (st.kind !== 'authenticating') return;
    const step = st.exchange.next(response);
    switch (step.kind) {
      case 'challenge':
        this.#write(`+ ${step.data.toString('base64')}\r\n`);
        return;
      case 'error':
        this.#state = { kind: 'notAuthenticated' };
        this.#log.info({ event: 'auth_failed', mech: st.mech, reason: step.message }, 'authentication failed');
        this.tagged(st.tag, 'NO', REPLY.authFailed);
        if (++this.#authFailures >= this.#deps.imap.max_auth_failures) this.#bye(REPLY.tooManyAuthFailures, 'too many authentication failures');
        return;
      case 'done': {
        const c = step.credentials;
        return this.login(st.tag, st.mech, c.authcid, c.password, c.authzid);
      }
      default: {
        const never: never = step;
        throw new Error(`unknown SASL step ${JSON.stringify(never)}`);
      }
    }
  }

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onSocketClose);
  }
  #detach(socket: Socket): void {
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onSocketClose);
  }
  readonly #onData = (chunk: Buffer): void => {
    this.#reader.feed(chunk);
    this.#pump();
  };
  readonly #onError = (err: Error): void => {
    this.#endReason = `client error: ${err.message}`;
  };
  readonly #onSocketClose = (): void => {
    if (this.#state.kind === 'closed' || this.#state.kind === 'proxying') return;
    this.#finish(this.#endReason);
  };

  /** Handles whatever complete input there is, one command at a time. */
  #pump(): void {
    while (!this.#busy && (this.#state.kind === 'notAuthenticated' || this.#state.kind === 'authenticating')) {
      if (this.#state.kind === 'authenticating') {
        const line = this.#reader.nextLine();
        if (line === 'needMore') return;
        if (!Buffer.isBuffer(line)) return this.#bye(REPLY.tooManyBad, `bad input: ${line.message}`);
        const { tag } = this.#state;
        const text = line.toString('latin1');
        if (text === '*') {
          this.#state = { kind: 'notAuthenticated' };
          this.bad(tag, REPLY.authAborted);
          continue;
        }
        const response = decodeSaslResponse(text);
        if (response === null) {
          this.#state = { kind: 'notAuthenticated' };
          this.bad(tag, REPLY.invalidBase64);
          continue;
        }
        this.#run(this.#saslStep(response), tag);
        continue;
      }
      const r = this.#reader.next();
      switch (r.kind) {
        case 'needMore':
          return;
        case 'continue':
          this.#write('+ OK\r\n');
          continue;
        case 'error':
          if (r.fatal) return this.#bye(r.message, `bad input: ${r.message}`);
          this.bad(r.tag ?? '*', r.message);
          continue;
        case 'command':
          this.#dispatch(r.command);
          continue;
        default: {
          const never: never = r;
          throw new Error(`unknown read result ${JSON.stringify(never)}`);
        }
      }
    }
  }

  #dispatch(cmd: ImapCommand): void {
    const descriptor = PRE_LOGIN_COMMANDS.get(cmd.name);
    if (!descriptor) return this.bad(cmd.tag, REPLY.unknownCommand);
    try {
      const result = descriptor.run(this, cmd);
      if (result instanceof Promise) this.#run(result, cmd.tag);
    } catch (err) {
      this.#internalError(cmd.tag, err);
    }
  }

  /** Input waits while a login or TLS handshake is under way. */
  #run(work: Promise<void>, tag: string): void {
    this.#busy = true;
    this.#conn.socket.pause();
    work
      .catch((err: unknown) => this.#internalError(tag, err))
      .finally(() => {
        this.#busy = false;
        if (this.#state.kind === 'notAuthenticated' || this.#state.kind === 'authenticating') {
          this.#conn.socket.resume();
          this.#pump();
        }
      });
  }

  #internalError(tag: string, err: unknown): void {
    this.#log.error({ event: 'internal_error', err: err instanceof Error ? err.stack : String(err) }, 'internal error');
    if (this.#state.kind === 'authenticating') this.#state = { kind: 'notAuthenticated' };
    if (this.#state.kind !== 'closed') this.tagged(tag, 'NO', REPLY.internal);
  }

  #countBad(): void {
    if (++this.#badCommands >= this.#deps.imap.max_bad_commands) this.#bye(REPLY.tooManyBad, 'too many bad commands');
  }

  #write(text: string): void {
    const s = this.#conn.socket;
    if (!s.destroyed && s.writable) s.write(text);
  }

  #bye(text: string, reason: string): void {
    if (this.#state.kind === 'closed') return;
    this.untagged(`BYE ${text}`);
    this.#close(reason);
  }

  #close(reason: string): void {
    if (this.#state.kind === 'closed') return;
    this.#conn.socket.end();
    this.#conn.socket.destroySoon();
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#state.kind === 'closed') return;
    this.#state = { kind: 'closed' };
    clearTimeout(this.#loginTimer);
    this.#abort.abort();
    this.#log.info({ event: 'session_end', rip: this.#client.ip, duration_ms: Date.now() - this.#started, reason }, 'session ended before login');
    this.#deps.onClose?.();
  }
}
