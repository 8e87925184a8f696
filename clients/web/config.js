// Where the API lives. Edit this file to point the page at another server, or override it
// for one visit with a query parameter: index.html?api=http://127.0.0.1:9000
export const DEFAULT_API_BASE = "http://127.0.0.1:8000";

// Shown pre-filled in the order form; a real shop would ask for it once and remember it.
export const DEFAULT_ADDRESS = {
  name: "Ada Lovelace",
  line1: "1 Main Street",
  city: "London",
  postal_code: "SW1Y 4JH",
  country: "GB",
};
