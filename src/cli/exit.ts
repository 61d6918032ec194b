/** Thrown by a command to end with a given exit status after it has printed its own report. */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit status ${code}`);
  }
}
