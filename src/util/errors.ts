// Errors meant for the person running the tool: they say what is wrong, where, and how to fix it.
// The command-line entry points print `message` alone (no stack, unless --debug) and exit with `exitCode`.

export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** A problem with the configuration or the command line (exit code 2). */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'ConfigError';
  }
}

/** A problem in a data file: names the file and the line. */
export class DataError extends UserError {
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(message, 1);
    this.name = 'DataError';
  }
}

/** A checkpoint that cannot be read or does not fit the model. */
export class CheckpointError extends UserError {
  constructor(message: string, readonly file?: string) {
    super(message, 1);
    this.name = 'CheckpointError';
  }
}
