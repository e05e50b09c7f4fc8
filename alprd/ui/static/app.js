"use strict";
const reads = document.getElementById("reads");
const status = document.getElementById("status");
function text(tag, cls, value) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.textContent = value;
  return el;
}
function show(ev) {
  const li = document.createElement("li");
  li.dataset.id = ev.id;
  if (ev.hits.length) li.className = "hit";
  const img = document.createElement("img");
  img.src = ev.crop; img.alt = "plate " + ev.text;
  li.append(img, text("span", "t", ev.text),
    text("span", "m", `${ev.camera_id} · ${ev.utc} · ${(ev.confidence * 100).toFixed(0)}%` +
      (ev.lat != null ? ` · ${ev.lat.toFixed(5)}, ${ev.lon.toFixed(5)}` : " · no GPS fix")));
  const earlier = reads.querySelector(`li[data-id="${CSS.escape(ev.id)}"]`);
  if (earlier) earlier.replaceWith(li); else reads.prepend(li);  // an early alert's final read
  while (reads.children.length > 30) reads.lastChild.remove();
  if (ev.type === "hit") {
    const h = ev.hits[0];
    document.getElementById("alert-crop").src = ev.crop;
    const plate = document.getElementById("alert-plate");
    plate.replaceChildren(...[...ev.text].map((ch, i) =>
      text("span", h.differs.includes(i) ? "diff" : "", ch)));  // look-alike characters stand out
    document.getElementById("alert-detail").textContent =
      `Hotlist: ${h.plate} ${h.state || ""} · ${h.list_type} · ${h.reason}` +
      (h.case_number ? ` · case ${h.case_number}` : "") + ` · match: ${h.rule}${h.state_rule === "same" ? "" : " (" + h.state_rule + ")"} · ${ev.camera_id} · ${ev.utc}`;
    document.getElementById("alert").className = "on";
  }
}
const es = new EventSource("/events");
es.onopen = () => { status.textContent = "live"; status.className = "ok"; };
es.onerror = () => { status.textContent = "reconnecting…"; status.className = "bad"; };
function cancel(ev) {  // HQ cancelled the want: take the open alert off the screen, say so
  const alert = document.getElementById("alert");
  const shown = document.getElementById("alert-plate").textContent;
  if (alert.className === "on" && ev.plates.includes(shown)) {
    alert.className = "";
    const note = text("li", "m", `Alert for ${shown} withdrawn: cancelled by HQ (list ${ev.version}).`);
    reads.prepend(note);
  }
}
es.onmessage = (m) => {
  const ev = JSON.parse(m.data);
  if (ev.type === "cancel") cancel(ev);
  else if (ev.type === "status") document.getElementById("stale").hidden = !ev.hotlist_stale;
  else show(ev);
};
