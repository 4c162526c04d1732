//! `report.html`: one self-contained file with the results and the page's views
//! (`www/views.js`, `www/style.css`, template `www/report.html`), readable offline and shareable;
//! and the results-only form of `results.json` that a share carries when texts must stay home.

use serde_json::Value;

use super::{json::Json, Exporter, Report};
use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("../../www/report.html");
const STYLE: &str = include_str!("../../www/style.css");
const VIEWS: &str = include_str!("../../www/views.js");

/// The report page for a results.json (as the CLI writes it, or a results-only one).
pub fn report_html(results_json: &str) -> String {
    // Inside <script>, "</" ends the element early and "<!--" followed by "<script" makes the
    // parser hold the rest of the page as script: every "<" (only ever inside a JSON string)
    // is written "\u003c", which reads the same to JSON.
    let data = results_json.trim_end().replace('<', "\\u003c");
    let script = format!(
        "{VIEWS}\nrender(document.getElementById('report'), JSON.parse(document.getElementById('embeval-data').textContent));\n"
    );
    // Each placeholder once, in order: a placeholder-like string inside the data or the
    // script cannot be replaced by mistake.
    let mut out = String::with_capacity(TEMPLATE.len() + STYLE.len() + data.len() + script.len());
    let mut rest = TEMPLATE;
    for (marker, value) in [("/*EMBEVAL_STYLE*/", STYLE), ("/*EMBEVAL_DATA*/", &data), ("/*EMBEVAL_SCRIPT*/", &script)]
    {
        let at = rest.find(marker).expect("www/report.html has each placeholder once, in this order");
        out.push_str(&rest[..at]);
        out.push_str(value);
        rest = &rest[at + marker.len()..];
    }
    out.push_str(rest);
    out
}

/// [`report_html`] of a report.
pub struct ReportHtml;

impl Exporter for ReportHtml {
    fn serialize(&self, report: &Report) -> Vec<u8> {
        report_html(&String::from_utf8(Json.serialize(report)).expect("JSON is UTF-8")).into_bytes()
    }
}

/// A results.json without any corpus or query text: ids, metrics and rankings stay; the
/// details' texts go, and the failure lists keep their ids with empty texts. For sharing
/// results whose data must not leave the machine.
pub fn results_only(results_json: &str) -> Result<String> {
    let mut v: Value = serde_json::from_str(results_json)
        .map_err(|e| Error::usage("results.json", format!("not a results.json: {e}")))?;
    if let Some(details) = v.get_mut("details").and_then(Value::as_object_mut) {
        details.remove("texts");
    }
    for model in v.get_mut("models").and_then(Value::as_array_mut).into_iter().flatten() {
        for failure in model.get_mut("failures").and_then(Value::as_array_mut).into_iter().flatten() {
            failure["query"] = Value::from("");
            // missed: [doc id, preview]; retrieved: [doc id, score, preview].
            for (list, text_at) in [("missed", 1), ("retrieved", 2)] {
                for entry in failure.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(text) = entry.get_mut(text_at) {
                        *text = Value::from("");
                    }
                }
            }
        }
    }
    v["results_only"] = Value::Bool(true);
    let mut out = serde_json::to_string_pretty(&v).expect("a JSON value serializes");
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULTS: &str = r#"{"models": [{"name": "m", "failures": [{"query_id": "q1", "query": "日本の首都</script> <!-- a <script> b",
        "recall": 0.0, "first_relevant_rank": null, "missed": [["d1", "東京は…"]], "retrieved": [["d2", 0.5, "京都"]]}]}],
        "details": {"qrels": {"q1": {"d1": 1}}, "per_query": {}, "texts": {"queries": {"q1": "日本の首都"}, "docs": {}}}}"#;

    #[test]
    fn the_report_embeds_data_script_and_style_once() {
        let html = report_html(RESULTS);
        assert!(!html.contains("/*EMBEVAL_"), "every placeholder filled");
        assert!(html.contains("日本の首都\\u003c/script> \\u003c!-- a \\u003cscript> b"), "< escaped inside the data");
        let data_at = html.find("id=\"embeval-data\">").unwrap();
        assert!(html.contains("export function render"));
        assert!(html.contains("--accent"), "the page's style sheet");
        let json_end = html[data_at..].find("</script>").unwrap();
        let json = &html[data_at + "id=\"embeval-data\">".len()..data_at + json_end];
        assert!(!json.contains('<'), "no '<' left in the data: {json}");
        let parsed: Value = serde_json::from_str(json).unwrap();
        assert_eq!(parsed["models"][0]["failures"][0]["query"], "日本の首都</script> <!-- a <script> b");
    }

    #[test]
    fn results_only_keeps_ids_and_numbers_and_drops_every_text() {
        let shared = results_only(RESULTS).unwrap();
        for text in ["日本", "東京", "京都"] {
            assert!(!shared.contains(text), "{text} left in {shared}");
        }
        let v: Value = serde_json::from_str(&shared).unwrap();
        let f = &v["models"][0]["failures"][0];
        assert_eq!(
            (&f["query_id"], &f["missed"][0][0], &f["retrieved"][0][1]),
            (&"q1".into(), &"d1".into(), &0.5.into())
        );
        assert_eq!(v["details"]["qrels"]["q1"]["d1"], 1);
        assert_eq!(v["results_only"], true);
        assert!(results_only("not json").unwrap_err().to_string().contains("results.json"));
    }
}
