/**
 * One Jest run for unit specs (beside the code) and e2e specs (test/).
 * The espeak-ng build is an ES module loaded with a native dynamic import, which
 * Jest only allows under --experimental-vm-modules (set by `npm test`).
 */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: '<rootDir>/test/jest-node-environment.js',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
  },
  moduleNameMapper: {
    '^@app/piper(|/.*)$': '<rootDir>/libs/piper/src$1',
  },
  testTimeout: 60000,
};
