/**
 * One Jest run for unit specs (beside the code) and e2e specs (test/), in a node
 * environment that shares Node's typed arrays with onnxruntime-node (see
 * test/jest-node-environment.js).
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
    '^@app/audio-formats(|/.*)$': '<rootDir>/libs/audio-formats/src$1',
    '^@app/voice-catalogue(|/.*)$': '<rootDir>/libs/voice-catalogue/src$1',
    '^@app/ssml(|/.*)$': '<rootDir>/libs/ssml/src$1',
    '^@app/errors(|/.*)$': '<rootDir>/libs/errors/src$1',
  },
  testTimeout: 60000,
};
