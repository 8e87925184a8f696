// Rendering: every value from the API goes in as text (textContent), never as HTML.

import { ApiError, NetworkError } from "./api.js";

export const $ = (selector) => document.querySelector(selector);

/** h("td", {className: "num"}, "12.99"): an element with properties and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("data-")) el.setAttribute(key, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el[key] = value;
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

const STATUS_TEXT = {
  200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
  401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
  412: "Precondition Failed", 422: "Unprocessable Content", 429: "Too Many Requests",
  500: "Internal Server Error", 503: "Service Unavailable",
};

/** The status bar: the last exchange, its X-Request-ID and the headers worth seeing. */
export function renderStatus(info) {
  const path = info.path.length > 60 ? `${info.path.slice(0, 57)}...` : info.path;
  const outcome = info.error ? "no response (network error or blocked by CORS)"
    : `${info.status} ${STATUS_TEXT[info.status] || ""}`.trim();
  $("#status-request").textContent = `${info.method} ${path} \u2192 ${outcome}`;
  $("#status-request-id").textContent = info.requestId || "\u2013";
  const extra = [];
  if (info.etag) extra.push(`ETag ${info.etag}`);
  if (info.location) extra.push(`Location ${info.location}`);
  if (info.replayed) extra.push("Idempotent-Replayed: true");
  $("#status-extra").textContent = extra.join(" \u00b7 ");
  document.body.dataset.lastStatus = info.error ? "network-error" : String(info.status);
}

export function showMessage(text, kind = "error") {
  const box = $("#message");
  box.replaceChildren(...(Array.isArray(text) ? text : [text]));
  box.className = `message ${kind}`;
  box.hidden = false;
}

export function clearMessage() {
  $("#message").hidden = true;
}

/** Turn an ApiError or NetworkError into lines a person can act on. */
export function describeError(error, apiBase) {
  if (error instanceof ApiError) {
    const details = error.details.map((d) =>
      h("li", {}, h("code", {}, d.field || ""), ` ${d.code}: ${d.message}`));
    return [
      h("strong", {}, `${error.status} ${error.code}`), ` ${error.message}`,
      details.length ? h("ul", {}, details) : null,
      h("small", {}, ` request id ${error.requestId || "unknown"}`),
    ];
  }
  if (error instanceof NetworkError) {
    return [
      h("strong", {}, "Cannot reach the API. "),
      `The request to ${apiBase} failed: the server is down, or it does not allow this page's `,
      `origin (${window.location.origin}) in CORS_ORIGINS, so the browser blocked the response.`,
    ];
  }
  return [h("strong", {}, "Unexpected error: "), String(error?.message || error)];
}

export function renderBooks(books, { signedIn, onOrder, onShow, empty = "No books match." }) {
  const rows = books.map((book) => {
    const quantity = h("input", {
      type: "number", min: 1, max: Math.max(1, Math.min(book.stock, 100)), value: 1,
      className: "qty", "data-qty": book.id,
    });
    quantity.setAttribute("aria-label", `Quantity of ${book.title}`);
    const order = h("button", {
      type: "button", textContent: "Order", disabled: !signedIn || book.stock < 1,
      title: signedIn ? "" : "Log in to order", "data-order": book.id,
      onclick: () => onOrder(book, Number(quantity.value) || 1),
    });
    return h("tr", { "data-book": book.id },
      h("td", {}, h("button", { type: "button", className: "link", textContent: book.title,
        onclick: () => onShow(book) })),
      h("td", {}, book.author?.name || ""),
      h("td", {}, book.category),
      h("td", {}, String(book.publication_year)),
      h("td", { className: "num" }, book.price),
      h("td", { className: book.stock ? "num" : "num out" }, String(book.stock)),
      h("td", { className: "order-cell" }, quantity, order));
  });
  if (!rows.length) rows.push(h("tr", {}, h("td", { colSpan: 7, className: "muted" }, empty)));
  $("#books").replaceChildren(...rows);
}

export function renderPager(pagination, links) {
  const { page, total_pages: pages, total } = pagination;
  $("#page-info").textContent = page
    ? `Page ${page} of ${Math.max(pages, 1)} \u00b7 ${total} books` : "";
  $("#prev").disabled = !links.prev;
  $("#next").disabled = !links.next;
}

export function renderBookDetail(book, etag, fromCache) {
  const card = $("#book-detail");
  card.replaceChildren(
    h("h3", {}, book.title),
    h("p", { className: "muted" }, `${book.category} \u00b7 ${book.publication_year} \u00b7 ISBN ${book.isbn}`),
    h("p", {}, book.description || "No description."),
    h("p", {}, `Price ${book.price} \u00b7 ${book.stock} in stock`),
    h("p", { className: "muted" }, `ETag ${etag}`, fromCache ? " (304 Not Modified: cached copy)" : ""));
  card.hidden = false;
}

const ACTIONS = ["pay", "cancel", "ship"];

export function renderOrder(order, { onAction, onRefresh, exchange }) {
  const box = $("#order");
  $("#order-empty").hidden = true;
  box.hidden = false;
  const items = order.items.map((item) =>
    h("li", {}, `${item.quantity} \u00d7 ${item.title} @ ${item.unit_price} = ${item.subtotal}`));
  const actions = ACTIONS.filter((name) => order._links?.[name]).map((name) =>
    h("button", { type: "button", textContent: name[0].toUpperCase() + name.slice(1),
      "data-action": name, onclick: () => onAction(order._links[name]) }));
  box.replaceChildren(
    h("p", {}, h("strong", {}, `Order #${order.id} `),
      h("span", { id: "order-status", className: `badge ${order.status}` }, order.status)),
    h("ul", { className: "items" }, items),
    h("p", {}, "Total ", h("strong", { id: "order-total" }, order.total)),
    h("div", { className: "actions" }, actions,
      h("button", { type: "button", className: "secondary", textContent: "Reload",
        onclick: onRefresh })),
    exchange ? renderExchange(exchange) : null);
}

/** Which response this card shows: worth quoting (its request id) when asking for help. */
function renderExchange(info) {
  return h("p", { className: "exchange", id: "order-exchange" },
    `${info.method} ${info.path} \u2192 ${info.status}`,
    h("br"), "request id ", h("code", { id: "order-request-id" }, info.requestId || "\u2013"),
    info.location ? [h("br"), "Location ", h("code", { id: "order-location" }, info.location)] : null,
    info.replayed ? [h("br"), "Idempotent-Replayed: true"] : null);
}

export function renderOrderRetry(onRetry, key) {
  return h("p", { className: "retry" },
    "The order request did not complete. ",
    h("button", { type: "button", textContent: "Retry safely", onclick: onRetry }),
    h("small", {}, ` same Idempotency-Key ${key}: it cannot be placed twice`));
}

export function renderOrders(orders, onOpen) {
  const rows = orders.map((order) =>
    h("li", {}, h("button", { type: "button", className: "link",
      textContent: `#${order.id}`, onclick: () => onOpen(order) }),
      ` ${order.total} `, h("span", { className: `badge ${order.status}` }, order.status)));
  if (!rows.length) rows.push(h("li", { className: "muted" }, "None yet."));
  $("#orders").replaceChildren(...rows);
}
