// Operator pages: plain JavaScript, no build step. Writes go through the JSON API with the
// session's CSRF token; live figures arrive over Server-Sent Events (no polling).
"use strict";
const bankcc = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel) => document.querySelector(sel);

  async function api(method, url, body, type) {
    const headers = {"X-CSRF-Token": csrf(), "Accept": "application/json"};
    if (type) headers["Content-Type"] = type;
    const response = await fetch(url, {method, headers, body, credentials: "same-origin"});
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    return {ok: response.ok, status: response.status, data};
  }

  function text(el, value) { el.textContent = value; return el; }
  function percent(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %"; }
  function pick(obj, path) { return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj); }

  const COLOURS = {answered_human: "#16a34a", abandoned: "#dc2626", machine: "#9333ea", no_answer: "#9ca3af",
                   busy: "#f59e0b", failed: "#6b7280", dropped: "#ef4444", unknown: "#d1d5db"};

  function drawTimeline(el, buckets) {
    const width = 720, height = 160, pad = 20, bar = (width - pad * 2) / Math.max(1, buckets.length);
    const max = Math.max(1, ...buckets.map(b => Object.values(b.counts).reduce((a, c) => a + c, 0)));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "timeline");
    buckets.forEach((b, i) => {
      let y = height - pad;
      for (const [disposition, n] of Object.entries(b.counts)) {
        const h = (height - pad * 2) * n / max;
        const rect = document.createElementNS(ns, "rect");
        rect.setAttribute("x", pad + i * bar); rect.setAttribute("width", Math.max(1, bar - 2));
        rect.setAttribute("y", y - h); rect.setAttribute("height", h);
        rect.setAttribute("fill", COLOURS[disposition] || "#999");
        const title = document.createElementNS(ns, "title");
        title.textContent = `${b.at.slice(11, 16)} ${disposition}: ${n}`;
        rect.appendChild(title); svg.appendChild(rect); y -= h;
      }
    });
    el.replaceChildren(svg);
    const legend = document.createElement("p");
    legend.className = "legend";
    for (const [d, c] of Object.entries(COLOURS)) {
      const s = document.createElement("span"); s.style.borderLeft = `12px solid ${c}`; text(s, " " + d + " ");
      legend.appendChild(s);
    }
    el.appendChild(legend);
  }

  function dashboard(id) {
    const status = $("#live-status");
    const source = new EventSource(`/api/v1/campaigns/${id}/live`);
    source.addEventListener("stats", (event) => {
      const f = JSON.parse(event.data);
      document.querySelectorAll("[data-figure]").forEach((el) => {
        const key = el.dataset.figure, value = pick(f, key);
        text(el, key.endsWith("rate") || key.startsWith("occupancy") || key.endsWith("headroom")
          ? percent(value) : (value === undefined ? "–" : String(value)));
      });
      text($("#state"), f.state); $("#state").className = "state " + f.state;
      drawTimeline($("#timeline"), f.timeline);
      const rows = Object.entries(f.contacts).map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join("");
      $("#contacts").innerHTML = `<table><tbody>${rows}</tbody></table>`;  // keys are fixed status words
      text(status, "live · updated " + f.at.slice(11, 19) + " UTC");
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    });
    source.onerror = () => text(status, "reconnecting…");
    document.querySelectorAll("button[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        const r = await api("POST", `/api/v1/campaigns/${id}/actions/${button.dataset.action}`);
        text($("#action-result"), r.ok ? `${button.dataset.action}: done` : (r.data.error || {}).message || r.status);
      });
    });
  }

  function upload(id) {
    const form = $("#upload"), progress = $("#progress"), result = $("#upload-result");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/api/v1/campaigns/${id}/lists`);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = 100 * e.loaded / e.total; };
      progress.hidden = false; progress.value = 0; text(result, "uploading…");
      xhr.onload = async () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        result.replaceChildren();
        if (xhr.status >= 400) {
          text(result, "Upload refused: " + ((body.error || {}).message || xhr.status));
          result.className = "error"; return;
        }
        progress.value = 100; result.className = "";
        const rows = body.rows || {};
        const summary = document.createElement("p"); summary.id = "upload-summary";
        text(summary, `accepted ${rows.accepted}, rejected ${rows.rejected}, duplicates in file ` +
          `${rows.duplicate_in_file}, already in campaign ${rows.duplicate_in_campaign} (of ${rows.total} rows)`);
        result.appendChild(summary);
        if (rows.rejected > 0 && body.errors_csv) {
          const link = document.createElement("a"); link.href = body.errors_csv; text(link, "Download the error report");
          result.appendChild(link);
          const csv = await (await fetch(body.errors_csv, {credentials: "same-origin"})).text();
          const table = document.createElement("table"); table.id = "upload-errors";
          csv.trim().split("\n").slice(0, 21).forEach((line, i) => {
            const tr = document.createElement("tr");
            line.split(",").slice(0, 3).forEach((cell) => tr.appendChild(text(document.createElement(i ? "td" : "th"),
              cell.replace(/^"|"$/g, ""))));
            table.appendChild(tr);
          });
          result.appendChild(table);
        }
      };
      xhr.send(data);
    });
  }

  function flowEditor(name) {
    const area = $("#flow-text"), out = $("#flow-result");
    if (!area) return;
    const show = (r, verb) => {
      out.replaceChildren();
      out.className = r.ok ? "ok" : "error";
      const p = document.createElement("p");
      text(p, r.ok ? `${verb}: version ${r.data.version}` : (r.data.error || {}).message || String(r.status));
      out.appendChild(p);
      for (const f of (r.data.findings || [])) {
        const li = document.createElement("li"); text(li, `line ${f.line}: ${f.node || ""} ${f.message}`); out.appendChild(li);
      }
    };
    $("#validate").addEventListener("click", async () =>
      show(await api("POST", `/api/v1/flows/${name}/validate`, area.value, "text/yaml"), "valid"));
    $("#deploy").addEventListener("click", async () => {
      const r = await api("POST", `/api/v1/flows/${name}/deploy`, area.value, "text/yaml");
      show(r, "deployed"); if (r.ok) setTimeout(() => location.reload(), 1500);
    });
    $("#rollback").addEventListener("click", async () => {
      const r = await api("POST", `/api/v1/flows/${name}/rollback`, "{}", "application/json");
      show(r, "rolled back"); if (r.ok) setTimeout(() => location.reload(), 1500);
    });
  }

  function formObject(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) if (typeof v === "string" && v.trim()) out[k] = v.trim();
    return out;
  }

  function showJson(el, r) {
    el.className = r.ok ? "ok" : "error";
    el.textContent = r.ok ? JSON.stringify(r.data, null, 2) : ((r.data.error || {}).message || String(r.status));
  }

  function compliance(canWrite) {
    const result = $("#dnc-result");
    $("#dnc-search").addEventListener("submit", async (e) => {
      e.preventDefault();
      const phone = formObject(e.target).phone || "";
      const r = await api("GET", `/api/v1/dnc?phone=${encodeURIComponent(phone)}`);
      result.replaceChildren();
      if (!r.ok) { showJson(result, r); return; }
      const p = document.createElement("p"); p.id = "dnc-entries";
      text(p, r.data.entries.length ? `${r.data.phone}: ` + r.data.entries.map(
        (x) => `${x.scope}${x.campaign_id ? " " + x.campaign_id : ""} (${x.source})`).join(", ")
        : `${r.data.phone} is not on any do-not-call list`);
      result.appendChild(p);
    });
    const add = $("#dnc-add");
    if (add) add.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = formObject(e.target);
      if (body.campaign_id) body.campaign_id = Number(body.campaign_id);
      const r = await api("POST", "/api/v1/dnc", JSON.stringify(body), "application/json");
      result.replaceChildren(); const p = document.createElement("p"); p.id = "dnc-added";
      text(p, r.ok ? `${r.data.phone} ${r.data.added ? "added" : "was already listed"}` :
        (r.data.error || {}).message || String(r.status));
      p.className = r.ok ? "ok" : "error"; result.appendChild(p); loadAudit();
    });
    const imp = $("#dnc-import");
    if (imp) imp.addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = await api("POST", "/api/v1/dnc/import", new FormData(e.target));
      result.replaceChildren(); const p = document.createElement("p"); p.id = "dnc-imported";
      text(p, r.ok ? `imported: ${r.data.rows_added} added, ${r.data.rows_invalid} invalid of ${r.data.rows_read}`
        : (r.data.error || {}).message || String(r.status));
      p.className = r.ok ? "ok" : "error"; result.appendChild(p); loadAudit();
    });
    $("#explain").addEventListener("submit", async (e) => {
      e.preventDefault();
      const q = new URLSearchParams(formObject(e.target));
      showJson($("#explain-result"), await api("GET", `/api/v1/compliance/explain?${q}`));
    });
    async function loadAudit() {
      const r = await api("GET", "/api/v1/compliance/audit?limit=20");
      const el = $("#audit"); el.replaceChildren();
      if (!r.ok) return;
      const t = document.createElement("table");
      for (const row of r.data.audit) {
        const tr = document.createElement("tr");
        for (const cell of [row.at.slice(0, 19), row.actor, row.action, row.object, row.object_id || ""])
          tr.appendChild(text(document.createElement("td"), String(cell)));
        t.appendChild(tr);
      }
      el.appendChild(t);
    }
    loadAudit();
  }

  async function showImpact(name) {
    const r = await api("GET", `/api/v1/policies/${encodeURIComponent(name)}/impact`);
    const el = $("#impact"); el.replaceChildren();
    if (!r.ok) { text(el, (r.data.error || {}).message || String(r.status)); return; }
    if (!r.data.campaigns.length) { text(el, "No live campaign dials under this pack."); return; }
    const t = document.createElement("table"); t.id = "impact-table";
    const head = document.createElement("tr");
    for (const h of ["Campaign", "Contacts to call", "Blocked now", "Blocked under the version before"])
      head.appendChild(text(document.createElement("th"), h));
    t.appendChild(head);
    for (const c of r.data.campaigns) {
      const tr = document.createElement("tr");
      for (const cell of [`${c.campaign_id} ${c.campaign}`, c.contacts_to_call, c.blocked_now,
                          c.blocked_now_before === null ? "–" : c.blocked_now_before])
        tr.appendChild(text(document.createElement("td"), String(cell)));
      t.appendChild(tr);
    }
    el.appendChild(t);
  }

  function packEditor(name) {
    showImpact(name);
    const button = $("#publish");
    if (!button) return;
    button.addEventListener("click", async () => {
      const r = await api("POST", "/api/v1/policies", $("#pack-text").value, "text/yaml");
      const out = $("#pack-result"); out.className = r.ok ? "ok" : "error";
      text(out, r.ok ? `published version ${r.data.version}` : (r.data.error || {}).message || String(r.status));
      if (r.ok) setTimeout(() => location.reload(), 1000);
    });
  }

  return {api, dashboard, upload, flowEditor, compliance, packEditor};
})();
