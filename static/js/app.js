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
