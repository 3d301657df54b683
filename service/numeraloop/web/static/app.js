// Every htmx request carries the page's CSRF token; the server refuses state changes without it.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
});

// An htmx request the server refused shows its message where the page asked, never silently.
document.addEventListener("htmx:responseError", (event) => {
  const target = document.getElementById("live-error");
  if (target) {
    target.textContent = event.detail.xhr.getResponseHeader("X-Error-Message") ||
      "That did not work. Nothing was lost: try again.";
  }
});
