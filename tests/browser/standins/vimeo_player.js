// Stand-in for https://player.vimeo.com/api/player.js (documented methods, events and options).
window.__standIn = { vimeo: [] };
window.Vimeo = { Player: function (element, options) {
  const iframe = document.createElement("iframe");
  const id = options.id || String(options.url).split("/")[3];
  iframe.src = `https://player.vimeo.com/video/${id}?dnt=${options.dnt ? 1 : 0}`;
  element.appendChild(iframe);
  window.__standIn.vimeo.push({ options, src: iframe.src });
  const handlers = {};
  const fire = (name, data) => (handlers[name] || []).forEach((cb) => cb(data));
  const clock = new StandInClock(62, () => { clearInterval(ticker); fire("ended", { seconds: 62, duration: 62 }); });
  let ticker = null;
  const tick = () => fire("timeupdate", { seconds: clock.now(), duration: clock.duration, percent: clock.now() / clock.duration });
  this.on = (name, cb) => { (handlers[name] = handlers[name] || []).push(cb); };
  this.off = (name) => { delete handlers[name]; };
  this.ready = () => new Promise((resolve) => setTimeout(resolve, 50));
  this.play = () => { clock.play(); clearInterval(ticker); ticker = setInterval(tick, 250); fire("play", { seconds: clock.now() }); return Promise.resolve(); };
  this.pause = () => { clock.pause(); clearInterval(ticker); fire("pause", { seconds: clock.now() }); return Promise.resolve(); };
  this.getCurrentTime = () => Promise.resolve(clock.now());
  this.setCurrentTime = (s) => { fire("seeking", { seconds: s }); clock.seek(s); setTimeout(() => fire("seeked", { seconds: s, duration: 62 }), 20); return Promise.resolve(s); };
  this.getDuration = () => Promise.resolve(clock.duration);
  this.getPlaybackRate = () => Promise.resolve(clock.rate);
  this.setPlaybackRate = (r) => { clock.pause(); clock.rate = r; clock.play(); fire("playbackratechange", { playbackRate: r }); return Promise.resolve(r); };
  window.__standIn.vimeoPlayer = this;
} };
