//! `sendfilter filter`: decide every recipient on stdin; allowed records to stdout.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sendfilter::filter::live_stdout::LiveStdout;
use sendfilter::filter::{FilterOptions, Format, Routes, RunOptions, Sinks};
use sendfilter::outfile::{Content, Paths, Prepared};
use sendfilter::phone::{Region, Regions};
use sendfilter::sms::{Footer, default_template};
use sendfilter::spreadsheet::{Decoded, Encoding};
use sendfilter::store::CompactPolicy;
use sendfilter::store::brands::{Language, Route};
use sendfilter::{Class, StandingSource, timefmt};

/// Decide, for every recipient on stdin, whether a message may be sent.
///
/// Allowed records go to stdout in input order: numbers in E.164, marketing messages
/// stamped with the opt-out footer. Every record gets exactly one reason: MALFORMED,
/// INVALID_NUMBER, DUPLICATE, STOPPED, NO_CONSENT, CONSENT_EXPIRED, CONSENT_UNCONFIRMED,
/// SOFT_OPT_IN_LAPSED, SOFT_OPT_IN_NOT_INFORMED, NO_OPT_OUT_ROUTE, TOO_LONG, or allowed.
/// Rejected records go to --rejects with their reason. The store's policy for the brand (`sendfilter policy`)
/// applies: required double opt-in, default consent lifetime.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the run completed (whatever was rejected); 2 on any error \
    (store cannot be opened, bad options or header, an output file shared with another, I/O \
    error, a record longer than 1 MiB: then the records before it are written, nothing after). \
    On an error before the run starts nothing is written to stdout. A closed stdout (broken \
    pipe) ends the run quietly with 0.\n\n\
    Output files (--rejects, --receipts, --report): never in the store directory, never a \
    symbolic link or a file with another hard link; an existing one is emptied only once all \
    are accepted. Run through sudo, you may name only paths you could write yourself. \
    /dev/stderr is this process's standard error.\n\n\
    Formats: lines = one number per line (rejects: original<TAB>REASON); csv = RFC 4180 with a \
    header (rejects: the record plus a reason column; a record that does not split into fields, \
    such as one with a stray or unclosed quote, is kept whole as one quoted field; a header that \
    names the number or message column twice, or holds a carriage return not followed by a \
    line feed, is an error); jsonl = one object per line (rejects: the \
    object plus a \"reason\" field). Blank lines are skipped. A UTF-8 BOM is dropped. CSV output \
    lines end in \\n.\n\n\
    The footer only matters where there is a message: a lines run without --message writes \
    numbers only and needs no --shortcode/--footer; csv and jsonl marketing runs do. An empty \
    message (\"\" or an empty cell) is stamped too: it goes out as the footer alone unless \
    --message fills it. A record with no message at all (no such column or field, or null) \
    is written without one."
)]
pub struct Args {
    /// The store directory (stops and consents).
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// The brand whose stops and consents apply (trimmed, in Unicode NFC; stops recorded
    /// under another spelling of it apply too).
    #[arg(long, value_parser = super::brand_arg)]
    brand: String,
    /// The consent purpose, e.g. offers.
    #[arg(long)]
    purpose: String,
    /// marketing (consent, stops, footer) or service (no consent check, no footer).
    #[arg(long, default_value = "marketing")]
    class: Class,
    /// Region for numbers in national form; also picks the default footer wording. A list
    /// such as NO,SE adds fallbacks: a number not valid in the first region is read again
    /// with each fallback in order (for lists mixing two countries' national forms).
    #[arg(long, default_value = "NO", value_name = "CC[,CC...]")]
    region: Regions,
    /// Record format: lines, csv or jsonl.
    #[arg(long, default_value = "lines")]
    format: Format,
    /// csv: the column with the number.
    #[arg(long, default_value = "number")]
    number_column: String,
    /// csv: the column with the message.
    #[arg(long, default_value = "message")]
    message_column: String,
    /// csv: the field separator: `,` (default), `;` (spreadsheet exports where the decimal
    /// mark is a comma), `tab` or `|`. Output and rejects keep it.
    #[arg(long, value_name = "SEP", default_value = ",", value_parser = sendfilter::spreadsheet::parse_delimiter)]
    delimiter: u8,
    /// Text encoding of the input: utf-8 (default) or windows-1252 (a spreadsheet's default
    /// "CSV" export in the Nordics), decoded to UTF-8 before reading; output is UTF-8.
    #[arg(long, value_name = "ENCODING", default_value = "utf-8")]
    encoding: sendfilter::spreadsheet::Encoding,
    /// jsonl: the field with the number.
    #[arg(long, default_value = "to")]
    number_field: String,
    /// jsonl: the field with the message.
    #[arg(long, default_value = "body")]
    message_field: String,
    /// The opt-out route for the first --region country, used by the footer's
    /// {shortcode}: a short code (3 to 8 digits) or an international number in E.164
    /// (+4570202020). Default: the brand's route for that country in the brand registry
    /// (`sendfilter brand route`), else its short code. The registry's routes for other
    /// countries apply too, each with its country's footer language; a recipient in a
    /// country without a route is rejected (NO_OPT_OUT_ROUTE): short codes are national.
    #[arg(long, value_name = "N", value_parser = parse_route)]
    shortcode: Option<String>,
    /// Footer template with {brand} and {shortcode} ({shortcode} renders the recipient's
    /// country's route). It must name an opt-out keyword (STOP, STOPP, …) and a route
    /// ({shortcode} or a number written out), else the run is refused. Default by route
    /// language, e.g. NO: "Svar {brand} STOPP til {shortcode}", SE: "Svara {brand} STOPP
    /// till {shortcode}".
    #[arg(long, value_name = "TEMPLATE")]
    footer: Option<String>,
    /// Message for records without one (missing column/field or empty value).
    #[arg(long, value_name = "TEXT")]
    message: Option<String>,
    /// Reject (TOO_LONG) messages needing more SMS segments than N (1 or more) after
    /// stamping.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_segments: Option<u32>,
    /// Require a confirmed (double opt-in) consent (also on when the store's policy for
    /// the brand requires it).
    #[arg(long)]
    require_confirmed: bool,
    /// Allow soft opt-in: existing customers of the brand (`import customers`) without a
    /// consent, if informed, not stopped and the relationship is live. Use it only for
    /// the brand's own similar products.
    #[arg(long)]
    soft_opt_in: bool,
    /// Soft opt-in: a last purchase qualifies for this many calendar months.
    #[arg(long, value_name = "MONTHS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=1200))]
    soft_opt_in_months: u32,
    /// Write one decision receipt per record here (number hashed under the store's receipt
    /// key, verdict, reason, basis and its event id, snapshot generation, journal sequence;
    /// created mode 0600). Find a number's lines with `subject receipt-hash`.
    #[arg(long, value_name = "FILE")]
    receipts: Option<PathBuf>,
    /// Write rejected records with their reason here (created mode 0600).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Write a JSON report (counts per reason, segments, store version, speed) here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Decide as of this instant (RFC 3339, years 2000-2099) instead of the current time.
    /// More than an hour from the clock it is a replay: refused for the `campaign` role
    /// and stamped in the report (`now_overridden`), the summary and the audit log.
    #[arg(long, value_name = "RFC3339", value_parser = sendfilter::replay::parse_now)]
    now: Option<i64>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Do not watch the store's journal during the run: stops acknowledged after the
    /// start are then not honoured until the next run.
    #[arg(long)]
    no_live: bool,
    /// How often to look for new stops in the journal while running (milliseconds). A
    /// stop acknowledged during the run is honoured within about this long (plus one
    /// chunk's writing); records already written stay written.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    live_interval: u64,
}

fn parse_route(s: &str) -> Result<String, String> {
    sendfilter::store::brands::check_route_number(s).map_err(|e| e.to_string())
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::audit::note(|n| {
        n.brand = Some(args.brand.clone());
        n.purpose = Some(args.purpose.clone());
        n.outputs = [&args.rejects, &args.receipts, &args.report]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
    });
    let mut opts = run_options(&args)?;
    // Fail closed: no source (or a damaged policy), no output.
    let opening = Instant::now();
    let source = open_source(&args.store)?;
    // Damage in what this run reads (its scope's lists) stops it before any output.
    if args.class == Class::Marketing {
        let brand = sendfilter::brand::normalize(&args.brand);
        source.check_scope(&brand, &args.purpose).with_context(|| {
            format!("reading the lists of {:?} in store {}", args.brand, args.store.display())
        })?;
    }
    advise_compaction(&args.store, &source, opening.elapsed());
    let variants = source.brand_variants(&args.brand);
    if !variants.is_empty() {
        eprintln!(
            "sendfilter filter: note: the store also holds the brand spelled {}: their stops \
             apply to this run (fail safe), their consents do not (brands are matched exactly)",
            variants.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    let policy = sendfilter::store::policy::read(&args.store)
        .with_context(|| format!("reading the policy of store {}", args.store.display()))?
        .brand(&args.brand);
    opts.filter = opts.filter.with_policy(policy);
    if args.receipts.is_some() {
        // Receipts hash numbers under the store's receipt key (made on first need).
        let key = sendfilter::filter::receipts::ReceiptKey::load_or_create(&args.store)
            .with_context(|| {
                format!("reading the receipt key of store {}", args.store.display())
            })?;
        opts.receipt_key = Some(key);
    }
    // Live stops: a watcher thread folds stops appended during the run (see store::live).
    // An extract never changes (it refuses every write): nothing to watch.
    let extract = sendfilter::store::extract::is_extract(&args.store);
    let _watcher = if args.no_live || extract {
        None
    } else {
        anyhow::ensure!(args.live_interval >= 1, "--live-interval must be at least 1 ms");
        let interval = std::time::Duration::from_millis(args.live_interval);
        let w = sendfilter::store::live::watch(&args.store, &args.brand, &source, interval)
            .context("watching the store for new stops")?;
        opts.live = Some(w.stops());
        // Live runs cut a chunk at every short read; a 1 MiB pipe keeps those chunks as
        // large as before when the input comes fast. A hint: errors only mean 64 KiB.
        #[cfg(target_os = "linux")]
        // SAFETY: fcntl on our own stdin descriptor; it fails harmlessly if not a pipe.
        unsafe {
            libc::fcntl(0, libc::F_SETPIPE_SZ, 1 << 20);
        }
        Some(w)
    };
    run_with_source(&args, &opts, &source)
}

/// Opens the store read-only as a [`StandingSource`]: the snapshot's tables verified, the
/// journal tail folded in. Fails closed: any error here ends the run before any output.
fn open_source(dir: &Path) -> anyhow::Result<sendfilter::StoreView> {
    sendfilter::store::open_view(dir).with_context(|| format!("opening store {}", dir.display()))
}

/// Says on stderr when the journal tail is large enough for `compact` to be advised: every
/// run reads the tail into memory before its first decision, so start-up time and memory
/// grow with it (about 0.7 s and 260 MB per million consents here), while a snapshot opens in
/// milliseconds whatever its size.
fn advise_compaction(dir: &Path, view: &sendfilter::StoreView, took: std::time::Duration) {
    let folded = view.snapshot().map_or(0, |s| s.evidence_len() as u64);
    let tail = view.overlay_len();
    if CompactPolicy::default().should_compact(folded, tail) {
        eprintln!(
            "sendfilter filter: note: {tail} events in the journal are not compacted; reading \
             them took {:.1} s of start-up. `sendfilter compact --store {}` makes start-up \
             instant again.",
            took.as_secs_f64(),
            dir.display()
        );
    }
}

fn run_options(args: &Args) -> anyhow::Result<RunOptions> {
    let now = args.now.unwrap_or_else(timefmt::now);
    let mut filter = FilterOptions::at(now);
    filter.class = args.class;
    filter.region = args.region.clone();
    filter.require_confirmed = args.require_confirmed;
    filter.max_segments = args.max_segments;
    filter.soft_opt_in_months = args.soft_opt_in.then_some(args.soft_opt_in_months);
    let mut opts = RunOptions::new(&args.brand, &args.purpose, filter);
    opts.format = args.format;
    opts.number_column = args.number_column.clone();
    opts.message_column = args.message_column.clone();
    opts.number_field = args.number_field.clone();
    opts.message_field = args.message_field.clone();
    opts.message = args.message.clone();
    anyhow::ensure!(
        args.delimiter == b',' || args.format == Format::Csv,
        "--delimiter applies to --format csv only"
    );
    opts.delimiter = args.delimiter;
    if let Some(t) = args.threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        opts.threads = t;
    }
    // The brand registry supplies the opt-out routes per country and their languages.
    let registered =
        sendfilter::store::brands::Registry::load(&args.store)?.get(&args.brand).cloned();
    let first = args.region.primary();
    if args.class == Class::Marketing
        && (opts.needs_footer() || args.footer.is_some() || args.shortcode.is_some())
    {
        if let Some(t) = &args.footer {
            // Fail closed: a footer must tell how to opt out (keyword and route).
            sendfilter::sms::check_opt_out(t)?;
        }
        let mut routes: Vec<(Region, Route)> =
            registered.as_ref().map(|b| b.routes_for(first)).unwrap_or_default();
        if let Some(sc) = &args.shortcode {
            let language = routes
                .iter()
                .find(|(c, _)| *c == first)
                .map_or(Language::of_region(first), |(_, r)| r.language);
            routes.retain(|(c, _)| *c != first);
            routes.insert(0, (first, Route { number: sc.clone(), language }));
        }
        let render = |language: Option<Language>, number: Option<&str>| {
            let region = language.map_or(first, Language::footer_region);
            let template = args.footer.as_deref().unwrap_or(default_template(region));
            Footer::new(template, &args.brand, number)
        };
        if routes.is_empty() || !opts.needs_footer() {
            // No route known: a footer without {shortcode} still works for everyone (it
            // names its route itself); one with it fails here, asking for --shortcode.
            // Numbers only (lines without --message): nothing is stamped, so no route is
            // checked either.
            let first_route = routes.first().map(|(_, r)| (r.language, r.number.as_str()));
            opts.filter.footer = Some(render(first_route.map(|r| r.0), first_route.map(|r| r.1))?);
        } else {
            let mut footers = Vec::new();
            for (country, r) in &routes {
                footers.push((*country, render(Some(r.language), Some(&r.number))?));
            }
            opts.filter.footer = footers.first().map(|(_, f)| f.clone());
            opts.filter.routes = Some(std::sync::Arc::new(Routes::new(footers)));
        }
    }
    Ok(opts)
}

fn run_with_source<S: StandingSource>(
    args: &Args,
    opts: &RunOptions,
    source: &S,
) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();

    // Before any file is created (and truncated): an output naming the input, stdout,
    // stderr or another output would destroy it.
    let outputs =
        [("--rejects", &args.rejects), ("--receipts", &args.receipts), ("--report", &args.report)];
    let outputs: Vec<(&str, &Path)> =
        outputs.iter().filter_map(|(n, p)| Some((*n, p.as_deref()?))).collect();
    refuse_clobbering(&outputs)?;
    // Opened by the rules of `sendfilter::outfile` (never into the store, never through a
    // link, with the caller's rights under sudo); emptied only once all three are accepted.
    // (Who asks matters only when a path is named.)
    let paths = if outputs.is_empty() {
        None
    } else {
        Some(
            Paths::current(&[&args.store])
                .map_err(|reason| anyhow::anyhow!("checking output files: {reason}"))?,
        )
    };
    let prepare = |flag: &str, p: &Option<PathBuf>, content| -> anyhow::Result<_> {
        match (p.as_deref(), &paths) {
            (Some(p), Some(paths)) => Ok(Some(paths.prepare(flag, p, content)?)),
            _ => Ok(None),
        }
    };
    let rejects = prepare("--rejects", &args.rejects, Content::Private)?;
    let receipts = prepare("--receipts", &args.receipts, Content::Private)?;
    // Created now, so that a path that cannot be written fails before any record is.
    let report_file = prepare("--report", &args.report, Content::Shareable)?;
    let commit = |p: Option<Prepared>| p.map(Prepared::commit).transpose();
    let (rejects, receipts, mut report_file) =
        (commit(rejects)?, commit(receipts)?, commit(report_file)?);
    let mut rejects = rejects.map(|f| std::io::BufWriter::with_capacity(1 << 16, f));
    let mut receipts = receipts.map(|f| std::io::BufWriter::with_capacity(1 << 16, f));
    // What waits in the pipe cannot be recalled when a stop arrives: keep it short.
    let stdout = LiveStdout::new(std::io::stdout().lock(), opts.live.is_some());
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let started = Instant::now();
    let mut last = started;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if tty && last.elapsed().as_secs_f64() >= 1.0 && started.elapsed().as_secs() >= 2 {
            last = Instant::now();
            let rate = n as f64 / started.elapsed().as_secs_f64() / 1e6;
            eprint!("\rsendfilter filter: {n} records, {rate:.1} M/s   ");
        }
    };
    let sinks = Sinks {
        output: &mut out,
        rejects: rejects.as_mut().map(|w| w as &mut dyn Write),
        progress: Some(&mut progress),
    };
    let receipts = receipts.as_mut().map(|w| w as &mut dyn Write);
    let mut report = match args.encoding {
        // The default path reads stdin as it is.
        Encoding::Utf8 => {
            sendfilter::filter::run_with_receipts(source, opts, stdin, sinks, receipts)
        }
        Encoding::Windows1252 => {
            let input = Decoded::new(stdin, sendfilter::spreadsheet::WINDOWS_1252);
            sendfilter::filter::run_with_receipts(source, opts, input, sinks, receipts)
        }
    }
    .context("filtering")?;
    report.now_overridden = args.now_overridden();
    if tty && started.elapsed().as_secs() >= 2 {
        eprintln!();
    }
    if let (Some(p), Some(f)) = (&args.report, report_file.as_mut()) {
        let json = serde_json::to_string_pretty(&report.to_json())?;
        f.write_all((json + "\n").as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing report {}", p.display()))?;
    }
    eprintln!("sendfilter filter: {}", report.summary());
    super::audit::note(|n| {
        n.counts.insert("records".into(), report.counts.input());
        n.counts.insert("allowed".into(), report.counts.allowed());
        n.counts.insert("rejected".into(), report.counts.input() - report.counts.allowed());
    });
    Ok(ExitCode::SUCCESS)
}

/// Refuses outputs that would overwrite what the run reads or writes elsewhere: the file
/// on stdin (`--rejects c.txt < c.txt` would empty the campaign before reading it), on
/// stdout or stderr, or another output (`--rejects x --report x`). Checked before any of
/// them is created, so a refused run leaves every file as it was.
fn refuse_clobbering(outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    // Regular files only: two outputs to one pipe or terminal (`/dev/stderr`) are fine.
    let id = |m: std::fs::Metadata| m.file_type().is_file().then_some((m.dev(), m.ino()));
    let of_fd = |fd: std::os::fd::BorrowedFd<'_>| {
        File::from(fd.try_clone_to_owned().ok()?).metadata().ok().and_then(id)
    };
    let standard = [
        ("standard input is read from", of_fd(std::io::stdin().as_fd())),
        ("standard output is written to", of_fd(std::io::stdout().as_fd())),
        ("standard error is written to", of_fd(std::io::stderr().as_fd())),
    ];
    // An existing file by identity; a new one by its directory's real path and its name.
    #[derive(PartialEq)]
    enum Key {
        File((u64, u64)),
        New(PathBuf),
    }
    let key = |p: &Path| -> Key {
        if let Some(i) = std::fs::metadata(p).ok().and_then(id) {
            return Key::File(i);
        }
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        Key::New(dir.join(p.file_name().unwrap_or_default()))
    };
    for (i, (flag, path)) in outputs.iter().enumerate() {
        let k = key(path);
        if let Key::File(k) = k
            && let Some((what, _)) = standard.iter().find(|(_, s)| *s == Some(k))
        {
            anyhow::bail!(
                "{flag} names the file {what}: give it a file of its own (nothing was written)"
            );
        }
        if let Some((other, _)) = outputs[i + 1..].iter().find(|(_, o)| key(o) == k) {
            anyhow::bail!(
                "{flag} and {other} name the same file: give each a file of its own (nothing \
                 was written)"
            );
        }
    }
    Ok(())
}

impl Args {
    /// True when `--now` is more than an hour from the clock (a replay).
    pub(super) fn now_overridden(&self) -> bool {
        self.now.is_some_and(|t| sendfilter::replay::is_overridden(t, timefmt::now()))
    }

    /// The store this command works on and what it does there (for the store's roles).
    pub(super) fn need(
        &self,
    ) -> (&std::path::Path, sendfilter::store::access::Action, &'static str) {
        use sendfilter::store::access::Action;
        (&self.store, Action::Filter, "filter")
    }
}
