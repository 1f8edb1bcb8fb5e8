import { hostname } from 'node:os';
import type { Secret } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { AuthRequest, AuthResult } from '../../auth/index.js';
import { decodeSaslResponse, type SaslOutcome, type SaslServer } from '../../auth/sasl/index.js';
import { endSocket, type Connection, type NetworkList } from '../../net/index.js';
import { ClientIdentity, FrontConnection, loginRequest, loginRequestBase, plaintextAllowed, type EndReason, type FrontSasl, type LoginService, type SessionInfo, type TrackedSession } from '../../login/index.js';
import type { BackendTarget, RelayMode } from '../../proxy/index.js';
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
  /** auth.mechanisms that the passdbs can verify, built once per configuration; each connection offers those it may use now. */
  sasl: FrontSasl;
  trustedNetworks: NetworkList;
  login: LoginService;
  idleTimeoutMs: number;
  proxyTtl: number;
  relay?: RelayMode;
  log: Logger;
}

type Finished = Exclude<SaslOutcome, { kind: 'challenge' }>;
type State =
  | { kind: 'notAuthenticated' }
  | { kind: 'authenticating'; tag: string; sasl: SaslServer }
  /** A last message was owed (SCRAM's verifier, OAuth's error), sent as a challenge; its answer ends the exchange. */
  | { kind: 'owed'; tag: string; mech: string; outcome: Finished };

/** One IMAP client connection from greeting to the hand-over to a backend (RFC 3501 6.1, 6.2). */
export class ImapLoginSession implements ImapFrontContext, TrackedSession {
  readonly #front: FrontConnection;
  readonly #deps: ImapFrontDeps;
  #reader: ImapCommandReader;
  #state: State = { kind: 'notAuthenticated' };
  #badCommands = 0;
  #authFailures = 0;
  #capabilityAsked = false;

  /** `deps` are the configuration's, shared by its sessions; `onClose` tells the registry this one is over. */
  constructor(conn: Connection, deps: ImapFrontDeps, onClose?: (end?: { bytesIn: number; bytesOut: number }) => void) {
    this.#deps = deps;
    this.#front = FrontConnection.forSession('imap', conn, deps, deps.imap.login_timeout, onClose);
    this.#reader = this.#newReader();
  }

  /** A connection over limits.max_connections or max_connections_per_address: `* BYE`, closed before any greeting. */
  static refuse(conn: Connection, limit: 'address' | 'total'): void {
    endSocket(conn.socket, `* BYE ${limit === 'address' ? REPLY.addressLimit : REPLY.totalLimit}\r\n`);
  }

  get id(): string {
    return this.#front.id;
  }

  start(): void {
    this.#front.start({
      onData: (chunk) => {
        this.#reader.feed(chunk);
        this.#pump();
      },
      onResume: () => this.#pump(),
      onLoginTimeout: () => this.#bye(REPLY.inactivity, 'login timeout'),
    });
    this.untagged(`OK [CAPABILITY ${this.capabilities().join(' ')}] ${REPLY.greeting}`);
  }

  /** Ends the session now: a proxied one at once, one before login with a BYE. */
  destroy(reason: EndReason): void {
    const text = reason === 'kicked' ? REPLY.kicked : REPLY.shutdown;
    if (!this.#front.endProxied(reason, `* BYE ${text}\r\n`)) this.#bye(text, reason);
  }

  info(): SessionInfo {
    return this.#front.info();
  }

  // ---- ImapFrontContext ----
  get secured(): boolean {
    return this.#front.secured;
  }
  get tlsAvailable(): boolean {
    return this.#front.tlsAvailable;
  }
  plaintextAllowed(): boolean {
    return plaintextAllowed(this.#front.conn, this.#deps);
  }
  capabilities(): string[] {
    return preLoginCapabilities({
      override: this.#deps.imap.capability,
      starttls: this.tlsAvailable && !this.secured,
      plaintextAllowed: this.plaintextAllowed(),
      mechanisms: this.#deps.sasl.usable(this.#front),
    });
  }
  untagged(text: string): void {
    this.#front.write(`* ${text}\r\n`);
  }
  tagged(tag: string, status: 'OK' | 'NO' | 'BAD', text: string): void {
    this.#front.write(`${tag} ${status} ${text}\r\n`);
  }
  bad(tag: string, text: string): void {
    this.tagged(tag, 'BAD', text);
    if (++this.#badCommands >= this.#deps.imap.max_bad_commands) this.#bye(REPLY.tooManyBad, 'too many bad commands');
  }
  noteCapabilityAsked(): void {
    this.#capabilityAsked = true;
  }
  clientId(pairs: ReadonlyArray<readonly [string, string | null]>): void {
    if (!this.#deps.trustedNetworks.has(this.#front.conn.remoteIp)) return;
    const f: Record<string, string> = {};
    for (const [key, value] of pairs) if (value !== null) f[key.toLowerCase()] = value;
    // Dovecot's forwarding keys (imap-login-cmd-id.c); a malformed value is ignored, the rest applies.
    const { values } = ClientIdentity.parse({
      ...(f['x-originating-ip'] !== undefined ? { ip: f['x-originating-ip'] } : {}),
      ...(f['x-originating-port'] !== undefined ? { port: f['x-originating-port'] } : {}),
      ...(f['x-proxy-ttl'] !== undefined ? { ttl: f['x-proxy-ttl'] } : {}),
      ...(f['x-session-ext-id'] !== undefined ? { session: f['x-session-ext-id'] } : {}),
    });
    this.#front.identity.set(values);
    this.#front.noteForwarded();
  }
  idReplyFields(): ReadonlyArray<readonly [string, string]> {
    return Object.entries(this.#deps.imap.id_send);
  }
  async startTls(tag: string): Promise<void> {
    this.tagged(tag, 'OK', REPLY.startTls);
    // Whatever the client pipelined after STARTTLS was sent in the clear: drop it.
    this.#reader = this.#newReader();
    await this.#front.startTls();
  }
  async beginAuthenticate(tag: string, mechName: string, initialResponse: string | undefined): Promise<void> {
    const started = this.#deps.sasl.start(mechName, this.#front, this.#deps.login.authenticator, loginRequestBase(this.#front, 'imap', this.#deps.trustedNetworks));
    if (started.kind === 'unsupported') return this.tagged(tag, 'NO', REPLY.unsupportedMech);
    if (started.kind === 'plaintextDisallowed') return this.tagged(tag, 'NO', REPLY.plaintextDisallowed);
    let response: Buffer | null = null;
    if (initialResponse !== undefined) {
      response = decodeSaslResponse(initialResponse);
      if (response === null) return this.bad(tag, REPLY.invalidBase64);
    }
    this.#state = { kind: 'authenticating', tag, sasl: started.sasl };
    await this.#saslStep(response);
  }
  login(tag: string, mech: string, user: string, password: Secret): Promise<void> {
    return this.#login(tag, loginRequest(this.#front, 'imap', this.#deps.trustedNetworks, mech, user, password));
  }
  logout(tag: string): void {
    this.untagged(`BYE ${REPLY.logoutBye}`);
    this.tagged(tag, 'OK', REPLY.logoutDone);
    this.#front.close('logged out');
  }

  // ---- internals ----
  /** Steps 4-6 of a login; `authenticate` brings the verdict of a SASL exchange that consulted the chain itself. */
  async #login(tag: string, request: AuthRequest, authenticate?: () => Promise<AuthResult>): Promise<void> {
    this.#state = { kind: 'notAuthenticated' };
    const front = this.#front;
    const user = request.user;
    if (front.identity.ttl <= 1) {
      front.log.error({ event: 'proxy_loop', user }, 'TTL reached zero - proxies appear to be looping?');
      return this.tagged(tag, 'NO', REPLY.serverBug);
    }
    const proto = { protocol: 'imap' as const, defaultPort: 143, defaultTlsPort: 993, makeBackendLogin: (t: BackendTarget) => this.#backendLogin(tag, t), relayableClient: front.relayable };
    const outcome = await this.#deps.login.login(request, proto, front.log, front.signal, authenticate);
    // Commands the client pipelined after LOGIN are the backend's to answer.
    if (outcome.kind === 'proxied') return front.handOver(outcome, this.#reader.takeBuffered());
    if (!front.open) return;
    const reply = outcomeReply(outcome, () => `${hostname()}:${new Date().toISOString().slice(0, 19).replace('T', ' ')}`);
    this.tagged(tag, reply.status, reply.text);
    if (reply.closeAfter) return front.close(reply.closeAfter);
    if (reply.authFailure) this.#countAuthFailure();
  }

  #countAuthFailure(): void {
    if (++this.#authFailures >= this.#deps.imap.max_auth_failures) this.#bye(REPLY.tooManyAuthFailures, 'too many authentication failures');
  }

  #newReader(): ImapCommandReader {
    return new ImapCommandReader({ maxLineBytes: this.#deps.imap.max_line_length, maxLiteralBytes: this.#deps.imap.max_literal_size });
  }

  #backendLogin(tag: string, target: BackendTarget): ImapBackendLogin {
    const id = this.#front.identity;
    const conn = this.#front.conn;
    return new ImapBackendLogin({
      target,
      clientTag: tag,
      clientAskedCapability: this.#capabilityAsked,
      forward: { session: this.#front.id, clientIp: id.ip, clientPort: id.port, localIp: conn.localIp, localPort: conn.localPort, ttl: id.ttl - 1 },
    });
  }

  async #saslStep(response: Buffer | null): Promise<void> {
    const st = this.#state;
    if (st.kind !== 'authenticating') return;
    const out = await st.sasl.step(response);
    if (out.kind === 'challenge') return this.#front.write(`+ ${out.data.toString('base64')}\r\n`);
    // IMAP carries no data with the final reply (RFC 3501 6.2.2): one more challenge, as Dovecot's imap-login.
    if (out.data !== undefined) {
      this.#state = { kind: 'owed', tag: st.tag, mech: st.sasl.mech.name, outcome: out };
      return this.#front.write(`+ ${out.data.toString('base64')}\r\n`);
    }
    return this.#finish(st.tag, st.sasl.mech.name, out);
  }

  #finish(tag: string, mech: string, out: Finished): Promise<void> | void {
    this.#state = { kind: 'notAuthenticated' };
    if (out.kind === 'done') return this.#login(tag, out.request, async () => out.result);
    this.#front.log.info({ event: 'auth_failed', mech, reason: out.message }, 'authentication failed');
    this.tagged(tag, 'NO', REPLY.authFailed);
    this.#countAuthFailure();
  }

  /** The client's answer in an exchange: base64, or "*" to cancel (RFC 3501 6.2.2). */
  #saslLine(line: Buffer): void {
    const st = this.#state;
    if (st.kind === 'notAuthenticated') return;
    const text = line.toString('latin1');
    if (st.kind === 'owed') {
      // Any answer ends it; cancelling refuses the server's proof, so a success is off too.
      if (text === '*' && st.outcome.kind === 'done' && st.outcome.result.kind === 'ok') {
        this.#state = { kind: 'notAuthenticated' };
        return this.bad(st.tag, REPLY.authAborted);
      }
      const done = this.#finish(st.tag, st.mech, st.outcome);
      if (done) this.#front.run(done, (err) => this.#internalError(st.tag, err));
      return;
    }
    const response = text === '*' ? null : decodeSaslResponse(text);
    if (response === null) {
      this.#state = { kind: 'notAuthenticated' };
      return this.bad(st.tag, text === '*' ? REPLY.authAborted : REPLY.invalidBase64);
    }
    this.#front.run(this.#saslStep(response), (err) => this.#internalError(st.tag, err));
  }

  /** Handles whatever complete input there is, one command at a time; waits while a login runs. */
  #pump(): void {
    while (this.#front.open && !this.#front.busy) {
      if (this.#state.kind !== 'notAuthenticated') {
        const line = this.#reader.nextLine();
        if (line === 'needMore') return;
        if (!Buffer.isBuffer(line)) return this.#bye(REPLY.tooManyBad, `bad input: ${line.message}`);
        this.#saslLine(line);
        continue;
      }
      const r = this.#reader.next();
      switch (r.kind) {
        case 'needMore':
          return;
        case 'continue':
          this.#front.write('+ OK\r\n');
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
      if (result instanceof Promise) this.#front.run(result, (err) => this.#internalError(cmd.tag, err));
    } catch (err) {
      this.#internalError(cmd.tag, err);
    }
  }

  #internalError(tag: string, err: unknown): void {
    this.#front.log.error({ event: 'internal_error', err: err instanceof Error ? err.stack : String(err) }, 'internal error');
    this.#state = { kind: 'notAuthenticated' };
    this.tagged(tag, 'NO', REPLY.internal);
  }

  #bye(text: string, reason: string): void {
    this.untagged(`BYE ${text}`);
    this.#front.close(reason);
  }
}
