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

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Rows of key/value inputs (a contact's custom fields): added and removed in place. Without this
// script the form still has one empty row, and a row cleared is a row removed.
document.querySelectorAll("[data-add-row], [data-remove-row]").forEach((button) => { button.hidden = false; });
document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const rows = document.getElementById(add.dataset.rows);
    const row = document.getElementById(add.dataset.addRow).content.firstElementChild.cloneNode(true);
    const n = rows.children.length + 1;
    row.querySelectorAll("[aria-label]").forEach((el) => el.setAttribute("aria-label", `${el.getAttribute("aria-label")} ${n}`));
    rows.append(row);
    row.querySelector("input").focus();
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest(".field-row");
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    (next ? next.querySelector("input") : document.querySelector("[data-add-row]"))?.focus();
  }
});

// Contacts CSV import: a preview of the columns from the file's first 64 KB, then the upload with
// the chosen mapping while the page shows the import's progress, then what was rejected, as a CSV.
const importForm = document.getElementById("import-form");
if (importForm) setUpImport(importForm);

function setUpImport(form) {
  const file = form.querySelector("#file");
  const encoding = form.querySelector("#encoding");
  const preview = document.getElementById("import-preview");
  const progress = document.getElementById("import-progress");
  const problem = document.getElementById("import-error");
  const result = document.getElementById("import-result");
  const submit = document.getElementById("import-submit");
  const say = (text) => { problem.textContent = text; problem.hidden = !text; };

  async function showPreview() {
    preview.replaceChildren();
    say("");
    if (!file.files.length) return;
    preview.textContent = "Reading the file…";
    try {
      const response = await fetch(`/contacts/import/preview?${new URLSearchParams({ encoding: encoding.value })}`, {
        method: "POST", body: file.files[0].slice(0, 64 * 1024),
        headers: { "Content-Type": "text/csv", "X-CSRF-Token": csrfToken(), Accept: "text/html" },
      });
      if (!(response.headers.get("Content-Type") || "").startsWith("text/html")) throw new Error("not a preview");
      preview.innerHTML = await response.text();
    } catch {
      preview.replaceChildren();
      say("The file could not be previewed. You can still import it: its columns are then recognised by their names.");
    }
  }
  file.addEventListener("change", showPreview);
  encoding.addEventListener("change", showPreview);
  preview.addEventListener("change", () => {
    const missing = document.getElementById("no-phone-column");
    if (missing) missing.hidden = ![...preview.querySelectorAll("select[data-column]")].every((s) => s.value !== "phone");
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    const data = new FormData(form);
    const mapping = {};
    preview.querySelectorAll("select[data-column]").forEach((select) => { mapping[select.dataset.column] = select.value || null; });
    if (Object.keys(mapping).length) data.set("mapping", JSON.stringify(mapping));
    const workspace = form.querySelector("#workspace_id");
    let finished = false;
    const poll = async () => {
      try {
        const response = await fetch(`/contacts/import/progress?${new URLSearchParams({ workspace_id: workspace ? workspace.value : "" })}`,
          { headers: { Accept: "application/json" } });
        const running = response.ok ? (await response.json()).running : null;
        if (running && !finished) {
          progress.textContent = `Importing: ${running.rows_read} rows read so far, ${running.imported} new, ` +
            `${running.updated} updated, ${running.rejected_total} rejected.`;
        }
      } catch { /* the next poll tries again; the upload's answer is what counts */ }
    };
    const timer = setInterval(poll, 1000);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && !finished) progress.textContent = `Uploading the file: ${Math.round((100 * e.loaded) / e.total)}%.`;
    });
    xhr.addEventListener("loadend", () => {
      finished = true;
      clearInterval(timer);
      submit.disabled = false;
      progress.textContent = "";
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch { answer = null; }
      if (xhr.status === 200 && answer && answer.import_id) {
        showResult(answer, chosen, encoding.value);
      } else if (answer && answer.error) {
        const e = answer.error;
        say(e.rows ? `${e.message} The ${e.rows} rows before it were read: ${e.imported} new contacts, ${e.updated} updated.` : e.message);
      } else if (xhr.status === 0) {
        say("The upload did not reach NumeraLoop: check your connection and import the file again (rows already imported are updated, not repeated).");
      } else {
        say("The import did not finish. Reload the page to check you are still signed in, then import the file again.");
      }
    });
    say("");
    result.hidden = true;
    submit.disabled = true;
    progress.textContent = "Uploading the file…";
    xhr.send(data);
  });

  function showResult(answer, chosen, encodingName) {
    const el = (tag, text) => { const node = document.createElement(tag); if (text !== undefined) node.textContent = text; return node; };
    const heading = el("h2", "Import finished");
    heading.id = "import-result-heading";
    heading.tabIndex = -1;
    const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    const parts = [`${count(answer.rows, "row", "rows")} read: ${count(answer.imported, "new contact", "new contacts")}, ` +
      `${answer.updated} updated`];
    if (answer.merged) parts.push(`${answer.merged} repeated a number already in the file`);
    if (answer.listed !== null && answer.listed !== undefined) parts.push(`${answer.listed} added to the list`);
    if (answer.opted_out) parts.push(`${count(answer.opted_out, "is", "are")} opted out`);
    parts.push(`${answer.rejected_total} rejected`);
    const nodes = [heading, el("p", `${parts.join(", ")}.`)];
    if (answer.rejected_total) {
      const table = el("table");
      const shown = answer.rejected.length < answer.rejected_total ? ` (the first ${answer.rejected.length} of ${answer.rejected_total})` : "";
      table.append(el("caption", `Rejected rows${shown}`));
      const head = el("tr");
      head.append(el("th", "Line"), el("th", "Why"));
      head.querySelectorAll("th").forEach((th) => th.setAttribute("scope", "col"));
      table.append(el("thead"));
      table.tHead.append(head);
      const body = el("tbody");
      answer.rejected.slice(0, 100).forEach((r) => { const tr = el("tr"); tr.append(el("td", String(r.row)), el("td", r.reason)); body.append(tr); });
      table.append(body);
      const download = el("button", "Download the rejected rows (CSV)");
      download.type = "button";
      download.addEventListener("click", () => downloadRejected(answer.rejected, chosen, encodingName));
      nodes.push(table, download);
    }
    result.replaceChildren(...nodes);
    result.hidden = false;
    heading.focus();
  }
}

// The rejected rows as the file had them (so they can be fixed and imported again), each with its
// line number and the reason; cells a spreadsheet would run as a formula get a leading apostrophe.
async function downloadRejected(rejected, file, encodingName) {
  const reasons = new Map(rejected.map((r) => [r.row, r.reason]));
  let parsed = { header: [], rows: new Map() };
  if (file && file.size <= 64 * 1024 * 1024) {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const name = encodingName || (bytes[0] === 0xfe && bytes[1] === 0xff ? "utf-16be" : bytes[0] === 0xff && bytes[1] === 0xfe ? "utf-16le" : "utf-8");
      parsed = readCsv(new TextDecoder(name === "utf-16" ? "utf-16le" : name).decode(bytes), reasons);
    } catch { /* the lines and reasons alone, then */ }
  }
  const cell = (value) => {
    let text = String(value ?? "");
    if (/^[=@+\-\t\r]/.test(text) && !/^[+-]?[0-9][0-9 .()-]*$/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [["line", "reason", ...parsed.header]];
  reasons.forEach((reason, line) => lines.push([line, reason, ...(parsed.rows.get(line) || [])]));
  const csv = `\ufeff${lines.map((row) => row.map(cell).join(",")).join("\r\n")}\r\n`;
  const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `rejected-rows-${(file && file.name ? file.name.replace(/\.csv$/i, "") : "import")}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// Records of a CSV with the line each starts on, counted as the import counts them (\r\n, \n or \r
// end a line; blank records are skipped): the header, and the records whose line is in `wanted`.
function readCsv(text, wanted) {
  let header = null;
  const rows = new Map();
  let fields = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  const end = () => {
    fields.push(field);
    if (fields.some((f) => f.trim() !== "")) {
      if (header === null) header = fields;
      else if (wanted.has(start)) rows.set(start, fields);
    }
    fields = [];
    field = "";
  };
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') { quoted = false; } else {
        if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) line += 1;
        field += c;
      }
    } else if (c === '"' && field === "") {
      quoted = true;
    } else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\r" || c === "\n") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      end();
      line += 1;
      start = line;
    } else {
      field += c;
    }
  }
  if (field !== "" || fields.length) end();
  return { header: header || [], rows };
}

// A value shown once (an invitation link) is selected whole when focused, ready to copy.
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("input.once")) event.target.select();
});
