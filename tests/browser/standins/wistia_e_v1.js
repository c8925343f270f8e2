// Stand-in for https://fast.wistia.com/assets/external/E-v1.js (the `_wq` queue and video API).
window.__standIn = { wistia: [] };
function wistiaVideo(id) {
  const handlers = {};
  const fire = (name, ...args) => (handlers[name] || []).forEach((cb) => cb(...args));
  let state = "beforeplay";
  let second = 0;
  const clock = new StandInClock(95, () => { state = "ended"; fire("end"); });
  setInterval(() => { const s = Math.floor(clock.now()); if (s !== second) { second = s; fire("secondchange", s); } }, 100);
  return {
    hashedId: () => id,
    bind: (name, cb) => { (handlers[name] = handlers[name] || []).push(cb); },
    unbind: (name, cb) => { handlers[name] = (handlers[name] || []).filter((h) => h !== cb); },
    play: () => { clock.play(); state = "playing"; fire("play"); },
    pause: () => { clock.pause(); state = "paused"; fire("pause"); },
    state: () => state,
    duration: () => clock.duration,
    time: (t) => { if (t === undefined) return clock.now(); const last = clock.now(); clock.seek(t); fire("seek", t, last); },
    playbackRate: (r) => { if (r === undefined) return clock.rate; clock.pause(); clock.rate = r; if (state === "playing") clock.play(); fire("playbackratechange", r); },
  };
}
function wistiaHandle(entry) {
  const iframe = document.querySelector(`iframe.wistia_embed[src*="${entry.id}"]`);
  window.__standIn.wistia.push({ id: entry.id, src: iframe && iframe.src });
  const video = wistiaVideo(entry.id);
  window.__standIn.wistiaVideo = video;
  setTimeout(() => entry.onReady(video), 50);
}
window._wq = window._wq || [];
window._wq.forEach(wistiaHandle);
window._wq = { push: wistiaHandle };
