/**
 * Where the watch tracker keeps unsent batches: one localStorage entry per member, named by the
 * opaque outbox key the server renders for that member (it does not reveal the user id).
 *
 * A browser can be shared: the key keeps member A's batches out of member B's outbox, and logout
 * (logout.js) drops the member's entry so nothing of theirs is left behind for the next person.
 */

export const OUTBOX_PREFIX = "watchpoint:pending-batches";
// The tracker before per-member outboxes used this one key for everyone. We cannot tell whose its
// batches are, so they are deleted, never resent.
export const LEGACY_OUTBOX_KEY = OUTBOX_PREFIX;
// Dispatched on document when the member submits a logout form: the tracker stops storing.
export const LOGOUT_EVENT = "watchpoint:logout";

export function outboxStorageKey(outboxKey) {
  return `${OUTBOX_PREFIX}:${outboxKey}`;
}

export function outboxClear(outboxKey) {
  try {
    localStorage.removeItem(outboxStorageKey(outboxKey));
  } catch {
    /* storage disabled: there is nothing stored either */
  }
}
