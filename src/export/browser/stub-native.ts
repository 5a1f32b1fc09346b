// The page's stand-in for src/model/backend/native.ts (a Node-API addon cannot load in a browser):
// the backend choice then falls to the wasm kernels. Substituted by the page bundler (../html.ts).

import type { RawFactory } from '../../model/backend/raw.js';

export type NativeIsa = 'avx512' | 'avx2' | 'generic';

export function nativeAddonPath(): string | null {
  return null;
}

export function nativeIsas(): NativeIsa[] {
  return [];
}

export function nativeFactory(_isa?: NativeIsa): RawFactory | { error: string } {
  return { error: 'the native kernels do not run in a browser' };
}
