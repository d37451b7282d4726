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
    if (!holdsReadersPlace(region) && !document.hidden) {
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

// === tables and keyboard shortcuts (issue 17) ========================================
// Bulk selection: a header checkbox (data-select-all="FORM") selects every row
// checkbox of that form; data-bulk-count="FORM" says how many are selected.
function keepBulkCount(formId) {
  const boxes = () => document.querySelectorAll(`input[name="uuid"][form="${formId}"]`);
  const count = document.querySelector(`[data-bulk-count="${formId}"]`);
  const all = document.querySelector(`[data-select-all="${formId}"]`);
  const update = () => {
    const chosen = Array.from(boxes()).filter((box) => box.checked).length;
    if (count) count.textContent = chosen ? `${chosen} selected` : "none selected";
    if (all) {
      all.checked = chosen > 0 && chosen === boxes().length;
      all.indeterminate = chosen > 0 && chosen < boxes().length;
    }
  };
  if (all) {
    all.addEventListener("change", () => {
      boxes().forEach((box) => { box.checked = all.checked; });
      update();
    });
  }
  boxes().forEach((box) => box.addEventListener("change", update));
  update();
}

// Shortcuts: "/" search, "g" then a letter goes to a page, "?" the help.
// Never while typing in a field, nor with a modifier key held.
function keyboardShortcuts(links) {
  const pages = {o: "overview", s: "segments", h: "hosts", n: "notifications", c: "charts",
                 a: "audit"};
  const help = document.getElementById("shortcuts");
  const search = document.getElementById("site-search");
  let pendingG = 0;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && target === search) search.blur();
      return;
    }
    if (pendingG && Date.now() - pendingG < 1500 && pages[event.key]) {
      pendingG = 0;
      event.preventDefault();
      window.location.assign(links.dataset[pages[event.key]]);
      return;
    }
    pendingG = 0;
    if (event.key === "/" && search) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "?" && help && !help.open) {
      event.preventDefault();
      help.showModal();
    } else if (event.key === "g") {
      pendingG = Date.now();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-select-all]").forEach(
    (box) => keepBulkCount(box.dataset.selectAll));
  const links = document.querySelector("[data-shortcuts]");
  if (links) keyboardShortcuts(links);
});
// === end of issue 17's tables and keyboard shortcuts ===================================

// --- Live regions keep what the reader opened (issue 17: recovery page, overview) ---
// A region fetched again replaces its <details>; those the reader had opened
// (known by their id) are opened again, so a refresh never folds a message or
// the event log under their eyes.
// Focus on a fold's summary (a reader opened the event log) does not stop the
// refresh: the fold and the focus come back after it. Any other focus does.
function holdsReadersPlace(region) {
  const focused = document.activeElement;
  if (!region.contains(focused)) return false;
  return !(focused.tagName === "SUMMARY" && focused.parentElement.id);
}

(function keepOpenDetails() {
  const opened = new Set();
  let focusedFold = null;
  document.addEventListener("focusin", (event) => {
    const target = event.target;
    focusedFold = target.tagName === "SUMMARY" && target.parentElement.id
      ? target.parentElement.id : null;
  });
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.id) return;
    if (details.open) opened.add(details.id); else opened.delete(details.id);
  }, true);
  function reopen(region) {
    region.querySelectorAll("details[id]").forEach((details) => {
      if (opened.has(details.id) && !details.open) details.open = true;
    });
    const fold = focusedFold && document.getElementById(focusedFold);
    if (fold && region.contains(fold) && !region.contains(document.activeElement)) {
      fold.querySelector("summary").focus({preventScroll: true});
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-refresh]").forEach((region) => {
      new MutationObserver(() => reopen(region)).observe(region, {childList: true});
    });
  });
})();
