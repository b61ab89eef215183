/**
 * How a tunable is written down, once: its type and bounds (a TypeBox schema), its default, its
 * unit and its description. From that one entry come the validation of a plugin option, the
 * parsing and validation of the same setting from an environment variable (the demo server's),
 * the error message that says what is expected, and the rows of the docs' tables and of
 * `.env.example`. So a value can never pass one check and fail the other.
 */
import { Kind, Type, TypeRegistry, type Static, type TInteger, type TLiteral, type TSchema, type TUnion, type TUnsafe } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'

/** A schema kind for values JSON Schema cannot describe (functions, objects with methods): checked by {@link Tunable.validate}. */
const OPAQUE = 'FastifyRealtimeOpaque'
if (!TypeRegistry.Has(OPAQUE)) TypeRegistry.Set(OPAQUE, () => true)

/**
 * The schema of a value JSON Schema cannot describe; a tunable with it needs a `validate`.
 * `T` is what the application passes (the option's type, {@link InputOf}).
 */
export function opaque<T = unknown> (): TUnsafe<T> {
  return Type.Unsafe<T>({ [Kind]: OPAQUE })
}

/** Each of `A` and `B` is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

/**
 * A schema whose value the application writes as `T`, a documented interface of its own (the
 * `api` option's `ApiOptions`), where the schema's own static type would be an anonymous copy of
 * it. Compiles only when `T` and the schema's static type are the same, so the interface (its
 * documentation) and the schema (its checks) cannot drift apart.
 */
export function typedAs<T, S extends TSchema> (schema: S & (Same<T, Static<S>> extends true ? unknown : 'the interface and the schema describe different values')): TUnsafe<T> {
  return schema as TSchema as TUnsafe<T>
}

/** The part of a tunable that a seam helper fills: its schema (typed as what it takes) and its check. */
export interface Checked<T, S extends TSchema = TUnsafe<T>> {
  readonly schema: S
  readonly validate: (value: unknown) => { value: T } | { problem: string }
}

/** A tunable whose value is a function (a hook), of type `F`: checked with `typeof`, as JSON Schema cannot. */
export function aFunction<F> (): Checked<F> {
  return {
    schema: opaque<F>(),
    validate: (value) => typeof value === 'function' ? { value: value as F } : { problem: `expected a function, got ${typeof value}` }
  }
}

/** A tunable whose value implements a seam `T`: an object with each of `methods`. */
export function implementing<T extends object> (what: string, methods: readonly string[]): Checked<T> {
  return {
    schema: opaque<T>(),
    validate: (value) => {
      if (typeof value !== 'object' || value === null) return { problem: `expected an object implementing ${what}` }
      const missing = methods.filter((method) => typeof (value as Record<string, unknown>)[method] !== 'function')
      return missing.length > 0 ? { problem: `missing method(s) ${missing.join(', ')}` } : { value: value as T }
    }
  }
}

/** One tunable. `T` is the type of its resolved value. */
export interface Tunable<T = unknown> {
  /** Type and bounds, as a TypeBox schema (integers, booleans, strings, arrays of strings), or {@link opaque}. */
  readonly schema: TSchema
  /** The value when none is given. */
  readonly default: T
  /** What one line of docs says it does. */
  readonly description: string
  /** More to say in `.env.example` (how to choose a value, what happens past it). */
  readonly details?: string
  /** The unit of a number, as words (`milliseconds`, `bytes`, `per second`); the name carries it too. */
  readonly unit?: string
  /** How the docs show the default, when it is not a plain value. */
  readonly defaultText?: string
  /** What a valid value is, in words, when the schema alone cannot say it (a pattern, a list). */
  readonly expected?: string
  /**
   * Checks the schema cannot express, and the normal form of the value (e.g. origins as
   * `URL.origin`). Returns the resolved value, or a string that says what is wrong with it.
   */
  readonly validate?: (value: unknown) => { value: T } | { problem: string }
  /** The demo server reads it from this environment variable ({@link envName} of the option, or its own). */
  readonly env?: string
  /** A credential (or a URL that may carry one): a message never repeats its value. */
  readonly secret?: boolean
  /** The heading it is listed under in `.env.example` and the docs' tables. */
  readonly group?: string
}

/** A set of tunables by name. */
export type Tunables = Readonly<Record<string, Tunable>>

/** Read-only arrays where the schema says array: an application may pass a frozen list. */
type Loosened<T> = [T] extends [Array<infer E>] ? readonly E[] : T

/**
 * What an application may pass for a tunable: its schema's static type (an {@link opaque} or
 * {@link typedAs} schema carries the option's own type), arrays read-only.
 */
export type InputOf<R> = R extends { readonly schema: infer S extends TSchema } ? Loosened<Static<S>> : never

/** The value of `{ value } | { problem }` (a validate's answer). */
type ValueOf<Answer> = Answer extends { value: infer T } ? T : never

/** A value a tunable takes when one is given: what its `validate` answers (the normal form), else what its schema describes. */
type OwnValue<R> = R extends { readonly validate: (value: unknown) => infer Answer } ? ValueOf<Answer> : InputOf<R>

/** The value a tunable resolves to: {@link OwnValue}, or its default when none is given (`undefined`: unset). */
export type ResolvedOf<R> = R extends { readonly default: infer D } ? OwnValue<R> | Exclude<D, OwnValue<R>> : never

/**
 * A tunable as a row of an option table: `I` is what an application passes for it, `T` what it
 * resolves to. The option types are derived from these two ({@link OptionsOf}).
 */
export interface Option<I, T> extends Tunable<T> {
  readonly schema: TUnsafe<I>
}

/** An {@link Option} the demo server also reads from an environment variable (its `env`). */
export interface EnvOption<I, T> extends Option<I, T> {
  readonly env: string
}

/** Whether a row's default is a value of its own type (`undefined`, for unset, always is). */
type DefaultFits<R> = R extends { readonly default: infer D } ? ([D] extends [OwnValue<R> | undefined] ? true : false) : false

/**
 * A row of an option table, typed by what it takes (its schema's static type, {@link InputOf})
 * and what it resolves to ({@link ResolvedOf}). A row whose default is not a value of its own type
 * does not compile.
 */
export function option<R extends Tunable> (row: R & (DefaultFits<R> extends true ? unknown : 'its default is not a value of its own type')): RowOf<R> {
  // The row is unchanged: only its type is narrowed to the two types it was inferred to have.
  return row as Tunable as RowOf<R>
}

/** The type {@link option} gives a row: an {@link EnvOption} when it names a variable. */
type RowOf<R> = R extends { readonly env: string } ? EnvOption<InputOf<R>, ResolvedOf<R>> : Option<InputOf<R>, ResolvedOf<R>>

/**
 * The options an application writes, derived from a table of {@link option} rows: each key
 * optional, of the type its row takes. A homomorphic mapped type, so an editor shows each option
 * with the documentation comment written on its row.
 */
export type OptionsOf<Table> = { -readonly [K in keyof Table]?: Table[K] extends Option<infer I, unknown> ? I : never }

/** The options once resolved, derived from the same table: every key present, read-only, of the type its row resolves to. */
export type ResolvedOptionsOf<Table> = { readonly [K in keyof Table]: Table[K] extends Option<unknown, infer T> ? T : never }

/**
 * Why a value was refused: `problem` says what is wrong, in words that name no option; `got` is
 * how the refused value is shown, when the problem is its type or bounds (a message may add it).
 */
export class TunableProblem {
  constructor (readonly problem: string, readonly got?: string) {}

  /** The problem with the refused value, as a plugin option's message says it. */
  toString (): string {
    return this.got === undefined ? this.problem : `${this.problem}, got ${this.got}`
  }
}

const checks = new WeakMap<TSchema, TypeCheck<TSchema>>()

function checkerOf (schema: TSchema): TypeCheck<TSchema> {
  let check = checks.get(schema)
  if (check === undefined) {
    check = TypeCompiler.Compile(schema)
    checks.set(schema, check)
  }
  return check
}

interface SchemaShape {
  [Kind]?: string
  type?: string
  const?: unknown
  minimum?: number
  maximum?: number
  anyOf?: SchemaShape[]
  items?: SchemaShape
}

/** What a schema accepts, in words: `0 or an integer from 10 to 86400000`. */
function describeSchema (schema: SchemaShape): string {
  if (schema.anyOf !== undefined) return schema.anyOf.map(describeSchema).join(' or ')
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  switch (schema.type) {
    case 'integer': return `an integer from ${schema.minimum ?? '-∞'} to ${schema.maximum ?? '∞'}`
    case 'number': return `a number from ${schema.minimum ?? '-∞'} to ${schema.maximum ?? '∞'}`
    case 'boolean': return 'true or false'
    case 'string': return 'a string'
    case 'array': return `a list of ${describeSchema(schema.items ?? {})}s`
    default: return 'a valid value'
  }
}

/** What a valid value of `tunable` is, in words, with its unit: what an error message says is expected. */
export function expectation (tunable: Tunable): string {
  const words = tunable.expected ?? describeSchema(tunable.schema as SchemaShape)
  return tunable.unit === undefined ? words : `${words} (${tunable.unit})`
}

/** How a refused value is shown in a message. */
function shown (value: unknown): string {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return 'an object'
  return JSON.stringify(value) ?? String(value)
}

/**
 * The value a tunable resolves to.
 * @param value - what was given (undefined: the default)
 * @returns the resolved value, or a {@link TunableProblem} that says what is wrong (the caller names the option)
 */
export function resolveTunable<T> (tunable: Tunable<T>, value: unknown): T | TunableProblem {
  if (value === undefined) return tunable.default
  const checker = checkerOf(tunable.schema)
  if (!checker.Check(value)) {
    // Inside an object, say where: `keys/0/key: Expected string length greater or equal to 32`.
    const first = checker.Errors(value).First()
    const where = first !== undefined && first.path !== '' ? ` (at ${first.path.slice(1)}: ${first.message.toLowerCase()})` : ''
    return new TunableProblem(`expected ${expectation(tunable)}${where}`, tunable.secret === true ? 'a value that does not fit' : shown(value))
  }
  if (tunable.validate === undefined) return value as T
  const result = tunable.validate(value)
  return 'problem' in result ? new TunableProblem(result.problem) : result.value
}

/** The environment variable of an option: `tickIntervalMs` → `TICK_INTERVAL_MS`. */
export function envName (option: string): string {
  return option.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
}

function acceptsInteger (schema: SchemaShape): boolean {
  return schema.type === 'integer' || (schema.anyOf?.some(acceptsInteger) ?? false) || typeof schema.const === 'number'
}

/**
 * Turn an environment variable's text into the value its tunable's schema describes: integers
 * from decimal digits, booleans from `true`/`false`, lists from comma-separated entries. A text
 * that is none of those stays a string, so the schema check refuses it with the usual message.
 */
export function fromEnvText (tunable: Tunable, text: string): unknown {
  const schema = tunable.schema as SchemaShape
  if (acceptsInteger(schema)) return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text
  if (schema.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text
  if (schema.type === 'array') return text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  return text
}

/** How a default is shown in docs and in `.env.example`. */
export function defaultShown (tunable: Tunable): string {
  if (tunable.defaultText !== undefined) return tunable.defaultText
  const value = tunable.default
  if (Array.isArray(value)) return value.join(',')
  return value === undefined ? '' : String(value)
}

/** An hour and a day, in milliseconds (bounds of time options). */
export const HOUR_MS = 60 * 60 * 1000
export const DAY_MS = 24 * HOUR_MS
/** The largest rate any option takes (per second, or the API's per window). */
export const MAX_RATE = 1_000_000

/** An integer option's schema, within its bounds. */
export const integer = (minimum: number, maximum: number): TInteger => Type.Integer({ minimum, maximum })

/** 0 (off) or an integer within the bounds. */
export const offOr = (minimum: number, maximum: number): TUnion<[TLiteral<0>, TInteger]> => Type.Union([Type.Literal(0), integer(minimum, maximum)])
