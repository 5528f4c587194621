//! Text output of the CLI commands: a tab writer that aligns columns the way Go's
//! `text/tabwriter` does for the plugin (width = widest cell + padding, counted in characters,
//! colour codes not counted), ANSI colours, and a stdout writer that turns a closed pipe
//! (`rolltop list rollouts | head -1`) into a quiet exit instead of a panic.

use std::io::Write;

/// ANSI SGR colours the plugin uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Yellow,
    BrightBlue,
}

impl Colour {
    fn code(self) -> u8 {
        match self {
            Self::Red => 31,
            Self::Green => 32,
            Self::Yellow => 33,
            Self::BrightBlue => 94,
        }
    }
}

/// `text` in `colour` when `enabled`, plain otherwise.
pub fn paint(text: &str, colour: Option<Colour>, enabled: bool) -> String {
    match colour {
        Some(colour) if enabled && !text.is_empty() => {
            format!("\u{1b}[{}m{text}\u{1b}[0m", colour.code())
        }
        _ => text.to_owned(),
    }
}

/// The plugin's colour for a status glyph (`◌` bright blue, `✔` green, ...); `॥` and `•` stay
/// uncoloured.
pub fn glyph_colour(glyph: &str) -> Option<Colour> {
    match glyph {
        "◷" | "?" => Some(Colour::Yellow),
        "◌" => Some(Colour::BrightBlue),
        "⚠" | "✖" => Some(Colour::Red),
        "✔" => Some(Colour::Green),
        _ => None,
    }
}

/// The plugin's colour for a ReplicaSet tag.
pub fn tag_colour(tag: &str) -> Option<Colour> {
    match tag {
        "canary" => Some(Colour::Yellow),
        "stable" | "active" => Some(Colour::Green),
        "preview" | "ping" | "pong" => Some(Colour::BrightBlue),
        _ => None,
    }
}

/// One table cell: the plain text measures the column, the painted text is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub plain: String,
    pub painted: String,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        let plain = text.into();
        Self {
            painted: plain.clone(),
            plain,
        }
    }

    pub fn painted(plain: impl Into<String>, painted: impl Into<String>) -> Self {
        Self {
            plain: plain.into(),
            painted: painted.into(),
        }
    }
}

/// Aligns rows into columns: every column but the last is padded to its widest cell plus
/// `padding`; trailing spaces are removed from each line.
pub fn tabulate(rows: &[Vec<Cell>], padding: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.plain.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(&cell.painted);
            if i + 1 < row.len() {
                let pad = widths[i] + padding - cell.plain.chars().count();
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Pads `text` to at least `width` characters (Go's `%-Ns`).
pub fn min_width(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

/// Writes to stdout and flushes; a closed pipe comes back as `io::ErrorKind::BrokenPipe`,
/// which `main` turns into a quiet exit 0.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// True when `error` (anywhere in its chain) is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_widest_cell_plus_padding_and_colour_is_not_counted() {
        let rows = vec![
            vec![
                Cell::plain("NAME"),
                Cell::plain("KIND"),
                Cell::plain("INFO"),
            ],
            vec![
                Cell::painted("long-name", paint("long-name", Some(Colour::Green), true)),
                Cell::plain("Pod"),
                Cell::plain(""),
            ],
        ];
        let text = tabulate(&rows, 2);
        assert_eq!(
            text,
            "NAME       KIND  INFO\n\u{1b}[32mlong-name\u{1b}[0m  Pod\n"
        );
    }

    #[test]
    fn glyphs_are_counted_as_one_character() {
        let rows = vec![
            vec![Cell::plain("॥ Paused"), Cell::plain("x")],
            vec![Cell::plain("a"), Cell::plain("y")],
        ];
        assert_eq!(tabulate(&rows, 2), "॥ Paused  x\na         y\n");
    }
}
