import { isAbsolute, relative, resolve, sep } from 'node:path';

/** Whether `path` is `dir` or below it (both resolved against the working directory). */
export function isInside(path: string, dir: string): boolean {
  const fromDir = relative(resolve(dir), resolve(path));
  return (
    fromDir === '' || (fromDir !== '..' && !fromDir.startsWith(`..${sep}`) && !isAbsolute(fromDir))
  );
}
