//! The results: rows with their targets and baselines, printed as a
//! Markdown table or as JSON, with the machine they were measured on.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::thread;

use crate::Opts;

pub struct Row {
    pub section: &'static str,
    pub name: String,
    pub value: Option<f64>,
    pub unit: &'static str,
    /// The machine's own figure for the same work, and what it is.
    pub base: Option<(f64, &'static str)>,
    pub target: Option<Target>,
}

#[derive(Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// At least this fraction of the baseline.
    RatioAtLeast(f64),
}

impl Row {
    pub fn new(section: &'static str, name: impl Into<String>, value: Option<f64>) -> Row {
        Row {
            section,
            name: name.into(),
            value,
            unit: "",
            base: None,
            target: None,
        }
    }
    pub fn unit(mut self, u: &'static str) -> Row {
        self.unit = u;
        self
    }
    pub fn base(mut self, b: Option<f64>, what: &'static str) -> Row {
        self.base = b.map(|b| (b, what));
        self
    }
    pub fn target(self, t: Target) -> Row {
        self.target_if(Some(t))
    }
    /// The target where there is one.
    pub fn target_if(mut self, t: Option<Target>) -> Row {
        self.target = t;
        self
    }
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, self.base) {
            (Some(v), Some((b, _))) if b != 0.0 => Some(v / b),
            _ => None,
        }
    }
    pub fn met(&self) -> Option<bool> {
        let v = self.value?;
        Some(match self.target? {
            Target::AtMost(t) => v <= t,
            Target::AtLeast(t) => v >= t,
            Target::RatioAtLeast(t) => self.ratio()? >= t,
        })
    }
    pub fn target_text(&self) -> String {
        match self.target {
            None => String::new(),
            Some(Target::AtMost(t)) => format!("≤ {} {}", num(t), self.unit),
            Some(Target::AtLeast(t)) => format!("≥ {} {}", num(t), self.unit),
            Some(Target::RatioAtLeast(t)) => format!("ratio ≥ {}", num(t)),
        }
    }
}

/// A number with a sensible number of digits and thousands separators.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let n = v.round() as i64;
        let s = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if n < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn load_avg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn machine(bin: &Path, load0: &str, load1: &str, o: &Opts) -> Vec<(&'static str, String)> {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let size = fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    vec![
        ("cpus", cpus.to_string()),
        ("kernel", kernel.trim().to_string()),
        ("load average at start", load0.to_string()),
        ("load average at end", load1.to_string()),
        ("runs per measurement (medians)", o.runs.to_string()),
        ("mode", if o.quick { "quick" } else { "full" }.to_string()),
        ("rumor binary bytes", size.to_string()),
    ]
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

pub fn print_json(info: &[(&str, String)], rows: &[Row]) {
    let mut s = String::from("{\n  \"machine\": {");
    for (i, (k, v)) in info.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(s, "{sep}\n    {}: {}", json_str(k), json_str(v));
    }
    s.push_str("\n  },\n  \"results\": [");
    for (i, r) in rows.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(
            s,
            "{sep}\n    {{\"section\": {}, \"name\": {}, \"value\": {}, \"unit\": {}, \
             \"baseline\": {}, \"baseline_is\": {}, \"ratio\": {}, \"target\": {}, \"met\": {}}}",
            json_str(r.section),
            json_str(&r.name),
            json_num(r.value),
            json_str(r.unit),
            json_num(r.base.map(|b| b.0)),
            json_str(r.base.map_or("", |b| b.1)),
            json_num(r.ratio()),
            json_str(&r.target_text()),
            r.met().map_or("null".into(), |m| m.to_string()),
        );
    }
    s.push_str("\n  ]\n}");
    println!("{s}");
}

pub fn print_table(info: &[(&str, String)], rows: &[Row]) {
    let mut s = String::new();
    for (k, v) in info {
        let _ = writeln!(s, "- {k}: {v}");
    }
    s.push('\n');
    s.push_str("| measure | rumor | machine's own | ratio | target | met |\n");
    s.push_str("|---|---:|---:|---:|---|---|\n");
    for r in rows {
        let v = r
            .value
            .map_or("failed".to_string(), |v| format!("{} {}", num(v), r.unit));
        let b = r.base.map_or(String::new(), |(b, what)| {
            format!("{} {} ({what})", num(b), r.unit)
        });
        let ratio = r.ratio().map_or(String::new(), |x| format!("{x:.2}×"));
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None if r.target.is_some() => "**no**",
            None => "",
        };
        let _ = writeln!(
            s,
            "| {} | {v} | {b} | {ratio} | {} | {met} |",
            r.name,
            r.target_text()
        );
    }
    print!("{s}");
}
