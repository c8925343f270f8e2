// The page Checkout returns to: it grants nothing, it asks our server (which only Stripe's webhook
// updates) until the plan is active, then says so.
const box = document.querySelector("[data-checkout-done]");
const url = box && box.dataset.statusUrl;
if (url) {
  const started = Date.now();
  const poll = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok && (await response.json()).active) {
        box.querySelector("[data-checkout-waiting]").hidden = true;
        box.querySelector("[data-checkout-slow]").hidden = true;
        box.querySelector("[data-checkout-active]").hidden = false;
        return;
      }
    } catch {
      // A network blip: ask again.
    }
    if (Date.now() - started > 30000) box.querySelector("[data-checkout-slow]").hidden = false;
    setTimeout(poll, Date.now() - started < 60000 ? 1500 : 10000);
  };
  poll();
}
