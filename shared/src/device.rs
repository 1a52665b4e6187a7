//! Device class from the User-Agent: mobile, tablet, desktop or bot.
//!
//! A short ordered list of substring checks on the lower-cased User-Agent, tested against the
//! table of real strings in `shared/tests/vectors/user_agents.json`. Order matters: crawlers
//! first (many pretend to be phones), then tablets (Android tablets omit "mobile"), then phones.
//! iPadOS Safari sends a desktop Mac User-Agent by default; a caller that knows better (the
//! browser snippet can test for touch) passes the device class explicitly.

use serde::{Deserialize, Serialize};

/// The class of device a visitor browses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Mobile,
    Tablet,
    Desktop,
    Bot,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 4] = [Self::Mobile, Self::Tablet, Self::Desktop, Self::Bot];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Desktop => "desktop",
            Self::Bot => "bot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Dense index, for per-class tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Classifies a User-Agent header. A missing or empty one is a script, hence a bot.
    pub fn from_user_agent(user_agent: &str) -> Self {
        let ua = user_agent.trim().to_ascii_lowercase();
        if ua.is_empty() || BOT_MARKERS.iter().any(|m| ua.contains(m)) {
            return Self::Bot;
        }
        if is_tablet(&ua) {
            return Self::Tablet;
        }
        if MOBILE_MARKERS.iter().any(|m| ua.contains(m)) {
            return Self::Mobile;
        }
        // Anything that is not a browser at all (no Mozilla/Opera token) is a script or tool.
        if !(ua.starts_with("mozilla/") || ua.starts_with("opera")) {
            return Self::Bot;
        }
        Self::Desktop
    }
}

impl std::fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrape",
    "headless",
    "lighthouse",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "embedly",
    "preview",
    "pingdom",
    "uptime",
    "monitor",
    "python-",
    "python/",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "postman",
    "insomnia",
    "httpie",
    "libwww",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "ia_archiver",
    "archive.org",
    "feedfetcher",
    "mediapartners-google",
    "adsbot",
    "google-inspectiontool",
    "google-read-aloud",
    "chrome-lighthouse",
    "gptbot",
    "chatgpt-user",
    "claudebot",
    "perplexity",
    "bytespider",
    "yandex",
    "baiduspider",
    "duckduckbot",
    "applebot",
    "whatsapp/",
    "telegrambot",
    "skypeuripreview",
    "discordbot",
    "slackbot",
    "vkshare",
    "qwantify",
    "semrush",
    "ahrefs",
    "mj12",
    "dotbot",
    "petalbot",
    "seznam",
    "sogou",
];

const MOBILE_MARKERS: &[&str] = &[
    "mobi",
    "iphone",
    "ipod",
    "android",
    "windows phone",
    "blackberry",
    "bb10",
    "opera mini",
    "kaios",
    "webos",
    "symbian",
];

fn is_tablet(ua: &str) -> bool {
    if ua.contains("ipad") || ua.contains("tablet") || ua.contains("kindle") || ua.contains("silk/")
    {
        return true;
    }
    if ua.contains("playbook") || ua.contains("nexus 7") || ua.contains("nexus 9") {
        return true;
    }
    // Android tablets leave out "Mobile"; Android phones carry it.
    ua.contains("android") && !ua.contains("mobile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DeviceClass::ALL {
            assert_eq!(DeviceClass::parse(d.as_str()), Some(d));
        }
        assert_eq!(DeviceClass::parse("phone"), None);
    }

    #[test]
    fn empty_user_agent_is_a_bot() {
        assert_eq!(DeviceClass::from_user_agent(""), DeviceClass::Bot);
        assert_eq!(DeviceClass::from_user_agent("   "), DeviceClass::Bot);
    }
}
