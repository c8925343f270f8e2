// Self-hosted files in a <video> element; HLS (.m3u8) through the vendored hls.js where Media
// Source Extensions exist (automatic bitrate, and a quality menu), the browser's own HLS where
// they do not (Safari on iPhone: it picks the quality itself). Under the video, a bar of its own
// (controls.js): a seek rail with chapter marks and scrubbing previews, chapter and quality menus.
import { BasePlayer, MEDIA_URL_EVENT, finiteOrNull, loadScript } from "./base.js";
import { mountControls } from "./controls.js";

// MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED: missing file or a format nothing here can decode.
const UNAVAILABLE_MEDIA_ERRORS = new Set([4]);

// An upload's ladder URL: /hls/<signature>/<expires>/<folder>/<file>. The signature and expiry
// cover the whole folder, so a fresh pair (from a token renewal) replaces them in any ladder URL.
const SIGNED_PREFIX = /\/[A-Za-z0-9_-]{22}\/[0-9]{1,12}\//;

function resigned(url, freshUrl) {
  const fresh = freshUrl && freshUrl.match(SIGNED_PREFIX);
  return fresh && SIGNED_PREFIX.test(url) ? url.replace(SIGNED_PREFIX, fresh[0]) : url;
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
  // The browser's own HLS playing a signed URL that a renewal has replaced since: its error is the
  // expired URL's (reloaded below), not the video's.
  const staleSignedSource = () =>
    hlsStream && !player.hls && Boolean(video.src) && new URL(freshSrc, location.href).href !== video.src;
  video.addEventListener("error", () => {
    if (staleSignedSource()) return;
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
  let freshSrc = src;
  document.addEventListener(MEDIA_URL_EVENT, (event) => {
    if (event.detail?.url) freshSrc = event.detail.url;
  });
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
          // Each playlist and segment request goes to the latest signed URL the page was given (the
          // first one expires within minutes). hls.js calls this before it opens the request and
          // then leaves an opened one as it is. It never retries a 403 (no 4xx), so the renewals
          // come well before each URL expires (analytics/pages.py renewEveryMs).
          xhrSetup: (xhr, url) => {
            const current = resigned(url, freshSrc);
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
    // The browser's own HLS cannot be told a new URL per request: when it fails on a signed one a
    // renewal has replaced, reload the fresh source where playback stopped. Chromium's reports a
    // segment refused (403) as MEDIA_ERR_SRC_NOT_SUPPORTED, not as a network error.
    video.addEventListener("error", () => {
      if (!staleSignedSource()) return;
      const at = lastTime;
      video.src = freshSrc;
      const resume = () => {
        video.currentTime = at;
        video.play().catch(() => {});
      };
      video.addEventListener("loadedmetadata", resume, { once: true });
    });
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
    // signed URL expired: it goes to the latest one too.
    signedUrl: (url) => resigned(url, freshSrc),
  });
  await ready;
  return player;
}
