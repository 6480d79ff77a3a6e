// The dashboard's one script. It fills the page shells from the public API with the
// API key the user typed, which it keeps in sessionStorage (this tab only; never in a
// URL). Every value is written with textContent: nothing from the API becomes markup.
"use strict";

const KEY = "async-jobs.api-key";
// Why the last session ended, for the sign-in panel after the reload that ends it.
const SIGNED_OUT = "async-jobs.signed-out";
const REFRESH_MS = 2000;
const FINISHED = ["succeeded", "failed", "cancelled"];
const INPUT_PREVIEW_CHARS = 2000;

const $ = (id) => document.getElementById(id);

function apiKey() {
  return sessionStorage.getItem(KEY);
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// A request to the API as the signed-in tenant. A 401 signs out.
async function api(method, path, { body, raw } = {}) {
  const headers = { authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401) {
    signOut("The API key was refused (missing, unknown or revoked). Sign in again.");
    throw new ApiError(401, null);
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch (_) { /* not a problem document */ }
    throw new ApiError(response.status, problem);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

function say(text) {
  $("status").textContent = text;
}

// Signing out starts the page afresh: nothing the last key read stays on it, and none
// of its timers poll on with the next key. The message survives the reload.
function signOut(message) {
  sessionStorage.removeItem(KEY);
  sessionStorage.setItem(SIGNED_OUT, message || "");
  location.reload();
}

function showSignIn(message) {
  $("content").hidden = true;
  $("session").hidden = true;
  $("signin-panel").hidden = false;
  $("signin-error").textContent = message;
  $("api-key").focus();
}

async function start() {
  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("api-key").value = "";
    await enter();
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  if (apiKey()) {
    await enter();
  } else {
    showSignIn(sessionStorage.getItem(SIGNED_OUT) || "");
    sessionStorage.removeItem(SIGNED_OUT);
  }
}

// Signed in: learn who we are, then show the page.
async function enter() {
  let me;
  try {
    me = await api("GET", "/me");
  } catch (error) {
    if (error.status !== 401) showSignIn(`The API did not answer: ${error.message}`);
    return;
  }
  const readOnly = me.role !== "full";
  document.body.dataset.role = me.role;
  $("whoami").textContent = `Tenant ${me.tenant}${readOnly ? " (read-only)" : ""}`;
  for (const element of document.querySelectorAll('[data-role="full"]')) {
    element.hidden = readOnly;
  }
  $("signin-panel").hidden = true;
  $("session").hidden = false;
  $("content").hidden = false;
  const page = document.body.dataset.page;
  if (page === "overview") overview();
  else if (page === "jobs") jobsPage(readOnly);
  else if (page === "job") jobPage(document.body.dataset.jobId, readOnly);
}

// ----- formatting -----

function time(value) {
  if (!value) return "–";
  return new Date(value).toLocaleString();
}

function age(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = s / 60;
  if (m < 120) return `${m.toFixed(1)} min`;
  return `${(m / 60).toFixed(1)} h`;
}

function pick(object, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? o : o[k]), object);
}

function badge(element, status) {
  element.textContent = status;
  element.className = `badge status-${status}`;
}

// ----- overview -----

async function overview() {
  const refresh = async () => {
    try {
      const stats = await api("GET", "/stats");
      for (const cell of document.querySelectorAll("[data-stat]")) {
        const value = pick(stats, cell.dataset.stat);
        cell.textContent = cell.dataset.format === "age" ? age(value) : String(value ?? "–");
      }
      throughput(stats.throughput || []);
      $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      // An error from an earlier refresh no longer holds.
      say("");
    } catch (error) {
      if (error.status !== 401) {
        say(`Could not refresh: ${error.message}. The numbers shown are from the last update.`);
      }
    }
  };
  await refresh();
  setInterval(() => { if (apiKey()) refresh(); }, REFRESH_MS);
}

function throughput(minutes) {
  const body = document.querySelector("#throughput tbody");
  const most = Math.max(1, ...minutes.map((m) => m.finished));
  body.replaceChildren(...minutes.map((m) => {
    const row = document.createElement("tr");
    // The current minute has lasted only so long.
    const seconds = Math.min(60, Math.max(1, (Date.now() - new Date(m.start)) / 1000));
    const cells = [
      new Date(m.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      (m.submitted / seconds).toFixed(2),
      (m.finished / seconds).toFixed(2),
    ];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const bar = document.createElement("td");
    const meter = document.createElement("meter");
    meter.max = most;
    meter.value = m.finished;
    meter.setAttribute("aria-label", `${m.finished} finished`);
    bar.append(meter);
    row.append(bar);
    return row;
  }));
}

// ----- jobs -----

// The API's query for the filter form (datetime-local values are local time).
function filterQuery(form) {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (!value) continue;
    if (name === "created_after" || name === "created_before") {
      query.set(name, new Date(value).toISOString());
    } else {
      query.set(name, value);
    }
  }
  return query;
}

async function kindNames() {
  try {
    const description = await (await fetch("/openapi.json")).json();
    const params = description.paths["/jobs"].get.parameters;
    return params.find((p) => p.name === "kind").schema.enum;
  } catch (_) {
    return [];
  }
}

async function jobsPage(readOnly) {
  const form = $("filters");
  const kinds = $("f-kind");
  for (const name of await kindNames()) {
    const option = document.createElement("option");
    option.textContent = name;
    kinds.append(option);
  }
  // The page's own query string holds only filters (never the key): links from the
  // overview, and the back button, keep them.
  const initial = new URLSearchParams(location.search);
  for (const element of form.elements) {
    if (element.name && initial.has(element.name)) element.value = initial.get(element.name);
  }
  let cursor = null;
  // The filter the list shows: what the bulk actions act on (not edits not yet applied).
  let applied = filterQuery(form);
  // Only the answer to the latest request is shown: a refresh that answers after a
  // click on another page or filter is dropped.
  let latest = 0;
  // What the last bulk action came to: it stays, before the count, until the next
  // page or filter; and no refresh runs while one goes on.
  let outcome = "";
  let acting = false;
  const load = async () => {
    const mine = ++latest;
    const query = new URLSearchParams(applied);
    query.set("limit", "20");
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await api("GET", `/jobs?${query}`);
      if (mine !== latest) return;
      jobRows(page.items);
      $("empty").hidden = page.items.length > 0;
      $("next-page").hidden = !page.next_cursor;
      $("next-page").onclick = () => { cursor = page.next_cursor; outcome = ""; load(); };
      $("first-page").hidden = !cursor;
      say(`${outcome ? `${outcome} ` : ""}${page.items.length} job(s) shown.`);
    } catch (error) {
      if (mine === latest && error.status !== 401) {
        say(`${outcome ? `${outcome} ` : ""}Could not list jobs: ${error.message}`);
      }
    }
  };
  $("first-page").onclick = () => { cursor = null; outcome = ""; load(); };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    cursor = null;
    outcome = "";
    applied = filterQuery(form);
    const shown = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) shown.set(name, value);
    history.replaceState(null, "", shown.size ? `?${shown}` : location.pathname);
    load();
  });
  form.addEventListener("reset", () => setTimeout(() => form.requestSubmit(), 0));
  if (!readOnly) {
    const act = async (action) => {
      if (acting) return;
      acting = true;
      try {
        const came = await bulk(applied, action);
        if (came === null) return;
        outcome = came;
        await load();
      } finally {
        acting = false;
      }
    };
    $("bulk-cancel").onclick = () => act("cancel");
    $("bulk-retry").onclick = () => act("retry");
  }
  await load();
  setInterval(() => { if (apiKey() && !cursor && !acting) load(); }, REFRESH_MS);
}

function jobRows(items) {
  const body = document.querySelector("#jobs tbody");
  body.replaceChildren(...items.map((job) => {
    const row = document.createElement("tr");
    const idCell = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/ui/jobs/${job.id}`;
    link.textContent = job.id;
    link.className = "mono";
    idCell.append(link);
    const status = document.createElement("td");
    const statusBadge = document.createElement("span");
    badge(statusBadge, job.status);
    status.append(statusBadge);
    row.append(idCell);
    const kind = document.createElement("td");
    kind.textContent = job.kind;
    row.append(kind, status);
    for (const text of [`${job.attempts} / ${job.max_attempts}`, `${job.progress.percent}%`, time(job.created_at)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

// Cancels, or retries, every job the applied filter matches: the API does a page per
// call, so this calls it until no page is left. Answers what it came to (also when it
// stopped midway), or null when it was not confirmed.
async function bulk(applied, action) {
  const query = new URLSearchParams(applied);
  const what = action === "cancel" ? "cancel every matching job" : "retry every failed matching job";
  const filter = query.size ? [...query].map(([k, v]) => `${k}=${v}`).join(", ") : "no filter: all jobs";
  if (!confirm(`Really ${what}? (${filter})`)) return null;
  let affected = 0;
  let skipped = 0;
  try {
    for (;;) {
      const page = await api("POST", `/jobs/bulk-${action}?${query}`);
      affected += page.affected;
      skipped += page.skipped;
      say(`${action === "cancel" ? "Cancelled" : "Retried"} ${affected} so far…`);
      if (!page.next_cursor) break;
      query.set("cursor", page.next_cursor);
    }
    return `${action === "cancel" ? "Cancelled" : "Retried"} ${affected} job(s); ${skipped} left as they were.`;
  } catch (error) {
    // A 401 has signed the page out already.
    return error.status === 401 ? null : `Stopped after ${affected}: ${error.message}.`;
  }
}

// ----- one job -----

async function jobPage(id, readOnly) {
  let shownResult = false;
  let shownInput = false;
  const refresh = async () => {
    let job;
    try {
      job = await api("GET", `/jobs/${id}`);
    } catch (error) {
      if (error.status !== 401) say(`Could not read the job: ${error.message}`);
      return null;
    }
    badge($("j-status"), job.status);
    $("j-kind").textContent = job.kind;
    $("j-progress").value = job.progress.percent;
    $("j-progress-text").textContent = `${job.progress.percent}%${job.progress.message ? ` (${job.progress.message})` : ""}`;
    $("j-attempts").textContent = `${job.attempts} of ${job.max_attempts}`;
    $("j-created").textContent = time(job.created_at);
    $("j-started").textContent = time(job.started_at);
    $("j-finished").textContent = time(job.finished_at);
    $("j-error").textContent = job.error ? `${job.error.type}: ${job.error.message}` : "–";
    $("j-webhook").textContent = job.webhook
      ? `${job.webhook.state}, ${job.webhook.attempts} attempt(s)${job.webhook.last_status ? `, last answer ${job.webhook.last_status}` : ""}`
      : "–";
    const origin = $("j-retry-of");
    if (job.retry_of) {
      const link = document.createElement("a");
      link.href = `/ui/jobs/${job.retry_of}`;
      link.textContent = job.retry_of;
      link.className = "mono";
      origin.replaceChildren(link);
    } else {
      origin.textContent = "–";
    }
    if (!readOnly) {
      $("cancel").hidden = FINISHED.includes(job.status);
      $("retry").hidden = !(job.status === "failed" || job.status === "cancelled");
    }
    if (!shownInput) {
      shownInput = true;
      showInput(id);
    }
    if (job.status === "succeeded" && !shownResult) {
      shownResult = true;
      showResult(job);
    }
    return job;
  };
  if (!readOnly) {
    $("cancel").onclick = async () => {
      // One request at a time: a double click sends one cancel.
      $("cancel").disabled = true;
      try {
        await api("DELETE", `/jobs/${id}`);
        say("Cancel requested.");
      } catch (error) {
        say(`Could not cancel: ${error.message}`);
      } finally {
        $("cancel").disabled = false;
      }
      refresh();
    };
    $("retry").onclick = async () => {
      try {
        const retried = await api("POST", `/jobs/${id}/retry`);
        location.assign(`/ui/jobs/${retried.id}`);
      } catch (error) {
        say(`Could not retry: ${error.message}`);
      }
    };
  }
  // Polled until nothing on the page can change by itself: the job finished and its
  // webhook event, if any, is no longer pending.
  const settled = (job) => FINISHED.includes(job.status) && job.webhook?.state !== "pending";
  const job = await refresh();
  const timer = setInterval(async () => {
    const now = apiKey() && await refresh();
    if (now && settled(now)) clearInterval(timer);
  }, 1000);
  if (job && settled(job)) clearInterval(timer);
}

async function showInput(id) {
  try {
    const input = await api("GET", `/jobs/${id}/input`);
    let text = JSON.stringify(input, null, 2);
    if (text.length > INPUT_PREVIEW_CHARS) {
      text = `${text.slice(0, INPUT_PREVIEW_CHARS)}\n… (${text.length - INPUT_PREVIEW_CHARS} more characters)`;
    }
    $("j-input").textContent = text;
  } catch (error) {
    if (error.status !== 401) $("j-input").textContent = `Not available: ${error.message}`;
  }
}

async function showResult(job) {
  const place = $("j-result");
  try {
    const response = await api("GET", `/jobs/${job.id}/result`, { raw: true });
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("image/")) {
      const image = document.createElement("img");
      image.src = URL.createObjectURL(await response.blob());
      image.alt = `The ${job.kind} result (${type})`;
      image.id = "result-image";
      place.replaceChildren(image);
    } else {
      const pre = document.createElement("pre");
      pre.className = "code";
      pre.tabIndex = 0;
      const text = await response.text();
      try { pre.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { pre.textContent = text; }
      place.replaceChildren(pre);
    }
  } catch (error) {
    if (error.status !== 401) place.textContent = `Not available: ${error.message}`;
  }
}

document.addEventListener("DOMContentLoaded", start);
