/**
 * The base of every error meant for a user: its message is one line naming the input (file:line,
 * section + offset, instruction index) and what was expected. The CLI prints such a message alone;
 * anything else is a bug and is reported as an internal error.
 */
export class ScxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
