/**
 * BPF_MAP_TYPE_RINGBUF (kernel/bpf/ringbuf.c) and its user-space consumer (libbpf ringbuf.c).
 *
 * The data area is max_entries bytes (a power of two, a multiple of the 4 KiB page). Positions
 * only grow; a position's byte is at `pos % size`. A record is an 8-byte header then the sample,
 * padded so every record starts 8-byte aligned:
 *   u32 len     sample length, | BUSY (reserved, not yet committed), | DISCARD (committed, skip)
 *   u32 pg_off  the kernel's page offset of the header, used to find the map from a sample; here
 *               the header's page index within the data area (consumers ignore it).
 *
 * reserve() (the kernel's __bpf_ringbuf_reserve) first advances pending_pos over records already
 * committed, then fails (NULL) unless the new producer position stays within size - 1 bytes of
 * both the consumer position and the oldest uncommitted record. Since records are multiples of 8,
 * at most size - 8 bytes are ever outstanding: a record as big as the whole ring never fits.
 * Records are committed in any order but consumed strictly in reservation order: the consumer
 * stops at the first record still BUSY.
 *
 * Wrap-around. The kernel maps the data pages twice, back to back, so a record that starts near
 * the end continues contiguously into the second mapping, which is the start of the same pages;
 * a program and a consumer both see one contiguous sample. We cannot alias memory, so the data
 * region is 2 * size bytes and the upper half plays the second mapping: a record is written
 * contiguously at `data + pos % size`, possibly running into the upper half. To make that half
 * behave as an alias, reserve() copies the lower half's bytes under the record's overflow into
 * the upper half (so bytes the program leaves unwritten hold what the kernel's would), and commit
 * copies the overflow back down to the start (so the ring's first bytes hold what the kernel's
 * would). Between the two, no one else can touch those bytes: space accounting keeps every other
 * live record off them. The consumer reads the sample contiguously, exactly as libbpf does over
 * its double mapping, and gets the same bytes the kernel would show it.
 */
import {
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  BPF_RINGBUF_HDR_SZ,
  BpfMap,
  EAGAIN,
  EINVAL,
  KERNEL_PAGE_SIZE,
  NO_KEY,
  RINGBUF_MAX_RECORD_SZ,
  copyBytes,
  roundUp8,
  type MapEntry,
  type MapEnv,
  type MapSpec,
} from './map.ts';

const LEN_MASK = 0x3fff_ffff;

export class RingBufMap extends BpfMap {
  /** Data area size (max_entries). */
  readonly ringSize: number;
  /** Address of the data area; the region is twice as long (see the wrap-around note). */
  readonly data: number;
  private consumerPos = 0;
  private producerPos = 0;
  private pendingPos = 0;
  /**
   * How many times the kernel would have woken a waiting consumer (irq_work queued): a commit
   * with BPF_RB_FORCE_WAKEUP, or one of the record the consumer is waiting at, unless
   * BPF_RB_NO_WAKEUP.
   */
  wakeups = 0;

  constructor(spec: MapSpec, env: MapEnv) {
    super(spec, env);
    this.ringSize = spec.maxEntries;
    this.data = env.mem.alloc(`map ${spec.name} ring`, 2 * spec.maxEntries, { align: 8 }).start;
  }

  /** Whether `addr` lies in this ring's data area (both halves): which ring a sample is from. */
  contains(addr: number): boolean {
    return addr >= this.data && addr < this.data + 2 * this.ringSize;
  }

  get consumerPosition(): number {
    return this.consumerPos;
  }

  get producerPosition(): number {
    return this.producerPos;
  }

  // -- kernel side ------------------------------------------------------------------------------

  /** bpf_ringbuf_reserve: the sample's address, or 0 (no space, bad size, or any flag set). */
  override reserve(size: number, flags: number): number {
    if (flags !== 0) return 0;
    if (!(size >= 0 && size <= RINGBUF_MAX_RECORD_SZ)) return 0;
    const len = roundUp8(size + BPF_RINGBUF_HDR_SZ);
    const ring = this.ringSize;
    if (len > ring) return 0;
    const view = this.mem.view;
    const prod = this.producerPos;
    // Skip over records committed since the last reservation to find the oldest still busy.
    let pend = this.pendingPos;
    while (pend < prod) {
      const hdrLen = view.getUint32(this.data + (pend % ring), true);
      if (hdrLen & BPF_RINGBUF_BUSY_BIT) break;
      pend += roundUp8((hdrLen & LEN_MASK) + BPF_RINGBUF_HDR_SZ);
    }
    this.pendingPos = pend;
    const next = prod + len;
    if (next - this.consumerPos > ring - 1 || next - pend > ring - 1) return 0;
    const off = prod % ring;
    const end = off + len;
    if (end > ring) {
      // The record wraps: seed the upper half with what the second mapping would show.
      this.mem.bytes.copyWithin(this.data + ring, this.data, this.data + (end - ring));
    }
    const hdr = this.data + off;
    view.setUint32(hdr, (size | BPF_RINGBUF_BUSY_BIT) >>> 0, true);
    view.setUint32(hdr + 4, Math.floor(off / KERNEL_PAGE_SIZE), true);
    this.producerPos = next;
    return hdr + BPF_RINGBUF_HDR_SZ;
  }

  /** bpf_ringbuf_submit: 0. */
  override submit(sampleAddr: number, flags: number): number {
    this.commit(sampleAddr, flags, false);
    return 0;
  }

  /** bpf_ringbuf_discard: the record is consumed like any other but never delivered. */
  override discard(sampleAddr: number, flags: number): number {
    this.commit(sampleAddr, flags, true);
    return 0;
  }

  /** bpf_ringbuf_output: reserve, copy `size` bytes from `dataAddr`, submit. 0 or -errno. */
  override output(dataAddr: number, size: number, flags: number): number {
    if (!(flags >= 0 && flags <= (BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))) return -EINVAL;
    const rec = this.reserve(size, 0);
    if (rec === 0) return -EAGAIN;
    const bytes = this.mem.bytes;
    copyBytes(bytes, rec, bytes, dataAddr, size);
    this.commit(rec, flags, false);
    return 0;
  }

  /** bpf_ringbuf_query. */
  override query(flag: number): number {
    switch (flag) {
      case BPF_RB_AVAIL_DATA:
        return this.producerPos - this.consumerPos;
      case BPF_RB_RING_SIZE:
        return this.ringSize;
      case BPF_RB_CONS_POS:
        return this.consumerPos;
      case BPF_RB_PROD_POS:
        return this.producerPos;
      default:
        return 0;
    }
  }

  // -- user side: libbpf's ring_buffer__consume ------------------------------------------------

  /**
   * Deliver committed records in order, each as a copy of its sample, until the ring is empty,
   * a record is still being written, or `max` were delivered. Discarded records are skipped (and
   * not counted). Returns how many were delivered. The consumer position advances after each
   * callback, as libbpf does, so space frees up record by record.
   */
  consume(cb: (data: Uint8Array) => void, max = Infinity): number {
    let cons = this.consumerPos;
    let n = 0;
    let progressed = true;
    while (progressed) {
      progressed = false;
      const prod = this.producerPos;
      while (cons < prod) {
        const hdr = this.data + (cons % this.ringSize);
        const len = this.mem.view.getUint32(hdr, true);
        if (len & BPF_RINGBUF_BUSY_BIT) return n;
        progressed = true;
        const size = len & LEN_MASK;
        cons += roundUp8(size + BPF_RINGBUF_HDR_SZ);
        if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
          const start = hdr + BPF_RINGBUF_HDR_SZ;
          cb(this.mem.bytes.slice(start, start + size));
          n++;
        }
        this.consumerPos = cons;
        if (n >= max) return n;
      }
    }
    return n;
  }

  /** Consume everything available and return the samples. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.consume((d) => out.push(d));
    return out;
  }

  /** Committed, undiscarded records not yet consumed, without consuming them. */
  override dump(): MapEntry[] {
    const out: MapEntry[] = [];
    for (let pos = this.consumerPos; pos < this.producerPos; ) {
      const hdr = this.data + (pos % this.ringSize);
      const len = this.mem.view.getUint32(hdr, true);
      if (len & BPF_RINGBUF_BUSY_BIT) break;
      const size = len & LEN_MASK;
      if (!(len & BPF_RINGBUF_DISCARD_BIT)) out.push({ key: NO_KEY, value: this.mem.bytes.slice(hdr + 8, hdr + 8 + size) });
      pos += roundUp8(size + BPF_RINGBUF_HDR_SZ);
    }
    return out;
  }

  // -- internals --------------------------------------------------------------------------------

  /** bpf_ringbuf_commit: clear BUSY (set DISCARD), then decide whether to wake the consumer. */
  private commit(sampleAddr: number, flags: number, discard: boolean): void {
    const hdr = sampleAddr - BPF_RINGBUF_HDR_SZ;
    const off = hdr - this.data;
    const view = this.mem.view;
    // The verifier only lets a program commit a pointer it reserved, once; anything else here is
    // a simulator or helper bug.
    if (off < 0 || off >= this.ringSize || off % 8 !== 0 || !(view.getUint32(hdr, true) & BPF_RINGBUF_BUSY_BIT)) {
      throw this.error(`0x${sampleAddr.toString(16)} is not a reserved, uncommitted record`, EINVAL);
    }
    const hdrLen = view.getUint32(hdr, true);
    const end = off + roundUp8((hdrLen & LEN_MASK) + BPF_RINGBUF_HDR_SZ);
    if (end > this.ringSize) {
      // The record wrapped: its overflow belongs at the start of the ring (see the header note).
      this.mem.bytes.copyWithin(this.data, this.data + this.ringSize, this.data + end);
    }
    let newLen = (hdrLen ^ BPF_RINGBUF_BUSY_BIT) >>> 0;
    if (discard) newLen = (newLen | BPF_RINGBUF_DISCARD_BIT) >>> 0;
    view.setUint32(hdr, newLen, true);
    if (flags & BPF_RB_FORCE_WAKEUP) this.wakeups++;
    else if (this.consumerPos % this.ringSize === off && !(flags & BPF_RB_NO_WAKEUP)) this.wakeups++;
  }
}
