"use strict";
// The in-car page. Everything arrives pushed (server-sent events); every action is a POST
// with the session's CSRF token. No action here can change a read or the hotlist (POL-06).
const $ = (id) => document.getElementById(id);
let me = null, options = null, es = null, audio = null, beeper = null;
const alerts = new Map();  // hit_id -> alert event, open ones only
let shown = null;  // hit_id of the alert on screen

const ENDED = {
  removed_from_roster: "You were signed out: HQ removed your account from the roster.",
  deactivated: "You were signed out: your account was deactivated by HQ.",
  role_changed: "You were signed out: your role changed. Sign in again.",
  idle: "You were signed out after a period of inactivity.",
  signed_out: "You are signed out.",
};

function el(tag, cls, value) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (value !== undefined) e.textContent = value;
  return e;
}
async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-CSRF-Token": me ? me.csrf : ""}};
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({error: `HTTP ${r.status}`}));
  if (!r.ok) { const err = new Error(data.error || `HTTP ${r.status}`); err.data = data; err.status = r.status; throw err; }
  return data;
}
function localTime(utc) {
  const d = new Date(utc);
  return isNaN(d) ? utc : d.toLocaleTimeString([], {hour12: false}) + " " + d.toLocaleDateString();
}
function place(ev) {
  return ev.lat != null ? `${ev.lat.toFixed(5)}, ${ev.lon.toFixed(5)}` : "no GPS fix";
}

// -- sign-in ---------------------------------------------------------------------------
function showSignin(reason) {
  me = null;
  if (es) { es.close(); es = null; }
  stopBeep();
  $("arm-sound").hidden = true;
  alerts.clear(); shown = null;
  for (const id of ["alert", "live", "search", "tech", "signout"]) $(id).hidden = true;
  $("who").textContent = "";
  $("status").className = "bad"; $("status").title = "signed out";
  $("signin").hidden = false;
  $("refusal").hidden = !reason;
  $("refusal").textContent = reason || "";
  $("pin").value = "";
  $("badge").focus();
}
$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  armSound();  // a gesture unlocks sound
  try {
    me = await api("/api/signin", {badge: $("badge").value, pin: $("pin").value});
    signedIn();
  } catch (err) {
    $("refusal").hidden = false;
    $("refusal").dataset.code = (err.data && err.data.code) || "";
    $("refusal").textContent = err.message;
    $("pin").value = "";
  }
});
$("signout").addEventListener("click", async () => {
  try { await api("/api/signout", {}); } catch (err) { /* signed out either way */ }
  showSignin("");
});

async function signedIn() {
  options = await api("/api/options");
  $("unit").textContent = options.unit_id;
  $("signin").hidden = true;
  $("refusal").hidden = true;
  $("signout").hidden = false;
  $("who").textContent = me.name;
  $("who").title = `${me.name} · ${me.role_name}`;
  const may = new Set(me.may);
  $("live").hidden = !may.has("live");
  $("search").hidden = !may.has("search");
  $("export").hidden = !may.has("export");
  $("tech").hidden = !may.has("selftest");
  const sel = $("purpose");
  sel.replaceChildren(el("option", "", "choose a purpose…"));
  sel.firstChild.value = "";
  for (const [k, v] of Object.entries(options.purposes)) {
    const o = el("option", "", v); o.value = k; sel.append(o);
  }
  if (may.has("live")) for (const a of await api("/api/alerts")) alerts.set(a.hit_id, a);
  renderAlert();
  soundPrompt();
  connect();
}

// -- the alarm's sound: a browser plays sound only after a tap on the page; after a reload
// (the MDC's browser restarted) the session survives but the sound does not, so say so.
function armSound() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state !== "running") audio.resume().then(soundPrompt, soundPrompt);
    audio.onstatechange = soundPrompt;
  } catch (e) { audio = null; }
  soundPrompt();
}
function soundArmed() { return !!audio && audio.state === "running"; }
function soundPrompt() {
  $("arm-sound").hidden = !(me && new Set(me.may).has("live")) || soundArmed();
  if (soundArmed() && [...alerts.values()].some((a) => !a.acknowledged_utc)) startBeep();
}
$("arm-sound").addEventListener("click", armSound);
setInterval(soundPrompt, 2000);

// -- day, night and dimmed (kept on this screen) --------------------------------------
const THEMES = ["night", "dim", "day"], THEME_ICON = {night: "☾", dim: "◐", day: "☀"};
function setTheme(t) {
  document.body.classList.remove(...THEMES);
  document.body.classList.add(t);
  $("theme").textContent = THEME_ICON[t];
  try { localStorage.setItem("alprd-theme", t); } catch (e) { /* private mode */ }
}
$("theme").addEventListener("click", () => {
  const now = THEMES.find((t) => document.body.classList.contains(t)) || "night";
  setTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
});
setTheme((() => { try { return localStorage.getItem("alprd-theme"); } catch (e) { return null; } })() || "night");

// -- the car's state: a chip per part in the header on every screen, and a red banner that
// names each failing part (the alert covers the banner, never the chips).
function showCar(ev) {
  const car = ev.car || {};
  for (const chip of document.querySelectorAll("#strip .chip")) {
    const part = car[chip.dataset.part];
    chip.className = "chip" + (part ? " " + part.level : "");
    chip.textContent = part ? part.text : chip.dataset.part.toUpperCase();
    chip.title = part ? (part.problem || part.text) : "";
  }
  const failing = Object.values(car).filter((p) => p.level === "fail").map((p) => p.problem);
  $("banner").replaceChildren(...failing.map((t) => el("div", "", t)));
  $("banner").hidden = !failing.length;
}
function carUnknown() {
  for (const chip of document.querySelectorAll("#strip .chip")) {
    chip.className = "chip"; chip.title = "not known: this screen has lost the car";
  }
  $("banner").replaceChildren(el("div", "", "This screen has lost its link to the car: reconnecting. Hits cannot show until it is back."));
  $("banner").hidden = false;
}

// -- live events -----------------------------------------------------------------------
function connect() {
  es = new EventSource("/events");
  es.onopen = () => { $("status").className = "ok"; $("status").title = "connected to the car"; };
  es.onerror = () => {
    $("status").className = "bad"; $("status").title = "reconnecting to the car…";
    carUnknown();
    api("/api/me").catch((err) => { if (err.status === 401) showSignin(ENDED[err.data.ended] || ENDED.signed_out); });
  };
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "status") showCar(ev);
    else if (ev.type === "signed_out") showSignin(ENDED[ev.reason] || ENDED.signed_out);
    else if (ev.type === "alert") onAlert(ev);
    else if (ev.type === "read" || ev.type === "hit") showRead(ev);
  };
}

function showRead(ev) {
  const li = el("li", ev.hits.length ? "hit" : "");
  li.dataset.id = ev.id;
  const img = el("img"); img.src = ev.crop; img.alt = "plate " + ev.text;
  li.append(img, el("span", "t", ev.text),
    el("span", "m", `${ev.camera_id} · ${localTime(ev.utc)} · ${(ev.confidence * 100).toFixed(0)}% · ${place(ev)}`));
  const earlier = $("reads").querySelector(`li[data-id="${CSS.escape(ev.id)}"]`);
  if (earlier) earlier.replaceWith(li); else $("reads").prepend(li);
  $("no-reads").hidden = true;
  while ($("reads").children.length > 30) $("reads").lastChild.remove();
}

function onAlert(ev) {
  if (ev.closed) {
    alerts.delete(ev.hit_id);
    if (ev.closed === "cancelled_by_hq") {
      notice(`Alert for ${ev.hits[0].plate} WITHDRAWN: HQ cancelled the want. Do not stop on this hit.`);
    }
  } else {
    const isNew = !alerts.has(ev.hit_id);
    alerts.set(ev.hit_id, ev);
    // a new hit never replaces the one being worked: it waits behind NEXT HIT (the alarm says so)
    if (isNew && (shown === null || !alerts.has(shown))) {
      shown = ev.hit_id; $("alert").classList.remove("flash"); void $("alert").offsetWidth; $("alert").classList.add("flash");
    }
  }
  renderAlert();
}
$("alert-next").addEventListener("click", () => {
  const ids = [...alerts.keys()];
  shown = ids[(ids.indexOf(shown) + 1) % ids.length];
  $("alert-error").textContent = "";
  renderAlert();
});
function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(notice.t);
  notice.t = setTimeout(() => { $("notice").hidden = true; }, 60000);
}

// -- the alert ---------------------------------------------------------------------------
function plateSpans(text, differs) {
  return [...text].map((ch, i) => el("span", differs.includes(i) ? "diff" : "", ch));
}
const LIST = {stolen_vehicle: "Stolen vehicle", stolen_plate: "Stolen plate", wanted_person: "Wanted person",
  amber: "AMBER alert", bolo: "BOLO", missing_person: "Missing person", agency: "Agency list"};
const RULE = {exact: "EXACT MATCH", "look-alike": "LOOK-ALIKE MATCH — highlighted characters differ",
  "extra-character": "NEAR MATCH — the read has an extra character",
  "missing-character": "NEAR MATCH — the read misses a character",
  "n-best": "POSSIBLE MATCH — the reader was unsure"};
const STATE_RULE = {same: "", "entry-any-state": "the record has no state",
  "read-state-unknown": "state not read — check it", "state-mismatch": "STATE DIFFERS — check it"};

// The state as read off the plate (PaddleOCR's reader, once a pass), with how often a state so
// read is right; the verify step's hint says what the officer must look at.
function stateRead(a) {
  if (a.state_pending) return "State read: reading…";
  if (!a.state) return "State read: not sure";
  const conf = a.state_confidence == null ? "" : `, ${Math.round(a.state_confidence * 100)} %`;
  return `State read: ${a.state}${conf}`;
}
function stateHint(a, h) {  // one line: it must leave room for the steps at 800x480
  if (h.state_rule === "state-mismatch")
    return `STATE DIFFERS: plate reads ${a.state}, want is for ${h.state}. Another car unless you see ${h.state}.`;
  if (h.state_rule === "entry-any-state") return "";
  if (h.state_rule === "read-state-unknown")
    return a.state_pending ? "Reading the state…" : `State not read: look for ${h.state} on the plate.`;
  return "";
}

function renderAlert() {
  document.body.classList.toggle("alerting", alerts.size > 0);
  if (!alerts.size) { $("alert").hidden = true; stopBeep(); shown = null; return; }
  if (!alerts.has(shown)) shown = alerts.keys().next().value;
  const a = alerts.get(shown), h = a.hits[0];
  $("alert").hidden = false;
  $("alert").className = a.verified ? "verified" : "";
  if ($("alert").dataset.hitId !== a.hit_id) $("misread").hidden = true;
  $("alert").dataset.hitId = a.hit_id;
  $("alert-list").textContent = LIST[h.list_type] || h.list_type;
  $("alert-priority").textContent = h.priority != null ? `PRIORITY ${h.priority}` : "";
  $("alert-priority").className = "prio" + (h.priority === 1 ? " urgent" : "");
  const ids = [...alerts.keys()], at = ids.indexOf(shown) + 1;
  $("alert-count").textContent = alerts.size > 1 ? `HIT ${at} of ${alerts.size}` : "HIT";
  const waiting = ids.filter((id) => id !== shown).length;
  $("alert-next").hidden = !waiting;
  $("alert-next").textContent = `NEXT HIT (${waiting})`;
  $("alert-again").textContent = a.repeats ? `SEEN AGAIN ×${a.repeats}, ${localTime(a.seen_again_utc).split(" ")[0]}` : "";
  $("alert-verdict").textContent = a.verified ? "VERIFIED" : `UNVERIFIED · NOT PROBABLE CAUSE (${Object.keys(a.steps).length}/3)`;
  $("alert-escalated").hidden = !a.escalated_utc;
  $("alert-crop").src = a.crop;
  $("alert-read").replaceChildren(...plateSpans(a.text, h.differs));
  $("alert-entry").replaceChildren(...plateSpans(h.plate, ["look-alike", "n-best"].includes(h.rule) ? h.differs : []));
  const mismatch = h.state_rule !== "same" && h.state_rule !== "entry-any-state";
  $("alert-read-state").textContent = stateRead(a);
  $("alert-read-state").className = "st" + (mismatch ? " mismatch" : "");
  $("alert-state-hint").textContent = stateHint(a, h);
  $("alert-state-hint").hidden = !stateHint(a, h);
  $("alert-state-hint").className = "hint" + (h.state_rule === "state-mismatch" ? " mismatch" : "");
  $("alert-entry-state").textContent = `State: ${h.state || "any"}`;
  $("alert-reason").textContent = h.reason;
  $("alert-case").textContent = h.case_number ? `NCIC / case: ${h.case_number}` : "no NCIC / case number";
  const rule = $("alert-rule");
  const likely = h.rule === "n-best" && h.candidate_probability != null
    ? ` · ${h.candidate} ${Math.round(h.candidate_probability * 100)} % likely` : "";
  rule.textContent = (RULE[h.rule] || h.rule) + likely + (h.state_rule === "entry-any-state" ? " · " + STATE_RULE[h.state_rule] : "");
  rule.className = "rule" + (h.rule === "exact" ? "" : " lookalike");
  $("alert-where").textContent = `· ${a.camera_id} · ${localTime(a.utc).split(" ")[0]} · ${place(a)}`;
  let next = true;
  for (const b of document.querySelectorAll("#alert .step")) {
    const done = a.steps[b.dataset.step];
    b.className = "step" + (done ? " done" : next ? " next" : "");
    b.disabled = !!done || !next;
    b.dataset.label = b.dataset.label || b.textContent;
    b.textContent = b.dataset.label + (done ? ` ✓ ${localTime(done).split(" ")[0]}` : "");
    if (!done) next = false;
  }
  for (const b of document.querySelectorAll("#alert .needs-verified")) b.disabled = !a.verified;
  $("alert-ack").hidden = !!a.acknowledged_utc;
  // the alarm sounds while any open hit, shown or waiting, is unacknowledged
  if ([...alerts.values()].some((x) => !x.acknowledged_utc)) startBeep(); else stopBeep();
  if (a.ack_not_recorded) $("alert-error").textContent =
    "Acknowledged, but the car's storage is failing: not recorded yet. Tell the fleet technician.";
}
async function alertAction(path, body) {
  $("alert-error").textContent = "";
  try {
    const ev = await api(path, {hit_id: shown, ...body});
    onAlert(ev);
  } catch (err) { $("alert-error").textContent = err.message; }
}
for (const b of document.querySelectorAll("#alert .step"))
  b.addEventListener("click", () => alertAction("/api/alerts/step", {step: b.dataset.step}));
for (const b of document.querySelectorAll("#alert [data-dispo]"))
  b.addEventListener("click", () => {
    if (b.dataset.dispo !== "misread") return alertAction("/api/alerts/dispose", {disposition: b.dataset.dispo});
    // a misread may say what the plate really reads: a label for HQ's field accuracy (#37)
    $("misread-text").value = "";
    $("misread-text").placeholder = alerts.get(shown).text;
    $("misread").hidden = false;
    $("misread-text").focus();
  });
$("misread").addEventListener("submit", (e) => {
  e.preventDefault();
  $("misread").hidden = true;  // what was typed, if anything: never the read itself unasked
  alertAction("/api/alerts/dispose", {disposition: "misread", corrected_text: $("misread-text").value});
});
$("misread-cancel").addEventListener("click", () => { $("misread").hidden = true; });
$("alert-ack").addEventListener("click", () => alertAction("/api/alerts/ack", {}));

// An alarm until someone acknowledges: two tones every 1.5 s.
function tone(freq, at) {
  const o = audio.createOscillator(), g = audio.createGain();
  o.frequency.value = freq; o.type = "square"; g.gain.value = 0.25;
  o.connect(g).connect(audio.destination);
  o.start(audio.currentTime + at); o.stop(audio.currentTime + at + 0.18);
}
function startBeep() {
  if (beeper || !soundArmed()) return;
  const beep = () => { try { tone(1250, 0); tone(950, 0.22); } catch (e) { /* no sound device */ } };
  beep(); beeper = setInterval(beep, 1500);
}
function stopBeep() { clearInterval(beeper); beeper = null; }

// -- search, view, export (data users and administrators) ---------------------------------
function query() {
  const q = {purpose: $("purpose").value, plate: $("q-plate").value};
  if ($("q-since").value) q.since = $("q-since").value;
  if ($("q-until").value) q.until = $("q-until").value;
  return q;
}
$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("search-msg").textContent = "";
  $("viewer").hidden = true;
  try {
    const r = await api("/api/search", query());
    const t = $("results");
    t.replaceChildren();
    const head = el("tr");
    for (const c of ["Plate", "State", "Time", "Camera", "Place", ""]) head.append(el("th", "", c));
    t.append(head);
    for (const x of r.results) {
      const tr = el("tr");
      const v = el("button", "", "View");
      v.addEventListener("click", () => view(x.id));
      const td = el("td"); td.append(v);
      const st = x.state ? `${x.state}${x.state_confidence == null ? "" : ` ${Math.round(x.state_confidence * 100)} %`}` : "?";
      tr.append(el("td", "", x.text), el("td", "", st), el("td", "", localTime(x.utc)), el("td", "", x.camera_id), el("td", "", place(x)), td);
      t.append(tr);
    }
    const q = query();
    $("search-msg").textContent = `${r.results.length} read(s). This search is recorded in the audit trail.` +
      (!r.results.length && q.plate ? ` No read is exactly ${q.plate.toUpperCase()}: a plate is found by its whole text (the car keeps no partial index). Enter the full plate, or leave Plate empty and narrow by date.` : "");
  } catch (err) { $("search-msg").textContent = err.message; }
});
async function view(id) {
  try {
    const r = await api("/api/view", {id, purpose: $("purpose").value});
    const img = el("img"); img.src = r.crop; img.alt = "plate " + r.text;
    $("viewer").replaceChildren(img, el("div", "", `${r.text} · ${localTime(r.utc)} · camera ${r.camera_id} · ${place(r)} · ${(r.confidence * 100).toFixed(0)}%`));
    $("viewer").hidden = false;
  } catch (err) { $("search-msg").textContent = err.message; }
}
// An export of everything (no plate, no dates) asks for a second tap first.
let exportAll = 0;
$("export").addEventListener("click", async () => {
  const q = query();
  if (!q.plate && !q.since && !q.until && Date.now() - exportAll > 10000) {
    exportAll = Date.now();
    $("search-msg").textContent = "No plate and no dates: this exports EVERY read on this car. Tap Export again within 10 s to confirm.";
    return;
  }
  exportAll = 0;
  try {
    const r = await api("/api/export", query());
    const url = URL.createObjectURL(new Blob([JSON.stringify(r, null, 1)], {type: "application/json"}));
    const a = el("a"); a.href = url; a.download = "alprd-export.json"; a.click();
    $("search-msg").textContent = `${r.reads.length} read(s) exported. The export is recorded in the audit trail.`;
  } catch (err) { $("search-msg").textContent = err.message; }
});

// -- self-test (fleet technicians, administrators) ----------------------------------------
$("selftest").addEventListener("click", async () => {
  $("selftest").disabled = true;
  $("selftest-msg").textContent = "Testing cameras, GPS, clock, models, storage, keys, uplink, hotlist…";
  try {
    const r = await api("/api/selftest", {});
    const t = $("selftest-results");
    t.replaceChildren();
    for (const x of r.results) {
      const tr = el("tr");
      tr.append(el("td", x.status.toUpperCase(), x.status.toUpperCase()), el("td", "", x.component), el("td", "", x.symptom));
      t.append(tr);
    }
    const msg = $("selftest-msg");
    msg.replaceChildren(el("span", "", r.failed.length ? `FAILED: ${r.failed.join(", ")}. ` : "All components working."));
    if (r.ticket) {
      const a = el("a", "", "Open the Motor Vehicle Trouble Ticket (Form 11.03.00) to print");
      a.href = r.ticket.url; a.target = "_blank"; a.id = "ticket-link";
      msg.append(a, el("span", "", r.ticket.already_filed
        ? ` — filed ${r.ticket.filed_s_ago} s ago for the same failures: no second ticket.`
        : " — it has also been sent to fleet services."));
    }
  } catch (err) { $("selftest-msg").textContent = err.message; }
  $("selftest").disabled = false;
});

api("/api/me").then((m) => { me = m; signedIn(); })
  .catch((err) => showSignin(err.data && err.data.ended ? ENDED[err.data.ended] : ""));
