// Test PKI made with the openssl CLI: a CA, server certificates it signs, and a self-signed
// certificate it does not (for "bad certificate" tests). Generated once per process (EC P-256: fast).
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { makeTempDir } from './cleanup.js';
import { runCommand } from './proc.js';

export interface CertFiles {
  certPath: string;
  keyPath: string;
  /** PEM */
  cert: string;
  /** PEM (PKCS#8) */
  key: string;
}

export interface ServerCert extends CertFiles {
  /** DNS names and IP addresses in subjectAltName; the first is the CN. */
  names: string[];
}

export interface TestCerts {
  dir: string;
  ca: CertFiles;
  /** Signed by `ca` for localhost, 127.0.0.1, ::1 and the extra names asked for. */
  server: ServerCert;
  /** Same names, self-signed: verification against `ca` must fail. */
  selfSigned: ServerCert;
  /** Another certificate signed by `ca` (cached per name list), e.g. for SNI tests; `cn` for a subject CN that is not in the list. */
  issue(names: string[], cn?: string): Promise<ServerCert>;
}

const DEFAULT_NAMES = ['localhost', '127.0.0.1', '::1'];
const VALID_DAYS = '2';

interface Pki {
  dir: string;
  ca: CertFiles;
  issue(names: string[], cn?: string): Promise<ServerCert>;
  selfSigned(names: string[]): Promise<ServerCert>;
}

let pkiPromise: Promise<Pki> | undefined;
const certsByNames = new Map<string, Promise<TestCerts>>();

/** The test PKI; the CA is made once per process, the server certificate once per name list. */
export function getTestCerts(opts: { extraNames?: string[] } = {}): Promise<TestCerts> {
  const names = [...new Set([...DEFAULT_NAMES, ...(opts.extraNames ?? [])])];
  const key = names.join(',');
  let certs = certsByNames.get(key);
  if (certs === undefined) {
    certs = (async () => {
      const pki = await (pkiPromise ??= createPki());
      const [server, selfSigned] = await Promise.all([pki.issue(names), pki.selfSigned(names)]);
      return { dir: pki.dir, ca: pki.ca, server, selfSigned, issue: pki.issue };
    })();
    certsByNames.set(key, certs);
  }
  return certs;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await runCommand('openssl', args, { cwd, timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
}

function extensionsConfig(names: string[], cn = names[0] ?? 'localhost'): string {
  const alt = names.map((n, i) => `${isIP(n) ? 'IP' : 'DNS'}.${i + 1} = ${n}`);
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${cn}`,
    '[ca_ext]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    '[leaf_ext]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth,clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    'subjectAltName = @alt',
    '[alt]',
    ...alt,
    '',
  ].join('\n');
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function readPair(certPath: string, keyPath: string): Promise<CertFiles> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { certPath, keyPath, cert, key };
}

async function createPki(): Promise<Pki> {
  const dir = makeTempDir('certs').path;
  let counter = 0;
  const caConf = join(dir, 'ca.cnf');
  await writeFile(caConf, extensionsConfig(['postern test CA']));
  await openssl(
    ['req', '-x509', ...NEW_EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', VALID_DAYS,
      '-config', caConf, '-extensions', 'ca_ext', '-subj', '/CN=postern test CA'],
    dir,
  );
  const ca = await readPair(join(dir, 'ca.pem'), join(dir, 'ca.key'));

  const issued = new Map<string, Promise<ServerCert>>();
  const issue = (names: string[], cn?: string): Promise<ServerCert> => {
    const cacheKey = `${names.join(',')}${cn !== undefined ? ` cn=${cn}` : ''}`;
    let cert = issued.get(cacheKey);
    if (cert === undefined) {
      const base = `server-${++counter}`;
      cert = (async () => {
        const conf = join(dir, `${base}.cnf`);
        await writeFile(conf, extensionsConfig(names, cn));
        await openssl(['req', '-new', ...NEW_EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-config', conf], dir);
        await openssl(
          ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
            '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', VALID_DAYS,
            '-extfile', conf, '-extensions', 'leaf_ext', '-out', `${base}.pem`],
          dir,
        );
        return { ...(await readPair(join(dir, `${base}.pem`), join(dir, `${base}.key`))), names };
      })();
      issued.set(cacheKey, cert);
    }
    return cert;
  };

  const selfSigned = async (names: string[]): Promise<ServerCert> => {
    const base = `self-signed-${++counter}`;
    const conf = join(dir, `${base}.cnf`);
    // No authorityKeyIdentifier: there is no issuer other than itself.
    await writeFile(conf, extensionsConfig(names).replace('authorityKeyIdentifier = keyid\n', ''));
    await openssl(
      ['req', '-x509', ...NEW_EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', VALID_DAYS,
        '-config', conf, '-extensions', 'leaf_ext'],
      dir,
    );
    return { ...(await readPair(join(dir, `${base}.pem`), join(dir, `${base}.key`))), names };
  };

  return { dir, ca, issue, selfSigned };
}
