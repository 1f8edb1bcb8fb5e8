export { PosternError } from './errors.js';
export { Secret } from './secret.js';
export { duration, size, parseDurationMs, parseSizeBytes } from './config-types.js';
export { Aborter, sleep, type AbortLike } from './abort.js';
export { ByteQueue } from './byte-queue.js';
export { joinChunks } from './chunks.js';
export { upperCase } from './upper-case.js';
export { LineSplitter, type SplitResult } from './line-splitter.js';
