// An in-memory KV namespace for plain workerd: workerd's kvNamespace binding speaks HTTP to
// this service (GET/PUT/DELETE https://fake-host/<url-encoded key>). For the benchmarks and
// the tests that run the worker on plain workerd (tests/src/worker.rs).
const store = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    switch (request.method) {
      case "GET": {
        const value = store.get(key);
        return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
      }
      case "PUT":
        store.set(key, await request.text());
        return new Response(null, { status: 200 });
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response("method not allowed", { status: 405 });
    }
  },
};
