// Metadock console: small progressive enhancements; every page works without this file.
"use strict";

// Times: the server writes UTC to the millisecond; show them in the browser's time zone, with UTC kept on hover.
function localTimes(root) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) continue;
    const pad = (n, width = 2) => String(n).padStart(width, "0");
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
    node.textContent = `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ` +
      `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}.` +
      `${pad(moment.getMilliseconds(), 3)}`;
    node.title = `${node.title} (shown in ${zone})`;
  }
}

// The runs filter's from/to: typed in the browser's time zone. The hidden tz field tells the server which zone that
// is; times already filtered by (data-utc, from the server) are shown in it too.
function browserZoneFilters(root) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (const field of root.querySelectorAll("input[data-browser-zone]")) field.value = zone;
  for (const label of root.querySelectorAll("[data-zone-name]")) label.textContent = `(${zone})`;
  const pad = (n) => String(n).padStart(2, "0");
  for (const input of root.querySelectorAll("input[data-utc]")) {
    if (!input.dataset.utc) continue;
    const moment = new Date(input.dataset.utc);
    if (Number.isNaN(moment.getTime())) continue;
    input.value = `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}T` +
      `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
  }
}

// "Copy" buttons: the text of the element they name.
function copyButtons(root) {
  for (const button of root.querySelectorAll("[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (error) {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  }
}

// "Show more": fetch the next slice and append it, instead of loading a new page.
function showMore(root) {
  for (const link of root.querySelectorAll("a[data-more]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      link.setAttribute("aria-busy", "true");
      const response = await fetch(link.dataset.more, { credentials: "same-origin" });
      // A failure, or a session that ended (answered by the login page): go to the slice's own page instead.
      if (!response.ok || response.redirected) { window.location.href = link.href; return; }
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();  // server-rendered, every character of the payload escaped
      const paragraph = link.closest("p.more");
      const container = document.getElementById("slices");
      for (const piece of Array.from(holder.children)) {
        container.appendChild(piece);
        showMore(piece);
      }
      if (paragraph) paragraph.remove();
    });
  }
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// Keyboard: "/" focuses the page's search or filter box; j/k go to the next/previous payload (a payload page)
// or move through the payload links of a run.
function shortcuts() {
  const links = Array.from(document.querySelectorAll("a.payload-link"));
  let current = -1;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (event.key === "/") {
      const box = document.querySelector("[role=search] input:not([type=hidden]):not([type=checkbox])");
      if (box) { event.preventDefault(); box.focus(); }
      return;
    }
    if (event.key !== "j" && event.key !== "k") return;
    const jump = document.querySelector(`a[data-key="${event.key}"]`);
    if (jump) { window.location.href = jump.href; return; }
    if (!links.length) return;
    current = Math.max(0, Math.min(links.length - 1, current + (event.key === "j" ? 1 : -1)));
    links[current].focus();
  });
}

// The runs page: poll (every 15 s, paused while the tab is hidden) for captures newer than the page.
function newCaptures() {
  const indicator = document.getElementById("new-captures");
  if (!indicator) return;
  const newest = Number(indicator.dataset.newest);
  const poll = async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(indicator.dataset.poll, { credentials: "same-origin" });
      if (response.ok && (await response.json()).newest > newest) { indicator.hidden = false; clearInterval(timer); }
    } catch (error) { /* offline for a moment: try again at the next tick */ }
  };
  const timer = setInterval(poll, 15000);
  document.addEventListener("visibilitychange", poll);  // back on the tab: ask at once
}

// A collapsible JSON tree, built from the downloaded document by the browser's JSON.parse; each level is built only
// when opened (a 3 MB document has hundreds of thousands of values), and every key and value is set as text.
const TREE_CHUNK = 500;
function treeValue(value) {
  const span = document.createElement("span");
  if (typeof value === "string") { span.className = "s2"; span.textContent = JSON.stringify(value); }
  else if (typeof value === "number") { span.className = "m"; span.textContent = String(value); }
  else { span.className = "kc"; span.textContent = String(value); }
  return span;
}
function treeNode(key, value) {
  const label = document.createElement("span");
  label.className = "nt";
  label.textContent = key === null ? "" : `${key}: `;
  if (value === null || typeof value !== "object") {
    const leaf = document.createElement("div");
    leaf.className = "leaf";
    leaf.append(label, treeValue(value));
    return leaf;
  }
  const entries = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const shape = document.createElement("span");
  shape.className = "hint";
  shape.textContent = Array.isArray(value) ? `[${entries.length} items]` : `{${entries.length} keys}`;
  summary.append(label, shape);
  details.append(summary);
  let shown = 0;
  const more = document.createElement("button");
  more.type = "button";
  more.className = "link";
  const showNext = () => {
    for (const [childKey, child] of entries.slice(shown, shown + TREE_CHUNK)) details.insertBefore(treeNode(childKey, child), more);
    shown = Math.min(entries.length, shown + TREE_CHUNK);
    more.hidden = shown >= entries.length;
    more.textContent = `Show ${Math.min(TREE_CHUNK, entries.length - shown)} more of ${entries.length - shown}`;
  };
  more.addEventListener("click", showNext);
  details.append(more);
  details.addEventListener("toggle", () => { if (details.open && shown === 0) showNext(); });
  return details;
}
function jsonTree() {
  const button = document.querySelector("button[data-tree]");
  const holder = document.getElementById("json-tree");
  if (!button || !holder) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    if (holder.childElementCount === 0) {
      button.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(button.dataset.tree, { credentials: "same-origin" });
        if (response.redirected) { window.location.reload(); return; }  // the session ended: to the login page
        const root = treeNode(null, JSON.parse(await response.text()));
        if (root.tagName === "DETAILS") root.open = true;
        holder.append(root);
      } catch (error) {
        holder.textContent = "This payload is not valid JSON as a whole, so it has no tree; the formatted view below still shows it.";
      }
      button.removeAttribute("aria-busy");
    }
    holder.hidden = !holder.hidden;
    button.setAttribute("aria-expanded", String(!holder.hidden));
    button.textContent = holder.hidden ? "Show as a collapsible tree" : "Hide the tree";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  browserZoneFilters(document);
  jsonTree();
  copyButtons(document);
  showMore(document);
  shortcuts();
  newCaptures();
  // "Format JSON" next to a JSON textarea.
  for (const button of document.querySelectorAll("[data-format]")) {
    const area = document.getElementById(button.dataset.format);
    if (!area) continue;
    button.hidden = false;
    button.addEventListener("click", () => {
      try {
        area.value = JSON.stringify(JSON.parse(area.value), null, 2);
        area.setCustomValidity("");
      } catch (error) {
        area.setCustomValidity("Not valid JSON: " + error.message);
        area.reportValidity();
      }
    });
  }
  // A create form is sent once: a double click must not send it twice (the server refuses a re-send anyway).
  for (const form of document.querySelectorAll("form[data-once]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
    });
  }
  // Ticking payloads in a run fills the compare form's two choices (the last two ticked).
  const left = document.getElementById("cmp-left");
  const right = document.getElementById("cmp-right");
  if (left && right) {
    const picked = [];
    for (const box of document.querySelectorAll("input.pick")) {
      box.addEventListener("change", () => {
        const id = box.dataset.pick;
        const at = picked.indexOf(id);
        if (box.checked && at < 0) picked.push(id);
        if (!box.checked && at >= 0) picked.splice(at, 1);
        while (picked.length > 2) {
          const dropped = picked.shift();
          const other = document.getElementById("pick-" + dropped);
          if (other) other.checked = false;
        }
        if (picked[0]) left.value = picked[0];
        if (picked[1]) right.value = picked[1];
      });
    }
  }
});
