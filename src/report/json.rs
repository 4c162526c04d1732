//! `results.json` (the versioned schema in the module above) and `per_query.jsonl`.

use super::{Exporter, Report};

pub struct Json;

impl Exporter for Json {
    fn serialize(&self, report: &Report) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(report).expect("a report always serializes");
        v.push(b'\n');
        v
    }
}

/// One JSON object per (model, query), models in evaluation order.
pub struct PerQueryJsonl;

impl Exporter for PerQueryJsonl {
    fn serialize(&self, report: &Report) -> Vec<u8> {
        let mut out = Vec::new();
        for m in &report.models {
            for q in &m.per_query {
                serde_json::to_writer(&mut out, q).expect("a per-query row always serializes");
                out.push(b'\n');
            }
        }
        out
    }
}
