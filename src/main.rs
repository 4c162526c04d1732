//! The native CLI: parse → run → exit code. Results go to stdout; the validation report,
//! warnings and progress to stderr. Exit code 2 means the input needs fixing.

mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use embeval::report::{csv::Csv, html::ReportHtml, json::Json, json::PerQueryJsonl, markdown::Markdown, Exporter};
use embeval::{Error, Progress, Report};
use indicatif::{ProgressBar, ProgressStyle};

/// `eprintln!` that never panics: a closed stderr (`2>&1 | head`) loses the line, not the run.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` likewise.
macro_rules! say_raw {
    ($($t:tt)*) => {{
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

/// indicatif bars on stderr (hidden when stderr is not a terminal or with --quiet).
struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Progress for Bars {
    fn begin(&self, step: &str, total: u64) {
        if self.quiet {
            return;
        }
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{msg:>14} {bar:40} {pos}/{len} {per_sec} eta {eta}").expect("template"),
        );
        b.set_message(step.to_string());
        *self.bar.lock().expect("lock") = Some(b);
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().expect("lock") {
            b.inc(n);
        }
    }
    fn end(&self) {
        if let Some(b) = self.bar.lock().expect("lock").take() {
            b.finish_and_clear();
        }
    }
}

/// Files written beside their final names (`.NAME.partial`) and renamed over them only once
/// every one is complete: a failure (a full disk) leaves the previous set whole and agreeing.
struct Staged {
    files: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Staged {
    fn new() -> Staged {
        Staged { files: Vec::new() }
    }

    /// Writes `name` in `dir` through `fill`, staged.
    fn write(
        &mut self,
        dir: &Path,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> embeval::Result<()> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        self.files.push((tmp.clone(), path.clone()));
        let failed = |e| Error::Write { file: path.display().to_string(), source: e };
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(failed)?);
        fill(&mut w).and_then(|()| w.into_inner().map_err(|e| e.into_error())?.sync_all()).map_err(failed)
    }

    /// Renames every staged file over its final name.
    fn commit(mut self) -> embeval::Result<()> {
        for (tmp, path) in std::mem::take(&mut self.files) {
            std::fs::rename(&tmp, &path).map_err(|e| Error::Write { file: path.display().to_string(), source: e })?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    /// Files of a set that failed are removed; the previous set stays.
    fn drop(&mut self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes every output file; called after each model so a later failure loses nothing.
fn write_outputs(dir: &Path, r: &Report) -> embeval::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write { file: dir.display().to_string(), source: e })?;
    let mut set = Staged::new();
    let exporters: [(&str, &dyn Exporter); 5] = [
        ("results.json", &Json),
        ("results.csv", &Csv),
        ("per_query.jsonl", &PerQueryJsonl),
        ("results.md", &Markdown),
        ("report.html", &ReportHtml),
    ];
    for (name, exporter) in exporters {
        set.write(dir, name, |w| w.write_all(&exporter.serialize(r)))?;
    }
    set.commit()
}

/// `--save-runs`: the model just evaluated as `dir/runs/<its run_file>` (a model whose ids a run
/// cannot hold kept no ranking, and its warning says so).
fn write_run(dir: &Path, r: &Report) -> embeval::Result<()> {
    use embeval::report::trec_run;
    let Some((name, rankings)) = trec_run::to_save(r) else { return Ok(()) };
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).map_err(|e| Error::Write { file: runs.display().to_string(), source: e })?;
    let mut set = Staged::new();
    set.write(&runs, name, |w| trec_run::write(name, rankings, w))?;
    set.commit()
}

/// Writes `text` to stdout. A reader that closed the pipe (`| head`) has what it wanted: the
/// rest is dropped quietly (the output files, if any, are already written).
fn stdout(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn failures_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for m in &r.models {
        if m.failures.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n## {}: worst queries (Recall@{} < {})\n",
            m.name, r.config.failure_k, r.config.failure_threshold
        );
        for f in &m.failures {
            let rank = f
                .first_relevant_rank
                .map_or("no relevant doc retrieved".into(), |r| format!("first relevant at rank {r}"));
            let _ = writeln!(s, "- {} \"{}\" — recall {:.2}, {}", f.query_id, f.query, f.recall, rank);
            for (id, text) in &f.missed {
                let _ = writeln!(s, "    missed    {id}: {text}");
            }
            for (id, score, text) in &f.retrieved {
                let _ = writeln!(s, "    retrieved {id} ({score:.4}): {text}");
            }
        }
    }
    s
}

fn eval(args: cli::EvalArgs) -> embeval::Result<()> {
    let (config, files) = args.config()?;
    let bars = Bars { bar: Default::default(), quiet: args.quiet };
    let dataset = embeval::Dataset::load(&files, &config.load_options())?;
    args.data.check_format(dataset.format)?;
    if !args.quiet {
        // The validation report comes first, before any model runs.
        say_raw!("{}", embeval::data::validate::validate(&dataset, config.convention));
    }
    let out = args.out.clone();
    // The models done so far, for an error in a later one: their table still reaches stdout, and
    // the output files say the run stopped.
    let mut done: Option<Report> = None;
    let result = embeval::evaluate_dataset(&files, &dataset, &config, &bars, &mut |r| {
        // Without rankings: the one just written is let go before the next model's.
        let mut copy = r.clone();
        copy.models.iter_mut().for_each(|m| m.rankings = None);
        done = Some(copy);
        match &out {
            Some(dir) => write_outputs(dir, r).and_then(|()| write_run(dir, r)),
            None => Ok(()),
        }
    });
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            if let Some(mut r) = done.filter(|r| !r.models.is_empty()) {
                let n = r.models.len();
                let models = if n == 1 { "1 model".to_string() } else { format!("{n} models") };
                r.warnings.push(format!("stopped by an error after {models}: {e}"));
                if let Some(dir) = &out {
                    let _ = write_outputs(dir, &r);
                }
                stdout(&String::from_utf8_lossy(&Markdown.serialize(&r)));
                say!("the table holds the {models} evaluated before this error:");
            }
            return Err(e);
        }
    };
    for m in &report.models {
        if !args.quiet {
            say!("{}: {} queries evaluated in {:.2} s", m.name, m.num_queries, m.timings.total_s);
            if let Some(t) = &m.search.throughput {
                let rate = |w: &str| match (t[w]["texts"].as_u64(), t[w]["cached"].as_u64()) {
                    _ if t[w]["from_shards"].is_u64() => format!("{w} from {} shards", t[w]["from_shards"]),
                    (Some(n), Some(c)) if n == c => format!("{w} from the cache"),
                    _ => format!("{w} {:.1} texts/s", t[w]["texts_per_s"].as_f64().unwrap_or(0.0)),
                };
                let peak =
                    t["memory"]["peak_mib"].as_f64().map_or(String::new(), |p| format!(", peak memory {p:.0} MiB"));
                let on = match &m.search.encoder {
                    Some(e) if e["api"].is_string() => format!("through the {} API", e["api"].as_str().unwrap_or("")),
                    Some(e) => format!("on {}", e["device"].as_str().unwrap_or("cpu")),
                    None => String::new(),
                };
                say!("  encoding {on}: {}, {}{peak}", rate("docs"), rate("queries"));
                let retries: u64 = ["queries", "docs"].iter().filter_map(|w| t[w]["oom_retries"].as_u64()).sum();
                if retries > 0 {
                    say!(
                        "  {retries} batches ran out of memory and were split; --max-batch-tokens {} fits",
                        t["docs"]["max_batch_tokens"]
                    );
                }
            }
        }
    }
    for w in report.warnings.iter().filter(|w| !report.dataset.warnings().contains(w)) {
        say!("warning: {w}");
    }
    stdout(&(String::from_utf8_lossy(&Markdown.serialize(&report)).into_owned() + &failures_text(&report)));
    if let Some(dir) = &out {
        if !args.quiet {
            let runs = if report.models.iter().any(|m| m.run_file.is_some()) { ", runs/" } else { "" };
            say!("wrote {}/results.json, results.csv, per_query.jsonl, results.md, report.html{runs}", dir.display());
        }
    }
    Ok(())
}

/// One `embeval encode` job: a shard of the corpus's document vectors; its path on stdout.
#[cfg(feature = "models")]
fn encode(args: cli::EncodeArgs) -> embeval::Result<()> {
    let (files, spec, neural, shard) = args.request()?;
    // Every document's id and text digest (for the manifest); the slice's texts are read again
    // a part at a time as they are encoded, so a job holds one part of them. Queries and
    // judgments are not read: a job's machine needs only the corpus.
    let load = embeval::LoadOptions { keep_doc_texts: false, ..args.data.load_options() };
    let dataset = embeval::Dataset::load_corpus(&files, &load)?;
    args.data.check_format(dataset.format)?;
    let bars = Bars { bar: Default::default(), quiet: args.quiet };
    let cache = args.neural.cache_dir().map(std::path::PathBuf::from);
    let w =
        embeval::embed::shards::encode(&files, &dataset, &spec, &neural, cache.as_deref(), shard, &args.out, &bars)?;
    if !args.quiet {
        let (m, s) = (&w.manifest, &w.stats);
        let rate = match s.texts {
            0 => "none to encode (N is larger than the corpus)".to_string(),
            n if n == s.cached => "from the cache".to_string(),
            _ => format!("{:.1} texts/s", s.texts_per_s),
        };
        say!(
            "{}: docs {}..{} of {} ({} dims) encoded on {}, {rate} in {:.1} s",
            m.model.label,
            m.shard.start,
            m.shard.end,
            m.corpus.size,
            m.dim,
            m.device,
            s.seconds
        );
    }
    stdout(&format!("{}\n", w.path.display()));
    Ok(())
}

#[cfg(not(feature = "models"))]
fn encode(_: cli::EncodeArgs) -> embeval::Result<()> {
    Err(Error::usage("encode", "this build has no neural models (feature 'models')"))
}

fn split(args: cli::SplitArgs) -> embeval::Result<()> {
    cli::folders(&[("--out", Some(&args.out))])?;
    let files = args.data.files()?;
    let ds = embeval::Dataset::load(&files, &args.data.load_options())?;
    args.data.check_format(ds.format)?;
    let splits = embeval::data::split::split(&ds, &args.ratios, args.seed)?;
    let inputs: Vec<&Path> = files.names().filter_map(|n| files.local_path(n)).collect();
    embeval::data::split::write_beir(&ds, &splits, &args.out, &inputs)?;
    stdout(&splits.iter().map(|s| format!("{}: {} queries\n", s.name, s.queries.len())).collect::<String>());
    say!("wrote {} (BEIR layout; pick a split with --split)", args.out.display());
    Ok(())
}

/// Outside a desktop session (containers, CI, ssh) Mesa's Vulkan device-select layer asks
/// Wayland for the display's GPU while wgpu looks for an adapter, and libwayland prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` to stderr — twice, though
/// nothing failed. With no session there is no display GPU to prefer: `NODEVICE_SELECT=1` turns
/// the layer off, and wgpu's own high-performance preference picks the adapter. Runs first in
/// `main`, before any other thread exists (the environment is not safe to change after).
fn quiet_vulkan_device_select() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() && std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    let args = cli::Args::parse();
    let result = match args.command {
        cli::Command::Eval(a) => eval(a),
        cli::Command::Encode(a) => encode(a),
        cli::Command::Split(a) => split(a),
        cli::Command::Metrics(a) => {
            stdout(&if a.explain { embeval::metrics::explain() } else { embeval::metrics::names() });
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
