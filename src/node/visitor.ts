/** Who is on a socket, as the application identified them from the upgrade request. */
export interface Visitor {
  /** Stable id of the visitor (e.g. kept in their session). */
  id: string
  /** Display name, when the visitor has set one. */
  name?: string | undefined
}
