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
export {
  getScheme,
  hashPassword,
  listSchemes,
  splitScheme,
  verifyPassword,
  withDefaultScheme,
  type VerifyResult,
} from './schemes/registry.js';
export { expandVars, expandVarsDetailed, findUnknownVars, varContextFromRequest, type Expansion, type VarContext } from './vars.js';
export { fieldIsSet, getField, maskFields, parseFieldTemplate, type FieldTemplate } from './fields.js';
export { makeAuthRequest } from './testing.js';
