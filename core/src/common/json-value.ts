/** A value Mesh can store and replicate. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
