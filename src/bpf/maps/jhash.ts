/**
 * Bob Jenkins' lookup3 hash as the kernel's <linux/jhash.h> defines it: jhash() over bytes and
 * jhash2() over u32 words. The bloom filter's bit positions are jhash values, so they must be the
 * kernel's bit for bit. Words are read little-endian (__get_unaligned_cpu32 on x86-64), which
 * makes jhash2(words, n, seed) equal jhash(bytes, 4n, seed).
 *
 * Everything is u32 arithmetic on JS numbers: `| 0` after each add/sub keeps 32 bits, `>>> 0`
 * gives the unsigned result. No allocation.
 */

export const JHASH_INITVAL = 0xdeadbeef;

const rol = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

// Mixing state is passed through module-level variables instead of an array or object, so a hash
// allocates nothing. (Single-threaded: nothing else runs between the writes and reads.)
let A = 0;
let B = 0;
let C = 0;

/** __jhash_mix(a, b, c). */
function mix(): void {
  let a = A;
  let b = B;
  let c = C;
  a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
  A = a;
  B = b;
  C = c;
}

/** __jhash_final(a, b, c): the result is in C. */
function final(): void {
  let a = A;
  let b = B;
  let c = C;
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  A = a;
  B = b;
  C = c;
}

const u32le = (k: Uint8Array, i: number): number => k[i] | (k[i + 1] << 8) | (k[i + 2] << 16) | (k[i + 3] << 24);

/** jhash(key, length, initval) over `length` bytes of `bytes` starting at `off`. */
export function jhash(bytes: Uint8Array, off: number, length: number, initval: number): number {
  A = B = C = (JHASH_INITVAL + length + initval) | 0;
  let k = off;
  let n = length;
  while (n > 12) {
    A = (A + u32le(bytes, k)) | 0;
    B = (B + u32le(bytes, k + 4)) | 0;
    C = (C + u32le(bytes, k + 8)) | 0;
    mix();
    n -= 12;
    k += 12;
  }
  // The last 1..12 bytes go little-endian into a, b, c: the kernel's fall-through switch, written
  // as a cascade of ifs (each case also runs every smaller one). Nothing left: no final mix.
  if (n === 0) return C >>> 0;
  if (n >= 12) C = (C + (bytes[k + 11] << 24)) | 0;
  if (n >= 11) C = (C + (bytes[k + 10] << 16)) | 0;
  if (n >= 10) C = (C + (bytes[k + 9] << 8)) | 0;
  if (n >= 9) C = (C + bytes[k + 8]) | 0;
  if (n >= 8) B = (B + (bytes[k + 7] << 24)) | 0;
  if (n >= 7) B = (B + (bytes[k + 6] << 16)) | 0;
  if (n >= 6) B = (B + (bytes[k + 5] << 8)) | 0;
  if (n >= 5) B = (B + bytes[k + 4]) | 0;
  if (n >= 4) A = (A + (bytes[k + 3] << 24)) | 0;
  if (n >= 3) A = (A + (bytes[k + 2] << 16)) | 0;
  if (n >= 2) A = (A + (bytes[k + 1] << 8)) | 0;
  A = (A + bytes[k]) | 0;
  final();
  return C >>> 0;
}

/** jhash2(k, length, initval) over `words` little-endian u32 words of `bytes` starting at `off`. */
export function jhash2(bytes: Uint8Array, off: number, words: number, initval: number): number {
  A = B = C = (JHASH_INITVAL + (words << 2) + initval) | 0;
  let k = off;
  let n = words;
  while (n > 3) {
    A = (A + u32le(bytes, k)) | 0;
    B = (B + u32le(bytes, k + 4)) | 0;
    C = (C + u32le(bytes, k + 8)) | 0;
    mix();
    n -= 3;
    k += 12;
  }
  if (n === 0) return C >>> 0;
  if (n >= 3) C = (C + u32le(bytes, k + 8)) | 0;
  if (n >= 2) B = (B + u32le(bytes, k + 4)) | 0;
  A = (A + u32le(bytes, k)) | 0;
  final();
  return C >>> 0;
}
