// Errors meant for the person running the tool: they say what is wrong, where, and how to fix it.
// The command-line entry points print `message` alone (no stack, unless --debug) and exit with `exitCode`.
//
// Exit codes (the README's "Exit codes" says the same):
//   2  what was given is wrong: command line, config, data files, checkpoint files, run name, a
//      model too large for memory. Running the same command again fails the same way; change the input.
//   1  the run failed: the file system (read-only, full, not a directory), another trainer holds the
//      run directory, a worker thread failed, the loss diverged. The input may be fine.

export const EXIT_FAILED = 1;
export const EXIT_INPUT = 2;

export class UserError extends Error {
  constructor(message: string, readonly exitCode = EXIT_FAILED) {
    super(message);
    this.name = 'UserError';
  }
}

/** A problem with the configuration or the command line (exit code 2). */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message, EXIT_INPUT);
    this.name = 'ConfigError';
  }
}

/** A problem in a data file: names the file and the line (exit code 2). */
export class DataError extends UserError {
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(message, EXIT_INPUT);
    this.name = 'DataError';
  }
}

/**
 * A checkpoint that cannot be read or does not fit the model (exit code 2), or one that cannot
 * be written (`exitCode` 1: the file system failed, not the input).
 */
export class CheckpointError extends UserError {
  constructor(message: string, readonly file?: string, exitCode = EXIT_INPUT) {
    super(message, exitCode);
    this.name = 'CheckpointError';
  }
}

/** A file or directory the run writes or keeps cannot be used (exit code 1): names the path and the fix. */
export class OutputError extends UserError {
  constructor(message: string, readonly path?: string) {
    super(message, EXIT_FAILED);
    this.name = 'OutputError';
  }
}
