/**
 * Several encoders are published as ES modules only. This CommonJS code loads them with
 * Node's own `require` (Node >= 20.19 loads ES modules with it), reached through
 * `process.getBuiltinModule` so that Node's loader runs even inside Jest's module
 * sandbox, which cannot load ES modules itself. Modules loaded this way are shared by
 * the whole process.
 */
export function requireNative<T>(specifier: string): T {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename)(specifier) as T;
}

/** Resolves a package's entry the way Node's `require` would, without loading it. */
export function resolveNative(specifier: string): string {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename).resolve(specifier);
}
