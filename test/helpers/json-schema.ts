/**
 * A small JSON Schema checker for the OpenAPI document's own schemas (the keywords TypeBox and
 * @fastify/swagger emit), so a test can check an answer against what the document declares
 * without adding a validator to the project. A keyword it does not know is an error, never
 * silently ignored: a schema it cannot fully check fails the test instead of passing it.
 */

/** A JSON Schema as the document prints it. */
export type JsonSchema = Record<string, unknown>

/** Keywords that say nothing about the value. */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$id'])

/** Where `$ref`s point: `#/components/schemas/<name>` in `root`. */
function resolve (root: JsonSchema, ref: string): JsonSchema {
  let node: unknown = root
  for (const part of ref.replace(/^#\//, '').split('/')) {
    if (typeof node !== 'object' || node === null) throw new Error(`unresolvable $ref ${ref}`)
    node = (node as Record<string, unknown>)[part]
  }
  if (typeof node !== 'object' || node === null) throw new Error(`unresolvable $ref ${ref}`)
  return node as JsonSchema
}

function typeOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value
}

/**
 * The problems of `value` against `schema` (empty: it fits), each with its path.
 * @param root - the document `$ref`s resolve in
 */
export function schemaProblems (root: JsonSchema, schema: JsonSchema, value: unknown, path = '$'): string[] {
  const problems: string[] = []
  for (const [keyword, expected] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue
    switch (keyword) {
      case '$ref': problems.push(...schemaProblems(root, resolve(root, String(expected)), value, path)); break
      case 'type': {
        const actual = typeOf(value)
        const fits = actual === expected || (expected === 'number' && actual === 'integer')
        if (!fits) problems.push(`${path}: a ${actual}, expected a ${String(expected)}`)
        break
      }
      case 'enum': if (!(expected as unknown[]).includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(expected)}`); break
      case 'anyOf': if (!(expected as JsonSchema[]).some((option) => schemaProblems(root, option, value, path).length === 0)) problems.push(`${path}: fits none of anyOf`); break
      case 'required':
        if (typeOf(value) === 'object') for (const name of expected as string[]) if (!Object.hasOwn(value as object, name)) problems.push(`${path}: ${name} is missing`)
        break
      case 'properties':
        if (typeOf(value) === 'object') {
          for (const [name, sub] of Object.entries(expected as Record<string, JsonSchema>)) {
            if (Object.hasOwn(value as object, name)) problems.push(...schemaProblems(root, sub, (value as Record<string, unknown>)[name], `${path}.${name}`))
          }
        }
        break
      case 'patternProperties':
        if (typeOf(value) === 'object') {
          for (const [pattern, sub] of Object.entries(expected as Record<string, JsonSchema>)) {
            for (const [name, item] of Object.entries(value as Record<string, unknown>)) if (new RegExp(pattern).test(name)) problems.push(...schemaProblems(root, sub, item, `${path}.${name}`))
          }
        }
        break
      case 'additionalProperties':
        if (typeOf(value) === 'object') {
          const known = new Set(Object.keys((schema.properties ?? {}) as object))
          const patterns = Object.keys((schema.patternProperties ?? {}) as object).map((pattern) => new RegExp(pattern))
          for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
            if (known.has(name) || patterns.some((pattern) => pattern.test(name))) continue
            if (expected === false) problems.push(`${path}: ${name} is not allowed`)
            else if (typeof expected === 'object' && expected !== null) problems.push(...schemaProblems(root, expected as JsonSchema, item, `${path}.${name}`))
          }
        }
        break
      case 'items':
        if (Array.isArray(value)) value.forEach((item, index) => { problems.push(...schemaProblems(root, expected as JsonSchema, item, `${path}[${index}]`)) })
        break
      case 'minItems': if (Array.isArray(value) && value.length < Number(expected)) problems.push(`${path}: fewer than ${String(expected)} items`); break
      case 'maxItems': if (Array.isArray(value) && value.length > Number(expected)) problems.push(`${path}: more than ${String(expected)} items`); break
      case 'minLength': if (typeof value === 'string' && [...value].length < Number(expected)) problems.push(`${path}: shorter than ${String(expected)}`); break
      case 'maxLength': if (typeof value === 'string' && [...value].length > Number(expected)) problems.push(`${path}: longer than ${String(expected)}`); break
      case 'pattern': if (typeof value === 'string' && !new RegExp(String(expected)).test(value)) problems.push(`${path}: does not match ${String(expected)}`); break
      case 'minimum': if (typeof value === 'number' && value < Number(expected)) problems.push(`${path}: under ${String(expected)}`); break
      case 'maximum': if (typeof value === 'number' && value > Number(expected)) problems.push(`${path}: over ${String(expected)}`); break
      default: throw new Error(`${path}: the checker does not know the keyword ${keyword}`)
    }
  }
  return problems
}
