/**
 * @app/errors: the base class every domain error extends (engine, voice catalogue,
 * server). This file is the library's only door.
 */
export { DomainError } from './domain-error';
