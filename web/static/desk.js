// The desk's small amount of JavaScript: live SLA countdowns, a queue that refreshes
// itself, and choices that depend on another field (subcategories of a category).
// Every page works without it.
(() => {
  "use strict";

  const spell = (ms) => {
    const minutes = Math.round(Math.abs(ms) / 60000);
    const d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    return d ? `${d}d ${h}h` : h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m`;
  };

  // Countdowns run on the server's clock (sent with the page), so a wrong clock on the
  // technician's machine does not move deadlines.
  let skew = 0;
  const setSkew = (element) => {
    if (element && element.dataset.serverNow) skew = new Date(element.dataset.serverNow) - Date.now();
  };

  const countdowns = () => {
    for (const badge of document.querySelectorAll(".badge[data-due]")) {
      const left = new Date(badge.dataset.due) - (Date.now() + skew);
      const out = badge.querySelector(".countdown");
      if (out) out.textContent = left > 0 ? `due in ${spell(left)}` : `overdue by ${spell(left)}`;
    }
  };

  const showCount = (rows) => {
    const count = document.getElementById("queue-count");
    if (count && rows) count.textContent = rows.dataset.summary;
  };

  // Keyboard focus inside the queue survives its refresh: the same control of the same
  // task's row, when that row is still there.
  const keptFocus = (rows) => {
    const focused = document.activeElement;
    if (!focused || !rows.contains(focused)) return null;
    const row = focused.closest("tr[data-task]");
    if (!row) return null;
    const controls = Array.from(row.querySelectorAll("a, button, input, select"));
    return { task: row.dataset.task, index: controls.indexOf(focused) };
  };
  const restoreFocus = (rows, kept) => {
    if (!kept) return;
    const row = rows.querySelector(`tr[data-task="${CSS.escape(kept.task)}"]`);
    const controls = row ? Array.from(row.querySelectorAll("a, button, input, select")) : [];
    if (controls[kept.index]) controls[kept.index].focus({ preventScroll: true });
  };

  const refreshQueue = () => {
    const table = document.getElementById("queue");
    if (!table) return;
    const every = Number(table.dataset.refresh || 30) * 1000;
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const answer = await fetch(table.dataset.source, {
          credentials: "same-origin",
          headers: { "X-Deskflow-Background": "1" }, /* not activity: the session may go idle */
          redirect: "manual",
        });
        if (answer.type === "opaqueredirect") {
          window.location.reload(); /* the session ended: the log-in page says why */
          return;
        }
        if (!answer.ok) return;
        const holder = document.createElement("table");
        holder.innerHTML = await answer.text();
        const rows = holder.querySelector("tbody");
        const current = document.getElementById("queue-rows");
        if (rows && current) {
          const kept = keptFocus(current);
          const scrolled = window.scrollY;
          current.replaceWith(rows);
          restoreFocus(rows, kept);
          window.scrollTo(0, scrolled);
          setSkew(rows);
          showCount(rows);
          countdowns();
        }
      } catch (_) { /* offline for a moment: try again at the next tick */ }
    }, every);
  };

  const dependentChoices = () => {
    for (const set of document.querySelectorAll("fieldset[data-depends-on]")) {
      const source = document.getElementById(set.dataset.dependsOn);
      if (!source) continue;
      const show = () => {
        for (const group of set.querySelectorAll("[data-when]")) {
          const visible = !source.value || group.dataset.when === source.value;
          group.hidden = !visible;
          if (!visible) group.querySelectorAll("input").forEach((box) => { box.checked = false; });
        }
      };
      source.addEventListener("change", show);
      show();
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    setSkew(document.querySelector("[data-server-now]"));
    showCount(document.getElementById("queue-rows"));
    countdowns();
    setInterval(countdowns, 30000);
    refreshQueue();
    dependentChoices();
  });
})();
