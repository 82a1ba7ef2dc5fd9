/**
 * The subset of Drive's search language (`q` of files.list) that rclone's drive backend sends:
 *
 *   trashed=false and ('<id>' in parents) and (name='s0.bin')
 *   trashed=false and ('<a>' in parents or '<b>' in parents) and (mimeType='…folder' or mimeType='…shortcut')
 *
 * Terms: `'<id>' in parents`, `name = | != '<string>'`, `mimeType = | != '<string>'`,
 * `trashed = | != true|false`; joined by `and` / `or` (`and` binds tighter) and parentheses.
 * Strings escape `'` and `\` with a backslash. Anything else — `contains`, `not`, other fields
 * such as `starred` or `sharedWithMe` — is refused with a 400 naming it, never ignored: a
 * silently widened query would make rclone see files that are not there.
 *
 * `name =` compares case-insensitively, as Drive does (rclone re-checks the case itself).
 */
import { driveErrors } from './drive-errors.js';
import type { DriveFile } from './drive-store.js';

/** What a term needs to know about a file beyond its own fields. */
export interface QueryContext {
  isTrashed(file: DriveFile): boolean;
  isChildOf(file: DriveFile, folderId: string): boolean;
}

export type FileFilter = (file: DriveFile, context: QueryContext) => boolean;

type Token =
  | { kind: 'string'; value: string; at: number }
  | { kind: 'word'; value: string; at: number }
  /** Comparison operators; only `=` and `!=` are supported, the others are tokens so a refusal can name them. */
  | { kind: 'op'; value: string; at: number }
  | { kind: 'paren'; value: '(' | ')'; at: number };

/** Parses a `q` parameter into a filter; throws Drive's 400 `invalid` for anything unsupported. */
export function compileQuery(q: string): FileFilter {
  const parser = new Parser(q, tokenize(q));
  const filter = parser.orExpression();
  parser.expectEnd();
  return filter;
}

function tokenize(q: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < q.length) {
    const char = q[at]!;
    if (/\s/.test(char)) {
      at++;
    } else if (char === '(' || char === ')') {
      tokens.push({ kind: 'paren', value: char, at });
      at++;
    } else if (/[=!<>]/.test(char)) {
      const op = /^(?:!=|<=|>=|=|<|>)/.exec(q.slice(at))?.[0];
      if (op === undefined) throw driveErrors.invalidQuery(`unexpected '${char}' at ${at}`);
      tokens.push({ kind: 'op', value: op, at });
      at += op.length;
    } else if (char === "'") {
      const start = at;
      let value = '';
      for (at++; q[at] !== "'"; at++) {
        if (at >= q.length) throw driveErrors.invalidQuery(`unterminated string at ${start}`);
        if (q[at] === '\\') at++;
        if (at >= q.length) throw driveErrors.invalidQuery(`unterminated string at ${start}`);
        value += q.charAt(at);
      }
      at++;
      tokens.push({ kind: 'string', value, at: start });
    } else if (/[A-Za-z_]/.test(char)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(at))![0];
      tokens.push({ kind: 'word', value: word, at });
      at += word.length;
    } else {
      throw driveErrors.invalidQuery(`unexpected '${char}' at ${at}`);
    }
  }
  return tokens;
}

class Parser {
  #next = 0;

  constructor(
    private readonly q: string,
    private readonly tokens: readonly Token[],
  ) {}

  orExpression(): FileFilter {
    const alternatives = [this.#andExpression()];
    while (this.#acceptKeyword('or')) alternatives.push(this.#andExpression());
    return alternatives.length === 1 ? alternatives[0]! : (file, context) => alternatives.some((filter) => filter(file, context));
  }

  expectEnd(): void {
    const token = this.tokens[this.#next];
    if (token) throw this.#unsupported(token);
  }

  #andExpression(): FileFilter {
    const conjuncts = [this.#primary()];
    while (this.#acceptKeyword('and')) conjuncts.push(this.#primary());
    return conjuncts.length === 1 ? conjuncts[0]! : (file, context) => conjuncts.every((filter) => filter(file, context));
  }

  #primary(): FileFilter {
    const token = this.#take();
    if (token.kind === 'paren' && token.value === '(') {
      const inner = this.orExpression();
      const close = this.#take();
      if (close.kind !== 'paren' || close.value !== ')') throw this.#unsupported(close);
      return inner;
    }
    if (token.kind === 'string') {
      const folderId = token.value;
      if (!this.#acceptKeyword('in')) throw this.#unsupported(this.#peekOrEnd());
      const field = this.#take();
      if (field.kind !== 'word' || field.value !== 'parents') throw this.#unsupported(field);
      return (file, context) => context.isChildOf(file, folderId);
    }
    if (token.kind === 'word') return this.#comparison(token.value, token);
    throw this.#unsupported(token);
  }

  /** `<field> = | != <value>` for the fields rclone filters on. */
  #comparison(field: string, fieldToken: Token): FileFilter {
    const op = this.#take();
    if (op.kind !== 'op' || (op.value !== '=' && op.value !== '!=')) throw this.#unsupported(fieldToken);
    const value = this.#take();
    const negate = op.value === '!=';
    let test: FileFilter;
    if (field === 'name' && value.kind === 'string') {
      const wanted = value.value.toLowerCase();
      test = (file) => file.name.toLowerCase() === wanted;
    } else if (field === 'mimeType' && value.kind === 'string') {
      const wanted = value.value;
      test = (file) => file.mimeType === wanted;
    } else if (field === 'trashed' && value.kind === 'word' && (value.value === 'true' || value.value === 'false')) {
      const wanted = value.value === 'true';
      test = (file, context) => context.isTrashed(file) === wanted;
    } else {
      throw this.#unsupported(fieldToken);
    }
    return negate ? (file, context) => !test(file, context) : test;
  }

  #acceptKeyword(keyword: string): boolean {
    const token = this.tokens[this.#next];
    if (token?.kind !== 'word' || token.value.toLowerCase() !== keyword) return false;
    this.#next++;
    return true;
  }

  #take(): Token {
    const token = this.#peekOrEnd();
    this.#next++;
    return token;
  }

  #peekOrEnd(): Token {
    const token = this.tokens[this.#next];
    if (!token) throw driveErrors.invalidQuery(`query ends early: ${this.q}`);
    return token;
  }

  #unsupported(token: Token): Error {
    return driveErrors.invalidQuery(`the stand-in does not support '${this.q.slice(token.at, token.at + 40)}' (at ${token.at}) in: ${this.q}`);
  }
}
