// Small touches; every page works without them.
// A form marked data-once sends once: a second click while it is on its way does nothing
// (the server would answer it as the first anyway, from the form's one-time key).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) return;
  if (form.dataset.sent === "yes") { event.preventDefault(); return; }
  form.dataset.sent = "yes";
});
// A button marked data-print prints the page (the browser's own Print does the same).
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) window.print();
});
