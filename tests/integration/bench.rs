//! `sendfilter bench`: the ops harness runs end to end and checks its own answers.

use crate::harness::Workdir;

#[test]
fn bench_small_run_reports_every_step_as_json() {
    let wd = Workdir::new();
    let r = wd.run(&["bench", "--recipients", "3000", "--runs", "1", "--json"], "").ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("bench --json prints JSON");
    assert_eq!(v["recipients"], 3000);
    let steps = v["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for want in [
        "import (rows)",
        "compact (events)",
        "filter lines, clean",
        "filter lines, messy",
        "filter csv + footer",
        "filter jsonl + footer",
        "baseline: two HashSets",
    ] {
        assert!(names.contains(&want), "missing step {want}: {names:?}");
    }
    assert!(steps.iter().all(|s| s["per_second"].as_f64().unwrap() > 0.0));
}

#[test]
fn bench_refuses_silly_sizes() {
    let wd = Workdir::new();
    let r = wd.run(&["bench", "--recipients", "5"], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--recipients"), "{}", r.stderr);
}
