// Live values: one Server-Sent Events stream for the whole panel, the newest sample per tag, and listeners.

export class LiveStore {
  constructor(onLink) {
    this.values = new Map(); // tag → sample {tag, value, unit, ts, quality}
    this.listeners = new Set();
    this.onLink = onLink;
    this.source = null;
    this.received = 0;
  }

  start() {
    if (this.source) return;
    // Same origin: the HttpOnly session cookie authenticates the stream (EventSource cannot set headers).
    this.source = new EventSource("/api/v1/live/stream");
    this.source.addEventListener("open", () => this.onLink("live"));
    this.source.addEventListener("error", () => this.onLink(this.source && this.source.readyState === 2 ? "lost" : "reconnecting"));
    this.source.addEventListener("sample", (ev) => {
      const s = JSON.parse(ev.data);
      this.values.set(s.tag, s);
      this.received += 1;
      this._pending = this._pending || new Map();
      this._pending.set(s.tag, s);
      if (!this._raf) this._raf = requestAnimationFrame(() => this._flush());
      for (const fn of this.listeners) if (fn.raw) fn(s);
    });
  }

  _flush() {
    this._raf = 0;
    const batch = this._pending;
    this._pending = null;
    if (!batch) return;
    for (const fn of this.listeners) if (!fn.raw) fn(batch);
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.values.clear();
  }

  /** fn(batch: Map tag→sample) once per animation frame; with raw=true, fn(sample) for every sample. */
  subscribe(fn, raw = false) {
    fn.raw = raw;
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(tag) {
    return this.values.get(tag);
  }
}
