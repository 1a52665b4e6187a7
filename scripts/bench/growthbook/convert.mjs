// Converts an Edgewise snapshot (docs/snapshot.md) into a GrowthBook SDK payload, for the
// comparison worker of `scripts/bench-edge --growthbook` (worker.mjs).
//
// Usage: node convert.mjs SNAPSHOT.json > payload.json
//
// Each running test becomes a feature whose default value is the control's content, with one
// experiment rule: the same variants (content as the variation values, variant keys as meta
// keys), normalised weights, coverage, hashed on the same attribute (`id`, the visitor's unit
// id; GrowthBook's own hash, so buckets differ from ours), the test's layer slot as a GrowthBook
// namespace, and its targeting as a GrowthBook condition (device and persona lists, and the
// condition tree: eq/ne, in/not_in, gt/gte/lt/lte, prefix and regex as $regex, exists).
// Paused tests and tests outside their schedule now get no rule (everyone sees the control,
// as with us). Not modelled: the snapshot's global holdout (GrowthBook would need a
// prerequisite feature evaluated for every test, which makes it slower), sticky bandit arms,
// and per-device/per-persona content overrides (GrowthBook has no per-variation overrides).
// The persona rules come along as GrowthBook conditions, which the worker evaluates in order.
import { readFileSync } from "node:fs";

const snapshot = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = Date.now();

const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");

function condition(c) {
  if (c.all) return { $and: c.all.map(condition) };
  if (c.any) return { $or: c.any.map(condition) };
  if (c.not) return { $not: condition(c.not) };
  const { attr, op, value } = c;
  const test = {
    eq: () => value,
    ne: () => ({ $ne: value }),
    in: () => ({ $in: value }),
    not_in: () => ({ $nin: value }),
    gt: () => ({ $gt: value }),
    gte: () => ({ $gte: value }),
    lt: () => ({ $lt: value }),
    lte: () => ({ $lte: value }),
    prefix: () => ({ $regex: "^" + escapeRegex(value) }),
    regex: () => ({ $regex: value }),
    exists: () => ({ $exists: true }),
    not_exists: () => ({ $exists: false }),
  }[op];
  if (!test) throw new Error(`convert: no GrowthBook form for op ${op}`);
  return { [attr]: test() };
}

function targeting(t) {
  const parts = [];
  if (t?.devices?.length) parts.push({ device: { $in: t.devices } });
  if (t?.personas?.length) parts.push({ persona: { $in: t.personas } });
  if (t?.when) parts.push(condition(t.when));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { $and: parts };
}

const ms = (s) => (s ? Date.parse(s) : undefined);
const layers = new Map((snapshot.layers || []).map((l) => [l.key, l.hash_id || l.key]));
const features = {};
for (const t of snapshot.tests) {
  const total = t.variants.reduce((s, v) => s + v.weight, 0);
  const feature = { defaultValue: t.variants[0].content ?? null, rules: [] };
  const start = ms(t.start_at);
  const end = ms(t.end_at);
  const live = t.status === "running" && !(start && now < start) && !(end && now >= end);
  if (live) {
    const rule = {
      key: t.hash_id || t.key,
      variations: t.variants.map((v) => v.content ?? null),
      weights: t.variants.map((v) => v.weight / total),
      coverage: t.coverage ?? 1,
      hashAttribute: "id",
      hashVersion: 2,
      meta: t.variants.map((v) => ({ key: v.key })),
    };
    const cond = targeting(t.targeting);
    if (cond) rule.condition = cond;
    if (t.layer) {
      const [a, b] = t.layer.range;
      rule.namespace = [layers.get(t.layer.key) ?? t.layer.key, a / 10000, b / 10000];
    }
    feature.rules.push(rule);
  }
  features[t.key] = feature;
}
const personas = (snapshot.personas || []).map((p) => ({ key: p.key, condition: condition(p.when) }));
process.stdout.write(JSON.stringify({ features, personas }));
