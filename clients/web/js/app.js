// The page: browse and search the catalog, log in or register, order a book, pay for it.

import { DEFAULT_ADDRESS, DEFAULT_API_BASE } from "../config.js";
import { Api, ApiError, NetworkError, newIdempotencyKey } from "./api.js";
import {
  $, clearMessage, describeError, renderBookDetail, renderBooks, renderOrder,
  renderOrderRetry, renderOrders, renderPager, renderStatus, showMessage,
} from "./views.js";

const PER_PAGE = 10;
const params = new URLSearchParams(window.location.search);
const apiBase = apiBaseFrom(params.get("api"));
const api = new Api(apiBase, { onExchange: renderStatus });
const state = {
  listPath: null, listTicket: 0, links: {}, books: [], detail: null, user: null,
  order: null, pending: null, sending: false,
};
const etags = new Map(); // path -> {etag, body}: conditional GETs for book details

function apiBaseFrom(value) {
  if (!value) return DEFAULT_API_BASE;
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href.replace(/\/+$/, "");
  } catch {
    // fall through: an unusable ?api= is ignored, not fatal
  }
  return DEFAULT_API_BASE;
}

function fail(error) {
  showMessage(describeError(error, apiBase));
  document.body.dataset.error = error instanceof NetworkError ? "network" : error.code || "unknown";
}

// -- catalog -----------------------------------------------------------------------------

function searchPath() {
  const form = new FormData($("#search"));
  const query = new URLSearchParams({ include: "author", per_page: String(PER_PAGE) });
  const q = String(form.get("q") || "").trim();
  if (q) query.set("q", q);
  if (form.get("in_stock")) query.set("in_stock", "true");
  // Keep the search in the address bar so a reload or a shared link shows the same page.
  const shown = new URLSearchParams(window.location.search);
  for (const name of ["q", "in_stock"]) {
    if (query.has(name)) shown.set(name, query.get(name));
    else shown.delete(name);
  }
  window.history.replaceState(null, "", `?${shown}`);
  return `/v1/books?${query}`;
}

async function loadBooks(path = state.listPath, { fresh = false } = {}) {
  state.listPath = path;
  const ticket = ++state.listTicket; // only the latest request may draw the list
  document.body.dataset.books = "loading";
  try {
    // Catalog pages may be cached for a minute; after our own order, ask for the stock now.
    const { body } = await api.get(path, fresh ? { cache: "no-cache" } : {});
    if (ticket !== state.listTicket) return;
    state.links = body.links;
    state.books = body.data;
    drawBooks();
    renderPager(body.pagination, body.links);
    document.body.dataset.list = path; // which list is on screen (the browser test waits on it)
    document.body.dataset.books = "loaded";
  } catch (error) {
    if (ticket !== state.listTicket) return;
    document.body.dataset.books = "failed";
    state.books = [];
    renderBooks([], { empty: "The catalog could not be loaded." });
    fail(error);
  }
}

// A list may show stock a few seconds old (CACHE_LIST_STOCK_MAX_AGE); a book's own resource
// never does: after our own order or cancellation, read the stock of those books there.
async function refreshStock(bookIds) {
  await loadBooks(state.listPath, { fresh: true });
  const shown = state.books.filter((book) => bookIds.includes(book.id));
  const reads = shown.map((book) =>
    api.get(`/v1/books/${book.id}?fields=id,stock`, { cache: "no-cache" }));
  try {
    const fresh = await Promise.all(reads);
    fresh.forEach(({ body }, n) => { shown[n].stock = body.data.stock; });
    drawBooks();
  } catch (error) {
    fail(error);
  }
}

function drawBooks() {
  renderBooks(state.books, { signedIn: Boolean(state.user), onOrder: placeOrder, onShow: showBook });
}

async function showBook(book) {
  state.detail = book;
  const path = book._links.self;
  const cached = etags.get(path);
  try {
    // With If-None-Match the browser hands the 304 to us; the cached body is still good.
    const headers = cached ? { "If-None-Match": cached.etag } : {};
    const result = await api.get(path, { headers });
    if (result.status === 304) return renderBookDetail(cached.body, cached.etag, true);
    etags.set(path, { etag: result.etag, body: result.body.data });
    renderBookDetail(result.body.data, result.etag, false);
  } catch (error) {
    fail(error);
  }
}

// -- account -----------------------------------------------------------------------------

async function loadMe() {
  if (!api.signedIn) return renderAccount(null);
  try {
    const { body } = await api.get("/v1/users/me", { auth: true });
    renderAccount(body.data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) api.setTokens(null);
    renderAccount(null);
    fail(error);
  }
}

function renderAccount(user) {
  state.user = user;
  $("#whoami").hidden = !user;
  $("#whoami-name").textContent = user ? user.name || user.email : "";
  $("#account").hidden = Boolean(user);
  $("#order-empty").textContent = user
    ? "Choose a book and press Order." : "Log in, then choose a book and press Order.";
  if (document.body.dataset.books === "loaded") drawBooks(); // enable or disable Order
  if (user) loadOrders();
  else renderOrders([], () => {});
}

async function logIn(email, password) {
  await api.login(email, password);
  clearMessage();
  await loadMe();
}

function onLogin(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  logIn(form.get("email"), form.get("password")).catch(fail);
}

async function onRegister(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await api.register(form.get("email"), form.get("password"), form.get("name"));
    await logIn(form.get("email"), form.get("password"));
  } catch (error) {
    fail(error);
  }
}

async function onLogout() {
  try {
    await api.logout();
  } catch (error) {
    fail(error);
  }
  state.order = null;
  $("#order").hidden = true;
  $("#order-empty").hidden = false;
  renderAccount(null);
}

// -- orders ------------------------------------------------------------------------------

function readAddress() {
  return Object.fromEntries(new FormData($("#address")));
}

function placeOrder(book, quantity) {
  if (state.sending) return null; // a double click must not place a second order
  const body = { items: [{ book_id: book.id, quantity }], shipping_address: readAddress() };
  // One key per order the customer means to place; a retry of this order reuses it.
  state.pending = { key: newIdempotencyKey(), body };
  return submitPending();
}

async function submitPending(attempt = 1) {
  if (!state.pending) return;
  const { key, body } = state.pending;
  state.sending = true;
  try {
    const result = await api.post("/v1/orders", body, {
      auth: true, headers: { "Idempotency-Key": key },
    });
    state.pending = null;
    const order = result.body.data;
    showOrder(order, result.location, result);
    const note = result.replayed ? " (the server replayed the first answer: no new order)" : "";
    showMessage(`Order #${order.id} placed: ${order.total}.${note}`, "info");
    refreshStock(body.items.map((item) => item.book_id));
    loadOrders();
    if (body.items.some((item) => item.book_id === state.detail?.id)) showBook(state.detail);
  } catch (error) {
    if (error instanceof ApiError && error.code === "IDEMPOTENCY_KEY_IN_USE" && attempt < 5) {
      // The first attempt is still running: wait as told, then ask again with the same key.
      const seconds = Number(error.info.retryAfter) || 1;
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      return await submitPending(attempt + 1); // await: keep `sending` set meanwhile
    }
    if (error instanceof NetworkError) {
      showMessage([...describeError(error, apiBase), renderOrderRetry(() => submitPending(), key)]);
      return;
    }
    state.pending = null;
    fail(error);
  } finally {
    state.sending = false;
  }
}

function showOrder(order, url = order._links.self, exchange = null) {
  // url: where this order lives, from the Location header when we just placed it.
  state.order = { ...order, url };
  renderOrder(order, { onAction: runAction, onRefresh: reloadOrder, exchange });
  document.body.dataset.orderStatus = order.status;
}

async function reloadOrder() {
  try {
    const result = await api.get(state.order.url, { auth: true });
    showOrder(result.body.data, state.order.url, result);
  } catch (error) {
    fail(error);
  }
}

async function runAction(path) {
  try {
    const result = await api.post(path, undefined, { auth: true });
    const order = result.body.data;
    showOrder(order, state.order.url, result);
    showMessage(`Order #${order.id} is ${order.status}.`, "info");
    loadOrders();
    if (order.status === "cancelled") refreshStock(order.items.map((item) => item.book_id));
  } catch (error) {
    fail(error);
  }
}

async function loadOrders() {
  try {
    const { body } = await api.get("/v1/orders?per_page=5", { auth: true });
    renderOrders(body.data, (order) => showOrder(order));
  } catch (error) {
    fail(error);
  }
}

// -- start -------------------------------------------------------------------------------

function start() {
  $("#api-base").textContent = apiBase;
  const search = $("#search");
  search.elements.q.value = params.get("q") || "";
  search.elements.in_stock.checked = params.get("in_stock") === "true";
  for (const [name, value] of Object.entries(DEFAULT_ADDRESS)) $("#address").elements[name].value = value;
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    clearMessage();
    loadBooks(searchPath());
  });
  $("#prev").addEventListener("click", () => loadBooks(state.links.prev));
  $("#next").addEventListener("click", () => loadBooks(state.links.next));
  $("#login").addEventListener("submit", onLogin);
  $("#register").addEventListener("submit", onRegister);
  $("#logout").addEventListener("click", onLogout);
  loadBooks(searchPath());
  loadMe();
}

start();
