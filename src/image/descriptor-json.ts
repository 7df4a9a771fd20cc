// A content descriptor read from JSON (a manifest's config and layers, from a layout or a registry): one
// check for every reader, each of which words the failure its own way.
import { asObject, stringField, stringRecord } from '../json.js';
import { isDigest } from './digest.js';
import type { Descriptor } from './types.js';

/** The descriptor `value` holds, or what is wrong with it (to follow the name of what was read). */
export function descriptorOf(value: unknown): { descriptor: Descriptor } | { problem: string } {
  const v = asObject(value);
  const mediaType = stringField(v, 'mediaType');
  const digest = stringField(v, 'digest');
  if (mediaType === undefined || digest === undefined || !isDigest(digest)) {
    return { problem: 'is not a descriptor with a mediaType and a sha256 digest' };
  }
  const size = v?.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return { problem: 'has no valid size' };
  const annotations = stringRecord(v?.annotations);
  return { descriptor: { mediaType, digest, size, ...(annotations ? { annotations } : {}) } };
}
