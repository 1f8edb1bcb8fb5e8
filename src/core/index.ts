export { PosternError } from './errors.js';
export { Secret } from './secret.js';
