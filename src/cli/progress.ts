// The progress line lives in src/util/progress.ts (the library's `progress: true` draws it too).
export * from '../util/progress.js';
