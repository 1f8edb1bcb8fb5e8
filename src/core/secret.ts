import { inspect } from 'node:util';

/**
 * A value that must never reach a log: passwords, tokens, master passwords.
 * Wrapped where it enters (the wire, the config) so no later path can print it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  get length(): number {
    return this.#value.length;
  }
  toJSON(): string {
    return '***';
  }
  toString(): string {
    return '***';
  }
  [inspect.custom](): string {
    return 'Secret(***)';
  }
}
