import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The project's version from its package.json, found upward from this file (source or dist). */
function readVersion(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'piper-tts-server' && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}

export const SERVICE_VERSION = readVersion();
