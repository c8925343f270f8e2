// Shared plumbing for the provider modules: event listeners, script loading, a 4 Hz ticker.
// Not part of the public interface (see index.js); only the provider modules import it.

export const TICK_MS = 250;
// A jump this much larger than the time that passed is a seek (providers without seek events).
export const SEEK_SLACK_S = 1.5;

export class BasePlayer {
  constructor(provider) {
    this.provider = provider;
    this._listeners = new Map();
    this._ticker = null;
    this._lastError = null;
    this._knownDuration = null;
  }

  // For providers without a duration event (YouTube, Wistia): call whenever the duration may have
  // become known or changed; emits "durationchange" once per new value of this.duration().
  checkDuration() {
    const duration = this.duration();
    if (duration !== null && duration !== this._knownDuration) {
      this._knownDuration = duration;
      this.emit("durationchange", { duration });
    }
  }

  on(eventName, callback) {
    if (!this._listeners.has(eventName)) this._listeners.set(eventName, new Set());
    this._listeners.get(eventName).add(callback);
    // An error is a state, and it can happen before anyone could subscribe (a removed video fails
    // while loading): a listener added after one still hears the latest.
    if (eventName === "error" && this._lastError) {
      const detail = this._lastError;
      queueMicrotask(() => callback(detail));
    }
    return () => this._listeners.get(eventName).delete(callback);
  }

  emit(eventName, detail = {}) {
    if (eventName === "error") this._lastError = detail;
    for (const callback of this._listeners.get(eventName) || []) {
      try {
        callback(detail);
      } catch (err) {
        // One broken listener (e.g. the tracker) must not stop the others or the player.
        console.error(`watchpoint player: "${eventName}" listener failed`, err);
      }
    }
  }

  // Calls `tick` every TICK_MS until stopTicker(); used while playing.
  startTicker(tick) {
    if (this._ticker === null) this._ticker = window.setInterval(tick, TICK_MS);
  }

  stopTicker() {
    if (this._ticker !== null) window.clearInterval(this._ticker);
    this._ticker = null;
  }
}

const loading = new Map();

// Load a classic script once per page; resolves when it has run.
export function loadScript(src) {
  if (!loading.has(src)) {
    loading.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.async = true;
        script.onload = () => resolve();
        script.onerror = () => reject(new Error(`could not load ${src}`));
        document.head.appendChild(script);
      }),
    );
  }
  return loading.get(src);
}

export function finiteOrNull(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}
