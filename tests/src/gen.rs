//! Deterministic generators: snapshots with many tests and mixed targeting, and visitors.

use serde_json::{json, Value};

/// SplitMix64: a tiny, seedable generator; tests must be reproducible from the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }
}

pub const PERSONAS: [&str; 4] = [
    "TechEarlyAdopter",
    "RemoteDad",
    "StudentHustler",
    "BusinessOwner",
];
pub const COUNTRIES: [&str; 8] = ["US", "DE", "FR", "GB", "CN", "RU", "BR", "IN"];
/// The fixed evaluation time of generated scenarios: 2026-11-27T10:00:00Z.
pub const NOW_MS: i64 = 1_795_773_600_000;
pub const NOW_RFC3339: &str = "2026-11-27T10:00:00Z";

/// User-Agents of every device class, including crawlers and scripts.
pub const USER_AGENTS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
];

const PATHS: [&str; 6] = [
    "/",
    "/pricing",
    "/checkout/cart",
    "/checkout/pay",
    "/blog/launch",
    "/signup",
];
const UTM_SOURCES: [&str; 4] = ["techcrunch", "newsletter", "google", "family-blog"];
const REFERRERS: [&str; 5] = [
    "https://news.ycombinator.com/item?id=1",
    "https://www.producthunt.com/posts/edgewise",
    "https://cs.stanford.edu/courses",
    "https://www.google.com/search?q=ab+testing",
    "https://t.co/xyz",
];

fn persona_rules() -> Value {
    json!([
        {"key": "TechEarlyAdopter", "when": {"any": [
            {"attr": "referrer_host", "op": "in", "value": ["news.ycombinator.com", "www.producthunt.com"]},
            {"attr": "utm_source", "op": "eq", "value": "techcrunch"}]}},
        {"key": "RemoteDad", "when": {"all": [
            {"attr": "device", "op": "eq", "value": "mobile"},
            {"attr": "local_hour", "op": "gte", "value": 20},
            {"attr": "utm_campaign", "op": "prefix", "value": "family"}]}},
        {"key": "StudentHustler", "when": {"any": [
            {"attr": "referrer_host", "op": "regex", "value": "\\.edu$"},
            {"attr": "query.promo", "op": "eq", "value": "student"}]}},
        {"key": "BusinessOwner", "when": {"attr": "company_size", "op": "gte", "value": 1}}
    ])
}

fn condition(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => json!({"attr": "country", "op": "in", "value": ["US", "GB", "DE"]}),
        1 => json!({"attr": "country", "op": "not_in", "value": ["CN", "RU"]}),
        2 => json!({"attr": "path", "op": "prefix", "value": "/checkout"}),
        3 => json!({"attr": "utm_source", "op": "eq", "value": "newsletter"}),
        4 => json!({"attr": "local_hour", "op": "gte", "value": 12}),
        5 => json!({"attr": "referrer_host", "op": "regex", "value": "(^|\\.)google\\.com$"}),
        6 => json!({"attr": "company_size", "op": "gte", "value": 10}),
        _ => json!({"attr": "query.promo", "op": "exists"}),
    }
}

/// A snapshot with `tests` running tests of mixed targeting, layers, holdout and personas.
pub fn snapshot(version: u64, tests: usize, seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let mut defs = Vec::with_capacity(tests);
    let layer_slots = [[0, 3000], [3000, 6000], [6000, 10000]];
    for i in 0..tests {
        let n = 2 + rng.below(3);
        let variants: Vec<Value> = (0..n)
            .map(|v| {
                let mut variant = json!({
                    "key": if v == 0 { "control".to_owned() } else { format!("v{v}") },
                    "weight": 1 + rng.below(3),
                    "content": {"headline": format!("Headline {i}.{v}"), "color": *rng.pick(&["blue", "green", "red"]), "rank": v},
                });
                if rng.chance(25) {
                    variant["overrides"] = json!({
                        "device": {"mobile": {"headline": format!("Short {i}.{v}")}},
                        "persona": {*rng.pick(&PERSONAS): {"color": "gold"}}
                    });
                }
                variant
            })
            .collect();
        let mut targeting = json!({});
        if rng.chance(30) {
            targeting["devices"] = json!([*rng.pick(&["mobile", "desktop", "tablet"]), "desktop"]);
        }
        if rng.chance(20) {
            targeting["personas"] = json!([*rng.pick(&PERSONAS)]);
        }
        if rng.chance(50) {
            targeting["when"] = if rng.chance(50) {
                condition(&mut rng)
            } else {
                json!({"all": [condition(&mut rng), {"not": condition(&mut rng)}]})
            };
        }
        let mut test = json!({
            "key": format!("test-{i:03}"),
            "status": "running",
            "coverage": *rng.pick(&[1.0, 1.0, 0.8, 0.5]),
            "variants": variants,
            "targeting": targeting,
            "metrics": [{"key": "purchase", "kind": "binomial", "role": "primary"},
                        {"key": "revenue", "kind": "value", "role": "secondary"}],
        });
        match rng.below(10) {
            0 => test["start_at"] = json!("2026-12-01T00:00:00Z"),
            1 => test["end_at"] = json!("2026-11-20T00:00:00Z"),
            2 => {
                test["start_at"] = json!("2026-11-01T00:00:00Z");
                test["end_at"] = json!("2027-01-01T00:00:00Z");
            }
            _ => {}
        }
        if i < 9 {
            test["layer"] = json!({"key": format!("layer-{}", i / 3), "range": layer_slots[i % 3]});
        }
        defs.push(test);
    }
    json!({
        "schema_version": 1,
        "snapshot_version": version,
        "hash_version": 1,
        "generated_at": "2026-11-27T09:00:00Z",
        "allowed_origins": ["https://shop.example", "http://localhost:8080"],
        "holdout": {"share": 0.03},
        "layers": [{"key": "layer-0"}, {"key": "layer-1"}, {"key": "layer-2", "hash_id": "l2"}],
        "personas": persona_rules(),
        "tests": defs,
    })
}

/// One visitor of a parity run, as query parameters plus headers.
#[derive(Debug, Clone)]
pub struct VisitorCase {
    pub unit: String,
    /// Send the id as our cookie (true) or as the site's `unit` parameter (false).
    pub via_cookie: bool,
    pub user_agent: &'static str,
    pub persona: Option<&'static str>,
    pub country: &'static str,
    pub url: String,
    pub referrer: Option<&'static str>,
    pub local_hour: Option<u8>,
    pub company_size: Option<u32>,
}

impl VisitorCase {
    pub fn random(rng: &mut Rng) -> VisitorCase {
        let mut url = format!("https://shop.example{}", rng.pick(&PATHS));
        let mut sep = '?';
        if rng.chance(40) {
            url.push_str(&format!("{sep}utm_source={}", rng.pick(&UTM_SOURCES)));
            sep = '&';
        }
        if rng.chance(20) {
            url.push_str(&format!("{sep}utm_campaign=family-{}", rng.below(5)));
            sep = '&';
        }
        if rng.chance(15) {
            url.push_str(&format!("{sep}promo=student"));
        }
        VisitorCase {
            unit: rng.hex(16),
            via_cookie: rng.chance(50),
            user_agent: rng.pick_str(&USER_AGENTS),
            persona: rng.chance(30).then(|| *rng.pick(&PERSONAS)),
            country: rng.pick_str(&COUNTRIES),
            url,
            referrer: rng.chance(50).then(|| *rng.pick(&REFERRERS)),
            local_hour: rng.chance(70).then(|| rng.below(24) as u8),
            company_size: rng.chance(25).then(|| rng.below(50) as u32),
        }
    }
}
