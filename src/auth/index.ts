export type {
  AuthRequest,
  AuthResult,
  Authenticator,
  Fields,
  Passdb,
  PassdbAbilities,
  PassdbResult,
  PasswordScheme,
  CredentialsResult,
  WholeAuthRequest,
} from './types.js';
export { AuthError, AuthErrorCode } from './errors.js';
export { silentLogger, type AuthDeps, type AuthLogger, type LogFn } from './deps.js';
export {
  passdbListSchema,
  passdbSpecSchema,
  resultRuleSchema,
  saslMechanismSchema,
  SASL_MECHANISM_NAMES,
  type PassdbSpec,
  type PassdbSpecInput,
  type ResultRule,
} from './config.js';
export { ChainAuthenticator, createAuthenticator, type ChainEntry } from './authenticator.js';
export { MasterUserAuthenticator, splitMasterLogin, type MasterSplit } from './master.js';
export { createConfiguredAuthenticator, offeredMechanisms, passdbAbilities, type AuthChainConfig } from './setup.js';
export { credentialsInScheme } from './credentials.js';
export { MemoryAuthenticator, MemoryPassdb, type MemoryUser, type MemoryUsers } from './memory.js';
export { createPassdb, getPassdbDriver, listPassdbDrivers, registerPassdbDriver } from './passdb/registry.js';
export { AuthCache, type AuthCacheOptions, type AuthCacheStats, type CachedAnswer } from './cache.js';
export { withCache } from './cached-passdb.js';
export { AuthAttempt, AuthPolicy, type AuthPolicyOptions, type FailureInfo, type PenaltySubject, type Sleep } from './policy.js';
export { PENALTY_EXPIRE_MS, PENALTY_MAX_ADDRESSES, PENALTY_MAX_LEVEL, PenaltyTable, penaltyDelayMs, penaltyIdent } from './penalty.js';
export { createPassdbLookup, PassdbLookup, type LookupResult } from './lookup.js';
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
