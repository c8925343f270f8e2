/**
 * Logging out discards the member's unsent watch batches on this browser.
 *
 * Every form marked `data-logout` (the header button, the logout page) clears the outbox named by
 * <body data-outbox-key> as it is submitted. We do not try a last flush: a shared browser must not
 * keep one member's batches for the next member, and a request racing the logout could not be
 * confirmed anyway. The cost is the last few unsent seconds of this member, on this browser only.
 */
import { LOGOUT_EVENT, outboxClear } from "./outbox.js";

document.addEventListener("submit", (event) => {
  const outboxKey = document.body.dataset.outboxKey;
  if (!outboxKey || !(event.target instanceof HTMLFormElement) || !event.target.hasAttribute("data-logout")) return;
  // Tell a tracker on this page first, so it stores nothing more (a pagehide beacon would).
  document.dispatchEvent(new CustomEvent(LOGOUT_EVENT));
  outboxClear(outboxKey);
});
