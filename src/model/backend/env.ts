// The environment variables that steer the compute backends, all read here, and only by the
// thread that resolves the kernels choice (resolveKernels): worker threads, evaluation and
// prediction receive the resolved { name, isa } and read none of them. (RNN_TRAINER_NATIVE_ADDON,
// a test hook, is read wherever the addon loads.)

export const ENV = {
  /** auto | js | wasm | native: the backend, below --kernels and above train.kernels. */
  kernels: 'RNN_TRAINER_KERNELS',
  /** avx512 | avx2 | generic: the native backend's level (default: the best this CPU runs). */
  nativeIsa: 'RNN_TRAINER_NATIVE_ISA',
  /** 0: the wasm backend's plain SIMD128 binary, also where relaxed SIMD validates. */
  wasmRelaxed: 'RNN_TRAINER_WASM_RELAXED',
  /** Tests: the native addon file to load instead of the built one (a missing file stands for a failed build). */
  nativeAddon: 'RNN_TRAINER_NATIVE_ADDON',
} as const;

const read = (name: string): string | undefined => (typeof process === 'undefined' ? undefined : process.env[name]) || undefined;

/** RNN_TRAINER_KERNELS, unchecked (resolveKernels' caller checks it); undefined when unset or empty. */
export const kernelsEnv = (): string | undefined => read(ENV.kernels);

/** The ISA the environment forces on a compiled backend, or undefined (the best one). */
export function isaFromEnv(name: 'wasm' | 'native'): string | undefined {
  if (name === 'native') return read(ENV.nativeIsa);
  return read(ENV.wasmRelaxed) === '0' ? 'simd128' : undefined;
}

/** The addon file the environment names instead of the built one (tests), or undefined. */
export const nativeAddonEnv = (): string | undefined => read(ENV.nativeAddon);
