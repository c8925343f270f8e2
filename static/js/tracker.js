/**
 * Watchpoint watch tracker: records each second of video actually played and reports it.
 *
 * Attaches to the player the watch page mounts (CustomEvent "watchpoint:player-ready" on document,
 * see players/index.js); it never talks to a provider directly.
 *
 * - A second is recorded when playback runs into it (integer position, client time, playback rate);
 *   seconds jumped over by a seek are not recorded; within one page load (viewing session) each
 *   second is sent once.
 * - Batches are flushed every FLUSH_MS while playing, and at once on pause, seek, end; when the page
 *   is hidden or unloaded they go by navigator.sendBeacon (which cannot carry the CSRF header).
 *   Every batch, by fetch or beacon, carries the signed token of the page that made it: the server
 *   binds the batch to that member, video and viewing session. A resent batch keeps its own token.
 * - A flush that fails (network error, 429, 503, 5xx) is kept in localStorage and resent with
 *   backoff on the next flush or page load; a Retry-After answer (429, 503) holds every send back
 *   that long. Batches sent by beacon are kept too until a later page load confirms them with a
 *   normal request: the server stores a replayed batch only once.
 * - Tokens are short-lived: while the page is visible the tracker renews its token (renewEndpoint,
 *   every renewEveryMs, and at once when the page becomes visible again after that long). The
 *   server may answer with a new viewing session (the old one's day ended): seconds then count
 *   afresh under it. A batch refused because its session's day has ended (409) triggers a renewal.
 * - The outbox is per member (outbox.js): localStorage "watchpoint:pending-batches:<outboxKey>",
 *   the key rendered by the server for the signed-in member. Logout clears it (logout.js).
 * - On load, offers "Resume at 12:34" / "Start over" when there is a saved position, unless ?t= is set
 *   or the position is within the last 5 % or 10 s of the video.
 */

import { LEGACY_OUTBOX_KEY, LOGOUT_EVENT, outboxStorageKey } from "./outbox.js";

const FLUSH_MS = 10_000;
const MAX_STORED_BATCHES = 500;
const MAX_EVENTS_PER_BATCH = 200; // the server refuses larger batches (analytics/schemas.py)

const config = JSON.parse(document.getElementById("watch-tracker-config")?.textContent || "null");
// No outbox key, no durable outbox: never fall back to a key other members would share.
const STORE_KEY = config?.outboxKey ? outboxStorageKey(config.outboxKey) : null;
let loggedOut = false; // after logout nothing more is stored or sent from this page

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// --- Durable outbox (localStorage) --------------------------------------------------------------

function loadStored() {
  if (!STORE_KEY || loggedOut) return [];
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
  } catch {
    return [];
  }
}

function saveStored(batches) {
  if (!STORE_KEY || loggedOut) return;
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(batches.slice(-MAX_STORED_BATCHES)));
  } catch {
    /* storage full or disabled: nothing more we can do */
  }
}

function keep(batch) {
  const stored = loadStored();
  if (!stored.some((b) => b.id === batch.id)) stored.push(batch);
  saveStored(stored);
}

function forget(batchId) {
  saveStored(loadStored().filter((b) => b.id !== batchId));
}

// --- Sending ------------------------------------------------------------------------------------

let retryDelay = 1000;
let retryTimer = null;
let retryAt = null; // when the scheduled retry runs (ms since the epoch)
let holdUntil = 0; // a Retry-After answer: nothing is sent before this (ms since the epoch)

function body(batch) {
  return { video_id: batch.video_id, session_id: batch.session_id, events: batch.events, token: batch.token };
}

function retryAfterMs(response) {
  // Retry-After is either delay-seconds or an HTTP date (RFC 9110, 10.2.3).
  const value = response.headers.get("Retry-After");
  if (!value) return 0;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

async function send(batch) {
  // Resolves true when the server took the batch (202) or refused it for good (4xx: resending
  // the same body cannot succeed); false when it should be retried.
  if (loggedOut || Date.now() < holdUntil) return false;
  let response;
  try {
    response = await fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body(batch)),
    });
  } catch {
    return false;
  }
  if (response.status === 202) return true;
  if (response.status === 429 || response.status >= 500) {
    // Rate limited, backlog full, Redis down: when the server says when to come back, every send
    // (fetch, beacon, resend) waits until then; otherwise the retry backs off as for any failure.
    if (response.status === 429 || response.status === 503) {
      holdUntil = Math.max(holdUntil, Date.now() + retryAfterMs(response));
    }
    return false;
  }
  if (response.status === 409) renew(); // the session's day has ended: the renewal brings a new one
  console.warn("watchpoint: batch refused", response.status);
  return true;
}

// --- Token renewal ------------------------------------------------------------------------------

let renewedAt = performance.now();
let renewing = null;

async function renew() {
  if (loggedOut || renewing || !config.renewEndpoint) return renewing;
  renewing = (async () => {
    try {
      const response = await fetch(config.renewEndpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ token: config.token }),
      });
      if (!response.ok) {
        console.warn("watchpoint: token renewal refused", response.status);
        return;
      }
      const fresh = await response.json();
      if (fresh.sessionId !== config.sessionId) {
        // A new viewing session: flush what belongs to the old one first, then count afresh.
        await flush();
        config.sessionId = fresh.sessionId;
        sent.clear();
      }
      config.token = fresh.token;
      renewedAt = performance.now();
    } catch {
      /* offline: the next tick tries again; batches wait in the outbox */
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

// Renewed while the page is visible, and while a hidden tab still plays (audio in the background):
// its seconds are still sent, under a token that must stay valid.
let attachedPlayer = null;

function renewIfDue() {
  const active = document.visibilityState === "visible" || Boolean(attachedPlayer?.isPlaying());
  if (active && performance.now() - renewedAt >= config.renewEveryMs) renew();
}

async function resendStored() {
  for (const batch of loadStored()) {
    if (!(await send(batch))) {
      scheduleRetry();
      return;
    }
    forget(batch.id);
  }
  retryDelay = 1000;
}

function scheduleRetry() {
  if (loggedOut) return;
  if (retryTimer) {
    if (holdUntil <= retryAt) return;
    clearTimeout(retryTimer); // a Retry-After came in after this retry was planned: move it later
  }
  const delay = Math.max(retryDelay * (0.5 + Math.random()), holdUntil - Date.now());
  retryDelay = Math.min(retryDelay * 2, 60_000);
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    retryAt = null;
    resendStored();
  }, delay);
}

// --- Recording ----------------------------------------------------------------------------------

const sent = new Set(); // seconds recorded in this viewing session
let pending = []; // events not yet flushed
let lastSecond = null; // last second playback ran through; null after a seek or pause
let flushTimer = null;

// Event times are the server's clock: the server's time when it rendered the page plus the time
// elapsed since load on the monotonic clock. The server refuses events from before the page was issued or after now, so a
// browser whose own clock is off by minutes or days would otherwise lose every batch.
const loadedAt = performance.now();
function serverNow() {
  return Math.round((config?.serverTime ?? Date.now()) + (performance.now() - loadedAt));
}

// The server accepts rates up to 4x (analytics/schemas.py MAX_PLAYBACK_RATE); no player UI offers more.
const MAX_RATE = 4;

function record(second, rate) {
  if (second < 0 || sent.has(second)) return;
  sent.add(second);
  pending.push({ position: second, client_ts: serverNow(), rate: Math.min(Math.max(rate, 0.0625), MAX_RATE) });
}

function takeBatch() {
  if (!pending.length) return null;
  const events = pending.splice(0, MAX_EVENTS_PER_BATCH);
  return {
    id: `${config.sessionId}:${events[0].client_ts}:${events[0].position}`,
    video_id: config.videoId,
    session_id: config.sessionId,
    token: config.token,
    events,
  };
}

async function flush() {
  if (loggedOut) return;
  let batch;
  while ((batch = takeBatch())) {
    keep(batch); // durable first: a tab closed mid-request loses nothing
    if (await send(batch)) {
      forget(batch.id);
    } else {
      scheduleRetry();
      return;
    }
  }
  if (loadStored().length) resendStored();
}

function flushByBeacon() {
  if (loggedOut) return;
  // While a Retry-After holds, the batches only wait in the outbox for a later page load.
  const hold = Date.now() < holdUntil;
  let batch;
  while ((batch = takeBatch())) {
    keep(batch); // confirmed (and forgotten) by a normal request on a later page load
    if (hold) continue;
    const blob = new Blob([JSON.stringify(body(batch))], { type: "application/json" });
    navigator.sendBeacon?.(config.beaconEndpoint, blob);
  }
}

function onLogout() {
  // Unsent seconds of this member are dropped with the outbox (logout.js says why).
  loggedOut = true;
  pending = [];
  stopTimer();
  clearTimeout(retryTimer);
  retryTimer = null;
  retryAt = null;
}

function onTime(player, time) {
  const second = Math.floor(time);
  const rate = player.playbackRate() || 1;
  if (lastSecond === null || second < lastSecond) {
    record(second, rate);
  } else if (second > lastSecond) {
    // Between two updates playback can cross several seconds at high rates; a larger jump is a seek.
    const maxStep = Math.ceil(rate) + 1;
    if (second - lastSecond <= maxStep) {
      for (let s = lastSecond + 1; s <= second; s += 1) record(s, rate);
    } else {
      record(second, rate);
    }
  }
  lastSecond = second;
}

function startTimer() {
  if (!flushTimer) flushTimer = setInterval(flush, FLUSH_MS);
}

function stopTimer() {
  clearInterval(flushTimer);
  flushTimer = null;
}

// --- Resume prompt ------------------------------------------------------------------------------

function clock(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function shouldOfferResume(position, duration, hasStartParam) {
  if (hasStartParam || position === null || position === undefined || position <= 0) return false;
  if (duration && (position >= duration * 0.95 || duration - position <= 10)) return false;
  return true;
}

function offerResume(player) {
  const prompt = document.querySelector("[data-resume-prompt]");
  const position = config.resumePosition;
  const hasStart = new URLSearchParams(location.search).has("t");
  const duration = player.duration() || config.duration;
  if (!prompt || !shouldOfferResume(position, duration, hasStart)) return;
  prompt.querySelector("[data-resume-label]").textContent = `Resume at ${clock(position)}`;
  prompt.hidden = false;
  const close = () => {
    prompt.hidden = true;
  };
  // The prompt's button disappears: keyboard focus goes to the player, not back to the page's top.
  prompt.querySelector("[data-resume]").addEventListener("click", () => {
    close();
    player.seek(position);
    player.play();
    player.focus?.();
  });
  prompt.querySelector("[data-start-over]").addEventListener("click", () => {
    close();
    player.seek(0);
    player.play();
    player.focus?.();
  });
  prompt.querySelector("[data-resume]").focus();
}

// --- Wiring -------------------------------------------------------------------------------------

function attach(player) {
  attachedPlayer = player;
  player.on("play", () => {
    lastSecond = null;
    startTimer();
  });
  player.on("timeupdate", ({ time }) => {
    if (player.isPlaying()) onTime(player, time);
  });
  player.on("seeking", () => {
    lastSecond = null;
    flush();
  });
  player.on("seeked", () => {
    lastSecond = null;
  });
  player.on("pause", () => {
    lastSecond = null;
    stopTimer();
    flush();
  });
  player.on("ended", () => {
    lastSecond = null;
    stopTimer();
    flush();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flushByBeacon();
    else renewIfDue();
  });
  // Checked often, renewed rarely: a timer throttled in a background tab catches up on return.
  setInterval(renewIfDue, Math.min(config.renewEveryMs ?? 60_000, 60_000) / 4);
  window.addEventListener("pagehide", flushByBeacon);
  offerResume(player);
  window.watchpointTracker = {
    flush,
    pendingCount: () => pending.length,
    sentSeconds: () => [...sent],
    nextRetryAt: () => retryAt,
    renew,
    sessionId: () => config.sessionId,
  };
}

if (config) {
  try {
    localStorage.removeItem(LEGACY_OUTBOX_KEY);
  } catch {
    /* storage disabled */
  }
  document.addEventListener(LOGOUT_EVENT, onLogout);
  resendStored();
  let attached = false;
  const attachOnce = (player) => {
    if (!attached) {
      attached = true;
      attach(player);
    }
  };
  document.addEventListener("watchpoint:player-ready", (event) => {
    if (event.detail.video.id === config.videoId) attachOnce(event.detail.player);
  });
  // The player may have become ready before this module ran.
  const ready = document.querySelector(`[data-watchpoint-player][data-video-id="${config.videoId}"]`);
  if (ready?.watchpointPlayer) attachOnce(ready.watchpointPlayer);
}
