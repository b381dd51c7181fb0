//! The results as Markdown tables, ready for `BENCHMARKS.md`.

#![allow(clippy::print_stdout, reason = "the report is the program's output")]

use crate::load::{Load, Outcome};
use crate::process::Usage;
use crate::wrk::WrkFigures;

/// The load-test table: one row per scenario.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<String>,
}

impl Table {
    pub(crate) fn row(
        &mut self,
        name: &str,
        load: Load,
        outcome: &Outcome,
        baseline_rps: Option<f64>,
        usage: Option<Usage>,
    ) {
        let ratio = baseline_rps.map_or("-".to_owned(), |b| format!("{:.2}", outcome.rps() / b));
        let rss = usage.map_or("-".to_owned(), |u| format!("{:.0}", u.peak_rss_mib));
        let row = format!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {ratio} | {rss} |",
            load.connections,
            outcome.rps(),
            outcome.ms(0.5),
            outcome.ms(0.99),
            outcome.ms(0.999),
            outcome.errors,
        );
        if let Some(error) = &outcome.first_error {
            eprintln!("{name}: first unexpected answer: {error}");
        }
        eprintln!("{row}");
        self.rows.push(row);
    }

    /// A row of figures `wrk` measured, with its ratio to `baseline_rps`
    /// (wrk's own baseline).
    pub(crate) fn wrk_row(
        &mut self,
        name: &str,
        load: Load,
        wrk: &WrkFigures,
        baseline_rps: Option<f64>,
    ) {
        let ratio = baseline_rps.map_or("-".to_owned(), |b| format!("{:.2}", wrk.rps / b));
        self.line(&format!(
            "| {name} [wrk, {:?} incl. warm-up] | {} | {:.0} | {:.2} | {:.2} | - | {} non-2xx | {ratio} | - |",
            crate::wrk::duration(load),
            load.connections,
            wrk.rps,
            wrk.p50_ms,
            wrk.p99_ms,
            wrk.non_2xx,
        ));
    }

    /// A row written by the caller.
    pub(crate) fn line(&mut self, row: &str) {
        eprintln!("{row}");
        self.rows.push(row.to_owned());
    }

    pub(crate) fn print(&self) {
        println!(
            "| scenario | connections | requests/s | p50 ms | p99 ms | p99.9 ms | errors | ratio to baseline | server peak RSS MiB |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &self.rows {
            println!("{row}");
        }
    }
}

/// A list of `name: value` lines for the one-off scenarios.
pub(crate) fn facts(title: &str, facts: &[(&str, String)]) {
    println!();
    println!("{title}");
    println!();
    for (name, value) in facts {
        println!("- {name}: {value}");
    }
}
