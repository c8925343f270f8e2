// Vimeo through player.js, with Do Not Track (no cookies, no session analytics at Vimeo).
// player.js getters are promises, so the interface's synchronous getters read values cached
// from Vimeo's own events (timeupdate fires about every 250 ms while playing).
import { BasePlayer, finiteOrNull, loadScript } from "./base.js";

const API_URL = "https://player.vimeo.com/api/player.js";
// Errors that mean the video itself cannot be shown here (deleted, private, domain-restricted).
const UNAVAILABLE_ERRORS = new Set(["NotFoundError", "PrivacyError", "PasswordError", "UnsupportedError"]);

export async function createVimeoPlayer(element, config) {
  await loadScript(API_URL);
  const target = document.createElement("div");
  target.className = "player-frame";
  element.replaceChildren(target);

  const options = { dnt: true, playsinline: true, responsive: true, autopause: true };
  if (config.vimeoHash) {
    // Unlisted videos embed only with their hash, which player.js reads from the share URL.
    options.url = `https://vimeo.com/${config.externalId}/${config.vimeoHash}`;
  } else {
    options.id = Number(config.externalId);
  }
  const vimeo = new window.Vimeo.Player(target, options);

  const player = new BasePlayer("vimeo");
  let time = config.start || 0;
  let duration = null;
  let playing = false;
  let rate = 1;
  let seekingFrom = null;

  player.currentTime = () => time;
  player.duration = () => duration;
  player.isPlaying = () => playing;
  player.playbackRate = () => rate;
  player.seek = (seconds) => {
    vimeo.setCurrentTime(Math.max(0, Number(seconds) || 0)).catch(() => {});
  };
  player.play = () => vimeo.play().catch(() => {});
  player.pause = () => vimeo.pause().catch(() => {});
  player.vimeo = vimeo;

  const setDuration = (value) => {
    const d = finiteOrNull(value);
    if (d !== null && d !== duration) {
      duration = d;
      player.emit("durationchange", { duration });
    }
  };

  vimeo.on("play", () => {
    playing = true;
    player.emit("play");
  });
  vimeo.on("pause", () => {
    playing = false;
    player.emit("pause");
  });
  vimeo.on("ended", () => {
    playing = false;
    player.emit("ended");
  });
  vimeo.on("timeupdate", (data) => {
    time = Number(data.seconds) || 0;
    setDuration(data.duration);
    if (playing && seekingFrom === null) player.emit("timeupdate", { time });
  });
  vimeo.on("seeking", (data) => {
    seekingFrom = time;
    player.emit("seeking", { from: time, to: Number(data.seconds) || 0 });
  });
  vimeo.on("seeked", (data) => {
    const to = Number(data.seconds) || 0;
    // Older players send only "seeked"; the interface always announces "seeking" first.
    if (seekingFrom === null) player.emit("seeking", { from: time, to });
    seekingFrom = null;
    time = to;
    player.emit("seeked", { to });
  });
  vimeo.on("playbackratechange", (data) => {
    rate = Number(data.playbackRate) || 1;
    player.emit("ratechange", { rate });
  });
  vimeo.on("durationchange", (data) => setDuration(data.duration));
  vimeo.on("error", (err) => {
    const code = (err && err.name) || "Error";
    player.emit("error", { code, unavailable: UNAVAILABLE_ERRORS.has(code) });
  });

  try {
    await vimeo.ready();
    setDuration(await vimeo.getDuration());
    if (config.start) {
      await vimeo.setCurrentTime(config.start);
      time = config.start;
    }
  } catch (err) {
    // ready() rejects when the video does not exist or may not be embedded on this domain.
    const code = (err && err.name) || "Error";
    player.emit("error", { code, unavailable: true });
  }
  return player;
}
