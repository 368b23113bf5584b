// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'eslint.config.mjs',
      'jest.config.js',
      'test/jest-node-environment.js',
      // The web page's browser script: plain JS outside the TypeScript project.
      'apps/tts-server/src/web/public/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The libraries are plain TypeScript that a CLI, a worker and the server share:
    // they never import an app, nor Nest, nor another library's inner files.
    files: ['libs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', '@nestjs/**'],
              message: 'libs/ are free of Nest: put Nest code in apps/tts-server.',
            },
            {
              group: ['**/apps/**', 'apps/**'],
              message: 'libs/ never import apps/: move what both need into a library.',
            },
            {
              group: ['@app/*/*', '**/libs/*/src/**'],
              message: "Import a library through its index.ts ('@app/<lib>'), not its inner files.",
            },
          ],
        },
      ],
    },
  },
  {
    // The worker pool stays a place a newcomer can read (issue 15): no file of the engine
    // over 500 lines, and engine-pool.ts, the public API and the dispatch loop, under 400.
    files: ['apps/tts-server/src/engine/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 500 }] },
  },
  {
    files: ['apps/tts-server/src/engine/engine-pool.ts'],
    rules: { 'max-lines': ['error', { max: 399 }] },
  },
  {
    // supertest and JSON.parse hand tests untyped bodies; asserting on them is the point.
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
