/**
 * Reading a module's exported types with the TypeScript compiler, as an editor does: the
 * properties of an exported type or value, the documentation an editor shows on one, its type as
 * text. The type tests of derived types (options, channel fields) use it.
 */
import ts from 'typescript'

/** What a type test reads from one compiled module. */
export interface TypeReader {
  /** The properties of an exported type (or of an exported value's type), by name. */
  propertiesOf: (name: string) => Map<string, ts.Symbol>
  /** The documentation comment and tags an editor shows on a symbol. */
  docOf: (symbol: ts.Symbol) => string
  /** A symbol's type, as the compiler prints it. */
  typeOf: (symbol: ts.Symbol) => string
}

/** A reader of `exports`, the exported symbols of a module `checker` compiled. */
export function typeReader (checker: ts.TypeChecker, exports: ReadonlyMap<string, ts.Symbol>): TypeReader {
  return {
    propertiesOf: (name) => {
      const symbol = exports.get(name)
      if (symbol === undefined) throw new Error(`${name} is not exported`)
      const type = symbol.flags & ts.SymbolFlags.Value ? checker.getTypeOfSymbol(symbol) : checker.getDeclaredTypeOfSymbol(symbol)
      return new Map(checker.getPropertiesOfType(type).map((property) => [property.name, property]))
    },
    docOf: (symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker)) +
      symbol.getJsDocTags(checker).map((tag) => ` @${tag.name} ${ts.displayPartsToString(tag.text)}`).join(''),
    typeOf: (symbol) => checker.typeToString(checker.getTypeOfSymbol(symbol))
  }
}
