// The backend without a proxy: the ceiling every proxy is compared with.
import type { DovecotInstance } from '../../test/interop/harness/index.js';
import type { Target } from './types.js';

export function directTarget(backend: DovecotInstance): Target {
  return {
    id: 'direct',
    label: 'direct (Dovecot backend)',
    async start(spec) {
      const p = backend.ports;
      return spec.protocol === 'imap'
        ? { port: p.imap, tlsPort: p.imaps, pid: undefined, stop: async () => undefined }
        : { port: p.pop3, tlsPort: p.pop3s, pid: undefined, stop: async () => undefined };
    },
  };
}
