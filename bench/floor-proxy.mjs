// The floor of a login proxy in one Node process: what net.Socket, the kernel's loopback TCP and the IMAP
// bytes of a proxied login cost with no parser, no auth, no logs. Greeting, the client's LOGIN (in one
// segment, as the load generator sends it), backend connect, ID and LOGIN in one write, the tagged reply,
// then stream.pipe both ways. Not a proxy to use: it checks nothing. To weigh postern against it, start it
// in place of postern (node bench/floor-proxy.mjs <port> <second port> <backend imap port>) and run the
// login-imap figure's load generator at <port>; see RESULTS.md, "Issue 6 work".
import net from 'node:net';
const [port, tlsPort, backendPort] = process.argv.slice(2).map(Number);
const GREETING = '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] ready.\r\n';
function onConn(c) {
  c.setNoDelay(true);
  c.write(GREETING);
  let buf = '';
  const onData = (d) => {
    buf += d.toString('latin1');
    const i = buf.indexOf('\r\n');
    if (i < 0) return;
    c.off('data', onData);
    c.pause();
    const [tag, , user, pass] = buf.slice(0, i).split(' ');
    const b = net.connect({ host: '127.0.0.1', port: backendPort });
    b.on('error', () => c.destroy());
    b.setNoDelay(true);
    let bb = '';
    let state = 0;
    const onB = (d) => {
      bb += d.toString('latin1');
      for (;;) {
        const j = bb.indexOf('\r\n');
        if (j < 0) return;
        const line = bb.slice(0, j);
        bb = bb.slice(j + 2);
        if (state === 0) {
          state = 1;
          b.write(`I ID ("x-session-id" "abc" "x-originating-ip" "127.0.0.1" "x-originating-port" "1234" "x-connected-ip" "127.0.0.1" "x-connected-port" "143" "x-proxy-ttl" "4")\r\nL LOGIN ${user} ${pass}\r\n`);
        } else if (line.startsWith('L ')) {
          b.off('data', onB);
          c.write(`${tag} ${line.slice(2)}\r\n`);
          c.pipe(b); b.pipe(c);
          c.on('error', () => b.destroy()); b.on('error', () => c.destroy());
          c.on('close', () => b.destroy()); b.on('close', () => c.destroy());
          c.resume();
          return;
        }
      }
    };
    b.on('data', onB);
  };
  c.on('data', onData);
  c.on('error', () => {});
}
net.createServer(onConn).listen(port, '127.0.0.1');
net.createServer(onConn).listen(tlsPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
