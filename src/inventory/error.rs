//! Inventory errors as miette diagnostics: every problem points at the file, line and column
//! it comes from and carries a hint. All problems of a file are reported together.

use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// One thing wrong in an inventory, with the span it refers to.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

#[derive(Debug, Error, Diagnostic)]
pub enum InventoryError {
    #[error("cannot read inventory `{path}`: {cause}")]
    #[diagnostic(code(groundup::inventory::read), help("check the path given with -i/--inventory"))]
    Io { path: String, cause: String },

    #[error("inventory `{path}` is not valid ({} problem{})", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(groundup::inventory::invalid))]
    Invalid {
        path: String,
        #[related]
        problems: Vec<Problem>,
    },
}

impl InventoryError {
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        InventoryError::Io {
            path: path.display().to_string(),
            cause: e.to_string(),
        }
    }

    /// The problems' one-line messages, for tests and plain output.
    pub fn messages(&self) -> Vec<String> {
        match self {
            InventoryError::Io { cause, .. } => vec![cause.clone()],
            InventoryError::Invalid { problems, .. } => problems.iter().map(|p| p.message.clone()).collect(),
        }
    }

    /// Renders the error as a terminal shows it, without colour, wrapped at 100 columns (snapshots).
    pub fn render_plain(&self) -> String {
        self.render(true)
    }

    /// Renders the error for standard error: wrapped at 100 columns on a terminal; one line per
    /// message anywhere else, so a log, a pipe or the class runner never sees a sentence cut at a
    /// width that depends on how long a path is.
    pub fn render_for_stderr(&self) -> String {
        self.render(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    fn render(&self, wrap: bool) -> String {
        let mut out = String::new();
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_wrap_lines(wrap)
            .with_links(false);
        if handler.render_report(&mut out, self).is_err() {
            out = self.to_string();
        }
        out
    }
}
