// Metadock console: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
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
  // "Copy" next to a new API key.
  for (const button of document.querySelectorAll("[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
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
