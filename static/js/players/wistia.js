// Wistia through its JavaScript player API (the `_wq` queue of E-v1.js) driving Wistia's iframe
// embed: the player runs in Wistia's frame, so its styles and media never touch our page or CSP.
import { BasePlayer, finiteOrNull, loadScript } from "./base.js";

const API_URL = "https://fast.wistia.com/assets/external/E-v1.js";

export async function createWistiaPlayer(element, config) {
  const iframe = document.createElement("iframe");
  const params = new URLSearchParams({ videoFoam: "true", playsinline: "true", doNotTrack: "true" });
  iframe.src = `https://fast.wistia.net/embed/iframe/${encodeURIComponent(config.externalId)}?${params}`;
  iframe.className = "wistia_embed player-frame";
  iframe.name = "wistia_embed";
  iframe.title = config.title || "Video";
  iframe.allow = "autoplay; fullscreen; picture-in-picture";
  iframe.allowFullscreen = true;
  element.replaceChildren(iframe);

  const player = new BasePlayer("wistia");
  const wistia = await new Promise((resolve, reject) => {
    window._wq = window._wq || [];
    window._wq.push({ id: config.externalId, onReady: resolve });
    loadScript(API_URL).catch(reject);
  });

  let lastTime = config.start || 0;
  player.currentTime = () => Number(wistia.time()) || 0;
  player.duration = () => finiteOrNull(wistia.duration());
  player.isPlaying = () => wistia.state() === "playing";
  player.playbackRate = () => Number(wistia.playbackRate()) || 1;
  player.seek = (seconds) => wistia.time(Math.max(0, Number(seconds) || 0));
  player.play = () => wistia.play();
  player.pause = () => wistia.pause();
  player.wistia = wistia;

  const checkDuration = () => player.checkDuration();
  // Wistia's own time events come once a second ("secondchange") or irregularly ("timechange");
  // the interface promises about four a second, so poll while playing.
  const tick = () => {
    lastTime = player.currentTime();
    player.emit("timeupdate", { time: lastTime });
  };

  wistia.bind("play", () => {
    checkDuration();
    player.emit("play");
    player.startTicker(tick);
  });
  wistia.bind("pause", () => {
    player.stopTicker();
    player.emit("pause");
  });
  wistia.bind("end", () => {
    player.stopTicker();
    player.emit("ended");
  });
  wistia.bind("secondchange", (second) => {
    lastTime = Number(second) || lastTime;
  });
  wistia.bind("seek", (currentTime, previousTime) => {
    const to = Number(currentTime) || 0;
    player.emit("seeking", { from: Number(previousTime ?? lastTime) || 0, to });
    lastTime = to;
    player.emit("seeked", { to });
  });
  wistia.bind("playbackratechange", (rate) => player.emit("ratechange", { rate: Number(rate) || 1 }));

  checkDuration();
  if (config.start) wistia.time(config.start);
  return player;
}

