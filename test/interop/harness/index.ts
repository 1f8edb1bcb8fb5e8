// Interop test harness: real peers on loopback, in temp folders, always stopped.
export { getTestCerts, type CertFiles, type ServerCert, type TestCerts } from './certs.js';
export { guardProcessGroup, makeTempDir, onProcessExit, type TempDir } from './cleanup.js';
export {
  dovecotSkipReason,
  startDovecot,
  type DovecotInstance,
  type DovecotOptions,
  type DovecotPorts,
  type DovecotUser,
} from './dovecot.js';
export {
  allListening,
  canConnect,
  freePort,
  freePorts,
  listeningPorts,
  waitForListening,
  waitForPortClosed,
  type LoopbackHost,
} from './ports.js';
export {
  runCommand,
  runPython,
  spawnProcess,
  wrapped,
  type ExitInfo,
  type ManagedProcess,
  type RunOptions,
  type RunResult,
  type SpawnOptions,
  type Wrapped,
} from './proc.js';
export { findBinary, requireBinary, skipSuite } from './skip.js';
export { HarnessTimeoutError, pollUntil, withTimeout, type PollOptions } from './wait.js';
