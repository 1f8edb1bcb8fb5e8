import { safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';

/** {PLAIN}: the password itself. Dovecot also knows it as CLEAR and CLEARTEXT. */
export const plainScheme: SchemeDescriptor = {
  name: 'PLAIN',
  aliases: ['CLEAR', 'CLEARTEXT'],
  encoding: 'none',
  verify: (plain, stored) => safeEqual(plain, stored),
  generate: (plain) => plain,
};
