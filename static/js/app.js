// Small behaviours without inline script (the CSP forbids it).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("[data-autosubmit]")) {
    target.form.requestSubmit();
  }
});
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.dataset.confirm)) {
    event.preventDefault();
  }
});
// A header checkbox that (un)checks every checkbox named by data-check-all in its form or table.
document.addEventListener("change", (event) => {
  const master = event.target;
  if (!master.matches("[data-check-all]")) {
    return;
  }
  const scope = master.closest("form") || master.closest("table") || document;
  scope.querySelectorAll(`input[type=checkbox][name="${master.dataset.checkAll}"]`).forEach((box) => {
    box.checked = master.checked;
  });
});
// Refuse an oversized file before uploading it (the server checks again).
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!input.matches("input[type=file][data-max-size]")) {
    return;
  }
  const limit = Number(input.dataset.maxSize);
  const file = input.files && input.files[0];
  const tooLarge = file && limit && file.size > limit;
  input.setCustomValidity(tooLarge ? input.dataset.maxSizeMessage || "Too large" : "");
  if (tooLarge) {
    input.reportValidity();
  }
});
