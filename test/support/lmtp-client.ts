import assert from 'node:assert/strict';
import { runPython } from '../interop/harness/index.js';

// python smtplib.LMTP as an MTA delivers: LHLO (from 127.0.0.2 on TCP), STARTTLS when a CA is
// given, MAIL, RCPT each, DATA, then one reply per accepted recipient (RFC 2033 §4.2):
// smtplib's data() reads the first, getreply() the rest.
// argv: target (a port, or a unix socket path), rcpts, message ('BIG:<lines>' = that many 1000-byte lines),
// CA file or '', and 'implicit' for TLS from the first byte (then no STARTTLS).
const LMTP_CLIENT = `
import json, smtplib, ssl, sys
target, rcpts, msg, ca, mode = sys.argv[1], sys.argv[2].split(','), sys.argv[3].encode('latin-1'), sys.argv[4], sys.argv[5]
class ImplicitTLS(smtplib.LMTP):
    def _get_socket(self, host, port, timeout):
        return ssl.create_default_context(cafile=ca).wrap_socket(super()._get_socket(host, port, timeout), server_hostname='localhost')
LMTP = ImplicitTLS if mode == 'implicit' else smtplib.LMTP
if msg.startswith(b'BIG:'):
    msg = b'From: big@example.test\\r\\nSubject: big\\r\\n\\r\\n' + (b'y' * 998 + b'\\r\\n') * int(msg[4:])
# smtplib.LMTP takes a unix socket path as host
if target.startswith('/'):
    s = LMTP(target, local_hostname='mta.example.test', timeout=60)
else:
    s = LMTP('127.0.0.1', int(target), local_hostname='mta.example.test', source_address=('127.0.0.2', 0), timeout=60)
s.ehlo_or_helo_if_needed()
out = {'starttls_offered': s.has_extn('starttls'), 'xclient_offered': s.has_extn('xclient'), 'rcpt': [], 'data': []}
if ca and mode != 'implicit':
    out['starttls'] = s.starttls(context=ssl.create_default_context(cafile=ca))[0]
    s.ehlo()
    out['starttls_after'] = s.has_extn('starttls')
out['mail'] = s.mail('sender@example.test')[0]
accepted = 0
for r in rcpts:
    code, text = s.rcpt(r)
    out['rcpt'].append('%d %s' % (code, text.decode()))
    accepted += code == 250
if accepted:
    code, text = s.data(msg)
    out['data'].append('%d %s' % (code, text.decode()))
    for _ in range(accepted - 1):
        code, text = s.getreply()
        out['data'].append('%d %s' % (code, text.decode()))
s.quit()
print(json.dumps(out))
`;

export interface LmtpDelivery {
  starttls_offered: boolean;
  xclient_offered: boolean;
  starttls?: number;
  starttls_after?: boolean;
  mail: number;
  rcpt: string[];
  data: string[];
}

/** Delivers `message` to `rcpts` at `target` (a TCP port or a unix socket path) with python's smtplib.LMTP. */
export async function deliverWithSmtplib(target: string, rcpts: string[], message: string, opts: { ca?: string; implicitTls?: boolean; timeoutMs?: number } = {}): Promise<LmtpDelivery> {
  const r = await runPython(LMTP_CLIENT, [target, rcpts.join(','), message, opts.ca ?? '', opts.implicitTls ? 'implicit' : ''], { timeoutMs: opts.timeoutMs ?? 120_000 });
  assert.equal(r.code, 0, `smtplib.LMTP: ${r.stderr}`);
  return JSON.parse(r.stdout) as LmtpDelivery;
}
