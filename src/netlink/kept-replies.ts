// A dump's replies kept as bytes, to be decoded later. The kernel's part of a large dump is short and
// cannot pause between receive buffers without holding the socket; decoding the replies is what takes
// long. So a reader that must give way to other work on the same socket (a periodic reconcile's read,
// when an endpoint change comes) reads the dump to its end at once, keeping the bytes, and decodes them
// in pieces between turns of the event loop. In the sandbox at 10,000 virtual services: the dump
// 0.27-0.44 s, decoding it about 0.6-1.0 s more (two boots; bench-results/ab-43).

/**
 * Reply payloads copied one after another into one buffer that grows by doubling: one object however
 * many replies, rather than a Buffer each (10,000 small Buffers alive for the whole read would be
 * promoted to the old generation, to be collected there). Each payload starts at a multiple of 4, as
 * in a datagram, so attributes inside it stay aligned as the netlink walkers expect.
 */
export class KeptReplies {
  #bytes: Buffer;
  #used = 0;
  /** Where each reply starts and ends in #bytes: [start0, end0, start1, end1, ...]. */
  #bounds: number[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.#bytes = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  /** Replies kept. */
  get count(): number {
    return this.#bounds.length >> 1;
  }

  /** Bytes held (for tests and figures). */
  get size(): number {
    return this.#used;
  }

  /** Keep a copy of buf[start, end). */
  push(buf: Buffer, start: number, end: number): void {
    const at = (this.#used + 3) & ~3;
    const need = at + (end - start);
    if (need > this.#bytes.length) {
      let n = this.#bytes.length * 2;
      while (n < need) n *= 2;
      const grown = Buffer.allocUnsafe(n);
      this.#bytes.copy(grown, 0, 0, this.#used);
      this.#bytes = grown;
    }
    buf.copy(this.#bytes, at, start, end);
    this.#used = need;
    this.#bounds.push(at, need);
  }

  /** Forget every reply (a dump read again from its start). */
  clear(): void {
    this.#used = 0;
    this.#bounds.length = 0;
  }

  /** The buffer the replies lie in: valid until the next push(). */
  get bytes(): Buffer {
    return this.#bytes;
  }

  /** Where reply `i` starts in bytes. */
  start(i: number): number {
    return this.#bounds[2 * i]!;
  }

  /** Where reply `i` ends in bytes. */
  end(i: number): number {
    return this.#bounds[2 * i + 1]!;
  }
}
