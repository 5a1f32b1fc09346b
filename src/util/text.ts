// Text that can be stored. Checkpoints, ONNX metadata and JSON reports hold text as UTF-8, and a
// lone UTF-16 surrogate (half of a pair: "\ud83d" without its "\ude00", as a JSON escape or a cut
// string can give) has no UTF-8 form: an encoder writes bytes no decoder accepts, so the file could
// not be read back. Such text is refused where it enters, naming the place.

const LONE_SURROGATE = /\p{Cs}/u; // in a /u pattern a well-formed pair is one code point, so only lone halves match

/** Index of the first lone surrogate in `s`, or -1 when `s` is well-formed UTF-16. */
export function loneSurrogateAt(s: string): number {
  const m = LONE_SURROGATE.exec(s);
  return m ? m.index : -1;
}

/** What is wrong, for a message: "a lone UTF-16 surrogate (\ud83d) at character 13". */
export function describeLoneSurrogate(s: string, at: number): string {
  const hex = s.charCodeAt(at).toString(16);
  return `a lone UTF-16 surrogate (\\u${hex}, half of an emoji or other character outside the Basic Multilingual Plane) at character ${at + 1}, which has no UTF-8 form`;
}

export const LONE_SURROGATE_FIX = 'Write the whole character (both halves of the pair, e.g. "\\ud83d\\ude00" for 😀) or remove it.';
