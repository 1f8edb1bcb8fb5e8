import { hostname } from 'node:os';
import type { Secret } from '../../core/index.js';
import type { Logger } from '../../log/index.js';
import type { AuthRequest, AuthResult } from '../../auth/index.js';
import { decodeSaslResponse, type SaslOutcome, type SaslServer } from '../../auth/sasl/index.js';
import { endSocket, type Connection, type NetworkList } from '../../net/index.js';
import { ClientIdentity, FrontConnection, loginRequest, loginRequestBase, plaintextAllowed, type EndReason, type FrontSasl, type ForwardedFields, type LoginService, type SessionInfo, type TrackedSession } from '../../login/index.js';
import type { BackendTarget, RelayMode } from '../../proxy/index.js';
import { Pop3CommandReader, type Pop3Command } from '../wire/index.js';
import type { Pop3Config } from '../config.js';
import { Pop3BackendLogin } from '../backend-login.js';
import { PRE_LOGIN_COMMANDS } from './commands/index.js';
import type { Pop3FrontContext } from './context.js';
import { REPLY } from './replies.js';
import { preLoginCapabilities } from './capabilities.js';
import { outcomeReply } from './outcome.js';

export interface Pop3FrontDeps {
  pop3: Pop3Config;
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

/** The AUTHORIZATION state (RFC 1939 §4), split where an AUTH exchange reads raw lines. */
type Finished = Exclude<SaslOutcome, { kind: 'challenge' }>;
type State =
  | { kind: 'authorization'; user?: string }
  | { kind: 'authenticating'; sasl: SaslServer }
  /** A last message was owed (SCRAM's verifier, OAuth's error), sent as a challenge; its answer ends the exchange. */
  | { kind: 'owed'; mech: string; outcome: Finished };

/** One POP3 client connection from greeting to the hand-over to a backend. */
export class Pop3LoginSession implements Pop3FrontContext, TrackedSession {
  readonly #front: FrontConnection;
  readonly #deps: Pop3FrontDeps;
  #reader: Pop3CommandReader;
  #state: State = { kind: 'authorization' };
  /** Unknown commands in a row (Dovecot resets the count on a known one). */
  #badCommands = 0;
  #authFailures = 0;

  /** `deps` are the configuration's, shared by its sessions; `onClose` tells the registry this one is over. */
  constructor(conn: Connection, deps: Pop3FrontDeps, onClose?: (end?: { bytesIn: number; bytesOut: number }) => void) {
    this.#deps = deps;
    this.#front = FrontConnection.forSession('pop3', conn, deps, deps.pop3.login_timeout, onClose);
    this.#reader = this.#newReader();
  }

  /** A connection over limits.max_connections or max_connections_per_address: `-ERR`, closed before any greeting. */
  static refuse(conn: Connection, limit: 'address' | 'total'): void {
    endSocket(conn.socket, `-ERR ${limit === 'address' ? REPLY.addressLimit : REPLY.totalLimit}\r\n`);
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
      onLoginTimeout: () => this.#goodbye(REPLY.inactivity, 'login timeout'),
    });
    this.ok(this.trusted ? REPLY.xclientGreeting : REPLY.greeting);
  }

  /** Ends the session now: a proxied one at once, one before login with "-ERR Server shutting down.". */
  destroy(reason: EndReason): void {
    const text = reason === 'kicked' ? REPLY.kicked : REPLY.shutdown;
    if (!this.#front.endProxied(reason, `-ERR ${text}\r\n`)) this.#goodbye(text, reason);
  }

  info(): SessionInfo {
    return this.#front.info();
  }

  // ---- Pop3FrontContext ----
  get secured(): boolean {
    return this.#front.secured;
  }
  get tlsAvailable(): boolean {
    return this.#front.tlsAvailable;
  }
  get trusted(): boolean {
    return this.#deps.trustedNetworks.has(this.#front.conn.remoteIp);
  }
  plaintextAllowed(): boolean {
    return plaintextAllowed(this.#front.conn, this.#deps);
  }
  mechanisms(): string[] {
    return this.#deps.sasl.usable(this.#front);
  }
  capabilities(): string[] {
    return preLoginCapabilities({ stls: this.tlsAvailable && !this.secured, plaintextAllowed: this.plaintextAllowed(), mechanisms: this.mechanisms() });
  }
  ok(text?: string): void {
    this.#front.write(text ? `+OK ${text}\r\n` : '+OK\r\n');
  }
  err(text: string): void {
    this.#front.write(`-ERR ${text}\r\n`);
  }
  raw(text: string): void {
    this.#front.write(text);
  }
  get pendingUser(): string | undefined {
    return this.#state.kind === 'authorization' ? this.#state.user : undefined;
  }
  set pendingUser(user: string | undefined) {
    this.#state = user === undefined ? { kind: 'authorization' } : { kind: 'authorization', user };
  }
  async startTls(): Promise<void> {
    this.ok(REPLY.stls);
    // RFC 2595 §4: what the client pipelined in the clear, and a USER given before, are forgotten.
    this.#reader = this.#newReader();
    this.#state = { kind: 'authorization' };
    await this.#front.startTls();
  }
  async beginAuth(mechName: string, initialResponse: string | undefined): Promise<void> {
    const started = this.#deps.sasl.start(mechName, this.#front, this.#deps.login.authenticator, loginRequestBase(this.#front, 'pop3', this.#deps.trustedNetworks));
    if (started.kind === 'unsupported') return this.err(REPLY.unsupportedMech);
    if (started.kind === 'plaintextDisallowed') return this.err(REPLY.plaintextMechDisabled);
    let response: Buffer | null = null;
    if (initialResponse !== undefined) {
      response = decodeSaslResponse(initialResponse);
      if (response === null) return this.err(REPLY.invalidBase64Initial);
    }
    this.#state = { kind: 'authenticating', sasl: started.sasl };
    await this.#saslStep(response);
  }
  login(mech: string, user: string, password: Secret): Promise<void> {
    return this.#login(loginRequest(this.#front, 'pop3', this.#deps.trustedNetworks, mech, user, password));
  }
  xclient(fields: ForwardedFields): boolean {
    const { values, invalid } = ClientIdentity.parse(fields);
    if (invalid.length > 0) return false;
    this.#front.identity.set(values);
    this.#front.noteForwarded();
    return true;
  }
  quit(): void {
    this.ok(REPLY.quit);
    this.#front.close('logged out');
  }

  // ---- internals ----
  #newReader(): Pop3CommandReader {
    return new Pop3CommandReader({ maxLineBytes: this.#deps.pop3.max_line_length });
  }

  #backendLogin(target: BackendTarget): Pop3BackendLogin {
    const id = this.#front.identity;
    return new Pop3BackendLogin({ target, forward: { session: this.#front.id, clientIp: id.ip, clientPort: id.port, ttl: id.ttl - 1 } });
  }

  /** Steps 4-6 of a login; `authenticate` brings the verdict of a SASL exchange that consulted the chain itself. */
  async #login(request: AuthRequest, authenticate?: () => Promise<AuthResult>): Promise<void> {
    this.#state = { kind: 'authorization' };
    const front = this.#front;
    const user = request.user;
    if (front.identity.ttl <= 1) {
      front.log.error({ event: 'proxy_loop', user }, 'TTL reached zero - proxies appear to be looping?');
      return this.err(REPLY.misconfigured);
    }
    const proto = { protocol: 'pop3' as const, defaultPort: 110, defaultTlsPort: 995, makeBackendLogin: (t: BackendTarget) => this.#backendLogin(t), relayableClient: front.relayable };
    const outcome = await this.#deps.login.login(request, proto, front.log, front.signal, authenticate);
    // Whatever the client pipelined after its login (RFC 2449 §6.6) is the backend's to answer.
    if (outcome.kind === 'proxied') return front.handOver(outcome, this.#reader.takeBuffered());
    if (!front.open) return;
    const reply = outcomeReply(outcome, () => `${hostname()}:${new Date().toISOString().slice(0, 19).replace('T', ' ')}`);
    this.raw(`${reply.line}\r\n`);
    if (reply.closeAfter) return front.close(reply.closeAfter);
    if (reply.authFailure) this.#countAuthFailure();
  }

  #countAuthFailure(): void {
    if (++this.#authFailures >= this.#deps.pop3.max_auth_failures) this.#front.close('too many authentication failures');
  }

  async #saslStep(response: Buffer | null): Promise<void> {
    const st = this.#state;
    if (st.kind !== 'authenticating') return;
    const out = await st.sasl.step(response);
    // RFC 5034 §4: "+" SP base64, with nothing after the space for an empty challenge.
    if (out.kind === 'challenge') return this.raw(`+ ${out.data.toString('base64')}\r\n`);
    // POP3 carries no data with +OK: one more challenge, as Dovecot's pop3-login.
    if (out.data !== undefined) {
      this.#state = { kind: 'owed', mech: st.sasl.mech.name, outcome: out };
      return this.raw(`+ ${out.data.toString('base64')}\r\n`);
    }
    return this.#finish(st.sasl.mech.name, out);
  }

  #finish(mech: string, out: Finished): Promise<void> | void {
    this.#state = { kind: 'authorization' };
    if (out.kind === 'done') return this.#login(out.request, async () => out.result);
    this.#front.log.info({ event: 'auth_failed', mech, reason: out.message }, 'authentication failed');
    this.err(REPLY.authFailed);
    this.#countAuthFailure();
  }

  /** The client's answer in an exchange: base64, or "*" to cancel (RFC 5034 §4). */
  #saslLine(text: string): void {
    const st = this.#state;
    if (st.kind === 'authorization') return;
    if (st.kind === 'owed') {
      // Any answer ends it; cancelling refuses the server's proof, so a success is off too.
      if (text === '*' && st.outcome.kind === 'done' && st.outcome.result.kind === 'ok') {
        this.#state = { kind: 'authorization' };
        return this.err(REPLY.authAborted);
      }
      const done = this.#finish(st.mech, st.outcome);
      if (done) this.#front.run(done, this.#onInternalError);
      return;
    }
    const response = text === '*' ? null : decodeSaslResponse(text);
    if (response === null) {
      this.#state = { kind: 'authorization' };
      return this.err(text === '*' ? REPLY.authAborted : REPLY.invalidBase64);
    }
    this.#front.run(this.#saslStep(response), this.#onInternalError);
  }

  /** Handles whatever complete input there is, one command at a time; waits while a login runs. */
  #pump(): void {
    while (this.#front.open && !this.#front.busy) {
      if (this.#state.kind !== 'authorization') {
        const line = this.#reader.nextLine();
        if (line === 'needMore') return;
        if (!Buffer.isBuffer(line) && line.code === 'lineTooLong') return this.#goodbye(REPLY.inputTooLong, 'input line too long');
        // Anything else that is not a line is not base64 either.
        this.#saslLine(Buffer.isBuffer(line) ? line.toString('latin1') : '\0');
        continue;
      }
      const r = this.#reader.next();
      switch (r.kind) {
        case 'needMore':
          return;
        case 'error':
          if (r.code === 'lineTooLong') return this.#goodbye(REPLY.inputTooLong, 'input line too long');
          this.#bad();
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

  #dispatch(cmd: Pop3Command): void {
    const descriptor = PRE_LOGIN_COMMANDS.get(cmd.name);
    if (!descriptor) return this.#bad();
    this.#badCommands = 0;
    try {
      const result = descriptor.run(this, cmd.args);
      if (result instanceof Promise) this.#front.run(result, this.#onInternalError);
    } catch (err) {
      this.#onInternalError(err);
    }
  }

  #bad(): void {
    this.err(REPLY.unknownCommand);
    if (++this.#badCommands >= this.#deps.pop3.max_bad_commands) this.#goodbye(REPLY.tooManyBad, 'too many bad commands');
  }

  readonly #onInternalError = (err: unknown): void => {
    this.#front.log.error({ event: 'internal_error', err: err instanceof Error ? err.stack : String(err) }, 'internal error');
    this.#state = { kind: 'authorization' };
    this.err(REPLY.internal);
  };

  #goodbye(text: string, reason: string): void {
    this.err(text);
    this.#front.close(reason);
  }
}
