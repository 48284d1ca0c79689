// Strict UTF-8: where the first invalid byte is, and whether bytes look like UTF-16 (so a message can say so
// instead of "invalid byte at 1").

/** Offset of the first byte that is not part of valid UTF-8, or the length when every byte is. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    if (need > 0) {
      const chunk = bytes.subarray(i, i + need + 1);
      if (chunk.length < need + 1) return i;
      try {
        fatal.decode(chunk);
      } catch {
        return i;
      }
    }
    i += need + 1;
  }
  return bytes.length;
}

/** The text of valid UTF-8 bytes, or the offset of the first invalid byte. */
export function decodeUtf8(bytes: Uint8Array): { text: string } | { invalidAt: number } {
  try {
    return { text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { invalidAt: firstInvalidUtf8(bytes) };
  }
}

/** "little-endian" or "big-endian" when the bytes start like UTF-16 text (a byte order mark, or ASCII with NUL bytes between), else undefined. */
export function utf16Order(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = bytes;
  if (a === 0xff && b === 0xfe) return "little-endian";
  if (a === 0xfe && b === 0xff) return "big-endian";
  if (bytes.length >= 4 && a !== 0 && a !== undefined && a < 0x80 && b === 0 && c !== 0 && d === 0) return "little-endian";
  if (bytes.length >= 4 && a === 0 && b !== 0 && b !== undefined && b < 0x80 && c === 0 && d !== 0) return "big-endian";
  return undefined;
}

export const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

export const startsWithBom = (bytes: Uint8Array): boolean => bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
