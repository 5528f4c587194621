//! Themes: semantic roles (`healthy`, `canary`, `gauge_mismatch`, ...) mapped to styles, loaded
//! from the embedded `themes/*.toml` or a user file that overrides only the keys it sets, and
//! the glyph set (Unicode or `--ascii`). The only place in the crate that names colours.
//! `NO_COLOR` selects `mono`; meaning is carried by glyphs and words in every theme.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use serde::Deserialize;

const DARK: &str = include_str!("../../themes/dark.toml");
const LIGHT: &str = include_str!("../../themes/light.toml");
const COLORBLIND: &str = include_str!("../../themes/colorblind.toml");
const MONO: &str = include_str!("../../themes/mono.toml");

/// Built-in theme names and their TOML.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dark", DARK),
    ("light", LIGHT),
    ("colorblind", COLORBLIND),
    ("mono", MONO),
];

/// Semantic roles; the TOML keys are the snake-case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Fg,
    Muted,
    Accent,
    Selection,
    Header,
    Healthy,
    Progressing,
    Paused,
    Degraded,
    Aborted,
    Inconclusive,
    Stable,
    Canary,
    Preview,
    Active,
    GaugeCanary,
    GaugeStable,
    GaugeTrack,
    GaugeMismatch,
    Spark,
    SparkThreshold,
    Border,
    Notice,
    Error,
}

impl Role {
    pub const ALL: [Role; 24] = [
        Role::Fg,
        Role::Muted,
        Role::Accent,
        Role::Selection,
        Role::Header,
        Role::Healthy,
        Role::Progressing,
        Role::Paused,
        Role::Degraded,
        Role::Aborted,
        Role::Inconclusive,
        Role::Stable,
        Role::Canary,
        Role::Preview,
        Role::Active,
        Role::GaugeCanary,
        Role::GaugeStable,
        Role::GaugeTrack,
        Role::GaugeMismatch,
        Role::Spark,
        Role::SparkThreshold,
        Role::Border,
        Role::Notice,
        Role::Error,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::Fg => "fg",
            Self::Muted => "muted",
            Self::Accent => "accent",
            Self::Selection => "selection",
            Self::Header => "header",
            Self::Healthy => "healthy",
            Self::Progressing => "progressing",
            Self::Paused => "paused",
            Self::Degraded => "degraded",
            Self::Aborted => "aborted",
            Self::Inconclusive => "inconclusive",
            Self::Stable => "stable",
            Self::Canary => "canary",
            Self::Preview => "preview",
            Self::Active => "active",
            Self::GaugeCanary => "gauge_canary",
            Self::GaugeStable => "gauge_stable",
            Self::GaugeTrack => "gauge_track",
            Self::GaugeMismatch => "gauge_mismatch",
            Self::Spark => "spark",
            Self::SparkThreshold => "spark_threshold",
            Self::Border => "border",
            Self::Notice => "notice",
            Self::Error => "error",
        }
    }
}

/// Colour keys a file may set: every role, except that `selection` is a pair.
fn colour_keys() -> impl Iterator<Item = &'static str> {
    Role::ALL
        .iter()
        .filter(|role| **role != Role::Selection)
        .map(|role| role.key())
        .chain(["selection_fg", "selection_bg"])
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeLoadError {
    #[error("reading theme file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "theme {name:?} is not built in ({}) and is not a file",
        built_in_names()
    )]
    UnknownTheme { name: String },
    #[error("parsing theme {origin}: {source}")]
    Parse {
        origin: String,
        source: toml::de::Error,
    },
    #[error("theme {origin}: unknown role {key:?}")]
    UnknownRole { origin: String, key: String },
    #[error("theme {origin}: role {key:?} has colour {value:?}, not a name, index or #rrggbb")]
    BadColour {
        origin: String,
        key: String,
        value: String,
    },
    #[error("theme {origin}: role {key:?} has modifier {value:?}")]
    BadModifier {
        origin: String,
        key: String,
        value: String,
    },
}

fn built_in_names() -> String {
    BUILT_IN
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One theme file as written: every section optional so a user file may set a single key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    /// The built-in theme a user file starts from (default `dark`).
    base: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    modifiers: BTreeMap<String, Vec<String>>,
}

impl ThemeFile {
    fn parse(origin: &str, text: &str) -> Result<Self, ThemeLoadError> {
        toml::from_str(text).map_err(|source| ThemeLoadError::Parse {
            origin: origin.to_owned(),
            source,
        })
    }

    /// Keys of `other` replace ours; keys it does not set stay.
    fn overlay(&mut self, other: Self) {
        if other.name.is_some() {
            self.name = other.name;
        }
        self.roles.extend(other.roles);
        self.modifiers.extend(other.modifiers);
    }
}

/// The glyphs and borders for Unicode terminals or `--ascii`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbols {
    pub ascii: bool,
    pub arrow: &'static str,
    pub separator: &'static str,
    pub abort_marker: &'static str,
    pub bar_canary: &'static str,
    pub bar_stable: &'static str,
    pub bar_desired: &'static str,
    pub mismatch: &'static str,
    pub step_done: &'static str,
    pub step_current: &'static str,
    pub step_pending: &'static str,
    pub step_failed: &'static str,
    pub tree_pipe: &'static str,
    pub tree_blank: &'static str,
    pub tree_tee: &'static str,
    pub tree_elbow: &'static str,
    pub info: &'static str,
    pub warn: &'static str,
    pub error: &'static str,
    pub live: &'static str,
    pub cursor: &'static str,
    pub ellipsis: &'static str,
    pub border: border::Set<'static>,
}

/// Borders drawn with `+`, `-` and `|`.
const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

impl Symbols {
    pub const UNICODE: Self = Self {
        ascii: false,
        arrow: "→",
        separator: "·",
        abort_marker: "⚑",
        bar_canary: "█",
        bar_stable: "░",
        bar_desired: "┃",
        mismatch: "≠",
        step_done: "✔",
        step_current: "▶",
        step_pending: "○",
        step_failed: "✖",
        tree_pipe: "│  ",
        tree_blank: "   ",
        tree_tee: "├──",
        tree_elbow: "└──",
        info: "ℹ",
        warn: "⚠",
        error: "✖",
        live: "●",
        cursor: "▏",
        ellipsis: "…",
        border: border::ROUNDED,
    };

    pub const ASCII: Self = Self {
        ascii: true,
        arrow: "->",
        separator: "|",
        abort_marker: "!",
        bar_canary: "#",
        bar_stable: ".",
        bar_desired: "|",
        mismatch: "!=",
        step_done: "+",
        step_current: ">",
        step_pending: ".",
        step_failed: "x",
        tree_pipe: "|  ",
        tree_blank: "   ",
        tree_tee: "+--",
        tree_elbow: "`--",
        info: "i",
        warn: "!",
        error: "x",
        live: "*",
        cursor: "_",
        ellipsis: "~",
        border: ASCII_BORDER,
    };
}

/// A resolved theme: one style per role plus the glyph set.
#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<&'static str, Style>,
    pub symbols: Symbols,
}

/// How the user asked for a theme.
#[derive(Debug, Clone, Default)]
pub struct ThemeChoice {
    /// `--theme NAME|FILE`.
    pub theme: Option<String>,
    /// `NO_COLOR` set to a non-empty value.
    pub no_color: bool,
    /// `--ascii`.
    pub ascii: bool,
}

/// `NO_COLOR` counts when present and non-empty (no-color.org).
pub fn no_color_requested(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(built, _)| *built == name)
        .map(|(_, text)| *text)
}

fn parse_modifier(word: &str) -> Option<Modifier> {
    Some(match word {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        "crossed_out" => Modifier::CROSSED_OUT,
        _ => return None,
    })
}

impl Theme {
    /// Resolves `--theme`, `NO_COLOR` and `--ascii`; reads a file only when `theme` names no
    /// built-in theme.
    pub fn load(choice: &ThemeChoice) -> Result<Self, ThemeLoadError> {
        let mut theme = match choice.theme.as_deref() {
            None => Self::built_in("dark")?,
            Some(name) if built_in(name).is_some() => Self::built_in(name)?,
            Some(path) => {
                let path = Path::new(path);
                if !path.is_file() {
                    return Err(ThemeLoadError::UnknownTheme {
                        name: path.display().to_string(),
                    });
                }
                let text =
                    std::fs::read_to_string(path).map_err(|source| ThemeLoadError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                Self::from_user_toml(&path.display().to_string(), &text)?
            }
        };
        if choice.no_color {
            // NO_COLOR: drop every colour but keep the user's (or mono's) modifiers.
            let mono = Self::built_in("mono")?;
            for (key, style) in &mut theme.styles {
                let mono_style = mono.styles.get(key).copied().unwrap_or_default();
                *style =
                    Style::default().add_modifier(style.add_modifier | mono_style.add_modifier);
            }
            theme.name = format!("{} (NO_COLOR)", theme.name);
        }
        theme.symbols = if choice.ascii {
            Symbols::ASCII
        } else {
            Symbols::UNICODE
        };
        Ok(theme)
    }

    /// One of the embedded themes, by name.
    pub fn built_in(name: &str) -> Result<Self, ThemeLoadError> {
        let text = built_in(name).ok_or_else(|| ThemeLoadError::UnknownTheme {
            name: name.to_owned(),
        })?;
        let file = ThemeFile::parse(name, text)?;
        Self::resolve(name, file)
    }

    /// A user file over its `base` (default `dark`): only the keys it sets change.
    pub fn from_user_toml(origin: &str, text: &str) -> Result<Self, ThemeLoadError> {
        let user = ThemeFile::parse(origin, text)?;
        let base_name = user.base.clone().unwrap_or_else(|| "dark".to_owned());
        let base_text = built_in(&base_name).ok_or_else(|| ThemeLoadError::UnknownTheme {
            name: base_name.clone(),
        })?;
        let mut merged = ThemeFile::parse(&base_name, base_text)?;
        if user.name.is_none() {
            merged.name = Some(format!("{origin} (over {base_name})"));
        }
        merged.overlay(user);
        Self::resolve(origin, merged)
    }

    fn resolve(origin: &str, file: ThemeFile) -> Result<Self, ThemeLoadError> {
        let known: Vec<&str> = colour_keys().collect();
        let mut colours: BTreeMap<&str, Color> = BTreeMap::new();
        for (key, value) in &file.roles {
            let Some(known_key) = known.iter().find(|k| **k == key.as_str()) else {
                return Err(ThemeLoadError::UnknownRole {
                    origin: origin.to_owned(),
                    key: key.clone(),
                });
            };
            let colour = value
                .parse::<Color>()
                .map_err(|_| ThemeLoadError::BadColour {
                    origin: origin.to_owned(),
                    key: key.clone(),
                    value: value.clone(),
                })?;
            colours.insert(known_key, colour);
        }
        let mut styles = BTreeMap::new();
        for role in Role::ALL {
            let mut style = Style::default();
            if role == Role::Selection {
                if let Some(fg) = colours.get("selection_fg") {
                    style = style.fg(*fg);
                }
                if let Some(bg) = colours.get("selection_bg") {
                    style = style.bg(*bg);
                }
            } else if let Some(fg) = colours.get(role.key()) {
                style = style.fg(*fg);
            }
            styles.insert(role.key(), style);
        }
        for (key, words) in &file.modifiers {
            let Some(style) = styles.get_mut(key.as_str()) else {
                return Err(ThemeLoadError::UnknownRole {
                    origin: origin.to_owned(),
                    key: key.clone(),
                });
            };
            for word in words {
                let modifier = parse_modifier(word).ok_or_else(|| ThemeLoadError::BadModifier {
                    origin: origin.to_owned(),
                    key: key.clone(),
                    value: word.clone(),
                })?;
                *style = style.add_modifier(modifier);
            }
        }
        Ok(Self {
            name: file.name.unwrap_or_else(|| origin.to_owned()),
            styles,
            symbols: Symbols::UNICODE,
        })
    }

    pub fn style(&self, role: Role) -> Style {
        self.styles.get(role.key()).copied().unwrap_or_default()
    }

    #[must_use]
    pub fn with_symbols(mut self, symbols: Symbols) -> Self {
        self.symbols = symbols;
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_sets_every_role() {
        for (name, text) in BUILT_IN {
            let file = ThemeFile::parse(name, text).unwrap();
            for key in colour_keys() {
                assert!(file.roles.contains_key(key), "{name} lacks {key}");
            }
            Theme::built_in(name).unwrap();
        }
    }

    #[test]
    fn dark_maps_roles_to_colours() {
        let theme = Theme::built_in("dark").unwrap();
        assert_eq!(theme.style(Role::Healthy).fg, Some(Color::Green));
        assert_eq!(theme.style(Role::Selection).bg, Some(Color::Cyan));
        assert_eq!(theme.style(Role::Selection).fg, Some(Color::Black));
        let colorblind = Theme::built_in("colorblind").unwrap();
        assert_eq!(
            colorblind.style(Role::Canary).fg,
            Some(Color::Rgb(0xe6, 0x9f, 0x00))
        );
    }

    #[test]
    fn user_file_overrides_only_its_keys() {
        let theme = Theme::from_user_toml(
            "mine.toml",
            "base = \"light\"\n[roles]\ncanary = \"#ff8800\"\n[modifiers]\nhealthy = [\"bold\"]\n",
        )
        .unwrap();
        let light = Theme::built_in("light").unwrap();
        assert_eq!(
            theme.style(Role::Canary).fg,
            Some(Color::Rgb(0xff, 0x88, 0))
        );
        assert_eq!(theme.style(Role::Stable), light.style(Role::Stable));
        assert!(
            theme
                .style(Role::Healthy)
                .add_modifier
                .contains(Modifier::BOLD)
        );
        assert_eq!(theme.style(Role::Healthy).fg, light.style(Role::Healthy).fg);
        let over_dark = Theme::from_user_toml("x", "[roles]\nmuted = \"7\"\n").unwrap();
        assert_eq!(over_dark.style(Role::Muted).fg, Some(Color::Indexed(7)));
        assert_eq!(over_dark.style(Role::Healthy).fg, Some(Color::Green));
    }

    #[test]
    fn user_mistakes_are_reported_by_key() {
        let cases = [
            ("[roles]\ncanery = \"red\"\n", "unknown role \"canery\""),
            ("[roles]\ncanary = \"rouge\"\n", "has colour \"rouge\""),
            (
                "[modifiers]\ncanary = [\"blink2\"]\n",
                "modifier \"blink2\"",
            ),
            ("base = \"nord\"\n", "\"nord\" is not built in"),
            ("[roles\n", "parsing theme"),
        ];
        for (text, want) in cases {
            let error = Theme::from_user_toml("user.toml", text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(want), "{text:?}: {error}");
        }
    }

    #[test]
    fn no_color_keeps_modifiers_and_drops_colours() {
        let theme = Theme::load(&ThemeChoice {
            theme: Some("dark".into()),
            no_color: true,
            ascii: true,
        })
        .unwrap();
        for role in Role::ALL {
            let style = theme.style(role);
            assert_eq!((style.fg, style.bg), (None, None), "{role:?}");
        }
        assert!(
            theme
                .style(Role::Selection)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert!(theme.symbols.ascii);
        assert!(no_color_requested(Some(std::ffi::OsStr::new("1"))));
        assert!(!no_color_requested(Some(std::ffi::OsStr::new(""))));
        assert!(!no_color_requested(None));
    }

    #[test]
    fn theme_by_path_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "name = \"t\"\n[roles]\nerror = \"magenta\"\n").unwrap();
        let theme = Theme::load(&ThemeChoice {
            theme: Some(path.display().to_string()),
            ..ThemeChoice::default()
        })
        .unwrap();
        assert_eq!(theme.name, "t");
        assert_eq!(theme.style(Role::Error).fg, Some(Color::Magenta));
        let missing = Theme::load(&ThemeChoice {
            theme: Some("solarized".into()),
            ..ThemeChoice::default()
        });
        assert!(matches!(missing, Err(ThemeLoadError::UnknownTheme { .. })));
    }

    #[test]
    fn ascii_symbols_are_ascii() {
        let s = Symbols::ASCII;
        let all = [
            s.arrow,
            s.separator,
            s.abort_marker,
            s.bar_canary,
            s.bar_stable,
            s.bar_desired,
            s.mismatch,
            s.step_done,
            s.step_current,
            s.step_pending,
            s.step_failed,
            s.tree_pipe,
            s.tree_blank,
            s.tree_tee,
            s.tree_elbow,
            s.info,
            s.warn,
            s.error,
            s.live,
            s.cursor,
            s.ellipsis,
            s.border.top_left,
            s.border.horizontal_top,
            s.border.vertical_left,
        ];
        assert!(all.iter().all(|g| g.is_ascii()));
    }
}
