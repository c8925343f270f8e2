// The bar under a self-hosted video (html5.js): a seek rail with chapter marks and scrubbing
// previews (the ladder's thumbnails.vtt, when the transcode made one: without it the rail still
// seeks), a chapter menu, and with hls.js a quality menu (Auto + each rung). Native <select>s and a
// range input: labelled, and driven by the keyboard as any form control is.

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function el(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function labelled(text, control) {
  const label = el("label", "player-bar__field");
  const span = el("span", "player-bar__label");
  span.textContent = text;
  label.append(span, control);
  return label;
}

// "00:01:02.500" or "01:02.500" -> seconds; NaN otherwise.
function vttTime(text) {
  const parts = text.trim().split(":").map(Number);
  if (parts.length < 2 || parts.length > 3 || parts.some((n) => !Number.isFinite(n))) return NaN;
  return parts.reduce((total, n) => total * 60 + n, 0);
}

// The tiles of a WebVTT thumbnail track: cues whose text is "sprite.jpg#xywh=x,y,w,h". Images on
// another origin are skipped (the page's CSP would refuse them anyway).
export function previewTilesParse(text, baseUrl) {
  const tiles = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n");
    const at = lines.findIndex((line) => line.includes("-->"));
    if (at < 0 || !lines[at + 1]) continue;
    const [from, to] = lines[at].split("-->").map((part) => vttTime(part.trim().split(/\s+/)[0]));
    const found = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[at + 1].trim());
    if (!found || !Number.isFinite(from) || !Number.isFinite(to)) continue;
    const url = new URL(found[1], baseUrl);
    if (url.origin !== window.location.origin) continue;
    const [x, y, w, h] = found.slice(2).map(Number);
    tiles.push({ from, to, url: url.href, x, y, w, h });
  }
  return tiles;
}

async function previewTilesLoad(url) {
  if (!url) return [];
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    // No sprite for this ladder (an older transcode): a 404 or 403, and no previews.
    return response.ok ? previewTilesParse(await response.text(), url) : [];
  } catch {
    return [];
  }
}

export function mountControls({ player, element, video, config, previewsUrl, signedUrl = (url) => url }) {
  const chapters = (config.tracks?.chapters || []).filter((c) => Number.isFinite(c.start));
  const bar = el("div", "player-bar", { "data-player-bar": "" });

  // --- Seek rail: chapter marks, and a preview of the frame under the pointer or the thumb.
  const rail = el("div", "player-rail");
  const seek = el("input", "player-rail__input", { type: "range", min: "0", max: "0", step: "any", "aria-label": "Seek", "data-player-seek": "" });
  seek.value = "0";
  const marks = el("div", "player-rail__marks", { "aria-hidden": "true" });
  const preview = el("div", "player-preview", { "data-player-preview": "", "aria-hidden": "true" });
  const previewImage = el("div", "player-preview__image");
  const previewTime = el("span", "player-preview__time");
  preview.append(previewImage, previewTime);
  preview.hidden = true;
  rail.append(marks, seek, preview);
  bar.appendChild(rail);

  let tiles = [];
  let dragging = false;
  const duration = () => player.duration() || 0;

  const showPreview = (seconds) => {
    const total = duration();
    if (!total) return;
    const t = Math.min(Math.max(seconds, 0), total);
    preview.style.left = `${(t / total) * 100}%`;
    previewTime.textContent = clock(t);
    const tile = tiles.find((candidate) => t >= candidate.from && t < candidate.to);
    previewImage.hidden = !tile;
    if (tile) {
      Object.assign(previewImage.style, {
        width: `${tile.w}px`,
        height: `${tile.h}px`,
        backgroundImage: `url("${signedUrl(tile.url)}")`,
        backgroundPosition: `-${tile.x}px -${tile.y}px`,
      });
    }
    preview.dataset.time = String(Math.round(t));
    preview.hidden = false;
  };
  const hidePreview = () => {
    preview.hidden = true;
  };
  rail.addEventListener("pointermove", (event) => {
    const box = seek.getBoundingClientRect();
    if (box.width > 0) showPreview(((event.clientX - box.left) / box.width) * duration());
  });
  rail.addEventListener("pointerleave", () => {
    if (!dragging) hidePreview();
  });
  seek.addEventListener("input", () => {
    dragging = true;
    showPreview(Number(seek.value));
  });
  seek.addEventListener("change", () => {
    dragging = false;
    player.seek(Number(seek.value));
  });
  seek.addEventListener("blur", hidePreview);

  const drawMarks = () => {
    const total = duration();
    marks.replaceChildren();
    seek.max = String(total);
    if (!total) return;
    for (const chapter of chapters) {
      if (chapter.start <= 0 || chapter.start >= total) continue;
      const mark = el("span", "player-rail__mark");
      mark.style.left = `${(chapter.start / total) * 100}%`;
      mark.title = chapter.title;
      marks.appendChild(mark);
    }
  };
  player.on("durationchange", drawMarks);

  // --- Menus.
  const menus = el("div", "player-bar__menus");
  let chapterSelect = null;
  if (chapters.length) {
    chapterSelect = el("select", "player-bar__select", { "data-player-chapters": "" });
    for (const chapter of chapters) {
      const option = el("option");
      option.value = String(chapter.start);
      option.textContent = `${clock(chapter.start)} ${chapter.title}`;
      chapterSelect.appendChild(option);
    }
    chapterSelect.addEventListener("change", () => player.seek(Number(chapterSelect.value)));
    menus.appendChild(labelled("Chapter", chapterSelect));
  }
  if (player.hls) menus.appendChild(labelled("Quality", qualityMenu(player.hls)));
  bar.appendChild(menus);

  const onTime = () => {
    const t = video.currentTime;
    if (!dragging) seek.value = String(t);
    seek.setAttribute("aria-valuetext", `${clock(t)} of ${clock(duration())}`);
    if (chapterSelect && document.activeElement !== chapterSelect) {
      const current = chapters.filter((c) => c.start <= t + 0.25).pop() || chapters[0];
      chapterSelect.value = String(current.start);
    }
  };
  video.addEventListener("timeupdate", onTime);
  video.addEventListener("seeked", onTime);

  element.appendChild(bar);
  previewTilesLoad(previewsUrl).then((loaded) => {
    tiles = loaded;
    element.dataset.previewTiles = String(tiles.length);
  });
}

// Auto (hls.js picks the rung for the connection) or one rung, tallest first.
function qualityMenu(hls) {
  const select = el("select", "player-bar__select", { "data-player-quality": "" });
  const auto = el("option");
  auto.value = "-1";
  auto.textContent = "Auto";
  select.appendChild(auto);
  const Hls = window.Hls;
  const fill = () => {
    select.replaceChildren(auto);
    hls.levels
      .map((level, index) => ({ index, height: level.height, bitrate: level.bitrate }))
      .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate)
      .forEach(({ index, height }) => {
        const option = el("option");
        option.value = String(index);
        option.textContent = `${height}p`;
        select.appendChild(option);
      });
    select.value = hls.autoLevelEnabled ? "-1" : String(hls.currentLevel);
  };
  if (hls.levels?.length) fill();
  hls.on(Hls.Events.MANIFEST_PARSED, fill);
  hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => {
    const level = hls.levels[data.level];
    auto.textContent = hls.autoLevelEnabled && level ? `Auto (${level.height}p)` : "Auto";
  });
  // currentLevel switches at once (the buffer ahead is dropped); -1 is automatic again.
  select.addEventListener("change", () => {
    hls.currentLevel = Number(select.value);
  });
  return select;
}
