/**
 * Workloads as CSV tables: one task per row, its behaviour written as a compact program in the
 * `phases` cell (`run 3ms; sleep 2ms`). The schema is documented in workloads/csv/README.md;
 * keep the two in step.
 *
 * Every cell is validated and every failure names the file, the line on which the row starts,
 * the column, what was expected and what was found. A file either yields all its tasks or none.
 */
import { readFileSync } from 'node:fs';
import { CsvError, parse, type Options } from 'csv-parse/sync';
import type { ChildTask, Phase, Policy, SimTask } from '../sched/spec.ts';
import { parseDuration, WorkloadError } from './builtin.ts';

const REQUIRED_COLUMNS = ['pid', 'comm', 'phases'] as const;
const OPTIONAL_COLUMNS = ['arrival', 'nice', 'policy', 'rt_priority', 'cpus', 'loops'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];
const COLUMNS: readonly Column[] = [...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS];

const POLICIES: readonly Policy[] = ['normal', 'batch', 'idle', 'ext', 'fifo', 'rr'];
const STEPS = ['run', 'sleep', 'wait', 'post', 'broadcast', 'timer', 'yield', 'exit', 'nice', 'cpus', 'repeat', 'fork'];
const FORK_OPTIONS = ['nice', 'policy', 'rt_priority', 'cpus', 'loops'];

/** Linux's PID_MAX_LIMIT: a pid from a real trace is never above it. */
const MAX_PID = 4_194_304;
/** Linux's largest NR_CPUS; a bound also keeps `0-999999999` from building a huge array. */
const MAX_CPU = 8191;
/** TASK_COMM_LEN is 16 bytes including the terminating NUL. */
const MAX_COMM_BYTES = 15;
/** Deep enough for any real program, shallow enough that recursion cannot overflow the stack. */
const MAX_NESTING = 32;
/** Loop and token counts: far beyond any run's length, and readable in a message. */
const MAX_COUNT = 1_000_000_000;

/** C0 and C1 controls and the Unicode line separators: anything that could break a line. */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/** Reports a bad value: what was expected and what was found (already described, see `shown`). */
type Fail = (expected: string, found: string) => never;

/** A value as it appears in a message: quoted, on one line, not too long. */
function shown(text: string): string {
  if (text === '') return 'an empty cell';
  const oneLine = text.replace(CONTROL, (c) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `'${oneLine.length > 40 ? `${oneLine.slice(0, 37)}...` : oneLine}'`;
}

function integer(text: string, min: number, max: number, what: string, fail: Fail, purpose = ''): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) fail(`${what} from ${min} to ${max}${purpose}`, shown(text));
  return n === 0 ? 0 : n; // no -0 from '-0'
}

function duration(text: string, fail: Fail, positive = false, purpose = ''): number {
  const what = `${positive ? 'a positive' : 'a'} duration like 5ms${purpose}`;
  // The shape is checked here so that the message can say what a duration looks like;
  // parseDuration keeps the units the same as every other workload format's.
  if (!/^\d+(\.\d+)?(ns|us|ms|s)?$/.test(text)) fail(what, shown(text));
  let ns: number;
  try {
    ns = parseDuration(text);
  } catch {
    return fail(`a duration under 104 days (2^53 ns)${purpose}`, shown(text));
  }
  if (positive && ns <= 0) fail(what, shown(text));
  return ns;
}

function comm(text: string, fail: Fail): string {
  // Control characters would break every report that prints the name on one line.
  if (text === '' || Buffer.byteLength(text) > MAX_COMM_BYTES || text.search(CONTROL) >= 0) {
    fail(`a name of 1 to ${MAX_COMM_BYTES} bytes without control characters`, shown(text));
  }
  return text;
}

/** Linux cpulist syntax (`0-3,8`); overlaps are a union, as in the kernel; the result is sorted. */
function cpuList(text: string, fail: Fail, purpose = ''): number[] {
  const cpus = new Set<number>();
  const expected = `a CPU list like 0-3,8${purpose} (CPUs 0 to ${MAX_CPU}, ranges low-high)`;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) fail(expected, shown(text));
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi > MAX_CPU || lo > hi) fail(expected, shown(text));
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

function policy(text: string, fail: Fail): Policy {
  if (!POLICIES.includes(text as Policy)) fail(`a policy (${POLICIES.join(', ')})`, shown(text));
  return text as Policy;
}

function loops(text: string, fail: Fail): number {
  if (text === 'inf') return Infinity;
  return integer(text, 1, MAX_COUNT, "'inf' or a loop count", fail);
}

/** rt_priority is required exactly for the real-time policies, as sched_setscheduler(2) demands. */
function rtPriority(text: string, pol: Policy | undefined, fail: Fail): number | undefined {
  if (pol === 'fifo' || pol === 'rr') return integer(text, 1, 99, 'a priority', fail, ` for policy ${pol}`);
  if (text !== '') fail(`no priority for policy ${pol ?? 'normal'} (only fifo and rr have one)`, shown(text));
  return undefined;
}

/**
 * The phases language, a recursive descent over tokens: words, and the punctuation `;`, `{`
 * and `}`, which need no spaces around them.
 */
class ProgramParser {
  private readonly tokens: string[];
  private at = 0;

  private readonly fail: Fail;

  /** `failIn(where)` reports a problem in a part of the program, such as a fork's option. */
  constructor(
    text: string,
    private readonly failIn: (where: string) => Fail,
  ) {
    this.tokens = text.match(/[;{}]|[^\s;{}]+/g) ?? [];
    this.fail = failIn('');
  }

  program(): Phase[] {
    if (this.tokens.length === 0) this.fail("a program like 'run 3ms; sleep 2ms'", 'an empty cell');
    const phases = this.sequence(0);
    if (this.at < this.tokens.length) this.fail("';' between steps", shown(this.tokens[this.at]));
    return phases;
  }

  private peek(): string | undefined {
    return this.tokens[this.at];
  }

  private foundNext(): string {
    const t = this.peek();
    return t === undefined ? 'the end of the cell' : shown(t);
  }

  private take(expected: string): string {
    const t = this.peek();
    if (t === undefined || t === ';' || t === '{' || t === '}') this.fail(expected, this.foundNext());
    this.at++;
    return t;
  }

  private expect(punct: string, expected: string): void {
    if (this.peek() !== punct) this.fail(expected, this.foundNext());
    this.at++;
  }

  /** Steps separated by `;`, up to the end of the cell or the `}` closing a block. */
  private sequence(depth: number): Phase[] {
    const phases: Phase[] = [];
    for (;;) {
      const p = this.step(depth);
      phases.push(p);
      if (this.peek() !== ';') return phases;
      if ('exit' in p) {
        // Steps after an exit never run; accepting them would hide a mistake.
        this.fail("nothing after 'exit' (the steps after it would never run)", shown(this.tokens[this.at + 1] ?? ';'));
      }
      this.at++;
    }
  }

  private block(depth: number, what: string): Phase[] {
    if (depth >= MAX_NESTING) this.fail(`at most ${MAX_NESTING} nested blocks`, 'more');
    this.expect('{', `'{' opening the ${what} block`);
    const phases = this.sequence(depth + 1);
    this.expect('}', `';' between steps or '}' closing the ${what} block`);
    return phases;
  }

  private name(after: string): string {
    const t = this.take(`an event name after '${after}'`);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(t)) this.fail(`an event name after '${after}' (a letter or _, then letters, digits, _ . -)`, shown(t));
    return t;
  }

  private step(depth: number): Phase {
    const word = this.take(`a step (${STEPS.join(', ')})`);
    const fail = this.fail;
    switch (word) {
      case 'run':
      case 'sleep': {
        const ns = duration(this.take(`a duration like 5ms after '${word}'`), fail, false, ` after '${word}'`);
        return word === 'run' ? { run: ns } : { sleep: ns };
      }
      case 'wait':
        return { wait: this.name('wait') };
      case 'post': {
        const post = this.name('post');
        const t = this.peek();
        if (t === undefined || !t.startsWith('x')) return { post };
        this.at++;
        const count = /^x\d+$/.test(t) ? Number(t.slice(1)) : NaN;
        if (!(count >= 1 && count <= MAX_COUNT)) fail(`a count from x1 to x${MAX_COUNT} after 'post ${post}'`, shown(t));
        return { post, count };
      }
      case 'broadcast':
        return { broadcast: this.name('broadcast') };
      case 'timer': {
        const timer = duration(this.take("a positive duration like 5ms after 'timer'"), fail, true, " after 'timer'");
        if (this.peek() !== 'deadline') return { timer };
        this.at++;
        const deadline = duration(this.take("a positive duration like 5ms after 'deadline'"), fail, true, " after 'deadline'");
        return { timer, deadline };
      }
      case 'yield':
        return { yield: true };
      case 'exit':
        return { exit: true };
      case 'nice':
        return { nice: integer(this.take("a nice value after 'nice'"), -20, 19, 'a nice value', fail, " after 'nice'") };
      case 'cpus':
        return { cpus: cpuList(this.take("a CPU list like 0-3,8 after 'cpus'"), fail, " after 'cpus'") };
      case 'repeat': {
        const repeat = integer(this.take("a count after 'repeat'"), 1, MAX_COUNT, 'a count', fail, " after 'repeat'");
        return { repeat, phases: this.block(depth, 'repeat') };
      }
      case 'fork':
        return { fork: this.child(depth) };
      default:
        return fail(`a step (${STEPS.join(', ')})`, shown(word));
    }
  }

  /** `fork COMM [key=value ...] { program }`: the keys are the row's own optional columns. */
  private child(depth: number): ChildTask {
    const name = this.take("the child's comm after 'fork'");
    if (name.includes('=')) this.fail("the child's comm after 'fork'", shown(name));
    comm(name, (e, f) => this.fail(`${e} as the child's comm after 'fork'`, f));
    const at = `fork '${name}'`;
    const failHere: Fail = this.failIn(at);
    const options = new Map<string, string>();
    for (let t = this.peek(); t !== undefined && t !== '{' && t !== ';' && t !== '}'; t = this.peek()) {
      const m = /^([a-z_]+)=(.*)$/.exec(t);
      if (!m || !FORK_OPTIONS.includes(m[1])) failHere(`'{' or an option (${FORK_OPTIONS.map((o) => `${o}=`).join(', ')})`, shown(t));
      if (options.has(m[1])) failHere('each option once', `'${m[1]}=' twice`);
      options.set(m[1], m[2]);
      this.at++;
    }
    const optionFail = (key: string): Fail => {
      const fail = this.failIn(`${at}, option '${key}='`);
      return (e, f) => fail(e, f === shown('') ? "nothing after '='" : f);
    };
    const child: ChildTask = { comm: name, phases: [] };
    const get = (k: string) => options.get(k);
    if (get('nice') !== undefined) child.nice = integer(get('nice')!, -20, 19, 'a nice value', optionFail('nice'));
    if (get('cpus') !== undefined) child.cpus = cpuList(get('cpus')!, optionFail('cpus'));
    if (get('policy') !== undefined) child.policy = policy(get('policy')!, optionFail('policy'));
    const prioText = get('rt_priority');
    const prio = rtPriority(prioText ?? '', child.policy, prioText === undefined ? (e) => failHere(e, "no 'rt_priority=' option") : optionFail('rt_priority'));
    if (prio !== undefined) child.rtPriority = prio;
    if (get('loops') !== undefined) child.loops = loops(get('loops')!, optionFail('loops'));
    child.phases = this.block(depth, 'fork');
    return child;
  }
}

/** A raw record with the line it starts on. */
interface Row {
  cells: string[];
  line: number;
}

function records(text: string, file: string): Row[] {
  // Lines end at \r\n, \n or \r, the same three record delimiters csv-parse is given, so that
  // a file with mixed line endings reads as it looks.
  const lines = text.split(/\r\n|\r|\n/);
  // csv-parse counts lines differently inside quoted fields, so lines are found from its byte
  // offsets: where each line starts, in the UTF-8 bytes it parses.
  const bytes = Buffer.from(text);
  const lineStarts = [0];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a || (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) lineStarts.push(i + 1);
  }
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  // Messages name the line a record starts on: the first after the previous record that is
  // neither blank nor a comment.
  const startAfter = (end: number): number => {
    for (let l = end + 1; l <= lines.length; l++) {
      const s = lines[l - 1].trim();
      if (s !== '' && !s.startsWith('#')) return l;
    }
    return Math.min(end + 1, lines.length);
  };
  let lastEnd = 0;
  try {
    const options: Options = {
      bom: true,
      comment: '#',
      comment_no_infix: true,
      skip_empty_lines: true,
      trim: true,
      record_delimiter: ['\r\n', '\n', '\r'],
      // Field counts are checked below, so that the message can name the header.
      relax_column_count: true,
      on_record: ((cells: string[], ctx: { bytes: number }): Row => {
        const end = lineOf(ctx.bytes - 1);
        const line = Math.min(startAfter(lastEnd), end);
        lastEnd = end;
        return { cells, line };
      }) as unknown as Options['on_record'],
    };
    return parse(text, options) as unknown as Row[];
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    throw new WorkloadError(`${file}:${startAfter(lastEnd)}: ${csvProblem(e)}`);
  }
}

/** csv-parse's errors in this file's words (its own name lines differently and run long). */
function csvProblem(e: CsvError): string {
  const ctx = e as CsvError & { field?: string };
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return "expected a '\"' closing the quoted field, found the end of the file";
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE': {
      const got = /got "(.)"/s.exec(e.message)?.[1];
      return `expected ',' or the end of the line after a closing '"', found ${got === undefined ? 'more text' : shown(got)}`;
    }
    case 'INVALID_OPENING_QUOTE':
      return `expected a field either wholly in quotes or without any, found ${shown(`${ctx.field ?? ''}"`)}`;
    default:
      return `malformed CSV (${e.code})`;
  }
}

/** The tasks of a CSV workload; `file` names it in messages. */
export function parseCsvWorkload(text: string, file: string): SimTask[] {
  const rows = records(text, file);
  if (rows.length === 0) {
    throw new WorkloadError(`${file}:1: expected a header row naming the columns (${COLUMNS.join(', ')}), found ${text.trim() === '' ? 'an empty file' : 'only comments'}`);
  }
  const [header, ...body] = rows;
  const index = new Map<Column, number>();
  header.cells.forEach((raw, i) => {
    const name = raw.trim();
    if (!COLUMNS.includes(name as Column)) throw new WorkloadError(`${file}:${header.line}: expected a column name (${COLUMNS.join(', ')}), found ${shown(name)}`);
    if (index.has(name as Column)) throw new WorkloadError(`${file}:${header.line}: expected each column once, found '${name}' twice`);
    index.set(name as Column, i);
  });
  for (const c of REQUIRED_COLUMNS) {
    if (!index.has(c)) throw new WorkloadError(`${file}:${header.line}: expected the header to name the columns ${REQUIRED_COLUMNS.join(', ')}, found no '${c}'`);
  }
  if (body.length === 0) throw new WorkloadError(`${file}:${header.line}: expected task rows after the header, found none`);

  const pidLines = new Map<number, number>();
  return body.map(({ cells, line }) => {
    if (cells.length !== header.cells.length) {
      throw new WorkloadError(`${file}:${line}: expected ${header.cells.length} fields, one per header column, found ${cells.length}`);
    }
    const cell = (c: Column): string => {
      const i = index.get(c);
      return i === undefined ? '' : cells[i].trim();
    };
    const failIn =
      (c: Column, where = ''): Fail =>
      (expected, found) => {
        throw new WorkloadError(`${file}:${line}: column '${c}': ${where === '' ? '' : `${where}: `}expected ${expected}, found ${found}`);
      };

    const pid = integer(cell('pid'), 1, MAX_PID, 'a pid', failIn('pid'));
    const seen = pidLines.get(pid);
    if (seen !== undefined) failIn('pid')('a pid not used before', `'${pid}', already on line ${seen}`);
    pidLines.set(pid, line);

    const task: SimTask = { pid, comm: comm(cell('comm'), failIn('comm')), arrival: 0, phases: [] };
    if (cell('nice') !== '') task.nice = integer(cell('nice'), -20, 19, 'a nice value', failIn('nice'));
    if (cell('cpus') !== '') task.cpus = cpuList(cell('cpus'), failIn('cpus'));
    if (cell('policy') !== '') task.policy = policy(cell('policy'), failIn('policy'));
    const prio = rtPriority(cell('rt_priority'), task.policy, index.has('rt_priority') ? failIn('rt_priority') : (e) => failIn('rt_priority')(e, 'no such column'));
    if (prio !== undefined) task.rtPriority = prio;
    if (cell('arrival') !== '') task.arrival = duration(cell('arrival'), failIn('arrival'));
    task.phases = new ProgramParser(cell('phases'), (where) => failIn('phases', where)).program();
    if (cell('loops') !== '') task.loops = loops(cell('loops'), failIn('loops'));
    return task;
  });
}

/** Read and parse a CSV workload file. */
export function loadCsvWorkload(path: string): SimTask[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WorkloadError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (e as Error).message})`}`);
  }
  return parseCsvWorkload(text, path);
}
