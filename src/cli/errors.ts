// The CLI's failures carry their exit code so main() is the only place that prints and exits.

/** Exit codes, stated in `concord --help` and the CLI README. */
export const EXIT = {
  /** The request failed for a reason a retry will not fix (refused precondition, bad input, server error). */
  failed: 1,
  /** The command line (or config file, or environment) was wrong. */
  usage: 2,
  /** The key does not exist (get, delete). */
  notFound: 3,
  /** The cluster could not be reached or could not serve in time: no node answered, no quorum, timed out. */
  unreachable: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad flags, bad config file, bad environment variable: exit code 2, like commander's own usage errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}
