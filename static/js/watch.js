// The watch page around the player: tells the site what the player learnt about the video
// (its real duration, or that it is unavailable) and moves on through a playlist when one ends.
const AUTO_ADVANCE_KEY = "watchpoint:auto-advance";

function post(url, csrfToken, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: JSON.stringify(body),
  }).catch(() => null);
}

function showNotice(element, text) {
  const notice = document.querySelector("[data-player-notice]");
  if (!notice) return;
  notice.textContent = text;
  notice.hidden = false;
}

function autoAdvanceEnabled() {
  return window.localStorage.getItem(AUTO_ADVANCE_KEY) !== "off";
}

const toggle = document.querySelector("[data-auto-advance]");
if (toggle) {
  toggle.checked = autoAdvanceEnabled();
  toggle.addEventListener("change", () => {
    window.localStorage.setItem(AUTO_ADVANCE_KEY, toggle.checked ? "on" : "off");
  });
}

document.addEventListener("watchpoint:player-ready", (event) => {
  const { player, video, element } = event.detail;
  const data = element.dataset;
  const reportUrl = data.reportUrl;
  const canReport = Boolean(reportUrl && data.canReport === "true");

  // The first real duration fills an empty one; the server ignores it once one is known.
  let durationSent = video.duration !== null;
  const sendDuration = (seconds) => {
    if (durationSent || !canReport || !(seconds > 0)) return;
    durationSent = true;
    post(reportUrl, data.csrfToken, { kind: "duration", seconds });
  };
  player.on("durationchange", ({ duration }) => sendDuration(duration));
  if (player.duration() !== null) sendDuration(player.duration());

  let unavailableSent = false;
  player.on("error", ({ code, unavailable }) => {
    if (unavailable) {
      showNotice(element, "This video is no longer available from its host. We have let the team know.");
      if (canReport && !unavailableSent) {
        unavailableSent = true;
        post(reportUrl, data.csrfToken, { kind: "unavailable", code: String(code) });
      }
    } else {
      showNotice(element, "The video could not play. Reload the page to try again.");
    }
  });

  if (data.autoplay === "true") player.play();

  // Chapter links (?t= without scripts): seek in place, and keyboard focus goes to the player.
  for (const link of document.querySelectorAll("[data-chapter-seek]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      player.seek(Number(link.dataset.chapterSeek));
      player.play();
      player.focus();
    });
  }

  player.on("ended", () => {
    const nextUrl = data.nextUrl;
    if (!nextUrl || !autoAdvanceEnabled()) return;
    const next = new URL(nextUrl, window.location.href);
    next.searchParams.set("autoplay", "1");
    window.location.assign(next.toString());
  });
});
