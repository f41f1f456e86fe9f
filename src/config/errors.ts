// Configuration problems: errors name the file (with line and column) or the flag, and the field; all of
// them are collected and reported together, so a file is fixed in one round. Warnings say which
// settings are accepted without effect.

/** Bad configuration: the message names the file or flag and the field. */
export class ConfigError extends Error {
  readonly source: string;
  readonly field: string;
  constructor(source: string, field: string, reason: string) {
    super(field ? `${source}: ${field}: ${reason}` : `${source}: ${reason}`);
    this.name = 'ConfigError';
    this.source = source;
    this.field = field;
  }
}

/** Several ConfigErrors at once; its message is theirs, one a line. */
export class ConfigErrors extends ConfigError {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(errors[0]!.source, errors[0]!.field, '');
    this.message = errors.map((e) => e.message).join('\n');
    this.name = 'ConfigErrors';
    this.errors = errors;
  }
}

export interface ConfigWarning {
  source: string;
  field: string;
  message: string;
}

/** Collects errors and warnings while the configuration is read. */
export class Problems {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigWarning[] = [];

  error(source: string, field: string, reason: string): void {
    this.errors.push(new ConfigError(source, field, reason));
  }

  warn(source: string, field: string, message: string): void {
    this.warnings.push({ source, field, message });
  }

  /** Runs `f`; a ConfigError it throws is recorded and `fallback` returned. */
  check<T>(f: () => T, fallback: T): T {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.errors.push(...(err instanceof ConfigErrors ? err.errors : [err]));
      return fallback;
    }
  }

  /** Throws everything collected, if anything. */
  throwIfAny(): void {
    if (this.errors.length === 1) throw this.errors[0]!;
    if (this.errors.length > 1) throw new ConfigErrors(this.errors);
  }
}
