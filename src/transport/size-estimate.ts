// The queue bound is in bytes, but encoding every payload on enqueue just to learn its size would
// double the encoding work. This walks the value instead and approximates its msgpack size: byte
// arrays and strings count at full length (they dominate real payloads), everything else at a
// small fixed overhead. Only the bound's accuracy depends on it, never correctness.

const MAX_DEPTH = 8;
const SCALAR_BYTES = 9; // a float64 plus its tag: the worst case for a number
const CONTAINER_BYTES = 5;

export function estimateSize(value: unknown): number {
  return estimate(value, 0);
}

function estimate(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return value.length + CONTAINER_BYTES;
    case 'object': {
      if (value === null) return 1;
      if (ArrayBuffer.isView(value)) return value.byteLength + CONTAINER_BYTES;
      if (depth >= MAX_DEPTH) return SCALAR_BYTES; // deeper structure is rare in messages; undercount it
      let size = CONTAINER_BYTES;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) size += estimate(value[i], depth + 1);
        return size;
      }
      for (const key in value) size += key.length + 1 + estimate((value as Record<string, unknown>)[key], depth + 1);
      return size;
    }
    default:
      return SCALAR_BYTES;
  }
}
