// Live parts of a page: an element with data-refresh="URL" is re-fetched every
// data-interval seconds and its content replaced. With data-until-done it stops
// once the fetched fragment no longer carries data-live (the recovery ended).
"use strict";

function keepFresh(region) {
  const url = region.dataset.refresh;
  const seconds = Number(region.dataset.interval || 2);
  const untilDone = "untilDone" in region.dataset;
  if (untilDone && !region.querySelector("[data-live]")) return;

  async function refresh() {
    // A keyboard user inside the region would lose their place: wait for them.
    if (!region.contains(document.activeElement) && !document.hidden) {
      try {
        const response = await fetch(url, {credentials: "same-origin",
                                           headers: {"X-Requested-With": "fetch"}});
        if (response.status === 401 || response.redirected) {
          // The session ended: reload, which leads to the login.
          window.location.reload();
          return;
        }
        if (response.ok) {
          const html = await response.text();
          if (html.trim() !== region.innerHTML.trim()) region.innerHTML = html;
        }
      } catch (error) {
        // The server is restarting or the network blipped: try again next round.
      }
    }
    if (untilDone && !region.querySelector("[data-live]")) return;
    window.setTimeout(refresh, seconds * 1000);
  }
  window.setTimeout(refresh, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(keepFresh);
});
