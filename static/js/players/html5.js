// Self-hosted files in a <video> element; HLS (.m3u8) through the vendored hls.js where Media
// Source Extensions exist (automatic bitrate, and a quality menu), the browser's own HLS where
// they do not (Safari on iPhone: it picks the quality itself). Under the video, a bar of its own
// (controls.js): a seek rail with chapter marks and scrubbing previews, chapter and quality menus.
import { BasePlayer, finiteOrNull, loadScript } from "./base.js";
import { mountControls } from "./controls.js";

// MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED: missing file or a format nothing here can decode.
const UNAVAILABLE_MEDIA_ERRORS = new Set([4]);

// An upload's ladder URL: /hls/<signature>/<expires>/<folder>/<file>. The signature and expiry
// cover the whole folder, so a fresh pair replaces them in any ladder URL.
const SIGNED_PREFIX = /\/[A-Za-z0-9_-]{22}\/[0-9]{1,12}\//;
// How often the player looks whether its signed URL is due for renewal (a cheap clock read).
const MEDIA_URL_CHECK_MS = 1000;
// While the page is visible the URL is kept fresh this long after the video last played (or the
// page opened); past that it is renewed only when a request needs it.
const MEDIA_URL_IDLE_MS = 30 * 60 * 1000;
const MEDIA_URL_TIMEOUT_MS = 10_000;

function resigned(url, freshUrl) {
  const fresh = freshUrl && freshUrl.match(SIGNED_PREFIX);
  return fresh && SIGNED_PREFIX.test(url) ? url.replace(SIGNED_PREFIX, fresh[0]) : url;
}

function csrfToken(config) {
  // The admin preview is rendered without a request (no token in the page): the cookie has it.
  const cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return config.csrfToken || (cookie ? cookie[1] : "");
}

// The signed URL an upload plays from. It works only minutes (MEDIA_URL_TTL_SECONDS, so that a
// copy soon stops), so the player asks the site for a fresh one (videos/views.py media_url) a third
// of its life after the last, and before any request once the one it holds is two thirds through
// (a machine back from sleep, a tab left idle). Ages are read on the wall clock, which runs on
// while the machine sleeps (performance.now() may not).
function signedMedia(config) {
  let url = config.externalId;
  let lifeMs = (config.mediaUrlLife || 0) * 1000;
  // The page's URL was signed after its navigation started: counted from then, never younger.
  let signedAt = performance.timeOrigin || Date.now();
  let pending = null;
  const enabled = Boolean(config.mediaUrlEndpoint && lifeMs > 0 && SIGNED_PREFIX.test(url));
  // A clock set back reads as a negative age: renew rather than trust it.
  const olderThan = (fraction) => {
    const age = Date.now() - signedAt;
    return enabled && (age >= lifeMs * fraction || age < 0);
  };
  const refresh = () => {
    if (!enabled) return Promise.resolve(url);
    if (!pending) {
      const askedAt = Date.now();
      pending = fetch(config.mediaUrlEndpoint, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "X-CSRFToken": csrfToken(config) },
        signal: AbortSignal.timeout ? AbortSignal.timeout(MEDIA_URL_TIMEOUT_MS) : undefined,
      })
        .then((response) => (response.ok ? response.json() : null))
        .then((fresh) => {
          if (!fresh?.url || !(fresh.expiresIn > 0)) return;
          url = fresh.url;
          lifeMs = fresh.expiresIn * 1000;
          signedAt = askedAt;
        })
        // Refused (logged out meanwhile, unpublished since) or offline: the URL held goes on being
        // used, and nginx decides; the next check asks again.
        .catch(() => {})
        .then(() => {
          pending = null;
          return url;
        });
    }
    return pending;
  };
  return {
    enabled,
    current: () => url,
    due: () => olderThan(1 / 3),
    stale: () => olderThan(2 / 3),
    refresh,
    // The URL to request now: a fresh one first when the one held may have expired.
    usable: () => (olderThan(2 / 3) ? refresh() : Promise.resolve(url)),
  };
}

function isHls(url) {
  try {
    return new URL(url, window.location.href).pathname.toLowerCase().endsWith(".m3u8");
  } catch {
    return false;
  }
}

export async function createHtml5Player(element, config) {
  const video = document.createElement("video");
  video.controls = true;
  video.playsInline = true;
  video.preload = "metadata";
  video.className = "player-media";
  if (config.poster) video.poster = config.poster;
  element.replaceChildren(video);

  const player = new BasePlayer("file");
  let lastTime = config.start || 0;
  let reportedDuration = null;

  player.currentTime = () => video.currentTime;
  player.duration = () => finiteOrNull(video.duration);
  player.isPlaying = () => !video.paused && !video.ended && video.readyState > 2;
  player.playbackRate = () => video.playbackRate;
  player.seek = (seconds) => {
    video.currentTime = Math.max(0, Number(seconds) || 0);
  };
  player.play = () => video.play().catch(() => {});
  player.pause = () => video.pause();
  player.focus = () => video.focus();
  player.element = video;

  const tick = () => {
    lastTime = video.currentTime;
    player.emit("timeupdate", { time: lastTime });
  };
  video.addEventListener("playing", () => {
    player.emit("play");
    player.startTicker(tick);
  });
  video.addEventListener("pause", () => {
    player.stopTicker();
    // "ended" also fires a pause in some browsers; report it once, as ended.
    if (!video.ended) player.emit("pause");
  });
  video.addEventListener("ended", () => {
    player.stopTicker();
    player.emit("ended");
  });
  video.addEventListener("seeking", () => {
    player.emit("seeking", { from: lastTime, to: video.currentTime });
  });
  video.addEventListener("seeked", () => {
    lastTime = video.currentTime;
    player.emit("seeked", { to: video.currentTime });
  });
  video.addEventListener("ratechange", () => player.emit("ratechange", { rate: video.playbackRate }));
  video.addEventListener("durationchange", () => {
    const duration = finiteOrNull(video.duration);
    if (duration !== null && duration !== reportedDuration) {
      reportedDuration = duration;
      player.emit("durationchange", { duration });
    }
  });
  // A browser with neither Media Source Extensions nor HLS of its own cannot play the ladder: that
  // says nothing about the video, so it is not reported as unavailable.
  let playableHere = true;
  // The browser's own HLS cannot be told a new URL per request: when it fails on a signed URL the
  // player has (or now gets) a fresher one for, the error is the expired URL's, not the video's, and
  // the fresh source is reloaded where playback stopped. Chromium's reports a segment refused (403)
  // as MEDIA_ERR_SRC_NOT_SUPPORTED, not as a network error.
  const freshNativeSource = async () => {
    if (!hlsStream || player.hls || !media.enabled || !video.src) return "";
    const replaced = () => new URL(media.current(), location.href).href !== video.src;
    if (!replaced() && media.stale()) await media.refresh();
    return replaced() ? media.current() : "";
  };
  const reloadAt = (source, at) => {
    video.src = source;
    const resume = () => {
      video.currentTime = at;
      video.play().catch(() => {});
    };
    video.addEventListener("loadedmetadata", resume, { once: true });
  };
  video.addEventListener("error", async () => {
    const at = lastTime;
    const fresh = await freshNativeSource();
    if (fresh) {
      reloadAt(fresh, at);
      return;
    }
    const code = video.error ? video.error.code : 0;
    player.emit("error", { code, unavailable: playableHere && UNAVAILABLE_MEDIA_ERRORS.has(code) });
  });

  const ready = new Promise((resolve) => {
    video.addEventListener(
      "loadedmetadata",
      () => {
        if (config.start) video.currentTime = config.start;
        resolve();
      },
      { once: true },
    );
    // A file that never loads still yields a player, so the page can show and report the error.
    video.addEventListener("error", () => resolve(), { once: true });
  });

  const src = config.externalId;
  const media = signedMedia(config);
  if (media.enabled) {
    let playedAt = Date.now();
    setInterval(() => {
      const playing = player.isPlaying();
      if (playing) playedAt = Date.now();
      const watched = playing || (document.visibilityState === "visible" && Date.now() - playedAt < MEDIA_URL_IDLE_MS);
      if (watched && media.due()) media.refresh();
    }, MEDIA_URL_CHECK_MS);
  }
  let hlsStream = false;
  if (isHls(src)) {
    hlsStream = true;
    const mse = "MediaSource" in window || "ManagedMediaSource" in window;
    if (mse && config.hlsScriptUrl) {
      await loadScript(config.hlsScriptUrl);
      const Hls = window.Hls;
      if (Hls && Hls.isSupported()) {
        // Captions come as <track> elements (below). hls.js keeps its hands off the element's text
        // tracks: natively it would adopt one labelled like its CEA-608 track ("English", "en")
        // and clear its cues on every buffer flush (a quality switch).
        const hls = new Hls({
          enableWorker: true,
          enableCEA708Captions: false,
          renderTextTracksNatively: false,
          // Each playlist and segment request goes to the latest signed URL the player holds (the
          // first one expires within minutes). hls.js awaits this before it opens the request
          // (1.6: a returned promise) and then leaves an opened one as it is. It never retries a
          // 403 (no 4xx), so a URL that may have expired (after a sleep) is renewed first.
          xhrSetup: async (xhr, url) => {
            const current = resigned(url, await media.usable());
            if (current !== url) xhr.open("GET", current, true);
          },
        });
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (!data.fatal) return;
          const missing = data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
          player.emit("error", { code: data.details, unavailable: missing });
        });
        hls.loadSource(src);
        hls.attachMedia(video);
        player.hls = hls;
      }
    }
  }
  if (!player.hls) {
    // Safari on iPhone (no MSE): the browser's own HLS, which picks the rung itself.
    if (hlsStream && !video.canPlayType("application/vnd.apple.mpegurl")) playableHere = false;
    video.src = src;
  }
  // After hls.js attached: attaching clears the cues of every text track the element has.
  for (const caption of config.tracks?.captions || []) {
    // Same-origin URLs (videos/views.py caption_file), authorised by the member's session.
    const track = document.createElement("track");
    track.kind = "captions";
    track.src = caption.src;
    track.srclang = caption.lang;
    track.label = caption.label;
    track.default = Boolean(caption.default);
    video.appendChild(track);
  }
  mountControls({
    player,
    element,
    video,
    config,
    previewsUrl: hlsStream ? new URL("thumbnails.vtt", new URL(src, location.href)).href : "",
    // The sprite is fetched when the pointer first rests on the rail, maybe long after the first
    // signed URL expired: it goes to the latest one (renewed for the next move if that is old).
    signedUrl: (url) => {
      if (media.stale()) media.refresh();
      return resigned(url, media.current());
    },
  });
  await ready;
  return player;
}
