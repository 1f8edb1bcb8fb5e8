import { Secret } from '../core/index.js';
import type { AuthRequest } from './types.js';

/** An AuthRequest with plausible defaults, for tests; `password` may be given as a string. */
export function makeAuthRequest(over: Partial<Omit<AuthRequest, 'password'>> & { password?: string | Secret } = {}): AuthRequest {
  const { password, ...rest } = over;
  return {
    service: 'imap',
    mech: 'PLAIN',
    user: 'alice@example.com',
    remoteIp: '192.0.2.10',
    remotePort: 50000,
    localIp: '198.51.100.1',
    localPort: 143,
    secured: false,
    session: 'test-session',
    ...rest,
    ...(password === undefined ? {} : { password: typeof password === 'string' ? new Secret(password) : password }),
  };
}
