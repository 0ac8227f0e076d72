/**
 * The error of a request the function cannot carry out as asked: no such job, a job that
 * cannot be resumed, a target that cannot be used. Its status and code are what the caller sees.
 * @module
 */

/** A job that does not exist, cannot be resumed, or cannot be started on its target. */
export class JobError extends Error {
  constructor(readonly status: 404 | 409 | 503, readonly code: string, message: string) {
    super(message);
    this.name = "JobError";
  }
}
