//! Device class from the User-Agent: mobile, tablet, desktop or bot.
//!
//! A short ordered list of substring checks on the lower-cased User-Agent, tested against the
//! table of real strings in `shared/tests/vectors/user_agents.json`. Order matters: scripts and
//! crawlers first (many pretend to be phones), then tablets (iPad, Silk, "Tablet"), then phones,
//! then Android without "Mobile", which is a tablet unless it is a TV. TVs and consoles count as
//! desktop: big screen, no touch. iPadOS Safari sends a desktop Mac User-Agent by default; a
//! caller that knows better (the browser snippet can test for touch) passes the device class
//! explicitly.

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
    ///
    /// On the hot path (once per request): one lower-case copy, then plain substring checks.
    pub fn from_user_agent(user_agent: &str) -> Self {
        let ua = user_agent.trim().to_ascii_lowercase();
        // Every browser and in-app web view starts with "Mozilla/" (Opera Mini's Presto UA with
        // "Opera/"); anything else is a script, a tool or an app's own HTTP stack (curl, okhttp,
        // Dalvik, link-preview fetchers), and so is an empty header.
        if !(ua.starts_with("mozilla/") || ua.starts_with("opera")) || is_bot(&ua) {
            return Self::Bot;
        }
        if TABLET_MARKERS.iter().any(|m| ua.contains(m)) {
            return Self::Tablet;
        }
        if MOBILE_MARKERS.iter().any(|m| ua.contains(m)) {
            return Self::Mobile;
        }
        if ua.contains("android") {
            // Android phones say "Mobile" (caught above); tablets leave it out, and so do Android
            // TVs, which are desktop like every other TV.
            if TV_MARKERS.iter().any(|m| ua.contains(m)) {
                return Self::Desktop;
            }
            return Self::Tablet;
        }
        Self::Desktop
    }
}

impl std::fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Crawler and tool markers beyond "bot", for User-Agents that start like a browser (HTTP
/// libraries such as curl, okhttp or python-requests never do, so they need no marker). Kept
/// specific: "DuckDuckGo/5", "YaBrowser", "Slack/" (the desktop app) and "BytedanceWebview"
/// (TikTok's in-app browser) are people.
const BOT_MARKERS: &[&str] = &[
    "crawl",
    "spider",
    "slurp",
    // A contact URL ("+http://www.bing.com/bingbot.htm", "+http://yandex.com/bots"): crawlers only.
    "+http",
    "headless",
    "lighthouse",
    "phantomjs",
    "googleother",
    "google-",
    "-google",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-external",
    "chatgpt-user",
    "perplexity-user",
    "claude-",
    "preview",
    "embedly",
    "iframely",
    "pingdom",
    "monitor",
    "synthetics",
    "archive.org",
];

/// "bot" names most crawlers (Googlebot, bingbot, GPTBot, ClaudeBot, AhrefsBot, UptimeRobot...),
/// but also the Cubot phone brand, whose model lands in WebView User-Agents.
fn is_bot(ua: &str) -> bool {
    ua.match_indices("bot")
        .any(|(i, _)| !ua.get(..i).is_some_and(|before| before.ends_with("cu")))
        || BOT_MARKERS.iter().any(|m| ua.contains(m))
}

/// iPad (in-app and mobile-site mode), Android tablets that say so (Firefox, HarmonyOS), Kindle
/// e-readers and Amazon's Silk browser on Fire tablets.
const TABLET_MARKERS: &[&str] = &["ipad", "tablet", "kindle", "silk/"];

/// "mobi" covers "Mobile" (Android phones, every iOS web view's "Mobile/15E148", KaiOS). Opera
/// Mini's Presto User-Agent names Android without "Mobile".
const MOBILE_MARKERS: &[&str] = &["mobi", "iphone", "ipod", "opera mini"];

/// Android-based TVs and streaming sticks, which omit "Mobile" like tablets.
const TV_MARKERS: &[&str] = &[
    "crkey",
    "androidtv",
    "android tv",
    "googletv",
    "google tv",
    "smart-tv",
    "smarttv",
    "bravia",
    "hbbtv",
];

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
