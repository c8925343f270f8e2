/**
 * Watchpoint players: one interface over YouTube, Vimeo, Wistia and self-hosted <video>.
 *
 *   import { createPlayer } from "/static/js/players/index.js";
 *   const player = await createPlayer(element, config);
 *
 * config: { provider: "youtube"|"vimeo"|"wistia"|"file", externalId, start (seconds|null),
 *           vimeoHash?, poster?, hlsScriptUrl? (file provider, .m3u8), title?,
 *           mediaUrlEndpoint?, mediaUrlLife? (an upload: where its player gets a freshly signed
 *           externalId, and how many seconds one works), csrfToken?,
 *           tracks? {captions: [{src, lang, label, default}], chapters: [{start, title}]} }
 *
 * Player (the same for every provider):
 *   currentTime()  -> number, seconds (float)
 *   duration()     -> number|null, seconds (null until the provider knows it)
 *   isPlaying()    -> boolean
 *   playbackRate() -> number (1 = normal speed)
 *   seek(seconds), play(), pause()
 *   focus()        -> moves keyboard focus to the player (its <video> or iframe)
 *   on(eventName, callback) -> unsubscribe function; callback(detail)
 *   provider       -> "youtube"|"vimeo"|"wistia"|"file"
 *
 * Events (detail in braces; the others get {}):
 *   "play", "pause", "ended"
 *   "seeking"        {from, to}   always followed by "seeked" {to}
 *   "seeked"         {to}
 *   "timeupdate"     {time}       about 4 times a second while playing (polled where the
 *                                  provider has no such event: YouTube, Wistia)
 *   "ratechange"     {rate}
 *   "durationchange" {duration}
 *   "error"          {code, unavailable}  unavailable = the video itself cannot be played here
 *                                  (YouTube 100/101/150, Vimeo NotFound/Privacy, missing file);
 *                                  a listener added after an error hears the latest one.
 *
 * Mounting: every element with a data-watchpoint-player attribute (data-provider, data-external-id,
 * data-start, data-video-id, data-video-slug, data-duration, ...) gets a player when this module
 * loads, and once ready `document` receives the CustomEvent "watchpoint:player-ready" with
 * detail {player, video: {id, duration, slug}, element}, so other scripts (the watch tracker)
 * attach without importing provider code. The player is also kept on element.watchpointPlayer.
 */
import { createHtml5Player } from "./html5.js";
import { createVimeoPlayer } from "./vimeo.js";
import { createWistiaPlayer } from "./wistia.js";
import { createYoutubePlayer } from "./youtube.js";

const FACTORIES = {
  youtube: createYoutubePlayer,
  vimeo: createVimeoPlayer,
  wistia: createWistiaPlayer,
  file: createHtml5Player,
};

export function createPlayer(element, config) {
  const factory = FACTORIES[config.provider];
  if (!factory) return Promise.reject(new Error(`unknown video provider: ${config.provider}`));
  return factory(element, config);
}

function numberOrNull(value) {
  if (value === undefined || value === null || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function tracksOrEmpty(json) {
  try {
    const tracks = JSON.parse(json || "{}");
    return { captions: tracks.captions || [], chapters: tracks.chapters || [] };
  } catch {
    return { captions: [], chapters: [] };
  }
}

export function configFromElement(element) {
  const data = element.dataset;
  return {
    provider: data.provider,
    externalId: data.externalId,
    start: numberOrNull(data.start),
    vimeoHash: data.vimeoHash || "",
    poster: data.poster || "",
    hlsScriptUrl: data.hlsScriptUrl || "",
    mediaUrlEndpoint: data.mediaUrlEndpoint || "",
    mediaUrlLife: numberOrNull(data.mediaUrlLife),
    csrfToken: data.csrfToken || "",
    title: data.title || "",
    tracks: tracksOrEmpty(data.tracks),
  };
}

export async function mountPlayer(element) {
  const player = await createPlayer(element, configFromElement(element));
  // Keyboard users land on the player after "Resume" or a chapter link (tracker.js, watch.js): the
  // <video> or the provider's iframe, so its own keys work; the container as a last resort.
  if (!player.focus) {
    player.focus = () => {
      const target = element.querySelector("video, iframe") || element;
      if (target === element) element.tabIndex = -1;
      target.focus();
    };
  }
  element.watchpointPlayer = player;
  element.dataset.playerState = "ready";
  const data = element.dataset;
  const video = { id: numberOrNull(data.videoId), duration: numberOrNull(data.duration), slug: data.videoSlug || "" };
  document.dispatchEvent(new CustomEvent("watchpoint:player-ready", { detail: { player, video, element } }));
  return player;
}

for (const element of document.querySelectorAll("[data-watchpoint-player]")) {
  mountPlayer(element).catch((err) => {
    element.dataset.playerState = "failed";
    console.error("watchpoint player: could not start", err);
    const message = document.createElement("p");
    message.className = "player-failed";
    // Nobody here knows whose fault it is (the provider, the network between, or us), so the
    // message blames no one and says what to do; the member's place is kept by the server.
    const host = element.dataset.providerName || "video";
    message.textContent = `The ${host} player is not responding right now. Please try again in a few minutes: your place is saved.`;
    element.replaceChildren(message);
  });
}
