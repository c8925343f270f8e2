// YouTube through the IFrame Player API, privacy-enhanced host. The API has no time event, so
// time is polled while playing, and seeks are inferred from jumps (YouTube has no seek event).
import { BasePlayer, SEEK_SLACK_S, finiteOrNull, loadScript } from "./base.js";

const API_URL = "https://www.youtube.com/iframe_api";
// onError: 100 removed or private, 101/150 the owner forbids embedding. (2 is a bad parameter,
// 5 an HTML5 player error, 153 a missing Referer: our problem, not the video's.)
const UNAVAILABLE_ERRORS = new Set([100, 101, 150]);
const STATE = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };

function youtubeApi() {
  if (window.YT && window.YT.Player) return Promise.resolve(window.YT);
  return new Promise((resolve, reject) => {
    // The loader calls this global once the API is usable; keep any earlier callback working.
    const previous = window.onYouTubeIframeAPIReady;
    window.onYouTubeIframeAPIReady = () => {
      if (typeof previous === "function") previous();
      resolve(window.YT);
    };
    loadScript(API_URL).catch(reject);
  });
}

export async function createYoutubePlayer(element, config) {
  const YT = await youtubeApi();
  const target = document.createElement("div");
  element.replaceChildren(target);

  const player = new BasePlayer("youtube");
  let yt = null;
  let state = STATE.UNSTARTED;
  let lastTime = config.start || 0;
  let lastTickAt = performance.now();

  player.currentTime = () => (yt ? Number(yt.getCurrentTime()) || 0 : 0);
  player.duration = () => (yt ? finiteOrNull(yt.getDuration()) : null);
  player.isPlaying = () => state === STATE.PLAYING;
  player.playbackRate = () => (yt ? Number(yt.getPlaybackRate()) || 1 : 1);
  player.seek = (seconds) => {
    const to = Math.max(0, Number(seconds) || 0);
    player.emit("seeking", { from: player.currentTime(), to });
    yt.seekTo(to, true);
    lastTime = to;
    lastTickAt = performance.now();
    player.emit("seeked", { to });
  };
  player.play = () => yt.playVideo();
  player.pause = () => yt.pauseVideo();

  const checkDuration = () => player.checkDuration();

  // Runs every TICK_MS, playing or not: emits timeupdate while playing and notices scrubbing
  // (a jump bigger than the time that passed at the current rate) in any state.
  const poll = () => {
    const now = performance.now();
    const time = player.currentTime();
    const expected = state === STATE.PLAYING ? lastTime + ((now - lastTickAt) / 1000) * player.playbackRate() : lastTime;
    if (Math.abs(time - expected) > SEEK_SLACK_S) {
      player.emit("seeking", { from: lastTime, to: time });
      player.emit("seeked", { to: time });
    }
    lastTime = time;
    lastTickAt = now;
    if (state === STATE.PLAYING) player.emit("timeupdate", { time });
    checkDuration();
  };

  await new Promise((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    const playerVars = {
      enablejsapi: 1,
      origin: window.location.origin,
      playsinline: 1,
      rel: 0,
    };
    if (config.start) playerVars.start = Math.floor(config.start);
    yt = new YT.Player(target, {
      host: "https://www.youtube-nocookie.com",
      videoId: config.externalId,
      width: "100%",
      height: "100%",
      playerVars,
      events: {
        onReady: () => {
          player.startTicker(poll);
          checkDuration();
          settle();
        },
        onStateChange: (event) => {
          const previous = state;
          state = event.data;
          if (state === STATE.PLAYING && previous !== STATE.PLAYING) {
            lastTime = player.currentTime();
            lastTickAt = performance.now();
            player.emit("play");
          } else if (state === STATE.PAUSED && previous === STATE.PLAYING) {
            player.emit("pause");
          } else if (state === STATE.ENDED) {
            player.emit("ended");
          }
          checkDuration();
        },
        onPlaybackRateChange: (event) => player.emit("ratechange", { rate: Number(event.data) }),
        onError: (event) => {
          const code = Number(event.data);
          player.emit("error", { code, unavailable: UNAVAILABLE_ERRORS.has(code) });
          // An unplayable id may never fire onReady; the page still gets a player to report with.
          settle();
        },
      },
    });
  });
  player.iframe = () => (yt && yt.getIframe ? yt.getIframe() : null);
  return player;
}

