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

// A power device's fields: only those of the chosen driver (data-driver lists
// the drivers a field is for); none when no driver is chosen. A field with an
// error stays in sight.
function showDriverFields(fieldset) {
  const driver = fieldset.querySelector("[data-power-driver]");
  if (!driver) return;
  const update = () => {
    fieldset.querySelectorAll("[data-driver]").forEach((input) => {
      const field = input.closest(".field");
      field.hidden = !input.dataset.driver.split(" ").includes(driver.value)
        && !field.classList.contains("invalid");
    });
  };
  driver.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(keepFresh);
  document.querySelectorAll("[data-power-device]").forEach(showDriverFields);
});
