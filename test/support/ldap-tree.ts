// The directory tree the ldap passdb interop suite loads into slapd: a service account, people with
// {SSHA}, {CRYPT}$6$ and bare crypt passwords, a proxy-only user, a uid full of specials, a duplicate.
import { slappasswd } from '../interop/harness/slapd.js';

export const SUFFIX = 'dc=example,dc=test';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const SERVICE_DN = `cn=dovecot,${SUFFIX}`;
export const SERVICE_PW = 'dovecot-pw';
// The odd user: every filter special and a DN special in its uid (`\` is `\5C` in the DN).
export const WEIRD_UID = 'we*rd(x)\\y';
export const WEIRD_DN = `uid=we*rd(x)\\5Cy,${PEOPLE}`;

// Only the service DN may read entries and passwords; users may only bind. So a search that ran as a
// user instead of the service DN would find nothing.
export const ACL = [
  'access to attrs=userPassword',
  `  by dn.exact="${SERVICE_DN}" read`,
  '  by anonymous auth',
  '  by * none',
  `access to dn.subtree="${SUFFIX}"`,
  `  by dn.exact="${SERVICE_DN}" read`,
  '  by anonymous auth',
  '  by * none',
].join('\n');

function person(dn: string, uid: string, password: string | undefined, extra: string[] = []): string {
  return [
    `dn: ${dn}`,
    'objectClass: account',
    'objectClass: posixAccount',
    'objectClass: inetLocalMailRecipient',
    `uid: ${uid}`,
    `cn: ${uid}`,
    'uidNumber: 1000',
    'gidNumber: 1000',
    `homeDirectory: /home/${uid.replace(/[^a-z]/g, '')}`,
    ...(password === undefined ? [] : [`userPassword: ${password}`]),
    ...extra,
    '',
  ].join('\n');
}

export async function tree(): Promise<string> {
  const [servicePw, alicePw, bobPw, weirdPw, dupPw] = await Promise.all([
    slappasswd(SERVICE_PW),
    slappasswd('alice-pw'),
    slappasswd('bob-pw', '{CRYPT}', '$6$%.16s'),
    slappasswd('weird-pw'),
    slappasswd('dup-pw'),
  ]);
  const carolCrypt = (await slappasswd('carol-pw', '{CRYPT}', '$6$%.16s')).replace(/^\{CRYPT\}/, '');
  return [
    [`dn: ${SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'o: example', 'dc: example', ''].join('\n'),
    [`dn: ${SERVICE_DN}`, 'objectClass: organizationalRole', 'objectClass: simpleSecurityObject', 'cn: dovecot', `userPassword: ${servicePw}`, ''].join('\n'),
    [`dn: ${PEOPLE}`, 'objectClass: organizationalUnit', 'ou: people', ''].join('\n'),
    [`dn: ou=staff,${SUFFIX}`, 'objectClass: organizationalUnit', 'ou: staff', ''].join('\n'),
    person(`uid=alice,${PEOPLE}`, 'alice', alicePw, ['mailHost: imap1.example.test']),
    person(`uid=bob,${PEOPLE}`, 'bob', bobPw, ['mailHost: imap2.example.test', 'mailRoutingAddress: bob@example.test']),
    // A bare crypt string: default_pass_scheme (CRYPT) applies.
    person(`uid=carol,${PEOPLE}`, 'carol', carolCrypt),
    // Proxy-only: no password here, the backend checks it.
    person(`uid=dave,${PEOPLE}`, 'dave', undefined, ['mailHost: imap3.example.test']),
    person(WEIRD_DN, WEIRD_UID, weirdPw, ['mailHost: weird.example.test']),
    // Two entries for one name: Dovecot refuses to choose.
    person(`uid=dup,${PEOPLE}`, 'dup', dupPw),
    person(`uid=dup,ou=staff,${SUFFIX}`, 'dup', dupPw),
  ].join('\n');
}
