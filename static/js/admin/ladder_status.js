// The video change page: while an upload is queued or transcoding, its "Transcoding" status is
// refreshed every 2 s from the admin's status URL (videos/admin.py ladder_status_view); once the
// ladder is ready (or failed, or cancelled) the page reloads to show the facts the transcode read.
(function () {
  "use strict";

  const field = document.querySelector(".field-ladder_status .readonly");
  if (!field || !/^(Queued|Transcoding)/.test(field.textContent.trim())) return;
  const url = window.location.pathname.replace(/change\/$/, "ladder/");

  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const status = await response.json();
        field.textContent = status.text;
        if (status.state === "ready" || status.state === "failed" || status.state === "cancelled") {
          window.location.reload();
          return;
        }
      }
    } catch {
      // A dropped connection: try again on the next tick.
    }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
