// The CLI's failures carry their exit code so main() is the only place that prints and exits:
// 1 = the request or the node failed, 2 = the command line (or config file) was wrong.

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad flags, bad config file, bad environment variable: exit code 2, like commander's own usage errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}
