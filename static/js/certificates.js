// Certificate pages: drop zones, wizard focus, key-mode toggle, tick-all, copy buttons.
// No inline script anywhere (the CSP forbids it): behaviour hangs on data attributes.
(function () {
  "use strict";

  function describeFiles(zone, input) {
    const output = zone.querySelector(".dropzone-files");
    if (!output) return;
    const names = Array.from(input.files || []).map((f) => f.name);
    output.textContent = names.join(", ");
  }

  function setupDropzone(zone) {
    if (zone.dataset.ready) return;
    zone.dataset.ready = "1";
    const input = zone.querySelector("input[type=file]");
    if (!input) return;
    ["dragenter", "dragover"].forEach((name) =>
      zone.addEventListener(name, (event) => {
        event.preventDefault();
        zone.classList.add("dragover");
      })
    );
    ["dragleave", "dragend"].forEach((name) =>
      zone.addEventListener(name, () => zone.classList.remove("dragover"))
    );
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragover");
      const files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      const transfer = new DataTransfer();
      const list = input.multiple ? Array.from(files) : [files[0]];
      list.forEach((file) => transfer.items.add(file));
      input.files = transfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    input.addEventListener("change", () => describeFiles(zone, input));
  }

  function toggleCsrField(root) {
    const checked = root.querySelector("input[name=key_mode]:checked");
    const field = root.querySelector(".csr-field");
    if (field) field.hidden = !checked || checked.value !== "csr";
  }

  function setup(root) {
    root.querySelectorAll("[data-dropzone]").forEach(setupDropzone);
    if (root.querySelector && root.querySelector("input[name=key_mode]")) toggleCsrField(root);
  }

  document.addEventListener("DOMContentLoaded", () => setup(document));
  document.addEventListener("htmx:afterSettle", (event) => {
    setup(document);
    // After a wizard step is swapped in, move focus to its heading for screen readers.
    const heading = event.target.querySelector && event.target.querySelector("[data-focus-on-swap]");
    if (heading) heading.focus();
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("input[name=key_mode]")) toggleCsrField(document);
  });
  document.addEventListener("click", (event) => {
    const all = event.target.closest("[data-check-all],[data-uncheck-all]");
    if (all) {
      const name = all.dataset.checkAll || all.dataset.uncheckAll;
      const value = Boolean(all.dataset.checkAll);
      document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((box) => {
        box.checked = value;
      });
      const selection = document.querySelector("input[name=mode][value=selection]");
      if (selection && value) selection.checked = true;
    }
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(() => {
          copy.textContent = copy.dataset.copied || copy.textContent;
        });
      }
    }
  });
  // Ticking a certificate means "renew the ticked ones".
  document.addEventListener("change", (event) => {
    if (event.target.matches("input[type=checkbox][name=certificate_ids]") && event.target.checked) {
      const selection = document.querySelector("input[name=mode][value=selection]");
      if (selection) selection.checked = true;
    }
  });
})();
