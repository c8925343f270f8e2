// Stand-in for https://www.youtube.com/iframe_api (IFrame Player API, documented surface).
window.__standIn = { youtube: [] };
window.YT = {
  PlayerState: { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 },
  Player: function (target, options) {
    const el = typeof target === "string" ? document.getElementById(target) : target;
    const params = new URLSearchParams(options.playerVars || {});
    const iframe = document.createElement("iframe");
    iframe.src = `${options.host || "https://www.youtube.com"}/embed/${options.videoId}?${params}`;
    iframe.width = options.width; iframe.height = options.height;
    el.replaceWith(iframe);
    window.__standIn.youtube.push({ options, src: iframe.src });
    const events = options.events || {};
    const fire = (name, data) => events[name] && events[name]({ target: player, data });
    let state = -1;
    const setState = (s) => { state = s; fire("onStateChange", s); };
    const clock = new StandInClock(212, () => setState(0));
    if (options.playerVars && options.playerVars.start) clock.time = options.playerVars.start;
    const player = this;
    this.playVideo = () => { clock.play(); setState(1); };
    this.pauseVideo = () => { clock.pause(); setState(2); };
    this.seekTo = (s) => clock.seek(s);
    this.getCurrentTime = () => clock.now();
    this.getDuration = () => clock.duration;
    this.getPlaybackRate = () => clock.rate;
    this.setPlaybackRate = (r) => { clock.pause(); clock.rate = r; if (state === 1) clock.play(); fire("onPlaybackRateChange", r); };
    this.getPlayerState = () => state;
    this.getIframe = () => iframe;
    window.__standIn.youtubePlayer = this;
    setTimeout(() => {
      // Videos whose id starts with "gone" behave like a removed / embed-blocked video.
      if (options.videoId.startsWith("gone")) fire("onError", 150); else fire("onReady");
    }, 50);
  },
};
setTimeout(() => window.onYouTubeIframeAPIReady && window.onYouTubeIframeAPIReady(), 0);
