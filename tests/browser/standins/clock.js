// A simulated playback clock shared by the provider stand-ins.
function StandInClock(duration, onEnd) {
  this.duration = duration; this.time = 0; this.rate = 1; this.playing = false; this.since = 0;
  this.now = () => this.playing ? Math.min(this.duration, this.time + (performance.now() - this.since) / 1000 * this.rate) : this.time;
  this.play = () => { if (!this.playing) { this.since = performance.now(); this.playing = true;
    clearTimeout(this.timer); this.timer = setTimeout(() => { this.time = this.duration; this.playing = false; onEnd(); },
    (this.duration - this.time) / this.rate * 1000); } };
  this.pause = () => { this.time = this.now(); this.playing = false; clearTimeout(this.timer); };
  this.seek = (t) => { const was = this.playing; this.pause(); this.time = Math.max(0, Math.min(this.duration, t)); if (was) this.play(); };
}
