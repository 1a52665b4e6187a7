// The GrowthBook edge app (@growthbook/edge-cloudflare, pinned in package.json) as a Worker,
// for scripts/bench-proxy: it proxies PROXY_TARGET and applies the visual-editor experiments
// of the bundled payload (written by scripts/bench-proxy beside this file as payload.json).
import { handleRequest } from "@growthbook/edge-cloudflare";
import payload from "./payload.json";

export default {
  fetch(request, env) {
    return handleRequest(request, env, { payload });
  },
};
