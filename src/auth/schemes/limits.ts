/**
 * Work factors read from stored hashes are capped: a corrupt or hostile entry must
 * produce an AUTH_SCHEME_DATA error at once, not minutes of CPU or gigabytes of memory.
 * Each cap sits well above what Dovecot writes by default; `postern pw -r` refuses to
 * generate beyond them, so postern never writes a hash it would then refuse.
 */

/** bcrypt: each step doubles the work; Dovecot writes 5, real hashes use 5..14. */
export const MAX_BCRYPT_COST = 20;

/** SHA-crypt: unixcrypt allocates per round and runs synchronously. Default 5000. */
export const MAX_SHA_CRYPT_ROUNDS = 1_000_000;

/** PBKDF2-SHA1 `$1$salt$rounds$hex`: about 2.5 s at the cap (off the event loop). Default 5000. */
export const MAX_PBKDF2_ROUNDS = 10_000_000;

/** SCRAM iteration count: Dovecot accepts 4096..INT_MAX; the SASL client pays it too. */
export const MIN_SCRAM_ITERATIONS = 4096;
export const MAX_SCRAM_ITERATIONS = 10_000_000;

/**
 * Argon2 memory (KiB). 256 MiB covers libsodium's interactive and moderate profiles
 * (what `doveadm pw` writes for ARGON2I -r < 8 and ARGON2ID -r < 4); its "sensitive"
 * profiles (512 MiB, 1 GiB) are refused: the wasm heap never shrinks once grown.
 */
export const MAX_ARGON2_MEMORY_KIB = 256 * 1024;
/** Argon2 passes (t). */
export const MAX_ARGON2_TIME_COST = 16;
/** Argon2 lanes (p); hash-wasm computes them one after another. */
export const MAX_ARGON2_PARALLELISM = 16;
