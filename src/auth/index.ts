export type {
  AuthRequest,
  AuthResult,
  Authenticator,
  Fields,
  Passdb,
  PassdbResult,
  PasswordScheme,
} from './types.js';
export { AuthError, AuthErrorCode } from './errors.js';
export { silentLogger, type AuthDeps, type AuthLogger, type LogFn } from './deps.js';
export {
  passdbListSchema,
  passdbSpecSchema,
  resultRuleSchema,
  type PassdbSpec,
  type PassdbSpecInput,
  type ResultRule,
} from './config.js';
export { ChainAuthenticator, createAuthenticator, type ChainEntry } from './authenticator.js';
export { MemoryAuthenticator, MemoryPassdb, type MemoryUser, type MemoryUsers } from './memory.js';
export { createPassdb, getPassdbDriver, listPassdbDrivers } from './passdb/registry.js';
export type { PassdbDriver } from './passdb/descriptor.js';
export { escapeDnValue, escapeFilterValue } from './passdb/ldap-escape.js';
export { ldapSettingsSchema, type LdapSettings, type LdapSettingsInput } from './passdb/ldap-settings.js';
export { sqlSettingsSchema, type SqlSettings, type SqlSettingsInput } from './passdb/sql-settings.js';
export { escapeMysql, escapeQuoteDoubling } from './passdb/sql-query.js';
export {
  getScheme,
  hashPassword,
  listSchemes,
  splitScheme,
  verifyPassword,
  withDefaultScheme,
  type VerifyResult,
} from './schemes/registry.js';
export type { GenerateParams } from './schemes/descriptor.js';
export { CRAM_MD5_CONTEXT_LEN, cramMd5Context, cramMd5Digest, decodeCramMd5 } from './schemes/cram-md5.js';
export { formatScram, parseScram, scramCredentials, saltedPassword, type ScramCredentials, type ScramHash } from './schemes/scram.js';
export { expandVars, expandVarsDetailed, findUnknownVars, varContextFromRequest, type Expansion, type VarContext } from './vars.js';
export { fieldIsSet, getField, maskFields, parseFieldTemplate, type FieldTemplate } from './fields.js';
export { makeAuthRequest } from './testing.js';
