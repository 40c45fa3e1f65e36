// Herald's dashboard: plain JavaScript against the admin API (/api/v1), no build step.
// The token lives in sessionStorage only; "#token=..." in the address is taken once and
// removed from it.
"use strict";

const STATES = ["queued", "sending", "retrying", "sent", "delivered", "read", "acknowledged",
                "failed", "expired", "cancelled"];
const STATE_VI = {queued: "Chờ gửi", sending: "Đang gửi", retrying: "Chờ gửi lại", sent: "Đã gửi",
                  delivered: "Đã đến", read: "Đã xem", acknowledged: "Đã xác nhận", failed: "Lỗi",
                  expired: "Quá hạn", cancelled: "Đã hủy"};
const CHANNEL_VI = {sms: "SMS", zalo: "Zalo", email: "Thư điện tử", loudspeaker: "Loa truyền thanh"};
const URGENCY_VI = {normal: "Thường", khan: "Khẩn", thuong_khan: "Thượng khẩn", hoa_toc: "Hỏa tốc"};

function takeTokenFromAddress() {
  if (!location.hash.startsWith("#token=")) return false;
  sessionStorage.setItem("herald_token", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}
takeTokenFromAddress();

function token() { return sessionStorage.getItem("herald_token") || ""; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = {"Authorization": "Bearer " + token()};
  if (options.body) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {method: options.method || "GET", headers, body: options.body});
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) { showLogin("Mã truy cập không đúng hoặc đã hết hiệu lực."); throw new ApiError(401, "401"); }
  if (!res.ok) throw new ApiError(res.status, data.error || ("HTTP " + res.status));
  return data;
}

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function show(id) {
  for (const s of ["login", "list", "detail"]) document.getElementById(s).hidden = s !== id;
}

function showLogin(message) {
  show("login");
  document.getElementById("login-error").textContent = message || "";
}

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString("vi-VN", {timeZone: "Asia/Ho_Chi_Minh"});
}

async function renderList() {
  const data = await api("/api/v1/directives?limit=200");
  const body = document.querySelector("#directives tbody");
  body.replaceChildren();
  for (const d of data.directives) {
    const tr = el("tr");
    const link = el("a", d.number, {href: "/dashboard/?id=" + encodeURIComponent(d.id)});
    const num = el("td");
    num.append(link);
    tr.append(num, el("td", d.subject), el("td", d.issuer.name));
    const urg = el("td");
    urg.append(el("span", URGENCY_VI[d.urgency] || d.urgency, {class: d.urgency === "normal" ? "tag" : "tag urgent"}));
    tr.append(urg, el("td", when(d.received_at)), el("td", d.deliveries, {class: "n"}),
              el("td", d.cancelled ? "Đã hủy" : "Đang theo dõi"));
    body.append(tr);
  }
  show("list");
}

let timer = null;
const PAGE = 200;  // rows of a list shown at once

async function renderDetail(id) {
  const enc = encodeURIComponent(id);
  // One page of each, filtered by heraldd: a directive of a million deliveries costs this
  // page what one of a hundred does.
  const [d, failedPage, expiredPage, acks] = await Promise.all([
    api("/api/v1/directives/" + enc),
    api("/api/v1/directives/" + enc + "/deliveries?state=failed&limit=" + PAGE),
    api("/api/v1/directives/" + enc + "/deliveries?state=expired&limit=" + PAGE),
    api("/api/v1/directives/" + enc + "/acks?missing=1&limit=" + PAGE).catch(() => null),
  ]);
  document.getElementById("d-title").textContent = d.number + ": " + d.subject;
  document.getElementById("d-meta").textContent =
    d.issuer.name + " · " + (URGENCY_VI[d.urgency] || d.urgency) + " · nhận lúc " + when(d.received_at) +
    (d.ack_code ? " · mã xác nhận " + d.ack_code : "") + (d.cancelled ? " · ĐÃ HỦY" : "");

  // Progress: channels by states, each cell tagged for tests and scripts.
  const used = STATES.filter(s => Object.values(d.counts).some(c => c[s]));
  const head = el("tr");
  head.append(el("th", "Kênh"));
  for (const s of used) head.append(el("th", STATE_VI[s]));
  head.append(el("th", "Tổng"));
  document.querySelector("#counts thead").replaceChildren(head);
  const body = document.querySelector("#counts tbody");
  body.replaceChildren();
  let total = 0;
  for (const [channel, counts] of Object.entries(d.counts)) {
    const tr = el("tr");
    tr.append(el("th", CHANNEL_VI[channel] || channel));
    let sum = 0;
    for (const s of used) {
      const n = counts[s] || 0;
      sum += n;
      tr.append(el("td", n, {class: "n", "data-channel": channel, "data-state": s}));
    }
    tr.append(el("td", sum, {class: "n"}));
    total += sum;
    body.append(tr);
  }
  document.getElementById("total").textContent = total;
  document.getElementById("updated").textContent = "(cập nhật " + new Date().toLocaleTimeString("vi-VN") + ")";

  const missing = document.getElementById("missing");
  missing.replaceChildren();
  if (acks) {
    document.getElementById("missing-count").textContent = acks.missing;
    for (const r of acks.recipients) missing.append(el("li", r.recipient.name, {"data-recipient": r.recipient.id}));
    if (acks.missing > acks.recipients.length) missing.append(el("li", "… và " + (acks.missing - acks.recipients.length) + " người khác"));
  } else {
    missing.append(el("li", "Văn bản này không yêu cầu xác nhận."));
  }

  const failed = failedPage.deliveries.concat(expiredPage.deliveries);
  const failedTotal = (d.states.failed || 0) + (d.states.expired || 0);
  document.getElementById("failed-count").textContent = failedTotal;
  const fbody = document.querySelector("#failed tbody");
  fbody.replaceChildren();
  for (const x of failed) {
    const tr = el("tr", null, {"data-delivery": x.id});
    tr.append(el("td", x.recipient.name), el("td", CHANNEL_VI[x.channel] || x.channel), el("td", x.address),
              el("td", STATE_VI[x.state]), el("td", x.error ? x.error.code + ": " + x.error.text : ""));
    fbody.append(tr);
  }
  if (failedTotal > failed.length) {
    const more = el("tr");
    more.append(el("td", "… và " + (failedTotal - failed.length) + " tin khác", {colspan: 5}));
    fbody.append(more);
  }
  document.getElementById("replay").disabled = failedTotal === 0 || !!d.cancelled;
  show("detail");
}

async function replay(id) {
  const out = document.getElementById("replay-result");
  out.className = "";
  out.textContent = "Đang gửi lại…";
  try {
    const r = await api("/api/v1/directives/" + encodeURIComponent(id) + "/replay",
                        {method: "POST", body: JSON.stringify({reason: "Gửi lại từ bảng điều khiển"})});
    out.className = "ok";
    out.textContent = "Đã gửi lại " + r.replayed + " tin" + (r.pending ? "; phần còn lại đang được gửi lại." : ".");
  } catch (e) {
    out.className = "error";
    out.textContent = e.status === 403 ? "Tài khoản chỉ có quyền xem, không được gửi lại."
                                       : "Không gửi lại được: " + e.message;
  }
  renderDetail(id).catch(() => {});
}

async function main() {
  document.getElementById("login-form").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem("herald_token", document.getElementById("token").value);
    route();
  });
  // A link with another token (another account) on the page already open.
  window.addEventListener("hashchange", () => { if (takeTokenFromAddress()) route(); });
  route();
}

async function route() {
  if (!token()) return showLogin();
  const id = new URLSearchParams(location.search).get("id");
  if (timer) clearInterval(timer);
  try {
    if (id) {
      document.getElementById("replay").onclick = () => replay(id);
      await renderDetail(id);
      // Live: the progress refreshes every two seconds.
      timer = setInterval(() => renderDetail(id).catch(() => {}), 2000);
    } else {
      await renderList();
    }
  } catch (e) {
    if (e.status !== 401) showLogin("Lỗi: " + e.message);
  }
}

main();
