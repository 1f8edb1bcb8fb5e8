import { PosternError } from '../core/index.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `listen[1].port`. */
  path: string;
  message: string;
}

/** A configuration that cannot be used. The message names the file, each key and what was expected. */
export class ConfigError extends PosternError {
  readonly file: string;
  readonly problems: ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  ${file}: ${p.path || '(top level)'}: ${p.message}`);
    super('POSTERN_CONFIG_INVALID', `invalid configuration in ${file}:\n${lines.join('\n')}`);
    this.file = file;
    this.problems = problems;
  }
}
